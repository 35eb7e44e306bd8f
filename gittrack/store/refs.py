"""Reading and updating refs with compare-and-swap, without importing dulwich.

Refs are read straight from the files C git uses (loose refs, then ``packed-refs``), so
the listing fast path stays cheap. Updates take ``<ref>.lock`` with ``O_EXCL`` exactly as
C git does and retry while another process holds it. gittrack also holds an ``flock`` on
its lock file until the ref is renamed into place, so a waiter can tell a live owner (the
flock is held: never touch the lock) from a dead one (the kernel dropped the flock when
the owner died). A lock without a live flock is removed once it is older than
:data:`OWNERLESS_LOCK_SECONDS` (C git holds a ref lock for milliseconds and takes no
flock); without ``fcntl`` only locks older than :data:`STALE_LOCK_SECONDS` are removed.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

from gittrack.errors import ConcurrencyError, StorageError

STALE_LOCK_SECONDS = 30.0
OWNERLESS_LOCK_SECONDS = 2.0
LOCK_TIMEOUT_SECONDS = 20.0
log = logging.getLogger("gittrack")


class RefConflict(Exception):
    """Internal: the ref did not hold the expected value (the caller merges and retries)."""

    def __init__(self, current: str | None) -> None:
        super().__init__(current)
        self.current = current


# The last parse per (file, prefix), reused while the file is the same one: packed-refs
# is only ever replaced by a rename, so a rewrite changes its inode, size or mtime. A
# process that lists refs again and again (a serving UI) then parses 100,000 lines once.
_PACKED: dict[tuple[Path, str], tuple[tuple[int, int, int], dict[str, str]]] = {}
# The file mapped, per path, while it is the same one: a lookup then costs a stat and a
# bisection over pages mapped already, not an open, a map and the page faults of a fresh
# bisection (60-75 µs at 10,000 runs; a run created looks up its branch and its own ref).
_MAPPED: dict[Path, tuple[tuple[int, int, int], mmap.mmap, bool]] = {}
MAX_MAPPED = 8  # repositories one process looks refs up in; each map holds a descriptor


def _version(st: os.stat_result) -> tuple[int, int, int]:
    """Which file ``packed-refs`` is (see :data:`_PACKED`): its inode, size and mtime."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _jitter() -> float:
    """A random fraction for retry delays (random is imported only when a ref is contended)."""
    import random

    return random.random()


def read_packed_refs(git_dir: Path, prefix: str = "") -> dict[str, str]:
    """Return ``{refname: sha}`` from ``packed-refs`` for names starting with ``prefix``."""
    path = git_dir / "packed-refs"
    try:
        with open(path, "rb") as f:
            stamp = _version(os.fstat(f.fileno()))
            kept = _PACKED.get((path, prefix))
            if kept is not None and kept[0] == stamp:
                return dict(kept[1])
            data = f.read()
    except FileNotFoundError:
        return {}
    refs = _parse_packed(data, prefix)
    _PACKED[(path, prefix)] = (stamp, refs)
    return dict(refs)


def _parse_packed(data: bytes, prefix: str) -> dict[str, str]:
    refs: dict[str, str] = {}
    pre = prefix.encode()
    for line in _lines_from(data, pre) if pre else data.splitlines():
        if not line or line[:1] in (b"#", b"^"):
            continue
        sha, _, name = line.partition(b" ")
        if name.startswith(pre) and len(sha) == 40:
            refs[name.decode("utf-8", "surrogateescape")] = sha.decode("ascii")
    return refs


def _sorted(data: bytes | mmap.mmap) -> bool:
    """Whether a packed-refs file's header promises sorted names (as git writes it)."""
    return data[:1] == b"#" and b" sorted" in data[: data.find(b"\n") + 1]


def _lines_from(data: bytes, pre: bytes) -> list[bytes]:
    """The lines of ``data`` that may name refs starting with ``pre``: in a file git
    marks ``sorted`` (every git since 1.8, and gittrack), only the lines from the first
    such name to the last, found without splitting the whole file (packed-refs of
    100,000 runs is 9 MB); else every line."""
    if not _sorted(data):
        return data.splitlines()
    first = data.find(b" " + pre)  # a ref name holds no space: this starts a name
    if first < 0:
        return []
    end = data.find(b"\n", data.rfind(b" " + pre))  # (peeled lines are skipped anyway)
    return data[data.rfind(b"\n", 0, first) + 1 : None if end < 0 else end].splitlines()


