"""``import gittrack as mlflow``: MLflow's names, arguments and semantics.

The compatibility script at the bottom runs twice, unchanged but for the module it
imports: against gittrack here, and against the real ``mlflow`` package in its own
virtual environment (file store), and the two outputs are compared field by field.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, user_tags

import gittrack
from gittrack.entities import Metric, Param, RunTag, ViewType
from gittrack.errors import ParamConflictError, RepositoryError, ValidationError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.envs import peer_env  # noqa: E402

MLFLOW = peer_env("mlflow", install=False)
needs_mlflow = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)


def test_set_tracking_uri_selects_a_repository(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GITTRACK_REPO", "")  # restored after the test
    gittrack.set_tracking_uri("file:./mlruns")  # inside a git repository: that repository
    assert gittrack.get_tracking_uri() == str(repo)
    outside = tmp_path / "elsewhere" / "mlruns"
    with caplog.at_level(logging.WARNING, logger="gittrack"):
        gittrack.set_tracking_uri(outside.as_uri())  # outside git: a bare tracking repository
    assert os.environ["GITTRACK_REPO"] == str(outside)
    # chosen on purpose from inside a git repository: not 'not inside a git repository'
    assert not any("not inside a git repository" in r.getMessage() for r in caplog.records)
    with gittrack.start_run() as run:
        gittrack.log_param("a", 1)
    refs = git(outside, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/")
    assert refs.split() == [f"refs/gittrack/runs/{run.info.run_id}"]
    gittrack.set_tracking_uri(None)
    assert gittrack.get_tracking_uri() == str(repo)
    with pytest.raises(RepositoryError, match="use the official mlflow client"):
        gittrack.set_tracking_uri("http://127.0.0.1:5000")
    with pytest.raises(RepositoryError, match=r"'sqlite:///a\.db' is not supported"):
        gittrack.set_tracking_uri("sqlite:///a.db")


def test_set_tracking_uri_error_is_one_line_in_a_script(repo: Path) -> None:
    code = "import gittrack as mlflow; mlflow.set_tracking_uri('https://example.com')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "gittrack.errors.RepositoryError: tracking URI 'https://example.com' is a server" in (
        proc.stderr
    )


def test_log_batch_takes_mlflow_entities(repo: Path) -> None:
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("m", 1.5, 1000, 2)],
        params=[Param("p", 0.5)],
        tags=[RunTag("t", "x")],
        synchronous=True,
    )
    # synchronous=True: written to git before returning
    stored = git(repo, "show", f"refs/gittrack/runs/{rid}:.gittrack/run/params.yaml")
    assert stored.strip() == "p: 0.5"
    run = client.get_run(rid)
    assert (run.data.params, user_tags(run.data.tags), run.data.metrics) == (
        {"p": "0.5"},
        {"t": "x"},
        {"m": 1.5},
    )
    assert client.get_metric_history(rid, "m") == [Metric("m", 1.5, 1000, 2, rid)]
    with pytest.raises(ValidationError, match="list of Param"):
        client.log_batch(rid, params=[("p", 1)])


def test_log_batch_refuses_two_values_of_one_param(repo: Path) -> None:
    """A batch giving a param two values kept the last silently, though params are
    immutable; MLflow refuses the batch."""
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    with pytest.raises(ParamConflictError, match="'b' two values"):
        client.log_batch(rid, params=[Param("b", "1"), Param("b", "2")], tags={"t": "x"})
    client.log_batch(rid, params=[Param("c", 1), Param("c", "1")])  # one value, twice: fine
    run = client.get_run(rid)
    assert run.data.params == {"c": "1"} and "t" not in run.data.tags  # nothing logged


def test_fluent_arguments_in_mlflow_order(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with gittrack.start_run(None, None, "named", False, None, {"k": "v"}, "a note") as run:
        gittrack.log_metric("m", 2.0, 3, None, 1234)  # key, value, step, synchronous, timestamp
        gittrack.log_metrics({"n": 1.0}, 1, True)  # metrics, step, synchronous
        gittrack.log_params({"p": 1}, True)  # params, synchronous
        gittrack.set_tag("s", "1", True)
    other = gittrack.Client().create_run().info.run_id
    gittrack.log_metric("x", 1.0, run_id=other)
    gittrack.log_params({"q": "z"}, run_id=other)
    got = gittrack.get_run(run.info.run_id)
    assert got.info.run_name == "named" and got.info.experiment == "from-env"
    assert user_tags(got.data.tags) == {"k": "v", "mlflow.note.content": "a note", "s": "1"}
    got = gittrack.get_metric_history(run.info.run_id, "m")
    assert got == [Metric("m", 2.0, 1234, 3, run.info.run_id)]
    assert gittrack.get_run(other).data.params == {"q": "z"}
    assert gittrack.get_run(other).data.metrics == {"x": 1.0}


def test_delete_restore_and_parent_runs(repo: Path) -> None:
    with gittrack.start_run() as parent, gittrack.start_run(nested=True) as child:
        pass
    pid, cid = parent.info.run_id, child.info.run_id
    assert gittrack.get_parent_run(cid).info.run_id == pid  # type: ignore[union-attr]
    assert gittrack.get_parent_run(pid) is None
    gittrack.delete_run(cid)
    assert gittrack.get_run(cid).info.lifecycle_stage == "deleted"

    def ids(**kw: object) -> set[str]:
        return {r["run_id"] for r in gittrack.search_runs(output_format="rows", **kw)}  # type: ignore[arg-type]

    assert ids() == {pid}
    assert ids(run_view_type=ViewType.DELETED_ONLY) == {cid}
    assert ids(run_view_type=ViewType.ALL) == {pid, cid}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("gittrack")), "list", "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert [r["run_id"] for r in json.loads(proc.stdout)] == [pid]
    gittrack.Client().restore_run(cid)
    assert ids() == {pid, cid}
    exp = gittrack.get_run(pid).info.experiment_id
    assert ids(experiment_ids=[exp]) == {pid, cid}
    assert ids(experiment_ids=["12345"]) == set()


# -- the same script against gittrack and against MLflow ------------------------------------
COMPAT = r"""
import importlib, json, sys
mlflow = importlib.import_module(sys.argv[1])
entities = importlib.import_module(sys.argv[1] + ".entities")
Metric, Param, RunTag, ViewType = (
    entities.Metric, entities.Param, entities.RunTag, entities.ViewType
)
if sys.argv[1] == "mlflow":
    from mlflow import MlflowClient as Client
