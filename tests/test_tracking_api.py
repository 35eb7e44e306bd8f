"""The MLflow-style fluent API and the Client: what a user logs is what they read back."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import ok
from conftest import fsck, git, user_tags

import gittrack
from gittrack import session
from gittrack.errors import (
    ParamConflictError,
    RunNotFoundError,
    RunStateError,
    ValidationError,
)


def test_quickstart_flow_reads_back_everything(repo: Path) -> None:
    gittrack.set_experiment("wine")
    with gittrack.start_run(run_name="baseline", tags={"team": "a"}) as run:
        gittrack.log_params({"alpha": 0.5, "l1_ratio": 0.1, "model": "enet", "layers": 3})
        for epoch in range(100):
            gittrack.log_metric("rmse", 1.0 / (epoch + 1), step=epoch)
        gittrack.set_tag("note", "first try")
        assert run.info.status == "RUNNING"
    assert run.info.status == "FINISHED"
    r = gittrack.get_run(run.info.run_id)
    assert r.info.run_name == "baseline"
    assert r.info.experiment == "wine"
    assert r.info.status == "FINISHED"
    assert r.info.end_time is not None and r.info.end_time >= r.info.start_time
    assert r.info.commit is not None and len(r.info.commit) == 40
    assert r.data.typed_params == {"alpha": 0.5, "l1_ratio": 0.1, "model": "enet", "layers": 3}
    assert r.data.params == {"alpha": "0.5", "l1_ratio": "0.1", "model": "enet", "layers": "3"}
    assert isinstance(r.data.typed_params["layers"], int)  # YAML types are kept
    assert r.data.metrics == {"rmse": pytest.approx(0.01)}
    assert user_tags(r.data.tags) == {"team": "a", "note": "first try"}
    history = gittrack.get_metric_history(run.info.run_id, "rmse")
    assert [m.step for m in history] == list(range(100))
    assert history[-1].value == pytest.approx(0.01)


def test_import_as_mlflow_subset(repo: Path) -> None:
    import gittrack as mlflow

    exp = mlflow.set_experiment("exp")
    with mlflow.start_run() as run:
        mlflow.log_param("p", 1)
        mlflow.log_metrics({"a": 1.0, "b": 2.0}, step=3)
        mlflow.set_tags({"x": "y"})
        assert mlflow.active_run() is not None
        assert mlflow.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
    assert mlflow.active_run() is None
    last = mlflow.last_active_run()
    assert last is not None and last.info.run_id == run.info.run_id
    assert last.data.metrics == {"a": 1.0, "b": 2.0}
    assert run.info.experiment_id == exp.experiment_id
    assert run.info.experiment == "exp"
    assert run.info.artifact_uri == f"runs:/{run.info.run_id}/"


def test_latest_metric_value_is_at_the_largest_step(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.log_metric("loss", 0.1, step=5)
        gittrack.log_metric("loss", 0.9, step=1)  # logged later, earlier step
        gittrack.log_metric("acc", 0.5)
        gittrack.log_metric("acc", 0.6)  # same step 0: the later one wins
    data = gittrack.get_run(run.info.run_id).data
    assert data.metrics == {"loss": 0.1, "acc": 0.6}


def test_nan_and_inf_metrics_are_accepted(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.log_metric("nan", float("nan"))
        gittrack.log_metric("pinf", float("inf"))
        gittrack.log_metric("ninf", float("-inf"))
        gittrack.log_metric("int", 3)
    metrics = gittrack.get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["pinf"] == math.inf and metrics["ninf"] == -math.inf
    assert metrics["int"] == 3.0
    hist = gittrack.get_metric_history(run.info.run_id, "nan")
    assert len(hist) == 1 and math.isnan(hist[0].value)


def test_explicit_timestamp_and_step(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.log_metric("m", 1.5, step=7, timestamp=1234)
    (point,) = gittrack.get_metric_history(run.info.run_id, "m")
    assert (point.step, point.timestamp, point.value) == (7, 1234, 1.5)


def test_param_is_immutable(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.log_param("lr", 0.1)
        gittrack.log_param("lr", 0.1)  # same value: fine
        gittrack.log_param("lr", "0.1")  # same MLflow string form: fine, as in MLflow
        with pytest.raises(ParamConflictError, match=r"'lr' is already 0\.1"):
            gittrack.log_param("lr", 0.2)
        gittrack.log_param("n", 1)
        with pytest.raises(ParamConflictError, match=r"'n' is already 1 .*got 1\.0"):
            gittrack.log_param("n", 1.0)  # "1" != "1.0" in MLflow too
    got = gittrack.get_run(run.info.run_id).data
    assert got.params == {"lr": "0.1", "n": "1"}
    assert got.typed_params == {"lr": 0.1, "n": 1}  # the type first logged


def test_numpy_params_read_back_as_mlflow_stores_them(repo: Path) -> None:
    """A numpy float (a grid from np.logspace) was stored as 'np.float64(0.1)', and a
    numpy array raised a bare ValueError; MLflow stores str(value) for both."""
    import enum

    import numpy as np

    class Mode(enum.IntEnum):
        FAST = 2

    logged = {"lr": np.float64(0.1), "n": np.int64(3), "on": np.bool_(True)}
    logged.update({"grid": np.array([1, 2]), "mode": Mode.FAST, "name": np.str_("a")})
    logged["f32"] = np.float32(0.1)  # was '0.10000000149011612': MLflow keeps '0.1'
    logged["f16"] = np.array(2.5, dtype=np.float16)
    with gittrack.start_run() as run:
        gittrack.log_params(logged)
    got = gittrack.get_run(run.info.run_id).data
    assert got.params == {k: str(v) for k, v in logged.items()}
    assert got.typed_params == {
        "lr": 0.1, "n": 3, "on": True, "grid": "[1 2]", "mode": "2", "name": "a",
        "f32": 0.1, "f16": 2.5,
    }  # fmt: skip
    shown = json.loads(ok("show", run.info.run_id, "--format", "json"))["params"]
    assert shown == got.typed_params


def test_numpy_steps_and_values_are_taken_as_mlflow_takes_them(repo: Path) -> None:
    """`for step in np.arange(n): log_metric(..., step=step)` was refused."""
    import numpy as np

    with gittrack.start_run() as run:
        for step in np.arange(3):
            gittrack.log_metric("loss", 1.0 / (step + 1), step=step)
        gittrack.log_metrics({"acc": np.array(0.5)}, step=np.int32(7))
        with pytest.raises(ValidationError, match="must be a number"):
            gittrack.log_metric("flag", np.bool_(True))  # a bool is no metric, as True
    history = gittrack.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert all(type(m.step) is int for m in history)
    assert gittrack.get_run(run.info.run_id).data.metrics["acc"] == 0.5


def test_out_of_range_step_or_timestamp_is_refused_at_the_call(repo: Path) -> None:
    """A step or timestamp beyond 64 bits was buffered, then failed the run's flush with
    an OverflowError: the run stayed RUNNING and what it had logged before was lost."""
    client = gittrack.MlflowClient()
    with gittrack.start_run() as run:
        gittrack.log_metric("kept", 1.0)
        gittrack.log_param("p", 1)
        for bad in ({"step": 2**63}, {"timestamp": 2**70}, {"step": -(2**63) - 1}):
            with pytest.raises(ValidationError, match="64-bit"):
                gittrack.log_metric("bad", 1.0, **bad)  # type: ignore[arg-type]
            with pytest.raises(ValidationError, match="64-bit"):
                client.log_metric(run.info.run_id, "bad", 1.0, **bad)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="timestamp must be epoch milliseconds"):
            gittrack.log_metric("bad", 1.0, timestamp="soon")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="64-bit float"):
            gittrack.log_metric("bad", 10**400)
        gittrack.log_metric("edge", 2.0, step=2**63 - 1, timestamp=1.7e12 + 0.5)
    got = gittrack.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.metrics == {"kept": 1.0, "edge": 2.0} and got.data.params == {"p": "1"}
    (edge,) = client.get_metric_history(run.info.run_id, "edge")
    assert (edge.step, edge.timestamp) == (2**63 - 1, 1_700_000_000_000)


def test_delete_tag(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.set_tag("a", "1")
        gittrack.set_tag("b", 2)
        gittrack.delete_tag("a")
        with pytest.raises(RunStateError, match="no tag 'zzz'"):
            gittrack.delete_tag("zzz")
    assert user_tags(gittrack.get_run(run.info.run_id).data.tags) == {"b": "2"}


def test_exception_marks_failed_and_reraises(repo: Path) -> None:
    with pytest.raises(ZeroDivisionError), gittrack.start_run() as run:
        gittrack.log_metric("before", 1.0)
        _ = 1 / 0
    r = gittrack.get_run(run.info.run_id)
    assert r.info.status == "FAILED"
    assert r.data.metrics == {"before": 1.0}


def test_keyboard_interrupt_marks_killed(repo: Path) -> None:
    with pytest.raises(KeyboardInterrupt), gittrack.start_run() as run:
        raise KeyboardInterrupt
    assert gittrack.get_run(run.info.run_id).info.status == "KILLED"


def test_end_run_twice_is_harmless(repo: Path) -> None:
    run = gittrack.start_run()
    gittrack.end_run()
    gittrack.end_run()
    gittrack.end_run("FAILED")
    assert gittrack.get_run(run.info.run_id).info.status == "FINISHED"


def test_end_run_with_status(repo: Path) -> None:
    run = gittrack.start_run()
    gittrack.end_run(status="KILLED")
    assert gittrack.get_run(run.info.run_id).info.status == "KILLED"


def test_end_run_rejects_unknown_status(repo: Path) -> None:
    run = gittrack.start_run()
    try:
        with pytest.raises(RunStateError, match="cannot end a run with status 'DONE'"):
            gittrack.end_run(status="DONE")
    finally:
        gittrack.end_run()
    assert gittrack.get_run(run.info.run_id).info.status == "FINISHED"


def test_nested_runs_link_to_parent(repo: Path) -> None:
    with gittrack.start_run(run_name="outer") as outer:
        with pytest.raises(RunStateError, match="already active"):
            gittrack.start_run()
        with gittrack.start_run(run_name="inner", nested=True) as inner:
            gittrack.log_metric("x", 1)
        assert gittrack.active_run() is outer
    child = gittrack.get_run(inner.info.run_id)
    assert child.info.parent_run_id == outer.info.run_id
    assert child.info.status == "FINISHED"
    assert gittrack.get_run(outer.info.run_id).info.parent_run_id is None


def test_resume_run_keeps_data_and_refinishes(repo: Path) -> None:
    with gittrack.start_run(run_name="first") as run:
        gittrack.log_param("a", 1)
        gittrack.log_metric("m", 1.0, step=0)
    with gittrack.start_run(run_id=run.info.run_id) as again:
        assert again.info.status == "RUNNING"
        gittrack.log_metric("m", 2.0, step=1)
        gittrack.log_param("b", 2)
    r = gittrack.get_run(run.info.run_id)
    assert r.info.status == "FINISHED"
    assert r.data.typed_params == {"a": 1, "b": 2}
    assert [m.value for m in gittrack.get_metric_history(run.info.run_id, "m")] == [1.0, 2.0]


def test_logging_without_active_run_starts_one(repo: Path) -> None:
    gittrack.log_metric("auto", 1.0)
    active = gittrack.active_run()
    assert active is not None
    rid = active.info.run_id
    gittrack.end_run()
    assert gittrack.get_run(rid).data.metrics == {"auto": 1.0}


def test_auto_started_run_ends_at_interpreter_exit(repo: Path) -> None:
    script = "import gittrack; gittrack.log_param('x', 1); print(gittrack.active_run().info.run_id)"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=True
    )
    rid = out.stdout.strip()
    r = gittrack.get_run(rid)
    assert r.info.status == "FINISHED"
    assert r.data.typed_params == {"x": 1}


def test_client_logs_to_several_runs(repo: Path) -> None:
    client = gittrack.Client(repo=repo)
    a = client.create_run("exp", run_name="a")
    b = client.create_run("exp", run_name="b")
    for i in range(3):
        client.log_metric(a.info.run_id, "m", i, step=i)
        client.log_metric(b.info.run_id, "m", 10 * i, step=i)
    client.log_param(a.info.run_id, "which", "a")
    client.log_batch(b.info.run_id, metrics=[gittrack.Metric("n", 1.0, 5, 2)], params={"k": "v"})
    client.set_terminated(a.info.run_id)
    client.set_terminated(b.info.run_id, "FAILED")
    ra, rb = client.get_run(a.info.run_id), client.get_run(b.info.run_id)
    assert ra.data.metrics == {"m": 2.0} and ra.info.status == "FINISHED"
    assert rb.data.metrics == {"m": 20.0, "n": 1.0} and rb.info.status == "FAILED"
    assert rb.data.typed_params == {"k": "v"}


def _other_process_status(repo: Path, run_id: str) -> str:
    """The run's status as another process reads it (the error when it finds none)."""
    code = (
        "import gittrack\n"
        "try:\n"
        f"    print(gittrack.get_run('{run_id}').info.status)\n"
        "except gittrack.errors.RunNotFoundError as e:\n"
        "    print(e)\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    return other.stdout.strip()


def test_a_new_run_is_written_at_its_first_flush(repo: Path) -> None:
    """A run is written at its first flush, not at start_run: this process reads it at
    once, another process once it is flushed (flush_async_logging, here)."""
    with gittrack.start_run() as run:
        rid = run.info.run_id
        gittrack.log_param("lr", 0.1)
        assert git(repo, "for-each-ref", "refs/gittrack/runs/") == ""
        assert _other_process_status(repo, rid) == (
            f"no run matches '{rid}' (no run has this id yet: a run another process has "
            "just started is written at its first flush; see 'gittrack list')"
        )
        gittrack.flush_async_logging()
        assert _other_process_status(repo, rid) == "RUNNING"
        assert gittrack.get_run(rid).data.params == {"lr": "0.1"}
    assert _other_process_status(repo, rid) == "FINISHED"
    fsck(repo)


def test_flush_async_logging_says_why_a_write_failed(repo: Path) -> None:
    run = gittrack.start_run()
    gittrack.flush_async_logging()
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{run.info.run_id}")  # removed elsewhere
    gittrack.log_metric("loss", 0.5)
    with pytest.raises(RunStateError, match="was deleted while it was being logged"):
        gittrack.flush_async_logging()
    with pytest.raises(RunStateError, match="was deleted while it was being logged"):
        gittrack.end_run()
    assert gittrack.active_run() is None


def test_a_run_shorter_than_the_flush_interval_is_one_commit(repo: Path) -> None:
    with gittrack.start_run(run_name="short") as run:
        gittrack.log_params({"lr": 0.1, "name": "ünï"})
        gittrack.log_metric("loss", 0.25, step=3)
    ref = f"refs/gittrack/runs/{run.info.run_id}"
    # no replaced (RUNNING) state was written: every commit stored is reachable
    kinds = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)")
    assert kinds.split().count("commit") == int(git(repo, "rev-list", "--all", "--count"))
    fsck(repo)
    stored = gittrack.get_run(run.info.run_id)
    assert (
        stored.info.status == "FINISHED"
        and stored.info.commit == git(repo, "rev-parse", ref).strip()
    )
    assert stored.data.typed_params == {"lr": 0.1, "name": "ünï"}
    assert stored.data.metrics == {"loss": 0.25}


