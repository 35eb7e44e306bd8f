"""Training data as autologging records it: an input by digest, an example, a signature."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gittrack.autologging.safety import Options, warn
from gittrack.validation import MAX_PARAM_LENGTH

__all__ = [
    "EXAMPLE_ROWS",
    "TARGET_COLUMN",
    "as_table",
    "clean_params",
    "first_rows",
    "log_dataset",
    "log_model_with",
]

EXAMPLE_ROWS = 5  # rows of the training data kept as the model's input example (as MLflow)
TARGET_COLUMN = "target"


def _is_sparse(data: Any) -> bool:
    return type(data).__module__.startswith("scipy.sparse")


def as_table(features: Any, target: Any = None) -> Any:
    """A pyarrow Table of the training data: the feature columns, then ``target``.

    A pandas DataFrame keeps its column names; an array's columns are named ``"0"``,
    ``"1"``, ...; a sparse matrix is densified first. None when the data is of a kind
    that cannot be tabled (a file name, a generator).
    """
    import pyarrow as pa

    if _is_sparse(features):
        features = features.toarray()
    if type(features).__module__.startswith("pandas") and hasattr(features, "columns"):
        table = pa.Table.from_pandas(features, preserve_index=False)
    else:
        import numpy as np

        if isinstance(features, (str, bytes)) or not hasattr(features, "__len__"):
            return None
        array = np.asarray(features)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2 or array.dtype == object:
            return None
        table = pa.Table.from_arrays(
            [pa.array(array[:, i]) for i in range(array.shape[1])],
            names=[str(i) for i in range(array.shape[1])],
        )
    if target is not None and TARGET_COLUMN not in table.column_names:
        import numpy as np

        if _is_sparse(target):
            target = target.toarray()
        labels = np.asarray(target)
        if labels.ndim == 1 and len(labels) == table.num_rows:
            table = table.append_column(TARGET_COLUMN, pa.array(labels))
    return table


def log_dataset(flavor: str, features: Any, target: Any, *, name: str, context: str) -> None:
    """Record the data as an input of the active run (by digest, see docs/lineage.md)."""
    from gittrack.lineage import log_input

    table = as_table(features, target)
    if table is None:
        warn(flavor, "training data of type %s is not recorded", type(features).__name__)
        return
    log_input(table, name=name, context=context)


def first_rows(data: Any) -> Any:
    """The first rows of the training data (a copy), used as an input example."""
    import copy

    return copy.deepcopy(data[:EXAMPLE_ROWS])


def clean_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as autologging logs them: objects as text, cut at the param size limit."""
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if value is not None and not isinstance(value, (bool, int, float, str)):
            if type(value).__module__ != "numpy" or getattr(value, "shape", None) != ():
                value = str(value)  # a numpy scalar is left to log_param: its number
        if isinstance(value, str) and len(value) > MAX_PARAM_LENGTH:
            value = value[:MAX_PARAM_LENGTH]
        cleaned[str(key)] = value
    return cleaned


def log_model_with(
    log_model: Callable[..., Any],
    model: Any,
    opts: Options,
    example: Any,
    predict: Callable[[Any], Any] | None,
    *,
    name: str = "model",
    **flavor_options: Any,
) -> Any:
    """Log ``model`` with the signature and input example the options ask for."""
    from gittrack.models.signature import infer_signature

    signature = None
    if example is not None and opts.log_model_signatures and predict is not None:
        signature = infer_signature(example, predict(first_rows(example)))
    return log_model(
        model,
        name,
        signature=signature,
        input_example=example if opts.log_input_examples else None,
        registered_model_name=opts.registered_model_name,
        **flavor_options,
    )
