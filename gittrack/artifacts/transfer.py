"""Moving artifact objects between the local cache and an artifact remote.

Used by ``gittrack push``/``pull`` (the sync commands): only objects that are not inline
git blobs travel, only the ones the other side lacks, and every object is re-hashed on
the way (a corrupt local object is never uploaded; a corrupt download is never stored).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gittrack.artifacts.manifest import read_manifest
from gittrack.errors import ArtifactNotFoundError

if TYPE_CHECKING:
    from gittrack.runs import RunStore

log = logging.getLogger("gittrack")


@dataclass(frozen=True)
class PushStats:
    """What a push of artifacts did: objects and bytes uploaded, objects unavailable here."""

    objects: int
    bytes: int
    missing: int = 0


@dataclass(frozen=True)
class FetchStats:
    """What a fetch of artifacts did: objects and bytes downloaded, objects not found."""

    objects: int
    bytes: int
    missing: int = 0


def kept_inputs(runs: RunStore, commit: str) -> set[str]:
    """Objects kept by ``log_input(keep=True)`` (data lineage) at a run commit."""
    from gittrack.lineage.checks import kept_objects_at

    return kept_objects_at(runs, commit)


def large_objects(runs: RunStore, run_ids: list[str]) -> dict[str, tuple[str, str]]:
    """``{sha256: (run_id, label)}`` for the cache-stored objects of runs: non-inline
    artifacts and kept data-lineage inputs."""
    found: dict[str, tuple[str, str]] = {}
    for run_id in run_ids:
        commit = runs.run_commit(run_id)
        for entry in read_manifest(runs, commit, f"run {run_id[:12]}").values():
            if entry.blob is None:
                found.setdefault(entry.sha256, (run_id, f"artifact {entry.path!r}"))
        for sha in kept_inputs(runs, commit):
            found.setdefault(sha, (run_id, f"kept input {sha[:12]}"))
    return found


def push_artifacts(runs: RunStore, run_ids: list[str], remote_url: str | None = None) -> PushStats:
    """Upload the objects the runs reference that the artifact remote lacks.

    With no remote configured and nothing to upload this is a no-op; objects missing
    from the local cache too are skipped (logged) and counted in ``missing``.
    """
    from gittrack.artifacts.client_api import artifacts_of
    from gittrack.artifacts.remote import configured_url, open_remote

    wanted = large_objects(runs, run_ids)
    if not wanted or (remote_url is None and not configured_url(runs)):
        if wanted:
            log.info("gittrack: no artifact remote configured; %d objects stay local", len(wanted))
        return PushStats(0, 0, 0)
    cache = artifacts_of(runs).cache
    remote = open_remote(runs, remote_url)
    objects = size = missing = 0
    for sha in remote.missing(sorted(wanted)):
        run_id, label = wanted[sha]
        if not cache.has(sha):
            log.warning(
                "gittrack: %s of run %s is not in the local cache; not pushed", label, run_id[:12]
            )
            missing += 1
            continue
        path = cache.path_for(sha)
        remote.upload(sha, path)
        objects += 1
        size += path.stat().st_size
    return PushStats(objects, size, missing)


def fetch_artifacts(
    runs: RunStore, run_ids: list[str], remote_url: str | None = None
) -> FetchStats:
    """Download (and verify) the objects the runs reference that the local cache lacks."""
    from gittrack.artifacts.client_api import artifacts_of
    from gittrack.artifacts.remote import open_remote

    cache = artifacts_of(runs).cache
    wanted = {sha: item for sha, item in large_objects(runs, run_ids).items() if not cache.has(sha)}
    if not wanted:
        return FetchStats(0, 0, 0)
    remote = open_remote(runs, remote_url)
    objects = size = missing = 0
    for sha, (run_id, label) in sorted(wanted.items()):
        what = f"{label} of run {run_id[:12]}"
        try:
            size += remote.fetch(sha, cache, what)
        except ArtifactNotFoundError as e:
            log.warning("gittrack: %s", e.message)
            missing += 1
            continue
        objects += 1
    return FetchStats(objects, size, missing)
