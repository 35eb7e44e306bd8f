"""Many writers at once lose nothing; a killed writer leaves a recoverable run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import fsck, git, user_tags

import gittrack
from gittrack.errors import RunNotFoundError
from gittrack.recovery import find_dead_runs, mark_killed

WRITER = """
import sys, gittrack
proc, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    with gittrack.start_run(run_name=f"p{proc}-r{i}") as run:
        gittrack.log_params({"proc": proc, "i": i})
        for step in range(5):
            gittrack.log_metric("m", proc * 1000 + i + step / 10, step=step)
        gittrack.set_tag("writer", str(proc))
"""


def _scale(n: int) -> int:
    return max(2, int(n * float(os.environ.get("GITTRACK_SLOW_SCALE", "1"))))


def test_eight_processes_creating_runs_lose_nothing(repo: Path) -> None:
    procs, per = 8, _scale(15)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(p), str(per)],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for p in range(procs)
    ]
    for child in children:
        _out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err.decode()
        assert b"Traceback" not in err
    client = gittrack.Client(repo)
    run_ids = client.store.list_runs()
    assert len(run_ids) == procs * per
    seen = set()
    for rid in run_ids:
        r = client.get_run(rid)
        assert r.info.status == "FINISHED"
        proc, i = r.data.typed_params["proc"], r.data.typed_params["i"]
        assert r.info.run_name == f"p{proc}-r{i}"
        assert r.data.metrics["m"] == pytest.approx(proc * 1000 + i + 0.4)
        assert len(client.get_metric_history(rid, "m")) == 5
        seen.add((proc, i))
    assert len(seen) == procs * per
    fsck(repo)
    assert not list((repo / ".git").rglob("*.lock"))
    assert not list((repo / ".git" / "objects").rglob("tmp_obj_*"))


JOINER = """
import sys, gittrack
with gittrack.start_run() as run:      # joins GITTRACK_RUN_ID
    assert run.info.run_id == sys.argv[1]
    for step in range(int(sys.argv[2])):
        gittrack.log_metric(sys.argv[3], step, step=step)
        if step % 7 == 0:
            gittrack.Client().flush()
    gittrack.set_tag(sys.argv[3], "done")
"""


def test_several_processes_logging_to_one_run_merge(repo: Path) -> None:
    client = gittrack.Client(repo)
    run = client.create_run("shared", run_name="shared")
    rid = run.info.run_id
    env = dict(os.environ, GITTRACK_RUN_ID=rid, GITTRACK_FLUSH_INTERVAL="0.05")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", JOINER, rid, "60", f"w{k}"],
            cwd=repo,
            env=env,
            stderr=subprocess.PIPE,
        )
        for k in range(4)
    ]
    for k in range(30):
        client.log_metric(rid, "parent", k, step=k)
        if k % 5 == 0:
            client.flush(rid)
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    client.set_terminated(rid)
    r = client.get_run(rid)
    assert r.info.status == "FINISHED"  # joiners do not end the run: the owner does
    for k in range(4):
        assert len(client.get_metric_history(rid, f"w{k}")) == 60
        assert r.data.tags[f"w{k}"] == "done"
        assert r.data.metrics[f"w{k}"] == 59
    assert len(client.get_metric_history(rid, "parent")) == 30
    fsck(repo)


CRASHER = """
import sys, time, gittrack
with gittrack.start_run(run_name="doomed") as run:
    gittrack.log_param("lr", 0.1)
    for step in range(20):
        gittrack.log_metric("loss", 1.0 / (step + 1), step=step)
    gittrack.Client().flush()          # these 20 points are on disk
    print(run.info.run_id, flush=True)
    sys.stdin.readline()               # wait to be killed
    gittrack.log_metric("loss", -1.0, step=99)
