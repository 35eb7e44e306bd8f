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
from conftest import fsck
from mlflow_peer import MAKE_STORE, MLFLOW, READ_ALL, run_mlflow

import gittrack

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)

# What MLflow's client reads of the registry and of MLflow 3's logged models (with the
# sha256 of every file a version or a logged model downloads).
READ_REGISTRY = r"""
import mlflow, tempfile
def files(local):
    out = {}
    for top, _, names in os.walk(local):
        for name in names:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, local).replace(os.sep, "/")
            with open(path, "rb") as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out

def dump_registry(uri):
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    out = {"registered": {}, "logged": {}, "outputs": {}}
    for m in client.search_registered_models():
        versions = {}
        for v in client.search_model_versions(f"name = '{m.name}'"):
            with tempfile.TemporaryDirectory() as tmp:
                uri_v = f"models:/{m.name}/{v.version}"
                local = mlflow.artifacts.download_artifacts(uri_v, dst_path=tmp)
                got = files(local)
            versions[v.version] = {
                "run_id": v.run_id, "source": v.source, "stage": v.current_stage,
                "description": v.description, "tags": v.tags, "created": v.creation_timestamp,
                "updated": v.last_updated_timestamp, "user_id": v.user_id,
                "model_id": v.model_id, "status": v.status, "aliases": sorted(v.aliases),
                "files": got,
            }
        out["registered"][m.name] = {
            "description": m.description, "tags": m.tags, "aliases": m.aliases,
            "created": m.creation_timestamp, "updated": m.last_updated_timestamp,
            "versions": versions,
        }
    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    for lm in client.search_logged_models(experiment_ids=ids):
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(f"models:/{lm.model_id}", dst_path=tmp)
            got = files(local)
        out["logged"][lm.model_id] = {
            "name": lm.name, "experiment_id": lm.experiment_id, "source_run_id": lm.source_run_id,
            "status": str(lm.status), "tags": lm.tags, "params": lm.params,
            "created": lm.creation_timestamp, "updated": lm.last_updated_timestamp,
            "files": got,
        }
        run = client.get_run(lm.source_run_id)
        out["outputs"][lm.source_run_id] = sorted(o.model_id for o in run.outputs.model_outputs)
    return out
"""

MAKE = (
    MAKE_STORE.rsplit("print(", 1)[0]
    + READ_REGISTRY
    + r"""
import numpy as np
from sklearn.linear_model import LinearRegression
mlflow.set_registry_uri(uri)
X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
model = LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
for name in ("trainer", "trainer 2"):
    with mlflow.start_run(experiment_id=eid, run_name=name):
        mlflow.log_param("alpha", 0.5)
        mlflow.sklearn.log_model(model, name="model", registered_model_name="reg")
client.update_registered_model("reg", description="the regressor ü")
client.set_registered_model_tag("reg", "owner", "team cv")
client.update_model_version("reg", "1", description="first one")
client.set_model_version_tag("reg", "1", "validated", "yes")
client.set_registered_model_alias("reg", "prod", "1")
client.transition_model_version_stage("reg", "2", "Staging")
client.create_registered_model("empty", tags={"k": "v"}, description="nothing yet")
print(json.dumps({"all": dump(uri), "registry": dump_registry(uri)}))
"""
)

READ = (
    READ_ALL
    + READ_REGISTRY
    + r"""
uri = "file://" + sys.argv[1]
print(json.dumps({"all": dump(uri), "registry": dump_registry(uri)}))
"""
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
    assert back["all"]["experiments"] == reference["all"]["experiments"]  # ids kept
    assert back["all"]["runs"] == reference["all"]["runs"]
    assert back["registry"] == reference["registry"]
    registered = reference["registry"]["registered"]
    assert registered["reg"]["versions"]["2"]["stage"] == "Staging"
    assert registered["reg"]["aliases"] == {"prod": "1"}
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
