"""Share runs: push, pull and bundle ``refs/gittrack/*`` through any git remote.

The rule when a run differs between here and a remote (see docs/sync.md): what the remote
held at the last exchange is recorded in tracking refs. Pull takes the remote version when
only the remote changed, keeps the local one when only it changed, and when both changed
merges them into a new commit (params union, tags union with the later-updated side winning,
a terminal status beats RUNNING, metric points united without duplicates). Runs whose
params disagree are not merged: the local version stays and the remote one is kept under
``refs/gittrack-conflicts/<run_id>/<sha>``. Push never overwrites a remote run that changed
since we last saw it: it is rejected and reported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gittrack import format as fmt
from gittrack.errors import CorruptRunError, GittrackError, RemoteError, RunNotFoundError
from gittrack.runs import LoadedRun, RunStore
from gittrack.session import open_repository, writers
from gittrack.store import transport
from gittrack.store.refs import RefConflict
from gittrack.store.transport import NAMESPACE, Progress, Remote

if TYPE_CHECKING:
    from gittrack.artifacts.transfer import PushStats, RunObjects

log = logging.getLogger("gittrack")

# New runs from which a pull creates their refs in one packed-refs write (git would write
# a file per ref, which doubled the CPU of a fetch of 1,000 runs) rather than one by one.
BULK_CREATE = 500

__all__ = [
    "BundleResult",
    "PullResult",
    "PushResult",
    "bundle_create",
    "bundle_unbundle",
    "pull",
    "push",
]


@dataclass(frozen=True)
class PushResult:
    """What a push did, per ref (names under ``refs/gittrack/``)."""

    remote: str
    new: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    up_to_date: int = 0
    rejected: tuple[tuple[str, str], ...] = ()  # (ref, reason)
    # (ref, conflict ref) of rejected refs whose versions a pull could not merge: pulling
    # again cannot help, the user keeps one version (docs/sync.md, "Unmergeable")
    unresolved: tuple[tuple[str, str], ...] = ()
    artifacts_uploaded: int = 0
    artifacts_stayed_local: int = 0  # bytes no remote could hold (e.g. an http git remote)

    @property
    def ok(self) -> bool:
        return not self.rejected


@dataclass(frozen=True)
class Conflict:
    """A run changed on both sides in a way that cannot be merged."""

    ref: str
    remote_commit: str
    kept_at: str
    reason: str


@dataclass(frozen=True)
class PullResult:
    """What a pull (or an unbundle) did, per ref."""

    remote: str
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
    kept_local: tuple[str, ...] = ()
    unchanged: int = 0
    conflicts: tuple[Conflict, ...] = ()


@dataclass(frozen=True)
class BundleResult:
    """A bundle written: its path and how many refs it holds."""

    path: Path
    refs: int


def _runs(repo: str | os.PathLike[str] | RunStore | None, *, create: bool) -> RunStore:
    """The repository to sync, with what this process still buffers written (so that it
    travels too); only commands that bring runs in may create the embedded store."""
    store = repo if isinstance(repo, RunStore) else open_repository(repo, create=create)
    for writer in writers(store.root):
        writer.flush()
    return store


def _run_refs(runs: RunStore, selected: Iterable[str]) -> list[str]:
    """Resolve run references (id, prefix, commit, name) into their ref names."""
    refs = []
    for text in selected:
        refs.append(fmt.ref_name(runs.resolve(text)))
    return sorted(set(refs))


# -- push -------------------------------------------------------------------------------
def push(
    repo: str | os.PathLike[str] | RunStore | None = None,
    remote: str | None = None,
    runs: Iterable[str] | None = None,
    *,
    progress: Progress | None = None,
) -> PushResult:
    """Push every run (or the chosen ones) and registry refs; never overwrite a changed run."""
    store = _runs(repo, create=False)
    try:
        target = transport.resolve_remote(store.git, remote)
    except RemoteError as e:
        if remote is not None and runs is None and e.message.startswith("no remote named"):
            _refuse_run_as_remote(store, remote, e)
        raise
    refs = None if runs is None else _run_refs(store, runs)
    if refs is not None and not refs:
        return PushResult(remote=target.display)
    if refs is None and not _has_refs(store):
        return PushResult(remote=target.display)
    ahead: list[Callable[[], dict[str, RunObjects]]] = []

    def read_ahead(moving: dict[str, str]) -> None:
        # The pushed runs' artifact manifests are read while git pushes them.
        from gittrack.artifacts.transfer import read_run_objects

        commits = {run_id: sha for ref, sha in moving.items() if (run_id := _run_id(ref))}
        if commits:
            ahead.append(transport.in_background(read_run_objects, store, commits))

    updates = transport.push(store.git, target, refs, progress=progress, before_transfer=read_ahead)
    new = tuple(sorted(u.ref for u in updates if u.status == "new"))
    updated = tuple(sorted(u.ref for u in updates if u.status == "updated"))
    rejected = tuple(sorted((u.ref, u.reason) for u in updates if u.status == "rejected"))
    up_to_date = sum(1 for u in updates if u.status == "uptodate")
    unresolved = _unresolved(store, [ref for ref, _ in rejected])
    if not new and not updated:  # nothing moved, so no artifact is to upload either
        return PushResult(
            remote=target.display, up_to_date=up_to_date, rejected=rejected, unresolved=unresolved
        )
    try:
        artifacts = _push_artifacts(
            store, [*new, *updated], target.push_target, ahead[0]() if ahead else None
        )
    except GittrackError as e:
        # The refs are there already: say so, or a second push ("up to date") would hide
        # that the artifacts never went.
        raise RemoteError(
            f"pushed {len(new)} new and {len(updated)} updated ref(s) to {target.display}, "
            f"but not their artifacts: {e.message}; fix that, then run "
            "'gittrack artifacts push'"
        ) from e
    log.info("pushed %d new and %d updated refs to %s", len(new), len(updated), target.display)
    return PushResult(
        remote=target.display,
        new=new,
        updated=updated,
        up_to_date=up_to_date,
        rejected=rejected,
        unresolved=unresolved,
        artifacts_uploaded=artifacts.objects,
        artifacts_stayed_local=artifacts.stayed_local,
    )


def _refuse_run_as_remote(store: RunStore, remote: str, error: RemoteError) -> None:
    """``gittrack push RUN``: when the "remote" names a run, say that the remote comes first."""
    try:
        store.resolve(remote)
    except GittrackError:
        return
    known = error.message.split(" (use ", 1)[0]
    raise RemoteError(
        f"{known}; {remote!r} is a run: give the remote first (gittrack push origin {remote})"
    ) from error


def _unresolved(store: RunStore, refs: list[str]) -> tuple[tuple[str, str], ...]:
    """``(ref, conflict ref)`` for each of ``refs`` a pull kept as a conflict."""
    if not refs:
        return ()
    kept = store.git.list_refs(transport.CONFLICT_PREFIX)
    found = []
    for ref in refs:
        under = f"{transport.CONFLICT_PREFIX}{ref[len(NAMESPACE) :]}/"
        found += [(ref, name) for name in sorted(kept) if name.startswith(under)][:1]
    return tuple(found)


def _has_refs(store: RunStore) -> bool:
    """Whether any ``refs/gittrack/*`` exists (without reading them all)."""
    from gittrack.store.refs import read_packed_refs

    base = store.git.common_dir / NAMESPACE
    for _root, _dirs, files in os.walk(base):
        if any(not f.endswith(".lock") for f in files):
            return True
    return bool(read_packed_refs(store.git.common_dir, NAMESPACE))


def _run_id(ref: str) -> str | None:
    """The run id of a run ref; None for other refs (registry, experiments)."""
    if not ref.startswith(fmt.REF_PREFIX):
        return None
    run_id = ref[len(fmt.REF_PREFIX) :]
    return run_id if "/" not in run_id else None


def _push_artifacts(
    store: RunStore, refs: list[str], git_remote: str, known: dict[str, RunObjects] | None
) -> PushStats:
    """Upload the large artifacts (and kept inputs) of pushed runs: to the artifact remote,
    else into the git remote itself when it is a path (see gittrack.artifacts.remote).
    ``known``: the runs as read while git pushed them."""
    from gittrack.artifacts.transfer import PushStats, push_artifacts

    run_ids = [run_id for run_id in map(_run_id, refs) if run_id is not None]
    if not run_ids:
        return PushStats(0, 0)
    return push_artifacts(store, run_ids, git_remote=git_remote, known=known)


# -- pull -------------------------------------------------------------------------------
def pull(
    repo: str | os.PathLike[str] | RunStore | None = None,
    remote: str | None = None,
    *,
    progress: Progress | None = None,
) -> PullResult:
    """Fetch every run the remote has; local runs are kept (see the module's rule)."""
    store = _runs(repo, create=True)
    target = transport.resolve_remote(store.git, remote)
    got = transport.fetch(store.git, target, progress=progress)
    return _reconcile(store, target.display, got.theirs, got.local, got.tracking, target)


def bundle_create(
    path: str | os.PathLike[str],
    runs: Iterable[str] | None = None,
    *,
    repo: str | os.PathLike[str] | RunStore | None = None,
    progress: Progress | None = None,
) -> BundleResult:
    """Write the chosen runs (default: every ``refs/gittrack/*`` ref) into a git bundle."""
    store = _runs(repo, create=False)
    refs = sorted(store.git.list_refs(NAMESPACE)) if runs is None else _run_refs(store, runs)
    if not refs:
        raise RunNotFoundError("there are no runs to bundle")
    out = Path(path)
    transport.bundle_create(store.git, out, refs, progress=progress)
    return BundleResult(path=out, refs=len(refs))


def bundle_unbundle(
    path: str | os.PathLike[str],
    *,
    repo: str | os.PathLike[str] | RunStore | None = None,
    progress: Progress | None = None,
) -> PullResult:
    """Import the runs of a bundle with the same rule as pull (no record of a last exchange)."""
    store = _runs(repo, create=True)
    before = store.git.list_refs(NAMESPACE)
    theirs = transport.bundle_import(store.git, Path(path), progress=progress)
    return _reconcile(store, str(path), theirs, before, {}, None)


# -- the rule ---------------------------------------------------------------------------
@dataclass
class _Tally:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unchanged: int = 0
    conflicts: list[Conflict] = field(default_factory=list)


def _reconcile(
    store: RunStore,
    where: str,
    theirs: dict[str, str],
    before: dict[str, str],
    previous: dict[str, str],
    remote: Remote | None,
) -> PullResult:
    tally = _Tally()
    fresh = {ref: sha for ref, sha in theirs.items() if ref not in before}
    created = store.git.create_refs(fresh) if len(fresh) >= BULK_CREATE else set()
    for ref, remote_sha in sorted(theirs.items()):
        local = before.get(ref)
        last = previous.get(ref)
        if local == remote_sha:
            tally.unchanged += 1
            continue
        if ref in created:
            tally.added.append(ref)
            continue
        current = store.git.read_ref(ref)  # as it is now: only the refs that differ are read
        if local is None or local == last:
            if current == remote_sha or _move(store, ref, remote_sha, current, local):
                (tally.added if local is None else tally.updated).append(ref)
            else:  # written meanwhile by a process logging to this run: keep it, next pull merges
                _forget(store, remote, ref, remote_sha, last)
                tally.kept.append(ref)
        elif remote_sha == last:
            tally.kept.append(ref)
        else:
            _both_changed(store, ref, local, remote_sha, last, remote, tally)
    return PullResult(
        remote=where,
        added=tuple(tally.added),
        updated=tuple(tally.updated),
        merged=tuple(tally.merged),
        kept_local=tuple(tally.kept),
        unchanged=tally.unchanged,
        conflicts=tuple(tally.conflicts),
    )


def _move(store: RunStore, ref: str, new: str, current: str | None, expected: str | None) -> bool:
    """Point ``ref`` at ``new`` if nobody moved it since we looked."""
    if current != expected:
        return False
    try:
        store.git.update_ref(ref, new, expected)
    except RefConflict:
        return False
    return True


def _both_changed(
    store: RunStore,
    ref: str,
    local: str,
    remote_sha: str,
    last: str | None,
    remote: Remote | None,
    tally: _Tally,
) -> None:
    reason = "changed on both sides"
    if ref.startswith(fmt.REF_PREFIX) and "/" not in ref[len(fmt.REF_PREFIX) :]:
        run_id = ref[len(fmt.REF_PREFIX) :]
        if local in store.states(remote_sha, run_id):  # the remote built on ours: take it
            _take(store, ref, remote_sha, local, (remote, remote_sha, last), tally, tally.updated)
            return
        if remote_sha in store.states(local, run_id):  # ours built on the remote's: keep it
            tally.kept.append(ref)
            return
        try:
            merged = merge_runs(store, local, remote_sha)
        except MergeConflict as e:
            reason = str(e)
        except CorruptRunError as e:
            reason = f"cannot be read ({e})"
        else:
            _take(store, ref, merged, local, (remote, remote_sha, last), tally, tally.merged)
            return
    kept_at = f"{transport.CONFLICT_PREFIX}{ref[len(NAMESPACE) :]}/{remote_sha}"
    try:
        store.git.update_ref(kept_at, remote_sha, None)
    except RefConflict:
        pass  # the same remote version was kept before
    _forget(store, remote, ref, remote_sha, last)
    tally.conflicts.append(Conflict(ref, remote_sha, kept_at, reason))


def _take(
    store: RunStore,
    ref: str,
    new: str,
    local: str,
    theirs: tuple[Remote | None, str, str | None],
    tally: _Tally,
    done: list[str],
) -> None:
    """Move ``ref`` from ``local`` to ``new`` and count it in ``done``; when a process
    logging to the run moved it meanwhile, keep that (the next pull merges)."""
    if _move(store, ref, new, local, local):
        done.append(ref)
    else:
        remote, remote_sha, last = theirs
        _forget(store, remote, ref, remote_sha, last)
        tally.kept.append(ref)


def _forget(
    store: RunStore, remote: Remote | None, ref: str, remote_sha: str, last: str | None
) -> None:
    """Set the tracking ref back to ``last``: a push must not overwrite a version not taken."""
    if remote is None:
        return
    tracking = remote.tracking_ref(ref)
    try:
        if last is None:
            store.git.delete_ref(tracking, remote_sha)
        else:
            store.git.update_ref(tracking, last, remote_sha)
    except (RefConflict, GittrackError):
        log.warning("gittrack: could not reset %s; check it before pushing", tracking)


# -- merging a run changed on both sides -------------------------------------------------------
class MergeConflict(Exception):
    """Internal: two versions of a run cannot be merged (their params differ)."""


def merge_runs(store: RunStore, local_sha: str, remote_sha: str) -> str:
    """Write a commit uniting two versions of one run; return its sha."""
    from gittrack.store.repo import MODE_FILE
    from gittrack.validation import params_equal
    from gittrack.writer import copy_record

    a = store.load_commit(local_sha)
    b = store.load_commit(remote_sha)
    ra, rb = a.record, b.record
    for key in ra.params.keys() & rb.params.keys():
        if not params_equal(ra.params[key], rb.params[key]):
            raise MergeConflict(
                f"param {key!r} differs ({ra.params[key]!r} here, {rb.params[key]!r} there)"
            )

    def stamp(r: fmt.RunRecord, sha: str) -> tuple[int, int, str]:
        return (r.heartbeat, r.end_time or 0, sha)

    newer, older = (b, a) if stamp(rb, remote_sha) > stamp(ra, local_sha) else (a, b)
    record = copy_record(newer.record)
    old = older.record
    record.params = {**old.params, **record.params}
    record.tags = {**old.tags, **record.tags}
    record.artifacts = {**old.artifacts, **record.artifacts}
    record.inputs = list(old.inputs) + [i for i in record.inputs if i not in old.inputs]
    if record.status == "RUNNING" and old.status != "RUNNING":
        record.status, record.end_time = old.status, old.end_time
    extra = {
        name: entry
        for name, entry in {**older.run_files, **newer.run_files}.items()
        if name not in fmt.YAML_FILES
    }
    blob = _merge_metrics(store, record, older, newer)
    if blob is not None:
        extra[fmt.METRICS_FILE] = (MODE_FILE, blob)
    # Both versions stay reachable: a hash either side showed keeps naming the run.
    earlier = tuple(dict.fromkeys(a.kept_by_next + b.kept_by_next))
    return store.write_commit(
        record,
        code_entries=newer.code_entries,
        parent=newer.parent,
        extra_files=extra,
        earlier=earlier,
    )


def _merge_metrics(store: RunStore, record: fmt.RunRecord, *versions: LoadedRun) -> str | None:
    """Unite the metric points of both versions (no duplicates); rebuild the summaries."""
    seen: set[tuple[str, int, int, float]] = set()
    points: list[tuple[str, int, int, float]] = []
    for loaded in versions:
        table = store.read_metrics(loaded)
        if table is None:
            continue
        cols = [table.column(c).to_pylist() for c in ("key", "step", "timestamp", "value")]
        for point in zip(*cols, strict=True):
            if point not in seen:
                seen.add(point)
                points.append(point)
    if not points:
        return None
    keys: list[str] = []
    codes: dict[str, int] = {}
    record.metrics = {}
    for key, step, ts, value in points:
        codes.setdefault(key, len(keys))
        if codes[key] == len(keys):
            keys.append(key)
        summary = record.metrics.get(key)
        if summary is None:
            record.metrics[key] = fmt.MetricSummary(value, step, ts, 1)
        else:
            summary.update(value, step, ts)
    table = fmt.metrics_table(
        [codes[p[0]] for p in points],
        keys,
        [p[1] for p in points],
        [p[2] for p in points],
        [p[3] for p in points],
    )
    return store.git.write_blob(fmt.write_metrics(table))
