"""Artifacts and kept inputs travel with the runs: clone -> pull -> reproduce with no
per-clone configuration, through a bare path git remote (which holds the objects itself)
and through an S3 artifact remote recorded once in the committed ``gittrack.yaml``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import fails, ok
from conftest import fsck, git
from servers import GitDaemon, S3Server

from gittrack.runs import RunStore

BIG = 8 * 1024 * 1024

TRAIN = f"""\
import pathlib
import gittrack

data = pathlib.Path("data/train.csv")
gittrack.log_input(data, name="train", keep=True)
model = pathlib.Path("model.bin")
model.write_bytes(bytes(range(256)) * ({BIG} // 256))
gittrack.log_artifact(str(model))
gittrack.log_metric("total", sum(int(x) for x in data.read_text().split()))
"""


def _trained(repo: Path, project: str | None = None) -> str:
    """Commit train.py (and a project file); run it once on untracked data; the run id."""
    (repo / ".gitignore").write_text("data/\nmodel.bin\n")
    (repo / "train.py").write_text(TRAIN)
    if project is not None:
        (repo / "gittrack.yaml").write_text(project)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "training code")
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("1 2 3\n")
    proc = subprocess.run([sys.executable, "train.py"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (run_id,) = RunStore(repo).list_runs()
    return run_id


def _bare(tmp_path: Path, repo: Path) -> Path:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return remote


def _clone_and_reproduce(
    remote: Path, tmp_path: Path, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh clone with no configuration: pull, reproduce, download the big artifact."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    monkeypatch.chdir(clone)
    assert "1 new" in ok("pull")
    assert not (clone / "data").exists()  # the data never was in git
    text = ok("reproduce", run_id, "--yes")
    assert "restored kept input data/train.csv" in text and "MISMATCH" not in text
    assert "warning: restored" not in text  # a restored input is no problem
    out = ok("artifacts", "get", run_id, "model.bin", "-o", str(tmp_path / "model.bin"))
    assert out and (tmp_path / "model.bin").read_bytes() == bytes(range(256)) * (BIG // 256)
    return clone


def _objects(directory: Path) -> list[Path]:
    return sorted(directory.glob("sha256/*/*"))


def test_a_bare_path_remote_carries_artifacts_and_kept_inputs(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _trained(repo)
    remote = _bare(tmp_path, repo)
    text = ok("push")
    assert "pushed 1 new" in text and "uploaded 2 artifact object(s)" in text
    assert len(_objects(remote / "gittrack" / "objects")) == 2  # the model and the data
    fsck(remote)  # C git does not mind the objects beside its own
    assert "stayed local" not in ok("push")
    _clone_and_reproduce(remote, tmp_path, run_id, monkeypatch)


def test_an_s3_remote_recorded_once_in_the_project_file(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Server
) -> None:
    s3_server.client().create_bucket(Bucket="arts")
    project = f"artifacts:\n  remote: s3://arts/team\n  endpoint_url: {s3_server.endpoint_url}\n"
    run_id = _trained(repo, project)
    remote = _bare(tmp_path, repo)
    assert "uploaded 2 artifact object(s)" in ok("push")
    keys = s3_server.client().list_objects_v2(Bucket="arts")["Contents"]
    assert len(keys) == 2 and all(k["Key"].startswith("team/sha256/") for k in keys)
    assert not (remote / "gittrack").exists()  # the configured remote wins
    _clone_and_reproduce(remote, tmp_path, run_id, monkeypatch)


def test_git_config_overrides_the_project_file(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trained(repo, f"artifacts:\n  remote: {tmp_path / 'from-project'}\n")
    _bare(tmp_path, repo)
    git(repo, "config", "gittrack.artifactRemote", str(tmp_path / "from-config"))
    ok("push")
    assert len(_objects(tmp_path / "from-config")) == 2  # created on first use
    assert not (tmp_path / "from-project").exists()
    monkeypatch.setenv("GITTRACK_ARTIFACT_REMOTE", str(tmp_path / "from-env"))
    ok("artifacts", "push")
    assert len(_objects(tmp_path / "from-env")) == 2


def test_kept_input_bytes_nowhere_to_be_found(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _trained(repo)
    remote = _bare(tmp_path, repo)
    git(repo, "push", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")  # plain git: no bytes
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    monkeypatch.chdir(clone)
    ok("pull")
    err = fails(capsys, "reproduce", run_id, "--yes")
    assert f"run {run_id[:12]}'s kept input 'train' (data/train.csv, object " in err
    assert f"is neither in the local artifact cache nor on {remote} (git remote)" in err
    assert "run 'gittrack artifacts push'" in err and "--allow-changed-inputs" not in err
    # In a real process too, that is the only line (the object is not also reported unnamed).
    proc = subprocess.run(
        ["gittrack", "reproduce", run_id, "--yes"], cwd=clone, capture_output=True, text=True
    )
    assert proc.returncode == 1 and proc.stderr == err, proc.stderr
    git(clone, "remote", "remove", "origin")
    err = fails(capsys, "reproduce", run_id, "--yes")
    assert "not in the local artifact cache and no artifact remote is configured" in err
    assert "gittrack.yaml (artifacts: {remote:" in err
    # What the message says to do, done in the clone that logged it, is enough.
    monkeypatch.chdir(repo)
    assert "uploaded 2 objects" in ok("artifacts", "push")
    git(clone, "remote", "add", "origin", str(remote))
    monkeypatch.chdir(clone)
    assert "MISMATCH" not in ok("reproduce", run_id, "--yes")


def test_a_network_git_remote_says_once_what_stayed_local(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gittrack.cli import main

    _trained(repo)
    with GitDaemon(tmp_path / "daemon") as daemon:
        daemon.init_bare("runs.git")
        main(["push", daemon.url_for("runs.git")])
    out = capsys.readouterr()
    assert "pushed 1 new" in out.out
    (line,) = out.err.splitlines()
    assert line.startswith("gittrack: 8.0 MiB of artifacts stayed local (git://127.0.0.1:")
    assert "artifacts: {remote:" in line and "'gittrack artifacts push'" in line
    err = fails(capsys, "artifacts", "push")
    assert "8.0 MiB of artifacts stay local: no artifact remote is configured and origin" in err


def test_an_unreachable_artifact_remote_says_the_runs_went_and_what_to_run(
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    s3_server: S3Server,
) -> None:
    from servers import free_port

    s3_server.client().create_bucket(Bucket="arts")
    project = f"artifacts:\n  remote: s3://arts/team\n  endpoint_url: {s3_server.endpoint_url}\n"
    run_id = _trained(repo, project)
    remote = _bare(tmp_path, repo)
    monkeypatch.setenv("GITTRACK_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    err = fails(capsys, "push")
    assert "pushed 1 new and 0 updated ref(s) to origin, but not their artifacts:" in err
    assert "s3://arts/team" in err and "then run 'gittrack artifacts push'" in err
    assert f"refs/gittrack/runs/{run_id}" in git(remote, "for-each-ref")
    monkeypatch.delenv("GITTRACK_S3_ENDPOINT_URL")
    assert "up to date" in ok("push")
    assert "uploaded 2 objects" in ok("artifacts", "push")  # what the message said to run
    _clone_and_reproduce(remote, tmp_path, run_id, monkeypatch)


@pytest.mark.parametrize("engine", ["git", "dulwich"])
def test_a_push_url_is_where_runs_and_artifacts_go(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    monkeypatch.setenv("GITTRACK_TRANSPORT", engine)
    run_id = _trained(repo)
    pushed = tmp_path / "push.git"
    git(tmp_path, "init", "-q", "--bare", str(pushed))
    git(repo, "remote", "add", "team", str(tmp_path / "read-only-mirror.git"))
    git(repo, "remote", "set-url", "--push", "team", str(pushed))
    text = ok("push", "team")
    assert "pushed 1 new" in text and "uploaded 2 artifact object(s)" in text
    assert f"refs/gittrack/runs/{run_id}" in git(pushed, "for-each-ref")
    assert len(_objects(pushed / "gittrack" / "objects")) == 2
    fsck(pushed)
    # 'gittrack artifacts push' goes to origin's pushurl as well.
    git(repo, "remote", "add", "origin", str(tmp_path / "read-only-mirror.git"))
    git(repo, "remote", "set-url", "--push", "origin", str(tmp_path / "other-push.git"))
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "other-push.git"))
    assert "uploaded 2 objects" in ok("artifacts", "push")
    assert len(_objects(tmp_path / "other-push.git" / "gittrack" / "objects")) == 2


def test_a_bundle_and_an_objects_folder_carry_everything_offline(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/sync.md: bundle + 'artifacts push/fetch --remote FOLDER', then reproduce."""
    run_id = _trained(repo)
    usb = tmp_path / "usb"
    usb.mkdir()
    ok("bundle", "create", str(usb / "runs.bundle"))
    assert "uploaded 2 objects" in ok("artifacts", "push", "--remote", str(usb / "objects"))
    offline = tmp_path / "offline"
    git(tmp_path, "init", "-q", str(offline))
    monkeypatch.chdir(offline)
    assert "1 new" in ok("bundle", "unbundle", str(usb / "runs.bundle"))
    assert "downloaded 2 objects" in ok("artifacts", "fetch", "--remote", str(usb / "objects"))
    text = ok("reproduce", run_id, "--yes")
    assert "restored kept input data/train.csv" in text and "MISMATCH" not in text
    assert "warning: restored" not in text  # a restored input is no problem
