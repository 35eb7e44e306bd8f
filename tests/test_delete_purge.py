"""Purging soft-deleted runs and experiments (``gittrack rm --deleted``, MLflow's ``mlflow gc``),
and the deletion time ``delete_run`` records for ``--older-than``."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_helpers import fails, ok, runner
from conftest import SCRIPTS, fsck, git

import gittrack
from gittrack.cli import main
from gittrack.cli.app import app
from gittrack.errors import RunStateError
from gittrack.format import RunRecord
from gittrack.removal import plan_purge, remove
from gittrack.session import open_index

DAY = 86_400_000


def run_ids() -> set[str]:
    """Every run of the repository (the current directory), deleted or not, as git sees."""
    refs = git(Path.cwd(), "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gittrack/runs/")
    return set(refs.split())


def make(client: gittrack.Client, experiment: str, name: str) -> str:
    rid = client.create_run(experiment, run_name=name).info.run_id
    client.log_metric(rid, "loss", 0.5)
    client.set_terminated(rid)
    return rid


@contextmanager
def at(ms: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A clock standing at ``ms`` (for what a deletion records) inside the block."""
    with monkeypatch.context() as patched:
        patched.setattr(time, "time_ns", lambda: ms * 1_000_000)
        yield


def delete_as_before(client: gittrack.Client, rid: str) -> None:
    """Delete ``rid`` as gittrack did before it recorded deletion times."""

    def op(record: RunRecord) -> None:
        record.lifecycle_stage = "deleted"

    writer = client.writer(rid)
    writer.apply(op)
    writer.flush()


@pytest.fixture
def mixed(repo: Path) -> dict[str, str]:
    """wine: ``keep`` (active) and ``gone`` (deleted); beer (deleted): ``b1`` and ``b2``;
    tea: ``tea`` (active)."""
    client = gittrack.Client()
    made = [("keep", "wine"), ("gone", "wine"), ("b1", "beer"), ("b2", "beer"), ("tea", "tea")]
    ids = {name: make(client, exp, name) for name, exp in made}
    client.delete_run(ids["gone"])
    client.delete_experiment(client.get_experiment_by_name("beer").experiment_id)
    return ids


def test_delete_run_records_when_and_restore_clears_it(repo: Path) -> None:
    client = gittrack.Client()
    rid = make(client, "wine", "r")
    ref = f"refs/gittrack/runs/{rid}:.gittrack/run/run.yaml"
    assert "deleted_time" not in git(repo, "show", ref)
    before = time.time_ns() // 1_000_000
    client.delete_run(rid)
    after = time.time_ns() // 1_000_000
    when = client.store.load(rid).record.deleted_time
    assert when is not None and before <= when <= after
    assert f"deleted_time: {when}\n" in git(repo, "show", ref)
    client.restore_run(rid)
    assert client.store.load(rid).record.deleted_time is None
    assert "deleted_time" not in git(repo, "show", ref)


def test_purge_removes_deleted_runs_and_experiments_and_nothing_else(
    mixed: dict[str, str], repo: Path
) -> None:
    out = ok("rm", "--deleted", "--yes")
    assert run_ids() == {mixed["keep"], mixed["tea"]}
    for name in ("gone", "b1", "b2"):
        assert f"removed run {mixed[name][:8]} {name}\n" in out
    client = gittrack.Client()
    eid = gittrack.naming.experiment_id_for("beer")
    assert f"removed experiment beer ({eid})" in out
    assert [e["name"] for e in json.loads(ok("experiments", "--all", "-f", "json"))] == [
        "tea",
        "wine",
        "Default",
    ]
    assert client.create_experiment("beer") == eid  # the name is free again
    assert "nothing to remove" in ok("rm", "--deleted", "--yes")
    fsck(repo)


