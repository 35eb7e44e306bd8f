"""Scoring-server throughput: gittrack ``models serve`` (1 and 2 workers) beside MLflow's.

Usage: ``python benchmarks/serve_models.py [--requests 2000] [--concurrency 8]``.
Trains a small scikit-learn model, saves it once with gittrack (MLflow loads the same
directory), starts each server on a free loopback port, sends a bounded number of
``POST /invocations`` requests from keep-alive client threads, and prints requests/s with
p50/p99 latency as a Markdown table. Loopback only; servers are stopped by pid.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.common import free_port, serve_and_score  # noqa: E402  (after the path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()

    def score(cmd: list[str], port: int, env: dict[str, str]) -> dict[str, float]:
        return serve_and_score(cmd, port, env, args.requests, args.concurrency)

    import numpy as np
    from sklearn.linear_model import LinearRegression

    import gittrack.sklearn
    from benchmarks.envs import peer_env

    tmp = Path(tempfile.mkdtemp(prefix="gittrack-serve-bench-"))
    x = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
    model_dir = tmp / "model"
    gittrack.sklearn.save_model(
        LinearRegression().fit(x, x.sum(1)), model_dir, input_example={"a": [1.0], "b": [2.0]}
    )
    env = dict(os.environ)
    rows: list[tuple[str, dict[str, float]]] = []
    for workers in (1, 2):
        port = free_port()
        cmd = [
            "gittrack",
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        rows.append((f"gittrack, {workers} worker(s)", score(cmd, port, env)))
    mlflow = peer_env("mlflow", install=False)
    if mlflow.available and not args.no_mlflow:
        menv = dict(env, MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true")
        # mlflow execs uvicorn by name: its venv's bin must come first on PATH.
        menv["PATH"] = os.pathsep.join([str(mlflow.bin), env.get("PATH", "")])
        for workers in (1, 2):
            port = free_port()
            cmd = [
                str(mlflow.bin / "mlflow"),
                "models",
                "serve",
                "-m",
                str(model_dir),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                str(workers),
            ]
            rows.append((f"mlflow models serve, {workers} worker(s)", score(cmd, port, menv)))
    print(
        f"{args.requests} requests, {args.concurrency} keep-alive client threads, "
        f"{os.cpu_count()} CPUs, loadavg {os.getloadavg()[0]:.2f}\n"
    )
    print("| server | requests/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['errors']:.0f} |"
        )


if __name__ == "__main__":
    main()
