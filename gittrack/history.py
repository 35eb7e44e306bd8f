"""Metric histories read back: each ``metrics.parquet`` decoded once, cached by blob id.

A run's whole metric history is one Parquet blob per run state (see
:mod:`gittrack.format`), its rows in logging order with the keys interleaved. Reading
one metric's history decodes that blob once per process (blobs are content-addressed, so
the cache key is the blob id and never goes stale) and sorts its row numbers by key once
(a stable sort: each key's rows stay in logging order). A read of a key gathers that
key's rows of the step, timestamp and value columns: Arrow arrays for
``metric_history_table``, and the ``Metric`` entities of ``get_metric_history``, one
tuple per point. Building those is most of a read's time, and most of that is the
kernel handing out fresh memory pages (about 4 µs each on a 2-core VM), so a read touches
as little new memory as it can: no grouped copy of the whole file is kept, equal
neighbouring timestamps (one batch, or one millisecond) share one int, keys logged at
the steps 0, 1, 2, ... share the same step ints, and the entities of a key are kept for
the next call (``MAX_KEPT_POINTS``): they are immutable, and each call returns a new
list of them.

No ``pyarrow.compute`` on this path: importing it wraps hundreds of kernels (30-200 ms,
more than the whole read). The sort runs in numpy, which pyarrow itself loads when it is
installed, and in plain Python otherwise (same result, a few times slower).
"""

from __future__ import annotations

import threading
from array import array
from collections import Counter, OrderedDict
from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any, Literal

from gittrack import format as fmt
from gittrack.entities import Metric
from gittrack.gcpause import collector_paused

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DecodedMetrics", "decoded_metrics", "empty_columns", "forget_decoded"]

MAX_CACHED_ROWS = 2_000_000  # 28 bytes a row, and 8 more once sorted; the newest stays
MAX_CACHED_TABLES = 64
MAX_KEPT_POINTS = 250_000  # entities kept for the next read: ~200 bytes a point, 50 MB at most
COLUMNS = ("step", "timestamp", "value")
TYPECODES: tuple[Literal["q", "d"], ...] = ("q", "q", "d")  # int64 step, timestamp; float64

_lock = threading.Lock()
_cache: OrderedDict[str, DecodedMetrics] = OrderedDict()


class _Grouped:
    """The row numbers sorted by key (stable): key id ``i`` owns the rows
    ``order[starts[i]:starts[i + 1]]``, in logging order (a numpy array, or a list
    without numpy). ``sources`` are the step, timestamp and value columns to gather
    from: numpy arrays over the decoded buffers, memoryviews without numpy, or lists
    when a column holds nulls (another writer's file; gittrack writes none).
    ``step_ints`` are the ints 0 to the largest step when every step lies between 0 and
    the number of rows (None otherwise): keys logged at the same steps share them."""

    __slots__ = ("order", "sources", "starts", "step_ints")

    def __init__(
        self, order: Any, sources: list[Any], starts: list[int], step_ints: list[int] | None
    ) -> None:
        self.order = order
        self.sources = sources
        self.starts = starts
        self.step_ints = step_ints


