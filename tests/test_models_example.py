"""examples/models_example.py runs end to end (train, log, register, serve, query)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fsck, git

pytest.importorskip("sklearn")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "models_example.py"


def test_models_example_runs(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=repo, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "as iris-like version 1" in proc.stdout
    assert "predictions: [1, 0]" in proc.stdout
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/models/")
    assert refs.split() == [
        "refs/gittrack/models/iris-like/aliases/prod",
        "refs/gittrack/models/iris-like/versions/1",
    ]
    fsck(repo)
