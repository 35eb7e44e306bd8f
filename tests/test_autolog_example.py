"""examples/autolog_example.py runs end to end, and autologging stays out of the import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import fsck, run_example

import gittrack

ROOT = Path(__file__).resolve().parents[1]


def test_autolog_example_runs(repo: Path) -> None:
    out = run_example("autolog_example.py", repo)
    assert "same predictions: True" in out
    assert "accuracy_score_X_test = " in out and "search best_cv_score = " in out
    assert "xgboost best_iteration = " in out and "system metrics: 8" in out
    rows = gittrack.search_runs(output_format="rows", repo=repo)
    assert len(rows) == 1 + 1 + 3 + 1 + 1  # fit, search, its 3 candidates, xgboost, system
    fsck(repo)


def test_import_and_autolog_load_no_ml_library_until_the_user_does() -> None:
    code = (
        "import sys, gittrack\n"
        "libs = ('sklearn', 'xgboost', 'lightgbm', 'numpy', 'psutil')\n"
        "print(','.join(m for m in libs if m in sys.modules))\n"
        "gittrack.autolog()\n"
        "print(','.join(m for m in libs if m in sys.modules))\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from gittrack.autologging.safety import is_patched\n"
        "print(is_patched(LogisticRegression.fit))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.splitlines() == ["", "", "True"]