class DecodedMetrics:
    """The metric history of one run state (one ``metrics.parquet`` blob), decoded.

    ``table`` is the whole history (key, step, timestamp, value) in logging order; its
    row numbers are sorted by key on the first read of a key and kept so.
    """

    def __init__(self, table: pa.Table, blob: str | None = None) -> None:
        self.blob = blob  # the file's blob id: its entities are kept under it (None: never)
        if any(column.num_chunks != 1 for column in table.columns):
            # row groups may carry dictionaries of their own
            table = table.unify_dictionaries().combine_chunks()
        key = table.column("key")
        self.table = table
        self.rows = table.num_rows
        self._key_column = key.chunk(0) if key.num_chunks else None
        names = [] if self._key_column is None else self._key_column.dictionary.to_pylist()
        # A key's id (a dictionary may list a key twice); rows without a key (a null in
        # the dictionary or in the indices) get the id after the last key's
        self._ids: dict[str, int] = {}
        for name in names:
            if name is not None:
                self._ids.setdefault(name, len(self._ids))
        self._id_of_code = [len(self._ids) if n is None else self._ids[n] for n in names]
        self._grouped: _Grouped | None = None
        self._lock = threading.Lock()

    def keys(self) -> list[str]:
        """The metric keys of the file's dictionary, sorted."""
        return sorted(self._ids)

    def columns(self, key: str) -> pa.Table:
        """``step``, ``timestamp`` and ``value`` of ``key``'s points, in logging order
        (no rows for a key the run never logged)."""
        gathered = self._gathered(key)
        if gathered is None:
            return empty_columns()
        import pyarrow as pa

        arrays = [_arrow(c, t) for c, t in zip(gathered[1], TYPECODES, strict=True)]
        return pa.Table.from_arrays(arrays, schema=fmt.metrics_schema().remove(0))

    def metrics(self, key: str, run_id: str | None = None) -> list[Metric]:
        """``key``'s points as :class:`~gittrack.entities.Metric` entities of ``run_id``."""
        kept_as = None if self.blob is None else (self.blob, key, run_id)
        if kept_as is not None:
            kept = _kept.get(kept_as)
            if kept is not None:
                return kept
        gathered = self._gathered(key)
        if gathered is None:
            return []
        grouped, (steps, stamps, values) = gathered
        np = _numpy()
        if np is not None and not isinstance(stamps, list):
            shared = _shared_runs(np, stamps)
            stamps = memoryview(stamps) if shared is None else shared
        if grouped.step_ints is not None and not isinstance(steps, list):
            steps = _consecutive(np, steps, grouped.step_ints)
        # memoryviews iterate as Python ints and floats (numpy arrays: numpy scalars)
        steps, items = (c if isinstance(c, list) else memoryview(c) for c in (steps, values))
        with collector_paused(settle=True):  # the entities are the caller's to keep
            built = list(
                map(
                    tuple.__new__,
                    repeat(Metric),
                    zip(repeat(key), items, stamps, steps, repeat(run_id)),
                )
            )
        if kept_as is not None and np is not None and not isinstance(values, list):
            if not np.isnan(values).any():
                # a NaN equals only itself: NaN points handed out twice would compare
                # equal across two reads, where MLflow's do not
                _kept.put(kept_as, built)
        return built

    def _gathered(self, key: str) -> tuple[_Grouped, list[Any]] | None:
        """The sorted rows and ``key``'s step, timestamp and value columns, gathered
        (numpy arrays; memoryviews without numpy; lists for columns with nulls), or
        None when the run logged no point of ``key``."""
        found = self._ids.get(key)
        if found is None:
            return None
        grouped = self._grouped
        if grouped is None:
            with self._lock:
                if self._grouped is None:
                    self._grouped = self._group()
                grouped = self._grouped
        start, stop = grouped.starts[found], grouped.starts[found + 1]
        if stop == start:
            return None
        rows = grouped.order[start:stop]
        return grouped, [_take(source, rows) for source in grouped.sources]

    def _group(self) -> _Grouped:
        column = self._key_column
        assert column is not None  # a key was found in its dictionary
        keys = len(self._ids)  # the id of rows without a key: sorted last, never read
        lut = self._id_of_code
        indices = column.indices
        np = _numpy()
        if indices.null_count:
            codes: Any = [keys if c is None else lut[c] for c in indices.to_pylist()]
            if np is not None:
                codes = np.asarray(codes, dtype=np.int32)
        elif np is not None:
            codes = np.frombuffer(fmt.value_bytes(indices), dtype=np.int32)
            if lut != list(range(len(lut))):
                codes = np.asarray(lut, dtype=np.int32)[codes]
        else:
            codes = fmt.value_bytes(indices).cast("i").tolist()
            if lut != list(range(len(lut))):
                codes = [lut[c] for c in codes]
        sources = [
            _source(np, self.table.column(name).chunk(0), typecode)
            for name, typecode in zip(COLUMNS, TYPECODES, strict=True)
        ]
        step_ints = None
        if np is not None:
            if keys < 2**15:  # numpy sorts 16-bit integers by radix: linear time
                codes = codes.astype(np.int16)
            order: Any = np.argsort(codes, kind="stable")
            counts = np.bincount(codes, minlength=keys + 1).tolist()
            steps = sources[0]
            if not isinstance(steps, list) and len(steps):
                low, high = int(steps.min()), int(steps.max())
                if low >= 0 and high < len(steps):
                    step_ints = list(range(high + 1))
        else:
            order = sorted(range(len(codes)), key=codes.__getitem__)  # stable
            per_key = Counter(codes)
            counts = [per_key[i] for i in range(keys + 1)]
        starts = [0]
        for count in counts:
            starts.append(starts[-1] + count)
        return _Grouped(order, sources, starts, step_ints)


