"""Every run and every metric point as a Parquet dataset that other engines read directly.

Layout below the destination (Hive partitioning by experiment, names percent-encoded)::

    runs/experiment=<name>/part-<generation>.parquet      one row per run
    metrics/experiment=<name>/part-<generation>.parquet   one row per metric point
    _gittrack_export.json                                  which run commit is where

An export again writes only what changed: runs whose commit moved since the last export
are written into a new part; the older parts that held them are rewritten without them;
runs deleted since are dropped. The state file is replaced atomically after the new
parts are in place, and parts it does not list (left by an interrupted export) are
removed at the next export, so readers never see a run twice once an export completes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from gittrack import format as fmt
from gittrack.errors import CorruptRunError, MigrationError
from gittrack.migrate.locations import local_directory

if TYPE_CHECKING:
    import pyarrow as pa

    from gittrack.runs import LoadedRun, RunStore

STATE_FILE = "_gittrack_export.json"
STATE_FORMAT = 2  # 2: the runs table has lifecycle_stage (an export of format 1 is redone)
TABLES = ("runs", "metrics")


@dataclass(frozen=True)
class ParquetExport:
    """What one export pass did."""

    dest: str
    runs: int
    written: int
    removed: int
    unchanged: int
    points: int
    skipped: tuple[tuple[str, str], ...] = ()


def runs_schema() -> pa.Schema:
    """The schema of the runs table (the experiment comes from the partition)."""
    import pyarrow as pa

    text_map = pa.map_(pa.string(), pa.string())
    return pa.schema(
        [
            ("run_id", pa.string()),
            ("commit", pa.string()),
            ("name", pa.string()),
            ("status", pa.string()),
            ("start_time", pa.int64()),
            ("end_time", pa.int64()),
            ("user", pa.string()),
            ("source_commit", pa.string()),
            ("parent_run_id", pa.string()),
            ("lifecycle_stage", pa.string()),
            ("params", text_map),
            ("metrics", pa.map_(pa.string(), pa.float64())),
            ("tags", text_map),
            (
                "inputs",
                pa.list_(
                    pa.struct(
                        [("name", pa.string()), ("digest", pa.string()), ("context", pa.string())]
                    )
                ),
            ),
        ]
    )


def metrics_schema() -> pa.Schema:
    """The schema of the metric history table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("run_id", pa.dictionary(pa.int32(), pa.string())),
            ("key", pa.dictionary(pa.int32(), pa.string())),
            ("step", pa.int64()),
            ("timestamp", pa.int64()),
            ("value", pa.float64()),
        ]
    )


def partition_dir(experiment: str) -> str:
    """``experiment=<name>`` with the name percent-encoded (Hive style, as pyarrow reads)."""
    return "experiment=" + quote(experiment, safe="")


def _run_row(loaded: LoadedRun) -> dict[str, Any]:
    record = loaded.record
    inputs = [
        {
            "name": str(e.get("name", "")),
            "digest": str(e.get("digest", "")),
            "context": None if e.get("context") is None else str(e["context"]),
        }
        for e in record.inputs
        if isinstance(e, dict)
    ]
    commit = record.source.get("commit")
    return {
        "run_id": record.run_id,
        "commit": loaded.commit,
        "name": record.name,
        "status": record.status,
        "start_time": record.start_time,
        "end_time": record.end_time,
        "user": record.user,
        "source_commit": None if commit is None else str(commit),
        "parent_run_id": record.parent_run_id,
        "lifecycle_stage": record.lifecycle_stage,
        # Maps of text, as MLflow keeps params: one schema for every part and engine.
        "params": [(k, v if isinstance(v, str) else str(v)) for k, v in record.params.items()],
        "metrics": [(k, float(m.value)) for k, m in record.metrics.items()],
        "tags": list(fmt.run_tags(record).items()),  # with MLflow's system tags, as listed
        "inputs": inputs,
    }


