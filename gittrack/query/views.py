"""What runs look like to programs: the documented JSON shapes and metric histories,
computed once here for the CLI, the web UI and the server alike."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
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
class MetricPoint:
    """One logged point of a metric."""

    step: int
    timestamp: int
    value: float


def _key_texts(table: pa.Table) -> list[Any]:
    """The ``key`` column of a metrics table as text, from its dictionary codes."""
    texts: list[Any] = []
    for chunk in table["key"].chunks:
        names = chunk.dictionary.to_pylist()
        texts.extend(None if c is None else names[c] for c in chunk.indices.to_pylist())
    return texts


def metric_histories(
    table: pa.Table | None, keys: Iterable[str] | None = None, *, what: str = "the run"
) -> dict[str, list[MetricPoint]]:
    """``{key: points}`` of a metrics table (``RunStore.read_metrics``), each series
    ordered by step then timestamp; ``keys`` picks metrics (an unknown one is a
    ValidationError naming what the run has), None takes every metric by name."""
    history: dict[str, list[MetricPoint]] = {}
    if table is not None:
        # Plain lists, not pyarrow.compute: comparing in compute imports pandas, and even
        # a cast imports pyarrow.compute (~30 ms of the `gittrack metrics` process).
        for k, s, t, v in zip(
            _key_texts(table),
            table["step"].to_pylist(),
            table["timestamp"].to_pylist(),
            table["value"].to_pylist(),
            strict=True,
        ):
            history.setdefault(k, []).append(MetricPoint(s, t, v))
    wanted = list(keys) if keys is not None else sorted(history)
    missing = [k for k in wanted if k not in history]
    if missing:
        known = ", ".join(sorted(history)) or "none"
        raise ValidationError(f"{what} has no metric {missing[0]!r} (it has: {known})")
    return {k: sorted(history[k], key=lambda p: (p.step, p.timestamp)) for k in wanted}
