"""Run commands: list (ls), show, diff, metrics, tag, rm, experiments, recover.

Each command is a thin shell over the library (index, search, diff, recovery); heavy
modules are imported inside the commands so that ``gittrack --help`` stays fast.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gittrack.cli import render as out
from gittrack.errors import ValidationError
from gittrack.query.views import iso_utc

if TYPE_CHECKING:
    from gittrack.index import RunIndex
    from gittrack.removal import Removal
    from gittrack.runs import LoadedRun

FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table, json or csv.")
]
ATTR_COLUMNS = {
    "run": "short run id",
    "run_id": "full run id",
    "name": "run name",
    "experiment": "experiment",
    "status": "status",
    "start": "start, local time",
    "duration": "duration",
    "start_time": "start, ISO 8601 UTC",
    "end_time": "end, ISO 8601 UTC",
    "commit": "run commit",
    "user": "user",
}
DEFAULT_COLUMNS = ["run", "name", "experiment", "status", "start", "duration"]
MAX_VARYING = 6  # params and metrics each, in the default table


def _index(*, refresh: bool = True) -> RunIndex:
    from gittrack.session import open_index

    return open_index(refresh=refresh)


def _load(index: RunIndex, ref: str) -> LoadedRun:
    return index.runstore.load(index.resolve(ref))


def _parent_id(index: RunIndex, ref: str) -> str:
    """The run ``--parent`` names; a full run id also when that run was removed, since its
    children still name it (as ``tags.mlflow.parentRunId = '<id>'`` finds them)."""
    from gittrack.errors import RunNotFoundError
    from gittrack.naming import is_run_id

    try:
        return index.resolve(ref)
    except RunNotFoundError:
        text = ref.strip().lower()
        if is_run_id(text):
            return text
        raise


# -- list ----------------------------------------------------------------------------------
def _status(row: dict[str, Any]) -> str:
    """The status, marked when the run is deleted (as ``show`` marks it)."""
    deleted = row.get("lifecycle_stage") == "deleted"
    return f"{row['status']} (deleted)" if deleted else str(row["status"])


_ATTR_GETTERS: dict[str, Any] = {
    "run": lambda r: r["run_id"][:8],
    "run_id": lambda r: r["run_id"],
    "name": lambda r: r["name"],
    "experiment": lambda r: r["experiment"],
    "status": _status,
    "start": lambda r: out.local_short(r["start_time"]),
    "duration": lambda r: out.duration(r["start_time"], r["end_time"], r["status"]),
    "start_time": lambda r: iso_utc(r["start_time"]),
    "end_time": lambda r: iso_utc(r["end_time"]),
    "commit": lambda r: r["commit"],
    "user": lambda r: r.get("user", ""),
}


def _flat(row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """The cells of ``columns`` for one row (attributes formatted, values as logged)."""
    flat: dict[str, Any] = {}
    for col in columns:
        getter = _ATTR_GETTERS.get(col)
        if getter is not None:
            flat[col] = getter(row)
        else:
            kind, _, key = col.partition(".")
            flat[col] = row.get(kind, {}).get(key)
    return flat


def _keys(rows: list[dict[str, Any]], kind: str) -> list[str]:
    return sorted({k for r in rows for k in r.get(kind, {})})


def _varying(rows: list[dict[str, Any]], kind: str) -> list[str]:
    """Keys whose value differs across rows (or is missing from some); params by their
    MLflow string form (``1`` and ``"1"`` are one value, see ``params_equal``)."""
    from gittrack.validation import param_text

    shown = param_text if kind == "params" else repr
    keys = []
    for key in _keys(rows, kind):
        values = {shown(r[kind][key]) if key in r.get(kind, {}) else "\0missing" for r in rows}
        if len(values) > 1:
            keys.append(f"{kind}.{key}")
    return keys


def _parse_columns(spec: list[str]) -> list[str]:
    columns = [c.strip() for item in spec for c in item.split(",") if c.strip()]
    for c in columns:
        kind, dot, key = c.partition(".")
        if c in ATTR_COLUMNS or (dot and key and kind in ("params", "metrics", "tags")):
            continue
        raise ValidationError(
            f"unknown column {c!r} (use {', '.join(ATTR_COLUMNS)}, params.<key>, "
            "metrics.<key> or tags.<key>)"
        )
    return columns


def list_cmd(
    filter_: Annotated[
        str | None,
        typer.Option("--filter", help='MLflow search filter, e.g. "metrics.rmse < 0.8".'),
    ] = None,
    sort: Annotated[
        list[str] | None,
        typer.Option("--sort", "-s", help='Sort key, e.g. "metrics.rmse DESC" (repeatable).'),
    ] = None,
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="Only runs of this experiment (repeatable)."),
    ] = None,
    max_: Annotated[
        int | None, typer.Option("--max", "-n", min=0, help="Show at most N runs.")
    ] = None,
    columns: Annotated[
        list[str] | None,
        typer.Option("--columns", "-c", help="Columns, e.g. name,params.alpha,metrics.rmse."),
    ] = None,
    all_columns: Annotated[
        bool, typer.Option("--all-columns", help="Show every param, metric and tag.")
    ] = False,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Only the runs nested in this run.")
    ] = None,
    view: Annotated[
        str,
        typer.Option(
            "--view",
            "-v",
            help="active_only, deleted_only (runs deleted with delete_run, and the runs of "
            "deleted experiments named with -e) or all.",
        ),
    ] = "active_only",
    fmt: FormatOpt = "table",
) -> None:
    """List runs, newest first (filter, sort, choose columns)."""
    from gittrack.lifecycle import ViewType
    from gittrack.query.search import query_rows
    from gittrack.query.views import run_row_json

    out.check_format(fmt)
    cols = _parse_columns(columns or [])
    # the search brings the index up to date itself (a second scan of every ref is
    # costly right after a run changed, while the refs' stat cannot be trusted yet)
    with _index(refresh=parent is not None) as index:
        rows = query_rows(
            filter_,
            sort or None,
            experiment or None,
            max_,
            check_sort_keys=True,
            index=index,
            view_type=ViewType.from_string(view),
            parent_run_id=None if parent is None else _parent_id(index, parent),
        )
    if fmt == "json":
        typer.echo(out.to_json_lines_array([run_row_json(r) for r in rows]))
        return
    if not cols:
        if fmt == "csv":
            cols = ["run_id", "commit", "name", "experiment", "status", "start_time", "end_time"]
            cols += [f"{k}.{key}" for k in ("params", "metrics", "tags") for key in _keys(rows, k)]
        elif all_columns:
            cols = DEFAULT_COLUMNS + [
                f"{k}.{key}" for k in ("params", "metrics", "tags") for key in _keys(rows, k)
            ]
        else:
            cols = DEFAULT_COLUMNS + (
                _varying(rows, "params")[:MAX_VARYING] + _varying(rows, "metrics")[:MAX_VARYING]
            )
    text = out.render([_flat(r, cols) for r in rows], cols, fmt)
    if text:
        typer.echo(text)


# -- show ----------------------------------------------------------------------------------
def show_cmd(
    run: Annotated[str, typer.Argument(help="Run id or prefix, commit prefix, or name.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    packages: Annotated[
        bool, typer.Option("--packages", help="List installed packages too.")
    ] = False,
) -> None:
    """Show everything about one run."""
    from gittrack.cli import run_views as views
    from gittrack.experiments import as_reported
    from gittrack.query.search import query_rows
    from gittrack.query.views import run_json

    out.check_format(fmt, ("table", "json"))
    with _index() as index:
        loaded = as_reported(index.runstore, _load(index, run))
        children = query_rows(index=index, parent_run_id=loaded.record.run_id)
    if fmt == "json":
        doc = run_json(loaded, packages=True)
        doc["children"] = [r["run_id"] for r in children]
        typer.echo(out.to_json(doc))
    else:
        typer.echo(views.show_text(loaded, packages=packages, children=children))


# -- diff ----------------------------------------------------------------------------------
def diff_cmd(
    run_a: Annotated[str, typer.Argument(help="The first run.")],
    run_b: Annotated[str, typer.Argument(help="The second run.")],
    code: Annotated[bool, typer.Option("--code", help="Add a diff stat of the code.")] = False,
    code_full: Annotated[
        bool, typer.Option("--code-full", help="Add the full code patch.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Compare two runs: params, metrics, tags, environment, inputs and code."""
    import dataclasses

    from gittrack.cli import run_views as views
    from gittrack.query.diff import diff_runs

    out.check_format(fmt, ("table", "json"))
    with _index() as index:
        a, b = _load(index, run_a), _load(index, run_b)
        d = diff_runs(index.runstore, a, b, code=code, code_full=code_full)
    if fmt == "json":
        typer.echo(out.to_json(dataclasses.asdict(d)))
        return
    typer.echo(views.diff_text(a, b, d))


