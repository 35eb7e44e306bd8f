"""Compare two runs: params, final metrics, tags, environment, inputs and code."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gittrack.validation import params_equal

if TYPE_CHECKING:
    from gittrack.runs import LoadedRun, RunStore

RUN_DIR_PATHSPEC = ":(exclude,top).gittrack/run"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree


@dataclass(frozen=True)
class RunDiff:
    """What differs between run A and run B (each list holds one dict per changed key)."""

    run_a: str
    run_b: str
    params: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    environment: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] | None = None
    code: str | None = None


def _change(a: Any, b: Any, missing: object) -> str:
    if a is missing:
        return "added"
    if b is missing:
        return "removed"
    return "changed"


def _same_typed(a: Any, b: Any) -> bool:
    return bool(a == b) and type(a) is type(b)


def diff_mappings(
    a: dict[str, Any], b: dict[str, Any], same: Callable[[Any, Any], bool] = _same_typed
) -> list[dict[str, Any]]:
    """Keys added, removed or changed from ``a`` to ``b`` (sorted by key); ``same`` tells
    equal values (default: equal and of one type, so ``1`` and ``True`` differ)."""
    missing = object()
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va is not missing and vb is not missing and same(va, vb):
            continue
        out.append(
            {
                "key": key,
                "a": None if va is missing else va,
                "b": None if vb is missing else vb,
                "change": _change(va, vb, missing),
            }
        )
    return out


def diff_metrics(a: LoadedRun, b: LoadedRun) -> list[dict[str, Any]]:
    """Every metric of either run with final values, absolute and relative change."""
    ma, mb = a.record.metrics, b.record.metrics
    out = []
    for key in sorted(set(ma) | set(mb)):
        va = ma[key].value if key in ma else None
        vb = mb[key].value if key in mb else None
        delta = rel = None
        if va is not None and vb is not None:
            delta = vb - va
            rel = delta / abs(va) if va != 0 and math.isfinite(va) else None
        out.append(
            {
                "key": key,
                "a": va,
                "b": vb,
                "delta": delta,
                "relative": rel,
                "steps_a": ma[key].count if key in ma else 0,
                "steps_b": mb[key].count if key in mb else 0,
            }
        )
    return out


def diff_environment(a: LoadedRun, b: LoadedRun) -> list[dict[str, Any]]:
    """Python version, platform and package versions that differ."""
    ea, eb = a.record.environment, b.record.environment
    top: dict[str, Any] = {
        k: ea.get(k) for k in ("python", "implementation", "platform") if k in ea
    }
    top_b: dict[str, Any] = {
        k: eb.get(k) for k in ("python", "implementation", "platform") if k in eb
    }
    out = diff_mappings(top, top_b)
    pa_, pb_ = ea.get("packages") or {}, eb.get("packages") or {}
    if isinstance(pa_, dict) and isinstance(pb_, dict):
        for item in diff_mappings(pa_, pb_):
            item["key"] = f"package {item['key']}"
            out.append(item)
    return out


def code_diff(runs: RunStore, a: LoadedRun, b: LoadedRun, *, full: bool = False) -> str:
    """The code difference between two runs' snapshots (a stat, or the full patch).

    Uses C git when installed; otherwise lists the changed paths.
    """
    return _diff_commits(runs, a.commit, b.commit, full=full)


def uncommitted_changes(runs: RunStore, run: LoadedRun, *, full: bool = True) -> str:
    """The run's code snapshot against the commit it started from: the uncommitted edits it
    ran with (empty for a clean start; everything for a run with no parent commit)."""
    if run.parent is None:
        return _diff_commits(runs, None, run.commit, full=full)
    return _diff_commits(runs, run.parent, run.commit, full=full)


def _diff_commits(runs: RunStore, a: str | None, b: str, *, full: bool) -> str:
    if shutil.which("git"):
        args = ["diff", "--no-color", "--no-ext-diff"]
        args += [] if full else ["--stat"]
        base = a if a is not None else EMPTY_TREE
        return runs.git.run_git(*args, base, b, "--", RUN_DIR_PATHSPEC)
    lines = []
    files_a = _code_files(runs, a) if a is not None else {}
    files_b = _code_files(runs, b)
    for path in sorted(set(files_a) | set(files_b)):
        if path not in files_a:
            lines.append(f" A {path}")
        elif path not in files_b:
            lines.append(f" D {path}")
        elif files_a[path] != files_b[path]:
            lines.append(f" M {path}")
    if lines:
        lines.append(f" {len(lines)} files changed (install git for a full diff)")
    return "\n".join(lines) + ("\n" if lines else "")


def code_files(runs: RunStore, run: LoadedRun) -> dict[str, tuple[int, str]]:
    """The code snapshot of a run: ``{path: (mode, blob sha)}`` (the run folder left out)."""
    return _code_files(runs, run.commit)


def _code_files(runs: RunStore, commit: str) -> dict[str, tuple[int, str]]:
    tree = runs.git.read_commit(commit).tree.decode("ascii")
    return {
        path: (mode, sha)
        for path, mode, sha in runs.git.iter_tree_files(tree)
        if not path.startswith(".gittrack/run/")
    }


def diff_runs(
    runs: RunStore, a: LoadedRun, b: LoadedRun, *, code: bool = False, code_full: bool = False
) -> RunDiff:
    """Compare two loaded runs."""
    from gittrack.lineage.checks import diff_inputs

    return RunDiff(
        run_a=a.record.run_id,
        run_b=b.record.run_id,
        params=diff_mappings(a.record.params, b.record.params, params_equal),
        metrics=diff_metrics(a, b),
        tags=diff_mappings(a.record.tags, b.record.tags),
        environment=diff_environment(a, b),
        inputs=list(diff_inputs(a.record, b.record)),
        code=code_diff(runs, a, b, full=code_full) if (code or code_full) else None,
    )
