"""Shared fixtures: hermetic git (temp HOME, fixed identity, no system config)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import git_daemon, http_git_server, s3_server  # noqa: F401  (fixtures)

# The console scripts (gittrack, git-track) and the python that the tests start are those of
# the interpreter running the tests, never whatever the caller's PATH holds: the README's
# `.venv/bin/python -m pytest` passes in a shell where no venv is activated.
SCRIPTS = Path(sys.executable).parent
os.environ["PATH"] = os.pathsep.join([str(SCRIPTS), os.environ.get("PATH", "")])

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees an empty HOME, no system git config and a fixed identity."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("GITTRACK_"):
            monkeypatch.delenv(key)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )


@pytest.fixture(autouse=True)
def fresh_process_state() -> Iterator[None]:
    """Each test starts with no active run, no experiment and no cached repository."""
    yield
    from gittrack import fluent, session

    fluent.reset()
    session.reset()


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run C git in ``cwd`` and return its stdout."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


@pytest.fixture
def empty_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised repository with no commits; the test's cwd."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    monkeypatch.chdir(repo)
    return repo


@pytest.fixture
def repo(empty_repo: Path) -> Path:
    """A repository with one commit (train.py, README) and a .gitignore; the test's cwd."""
    (empty_repo / "train.py").write_text("print('training')\n")
    (empty_repo / "README").write_text("demo\n")
    (empty_repo / ".gitignore").write_text("*.log\n")
    git(empty_repo, "add", ".")
    git(empty_repo, "commit", "-q", "-m", "initial")
    return empty_repo


@pytest.fixture
def bare_remote(tmp_path: Path) -> Iterator[Path]:
    """A bare repository to push to."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    yield remote


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, cwd: Path, timeout: float = 240) -> str:
    """Run ``examples/<name>`` in ``cwd``; assert it succeeds and return its stdout."""
    import sys

    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def fsck(repo: Path) -> None:
    """Assert that C git finds the repository sound (once background maintenance is done)."""
    from gittrack.store.maintain import wait_idle

    common = subprocess.run(
        ["git", "rev-parse", "--git-common-dir"], cwd=repo, capture_output=True, text=True
    )
    assert common.returncode == 0, common.stderr
    assert wait_idle((repo / common.stdout.strip()).resolve())
    out = subprocess.run(
        ["git", "fsck", "--full", "--strict"], cwd=repo, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


# MLflow's system tags gittrack derives from a run's record (see gittrack.format.run_tags)
DERIVED_TAGS = (
    "mlflow.runName",
    "mlflow.parentRunId",
    "mlflow.user",
    "mlflow.source.name",
    "mlflow.source.type",
    "mlflow.source.git.commit",
    "mlflow.source.git.branch",
)


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """A run's tags without the derived system tags (``mlflow.note.content`` stays: the
    user wrote it)."""
    return {k: v for k, v in tags.items() if k not in DERIVED_TAGS}
