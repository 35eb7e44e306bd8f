"""Build large run repositories quickly, in gittrack's exact storage format.

Each run's files come from gittrack's own writers (``gittrack.format``: run.yaml,
params.yaml, tags.yaml, metrics.parquet and the commit message), so what gittrack
reads is byte for byte what it would have written; only the object and ref writing is
handed to ``git fast-import`` (one pack) and ``git pack-refs``. Every run commit starts
from the code commit (``from``), so its tree is that commit's tree plus
``.gittrack/run/`` and its parent is the code commit: the shape of a run logged on a
clean working tree. 100,000 runs take about a minute here.

    python -m benchmarks.fast_repo PATH --runs 100000
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import EXPERIMENT, git_env, init_code_repo, run, run_params, run_tags
from benchmarks.common import run_metrics as small_metrics

START_MS = 1_700_000_000_000
Series = dict[str, list[float]]  # metric key -> value per step


@dataclass(frozen=True)
class RunContent:
    """What run ``i`` records besides its metrics."""

    name: str
    experiment: str
    params: dict[str, str]
    tags: dict[str, str]


def run_id(i: int) -> str:
    return hashlib.md5(f"ui-run-{i}".encode()).hexdigest()


def default_content(i: int, experiments: int = 1) -> RunContent:
    """The benchmark suite's run ``i`` (10 params, 3 tags), in experiment
    ``i % experiments``."""
    experiment = EXPERIMENT if experiments <= 1 else f"{EXPERIMENT}-{i % experiments}"
    return RunContent(f"run-{i}", experiment, run_params(i), run_tags(i))


def _blob(path: str, data: bytes) -> bytes:
    return b"M 100644 inline " + path.encode() + b"\ndata %d\n" % len(data) + data + b"\n"


def default_series(i: int) -> Series:
    """The benchmark suite's metrics of run ``i`` (5 metrics x 10 steps)."""
    steps = small_metrics(i)
    return {key: [point[key] for point in steps] for key in steps[0]}


def _run_files(
    i: int, base: str, series: Series, content: RunContent, metrics_mark: bytes, t0: int, new: bool
) -> tuple[bytes, list[bytes]]:
    """The commit message and fast-import lines of run ``i``. Its metrics.parquet is the
    blob ``metrics_mark`` (points logged from ``t0`` ms on), written first when ``new``."""
    from gittrack import format as fmt

    start = START_MS + i * 1000
    keys = sorted(series)
    summaries = {}
    for key in keys:
        n = len(series[key])
        summaries[key] = fmt.MetricSummary(series[key][-1], n - 1, t0 + n - 1, n)
    record = fmt.RunRecord(
        run_id=run_id(i),
        name=content.name,
        experiment=content.experiment,
        status="FINISHED",
        start_time=start,
        end_time=start + max((len(p) for p in series.values()), default=1),
        user="bench",
        host="bench-host",
        pid=1000 + i % 30000,
        source={"commit": base, "branch": "main", "dirty": False},
        command={"argv": ["python", "train.py", f"--seed={i}"], "cwd": "."},
        params=dict(content.params),
        tags=dict(content.tags),
        metrics=summaries,
    )
    lines = []
    if new:
        data = _parquet(series, t0)
        lines.append(b"blob\nmark " + metrics_mark + b"\ndata %d\n" % len(data) + data)
    files = fmt.record_files(record)
    lines += [_blob(f"{fmt.RUN_DIR}/{name}", data) for name, data in sorted(files.items())]
    lines.append(b"M 100644 " + metrics_mark + f" {fmt.RUN_DIR}/{fmt.METRICS_FILE}\n".encode())
    return fmt.commit_message(record).encode(), lines


def _parquet(series: Series, start: int) -> bytes:
    """metrics.parquet of ``series``: step s logged at ``start + s`` ms."""
    from gittrack import format as fmt

    keys = sorted(series)
    codes: list[int] = []
    steps: list[int] = []
    stamps: list[int] = []
    values: list[float] = []
    for code, key in enumerate(keys):
        n = len(series[key])
        codes += [code] * n
        steps += range(n)
        stamps += range(start, start + n)
        values += series[key]
    return fmt.write_metrics(fmt.metrics_table(codes, keys, steps, stamps, values))


def _stream(
    base: str,
    n: int,
    series: Callable[[int], Series],
    content: Callable[[int], RunContent],
    distinct: int,
) -> Iterator[bytes]:
    """Run ``i`` logs the metrics of ``series(i % distinct)``; runs with the same history
    share one metrics.parquet blob (a fast-import mark), as git stores equal files once.
    A shared history keeps the timestamps of the first run that logged it."""
    from gittrack import format as fmt

    seen: set[int] = set()
    for i in range(n):
        shared = i % distinct
        mark = b":%d" % (shared + 1)
        message, lines = _run_files(
            i, base, series(shared), content(i), mark, START_MS + shared * 1000, shared not in seen
        )
        seen.add(shared)
        ts = (START_MS + i * 1000) // 1000
        cut = 1 if lines[0].startswith(b"blob") else 0  # a new blob goes before the commit
        head, files = lines[:cut], lines[cut:]
        yield b"".join(
            [
                *head,
                b"commit " + fmt.ref_name(run_id(i)).encode() + b"\n",
                b"author bench <bench@example.invalid> %d +0000\n" % ts,
                b"committer bench <bench@example.invalid> %d +0000\n" % ts,
                b"data %d\n" % len(message) + message,
                b"from " + base.encode() + b"\n",
                *files,
                b"\n",
            ]
        )


def build(
    path: Path,
    n: int,
    *,
    series: Callable[[int], Series] = default_series,
    experiments: int = 1,
    distinct: int = 1000,
    home: Path | None = None,
    content: Callable[[int], RunContent] | None = None,
) -> list[str]:
    """A code repository at ``path`` with ``n`` finished runs; returns their run ids.

    Run ``i`` records ``content(i)`` (by default :func:`default_content`, in experiment
    ``i % experiments``) and logs ``series(i % distinct)``.
    """
    if content is None:
        content = functools.partial(default_content, experiments=experiments)
    env = git_env(home or path.parent / "home")
    init_code_repo(path, env)
    base = run(["git", "rev-parse", "HEAD"], cwd=path, env=env).stdout.decode().strip()
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=path, env=env, stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    for chunk in _stream(base, n, series, content, max(1, distinct)):
        proc.stdin.write(chunk)
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed in {path}")
    run(["git", "pack-refs", "--all"], cwd=path, env=env)
    return [run_id(i) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--experiments", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    build(args.path, args.runs, experiments=args.experiments)
    print(f"{args.runs:,} runs in {args.path} ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
