"""gittrack's side of each workload: the checkout's package, through its public API and CLI.

The Python API mirrors MLflow's fluent API, so the shared loops in ``common`` drive both
(``import gittrack as mlflow``). The tracking repository is a small code repository
made per repetition (or copied from a fixture); gittrack finds it from the working
directory and ``GITTRACK_REPO``. If gittrack or a command is not there yet, the child
fails with the reason and the report says "not available".
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
    check_refs,
    compare_runs,
    copy_tree,
    create_runs,
    free_port,
    git_env,
    init_bare,
    init_code_repo,
    log_metric_loop,
    metric_points,
    read_ids,
    record_scoring,
    run,
    serve_and_score,
    time_command,
    time_search,
    timed_run,
    write_ids,
)

BATCH = 1000  # points per log_batch call, as on MLflow's side (its limit)


def _cli() -> list[str]:
    """The installed ``gittrack`` entry point beside this interpreter, else the same
    entry point through ``python -c`` (what a console script does)."""
    script = Path(sys.executable).parent / "gittrack"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from gittrack.cli import main; sys.exit(main())"]


def _cli_label(rec: Recorder) -> None:
    if not (Path(sys.executable).parent / "gittrack").exists():
        rec.note(
            "`gittrack` is not installed: commands ran as "
            "`python -c 'from gittrack.cli import main; main()'`"
        )


def _repo(ctx: Context, *, fresh: bool = True) -> Path:
    """The tracking repository: a new code repo, or a copy of the fixture's."""
    repo = ctx.workdir / "repo"
    os.environ.update(git_env(ctx.workdir / "home"))
    if fresh or ctx.fixture is None:
        init_code_repo(repo, dict(os.environ))
    else:
        # The process that built the fixture may have left a maintenance running (gittrack
        # starts one when a process that created many runs exits): copy it at rest.
        _wait_for_maintenance(ctx.fixture / "repo")
        copy_tree(ctx.fixture / "repo", repo)
    os.environ["GITTRACK_REPO"] = str(repo)
    os.chdir(repo)
    return repo


def _gittrack() -> Any:
    import gittrack

    return gittrack


def create(ctx: Context, rec: Recorder) -> None:
    _repo(ctx)
    gittrack = _gittrack()
    gittrack.set_experiment(EXPERIMENT)
    artifact = artifact_file(ctx.workdir)
    ids = create_runs(gittrack, int(ctx.arg("n")), artifact, rec)
    write_ids(ctx.workdir, ids)
    _wait_for_maintenance(ctx.workdir / "repo")  # untimed: the fixture is copied at rest


def _wait_for_maintenance(repo: Path) -> None:
    """Wait (10 minutes at most) until no maintenance runs in ``repo``: one the last runs
    started may still be packing, and a copy taken meanwhile could miss files."""
    from gittrack.store.maintain import busy

    start = time.perf_counter()
    while busy(repo / ".git") and time.perf_counter() - start < 600:
        time.sleep(0.2)


def log_metric(ctx: Context, rec: Recorder) -> None:
    _repo(ctx)
    log_metric_loop(_gittrack(), int(ctx.arg("calls")), rec)


def _log_points(gittrack: Any, points: int) -> None:
    for step, values in metric_points(points):
        gittrack.log_metrics(values, step=step)


def _log_batch(gittrack: Any, run_id: str, points: int) -> None:
    """``Client.log_batch`` of 1,000 ``Metric`` points a call, as MLflow's side does."""
    client = gittrack.Client()
    ts = int(time.time() * 1000)
    batch: list[Any] = []
    for step, values in metric_points(points):
        batch.extend(gittrack.Metric(k, v, ts, step) for k, v in values.items())
        if len(batch) >= BATCH:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)


def _has_log_batch(gittrack: Any) -> bool:
    return hasattr(getattr(gittrack, "Client", None), "log_batch") and hasattr(gittrack, "Metric")