# -- metrics -------------------------------------------------------------------------------
def metrics_cmd(
    run: Annotated[str, typer.Argument(help="Run id or prefix, commit prefix, or name.")],
    keys: Annotated[list[str] | None, typer.Argument(help="Metric keys (default: all).")] = None,
    fmt: FormatOpt = "table",
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw a text plot.")] = False,
    all_points: Annotated[
        bool, typer.Option("--all", "-a", help="Print every point, not a summary.")
    ] = False,
) -> None:
    """Show the history of a run's metrics: numbers, sparklines and plots."""
    from gittrack.cli import run_views as views
    from gittrack.query.views import metric_histories

    out.check_format(fmt)
    with _index() as index:  # the history alone: no YAML file of the run is read
        run_id = index.resolve(run)
        decoded = index.runstore.metric_history(run_id)
    table = None if decoded is None else decoded.table
    series = metric_histories(table, keys or None, what=f"run {run_id[:8]}")
    if fmt == "json":
        typer.echo(out.to_json({k: s.rows() for k, s in series.items()}))
        return
    if fmt == "csv":
        rows = [{"key": k, **row} for k, s in series.items() for row in s.rows()]
        typer.echo(out.render(rows, ["key", "step", "timestamp", "value"], "csv"))
        return
    if not series:
        typer.echo(f"run {run_id[:8]} logged no metrics")
        return
    typer.echo("\n\n".join(views.metric_text(k, s, plot, all_points) for k, s in series.items()))


