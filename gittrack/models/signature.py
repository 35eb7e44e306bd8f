"""Model signatures in MLflow's form: inferred from an input example, enforced on predict.

A signature lists input columns (``{"name", "type", "required"}``, MLflow "colspec") or
one tensor (``{"type": "tensor", "tensor-spec": {"dtype", "shape"}}``). It is stored in
the MLmodel file as JSON strings (``signature: {inputs: '<json>', outputs: '<json>'}``),
exactly as MLflow stores it, so either tool reads the other's.

Inputs are normalised without requiring pandas: a pandas DataFrame, a dict of lists
(or scalars), a list of dicts, a numpy array or a list of lists. When pandas is
installed, column inputs reach the model as a DataFrame; otherwise as a 2-D numpy
array in signature column order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gittrack.errors import SignatureError

__all__ = ["ModelSignature", "enforce", "infer_signature", "to_columns"]


@dataclass(frozen=True)
class ModelSignature:
    """Input (and optional output) schema, as MLflow's JSON spec lists."""

    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] | None = None
    params: list[dict[str, Any]] | None = None

    @property
    def is_tensor(self) -> bool:
        return bool(self.inputs) and self.inputs[0].get("type") == "tensor"

    @property
    def column_names(self) -> list[str]:
        return [str(c["name"]) for c in self.inputs if "name" in c]

    def to_dict(self) -> dict[str, str | None]:
        """The MLmodel form: each schema as a JSON string."""
        return {
            "inputs": json.dumps(self.inputs) if self.inputs else None,
            "outputs": json.dumps(self.outputs) if self.outputs else None,
            "params": json.dumps(self.params) if self.params else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], what: str = "model") -> ModelSignature:
        """Parse the MLmodel form (JSON strings, or already-parsed lists)."""

        def part(key: str) -> list[dict[str, Any]] | None:
            raw = data.get(key)
            if raw is None:
                return None
            try:
                value = json.loads(raw) if isinstance(raw, str) else raw
            except json.JSONDecodeError as e:
                raise SignatureError(f"{what} has a malformed signature {key}: {e}") from e
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise SignatureError(f"{what} has a malformed signature {key}: expected a list")
            return value

        return cls(inputs=part("inputs") or [], outputs=part("outputs"), params=part("params"))


def _python_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "binary"
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind is not None:
        return {"b": "boolean", "i": "long", "u": "long", "f": "double", "M": "datetime"}.get(
            kind, "string"
        )
    raise SignatureError(f"cannot infer a signature type for {type(value).__name__} values")


def _dtype_type_name(dtype: Any) -> str:
    name = str(dtype)
    table = {
        "bool": "boolean",
        "int32": "integer",
        "int64": "long",
        "float32": "float",
        "float64": "double",
    }
    if name in table:
        return table[name]
    if name.startswith("datetime64"):
        return "datetime"
    if name in ("object", "string", "str"):
        return "string"
    kind = getattr(dtype, "kind", "")
    return {"i": "long", "u": "long", "f": "double", "b": "boolean"}.get(kind, "string")


def _is_dataframe(data: Any) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")


def to_columns(data: Any) -> dict[str, list[Any]] | None:
    """Column form of ``data`` (dict of lists), or None when it is tensor-like."""
    if _is_dataframe(data):
        return {str(c): list(data[c]) for c in data.columns}
    if isinstance(data, Mapping):
        cols: dict[str, list[Any]] = {}
        for key, value in data.items():
            if isinstance(value, (list, tuple)):
                cols[str(key)] = list(value)
            elif hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:
                cols[str(key)] = list(value.tolist())
            else:
                cols[str(key)] = [value]
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise SignatureError(f"input columns have different lengths: {sorted(lengths)}")
        return cols
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)) and data:
        if all(isinstance(r, Mapping) for r in data):
            names: list[str] = []
            for rec in data:
                names += [str(k) for k in rec if str(k) not in names]
            return {n: [rec.get(n) for rec in data] for n in names}
    return None


def infer_signature(model_input: Any, model_output: Any = None) -> ModelSignature:
    """Infer a signature from an input example (and optionally an output)."""
    return ModelSignature(
        inputs=_infer_schema(model_input),
        outputs=_infer_schema(model_output) if model_output is not None else None,
    )


def _infer_schema(data: Any) -> list[dict[str, Any]]:
    if _is_dataframe(data):
        return [
            {"type": _dtype_type_name(dt), "name": str(c), "required": True}
            for c, dt in zip(data.columns, data.dtypes, strict=True)
        ]
    cols = to_columns(data)
    if cols is not None:
        return [
            {
                "type": _python_type_name(next((v for v in vals if v is not None), 0.0)),
                "name": name,
                "required": True,
            }
            for name, vals in cols.items()
        ]
    import numpy as np

    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as e:
        raise SignatureError(f"cannot infer a signature from {type(data).__name__}: {e}") from e
    if arr.dtype == object:
        raise SignatureError(f"cannot infer a signature from {type(data).__name__} values")
    shape = [-1, *arr.shape[1:]] if arr.ndim else [-1]
    return [{"type": "tensor", "tensor-spec": {"dtype": str(arr.dtype), "shape": shape}}]