def log_batch(ctx: Context, rec: Recorder) -> None:
    """Batched: ``Client.log_batch`` (MLflow's bulk call), and fluent ``log_metrics``."""
    _repo(ctx)
    gittrack = _gittrack()
    gittrack.set_experiment("batch")
    points = int(ctx.arg("points"))
    if _has_log_batch(gittrack):
        with rec.time(
            "log_batch",
            ops=points,
            label=f"{points:,} points, `Client.log_batch` of {BATCH:,}, run end incl.",
        ):
            active = gittrack.start_run(run_name="batch")
            _log_batch(gittrack, str(active.info.run_id), points)
            gittrack.end_run()
    else:
        rec.note("gittrack has no Client.log_batch yet")
    with rec.time(
        "log_metrics",
        ops=points,
        label=f"{points:,} points, fluent `log_metrics` of 10 keys, run end incl.",
    ):
        gittrack.start_run(run_name="fluent")
        _log_points(gittrack, points)
        gittrack.end_run()


def _history(gittrack: Any, run_id: str, key: str) -> int:
    """Points of one metric's history, through whichever reader gittrack offers."""
    client_cls = getattr(gittrack, "Client", None) or getattr(gittrack, "MlflowClient", None)
    if client_cls is not None and hasattr(client_cls, "get_metric_history"):
        return len(client_cls().get_metric_history(run_id, key))
    if hasattr(gittrack, "get_metric_history"):
        return len(gittrack.get_metric_history(run_id, key))
    raise RuntimeError("gittrack offers no get_metric_history yet")


def million(ctx: Context, rec: Recorder) -> None:
    """One run with ``points`` metric points (10 keys): log, finish, read back."""
    _repo(ctx)
    gittrack = _gittrack()
    gittrack.set_experiment("million")
    points = int(ctx.arg("points"))
    active = gittrack.start_run(run_name="million")
    run_id = str(active.info.run_id)
    if _has_log_batch(gittrack):
        with rec.time("log", ops=points, label=f"log {points:,} points (`log_batch` of 1,000)"):
            _log_batch(gittrack, run_id, points)
    else:
        with rec.time("log", ops=points, label=f"log {points:,} points (`log_metrics`)"):
            _log_points(gittrack, points)
    with rec.time("finish", label="finish the run (`end_run`)"):
        gittrack.end_run()
    with (
        rec.step("read"),
        rec.time("read", ops=points, label="read the history back (`get_metric_history` x10)"),
    ):
        got = sum(_history(gittrack, run_id, f"k{k}") for k in range(10))
        if got != points:
            rec.note(f"read back {got:,} points, expected {points:,}")


def history(ctx: Context, rec: Recorder) -> None:
    """Read one run's metric history back, every key, with the same run on both sides.

    The run (``points`` points over 10 keys, ``log_batch`` of 1,000) is written untimed;
    the first pass decodes it (a fresh process: nothing decoded yet), the second reads
    it again. Each call returns a list of ``Metric`` entities, as MLflow's does.
    """
    _repo(ctx)
    gittrack = _gittrack()
    gittrack.set_experiment("history")
    points = int(ctx.arg("points"))
    active = gittrack.start_run(run_name="history")
    run_id = str(active.info.run_id)
    _log_batch(gittrack, run_id, points)
    gittrack.end_run()
    client = gittrack.Client()
    keys = [f"k{k}" for k in range(10)]
    for name, label in (
        ("history", f"`get_metric_history` of each of 10 keys, {points:,} points, first read"),
        ("history_again", "the same calls again in the same process"),
    ):
        with rec.step(name), rec.time(name, ops=points, label=label):
            got = [client.get_metric_history(run_id, key) for key in keys]
        check_history(rec, got, points)
    if hasattr(client, "metric_history_table"):
        with (
            rec.step("history_table"),
            rec.time(
                "history_table",
                ops=points,
                label="`Client.metric_history_table` (pyarrow) of each key, after the reads above",
            ),
        ):
            rows = sum(client.metric_history_table(run_id, key).num_rows for key in keys)
        if rows != points:
            rec.note(f"metric_history_table gave {rows:,} rows, expected {points:,}")
    _cli_label(rec)
    with rec.step("history_cli"):
        rec.add(
            "history_cli",
            timed_run([*_cli(), "metrics", run_id]),
            ops=points,
            label=f"`gittrack metrics RUN` as a whole process: 10 keys, {points:,} points",
        )


