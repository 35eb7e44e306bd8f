"""Writing one run: buffer what is logged, flush it as commits, end it with a status.

A :class:`RunWriter` keeps the run's state in memory, buffers metric points and records
every other change as an operation. A flush writes one commit and moves the run's ref
with compare-and-swap; when another process moved the ref meanwhile (a ``gittrack run``
wrapper and the script it runs both log to one run), the writer reloads the stored state,
replays its pending operations and points on top, and tries again, so nothing is lost.
A background thread flushes every ``flush_interval`` seconds and refreshes the heartbeat.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gittrack import format as fmt
from gittrack.errors import ParamConflictError, RunNotActiveError, RunStateError
from gittrack.runs import LoadedRun, RefConflict, RunStore, kept_after
from gittrack.store.repo import MODE_FILE
from gittrack.validation import params_equal

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("gittrack")

Operation = Callable[[fmt.RunRecord], None]
# Every run of a process shares one environment dict: serialise it once.
_ENV_YAML: dict[int, tuple[dict[str, Any], bytes]] = {}
MAX_CONFLICT_RETRIES = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


class RunWriter:
    """The writing side of one run in this process."""

    def __init__(
        self,
        runs: RunStore,
        record: fmt.RunRecord,
        *,
        code_entries: dict[bytes, tuple[int, str]],
        parent: str | None,
        base_commit: str | None,
        run_files: dict[str, tuple[int, str]] | None = None,
        earlier: tuple[str, ...] = (),
    ) -> None:
        self.runs = runs
        # Read (and checked) here: a malformed setting is refused by the call that starts
        # writing, not later in the flush thread.
        self.settings = runs.settings
        self.record = record
        self.code_entries = code_entries
        self.parent = parent
        self.base_commit = base_commit
        # Earlier states the next commit keeps as parents (see gittrack.runs.kept_after)
        self.earlier = earlier
        self.lock = threading.RLock()  # guards the buffers; re-entrant for signal handlers
        self.flush_lock = threading.RLock()  # one flush at a time
        self._ops: list[Operation] = []
        self._key_codes: dict[str, int] = {}
        self._keys: list[str] = []
        self._codes: list[int] = []
        self._steps: list[int] = []
        self._stamps: list[int] = []
        self._values: list[float] = []
        # A new run is unwritten: its first flush (within the flush interval, or sooner
        # when anything reads it) creates its ref.
        self._dirty = base_commit is None
        self._run_files: dict[str, tuple[int, str]] = dict(run_files or {})
        self._new_files: dict[str, tuple[int, str]] = {}  # added since the last flush
        self._table: pa.Table | None = None
        self._table_loaded = base_commit is None
        # metrics.parquet as the published commit holds it: a failed flush goes back to it
        self._published_metrics = self._run_files.get(fmt.METRICS_FILE)
        self._env_blob: str | None = None
        self.last_flush = time.monotonic()
        self.last_heartbeat = time.monotonic()
        self.ended = False
        # whether the run's experiment is deleted, as this process last saw it (None: not
        # looked up yet; see Client.writable)
        self.experiment_deleted: bool | None = None

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def commit(self) -> str | None:
        return self.base_commit

    def check_active(self) -> None:
        """Refuse a change to the run's params, metrics, tags, name or status while it
        is deleted, as MLflow does (artifacts may still be logged; restore it first)."""
        stage = "deleted" if self.experiment_deleted else self.record.lifecycle_stage
        if stage != "active":
            undo = "restore_experiment" if self.experiment_deleted else "restore_run"
            raise RunNotActiveError(
                f"The run {self.run_id} must be in the 'active' state. Current state is "
                f"{stage}. ({undo} brings it back)"
            )

    def see_stage(self, stored: fmt.RunRecord, experiment_deleted: bool) -> None:
        """Take the run's lifecycle stage (``stored``: as stored now) and its experiment's
        (another process restored or deleted them): the next flush rebases onto that state."""
        with self.lock:
            self.record.lifecycle_stage = stored.lifecycle_stage
            self.record.deleted_time = stored.deleted_time
            self.experiment_deleted = experiment_deleted

    # -- logging (hot paths) ----------------------------------------------------------
    def log_metric(self, key: str, value: float, step: int, timestamp: int) -> None:
        with self.lock:
            code = self._key_codes.get(key)
            if code is None:
                code = self._key_codes[key] = len(self._keys)
                self._keys.append(key)
            self._codes.append(code)
            self._steps.append(step)
            self._stamps.append(timestamp)
            self._values.append(value)
            summary = self.record.metrics.get(key)
            if summary is None:
                self.record.metrics[key] = fmt.MetricSummary(value, step, timestamp, 1)
            else:
                summary.update(value, step, timestamp)
            self._dirty = True

    def log_param(self, key: str, value: Any) -> None:
        with self.lock:
            existing = self.record.params.get(key, _MISSING)
            if existing is not _MISSING:
                if params_equal(existing, value):
                    return
                raise ParamConflictError(
                    f"param {key!r} is already {existing!r} in run {self.run_id[:12]}; "
                    f"params are immutable (got {value!r}): start a new run to change it"
                )
            self._apply(_set_param(key, value))

    def apply(self, op: Operation) -> None:
        """Apply a change to the run now and replay it on any concurrent update."""
        with self.lock:
            self._apply(op)

    def _apply(self, op: Operation) -> None:
        op(self.record)
        self._ops.append(op)
        self._dirty = True

    # -- flushing ---------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def flush(self, *, heartbeat: bool = False) -> str | None:
        """Write pending changes as a commit and move the ref; return the run's commit."""
        with self.flush_lock:
            with self.lock:
                # Only a RUNNING run has a heartbeat: an ended run changes only when edited.
                beat = heartbeat and self.record.status == "RUNNING"
                if not self._dirty and not beat and self.base_commit is not None:
                    return self.base_commit
                ops, self._ops = self._ops, []
                new_files, self._new_files = self._new_files, {}
                points = (self._codes, self._steps, self._stamps, self._values)
                self._codes, self._steps, self._stamps, self._values = [], [], [], []
                keys = list(self._keys)
                self._dirty = False
                self.record.heartbeat = now_ms()
            try:
                self._write(ops, keys, points, new_files)
            except BaseException:
                with self.lock:  # keep what was not written for the next attempt
                    self._forget_unpublished_metrics()
                    self._env_blob = None  # its pack may not have been written: write again
                    self._ops = ops + self._ops
                    self._new_files = new_files | self._new_files
                    self._codes = points[0] + self._codes
                    self._steps = points[1] + self._steps
                    self._stamps = points[2] + self._stamps
                    self._values = points[3] + self._values
                    self._dirty = True
                raise
            self.last_flush = self.last_heartbeat = time.monotonic()
            return self.base_commit

    def _forget_unpublished_metrics(self) -> None:
        """Drop the merged table of a failed flush: its points go back to the buffer."""
        self._table = None
        if self._published_metrics is None:
            self._run_files.pop(fmt.METRICS_FILE, None)
            self._table_loaded = True
        else:
            self._run_files[fmt.METRICS_FILE] = self._published_metrics
            self._table_loaded = False

    def _write(
        self,
        ops: list[Operation],
        keys: list[str],
        points: tuple[list[int], list[int], list[int], list[float]],
        new_files: dict[str, tuple[int, str]],
    ) -> None:
        has_points = bool(points[0])
        for _ in range(MAX_CONFLICT_RETRIES):
            # The flush's new objects (files, trees, commit) land together in one pack,
            # stored before the ref moves.
            with self.runs.git.batched():
                if has_points:
                    self._merge_points(keys, points)
                extra = dict(self._run_files)
                extra[fmt.ENVIRONMENT_FILE] = (MODE_FILE, self._environment_blob())
                with self.lock:
                    record = copy_record(self.record)
                commit = self.runs.write_commit(
                    record,
                    code_entries=self.code_entries,
                    parent=self.parent,
                    extra_files=extra,
                    earlier=self.earlier,
                )
            try:
                self.runs.publish(record.run_id, commit, self.base_commit)
            except RefConflict as conflict:
                self._rebase(conflict.current, ops, keys, points, new_files)
                continue
            self.base_commit = commit
            self.earlier = kept_after(commit, record.status, self.earlier)
            self._published_metrics = self._run_files.get(fmt.METRICS_FILE)
            return
        raise RunStateError(f"run {self.run_id[:12]} keeps changing under us; try again")

    def _merge_points(
        self, keys: list[str], points: tuple[list[int], list[int], list[int], list[float]]
    ) -> None:
        import pyarrow as pa

        if not self._table_loaded:
            self._table = self._stored_metrics()
            self._table_loaded = True
        new = fmt.metrics_table(points[0], keys, points[1], points[2], points[3])
        if self._table is not None and self._table.num_rows:
            new = pa.concat_tables([self._table, new], promote_options="permissive")
            new = new.unify_dictionaries().combine_chunks()
        self._table = new
        blob = self.runs.git.write_blob(fmt.write_metrics(new))
        self._run_files[fmt.METRICS_FILE] = (MODE_FILE, blob)

    def _stored_metrics(self) -> pa.Table | None:
        entry = self._run_files.get(fmt.METRICS_FILE)
        if entry is None:
            return None
        data = self.runs.git.read_blob(entry[1])
        return fmt.read_metrics(data, f"run {self.run_id}")

    def _environment_blob(self) -> str:
        if self._env_blob is None:
            env = self.record.environment
            data = _ENV_YAML.get(id(env))
            if data is None or data[0] is not env:
                data = (env, fmt.dump_yaml(env))
                _ENV_YAML[id(env)] = data
            self._env_blob = self.runs.git.write_blob(data[1])
        return self._env_blob

    def _rebase(
        self,
        current: str | None,
        ops: list[Operation],
        keys: list[str],
        points: tuple[list[int], list[int], list[int], list[float]],
        new_files: dict[str, tuple[int, str]],
    ) -> None:
        """Another writer moved the ref: start again from its state plus our changes."""
        if current is None:
            raise RunStateError(f"run {self.run_id[:12]} was deleted while it was being logged")
        loaded = self.runs.load_commit(current, what=f"run {self.run_id}")
        with self.lock:
            record = loaded.record
            for op in ops:
                op(record)
            for op in self._ops:  # logged since this flush began
                op(record)
            for code, step, stamp, value in zip(*points, strict=False):
                _update_summary(record, keys[code], value, step, stamp)
            for code, step, stamp, value in zip(
                self._codes, self._steps, self._stamps, self._values, strict=False
            ):
                _update_summary(record, self._keys[code], value, step, stamp)
            record.heartbeat = self.record.heartbeat
            self.record = record
        self.base_commit = current
        self.parent = loaded.parent
        self.earlier = loaded.kept_by_next
        self.code_entries = loaded.code_entries
        with self.lock:
            self._run_files = (
                _stored_files(loaded.run_files, self.runs) | new_files | self._new_files
            )
        self._published_metrics = loaded.run_files.get(fmt.METRICS_FILE)
        self._table = None
        self._table_loaded = False
        self._env_blob = loaded.run_files.get(fmt.ENVIRONMENT_FILE, (0, None))[1]

    # -- ending -----------------------------------------------------------------------
    def end(self, status: str, end_time: int | None = None) -> str | None:
        """Set the final status and end time (ms, default now), and flush everything."""
        if status not in fmt.STATUSES or status == "RUNNING":
            raise RunStateError(
                f"cannot end a run with status {status!r} (use FINISHED, FAILED or KILLED)"
            )
        self.apply(_set_status(status, now_ms() if end_time is None else end_time))
        commit = self.flush()  # on failure the writer stays live, its buffer kept for a retry
        self.ended = True
        self.runs.git.auto_maintain()
        return commit

    def add_run_file(self, path: str, blob: str) -> None:
        """Put an already stored blob at ``path`` inside the run folder (e.g. artifacts/)."""
        with self.lock:
            self._run_files[path] = self._new_files[path] = (MODE_FILE, blob)
            self._dirty = True


