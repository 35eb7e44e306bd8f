"""MLflow -> gittrack -> MLflow: a file store with a model registry comes back whole.

MLflow itself writes the store (runs, a deleted run, a deleted experiment, MLflow 3
logged models registered as versions with descriptions, tags, an alias, a stage, and a
model registered with no version); gittrack imports it and exports it again; MLflow's
client reads both stores and every field compares equal, experiment ids included.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import fails, ok
from conftest import fsck, git
from mlflow_peer import MAKE_REGISTRY as MAKE
from mlflow_peer import MLFLOW, differences, run_mlflow
from mlflow_peer import READ_STORE as READ

import gittrack
from gittrack.cli import main
from gittrack.models import logged, registry
from gittrack.session import open_repository

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    base = tmp_path_factory.mktemp("mlflow")
    root = base / "mlruns"
    return root, run_mlflow(MAKE, "file://" + str(root), str(base))


def test_import_then_export_gives_mlflow_the_same_store(
    repo: Path, tmp_path: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    store, reference = mlflow_store
    summary = json.loads(ok("import", "mlflow", str(store), "--format", "json"))
    assert summary["skipped"] == []
    assert (summary["logged_models"], summary["registered_models"]) == (2, 2)
    assert summary["model_versions"] == 2
    fsck(repo)
    dest = tmp_path / "out"
    ok("export", "mlflow", str(dest), "--format", "json")
    back = run_mlflow(READ, str(dest))
    wrong = differences(back, reference)  # experiment ids, runs, registry: all kept
    assert not wrong, "\n".join(wrong)
    registered = reference["registry"]["registered"]
    assert registered["reg"]["versions"]["2"]["stage"] == "Staging"
    assert registered["reg"]["aliases"] == {"prod": "1", "été": "2", "1st": "1"}
    assert len(reference["registry"]["logged"]) == 2


def test_export_merges_into_an_mlflow_store(
    repo: Path, tmp_path: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    store, reference = mlflow_store
    ok("import", "mlflow", str(store))
    client = gittrack.Client()
    run = client.create_run("added later", run_name="new one")
    client.log_metric(run.info.run_id, "m", 1.5, step=3)
    client.set_terminated(run.info.run_id)
    target = tmp_path / "mlruns"
    shutil.copytree(store, target)
    summary = json.loads(ok("export", "mlflow", str(target), "--format", "json"))
    assert summary["runs"] == len(reference["all"]["runs"]) + 1
    again = json.loads(ok("export", "mlflow", str(target), "--format", "json"))
    assert again["runs"] == summary["runs"]
    back = run_mlflow(READ, str(target))
    runs = back["all"]["runs"]
    assert set(runs) == set(reference["all"]["runs"]) | {run.info.run_id}
    assert {k: v for k, v in runs.items() if k != run.info.run_id} == reference["all"]["runs"]
    added = runs[run.info.run_id]
    assert [(step, value) for _, step, value in added["histories"]["m"]] == [(3, "1.5")]
    assert added["experiment"] == "added later"
    assert back["registry"] == reference["registry"]


def test_export_refuses_a_directory_that_is_no_mlflow_store(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("keep")
    err = fails(capsys, "export", "mlflow", str(tmp_path / "full"))
    assert "is not an MLflow file store" in err
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["notes.txt"]
    (tmp_path / "a-file").write_text("keep")
    assert "is not a directory" in fails(capsys, "export", "mlflow", str(tmp_path / "a-file"))


def test_reimport_moves_only_what_mlflow_changed_in_the_registry(
    repo: Path, tmp_path: Path, mlflow_store: tuple[Path, dict[str, Any]]
) -> None:
    store = tmp_path / "mlruns"
    shutil.copytree(mlflow_store[0], store)
    ok("import", "mlflow", str(store))
    refs = git(repo, "for-each-ref", "refs/gittrack/")
    ok("import", "mlflow", str(store))
    assert git(repo, "for-each-ref", "refs/gittrack/") == refs  # nothing moved
    # In MLflow meanwhile: version 2 went to Production, the model lost a tag, @prod moved.
    meta = store / "models" / "reg" / "version-2" / "meta.yaml"
    meta.write_text(meta.read_text().replace("current_stage: Staging", "current_stage: Production"))
    (store / "models" / "reg" / "tags" / "owner").unlink()
    (store / "models" / "reg" / "aliases" / "prod").write_text("2")
    logged_model = next(store.glob("*/models/m-*"))  # and a logged model got a tag
    (logged_model / "tags" / "reviewed").write_text("yes")
    ok("import", "mlflow", str(store))
    runs = open_repository(create=False)
    assert logged.get(runs, logged_model.name).tags["reviewed"] == "yes"
    assert registry.get_version(runs, "reg", 2).stage == "Production"
    model = registry.get_model(runs, "reg")
    assert (model.tags, model.aliases) == ({}, {"prod": 2, "été": 2, "1st": 1})
    assert [e.version for e in registry.alias_history(runs, "reg", "prod")] == [2, 1]


def test_a_model_without_its_run_is_reported_and_its_versions_skipped(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mlflow_store: tuple[Path, dict[str, Any]],
) -> None:
    store = tmp_path / "mlruns"
    shutil.copytree(mlflow_store[0], store)
    meta = next(store.glob("*/models/m-*/meta.yaml"))
    model_id = meta.parent.name
    meta.write_text(meta.read_text().replace("source_run_id:", "source_run_id: null\nold_run:"))
    with pytest.raises(SystemExit) as exc:
        main(["import", "mlflow", str(store)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert f"skipped logged model {model_id}: " in err and "no source run" in err
    assert f"its logged model {model_id} was not imported" in err
    assert "Traceback" not in err
    runs = open_repository(create=False)
    assert len(registry.list_versions(runs, "reg")) == 1  # the other version came
