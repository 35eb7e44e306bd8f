"""MLflow's side of each workload; runs in benchmarks/.venvs/mlflow.

``args["store"]`` picks the backend: ``file`` (``./mlruns``, the file store MLflow 3
only allows with ``MLFLOW_ALLOW_FILE_STORE=true``) or ``sqlite`` (``./mlflow.db``).
Importing mlflow and creating the store (sqlite migrations) are never timed, except in
the start-up workload.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    EXPERIMENT,
    FILTER,
    ORDER_BY,
    Context,
    Recorder,
    artifact_file,
    check_history,
    compare_runs,
    create_runs,
    free_port,
    log_metric_loop,
    metric_points,
    read_ids,
    record_scoring,
    serve_and_score,
    time_command,
    time_search,
    write_ids,
)

BATCH_LIMIT = 1000  # MLflow rejects more than 1,000 metrics in one log_batch


def _uri(store: str, where: Path) -> str:
    if store == "sqlite":
        return f"sqlite:///{where / 'mlflow.db'}"
    return f"file:{where / 'mlruns'}"


def _mlflow(ctx: Context, where: Path | None = None) -> Any:
    """Import mlflow with the tracking URI of this case (``where``: the store's folder)."""
    os.environ["MLFLOW_TRACKING_URI"] = _uri(ctx.arg("store", "file"), where or ctx.workdir)
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return mlflow


def create(ctx: Context, rec: Recorder) -> None:
    mlflow = _mlflow(ctx)
    mlflow.set_experiment(EXPERIMENT)
    ids = create_runs(mlflow, int(ctx.arg("n")), artifact_file(ctx.workdir), rec)
    write_ids(ctx.workdir, ids)


def log_metric(ctx: Context, rec: Recorder) -> None:
    log_metric_loop(_mlflow(ctx), int(ctx.arg("calls")), rec)


def _log_points(client: Any, run_id: str, points: int) -> None:
    from mlflow.entities import Metric

    ts = int(time.time() * 1000)
    batch: list[Any] = []
    for step, values in metric_points(points):
        batch.extend(Metric(k, v, ts, step) for k, v in values.items())
        if len(batch) >= BATCH_LIMIT:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)


def log_batch(ctx: Context, rec: Recorder) -> None:
    mlflow = _mlflow(ctx)
    client = mlflow.MlflowClient()
    exp = mlflow.set_experiment("batch")
    run_id = client.create_run(exp.experiment_id).info.run_id
    points = int(ctx.arg("points"))
    with rec.time(
        "log_batch",
        ops=points,
        label=f"{points:,} points, `MlflowClient.log_batch` of {BATCH_LIMIT:,}, run end incl.",
    ):
        _log_points(client, run_id, points)
        client.set_terminated(run_id)
    fluent = int(ctx.arg("fluent_points"))
    with rec.time(
        "log_metrics",
        ops=fluent,
        label=f"{fluent:,} points, fluent `log_metrics` of 10 keys, run end incl.",
    ):
        mlflow.start_run(run_name="fluent")
        for step, values in metric_points(fluent):
            mlflow.log_metrics(values, step=step)
        mlflow.end_run()


def million(ctx: Context, rec: Recorder) -> None:
    """One run with ``points`` metric points (10 keys): log, finish, read back."""
    mlflow = _mlflow(ctx)
    client = mlflow.MlflowClient()
    exp = mlflow.set_experiment("million")
    run_id = client.create_run(exp.experiment_id).info.run_id
    points = int(ctx.arg("points"))
    with rec.time("log", ops=points, label=f"log {points:,} points (`log_batch` of 1,000)"):
        _log_points(client, run_id, points)
    with rec.time("finish", label="finish the run (`set_terminated`)"):
        client.set_terminated(run_id)
    with rec.time("read", ops=points, label="read the history back (`get_metric_history` x10)"):
        got = sum(len(client.get_metric_history(run_id, f"k{k}")) for k in range(10))
    if got != points:
        rec.note(f"read back {got:,} points, expected {points:,}")
    if points < 1_000_000:
        rec.note(
            f"MLflow logged {points:,} points, not 1,000,000, to keep the default suite "
            "within 10 minutes. Its full million, measured once on the 2-core machine "
            "(MLflow 3.17.2, file store, under load): 113 s to log, 1.6 ms to finish, "
            "30 s to read back. Reading back costs more per point as the run grows, so "
            "the smaller run flatters MLflow. --scale runs the full million."
        )