def search(ctx: Context, rec: Recorder) -> None:
    """Warm ``search_runs`` in-process, then ``gittrack list`` as whole processes."""
    repo = _repo(ctx, fresh=False)
    n = len(read_ids(ctx.fixture or repo))
    gittrack = _gittrack()
    kwargs = {"experiment_names": [EXPERIMENT], "filter_string": FILTER, "order_by": [ORDER_BY]}
    with rec.step("search_runs"):
        table = time_search(gittrack, kwargs, n, 10, rec)
        if getattr(table, "num_rows", None) == 0:
            rec.note("search_runs returned no rows")
    _cli_label(rec)
    filtered = [*_cli(), "list", "--filter", FILTER, "--sort", ORDER_BY, "--format", "csv"]
    with rec.step("list_filtered"):
        run(filtered)  # warm-up as a process too
        time_command(
            rec,
            "list_filtered",
            filtered,
            times=int(ctx.arg("times", 3)),
            label=f'`gittrack list --filter "{FILTER}" --sort "{ORDER_BY}" '
            f"--format csv` ({n:,} runs)",
        )
    with rec.step("list_all"):
        time_command(
            rec,
            "list_all",
            [*_cli(), "list", "--format", "csv"],
            times=int(ctx.arg("times", 3)),
            label=f"`gittrack list --format csv` (all {n:,} runs)",
        )


def large(ctx: Context, rec: Recorder) -> None:
    """``gittrack list --filter ... -n 10`` over N runs built by :mod:`benchmarks.fast_repo`
    (gittrack's exact format through ``git fast-import``): the first listing builds the
    index (cold), then the same listing as whole processes (warm)."""
    from benchmarks import fast_repo

    n = int(ctx.arg("n"))
    repo = ctx.workdir / "repo"
    os.environ.update(git_env(ctx.workdir / "home"))
    start = time.perf_counter()
    fast_repo.build(repo, n)
    rec.note(f"{n:,} runs built through git fast-import in {time.perf_counter() - start:.0f} s")
    _cli_label(rec)
    listing = [*_cli(), "list", "--filter", FILTER, "--sort", ORDER_BY, "-n", "10"]
    with rec.step("list_cold"):
        rec.add("list_cold", timed_run(listing, cwd=repo), label=f"first listing ({n:,} runs)")
    with rec.step("list_warm"):
        time_command(
            rec,
            "list_warm",
            listing,
            times=int(ctx.arg("times", 3)),
            cwd=repo,
            label=f'`gittrack list --filter "{FILTER}" --sort "{ORDER_BY}" -n 10` ({n:,} runs)',
        )


def show_diff(ctx: Context, rec: Recorder) -> None:
    repo = _repo(ctx, fresh=False)
    a, b = read_ids(ctx.fixture or repo)[:2]
    gittrack = _gittrack()
    with rec.step("diff_inproc"):
        compare_runs(gittrack, a, b)  # warm-up
        times = 20
        with rec.time("diff_inproc", ops=times, label="`get_run` x2 + compare, warm in-process"):
            for _ in range(times):
                compare_runs(gittrack, a, b)
    _cli_label(rec)
    run([*_cli(), "show", a])  # warm-up (index)
    _time_with_floors(rec, _one_run_commands(a, b), times=int(ctx.arg("times", 3)))


