"""Garbage collection of the local artifact cache.

An object is garbage when no run ref references it (every run's artifact manifest and
kept data-lineage inputs are read). Only
the local cache is collected, never an artifact remote (other clones may still need its
objects). Objects younger than ``min_age`` seconds are kept: a run being logged right now
may reference them before its next commit lands (logging refreshes an object's mtime).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from gittrack.artifacts.cas import CachedObject
from gittrack.runs import RunStore

log = logging.getLogger("gittrack")

DEFAULT_MIN_AGE = 3600.0


@dataclass(frozen=True)
class GcResult:
    """Unreferenced objects found (and deleted when ``deleted``), with their total size."""

    objects: tuple[CachedObject, ...]
    bytes: int
    deleted: bool
    kept_recent: int = 0


def referenced_objects(runs: RunStore) -> set[str]:
    """sha256 of every object any run ref references: artifacts and kept inputs.

    An unreadable run is an error: gc never guesses what a damaged run needs.
    """
    from gittrack.artifacts.transfer import run_objects

    shas: set[str] = set()
    for _run_id, manifest, kept in run_objects(runs, sorted(runs.list_runs())):
        shas.update(entry.sha256 for entry in manifest.values())
        shas.update(kept)
    return shas


def collect_garbage(
    runs: RunStore,
    *,
    delete: bool = False,
    min_age: float = DEFAULT_MIN_AGE,
    now: float | None = None,
) -> GcResult:
    """Find cache objects no run references; delete them when ``delete`` is true."""
    from gittrack.artifacts.client_api import artifacts_of
    from gittrack.session import flush_pending

    flush_pending(runs.root)  # what this process logged counts as referenced
    cache = artifacts_of(runs).cache
    keep = referenced_objects(runs)
    current = time.time() if now is None else now
    garbage: list[CachedObject] = []
    recent = 0
    for obj in cache.iter_objects():
        if obj.sha256 in keep:
            continue
        if current - obj.mtime < min_age:
            recent += 1
            continue
        garbage.append(obj)
    if delete:
        for obj in garbage:
            cache.remove(obj.sha256)
        cache.clear_hints(keep | {o.sha256 for o in cache.iter_objects()})
        _clear_stale_temps(cache.tmp_dir, current, min_age)
        log.info("gittrack: gc removed %d artifact objects", len(garbage))
    return GcResult(tuple(garbage), sum(o.size for o in garbage), delete, recent)


def _clear_stale_temps(directory: Path, now: float, min_age: float) -> None:
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        try:
            if now - path.stat().st_mtime >= max(min_age, 3600.0):
                path.unlink()
        except OSError:
            continue