def _read_loose(path: str | Path) -> str | None:
    # os.open/os.read, not open(): listing thousands of run refs, the file object's set-up
    # would cost a third of the time.
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = os.read(fd, 128).strip()
    except IsADirectoryError:
        return None
    finally:
        os.close(fd)
    if len(data) == 40:
        return data.decode("ascii")
    return None  # symbolic or malformed: not a run ref


def _bisect_packed(data: bytes | mmap.mmap, name: bytes) -> bytes | None:
    """The sha of ``name`` in a sorted packed-refs file, by bisection (as C git does).

    Records are ``<sha> <name>`` lines, each optionally followed by ``^<sha>`` peel lines;
    comment lines start with ``#``. ``lo`` and ``hi`` always sit on record boundaries.
    """
    lo, hi = 0, len(data)
    while lo < hi:
        mid = (lo + hi) // 2
        start = data.rfind(b"\n", lo, mid) + 1 if mid > lo else lo
        start = max(start, lo)
        while data[start : start + 1] in (b"^", b"#"):  # back off a peel or comment line
            if start == lo:
                break
            start = max(data.rfind(b"\n", lo, start - 1) + 1, lo)
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        while data[end : end + 1] == b"^":  # the record's peel lines belong to it
            nxt = data.find(b"\n", end)
            end = len(data) if nxt < 0 else nxt + 1
        line = data[start:end].split(b"\n", 1)[0]
        if line[:1] == b"#":
            lo = end
            continue
        ref = line[41:].rstrip(b"\r")
        if ref == name:
            return line[:40]
        if ref < name:
            lo = end
        else:
            hi = start
    return None


def read_ref(git_dir: Path, name: str) -> str | None:
    """Return the sha a ref points at, or None when it does not exist.

    A ref missing from the loose refs is looked up in ``packed-refs`` by bisection when
    git wrote the file sorted, so the cost does not grow with the number of packed runs.
    """
    sha = _read_loose(os.path.join(git_dir, name))
    if sha is not None:
        return sha
    mapped = _mapped_packed(git_dir / "packed-refs")
    if mapped is None:
        return None
    data, is_sorted = mapped
    if not is_sorted:
        return read_packed_refs(git_dir, name).get(name)
    found = _bisect_packed(data, name.encode("utf-8", "surrogateescape"))
    return found.decode("ascii") if found is not None and len(found) == 40 else None


def _mapped_packed(path: Path) -> tuple[mmap.mmap, bool] | None:
    """``path`` (a packed-refs file) mapped, and whether git wrote it sorted; None when it
    is missing or empty. Mapped, not read: a bisection touches a few pages of a file of
    any size. Kept while the file is the same one (see :data:`_MAPPED`)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    kept = _MAPPED.get(path)
    if kept is not None and kept[0] == _version(st):
        return kept[1], kept[2]
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())  # the file opened: it may be a newer one than stat saw
            if st.st_size == 0:
                return None
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        return None
    for oldest in list(_MAPPED)[: len(_MAPPED) + 1 - MAX_MAPPED]:  # a reader keeps its map
        _MAPPED.pop(oldest, None)
    is_sorted = _sorted(data)
    _MAPPED[path] = (_version(st), data, is_sorted)
    return data, is_sorted


def list_refs(git_dir: Path, prefix: str) -> dict[str, str]:
    """Return every ref under ``prefix`` (which ends with ``/``) as ``{name: sha}``."""
    refs = read_packed_refs(git_dir, prefix)
    stack = [prefix.rstrip("/")]
    root = os.fspath(git_dir)
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel_dir)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            name = rel_dir + "/" + entry.name
            if entry.is_dir(follow_symlinks=False):
                stack.append(name)
            elif not entry.name.endswith(".lock"):
                sha = _read_loose(entry.path)
                if sha is not None:
                    refs[name] = sha
    return refs


def _acquire(lock: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            _recover_stale_lock(lock)
        except FileNotFoundError:
            lock.parent.mkdir(parents=True, exist_ok=True)
            continue
        except OSError as e:
            raise StorageError(f"cannot lock {lock.name}: {e.strerror}") from e
        else:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # a checker may hold it for a moment
            return fd
        if time.monotonic() > deadline:
            raise ConcurrencyError(
                f"{lock} is held by another process; if no gittrack or git command is "
                "running, remove it"
            )
        time.sleep(delay * (1 + _jitter()))
        delay = min(delay * 2, 0.05)


def _recover_stale_lock(lock: Path) -> None:
    """Remove ``lock`` only when no live process owns it (see the module docstring)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except (FileNotFoundError, IsADirectoryError):
        return
    except OSError:
        return  # unreadable: leave it to the timeout and its message
    try:
        st = os.fstat(fd)
        limit = STALE_LOCK_SECONDS
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # a live gittrack process holds it
            limit = OWNERLESS_LOCK_SECONDS
        if time.time() - st.st_mtime < limit:
            return
        try:
            again = lock.stat()
        except FileNotFoundError:
            return
        if (again.st_ino, again.st_dev) == (st.st_ino, st.st_dev):
            log.warning("gittrack: removing %s left behind by a process that died", lock)
            lock.unlink()
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def update_ref(
    git_dir: Path,
    name: str,
    new: str,
    expected: str | None,
    *,
    fsync: bool = False,
    timeout: float = LOCK_TIMEOUT_SECONDS,
) -> None:
    """Point ``name`` at ``new`` if it currently holds ``expected`` (None: must not exist).

    Raises :class:`RefConflict` when the ref moved; the caller re-reads and retries.
    """
    path = git_dir / name
    lock = path.with_name(path.name + ".lock")
    fd = _acquire(lock, timeout)
    try:
        current = read_ref(git_dir, name)
        if current != expected:
            raise RefConflict(current)
        os.write(fd, new.encode("ascii") + b"\n")
        if fsync:
            os.fsync(fd)
        os.replace(lock, path)  # still holding the flock: waiters see a live owner
        os.close(fd)
        fd = -1
    except BaseException as e:
        if fd >= 0:
            os.close(fd)
        try:
            lock.unlink()
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise StorageError(f"cannot update {name}: {e.strerror}") from e
        raise