def test_a_run_read_in_its_own_process_before_any_flush(repo: Path) -> None:
    """Every read of this process sees a run not written yet (it is written first)."""
    client = gittrack.Client()
    rid = client.create_run("e", run_name="fresh").info.run_id
    assert client.get_run(rid[:8]).info.run_name == "fresh"  # a prefix: resolved by listing
    rid2 = client.create_run("e", run_name="fresh2").info.run_id
    found = [
        r.info.run_id for r in client.search_runs(experiment_names=["e"], output_format="list")
    ]
    assert sorted(found) == sorted([rid, rid2])
    rid3 = client.create_run("e").info.run_id
    client.log_metric(rid3, "m", 1.5)
    assert [m.value for m in client.get_metric_history(rid3, "m")] == [1.5]


def test_a_nested_run_never_names_an_unwritten_parent(repo: Path) -> None:
    with gittrack.start_run(run_name="parent") as parent:
        pid = parent.info.run_id
        with gittrack.start_run(run_name="child", nested=True) as child:
            # the parent was written when the child started; the child is not yet
            assert git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/") == (
                f"refs/gittrack/runs/{pid}\n"
            )
            assert _other_process_status(repo, pid) == "RUNNING"
    assert gittrack.get_run(child.info.run_id).info.parent_run_id == pid


