"""What runs look like to programs: the documented JSON shapes and metric histories,
computed once here for the CLI, the web UI and the server alike."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from gittrack.errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from gittrack.runs import LoadedRun


def iso_utc(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC (``2024-05-01T12:00:00.123Z``); None stays None."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def run_row_json(row: dict[str, Any]) -> dict[str, Any]:
    """The documented JSON object of a run in listings (``gittrack list --format json``)
    from a search row (``search_runs(output_format="rows")``): run_id, commit, name,
    experiment, status, start_time, end_time (ISO UTC), params, metrics, tags, and inputs
    when the run recorded named inputs."""
    obj = {
        "run_id": row["run_id"],
        "commit": row["commit"],
        "name": row["name"],
        "experiment": row["experiment"],
        "status": row["status"],
        "start_time": iso_utc(row["start_time"]),
        "end_time": iso_utc(row["end_time"]),
        "params": row.get("params", {}),
        "metrics": row.get("metrics", {}),
        "tags": row.get("tags", {}),
    }
    if row.get("inputs"):
        obj["inputs"] = row["inputs"]
    return obj


def run_json(loaded: LoadedRun, *, packages: bool = True) -> dict[str, Any]:
    """Everything about one run as a JSON-ready dict (``gittrack show --format json``)."""
    from gittrack.format import run_tags

    r = loaded.record
    env = dict(r.environment)
    if not packages:
        env.pop("packages", None)
    return {
        "run_id": r.run_id,
        "commit": loaded.commit,
        "name": r.name,
        "experiment": r.experiment,
        "status": r.status,
        "lifecycle_stage": r.lifecycle_stage,
        "start_time": iso_utc(r.start_time),
        "end_time": iso_utc(r.end_time),
        "user": r.user,
        "host": r.host,
        "pid": r.pid,
        "parent_run_id": r.parent_run_id,
        "source": r.source,
        "command": r.command,
        "params": r.params,
        "metrics": {
            k: {"value": m.value, "step": m.step, "timestamp": m.timestamp, "count": m.count}
            for k, m in r.metrics.items()
        },
        "tags": run_tags(r),
        "artifacts": r.artifacts,
        "inputs": r.inputs,
        "environment": env,
    }


@dataclass(frozen=True)
class MetricSeries:
    """One metric's points ordered by step, then timestamp, then logging order: three
    parallel lists."""

    steps: list[int]
    timestamps: list[int]
    values: list[float]

    def __len__(self) -> int:
        return len(self.steps)

    def rows(self) -> list[dict[str, Any]]:
        """Each point as ``{"step", "timestamp", "value"}`` (the JSON and CSV shape)."""
        return [
            {"step": s, "timestamp": t, "value": v}
            for s, t, v in zip(self.steps, self.timestamps, self.values, strict=True)
        ]


def _series(columns: pa.Table) -> MetricSeries:
    """A key's columns (logging order) as a series ordered by step then timestamp; one
    pass when they are in that order already, as a training loop logs them."""
    steps, stamps, values = (column.to_pylist() for column in columns.columns)
    pairs = list(zip(steps, stamps, strict=True))
    if any(after < before for before, after in pairwise(pairs)):
        order = sorted(range(len(pairs)), key=pairs.__getitem__)  # stable
        steps, stamps, values = ([c[i] for i in order] for c in (steps, stamps, values))
    return MetricSeries(steps, stamps, values)


def metric_histories(
    table: pa.Table | None, keys: Iterable[str] | None = None, *, what: str = "the run"
) -> dict[str, MetricSeries]:
    """``{key: series}`` of a metrics table (``Client.metrics_table``); ``keys`` picks
    metrics (an unknown one is a ValidationError naming what the run has), None takes
    every metric by name. Only the picked keys become Python values."""
    from gittrack.history import DecodedMetrics

    decoded = None if table is None else DecodedMetrics(table)
    names = [] if decoded is None else decoded.keys()
    every = {} if decoded is None else {k: decoded.columns(k) for k in names}
    logged = {k: columns for k, columns in every.items() if columns.num_rows}
    wanted = list(logged) if keys is None else list(keys)
    missing = [k for k in wanted if k not in logged]
    if missing:
        known = ", ".join(logged) or "none"
        raise ValidationError(f"{what} has no metric {missing[0]!r} (it has: {known})")
    return {k: _series(logged[k]) for k in wanted}
