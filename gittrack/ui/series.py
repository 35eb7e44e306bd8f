"""Metric lines for charts: each run's history grouped per key, downsampled keeping extremes.

A chart a few hundred pixels wide cannot show 10,000 points per line: each line is cut
into ``points // 2`` buckets along its steps and keeps, per bucket, the point with the
smallest and the one with the largest value (plus the first and last point), so every
spike a pixel column would show survives, and every point sent is a point as logged
(hover shows exact values). A zoomed chart asks for a window of the x-axis and gets the
same treatment over that window only, down to every logged point. Non-finite values
cannot be drawn and are left out. numpy does the bucketing (the ``ui`` extra); lines are
kept per run commit and width, so another chart, a redraw or another page reads no
Parquet again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    Line = tuple[np.ndarray, np.ndarray, np.ndarray, int]  # steps, times, values, logged

MAX_POINTS = 4000
X_AXES = ("step", "time", "relative")
_KEPT_RUNS = 512  # (run commit, width) entries; 100 runs x 10 metrics x 400 points: 10 MB
_lock = threading.Lock()
_lines: OrderedDict[tuple[str, int], dict[str, Line]] = OrderedDict()


def keep_extremes(values: np.ndarray, points: int) -> np.ndarray:
    """Indices (sorted) of the points to draw from ``values`` (finite) at ``points`` per line."""
    import numpy as np

    n = len(values)
    if n <= points:
        return np.arange(n)
    size = -(-n // max(1, points // 2))  # points per bucket
    buckets = -(-n // size)
    padded = np.empty(buckets * size)
    offsets = np.arange(buckets) * size
    chosen = [np.array([0, n - 1])]
    for pad, pick in ((np.inf, np.argmin), (-np.inf, np.argmax)):  # first hit of each bucket
        padded[:n], padded[n:] = values, pad
        chosen.append(offsets + pick(padded.reshape(buckets, size), axis=1))
    return np.unique(np.concatenate(chosen))


def as_numpy(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric column as a read-only numpy array over Arrow's own memory. pyarrow's
    ``to_numpy`` imports pandas when it is installed (0.16 s, paid by the first chart
    request after ``gittrack ui`` starts); a column without nulls needs no conversion."""
    import numpy as np
    import pyarrow as pa

    from gittrack.format import value_bytes

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    tests = (pa.types.is_signed_integer, pa.types.is_unsigned_integer, pa.types.is_floating)
    code = next((c for c, test in zip("iuf", tests, strict=True) if test(array.type)), "")
    if array.null_count or not code:
        converted: np.ndarray = array.to_numpy(zero_copy_only=False)
        return converted
    return np.frombuffer(value_bytes(array), dtype=f"<{code}{array.type.bit_width // 8}")