def test_purging_a_run_not_yet_written_leaves_nothing(repo: Path) -> None:
    client = gittrack.Client()
    rid = client.create_run("e").info.run_id
    client.purge_run(rid)
    with pytest.raises(RunNotFoundError):
        client.get_run(rid)
    assert git(repo, "for-each-ref", "refs/gittrack/runs/") == ""
    session.flush_all(strict=True)  # as at interpreter exit: the purged run stays gone
    assert git(repo, "for-each-ref", "refs/gittrack/runs/") == ""


def test_get_run_accepts_prefixes_and_names(repo: Path) -> None:
    with gittrack.start_run(run_name="unique-name") as run:
        pass
    rid = run.info.run_id
    assert gittrack.get_run(rid[:8]).info.run_id == rid
    assert gittrack.get_run(run.info.commit[:10]).info.run_id == rid  # type: ignore[index]
    assert gittrack.get_run("unique-name").info.run_id == rid


def test_unknown_run_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(RunNotFoundError, match="no run matches 'deadbeef'"):
        gittrack.get_run("deadbeef")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 251, "longer than 250"),
        ("a/../b", "'.' or '..'"),
        ("..", "'.' or '..'"),
        ("/abs", "must not start with '/'"),
        ("bad\x00key", "may only hold"),
        ("tab\there", "may only hold"),
        ("new\nline", "may only hold"),
        ("quote'x", "may only hold"),
    ],
)
def test_bad_keys_are_rejected_with_one_line(repo: Path, key: str, message: str) -> None:
    with gittrack.start_run():
        for log in (
            lambda: gittrack.log_metric(key, 1.0),
            lambda: gittrack.log_param(key, 1),
            lambda: gittrack.set_tag(key, "v"),
        ):
            with pytest.raises(ValidationError, match=message) as info:
                log()
            assert "\n" not in str(info.value)