else:
    Client = mlflow.Client
out = {}
exp = mlflow.set_experiment("wine")
eid = mlflow.create_experiment("other", tags={"team": "a"})
out["experiment"] = [exp.name, exp.lifecycle_stage, exp.tags]
other = mlflow.get_experiment(eid)
out["other"] = [other.name, other.lifecycle_stage, other.tags, other.experiment_id == eid]
out["by_name"] = mlflow.get_experiment_by_name("other").experiment_id == eid
out["missing"] = mlflow.get_experiment_by_name("nope")
with mlflow.start_run(run_name="parent", description="note") as parent:
    mlflow.log_param("alpha", 0.5)
    mlflow.log_param("alpha", "0.5")
    mlflow.log_params({"flag": True, "n": 3, "none": None})
    for step in range(3):
        mlflow.log_metric("rmse", 1.0 / (step + 1), step=step, timestamp=1000 + step)
    mlflow.set_tags({"team": "a", "k": 1})
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("acc", 0.9)
client = Client()
extra = client.create_run(experiment_id=exp.experiment_id)
client.log_batch(extra.info.run_id, metrics=[Metric("m", 2.0, 5, 1)],
                 params=[Param("p", "x")], tags=[RunTag("t", "y")])
client.set_terminated(extra.info.run_id)
run = mlflow.get_run(parent.info.run_id)
out["params"] = run.data.params
out["metrics"] = run.data.metrics
out["user_tags"] = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
out["note"] = run.data.tags.get("mlflow.note.content")
out["info"] = [run.info.run_name, run.info.status, run.info.lifecycle_stage,
               run.info.experiment_id == exp.experiment_id]
out["history"] = [[m.key, m.value, m.timestamp, m.step]
                  for m in client.get_metric_history(parent.info.run_id, "rmse")]