def group_history(table: pa.Table) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{key: (steps, timestamps, values)}`` of a metrics table, each sorted by step then time."""
    import numpy as np

    keys = table.column("key").combine_chunks()
    codes = as_numpy(keys.indices)
    names = keys.dictionary.to_pylist()
    steps, stamps, values = (as_numpy(table.column(c)) for c in ("step", "timestamp", "value"))
    # Points are stored in logging order, so within a key they are nearly always sorted
    # already: one stable pass on the key codes, and a full sort only for a key that needs it.
    # Codes narrowed to 8 or 16 bits sort by radix (several times faster, same order);
    # rows already grouped by key need no sort at all.
    if len(codes) > 1 and np.any(codes[1:] < codes[:-1]):
        if codes.dtype.kind in "iu" and len(names) <= 1 << 16:
            narrow = np.uint8 if len(names) <= 1 << 8 else np.uint16
            order = np.argsort(codes.astype(narrow), kind="stable")
        else:
            order = np.argsort(codes, kind="stable")
        codes, steps, stamps, values = codes[order], steps[order], stamps[order], values[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    out = {}
    for lo, hi in zip(np.append(0, bounds), np.append(bounds, len(codes)), strict=True):
        if hi <= lo:
            continue
        s, t, v = steps[lo:hi], stamps[lo:hi], values[lo:hi]
        ds, dt = np.diff(s), np.diff(t)
        if np.any((ds < 0) | ((ds == 0) & (dt < 0))):
            within = np.lexsort((t, s))
            s, t, v = s[within], t[within], v[within]
        out[names[int(codes[lo])]] = (s, t, v)
    return out


def _finite(steps: np.ndarray, stamps: np.ndarray, values: np.ndarray) -> Any:
    import numpy as np

    keep = np.isfinite(values)
    if keep.all():
        return steps, stamps, values
    return steps[keep], stamps[keep], values[keep]


def downsample(table: pa.Table | None, points: int) -> dict[str, Line]:
    """Every metric of one run as ``{key: (steps, times, values, logged)}`` downsampled
    (times: epoch ms; logged: the points logged, non-finite ones included)."""
    if table is None or table.num_rows == 0:
        return {}
    out = {}
    for key, (steps, stamps, values) in group_history(table).items():
        s, t, v = _finite(steps, stamps, values)
        pick = keep_extremes(v, points)
        out[key] = (s[pick], t[pick], v[pick], len(values))
    return out


def as_json(line: Line) -> dict[str, Any]:
    """A line as the page draws it: ``{"step", "time", "value", "count"}``, each array as
    base64 of little-endian float64 (exact, and about twenty times faster to write and
    read than JSON numbers for the hundreds of thousands of points a compare page shows)."""
    import base64

    steps, stamps, values, count = line

    def packed(a: np.ndarray) -> str:
        return base64.b64encode(a.astype("<f8").tobytes()).decode("ascii")

    return {
        "step": packed(steps),
        "time": packed(stamps),
        "value": packed(values),
        "count": count,
    }


def clamp_points(points: int) -> int:
    return max(16, min(int(points), MAX_POINTS))


def run_lines(
    commit: str, points: int, read: Callable[[], pa.Table | None], keys: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """The downsampled lines (``keys`` only, when given) of the run stored at ``commit``;
    ``read()`` gives its metrics table when its lines are not kept yet."""
    key = (commit, clamp_points(points))
    with _lock:
        found = _lines.get(key)
        if found is not None:
            _lines.move_to_end(key)
    if found is None:
        found = downsample(read(), key[1])
        with _lock:
            _lines[key] = found
            while len(_lines) > _KEPT_RUNS:
                _lines.popitem(last=False)
    wanted = set(keys)
    return {k: as_json(line) for k, line in found.items() if not wanted or k in wanted}


def is_kept(commit: str, points: int) -> bool:
    """Whether the lines of ``commit`` at ``points`` are kept (no Parquet read needed)."""
    with _lock:
        return (commit, clamp_points(points)) in _lines


def window_lines(
    table: pa.Table | None,
    keys: Iterable[str],
    points: int,
    *,
    x: str,
    lo: float,
    hi: float,
    start_time: int,
) -> dict[str, dict[str, Any]]:
    """The ``keys`` lines of one run over ``lo <= x <= hi`` only (``x``: step, time in
    epoch ms, or relative seconds since ``start_time``), downsampled to ``points``, plus
    the nearest point on either side so the line runs to the chart's edges."""
    import numpy as np

    if table is None or table.num_rows == 0:
        return {}
    wanted = set(keys)
    out = {}
    for key, (steps, stamps, values) in group_history(table).items():
        if wanted and key not in wanted:
            continue
        s, t, v = _finite(steps, stamps, values)
        xs = s if x == "step" else t if x == "time" else (t - start_time) / 1000.0
        inside = np.flatnonzero((xs >= lo) & (xs <= hi))
        if len(inside):
            first, last = max(0, int(inside[0]) - 1), min(len(v), int(inside[-1]) + 2)
        else:  # nothing logged in the window: the points around it
            first = max(0, int(np.searchsorted(xs, lo)) - 1)
            last = min(len(v), first + 2)
        s, t, v = s[first:last], t[first:last], v[first:last]
        pick = keep_extremes(v, clamp_points(points))
        out[key] = as_json((s[pick], t[pick], v[pick], len(values)))
    return out
