"""Driving the real ``mlflow`` package (its own venv) from tests: make stores, read them.

Every script runs in ``benchmarks/.venvs/mlflow`` as a subprocess and prints one JSON
document on its last line; :data:`MLFLOW` tells whether that interpreter is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks.envs import peer_env  # noqa: E402

MLFLOW = peer_env("mlflow", install=False)

# What MLflow's client reads back from a tracking URI, for every run (deleted included):
# the reference each gittrack import is compared with.
READ_ALL = r"""
import hashlib, json, os, sys, tempfile
import mlflow
from mlflow import MlflowClient
from mlflow.entities import ViewType

def dump(uri):
    client = MlflowClient(tracking_uri=uri)
    out = {"experiments": {}, "runs": {}}
    for exp in client.search_experiments(view_type=ViewType.ALL):
        out["experiments"][exp.experiment_id] = {
            "name": exp.name, "lifecycle_stage": exp.lifecycle_stage, "tags": exp.tags,
        }
        for run in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL):
            info, data = run.info, run.data
            histories = {}
            for key in data.metrics:
                histories[key] = [
                    [m.timestamp, m.step, repr(m.value)]
                    for m in client.get_metric_history(info.run_id, key)
                ]
            artifacts = {}
            with tempfile.TemporaryDirectory() as tmp:
                local = client.download_artifacts(info.run_id, "", tmp)
                for top, _, files in os.walk(local):
                    for name in files:
                        path = os.path.join(top, name)
                        rel = os.path.relpath(path, local).replace(os.sep, "/")
                        with open(path, "rb") as f:
                            artifacts[rel] = hashlib.sha256(f.read()).hexdigest()
            out["runs"][info.run_id] = {
                "experiment_id": info.experiment_id,
                "experiment": exp.name,
                "name": info.run_name,
                "status": info.status,
                "start_time": info.start_time,
                "end_time": info.end_time,
                "user_id": info.user_id,
                "lifecycle_stage": info.lifecycle_stage,
                "params": data.params,
                "tags": data.tags,
                "metrics": {k: repr(v) for k, v in data.metrics.items()},
                "histories": histories,
                "inputs": [
                    {
                        "name": d.dataset.name, "digest": d.dataset.digest,
                        "source_type": d.dataset.source_type, "source": d.dataset.source,
                        "schema": d.dataset.schema, "profile": d.dataset.profile,
                        "tags": {t.key: t.value for t in d.tags},
                    }
                    for d in run.inputs.dataset_inputs
                ],
                "artifacts": artifacts,
            }
    return out
"""

# A file store with what an import must carry: experiment tags, a deleted experiment,
# every status, a deleted run, a nested run, keys with '/', NaN and infinities, a long
# history, unicode, artifacts in folders (one above the inline size), a dataset input.
MAKE_FILE_STORE = (
    READ_ALL
    + r"""
import pandas as pd
root, work = sys.argv[1], sys.argv[2]
uri = "file://" + root
mlflow.set_tracking_uri(uri)
client = MlflowClient()
eid = client.create_experiment("vision α", tags={"team": "cv", "note": "héllo wörld"})
with mlflow.start_run(experiment_id=eid, run_name="first") as run:
    mlflow.log_params({"lr": 0.1, "layers": 3, "optimizer": "adam ü", "flag": True})
    mlflow.set_tags({"stage": "dev", "emoji": "🚀"})
    for i in range(300):
        mlflow.log_metric("loss/train", 1.0 / (i + 1), step=i)
    mlflow.log_metric("acc", float("nan"), step=0)
    mlflow.log_metric("acc", float("inf"), step=1)
    mlflow.log_metric("acc", float("-inf"), step=2)
    mlflow.log_metric("acc", 0.5, step=2)
    os.makedirs(os.path.join(work, "art", "sub"), exist_ok=True)
    with open(os.path.join(work, "art", "sub", "a.txt"), "w") as f:
        f.write("hello")
    with open(os.path.join(work, "art", "big.bin"), "wb") as f:
        f.write(os.urandom(100_000))
    mlflow.log_artifacts(os.path.join(work, "art"), "outputs")
    mlflow.log_text("top level", "notes.txt")
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 0.25, 0.125]})
    mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
    with mlflow.start_run(run_name="child", nested=True):
        mlflow.log_metric("x", 1.0)
failed = client.create_run("0", run_name="failed one")
client.log_param(failed.info.run_id, "p", "1")
client.set_terminated(failed.info.run_id, "FAILED")
killed = client.create_run("0", run_name="killed")
client.set_terminated(killed.info.run_id, "KILLED")
client.create_run("0", run_name="still running")
gone = client.create_run("0", run_name="gone")
client.set_terminated(gone.info.run_id)
client.delete_run(gone.info.run_id)
old = client.create_experiment("old")
old_run = client.create_run(old, run_name="in deleted experiment")
client.set_terminated(old_run.info.run_id)
client.delete_experiment(old)
print(json.dumps(dump(uri)))
"""
)


def mlflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow >= 3.13 refuses file stores otherwise
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_mlflow(script: str, *args: str, timeout: float = 240) -> Any:
    """Run ``script`` in MLflow's interpreter; return the JSON of its last output line."""
    proc = subprocess.run(
        [str(MLFLOW.python), "-c", script, *args],
        capture_output=True,
        text=True,
        env=mlflow_env(),
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
