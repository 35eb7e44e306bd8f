"""docs/errors.md's exception tree is gittrack.errors' class tree, class for class."""

from __future__ import annotations

import re
from pathlib import Path

from gittrack import errors

DOCS = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def _documented_parents() -> dict[str, str | None]:
    page = DOCS.read_text(encoding="utf-8")
    tree = page.split("## The exception tree", 1)[1].split("```")[1]
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in tree.splitlines():
        m = re.match(r"^([│ ├└─]*)(\w+)", line)
        if not m:
            continue
        depth = len(m.group(1)) // 4
        del stack[depth:]
        parents[m.group(2)] = stack[-1] if stack else None
        stack.append(m.group(2))
    return parents


def _code_parents() -> dict[str, str | None]:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.GittrackError)
    ]
    return {
        c.__name__: None if c is errors.GittrackError else c.__bases__[0].__name__ for c in classes
    }


def test_the_documented_tree_is_the_code() -> None:
    assert _documented_parents() == _code_parents()
