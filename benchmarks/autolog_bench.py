"""Autologging overhead: one small scikit-learn fit with and without autolog, gittrack vs MLflow.

    python benchmarks/autolog_bench.py [--reps 15] [--rows 1000] [--mlflow-python PATH]

Each tool runs in a child process of its own interpreter (gittrack: this one, with the
checkout first on PYTHONPATH; MLflow: benchmarks/.venvs/mlflow, file store) in a
scratch directory under /tmp: a git repository for gittrack, ``file:`` store for MLflow.
The child fits ``LogisticRegression`` on the same generated data (``--rows`` x 10,
binary labels), alternating a fit with autologging on and one with it off, ``--reps``
times each after one warm-up of both; the overhead is the difference of the medians.
Autologging records everything it does by default (params, training metrics, tags,
the data as an input) except the model (``log_models=False``: the issue's goal excludes
the model save); a second pair of rows includes the model. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, statistics, sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
tool, rows, reps, log_models = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
if tool == "gittrack":
    import gittrack as lib
    enable = lambda: lib.sklearn.autolog(log_models=log_models, silent=True)
    disable = lambda: lib.sklearn.autolog(disable=True)
else:
    import mlflow as lib
    lib.set_tracking_uri("file:" + sys.argv[5])
    enable = lambda: lib.sklearn.autolog(log_models=log_models, silent=True)
    disable = lambda: lib.sklearn.autolog(disable=True)
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = rng.normal(size=(rows, 10))
y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=rows) > 0).astype(int)

def fit():
    t = time.perf_counter()
    LogisticRegression().fit(X, y)
    return time.perf_counter() - t

plain, logged = [], []
for i in range(reps + 1):
    enable()
    with_log = fit()
    disable()
    without = fit()
    if i:  # the first pair warms imports and caches up
        logged.append(with_log)
        plain.append(without)
print(json.dumps({"plain": statistics.median(plain), "logged": statistics.median(logged),
                  "version": lib.__version__}))
"""


def run_child(python: Path, tool: str, rows: int, reps: int, log_models: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"autolog-bench-{tool}-") as tmp:
        env = dict(os.environ, MLFLOW_ALLOW_FILE_STORE="true", MLFLOW_ENABLE_TELEMETRY="false")
        env.pop("GITTRACK_REPO", None)
        if tool == "gittrack":
            env["PYTHONPATH"] = str(ROOT)
            subprocess.run(["git", "init", "-q", tmp], check=True)
        extra = [str(Path(tmp) / "mlruns")] if tool == "mlflow" else []
        out = subprocess.run(
            [
                str(python),
                "-c",
                CHILD,
                tool,
                str(rows),
                str(reps),
                "1" if log_models else "0",
                *extra,
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument(
        "--mlflow-python",
        type=Path,
        help="an interpreter with mlflow and scikit-learn "
        "(default: benchmarks/.venvs/mlflow, installed with python -m benchmarks --setup-only)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from benchmarks.envs import peer_env

    tools = [("gittrack", Path(sys.executable))]
    mlflow = peer_env("mlflow", install=False)
    if args.mlflow_python is not None:
        tools.append(("mlflow", args.mlflow_python))
    elif mlflow.available:
        tools.append(("mlflow", mlflow.python))
    else:
        print(f"MLflow skipped: {mlflow.note}")
    load = os.getloadavg()[0]
    print(
        f"LogisticRegression on {args.rows} x 10, median of {args.reps} fits per cell; "
        f"load average at start {load:.1f} on {os.cpu_count()} cores\n"
    )
    print("| tool | model logged | fit alone (ms) | fit with autolog (ms) | overhead (ms) |")
    print("| --- | --- | --- | --- | --- |")
    overheads: dict[tuple[str, bool], float] = {}
    for log_models in (False, True):
        for tool, python in tools:
            r = run_child(python, tool, args.rows, args.reps, log_models)
            over = (r["logged"] - r["plain"]) * 1000
            overheads[(tool, log_models)] = over
            print(
                f"| {tool} {r['version']} | {'yes' if log_models else 'no'} | "
                f"{r['plain'] * 1000:.1f} | {r['logged'] * 1000:.1f} | {over:.1f} |"
            )
    for log_models in (False, True):
        mine, theirs = overheads[("gittrack", log_models)], overheads.get(("mlflow", log_models))
        if theirs is not None and mine > 0:
            print(
                f"\nMLflow's overhead / gittrack's ({'with' if log_models else 'without'} "
                f"the model): {theirs / mine:.1f}x"
            )


if __name__ == "__main__":
    main()
