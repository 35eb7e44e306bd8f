"""Every CLI command is documented in docs/cli.md and answers --help."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gittrack.cli.app import COMMAND_MODULES, app, app_for, build

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _walk(command: object, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    out = [path] if path else []
    subcommands = getattr(command, "commands", None) or {}
    for name, sub in sorted(subcommands.items()):
        out.extend(_walk(sub, (*path, name)))
    return out


COMMANDS = _walk(typer.main.get_command(app), ())


def test_the_walk_finds_the_run_commands() -> None:
    names = {p[0] for p in COMMANDS}
    assert {"list", "ls", "show", "diff", "metrics", "tag", "rm", "experiments"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_command_is_documented(path: tuple[str, ...]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    full = "gittrack " + " ".join(path)
    # a heading or a code span naming the whole command, e.g. ### `gittrack list`
    pattern = re.compile(r"`" + re.escape(full) + r"(?:[ `\[])")
    assert pattern.search(text), f"{full!r} is not documented in docs/cli.md"


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_command_help_exits_zero(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_docs_cover_references_json_and_exit_codes() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for needle in ("## Run references", "## JSON output", "## Exit codes", "start_time"):
        assert needle in text


@pytest.mark.parametrize("module", sorted(COMMAND_MODULES))
def test_each_module_registers_exactly_the_commands_it_declares(module: str) -> None:
    """The start-up path builds only the module owning the command: the map must be true."""
    registered = set(typer.main.get_command(build((module,))).commands)  # type: ignore[attr-defined]
    assert registered == set(COMMAND_MODULES[module])


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_the_start_up_app_of_a_command_holds_it(path: tuple[str, ...]) -> None:
    command = typer.main.get_command(app_for(list(path)))
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
