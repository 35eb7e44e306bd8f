"""DVC experiments' side of each workload; runs in benchmarks/.venvs/dvc.

A run is a DVC experiment: ``params.yaml`` (10 params), ``metrics.json`` (final values),
``metrics_history.csv`` (5 metrics x 10 steps, declared as plots) and a 1 KB artifact,
saved with ``dvc exp save``. DVC has no tags; they are not logged.

``dvc exp save`` costs about a second per experiment, so the create workload saves a
bounded number of them for real. The N-experiment store that list, diff and push read
is made the way ``exp save`` makes it (same tree, parent, message and ref layout
``refs/exps/<base[:2]>/<base[2:]>/<name>``) but written with ``git fast-import``;
``exp save`` makes a few real ones first, and their trees are the template.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from benchmarks.common import (
    ARTIFACT_BYTES,
    Context,
    Recorder,
    check_refs,
    copy_tree,
    git_env,
    init_bare,
    read_ids,
    run,
    run_metrics,
    run_params,
    time_command,
    timed_run,
    write_ids,
)

DVC_YAML = "params:\n- params.yaml\nmetrics:\n- metrics.json\nplots:\n- metrics_history.csv\n"


def _dvc() -> str:
    return str(Path(sys.executable).parent / "dvc")


def _files(i: int) -> dict[str, bytes]:
    metrics = run_metrics(i)
    history = ["step," + ",".join(metrics[0])]
    history += [
        f"{s}," + ",".join(f"{v:.6f}" for v in row.values()) for s, row in enumerate(metrics)
    ]
    return {
        "params.yaml": "".join(f"{k}: {v}\n" for k, v in run_params(i).items()).encode(),
        "metrics.json": json.dumps(metrics[-1]).encode(),
        "metrics_history.csv": ("\n".join(history) + "\n").encode(),
    }


def _write(repo: Path, i: int) -> None:
    for name, data in _files(i).items():
        (repo / name).write_bytes(data)


def _init(repo: Path, env: dict[str, str]) -> None:
    repo.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env)
    run([_dvc(), "init", "-q"], cwd=repo, env=env)
    run([_dvc(), "config", "core.analytics", "false"], cwd=repo, env=env)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "train.py").write_text("print('training')\n")
    (repo / "artifact.bin").write_bytes(bytes(range(256)) * (ARTIFACT_BYTES // 256))
    _write(repo, 0)
    run(["git", "add", "-A"], cwd=repo, env=env)
    run(["git", "commit", "-q", "-m", "baseline"], cwd=repo, env=env)


def _save(repo: Path, env: dict[str, str], i: int) -> None:
    _write(repo, i)
    run([_dvc(), "exp", "save", "-q", "-n", f"run-{i}"], cwd=repo, env=env)


def _setup(ctx: Context) -> tuple[Path, dict[str, str]]:
    env = git_env(ctx.workdir / "home")
    env["DVC_NO_ANALYTICS"] = "1"
    os.environ.update(env)
    return ctx.workdir / "repo", env


def create(ctx: Context, rec: Recorder) -> None:
    """``n`` real ``dvc exp save`` calls (the per-experiment cost DVC users pay)."""
    repo, env = _setup(ctx)
    _init(repo, env)
    n = int(ctx.arg("n"))
    with rec.time("create", ops=n, label=f"{n:,} x `dvc exp save` (params, metrics, plots)"):
        for i in range(1, n + 1):
            _save(repo, env, i)
    rec.note(
        "DVC experiments have no tags: none logged. The 1 KB artifact is a git-tracked "
        "file of the baseline."
    )


def _git(repo: Path, env: dict[str, str], *args: str) -> str:
    return run(["git", *args], cwd=repo, env=env).stdout.decode().strip()


def synthesize(repo: Path, env: dict[str, str], start: int, n: int) -> list[str]:
    """Write experiments ``start .. start+n`` as ``exp save`` would, via fast-import."""
    base = _git(repo, env, "rev-parse", "main")
    refs = _git(repo, env, "for-each-ref", "--format=%(refname)", f"refs/exps/{base[:2]}/")
    template = refs.splitlines()[0]
    # Files an exp save commit has beyond the baseline's tree (e.g. .dvc/tmp/repro.dat).
    base_paths = set(_git(repo, env, "ls-tree", "-r", "--name-only", base).splitlines())
    extra = [
        line.split(None, 3) for line in _git(repo, env, "ls-tree", "-r", template).splitlines()
    ]
    stream: list[bytes] = []
    names = []
    for i in range(start, start + n):
        name = f"run-{i}"
        names.append(name)
        files = _files(i)
        digest = hashlib.sha256(b"".join(files.values())).hexdigest()
        message = f"dvc: commit experiment {digest}".encode()
        stream.append(f"commit refs/exps/{base[:2]}/{base[2:]}/{name}\n".encode())
        stream.append(b"committer bench <bench@example.invalid> %d +0000\n" % (1700000000 + i))
        stream.append(b"data %d\n" % len(message) + message + b"\n")
        stream.append(f"from {base}\n".encode())
        for mode, _type, sha, path in extra:
            if path not in base_paths and path not in files:
                stream.append(f"M {mode} {sha} {path}\n".encode())
        for path, data in files.items():
            stream.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        stream.append(b"\n")
    run(["git", "fast-import", "--quiet"], cwd=repo, env=env, stdin=b"".join(stream))
    return names


def fixture(ctx: Context, rec: Recorder) -> None:
    """A DVC repo with ``n`` experiments: 2 real ``exp save`` + the rest synthesized."""
    repo, env = _setup(ctx)
    _init(repo, env)
    n = int(ctx.arg("n"))
    real = min(2, n)
    for i in range(1, real + 1):
        _save(repo, env, i)
    names = [f"run-{i}" for i in range(1, real + 1)]
    names += synthesize(repo, env, real + 1, n - real)
    run(["git", "checkout", "-q", "--", "."], cwd=repo, env=env)
    # Fill DVC's experiment cache once, so that list cases measure the warm path. This
    # first, cold collection is itself a measure (~30 ms an experiment): kept for search.
    if ctx.arg("warm", True):
        cold = timed_run([_dvc(), "exp", "show", "--csv"], cwd=repo, env=env)
        (ctx.workdir / "cold_show.json").write_text(json.dumps({"seconds": cold}))
    write_ids(ctx.workdir, names)


def search(ctx: Context, rec: Recorder) -> None:
    assert ctx.fixture is not None
    _, env = _setup(ctx)
    repo = copy_tree(ctx.fixture / "repo", ctx.workdir / "repo")
    n = len(read_ids(ctx.fixture))
    show = [_dvc(), "exp", "show", "--csv"]
    time_command(
        rec,
        "list_all",
        show,
        cwd=repo,
        env=env,
        label=f"`dvc exp show --csv` ({n:,} experiments, exp cache warm)",
    )
    sort = [*show, "--sort-by", "metrics.json:m1", "--sort-order", "desc"]
    time_command(
        rec,
        "list_sorted",
        sort,
        cwd=repo,
        env=env,
        label="`dvc exp show --csv --sort-by metrics.json:m1 --sort-order desc`",
    )
    cold = ctx.fixture / "cold_show.json"
    if cold.exists() and ctx.rep == 0:
        rec.add(
            "list_cold",
            json.loads(cold.read_text())["seconds"],
            label=f"first `dvc exp show --csv` over the {n:,} new experiments (cold; "
            "timed once, while the store was built)",
        )


def show_diff(ctx: Context, rec: Recorder) -> None:
    assert ctx.fixture is not None
    _, env = _setup(ctx)
    repo = copy_tree(ctx.fixture / "repo", ctx.workdir / "repo")
    a, b = read_ids(ctx.fixture)[:2]
    time_command(
        rec,
        "diff_process",
        [_dvc(), "exp", "diff", a, b],
        cwd=repo,
        env=env,
        label="`dvc exp diff A B`",
    )
    rec.note("DVC has no single-experiment show: `dvc exp show` lists them all (see list).")


def sync(ctx: Context, rec: Recorder) -> None:
    """exp push of N experiments, no-op push, exp pull into a fresh clone, 10 new."""
    assert ctx.fixture is not None
    _, env = _setup(ctx)
    repo = copy_tree(ctx.fixture / "repo", ctx.workdir / "repo")
    n = len(read_ids(ctx.fixture))
    bare = ctx.workdir / "remote.git"
    init_bare(bare, env)
    run(["git", "push", "-q", str(bare), "main"], cwd=repo, env=env)
    push = [_dvc(), "exp", "push", "--no-cache", "-A", str(bare)]
    rec.add(
        "push_all",
        timed_run(push, cwd=repo, env=env),
        ops=n,
        label=f"`dvc exp push -A --no-cache` {n:,} experiments",
    )
    rec.add("push_noop", timed_run(push, cwd=repo, env=env), label="`dvc exp push`, nothing new")
    clone = ctx.workdir / "clone"
    run(["git", "clone", "-q", str(bare), str(clone)], env=env)
    pull = [_dvc(), "exp", "pull", "--no-cache", "-A", "origin"]
    rec.add(
        "pull_all",
        timed_run(pull, cwd=clone, env=env),
        ops=n,
        label=f"`dvc exp pull -A --no-cache` {n:,} experiments into a fresh clone",
    )
    rec.add(
        "list_after_pull",
        timed_run([_dvc(), "exp", "show", "--csv"], cwd=clone, env=env),
        label="first `dvc exp show --csv` after that pull (cold)",
    )
    check_refs(rec, clone, "refs/exps/", n, "after the pull", env)
    synthesize(repo, env, n + 1, 10)
    rec.add(
        "push_10", timed_run(push, cwd=repo, env=env), label="`dvc exp push` of 10 new experiments"
    )
    rec.add(
        "pull_10", timed_run(pull, cwd=clone, env=env), label="`dvc exp pull` of 10 new experiments"
    )
    rec.add("pull_noop", timed_run(pull, cwd=clone, env=env), label="`dvc exp pull`, nothing new")
    check_refs(rec, clone, "refs/exps/", n + 10, "after the last pull", env)


def startup(ctx: Context, rec: Recorder) -> None:
    _setup(ctx)
    times = int(ctx.arg("times", 3))
    time_command(rec, "version", [_dvc(), "--version"], times=times, label="`dvc --version`")
    time_command(rec, "help", [_dvc(), "--help"], times=times, label="`dvc --help`")
