"""examples/models_example.py runs end to end (train, log, register, serve, query)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fsck, git, run_example

pytest.importorskip("sklearn")


def test_models_example_runs(repo: Path) -> None:
    out = run_example("models_example.py", repo)
    assert "as iris-like version 1" in out
    assert "predictions: [1, 0]" in out
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/models/")
    assert refs.split() == [
        "refs/gittrack/models/iris-like/aliases/prod",
        "refs/gittrack/models/iris-like/versions/1",
    ]
    fsck(repo)
