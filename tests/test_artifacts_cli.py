"""Artifact commands: in-process (CliRunner + the error funnel) and as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_helpers import fails, ok
from conftest import run_example

import gittrack
from gittrack.artifacts.client_api import artifacts_of

BIG = 100 * 1024


@pytest.fixture
def run_id(repo: Path) -> str:
    (repo / "model.bin").write_bytes(os.urandom(BIG))
    with gittrack.start_run(run_name="arty") as run:
        gittrack.log_artifact("model.bin", "model")
        gittrack.log_text("hello\n", "notes/a.txt")
        gittrack.log_dict({"k": 1}, "cfg.json")
    return run.info.run_id


def test_ls(run_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    top = ok("artifacts", "ls", "arty")
    assert "cfg.json" in top and "model/" in top and "notes/" in top
    assert "a.txt" not in top
    rows = json.loads(ok("artifacts", "ls", run_id, "model", "--format", "json"))
    assert rows[0]["path"] == "model/model.bin" and rows[0]["size"] == BIG
    assert rows[0]["stored"] == "cache" and len(rows[0]["sha256"]) == 64
    every = json.loads(ok("artifacts", "ls", run_id, "-r", "-f", "json"))
    assert [r["path"] for r in every] == ["cfg.json", "model/model.bin", "notes/a.txt"]
    assert [r["stored"] for r in every] == ["git", "cache", "git"]
    assert "notes/a.txt" in ok("artifacts", "ls", run_id, "notes/a.txt")
    csv_out = ok("artifacts", "ls", run_id, "--format", "csv")
    assert csv_out.splitlines()[0] == "path,is_dir,size,sha256,stored"
    assert "has no artifact 'nope'" in fails(capsys, "artifacts", "ls", run_id, "nope")
    assert "unknown format" in fails(capsys, "artifacts", "ls", run_id, "-f", "xml")


def test_get(run_id: str, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok("artifacts", "get", run_id, "notes/a.txt")
    assert (repo / "a.txt").read_text() == "hello\n"
    ok("artifacts", "get", run_id, "notes/a.txt", "-o", str(tmp_path))
    assert (tmp_path / "a.txt").read_text() == "hello\n"
    ok("artifacts", "get", run_id, "model", "-o", str(tmp_path / "m"))
    assert (tmp_path / "m" / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()
    ok("artifacts", "get", run_id, ".", "-o", str(tmp_path / "all"))
    assert (tmp_path / "all" / "notes" / "a.txt").is_file()
    assert ok("artifacts", "get", run_id, "notes/a.txt", "-o", "-") == "hello\n"
    (repo / "a.txt").write_text("mine")
    err = fails(capsys, "artifacts", "get", run_id, "notes/a.txt")
    assert "exists and differs" in err and "--force" in err
    assert (repo / "a.txt").read_text() == "mine"
    ok("artifacts", "get", run_id, "notes/a.txt", "--force")
    assert (repo / "a.txt").read_text() == "hello\n"
    assert "has no artifact 'nope'" in fails(capsys, "artifacts", "get", run_id, "nope")
    assert "is a directory" in fails(capsys, "artifacts", "get", run_id, "notes", "-o", "-")
    assert "contains '..'" in fails(capsys, "artifacts", "get", run_id, "../x")
    assert "no run matches" in fails(capsys, "artifacts", "get", "zzzz", "x")
    fails(capsys, "artifacts", "get", run_id, code=2)  # usage error


def test_verify(run_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "3 ok, 0 not on this machine, 0 corrupt (1 runs)" in ok("artifacts", "verify")
    rows = json.loads(ok("artifacts", "verify", run_id, "-f", "json"))
    assert {r["status"] for r in rows} == {"ok"}
    (obj,) = artifacts_of(gittrack.Client().store).cache.iter_objects()
    os.chmod(obj.path, 0o644)
    obj.path.write_bytes(b"\0" * BIG)
    err = fails(capsys, "artifacts", "verify", run_id)
    assert "1 artifacts are corrupt, e.g. 'model/model.bin'" in err
    obj.path.unlink()
    out = ok("artifacts", "verify", run_id)
    assert "not in the local cache" in out and "1 not on this machine" in out


def test_push_fetch_and_gc(run_id: str, repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "shared"
    remote.mkdir()
    assert "uploaded 1 objects" in ok("artifacts", "push", "--remote", str(remote))
    client = gittrack.Client()
    store = artifacts_of(client.store)
    sha = store.manifest(run_id)["model/model.bin"].sha256
    store.cache.remove(sha)
    assert "downloaded 1 objects" in ok("artifacts", "fetch", run_id, "--remote", str(remote))
    assert store.cache.has(sha)
    assert "nothing to free" in ok("gc", "--min-age", "0")
    ok("rm", run_id, "--yes")
    assert "kept 1 younger than --min-age" in ok("gc")
    dry = ok("gc", "--min-age", "0")
    assert "1 unreferenced artifact objects (100.0 KiB) can be freed" in dry
    assert store.cache.has(sha)
    assert "deleted 1 unreferenced artifact objects, freed 100.0 KiB" in ok(
        "gc", "--yes", "--min-age", "0"
    )
    assert not store.cache.has(sha)


def test_gc_suggests_the_command_that_frees_what_it_counted(run_id: str) -> None:
    """`gc --min-age 0` counted young objects and said "run 'gittrack gc --yes'", which
    keeps them (the default --min-age is an hour): the hint repeats the --min-age given."""
    ok("rm", run_id, "--yes")
    hint = ok("gc", "--min-age", "0").split("run '", 1)[1].split("'", 1)[0]
    assert hint == "gittrack gc --yes --min-age 0"
    assert "freed 100.0 KiB" in ok(*hint.split()[1:])
    assert "run 'gittrack gc --yes' to delete" not in ok("gc")  # nothing old enough


def _gittrack(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["gittrack", *args], cwd=cwd, capture_output=True, text=True)


def test_real_subprocesses(run_id: str, repo: Path) -> None:
    proc = _gittrack(repo, "artifacts", "ls", run_id, "-r")
    assert proc.returncode == 0 and "model/model.bin" in proc.stdout
    proc = _gittrack(repo, "artifacts", "get", run_id, "cfg.json", "-o", "-")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"k": 1}
    proc = _gittrack(repo, "artifacts", "get", run_id, "missing.txt")
    assert proc.returncode == 1
    assert proc.stderr.startswith("gittrack: error: run ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    proc = _gittrack(repo, "gc")
    assert proc.returncode == 0 and "nothing to free" in proc.stdout
    proc = _gittrack(repo, "artifacts", "ls")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("where", ["a git repository", "no repository (./.gittrack-runs)"])
def test_artifacts_example_runs(where: str, repo: Path, tmp_path: Path) -> None:
    """As its docstring says, it runs in a repository or anywhere; outside one it printed
    nothing about the cache (it looked for ./.git/gittrack/objects)."""
    cwd = repo if where == "a git repository" else tmp_path / "elsewhere"
    cwd.mkdir(exist_ok=True)
    out = run_example("artifacts_example.py", cwd)
    assert "identical: True" in out
    assert "objects in the cache: 1 (two runs, one model)" in out
