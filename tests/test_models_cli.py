"""``gittrack models ...``: in-process (CliRunner + the error funnel) and as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import fails, ok

import gittrack

sklearn_linear = pytest.importorskip("sklearn.linear_model")
X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])


@pytest.fixture
def run_id(repo: Path) -> str:
    model = sklearn_linear.LinearRegression().fit(X, X[:, 0])
    with gittrack.start_run(run_name="trainer") as run:
        gittrack.sklearn.log_model(model, "model")
        gittrack.sklearn.log_model(model, "other")
    return run.info.run_id


def test_register_list_show_alias_rm(run_id: str) -> None:
    assert "registered churn version 1" in ok("models", "register", run_id, "churn")
    assert "version 2" in ok("models", "register", f"runs:/{run_id}/other", "churn", "-d", "v2")
    assert "version 3" in ok("models", "register", "trainer:model", "churn")
    assert "churn@prod -> version 1" in ok("models", "alias", "churn@prod", "1")
    ok("models", "alias", "churn@prod", "latest")
    listed = json.loads(ok("models", "list", "--format", "json"))
    assert listed == [{"name": "churn", "versions": [1, 2, 3], "latest": 3, "aliases": {"prod": 3}}]
    table = ok("models", "list")
    assert "churn" in table and "@prod=3" in table
    assert "name,latest,versions,aliases" in ok("models", "list", "-f", "csv")
    shown = json.loads(ok("models", "show", "churn", "-f", "json"))
    assert [r["version"] for r in shown] == [1, 2, 3]
    assert shown[2]["aliases"] == "@prod" and shown[1]["description"] == "v2"
    assert shown[1]["source"] == f"runs:/{run_id}/other"
    one = json.loads(ok("models", "show", "churn/2", "-f", "json"))
    assert len(one) == 1 and one[0]["version"] == 2
    history = json.loads(ok("models", "show", "churn@prod", "-f", "json"))
    assert [h["version"] for h in history] == [3, 1]
    assert ok("models", "show", "churn@prod", "--at", "2999-01-01").strip() == (
        "churn@prod at 2999-01-01: 3"
    )
    assert "(not set)" in ok("models", "show", "churn@prod", "--at", "2000-01-01")
    at = json.loads(ok("models", "show", "churn@prod", "--at", "2000-01-01T00:00:00", "-f", "json"))
    assert at["version"] is None
    assert "removed churn version 2" in ok("models", "rm", "churn/2")
    assert "removed alias churn@prod" in ok("models", "rm", "churn@prod")
    assert "removed model churn" in ok("models", "rm", "churn", "--yes")
    assert json.loads(ok("models", "list", "-f", "json")) == []


def test_errors_are_one_line(run_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no registered model named 'ghost'" in fails(capsys, "models", "show", "ghost")
    ok("models", "register", run_id, "m")
    assert "has no version 4" in fails(capsys, "models", "show", "m/4")
    assert "has no version 4" in fails(capsys, "models", "alias", "m@prod", "4")
    assert "not NAME@ALIAS" in fails(capsys, "models", "alias", "m", "1")
    assert "has no alias @prod" in fails(capsys, "models", "show", "m@prod")
    assert "has no alias @prod" in fails(capsys, "models", "rm", "m@prod")
    assert "needs --yes" in fails(capsys, "models", "rm", "m")
    assert "invalid model name" in fails(capsys, "models", "register", run_id, "a/b")
    assert "has no model at 'nothing'" in fails(
        capsys, "models", "register", f"{run_id}:nothing", "m"
    )
    assert "no run matches" in fails(capsys, "models", "register", "nosuchrun", "m")
    assert "is not a date" in fails(capsys, "models", "show", "m@prod", "--at", "yesterday")
    # --at answers for an alias only, and never "(not set)" for one that does not exist
    assert "--at needs NAME@ALIAS" in fails(capsys, "models", "show", "m", "--at", "2026-11-20")
    assert "--at needs NAME@ALIAS" in fails(capsys, "models", "show", "m/1", "--at", "2026-11-20")
    assert "no registered model named 'ghost'" in fails(
        capsys, "models", "show", "ghost@prod", "--at", "2026-11-20"
    )
    assert "has no alias @prod" in fails(capsys, "models", "show", "m@prod", "--at", "2026-11-20")
    assert "unknown format" in fails(capsys, "models", "list", "-f", "xml")
    assert "--workers must be at least 1" in fails(
        capsys, "models", "serve", "-m", "models:/m/1", "--workers", "0"
    )
    fails(capsys, "models", "serve", code=2)  # missing -m: a usage error


def test_real_subprocess(run_id: str, repo: Path) -> None:
    proc = subprocess.run(
        ["gittrack", "models", "register", run_id[:8], "sub"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "registered sub version 1" in proc.stdout, proc.stderr
    proc = subprocess.run(
        ["git-track", "models", "list", "--format", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(proc.stdout)[0]["name"] == "sub"
    proc = subprocess.run(
        ["gittrack", "models", "show", "nope"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        "gittrack: error: no registered model named 'nope' (see gittrack models list)\n"
    )


def test_every_models_command_is_documented() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "cli.md").read_text() + (docs / "models.md").read_text()
    for command in ("register", "list", "show", "alias", "rm", "serve"):
        assert f"gittrack models {command}" in text, command


def test_serve_refuses_foreign_model_without_trust(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gittrack.client as client_mod

    with monkeypatch.context() as m:
        m.setattr(client_mod, "current_host", lambda: "elsewhere.example")
        with gittrack.start_run():
            gittrack.sklearn.log_model(
                sklearn_linear.LinearRegression().fit(X, X[:, 0]),
                "model",
                registered_model_name="pulled",
            )
    err = fails(capsys, "models", "serve", "-m", "models:/pulled/1", "--port", "0")
    assert "logged by" in err and "elsewhere.example" in err and "GITTRACK_TRUST_MODELS=1" in err
    assert "(models serve --trust)" in err  # the switch of the command that refused


def test_cli_and_facade_do_not_import_model_libraries() -> None:
    code = (
        "import sys, gittrack, gittrack.cli.app\n"
        "heavy = [m for m in ('numpy', 'sklearn', 'cloudpickle', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "print(gittrack.sklearn.__name__, gittrack.pyfunc.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.splitlines() == ["", "gittrack.sklearn gittrack.pyfunc"]