out["parent_of_child"] = mlflow.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
out["parent_of_parent"] = mlflow.get_parent_run(parent.info.run_id)
batch = mlflow.get_run(extra.info.run_id)
out["batch"] = [batch.data.params, batch.data.metrics,
                {k: v for k, v in batch.data.tags.items() if not k.startswith("mlflow.")}]
def names(filter_string, **kw):
    df = mlflow.search_runs(experiment_ids=[exp.experiment_id], filter_string=filter_string,
                            output_format="pandas", **kw)
    return sorted(str(r) for r in df["run_id"].map(
        {parent.info.run_id: "parent", child.info.run_id: "child",
         extra.info.run_id: "extra"}))
out["search"] = {
    "all": names(""),
    "param_eq": names("params.alpha = '0.5'"),
    "param_like": names("params.flag LIKE 'Tr%'"),
    "metric": names("metrics.rmse < 0.5"),
    "tag": names("tags.team = 'a'"),
    "status": names("attributes.status = 'FINISHED'"),
    "none_param": names("params.none = 'None'"),
}
df = mlflow.search_runs(experiment_ids=[exp.experiment_id], output_format="pandas")
row = df[df["run_id"] == parent.info.run_id].iloc[0]
out["columns"] = sorted(c for c in ["run_id", "experiment_id", "status", "start_time",
                                    "end_time", "metrics.rmse", "params.alpha", "params.flag",
                                    "tags.team"] if c in df.columns)
out["row"] = [row["params.alpha"], row["params.flag"], row["params.n"], row["metrics.rmse"],
              row["tags.team"], row["status"], row["experiment_id"] == exp.experiment_id]
mlflow.delete_run(child.info.run_id)
out["after_delete"] = names("")
out["deleted_only"] = names("", run_view_type=ViewType.DELETED_ONLY)
client.restore_run(child.info.run_id)
out["restored"] = names("")
mlflow.delete_experiment(eid)
out["deleted_exp"] = mlflow.get_experiment(eid).lifecycle_stage
out["active_exps"] = sorted(e.name for e in mlflow.search_experiments())
out["deleted_exps"] = sorted(e.name for e in mlflow.search_experiments(
    view_type=ViewType.DELETED_ONLY))
out["filtered_exps"] = sorted(e.name for e in mlflow.search_experiments(
    filter_string="name LIKE 'w%'"))
try:
    mlflow.set_experiment("other")
    out["set_deleted"] = "allowed"
except Exception:
    out["set_deleted"] = "refused"
mlflow.set_experiment_tag("owner", "ann")
out["exp_tags"] = mlflow.get_experiment(exp.experiment_id).tags
print(json.dumps(out, sort_keys=True, default=str))
"""


def _run_script(script: str, module: str, python: str, cwd: Path, env: dict[str, str]) -> Any:
    """Run ``script`` importing ``module`` as a user runs a script file (MLflow takes
    mlflow.source.name and the git commit from it; with python -c it records no commit)."""
    (cwd / "compat.py").write_text(script)
    proc = subprocess.run(
        [python, "compat.py", module], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _compare_with_mlflow(script: str, repo: Path, tmp_path: Path) -> None:
    """The script's output under gittrack equals MLflow's (file store, in a git repository
    too), field by field."""
    ours = _run_script(script, "gittrack", sys.executable, repo, dict(os.environ))
    theirs_dir = tmp_path / "mlflow-side"
    theirs_dir.mkdir()
    git(theirs_dir, "init", "-q")
    git(theirs_dir, "commit", "-q", "--allow-empty", "-m", "code")
    env = dict(os.environ)
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    env["MLFLOW_TRACKING_URI"] = (theirs_dir / "mlruns").as_uri()
    theirs = _run_script(script, "mlflow", str(MLFLOW.python), theirs_dir, env)
    assert ours.keys() == theirs.keys()
    for key in theirs:  # field by field, so a difference names its field
        assert ours[key] == theirs[key], (key, ours[key], theirs[key])


def test_compat_script_runs_in_gittrack(repo: Path) -> None:
    got = _run_script(COMPAT, "gittrack", sys.executable, repo, dict(os.environ))
    assert got["params"] == {"alpha": "0.5", "flag": "True", "n": "3", "none": "None"}
    assert got["search"]["param_eq"] == ["parent"]  # type: ignore[index]


@needs_mlflow
def test_compat_script_gives_what_mlflow_gives(repo: Path, tmp_path: Path) -> None:
    _compare_with_mlflow(COMPAT, repo, tmp_path)


# -- MlflowClient, system tags, DataFrame, registry, tables, images, datasets -------------------
COMPAT_CLIENT = r"""
import importlib, io, json, os, subprocess, sys, tempfile
name = sys.argv[1]
mlflow = importlib.import_module(name)
ViewType = importlib.import_module(name + ".entities").ViewType
data = importlib.import_module(name + ".data")
infer_signature = importlib.import_module(name + ".models").infer_signature
MlflowClient = importlib.import_module(name + ".tracking").MlflowClient
import numpy as np
import pandas as pd
from PIL import Image
out = {"same_client": mlflow.MlflowClient is MlflowClient}
head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
exp = mlflow.set_experiment("tags")
eid = exp.experiment_id
with mlflow.start_run(run_name="outer", description="a note") as outer:
    with mlflow.start_run(run_name="inner", nested=True) as inner:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_metric("m", 1.0)
