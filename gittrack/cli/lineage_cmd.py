"""``gittrack inputs RUN`` and ``gittrack runs-using PATH``: data lineage on the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer

FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table, json or csv.")
]
INPUT_COLUMNS = ["name", "context", "kind", "source", "digest", "size", "files", "rows", "kept"]
USING_COLUMNS = ["run_id", "name", "experiment", "status", "input", "context", "commit"]


def _short_row(row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    from gittrack.lineage.hashing import short

    out = {c: row.get(c) for c in columns}
    if "digest" in out:
        out["digest"] = short(out["digest"])
    for key in ("run_id", "commit"):
        if out.get(key):
            out[key] = str(out[key])[:12]
    return out


def inputs_cmd(
    run: Annotated[str, typer.Argument(help="Run id (or unique prefix), commit prefix or name.")],
    fmt: FormatOption = "table",
) -> None:
    """List the recorded inputs of a run (name, context, kind, source, digest, ...)."""
    from gittrack.cli import render as out
    from gittrack.session import open_repository

    out.check_format(fmt)
    runs = open_repository(create=False)
    run_id = runs.resolve(run)
    entries = [e for e in runs.load(run_id).record.inputs if isinstance(e, dict)]
    if fmt == "json":
        typer.echo(out.to_json(entries))
        return
    if fmt == "csv":
        rows = [{c: e.get(c) for c in INPUT_COLUMNS} for e in entries]
        typer.echo(out.render(rows, INPUT_COLUMNS, "csv"))
        return
    if not entries:
        typer.echo(f"run {run_id[:12]} has no recorded inputs", err=True)
        return
    typer.echo(out.render([_short_row(e, INPUT_COLUMNS) for e in entries], INPUT_COLUMNS, fmt))


def runs_using_cmd(
    path: Annotated[str, typer.Argument(help="A file or directory whose bytes to look for.")],
    fmt: FormatOption = "table",
) -> None:
    """List every run that consumed exactly the bytes of PATH (same digest)."""
    from gittrack.cli import render as out
    from gittrack.lineage import runs_using

    out.check_format(fmt)
    rows = runs_using(path)
    if fmt == "json":
        typer.echo(out.to_json(rows))
        return
    if fmt == "csv":
        typer.echo(out.render(rows, [*USING_COLUMNS, "digest"], "csv"))
        return
    if not rows:
        typer.echo(f"no run used the bytes of {path}", err=True)
        return
    typer.echo(out.render([_short_row(r, USING_COLUMNS) for r in rows], USING_COLUMNS, fmt))


def register(app: typer.Typer) -> None:
    """Add the lineage commands to the CLI."""
    app.command("inputs")(inputs_cmd)
    app.command("runs-using")(runs_using_cmd)