def test_purge_lists_and_asks_unless_yes(
    mixed: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(capsys, "rm", "--deleted")
    assert "refusing to remove 3 run(s) and 1 deleted experiment(s) without confirmation" in err
    monkeypatch.setattr("gittrack.cli.runs_cmd._stdin_is_terminal", lambda: True)
    result = runner.invoke(app, ["rm", "--deleted"], input="n\n")
    assert result.exit_code == 1  # aborted
    assert len(run_ids()) == 5
    for name in ("gone", "b1", "b2"):
        assert f"  {mixed[name][:8]} {name}\n" in result.output
    assert "  experiment beer (" in result.output and mixed["keep"][:8] not in result.output
    result = runner.invoke(app, ["rm", "--deleted"], input="y\n")
    assert result.exit_code == 0, result.output
    assert run_ids() == {mixed["keep"], mixed["tea"]}


def test_only_the_experiments_given(mixed: dict[str, str]) -> None:
    ok("rm", "--deleted", "-e", "wine", "-y")  # by name: wine's deleted run only
    assert run_ids() == {mixed["keep"], mixed["tea"], mixed["b1"], mixed["b2"]}
    beer = gittrack.naming.experiment_id_for("beer")
    out = ok("rm", "--deleted", "-e", beer, "-y")  # by id: the experiment and its runs
    assert f"removed experiment beer ({beer})" in out
    assert run_ids() == {mixed["keep"], mixed["tea"]}


def test_only_the_runs_given_and_each_must_be_deleted(
    mixed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(capsys, "rm", "--deleted", "-y", "b1", "keep")
    assert f"run {mixed['keep'][:8]} is not deleted" in err
    assert len(run_ids()) == 5
    out = ok("rm", "--deleted", "-y", "b1", "gone")
    assert run_ids() == {mixed["keep"], mixed["tea"], mixed["b2"]}
    assert "deleted experiment" not in out  # beer keeps b2: only the runs named go


def test_older_than_counts_from_the_deletion(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = gittrack.Client()
    made = [("old", "w"), ("new", "w"), ("undated", "w"), ("o1", "old-exp"), ("n1", "new-exp")]
    ids = {name: make(client, exp, name) for name, exp in made}
    long_ago = time.time_ns() // 1_000_000 - 40 * DAY
    with at(long_ago, monkeypatch):
        client.delete_run(ids["old"])
        client.delete_experiment(client.get_experiment_by_name("old-exp").experiment_id)
    client.delete_run(ids["new"])
    client.delete_experiment(client.get_experiment_by_name("new-exp").experiment_id)
    delete_as_before(client, ids["undated"])
    capsys.readouterr()
    main(["rm", "--deleted", "--older-than", "30d", "-y"])  # returns: exit 0
    out, err = capsys.readouterr()
    assert run_ids() == {ids["new"], ids["undated"], ids["n1"]}
    assert "removed experiment old-exp" in out and "new-exp" not in out
    assert err.splitlines() == [
        "gittrack: kept 1 deleted run(s) with no recorded deletion time (deleted before "
        "gittrack recorded it): purge them without --older-than",
        "gittrack: kept 3 run(s) or experiment(s) deleted less than 30d ago",
    ]
    # a run named explicitly that is too recent is an error, not a silent skip
    assert "is too recent" in fails(capsys, "rm", "--deleted", "--older-than", "1d", "new", "-y")
    assert "no recorded deletion time" in fails(
        capsys, "rm", "--deleted", "--older-than", "1d", "undated", "-y"
    )
    ok("rm", "--deleted", "-y")  # without --older-than: every deleted run
    assert run_ids() == set()


def test_the_library_call_takes_a_clock(mixed: dict[str, str], repo: Path) -> None:
    now = time.time_ns() // 1_000_000
    with open_index(repo) as index:
        assert plan_purge(index, older_than=DAY, now=now).runs == ()
        later = plan_purge(index, older_than=DAY, now=now + 2 * DAY)
    assert set(later.runs) == {mixed["gone"], mixed["b1"], mixed["b2"]}
    assert [e.name for e in later.experiments] == ["beer"]
    assert len(run_ids()) == 5  # planning removes nothing


def test_what_is_restored_after_the_plan_is_kept(mixed: dict[str, str], repo: Path) -> None:
    client = gittrack.Client()
    with open_index(repo) as index:
        plan = plan_purge(index)
        client.restore_run(mixed["gone"])
        client.restore_experiment(client.get_experiment_by_name("beer").experiment_id)
        with pytest.raises(RunStateError) as e:
            remove(index, plan)
    short = ", ".join(rid[:8] for rid in plan.runs)
    assert e.value.message == (
        f"kept run(s) {short}: restored meanwhile; experiment(s) 'beer': restored meanwhile, "
        "or a run of it stays"
    )
    assert len(run_ids()) == 5
    assert client.get_experiment_by_name("beer").lifecycle_stage == "active"


def test_a_deleted_experiment_keeps_its_record_while_a_run_of_it_stays(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = gittrack.Client()
    old, recent = make(client, "x", "old"), make(client, "x", "recent")
    with at(time.time_ns() // 1_000_000 - 40 * DAY, monkeypatch):
        client.delete_experiment(client.get_experiment_by_name("x").experiment_id)
    client.delete_run(recent)  # on its own, now
    capsys.readouterr()
    main(["rm", "--deleted", "--older-than", "30d", "-y"])
    out, err = capsys.readouterr()
    assert run_ids() == {recent} and f"removed run {old[:8]} old" in out
    assert "gittrack: kept the deleted experiment 'x': a run of it stays" in err
    assert client.get_run(recent).info.lifecycle_stage == "deleted"  # still reads as deleted


@pytest.mark.parametrize("duration", ["1x", "", "30", "d", "1.2.3d", "-5d", "5 d", "1h2d"])
def test_a_bad_duration_is_one_line_and_removes_nothing(
    mixed: dict[str, str], capsys: pytest.CaptureFixture[str], duration: str
) -> None:
    err = fails(capsys, "rm", "--deleted", "--older-than", duration, "-y")
    assert f"--older-than {duration!r} is not a duration (e.g. 30d" in err
    assert len(run_ids()) == 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["rm"], "give the runs to remove, or --deleted"),
        (["rm", "keep", "--older-than", "1d"], "--older-than and --experiment go with --deleted"),
        (["rm", "keep", "-e", "wine"], "--older-than and --experiment go with --deleted"),
        (["rm", "--deleted", "-e", "nosuch"], "no experiment named 'nosuch' and none with that id"),
        (["rm", "--deleted", "nosuchrun"], "no run matches"),
    ],
)
def test_errors_are_one_line_and_remove_nothing(
    mixed: dict[str, str], capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    assert needle in fails(capsys, *args, "-y")
    assert len(run_ids()) == 5


def test_a_deleted_run_still_logging_is_refused_unless_forced(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = gittrack.Client()
    live = client.create_run("e", run_name="live").info.run_id
    client.log_metric(live, "loss", 0.5, synchronous=True)
    client.delete_run(live)
    err = fails(capsys, "rm", "--deleted", "-y")
    assert f"run {live[:8]} is RUNNING" in err and "--force" in err
    assert live in run_ids()
    assert "removed run" in ok("rm", "--deleted", "-y", "--force")
    assert run_ids() == set()


def test_in_a_real_process_and_git_agrees(mixed: dict[str, str], repo: Path) -> None:
    proc = subprocess.run(
        [str(SCRIPTS / "gittrack"), "rm", "--deleted", "--older-than", "0s"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1 and "pass --yes" in proc.stderr
    assert proc.stderr.count("\n") == 1 and len(run_ids()) == 5
    proc = subprocess.run(
        [str(SCRIPTS / "gittrack"), "rm", "--deleted", "--older-than", "0s", "-y"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/")
    assert sorted(refs.split()) == sorted(
        [f"refs/gittrack/runs/{mixed['keep']}", f"refs/gittrack/runs/{mixed['tea']}"]
        + [line for line in refs.split() if line.startswith("refs/gittrack/experiments/")]
    )
    assert f"refs/gittrack/experiments/{gittrack.naming.experiment_id_for('beer')}" not in refs
    git(repo, "gc", "-q", "--prune=now")
    fsck(repo)