def big_repo(ctx: Context, rec: Recorder) -> None:
    """Fixture: ``n`` finished runs in gittrack's format, built through ``git fast-import``
    (:mod:`benchmarks.fast_repo`: 10,000 runs in ~10 s), with a warm index."""
    from benchmarks.fast_repo import build

    repo = ctx.workdir / "repo"
    with rec.time("build", label=f"{int(ctx.arg('n')):,} runs through git fast-import"):
        ids = build(repo, int(ctx.arg("n")), home=ctx.workdir / "home")
    write_ids(ctx.workdir, ids)
    os.environ.update(git_env(ctx.workdir / "home"))
    os.environ["GITTRACK_REPO"] = str(repo)
    with rec.time("index", label="the first command builds the index"):
        run([*_cli(), "list", "-n", "1"], cwd=repo)


def one_run(ctx: Context, rec: Recorder) -> None:
    """``show``, ``metrics`` and ``diff`` of runs in a large repository, as whole processes
    (the index warm: the fixture built it)."""
    repo = _repo(ctx, fresh=False)
    ids = read_ids(ctx.fixture or repo)
    a, b = ids[:2]
    rec.note(f"{len(ids):,} runs, built through git fast-import (benchmarks/fast_repo.py)")
    _cli_label(rec)
    run([*_cli(), "list", "-n", "1"])  # warm-up: the copy's refs are listed again once
    _time_with_floors(rec, _one_run_commands(a, b), times=int(ctx.arg("times", 5)))


def _one_run_commands(a: str, b: str) -> list[tuple[str, list[str], str]]:
    return [
        ("show_process", [*_cli(), "show", a], "`gittrack show A`"),
        ("diff_process", [*_cli(), "diff", a, b], "`gittrack diff A B`"),
        ("metrics_process", [*_cli(), "metrics", a], "`gittrack metrics A`"),
    ]


# What a command cannot start without, timed beside it: the interpreter importing the
# CLI framework, and that plus the Parquet reader (`gittrack metrics` decodes Parquet).
FLOORS = (
    (
        "floor_cli",
        [sys.executable, "-c", "import typer"],
        "`python -c 'import typer'`: the CLI framework's import, under every command",
    ),
    (
        "floor_parquet",
        [sys.executable, "-c", "import typer, pyarrow.parquet"],
        "`python -c 'import typer, pyarrow.parquet'`: the imports `gittrack metrics` needs",
    ),
)


def _time_with_floors(
    rec: Recorder, commands: list[tuple[str, list[str], str]], *, times: int
) -> None:
    """Each command and each of :data:`FLOORS`, ``times`` times as whole processes, taking
    turns, so a slow stretch of the machine falls on all of them alike."""
    timed = [*commands, *FLOORS]
    totals = dict.fromkeys((name for name, _, _ in timed), 0.0)
    with rec.step(*totals):
        for _ in range(times):
            for name, argv, _ in timed:
                totals[name] += timed_run(argv)
        for name, _, label in timed:
            rec.add(name, totals[name], ops=times, label=label)


def sync(ctx: Context, rec: Recorder) -> None:
    """push N runs, no-op push, pull into a fresh repo, list there, then 10 new runs."""
    repo = _repo(ctx, fresh=False)
    n = len(read_ids(ctx.fixture or repo))
    env = dict(os.environ)
    bare = ctx.workdir / "remote.git"
    init_bare(bare, env)
    _cli_label(rec)
    push = [*_cli(), "push", str(bare)]
    with rec.step(
        "push_all", "push_noop", "pull_all", "list_after_pull", "push_10", "pull_10", "pull_noop"
    ):
        _sync_steps(ctx, rec, repo, bare, push, n, env)