ids = {outer.info.run_id: "outer", inner.info.run_id: "inner"}
tags = mlflow.get_run(inner.info.run_id).data.tags
out["system_tags"] = {
    "runName": tags.get("mlflow.runName"),
    "parent": tags.get("mlflow.parentRunId") == outer.info.run_id,
    "user": tags.get("mlflow.user") == mlflow.get_run(inner.info.run_id).info.user_id,
    "source.name": tags.get("mlflow.source.name"),
    "source.type": tags.get("mlflow.source.type"),
    "git.commit": tags.get("mlflow.source.git.commit") == head,
    "note": mlflow.get_run(outer.info.run_id).data.tags.get("mlflow.note.content"),
}
def found(flt):
    df = mlflow.search_runs(experiment_ids=[eid], filter_string=flt)
    return sorted(ids[r] for r in df["run_id"])
out["tag_search"] = {
    "name": found("tags.mlflow.runName = 'inner'"),
    "parent": found(f"tags.mlflow.parentRunId = '{outer.info.run_id}'"),
    "type": found("tags.mlflow.source.type = 'LOCAL'"),
    "note": found("tags.`mlflow.note.content` LIKE 'a%'"),
}
df = mlflow.search_runs([eid])  # MLflow's positional order, DataFrame by default
out["frame"] = {
    "type": type(df).__name__,
    "columns": list(df.columns)[:6] + sorted(df.columns[6:]),  # tags: MLflow's order varies
    "dtypes": {c: str(df[c].dtype) for c in ["metrics.m", "params.alpha", "tags.mlflow.runName"]},
    "run_names": sorted(df["tags.mlflow.runName"]),
}
errors = {}
for op in ["=", "!=", "<", ">", "LIKE", "ILIKE"]:
    try:
        mlflow.search_runs([eid], f"params.alpha {op} 0.5")
        errors[op] = "accepted"
    except Exception:
        errors[op] = "refused"
out["number_against_param"] = errors
client = MlflowClient()
for i in range(3):
    r = client.create_run(eid, run_name=f"p{i}")
    client.log_param(r.info.run_id, "i", str(i))
    client.log_metric(r.info.run_id, "k", float(i))
page = client.search_runs([eid], "params.i != '0'", ViewType.ACTIVE_ONLY, 1, ["metrics.k DESC"])
nxt = client.search_runs([eid], "params.i != '0'", ViewType.ACTIVE_ONLY, 1, ["metrics.k DESC"],
                         page.token)
out["paged"] = [[r.info.run_name for r in page], page.token is not None,
                [r.info.run_name for r in nxt], type(page[0]).__name__]
