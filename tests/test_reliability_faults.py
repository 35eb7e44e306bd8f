"""Faults: SIGKILL at random moments, locks of dead and live owners, a full disk.

The kill trials use a seeded RNG (``GITTRACK_FAULT_SEED``, default 20261126) to pick the
scenario and the moment; sizes scale with ``GITTRACK_SLOW_SCALE`` (default 1: 10 trials;
the issue's full size, >= 200 trials, is ``GITTRACK_SLOW_SCALE=20``: 200 trials). The
random delay is the point of these trials (a random kill moment), not event ordering.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import fsck, git, user_tags

import gittrack
from gittrack.errors import ConcurrencyError, StorageError
from gittrack.recovery import find_dead_runs
from gittrack.store import refs as refs_mod

SCALE = float(os.environ.get("GITTRACK_SLOW_SCALE", "1"))
TRIALS = max(6, round(10 * SCALE))
SEED = int(os.environ.get("GITTRACK_FAULT_SEED", "20261126"))
SCENARIOS = ("flush", "artifact", "ref", "push", "pull", "gc")
STEPS = 20
GITTRACK = "gittrack"  # the script beside the test interpreter (tests/conftest.py)

CHILD = """
import os, subprocess, sys
import gittrack
from gittrack import sync

mode, remote, source = sys.argv[1], sys.argv[2], sys.argv[3]
events = os.open(sys.argv[4], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def say(tag, rid):  # one write per line: whole or absent, whatever git prints on stdout
    os.write(events, f"{tag} {rid}\\n".encode())


client = gittrack.Client()
big = os.urandom(300_000)
i = 0
while True:
    i += 1
    if mode == "pull":
        src = gittrack.Client(source)
        r = src.create_run("src", run_name=f"src-{os.getpid()}-{i}")
        src.log_param(r.info.run_id, "i", i)
        for step in range(20):
            src.log_metric(r.info.run_id, "m", step, step=step)
        src.set_terminated(r.info.run_id)
        say("REMOTE", r.info.run_id)
        sync.pull(".", source)
        continue
    with gittrack.start_run(run_name=f"{mode}-{os.getpid()}-{i}") as run:
        rid = run.info.run_id
        say("START", rid)
        gittrack.log_param("i", i)
        for step in range(20):
            gittrack.log_metric("m", step, step=step)
            if mode == "flush" and step % 3 == 0:
                client.flush()
        if mode == "artifact":
            gittrack.log_text(big.hex()[: 100_000 + i], "big.txt")
            with open("payload.bin", "wb") as f:
                f.write(big[: 200_000 + i])
            gittrack.log_artifact("payload.bin", "data")
        if mode == "ref":
            for k in range(8):
                gittrack.set_tag(f"t{k}", str(k))
                client.flush()
    say("DONE", rid)
    if mode == "push":
        sync.push(".", remote)
    if mode == "gc":
        subprocess.run(["git", "gc", "-q", "--prune=now"], check=False)
"""


def _ref_locks(git_dir: Path) -> list[Path]:
    return sorted((git_dir / "refs").rglob("*.lock"))


def _check_run(client: gittrack.Client, rid: str, expect_status: str = "FINISHED") -> None:
    r = client.get_run(rid)
    assert r.info.status == expect_status, (rid, r.info.status)
    assert isinstance(r.data.typed_params["i"], int)
    assert [m.step for m in client.get_metric_history(rid, "m")] == list(range(STEPS))


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_completed(
    repo: Path, bare_remote: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    source = tmp_path / "source"
    source.mkdir()
    git(source, "init", "-q")
    (source / "f.txt").write_text("source\n")
    git(source, "add", ".")
    git(source, "commit", "-q", "-m", "source")
    done: dict[str, str] = {}  # run id -> scenario, for every run that completed
    verified: dict[str, str] = {}  # run id -> commit last read back and found sound
    stats: Counter[str] = Counter()
    started = time.monotonic()
    for trial in range(TRIALS):
        mode = (
            SCENARIOS[trial % len(SCENARIOS)] if trial < len(SCENARIOS) else rng.choice(SCENARIOS)
        )
        delay = rng.uniform(0.4, 1.6)
        events = tmp_path / f"events-{trial}"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, mode, str(bare_remote), str(source), str(events)],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # the kill takes git subprocesses (push, gc) with it
            env=dict(os.environ, GITTRACK_FLUSH_INTERVAL="0.02"),
        )
        try:
            child.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        finally:  # the group is killed on every way out, the suite's own timeout included
            if child.returncode is None:
                os.killpg(child.pid, signal.SIGKILL)
        assert child.returncode is None, child.stderr.read() if child.stderr else ""
        child.wait(timeout=30)
        assert child.stderr is not None
        err = child.stderr.read().decode()
        child.stderr.close()
        assert "Traceback" not in err, (trial, mode, err)
        stats[mode] += 1
        out = events.read_text() if events.exists() else ""
        lines = [line.split() for line in out.splitlines()]
        trial_done = [rid for tag, rid in lines if tag == "DONE"]
        for tag, rid in lines:
            if tag == "REMOTE":  # finished in the source; a completed pull brought it here
                done.setdefault(rid, "pull-source")
        fsck(repo)
        fsck(bare_remote)
        client = gittrack.Client(repo)
        listed = client.store.list_runs()
        # A run whose ref has not moved since it was last verified is unchanged (objects
        # are immutable and fsck passed): only new or moved runs are read again, and
        # every 20 trials all of them are.
        sweep = (trial + 1) % 20 == 0
        fresh = [rid for rid, sha in listed.items() if sweep or verified.get(rid) != sha]
        for rid in trial_done:
            _check_run(client, rid)
            done[rid] = mode
        running = [rid for rid in fresh if client.get_run(rid).info.status == "RUNNING"]
        before = {rid: len(client.get_metric_history(rid, "m")) for rid in running}
        dead = {d.run_id for d in find_dead_runs(client)}
        assert dead == set(running), (trial, mode, dead, running)
        # The next gittrack commands work: list, recover, and a write to every run ref a
        # dead writer left locked.
        for argv in (["list", "--format", "json"], ["recover"]):
            proc = subprocess.run(
                [GITTRACK, *argv], cwd=repo, capture_output=True, text=True, timeout=120
            )
            assert proc.returncode == 0 and "Traceback" not in proc.stderr, (argv, proc.stderr)
        for rid in running:
            stats["recovered"] += 1
            after = client.get_run(rid)
            assert after.info.status == "KILLED"
            assert len(client.get_metric_history(rid, "m")) == before[rid]
        for lock in _ref_locks(repo / ".git"):
            stats["stale ref locks"] += 1
            name = lock.name[: -len(".lock")]
            run_ref = lock.parent.name == "runs" and lock.parent.parent.name == "gittrack"
            if run_ref and name in listed:
                proc = subprocess.run(  # the next write of that run recovers the lock
                    [GITTRACK, "tag", name, f"checked={trial}"],
                    cwd=repo,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert proc.returncode == 0, proc.stderr
            else:  # a ref being created, a remote-tracking ref: the next writer takes it
                fd = refs_mod._acquire(lock, timeout=10)
                os.close(fd)
                lock.unlink()
            assert not lock.exists()
        current = client.store.list_runs()
        for rid, sha in current.items():
            if sweep or verified.get(rid) != sha:
                r = client.get_run(rid)  # nothing half-written: the run loads
                assert r.info.status != "RUNNING", (trial, rid)
                if rid in done:
                    _check_run(client, rid)
                verified[rid] = sha
        lost = [rid for rid, m in done.items() if m != "pull-source" and rid not in current]
        assert not lost, (trial, mode, lost)  # completed runs never disappear
        if (trial + 1) % 20 == 0:  # progress of long runs (visible with -s)
            print(f"faults: trial {trial + 1}/{TRIALS}, {time.monotonic() - started:.0f} s")
    # Every run that completed in any trial is still intact at the end.
    client = gittrack.Client(repo)
    listed = client.store.list_runs()
    for rid, mode in done.items():
        if mode == "pull-source" and rid not in listed:
            continue  # killed before its pull finished: it is still in the source
        _check_run(client, rid)
    stats["completed runs"] = len(done)
    print(
        f"\nfaults: seed {SEED}, {TRIALS} trials, {dict(stats)}, {time.monotonic() - started:.1f} s"
    )


# -- locks -------------------------------------------------------------------------------
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_lock_of_a_live_owner_is_never_removed_even_when_old(repo: Path) -> None:
    with gittrack.start_run() as run:
        pass
    rid = run.info.run_id
    git_dir = repo / ".git"
    ref = f"refs/gittrack/runs/{rid}"
    lock = git_dir / (ref + ".lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline() == "held\n"
    _age(lock, 3600)  # older than any age rule: only the live owner protects it
    current = refs_mod.read_ref(git_dir, ref)
    assert current is not None
    with pytest.raises(ConcurrencyError, match="held by another process"):
        refs_mod.update_ref(git_dir, ref, current, current, timeout=0.3)
    assert lock.exists()
    # Its owner dies: the kernel drops the flock and the next writer recovers the lock.
    holder.kill()
    holder.wait(timeout=30)
    holder.stdin.close()
    holder.stdout.close()
    client = gittrack.Client(repo)
    client.set_tag(rid, "after", "kill")
    client.flush(rid)
    assert not lock.exists()
    assert gittrack.get_run(rid).data.tags["after"] == "kill"
    fsck(repo)


def test_fresh_lock_of_a_killed_writer_does_not_block_the_next_command(repo: Path) -> None:
    """A writer killed between taking the lock and renaming it leaves a fresh lock."""
    with gittrack.start_run() as run:
        pass
    rid = run.info.run_id
    lock = repo / ".git" / "refs" / "gittrack" / "runs" / f"{rid}.lock"
    lock.write_text("0" * 40 + "\n")  # written, never renamed: the owner died
    _age(lock, refs_mod.OWNERLESS_LOCK_SECONDS + 1)  # seconds, not the old 30 s rule
    started = time.monotonic()
    proc = subprocess.run(
        [GITTRACK, "tag", rid, "k=v"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < refs_mod.LOCK_TIMEOUT_SECONDS
    assert not lock.exists()
    assert user_tags(gittrack.get_run(rid).data.tags) == {"k": "v"}
    fsck(repo)


def test_a_just_created_ownerless_lock_is_left_alone(repo: Path) -> None:
    """C git takes no flock: a lock younger than the grace period may be its live lock."""
    with gittrack.start_run() as run:
        pass
    git_dir = repo / ".git"
    ref = f"refs/gittrack/runs/{run.info.run_id}"
    lock = git_dir / (ref + ".lock")
    lock.write_text("")
    current = refs_mod.read_ref(git_dir, ref)
    with pytest.raises(ConcurrencyError):
        refs_mod.update_ref(git_dir, ref, current or "", current, timeout=0.2)
    assert lock.exists()


# -- disk full ---------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["os.replace", "os.write"])
def test_disk_full_while_finishing_a_run_loses_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    # Only the explicit retry may write: no background flush or heartbeat in between.
    monkeypatch.setenv("GITTRACK_FLUSH_INTERVAL", "3600")
    monkeypatch.setenv("GITTRACK_HEARTBEAT_INTERVAL", "3600")
    client = gittrack.Client(repo)
    run = client.create_run("disk", run_name="disk-full")
    rid = run.info.run_id
    client.log_param(rid, "lr", 0.1)
    for step in range(10):
        client.log_metric(rid, "loss", 1.0 / (step + 1), step=step)
    client.log_text(rid, "first\n", "notes/a.txt")
    client.flush(rid)
    ref = repo / ".git" / "refs" / "gittrack" / "runs" / rid
    published = ref.read_text()
    for step in range(10, 15):
        client.log_metric(rid, "loss", 0.01, step=step)
    client.set_tag(rid, "stage", "final")

    real = getattr(os, target.split(".")[1])

    def full(*args: object, **kwargs: object) -> object:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, target.split(".")[1], full)
    with pytest.raises(StorageError) as info:
        client.set_terminated(rid)
    monkeypatch.setattr(os, target.split(".")[1], real)
    message = str(info.value)
    assert "\n" not in message and ("space" in message or "No space" in message)
    # Nothing recorded is lost: the ref still names the previous, intact commit.
    assert ref.read_text() == published
    fsck(repo)
    from gittrack.runs import RunStore

    reader = RunStore(repo)  # another reader's view: no read-your-writes flush of ours
    stored = reader.load(rid)
    assert stored.record.status == "RUNNING"
    table = reader.read_metrics(stored)
    assert table is not None and table.num_rows == 10
    reader.close()
    assert not list((repo / ".git").rglob("*.lock"))
    assert not list((repo / ".git" / "objects").rglob("tmp_obj_*"))
    # Space is freed: the retry ends the run with everything that was buffered, once.
    client.set_terminated(rid)
    r = client.get_run(rid)
    assert r.info.status == "FINISHED"
    assert user_tags(r.data.tags) == {"stage": "final"}
    assert [m.step for m in client.get_metric_history(rid, "loss")] == list(range(15))
    assert git(repo, "show", f"refs/gittrack/runs/{rid}:.gittrack/run/params.yaml").strip()
    fsck(repo)


def test_disk_full_through_the_cli_is_one_line(repo: Path) -> None:
    """``gittrack tag`` on a full disk (injected in the subprocess): one line, exit 1."""
    with gittrack.start_run() as run:
        pass
    rid = run.info.run_id
    ref = repo / ".git" / "refs" / "gittrack" / "runs" / rid
    before = ref.read_text()
    script = (
        "import errno, os, sys\n"
        "def full(*a, **k):\n"
        "    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
        "os.replace = full\n"
        "from gittrack.cli import main\n"
        f"main(['tag', {rid!r}, 'k=v'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gittrack: error:"), proc.stderr
    assert "space" in lines[0].lower()
    assert ref.read_text() == before
    fsck(repo)
