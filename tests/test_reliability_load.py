"""Load: many processes create runs at once while others list and push; nothing is lost.

Sizes scale with ``GITTRACK_SLOW_SCALE`` (default 1: 4 writers x 5 runs, CI-sized); the
issue's full size (16 writers x 100 runs) is ``GITTRACK_SLOW_SCALE=20``. See
docs/reliability.md for the figures measured by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import fsck, git

import gittrack

SCALE = float(os.environ.get("GITTRACK_SLOW_SCALE", "1"))
WRITERS = max(2, min(16, round(4 * SCALE)))
RUNS_PER_WRITER = max(2, round(5 * SCALE))
STEPS = 10
GITTRACK = "gittrack"  # the script beside the test interpreter (tests/conftest.py)

WRITER = """
import sys, gittrack
proc, n, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with gittrack.start_run(run_name=f"p{proc}-r{i}"):
        gittrack.log_params({"proc": proc, "i": i, "name": f"w{proc}"})
        for step in range(steps):
            gittrack.log_metric("loss", 1.0 / (step + 1) + proc + i / 1000, step=step)
        gittrack.log_text(f"artifact of writer {proc} run {i}\\n" * 3, "notes/out.txt")
        gittrack.set_tag("writer", str(proc))
"""


class Looper(threading.Thread):
    """Runs one CLI command again and again until told to stop; keeps every failure."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        super().__init__(daemon=True)
        self.argv, self.cwd = argv, cwd
        self.stop = threading.Event()
        self.rounds = 0
        self.failures: list[str] = []
        self.outputs: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            proc = subprocess.run(
                self.argv, cwd=self.cwd, capture_output=True, text=True, timeout=300
            )
            self.rounds += 1
            if proc.returncode != 0 or proc.stderr.strip():
                self.failures.append(f"rc={proc.returncode} {proc.stderr.strip()}")
            else:
                self.outputs.append(proc.stdout)


def _leftovers(git_dir: Path) -> list[Path]:
    return [*git_dir.rglob("*.lock"), *(git_dir / "objects").rglob("tmp_obj_*")]


@pytest.mark.slow
def test_writers_listers_and_pushers_at_once_lose_nothing(repo: Path, bare_remote: Path) -> None:
    started = time.monotonic()
    lister = Looper([GITTRACK, "list", "--format", "json"], repo)
    pusher = Looper([GITTRACK, "push", str(bare_remote)], repo)
    lister.start()
    pusher.start()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(p), str(RUNS_PER_WRITER), str(STEPS)],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for p in range(WRITERS)
    ]
    errors = []
    for child in children:
        out, err = child.communicate(timeout=1800)
        if child.returncode != 0 or err.strip():
            errors.append(err.decode())
    # Let each looper finish at least one round that saw every writer done.
    for looper in (lister, pusher):
        target = looper.rounds + 1
        while looper.rounds <= target and looper.is_alive():
            looper.stop.wait(0.05)  # bounded by the looper's own subprocess timeout
        looper.stop.set()
    for looper in (lister, pusher):
        looper.join(timeout=300)
    assert errors == []
    assert lister.failures == [], lister.failures[:3]
    assert pusher.failures == [], pusher.failures[:3]
    assert lister.rounds >= 2 and pusher.rounds >= 2
    for out in lister.outputs:  # every listing was well-formed JSON of whole runs
        for row in json.loads(out):
            assert len(row["run_id"]) == 32 and row["status"] in ("RUNNING", "FINISHED")

    total = WRITERS * RUNS_PER_WRITER
    client = gittrack.Client(repo)
    runs = client.store.list_runs()
    assert len(runs) == total
    seen: set[tuple[int, int]] = set()
    dst = repo.parent / "downloads"
    for rid in runs:
        r = client.get_run(rid)
        assert r.info.status == "FINISHED"
        proc, i = r.data.typed_params["proc"], r.data.typed_params["i"]
        assert r.data.params["name"] == f"w{proc}"
        assert r.info.run_name == f"p{proc}-r{i}"
        assert r.data.tags["writer"] == str(proc)
        history = client.get_metric_history(rid, "loss")
        assert [m.step for m in history] == list(range(STEPS))
        got = Path(client.download_artifacts(rid, "notes/out.txt", dst / rid))
        assert got.read_text() == f"artifact of writer {proc} run {i}\n" * 3
        seen.add((proc, i))
    assert len(seen) == total
    final = json.loads(
        subprocess.run(
            [GITTRACK, "list", "--format", "json"], cwd=repo, capture_output=True, check=True
        ).stdout
    )
    assert {row["run_id"] for row in final} == set(runs)

    # The remote ends with exactly the local runs after one more push.
    subprocess.run([GITTRACK, "push", str(bare_remote)], cwd=repo, check=True, capture_output=True)
    remote_refs = git(bare_remote, "for-each-ref", "--format=%(refname) %(objectname)")
    remote_runs = {
        line.split()[0].rsplit("/", 1)[1]: line.split()[1]
        for line in remote_refs.splitlines()
        if line.startswith("refs/gittrack/runs/")
    }
    assert remote_runs == runs
    fsck(repo)
    fsck(bare_remote)
    assert _leftovers(repo / ".git") == []
    assert _leftovers(bare_remote) == []
    elapsed = time.monotonic() - started
    print(
        f"\nload: {WRITERS} writers x {RUNS_PER_WRITER} runs, lister {lister.rounds} rounds,"
        f" pusher {pusher.rounds} rounds, {elapsed:.1f} s"
    )