out["by_name"] = client.get_experiment_by_name("tags").experiment_id == eid
with mlflow.start_run() as run:
    rid = run.info.run_id
    mlflow.log_text("flavors: {}\n", "m/MLmodel")
    mlflow.log_table({"q": ["a", "b"], "score": [0.5, 1.0]}, "eval/t.json")
    mlflow.log_table(pd.DataFrame({"q": ["c"], "score": [2.0]}), "eval/t.json")
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[0, 0] = [255, 0, 0]
    mlflow.log_image(pixels, "img/a.png")
    mlflow.log_image(Image.new("RGB", (300, 100)), key="dogs", step=2)
    ds = data.from_pandas(pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}), targets="y",
                          name="train")
    mlflow.log_input(ds, context="training")
with tempfile.TemporaryDirectory() as tmp:
    table = json.load(open(client.download_artifacts(rid, "eval/t.json", tmp)))
    image = Image.open(client.download_artifacts(rid, "img/a.png", tmp))
    out["image"] = [image.size, image.getpixel((0, 0))]
out["table"] = table
out["logged_tags"] = [json.loads(mlflow.get_run(rid).data.tags["mlflow.loggedArtifacts"]),
                      mlflow.get_run(rid).data.tags.get("mlflow.loggedImages")]
out["artifacts"] = [[f.path, f.is_dir] for f in client.list_artifacts(rid)]
steps = sorted((f.path for f in client.list_artifacts(rid, "images")), key=len)
out["stepped"] = [p.split("+")[:4] + [p.rsplit(".", 1)[-1]] for p in steps]
out["dataset"] = [ds.name, ds.profile, ds.targets]
out["dataset_search"] = [r == rid for r in mlflow.search_runs(
    [run.info.experiment_id], "datasets.name = 'train'")["run_id"]]
v1 = mlflow.register_model(f"runs:/{rid}/m", "churn")
v2 = mlflow.register_model(f"runs:/{rid}/m", "churn")
client.set_registered_model_alias("churn", "prod", "1")
mv = client.get_model_version_by_alias("churn", "prod")
out["alias"] = [mv.name, mv.version, mv.run_id == rid, mv.aliases, mv.current_stage]
out["latest"] = [v.version for v in client.get_latest_versions("churn")]
client.transition_model_version_stage("churn", "1", "Production")
out["stages"] = sorted([v.version, v.current_stage] for v in client.get_latest_versions("churn"))
out["versions"] = [[v.name, v.version, v.aliases]
                   for v in client.search_model_versions("name = 'churn'")]
