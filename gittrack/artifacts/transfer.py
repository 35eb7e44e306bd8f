"""Moving artifact objects between the local cache and artifact remotes.

Used by ``gittrack push`` and ``gittrack artifacts push|fetch``, by reads and by
``reproduce`` (kept inputs): only objects that are not inline git blobs travel, only the
ones the other side lacks, and every object is re-hashed on the way (a corrupt local
object is never uploaded; a corrupt download is never stored).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gittrack.artifacts.cas import is_sha256
from gittrack.artifacts.manifest import ManifestEntry, manifest_from_bytes, read_manifest
from gittrack.errors import ArtifactError, ArtifactNotFoundError

if TYPE_CHECKING:
    from gittrack.artifacts.cas import ObjectCache
    from gittrack.artifacts.remote import ArtifactRemote
    from gittrack.format import RunRecord
    from gittrack.runs import RunStore

log = logging.getLogger("gittrack")

# Runs from which one git cat-file process beats dulwich reads: a process that has not
# imported dulwich yet (a `gittrack push`) pays ~50 ms for it, cat-file ~5 ms.
BATCH_THRESHOLD = 2
LISTING_FROM = 200  # runs from which one listing of every run ref beats reading each ref


@dataclass(frozen=True)
class PushStats:
    """What a push of artifacts did: objects and bytes uploaded, objects unavailable here,
    and the bytes that stayed local because no remote could hold them."""

    objects: int
    bytes: int
    missing: int = 0
    stayed_local: int = 0


@dataclass(frozen=True)
class FetchStats:
    """What a fetch of artifacts did: objects and bytes downloaded, objects not found."""

    objects: int
    bytes: int
    missing: int = 0


# One run's objects as read at one of its commits: (commit, manifest, kept-input objects).
RunObjects = tuple[str, dict[str, ManifestEntry], set[str]]


def large_objects(
    runs: RunStore, run_ids: list[str], *, known: Mapping[str, RunObjects] | None = None
) -> dict[str, tuple[str, str]]:
    """``{sha256: (run_id, label)}`` for the cache-stored objects of runs: non-inline
    artifacts and kept data-lineage inputs. ``known``: runs already read (by
    :func:`read_run_objects`), used where the run still points at the commit read."""
    found: dict[str, tuple[str, str]] = {}
    commits = _commits(runs, run_ids)
    known = known or {}
    todo = {r: c for r, c in commits.items() if known.get(r, ("",))[0] != c}
    fresh = dict(_read(runs, todo))
    for run_id in commits:
        _commit, manifest, kept = fresh.get(run_id) or known[run_id]
        for entry in manifest.values():
            if entry.blob is None:
                found.setdefault(entry.sha256, (run_id, f"artifact {entry.path!r}"))
        for sha in kept:
            found.setdefault(sha, (run_id, f"kept input {sha[:12]}"))
    return found


def run_objects(
    runs: RunStore, run_ids: list[str]
) -> Iterator[tuple[str, dict[str, ManifestEntry], set[str]]]:
    """Each run's manifest and kept-input objects, at the commit its ref names now."""
    for run_id, (_commit, manifest, kept) in _read(runs, _commits(runs, run_ids)):
        yield run_id, manifest, kept


def read_run_objects(runs: RunStore, commits: Mapping[str, str]) -> dict[str, RunObjects]:
    """The objects of runs at given commits (``{run_id: commit}``), e.g. read while the
    push of those commits runs; hand them to :func:`push_artifacts` as ``known``."""
    return dict(_read(runs, commits))


def _commits(runs: RunStore, run_ids: list[str]) -> dict[str, str]:
    """``{run_id: commit}`` now: one listing of every run ref beats a read per run from
    :data:`LISTING_FROM` runs on."""
    every = runs.list_runs() if len(run_ids) >= LISTING_FROM else {}
    return {run_id: every.get(run_id) or runs.run_commit(run_id) for run_id in run_ids}


def _read(runs: RunStore, commits: Mapping[str, str]) -> Iterator[tuple[str, RunObjects]]:
    """Read each run at its commit. Many runs (every push of new runs reads them) are read
    through one ``git cat-file --batch``: object by object through dulwich costs ~3 ms a
    run, more than pushing the run."""
    from gittrack import format as fmt
    from gittrack.lineage.checks import kept_objects_at, kept_objects_in
    from gittrack.store import catfile

    if len(commits) < BATCH_THRESHOLD or not catfile.available():
        for run_id, commit in commits.items():
            manifest = read_manifest(runs, commit, f"run {run_id[:12]}")
            yield run_id, (commit, manifest, kept_objects_at(runs, commit))
        return
    pairs = list(commits.items())
    folders = [f"{commit}:{fmt.RUN_DIR}" for _, commit in pairs]
    names = (fmt.ARTIFACTS_FILE, fmt.INPUTS_FILE)
    for (run_id, commit), (manifest_text, inputs_text) in zip(
        pairs, catfile.cat_tree_files(runs.git.common_dir, folders, names), strict=True
    ):
        kept = set() if inputs_text is None else kept_objects_in(inputs_text, f"run {commit[:12]}")
        manifest = manifest_from_bytes(manifest_text, f"run {run_id[:12]}")
        yield run_id, (commit, manifest, kept)


