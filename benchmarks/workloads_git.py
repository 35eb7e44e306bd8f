"""C git on the same data: the physical reference for everything git does.

Run commits are built with ``git fast-import`` (one commit per ref under
``refs/gittrack/runs/<id>``, parent = the code commit, tree = the code plus
``.gittrack/run/{run.yaml, params.yaml, tags.yaml, metrics.parquet}``), then read, pushed
and fetched with plain git commands. Standard library only.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import (
    EXPERIMENT,
    Context,
    Recorder,
    check_refs,
    copy_tree,
    git_env,
    init_bare,
    init_code_repo,
    read_ids,
    run,
    run_metrics,
    run_params,
    run_tags,
    time_command,
    timed_run,
    write_ids,
)

RUN_REFS = "refs/gittrack/runs/"
REFSPEC = "refs/gittrack/*:refs/gittrack/*"
METRICS_BLOB_BYTES = 2048  # what metrics.parquet (zstd) weighs for 5 metrics x 10 steps


def run_id(i: int) -> str:
    return hashlib.md5(f"run-{i}".encode()).hexdigest()


def _yaml(mapping: dict[str, object]) -> bytes:
    return "".join(
        f"{k}: {v!r}\n" if isinstance(v, str) else f"{k}: {v}\n" for k, v in mapping.items()
    ).encode()


def _blob(path: str, data: bytes) -> bytes:
    return b"M 100644 inline " + path.encode() + b"\ndata %d\n" % len(data) + data + b"\n"


def fast_import_stream(base: str, start: int, n: int) -> bytes:
    """A fast-import stream of ``n`` run commits on top of commit ``base``."""
    out: list[bytes] = []
    for i in range(start, start + n):
        rid = run_id(i)
        final = run_metrics(i)[-1]
        meta = {
            "run_id": rid,
            "name": f"run-{i}",
            "experiment": EXPERIMENT,
            "status": "FINISHED",
            "start_time": 1700000000000 + i,
            "end_time": 1700000000100 + i,
            **{f"metric.{k}": v for k, v in final.items()},
        }
        message = f"run-{i} ({EXPERIMENT}) FINISHED\n\nGittrack-Run-Id: {rid}\n".encode()
        ts = 1700000000 + i
        out.append(b"commit " + (RUN_REFS + rid).encode() + b"\n")
        out.append(b"committer bench <bench@example.invalid> %d +0000\n" % ts)
        out.append(b"data %d\n" % len(message) + message)
        out.append(b"from " + base.encode() + b"\n")
        out.append(_blob(".gittrack/run/run.yaml", _yaml(meta)))
        out.append(_blob(".gittrack/run/params.yaml", _yaml(dict(run_params(i)))))
        out.append(_blob(".gittrack/run/tags.yaml", _yaml(dict(run_tags(i)))))
        metrics = random.Random(i).randbytes(METRICS_BLOB_BYTES)
        out.append(_blob(".gittrack/run/metrics.parquet", metrics))
        out.append(b"\n")
    return b"".join(out)


def head(repo: Path, env: dict[str, str]) -> str:
    return run(["git", "rev-parse", "HEAD"], cwd=repo, env=env).stdout.decode().strip()


def add_runs(repo: Path, env: dict[str, str], start: int, n: int) -> float:
    """fast-import ``n`` runs (stream built untimed); returns the fast-import seconds."""
    stream = fast_import_stream(head(repo, env), start, n)
    return timed_run(["git", "fast-import", "--quiet"], cwd=repo, env=env, stdin=stream)


def create(ctx: Context, rec: Recorder) -> None:
    n = int(ctx.arg("n"))
    env = git_env(ctx.workdir / "home")
    repo = ctx.workdir / "repo"
    init_code_repo(repo, env)
    seconds = add_runs(repo, env, 0, n)
    rec.add("create", seconds, ops=n, label=f"`git fast-import` of {n:,} run commits (one pack)")
    write_ids(ctx.workdir, [run_id(i) for i in range(n)])


def read_all_params(repo: Path, env: dict[str, str]) -> float:
    """``git for-each-ref`` piped into ``git cat-file --batch``: every run's params.yaml."""
    start = time.perf_counter()
    refs = subprocess.Popen(
        ["git", "for-each-ref", "--format=%(objectname):.gittrack/run/params.yaml", RUN_REFS],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
    )
    cat = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=repo,
        env=env,
        stdin=refs.stdout,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    refs.wait()
    elapsed = time.perf_counter() - start
    if refs.returncode or cat.returncode:
        raise RuntimeError("for-each-ref | cat-file --batch failed")
    return elapsed


