"""The local run index: a rebuildable SQLite cache of every run's filterable row.

The refs are the source of truth; the index only remembers, per run, the commit it last
read and the row built from it (see :mod:`gittrack.query.filter` for the row shape). It
lives at ``<git common dir>/gittrack/index.sqlite`` and updates incrementally: refs are
listed from the ref files, and only runs whose commit changed are read again; rows of
vanished refs are dropped. When neither ``refs/gittrack/runs/`` nor ``packed-refs``
changed since the last scan (and that scan happened well after their last change, the
racy-git guard) even the ref listing is skipped, so a warm listing imports neither
dulwich nor pyarrow.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from gittrack.errors import CorruptRunError, StorageError
from gittrack.gcpause import collector_paused
from gittrack.index_build import (
    COLUMNS_VERSION,
    DOC,
    ERROR_FIELD,
    NESTED,
    Read,
    batch_rows,
    fresh_columns,
    index_row,
    parallel_rows,
    rows_columns,
    unedited_runs,
    write_columns,
)
from gittrack.naming import HEX_DIGITS, RUN_REF_PREFIX

if TYPE_CHECKING:
    from gittrack.format import RunRecord
    from gittrack.runs import RunStore

log = logging.getLogger("gittrack")

SCHEMA_VERSION = "11"  # 4: metric_steps; 5: states; 6: experiment_id; 7: system tags, dirty;
# 8: parent_run_id column; 9: runs_by_experiment (added in place to an index of schema 8);
# 10: deleted column, in runs_by_experiment (added in place to an index of schema 8 or 9);
# 11: an input's schema and MLflow fields in the row (the runs with inputs read again)
INDEX_PATH = "gittrack/index.sqlite"
PARALLEL_THRESHOLD = 2000  # from this many, parse in helper processes on every core
RACY_NS = 2_000_000_000  # a stat signature is trusted only this long after the change
BATCH_THRESHOLD = 64  # from this many changed runs on, read them through git cat-file
NAMED_SKIPS = 3  # unreadable runs named one per line; past these, one line counts the rest
_ROW_CACHE: dict[Path, tuple[str, list[dict[str, Any]]]] = {}
_KNOWN: dict[Path, tuple[str, dict[str, str]]] = {}  # {run_id: commit} per index file
_HEX = frozenset(HEX_DIGITS)
_SNAPSHOT_VERSION = 1
# what every projected row holds: what experiment/stage narrowing and the default order read
_BASE_FIELDS = ("run_id", "experiment", "experiment_id", "lifecycle_stage", "start_time")
# columns of an older index state answer while at most this many (or 1/20 of the) runs
# changed since: the changed ones are decoded from the index, the others read as columns
_STALE_COLUMNS_MIN = 2000
# the indexes of the runs table (a build into an empty table makes them after the rows)
RUN_INDEXES = {
    "runs_by_start": "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (start_time DESC, run_id)",
    "runs_by_name": "CREATE INDEX IF NOT EXISTS runs_by_name ON runs (name)",
    "runs_by_parent": "CREATE INDEX IF NOT EXISTS runs_by_parent ON runs (parent_run_id)"
    " WHERE parent_run_id IS NOT NULL",
    "runs_by_experiment": "CREATE INDEX IF NOT EXISTS runs_by_experiment"
    " ON runs (experiment, deleted, start_time, status) WHERE error IS NULL",
}
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    commit_sha TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    experiment TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    start_time INTEGER NOT NULL DEFAULT 0,
    host TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0,
    heartbeat INTEGER NOT NULL DEFAULT 0,
    parent_run_id TEXT,
    doc TEXT,
    error TEXT,
    deleted INTEGER NOT NULL DEFAULT 0
);
"""
    + ";\n".join(RUN_INDEXES.values())
    + """;
-- every state (current or earlier commit) of each run, for resolving any hash a run had;
-- filled when a hash is resolved, from the commit recorded in `walked`
CREATE TABLE IF NOT EXISTS states (sha TEXT PRIMARY KEY, run_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS states_by_run ON states (run_id);
CREATE TABLE IF NOT EXISTS walked (run_id TEXT PRIMARY KEY, commit_sha TEXT NOT NULL);
"""
)


