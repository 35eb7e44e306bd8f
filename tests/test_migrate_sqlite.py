"""``gittrack import mlflow sqlite:///mlflow.db``: MLflow's database store, written by
MLflow itself (runs, a deleted run and experiment, logged models, the registry), comes
across whole; every field is compared with what MLflow's client reads from it."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import fails, ok
from conftest import fsck, git
from mlflow_peer import (
    MAKE_REGISTRY,
    MLFLOW,
    READ_STORE,
    check_import,
    differences,
    registry_as_compared,
    run_mlflow,
)

from gittrack.artifacts.client_api import artifacts_of
from gittrack.migrate.importer import import_mlflow
from gittrack.session import open_repository

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)

# MLflow puts a sqlite store's artifacts under ./mlruns of the working directory.
IN_WORKDIR = "import os, sys\nos.chdir(sys.argv[2])\n"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An MLflow sqlite database (artifacts beside it) and what MLflow's client reads."""
    base = tmp_path_factory.mktemp("mlflow-sqlite")
    db = base / "mlflow.db"
    return db, run_mlflow(IN_WORKDIR + MAKE_REGISTRY, f"sqlite:///{db}", str(base))


def _copy(db: Path, tmp_path: Path) -> Path:
    """The database and its artifacts elsewhere (the artifact URIs still name the original)."""
    dest = tmp_path / "mlflow.db"
    shutil.copy(db, dest)
    return dest


def test_import_from_sqlite_carries_every_field_and_exports_the_same(
    repo: Path, tmp_path: Path, database: tuple[Path, dict[str, Any]]
) -> None:
    db, reference = database
    summary = json.loads(ok("import", "mlflow", f"sqlite:///{db}", "--format", "json"))
    check_import(repo, summary, reference["all"])
    assert (summary["logged_models"], summary["registered_models"]) == (2, 2)
    assert summary["model_versions"] == 2
    fsck(repo)
    # A plain path to the database file works too, and a second import changes nothing.
    again = json.loads(ok("import", "mlflow", str(db), "--format", "json"))
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, summary["new"])
    dest = tmp_path / "out"
    ok("export", "mlflow", str(dest))
    back = run_mlflow(READ_STORE, str(dest))
    # MLflow's two stores say some things differently: the database has "" where the
    # file store has None for an unset user or description, and aliases name versions
    # as numbers (strings in the file store, whose version search leaves aliases out).
    reference = json.loads(json.dumps(reference))
    registry_as_compared((back, reference), aliases_as_text=True)
    wrong = differences(back, reference)
    assert not wrong, "\n".join(wrong)


def test_a_run_deleted_in_the_database_keeps_its_deletion_time(
    repo: Path, database: tuple[Path, dict[str, Any]]
) -> None:
    with closing(sqlite3.connect(database[0])) as db:
        when = dict(db.execute("select run_uuid, deleted_time from runs where deleted_time > 0"))
    assert when  # MLflow recorded the time of its delete_run
    ok("import", "mlflow", f"sqlite:///{database[0]}")
    runs = open_repository(create=False)
    assert {rid: runs.load(rid).record.deleted_time for rid in when} == when


def test_artifacts_elsewhere_are_reported_and_kept_and_hostile_locations_refuse_the_run(
    repo: Path, tmp_path: Path, database: tuple[Path, dict[str, Any]]
) -> None:
    db = _copy(database[0], tmp_path)
    reference = database[1]["all"]["runs"]
    by_name = {r["name"]: rid for rid, r in reference.items()}
    first = by_name["first"]
    runs = open_repository(create=False)
    assert import_mlflow(db, runs=runs).new == len(reference)
    before = git(repo, "for-each-ref", "refs/gittrack/runs/")
    files = artifacts_of(runs).manifest(first)
    assert files
    with sqlite3.connect(db) as conn:
        # Kept by a tracking server (the database of `mlflow server`): not readable here.
        conn.execute(
            "update runs set artifact_uri = ? where run_uuid = ?",
            (f"mlflow-artifacts:/1/{first}/artifacts", first),
        )
        # A location that is no run's artifact folder (a home directory, /etc): refused.
        conn.execute(
            "update runs set artifact_uri = ? where run_uuid = ?",
            (str(tmp_path), by_name["failed one"]),
        )
    conn.close()
    summary = import_mlflow(db, runs=runs)
    skipped = dict(summary.skipped)
    assert "nor on this machine" in skipped["artifacts under mlflow-artifacts:/ URIs"]
    assert "is not" in skipped[f"run {by_name['failed one']}"]
    # Nothing changed in MLflow but where the files are: every run stays as imported,
    # the files brought the first time included.
    assert (summary.new, summary.updated) == (0, 0)
    assert git(repo, "for-each-ref", "refs/gittrack/runs/") == before
    assert artifacts_of(runs).manifest(first) == files


def test_a_database_copied_from_another_machine_finds_mlruns_beside_it(
    repo: Path, tmp_path: Path, database: tuple[Path, dict[str, Any]]
) -> None:
    """Artifact URIs naming a folder of the machine the database came from: the runs
    came without their files, silently; now the files are read from ``mlruns/`` beside
    the database, and without it that is said once."""
    base = database[0].parent
    db = _copy(database[0], tmp_path)
    old, gone = str(base / "mlruns"), "/nonexistent/elsewhere/mlruns"
    with sqlite3.connect(db) as conn:
        conn.execute("update runs set artifact_uri = replace(artifact_uri, ?, ?)", (old, gone))
        conn.execute(
            "update logged_models set artifact_location = replace(artifact_location, ?, ?)",
            (old, gone),
        )
    conn.close()
    runs = open_repository(create=False)
    first = next(rid for rid, r in database[1]["all"]["runs"].items() if r["name"] == "first")
    summary = import_mlflow(db, runs=runs)
    assert "nor mlruns/ beside" in dict(summary.skipped)[f"artifacts under {gone}"]
    assert artifacts_of(runs).manifest(first) == {}
    shutil.copytree(base / "mlruns", tmp_path / "mlruns")
    summary = import_mlflow(db, runs=runs)
    assert summary.skipped == ()
    manifest = artifacts_of(runs).manifest(first)
    expected = database[1]["all"]["runs"][first]["artifacts"]
    assert {p: e.sha256 for p, e in manifest.items() if p in expected} == expected
    trainer = next(r for r, v in database[1]["all"]["runs"].items() if v["name"] == "trainer")
    assert "model/MLmodel" in artifacts_of(runs).manifest(trainer)  # a logged model's too


def test_bad_database_sources_are_one_line_errors(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.db"
    assert "does not exist" in fails(capsys, "import", "mlflow", f"sqlite:///{missing}")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("create table t (x)")
    conn.close()
    assert "not an MLflow database" in fails(capsys, "import", "mlflow", str(other))
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    err = fails(capsys, "import", "mlflow", f"sqlite:///{garbage}")
    assert "cannot be read as a database" in err
    assert "names no database file" in fails(capsys, "import", "mlflow", "sqlite://mlflow.db")
    err = fails(capsys, "import", "mlflow", "postgresql://db.internal/mlflow")
    assert "tracking server's http(s):// URL" in err
    assert git(repo, "for-each-ref", "refs/gittrack/") == ""