# -- tag, rm, experiments, recover -------------------------------------------------------
def tag_cmd(
    run: Annotated[str, typer.Argument(help="Run id or prefix, commit prefix, or name.")],
    pairs: Annotated[list[str] | None, typer.Argument(help="Tags to set, as key=value.")] = None,
    delete: Annotated[
        list[str] | None, typer.Option("--delete", "-d", help="Tag key to remove (repeatable).")
    ] = None,
) -> None:
    """Set (key=value) or remove (--delete key) tags of a run."""
    tags: dict[str, str] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ValidationError(f"expected key=value, got {pair!r}")
        tags[key.strip()] = value
    if not tags and not delete:
        raise ValidationError("nothing to do: give key=value pairs or --delete KEY")
    from gittrack.client import Client

    with _index() as index:
        rid = index.resolve(run)
        client = Client(index.root)
        if tags:
            client.set_tags(rid, tags)
        for key in delete or []:
            client.delete_tag(rid, key)
        client.flush(rid)
    typer.echo(f"run {rid[:8]}: " + ", ".join(
        [f"{k}={v}" for k, v in tags.items()] + [f"-{k}" for k in delete or []]
    ))  # fmt: skip


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


_DURATION = re.compile(r"^(?:([\d.]+)d)?(?:([\d.]+)h)?(?:([\d.]+)m)?(?:([\d.]+)s)?$")


def parse_duration(text: str) -> int:
    """``30d``, ``12h``, ``1d2h30m``, ``90s`` (MLflow's ``--older-than`` form) in ms."""
    found = _DURATION.match(text.strip())
    try:
        parts = [float(p) if p else 0.0 for p in found.groups()] if found and text.strip() else []
    except ValueError:
        parts = []
    if not parts:
        raise ValidationError(
            f"--older-than {text!r} is not a duration (e.g. 30d, 12h, 1d2h30m, 90s)"
        )
    days, hours, minutes, seconds = parts
    return int((((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000)


def rm_cmd(
    runs: Annotated[
        list[str] | None,
        typer.Argument(help="Runs to remove (with --deleted: only these, each deleted)."),
    ] = None,
    deleted: Annotated[
        bool,
        typer.Option(
            "--deleted",
            help="Purge the soft-deleted runs (delete_run, the UI's Delete) and deleted "
            "experiments with their runs, as mlflow gc does.",
        ),
    ] = False,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="With --deleted: only what was deleted at least this long ago (30d, 1d2h).",
        ),
    ] = None,
    experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment",
            "-e",
            metavar="NAME_OR_ID",
            help="With --deleted: only runs of this experiment, name or id (repeatable).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Delete even a run a model version needs, or one being logged."
        ),
    ] = False,
) -> None:
    """Remove runs for good (their refs), or with --deleted every soft-deleted run.

    Git objects go at the next git gc; the artifact bytes of the local cache at gittrack
    gc (which removes no run).
    """
    from gittrack.removal import plan_purge, plan_removal, remove

    if not deleted and (older_than is not None or experiment):
        raise ValidationError("--older-than and --experiment go with --deleted")
    if not deleted and not runs:
        raise ValidationError("give the runs to remove, or --deleted")
    age = None if older_than is None else parse_duration(older_than)
    with _index() as index:
        if deleted:
            plan = plan_purge(
                index, older_than=age, experiments=experiment, runs=runs or None, force=force
            )
            _purge_notes(plan, older_than)
        else:
            plan = plan_removal(index, runs or [], force=force)
        if not plan.runs and not plan.experiments:
            typer.echo("nothing to remove")
            return
        what = f"{len(plan.runs)} run(s)" + (
            f" and {len(plan.experiments)} deleted experiment(s)" if plan.experiments else ""
        )
        if not yes:
            if not _stdin_is_terminal():
                raise ValidationError(f"refusing to remove {what} without confirmation: pass --yes")
            for rid in plan.runs:
                typer.echo(f"  {rid[:8]} {plan.names.get(rid, '')}")
            for exp in plan.experiments:
                typer.echo(f"  experiment {exp.name} ({exp.experiment_id})")
            typer.confirm(f"Remove {what} for good?", abort=True)

        def removed(rid: str) -> None:
            typer.echo(f"removed run {rid[:8]} {plan.names.get(rid, '')}".rstrip())
            for mv in plan.needed_by.get(rid, ()):
                typer.echo(f"  model {mv.name} version {mv.version} no longer loads (--force)")
            kids = plan.children.get(rid)
            if kids:
                shown = ", ".join(k[:8] for k in kids[:5]) + (", ..." if len(kids) > 5 else "")
                typer.echo(
                    f"  its {len(kids)} child run(s) are kept and still name it as parent: "
                    f"{shown} (delete them with gittrack rm)"
                )

        remove(index, plan, on_run=removed)
        for exp in plan.experiments:
            typer.echo(f"removed experiment {exp.name} ({exp.experiment_id})")