"""


def test_sigkill_loses_at_most_the_unflushed_interval(repo: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHER],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    rid = child.stdout.readline().strip()
    child.kill()
    child.wait(timeout=30)
    assert child.stdin is not None
    child.stdin.close()
    child.stdout.close()
    fsck(repo)
    client = gittrack.Client(repo)
    r = client.get_run(rid)
    assert r.info.status == "RUNNING"
    assert r.data.typed_params == {"lr": 0.1}
    assert len(client.get_metric_history(rid, "loss")) == 20
    dead = find_dead_runs(client)
    assert [d.run_id for d in dead] == [rid]
    assert "is gone" in dead[0].reason
    mark_killed(client, rid)
    after = client.get_run(rid)
    assert after.info.status == "KILLED"
    assert len(client.get_metric_history(rid, "loss")) == 20
    assert find_dead_runs(client) == []
    # The next command works: a new run in the same repository.
    with gittrack.start_run() as run:
        gittrack.log_metric("ok", 1)
    assert gittrack.get_run(run.info.run_id).info.status == "FINISHED"


def test_live_run_is_not_marked_killed(repo: Path) -> None:
    with gittrack.start_run() as run:
        client = gittrack.Client(repo)
        assert find_dead_runs(client) == []
        with pytest.raises(gittrack.GittrackError, match="may still be running"):
            mark_killed(client, run.info.run_id)


def test_interval_flush_makes_metrics_visible_without_ending(repo: Path) -> None:
    script = (
        "import sys, gittrack\n"
        "run = gittrack.start_run()\n"
        "gittrack.log_metric('m', 1.0)\n"
        "print(run.info.run_id, flush=True)\n"
        "sys.stdin.readline()\n"
    )
    env = dict(os.environ, GITTRACK_FLUSH_INTERVAL="0.2")
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=repo,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    rid = child.stdout.readline().strip()
    client = gittrack.Client(repo)
    # The run itself is written by that first flush too (a new run is not written at
    # start_run): poll (bounded) for the flusher's commit.
    deadline = time.monotonic() + 30
    while not _metrics_written(client, rid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get_run(rid).data.metrics == {"m": 1.0}
    assert client.get_run(rid).info.status == "RUNNING"
    child.stdin.close()
    child.wait(timeout=30)
    child.stdout.close()
    assert client.get_run(rid).info.status == "FINISHED"


def _metrics_written(client: gittrack.Client, run_id: str) -> bool:
    try:
        return bool(client.get_run(run_id).data.metrics)
    except RunNotFoundError:
        return False


def test_sigterm_marks_the_run_killed(repo: Path) -> None:
    script = (
        "import sys, gittrack\n"
        "with gittrack.start_run() as run:\n"
        "    gittrack.log_metric('m', 1.0)\n"
        "    print(run.info.run_id, flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    rid = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM
    child.stdin.close()
    child.stdout.close()
    r = gittrack.get_run(rid)
    assert r.info.status == "KILLED"
    assert r.data.metrics == {"m": 1.0}


def test_stale_lock_of_a_dead_writer_is_recovered(repo: Path) -> None:
    with gittrack.start_run() as run:
        pass
    ref = repo / ".git" / "refs" / "gittrack" / "runs" / run.info.run_id
    lock = ref.with_name(ref.name + ".lock")
    lock.write_text("")
    old = time.time() - 120
    os.utime(lock, (old, old))
    with gittrack.start_run(run_id=run.info.run_id):
        gittrack.log_metric("after", 1)
    assert gittrack.get_run(run.info.run_id).data.metrics == {"after": 1}
    assert not lock.exists()
    fsck(repo)
    assert git(repo, "status", "--porcelain") == ""


def test_files_added_by_a_writer_survive_a_concurrent_update(repo: Path) -> None:
    from gittrack.writer import set_tags_op, writer_for_loaded

    client = gittrack.Client(repo)
    run = client.create_run("e")
    rid = run.info.run_id
    first = client.writer(rid)
    blob = client.store.git.write_blob(b"hello\n")
    first.add_run_file("artifacts/a.txt", blob)
    first.flush()
    second_blob = client.store.git.write_blob(b"second\n")
    first.add_run_file("artifacts/b.txt", second_blob)
    # Another writer of the same run moves the ref before `first` flushes again.
    other = writer_for_loaded(client.store, client.store.load(rid))
    other.apply(set_tags_op({"by": "other"}))
    other.flush()
    first.flush()
    client.set_terminated(rid)
    ref = f"refs/gittrack/runs/{rid}"
    assert git(repo, "show", f"{ref}:.gittrack/run/artifacts/a.txt") == "hello\n"
    assert git(repo, "show", f"{ref}:.gittrack/run/artifacts/b.txt") == "second\n"
    assert user_tags(client.get_run(rid).data.tags) == {"by": "other"}
    fsck(repo)
