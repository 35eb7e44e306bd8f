"""``search_runs``: MLflow's query over the local run index.

Rows come from :mod:`gittrack.index` (kept up to date with the refs on every call), are
filtered and sorted by :mod:`gittrack.query.filter`, and returned as a pyarrow Table with
MLflow's column names, a pandas DataFrame, or plain dict rows.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gittrack.errors import RepositoryError, ValidationError
from gittrack.validation import param_text

if TYPE_CHECKING:
    import pyarrow as pa

    from gittrack.index import RunIndex
    from gittrack.query.filter import SortKey

OUTPUT_FORMATS = ("pyarrow", "pandas", "list", "rows")
ATTRIBUTE_COLUMNS = (
    "run_id",
    "experiment_id",
    "run_name",
    "experiment",
    "status",
    "start_time",
    "end_time",
    "commit",
)


def query_rows(
    filter_string: str | None = None,
    order_by: list[str] | str | None = None,
    experiment_names: list[str] | None = None,
    max_results: int | None = None,
    repo: str | os.PathLike[str] | None = None,
    *,
    check_sort_keys: bool = False,
    index: RunIndex | None = None,
    experiment_ids: list[str] | None = None,
    view_type: int = 1,
    parent_run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Matching index rows (see :mod:`gittrack.query.filter`), sorted, newest first by default.

    Rows of the given experiment names or ids (every active experiment when neither is
    given), in the lifecycle stages of ``view_type`` (:class:`gittrack.entities.ViewType`);
    as in MLflow, the runs of a deleted experiment are deleted runs.
    Outside any repository (and with no ``.gittrack-runs`` here) there are no rows.
    ``check_sort_keys`` rejects a metrics/params/tags sort key no matching run has
    (a likely typo). ``index``: an open index to use (refreshed here, left open).
    ``parent_run_id`` (a full run id) keeps the runs nested in that run.

    Filtering and sorting are columnar (:class:`gittrack.query.frame.Frame`), and the
    matching sequence is kept while no run changes (:func:`gittrack.query.page.matching_rows`),
    so a repeated search, or the next page of one, costs a list of the rows.
    """
    from gittrack.lifecycle import ViewType

    stages = ViewType.stages(view_type)
    if max_results is not None and max_results < 0:
        raise ValidationError(f"max_results must be 0 or more, got {max_results}")
    names = list(experiment_names or ())
    ids = None if experiment_ids is None else [str(e) for e in experiment_ids]
    kept: frozenset[str] | None = None if stages == {"active", "deleted"} else stages
    plain = filter_string is None and order_by is None and ids is None and not names
    if parent_run_id is not None and plain:  # show's lookup of a run's children
        return _children(parent_run_id, kept, max_results, repo, index)

    from gittrack.query.deleted import deleted_experiments
    from gittrack.query.filter import parse_filter, parse_order_by
    from gittrack.query.frame import Frame
    from gittrack.query.page import matching_rows

    flt = parse_filter(filter_string)
    keys = parse_order_by(order_by)

    def ordered(rows: list[dict[str, Any]], ix: RunIndex) -> list[dict[str, Any]]:
        """The matching ``rows`` (newest first, as the index's), in order."""
        positions = Frame(rows).sequence(
            flt,
            keys,
            tuple(names),
            experiment_ids=None if ids is None else tuple(ids),
            stages=kept,
            deleted_experiments=deleted_experiments(ix),
        )
        return [rows[i] for i in positions]

    def finish(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if check_sort_keys and rows:
            _check_sort_keys(rows, keys)
        return rows if max_results is None else rows[:max_results]

    def search(ix: RunIndex) -> list[dict[str, Any]]:
        found = matches(ix)
        if kept is not None and "deleted" not in kept:
            return found  # no run of a deleted experiment is active
        gone = deleted_experiments(ix)  # their runs read as deleted, as MLflow marks them
        if not gone:
            return found
        return [
            {**r, "lifecycle_stage": "deleted"}  # a copy: the index's rows are shared
            if r["experiment"] in gone and r.get("lifecycle_stage") != "deleted"
            else r
            for r in found
        ]

    def matches(ix: RunIndex) -> list[dict[str, Any]]:
        ix.refresh()
        if parent_run_id is not None:
            return finish(ordered(ix.rows_with_parent(parent_run_id), ix))  # only those rows
        if max_results is not None:  # a few rows wanted: read only the columns named
            part = ix.projected_rows(flt.keys() | {sk.column for sk in keys})
            if part is not None:
                try:
                    found = finish(ordered(part, ix))
                except ValidationError:  # the unknown sort key's message lists every key
                    pass
                else:
                    full = ix.rows_of([r["run_id"] for r in found])
                    return [full[r["run_id"]] for r in found if r["run_id"] in full]
        found = finish(
            matching_rows(ix, flt, keys, experiments=names, experiment_ids=ids, stages=kept)
        )
        if max_results is not None:
            ix.keep_columns()  # the next search for a few rows reads columns only
        return found

    return _on_index(search, repo, index)


def _children(
    parent_run_id: str,
    kept: frozenset[str] | None,
    max_results: int | None,
    repo: str | os.PathLike[str] | None,
    index: RunIndex | None,
) -> list[dict[str, Any]]:
    """The runs nested in ``parent_run_id`` in the index's order (what ``show`` lists),
    found by the index's parent column, without the filter grammar."""

    def search(ix: RunIndex) -> list[dict[str, Any]]:
        ix.refresh()
        rows = ix.rows_with_parent(parent_run_id)
        if kept is not None:  # a row without a stage is active
            rows = [r for r in rows if (r.get("lifecycle_stage") or "active") in kept]
        return rows if max_results is None else rows[:max_results]

    return _on_index(search, repo, index)


def _on_index(
    search: Callable[[RunIndex], list[dict[str, Any]]],
    repo: str | os.PathLike[str] | None,
    index: RunIndex | None,
) -> list[dict[str, Any]]:
    """``search`` on ``index``, else on the repository's index, opened for it."""
    from gittrack.session import open_index

    if index is not None:
        return search(index)
    try:
        opened = open_index(repo, refresh=False)
    except RepositoryError:
        if repo is None and not os.environ.get("GITTRACK_REPO"):
            return []  # nowhere to look: no runs
        raise
    with opened:
        return search(opened)


def _check_sort_keys(rows: list[dict[str, Any]], keys: list[SortKey]) -> None:
    for sk in keys:
        kind, key = sk.column
        if kind in ("params", "metrics", "tags") and not any(key in r.get(kind, {}) for r in rows):
            known = sorted({k for r in rows for k in r.get(kind, {})})
            hint = f" (known: {', '.join(known[:8])})" if known else ""
            raise ValidationError(f"unknown sort key {kind}.{key}: no listed run has it{hint}")


def search_runs(
    experiment_ids: list[str] | str | None = None,
    filter_string: str | None = "",
    run_view_type: int = 1,
    max_results: int | None = None,
    order_by: list[str] | str | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
    *,
    repo: str | os.PathLike[str] | None = None,
) -> Any:
    """Search runs with MLflow's filter grammar (plus ``or`` and parentheses), in MLflow's
    argument order.

    Returns, as MLflow does, a pandas DataFrame (``output_format="pandas"``, the default)
    with MLflow's columns: run_id, experiment_id, status, artifact_uri, start_time,
    end_time (UTC timestamps), ``metrics.<key>`` (float64), ``params.<key>`` (MLflow's
    strings), ``tags.<key>`` (system tags included), or, as MLflow's ``"list"``, a list of
    :class:`gittrack.entities.Run`. gittrack's faster forms: a pyarrow Table
    (``"pyarrow"``: run_id, experiment_id, run_name, experiment, status, start_time,
    end_time, commit, params, metrics, tags) or a list of dict rows (``"rows"``), neither
    needing pandas. ``experiment_ids``/``experiment_names`` narrow
    the search (none: every active experiment; ``search_all_experiments`` is accepted for
    MLflow code and changes nothing); ``run_view_type`` (:class:`gittrack.entities.ViewType`)
    includes deleted runs, the runs of deleted experiments among them (as in MLflow);
    ``max_results`` None: every match.
    """
    del search_all_experiments  # every experiment is searched unless narrowed
    if isinstance(experiment_ids, str):
        if not experiment_ids.isdigit():  # ids are numbers: likely a filter put first
            raise ValidationError(
                f"{experiment_ids!r} is not an experiment id: search_runs takes "
                "experiment_ids first, as MLflow does (pass filter_string=...)"
            )
        experiment_ids = [experiment_ids]
    if output_format not in OUTPUT_FORMATS:
        raise ValidationError(
            f"unknown output_format {output_format!r} (use {', '.join(OUTPUT_FORMATS)})"
        )
    rows = query_rows(
        filter_string,
        order_by,
        experiment_names,
        max_results,
        repo,
        experiment_ids=experiment_ids,
        view_type=run_view_type,
    )
    if output_format == "list":
        from gittrack.entities import Run

        return [Run.from_row(r) for r in rows]
    if output_format == "rows":  # copies: the index keeps its rows cached in memory
        return [_copy_row(r) for r in rows]
    if output_format == "pyarrow":
        return rows_to_table(rows)
    try:
        import pandas  # noqa: F401
    except ImportError as e:
        raise ValidationError(
            "output_format='pandas' (the default, as in MLflow) needs pandas "
            "(pip install 'gittrack[pandas]'), or pass output_format='pyarrow', 'list' or 'rows'"
        ) from e
    return rows_to_mlflow_table(rows).to_pandas()


def _copy_row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for kind in ("params", "metrics", "tags"):
        out[kind] = dict(row.get(kind, {}))
    # an input's schema and MLflow fields nest
    out["inputs"] = {k: copy.deepcopy(v) for k, v in row.get("inputs", {}).items()}
    return out


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Index rows as a pyarrow Table (gittrack's columns, MLflow's names)."""
    import pyarrow as pa

    columns: dict[str, pa.Array] = {
        "run_id": pa.array([r["run_id"] for r in rows], pa.string()),
        "experiment_id": pa.array([r["experiment_id"] for r in rows], pa.string()),
        "run_name": pa.array([r["name"] for r in rows], pa.string()),
        "experiment": pa.array([r["experiment"] for r in rows], pa.string()),
        "status": pa.array([r["status"] for r in rows], pa.string()),
        **_time_columns(rows),
        "commit": pa.array([r["commit"] for r in rows], pa.string()),
    }
    for kind in ("params", "metrics", "tags"):
        columns.update(_value_columns(rows, kind))
    return pa.table(columns)


def rows_to_mlflow_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Index rows with exactly MLflow's ``search_runs`` columns, in MLflow's order."""
    import pyarrow as pa

    from gittrack.entities import RunInfo

    columns: dict[str, pa.Array] = {
        "run_id": pa.array([r["run_id"] for r in rows], pa.string()),
        "experiment_id": pa.array([r["experiment_id"] for r in rows], pa.string()),
        "status": pa.array([r["status"] for r in rows], pa.string()),
        "artifact_uri": pa.array([RunInfo.artifact_uri_of(r["run_id"]) for r in rows]),
        **_time_columns(rows),
    }
    for kind in ("metrics", "params", "tags"):
        columns.update(_value_columns(rows, kind))
    return pa.table(columns)


def _time_columns(rows: list[dict[str, Any]]) -> dict[str, pa.Array]:
    import pyarrow as pa

    ts = pa.timestamp("ms", tz="UTC")
    return {
        "start_time": pa.array([r["start_time"] for r in rows], ts),
        "end_time": pa.array([r["end_time"] for r in rows], ts),
    }


def _value_columns(rows: list[dict[str, Any]], kind: str) -> dict[str, pa.Array]:
    """``<kind>.<key>`` columns: params as MLflow's strings, metrics float64, tags strings."""
    import pyarrow as pa

    out: dict[str, pa.Array] = {}
    for key in sorted({k for r in rows for k in r.get(kind, {})}):
        values: list[Any] = [r.get(kind, {}).get(key) for r in rows]
        if kind == "params":  # MLflow's string form; a param logged as None is "None"
            values = [
                param_text(r["params"][key]) if key in r.get("params", {}) else None for r in rows
            ]
        elif kind == "metrics":
            values = [None if v is None else float(v) for v in values]
        out[f"{kind}.{key}"] = pa.array(values, pa.float64() if kind == "metrics" else pa.string())
    return out
