"""Helpers shared by every workload module.

This module is imported inside the child processes, including the interpreters of the
MLflow and DVC virtual environments, so it uses the standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

N_PARAMS = 10
N_METRICS = 5
N_STEPS = 10
N_TAGS = 3
ARTIFACT_BYTES = 1024
EXPERIMENT = "bench"
# The filter and sort every tool is asked for (MLflow's grammar; gittrack speaks it too).
FILTER = "metrics.m0 < 0.5 and params.p0 = 'v3'"
ORDER_BY = "metrics.m1 DESC"


class CommandFailed(RuntimeError):
    """A timed command exited non-zero."""


@dataclass
class Context:
    """What the harness hands a workload function in the child process."""

    workdir: Path
    args: dict[str, Any]
    fixture: Path | None = None
    rep: int = 0  # which repetition: costly extras (a cold pass) run in the first only

    def arg(self, name: str, default: Any = None) -> Any:
        return self.args.get(name, default)


@dataclass
class Recorder:
    """Collects the timed measures of one repetition."""

    measures: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # measure -> why it is missing

    def add(self, name: str, seconds: float, *, ops: int = 1, label: str = "") -> None:
        self.measures[name] = {"seconds": seconds, "ops": ops, "label": label or name}

    @contextlib.contextmanager
    def time(self, name: str, *, ops: int = 1, label: str = "") -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.add(name, time.perf_counter() - start, ops=ops, label=label)

    @contextlib.contextmanager
    def step(self, *names: str) -> Iterator[None]:
        """Measures that may fail on their own: the error is kept, the workload goes on."""
        try:
            yield
        except Exception as exc:  # reported per measure, never fatal
            text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
            for name in names:
                if name not in self.measures:
                    self.errors[name] = text

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, raise CommandFailed with its stderr tail when it fails."""
    proc = subprocess.run(
        list(args), cwd=cwd, env=env, input=stdin, capture_output=True, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        last = tail[-1] if tail else ""
        raise CommandFailed(f"`{' '.join(args)}` exited {proc.returncode}: {last}")
    return proc


def timed_run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> float:
    """Wall-clock seconds of one whole process, output captured (as a pipe would)."""
    start = time.perf_counter()
    run(args, cwd=cwd, env=env, stdin=stdin)
    return time.perf_counter() - start


def time_command(
    rec: Recorder,
    name: str,
    args: Sequence[str],
    *,
    times: int = 1,
    label: str = "",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Record the mean wall time of ``times`` runs of a whole process."""
    total = sum(timed_run(args, cwd=cwd, env=env) for _ in range(times))
    rec.add(name, total, ops=times, label=label or "`" + " ".join(args) + "`")


# --- the data every tool logs ------------------------------------------------------


def run_params(i: int) -> dict[str, str]:
    """10 params; p0 cycles through v0..v9 so the filter selects a tenth of the runs."""
    params = {"p0": f"v{i % 10}"}
    for k in range(1, N_PARAMS):
        params[f"p{k}"] = f"value-{k}-{i % (k + 3)}"
    return params


def run_tags(i: int) -> dict[str, str]:
    return {"team": f"t{i % 3}", "purpose": "benchmark", "batch": str(i // 100)}


def run_metrics(i: int) -> list[dict[str, float]]:
    """N_STEPS steps of N_METRICS metrics, deterministic per run; m0 in [0, 1)."""
    rnd = random.Random(i)
    return [{f"m{k}": rnd.random() for k in range(N_METRICS)} for _ in range(N_STEPS)]


def artifact_file(directory: Path) -> Path:
    path = directory / "artifact.bin"
    if not path.exists():
        path.write_bytes(random.Random(0).randbytes(ARTIFACT_BYTES))
    return path


def compare_runs(ml: Any, a: str, b: str) -> dict[str, Any]:
    """What a diff computes in-process (``ml`` is mlflow or gittrack): changed params and
    metric deltas of two runs."""
    ra, rb = ml.get_run(a), ml.get_run(b)
    pa, pb = ra.data.params, rb.data.params
    return {
        "params": {
            k: (pa.get(k), pb.get(k)) for k in pa.keys() | pb.keys() if pa.get(k) != pb.get(k)
        },
        "metrics": {k: rb.data.metrics.get(k, 0.0) - v for k, v in ra.data.metrics.items()},
    }


def time_search(ml: Any, kwargs: dict[str, Any], n: int, times: int, rec: Recorder) -> Any:
    """Warm ``search_runs`` (``ml`` is mlflow or gittrack): one untimed call, then ``times``
    timed ones over ``n`` runs. Returns the warm-up result."""
    result = ml.search_runs(**kwargs)  # warm-up (and index build, if any)
    with rec.time(
        "search_runs",
        ops=times,
        label=f'`search_runs(filter_string="{FILTER}", order_by=["{ORDER_BY}"])`'
        f" over {n:,} runs, warm",
    ):
        for _ in range(times):
            ml.search_runs(**kwargs)
    return result


def check_history(rec: Recorder, got: list[Any], points: int) -> None:
    """Sanity check of a history read: lists of entities, every point there."""
    n = sum(len(h) for h in got)
    if n != points or not all(isinstance(h, list) for h in got):  # MLflow: a list subclass
        rec.note(
            f"read {n:,} points in {sorted({type(h).__name__ for h in got})}, "
            f"expected {points:,} in lists"
        )
    for h in got:
        if h and not isinstance(h[-1].value, float):
            rec.note(f"a point's value is a {type(h[-1].value).__name__}, not a float")


def log_one_run(ml: Any, i: int, artifact: Path | None) -> str:
    """One run through the MLflow fluent API (``ml`` is mlflow or gittrack)."""
    with ml.start_run(run_name=f"run-{i}") as active:
        ml.log_params(run_params(i))
        for step, values in enumerate(run_metrics(i)):
            ml.log_metrics(values, step=step)
        ml.set_tags(run_tags(i))
        if artifact is not None:
            ml.log_artifact(str(artifact))
        return str(active.info.run_id)


def create_runs(ml: Any, n: int, artifact: Path, rec: Recorder, *, start: int = 0) -> list[str]:
    """Create runs ``start .. start+n`` and record the whole loop as one measure."""
    ids: list[str] = []
    art: Path | None = artifact
    label = f"create {n:,} runs"
    if not hasattr(ml, "log_artifact"):
        art = None
        label += " (without the artifact)"
        rec.note(
            f"{ml.__name__} has no log_artifact yet: runs were created without the 1 KB artifact"
        )
    with rec.time("create", ops=n, label=label):
        for i in range(start, start + n):
            ids.append(log_one_run(ml, i, art))
    return ids


def log_metric_loop(ml: Any, n: int, rec: Recorder) -> None:
    """Per-call ``log_metric`` in one run: the loop, and the loop plus ``end_run`` (the
    final flush: what it takes for the points to be recorded). Starting the run is not
    timed: creating runs is a workload of its own."""
    ml.set_experiment("log-metric")
    ml.start_run(run_name="per-call")
    start = time.perf_counter()
    for step in range(n):
        ml.log_metric("loss", 1.0 / (step + 1), step=step)
    end_loop = time.perf_counter()
    ml.end_run()
    done = time.perf_counter()
    rec.add("log_metric", done - start, ops=n, label=f"{n:,} x log_metric + end_run")
    rec.add("log_metric_loop", end_loop - start, ops=n, label=f"{n:,} x log_metric, loop only")


def metric_points(n_points: int, keys: int = 10) -> Iterator[tuple[int, dict[str, float]]]:
    """(step, {key: value}) with ``keys`` metrics per step, ``n_points`` points in all."""
    for step in range(n_points // keys):
        yield step, {f"k{k}": (step * 7 + k) % 1000 / 1000.0 for k in range(keys)}


def git_env(home: Path) -> dict[str, str]:
    """Environment for hermetic git: fixed identity, no user or system config. git's
    automatic maintenance keeps its default, so gittrack's (which follows ``gc.auto``)
    runs as it does for users."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "gitconfig"
    if not cfg.exists():
        cfg.write_text(
            "[user]\n\tname = bench\n\temail = bench@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n"
            "[advice]\n\tdetachedHead = false\n"
        )
    env = dict(os.environ)
    env.update(
        {
            "GIT_CONFIG_GLOBAL": str(cfg),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_DATE": "1700000000 +0000",
            "GIT_COMMITTER_DATE": "1700000000 +0000",
        }
    )
    return env


def init_code_repo(path: Path, env: dict[str, str]) -> None:
    """A small code repository with one commit: what a run starts from."""
    path.mkdir(parents=True, exist_ok=True)
    run(["git", "init", "-q", "-b", "main", str(path)], env=env)
    (path / "train.py").write_text("print('training')\n")
    (path / "README.md").write_text("# bench\n")
    run(["git", "add", "-A"], cwd=path, env=env)
    run(["git", "commit", "-q", "-m", "code"], cwd=path, env=env)


def init_bare(path: Path, env: dict[str, str]) -> None:
    run(["git", "init", "-q", "--bare", str(path)], env=env)


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy a fixture (untimed) so a repetition never sees another one's leftovers."""
    run(["cp", "-a", str(src), str(dst)])
    return dst


def write_ids(workdir: Path, ids: list[str]) -> None:
    """Fixtures keep the ids of their runs so later workloads can name two of them."""
    (workdir / "run_ids.txt").write_text("\n".join(ids) + "\n")


def read_ids(fixture: Path) -> list[str]:
    return (fixture / "run_ids.txt").read_text().split()


def count_refs(repo: Path, prefix: str, env: dict[str, str] | None = None) -> int:
    out = run(["git", "for-each-ref", "--format=%(refname)", prefix], cwd=repo, env=env)
    return len(out.stdout.splitlines())


def check_refs(
    rec: Recorder,
    repo: Path,
    prefix: str,
    expected: int,
    what: str,
    env: dict[str, str] | None = None,
) -> None:
    """Sanity check after a transfer: a fast wrong answer must not pass for a result."""
    got = count_refs(repo, prefix, env)
    if got < expected:
        rec.note(f"{what}: {got:,} refs under {prefix}, expected {expected:,}")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def http_server(
    cmd: list[str],
    port: int,
    ready_path: str,
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = 180,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until ``GET ready_path`` on ``port`` answers 200,
    and stop it (its whole process group, by pid) when the block ends."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            if time.monotonic() >= deadline:
                raise RuntimeError("server did not become ready")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", ready_path)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


SCORING_BODY = json.dumps(
    {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0, 4.0]]}}
).encode()


