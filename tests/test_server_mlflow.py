"""``gittrack server`` driven by the official ``mlflow`` client, unchanged.

MLflow runs in its own virtual environment (``benchmarks/.venvs/mlflow``) as a subprocess
with ``MLFLOW_TRACKING_URI`` pointing at a ``gittrack server`` started on a free port; what
it recorded is then read back through gittrack's own API and CLI, and C git checks the
repository. Skipped only when the MLflow venv is absent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fsck
from servers import GittrackServer

import gittrack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.envs import peer_env  # noqa: E402

MLFLOW = peer_env("mlflow", install=False)
pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)


def mlflow_script(server: GittrackServer, code: str, tmp: Path, **env: str) -> dict[str, object]:
    """Run ``code`` with the MLflow client against ``server``; its last stdout line is JSON."""
    script = tmp / "client_script.py"
    script.write_text(code)
    child_env = dict(os.environ)
    child_env.update(
        MLFLOW_TRACKING_URI=server.url,
        MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true",
        MLFLOW_ENABLE_ASYNC_LOGGING="false",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        **env,
    )
    proc = subprocess.run(
        [str(MLFLOW.python), str(script)],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=tmp,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + server.output()[-2000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


QUICKSTART = r"""
import json, os, tempfile
import mlflow
from mlflow import log_artifacts, log_metric, log_param

mlflow.set_experiment("quickstart")
with mlflow.start_run(run_name="first") as run:
    log_param("config_value", 3)
    mlflow.log_params({"lr": 0.01, "name": "ünï ☃"})
    log_metric("foo", 1.0)
    log_metric("foo", 2.0, step=1)
    log_metric("foo", 3.0, step=2)
    log_metric("accuracy 2", float("nan"))
    mlflow.set_tag("team", "vision")
    mlflow.log_metrics({"a": 1.5, "b": -2.0}, step=7)
    out = tempfile.mkdtemp()
    os.makedirs(os.path.join(out, "sub"))
    with open(os.path.join(out, "test.txt"), "w") as f:
        f.write("hello world!")
    open(os.path.join(out, "empty.txt"), "w").close()  # the client sends it chunked
    with open(os.path.join(out, "sub", "deep.bin"), "wb") as f:
        f.write(bytes(range(256)) * 400)
    log_artifacts(out)
    import numpy as np
    data = np.array([[1.0, 2.0]])
    dataset = mlflow.data.from_numpy(data, source="s3://b/train.csv", name="train")
    mlflow.log_input(dataset, context="training")
    run_id = run.info.run_id

client = mlflow.MlflowClient()
got = client.get_run(run_id)
history = client.get_metric_history(run_id, "foo")
listed = [(f.path, f.is_dir) for f in client.list_artifacts(run_id)]
path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="sub/deep.bin")
exp = client.get_experiment_by_name("quickstart")
print(json.dumps({
    "run_id": run_id,
    "experiment_id": exp.experiment_id,
    "status": got.info.status,
    "name": got.info.run_name,
    "params": got.data.params,
    "metrics": {k: str(v) for k, v in got.data.metrics.items()},
    "team": got.data.tags.get("team"),
    "history": [[m.step, m.value] for m in history],
    "listed": listed,
    "deep_ok": open(path, "rb").read() == bytes(range(256)) * 400,
    "artifact_uri": got.info.artifact_uri,
    "inputs": [[d.dataset.name, d.dataset.digest, d.dataset.source, d.tags[0].value]
               for d in got.inputs.dataset_inputs],
    "digest": dataset.digest,
}))
"""


def test_tracking_quickstart_records_an_ordinary_gittrack_run(repo: Path, tmp_path: Path) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, QUICKSTART, tmp_path)
    assert out["status"] == "FINISHED" and out["name"] == "first"
    assert out["params"] == {"config_value": "3", "lr": "0.01", "name": "ünï ☃"}
    assert out["metrics"] == {"foo": "3.0", "accuracy 2": "nan", "a": "1.5", "b": "-2.0"}
    assert out["team"] == "vision"
    assert out["history"] == [[0, 1.0], [1, 2.0], [2, 3.0]]
    listed = sorted(out["listed"])  # type: ignore[arg-type]
    assert listed == [["empty.txt", False], ["sub", True], ["test.txt", False]]
    assert out["deep_ok"] is True
    assert (
        out["artifact_uri"] == f"mlflow-artifacts:/{out['experiment_id']}/{out['run_id']}/artifacts"
    )

    # The same run through gittrack's own API: an ordinary run of the repository.
    client = gittrack.Client(repo)
    run = client.get_run(str(out["run_id"]))
    assert run.info.experiment == "quickstart" and run.info.status == "FINISHED"
    assert run.data.params["name"] == "ünï ☃"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "foo")] == [1.0, 2.0, 3.0]
    files = {f.path for f in client.list_artifacts(run.info.run_id, "sub")}
    assert files == {"sub/deep.bin"}
    assert [(i["name"], i["digest"]) for i in run_inputs(repo, run.info.run_id)] == [
        ("train", out["digest"])
    ]
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "gittrack"), "list", "--format", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert [r["run_id"] for r in json.loads(listing.stdout)] == [out["run_id"]]
    fsck(repo)


def run_inputs(repo: Path, run_id: str) -> list[dict[str, object]]:
    """The run's inputs as ``gittrack inputs --format json`` lists them."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "gittrack"), "inputs", run_id, "--format", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    found: list[dict[str, object]] = json.loads(proc.stdout)
    return found


