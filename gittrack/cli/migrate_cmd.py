"""Migration commands: ``import mlflow``, ``export mlflow`` and ``export parquet``.

Thin shells over :mod:`gittrack.migrate`: a progress bar on a terminal's stderr only, the
summary on stdout, each skipped item one line on stderr (exit 1 when any was skipped).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gittrack.cli import render as out

if TYPE_CHECKING:
    from gittrack.migrate.importer import ImportSummary

import_app = typer.Typer(
    name="import",
    help="Bring runs in from another tracker (MLflow).",
    no_args_is_help=True,
)

export_app = typer.Typer(
    name="export",
    help="Write runs out for other tools (an MLflow file store, Parquet datasets).",
    no_args_is_help=True,
)

SUMMARY_FORMATS = ("table", "json")


def progress_bar(label: str) -> Callable[[int, int], None] | None:
    """A one-line progress bar on a terminal's stderr; None when stderr is piped."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
        sys.stderr.flush()

    return show


def _report_skipped(skipped: tuple[tuple[str, str], ...]) -> None:
    """Each skipped item on one stderr line; exit 1 when there was any."""
    for item, reason in skipped:
        print(f"gittrack: skipped {item}: {reason}", file=sys.stderr)
    if skipped:
        raise typer.Exit(1)


def _summary_rows(summary: ImportSummary) -> dict[str, Any]:
    return {
        "source": summary.source,
        "dry_run": summary.dry_run,
        "experiments": summary.experiments,
        "runs_found": summary.runs_found,
        "new": summary.new,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "deleted": summary.deleted,
        "deleted_not_imported": summary.deleted_skipped,
        "logged_models": summary.logged_models,
        "registered_models": summary.models,
        "model_versions": summary.versions,
        "points": summary.points,
        "artifact_bytes": summary.artifact_bytes,
        "skipped": [{"item": item, "reason": reason} for item, reason in summary.skipped],
    }


def mlflow_import_cmd(
    source: Annotated[
        str,
        typer.Argument(
            help="MLflow file store directory (mlruns), sqlite database "
            "(sqlite:///mlflow.db) or tracking server URL (http://host:5000)."
        ),
    ],
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="Import only this experiment (name or id)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read everything, write nothing, report.")
    ] = False,
    skip_deleted: Annotated[
        bool,
        typer.Option(
            "--skip-deleted", help="Leave out runs deleted in MLflow (default: import as deleted)."
        ),
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Summary format: table or json.")
    ] = "table",
) -> None:
    """Import runs and the model registry from an MLflow file store, database or server."""
    from gittrack.migrate.importer import import_mlflow
    from gittrack.session import open_repository

    out.check_format(fmt, SUMMARY_FORMATS)
    summary = import_mlflow(
        source,
        runs=open_repository(create=True),  # importing records runs
        experiments=experiment or (),
        dry_run=dry_run,
        skip_deleted=skip_deleted,
        progress=progress_bar("importing runs"),
    )
    data = _summary_rows(summary)
    if fmt == "json":
        typer.echo(out.to_json(data))
    else:
        verb = "would import" if dry_run else "imported"
        typer.echo(
            f"{verb} from {summary.source}: {summary.experiments} experiment(s), "
            f"{summary.runs_found} run(s) found"
        )
        typer.echo(
            f"  new {summary.new}, updated {summary.updated}, unchanged {summary.unchanged}; "
            f"deleted in MLflow {summary.deleted} ({summary.deleted_skipped} not imported)"
        )
        typer.echo(f"  metric points {summary.points}, artifact bytes {summary.artifact_bytes}")
        typer.echo(
            f"  logged models {summary.logged_models}, registered models {summary.models} "
            f"with {summary.versions} version(s)"
        )
    _report_skipped(summary.skipped)


def parquet_export_cmd(
    dest: Annotated[str, typer.Argument(help="Directory of the Parquet dataset.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Summary format: table or json.")
    ] = "table",
) -> None:
    """Write every run and metric point as a Parquet dataset (again: only what changed)."""
    from gittrack.migrate.parquet_export import export_parquet
    from gittrack.session import open_repository

    out.check_format(fmt, SUMMARY_FORMATS)
    result = export_parquet(
        dest, runs=open_repository(create=False), progress=progress_bar("exporting runs")
    )
    if fmt == "json":
        typer.echo(
            out.to_json(
                {
                    "dest": result.dest,
                    "runs": result.runs,
                    "written": result.written,
                    "removed": result.removed,
                    "unchanged": result.unchanged,
                    "points": result.points,
                    "skipped": [{"item": i, "reason": r} for i, r in result.skipped],
                }
            )
        )
    else:
        typer.echo(
            f"exported to {result.dest}: {result.runs} run(s); {result.written} written, "
            f"{result.removed} removed, {result.unchanged} unchanged; "
            f"{result.points} metric point(s) written"
        )
    _report_skipped(result.skipped)


def mlflow_export_cmd(
    dest: Annotated[str, typer.Argument(help="New MLflow file store directory (absent or empty).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Summary format: table or json.")
    ] = "table",
) -> None:
    """Write every experiment, run and registered model as an MLflow file store."""
    from gittrack.migrate.mlflow_export import export_mlflow
    from gittrack.session import open_repository

    out.check_format(fmt, SUMMARY_FORMATS)
    runs = open_repository(create=False)
    result = export_mlflow(dest, runs=runs, progress=progress_bar("exporting runs"))
    data = {
        "dest": result.dest,
        "experiments": result.experiments,
        "runs": result.runs,
        "points": result.points,
        "artifact_bytes": result.artifact_bytes,
        "models": result.models,
        "versions": result.versions,
        "skipped": [{"item": i, "reason": r} for i, r in result.skipped],
    }
    if fmt == "json":
        typer.echo(out.to_json(data))
    else:
        typer.echo(
            f"exported to {result.dest}: {result.experiments} experiment(s), {result.runs} "
            f"run(s), {result.points} metric point(s), {result.artifact_bytes} artifact "
            f"byte(s), {result.models} registered model(s) with {result.versions} version(s)"
        )
    _report_skipped(result.skipped)


def register(app: typer.Typer) -> None:
    """Add import and export to the gittrack command line."""
    import_app.command("mlflow")(mlflow_import_cmd)
    export_app.command("mlflow")(mlflow_export_cmd)
    export_app.command("parquet")(parquet_export_cmd)
    app.add_typer(import_app)
    app.add_typer(export_app)