def _sync_steps(
    ctx: Context,
    rec: Recorder,
    repo: Path,
    bare: Path,
    push: list[str],
    n: int,
    env: dict[str, str],
) -> None:
    rec.add("push_all", timed_run(push, cwd=repo), ops=n, label=f"`gittrack push` {n:,} runs")
    rec.add("push_noop", timed_run(push, cwd=repo), label="`gittrack push`, nothing new")
    clone = ctx.workdir / "clone"
    init_code_repo(clone, env)
    pull = [*_cli(), "pull", str(bare)]
    clone_env = {**env, "GITTRACK_REPO": str(clone)}
    rec.add(
        "pull_all",
        timed_run(pull, cwd=clone, env=clone_env),
        ops=n,
        label=f"`gittrack pull` {n:,} runs into a fresh repo",
    )
    with rec.step("list_after_pull"):
        rec.add(
            "list_after_pull",
            timed_run([*_cli(), "list", "--format", "csv"], cwd=clone, env=clone_env),
            label="first `gittrack list --format csv` after that pull (cold)",
        )
    check_refs(rec, clone, "refs/gittrack/", n, "after the pull", env)
    gittrack = _gittrack()
    gittrack.set_experiment(EXPERIMENT)
    create_runs(gittrack, 10, artifact_file(ctx.workdir), Recorder(), start=n)
    rec.add("push_10", timed_run(push, cwd=repo), label="`gittrack push` of 10 new runs")
    rec.add(
        "pull_10", timed_run(pull, cwd=clone, env=clone_env), label="`gittrack pull` of 10 new runs"
    )
    rec.add(
        "pull_noop", timed_run(pull, cwd=clone, env=clone_env), label="`gittrack pull`, nothing new"
    )
    check_refs(rec, clone, "refs/gittrack/", n + 10, "after the last pull", env)


def startup(ctx: Context, rec: Recorder) -> None:
    _repo(ctx)
    _cli_label(rec)
    times = int(ctx.arg("times", 5))
    commands = (
        ("help", [*_cli(), "--help"], "`gittrack --help`"),
        ("version", [*_cli(), "--version"], "`gittrack --version`"),
        (
            "interpreter",
            [sys.executable, "-c", "pass"],
            "`python -c pass`: the interpreter alone, the floor of every command",
        ),
        ("import", [sys.executable, "-c", "import gittrack"], "`python -c 'import gittrack'`"),
    )
    for name, argv, label in commands:
        with rec.step(name):
            time_command(rec, name, argv, times=times, label=label)


def growth(ctx: Context, rec: Recorder) -> None:
    """Create runs through the API into a repository already holding N runs.

    The N runs are the C git benchmark's run commits (``git fast-import``: refs under
    ``refs/gittrack/runs/``, one pack), their refs loose or packed (as after any ``git
    gc``); the new runs are timed. Creating a run must not read the others: a write path
    that scanned refs or rows would grow with N (and would trip over these commits).
    """
    from benchmarks.workloads_git import add_runs

    n, packed = int(ctx.arg("n")), bool(ctx.arg("packed"))
    repo = _repo(ctx)
    env = dict(os.environ)
    add_runs(repo, env, 0, n)
    if packed:
        run(["git", "pack-refs", "--all"], cwd=repo, env=env)
    gittrack = _gittrack()
    gittrack.set_experiment(EXPERIMENT)
    # one run untimed first: a process's first run also imports the Parquet writer and
    # reads the installed packages' metadata once (0.2-0.4 s, as slow as the disk is
    # that minute), which is not a cost per run
    create_runs(gittrack, 1, artifact_file(ctx.workdir), Recorder(), start=n)
    create_runs(gittrack, int(ctx.arg("new")), artifact_file(ctx.workdir), rec, start=n + 1)
    rec.note(
        f"into {n:,} existing run refs ({'packed' if packed else 'loose'}; the C git "
        "benchmark's fast-imported run commits)"
    )


FOOTPRINT_GOAL = 3 * 1024  # bytes per small run at rest (issue's goal)

# The small run, created through the public API in a process of its own.
_SMALL_RUNS = """
import sys
import gittrack
from benchmarks.common import EXPERIMENT, run_metrics, run_params
gittrack.set_experiment(EXPERIMENT)
for i in range(int(sys.argv[1])):
    with gittrack.start_run(run_name=f"small-{i}"):
        gittrack.log_params(run_params(i))
        for step, values in enumerate(run_metrics(i)):
            gittrack.log_metrics(values, step=step)
"""


