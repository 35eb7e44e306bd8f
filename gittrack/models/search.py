"""MLflow's small registry filters (``name = 'm' AND tags.stage LIKE 'p%'``) and orders
(``version_number DESC``), shared by ``MlflowClient``'s registry searches and the server's
registry and logged-model searches."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gittrack.errors import FilterSyntaxError, ValidationError

__all__ = [
    "MODELS_DEFAULT_ORDER",
    "MODEL_ORDER",
    "VERSIONS_DEFAULT_ORDER",
    "VERSIONS_TIEBREAK",
    "VERSION_FIELDS",
    "VERSION_ORDER",
    "Getter",
    "matcher",
    "ordered",
    "version_matcher",
]

# What a filter key reads of an item: a value, None (the item lacks it), or several values
# (a logged model's points of one metric: the clause holds when one of them matches).
Getter = Callable[[Any], "str | list[str] | None"]
T = TypeVar("T")
# One clause: ``key <op> value``; clauses are joined by AND. A key is a name, optionally
# after ``tag.``/``tags.``, either part possibly quoted with backticks or double quotes (the
# MLflow client itself sends ``tag.`mlflow.prompt.is_prompt` != 'true'``); ``params.`` and
# ``metrics.`` keys where the caller reads them (logged models). A value is a
# quoted string, a number (``version_number = 2``) or a parenthesized list after IN.
_NAME = r"(?:`[^`]+`|\"[^\"]+\"|[\w.]+)"
_CLAUSE = re.compile(
    rf"\s*(?P<key>(?:(?P<kind>tags?|params?|metrics?)\.)?{_NAME})\s*"
    r"(?P<op>!=|<=|>=|=|<|>|NOT\s+IN|IN|LIKE|ILIKE)\s*"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[+-]?\d+(?:\.\d+)?|\(\s*(?:'[^']*'|\"[^\"]*\")"
    r"(?:\s*,\s*(?:'[^']*'|\"[^\"]*\"))*\s*\))\s*",
    re.IGNORECASE,
)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_NUMERIC_OPS = frozenset({"<", "<=", ">", ">="})

# search_model_versions: MLflow's keys and what they read of a registry ModelVersion
VERSION_FIELDS: Mapping[str, Getter] = {
    "name": lambda v: v.name,
    "run_id": lambda v: v.run_id,
    "source_path": lambda v: v.source_uri or v.source,
    "version_number": lambda v: str(v.version),
}


# The prefixes of a key and the family each names.
_FAMILIES = {"tag": "tags", "tags": "tags", "param": "params", "params": "params",
             "metric": "metrics", "metrics": "metrics"}  # fmt: skip


def _tag_getter(tag: str) -> Getter:
    def get(item: Any) -> str | None:
        value = item.tags.get(tag)
        return None if value is None else str(value)

    return get


def _like(pattern: str, flags: int) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts) + r"\Z", flags | re.DOTALL)


def _unquote(name: str) -> str:
    return name[1:-1] if name[:1] in ("`", '"') else name


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _test(op: str, value: str) -> Callable[[str | None], bool]:
    """The clause's test of the value a getter read (None: the item lacks it)."""
    if op in ("IN", "NOT IN"):
        members = {m.group(1) if m.group(1) is not None else m.group(2)
                   for m in _QUOTED.finditer(value)}  # fmt: skip
        inside = op == "IN"
        return lambda got: got is not None and (got in members) is inside
    quoted = value[:1] in ("'", '"')
    text = value[1:-1] if quoted else value
    if op in _NUMERIC_OPS or not quoted:  # numbers compare as numbers (version_number)
        want = _number(text)
        compare = {"=": operator.eq, "!=": operator.ne, "<": operator.lt,
                   "<=": operator.le, ">": operator.gt, ">=": operator.ge}.get(op)  # fmt: skip
        if want is None or compare is None:
            raise FilterSyntaxError(f"operator {op} needs a number, got {value!r}")

        def numeric(got: str | None) -> bool:
            have = _number(got)
            return have is not None and bool(compare(have, want))

        return numeric
    if op == "=":
        return lambda got: got == text
    if op == "!=":
        return lambda got: got != text
    pattern = _like(text, re.IGNORECASE if op == "ILIKE" else 0)
    return lambda got: got is not None and pattern.match(got) is not None