@dataclass(frozen=True)
class IndexEntry:
    """What the index knows about one run without parsing its row."""

    run_id: str
    commit: str
    name: str
    experiment: str
    status: str
    start_time: int
    host: str
    pid: int
    heartbeat: int
    error: str | None

    @property
    def corrupt(self) -> bool:
        return self.error is not None


class RunIndex:
    """The index of one tracking repository (:func:`gittrack.session.open_index` opens it).

    ``open_store`` gives the repository's RunStore, asked for only when runs must be read
    (so a warm listing imports no dulwich); ``before_read`` (optional) runs before the refs
    are scanned, to write what this process still buffers. ``shared``: the index may be
    used from several threads, one at a time (the caller serializes them).
    """

    def __init__(
        self,
        root: Path,
        open_store: Callable[[], RunStore],
        *,
        common_dir: Path | None = None,
        before_read: Callable[[], None] | None = None,
        shared: bool = False,
    ) -> None:
        from gittrack.store.repo import common_dir_of

        self.root = root
        self.common_dir = common_dir or common_dir_of(root)
        self.path = self.common_dir / INDEX_PATH
        self._open_store = open_store
        self._runstore: RunStore | None = None
        self.before_read = before_read
        self._shared = shared
        self._db = self._connect()

    # -- the database ----------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(exist_ok=True)
            try:
                db = self._open_file()
            except sqlite3.DatabaseError as e:  # damaged: it is only a cache, start afresh
                for suffix in ("", "-wal", "-shm"):
                    Path(str(self.path) + suffix).unlink(missing_ok=True)
                db = self._open_file()
                # said only once rebuilt: a read-only index is not damaged (see below)
                log.warning("gittrack: run index %s was damaged (%s); rebuilt it", self.path, e)
        except (OSError, sqlite3.Error) as e:
            # A read-only or damaged index must not stop listing: work in memory.
            log.warning("gittrack: run index %s unusable (%s); using a temporary one", self.path, e)
            db = sqlite3.connect(
                ":memory:", isolation_level=None, check_same_thread=not self._shared
            )
            self._init_schema(db)
        return db

    def _open_file(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=not self._shared
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._init_schema(db)
        except sqlite3.Error:
            db.close()
            raise
        return db

    @staticmethod
    def _init_schema(db: sqlite3.Connection) -> None:
        row = None
        try:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.OperationalError:
            pass
        if row is not None and row[0] in ("8", "9", "10"):  # upgraded in place, no rebuild
            if row[0] != "10":  # a column and an index
                db.executescript(
                    "DROP INDEX IF EXISTS runs_by_experiment;"
                    " ALTER TABLE runs ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
                    " UPDATE runs SET deleted = 1"
                    " WHERE json_extract(doc, '$.lifecycle_stage') = 'deleted';" + _SCHEMA
                )
            with db:  # the runs with inputs are read again: their rows gain more of them
                db.execute("BEGIN IMMEDIATE")
                gone = db.execute("DELETE FROM runs WHERE json_extract(doc, '$.inputs') != '{}'")
                if gone.rowcount:
                    db.execute("DELETE FROM meta WHERE key='refs_signature'")
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('generation', ?)",
                        (os.urandom(8).hex(),),
                    )
                db.execute("UPDATE meta SET value=? WHERE key='schema'", (SCHEMA_VERSION,))
        elif row is None or row[0] != SCHEMA_VERSION:
            db.executescript(
                "DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS states;"
                " DROP TABLE IF EXISTS walked;" + _SCHEMA
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def runstore(self) -> RunStore:
        """The RunStore of this repository (imports dulwich on first use)."""
        if self._runstore is None:
            self._runstore = self._open_store()
        return self._runstore

    # -- keeping up with the refs ------------------------------------------------------
    def _signature(self) -> tuple[str, int]:
        """A stat signature of the run refs and the newest mtime in it."""
        parts: list[str] = []
        newest = 0
        for path in (self.common_dir / RUN_REF_PREFIX.rstrip("/"), self.common_dir / "packed-refs"):
            try:
                st = path.stat()
            except OSError:
                parts.append("-")
                continue
            parts.append(f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}")
            newest = max(newest, st.st_mtime_ns)
        return "|".join(parts), newest

    def kept_value(self, key: str, signature: str) -> str | None:
        """What :meth:`keep_value` kept under ``key`` for ``signature`` (else None)."""
        found = self._meta(f"kept:{key}")
        if found is None:
            return None
        kept_for, _, value = found.partition("\n")
        return value if kept_for == signature else None

    def keep_value(self, key: str, signature: str, value: str) -> None:
        """Keep ``value`` (derived from a state ``signature`` names) in the index for
        later processes; a cache, so an index that cannot be written changes nothing."""
        with contextlib.suppress(sqlite3.Error), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                (f"kept:{key}", f"{signature}\n{value}"),
            )

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def up_to_date(self) -> bool:
        """True when the refs provably did not change since the last full scan."""
        sig, newest = self._signature()
        stored = self._meta("refs_signature")
        scanned = self._meta("scanned_ns")
        return stored == sig and scanned is not None and int(scanned) - newest >= RACY_NS

    def refresh(self, runs: dict[str, str] | None = None) -> None:
        """Bring the index up to date with the refs (``runs``: a listing already made)."""
        if self.before_read is not None:
            self.before_read()
        scanned_ns = time.time_ns()
        sig, _ = self._signature()
        if runs is None:
            if self.up_to_date():
                return
            from gittrack.store.refs import list_refs

            refs = list_refs(self.common_dir, RUN_REF_PREFIX)
            runs = {
                name[len(RUN_REF_PREFIX) :]: sha
                for name, sha in refs.items()
                if "/" not in name[len(RUN_REF_PREFIX) :]
            }
            own_listing = True
        else:
            own_listing = False
        before = self.generation
        known = self._known(before)
        vanished = [rid for rid in known if rid not in runs]
        changed = [(rid, sha) for rid, sha in runs.items() if known.get(rid) != sha]
        if not (changed or vanished or own_listing):
            return
        reads = self._load_many(changed)
        loaded = [row for row, _ in reads]
        meta = [("refs_signature", sig), ("scanned_ns", str(scanned_ns))] if own_listing else []
        after = before
        if changed or vanished:  # readers' in-memory row caches are keyed by this token
            after = os.urandom(8).hex()
            meta.append(("generation", after))
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                current = self.generation  # another process may have written in between
                self._db.executemany("DELETE FROM runs WHERE run_id=?", [(r,) for r in vanished])
                self._insert(loaded)
                self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
        except sqlite3.Error as e:
            raise StorageError(f"cannot update the run index {self.path}: {e}") from e
        if changed or vanished:
            log.debug("gittrack: index: %d runs read, %d dropped", len(changed), len(vanished))
            if current == before:
                _carry_over(self.path, before, after, known, loaded, vanished)
                fresh = (
                    fresh_columns(reads) if not known and len(reads) >= BATCH_THRESHOLD else None
                )
                if fresh is not None:  # a build read every run in bulk
                    write_columns(self._columns_path, after, fresh)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        """Write ``rows`` to the runs table (in the caller's transaction). Many rows into
        an empty table go in before its indexes, which are then built at once: a third
        cheaper than updating every index row by row (100,000 runs: 1.4 s instead of 2 s
        of CPU)."""
        db = self._db
        bulk = (
            len(rows) >= BATCH_THRESHOLD
            and db.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None
        )
        if bulk:
            for name in RUN_INDEXES:
                db.execute(f"DROP INDEX IF EXISTS {name}")
        db.executemany("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        if bulk:
            for sql in RUN_INDEXES.values():
                db.execute(sql)

    def _known(self, generation: str) -> dict[str, str]:
        """``{run_id: commit}`` of every run in the index (kept in memory per generation)."""
        kept = _KNOWN.get(self.path)
        if kept is not None and kept[0] == generation and generation:
            return dict(kept[1])
        known = dict(self._db.execute("SELECT run_id, commit_sha FROM runs").fetchall())
        _KNOWN[self.path] = (generation, known)
        return dict(known)

    def _read_record(self, run_id: str, commit: str) -> RunRecord:
        """Parse only the files a row needs (not environment.yaml, the costly one)."""
        from gittrack import format as fmt
        from gittrack.store.repo import MODE_TREE

        git = self.runstore.git
        what = f"run {run_id}"
        root = git.read_tree(git.read_commit(commit).tree.decode("ascii"))
        gt = root.get(b".gittrack")
        run_dir = git.read_tree(gt[1]).get(b"run") if gt and gt[0] == MODE_TREE else None
        if run_dir is None or run_dir[0] != MODE_TREE:
            raise CorruptRunError(f"{what} has no {fmt.RUN_DIR} folder (not a gittrack run)")
        entries = git.read_tree(run_dir[1])
        texts = {}
        for name in (fmt.RUN_FILE, fmt.PARAMS_FILE, fmt.TAGS_FILE, fmt.INPUTS_FILE):
            entry = entries.get(name.encode())
            if entry is not None:
                texts[name] = git.read_blob(entry[1])
        return fmt.parse_record(texts, what)

    def _load_many(self, changed: list[tuple[str, str]]) -> list[Read]:
        """Index rows of ``changed`` runs (see :data:`gittrack.index_build.Read`): through
        ``git cat-file`` (and helper processes on several cores) when there are many;
        runs the fast path cannot read go the careful way."""
        from gittrack.store import catfile

        if len(changed) < BATCH_THRESHOLD or not catfile.available():
            rows: list[Read | None] = [None] * len(changed)
        elif len(changed) >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) > 1:
            rows = parallel_rows(str(self.common_dir), changed)
        else:
            rows = batch_rows(str(self.common_dir), changed)
        out = []
        skipped = 0
        for read, (rid, sha) in zip(rows, changed, strict=True):
            if read is None:
                read = index_row(rid, sha, functools.partial(self._read_record, rid, sha))
            if read[0][ERROR_FIELD] is not None:
                skipped += 1
                if skipped <= NAMED_SKIPS:
                    log.warning("gittrack: skipping run %s: %s", rid[:12], read[0][ERROR_FIELD])
            out.append(read)
        if skipped > NAMED_SKIPS:
            log.warning(
                "gittrack: skipping %d more unreadable runs ('gittrack show RUN' tells why)",
                skipped - NAMED_SKIPS,
            )
        return out

    def rebuild(self) -> int:
        """Forget everything and read every run again; return the number of runs."""
        with self._db:
            self._db.execute("DELETE FROM runs")
            self._db.execute("DELETE FROM states")
            self._db.execute("DELETE FROM walked")
            self._db.execute(
                "DELETE FROM meta WHERE key IN"
                " ('refs_signature', 'scanned_ns', 'generation', 'states_generation')"
            )
        self.refresh()
        return len(self.entries())

    # -- reading ---------------------------------------------------------------------
    @property
    def generation(self) -> str:
        """A token that changes whenever a run's row is added, changed or dropped."""
        return self._meta("generation") or ""

    def entries(self) -> list[IndexEntry]:
        """Every run the index knows, newest first (corrupt ones included)."""
        rows = self._db.execute(
            "SELECT run_id, commit_sha, name, experiment, status, start_time, host, pid,"
            " heartbeat, error FROM runs ORDER BY start_time DESC, run_id"
        ).fetchall()
        return [IndexEntry(*row) for row in rows]

    def entries_of(self, run_ids: list[str]) -> list[IndexEntry]:
        """The entries of ``run_ids`` that the index knows (in no particular order)."""
        out: list[IndexEntry] = []
        for chunk in _chunks(sorted(set(run_ids))):
            sql = (
                "SELECT run_id, commit_sha, name, experiment, status, start_time, host, pid,"
                f" heartbeat, error FROM runs WHERE run_id IN ({','.join('?' * len(chunk))})"
            )
            out.extend(IndexEntry(*row) for row in self._db.execute(sql, chunk))
        return out

    def rows_of(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``{run_id: row}`` of the readable runs among ``run_ids`` (decodes only those)."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(run_ids))):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT run_id, doc FROM runs WHERE doc IS NOT NULL AND run_id IN ({marks})"
            out.update((rid, json.loads(doc)) for rid, doc in self._db.execute(sql, chunk))
        return out

    def experiment_counts(self) -> list[tuple[str, int, int, int]]:
        """``(experiment, runs, running runs, latest start ms)`` of readable runs not
        deleted (``delete_run``), most recently used first (one grouped query over the
        experiment index: no row is decoded)."""
        sql = (
            "SELECT experiment, COUNT(*), SUM(status = 'RUNNING'), MAX(start_time) FROM runs"
            " WHERE error IS NULL AND deleted = 0"
            " GROUP BY experiment ORDER BY MAX(start_time) DESC, experiment"
        )
        return [(str(e), int(n), int(r), int(t)) for e, n, r, t in self._db.execute(sql)]

    def experiment_spans(self, name: str | None = None) -> dict[str, tuple[int, int]]:
        """``{experiment: (first run start ms, last run start ms)}`` of readable runs, of
        every experiment or only of ``name`` (one grouped query: no row is decoded)."""
        sql = "SELECT experiment, MIN(start_time), MAX(start_time) FROM runs WHERE error IS NULL"
        args: tuple[str, ...] = ()
        if name is not None:
            sql, args = sql + " AND experiment=?", (name,)
        rows = self._db.execute(sql + " GROUP BY experiment", args)
        return {str(e): (int(lo), int(hi)) for e, lo, hi in rows}

    def rows(self, experiments: list[str] | None = None) -> list[dict[str, Any]]:
        """The filterable rows of every readable run, newest first (treat them as read-only).

        Parsed rows are kept in memory per index file and reused while the index's
        generation token is unchanged, so repeated searches in one process skip decoding.
        """
        generation = self.generation
        cached = _ROW_CACHE.get(self.path)
        if cached is None or cached[0] != generation:
            snapshot = self._load_snapshot(generation)
            if snapshot is None:
                docs: list[str] = []
                unreadable = []
                sql = "SELECT run_id, doc FROM runs ORDER BY start_time DESC, run_id"
                for run_id, doc in self._db.execute(sql):
                    if doc is None:
                        unreadable.append(run_id[:12])
                    else:
                        docs.append(doc)
                if unreadable:
                    log.warning("gittrack: %s unreadable and left out", _named_runs(unreadable))
                # one decode of a JSON array is much cheaper than one call per row
                with collector_paused():
                    snapshot = json.loads("[" + ",".join(docs) + "]")
                self._save_snapshot(generation, snapshot)
            cached = (generation, snapshot)
            _ROW_CACHE[self.path] = cached
        rows: list[dict[str, Any]] = cached[1]
        if experiments:
            wanted = set(experiments)
            return [r for r in rows if r["experiment"] in wanted]
        return list(rows)

    def rows_with_parent(self, parent_run_id: str) -> list[dict[str, Any]]:
        """The rows of the readable runs nested in ``parent_run_id``, newest first.

        Found through the indexed ``parent_run_id`` column, so only those rows are read
        and decoded (decoding every row costs about 0.1 s at 10,000 runs).
        """
        sql = (
            "SELECT doc FROM runs WHERE parent_run_id = ? AND doc IS NOT NULL"
            " ORDER BY start_time DESC, run_id"
        )
        return [json.loads(doc) for (doc,) in self._db.execute(sql, (parent_run_id,))]

    # Decoded rows are also kept next to the index as one marshal blob tagged with the
    # index generation: loading it is about twice as fast as fetching and decoding the
    # JSON docs (100,000 runs: 0.5 s instead of 1.3 s). Like the index itself it is a
    # local cache under the git directory, never shared and rebuilt when stale.
    @property
    def _snapshot_path(self) -> Path:
        return self.path.with_name(self.path.name + ".rows")

    def _load_snapshot(self, generation: str) -> list[dict[str, Any]] | None:
        import marshal

        try:
            data = self._snapshot_path.read_bytes()
            with collector_paused():
                version, stored, rows = marshal.loads(data)
        except (OSError, ValueError, EOFError, TypeError):
            return None
        if version != _SNAPSHOT_VERSION or stored != generation or not isinstance(rows, list):
            return None
        return rows

    def _save_snapshot(self, generation: str, rows: list[dict[str, Any]]) -> None:
        import marshal

        if not generation:
            return
        tmp = self._snapshot_path.with_name(f"{self._snapshot_path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(marshal.dumps((_SNAPSHOT_VERSION, generation, rows)))
            os.replace(tmp, self._snapshot_path)
        except (OSError, ValueError):  # a cache: failing to write it changes nothing
            with contextlib.suppress(OSError):  # nor failing to clean up (read-only)
                tmp.unlink(missing_ok=True)

    # The same rows are also kept column by column (``.cols``): a top-level field's value
    # per row, or a param/metric/tag key's (row positions, values). A search that wants a
    # few rows reads only the columns its filter and sort name (100,000 runs: a few
    # columns of about 1 MB instead of the 80 MB of every row), then decodes the rows it
    # keeps from their JSON documents.
    @property
    def _columns_path(self) -> Path:
        return self.path.with_name(self.path.name + ".cols")

    def _columns_header(
        self, f: BinaryIO
    ) -> tuple[str, int, int, dict[tuple[str, str], tuple[int, int]]] | None:
        """``(generation, rows, where the columns start, {column: (offset, length)})``
        read from the open columns file ``f`` (of any generation)."""
        import marshal

        try:
            size = int.from_bytes(f.read(8), "little")
            version, stored, n, where = marshal.loads(f.read(size))
        except (OSError, ValueError, EOFError, TypeError):
            return None
        if version != COLUMNS_VERSION or not stored:
            return None
        return str(stored), int(n), 8 + size, where

    def _columns_current(self) -> bool:
        try:
            with self._columns_path.open("rb") as f:
                header = self._columns_header(f)
        except OSError:
            return False
        return header is not None and header[0] == self.generation

    def keep_columns(self) -> None:
        """Write the columns of the rows this process holds, unless they are on disk (a
        search that wanted a few rows had to read them whole: the next one will not)."""
        generation = self.generation
        cached = _ROW_CACHE.get(self.path)
        if not generation or cached is None or cached[0] != generation:
            return
        if not self._columns_current():
            with collector_paused():  # (the converted rows are dropped at once)
                write_columns(self._columns_path, generation, rows_columns(cached[1]))

    def projected_rows(self, columns: set[tuple[str, str]]) -> list[dict[str, Any]] | None:
        """The rows of :meth:`rows`, in its order, holding only ``columns`` (as
        :meth:`gittrack.query.filter.Filter.keys` names them) and the fields that narrow by
        experiment and stage and give the default order; None when only whole rows can
        answer (inputs named, no columns file, or whole rows already in memory, which are
        faster still).

        Columns of an older index state still answer when few runs changed since: the
        runs they hold at another commit (or no longer) are left out, and the runs added
        or changed since are decoded from the index and put in their place."""
        import marshal

        generation = self.generation
        cached = _ROW_CACHE.get(self.path)
        if cached is not None and cached[0] == generation:
            return None
        if any(kind != "attributes" and kind not in NESTED for kind, _ in columns):
            return None
        try:
            with self._columns_path.open("rb") as f:  # one handle: the header and its data
                header = self._columns_header(f)
                if header is None:
                    return None
                stored, n, base, where = header

                def load(column: tuple[str, str]) -> Any:
                    offset, length = where[column]
                    f.seek(base + offset)
                    return marshal.loads(f.read(length))

                with collector_paused():
                    keep: list[int] | None = None  # positions still current (None: all)
                    changed: dict[str, dict[str, Any]] = {}
                    if stored != generation:
                        known = self._known(generation)
                        ids = load(("attributes", "run_id"))
                        commits = load(("attributes", "commit"))
                        keep = [i for i, rid in enumerate(ids) if known.get(rid) == commits[i]]
                        for i in keep:
                            del known[ids[i]]
                        if len(known) + n - len(keep) > max(_STALE_COLUMNS_MIN, n // 20):
                            return None  # many runs changed: whole rows, then new columns
                        changed = self.rows_of(list(known))
                    wanted = dict.fromkeys(_BASE_FIELDS)
                    wanted.update((k, None) for kind, k in sorted(columns) if kind == "attributes")
                    fields = [name for name in wanted if ("attributes", name) in where]
                    nested = [c for c in sorted(columns) if c[0] in NESTED and c in where]
                    values = zip(*(load(("attributes", name)) for name in fields), strict=True)
                    rows = [dict(zip(fields, row, strict=True)) for row in values]
                    for kind, key in nested:
                        positions, kept = load((kind, key))
                        for i, v in zip(positions, kept, strict=True):
                            d = rows[i].get(kind)
                            if d is None:
                                rows[i][kind] = {key: v}
                            else:
                                d[key] = v
        except (OSError, ValueError, EOFError, TypeError, KeyError, IndexError):
            return None
        if len(rows) != n:
            return None
        if keep is None:
            return rows
        return _with_changed_rows([rows[i] for i in keep], changed, fields, columns)

    def resolve(self, text: str) -> str:
        """A run reference -> the run id (the rule: :func:`gittrack.runs.resolve_run_ref`).

        Only rows that can decide the answer are read when the text is a name or starts
        run ids (through the indexes on id and name): reading every row costs tens of
        milliseconds at 10,000 runs. Commit prefixes read the id and commit of every run.
        """
        from gittrack.runs import MIN_PREFIX, resolve_run_ref

        ref = text.strip()
        lower = ref.lower()
        db = self._db
        if len(lower) < MIN_PREFIX or not set(lower) <= _HEX:  # only a name can match
            sql = "SELECT run_id, name FROM runs WHERE error IS NULL AND name IN (?, ?)"
            try:
                named = dict(db.execute(sql, (text, ref)).fetchall())
            except UnicodeEncodeError:  # a lone surrogate (argv not UTF-8): no name has one
                named = {}
            return resolve_run_ref(text, {}, lambda: named)
        sql = "SELECT run_id, commit_sha, name, error FROM runs WHERE run_id GLOB ?"
        rows = db.execute(sql, (lower + "*",)).fetchall()  # hex text holds no wildcard
        if rows:  # ids it starts decide
            return resolve_run_ref(
                text,
                {rid: sha for rid, sha, _, _ in rows},
                lambda: {rid: name for rid, _, name, error in rows if error is None},
            )
        runs = dict(db.execute("SELECT run_id, commit_sha FROM runs").fetchall())
        return resolve_run_ref(
            text,
            runs,
            lambda: dict(db.execute("SELECT run_id, name FROM runs WHERE error IS NULL")),
            lambda prefix: (
                self.runs_with_state(prefix) or self.runstore.replaced_states(prefix, runs)
            ),
        )

    def resolve_many(self, texts: list[str]) -> list[str]:
        """Run references -> run ids, in order, listing the runs once for all of them."""
        from gittrack.runs import resolve_run_ref

        ids = [t.strip().lower() for t in texts]
        if all(len(i) == 32 for i in ids):  # full run ids (the UI's links): no listing needed
            if len(self.entries_of(ids)) == len(set(ids)):
                return ids
        entries = self.entries()
        runs = {e.run_id: e.commit for e in entries}
        names: dict[str, str] = {}

        def known_names() -> dict[str, str]:
            if not names:
                names.update((e.run_id, e.name) for e in entries if not e.corrupt)
            return names

        def with_state(prefix: str) -> set[str]:
            return self.runs_with_state(prefix) or self.runstore.replaced_states(prefix, runs)

        return [resolve_run_ref(text, runs, known_names, with_state) for text in texts]

    # -- every hash a run had ----------------------------------------------------------
    def runs_with_state(self, prefix: str) -> set[str]:
        """Ids of the runs with a state (current commit or an earlier state it keeps)
        whose hash starts with ``prefix`` (lowercase hex)."""
        self._walk_states()
        rows = self._db.execute(
            "SELECT DISTINCT run_id FROM states WHERE sha >= ? AND sha < ?", (prefix, prefix + "g")
        )
        return {str(rid) for (rid,) in rows}

    def _walk_states(self) -> None:
        """Record the states of every run whose commit changed since it was last walked
        (only the new ones: a walk stops at states already recorded for that run)."""
        generation = self.generation  # changes whenever a run's row does
        if generation and self._meta("states_generation") == generation:
            return
        runs = dict(self._db.execute("SELECT run_id, commit_sha FROM runs").fetchall())
        walked = dict(self._db.execute("SELECT run_id, commit_sha FROM walked").fetchall())
        gone = [(rid,) for rid in walked if rid not in runs]
        todo = [(rid, sha) for rid, sha in runs.items() if walked.get(rid) != sha]
        meta = [("states_generation", generation)] if generation else []
        if not (gone or todo):
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            return
        from gittrack.store import catfile

        store = self.runstore
        new_states: list[tuple[str, str]] = []
        slow = todo
        if len(todo) >= BATCH_THRESHOLD and catfile.available():
            unedited = unedited_runs(self.common_dir, todo)
            new_states = [(sha, rid) for rid, sha in todo if rid in unedited]
            slow = [(rid, sha) for rid, sha in todo if rid not in unedited]
        for rid, sha in slow:
            known = set()
            if rid in walked:
                rows = self._db.execute("SELECT sha FROM states WHERE run_id=?", (rid,))
                known = {str(s) for (s,) in rows}
            new_states.extend((s, rid) for s in store.states(sha, rid, known))
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("DELETE FROM states WHERE run_id=?", gone)
                self._db.executemany("DELETE FROM walked WHERE run_id=?", gone)
                self._db.executemany("INSERT OR REPLACE INTO states VALUES (?, ?)", new_states)
                self._db.executemany("INSERT OR REPLACE INTO walked VALUES (?, ?)", todo)
                self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
        except sqlite3.Error as e:
            raise StorageError(f"cannot update the run index {self.path}: {e}") from e


def _carry_over(
    path: Path,
    before: str,
    after: str,
    known: dict[str, str],
    loaded: list[tuple[Any, ...]],
    vanished: list[str],
) -> None:
    """Bring this process's kept rows and ``{run_id: commit}`` from generation ``before``
    to ``after`` by the few runs that changed, instead of reading 100,000 again."""
    gone = set(vanished) | {row[0] for row in loaded}
    known = {rid: sha for rid, sha in known.items() if rid not in vanished}
    known.update((row[0], row[1]) for row in loaded)
    _KNOWN[path] = (after, known)
    cached = _ROW_CACHE.get(path)
    if cached is None or cached[0] != before or not before:
        return
    rows = [r for r in cached[1] if r["run_id"] not in gone] if gone else list(cached[1])
    # unreadable ones (no doc) are left out, as rows() leaves them out
    rows = _in_order(rows, (json.loads(row[DOC]) for row in loaded if row[DOC] is not None))
    _ROW_CACHE[path] = (after, rows)


def _with_changed_rows(
    rows: list[dict[str, Any]],
    changed: dict[str, dict[str, Any]],
    fields: list[str],
    columns: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    """``rows`` (projected, in the index's order) with the whole rows ``changed``
    projected alike and put in their places."""

    def projected(doc: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {name: doc.get(name) for name in fields}
        for kind, key in sorted(columns):
            if kind in NESTED and key in (doc.get(kind) or {}):
                row.setdefault(kind, {})[key] = doc[kind][key]
        return row

    return _in_order(rows, (projected(doc) for doc in changed.values()))


def _in_order(rows: list[dict[str, Any]], added: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (in the index's order: newest first, then by run id) with ``added`` put in
    their places."""
    import bisect

    order = [(-(r["start_time"] or 0), r["run_id"]) for r in rows]
    for row in added:
        place = (-(row["start_time"] or 0), row["run_id"])
        at = bisect.bisect_left(order, place)
        order.insert(at, place)
        rows.insert(at, row)
    return rows


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    """``items`` in slices small enough for one SQL statement's parameters."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def forget_cached_rows() -> None:
    """Drop the rows decoded in this process (the next read loads them from disk)."""
    _ROW_CACHE.clear()
    _KNOWN.clear()


def run_names(runstore: RunStore, runs: dict[str, str]) -> dict[str, str]:
    """``{run_id: name}`` of ``runs`` (``{run_id: commit}``), read through the index."""
    with RunIndex(runstore.root, lambda: runstore, common_dir=runstore.git.common_dir) as index:
        index.refresh(runs)
        return {e.run_id: e.name for e in index.entries() if e.run_id in runs and not e.corrupt}


def run_states(runstore: RunStore, runs: dict[str, str], prefix: str) -> set[str]:
    """Ids of ``runs`` (``{run_id: commit}``) with a state whose hash starts with
    ``prefix``, read through the index (see :meth:`RunIndex.runs_with_state`)."""
    with RunIndex(runstore.root, lambda: runstore, common_dir=runstore.git.common_dir) as index:
        index.refresh(runs)
        return index.runs_with_state(prefix) & runs.keys()


def _named_runs(ids: list[str]) -> str:
    """``run aaaa is`` / ``runs aaaa, bbbb, cccc and 5 more are``: the first few named."""
    if len(ids) == 1:
        return f"run {ids[0]} is"
    rest = len(ids) - NAMED_SKIPS
    return f"runs {', '.join(ids[:NAMED_SKIPS])}{f' and {rest} more' if rest > 0 else ''} are"
