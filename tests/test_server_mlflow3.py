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


LOGGED_MODEL_METRICS = r"""
import json
import numpy as np
import pandas as pd
import mlflow
from sklearn.linear_model import LinearRegression

X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
exp = mlflow.set_experiment("logged models").experiment_id
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(
        LinearRegression().fit(X, X[:, 0]), name="lr", params={"alpha": "0.5"}
    )
    other = mlflow.sklearn.log_model(LinearRegression().fit(X, X[:, 1]), name="other")
    dataset = mlflow.data.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}), name="eval")
    mlflow.log_metric("mse", 0.25, step=1, model_id=info.model_id, dataset=dataset)
    mlflow.log_metrics({"r2": 0.9, "mae ü": float("nan")}, model_id=info.model_id)
    mlflow.log_metric("mse", 4.0, model_id=other.model_id)
mlflow.set_logged_model_tags(info.model_id, {"ü": "☃"})
got = mlflow.get_logged_model(info.model_id)

def names(text):
    found = mlflow.search_logged_models(
        experiment_ids=[exp], filter_string=text, output_format="list"
    )
    return sorted(m.name for m in found)

print(json.dumps({
    "metrics": sorted(
        [m.key, repr(m.value), m.step, m.run_id == run.info.run_id, m.model_id == info.model_id,
         m.dataset_name, m.dataset_digest == (dataset.digest if m.key == "mse" else None)]
        for m in got.metrics
    ),
    "run_metrics": sorted(mlflow.MlflowClient().get_run(run.info.run_id).data.metrics),
    "by_metric": names("metrics.mse < 1"),
    "by_metric_both": names("metrics.mse >= 0.25"),
    "by_param": names("params.alpha = '0.5'"),
    "by_tag_and_name": names("tags.`ü` = '☃' AND name = 'lr'"),
    "frame": list(mlflow.search_logged_models(experiment_ids=[exp])["name"]),
}))
"""


def test_metrics_logged_with_a_model_id_belong_to_that_logged_model(
    repo: Path, tmp_path: Path
) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, LOGGED_MODEL_METRICS, tmp_path)
    assert out["metrics"] == [
        ["mae ü", "nan", 0, True, True, None, True],
        ["mse", "0.25", 1, True, True, "eval", True],
        ["r2", "0.9", 0, True, True, None, True],
    ]
    assert out["run_metrics"] == ["mae ü", "mse", "r2"]  # the run has them too, as MLflow
    assert out["by_metric"] == ["lr"] and out["by_metric_both"] == ["lr", "other"]
    assert out["by_param"] == ["lr"] and out["by_tag_and_name"] == ["lr"]
    assert out["frame"] == ["other", "lr"]  # newest first
    fsck(repo)
