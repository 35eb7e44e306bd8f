"""MLflow's own tutorials run with the import changed (see tests/tutorials/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("pandas")

TUTORIALS = Path(__file__).parent / "tutorials"


def test_tracking_quickstart_runs_with_the_import_changed(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(TUTORIALS / "tracking_quickstart.py"), str(repo)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "runs 1 FINISHED lbfgs Basic LR model for iris data" in lines
    assert "accuracy True" in lines and "predictions True" in lines
    assert "registered tracking-quickstart [1]" in lines
