"""``gittrack export mlflow DEST``: MLflow's own client reads back what gittrack holds."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import ok
from mlflow_peer import MLFLOW, READ_ALL, run_mlflow

import gittrack
from gittrack.lineage.inputs import record_dataset

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)
sklearn_linear = pytest.importorskip("sklearn.linear_model")

READ_BACK = (
    READ_ALL
    + r"""
import numpy as np
root = sys.argv[1]
uri = "file://" + root
mlflow.set_tracking_uri(uri)
out = dump(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
models = {}
for model in client.search_registered_models():
    versions = client.search_model_versions(f"name = '{model.name}'")
    models[model.name] = {
        "aliases": dict(model.aliases),
        "versions": sorted([int(v.version), v.run_id] for v in versions),
    }
    alias = next(iter(model.aliases))
    loaded = mlflow.pyfunc.load_model(f"models:/{model.name}@{alias}")
    models[model.name]["prediction"] = np.asarray(
        loaded.predict(np.array([[1.0, 2.0]]))
    ).tolist()
out["models"] = models
print(json.dumps(out))
"""
)


# The fields of an MLflow dataset as `mlflow.log_input(mlflow.data.from_pandas(...))` sends them.
SENT = {
    "name": "iris ☃",
    "digest": "38d51200",
    "source_type": "code",
    "source": json.dumps({"tags": {"mlflow.user": "me"}}),
    "schema": json.dumps({"mlflow_colspec": [{"type": "double", "name": "a", "required": True}]}),
    "profile": json.dumps({"num_rows": 60, "num_elements": 180}),
}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.fixture
def tracked(repo: Path) -> dict[str, str]:
    client = gittrack.Client()
    client.create_experiment("vision α", tags={"team": "cv"})
    ids = {}
    for i, name in enumerate(["one", "two"]):
        run = client.create_run("vision α" if i == 0 else None, run_name=name)
        rid = run.info.run_id
        client.log_params(rid, {"lr": 0.1 * (i + 1), "deep": bool(i), "opt": "adam ü"})
        for step in range(20):
            client.log_metric(rid, "loss/train", 1.0 / (step + 1), step=step)
        client.log_metric(rid, "odd", float("nan"), step=0)
        client.log_metric(rid, "odd", float("-inf"), step=1)
        client.set_tag(rid, "note", "héllo")
        (repo / "a.txt").write_text("small")
        client.log_artifact(rid, str(repo / "a.txt"), "dir/sub")
        (repo / "big.bin").write_bytes(bytes(range(256)) * 400)
        client.log_artifact(rid, str(repo / "big.bin"))
        client.log_input(rid, str(repo / "a.txt"), name="data", context="train")
        if i:  # a dataset an MLflow client logged through gittrack server
            record_dataset(client, rid, context="eval", tags={"split": "test"}, **SENT)
        client.set_terminated(rid, "FINISHED" if i else "FAILED")
        ids[name] = rid
    X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
    model = sklearn_linear.LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
    with gittrack.start_run(run_name="trainer") as run:
        gittrack.sklearn.log_model(model, name="model", registered_model_name="reg")
        ids["trainer"] = run.info.run_id
    gittrack.set_model_alias("reg", "prod", 1)
    return ids


def test_mlflow_reads_back_every_run_and_the_registry(
    repo: Path, tmp_path: Path, tracked: dict[str, str]
) -> None:
    dest = tmp_path / "mlruns"
    summary = json.loads(ok("export", "mlflow", str(dest), "--format", "json"))
    assert (summary["runs"], summary["models"], summary["versions"]) == (3, 1, 1)
    # gittrack.sklearn pickles by default; MLflow 3 loads pickles only when told to.
    read = run_mlflow(READ_BACK, str(dest), env={"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"})
    client = gittrack.Client()
    assert set(read["runs"]) == set(tracked.values())
    for run_id, got in read["runs"].items():
        run = client.get_run(run_id)
        assert (got["name"], got["status"], got["start_time"], got["end_time"]) == (
            run.info.run_name,
            run.info.status,
            run.info.start_time,
            run.info.end_time,
        )
        assert got["experiment"] == run.info.experiment and got["user_id"] == run.info.user_id
        assert got["params"] == {
            k: v if isinstance(v, str) else str(v) for k, v in run.data.params.items()
        }
        assert got["tags"] == run.data.tags  # MLflow's system tags included
        for key, points in got["histories"].items():
            mine = client.get_metric_history(run_id, key)
            assert [(p[0], p[1]) for p in points] == [(m.timestamp, m.step) for m in mine]
            assert all(_same(float(p[2]), m.value) for p, m in zip(points, mine, strict=True))
        assert set(got["histories"]) == set(run.data.metrics)
        manifest = {
            f.path: hashlib.sha256(
                Path(
                    client.download_artifacts(run_id, f.path, str(tmp_path / "dl" / run_id))
                ).read_bytes()
            ).hexdigest()
            for f in _files(client, run_id)
        }
        assert got["artifacts"] == manifest
    one = read["runs"][tracked["one"]]
    assert one["experiment"] == "vision α"
    assert [(i["name"], i["tags"]) for i in one["inputs"]] == [
        ("data", {"mlflow.data.context": "train"})
    ]
    # It was exported as a local file with its source wrapped again, no schema, profile
    # nor tags: now as the client sent it.
    two = {i["name"]: i for i in read["runs"][tracked["two"]]["inputs"]}
    assert two[SENT["name"]] == {
        **SENT,
        "tags": {"mlflow.data.context": "eval", "split": "test"},
    }
    exp = next(e for e in read["experiments"].values() if e["name"] == "vision α")
    assert exp["tags"]["team"] == "cv"
    assert read["models"]["reg"]["aliases"] == {"prod": "1"}
    assert read["models"]["reg"]["versions"] == [[1, tracked["trainer"]]]
    np.testing.assert_allclose(read["models"]["reg"]["prediction"], [4.0], atol=1e-9)


def _files(client: gittrack.Client, run_id: str, path: str = "") -> list[Any]:
    out = []
    for info in client.list_artifacts(run_id, path or None):
        out += _files(client, run_id, info.path) if info.is_dir else [info]
    return out