class _Missing:
    pass


_MISSING = _Missing()


def _set_param(key: str, value: Any) -> Operation:
    def op(record: fmt.RunRecord) -> None:
        existing = record.params.get(key, _MISSING)
        if existing is not _MISSING and not params_equal(existing, value):
            raise ParamConflictError(
                f"param {key!r} was set to {existing!r} by another writer of run "
                f"{record.run_id[:12]}; params are immutable (got {value!r})"
            )
        record.params[key] = value

    return op


def _set_status(status: str, end_time: int) -> Operation:
    def op(record: fmt.RunRecord) -> None:
        record.status = status
        record.end_time = end_time

    return op


def resume_op() -> Operation:
    """Back to RUNNING, now owned by this process (for dead-run detection)."""
    from gittrack.environment import current_host

    pid, host = os.getpid(), current_host()

    def op(record: fmt.RunRecord) -> None:
        record.status = "RUNNING"
        record.end_time = None
        record.pid, record.host = pid, host

    return op


def lifecycle_op(stage: str) -> Operation:
    """Mark the run deleted, recording when (MLflow's soft delete and its
    ``deleted_time``), or active again."""
    when = time.time_ns() // 1_000_000 if stage == "deleted" else None

    def op(record: fmt.RunRecord) -> None:
        record.lifecycle_stage = stage
        record.deleted_time = when

    return op


