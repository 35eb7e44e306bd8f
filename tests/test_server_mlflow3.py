"""What MLflow 3 users call today, through ``gittrack server``, answered as MLflow's own
``mlflow server`` answers it: registry aliases and copies, logged models and the metrics
linked to them, the active model, artifact listings of a run that logged a model."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fsck
from servers import GittrackServer
from test_server_mlflow import MLFLOW, mlflow_script

import gittrack

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

def names(text, order_by=None, datasets=None):
    found = mlflow.search_logged_models(
        experiment_ids=[exp], filter_string=text, order_by=order_by, datasets=datasets,
        output_format="list",
    )
    return [m.name for m in found] if order_by else sorted(m.name for m in found)

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
    "on_datasets": [
        names("metrics.mse < 1", datasets=[{"dataset_name": "eval"}]),
        names("metrics.r2 > 0", datasets=[{"dataset_name": "eval"}]),  # r2: on no dataset
        names(None, datasets=[{"dataset_name": "eval", "dataset_digest": dataset.digest}]),
        names(None, datasets=[{"dataset_name": "other"}]),
    ],
    "orders": [
        names(None, [{"field_name": "metrics.mse", "ascending": True}]),
        names(None, [{"field_name": "metrics.mse", "ascending": False}]),
        names(None, [{"field_name": "metrics.r2", "ascending": False}]),  # lacking: last
        names(None, [{"field_name": "metrics.mse", "dataset_name": "eval"}]),
        names(None, [{"field_name": "name", "ascending": True}]),
        names(None, [{"field_name": "creation_time", "ascending": True}]),
    ],
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
    assert out["on_datasets"] == [["lr"], [], ["lr"], []]
    assert out["orders"] == [
        ["lr", "other"],
        ["other", "lr"],
        ["lr", "other"],
        ["lr", "other"],
        ["lr", "other"],
        ["lr", "other"],
    ]
    fsck(repo)


LISTINGS = r"""
import json, os
import numpy as np
import mlflow
from sklearn.linear_model import LinearRegression

X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
mlflow.set_experiment("listings")
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(LinearRegression().fit(X, X[:, 0]), name="model")
    mlflow.log_text("ü ☃", "notes/deep/t.txt")
rid = run.info.run_id
client = mlflow.MlflowClient()
downloaded = sorted(os.listdir(mlflow.artifacts.download_artifacts(f"runs:/{rid}/model")))
version = mlflow.register_model(f"runs:/{rid}/model", "listed")
print(json.dumps({
    "root": sorted(f.path for f in client.list_artifacts(rid)),
    "model": [f.path for f in client.list_artifacts(rid, "model")],
    "nested": [[f.path, f.is_dir] for f in client.list_artifacts(rid, "notes")],
    "of_model": sorted(f.path for f in client.list_logged_model_artifacts(info.model_id)),
    "downloaded": downloaded,
    "text": mlflow.artifacts.load_text(f"runs:/{rid}/notes/deep/t.txt"),
    "source": version.source == f"models:/{info.model_id}",
    "loaded": mlflow.pyfunc.load_model("models:/listed/1").predict(X).round(3).tolist(),
    "run_id": rid,
    "searched": [
        [o.model_id == info.model_id for o in r.outputs.model_outputs]
        for r in mlflow.search_runs(experiment_names=["listings"], output_format="list")
    ],
}))
"""


def test_a_run_that_logged_a_model_lists_each_file_once(repo: Path, tmp_path: Path) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, LISTINGS, tmp_path)
    files = [
        "MLmodel",
        "conda.yaml",
        "model.skops",
        "python_env.yaml",
        "requirements.txt",
    ]
    # MLflow 3's client lists the run's folder and the logged model of that name: the
    # model's files are listed under the model only, once, as MLflow's server does.
    assert out["root"] == ["notes"]
    assert out["model"] == [f"model/{f}" for f in files]
    assert out["of_model"] == files
    assert set(files) <= set(out["downloaded"])  # (MLflow's client may add its own files)
    assert out["nested"] == [["notes/deep", True]] and out["text"] == "ü ☃"
    assert out["source"] is True and out["loaded"] == [1.0, 2.0, 3.0]
    assert out["searched"] == [[True]]  # search_runs carries the model outputs, as get_run
    # gittrack's own view: the model's files are artifacts of its run.
    listed = gittrack.Client(repo).list_artifacts(str(out["run_id"]), "model")
    assert sorted(f.path for f in listed) == [f"model/{f}" for f in files]
    fsck(repo)


ACTIVE_MODEL = r"""
import json
import mlflow

exp = mlflow.set_experiment("active").experiment_id
active = mlflow.set_active_model(name="agent-v1")
again = mlflow.set_active_model(name="agent-v1")  # found by name, not created twice
with mlflow.start_run() as run:
    mlflow.log_metric("acc", 0.9)  # linked to the active model by the client
got = mlflow.get_logged_model(active.model_id)
found = mlflow.search_logged_models(experiment_ids=[exp], output_format="list")

@mlflow.trace  # traces are not served: the client warns and the function still runs
def add(x):
    return x + 1

traced = add(1)
try:
    mlflow.search_traces(return_type="list")
    trace_error = None
except mlflow.exceptions.MlflowException as e:
    trace_error = e.error_code
print(json.dumps({
    "same": again.model_id == active.model_id,
    "active": mlflow.get_active_model_id() == active.model_id,
    "model": [got.name, str(got.status), got.source_run_id, got.experiment_id == exp],
    "metrics": [[m.key, m.value, m.run_id == run.info.run_id] for m in got.metrics],
    "found": [m.model_id == active.model_id for m in found],
    "files": [
        [f.path, active.model_id in mlflow.artifacts.load_text(f"{got.artifact_location}/{f.path}")]
        for f in mlflow.MlflowClient().list_logged_model_artifacts(active.model_id)
    ],
    "run_metrics": mlflow.MlflowClient().get_run(run.info.run_id).data.metrics,
    "traced": [traced, trace_error],
}))
"""


def test_an_active_model_set_outside_a_run_collects_the_runs_metrics(
    repo: Path, tmp_path: Path
) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, ACTIVE_MODEL, tmp_path)
    assert out["same"] is True and out["active"] is True
    assert out["model"] == ["agent-v1", "READY", "", True]  # no run, as MLflow says it
    assert out["files"] == [["MLmodel", True]]  # the MLmodel its client wrote
    assert out["metrics"] == [["acc", 0.9, True]]
    assert out["found"] == [True]
    assert out["run_metrics"] == {"acc": 0.9}
    assert out["traced"] == [2, "ENDPOINT_NOT_FOUND"]
    fsck(repo)
