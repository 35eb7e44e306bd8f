"""The hash cache: ``(path, size, mtime_ns, inode, ctime_ns, device) -> sha256``.

Stored in ``<git common dir>/gittrack/hashcache.sqlite`` (stdlib sqlite3). A cached hash
is used only when every stat field still matches, and only when the file had not been
modified within :data:`RACY_WINDOW_NS` of the moment it was hashed: a write landing in the
same timestamp tick as the hashing would otherwise leave mtime and ctime unchanged (git's
"racy clean" problem). Such entries are simply hashed again next time.

The cache is an optimisation: if it cannot be opened or written, hashing goes on without
it (a warning is logged).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("gittrack")

CACHE_FILE = "hashcache.sqlite"
RACY_WINDOW_NS = 2_000_000_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    hashed_at_ns INTEGER NOT NULL
)
"""


def cache_path(common_dir: Path) -> Path:
    """Where the hash cache of a repository lives."""
    return common_dir / "gittrack" / CACHE_FILE


def _key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class HashCache:
    """A sqlite-backed cache of file hashes; ``clock`` returns epoch nanoseconds."""

    def __init__(
        self,
        path: Path | None,
        *,
        clock: Callable[[], int] = time.time_ns,
        racy_window_ns: int = RACY_WINDOW_NS,
    ) -> None:
        self.path = path
        self.now = clock
        self.racy_window_ns = racy_window_ns
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[bytes, int, int, int, int, int, str, int]] = []
        self._disabled = path is None
        self._preloaded: list[bytes] = []
        self._rows: dict[bytes, tuple[Any, ...]] = {}

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and not self._disabled and self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Private (0o600): it names files outside the repository. SQLite gives its
                # journal files the database file's mode.
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
                db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
                db.execute(_SCHEMA)
                self._db = db
            except (sqlite3.Error, OSError) as e:
                self._disable(e)
        return self._db

    def _disable(self, e: Exception) -> None:
        log.warning("gittrack: hash cache %s unusable (%s); hashing without it", self.path, e)
        self._disabled = True
        if self._db is not None:
            self._db.close()
            self._db = None

    def preload(self, directory: str) -> None:
        """Read every entry below ``directory`` in one query (a directory walk follows)."""
        db = self._connect()
        if db is None:
            return
        prefix = os.fsencode(directory.rstrip(os.sep)) + os.fsencode(os.sep)
        # Paths below the directory sort between "<dir>/" and "<dir>0" ("0" follows "/").
        upper = prefix[:-1] + bytes([prefix[-1] + 1])
        try:
            rows = db.execute(
                "SELECT path, size, mtime_ns, ctime_ns, ino, dev, sha256, hashed_at_ns "
                "FROM hashes WHERE path >= ? AND path < ?",
                (prefix, upper),
            ).fetchall()
        except sqlite3.Error as e:
            self._disable(e)
            return
        self._preloaded.append(prefix)
        self._rows.update((bytes(r[0]), tuple(r[1:])) for r in rows)

    def _row(self, key: bytes) -> tuple[Any, ...] | None:
        if any(key.startswith(p) for p in self._preloaded):
            return self._rows.get(key)
        db = self._connect()
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT size, mtime_ns, ctime_ns, ino, dev, sha256, hashed_at_ns "
                "FROM hashes WHERE path = ?",
                (key,),
            ).fetchone()
        except sqlite3.Error as e:
            self._disable(e)
            return None
        return None if row is None else tuple(row)

    def lookup(self, abspath: str, st: os.stat_result) -> str | None:
        """The cached sha256 (hex) of ``abspath`` if its stat still matches, else None."""
        row = None if self._disabled else self._row(os.fsencode(abspath))
        if (
            row is not None
            and tuple(row[:5]) == _key(st)
            and max(st.st_mtime_ns, st.st_ctime_ns) + self.racy_window_ns < row[6]
        ):
            self.hits += 1
            return str(row[5])
        self.misses += 1
        return None

    def store(self, abspath: str, st: os.stat_result, sha256: str, hashed_at_ns: int) -> None:
        """Remember a hash computed from reading that started at ``hashed_at_ns``."""
        if not self._disabled:
            key = os.fsencode(abspath)
            self._pending.append((key, *_key(st), sha256, hashed_at_ns))
            if any(key.startswith(p) for p in self._preloaded):
                self._rows[key] = (*_key(st), sha256, hashed_at_ns)
            if len(self._pending) >= 5000:
                self.commit()

    def commit(self) -> None:
        """Write remembered hashes in one transaction."""
        pending, self._pending = self._pending, []
        db = self._connect() if pending else None
        if db is None:
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO hashes "
                "(path, size, mtime_ns, ctime_ns, ino, dev, sha256, hashed_at_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                pending,
            )
            db.execute("COMMIT")
        except sqlite3.Error as e:
            self._disable(e)

    def close(self) -> None:
        self.commit()
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