def test_keys_with_spaces_dots_and_slashes_work(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.log_metric("accuracy 2", 0.5)
        gittrack.log_metric("val/loss.best", 0.1)
    assert set(gittrack.get_run(run.info.run_id).data.metrics) == {"accuracy 2", "val/loss.best"}


@pytest.mark.parametrize("value", ["0.5", None, [1.0], True, object()])
def test_non_numeric_metric_values_are_rejected(repo: Path, value: object) -> None:
    with gittrack.start_run(), pytest.raises(ValidationError, match="must be a number"):
        gittrack.log_metric("m", value)  # type: ignore[arg-type]


def test_non_integer_step_is_rejected(repo: Path) -> None:
    with gittrack.start_run(), pytest.raises(ValidationError, match="step must be an integer"):
        gittrack.log_metric("m", 1.0, step="3")  # type: ignore[arg-type]


def test_bad_run_and_experiment_names(repo: Path) -> None:
    with pytest.raises(ValidationError, match="experiment name"):
        gittrack.set_experiment("")
    with pytest.raises(ValidationError, match="control characters"):
        gittrack.start_run(run_name="bad\nname")
    assert gittrack.active_run() is None


def test_update_run_renames_ends_and_resumes(repo: Path) -> None:
    client = gittrack.Client()
    run = client.create_run("exp", run_name="before", user="alice")
    rid = run.info.run_id
    assert run.info.user_id == "alice"
    client.update_run(rid, name="after")
    client.update_run(rid, "FAILED", end_time=1234)
    got = client.get_run(rid)
    assert (got.info.run_name, got.info.status, got.info.end_time) == ("after", "FAILED", 1234)
    client.update_run(rid, "RUNNING")
    got = client.get_run(rid)
    assert (got.info.status, got.info.end_time) == ("RUNNING", None)
    with pytest.raises(RunStateError):
        client.update_run(rid, "DONE")