def _numpy() -> Any:
    """numpy when installed (pyarrow has imported it then), else None."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _source(np: Any, column: Any, typecode: Literal["q", "d"]) -> Any:
    """A decoded column to gather rows from: a numpy array over its buffer, a memoryview
    without numpy, or a list when it holds nulls."""
    if column.null_count:
        return column.to_pylist()
    if np is None:
        return fmt.value_bytes(column).cast(typecode)
    return np.frombuffer(fmt.value_bytes(column), dtype=np.float64 if typecode == "d" else np.int64)


def _take(source: Any, rows: Any) -> Any:
    """The items of ``source`` (see :func:`_source`) at ``rows``, in that order."""
    if isinstance(source, list):
        return [source[i] for i in (rows if isinstance(rows, list) else rows.tolist())]
    if isinstance(source, memoryview):
        return memoryview(array(source.format, map(source.__getitem__, rows)))
    return source[rows]


def _shared_runs(np: Any, column: Any) -> list[int] | None:
    """``column`` (int64) as a list in which each run of equal neighbours is one int
    object; None unless runs average 8 rows or more (with shorter runs, an int per row
    is as quick)."""
    rows = len(column)
    differ = column[1:] != column[:-1]
    if 8 * (int(np.count_nonzero(differ)) + 1) > rows:
        return None
    firsts = [0, *(np.flatnonzero(differ) + 1).tolist()]
    shared: list[int] = []
    for value, start, stop in zip(
        column[firsts].tolist(), firsts, [*firsts[1:], rows], strict=True
    ):
        shared += [value] * (stop - start)
    return shared


def _consecutive(np: Any, steps: Any, ints: list[int]) -> Sequence[Any]:
    """A key's steps (a non-empty int64 numpy array) as a slice of ``ints`` (0, 1, 2, ...,
    shared by the keys of a run) when they count up by one from a step ``ints`` holds;
    else as a memoryview."""
    first, count = int(steps[0]), len(steps)
    if first + count > len(ints) or int(steps[-1]) != first + count - 1:
        return memoryview(steps)
    if count > 1 and not (steps[1:] > steps[:-1]).all():  # increasing, so one apart
        return memoryview(steps)
    return ints[first : first + count]


def _arrow(column: Any, typecode: str) -> pa.Array:
    """A gathered column (see :meth:`DecodedMetrics._gathered`) as an Arrow array (over
    the same buffer unless it is a list)."""
    import pyarrow as pa

    arrow_type = pa.float64() if typecode == "d" else pa.int64()
    if isinstance(column, list):
        return pa.array(column, arrow_type)
    return pa.Array.from_buffers(arrow_type, len(column), [None, pa.py_buffer(column)])


def empty_columns() -> pa.Table:
    """A history with no points: the columns of :meth:`DecodedMetrics.columns`, no rows."""
    schema = fmt.metrics_schema()
    return schema.empty_table().select(list(COLUMNS))


class _KeptEntities:
    """The ``Metric`` entities of recent reads, by (blob id, key, run id), the least
    recently read dropped first beyond ``MAX_KEPT_POINTS`` points. Blob ids are
    content-addressed, so what is kept never goes stale."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: OrderedDict[tuple[str, str, str | None], list[Metric]] = OrderedDict()
        self._points = 0

    def get(self, name: tuple[str, str, str | None]) -> list[Metric] | None:
        """A new list of the entities kept under ``name`` (None: none kept)."""
        with self._lock:
            kept = self._lists.get(name)
            if kept is None:
                return None
            self._lists.move_to_end(name)
            return list(kept)

    def put(self, name: tuple[str, str, str | None], entities: list[Metric]) -> None:
        """Keep a copy of ``entities`` (the caller's list stays the caller's)."""
        if len(entities) > MAX_KEPT_POINTS:
            return
        dropped = []
        with self._lock:
            if name in self._lists:
                return
            self._lists[name] = list(entities)
            self._points += len(entities)
            while self._points > MAX_KEPT_POINTS:
                dropped.append(self._lists.popitem(last=False)[1])
                self._points -= len(dropped[-1])
        del dropped  # freed outside the lock

    def clear(self) -> None:
        with self._lock:
            self._lists.clear()
            self._points = 0


_kept = _KeptEntities()


def decoded_metrics(blob: str, read: Any, what: str) -> DecodedMetrics:
    """The decoded history of the ``metrics.parquet`` blob ``blob``; ``read(blob)`` gives
    its bytes when it is not cached yet (``what`` names the run in errors)."""
    with _lock:
        found = _cache.get(blob)
        if found is not None:
            _cache.move_to_end(blob)
            return found
    decoded = DecodedMetrics(fmt.read_metrics(read(blob), what), blob)
    with _lock:
        decoded = _cache.setdefault(blob, decoded)
        _cache.move_to_end(blob)
        total = sum(d.rows for d in _cache.values())
        while len(_cache) > 1 and (total > MAX_CACHED_ROWS or len(_cache) > MAX_CACHED_TABLES):
            _, dropped = _cache.popitem(last=False)
            total -= dropped.rows
    return decoded


def forget_decoded() -> None:
    """Drop every decoded history and kept entity this process holds."""
    with _lock:
        _cache.clear()
    _kept.clear()