client.delete_registered_model_alias("churn", "prod")
out["after_alias_delete"] = client.get_model_version("churn", "1").aliases
sig = infer_signature(pd.DataFrame({"a": [1.0], "b": ["x"]}), np.array([1.0]))
out["signature"] = [json.loads(sig.to_dict()["inputs"]), json.loads(sig.to_dict()["outputs"])]
print(json.dumps(out, sort_keys=True, default=str))
"""


def test_client_compat_script_runs_in_gittrack(repo: Path) -> None:
    got = _run_script(COMPAT_CLIENT, "gittrack", sys.executable, repo, dict(os.environ))
    assert got["system_tags"]["runName"] == "inner" and got["system_tags"]["git.commit"]
    assert got["system_tags"]["source.name"] == "compat.py"
    assert got["paged"][:3] == [["p2"], True, ["p1"]]
    assert got["number_against_param"] == dict.fromkeys(["=", "!=", "<", ">", "LIKE", "ILIKE"],
                                                        "refused")  # fmt: skip


@needs_mlflow
def test_client_compat_script_gives_what_mlflow_gives(repo: Path, tmp_path: Path) -> None:
    _compare_with_mlflow(COMPAT_CLIENT, repo, tmp_path)


def test_a_deleted_run_refuses_changes_as_mlflow_does_until_restored(
    repo: Path, tmp_path: Path
) -> None:
    """Logging to a run deleted with delete_run was accepted by the library (while
    ``gittrack server`` and MLflow refuse): every change now raises MLflow's error, the
    stored run is left as it was, and logging works again once the run is restored."""
    from gittrack.entities import Metric
    from gittrack.errors import RunNotActiveError

    client = gittrack.Client()
    with pytest.raises(RunNotActiveError), gittrack.start_run() as active:  # its end too
        gittrack.log_param("kept", 1)
        gittrack.log_metric("loss", 0.5)
        rid = active.info.run_id
        gittrack.delete_run(rid)
        before = client.get_run(rid)
        for attempt in [
            lambda: gittrack.log_metric("loss", 0.4),  # the fluent hot path
            lambda: gittrack.log_param("new", 2),
            lambda: gittrack.set_tag("t", "v"),
        ]:
            with pytest.raises(RunNotActiveError) as caught:
                attempt()
            assert caught.value.message.startswith(
                f"The run {rid} must be in the 'active' state. Current state is deleted."
            )
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    for attempt in [
        lambda: client.log_param(rid, "new", 2),
        lambda: client.log_params(rid, {"new": 2}),
        lambda: client.log_metric(rid, "loss", 0.1),
        lambda: client.log_metrics(rid, {"loss": 0.1}),
        lambda: client.log_batch(rid, metrics=[Metric("loss", 0.1, 1, 1)]),
        lambda: client.set_tag(rid, "t", "v"),
        lambda: client.delete_tag(rid, "t"),
        lambda: client.rename_run(rid, "other"),
        lambda: client.set_terminated(rid),
        lambda: client.update_run(rid, "RUNNING"),
        lambda: client.log_input(rid, str(data)),
        lambda: gittrack.start_run(run_id=rid),
    ]:
        with pytest.raises(RunNotActiveError):
            attempt()
    assert gittrack.active_run() is None
    after = client.get_run(rid)
    assert (after.info, after.data) == (before.info, before.data)
    assert after.info.status == "RUNNING" and after.info.lifecycle_stage == "deleted"
    client.log_artifact(rid, str(data))  # artifacts may still be logged, as in MLflow
    client.restore_run(rid)
    client.log_metric(rid, "loss", 0.1)
    client.set_terminated(rid)
    got = client.get_run(rid)
    assert got.data.metrics == {"loss": 0.1} and got.info.status == "FINISHED"
    assert got.data.params == {"kept": "1"}


# -- deleting an experiment: what its runs read as, MLflow's sqlite store the reference ---------
EXPERIMENT_LIFECYCLE = r"""
import importlib, json, os, sys
mlflow = importlib.import_module(sys.argv[1])
ViewType = importlib.import_module(sys.argv[1] + ".entities").ViewType
if sys.argv[1] == "mlflow":
    mlflow.set_tracking_uri("sqlite:///" + os.path.abspath("mlflow.db"))
client = mlflow.MlflowClient()
eid = client.create_experiment("gone")
kept = client.create_run(eid).info.run_id
alone = client.create_run(eid).info.run_id
client.delete_run(alone)
client.delete_experiment(eid)
names = {kept: "kept", alone: "alone"}
out = {"get_run": [client.get_run(r).info.lifecycle_stage for r in (kept, alone)]}
for view in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
    found = client.search_runs([eid], run_view_type=getattr(ViewType, view))
    out[view] = sorted((names[r.info.run_id], r.info.lifecycle_stage) for r in found)
try:
    client.log_param(kept, "p", 1)
    out["log_param"] = "accepted"
except Exception as e:
    out["log_param"] = str(e).replace(kept, "<id>").splitlines()[0].split(" (")[0]
client.restore_experiment(eid)
out["restored"] = [client.get_run(r).info.lifecycle_stage for r in (kept, alone)]
print(json.dumps(out))
"""


def test_runs_of_a_deleted_experiment_read_as_deleted_runs(repo: Path) -> None:
    """get_run of a run of a deleted experiment said "active" and logging to it was
    recorded; MLflow marks them deleted: they read as deleted now and refuse changes.
    restore_experiment keeps a run deleted on its own deleted (MLflow restores it too)."""
    got = _run_script(EXPERIMENT_LIFECYCLE, "gittrack", sys.executable, repo, dict(os.environ))
    assert got == {
        "get_run": ["deleted", "deleted"],
        "ACTIVE_ONLY": [],
        "DELETED_ONLY": [["alone", "deleted"], ["kept", "deleted"]],
        "ALL": [["alone", "deleted"], ["kept", "deleted"]],
        "log_param": "The run <id> must be in the 'active' state. Current state is deleted.",
        "restored": ["active", "deleted"],
    }


@needs_mlflow
def test_runs_of_a_deleted_experiment_read_as_mlflow_reads_them(repo: Path, tmp_path: Path) -> None:
    """The same script against MLflow's sqlite store: equal, but for restore_experiment,
    which in MLflow also brings back the runs deleted one by one before (docs/api.md)."""
    ours = _run_script(EXPERIMENT_LIFECYCLE, "gittrack", sys.executable, repo, dict(os.environ))
    theirs = _run_script(
        EXPERIMENT_LIFECYCLE, "mlflow", str(MLFLOW.python), tmp_path, dict(os.environ)
    )
    assert theirs.pop("restored") == ["active", "active"]
    assert ours.pop("restored") == ["active", "deleted"]
    assert ours == theirs


REGISTRY_CALLS = r"""
import importlib, json, os, sys
mlflow = importlib.import_module(sys.argv[1])
importlib.import_module(sys.argv[1] + ".sklearn")
if sys.argv[1] == "mlflow":
    mlflow.set_tracking_uri("sqlite:///" + os.path.abspath("mlflow.db"))
