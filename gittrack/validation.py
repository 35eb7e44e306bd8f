"""Checks on user-given keys and values, with one-line errors that name the problem."""

from __future__ import annotations

import math
import re
from typing import Any

from gittrack.errors import ValidationError

MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
MAX_NAME_LENGTH = 250
_KEY_RE = re.compile(r"^[\w\-. /:]+$")
_INT_RE = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT_RE = re.compile(r"-?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_valid_keys: set[str] = set()


def check_text(text: str, what: str) -> str:
    """Refuse text that is not valid unicode (lone surrogates cannot be stored as UTF-8)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            bad = ord(text[e.start])
            raise ValidationError(
                f"{what} contains U+{bad:04X}, a lone surrogate (not valid unicode text)"
            ) from None
    return text


def validate_key(key: object, kind: str) -> str:
    """Return ``key`` if it is a usable metric/param/tag key, else raise ValidationError."""
    if type(key) is str and key in _valid_keys:
        return key
    if not isinstance(key, str):
        raise ValidationError(f"{kind} key must be a string, got {type(key).__name__}")
    shown = repr(key if len(key) <= 60 else key[:57] + "...")
    if not key or not key.strip():
        raise ValidationError(f"{kind} key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(f"{kind} key {shown} is longer than {MAX_KEY_LENGTH} characters")
    if key.startswith("/"):
        raise ValidationError(f"{kind} key {shown} must not start with '/'")
    if any(part in ("..", ".") for part in key.split("/")):
        raise ValidationError(f"{kind} key {shown} must not contain '.' or '..' path parts")
    if not _KEY_RE.match(key):
        raise ValidationError(
            f"{kind} key {shown} may only hold letters, digits and _ - . / : or spaces"
        )
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def _unwrapped(value: Any) -> Any:
    """A numpy scalar or 0-d array as the Python value it holds; anything else as is."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        return value.item()
    return value


def validate_metric_value(key: str, value: object) -> float:
    """Metric values are numbers (bool excluded; a 0-d numpy array is its number); NaN and
    +/-inf are accepted."""
    if type(value) is float:
        return value
    value = _unwrapped(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numbers

            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                return float(value)
        except (TypeError, ValueError):
            pass
        raise ValidationError(
            f"metric {key!r} must be a number, got {type(value).__name__} {str(value)[:40]!r}"
        )
    try:
        return float(value)
    except OverflowError:  # an int beyond a double's range (10**400)
        raise ValidationError(
            f"metric {key!r} {str(value)[:20]}... does not fit in a 64-bit float"
        ) from None


_INT64 = range(-(2**63), 2**63)


def validate_step(step: object) -> int:
    """A step is a 64-bit integer (as MLflow's, and the metrics file's column): an
    ``int``, a numpy integer (``np.arange``) or a whole float."""
    if type(step) is int:
        number = step
    elif isinstance(step, float) and step.is_integer():
        number = int(step)
    else:
        import numbers

        # bool is an int but no step; numpy's bool_ is not Integral
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise ValidationError(f"metric step must be an integer, got {step!r}")
        number = int(step)
    if number not in _INT64:
        raise ValidationError(f"metric step {number} does not fit in a 64-bit integer")
    return number


def validate_timestamp(timestamp: Any) -> int:
    """A metric point's timestamp: epoch milliseconds (a float is cut to its integer
    part), within a 64-bit integer."""
    try:
        number = int(timestamp)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(
            f"metric timestamp must be epoch milliseconds, got {timestamp!r}"
        ) from None
    if number not in _INT64:
        raise ValidationError(f"metric timestamp {number} does not fit in a 64-bit integer")
    return number


def user_value(text: str) -> bool | int | float | str:
    """A value typed by a user (``-P k=v``) as the param it records.

    ``3`` and ``-3`` are ints; ``0.1``, ``1e-3``, ``.5`` and ``2.`` finite floats; ``true``
    and ``false`` (also ``True``/``TRUE``...) bools; anything else stays the exact string:
    ``010`` (leading zero), ``+1``, ``0x10``, ``1_000``, ``12:30``, ``no``, ``nan``, `` 1``.
    """
    if _INT_RE.fullmatch(text):
        return int(text)
    if _FLOAT_RE.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number
    return _BOOLS.get(text, text)


def normalize_param(key: str, value: Any) -> Any:
    """Keep YAML scalar types; anything else is stored as its string form (as MLflow).

    A numpy scalar is the Python number it holds (``np.float64(0.1)`` -> ``0.1``, a float
    subclass whose repr is not its text; ``np.float32(0.1)`` -> ``0.1``, its text, not the
    nearest double); subclasses (an ``IntEnum``), arrays and other
    objects are their ``str()``."""
    dtype: Any = getattr(value, "dtype", None)
    if type(value).__module__ == "numpy" and getattr(dtype, "kind", "") == "f":
        if dtype.itemsize < 8 and getattr(value, "shape", None) == ():
            # float32 0.1 is 0.10000000149011612 as a Python float; MLflow keeps str():
            # "0.1", which reads back as the float 0.1.
            value = float(str(value))
    value = _unwrapped(value)
    if value is None or type(value) in (bool, int, float, str):
        result: Any = value
    else:
        result = str(value)
    if isinstance(result, str):
        if len(result) > MAX_PARAM_LENGTH:
            raise ValidationError(
                f"param {key!r} is {len(result)} characters long (at most {MAX_PARAM_LENGTH})"
            )
        check_text(result, f"param {key!r}")
    return result


def param_text(value: Any) -> str:
    """A param value as MLflow stores it: its ``str()`` (``0.5`` -> ``"0.5"``, ``True`` ->
    ``"True"``, ``None`` -> ``"None"``)."""
    return value if type(value) is str else str(value)


def params_equal(a: Any, b: Any) -> bool:
    """Whether two param values are the same param: their MLflow string forms are equal
    (``1`` and ``"1"`` are; ``1`` and ``1.0`` are not, as in MLflow)."""
    return param_text(a) == param_text(b)


def validate_tag_value(key: str, value: object) -> str:
    text = str(value)
    if len(text) > MAX_TAG_LENGTH:
        raise ValidationError(
            f"tag {key!r} is {len(text)} characters long (at most {MAX_TAG_LENGTH})"
        )
    return check_text(text, f"tag {key!r}")


def validate_name(name: object, kind: str) -> str:
    """Run and experiment names: non-empty text without control characters."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{kind} name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"{kind} name is longer than {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError(f"{kind} name {name[:40]!r} contains control characters")
    return check_text(name, f"{kind} name")