def push_artifacts(
    runs: RunStore,
    run_ids: list[str],
    remote_url: str | None = None,
    *,
    git_remote: str | None = None,
    known: Mapping[str, RunObjects] | None = None,
) -> PushStats:
    """Upload the objects the runs reference that the artifact remote lacks.

    The remote is ``remote_url``, else the configured one, else the git remote
    ``git_remote`` (default origin) when it is a path. With none of them nothing moves and
    ``stayed_local`` counts the bytes left here. Objects missing from the local cache too
    are skipped (logged) and counted in ``missing``. ``known``: as for
    :func:`large_objects`.
    """
    from gittrack.artifacts.client_api import artifacts_of
    from gittrack.artifacts.remote import open_remote, push_target

    wanted = large_objects(runs, run_ids, known=known)
    if not wanted:
        return PushStats(0, 0, 0)
    cache = artifacts_of(runs).cache
    remote = open_remote(runs, remote_url) if remote_url else push_target(runs, git_remote)
    if remote is None:
        local = sum(cache.path_for(sha).stat().st_size for sha in wanted if cache.has(sha))
        return PushStats(0, 0, 0, stayed_local=local)
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
    """Download (and verify) the objects the runs reference that the local cache lacks,
    from ``remote_url`` or else from every remote :func:`read_remotes` lists."""
    cache = _cache(runs)
    wanted = {sha: item for sha, item in large_objects(runs, run_ids).items() if not cache.has(sha)}
    return _fetch(runs, wanted, remote_url)


def fetch_kept_inputs(runs: RunStore, record: RunRecord) -> list[tuple[dict[str, Any], str, str]]:
    """Bring the bytes of a run's kept inputs into the local cache from wherever they
    are; return ``(entry, a missing object, why)`` for each kept input still incomplete."""
    from gittrack.artifacts.remote import not_found_where, read_remotes
    from gittrack.lineage.checks import kept_entry_objects

    cache = _cache(runs)
    entries = [e for e in record.inputs if isinstance(e, dict) and e.get("kept")]
    absent = {
        sha
        for entry in entries
        for sha in kept_entry_objects(entry)
        if is_sha256(sha) and not cache.has(sha)
    }
    if not absent:
        return []
    wanted = {sha: (record.run_id, f"kept input {sha[:12]}") for sha in absent}
    remotes = read_remotes(runs)
    if remotes:  # quietly: the caller names each incomplete input itself
        _fetch(runs, wanted, None, remotes, warn=False)
    incomplete = []
    for entry in entries:
        lost = [sha for sha in kept_entry_objects(entry) if sha in absent and not cache.has(sha)]
        if lost:
            incomplete.append((entry, lost[0], not_found_where(remotes)))
    return incomplete


def _cache(runs: RunStore) -> ObjectCache:
    """The local object cache of a repository."""
    from gittrack.artifacts.client_api import artifacts_of

    return artifacts_of(runs).cache


def _fetch(
    runs: RunStore,
    wanted: dict[str, tuple[str, str]],
    remote_url: str | None,
    remotes: list[ArtifactRemote] | None = None,
    *,
    warn: bool = True,
) -> FetchStats:
    from gittrack.artifacts.remote import NO_REMOTE, fetch_object, open_remote, read_remotes

    if not wanted:
        return FetchStats(0, 0, 0)
    if remotes is None:
        remotes = [open_remote(runs, remote_url)] if remote_url else read_remotes(runs)
    if not remotes:
        raise ArtifactError(NO_REMOTE)
    cache = _cache(runs)
    objects = size = missing = 0
    for sha, (run_id, label) in sorted(wanted.items()):
        what = f"{label} of run {run_id[:12]}"
        try:
            size += fetch_object(remotes, sha, cache, what)
        except ArtifactNotFoundError as e:
            if warn:
                log.warning("gittrack: %s", e.message)
            missing += 1
            continue
        objects += 1
    return FetchStats(objects, size, missing)