def experiment_op(name: str, experiment_id: str) -> Operation:
    """Move the run to the experiment ``name`` with id ``experiment_id`` (a rename)."""

    def op(record: fmt.RunRecord) -> None:
        record.experiment = name
        record.experiment_id = experiment_id

    return op


def set_tags_op(tags: dict[str, str]) -> Operation:
    def op(record: fmt.RunRecord) -> None:
        record.tags.update(tags)

    return op


def delete_tag_op(key: str) -> Operation:
    def op(record: fmt.RunRecord) -> None:
        record.tags.pop(key, None)

    return op


def _update_summary(record: fmt.RunRecord, key: str, value: float, step: int, ts: int) -> None:
    summary = record.metrics.get(key)
    if summary is None:
        record.metrics[key] = fmt.MetricSummary(value, step, ts, 1)
    else:
        summary.update(value, step, ts)


def copy_record(record: fmt.RunRecord) -> fmt.RunRecord:
    """A copy of ``record`` whose mutable parts can be changed independently."""
    import copy

    clone = copy.copy(record)
    clone.params = dict(record.params)
    clone.tags = dict(record.tags)
    clone.metrics = {
        k: fmt.MetricSummary(m.value, m.step, m.timestamp, m.count)
        for k, m in record.metrics.items()
    }
    clone.artifacts = dict(record.artifacts)
    clone.inputs = list(record.inputs)
    return clone