SEARCH = r"""
import json, mlflow
client = mlflow.MlflowClient()
exp = client.get_experiment_by_name("sweep")
found = mlflow.search_runs(
    experiment_names=["sweep"],
    filter_string="metrics.acc > 0.5 and params.model = 'cnn'",
    order_by=["metrics.acc DESC"],
)
paged = client.search_runs([exp.experiment_id], max_results=2, order_by=["params.lr ASC"])
second = client.search_runs(
    [exp.experiment_id], max_results=2, order_by=["params.lr ASC"], page_token=paged.token
)
history = client.get_metric_history(found["run_id"][0], "acc")
print(json.dumps({
    "ids": list(found["run_id"]),
    "accs": list(found["metrics.acc"]),
    "pages": [[r.data.params["lr"] for r in paged], [r.data.params["lr"] for r in second]],
    "history": [[m.step, m.value] for m in history],
}))
"""


def test_runs_logged_by_gittrack_are_searched_by_the_mlflow_client(
    repo: Path, tmp_path: Path
) -> None:
    client = gittrack.Client(repo)
    ids = {}
    for lr, model, acc in [(1, "cnn", 0.9), (2, "cnn", 0.7), (3, "mlp", 0.95), (4, "cnn", 0.4)]:
        run = client.create_run("sweep", run_name=f"r{lr}")
        client.log_params(run.info.run_id, {"lr": f"0.{lr}", "model": model})
        for step in range(3):
            client.log_metric(run.info.run_id, "acc", acc - 0.1 * (2 - step), step=step)
        client.set_terminated(run.info.run_id)
        ids[lr] = run.info.run_id
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, SEARCH, tmp_path)
    assert out["ids"] == [ids[1], ids[2]]
    assert out["accs"] == pytest.approx([0.9, 0.7])
    assert out["pages"] == [["0.1", "0.2"], ["0.3", "0.4"]]
    assert out["history"] == [[0, pytest.approx(0.7)], [1, pytest.approx(0.8)], [2, 0.9]]


ERRORS = r"""
import json, mlflow
from mlflow.exceptions import MlflowException
client = mlflow.MlflowClient()
codes = {}
def code(name, call):
    try:
        call()
        codes[name] = "no error"
    except MlflowException as e:
        codes[name] = e.error_code
code("missing run", lambda: client.get_run("0" * 32))
code("missing experiment", lambda: client.get_experiment("12345"))
exp = client.create_experiment("dup")
code("duplicate experiment", lambda: client.create_experiment("dup"))
run = client.create_run(exp)
client.log_param(run.info.run_id, "p", "1")
code("param changed", lambda: client.log_param(run.info.run_id, "p", "2"))
code("bad metric", lambda: client.log_metric(run.info.run_id, "m/../x", 1.0))
code("bad filter", lambda: client.search_runs([exp], "metrics.x >>> 1"))
twice = [mlflow.entities.Param("q", "1"), mlflow.entities.Param("q", "2")]
code("param twice in a batch", lambda: client.log_batch(run.info.run_id, params=twice))
codes["params"] = client.get_run(run.info.run_id).data.params
client.delete_run(run.info.run_id)
code("write to a deleted run", lambda: client.log_metric(run.info.run_id, "late", 1.0))
client.restore_run(run.info.run_id)
code("write to a restored run", lambda: client.log_metric(run.info.run_id, "late", 1.0))
print(json.dumps(codes))
"""


