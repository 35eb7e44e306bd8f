"""``MlflowClient`` (MLflow's argument order and return types) and MLflow's system tags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import fails, ok
from conftest import DERIVED_TAGS, git

import gittrack
from gittrack.entities import Run, ViewType
from gittrack.errors import (
    FilterSyntaxError,
    ModelError,
    ModelNotFoundError,
    RepositoryError,
    ValidationError,
)
from gittrack.tracking import MlflowClient


def _model_run(client: MlflowClient, experiment_id: str = "0") -> str:
    """A run holding an ``m/MLmodel`` artifact, enough to register a version."""
    rid = client.create_run(experiment_id).info.run_id
    client.log_text(rid, "flavors: {}\n", "m/MLmodel")
    client.set_terminated(rid)
    return rid


def test_mlflow_client_is_importable_under_mlflow_names() -> None:
    assert gittrack.MlflowClient is MlflowClient
    code = "import sys, gittrack; print('gittrack.tracking' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # loaded on first use only


def test_search_runs_takes_mlflow_positional_order_and_pages(repo: Path) -> None:
    client = MlflowClient()
    eid = client.create_experiment("paged")
    ids = []
    for i in range(5):
        rid = client.create_run(eid, 1000 + i).info.run_id  # MLflow's order
        client.log_param(rid, "i", i)
        client.log_metric(rid, "m", float(i), 5, 2)  # timestamp, then step, as MLflow
        client.set_terminated(rid)
        ids.append(rid)
    client.create_run("0")  # in Default: not searched
    # experiment_ids, filter_string, run_view_type, max_results, order_by
    page = client.search_runs([eid], "params.i != '0'", ViewType.ACTIVE_ONLY, 3, ["metrics.m ASC"])
    assert all(isinstance(r, Run) for r in page)
    assert [r.info.run_id for r in page] == ids[1:4]
    assert page[0].data.params == {"i": "1"} and page[0].data.metrics == {"m": 1.0}
    assert client.get_metric_history(ids[1], "m")[0].timestamp == 5
    assert {r.info.status for r in page} == {"FINISHED"}
    assert page[0].data.tags["mlflow.runName"] == page[0].info.run_name
    assert page.token is not None
    rest = client.search_runs([eid], "params.i != '0'", max_results=3, order_by=["metrics.m ASC"],
                              page_token=page.token)  # fmt: skip
    assert [r.info.run_id for r in rest] == ids[4:] and rest.token is None
    assert [r.info.run_id for r in client.search_runs(eid)] == ids[::-1]  # newest first
    client.delete_run(ids[0])
    assert [r.info.run_id for r in client.search_runs([eid], "", ViewType.DELETED_ONLY)] == ids[:1]
    with pytest.raises(ValidationError, match="max_results"):
        client.search_runs([eid], max_results=0)
    with pytest.raises(ValidationError, match="page_token"):
        client.search_runs([eid], page_token="x")


def test_search_experiments_pages_as_mlflow(repo: Path) -> None:
    """MlflowClient.search_experiments took no page_token and answered a plain list, so
    MLflow code paging with `.token` failed. MLflow 3 pages [c, a] then [b, Default]."""
    client = MlflowClient()
    for name in ("b", "a", "c"):
        client.create_experiment(name)
    first = client.search_experiments(max_results=2)
    assert [e.name for e in first] == ["c", "a"] and first.token is not None
    second = client.search_experiments(max_results=2, page_token=first.token)
    assert [e.name for e in second] == ["b", "Default"] and second.token is None
    assert [e.name for e in client.search_experiments(filter_string="name = 'a'")] == ["a"]


def test_mlflow_client_tracking_uri(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "store"
    client = MlflowClient(elsewhere.as_uri())
    rid = client.create_run("0").info.run_id
    client.set_terminated(rid)
    refs = git(elsewhere, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/")
    assert refs.split() == [f"refs/gittrack/runs/{rid}"]
    assert MlflowClient(str(elsewhere), registry_uri=str(elsewhere)).repo == client.repo
    with pytest.raises(ValidationError, match="keeps the model registry in the tracking"):
        MlflowClient(str(elsewhere), registry_uri=str(repo))
    with pytest.raises(RepositoryError, match="use the official mlflow client"):
        MlflowClient("http://127.0.0.1:5000")


def test_client_reads_experiments_runs_and_artifacts(repo: Path) -> None:
    client = MlflowClient()
    eid = client.create_experiment("exp")
    assert client.get_experiment_by_name("exp").experiment_id == eid  # type: ignore[union-attr]
    assert client.get_experiment_by_name("nope") is None
    rid = _model_run(client, eid)
    client.log_text(rid, "hi", "top.txt")
    listed = [(f.path, f.is_dir) for f in client.list_artifacts(rid)]
    assert listed == [("m", True), ("top.txt", False)]
    assert [(f.path, f.file_size) for f in client.list_artifacts(rid, "m")] == [("m/MLmodel", 12)]
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"


def test_registry_calls(repo: Path) -> None:
    client = MlflowClient()
    r1, r2 = _model_run(client), _model_run(client)
    gittrack.register_model(f"runs:/{r1}/m", "churn")
    gittrack.register_model(f"runs:/{r2}/m", "churn")
    gittrack.register_model(f"runs:/{r2}/m", "other")
    client.set_registered_model_alias("churn", "prod", "1")
    mv = client.get_model_version_by_alias("churn", "prod")
    assert (mv.name, mv.version, mv.run_id, mv.aliases) == ("churn", 1, r1, ["prod"])
    assert mv.source == f"runs:/{r1}/m" and mv.current_stage == "None" and mv.status == "READY"
    assert client.get_model_version("churn", 2).aliases == []
    (latest,) = client.get_latest_versions("churn")
    assert latest.version == 2
    assert client.get_latest_versions("churn", stages=["None"]) == [latest]
    assert client.get_latest_versions("churn", stages=["Production"]) == []
    moved = client.transition_model_version_stage("churn", 1, "production")
    assert moved.current_stage == "Production"
    assert sorted((v.version, v.current_stage) for v in client.get_latest_versions("churn")) == [
        (1, "Production"),
        (2, "None"),
    ]
    found = client.search_model_versions("name = 'churn'")  # last changed first: the move
    assert [(v.name, v.version) for v in found] == [("churn", 1), ("churn", 2)]
    found = client.search_model_versions(f"run_id = '{r2}'", order_by=["name DESC"])
    assert [(v.name, v.version) for v in found] == [("other", 1), ("churn", 2)]
    paged = client.search_model_versions(max_results=2)
    assert len(paged) == 2 and paged.token == "2"
    assert len(client.search_model_versions(max_results=2, page_token=paged.token)) == 1
    model = client.get_registered_model("churn")  # MLflow's entity: aliases map to strings
    assert (model.name, model.aliases) == ("churn", {"prod": "1"})
    assert [(v.version, v.current_stage) for v in model.latest_versions] == [
        (1, "Production"),
        (2, "None"),
    ]
    made = client.create_registered_model("empty", tags={"team": "é"}, description="none yet")
    assert (made.name, made.tags, made.description, made.latest_versions) == (
        "empty",
        {"team": "é"},
        "none yet",
        [],
    )
    assert made.creation_timestamp > 0
    with pytest.raises(ModelError, match="already exists"):
        client.create_registered_model("empty")
    assert [m.name for m in client.search_registered_models()] == ["churn", "empty", "other"]
    assert [m.name for m in client.search_registered_models("name LIKE '%h%'")] == [
        "churn",
        "other",
    ]
    assert [m.name for m in client.search_registered_models("tags.team = 'é'")] == ["empty"]
    page = client.search_registered_models(max_results=2, order_by=["name DESC"])
    assert [m.name for m in page] == ["other", "empty"] and page.token == "2"
    with pytest.raises(ValidationError, match="invalid order_by"):
        client.search_registered_models(order_by=["version_number"])
    with pytest.raises(FilterSyntaxError):
        client.search_registered_models("name ~ 'x'")
    with pytest.raises(ModelNotFoundError):
        client.get_registered_model("nope")
    client.delete_registered_model_alias("churn", "prod")
    with pytest.raises(ModelNotFoundError, match="alias churn@prod was removed"):
        client.get_model_version_by_alias("churn", "prod")
    with pytest.raises(FilterSyntaxError, match="Invalid filter key 'bogus'"):
        client.search_model_versions("bogus = 'x'")
    with pytest.raises(ValidationError, match="invalid order_by term"):
        client.search_model_versions(order_by=["size ASC"])
    with pytest.raises(ModelNotFoundError):
        client.get_latest_versions("nope")


# -- MLflow's system tags ---------------------------------------------------------------------
SYSTEM = (*DERIVED_TAGS, "mlflow.note.content")


def test_system_tags_are_set_searchable_and_read_back_alike(repo: Path) -> None:
    script = repo / "train.py"
    script.write_text(
        "import gittrack as mlflow\n"
        "with mlflow.start_run(run_name='outer', description='first try') as p:\n"
        "    with mlflow.start_run(run_name='inner', nested=True) as c:\n"
        "        pass\n"
        "print(p.info.run_id, c.info.run_id)\n"
    )
    proc = subprocess.run([sys.executable, "train.py"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    pid, cid = proc.stdout.split()
    head = git(repo, "rev-parse", "HEAD").strip()
    child = gittrack.get_run(cid).data.tags
    assert {k: child.get(k) for k in SYSTEM} == {
        "mlflow.runName": "inner",
        "mlflow.parentRunId": pid,
        "mlflow.user": gittrack.get_run(cid).info.user_id,
        "mlflow.source.name": "train.py",
        "mlflow.source.type": "LOCAL",
        "mlflow.source.git.commit": head,
        "mlflow.source.git.branch": git(repo, "branch", "--show-current").strip() or None,
        "mlflow.note.content": None,
    }
    assert gittrack.get_run(pid).data.tags["mlflow.note.content"] == "first try"
    assert "mlflow.parentRunId" not in gittrack.get_run(pid).data.tags

    def found(flt: str) -> list[str]:
        return [r["run_id"] for r in gittrack.search_runs(filter_string=flt, output_format="rows")]

    assert found("tags.mlflow.runName = 'inner'") == [cid]
    assert found(f"tags.mlflow.parentRunId = '{pid}'") == [cid]
    assert sorted(found("tags.`mlflow.source.name` LIKE 'train%'")) == sorted([cid, pid])
    assert found("tags.mlflow.note.content ILIKE 'FIRST%'") == [pid]
    # one derivation for API, CLI list and CLI show
    listed = {d["run_id"]: d["tags"] for d in json.loads(ok("list", "-f", "json"))}
    shown = json.loads(ok("show", cid, "-f", "json"))
    assert listed[cid] == shown["tags"] == child
    # a rename is the tag, and setting the tag renames (as in MLflow)
    client = gittrack.Client()
    client.set_tag(cid, "mlflow.runName", "renamed")
    assert gittrack.get_run(cid).info.run_name == "renamed"
    assert found("tags.mlflow.runName = 'renamed'") == [cid]
    assert "mlflow.runName" not in git(
        repo, "show", f"refs/gittrack/runs/{cid}:.gittrack/run/tags.yaml", check=False
    )  # derived from run.yaml's name, not stored twice


def test_tags_given_by_an_mlflow_client_win_over_derived_ones(repo: Path) -> None:
    client = gittrack.Client()
    parent = client.create_run(run_name="p").info.run_id
    rid = client.create_run(
        tags={
            "mlflow.runName": "from-tag",
            "mlflow.parentRunId": parent,
            "mlflow.source.name": "/home/me/train.py",
            "mlflow.user": "me",
        }
    ).info.run_id
    run = gittrack.get_run(rid)
    assert run.info.run_name == "from-tag" and run.info.parent_run_id == parent
    assert run.data.tags["mlflow.source.name"] == "/home/me/train.py"
    assert run.data.tags["mlflow.user"] == "me"


def test_list_parent_and_show_children(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with gittrack.start_run(run_name="sweep") as parent:
        for i in range(2):
            with gittrack.start_run(run_name=f"trial-{i}", nested=True):
                pass
    with gittrack.start_run(run_name="alone"):
        pass
    pid = parent.info.run_id
    kids = json.loads(ok("list", "--parent", "sweep", "-f", "json"))
    assert sorted(d["name"] for d in kids) == ["trial-0", "trial-1"]
    out = ok("list", "--parent", pid[:10], "--filter", "attributes.run_name = 'trial-0'")
    assert "trial-0" in out and "trial-1" not in out
    assert len(json.loads(ok("show", "sweep", "-f", "json"))["children"]) == 2
    text = ok("show", "sweep")
    assert text.index("children") < min(text.index("trial-0"), text.index("trial-1"))
    assert json.loads(ok("show", "alone", "-f", "json"))["children"] == []
    assert "children" not in ok("show", "alone")
    err = fails(capsys, "list", "--parent", "no-such-run")
    assert "no-such-run" in err


def test_version_calls_by_stage_and_their_errors(repo: Path) -> None:
    """MlflowClient's version calls take a version or a stage, as MLflow's; a source
    that names no logged model, both or neither of version and stage, an empty stage and
    an unregistered name are each one clear error, and change nothing."""
    client = MlflowClient()
    rid = _model_run(client)
    client.create_registered_model("m")
    assert client.create_model_version("m", "m", run_id=rid).source == "m"  # a path in run_id
    client.transition_model_version_stage("m", 1, "Staging")
    client.set_model_version_tag("m", stage="Staging", key="k", value=1)
    assert client.get_model_version("m", 1).tags == {"k": "1"}
    client.delete_model_version_tag("m", stage="Staging", key="k")
    client.delete_model_version_tag("m", version=1, key="k")  # gone already: nothing to do
    assert client.get_model_version("m", 1).tags == {}
    with pytest.raises(ValidationError, match="cannot register 's3://b/model'"):
        client.create_model_version("m", "s3://b/model")
    with pytest.raises(ValidationError, match="exactly one of version and stage"):
        client.set_model_version_tag("m", 1, "k", "v", stage="Staging")
    with pytest.raises(ValidationError, match="exactly one of version and stage"):
        client.delete_model_version_tag("m", key="k")
    with pytest.raises(ValidationError, match="no version in stage 'Production'"):
        client.set_model_version_tag("m", stage="Production", key="k", value="v")
    with pytest.raises(ModelNotFoundError):
        client.create_model_version("unregistered", f"runs:/{rid}/m")
    assert [int(v.version) for v in client.search_model_versions()] == [1]
    assert client.get_model_version("m", 1).tags == {}
    assert client.get_model_version_download_uri("m", 1) == f"runs:/{rid}/m"
