"""Experiments with MLflow's semantics: derived ids, lifecycle, tags, search."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import fsck, git

import gittrack
from gittrack import format as fmt
from gittrack import sync
from gittrack.entities import ViewType
from gittrack.errors import (
    ExperimentError,
    ExperimentNotFoundError,
    FilterSyntaxError,
    ValidationError,
)
from gittrack.naming import experiment_id_for


def test_ids_are_derived_from_the_name_the_same_everywhere(repo: Path, tmp_path: Path) -> None:
    assert experiment_id_for("Default") == "0"
    digest = hashlib.sha256(b"wine").digest()
    assert experiment_id_for("wine") == str(int.from_bytes(digest[:8], "big") >> 4)
    here = gittrack.create_experiment("wine")
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    there = gittrack.Client(other).create_experiment("wine")
    assert here == there == experiment_id_for("wine")
    assert gittrack.get_experiment("0").name == "Default"


def test_runs_know_their_experiment_id_and_old_runs_derive_it(repo: Path) -> None:
    exp = gittrack.set_experiment("wine")
    with gittrack.start_run() as run:
        pass
    assert gittrack.get_run(run.info.run_id).info.experiment_id == exp.experiment_id
    # a run.yaml written before experiment ids existed holds only the name
    old = fmt.dump_yaml(
        {"format_version": 1, "run_id": "a" * 32, "experiment": "wine", "status": "FINISHED"}
        | {"start_time": 1}
    )
    assert fmt.parse_record({fmt.RUN_FILE: old}, "old run").experiment_id == exp.experiment_id


def test_create_get_and_duplicates(repo: Path) -> None:
    eid = gittrack.create_experiment("wine", artifact_location="s3://b/wine", tags={"team": "a"})
    exp = gittrack.get_experiment(eid)
    assert (exp.name, exp.artifact_location) == ("wine", "s3://b/wine")
    assert exp.lifecycle_stage == "active"
    assert exp.tags == {"team": "a"}
    assert exp.creation_time is not None and exp.creation_time == exp.last_update_time
    assert gittrack.get_experiment_by_name("wine") == exp
    assert gittrack.get_experiment_by_name("nope") is None
    with pytest.raises(ExperimentError, match="'wine' already exists"):
        gittrack.create_experiment("wine")
    with pytest.raises(ExperimentNotFoundError, match="no experiment with id '12345'"):
        gittrack.get_experiment("12345")
    with pytest.raises(ValidationError, match="invalid experiment id 'abc'"):
        gittrack.get_experiment("abc")
    with pytest.raises(ValidationError, match="experiment name must be a non-empty string"):
        gittrack.create_experiment("")
    default = gittrack.get_experiment_by_name("Default")
    assert default is not None and default.artifact_location == "mlflow-artifacts:/0"


def test_delete_restore_and_what_a_deleted_experiment_refuses(repo: Path) -> None:
    eid = gittrack.create_experiment("old")
    gittrack.delete_experiment(eid)
    assert gittrack.get_experiment(eid).lifecycle_stage == "deleted"
    with pytest.raises(ExperimentError, match="already deleted"):
        gittrack.delete_experiment(eid)
    with pytest.raises(ExperimentError, match="'old' is deleted: restore it"):
        gittrack.set_experiment("old")
    with pytest.raises(ExperimentError, match="is deleted: restore it before making it active"):
        gittrack.set_experiment(experiment_id=eid)
    with pytest.raises(ExperimentError, match="'old' is deleted: restore it"):
        gittrack.start_run(experiment_id=eid)
    with pytest.raises(ExperimentError, match="'old' is deleted: restore it"):
        gittrack.Client().create_run("old")
    with pytest.raises(ExperimentError, match=r"already exists \(deleted: restore it instead\)"):
        gittrack.create_experiment("old")
    with pytest.raises(ExperimentError, match=r"Default experiment .* cannot be deleted"):
        gittrack.delete_experiment("0")
    gittrack.restore_experiment(eid)
    with pytest.raises(ExperimentError, match="is not deleted"):
        gittrack.restore_experiment(eid)
    assert gittrack.set_experiment("old").lifecycle_stage == "active"


def test_set_experiment_by_name_or_id(repo: Path) -> None:
    with pytest.raises(ValidationError, match="exactly one of experiment_name and experiment_id"):
        gittrack.set_experiment()
    with pytest.raises(ValidationError, match="exactly one"):
        gittrack.set_experiment("a", experiment_id="0")
    created = gittrack.set_experiment("fresh")  # a new name is created, as in MLflow
    assert gittrack.get_experiment(created.experiment_id).name == "fresh"
    eid = gittrack.create_experiment("by-id")
    assert gittrack.set_experiment(experiment_id=eid).name == "by-id"
    with gittrack.start_run() as run:
        pass
    assert run.info.experiment == "by-id" and run.info.experiment_id == eid
    with gittrack.start_run(experiment_id="0") as run0:
        pass
    assert run0.info.experiment == "Default"
    with pytest.raises(ExperimentNotFoundError):
        gittrack.set_experiment(experiment_id="999")
    with pytest.raises(ExperimentError, match="disagree"):
        gittrack.Client().create_run("fresh", experiment_id=eid)


def test_client_create_run_refuses_an_experiment_id_given_as_its_name(repo: Path) -> None:
    """``Client.create_run`` takes a name; MLflow's habit ``create_run("0")`` (an id) once
    filed the run under a new experiment named "0"."""
    client = gittrack.Client()
    eid = client.create_experiment("wine")
    for given, named in ((eid, "wine"), ("0", "Default")):
        with pytest.raises(ExperimentError, match=f"the id of experiment '{named}'") as err:
            client.create_run(given)
        assert f"experiment_id={given!r}" in str(err.value)
    assert sorted(e.name for e in client.search_experiments()) == ["Default", "wine"]
    assert len(client.search_runs()) == 0  # no run was filed anywhere
    # the id given as experiment_id, and an experiment that is named by digits, still do
    assert client.create_run(experiment_id=eid).info.experiment_id == eid
    digits = client.create_experiment("2024")
    assert client.create_run("2024").info.experiment_id == digits


def test_experiment_tags(repo: Path) -> None:
    exp = gittrack.set_experiment("tagged")
    gittrack.set_experiment_tag("owner", "ann")
    gittrack.set_experiment_tags({"stage": "dev", "n": 3})
    assert gittrack.get_experiment(exp.experiment_id).tags == {
        "owner": "ann",
        "stage": "dev",
        "n": "3",
    }
    client = gittrack.Client()
    client.delete_experiment_tag(exp.experiment_id, "n")
    assert "n" not in client.get_experiment(exp.experiment_id).tags
    with pytest.raises(ExperimentError, match="has no tag 'n'"):
        client.delete_experiment_tag(exp.experiment_id, "n")
    with pytest.raises(ValidationError, match="tag key"):
        gittrack.set_experiment_tag("", "x")


def test_experiments_named_only_by_runs_exist(repo: Path) -> None:
    client = gittrack.Client()
    run = client.create_run("implicit")
    client.set_terminated(run.info.run_id)
    exp = gittrack.get_experiment_by_name("implicit")
    assert exp is not None and exp.experiment_id == run.info.experiment_id
    assert exp.creation_time == run.info.start_time
    assert gittrack.get_experiment(exp.experiment_id) == exp
    assert not git(repo, "for-each-ref", "refs/gittrack/experiments/").strip()
    client.set_experiment_tag(exp.experiment_id, "k", "v")  # now it gets a ref
    assert client.get_experiment(exp.experiment_id).tags == {"k": "v"}
    assert client.get_experiment(exp.experiment_id).creation_time == run.info.start_time


def test_search_experiments(repo: Path) -> None:
    client = gittrack.Client()
    a = client.create_experiment("alpha", tags={"group": "x"})
    b = client.create_experiment("beta", tags={"group": "y"})
    c = client.create_experiment("gamma")
    client.delete_experiment(c)

    def names(**kw: object) -> list[str]:
        return [e.name for e in gittrack.search_experiments(**kw)]  # type: ignore[arg-type]

    assert names() == ["beta", "alpha", "Default"]  # newest first, Default has no time
    assert names(view_type=ViewType.DELETED_ONLY) == ["gamma"]
    assert sorted(names(view_type=ViewType.ALL)) == ["Default", "alpha", "beta", "gamma"]
    assert names(filter_string="name LIKE 'a%'") == ["alpha"]
    assert names(filter_string="attributes.name != 'alpha' and tags.group = 'y'") == ["beta"]
    assert names(filter_string="tags.group ILIKE 'X'") == ["alpha"]
    created = gittrack.get_experiment(a).creation_time
    assert names(filter_string=f"creation_time <= {created}") == ["alpha"]
    assert names(order_by=["name DESC"]) == ["beta", "alpha", "Default"]
    assert names(order_by=["name"], max_results=2) == ["Default", "alpha"]
    assert b == gittrack.search_experiments(filter_string="name = 'beta'")[0].experiment_id
    with pytest.raises(FilterSyntaxError, match="unknown attribute 'status'"):
        gittrack.search_experiments(filter_string="status = 'x'")
    with pytest.raises(FilterSyntaxError, match="unknown key type 'metrics'"):
        gittrack.search_experiments(filter_string="metrics.a > 1")
    with pytest.raises(FilterSyntaxError, match="creation_time compares with numbers"):
        gittrack.search_experiments(filter_string="creation_time > 'x'")
    with pytest.raises(ValidationError, match="unknown view_type 7"):
        gittrack.search_experiments(view_type=7)
    with pytest.raises(ValidationError, match="max_results must be 0 or more"):
        gittrack.search_experiments(max_results=-1)


def test_experiments_travel_with_push_and_pull(
    repo: Path, bare_remote: Path, tmp_path: Path
) -> None:
    eid = gittrack.create_experiment("shared", tags={"k": "v"})
    assert sync.push(repo, str(bare_remote)).ok
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    sync.pull(other, str(bare_remote))
    there = gittrack.Client(other).get_experiment(eid)
    assert there == gittrack.get_experiment(eid)
    fsck(other)


def test_an_implicit_experiment_spans_its_readable_runs_from_the_index(repo: Path) -> None:
    """An experiment known only from its runs is dated by their first and last start, read
    through the index's experiment index (an index of schema 8 gains it, and the deleted
    column, in place)."""
    import sqlite3

    from gittrack.session import open_index

    client = gittrack.Client()
    for start in (3_000, 1_000, 2_000):
        client.create_run("wine", start_time=start)
    client.create_run("other", start_time=9_000)
    gone = client.create_run("other", start_time=8_000).info.run_id
    client.delete_run(gone)
    git(repo, "update-ref", f"refs/gittrack/runs/{'f' * 32}", "HEAD")  # unreadable: left out
    with open_index() as index:
        assert index.experiment_spans() == {"wine": (1_000, 3_000), "other": (8_000, 9_000)}
    index_file = repo / ".git/gittrack/index.sqlite"
    plain = sqlite3.connect(index_file)  # as an index of schema 8 was
    plain.executescript(
        "DROP INDEX runs_by_experiment; ALTER TABLE runs DROP COLUMN deleted;"
        " UPDATE meta SET value='8' WHERE key='schema';"
    )
    plain.close()
    wine = gittrack.get_experiment_by_name("wine")
    assert wine is not None
    assert (wine.creation_time, wine.last_update_time) == (1_000, 3_000)
    assert gittrack.get_experiment(wine.experiment_id) == wine
    listed = {e.name: e for e in gittrack.search_experiments()}
    assert (listed["other"].creation_time, listed["other"].last_update_time) == (8_000, 9_000)
    plain = sqlite3.connect(index_file)
    assert plain.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("11",)
    assert plain.execute("SELECT COUNT(*) FROM runs").fetchone() == (6,)  # kept, not rebuilt
    assert plain.execute("SELECT run_id FROM runs WHERE deleted").fetchall() == [(gone,)]
    plan = plain.execute(
        "EXPLAIN QUERY PLAN SELECT MIN(start_time) FROM runs WHERE error IS NULL AND experiment=?",
        ("wine",),
    ).fetchall()
    plain.close()
    assert "runs_by_experiment" in str(plan)


def test_runs_of_a_deleted_experiment_are_hidden_as_mlflow_hides_them(repo: Path) -> None:
    """Runs of a deleted experiment were still found by search_all_experiments, by
    experiment_names and by `gittrack list`. MLflow (checked against its sqlite store)
    searches active experiments only and takes the runs of a deleted experiment as
    deleted runs; restoring the experiment brings them back."""
    import json

    from cli_helpers import ok

    client = gittrack.Client()
    kept = client.create_run("kept").info.run_id
    dropped = client.create_run("kept").info.run_id
    client.delete_run(dropped)
    gone_id = gittrack.create_experiment("gone")
    gone = client.create_run("gone").info.run_id
    gittrack.delete_experiment(gone_id)

    def found(**kwargs: object) -> set[str]:
        rows = gittrack.search_runs(output_format="rows", max_results=None, **kwargs)  # type: ignore[arg-type]
        return {r["run_id"] for r in rows}

    assert found(search_all_experiments=True) == {kept}
    assert found(search_all_experiments=True, run_view_type=ViewType.ALL) == {kept, dropped}
    assert found(experiment_names=["kept", "gone"]) == {kept}
    assert found(experiment_names=["gone"], run_view_type=ViewType.ALL) == {gone}
    assert found(experiment_ids=[gone_id]) == set()
    assert found(experiment_ids=[gone_id], run_view_type=ViewType.DELETED_ONLY) == {gone}
    assert [r["run_id"] for r in json.loads(ok("list", "-f", "json"))] == [kept]
    assert json.loads(ok("list", "-e", "gone", "-f", "json")) == []
    gittrack.restore_experiment(gone_id)
    assert found(search_all_experiments=True) == {kept, gone}
    assert {r["run_id"] for r in json.loads(ok("list", "-f", "json"))} == {kept, gone}


def test_a_deleted_experiments_runs_read_as_deleted_everywhere_and_refuse_changes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After delete_experiment, get_run, `gittrack show` and the server said its runs
    were active, logging to them (even a run live in this process) was recorded, and
    `gittrack list` could not show deleted runs at all. As MLflow: they read as deleted
    and refuse changes until restore_experiment; `gittrack list --view` is MLflow's."""
    import json

    from cli_helpers import fails, ok
    from servers import GittrackServer
    from test_server import API, call

    from gittrack.errors import RunNotActiveError

    client = gittrack.Client()
    eid = gittrack.create_experiment("gone")
    done = client.create_run("gone", run_name="done").info.run_id
    client.set_terminated(done)
    gittrack.set_experiment("gone")
    with pytest.raises(RunNotActiveError), gittrack.start_run(run_name="live") as live:
        gittrack.log_metric("loss", 1.0)  # ending it below is refused, as in MLflow
        gittrack.delete_experiment(eid)
        with pytest.raises(RunNotActiveError, match="restore_experiment brings it back"):
            gittrack.log_metric("loss", 0.5)  # the live writer of this process knows
        gittrack.restore_experiment(eid)
        gittrack.log_metric("loss", 0.25)
        gittrack.delete_experiment(eid)
    with pytest.raises(RunNotActiveError):
        client.set_tag(done, "k", "v")  # a writer that joins the run looks it up
    with pytest.raises(ExperimentError, match=f"restore_experiment\\('{eid}'\\)"):
        client.restore_run(done)  # it would still read as deleted
    lid = live.info.run_id
    assert gittrack.get_run(lid).data.metrics == {"loss": 0.25}
    assert [gittrack.get_run(r).info.lifecycle_stage for r in (done, lid)] == ["deleted"] * 2
    assert gittrack.get_run(lid).info.status == "RUNNING"  # its end was refused, as in MLflow
    assert json.loads(ok("show", "done", "-f", "json"))["lifecycle_stage"] == "deleted"
    assert "FINISHED (deleted)" in ok("show", "done")
    listed = {
        (view, name): [r["name"] for r in json.loads(ok("list", *args, "-f", "json"))]
        for view in ("active_only", "deleted_only", "all")
        for name, args in (("every", ("--view", view)), ("gone", ("-v", view, "-e", "gone")))
    }
    assert listed == {
        ("active_only", "every"): [],
        ("active_only", "gone"): [],
        ("deleted_only", "every"): [],  # deleted experiments are searched only when named
        ("deleted_only", "gone"): ["live", "done"],
        ("all", "every"): [],
        ("all", "gone"): ["live", "done"],
    }
    assert "FINISHED (deleted)" in ok("list", "-v", "all", "-e", "gone")
    assert "unknown view type 'some'" in fails(capsys, "list", "--view", "some")
    with GittrackServer(repo, "--quiet") as server:
        _, got = call(server, "GET", f"{API}runs/get?run_id={done}")
        assert got["run"]["info"]["lifecycle_stage"] == "deleted"
        body = {"experiment_ids": [eid], "run_view_type": "DELETED_ONLY"}
        _, found = call(server, "POST", API + "runs/search", body)
        assert [r["info"]["lifecycle_stage"] for r in found["runs"]] == ["deleted"] * 2
        assert call(server, "POST", API + "experiments/restore", {"experiment_id": eid})[0] == 200
        _, found = call(server, "POST", API + "runs/search", {"experiment_ids": [eid]})
        assert [r["info"]["lifecycle_stage"] for r in found["runs"]] == ["active"] * 2
        status, _ = call(server, "POST", API + "runs/set-tag", {"run_id": done, "key": "k"})
        assert status == 200
        client.delete_run(done)  # deleted here, restored by the server's process
        assert call(server, "POST", API + "runs/restore", {"run_id": done})[0] == 200
    client.set_tag(done, "k2", "v")  # this process's writer reads the stored state again
    assert gittrack.get_run(done).data.tags.keys() >= {"k", "k2"}


def test_a_warm_listing_reads_deleted_experiments_without_opening_the_repository(
    repo: Path,
) -> None:
    """Which experiments are deleted is kept in the index for the experiment refs'
    values: the listing after the first imports no dulwich (as a warm listing without
    experiments), and an experiment deleted since is seen at once."""
    import subprocess
    import sys

    client = gittrack.Client()
    kept = client.create_run("kept").info.run_id
    gone_id = gittrack.create_experiment("gone")
    gone = client.create_run("gone").info.run_id
    client.flush()  # written now: the listing runs in another process

    def listing() -> tuple[set[str], str]:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "from gittrack.cli import main; main()",
             "list", "--format", "csv", "--columns", "run_id"],
            cwd=repo, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return set(proc.stdout.split()[1:]), proc.stderr

    assert listing()[0] == {kept, gone}
    gittrack.delete_experiment(gone_id)
    runs, imports = listing()  # the experiment changed: read once
    assert runs == {kept}
    runs, imports = listing()
    assert runs == {kept}
    assert "dulwich" not in imports
    gittrack.restore_experiment(gone_id)
    assert listing()[0] == {kept, gone}
