"""Large artifacts stream: a child process logs a big file and measures its own peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MIB = 1024 * 1024

CHILD = r"""
import json, os, resource, sys, time
import gittrack
from gittrack.client import Client

path = sys.argv[1]
client = Client()
run_id = client.create_run("mem").info.run_id
client.log_text(run_id, "warm-up", "warm.txt")  # imports and first commit done
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
client.log_artifact(run_id, path)
first = time.perf_counter() - t0
t0 = time.perf_counter()
client.log_artifact(client.create_run("mem").info.run_id, path)
again = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kib": base, "peak_kib": peak, "first_s": first, "again_s": again}))
"""


def _log_in_child(repo: Path, size: int) -> dict[str, float]:
    big = repo / "big.bin"
    with open(big, "wb") as f:  # sparse: quick to make, still read and copied in full
        f.truncate(size)
        f.write(os.urandom(MIB))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(big)],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    objects = list((repo / ".git" / "gittrack" / "objects" / "sha256").glob("*/*"))
    assert len(objects) == 1 and objects[0].stat().st_size == size
    return result


def _assert_flat(result: dict[str, float]) -> None:
    growth_mib = (result["peak_kib"] - result["base_kib"]) / 1024
    assert growth_mib < 100, f"peak RSS grew by {growth_mib:.0f} MiB"


def test_logging_200_mib_keeps_rss_flat(repo: Path) -> None:
    _assert_flat(_log_in_child(repo, 200 * MIB))


@pytest.mark.slow
def test_logging_2_gib_keeps_rss_flat(repo: Path) -> None:
    scale = float(os.environ.get("GITTRACK_SLOW_SCALE", "1"))
    _assert_flat(_log_in_child(repo, max(int(2048 * scale), 2) * MIB))