import numpy as np
from sklearn.linear_model import LinearRegression

X = np.arange(8.0).reshape(-1, 1)
client = mlflow.MlflowClient()
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(LinearRegression().fit(X, 2 * X[:, 0]), name="model")
client.create_registered_model("m")
v1 = client.create_model_version(
    "m", info.model_uri, run.info.run_id, tags={"a": "1"}, description="first"
)
v2 = client.create_model_version("m", info.model_uri, run.info.run_id)
out = {"created": [int(v1.version), int(v2.version), v1.description, v1.tags]}
client.update_registered_model("m", description="dé")
client.set_registered_model_tag("m", "team", "vision")
client.set_registered_model_tag("m", "gone", "x")
client.delete_registered_model_tag("m", "gone")
client.update_model_version("m", 1, description="changed")
client.set_model_version_tag("m", 1, "k", 3)
client.delete_model_version_tag("m", 1, "a")
client.set_registered_model_alias("m", "prod", 1)
client.set_registered_model_alias("m", "old", 2)
client.delete_model_version("m", 2)
out["left"] = sorted(int(v.version) for v in client.search_model_versions("name='m'"))
out["after_delete"] = int(client.create_model_version("m", info.model_uri, run.info.run_id).version)
mv = client.get_model_version("m", 1)
out["v1"] = [mv.description, mv.tags, list(mv.aliases)]
rm = client.get_registered_model("m")
out["model"] = [rm.description, rm.tags, {a: str(v) for a, v in rm.aliases.items()}]
copied = client.copy_model_version("models:/m/1", "copy")
out["copy"] = [copied.name, int(copied.version), copied.run_id == run.info.run_id]
client.rename_registered_model("copy", "copy2")  # MLflow's answers None, not the model
out["renamed"] = client.get_registered_model("copy2").name
client.delete_registered_model("copy2")
out["models"] = sorted(m.name for m in client.search_registered_models())
uri = client.get_model_version_download_uri("m", 1)
out["loads"] = round(float(mlflow.pyfunc.load_model(uri).predict(np.array([[3.0]]))[0]), 6)
print(json.dumps(out))
"""


def test_registry_calls_of_mlflows_client_answer_as_mlflows(repo: Path, tmp_path: Path) -> None:
    """MlflowClient had no create_model_version, update/rename/delete of registered models,
    version or model tags, copy_model_version or get_model_version_download_uri
    (AttributeError); the same script now gives what MLflow's sqlite store gives."""
    ours = _run_script(REGISTRY_CALLS, "gittrack", sys.executable, repo, dict(os.environ))
    assert ours == {
        "created": [1, 2, "first", {"a": "1"}],
        "left": [1],
        "after_delete": 3,
        "v1": ["changed", {"k": "3"}, ["prod"]],
        "model": ["dé", {"team": "vision"}, {"prod": "1"}],
        "copy": ["copy", 1, True],
        "renamed": "copy2",
        "models": ["m"],
        "loads": 6.0,
    }
    theirs = _run_script(REGISTRY_CALLS, "mlflow", str(MLFLOW.python), tmp_path, dict(os.environ))
    assert ours == theirs
