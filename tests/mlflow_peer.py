"""Driving the real ``mlflow`` package (its own venv) from tests: make stores, read them.

Every script runs in ``benchmarks/.venvs/mlflow`` as a subprocess and prints one JSON
document on its last line; :data:`MLFLOW` tells whether that interpreter is installed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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

def files(local):  # {relative path: sha256} of every file below a downloaded folder
    out = {}
    for top, _, names in os.walk(local):
        for name in names:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, local).replace(os.sep, "/")
            with open(path, "rb") as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out

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
            with tempfile.TemporaryDirectory() as tmp:
                artifacts = files(client.download_artifacts(info.run_id, "", tmp))
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

# A store (file store or server, by tracking URI) with what an import must carry:
# experiment tags, a deleted experiment, every status, a deleted run, a nested run, keys
# with '/', NaN and infinities, a long history, unicode, artifacts in folders (one above
# the inline size), a dataset input.
MAKE_STORE = (
    READ_ALL
    + r"""
import pandas as pd
uri, work = sys.argv[1], sys.argv[2]
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


# What MLflow's client reads of the registry and of MLflow 3's logged models (with the
# sha256 of every file a version or a logged model downloads).
READ_REGISTRY = r"""

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

MAKE_REGISTRY = (
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
client.set_registered_model_alias("reg", "été", "2")  # aliases MLflow accepts beyond ASCII
client.set_registered_model_alias("reg", "1st", "1")
client.transition_model_version_stage("reg", "2", "Staging")
client.create_registered_model("Modèle vide", tags={"k": "v"}, description="nothing yet")
print(json.dumps({"all": dump(uri), "registry": dump_registry(uri)}))
"""
)

READ_STORE = (
    READ_ALL
    + READ_REGISTRY
    + r"""
uri = "file://" + sys.argv[1]
print(json.dumps({"all": dump(uri), "registry": dump_registry(uri)}))
"""
)


