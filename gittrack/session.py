"""The process-wide session: one RunStore per tracking repository, and the live writers.

Repositories are opened here, once per process (:func:`open_repository`), and so is
their run index (:func:`open_index`). Writers of the runs this process logs to are kept
here too, so that logging to one run through the fluent API and through a client goes
into one buffer, and a read of a run first writes what this process buffered for it
(read-your-writes). Buffers are flushed at interpreter exit; :func:`reset` forgets
everything (tests, long-lived servers switching repositories).

This module imports only the layers below it (config, runs, writer, index); the client,
the fluent API and every command above use it.
"""

from __future__ import annotations

import atexit
import functools
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from gittrack.config import find_tracking_root

if TYPE_CHECKING:
    from gittrack.index import RunIndex
    from gittrack.runs import RunStore
    from gittrack.writer import RunWriter

_lock = threading.RLock()
_stores: dict[Path, RunStore] = {}
_roots: dict[tuple[str, str | None, str | None], Path] = {}
_writers: dict[tuple[Path, str], RunWriter] = {}


def open_repository(repo: str | os.PathLike[str] | None = None, *, create: bool) -> RunStore:
    """The process-wide RunStore of the tracking repository (opened once).

    ``repo`` (else ``GITTRACK_REPO``, else the git repository around the current
    directory, else ``./.gittrack-runs``) names it. Only what records something passes
    ``create=True``, which may create the embedded ``./.gittrack-runs`` outside git;
    otherwise no repository is a :class:`~gittrack.errors.RepositoryError`.
    """
    from gittrack.runs import RunStore

    key = (os.getcwd(), os.environ.get("GITTRACK_REPO"), None if repo is None else str(repo))
    with _lock:
        root = _roots.get(key)
        if root is None or not root.exists():
            root = find_tracking_root(repo, create=create)
            _roots[key] = root
        store = _stores.get(root)
        if store is None:
            store = _stores[root] = RunStore(root)
            store.before_read = functools.partial(flush_pending, root)
            store.name_lookup = functools.partial(_index_names, store)
            store.state_lookup = functools.partial(_index_states, store)
            store.live_lookup = functools.partial(_is_live, root)
        return store


def _index_names(store: RunStore, runs: dict[str, str]) -> dict[str, str]:
    from gittrack.index import run_names

    return run_names(store, runs)


def _index_states(store: RunStore, prefix: str, runs: dict[str, str]) -> set[str]:
    from gittrack.index import run_states

    return run_states(store, runs, prefix)


def open_index(
    repo: str | os.PathLike[str] | None = None, *, refresh: bool = True, shared: bool = False
) -> RunIndex:
    """Open (and by default refresh) the run index; never creates a repository.

    Opening it reads no run: a warm listing imports neither dulwich nor pyarrow.
    ``shared``: usable from several threads, one at a time (a server keeping it open).
    """
    from gittrack.index import RunIndex

    root = find_tracking_root(repo, create=False)
    index = RunIndex(
        root,
        functools.partial(open_repository, root, create=False),
        before_read=functools.partial(flush_pending, root),
        shared=shared,
    )
    if refresh:
        index.refresh()
    return index


# -- writers of this process ---------------------------------------------------------------
def add_writer(writer: RunWriter) -> None:
    """Make ``writer`` the live writer of its run in this process (flushed periodically)."""
    from gittrack.writer import FLUSHER

    with _lock:
        _writers[(writer.runs.root, writer.run_id)] = writer
    FLUSHER.register(writer)


def writer_of(store: RunStore, run_id: str) -> RunWriter:
    """The live writer of a run in this process, joining the stored run if there is none."""
    from gittrack.writer import writer_for_loaded

    with _lock:
        writer = _writers.get((store.root, run_id))
        if writer is None or writer.ended:
            writer = writer_for_loaded(store, store.load(run_id))
            add_writer(writer)
    return writer


def _is_live(root: Path, run_id: str) -> bool:
    return live_writer(root, run_id) is not None


def live_writer(root: Path, run_id: str) -> RunWriter | None:
    """The writer of a run this process is writing and has not ended, if any."""
    with _lock:
        writer = _writers.get((root, run_id))
    return writer if writer is not None and not writer.ended else None


def writer_roots(run_id: str) -> list[Path]:
    """Repositories in which this process holds a writer of ``run_id``."""
    with _lock:
        return [root for root, rid in _writers if rid == run_id]


def drop_writer(root: Path, run_id: str) -> RunWriter | None:
    """Stop tracking the writer of a run (no more periodic flushes); return it."""
    from gittrack.writer import FLUSHER

    with _lock:
        writer = _writers.pop((root, run_id), None)
    if writer is not None:
        FLUSHER.unregister(writer)
    return writer


def writers(root: Path, run_id: str | None = None) -> list[RunWriter]:
    """The writers this process holds in a repository (of one run when ``run_id``)."""
    with _lock:
        return [w for (r, rid), w in _writers.items() if r == root and run_id in (None, rid)]


def flush_pending(root: Path, run_id: str | None = None) -> None:
    """Write what this process buffered for a run (every run of the repository when
    ``run_id`` is None), so that a read sees it (read-your-writes)."""
    for writer in writers(root, run_id):
        if writer.dirty and not writer.ended:
            writer.flush()


def flush_all(*, strict: bool = False) -> None:
    """Flush every writer of this process: at interpreter exit (a failure is passed
    over: exit must go on, what was flushed before stays), or when asked (``strict``:
    a failure raises)."""
    with _lock:
        pending = list(_writers.values())
    for writer in pending:
        if not writer.ended:
            try:
                writer.flush()
            except Exception:
                if strict:
                    raise


def _close_stores() -> None:
    """Close every cached repository before interpreter teardown (runs after flush_all).

    An unclosed dulwich pack store otherwise prints an ``ImportError`` traceback from its
    ``__del__`` when the interpreter shuts down.
    """
    with _lock:
        stores = list(_stores.values())
    for store in stores:
        try:
            store.close()
        except Exception:  # exit must go on
            pass


def _maintain_at_exit() -> None:
    """Let each repository this process wrote start its background maintenance (runs after
    flush_all, before _close_stores): a sweep's last runs get packed too."""
    with _lock:
        stores = list(_stores.values())
    for store in stores:
        try:
            store.git.maintain_at_exit()
        except Exception:  # exit must go on
            pass


def reset() -> None:
    """Flush and forget every writer, close and forget every opened repository and the
    run rows this process decoded."""
    from gittrack.index import forget_cached_rows
    from gittrack.writer import FLUSHER

    flush_all()
    with _lock:
        for writer in _writers.values():
            FLUSHER.unregister(writer)
        _writers.clear()
        _close_stores()
        _stores.clear()
        _roots.clear()
    forget_cached_rows()


# atexit runs last-registered first: flush_all, then _maintain_at_exit, then _close_stores.
atexit.register(_close_stores)
atexit.register(_maintain_at_exit)
atexit.register(flush_all)
