"""Metric histories read back: each ``metrics.parquet`` decoded once, cached by blob id.

A run's whole metric history is one Parquet blob per run state (see
:mod:`gittrack.format`). Reading one metric's history decodes that blob once per process
(blobs are content-addressed, so the cache key is the blob id and never goes stale),
finds the key's rows through the key column's dictionary codes, and keeps the key's
step/timestamp/value columns as Arrow arrays. The entities of
``get_metric_history`` are built from those columns straight from their buffers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from itertools import repeat
from typing import TYPE_CHECKING, Any, Literal

from gittrack import format as fmt
from gittrack.entities import Metric
from gittrack.gcpause import collector_paused

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DecodedMetrics", "decoded_metrics", "empty_columns", "forget_decoded"]

MAX_CACHED_ROWS = 2_000_000  # 28 bytes a row, up to twice (per-key columns); the newest stays
MAX_CACHED_TABLES = 64
COLUMNS = ("step", "timestamp", "value")

_lock = threading.Lock()
_cache: OrderedDict[str, DecodedMetrics] = OrderedDict()


class DecodedMetrics:
    """The metric history of one run state (one ``metrics.parquet`` blob), decoded.

    ``table`` is the whole history (key, step, timestamp, value) in logging order; the
    columns of each key are filtered out of it on first use and kept.
    """

    def __init__(self, table: pa.Table) -> None:
        key = table.column("key")
        chunks = key.num_chunks
        if chunks != 1:  # row groups may carry dictionaries of their own
            table = table.unify_dictionaries().combine_chunks()
            key = table.column("key")
        self.table = table
        self.rows = table.num_rows
        column = key.chunk(0) if key.num_chunks else None
        self._codes = None if column is None else column.indices
        names = [] if column is None else column.dictionary.to_pylist()
        self._codes_of: dict[str, list[int]] = {}
        for code, name in enumerate(names):
            if name is not None:
                self._codes_of.setdefault(name, []).append(code)
        self._columns: dict[str, pa.Table] = {}
        self._lock = threading.Lock()

    def keys(self) -> list[str]:
        """The metric keys with at least one point, sorted."""
        return sorted(self._codes_of)

    def columns(self, key: str) -> pa.Table:
        """``step``, ``timestamp`` and ``value`` of ``key``'s points, in logging order
        (no rows for a key the run never logged)."""
        found = self._columns.get(key)
        if found is not None:
            return found
        import pyarrow as pa
        import pyarrow.compute as pc

        numeric = self.table.select(list(COLUMNS))
        codes = self._codes_of.get(key)
        if not codes or self._codes is None:
            result = numeric.slice(0, 0)
        else:
            # Codes are wrapped from a buffer: pyarrow turns a Python list or scalar into
            # an array through pandas when pandas is installed (costly).
            from array import array

            wanted = pa.Array.from_buffers(
                pa.int32(), len(codes), [None, pa.py_buffer(array("i", codes))]
            )
            if len(codes) == 1:  # the usual case; ``equal`` has no hash set to build
                mask = pc.equal(self._codes, wanted[0])
            else:
                mask = pc.is_in(self._codes, value_set=wanted)
            result = numeric.filter(mask).combine_chunks()
        with self._lock:
            return self._columns.setdefault(key, result)

    def metrics(self, key: str) -> list[Metric]:
        """``key``'s points as :class:`~gittrack.entities.Metric` entities."""
        table = self.columns(key)
        n = table.num_rows
        if not n:
            return []
        steps = _pylist(table.column("step").chunk(0), "q")
        stamps = _pylist(table.column("timestamp").chunk(0), "q")
        values = _pylist(table.column("value").chunk(0), "d")
        with collector_paused():
            return list(map(tuple.__new__, repeat(Metric), zip(repeat(key), values, stamps, steps)))


def _pylist(array: Any, code: Literal["q", "d"]) -> list[Any]:
    """An int64 (``code`` "q") or float64 ("d") Arrow array as a Python list, read
    straight from its data buffer (several times faster than ``to_pylist``); an array
    with nulls goes the careful way."""
    if array.null_count:
        return list(array.to_pylist())
    start = array.offset * 8
    view = memoryview(array.buffers()[1])[start : start + len(array) * 8]
    values: list[Any] = view.cast(code).tolist()
    return values


def empty_columns() -> pa.Table:
    """A history with no points: the columns of :meth:`DecodedMetrics.columns`, no rows."""
    schema = fmt.metrics_schema()
    return schema.empty_table().select(list(COLUMNS))


def decoded_metrics(blob: str, read: Any, what: str) -> DecodedMetrics:
    """The decoded history of the ``metrics.parquet`` blob ``blob``; ``read(blob)`` gives
    its bytes when it is not cached yet (``what`` names the run in errors)."""
    with _lock:
        found = _cache.get(blob)
        if found is not None:
            _cache.move_to_end(blob)
            return found
    decoded = DecodedMetrics(fmt.read_metrics(read(blob), what))
    with _lock:
        decoded = _cache.setdefault(blob, decoded)
        _cache.move_to_end(blob)
        total = sum(d.rows for d in _cache.values())
        while len(_cache) > 1 and (total > MAX_CACHED_ROWS or len(_cache) > MAX_CACHED_TABLES):
            _, dropped = _cache.popitem(last=False)
            total -= dropped.rows
    return decoded


def forget_decoded() -> None:
    """Drop every decoded history this process keeps."""
    with _lock:
        _cache.clear()