def test_errors_reach_the_mlflow_client_as_the_exceptions_it_knows(
    repo: Path, tmp_path: Path
) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, ERRORS, tmp_path)
        log = server.output()
    assert out == {
        "missing run": "RESOURCE_DOES_NOT_EXIST",
        "missing experiment": "RESOURCE_DOES_NOT_EXIST",
        "duplicate experiment": "RESOURCE_ALREADY_EXISTS",
        "param changed": "INVALID_PARAMETER_VALUE",
        "bad metric": "INVALID_PARAMETER_VALUE",
        "bad filter": "INVALID_PARAMETER_VALUE",
        "param twice in a batch": "INVALID_PARAMETER_VALUE",  # as MLflow: no value kept
        "params": {"p": "1"},
        "write to a deleted run": "INVALID_PARAMETER_VALUE",  # as MLflow
        "write to a restored run": "no error",
    }
    assert "Traceback" not in log


def test_the_mlflow_client_authenticates_with_a_token(repo: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    code = 'import json, mlflow\nprint(json.dumps({"n": len(mlflow.search_experiments())}))\n'
    with GittrackServer(repo, "--quiet", "--token-file", str(token)) as server:
        assert mlflow_script(server, code, tmp_path, MLFLOW_TRACKING_TOKEN="s3cret-token") == {
            "n": 1
        }
        refused = code.replace("print(", "print(") + ""
        script = tmp_path / "refused.py"
        script.write_text(refused)
        env = dict(os.environ, MLFLOW_TRACKING_URI=server.url, MLFLOW_TRACKING_TOKEN="wrong")
        env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
        proc = subprocess.run(
            [str(MLFLOW.python), str(script)], capture_output=True, text=True, env=env, timeout=120
        )
    assert proc.returncode != 0
    assert "401" in proc.stderr or "UNAUTHENTICATED" in proc.stderr


SKLEARN = r"""
import json
import mlflow, mlflow.sklearn, numpy as np
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0], [4.0, 4.0]])
mlflow.set_experiment("models")
with mlflow.start_run() as run:
    model = LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
    mlflow.log_param("fit_intercept", True)
    info = mlflow.sklearn.log_model(
        model, name="model", registered_model_name="churn", input_example=X[:2]
    )
client = mlflow.MlflowClient()
client.set_registered_model_alias("churn", "prod", "1")
client.set_model_version_tag("churn", "1", "validated", "yes")
client.set_registered_model_tag("churn", "team", "risk")
codes = []
for call in (
    lambda: client.create_registered_model("churn"),
    lambda: client.get_model_version("churn", "7"),
    lambda: client.get_registered_model("absent"),
    lambda: client.create_registered_model("fraud:v1"),
):
    try:
        call()
    except MlflowException as e:
        codes.append(e.error_code)
loaded = mlflow.pyfunc.load_model("models:/churn/1")
by_alias = mlflow.pyfunc.load_model("models:/churn@prod")
mv = client.get_model_version_by_alias("churn", "prod")
# A name MLflow allows and git refs could not hold as it is.
spaced = mlflow.register_model(info.model_uri, "Fraud Detector")
client.set_registered_model_alias("Fraud Detector", "champion", spaced.version)
spaced_pred = mlflow.pyfunc.load_model("models:/Fraud Detector@champion").predict(X[:2])
print(json.dumps({
    "run_id": run.info.run_id,
    "model_id": info.model_id,
    "pred": loaded.predict(X[:2]).tolist(),
    "pred_alias": by_alias.predict(X[:2]).tolist(),
    "alias_version": mv.version,
    "version_tags": client.get_model_version("churn", "1").tags,
    "model_tags": client.get_registered_model("churn").tags,
    "latest": [v.version for v in client.get_latest_versions("churn")],
    "searched": [v.version for v in client.search_model_versions("name='churn'")],
    "logged": [m.model_id for m in mlflow.search_logged_models(output_format="list")],
    "codes": codes,
    "spaced": [spaced.version, client.get_registered_model("Fraud Detector").name],
    "spaced_pred": spaced_pred.tolist(),
    "names": sorted(m.name for m in client.search_registered_models()),
}))
"""


def test_sklearn_log_model_registers_and_loads_through_the_server(
    repo: Path, tmp_path: Path
) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, SKLEARN, tmp_path)
    assert out["pred"] == pytest.approx([4.0, 7.0]) and out["pred_alias"] == out["pred"]
    assert out["alias_version"] == "1" and out["latest"] == ["1"] and out["searched"] == ["1"]
    assert out["version_tags"] == {"validated": "yes"} and out["model_tags"] == {"team": "risk"}
    assert out["logged"] == [out["model_id"]]
    assert out["codes"] == [
        "RESOURCE_ALREADY_EXISTS",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE",
    ]
    assert out["spaced"] == ["1", "Fraud Detector"] and out["spaced_pred"] == out["pred"]
    assert out["names"] == ["Fraud Detector", "churn"]
    # gittrack's own registry sees the version, its alias and the run that logged it.
    from gittrack.models import registry
    from gittrack.session import open_repository

    runs = open_repository(repo, create=False)
    mv = registry.get_version(runs, "churn", 1)
    assert mv.run_id == out["run_id"] and mv.model_id == out["model_id"]
    assert registry.get_alias(runs, "churn", "prod").version == 1
    assert registry.get_alias(runs, "Fraud Detector", "champion").version == 1
    files = {f.path for f in gittrack.Client(repo).list_artifacts(mv.run_id, mv.artifact_path)}
    assert f"{mv.artifact_path}/MLmodel" in files
    fsck(repo)


