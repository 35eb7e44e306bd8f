"""Lineage meets ``gittrack run`` / ``reproduce`` / ``push`` / ``pull`` (real subprocesses):
reproduce refuses changed data, and kept data travels to a fresh clone and is restored."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import git

TRAIN = """\
import pathlib
import gittrack

data = pathlib.Path("data/train.csv")
gittrack.log_input(data, name="train", context="training", keep={keep})
gittrack.log_metric("total", sum(int(x) for x in data.read_text().split()))
"""


def _gittrack(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    exe = "gittrack"  # the script beside the test interpreter (tests/conftest.py)
    return subprocess.run(
        [exe, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _project(repo: Path, *, keep: bool) -> str:
    """A committed train.py reading untracked data/train.csv; one tracked run of it."""
    (repo / ".gitignore").write_text("*.log\ndata/\n")
    (repo / "train.py").write_text(TRAIN.format(keep=keep))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "train")
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("1 2 3\n")
    out = _gittrack(repo, "run", "--name", "original", "--", "python", "train.py")
    assert out.returncode == 0, out.stderr
    runs = git(repo, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gittrack/runs/")
    (run_id,) = runs.split()
    return run_id


def test_reproduce_refuses_changed_data_unless_allowed(repo: Path) -> None:
    run_id = _project(repo, keep=False)
    shown = _gittrack(repo, "inputs", run_id, "-f", "json")
    assert '"name": "train"' in shown.stdout
    (repo / "data" / "train.csv").write_text("1 2 4\n")  # same size, other bytes
    out = _gittrack(repo, "reproduce", run_id, "--yes")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("gittrack: error: run "), out.stderr
    expected = "inputs are not as recorded: input 'train' changed: data/train.csv is sha256:"
    assert expected in lines[-1]
    assert "--allow-changed-inputs" in lines[-1]
    assert "Traceback" not in out.stderr
    out = _gittrack(repo, "reproduce", run_id, "--yes", "--allow-changed-inputs")
    assert "not as recorded" not in out.stderr.splitlines()[-1]
    assert "input 'train' changed" in out.stderr  # still reported, as a warning


def test_reproduce_passes_unchanged_data(repo: Path) -> None:
    run_id = _project(repo, keep=False)
    out = _gittrack(repo, "reproduce", run_id, "--yes", "--into", str(repo / "repro"))
    assert "not as recorded" not in out.stderr and "changed" not in out.stderr


def test_kept_data_is_restored_in_a_fresh_clone(repo: Path, tmp_path: Path) -> None:
    run_id = _project(repo, keep=True)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    store = tmp_path / "artifact-store"
    store.mkdir()
    env = {"GITTRACK_ARTIFACT_REMOTE": str(store)}
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    out = _gittrack(repo, "push", "origin", env=env)
    assert out.returncode == 0, out.stderr
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    out = _gittrack(clone, "pull", "origin", env=env)
    assert out.returncode == 0, out.stderr
    assert not (clone / "data").exists()  # the data was never in git
    out = _gittrack(clone, "reproduce", run_id, "--yes", env=env)
    assert out.returncode == 0, out.stderr
