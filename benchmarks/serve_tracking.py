"""Tracking-server speed: ``gittrack server`` beside ``mlflow server`` (sqlite), same client.

Usage: ``python -m benchmarks.serve_tracking [--quick] [--runs 1000,10000] [--calls 2000]``.

Each server runs on a free loopback port in its own scratch directory, with its default
settings (gittrack: one worker; MLflow: ``--backend-store-uri sqlite:///...`` with proxied
artifacts). The same driver — MLflow's own ``MlflowClient`` in MLflow's virtualenv — then
measures, against each server in turn:

- ``log_metric``: one request per call, from 1 client and from 8 client threads (each its
  own run), as requests/s;
- ``log_batch``: requests of 1,000 metric points, as requests/s and points/s;
- ``search_runs`` warm (filter ``metrics.m0 < 0.5 and params.p0 = 'v3'``, order
  ``metrics.m1 DESC``) over N runs per size, median of 5 after one untimed call; and
  interleaved with it, the same ``runs/search`` request sent with ``urllib`` and its
  answer read but not parsed (the server and the transport without the client's
  protobuf parsing); and that answer parsed as the client parses it (JSON, protobuf,
  ``Run`` entities), with its size: the part of the round trip that is the client's.

The N runs searched are written before each server starts, with identical content
(3 params, 2 metrics, 1 tag per run, finished), in each tool's own format and quickly:
gittrack's through :mod:`benchmarks.fast_repo` (gittrack's writers, ``git fast-import``),
MLflow's through its ORM models into the sqlite file, a thousand runs per transaction
(the rows ``SqlAlchemyStore.create_run`` and ``log_batch`` write). Prints a Markdown table with the
ratios gittrack/MLflow. Loopback only; servers are stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.common import free_port, http_server  # noqa: E402  (after the path)

EXPERIMENT = "bench"
FILTER = "metrics.m0 < 0.5 and params.p0 = 'v3'"
ORDER = "metrics.m1 DESC"

# The client side, run with MLflow's interpreter against either server.
DRIVER = r"""
import json, statistics, sys, threading, time, urllib.request
from mlflow.entities import Metric, Run
from mlflow.protos.service_pb2 import SearchRuns
from mlflow.utils.proto_json_utils import parse_dict
from mlflow.tracking import MlflowClient

url, calls, batches, sizes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = MlflowClient(tracking_uri=url)
out = {}
exp = client.get_experiment_by_name("bench").experiment_id

run = client.create_run(exp).info.run_id
client.log_metric(run, "warm", 0.0)
start = time.perf_counter()
for i in range(calls):
    client.log_metric(run, "loss", 1.0 / (i + 1), step=i)
out["log_metric_1"] = calls / (time.perf_counter() - start)