def history(ctx: Context, rec: Recorder) -> None:
    """Read one run's metric history back, every key (the gittrack side's twin)."""
    mlflow = _mlflow(ctx)
    client = mlflow.MlflowClient()
    exp = mlflow.set_experiment("history")
    run_id = client.create_run(exp.experiment_id).info.run_id
    points = int(ctx.arg("points"))
    _log_points(client, run_id, points)
    client.set_terminated(run_id)
    keys = [f"k{k}" for k in range(10)]
    for name, label in (
        ("history", f"`get_metric_history` of each of 10 keys, {points:,} points, first read"),
        ("history_again", "the same calls again in the same process"),
    ):
        with rec.time(name, ops=points, label=label):
            got = [client.get_metric_history(run_id, key) for key in keys]
        check_history(rec, got, points)


def search(ctx: Context, rec: Recorder) -> None:
    """Warm in-process ``search_runs``, then ``mlflow runs list`` as a whole process."""
    assert ctx.fixture is not None
    mlflow = _mlflow(ctx, ctx.fixture)
    n = len(read_ids(ctx.fixture))
    kwargs = {"experiment_names": [EXPERIMENT], "filter_string": FILTER, "order_by": [ORDER_BY]}
    # seconds a call at 1,000 runs; the repetitions give the samples
    time_search(mlflow, kwargs, n, 1, rec)
    exp_id = mlflow.get_experiment_by_name(EXPERIMENT).experiment_id
    time_command(
        rec,
        "list_all",
        [str(Path(sys.executable).parent / "mlflow"), "runs", "list", "--experiment-id", exp_id],
        label=f"`mlflow runs list --experiment-id {exp_id}` ({n:,} runs)",
    )


DIFF_SCRIPT = """
import sys, mlflow
a, b = (mlflow.get_run(r) for r in sys.argv[1:3])
pa, pb = a.data.params, b.data.params
changed = {k: (pa.get(k), pb.get(k)) for k in pa.keys() | pb.keys() if pa.get(k) != pb.get(k)}
metrics = {k: b.data.metrics.get(k, 0) - v for k, v in a.data.metrics.items()}
print(changed, metrics)
"""


def show_diff(ctx: Context, rec: Recorder) -> None:
    assert ctx.fixture is not None
    mlflow = _mlflow(ctx, ctx.fixture)
    a, b = read_ids(ctx.fixture)[:2]
    compare_runs(mlflow, a, b)  # warm-up
    times = 20
    with rec.time("diff_inproc", ops=times, label="`get_run` x2 + compare, warm in-process"):
        for _ in range(times):
            compare_runs(mlflow, a, b)
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    time_command(
        rec,
        "show_process",
        [mlflow_cli, "runs", "describe", "--run-id", a],
        label="`mlflow runs describe --run-id A`",
    )
    time_command(
        rec,
        "diff_process",
        [sys.executable, "-c", DIFF_SCRIPT, a, b],
        label="`python -c` script: `get_run` x2 + compare (MLflow has no diff CLI)",
    )


def startup(ctx: Context, rec: Recorder) -> None:
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    times = int(ctx.arg("times", 1))  # each call costs seconds; repetitions add samples
    time_command(rec, "version", [mlflow_cli, "--version"], times=times, label="`mlflow --version`")
    time_command(
        rec,
        "import",
        [sys.executable, "-c", "import mlflow"],
        times=times,
        label="`python -c 'import mlflow'`",
    )


def serve(ctx: Context, rec: Recorder) -> None:
    """``mlflow models serve --env-manager local`` (uvicorn) on the same model directory
    and the same requests as gittrack's case."""
    assert ctx.fixture is not None, "serve needs the scoring-model fixture"
    workers = int(ctx.arg("workers"))
    port = free_port()
    bin_dir = Path(sys.executable).parent
    cmd = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(ctx.fixture / "model")]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    # MLflow loads the pickled model only when allowed; it execs uvicorn by name.
    env = dict(os.environ, MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true")
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    name = "serve"
    with rec.step(name, f"{name}_p99"):
        result = serve_and_score(cmd, port, env, int(ctx.arg("requests")), int(ctx.arg("clients")))
        record_scoring(rec, name, result, f"mlflow models serve, {workers} worker(s)")