def list_runs(ctx: Context, rec: Recorder) -> None:
    assert ctx.fixture is not None
    env = git_env(ctx.workdir / "home")
    repo = copy_tree(ctx.fixture / "repo", ctx.workdir / "repo")
    n = len(read_ids(ctx.fixture))
    read_all_params(repo, env)  # warm the page cache as the other tools' warm-ups do
    times = int(ctx.arg("times", 3))
    total = sum(read_all_params(repo, env) for _ in range(times))
    rec.add(
        "read_params",
        total,
        ops=times,
        label=f"`for-each-ref` + `cat-file --batch`: params of all {n:,} runs",
    )


def show_diff(ctx: Context, rec: Recorder) -> None:
    assert ctx.fixture is not None
    env = git_env(ctx.workdir / "home")
    repo = copy_tree(ctx.fixture / "repo", ctx.workdir / "repo")
    a, b = read_ids(ctx.fixture)[:2]
    _time_show(ctx, rec, repo, env, a)
    time_command(
        rec,
        "diff_process",
        ["git", "diff", RUN_REFS + a, RUN_REFS + b],
        times=int(ctx.arg("times", 5)),
        cwd=repo,
        env=env,
        label="`git diff RUN_REF_A RUN_REF_B`",
    )


def one_run(ctx: Context, rec: Recorder) -> None:
    """C git showing one run of the large repository: the physical reference."""
    assert ctx.fixture is not None
    env = git_env(ctx.workdir / "home")
    repo = copy_tree(ctx.fixture / "repo", ctx.workdir / "repo")
    _time_show(ctx, rec, repo, env, read_ids(ctx.fixture)[0])


def _time_show(ctx: Context, rec: Recorder, repo: Path, env: dict[str, str], run_id: str) -> None:
    time_command(
        rec,
        "show_process",
        ["git", "show", "--stat", RUN_REFS + run_id],
        times=int(ctx.arg("times", 5)),
        cwd=repo,
        env=env,
        label="`git show --stat RUN_REF`",
    )


def sync(ctx: Context, rec: Recorder) -> None:
    """push N refs, no-op push, fetch into a fresh repo, then 10 new runs both ways."""
    assert ctx.fixture is not None
    env = git_env(ctx.workdir / "home")
    repo = copy_tree(ctx.fixture / "repo", ctx.workdir / "repo")
    n = len(read_ids(ctx.fixture))
    bare = ctx.workdir / "remote.git"
    init_bare(bare, env)
    if ctx.fixture.name == "gittrack-runs":
        rec.note(
            "C git moving gittrack's own repository, the same refs and (loose) "
            "objects `gittrack push` sends; its 10 new runs are fast-imported (one pack)"
        )
    else:
        rec.note("runs of 5 objects written by `git fast-import` (one pack)")
    push = ["git", "push", "-q", str(bare), REFSPEC]
    rec.add("push_all", timed_run(push, cwd=repo, env=env), ops=n, label=f"`git push` {n:,} refs")
    rec.add("push_noop", timed_run(push, cwd=repo, env=env), label="`git push`, nothing new")
    clone = ctx.workdir / "clone"
    run(["git", "init", "-q", str(clone)], env=env)
    fetch = ["git", "fetch", "-q", str(bare), REFSPEC]
    rec.add(
        "pull_all",
        timed_run(fetch, cwd=clone, env=env),
        ops=n,
        label=f"`git fetch` {n:,} refs into a fresh repo",
    )
    check_refs(rec, clone, RUN_REFS, n, "after the fetch", env)
    add_runs(repo, env, n, 10)
    rec.add("push_10", timed_run(push, cwd=repo, env=env), label="`git push` of 10 new refs")
    rec.add("pull_10", timed_run(fetch, cwd=clone, env=env), label="`git fetch` of 10 new refs")
    rec.add("pull_noop", timed_run(fetch, cwd=clone, env=env), label="`git fetch`, nothing new")
    check_refs(rec, clone, RUN_REFS, n + 10, "after the last fetch", env)
    # the bar for a no-op: C git plus the start of the interpreter gittrack runs
    # on; and C git plus that interpreter importing the CLI framework (the nearest bar)
    for suffix, code in (("interp", "pass"), ("cli", "import typer")):
        floor = statistics.median(timed_run([sys.executable, "-c", code]) for _ in range(5))
        for name, what in (("push_noop", "`git push`"), ("pull_noop", "`git fetch`")):
            rec.add(
                f"{name}_{suffix}",
                rec.measures[name]["seconds"] + floor,
                label=f"{what}, nothing new, plus `python -c {code!r}` ({floor * 1000:.0f} ms)",
            )


def startup(ctx: Context, rec: Recorder) -> None:
    time_command(
        rec,
        "version",
        ["git", "--version"],
        times=int(ctx.arg("times", 5)),
        label="`git --version`",
    )