_PACKED_HEADER = b"# pack-refs with: peeled fully-peeled sorted \n"


def create_packed_refs(
    git_dir: Path,
    new: dict[str, str],
    *,
    fsync: bool = False,
    timeout: float = LOCK_TIMEOUT_SECONDS,
) -> set[str]:
    """Create the refs of ``new`` that exist nowhere yet (loose or packed) in one rewrite
    of ``packed-refs``; return the names created.

    For many new refs at once (a pull of a thousand runs): one file written instead of one
    per ref. C git's protocol: ``packed-refs.lock`` taken with ``O_EXCL`` (and never taken
    over: git may hold it for long on a big repository), the new file renamed into place,
    records kept sorted with their peel lines. A loose ref written meanwhile by another
    process takes precedence over the packed one, as in git: nothing is overwritten.
    """
    path = git_dir / "packed-refs"
    lock = git_dir / "packed-refs.lock"
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise ConcurrencyError(
                    f"{lock} is held by another process; if no gittrack or git command is "
                    "running, remove it"
                ) from None
            time.sleep(0.01 * (1 + _jitter()))
    try:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        header, records = _packed_records(data)
        created = set()
        for name, sha in new.items():
            key = name.encode("utf-8", "surrogateescape")
            if key in records or os.path.lexists(os.path.join(git_dir, name)):
                continue
            records[key] = sha.encode("ascii") + b" " + key + b"\n"
            created.add(name)
        if created:
            os.write(fd, header + b"".join(records[k] for k in sorted(records)))
            if fsync:
                os.fsync(fd)
            os.replace(lock, path)
        else:
            lock.unlink()
        os.close(fd)
        fd = -1
        return created
    except BaseException as e:
        if fd >= 0:
            os.close(fd)
            lock.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise StorageError(f"cannot write packed-refs: {e.strerror}") from e
        raise


def _packed_records(data: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """The header line (a sorted one when there was none) and ``{name: record}`` of a
    packed-refs file; a record keeps its peel lines."""
    # A file without a header promises nothing about peeling: keep promising nothing.
    header = _PACKED_HEADER if not data.strip() else b"# pack-refs with: sorted \n"
    records: dict[bytes, bytes] = {}
    last: bytes | None = None
    for line in data.splitlines(keepends=True):
        if line.startswith(b"#"):
            header = line if b" sorted" in line else line.rstrip(b"\n").rstrip() + b" sorted \n"
        elif line.startswith(b"^") and last is not None:
            records[last] += line
        elif line.strip():
            last = line.rstrip(b"\n").partition(b" ")[2]
            records[last] = line if line.endswith(b"\n") else line + b"\n"
    return header, records
