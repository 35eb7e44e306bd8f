"""Renaming an experiment keeps its id (MLflow's rule) although ids derive from names."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fsck, git

import gittrack
from gittrack import experiments
from gittrack.errors import ExperimentError
from gittrack.naming import experiment_id_for
from gittrack.query.search import query_rows
from gittrack.session import open_repository


def test_rename_keeps_the_id_and_moves_the_runs(repo: Path) -> None:
    client = gittrack.Client()
    eid = client.create_experiment("old", tags={"team": "cv"})
    done = client.create_run("old", run_name="done")
    client.log_metric(done.info.run_id, "m", 1.0)
    client.set_terminated(done.info.run_id)
    live = client.create_run("old", run_name="live")  # still RUNNING, buffered here
    client.rename_experiment(eid, "new")
    exp = client.get_experiment(eid)
    assert (exp.name, exp.tags) == ("new", {"team": "cv"})
    found = client.get_experiment_by_name("new")
    assert found is not None and found.experiment_id == eid
    assert client.get_experiment_by_name("old") is None
    client.log_metric(live.info.run_id, "x", 2.0)
    client.set_terminated(live.info.run_id)
    for rid in (done.info.run_id, live.info.run_id):
        info = client.get_run(rid).info
        assert (info.experiment, info.experiment_id) == ("new", eid)
    rows = query_rows(None, None, repo=repo, experiment_ids=[eid])
    assert {r["run_id"] for r in rows} == {done.info.run_id, live.info.run_id}
    assert "experiment: new" in git(
        repo, "show", f"refs/gittrack/runs/{done.info.run_id}:.gittrack/run/run.yaml"
    )
    # The old name is free again; its derived id is held, so it gets the next one.
    again = client.create_experiment("old")
    assert again not in (eid, experiment_id_for("old"))
    run = client.create_run("old")
    assert client.get_run(run.info.run_id).info.experiment_id == again
    runs = open_repository(create=False)
    assert experiments.id_of(runs, "old") == again and experiments.id_of(runs, "new") == eid
    assert sorted(e.name for e in client.search_experiments()) == ["Default", "new", "old"]
    fsck(repo)


def test_an_interrupted_rename_is_finished_by_renaming_again(repo: Path) -> None:
    client = gittrack.Client()
    eid = client.create_experiment("old")
    run = client.create_run("old")
    client.set_terminated(run.info.run_id)
    # The experiment's record moved, then the process died before moving the runs.
    experiments.rename(open_repository(create=False), eid, "new")
    assert client.get_run(run.info.run_id).info.experiment == "old"
    client.rename_experiment(eid, "new")
    assert client.get_run(run.info.run_id).info.experiment == "new"
    assert client.get_experiment(eid).name == "new"


def test_rename_errors(repo: Path) -> None:
    client = gittrack.Client()
    eid = client.create_experiment("a")
    client.create_experiment("b")
    with pytest.raises(ExperimentError, match="'b' already exists"):
        client.rename_experiment(eid, "b")
    with pytest.raises(ExperimentError, match="Default experiment"):
        client.rename_experiment("0", "c")
    assert client.get_experiment(eid).name == "a"
