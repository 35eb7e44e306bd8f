"""Scoring-server throughput: gittrack ``models serve`` (1 and 2 workers) beside MLflow's.

Usage: ``python benchmarks/serve_models.py [--requests 2000] [--concurrency 8]``.
Trains a small scikit-learn model, saves it once with gittrack (MLflow loads the same
directory), starts each server on a free loopback port, sends a bounded number of
``POST /invocations`` requests from keep-alive client threads, and prints requests/s with
p50/p99 latency as a Markdown table. Loopback only; servers are stopped by pid.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.common import free_port, http_server  # noqa: E402  (after the path)

BODY = json.dumps(
    {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0, 4.0]]}}
).encode()


def load(port: int, requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_thread = requests // concurrency

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        for _ in range(per_thread):
            t0 = time.perf_counter()
            conn.request("POST", "/invocations", BODY, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            if resp.status != 200:
                errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors[0],
        "rps": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
    }


def run_server(
    cmd: list[str], port: int, env: dict[str, str], args: argparse.Namespace
) -> dict[str, float]:
    with http_server(cmd, port, "/ping", env=env, timeout=120):
        load(port, min(200, args.requests), args.concurrency)  # warm-up
        return load(port, args.requests, args.concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()

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
        rows.append((f"gittrack, {workers} worker(s)", run_server(cmd, port, env, args)))
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
            rows.append(
                (f"mlflow models serve, {workers} worker(s)", run_server(cmd, port, menv, args))
            )
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
