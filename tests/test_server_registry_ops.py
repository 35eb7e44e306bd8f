"""What MLflow's client calls beyond logging and registering, through ``gittrack server``:
stage transitions, renaming a registered model, a run's model outputs, renaming an
experiment (its id kept)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fsck
from servers import GittrackServer
from test_server_mlflow import MLFLOW, mlflow_script

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)

SCRIPT = r"""
import json, warnings
import numpy as np
import mlflow
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

warnings.simplefilter("ignore")  # stages are deprecated in MLflow, still called
X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
mlflow.set_experiment("registry ops")
model = LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
ids = []
for _ in range(2):
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="churn")
        ids.append([run.info.run_id, info.model_id])
client = mlflow.MlflowClient()
client.create_registered_model("taken")
first = client.transition_model_version_stage("churn", "1", "Production")
second = client.transition_model_version_stage(
    "churn", "2", "production", archive_existing_versions=True
)
stages = {v.version: v.current_stage for v in client.search_model_versions("name='churn'")}
latest = {v.version: v.current_stage for v in client.get_latest_versions("churn")}
prod = [v.version for v in client.get_latest_versions("churn", stages=["Production"])]
client.set_registered_model_alias("churn", "prod", "2")
client.rename_registered_model("churn", "churn-v2")
renamed = client.get_registered_model("churn-v2")
codes = []
for call in (
    lambda: client.get_registered_model("churn"),
    lambda: client.rename_registered_model("churn-v2", "taken"),
    lambda: client.transition_model_version_stage("churn-v2", "1", "Live"),
):
    try:
        call()
    except MlflowException as e:
        codes.append(e.error_code)
loaded = mlflow.pyfunc.load_model("models:/churn-v2@prod")
print(json.dumps({
    "ids": ids,
    "first": first.current_stage,
    "second": second.current_stage,
    "stages": stages,
    "latest": latest,
    "prod": prod,
    "renamed": [renamed.name, renamed.aliases],
    "versions": [
        [v.name, v.version, v.current_stage, v.run_id]
        for v in client.search_model_versions("name='churn-v2'")
    ],
    "codes": codes,
    "pred": loaded.predict(X[:1]).tolist(),
    "outputs": [
        [o.model_id for o in client.get_run(run_id).outputs.model_outputs] for run_id, _ in ids
    ],
}))
"""


def test_stages_rename_and_run_outputs_through_the_mlflow_client(
    repo: Path, tmp_path: Path
) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, SCRIPT, tmp_path)
    (run1, model1), (run2, model2) = out["ids"]  # type: ignore[misc]
    assert (out["first"], out["second"]) == ("Production", "Production")
    assert out["stages"] == {"1": "Archived", "2": "Production"}
    assert out["latest"] == {"1": "Archived", "2": "Production"}
    assert out["prod"] == ["2"]
    assert out["renamed"] == ["churn-v2", {"prod": "2"}]
    assert sorted(out["versions"]) == [  # type: ignore[type-var]
        ["churn-v2", "1", "Archived", run1],
        ["churn-v2", "2", "Production", run2],
    ]
    assert out["codes"] == [
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "INVALID_PARAMETER_VALUE",
    ]
    assert out["pred"] == pytest.approx([4.0])
    assert out["outputs"] == [[model1], [model2]]
    from gittrack.models import registry
    from gittrack.session import open_repository

    runs = open_repository(repo, create=False)
    assert [v.stage for v in registry.list_versions(runs, "churn-v2")] == ["Archived", "Production"]
    fsck(repo)


RENAME = r"""
import json
import mlflow
from mlflow.exceptions import MlflowException

client = mlflow.MlflowClient()
eid = client.create_experiment("before", tags={"team": "cv"})
with mlflow.start_run(experiment_id=eid) as run:
    mlflow.log_metric("m", 1.0)
client.create_experiment("taken")
client.rename_experiment(eid, "after")
exp = client.get_experiment(eid)
codes = []
for call in (
    lambda: client.get_experiment_by_name("before").name,
    lambda: client.rename_experiment(eid, "taken"),
):
    try:
        codes.append(call())
    except (MlflowException, AttributeError) as e:
        codes.append(getattr(e, "error_code", "none"))
mlflow.set_experiment(experiment_id=eid)
with mlflow.start_run() as later:
    mlflow.log_param("p", "1")
found = client.search_runs([eid])
print(json.dumps({
    "eid": eid,
    "exp": [exp.experiment_id, exp.name, exp.tags],
    "by_name": client.get_experiment_by_name("after").experiment_id,
    "codes": codes,
    "runs": sorted([r.info.run_id, r.info.experiment_id] for r in found),
    "ids": sorted([run.info.run_id, later.info.run_id]),
}))
"""


def test_renaming_an_experiment_keeps_its_id_and_its_runs(repo: Path, tmp_path: Path) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, RENAME, tmp_path)
    eid = out["eid"]
    assert out["exp"] == [eid, "after", {"team": "cv"}]
    assert out["by_name"] == eid
    assert out["codes"] == ["none", "RESOURCE_ALREADY_EXISTS"]
    assert out["runs"] == [[rid, eid] for rid in out["ids"]]  # type: ignore[union-attr]
    import gittrack

    client = gittrack.Client(repo)
    assert {client.get_run(rid).info.experiment for rid in out["ids"]} == {"after"}  # type: ignore[union-attr]
    fsck(repo)


# An MLflow script's start: a run logging a model directory at artifact path "model"
A_LOGGED_MODEL = r"""
import json, os, mlflow
from mlflow.exceptions import MlflowException
client = mlflow.MlflowClient()
with mlflow.start_run() as run:
    os.makedirs("model", exist_ok=True)
    open("model/MLmodel", "w").write("flavors: {}\n")
    mlflow.log_artifacts("model", "model")