def differences(got: Any, want: Any, at: str = "") -> list[str]:
    """Where two JSON documents differ (paths and both values), for readable failures."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for key in sorted(set(got) | set(want), key=str):
            if key not in got or key not in want:
                out.append(
                    f"{at}/{key}: {got.get(key, '<absent>')!r} != {want.get(key, '<absent>')!r}"
                )
            else:
                out += differences(got[key], want[key], f"{at}/{key}")
        return out
    return [] if got == want else [f"{at}: {got!r} != {want!r}"]


def registry_as_compared(docs: tuple[Any, ...], *, aliases_as_text: bool = False) -> None:
    """Make dumps of MLflow's stores compare where the stores only say things differently:
    a version's ``""`` user or description is None, a version's aliases are left out (a
    version search omits them; the model's own aliases name the versions), and with
    ``aliases_as_text`` the model's aliases name versions as text."""
    for doc in docs:
        for model in doc["registry"]["registered"].values():
            if aliases_as_text:
                model["aliases"] = {k: str(v) for k, v in model["aliases"].items()}
            for version in model["versions"].values():
                version.pop("aliases")
                for key in ("user_id", "description"):
                    version[key] = version[key] or None


def mlflow_accepts(validators: list[str], values: list[str]) -> dict[str, bool]:
    """``{value: accepted}`` by MLflow's own validators (names in ``mlflow.utils.validation``,
    each called on the value; accepted when none raises)."""
    code = (
        "import json, sys\n"
        f"from mlflow.utils.validation import {', '.join(validators)}\n"
        "ok = []\n"
        "for value in json.loads(sys.stdin.read()):\n"
        "    try:\n"
        f"        for check in ({', '.join(validators)},):\n"
        "            check(value)\n"
        "        ok.append(True)\n"
        "    except Exception:\n"
        "        ok.append(False)\n"
        "print(json.dumps(ok))\n"
    )
    proc = subprocess.run(
        [str(MLFLOW.python), "-c", code],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(zip(values, json.loads(proc.stdout.splitlines()[-1]), strict=True))


def mlflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow >= 3.13 refuses file stores otherwise
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_mlflow(
    script: str, *args: str, timeout: float = 240, env: dict[str, str] | None = None
) -> Any:
    """Run ``script`` in MLflow's interpreter (``env`` added to its environment); return
    the JSON of its last output line."""
    proc = subprocess.run(
        [str(MLFLOW.python), "-c", script, *args],
        capture_output=True,
        text=True,
        env={**mlflow_env(), **(env or {})},
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """A real ``mlflow server`` on sqlite, on 127.0.0.1, artifacts proxied (MLflow's
    default); yields its URL and stops it by pid (its process group) afterwards."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from servers import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(workdir / "mlflow-server.log", "wb")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        [
            str(MLFLOW.bin / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination",
            str(workdir / "mlartifacts"),
            "--workers",
            "1",
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=mlflow_env(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise AssertionError(
                    "mlflow server did not start: "
                    + (workdir / "mlflow-server.log").read_text(errors="replace")[-3000:]
                )
            try:
                proc.wait(timeout=0.2)  # the poll interval, and "did it die?"
            except subprocess.TimeoutExpired:
                pass
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
        log.close()


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_import(repo: Path, summary: dict[str, Any], reference: dict[str, Any]) -> None:
    """Every field gittrack holds after importing a MAKE_STORE (or MAKE_REGISTRY) store
    equals what MLflow's client read from it (``reference``, from READ_ALL); ``summary``
    is the import's JSON."""
    import hashlib

    import gittrack
    from gittrack import experiments
    from gittrack.artifacts.client_api import artifacts_of
    from gittrack.models import logged
    from gittrack.session import open_repository

    _value = float  # MLflow's repr: 'nan', 'inf', '-inf' parse back
    exps = reference["experiments"]
    live = reference["runs"]  # deleted runs come too, deleted (as delete_run leaves them)
    deleted = [
        rid
        for rid, r in live.items()
        if "deleted" in (r["lifecycle_stage"], exps[r["experiment_id"]]["lifecycle_stage"])
    ]
    assert summary["new"] == len(live)
    assert summary["deleted"] == len(deleted) == 2 and summary["deleted_not_imported"] == 0
    assert summary["skipped"] == []
    assert summary["points"] == sum(len(h) for r in live.values() for h in r["histories"].values())
    client = gittrack.Client()
    repo_runs = open_repository(create=False)
    store_artifacts = artifacts_of(repo_runs)
    models = logged.list_logged_models(repo_runs)
    for eid, exp in exps.items():
        mine = experiments.get_by_name(repo_runs, exp["name"])
        assert mine is not None and mine.lifecycle_stage == exp["lifecycle_stage"]
        assert mine.tags == {**exp["tags"], "gittrack.mlflow.experiment_id": eid}
    for run_id, expected in live.items():
        run = client.get_run(run_id)
        info = run.info
        assert (info.run_id, info.run_name, info.experiment, info.lifecycle_stage) == (
            run_id,
            expected["name"],
            expected["experiment"],
            expected["lifecycle_stage"],
        )
        assert (info.status, info.start_time, info.end_time, info.user_id) == (
            expected["status"],
            expected["start_time"],
            expected["end_time"],
            expected["user_id"],
        )
        assert run.data.params == expected["params"]  # MLflow's strings, exactly
        assert run.data.tags == expected["tags"], (run.data.tags, expected["tags"])
        assert set(run.data.metrics) == set(expected["metrics"])
        for key, points in expected["histories"].items():
            got = client.get_metric_history(run_id, key)
            assert [(m.timestamp, m.step) for m in got] == [(p[0], p[1]) for p in points]
            assert all(_same(m.value, _value(p[2])) for m, p in zip(got, points, strict=True))
            assert _same(run.data.metrics[key], _value(expected["metrics"][key]))
        # A logged model's files are artifacts of its run in gittrack, not in MLflow 3.
        homes = tuple(f"{m.artifact_path}/" for m in models if m.run_id == run_id)
        manifest = {
            p: e for p, e in store_artifacts.manifest(run_id).items() if not p.startswith(homes)
        }
        assert {p: e.sha256 for p, e in manifest.items()} == expected["artifacts"]
        for path in manifest:
            data = client.download_artifacts(run_id, path, str(repo.parent / "dl" / run_id))
            digest = hashlib.sha256(Path(data).read_bytes()).hexdigest()
            assert digest == expected["artifacts"][path]
        inputs = client.get_run(run_id)  # inputs through the library's run reader
        recorded = open_repository(create=False).load(run_id).record.inputs
        assert [
            {
                "name": i["name"],
                "digest": i["mlflow"]["digest"],
                "source_type": i["mlflow"]["source_type"],
                "source": i["mlflow"]["source"],
                "schema": i["mlflow"].get("schema"),
                "profile": i["mlflow"].get("profile"),
                "tags": i["mlflow"].get("tags", {}),
            }
            for i in recorded
        ] == expected["inputs"]
        assert inputs.info.run_id == run_id
    first = next(rid for rid, r in live.items() if r["name"] == "first")
    child = next(rid for rid, r in live.items() if r["name"] == "child")
    assert client.get_run(child).info.parent_run_id == first
    assert [i["context"] for i in open_repository(create=False).load(first).record.inputs] == [
        "training"
    ]
