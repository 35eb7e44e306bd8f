"""gittrack ui at 1,000 / 10,000 / 100,000 runs, side by side with MLflow's UI backend.

For each size a repository is built in gittrack's exact format (benchmarks.fast_repo),
``gittrack ui`` is started as a user starts it, and the requests the runs table sends are
timed over one keep-alive loopback connection, warm (each kind once before timing):

- first page: the default view (newest first), 50 rows with 8 param/metric columns;
- filter: a different filter each time (so no answer is reused);
- sort: a different sort key each time;
- next page: walking the pages of a filtered, sorted view.

MLflow runs the same runs (written as its file store, then ``mlflow server`` from
benchmarks/.venvs/mlflow) and is asked the same through ``POST
/api/2.0/mlflow/runs/search`` (``max_results`` 50, ``page_token`` for the next page),
the endpoint its own UI's runs table calls. Also measured: the first paint of the runs
page in headless Chromium, and the compare view of 100 runs x 10 metrics x 10,000
points (the lines request of every chart; the page from navigation until the charts in view are
drawn and until every chart is drawn, for a first visit and for a returning user; and the
way a user gets there, from the runs page: runs selected, then Compare).

    python -m benchmarks.ui_bench                       # 1,000 and 10,000, MLflow, compare
    python -m benchmarks.ui_bench --sizes 100000 --no-mlflow
    python -m benchmarks.ui_bench --quick               # CI: 300 runs, gittrack only
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks import fast_repo
from benchmarks.common import EXPERIMENT, run_params, run_tags

WORK = Path(__file__).resolve().parent / ".work" / "ui"
GITTRACK = str(Path(sys.executable).parent / "gittrack")
COLUMNS = ["params.p0", "params.p1", "params.p2", "params.p3"] + [f"metrics.m{k}" for k in range(4)]
SORT_KEYS = [f"metrics.m{k} {d}" for k in range(5) for d in ("ASC", "DESC")] + [
    f"params.p{k} {d}" for k in range(10) for d in ("ASC", "DESC")
]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def quantiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in ms."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered) * 1000, p95 * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- gittrack ------------------------------------------------------------------------------
def repo_of(n: int) -> Path:
    path = WORK / f"runs-{n}" / "repo"
    if not (path.parent / "built").exists():
        shutil.rmtree(path.parent, ignore_errors=True)
        path.parent.mkdir(parents=True)
        started = time.perf_counter()
        fast_repo.build(path, n, experiments=3)
        print(f"[build] {n:,} runs: {time.perf_counter() - started:.1f} s", flush=True)
        (path.parent / "built").write_text("ok")
    return path


@contextmanager
def gittrack_ui(repo: Path) -> Iterator[tuple[str, float, int]]:
    """``gittrack ui`` on ``repo``; yields (URL, seconds until it printed the URL, pid)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [GITTRACK, "ui", "--no-browser", "--port", "0"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    ready = time.perf_counter() - started
    try:
        if not line.startswith("gittrack ui: "):
            raise RuntimeError(f"gittrack ui did not start: {line!r}")
        yield line.split()[2].rstrip("/"), ready, proc.pid
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()


class Http:
    """One keep-alive connection; ``timed`` returns (seconds, parsed JSON)."""

    def __init__(self, url: str) -> None:
        host, port = url.split("//")[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=600)

    def timed(self, method: str, path: str, body: Any = None) -> tuple[float, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        start = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        took = time.perf_counter() - start
        if resp.status != 200:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
        return took, json.loads(payload)

    def close(self) -> None:
        self.conn.close()


Interaction = Callable[[int], tuple[str, str, Any]]  # rep -> (method, path, body)


def gittrack_interactions() -> dict[str, Interaction]:
    def runs(**query: Any) -> tuple[str, str, Any]:
        query.setdefault("limit", 50)
        query["column"] = COLUMNS
        return "GET", "/ui/api/runs?" + urlencode(query, doseq=True), None

    view = {"filter": "params.p0 = 'v3'", "order": "metrics.m1 DESC"}
    return {
        "first page": lambda rep: runs(),
        "filter": lambda rep: runs(
            filter=f"metrics.m0 < {0.3 + rep / 1000:.4f} and params.p0 = 'v3'"
        ),
        "sort": lambda rep: runs(order=SORT_KEYS[rep % len(SORT_KEYS)]),
        "next page": lambda rep: runs(offset=50 * (rep % 19 + 1), **view),
    }


def measure(
    client: Http, interactions: dict[str, Interaction], reps: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, make in interactions.items():
        client.timed(*make(10_000))  # warm: the code path, not the answer
        out[name] = [client.timed(*make(rep))[0] for rep in range(reps)]
    return out


# Stamps, inside the page, the first frame drawn after the table's first rows appear
# (a MutationObserver, then the next animation frame): what the user sees, without the
# driver's own polling and round trips.
PAINT_PROBE = """
new MutationObserver((_, seen) => {
  if (!document.querySelector('#runs-table tbody tr')) return;
  seen.disconnect();
  requestAnimationFrame(() => setTimeout(() => { window.__painted = performance.now(); }, 0));
}).observe(document, {childList: true, subtree: true});
"""


def first_paint(url: str, reps: int) -> list[float] | str:
    """Seconds from navigation to the frame showing the first rows of the runs table, in
    headless Chromium (a fresh page each time, so nothing is kept in the browser)."""
    if not Path(CHROMIUM).exists():
        return "no Chromium at /usr/bin/chromium"
    from playwright.sync_api import sync_playwright

    samples = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(reps + 1):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.add_init_script(PAINT_PROBE)
                page.goto(url + "/")
                page.wait_for_function("window.__painted !== undefined")
                samples.append(page.evaluate("window.__painted") / 1000)
                page.close()
        finally:
            browser.close()
    return samples[1:]


# -- MLflow --------------------------------------------------------------------------------
def mlflow_store(n: int) -> Path:
    """The same runs as MLflow's file store (written directly, in its documented layout)."""
    root = WORK / f"mlflow-{n}" / "mlruns"
    if (root.parent / "built").exists():
        return root
    shutil.rmtree(root.parent, ignore_errors=True)
    started = time.perf_counter()
    exp = root / "1"
    exp.mkdir(parents=True)
    (root / ".trash").mkdir()
    (exp / "meta.yaml").write_text(
        f"artifact_location: {exp.as_uri()}\ncreation_time: {fast_repo.START_MS}\n"
        f"experiment_id: '1'\nlast_update_time: {fast_repo.START_MS}\n"
        f"lifecycle_stage: active\nname: {EXPERIMENT}\n"
    )
    for i in range(n):
        rid = fast_repo.run_id(i)
        start = fast_repo.START_MS + i * 1000
        series = fast_repo.default_series(i % 1000)
        run = exp / rid
        for sub in ("params", "metrics", "tags", "artifacts"):
            (run / sub).mkdir(parents=True)
        (run / "meta.yaml").write_text(
            f"artifact_uri: {(run / 'artifacts').as_uri()}\nend_time: {start + 10}\n"
            f"entry_point_name: ''\nexperiment_id: '1'\nlifecycle_stage: active\n"
            f"run_id: {rid}\nrun_name: run-{i}\nrun_uuid: {rid}\nsource_name: ''\n"
            f"source_type: 4\nsource_version: ''\nstart_time: {start}\nstatus: 3\n"
            f"tags: []\nuser_id: bench\n"
        )
        for key, value in run_params(i).items():
            (run / "params" / key).write_text(value)
        for key, value in {**run_tags(i), "mlflow.runName": f"run-{i}"}.items():
            (run / "tags" / key).write_text(value)
        for key, values in series.items():
            t0 = fast_repo.START_MS + (i % 1000) * 1000
            lines = "".join(f"{t0 + s} {v!r} {s}\n" for s, v in enumerate(values))
            (run / "metrics" / key).write_text(lines)
    (root.parent / "built").write_text("ok")
    print(f"[build] MLflow file store, {n:,} runs: {time.perf_counter() - started:.1f} s")
    return root


@contextmanager
def mlflow_server(store: Path) -> Iterator[str]:
    from benchmarks.envs import peer_env

    env = peer_env("mlflow", install=False)
    if not env.available:
        raise RuntimeError(env.note)
    port = free_port()
    child_env = dict(
        os.environ,
        MLFLOW_ALLOW_FILE_STORE="true",
        MLFLOW_ENABLE_TELEMETRY="false",
        DO_NOT_TRACK="1",
    )
    proc = subprocess.Popen(
        [str(env.bin / "mlflow"), "server", "--backend-store-uri", store.as_uri(),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def mlflow_interactions(client: Http) -> dict[str, Interaction]:
    path = "/api/2.0/mlflow/runs/search"

    def search(**body: Any) -> tuple[str, str, Any]:
        body = {"experiment_ids": ["1"], "max_results": 50, **body}
        return "POST", path, body

    view = {"filter": "params.p0 = 'v3'", "order_by": ["metrics.m1 DESC"]}
    tokens: list[str] = []

    def next_page(rep: int) -> tuple[str, str, Any]:
        if not tokens or rep % 19 == 0:
            tokens[:] = [""]
        method, p, body = search(**view, **({"page_token": tokens[-1]} if tokens[-1] else {}))
        return method, p, body

    def walk(method: str, p: str, body: Any) -> tuple[float, Any]:
        took, answer = client.timed(method, p, body)
        tokens.append(answer.get("next_page_token", ""))
        return took, answer

    interactions: dict[str, Interaction] = {
        "first page": lambda rep: search(order_by=["attributes.start_time DESC"]),
        "filter": lambda rep: search(
            filter=f"metrics.m0 < {0.3 + rep / 1000:.4f} and params.p0 = 'v3'"
        ),
        "sort": lambda rep: search(order_by=[SORT_KEYS[rep % len(SORT_KEYS)]]),
        "next page": next_page,
    }
    client.walk = walk  # type: ignore[attr-defined]
    return interactions


def measure_mlflow(client: Http, reps: int) -> dict[str, list[float]]:
    interactions = mlflow_interactions(client)
    out: dict[str, list[float]] = {}
    for name, make in interactions.items():
        timed = client.walk if name == "next page" else client.timed  # type: ignore[attr-defined]
        timed(*make(10_000))
        out[name] = [timed(*make(rep))[0] for rep in range(reps)]
    return out


# -- compare 100 runs x 10 metrics x 10,000 points -------------------------------------
# Stamps, in the page, when each chart is shown: the first frame after its data-drawn
# attribute appears (an animation frame, then a task after it), so the figures leave out
# the driver's polling and round trips and count a chart drawn only once it is painted.
DRAW_PROBE = """
window.__drawnAt = {};
new MutationObserver((changes) => {
  for (const c of changes) {
    const k = c.target.dataset.metric;
    if (k !== undefined && c.target.dataset.drawn !== undefined && !(k in window.__drawnAt)) {
      window.__drawnAt[k] = null;
      const stamp = () => { window.__drawnAt[k] = performance.now(); };
      requestAnimationFrame(() => setTimeout(stamp, 0));
    }
  }
}).observe(document, {attributes: true, attributeFilter: ["data-drawn"], subtree: true});
"""
# [charts in view, ms when the last of them was drawn, ms when the last chart was drawn,
# traces drawn] once every chart of the page is drawn (no scrolling: the page draws those
# in view first, then the others)
ALL_DRAWN = """(() => {
  const charts = [...document.querySelectorAll('#charts .chart')];
  if (!charts.length || charts.some(c => !window.__drawnAt[c.dataset.metric])) return null;
  const at = (cs) => Math.max(...cs.map(c => window.__drawnAt[c.dataset.metric]));
  const shown = charts.filter(c => c.getBoundingClientRect().top < innerHeight);
  const lines = charts.reduce((n, c) => n + c.chart.lines.length, 0);
  return [shown.length, at(shown), at(charts), lines];
})()"""


def server_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the process ``pid`` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_peak_rss(pid: int) -> float:
    """The peak resident memory of the process ``pid`` so far, in MB (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def compare_series(i: int, points: int) -> fast_repo.Series:
    rnd = random.Random(i)
    out = {}
    for k in range(10):
        scale, noise = 50 + 40 * rnd.random(), 0.05 * rnd.random()
        out[f"metric_{k}"] = [
            math.exp(-s / (points / 10) * scale / 50) + noise * rnd.random() for s in range(points)
        ]
    return out


def compare_visits(
    url: str, ids: list[str], profiles: list[int]
) -> list[tuple[int, float, float, int, float]]:
    """Visits of the compare page in headless Chromium, each (charts in view, s until they
    are drawn, s until every chart is drawn, traces, s of the page's main thread CPU).
    ``profiles`` numbers the browser profile of each visit: a visit in a profile used
    before is a returning user's (a real, on-disk profile, as a user's browser: it keeps
    the HTTP cache and the compiled code of cached scripts; an incognito context keeps no
    compiled code)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        contexts: dict[int, Any] = {}
        try:
            for profile in profiles:
                if profile not in contexts:
                    contexts[profile] = p.chromium.launch_persistent_context(
                        f"{tmp}/{profile}", executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                        viewport={"width": 1400, "height": 900},
                    )  # fmt: skip
                page = contexts[profile].new_page()
                page.add_init_script(DRAW_PROBE)
                cdp = contexts[profile].new_cdp_session(page)
                cdp.send("Performance.enable")
                page.goto(url + "/#/compare?runs=" + ",".join(ids))
                page.wait_for_function(ALL_DRAWN, timeout=300_000)
                in_view, shown, every, traces = page.evaluate(ALL_DRAWN)
                # the CPU time of the page's main thread (Chrome's ThreadTime): on a
                # loaded machine the page waits for a core, and wall time grows past it
                metrics = cdp.send("Performance.getMetrics")["metrics"]
                cpu = next(m["value"] for m in metrics if m["name"] == "ThreadTime")
                out.append((in_view, shown / 1000, every / 1000, traces, cpu))
                page.close()
        finally:
            for context in contexts.values():
                context.close()
    return out


# Selects every run of the runs page (two pages of 50), as a user does: the page's box,
# Next, the page's box again; returns performance.now() at the first selection
SELECT_ALL_PAGES = """async () => {
  const until = (ok) => new Promise((done) => {
    const check = () => ok() ? done() : requestAnimationFrame(check); check(); });
  const rows = () => document.querySelectorAll('#main tbody tr[data-run]');
  await until(() => rows().length > 0);
  const first = performance.now();
  document.getElementById('select-page').click();
  const shown = rows()[0].dataset.run;
  document.getElementById('next').click();
  await until(() => rows().length > 0 && rows()[0].dataset.run !== shown);
  document.getElementById('select-page').click();
  return first;
}"""


def compare_from_runs_page(url: str) -> tuple[float, float, float]:
    """A user's way to compare in a new browser profile: the runs page, both pages of runs
    selected, then Compare at once. Returns (s from the click until the charts in view
    are drawn; s until every chart is drawn; s of the page's main thread CPU since the
    click)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        context = p.chromium.launch_persistent_context(
            tmp, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        try:
            page = context.new_page()
            page.add_init_script(DRAW_PROBE)
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(url + "/#/")
            page.evaluate(SELECT_ALL_PAGES)
            assert page.inner_text("#compare") == "Compare (100)"

            def thread_time() -> float:
                metrics = cdp.send("Performance.getMetrics")["metrics"]
                return float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))

            cpu = thread_time()
            clicked = page.evaluate(
                "() => { const t = performance.now(); "
                "document.getElementById('compare').click(); return t; }"
            )
            page.wait_for_function(ALL_DRAWN, timeout=300_000)
            _, shown, every, _ = page.evaluate(ALL_DRAWN)
            cpu = thread_time() - cpu
            page.close()
        finally:
            context.close()
    return (shown - clicked) / 1000, (every - clicked) / 1000, cpu


def compare(runs: int, points: int, reps: int) -> dict[str, Any]:
    path = WORK / f"compare-{runs}x{points}" / "repo"
    if not (path.parent / "built").exists():
        shutil.rmtree(path.parent, ignore_errors=True)
        path.parent.mkdir(parents=True)
        fast_repo.build(path, runs, series=lambda i: compare_series(i, points), distinct=runs)
        (path.parent / "built").write_text("ok")
    ids = [fast_repo.run_id(i) for i in range(runs)]
    result: dict[str, Any] = {}
    if Path(CHROMIUM).exists():
        # 0: a just started server (it reads every run's history) and a new browser
        # profile; 1: a new profile again, the server's lines kept; then visits of
        # profile 1 again: the second (uPlot cached, its code compiled again and kept by
        # the browser) and the later ones (the kept code used)
        with gittrack_ui(path) as (url, _, _):
            visits = compare_visits(url, ids, [0, 1] + [1] * max(3, reps // 2))
            result.update(cold=visits[0], fresh=visits[1], second=visits[2], later=visits[3:])
            result["from_runs"] = [compare_from_runs_page(url) for _ in range(3)]
    with gittrack_ui(path) as (url, _, pid):
        # what the page asks for: every metric (up to 12 a request), 100 points a line
        # (10,000 a chart over its 100 runs)
        query = "/ui/api/lines?" + urlencode(
            {"run": ids, "key": [f"metric_{k}" for k in range(10)], "points": 100}, doseq=True
        )
        client = Http(url)
        client.timed("GET", "/ui/api/experiments")  # the server up, its index open
        cpu = server_cpu(pid)
        cold, answer = client.timed("GET", query)
        cpu = server_cpu(pid) - cpu
        peak = server_peak_rss(pid)
        lines = sum(len(r["lines"]) for r in answer)
        kept = max(  # arrays travel as base64 of float64
            len(base64.b64decode(line["value"])) // 8
            for r in answer
            for line in r["lines"].values()
        )
        warm = [client.timed("GET", query)[0] for _ in range(reps)]
        client.close()
        result.update(lines_cold=cold, lines_warm=warm, lines=lines, kept=kept)
        result.update(lines_cold_cpu=cpu, lines_cold_peak=peak)
    return result


# -- report --------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description="gittrack ui benchmarks")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument("--quick", action="store_true", help="300 runs, gittrack only (CI)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    args = parser.parse_args()
    sizes = [300] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    reps = 5 if args.quick else args.reps
    lines = [
        "| runs | interaction | gittrack p50 / p95 (ms) | MLflow p50 / p95 (ms) | ratio p95 |",
        "|---:|---|---:|---:|---:|",
    ]
    notes = []
    for n in sizes:
        repo = repo_of(n)
        started = time.perf_counter()
        subprocess.run([GITTRACK, "list", "-n", "1"], cwd=repo, check=True, capture_output=True)
        took = time.perf_counter() - started
        notes.append(
            f"- {n:,} runs: the first `gittrack list -n 1`: {took:.1f} s (builds the index)"
        )
        with gittrack_ui(repo) as (url, ready, _):
            notes.append(f"- {n:,} runs: `gittrack ui` printed its URL after {ready:.2f} s "
                         "(rows loaded into memory first)")  # fmt: skip
            client = Http(url)
            ours = measure(client, gittrack_interactions(), reps)
            client.close()
            paint = first_paint(url, 3 if args.quick else 5)
        theirs: dict[str, list[float]] | str = "not run"
        if not args.quick and not args.no_mlflow and n <= 10_000:
            try:
                with mlflow_server(mlflow_store(n)) as murl:
                    mclient = Http(murl)
                    theirs = measure_mlflow(mclient, reps)
                    mclient.close()
            except (RuntimeError, OSError) as e:
                theirs = f"not available: {e}"
        for name, samples in ours.items():
            p50, p95 = quantiles(samples)
            if isinstance(theirs, dict):
                m50, m95 = quantiles(theirs[name])
                peer, ratio = f"{m50:.1f} / {m95:.1f}", f"{p95 / m95:.3f}"
            else:
                peer, ratio = theirs, ""
            lines.append(f"| {n:,} | {name} | {p50:.1f} / {p95:.1f} | {peer} | {ratio} |")
        if isinstance(paint, list):
            p50, p95 = quantiles(paint)
            lines.append(f"| {n:,} | first paint (Chromium) | {p50:.0f} / {p95:.0f} | | |")
        else:
            notes.append(f"- first paint not measured: {paint}")
    if not args.quick and not args.no_compare:
        c = compare(100, 10_000, reps)
        lines += [
            "",
            "| compare 100 runs x 10 metrics x 10,000 points, from navigation | charts in "
            "view drawn (s) | every chart drawn (s) | main thread CPU (s) |",
            "|---|---:|---:|---:|",
        ]
        if "later" in c:
            for label, visit in (
                ("first visit, server just started (reads 100 runs' histories)", c["cold"]),
                ("first visit of a new browser profile", c["fresh"]),
                ("second visit (uPlot cached, compiled again)", c["second"]),
            ):
                lines.append(f"| {label} | {visit[1]:.2f} | {visit[2]:.2f} | {visit[4]:.2f} |")
            lines.append(
                f"| later visits (compiled uPlot kept), p50 of {len(c['later'])} | "
                + " | ".join(
                    f"{statistics.median(v[i] for v in c['later']):.2f}" for i in (1, 2, 4)
                )
                + " |"
            )
            lines += [
                "",
                "| compare from the runs page, a new browser profile: both pages selected, "
                "then Compare; from the click (p50 of 3) | charts in view drawn (s) | every "
                "chart drawn (s) | main thread CPU (s) |",
                "|---|---:|---:|---:|",
            ]
            cells = (f"{statistics.median(v[i] for v in c['from_runs']):.2f}" for i in (0, 1, 2))
            lines.append(f"| Compare clicked at once after selecting | {' | '.join(cells)} |")
            notes.append(
                f"- compare: {c['later'][0][0]} charts in view at 1400 x 900, "
                f"{c['later'][0][3]} lines drawn"
            )
        notes.append(
            f"- compare, the lines of every chart: first request {c['lines_cold']:.2f} s (reads "
            f"100 runs' histories; server CPU {c['lines_cold_cpu']:.2f} s, server peak RSS "
            f"{c['lines_cold_peak']:.0f} MB), "
            f"later p50 {statistics.median(c['lines_warm']):.3f} s; "
            f"{c['lines']} lines, at most {c['kept']} points each (10,000 logged)"
        )
    load = os.getloadavg()
    header = [
        "# gittrack ui benchmarks",
        "",
        f"`python -m benchmarks.ui_bench {' '.join(sys.argv[1:])}` on {platform.node()} "
        f"({os.cpu_count()} cores, load average {load[0]:.1f} at the end), "
        f"{reps} timed requests per interaction after one warm-up, loopback HTTP, "
        "client-side wall time. Ratios are gittrack / MLflow (below 1: gittrack faster).",
        "",
    ]
    text = "\n".join(header + lines + ["", *notes]) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