def score_requests(port: int, requests: int, concurrency: int) -> dict[str, float]:
    """Send ``requests`` ``POST /invocations`` (two rows of a two-feature model) from
    ``concurrency`` keep-alive client threads; requests/s, p50/p99 latency and errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_thread = requests // concurrency

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        failed = 0
        for _ in range(per_thread):
            t0 = time.perf_counter()
            conn.request("POST", "/invocations", SCORING_BODY, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            failed += resp.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

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
        "seconds": elapsed,
        "rps": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
    }


def serve_and_score(
    cmd: list[str], port: int, env: dict[str, str], requests: int, concurrency: int
) -> dict[str, float]:
    """Start a scoring server, warm it up (200 requests at most), then measure it."""
    with http_server(cmd, port, "/ping", env=env, timeout=120):
        score_requests(port, min(200, requests), concurrency)
        return score_requests(port, requests, concurrency)


def record_scoring(rec: Recorder, name: str, result: dict[str, float], server: str) -> None:
    """Keep a scoring measurement as two measures: per request, and the p99 latency."""
    if result["errors"]:
        raise RuntimeError(f"{server}: {result['errors']:.0f} requests failed")
    n = int(result["requests"])
    rec.add(name, result["seconds"], ops=n, label=f"{server}: {n:,} requests")
    rec.add(f"{name}_p99", result["p99_ms"] / 1000, label=f"{server}: p99 latency")
    rec.note(
        f"{server}: {result['rps']:,.0f} requests/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms"
    )