def _convert(value: Any, type_name: str, column: str) -> Any:
    """Convert one value to the column's type, or raise SignatureError."""
    if value is None:
        return None
    try:
        if type_name in ("double", "float"):
            if isinstance(value, (bool, bytes)) or (isinstance(value, str) and not value.strip()):
                raise ValueError(value)
            return float(value)
        if type_name in ("long", "integer"):
            if isinstance(value, bool):
                raise ValueError(value)
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, float):
                if not math.isfinite(number) or number != int(number):
                    raise ValueError(value)
            return int(number)
        if type_name == "boolean":
            if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
                return bool(value)
            raise ValueError(value)
        if type_name == "string":
            if isinstance(value, str):
                return value
            raise ValueError(value)
        return value
    except (ValueError, TypeError, OverflowError) as e:
        raise SignatureError(
            f"column {column!r} expects {type_name} values, got {value!r} ({type(value).__name__})"
        ) from e


def enforce(data: Any, signature: ModelSignature | None) -> Any:
    """Check ``data`` against ``signature`` and return what the model should receive."""
    if signature is None or not signature.inputs:
        return _default_input(data)
    if signature.is_tensor:
        return _enforce_tensor(data, signature.inputs[0])
    return _enforce_columns(data, signature)


def _default_input(data: Any) -> Any:
    if _is_dataframe(data):
        return data
    cols = to_columns(data)
    if cols is not None:
        return _frame(cols, list(cols))
    if isinstance(data, (list, tuple)):
        import numpy as np

        return np.asarray(data)
    return data


def _frame(cols: dict[str, list[Any]], order: list[str]) -> Any:
    try:
        import pandas as pd
    except ImportError:
        import numpy as np

        matrix = [cols[name] for name in order]
        numeric = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for c in matrix for v in c
        )
        arr = np.array(matrix, dtype=float if numeric else object)
        return arr.T if arr.ndim == 2 else arr.reshape(0, len(order))
    return pd.DataFrame({name: cols[name] for name in order}, columns=order)


def _enforce_columns(data: Any, signature: ModelSignature) -> Any:
    specs = signature.inputs
    names = signature.column_names
    cols = to_columns(data)
    if cols is None:
        cols = _positional_columns(data, names)
    required = [str(s["name"]) for s in specs if s.get("required", True)]
    missing = [n for n in required if n not in cols]
    if missing:
        raise SignatureError(
            f"model input is missing column(s) {', '.join(map(repr, missing))} "
            f"(the model expects {', '.join(names)})"
        )
    rows = len(next(iter(cols.values()))) if cols else 0
    out: dict[str, list[Any]] = {}
    for spec in specs:
        name = str(spec["name"])
        values = cols.get(name, [None] * rows)
        if spec.get("required", True) and None in values:
            raise SignatureError(
                f"column {name!r} is required but row {values.index(None)} has no value (null)"
            )
        out[name] = [_convert(v, str(spec.get("type", "")), name) for v in values]
    return _frame(out, names)


def _positional_columns(data: Any, names: list[str]) -> dict[str, list[Any]]:
    """Accept a 2-D array / list of lists whose width matches the signature's columns."""
    import numpy as np

    try:
        arr = np.asarray(data, dtype=object)
    except (ValueError, TypeError) as e:
        raise SignatureError(f"model input cannot be read as a table: {e}") from e
    if arr.ndim == 1 and len(names) == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise SignatureError(
            f"model input has shape {list(arr.shape)}, but the model expects columns "
            f"{', '.join(names)}"
        )
    return {
        name: [x.item() if hasattr(x, "item") else x for x in arr[:, i]]
        for i, name in enumerate(names)
    }


def _enforce_tensor(data: Any, spec: dict[str, Any]) -> Any:
    import numpy as np

    tensor = spec.get("tensor-spec") or {}
    dtype = str(tensor.get("dtype", "float64"))
    shape = list(tensor.get("shape") or [])
    if _is_dataframe(data):
        data = data.to_numpy()
    elif isinstance(data, Mapping):
        cols = to_columns(data)
        data = list(zip(*cols.values(), strict=True)) if cols else []
    try:
        arr = np.asarray(data)
        if arr.dtype != np.dtype(dtype):
            if arr.dtype.kind in "OUS" and np.dtype(dtype).kind in "iuf":
                arr = arr.astype(float)
            if np.dtype(dtype).kind in "iu" and arr.dtype.kind == "f":
                if not np.all(np.mod(arr, 1) == 0):
                    raise ValueError("non-integer values")
            arr = arr.astype(dtype)
    except (ValueError, TypeError) as e:
        raise SignatureError(f"model input cannot be converted to a {dtype} tensor: {e}") from e
    if shape and (
        arr.ndim != len(shape)
        or any(
            want not in (-1, None) and want != got
            for want, got in zip(shape, arr.shape, strict=False)
        )
    ):
        raise SignatureError(
            f"model input has shape {list(arr.shape)}, but the model expects {shape} (-1: any size)"
        )
    return arr
