"""MLflow-style dataset objects (``gittrack.data.from_pandas`` & co.) for ``log_input``.

A dataset wraps a table as a pyarrow Table; its ``digest`` is gittrack's content digest of
that table (docs/lineage.md), the same one ``log_input`` records, so a reproduction can
tell whether the data is still the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gittrack.errors import InputError

__all__ = ["Dataset", "from_numpy", "from_pandas", "from_pyarrow"]

DEFAULT_NAME = "dataset"  # MLflow's name for a dataset given none
TABLE_SOURCE = "<table>"  # the source of a table given in memory


@dataclass(frozen=True)
class Dataset:
    """A table with a name, a source and a content digest (MLflow's ``Dataset`` shape)."""

    name: str
    digest: str
    source: str
    source_type: str
    table: Any = field(repr=False)  # pyarrow.Table
    targets: str | None = None
    predictions: str | None = None
    original: Any = field(default=None, repr=False, compare=False)

    @property
    def schema(self) -> dict[str, str]:
        """Column name -> Arrow type."""
        from gittrack.lineage.hashing import table_schema

        return table_schema(self.table)

    @property
    def profile(self) -> dict[str, int]:
        """MLflow's profile: rows and elements."""
        rows = int(self.table.num_rows)
        return {"num_rows": rows, "num_elements": rows * int(self.table.num_columns)}

    @property
    def df(self) -> Any:
        """The DataFrame given to :func:`from_pandas` (else the table as a DataFrame)."""
        if self.original is not None and type(self.original).__name__ == "DataFrame":
            return self.original
        return self.table.to_pandas()

    def to_dict(self) -> dict[str, Any]:
        """MLflow's dict form: name, digest, source, source_type, schema, profile."""
        return {
            "name": self.name,
            "digest": self.digest,
            "source": self.source,
            "source_type": self.source_type,
            "schema": self.schema,
            "profile": self.profile,
        }


def _dataset(
    table: Any,
    *,
    source: str | None,
    name: str | None,
    targets: str | None,
    predictions: str | None = None,
    original: Any = None,
) -> Dataset:
    from gittrack.lineage.hashing import hash_table

    for column, what in ((targets, "targets"), (predictions, "predictions")):
        if column is not None and column not in table.column_names:
            raise InputError(
                f"{what} column {column!r} is not in the table "
                f"(columns: {', '.join(table.column_names)})"
            )
    digest, _ = hash_table(table)
    return Dataset(
        name=name or DEFAULT_NAME,
        digest=digest,
        source=str(source) if source is not None else TABLE_SOURCE,
        source_type="path" if source is not None else "code",
        table=table,
        targets=targets,
        predictions=predictions,
        original=original,
    )


def from_pandas(
    df: Any,
    source: str | None = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> Dataset:
    """A dataset of a pandas DataFrame (``digest`` is computed from the content: a given
    one is refused unless it is that digest)."""
    from gittrack.lineage.hashing import as_arrow_table

    ds = _dataset(
        as_arrow_table(df),
        source=source,
        name=name,
        targets=targets,
        predictions=predictions,
        original=df,
    )
    return _check_digest(ds, digest)


def from_pyarrow(
    table: Any,
    source: str | None = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
) -> Dataset:
    """A dataset of a pyarrow Table (or RecordBatch)."""
    from gittrack.lineage.hashing import as_arrow_table

    ds = _dataset(as_arrow_table(table), source=source, name=name, targets=targets)
    return _check_digest(ds, digest)


def from_numpy(
    features: Any,
    source: str | None = None,
    targets: Any = None,
    name: str | None = None,
    digest: str | None = None,
) -> Dataset:
    """A dataset of numpy arrays: ``features`` (an array or a dict of arrays) and optional
    ``targets`` (an array, column ``targets``, or a dict). A 1-D array is one column
    (``features``); rows of a wider array are lists."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    target_column = None
    for part, default in ((features, "features"), (targets, "targets")):
        if part is None:
            continue
        items = part.items() if isinstance(part, dict) else [(default, part)]
        for key, array in items:
            if str(key) in columns:
                raise InputError(f"from_numpy: column {key!r} is given twice")
            columns[str(key)] = _column(array, str(key))
        if default == "targets" and not isinstance(part, dict):
            target_column = "targets"
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1:
        raise InputError(f"from_numpy: arrays of different lengths {sorted(lengths)}")
    table = pa.table(columns)
    ds = _dataset(table, source=source, name=name, targets=target_column)
    return _check_digest(ds, digest)


def _column(array: Any, key: str) -> Any:
    import pyarrow as pa

    if getattr(array, "ndim", None) is None:
        raise InputError(f"from_numpy: {key!r} is a {type(array).__name__}, not a numpy array")
    try:
        return pa.array(array) if array.ndim == 1 else pa.array(array.tolist())
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise InputError(f"from_numpy: {key!r} cannot be converted to Arrow: {e}") from e


def _check_digest(ds: Dataset, digest: str | None) -> Dataset:
    if digest is not None and digest != ds.digest:
        raise InputError(
            f"digest {digest!r} is not the content digest {ds.digest!r}: gittrack records "
            "the digest of the data itself (omit digest=)"
        )
    return ds
