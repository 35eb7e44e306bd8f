"""Importing an MLflow file store: ``gittrack import mlflow`` vs MLflow's own
``mlflow migrate-filestore`` (file store -> sqlite) on the same store.

    python benchmarks/migrate_bench.py                 # 1,000 runs x 10 metrics x 1,000 steps
    python benchmarks/migrate_bench.py --quick         # 50 runs x 5 metrics x 100 steps (CI)
    python benchmarks/migrate_bench.py --runs 200 --steps 500

The store is written in MLflow's file-store layout (the one MLflow's ``FileStore``
writes: meta.yaml with the status enum, one file per param and tag, one
``"<timestamp> <value> <step>"`` line per metric point), each run with 10 params, 4 tags
and a small artifact. Both tools are timed as whole processes, from spawn to exit, each
into a fresh destination; both results are checked (runs and metric points counted in
gittrack's summary and in MLflow's sqlite database) so a fast wrong answer cannot pass.
Needs MLflow's venv (``benchmarks/.venvs/mlflow``, see benchmarks/envs.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.envs import loadavg, peer_env


def write_store(root: Path, runs: int, metrics: int, steps: int) -> None:
    """An MLflow file store with ``runs`` finished runs in the Default experiment."""
    exp = root / "0"
    exp.mkdir(parents=True)
    (root / ".trash").mkdir()
    now = 1_700_000_000_000
    (exp / "meta.yaml").write_text(
        f"artifact_location: file://{exp}\ncreation_time: {now}\nexperiment_id: '0'\n"
        f"last_update_time: {now}\nlifecycle_stage: active\nname: Default\n"
    )
    for i in range(runs):
        run_id = uuid.uuid4().hex
        run = exp / run_id
        for sub in ("metrics", "params", "tags", "artifacts"):
            (run / sub).mkdir(parents=True)
        start = now + i * 60_000
        (run / "meta.yaml").write_text(
            f"artifact_uri: file://{run}/artifacts\nend_time: {start + 50_000}\n"
            f"entry_point_name: ''\nexperiment_id: '0'\nlifecycle_stage: active\n"
            f"run_id: '{run_id}'\nrun_name: run-{i}\nsource_name: ''\nsource_type: 4\n"
            f"source_version: ''\nstart_time: {start}\nstatus: 3\ntags: []\nuser_id: bench\n"
        )
        for p in range(10):
            (run / "params" / f"p{p}").write_text(str(0.001 * (i + p)))
        tags = {
            "mlflow.runName": f"run-{i}",
            "mlflow.user": "bench",
            "mlflow.source.name": "train.py",
            "mlflow.source.type": "LOCAL",
        }
        for key, value in tags.items():
            (run / "tags" / key).write_text(value)
        for m in range(metrics):
            lines = [f"{start + s} {1.0 / (s + m + 1)!r} {s}\n" for s in range(steps)]
            (run / "metrics" / f"metric_{m}").write_text("".join(lines))
        (run / "artifacts" / "model.txt").write_text(f"model of run {i}\n")


def timed(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, str]:
    """Seconds from spawn to exit, and the standard output."""
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="50 runs x 5 metrics x 100 steps")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.metrics, args.steps = 50, 5, 100
    mlflow = peer_env("mlflow", install=False)
    points = args.runs * args.metrics * args.steps
    tmp = Path(tempfile.mkdtemp(prefix="gittrack-migrate-bench-"))
    try:
        store = tmp / "mlruns"
        t0 = time.perf_counter()
        write_store(store, args.runs, args.metrics, args.steps)
        print(
            f"store: {args.runs} runs x {args.metrics} metrics x {args.steps} steps "
            f"({points:,} points) written in {time.perf_counter() - t0:.1f} s"
        )
        repo = tmp / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        gittrack = Path(sys.executable).parent / "gittrack"
        exe = [str(gittrack)] if gittrack.exists() else [sys.executable, "-m", "gittrack.cli"]
        ours, out = timed([*exe, "import", "mlflow", str(store), "--format", "json"], cwd=repo)
        summary = json.loads(out)
        assert summary["new"] == args.runs and summary["points"] == points, summary
        print(f"gittrack import mlflow:      {ours:8.1f} s  ({points / ours:,.0f} points/s)")
        if not mlflow.available:
            print(f"MLflow not run: {mlflow.note}")
            return
        env = dict(os.environ, MLFLOW_ALLOW_FILE_STORE="true")
        db = tmp / "mlflow.db"
        theirs, _ = timed(
            [
                str(mlflow.bin / "mlflow"),
                "migrate-filestore",
                "--source",
                str(store),
                "--target",
                f"sqlite:///{db}",
            ],
            env=env,
        )
        with sqlite3.connect(db) as con:
            n_runs = con.execute("select count(*) from runs").fetchone()[0]
            n_points = con.execute("select count(*) from metrics").fetchone()[0]
        assert (n_runs, n_points) == (args.runs, points), (n_runs, n_points)
        print(f"mlflow migrate-filestore:    {theirs:8.1f} s  ({points / theirs:,.0f} points/s)")
        print(f"ratio (MLflow / gittrack):   {theirs / ours:8.1f}x   load average {loadavg()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
