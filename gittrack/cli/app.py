"""The typer application; command modules register on it (see COMMAND_MODULES)."""

from __future__ import annotations

import importlib

import typer

from gittrack._version import __version__

app = typer.Typer(
    name="gittrack",
    help="Git-native experiment tracking: every run is a commit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# One module per command group, each exposing ``register(app)``. Modules import heavy
# libraries inside their command functions so that start-up stays fast.
COMMAND_MODULES = (
    "gittrack.cli.runs_cmd",
    "gittrack.cli.artifacts_cmd",
    "gittrack.cli.sync_cmd",
    "gittrack.cli.reproduce_cmd",
    "gittrack.cli.models_cmd",
    "gittrack.cli.lineage_cmd",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gittrack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """Git-native experiment tracking: every run is a commit."""


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _e:
        if _e.name != _name:
            raise
        continue
    _module.register(app)
