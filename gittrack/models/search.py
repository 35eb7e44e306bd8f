"""MLflow's small registry filters (``name = 'm' AND tags.stage LIKE 'p%'``), shared by
``MlflowClient.search_model_versions`` and the server's registry and logged-model searches."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from gittrack.errors import FilterSyntaxError

__all__ = ["VERSION_FIELDS", "matcher", "version_matcher"]

Getter = Callable[[Any], "str | None"]
# One clause: ``key <op> 'value'``; clauses are joined by AND.
_CLAUSE = re.compile(
    r"\s*(?P<key>[\w.]+|`[^`]+`)\s*(?P<op>=|!=|LIKE|ILIKE)\s*(?P<q>['\"])(?P<value>.*?)(?P=q)\s*",
    re.IGNORECASE,
)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)

# search_model_versions: MLflow's keys and what they read of a registry ModelVersion
VERSION_FIELDS: Mapping[str, Getter] = {
    "name": lambda v: v.name,
    "run_id": lambda v: v.run_id,
    "source_path": lambda v: v.source_uri or v.source,
    "version_number": lambda v: str(v.version),
}


def _tag_getter(tag: str) -> Getter:
    def get(item: Any) -> str | None:
        value = item.tags.get(tag)
        return None if value is None else str(value)

    return get


def _like(pattern: str, flags: int) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts) + r"\Z", flags | re.DOTALL)


def matcher(text: str | None, getters: Mapping[str, Getter]) -> Callable[[Any], bool]:
    """A predicate for MLflow's registry filters: ``key <op> 'value'`` (=, !=, LIKE, ILIKE)
    joined by AND; ``tags.<key>`` compares a tag, other keys are ``getters``'."""
    if not text or not text.strip():
        return lambda item: True
    tests: list[tuple[Getter, str, str]] = []
    for part in _AND.split(text.strip()):
        m = _CLAUSE.fullmatch(part)
        if m is None:
            raise FilterSyntaxError(f"Invalid filter {text!r} at {part!r}")
        key, op, value = m.group("key").strip("`"), m.group("op").upper(), m.group("value")
        if key.startswith(("tags.", "tag.")):
            getter = _tag_getter(key.partition(".")[2])
        elif key in getters:
            getter = getters[key]
        else:
            known = ", ".join(sorted(getters))
            raise FilterSyntaxError(f"Invalid filter key {key!r} (use {known} or tags.<key>)")
        tests.append((getter, op, value))

    def check(item: Any) -> bool:
        for getter, op, value in tests:
            got = getter(item)
            if (op == "=" and got != value) or (op == "!=" and got == value):
                return False
            if op in ("LIKE", "ILIKE"):
                flags = re.IGNORECASE if op == "ILIKE" else 0
                if got is None or not _like(value, flags).match(got):
                    return False
        return True

    return check


def version_matcher(text: str | None) -> Callable[[Any], bool]:
    """The predicate of a ``search_model_versions`` filter over registry versions."""
    return matcher(text, VERSION_FIELDS)