threads, per = 8, max(1, calls // 8)
runs = [client.create_run(exp).info.run_id for _ in range(threads)]
def work(rid):
    for i in range(per):
        client.log_metric(rid, "loss", float(i), step=i)
pool = [threading.Thread(target=work, args=(r,)) for r in runs]
start = time.perf_counter()
for t in pool: t.start()
for t in pool: t.join()
out["log_metric_8"] = threads * per / (time.perf_counter() - start)
for rid in runs:
    client.set_terminated(rid)

stamp = int(time.time() * 1000)
start = time.perf_counter()
for b in range(batches):
    client.log_batch(run, metrics=[
        Metric(f"k{j % 10}", float(j), stamp, b * 100 + j // 10) for j in range(1000)])
out["log_batch"] = batches / (time.perf_counter() - start)
client.set_terminated(run)

history = client.get_metric_history(run, "loss")
out["history_ok"] = len(history) == calls
for n in sizes.split(","):
    search_exp = client.get_experiment_by_name(f"runs-{n}").experiment_id
    kwargs = dict(experiment_ids=[search_exp], filter_string=FILTER, order_by=[ORDER],
                  max_results=1000)
    found = client.search_runs(**kwargs)
    body = json.dumps({"experiment_ids": [search_exp], "filter": FILTER, "order_by": [ORDER],
                       "max_results": 1000, "run_view_type": "ACTIVE_ONLY"}).encode()
    request = urllib.request.Request(url + "/api/2.0/mlflow/runs/search", data=body,
                                     headers={"Content-Type": "application/json"})
    times, raw, parse = [], [], []
    for _ in range(5):  # interleaved: both see the server in the same state
        start = time.perf_counter()
        client.search_runs(**kwargs)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        with urllib.request.urlopen(request) as answer:
            body = answer.read()
        raw.append(time.perf_counter() - start)
        start = time.perf_counter()  # what the client does with the answer it was sent
        reply = SearchRuns.Response()
        parse_dict(json.loads(body), reply)
        [Run.from_proto(r) for r in reply.runs]
        parse.append(time.perf_counter() - start)
    out[f"search_{n}"] = statistics.median(times)
    out[f"raw_{n}"] = statistics.median(raw)
    out[f"parse_{n}"] = statistics.median(parse)
    out[f"bytes_{n}"] = len(body)
    out[f"found_{n}"] = len(found)
print(json.dumps(out))
""".replace("FILTER", repr(FILTER)).replace("ORDER", repr(ORDER))

# Writes the searched runs into MLflow's sqlite store (MLflow's interpreter): the rows
# SqlAlchemyStore.create_run, log_batch and set_terminated write (runs, tags, params,
# metrics, latest_metrics), through MLflow's own ORM models, a thousand runs per
# transaction (one create_run + log_batch per run takes about 0.1 s here: 18 minutes for
# 10,000 runs). Each run also gets the system tags gittrack reports for its runs (user,
# source name and type, git commit and branch: what MLflow's fluent client sets on a run
# started from a script in a git repository), so both servers answer the same data.
MLFLOW_FILL = r"""
import json, sys, time, uuid
from mlflow.entities import LifecycleStage, RunStatus, SourceType
from mlflow.store.tracking.dbmodels.models import (
    SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from mlflow.utils.uri import append_to_uri_path
uri, art, sizes, system = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
store = SqlAlchemyStore(uri, art)
store.create_experiment("bench")
for n in map(int, sizes.split(",")):
    exp = store.create_experiment(f"runs-{n}")
    location = store.get_experiment(exp).artifact_location
    for first in range(0, n, 1000):
        with store.ManagedSessionMaker(read_only=False) as session:
            for i in range(first, min(n, first + 1000)):
                now, rid = int(time.time() * 1000), uuid.uuid4().hex
                session.add(SqlRun(
                    name=f"run-{i}", artifact_uri=append_to_uri_path(location, rid, "artifacts"),
                    run_uuid=rid, experiment_id=int(exp),
                    source_type=SourceType.to_string(SourceType.UNKNOWN), source_name="",
                    entry_point_name="", user_id="bench",
                    status=RunStatus.to_string(RunStatus.FINISHED), start_time=now,
                    end_time=now + 1, source_version="", lifecycle_stage=LifecycleStage.ACTIVE))
                session.flush()
                rows = [SqlTag(key=MLFLOW_RUN_NAME, value=f"run-{i}", run_uuid=rid),
                        SqlTag(key="t0", value="bench", run_uuid=rid)]
                rows += [SqlTag(key=k, value=v, run_uuid=rid) for k, v in system.items()]
                rows += [SqlParam(key=k, value=v, run_uuid=rid)
                         for k, v in (("p0", f"v{i % 10}"), ("p1", str(i)), ("p2", "x"))]
                for key, value in (("m0", (i * 37 % 100) / 100), ("m1", (i * 53 % 100) / 100)):
                    for model in (SqlMetric, SqlLatestMetric):
                        rows.append(model(key=key, value=value, timestamp=now, step=0,
                                          is_nan=False, run_uuid=rid))
                session.add_all(rows)
"""


def fill_gittrack(repo: Path, sizes: list[int]) -> None:
    """The same runs in gittrack's exact storage format (:mod:`benchmarks.fast_repo`:
    gittrack's own writers, objects handed to ``git fast-import``), then the experiments
    through gittrack's library."""
    from benchmarks import fast_repo
    from gittrack import experiments
    from gittrack.query.search import query_rows
    from gittrack.session import open_repository

    firsts = [sum(sizes[:k]) for k in range(len(sizes))]

    def where(g: int) -> tuple[int, int]:  # global run number -> (size, run number in it)
        k = max(k for k, first in enumerate(firsts) if first <= g)
        return sizes[k], g - firsts[k]

    def content(g: int) -> fast_repo.RunContent:
        n, i = where(g)
        params = {"p0": f"v{i % 10}", "p1": str(i), "p2": "x"}
        return fast_repo.RunContent(f"run-{i}", f"runs-{n}", params, {"t0": "bench"})

    def series(g: int) -> fast_repo.Series:
        i = where(g)[1]  # the values MLFLOW_FILL logs
        return {"m0": [(i * 37 % 100) / 100], "m1": [(i * 53 % 100) / 100]}

    total = sum(sizes)
    fast_repo.build(repo, total, series=series, content=content, distinct=total)
    store = open_repository(repo, create=False)
    experiments.create(store, EXPERIMENT)  # the runs' experiments exist through their runs
    tags = dict(query_rows(repo=repo, max_results=1)[0]["tags"])
    return {k: v for k, v in tags.items() if k.startswith("mlflow.") and k != "mlflow.runName"}


def measure(
    cmd: list[str], cwd: Path, env: dict[str, str], port: int, args: argparse.Namespace
) -> dict[str, float]:
    from benchmarks.envs import peer_env

    mlflow = peer_env("mlflow", install=False)
    ready = "/api/2.0/mlflow/experiments/get?experiment_id=0"
    with http_server(cmd, port, ready, env=env, cwd=cwd):
        child_env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
        out = subprocess.run(
            [
                str(mlflow.python),
                "-c",
                DRIVER,
                f"http://127.0.0.1:{port}",
                str(args.calls),
                str(args.batches),
                args.runs,
            ],
            capture_output=True,
            text=True,
            env=child_env,
            check=False,
        )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", default="1000,10000", help="run counts to search")
    parser.add_argument("--calls", type=int, default=2000, help="log_metric calls")
    parser.add_argument("--batches", type=int, default=20, help="log_batch requests")
    parser.add_argument("--quick", action="store_true", help="CI smoke sizes")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.calls, args.batches = "100", 80, 3
    from benchmarks.envs import peer_env

    mlflow = peer_env("mlflow", install=False)
    if not mlflow.available:
        print(f"MLflow not available ({mlflow.note}): nothing to compare")
        return
    sizes = [int(n) for n in args.runs.split(",")]
    with tempfile.TemporaryDirectory(prefix="gittrack-server-bench-") as tmp:
        results, fill_g, fill_m = compare(Path(tmp), sizes, args)
    print(report(results, sizes, args, fill_g, fill_m))


def compare(
    tmp: Path, sizes: list[int], args: argparse.Namespace
) -> tuple[dict[str, dict[str, float]], float, float]:
    """Both servers measured in ``tmp``; returns the results and the seconds each fill took."""
    from benchmarks.envs import peer_env

    mlflow = peer_env("mlflow", install=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_DIR", "GITTRACK_"))}
    results: dict[str, dict[str, float]] = {}

    repo = tmp / "gittrack"
    start = time.perf_counter()
    system_tags = fill_gittrack(repo, sizes)
    fill_g = time.perf_counter() - start
    port = free_port()
    script = Path(sys.executable).parent / "gittrack"
    results["gittrack"] = measure(
        [str(script), "server", "--port", str(port), "--quiet"], repo, env, port, args
    )

    store = tmp / "mlflow"
    store.mkdir()
    db = f"sqlite:///{store / 'mlflow.db'}"
    start = time.perf_counter()
    subprocess.run(
        [
            str(mlflow.python),
            "-c",
            MLFLOW_FILL,
            db,
            str(store / "artifacts"),
            args.runs,
            json.dumps(system_tags),
        ],
        check=True,
        env=dict(env, MLFLOW_DISABLE_TELEMETRY="true"),
    )
    fill_m = time.perf_counter() - start
    port = free_port()
    menv = dict(env, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    menv["PATH"] = os.pathsep.join([str(mlflow.bin), env.get("PATH", "")])
    results["mlflow"] = measure(
        [
            str(mlflow.bin / "mlflow"),
            "server",
            "--backend-store-uri",
            db,
            "--artifacts-destination",
            str(store / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        store,
        menv,
        port,
        args,
    )
    return results, fill_g, fill_m


def report(
    results: dict[str, dict[str, float]],
    sizes: list[int],
    args: argparse.Namespace,
    fill_g: float,
    fill_m: float,
) -> str:
    g, m = results["gittrack"], results["mlflow"]
    lines = [
        f"`python -m benchmarks.serve_tracking --runs {args.runs} --calls {args.calls} "
        f"--batches {args.batches}`; {os.cpu_count()} CPUs, loadavg "
        f"{os.getloadavg()[0]:.1f} at the end. Runs written before the servers start: "
        f"gittrack {fill_g:.0f} s, MLflow sqlite {fill_m:.0f} s.",
        "",
        "| what (same MlflowClient, same run) | gittrack server | mlflow server (sqlite) "
        "| gittrack / MLflow |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (
        ("log_metric_1", f"log_metric, 1 client ({args.calls} calls), requests/s"),
        ("log_metric_8", "log_metric, 8 client threads, requests/s"),
        ("log_batch", f"log_batch of 1,000 points ({args.batches} requests), requests/s"),
    ):
        lines.append(f"| {label} | {g[key]:.0f} | {m[key]:.0f} | {g[key] / m[key]:.1f}x |")
    for n in sizes:
        gs, ms = g[f"search_{n}"], m[f"search_{n}"]
        found = f"{g[f'found_{n}']:.0f} / {m[f'found_{n}']:.0f} runs found"
        lines.append(
            f"| search_runs over {n:,} runs, warm ({found}) | {gs * 1000:.0f} ms "
            f"| {ms * 1000:.0f} ms | {ms / gs:.1f}x faster |"
        )
        gr, mr = g[f"raw_{n}"], m[f"raw_{n}"]
        lines.append(
            f"| the same `runs/search` over HTTP, answer read, not parsed | {gr * 1000:.0f} ms "
            f"| {mr * 1000:.0f} ms | {mr / gr:.1f}x faster |"
        )
        gp, mp = g[f"parse_{n}"], m[f"parse_{n}"]
        lines.append(
            f"| the client's parsing of that answer ({g[f'bytes_{n}'] / 1024:,.0f} KiB / "
            f"{m[f'bytes_{n}'] / 1024:,.0f} KiB) | {gp * 1000:.0f} ms | {mp * 1000:.0f} ms "
            f"| {mp / gp:.2f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
