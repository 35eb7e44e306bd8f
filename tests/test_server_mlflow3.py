"""What MLflow 3 users call today, through ``gittrack server``, answered as MLflow's own
``mlflow server`` answers it: registry aliases and copies, logged models and the metrics
linked to them, the active model, artifact listings of a run that logged a model."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fsck
from servers import GittrackServer
from test_server_mlflow import MLFLOW, mlflow_script

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)

ALIASES = r"""
import json
import numpy as np
import mlflow
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
mlflow.set_experiment("aliases")
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(LinearRegression().fit(X, X[:, 0]), name="model")
client = mlflow.MlflowClient()
first = mlflow.register_model(f"runs:/{run.info.run_id}/model", "reg-a")
second = mlflow.register_model(info.model_uri, "reg-a", tags={"k": "v"})
client.set_registered_model_alias("reg-a", "champ", second.version)
by_alias = client.get_model_version_by_alias("reg-a", "champ")
pred = mlflow.pyfunc.load_model("models:/reg-a@champ").predict(X).round(3).tolist()
copied = client.copy_model_version("models:/reg-a@champ", "reg-b")
tagged = [(v.name, v.version) for v in client.search_model_versions("tags.k = 'v'")]
client.delete_model_version("reg-a", second.version)
left = [v.version for v in client.search_model_versions("name = 'reg-a'")]
try:
    client.get_model_version_by_alias("reg-a", "champ")
    gone = None
except MlflowException as e:
    gone = e.error_code
print(json.dumps({
    "versions": [first.version, second.version],
    "by_alias": [by_alias.version, list(by_alias.aliases)],
    "pred": pred,
    "copied": [copied.name, copied.version, copied.run_id == run.info.run_id],
    "copy_loads": mlflow.pyfunc.load_model("models:/reg-b/1").predict(X).round(3).tolist(),
    "tagged": sorted(tagged),
    "left": left,
    "aliases_left": client.get_registered_model("reg-a").aliases,
    "gone": gone,
}))
"""


def test_deleting_an_aliased_version_drops_its_alias_as_mlflow_does(
    repo: Path, tmp_path: Path
) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, ALIASES, tmp_path)
    assert out["versions"] == ["1", "2"]
    assert out["by_alias"] == ["2", ["champ"]]
    assert out["pred"] == [1.0, 2.0, 3.0]
    assert out["copied"] == ["reg-b", "1", True] and out["copy_loads"] == [1.0, 2.0, 3.0]
    assert out["tagged"] == [["reg-a", "2"], ["reg-b", "1"]]
    # MLflow's registry deletes the version and the aliases naming it.
    assert out["left"] == ["1"] and out["aliases_left"] == {}
    assert out["gone"] == "INVALID_PARAMETER_VALUE"
    fsck(repo)
