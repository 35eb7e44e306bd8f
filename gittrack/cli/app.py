"""The typer application; command modules register on it (see COMMAND_MODULES).

Building every command costs ~25 ms of start-up (typer turns each function into a click
command), so :func:`app_for` builds only the command being run; ``app``
(every command) serves ``--help``, unknown commands and the tests.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer

from gittrack._version import version_line

# One module per command group, each exposing ``register(app)``, with the top-level
# command names it registers (a test keeps these lists true). Modules import heavy
# libraries inside their command functions so that start-up stays fast.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "gittrack.cli.runs_cmd": (
        "list",
        "ls",
        "show",
        "diff",
        "metrics",
        "tag",
        "rm",
        "experiments",
        "recover",
    ),
    "gittrack.cli.artifacts_cmd": ("artifacts", "gc"),
    "gittrack.cli.sync_cmd": ("push", "pull", "bundle"),
    "gittrack.cli.reproduce_cmd": ("run", "reproduce", "checkout"),
    "gittrack.cli.models_cmd": ("models",),
    "gittrack.cli.lineage_cmd": ("inputs", "runs-using"),
    "gittrack.cli.migrate_cmd": ("import", "export"),
    "gittrack.cli.ui_cmd": ("ui",),
    "gittrack.cli.server_cmd": ("server",),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """Git-native experiment tracking: every run is a commit."""


def build(modules: tuple[str, ...] = tuple(COMMAND_MODULES)) -> typer.Typer:
    """The command line holding the commands of ``modules``."""
    application = typer.Typer(
        name="gittrack",
        help="Git-native experiment tracking: every run is a commit.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    application.callback()(_root)
    for name in modules:
        importlib.import_module(name).register(application)
    return application


def app_for(args: list[str]) -> typer.Typer:
    """The command line for ``args``: just the command named first (of its module)."""
    if args:
        for module, commands in COMMAND_MODULES.items():
            if args[0] in commands:
                application = build((module,))
                # typer turns each registered command into a click command when run
                # (~6 M instructions each): keep only the one asked for.
                application.registered_commands = [
                    c for c in application.registered_commands if c.name in (None, args[0])
                ]
                application.registered_groups = [
                    g for g in application.registered_groups if _group_name(g) == args[0]
                ]
                return application
    return build()


def _group_name(group: Any) -> str | None:
    """The command name of a sub-application (``add_typer``): given there, else its own."""
    name = group.name if isinstance(group.name, str) else group.typer_instance.info.name
    return name if isinstance(name, str) else None


def __getattr__(name: str) -> Any:
    if name == "app":  # every command, built on first use
        globals()["app"] = application = build()
        return application
    raise AttributeError(name)