def writer_for_loaded(runs: RunStore, loaded: LoadedRun) -> RunWriter:
    """A writer that continues a stored run (resume, or join from another process)."""
    return RunWriter(
        runs,
        loaded.record,
        code_entries=loaded.code_entries,
        parent=loaded.parent,
        base_commit=loaded.commit,
        run_files=_stored_files(loaded.run_files, runs),
        earlier=loaded.kept_by_next,
    )


def _stored_files(
    run_files: dict[str, tuple[int, str]], runs: RunStore
) -> dict[str, tuple[int, str]]:
    """The run folder's non-YAML files, flattened to paths (``artifacts/x`` included)."""
    from gittrack.store.repo import MODE_TREE

    files: dict[str, tuple[int, str]] = {}
    for name, (mode, sha) in run_files.items():
        if name in fmt.YAML_FILES or name == fmt.ENVIRONMENT_FILE:
            continue
        if mode == MODE_TREE:
            for path, sub_mode, sub_sha in runs.git.iter_tree_files(sha, name + "/"):
                files[path] = (sub_mode, sub_sha)
        else:
            files[name] = (mode, sha)
    return files


@dataclass(frozen=True)
class MetricHistory:
    """Every point of one metric, in logging order (see :func:`write_complete_run`)."""

    key: str
    steps: Sequence[int]
    timestamps: Sequence[int]
    values: Sequence[float]