def _at_rest(repo: Path, rec: Recorder, n: int, what: str) -> int:
    """Wait for a background maintenance the last runs started, then note the disk used by
    the repository's ``.git`` (allocated blocks), its files, loose objects and packs;
    return bytes per run."""
    start = time.perf_counter()
    _wait_for_maintenance(repo)
    rec.add("footprint_scan", time.perf_counter() - start, label="waiting for maintenance")
    return _disk_note(repo, rec, n, what)


def _disk_note(repo: Path, rec: Recorder, n: int, what: str) -> int:
    """Note the disk ``repo/.git`` uses (allocated blocks), its files, loose objects and
    packs; return bytes per run."""
    git_dir = repo / ".git"
    files = sum(len(f) for _, _, f in os.walk(git_dir))
    size = sum((Path(d) / f).stat().st_blocks * 512 for d, _, fs in os.walk(git_dir) for f in fs)
    loose = sum(
        1
        for d in (git_dir / "objects").iterdir()
        if len(d.name) == 2
        for f in d.iterdir()
        if len(f.name) == 38
    )
    packs = len(list((git_dir / "objects" / "pack").glob("*.pack")))
    per_run = size // max(n, 1)
    rec.note(
        f"{what}: {n:,} runs use {size / 2**20:.1f} MiB of .git on disk ({per_run / 1024:.2f}"
        f" KiB per run), {files:,} files, {loose:,} loose objects, {packs:,} packs"
    )
    return per_run


def footprint(ctx: Context, rec: Recorder) -> None:
    """Disk used at rest by the fixture's runs once background maintenance is done (the
    create workload waited for it before its repository became the fixture)."""
    repo = _repo(ctx, fresh=False)
    n = len(read_ids(ctx.fixture)) if ctx.fixture else 0
    _at_rest(repo, rec, n, "the create workload's runs at rest (1 KB artifact each)")


def footprint_small(ctx: Context, rec: Recorder) -> None:
    """The issue's case: small runs (10 params, 5 metrics x 10 points, no artifact) created
    through the API by a process that then exits; the disk they use at rest, with nothing
    run by the user (gittrack's automatic maintenance only)."""
    repo = _repo(ctx)
    n = int(ctx.arg("n"))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    with rec.time("footprint_create", ops=n, label=f"create {n:,} small runs (own process)"):
        run([sys.executable, "-c", _SMALL_RUNS, str(n)], cwd=repo, env=env)
    per_run = _at_rest(repo, rec, n, "small runs at rest")
    met = "met" if per_run <= FOOTPRINT_GOAL else "NOT met"
    rec.note(f"goal <= {FOOTPRINT_GOAL // 1024} KB per small run at rest: {met}")
    # The user's own `git gc` must not undo it (runs' replaced states are unreachable).
    run(["git", "gc", "--quiet"], cwd=repo, env=dict(os.environ))
    _disk_note(repo, rec, n, "the same runs after the user's `git gc`")


def scoring_model(ctx: Context, rec: Recorder) -> None:
    """Fixture: a two-feature LinearRegression saved by gittrack in MLflow's model format
    (MLflow serves the same directory)."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    import gittrack.sklearn

    x = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
    with rec.time("save", label="save the model"):
        gittrack.sklearn.save_model(
            LinearRegression().fit(x, x.sum(1)),
            ctx.workdir / "model",
            input_example={"a": [1.0], "b": [2.0]},
        )


def serve(ctx: Context, rec: Recorder) -> None:
    """``gittrack models serve`` with 1 and 2 workers: scoring requests from keep-alive
    client threads, after a warm-up."""
    model = (ctx.fixture or ctx.workdir) / "model"
    requests, clients = int(ctx.arg("requests")), int(ctx.arg("clients"))
    for workers in (1, 2):
        name = f"serve_{workers}"
        with rec.step(name, f"{name}_p99"):
            port = free_port()
            cmd = [*_cli(), "models", "serve", "-m", str(model), "--port", str(port)]
            result = serve_and_score(
                [*cmd, "--workers", str(workers)], port, dict(os.environ), requests, clients
            )
            record_scoring(rec, name, result, f"gittrack models serve, {workers} worker(s)")
