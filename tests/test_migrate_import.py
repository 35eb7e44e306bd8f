"""``gittrack import mlflow PATH``: a file store made by MLflow itself comes across whole.

The store is written by the real ``mlflow`` package (its own venv) once per module; each
field gittrack holds after the import is compared with what MLflow's client reads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import fails, ok
from conftest import SCRIPTS, fsck, git
from mlflow_peer import MAKE_STORE, MLFLOW, check_import, run_mlflow

import gittrack
from gittrack import experiments
from gittrack.artifacts.client_api import artifacts_of
from gittrack.cli import main
from gittrack.session import open_repository

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An MLflow file store and what MLflow's client reads from it."""
    base = tmp_path_factory.mktemp("mlflow")
    root = base / "mlruns"
    reference = run_mlflow(MAKE_STORE, "file://" + str(root), str(base))
    return root, reference


def _copy(store: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "mlruns"
    shutil.copytree(store, dest, symlinks=True)
    return dest


def _import(store: Path, *extra: str) -> dict[str, Any]:
    return json.loads(ok("import", "mlflow", str(store), "--format", "json", *extra))


def test_import_carries_every_field_mlflow_reads(
    repo: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    store, reference = mlflow_store
    check_import(repo, _import(store), reference)
    fsck(repo)


def test_reimport_is_idempotent_and_brings_changes(
    repo: Path, tmp_path: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    store = _copy(mlflow_store[0], tmp_path)
    first = _import(store)
    refs_before = git(repo, "for-each-ref", "refs/gittrack/")
    again = _import(store)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, first["new"])
    assert git(repo, "for-each-ref", "refs/gittrack/") == refs_before
    # MLflow logs to one run meanwhile: a metric point, a tag, a status change.
    run_id = next(rid for rid, r in mlflow_store[1]["runs"].items() if r["name"] == "still running")
    run_dir = next(store.glob(f"*/{run_id}"))
    (run_dir / "metrics").mkdir(exist_ok=True)
    with open(run_dir / "metrics" / "late", "a") as f:
        f.write("1700000000123 0.75 7\n")
    (run_dir / "tags" / "after").write_text("yes")
    meta = (run_dir / "meta.yaml").read_text()
    (run_dir / "meta.yaml").write_text(
        meta.replace("status: 1", "status: 3").replace("end_time: null", "end_time: 1700000000999")
    )
    third = _import(store)
    assert (third["new"], third["updated"], third["unchanged"]) == (0, 1, first["new"] - 1)
    assert third["points"] == 1
    client = gittrack.Client()
    run = client.get_run(run_id)
    assert (run.info.status, run.info.end_time) == ("FINISHED", 1700000000999)
    assert run.data.tags["after"] == "yes"
    assert [(m.timestamp, m.step, m.value) for m in client.get_metric_history(run_id, "late")] == [
        (1700000000123, 7, 0.75)
    ]
    # Runs deleted in MLflow (or in its deleted experiment) came deleted: hidden by default.
    assert len(client.search_runs(output_format="rows")) == first["new"] - first["deleted"]


def test_a_deleted_run_keeps_when_it_was_deleted_through_import_and_export(
    repo: Path, tmp_path: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    """MLflow's ``gc --older-than`` counts from ``deleted_time``, and removes a deleted
    run without one at once: the time crosses both ways."""
    store = mlflow_store[0]
    metas = [yaml.safe_load(p.read_text()) for p in store.rglob("meta.yaml")]
    runs_deleted = [m for m in metas if "run_id" in m and m["lifecycle_stage"] == "deleted"]
    when = {m["run_id"]: m["deleted_time"] for m in runs_deleted}
    assert when and all(isinstance(t, int) for t in when.values())
    _import(store)
    runs = open_repository(create=False)
    assert {rid: runs.load(rid).record.deleted_time for rid in when} == when
    ok("export", "mlflow", str(tmp_path / "out"))
    back = [yaml.safe_load(p.read_text()) for p in (tmp_path / "out").rglob("meta.yaml")]
    assert {m["run_id"]: m.get("deleted_time") for m in back if m.get("run_id") in when} == when
    active = [m for m in back if "run_id" in m and m["lifecycle_stage"] == "active"]
    assert active and all("deleted_time" not in m for m in active)


def test_reimport_keeps_what_was_logged_in_gittrack_since(
    repo: Path, tmp_path: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    """A metric and a tag logged in gittrack into an imported run were wiped by the next
    import (the run was rewritten from MLflow's state); now a run MLflow did not change
    is left alone, and one changed on both sides is reported and left as it is."""
    store = _copy(mlflow_store[0], tmp_path)
    _import(store)
    run_id = _run_dir(store, mlflow_store[1], "child").name
    with gittrack.start_run(run_id=run_id):
        gittrack.log_metric("added_here", 5.0)
        gittrack.set_tag("here", "yes")
    again = _import(store)
    assert (again["updated"], again["skipped"]) == (0, [])
    run = gittrack.get_run(run_id)
    assert run.data.metrics["added_here"] == 5.0 and run.data.tags["here"] == "yes"
    with open(_run_dir(store, mlflow_store[1], "child") / "metrics" / "x", "a") as f:
        f.write("1700000000123 2.0 1\n")  # and MLflow logs to it too
    proc = subprocess.run(
        [str(SCRIPTS / "gittrack"), "import", "mlflow", str(store)],
        capture_output=True,
        text=True,
        cwd=repo,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr == (
        f"gittrack: skipped run {run_id}: changed in gittrack since it was imported, "
        "and in MLflow too: left as it is\n"
    )
    run = gittrack.get_run(run_id)
    assert run.data.metrics == {"x": 1.0, "added_here": 5.0}
    assert run.data.tags["here"] == "yes"


def test_dry_run_writes_nothing(repo: Path, mlflow_store: tuple[Path, dict[str, Any]]) -> None:
    summary = _import(mlflow_store[0], "--dry-run")
    assert summary["dry_run"] is True and summary["new"] == 7 and summary["points"] > 300
    assert git(repo, "for-each-ref", "refs/gittrack/") == ""


def test_one_experiment_by_name(repo: Path, mlflow_store: tuple[Path, dict[str, Any]]) -> None:
    summary = _import(mlflow_store[0], "--experiment", "vision α")
    assert (summary["experiments"], summary["new"]) == (1, 1)
    assert [r["name"] for r in json.loads(ok("list", "--format", "json"))] == ["first"]


def _run_dir(store: Path, reference: dict[str, Any], name: str) -> Path:
    run_id = next(rid for rid, r in reference["runs"].items() if r["name"] == name)
    return next(store.glob(f"*/{run_id}"))


def test_hostile_and_malformed_items_are_reported_and_skipped(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mlflow_store: tuple[Path, dict[str, Any]],
) -> None:
    store = _copy(mlflow_store[0], tmp_path)
    reference = mlflow_store[1]
    secret = tmp_path / "secret.txt"
    secret.write_text("do not import")
    # A symlink out of the store among the artifacts: the whole run is refused.
    first = _run_dir(store, reference, "first")
    os.symlink(secret, first / "artifacts" / "leak.txt")
    # A YAML bomb as a run's meta.yaml: refused before anything is expanded.
    killed = _run_dir(store, reference, "killed")
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    bomb += "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    (killed / "meta.yaml").write_text(bomb)
    # A run folder without meta.yaml, and a truncated metric line.
    (store / "0" / ("f" * 32)).mkdir()
    child = _run_dir(store, reference, "child")
    with open(child / "metrics" / "x", "a") as f:
        f.write("17000")
    # A run whose meta.yaml points its artifacts outside the store: not followed.
    failed = _run_dir(store, reference, "failed one")
    meta = (failed / "meta.yaml").read_text().splitlines()
    meta = [f"artifact_uri: file://{tmp_path}" if m.startswith("artifact_uri") else m for m in meta]
    (failed / "meta.yaml").write_text("\n".join(meta) + "\n")
    with pytest.raises(SystemExit) as exc:
        main(["import", "mlflow", str(store)])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    reasons = {
        line.split(": ", 2)[1].removeprefix("skipped "): line.split(": ", 2)[2]
        for line in captured.err.splitlines()
    }
    assert "symlink leading out of the store" in reasons[f"run {first.name}"]
    assert "aliases" in reasons[f"run {killed.name}"]
    assert "no meta.yaml" in reasons[f"run {'f' * 32}"]
    assert "1 malformed line(s) skipped" in reasons[f"run {child.name}"]
    assert len(reasons) == 4
    client = gittrack.Client()
    ids = set(open_repository(create=False).list_runs())
    assert first.name not in ids and killed.name not in ids
    assert child.name in ids and failed.name in ids
    assert [m.value for m in client.get_metric_history(child.name, "x")] == [1.0]
    assert artifacts_of(open_repository(create=False)).manifest(failed.name) == {}
    assert all(
        "do not import" not in p.read_text(errors="replace")
        for p in repo.rglob("*")
        if p.is_file() and p.stat().st_size < 1000
    )
    fsck(repo)


def test_unsafe_artifact_name_refuses_the_run(
    repo: Path, tmp_path: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    store = _copy(mlflow_store[0], tmp_path)
    first = _run_dir(store, mlflow_store[1], "first")
    (first / "artifacts" / ".git").mkdir()
    (first / "artifacts" / ".git" / "config").write_text("[core]\n")
    from gittrack.migrate.importer import import_mlflow

    summary = import_mlflow(store, runs=open_repository(create=False))
    assert "'.git'" in dict(summary.skipped)[f"run {first.name}"]
    assert first.name not in open_repository(create=False).list_runs()


def test_bad_sources_are_one_line_errors(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mlflow_store: tuple[Path, dict[str, Any]],
) -> None:
    assert "is not a directory" in fails(capsys, "import", "mlflow", str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    assert "not an MLflow file store" in fails(capsys, "import", "mlflow", str(tmp_path / "empty"))
    err = fails(capsys, "import", "mlflow", str(mlflow_store[0]), "-e", "no such")
    assert "no experiment 'no such'" in err
    assert git(repo, "for-each-ref", "refs/gittrack/") == ""


def test_progress_bar_on_a_terminal_only(
    repo: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    import pty

    exe = str(SCRIPTS / "gittrack")
    piped = subprocess.run(
        [exe, "import", "mlflow", str(mlflow_store[0]), "--dry-run"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and "\r" not in piped.stderr and "#" not in piped.stderr
    leader, follower = pty.openpty()
    proc = subprocess.run(
        [exe, "import", "mlflow", str(mlflow_store[0]), "--dry-run"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=120,
    )
    os.close(follower)
    shown = os.read(leader, 65536).decode()
    os.close(leader)
    assert proc.returncode == 0
    assert "importing runs [" in shown and "] 7/7" in shown


def test_skip_deleted_leaves_deleted_runs_and_experiments_out(
    repo: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    summary = _import(mlflow_store[0], "--skip-deleted")
    assert (summary["new"], summary["deleted"], summary["deleted_not_imported"]) == (5, 2, 2)
    listed = json.loads(ok("list", "--format", "json"))
    assert "gone" not in {r["name"] for r in listed} and len(listed) == 5
    runs = open_repository(create=False)
    assert experiments.get_by_name(runs, "old") is None  # MLflow's deleted experiment
