"""The YAML files docs/format.md shows are what gittrack writes, comments aside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gittrack.format import dump_yaml

DOCS = Path(__file__).resolve().parent.parent / "docs" / "format.md"
# Blocks of files a user writes (the project file), not gittrack.
USER_WRITTEN = ("artifacts:\n",)


def _examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    return [b for b in blocks if not b.startswith(USER_WRITTEN)]


def _without_comments(block: str) -> str:
    lines = [re.sub(r"\s+#.*$", "", line).rstrip() for line in block.splitlines()]
    return "".join(f"{line}\n" for line in lines if line and not line.lstrip().startswith("#"))


def test_the_page_shows_the_files() -> None:
    firsts = {b.split(":", 1)[0] for b in _examples()}
    assert {"format_version", "command", "- name", "model/model.pkl"} <= firsts


@pytest.mark.parametrize("block", _examples(), ids=lambda b: b.split("\n", 1)[0])
def test_example_is_what_gittrack_writes(block: str) -> None:
    shown = _without_comments(block)
    assert dump_yaml(yaml.safe_load(shown)).decode() == shown