"""

REGISTRY_SEARCH = (
    A_LOGGED_MODEL
    + r"""
for name in ("churn", "fraud", "churn"):
    mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
client.set_model_version_tag("churn", "2", "stage", "prod")
client.delete_model_version_tag("churn", "2", "absent")  # no error, as MLflow
client.delete_registered_model_tag("churn", "absent")
client.delete_registered_model_alias("churn", "absent")
client.set_registered_model_alias("churn", "prod", "2")
try:
    client.get_model_version_by_alias("churn", "absent")
except MlflowException as e:
    missing_alias = e.error_code
like = "name LIKE 'c%'"
def versions(text):
    return sorted([v.name, v.version] for v in client.search_model_versions(text))
out = {
    "models": sorted(m.name for m in client.search_registered_models()),
    "models_like": [m.name for m in mlflow.search_registered_models(filter_string=like)],
    "number": versions("name = 'churn' and version_number = 2"),
    "at_least": versions("version_number >= 2"),
    "in": versions("name IN ('fraud', 'other')"),
    "tag": versions("tags.`stage` = 'prod'"),
    "by_number": [
        [v.name, v.version]
        for v in client.search_model_versions(order_by=["version_number ASC", "name DESC"])
    ],
    "touched_first": [[v.name, v.version] for v in client.search_model_versions()][0],
    "by_name": [[v.name, v.version] for v in client.search_model_versions(order_by=["name"])],
    "models_desc": [m.name for m in client.search_registered_models(order_by=["name DESC"])],
    "missing_alias": missing_alias,
}
copied = client.copy_model_version("models:/churn@prod", "churn-copy")  # alias set above
files = os.listdir(mlflow.artifacts.download_artifacts("models:/churn-copy/1"))
out["copied"] = [copied.version, copied.run_id == run.info.run_id, "MLmodel" in files]
print(json.dumps(out))
"""
)


def test_registry_searches_take_the_filters_mlflows_client_sends(
    repo: Path, tmp_path: Path
) -> None:
    """The client adds ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every registered
    model search; version numbers compare as numbers; IN lists and quoted keys parse;
    order_by is MLflow's (versions: last changed first by default); deleting a tag or an
    alias that is not there is no error."""
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, REGISTRY_SEARCH, tmp_path)
    assert out == {
        "models": ["churn", "fraud"],
        "models_like": ["churn"],
        "number": [["churn", "2"]],
        "at_least": [["churn", "2"]],
        "in": [["fraud", "1"]],
        "tag": [["churn", "2"]],
        "by_number": [["fraud", "1"], ["churn", "1"], ["churn", "2"]],
        "touched_first": ["churn", "2"],
        "by_name": [["churn", "2"], ["churn", "1"], ["fraud", "1"]],  # newest version first
        "models_desc": ["fraud", "churn"],
        "missing_alias": "INVALID_PARAMETER_VALUE",  # as MLflow
        "copied": ["1", True, True],
    }


ALIASES = (
    A_LOGGED_MODEL
    + r"""
for _ in range(2):
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "churn")
for alias in ("1st", "été", "_shadow", "a-b_c"):
    client.set_registered_model_alias("churn", alias, "1")
client.set_registered_model_alias("churn", "été", "2")
by_alias = {
    a: client.get_model_version_by_alias("churn", a).version for a in ("1st", "été", "_shadow")
}
by_alias["latest"] = client.get_model_version_by_alias("churn", "latest").version
client.delete_registered_model_alias("churn", "_shadow")
refused = []
for bad in ("v3", "latest"):
    try:
        client.set_registered_model_alias("churn", bad, "1")
    except MlflowException as e:
        refused.append([bad, e.error_code])
files = os.listdir(mlflow.artifacts.download_artifacts("models:/churn@été"))
print(json.dumps({
    "aliases": client.get_registered_model("churn").aliases,
    "by_alias": by_alias,
    "version_aliases": sorted(client.get_model_version("churn", "1").aliases),
    "refused": refused,
    "loaded": "MLmodel" in files,
}))
"""
)


def test_aliases_mlflow_accepts_through_the_mlflow_client(repo: Path, tmp_path: Path) -> None:
    """Aliases with a leading digit or '_', accents: set, read, removed and resolved in a
    ``models:/NAME@ALIAS`` URI by MLflow's client; reserved ones refused as MLflow does."""
    from gittrack.models import registry
    from gittrack.session import open_repository

    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, ALIASES, tmp_path)
    assert out == {
        "aliases": {"1st": "1", "a-b_c": "1", "été": "2"},
        "by_alias": {"1st": "1", "été": "2", "_shadow": "1", "latest": "2"},
        "version_aliases": ["1st", "a-b_c"],
        "refused": [["v3", "INVALID_PARAMETER_VALUE"], ["latest", "INVALID_PARAMETER_VALUE"]],
        "loaded": True,
    }
    runs = open_repository(repo, create=False)
    assert [e.version for e in registry.alias_history(runs, "churn", "_shadow")] == [None, 1]
    fsck(repo)