class _State:
    """``{run_id: [commit, experiment, generation]}`` and the parts that exist."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / STATE_FILE
        self.runs: dict[str, list[str]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("format") not in (1, STATE_FORMAT):
                    raise ValueError(f"format {data.get('format')!r}")
                if data["format"] == STATE_FORMAT:  # parts of older formats are written again
                    self.runs = {str(k): [str(x) for x in v] for k, v in data["runs"].items()}
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise MigrationError(
                    f"{self.path} is not a gittrack export state file ({e}); "
                    "export into an empty directory"
                ) from e

    def parts(self) -> set[tuple[str, str]]:
        return {(exp, gen) for _, exp, gen in self.runs.values()}

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = {"format": STATE_FORMAT, "runs": dict(sorted(self.runs.items()))}
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)


def _part(dest: Path, table: str, experiment: str, generation: str) -> Path:
    return dest / table / partition_dir(experiment) / f"part-{generation}.parquet"


def export_parquet(
    dest: str | os.PathLike[str],
    *,
    runs: RunStore,
    progress: Callable[[int, int], None] | None = None,
) -> ParquetExport:
    """Export every run of ``runs`` into the Parquet dataset at ``dest`` (incrementally)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = local_directory(
        dest, "a Parquet export", "export into a directory, then copy it where it belongs"
    )
    if root.exists() and not root.is_dir():
        raise MigrationError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not (root / STATE_FILE).exists():
        raise MigrationError(f"{root} is not empty and holds no gittrack export: refused")
    root.mkdir(parents=True, exist_ok=True)
    state = _State(root)
    _remove_unlisted(root, state.parts())
    current = runs.list_runs()
    changed = sorted(rid for rid, sha in current.items() if state.runs.get(rid, [""])[0] != sha)
    removed = sorted(rid for rid in state.runs if rid not in current)
    generation = f"{int(time.time() * 1000)}-{os.urandom(3).hex()}"
    rows: dict[str, list[dict[str, Any]]] = {}
    points: dict[str, list[pa.Table]] = {}
    skipped: list[tuple[str, str]] = []
    exported: dict[str, list[str]] = {}
    total_points = 0
    for done, rid in enumerate(changed, 1):
        try:
            loaded = runs.load_commit(current[rid], what=f"run {rid}")
            history = runs.read_metrics(loaded)
        except CorruptRunError as e:
            skipped.append((f"run {rid}", e.message))
            continue
        experiment = loaded.record.experiment
        rows.setdefault(experiment, []).append(_run_row(loaded))
        if history is not None and history.num_rows:
            ids = pa.DictionaryArray.from_arrays(
                pa.array([0] * history.num_rows, pa.int32()), pa.array([rid], pa.string())
            )
            points.setdefault(experiment, []).append(
                pa.Table.from_arrays(
                    [ids, *history.columns], names=["run_id", *history.column_names]
                )
            )
            total_points += history.num_rows
        exported[rid] = [current[rid], experiment, generation]
        if progress is not None:
            progress(done, len(changed))
    stale = {rid for rid in changed if rid in state.runs} | set(removed)
    old_parts = {(state.runs[rid][1], state.runs[rid][2]) for rid in stale}
    rewritten = {part: _rewrite_without(root, part, stale, generation) for part in old_parts}
    for experiment, items in rows.items():
        _write(
            _part(root, "runs", experiment, generation),
            pa.Table.from_pylist(items, schema=runs_schema()),
            pq,
        )
    for experiment, tables in points.items():
        merged = pa.concat_tables(tables).unify_dictionaries().combine_chunks()
        _write(_part(root, "metrics", experiment, generation), merged.cast(metrics_schema()), pq)
    for rid in removed:
        del state.runs[rid]
    for entry in state.runs.values():
        moved = rewritten.get((entry[1], entry[2]))
        if moved is not None:
            entry[2] = moved
    state.runs.update(exported)
    state.save()
    _remove_unlisted(root, state.parts())
    return ParquetExport(
        dest=str(root),
        runs=len(state.runs),
        written=len(exported),
        removed=len(removed),
        unchanged=len(current) - len(changed),
        points=total_points,
        skipped=tuple(skipped),
    )


def _write(path: Path, table: pa.Table, pq: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except OSError as e:
        raise MigrationError(f"cannot write {path}: {e.strerror or e}") from e


def _rewrite_without(root: Path, part: tuple[str, str], drop: set[str], generation: str) -> str:
    """Write each table's file of an old part without the runs in ``drop``, as a new
    part of ``generation`` plus a suffix; return the new generation name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    experiment, old = part
    new = f"{generation}-{old}"
    for table in TABLES:
        path = _part(root, table, experiment, old)
        if not path.exists():
            continue
        data = pq.read_table(path, partitioning=None)
        ids = data.column("run_id").to_pylist()
        keep = pa.array([rid not in drop for rid in ids], pa.bool_())
        remaining = data.filter(keep)
        if remaining.num_rows:
            _write(_part(root, table, experiment, new), remaining, pq)
    return new


def _remove_unlisted(root: Path, parts: set[tuple[str, str]]) -> None:
    """Delete part files the state does not list (older generations, interrupted runs)."""
    wanted = {
        _part(root, table, experiment, gen).resolve()
        for table in TABLES
        for experiment, gen in parts
    }
    for table in TABLES:
        top = root / table
        if not top.is_dir():
            continue
        for path in top.glob("experiment=*/part-*.parquet*"):
            if path.resolve() not in wanted:
                path.unlink()
        for folder in top.glob("experiment=*"):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