DATASETS = r"""
import json, mlflow, pandas as pd
df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "ü"]})
dataset = mlflow.data.from_pandas(df, source="s3://b/iris.csv", name="iris (train) ☃")
with mlflow.start_run() as run:
    mlflow.log_input(dataset, context="training", tags={"split": "train"})
got = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs[0]
flt = "dataset.context = 'training'"
found = mlflow.search_runs(search_all_experiments=True, filter_string=flt)
every = mlflow.search_runs(search_all_experiments=True, output_format="list")
print(json.dumps({
    "name": got.dataset.name,
    "schema": got.dataset.schema == json.dumps({"mlflow_colspec": dataset.schema.to_dict()}),
    "profile": json.loads(got.dataset.profile),
    "tags": sorted([t.key, t.value] for t in got.tags),
    "found": list(found["run_id"]) == [run.info.run_id],
    "inputs": {
        r.info.run_id: [[d.dataset.to_dictionary(), d.to_dictionary()["tags"]]
                        for d in r.inputs.dataset_inputs]
        for r in every
    },
}))
"""


def test_a_logged_dataset_reads_back_as_the_mlflow_client_sent_it(
    repo: Path, tmp_path: Path
) -> None:
    """Any dataset name; its schema, profile and tags kept beside the context. The MLflow
    client and gittrack's ``run.inputs`` read the same datasets, a table logged with
    gittrack (unicode name, column and context) among them."""
    import pyarrow as pa

    with gittrack.start_run() as own:
        gittrack.log_input(pa.table({"größe": [1.5]}), name="ünï train", context="tëst ☃")
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, DATASETS, tmp_path)
    assert out["name"] == "iris (train) ☃" and out["found"] is True
    assert out["schema"] is True and out["profile"] == {"num_rows": 3, "num_elements": 6}
    assert out["tags"] == [["mlflow.data.context", "training"], ["split", "train"]]
    seen = out["inputs"]
    assert isinstance(seen, dict) and own.info.run_id in seen and len(seen) == 2
    for run_id, datasets in seen.items():
        mine = gittrack.get_run(run_id).inputs.dataset_inputs
        assert datasets == [
            [dataclasses.asdict(d.dataset), {t.key: t.value for t in d.tags}] for d in mine
        ]
    assert seen[own.info.run_id][0][1] == {"mlflow.data.context": "tëst ☃"}


EXPERIMENTS = r"""
import json, mlflow
from mlflow.exceptions import MlflowException
client = mlflow.MlflowClient()
ids = [client.create_experiment(name) for name in ("a", "b", "c")]
by_id = sorted(["0", *ids], key=int, reverse=True)
out = {
    "by_id": [e.experiment_id for e in client.search_experiments(order_by=["experiment_id DESC"])]
    == by_id,
    "in": sorted(
        e.name for e in client.search_experiments(filter_string=f"experiment_id IN ('{ids[1]}')")
    ),
}
def code(call):
    try:
        call()
        return "no error"
    except MlflowException as e:
        return [e.error_code, e.get_http_status_code()]
client.delete_experiment(ids[0])
out["run in deleted"] = code(lambda: client.create_run(ids[0]))
out["deleted twice"] = code(lambda: client.delete_experiment(ids[0]))
out["restore active"] = code(lambda: client.restore_experiment(ids[1]))
print(json.dumps(out))
"""


def test_experiments_are_searched_and_kept_as_mlflow_does(repo: Path, tmp_path: Path) -> None:
    with GittrackServer(repo, "--quiet") as server:
        out = mlflow_script(server, EXPERIMENTS, tmp_path)
    assert out == {
        "by_id": True,
        "in": ["b"],
        "run in deleted": ["INVALID_PARAMETER_VALUE", 400],
        "deleted twice": ["RESOURCE_DOES_NOT_EXIST", 404],
        "restore active": ["RESOURCE_DOES_NOT_EXIST", 404],
    }
