"""Metric lines for charts: each run's history grouped per key, downsampled keeping extremes.

A chart a few hundred pixels wide cannot show 10,000 points per line: each line is cut
into ``points // 2`` buckets along its steps and keeps, per bucket, the point with the
smallest and the one with the largest value (plus the first and last point), so every
spike a pixel column would show survives. Non-finite values cannot be drawn and are
left out. numpy does the bucketing (the ``ui`` extra); lines are kept per run commit, so
a redraw or another page of charts reads no Parquet again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

MAX_POINTS = 4000
_KEPT_RUNS = 512
_lock = threading.Lock()
_lines: OrderedDict[tuple[str, int], dict[str, dict[str, Any]]] = OrderedDict()


def keep_extremes(values: np.ndarray, points: int) -> np.ndarray:
    """Indices (sorted) of the points to draw from ``values`` (finite) at ``points`` per line."""
    import numpy as np

    n = len(values)
    if n <= points:
        return np.arange(n)
    buckets = max(1, points // 2)
    starts = (np.arange(buckets) * n) // buckets
    bucket_of = np.repeat(np.arange(buckets), np.diff(np.append(starts, n)))
    chosen = [np.array([0, n - 1])]
    for reduce in (np.minimum, np.maximum):
        extreme = reduce.reduceat(values, starts)
        hits = np.flatnonzero(values == extreme[bucket_of])
        # the first hit of each bucket
        _, first = np.unique(bucket_of[hits], return_index=True)
        chosen.append(hits[first])
    return np.unique(np.concatenate(chosen))


def group_history(table: pa.Table) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{key: (steps, timestamps, values)}`` of a metrics table, each sorted by step then time."""
    import numpy as np

    keys = table.column("key").combine_chunks()
    codes = keys.indices.to_numpy(zero_copy_only=False)
    names = keys.dictionary.to_pylist()
    steps = table.column("step").to_numpy()
    stamps = table.column("timestamp").to_numpy()
    values = table.column("value").to_numpy()
    order = np.lexsort((stamps, steps, codes))
    codes, steps, stamps, values = codes[order], steps[order], stamps[order], values[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    out = {}
    for lo, hi in zip(np.append(0, bounds), np.append(bounds, len(codes)), strict=True):
        if hi > lo:
            out[names[int(codes[lo])]] = (steps[lo:hi], stamps[lo:hi], values[lo:hi])
    return out


def downsample(table: pa.Table | None, points: int) -> dict[str, dict[str, Any]]:
    """Every metric of one run as chart data: ``{key: {"step", "time", "value", "count"}}``
    (``time``: epoch ms; ``count``: the points logged before downsampling)."""
    import numpy as np

    if table is None or table.num_rows == 0:
        return {}
    out = {}
    for key, (steps, stamps, values) in group_history(table).items():
        finite = np.isfinite(values)
        steps, stamps, kept = steps[finite], stamps[finite], values[finite]
        pick = keep_extremes(kept, points)
        out[key] = {
            "step": steps[pick].tolist(),
            "time": stamps[pick].tolist(),
            "value": kept[pick].tolist(),
            "count": len(values),
        }
    return out


def run_lines(commit: str, points: int, read: Any) -> dict[str, dict[str, Any]]:
    """The downsampled lines of the run stored at ``commit`` (``read()`` gives its metrics
    table when they are not kept yet)."""
    points = max(16, min(int(points), MAX_POINTS))
    key = (commit, points)
    with _lock:
        found = _lines.get(key)
        if found is not None:
            _lines.move_to_end(key)
            return found
    found = downsample(read(), points)
    with _lock:
        _lines[key] = found
        while len(_lines) > _KEPT_RUNS:
            _lines.popitem(last=False)
    return found