def matcher(
    text: str | None,
    getters: Mapping[str, Getter],
    families: Mapping[str, Callable[[str], Getter]] | None = None,
) -> Callable[[Any], bool]:
    """A predicate for MLflow's registry filters: ``key <op> value`` (=, !=, LIKE, ILIKE,
    IN, NOT IN; <, <=, >, >= and bare numbers compare numbers) joined by AND;
    ``tags.<key>`` compares a tag, ``params.<key>``/``metrics.<key>`` what ``families``
    reads of them (when given), other keys are ``getters``'."""
    readers = {"tags": _tag_getter, **(families or {})}
    if not text or not text.strip():
        return lambda item: True
    tests: list[tuple[Getter, Callable[[str | None], bool]]] = []
    for part in _AND.split(text.strip()):
        m = _CLAUSE.fullmatch(part)
        if m is None:
            raise FilterSyntaxError(f"Invalid filter {text!r} at {part!r}")
        key = _unquote(m.group("key"))
        kind, _, rest = key.partition(".")
        reader = readers.get(_FAMILIES.get(kind.lower(), ""))
        if key in getters:
            getter = getters[key]
        elif rest and reader is not None:
            getter = reader(_unquote(rest))
        else:
            known = ", ".join([*sorted(getters), *(f"{f}.<key>" for f in sorted(readers))])
            raise FilterSyntaxError(f"Invalid filter key {key!r} (use {known})")
        op = " ".join(m.group("op").upper().split())
        tests.append((getter, _test(op, m.group("value"))))

    def holds(test: Callable[[str | None], bool], got: str | list[str] | None) -> bool:
        return any(test(v) for v in got) if isinstance(got, list) else test(got)

    def check(item: Any) -> bool:
        return all(holds(test, getter(item)) for getter, test in tests)

    return check


def version_matcher(text: str | None) -> Callable[[Any], bool]:
    """The predicate of a ``search_model_versions`` filter over registry versions."""
    return matcher(text, VERSION_FIELDS)


# MLflow's sort keys and what they read of a registry ModelVersion / RegisteredModel
VERSION_ORDER: Mapping[str, Callable[[Any], Any]] = {
    "name": lambda v: v.name,
    "version_number": lambda v: v.version,
    "creation_timestamp": lambda v: v.created,
    "last_updated_timestamp": lambda v: v.updated or v.created,
}
MODEL_ORDER: Mapping[str, Callable[[Any], Any]] = {
    "name": lambda m: m.name,
    "creation_timestamp": lambda m: m.created,
    "last_updated_timestamp": lambda m: m.updated or m.created,
}
# MLflow's orders: without order_by, versions most recently changed first; ties (and
# keys order_by leaves out) by name, then newest version; registered models by name.
VERSIONS_DEFAULT_ORDER = ("last_updated_timestamp DESC",)
VERSIONS_TIEBREAK = ("name ASC", "version_number DESC")
MODELS_DEFAULT_ORDER = ("name ASC",)


def ordered(
    items: list[T],
    order_by: list[str] | tuple[str, ...],
    keys: Mapping[str, Callable[[T], Any]],
    tiebreak: tuple[str, ...] = (),
) -> list[T]:
    """``items`` in MLflow's ``order_by`` (``"version_number DESC"``, first term most
    significant), then by the ``tiebreak`` terms whose keys it leaves out; ``keys`` maps
    MLflow's sort keys to what they read of an item."""
    named = {str(term).split(" ", 1)[0].strip("`") for term in order_by}
    terms = [*order_by, *(t for t in tiebreak if t.split(" ", 1)[0] not in named)]
    for term in reversed(terms):
        key, _, direction = str(term).strip().partition(" ")
        read = keys.get(key.strip("`"))
        direction = direction.strip().upper() or "ASC"
        if read is None or direction not in ("ASC", "DESC"):
            raise ValidationError(
                f"invalid order_by term {term!r} (use {', '.join(keys)} with ASC or DESC)"
            )
        items = sorted(items, key=read, reverse=direction == "DESC")
    return items
