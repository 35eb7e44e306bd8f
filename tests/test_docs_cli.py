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


LEAVES = [p for p in COMMANDS if not any(q[: len(p)] == p and q != p for q in COMMANDS)]


def _section(path: tuple[str, ...]) -> str:
    """The text of the command's section (``### `gittrack <path> ...` `` up to the next
    heading); an alias (``ls``) is documented by the command it stands for."""
    text = DOCS.read_text(encoding="utf-8")
    for m in re.finditer(r"^### `gittrack ([^`]+)`\n(.*?)(?=^##)", text + "\n##", re.M | re.S):
        words = tuple(w for w in m.group(1).split() if re.fullmatch(r"[a-z][a-z-]*", w))
        if words == path:
            body = m.group(2)
            alias = re.fullmatch(r"\s*Alias of `gittrack ([a-z-]+)`\.\s*", body)
            return _section((alias.group(1),)) if alias else body
    raise AssertionError(f"docs/cli.md has no section for gittrack {' '.join(path)}")


def _options(path: tuple[str, ...]) -> dict[str, list[str]]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return {
        o: [*p.opts, *p.secondary_opts]
        for p in command.params
        for o in [*p.opts, *p.secondary_opts]
        if o.startswith("-") and o not in ("-h", "--help")
    }


def _named(option: str, text: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])", text) is not None


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_every_option_is_documented_in_its_section(path: tuple[str, ...]) -> None:
    """Each option (long and short form) of a command is named in its section; -f of
    --format is documented once for every listing (Output formats)."""
    section = _section(path)
    missing = [o for o in _options(path) if o != "-f" and not _named(o, section)]
    assert missing == [], f"gittrack {' '.join(path)}: {missing} not in docs/cli.md"


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_every_documented_option_exists(path: tuple[str, ...]) -> None:
    """The synopsis lines (``gittrack <path> ...`` in the section's code blocks) name
    only options the command has."""
    section = _section(path)
    blocks = "\n".join(re.findall(r"```\n(.*?)```", section, re.S))
    lines = [line for line in blocks.splitlines() if line.lstrip().startswith("gittrack ")]
    shown = {o for line in lines for o in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", line)}
    assert sorted(shown - set(_options(path))) == []