def write_complete_run(
    runs: RunStore,
    record: fmt.RunRecord,
    *,
    histories: Iterable[MetricHistory] = (),
    run_files: Mapping[str, str] | None = None,
    expected: str | None = None,
    code_entries: dict[bytes, tuple[int, str]] | None = None,
    parent: str | None = None,
) -> tuple[str, bool]:
    """Write a run whose whole state is known (id, times, every metric point with its
    timestamp) as one commit, and move its ref from ``expected`` (None: a new run).

    ``record.metrics`` is computed from ``histories``; ``run_files`` maps paths inside the
    run folder (``artifacts/<path>``) to stored blobs. When the commit at ``expected``
    already holds exactly this state nothing moves and the answer is ``(expected, False)``;
    otherwise ``(new commit, True)``. A ref moved meanwhile raises :class:`RefConflict`.
    """
    codes: list[int] = []
    keys: list[str] = []
    key_codes: dict[str, int] = {}
    steps: list[int] = []
    stamps: list[int] = []
    values: list[float] = []
    summaries: dict[str, fmt.MetricSummary] = {}
    for history in histories:
        n = len(history.values)
        if not n:
            continue
        code = key_codes.get(history.key)
        if code is None:
            code = key_codes[history.key] = len(keys)
            keys.append(history.key)
        codes.extend([code] * n)
        steps.extend(history.steps)
        stamps.extend(history.timestamps)
        values.extend(history.values)
        # The latest point: largest (step, timestamp), the later one on ties, as
        # MetricSummary.update keeps it.
        step, stamp, index = max(zip(history.steps, history.timestamps, range(n), strict=True))
        found = summaries.get(history.key)
        if found is None:
            summaries[history.key] = fmt.MetricSummary(float(history.values[index]), step, stamp, n)
        else:
            count = found.count + n
            found.update(float(history.values[index]), step, stamp)
            found.count = count
    record.metrics = summaries
    git = runs.git
    files = {name: (MODE_FILE, blob) for name, blob in (run_files or {}).items()}
    if keys:
        table = fmt.metrics_table(codes, keys, steps, stamps, values)
        files[fmt.METRICS_FILE] = (MODE_FILE, git.write_blob(fmt.write_metrics(table)))
    files[fmt.ENVIRONMENT_FILE] = (MODE_FILE, git.write_blob(fmt.dump_yaml(record.environment)))
    tree = runs.write_tree(record, code_entries=code_entries or {}, extra_files=files)
    earlier: tuple[str, ...] = ()
    if expected is not None:
        old = git.read_commit(expected)
        if old.tree.decode("ascii") == tree and runs.split_parents(old, record.run_id)[0] == parent:
            return expected, False
        earlier = runs.kept_by_next(expected)
    commit = runs.commit_tree(record, tree, parent, earlier)
    runs.publish(record.run_id, commit, expected)
    return commit, True


# -- the background flusher ---------------------------------------------------------------
class Flusher:
    """One daemon thread per process that flushes every live writer at its interval."""

    def __init__(self) -> None:
        self._writers: weakref.WeakSet[RunWriter] = weakref.WeakSet()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def register(self, writer: RunWriter) -> None:
        if self._pid != os.getpid():  # forked child: the parent's thread is not here
            self._writers, self._thread, self._pid = weakref.WeakSet(), None, os.getpid()
        self._writers.add(writer)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="gittrack-flush", daemon=True)
            self._thread.start()

    def unregister(self, writer: RunWriter) -> None:
        self._writers.discard(writer)

    def _loop(self) -> None:
        while True:
            writers = [w for w in list(self._writers) if not w.ended]
            shortest = min((w.settings.flush_interval for w in writers), default=1.0)
            self._wake.wait(min(shortest, 1.0))
            now = time.monotonic()
            for writer in writers:
                settings = writer.settings
                due = writer.dirty and now - writer.last_flush >= settings.flush_interval
                beat = now - writer.last_heartbeat >= settings.heartbeat_interval
                if writer.ended or not (due or beat):
                    continue
                try:
                    writer.flush(heartbeat=beat)
                except Exception as e:  # the next interval tries again; the run keeps data
                    log.warning("gittrack: flushing run %s failed: %s", writer.run_id[:12], e)


FLUSHER = Flusher()
