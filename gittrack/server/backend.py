"""What the REST handlers share: the repository's client and store, and the write policy.

Durability of an answered write: with ``sync_writes`` off (one worker, the default), a
write is buffered by the run's writer and committed within the flush interval, at the
run's end, or before anything reads the run (read-your-writes inside the process): a
crash loses at most one flush interval, as for any gittrack process. With ``sync_writes``
on (always with several workers, or ``--sync``), a write is committed before it is
answered; concurrent writes to one run share a commit (group commit: a request that
waits for the writer's flush lock finds its points already written by the flush ahead
of it).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.client import Client
from gittrack.experiments import as_reported
from gittrack.index_build import row_from_record
from gittrack.naming import is_run_id
from gittrack.runs import RunStore
from gittrack.server.protocol import mlflow_error
from gittrack.session import flush_pending, open_index, open_repository

if TYPE_CHECKING:
    from gittrack.index import RunIndex

__all__ = ["Backend"]


class Backend:
    """The tracking repository behind one server process."""

    def __init__(self, repo: str | os.PathLike[str] | None = None, *, sync_writes: bool = False):
        from gittrack.config import find_tracking_root

        # Opened on the first request, so pre-forked workers each open their own.
        self.root: Path = find_tracking_root(repo, create=True)
        self.sync_writes = sync_writes
        self._client: Client | None = None
        self._index: RunIndex | None = None
        self._index_lock = threading.Lock()

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.root)
        return self._client

    @property
    def runs(self) -> RunStore:
        return open_repository(self.root, create=False)

    @contextlib.contextmanager
    def index(self) -> Iterator[RunIndex]:
        """The run index, kept open for the process and lent to one request at a time.

        Closing SQLite's last connection to the index checkpoints its write-ahead log
        (an fsync): opening and closing it per search cost 15-40 ms here.
        """
        with self._index_lock:
            if self._index is None:
                self._index = open_index(self.root, refresh=False, shared=True)
            yield self._index

    def run_id(self, value: str | None) -> str:
        """An exact run id of this repository (MLflow clients never send prefixes)."""
        if value is None or not is_run_id(value) or not self._exists(value):
            raise mlflow_error("RESOURCE_DOES_NOT_EXIST", f"Run '{value}' not found")
        return value

    def writable(self, run_id: str) -> str:
        """``run_id`` when its params, metrics, tags or status may change: as MLflow, not
        while the run is deleted (its artifacts may); the library's own check."""
        self.client.writable(run_id)
        return run_id

    def _exists(self, run_id: str) -> bool:
        from gittrack.format import ref_name

        return self.runs.git.read_ref(ref_name(run_id)) is not None

    def row(self, run_id: str) -> dict[str, Any]:
        """The run's current state as an index row, this process's buffered writes included."""
        runs = self.runs
        flush_pending(runs.root, run_id)
        loaded = as_reported(runs, runs.load(run_id))
        return row_from_record(loaded.record, loaded.commit)

    def written(self, run_id: str) -> None:
        """Called after a write: commit it now when writes are synchronous."""
        if self.sync_writes:
            self.client.flush(run_id)