def _purge_notes(plan: Removal, older_than: str | None) -> None:
    """Say on stderr what a purge leaves, and why."""
    notes = [
        f"kept the deleted experiment {name!r}: a run of it stays" for name in plan.kept_experiments
    ]
    if plan.undated:
        notes.append(
            f"kept {len(plan.undated)} deleted run(s) with no recorded deletion time (deleted "
            "before gittrack recorded it): purge them without --older-than"
        )
    if plan.younger:
        notes.append(
            f"kept {plan.younger} run(s) or experiment(s) deleted less than {older_than} ago"
        )
    for note in notes:
        typer.echo(f"gittrack: {note}", err=True)


def experiments_cmd(
    fmt: FormatOpt = "table",
    every: Annotated[
        bool, typer.Option("--all", help="Deleted experiments too (column lifecycle_stage).")
    ] = False,
) -> None:
    """List experiments with their run counts and last run time."""
    from gittrack.entities import ViewType
    from gittrack.query.page import experiment_summaries

    out.check_format(fmt)
    with _index() as index:
        found = experiment_summaries(index, ViewType.ALL if every else ViewType.ACTIVE_ONLY)
    when = iso_utc if fmt != "table" else out.local_short
    rows = [{**vars(e), "last_run": when(e.last_start_time)} for e in found]
    columns = ["name", "experiment_id", "runs", "last_run"]
    if every or fmt != "table":
        columns.append("lifecycle_stage")
    text = out.render(rows, columns, fmt)
    if text:
        typer.echo(text)


def recover_cmd(
    runs: Annotated[
        list[str] | None, typer.Argument(help="Only these runs (default: every dead run).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the dead runs; change nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Mark the given RUNNING runs KILLED even if alive.")
    ] = False,
) -> None:
    """Mark RUNNING runs whose process died as KILLED (keeps their flushed metrics)."""
    from gittrack.client import Client
    from gittrack.recovery import find_dead_runs, kill_reason, mark_killed

    with _index() as index:
        client = Client(index.root)
        if runs:  # every one checked (as the marking checks it) before any is marked
            targets = [kill_reason(client, index.resolve(r), force=force) for r in runs]
        else:
            targets = [(d.run_id, d.reason) for d in find_dead_runs(client)]
        names = {e.run_id: e.name for e in index.entries()}
    if not targets:
        typer.echo("no dead runs")
    for rid, reason in targets:
        if not dry_run:
            mark_killed(client, rid, force=force)
        verb = "would mark" if dry_run else "marked"
        typer.echo(f"{verb} KILLED: {rid[:8]} {names.get(rid, '')} ({reason})")


def register(app: typer.Typer) -> None:
    """Add the run commands to the CLI."""
    app.command("list")(list_cmd)
    app.command("ls", help="Alias of list.")(list_cmd)
    app.command("show")(show_cmd)
    app.command("diff")(diff_cmd)
    app.command("metrics")(metrics_cmd)
    app.command("tag")(tag_cmd)
    app.command("rm")(rm_cmd)
    app.command("experiments")(experiments_cmd)
    app.command("recover")(recover_cmd)
