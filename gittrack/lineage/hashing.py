"""Content digests of inputs: files, directories and tables (see docs/lineage.md).

- file: ``sha256`` of its bytes, read in 1 MiB chunks (constant memory);
- directory: ``sha256`` over one line per file or symlink below it, sorted by path
  (:func:`directory_line`); symlinks are never followed, their target text is hashed;
- table: ``sha256`` of its Arrow IPC stream (:func:`hash_table`).

Digests are written ``sha256:<64 hex>``. File hashes go through a :class:`HashCache` so that
unchanged files are not read again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import InputError
from gittrack.format import MODE_EXEC_TEXT, MODE_FILE_TEXT, MODE_LINK_TEXT

if TYPE_CHECKING:
    import pyarrow as pa

    from gittrack.lineage.cache import HashCache

CHUNK_SIZE = 1 << 20
TABLE_BATCH_ROWS = 65_536
_RETRIES = 3


def prefixed(hex_digest: str) -> str:
    return f"sha256:{hex_digest}"


def short(digest: str | None) -> str:
    """``sha256:0123456789ab`` (12 hex digits) for messages and tables."""
    if not digest:
        return "-"
    return digest[: len("sha256:") + 12] if digest.startswith("sha256:") else digest[:12]


@dataclass(frozen=True)
class FileEntry:
    """One file or symlink of a directory input."""

    path: str  # relative POSIX path
    mode: str  # MODE_FILE_TEXT, MODE_EXEC_TEXT or MODE_LINK_TEXT
    sha256: str  # hex; of the link target text for symlinks
    size: int
    link: str | None = None


@dataclass(frozen=True)
class Digest:
    """The digest of a file or directory and what it covers."""

    kind: str  # "file" or "directory"
    digest: str  # "sha256:<hex>"
    size: int  # bytes (sum over files for a directory)
    files: tuple[FileEntry, ...] = ()


def _unreadable(path: str | os.PathLike[str], e: OSError) -> InputError:
    reason = e.strerror or type(e).__name__
    return InputError(f"input {os.fspath(path)!r} cannot be read ({reason})")


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_ino,
        b.st_size,
        b.st_mtime_ns,
        b.st_ctime_ns,
    )


def _read_sha256(
    path: str | os.PathLike[str], st: os.stat_result, *, nofollow: bool
) -> tuple[str, os.stat_result]:
    """Stream the file through sha256; retry when it changes while being read.

    Returns the hex digest and the file's stat after reading (unchanged from before)."""
    buf = bytearray(min(CHUNK_SIZE, st.st_size + 4096))  # small files: small buffer
    view = memoryview(buf)
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if nofollow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_RETRIES):
        try:
            fd = os.open(path, flags)
        except OSError as e:
            raise _unreadable(path, e) from e
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode) or before.st_ino != st.st_ino:
                raise InputError(f"input {os.fspath(path)!r} was replaced while being read")
            h = hashlib.sha256()
            with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
                while n := f.readinto(view):
                    h.update(view[:n])
            after = os.fstat(fd)
        except OSError as e:
            raise _unreadable(path, e) from e
        finally:
            os.close(fd)
        if _same(before, after) and _same(st, after):
            return h.hexdigest(), after
        st = after
    raise InputError(f"input {os.fspath(path)!r} keeps changing while being hashed; try again")


def _regular_stat(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except FileNotFoundError as e:
        raise InputError(f"input {str(path)!r} does not exist (check the path)") from e
    except OSError as e:
        raise _unreadable(path, e) from e
    return st


def hash_file(path: Path, cache: HashCache | None = None) -> Digest:
    """Digest of one regular file (a symlink given here is followed: the user named it)."""
    st = _regular_stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"input {str(path)!r} is not a regular file or directory")
    sha = _file_sha(os.path.abspath(path), st, cache, nofollow=False)
    return Digest("file", prefixed(sha), st.st_size)


def _file_sha(abspath: str, st: os.stat_result, cache: HashCache | None, *, nofollow: bool) -> str:
    if cache is not None:
        hit = cache.lookup(abspath, st)
        if hit is not None:
            return hit
    started = cache.now() if cache is not None else 0
    sha, after = _read_sha256(abspath, st, nofollow=nofollow)
    if cache is not None:
        cache.store(abspath, after, sha, started)
    return sha


def _walk(top: str, rel: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """Yield (absolute path, relative POSIX path, lstat) for every non-directory below top."""
    try:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise _unreadable(top, e) from e
    for entry in entries:
        rel_path = f"{rel}/{entry.name}" if rel else entry.name
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as e:
            raise _unreadable(entry.path, e) from e
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(entry.path, rel_path)
        else:
            yield entry.path, rel_path, st


def hash_directory(path: Path, cache: HashCache | None = None) -> Digest:
    """Digest of a directory: sha256 over its sorted :func:`directory_line` lines."""
    top = os.path.abspath(path)
    if cache is not None:
        cache.preload(top)
    items = []
    for abspath, rel, st in _walk(top, ""):
        if "\n" in rel:
            raise InputError(f"input {str(path)!r} holds a file name with a newline: {rel!r}")
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(abspath)
            except OSError as e:
                raise _unreadable(abspath, e) from e
            data = os.fsencode(target)
            sha = hashlib.sha256(data).hexdigest()
            items.append(FileEntry(rel, MODE_LINK_TEXT, sha, len(data), link=target))
        elif stat.S_ISREG(st.st_mode):
            sha = _file_sha(abspath, st, cache, nofollow=True)
            mode = MODE_EXEC_TEXT if st.st_mode & stat.S_IXUSR else MODE_FILE_TEXT
            items.append(FileEntry(rel, mode, sha, st.st_size))
        else:
            raise InputError(
                f"input {str(path)!r} holds {rel!r}, which is not a regular file or symlink"
            )
    items.sort(key=lambda f: os.fsencode(f.path))
    h = hashlib.sha256()
    for item in items:
        h.update(directory_line(item))
    if cache is not None:
        cache.commit()
    size = sum(f.size for f in items if f.mode != MODE_LINK_TEXT)
    return Digest("directory", prefixed(h.hexdigest()), size, tuple(items))


def directory_line(entry: FileEntry) -> bytes:
    """``<mode> <sha256 hex> <relative path>\\n`` (path bytes as the filesystem gives them)."""
    return f"{entry.mode} {entry.sha256} ".encode("ascii") + os.fsencode(entry.path) + b"\n"


def hash_path(path: str | os.PathLike[str], cache: HashCache | None = None) -> Digest:
    """Digest of a file or directory path (errors name the path and the next step)."""
    p = Path(path)
    st = _regular_stat(p)
    if stat.S_ISDIR(st.st_mode):
        return hash_directory(p, cache)
    digest = hash_file(p, cache)
    if cache is not None:
        cache.commit()
    return digest


# -- tables -----------------------------------------------------------------------------
class _HashSink:
    """A write-only file object that feeds sha256 (Arrow writes the IPC stream into it)."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hash.update(view)
        self.size += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True


def as_arrow_table(source: Any) -> pa.Table:
    """A pyarrow Table from a Table or a pandas DataFrame (pandas imported only if given)."""
    import pyarrow as pa

    if isinstance(source, pa.Table):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if type(source).__module__.startswith("pandas") and type(source).__name__ == "DataFrame":
        try:
            return pa.Table.from_pandas(source, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as e:
            raise InputError(f"the DataFrame cannot be converted to Arrow: {e}") from e
    raise InputError(
        f"cannot log a {type(source).__name__} as an input "
        "(give a file or directory path, a pyarrow Table or a pandas DataFrame)"
    )


def normalized_table(table: pa.Table) -> pa.Table:
    """The table whose IPC stream is hashed: no schema metadata, contiguous columns."""
    return table.replace_schema_metadata(None).combine_chunks()


def write_table_stream(table: pa.Table, sink: Any) -> None:
    """Write the normalised table as an Arrow IPC stream (batches of 65,536 rows)."""
    import pyarrow as pa

    norm = normalized_table(table)
    with pa.ipc.new_stream(sink, norm.schema) as writer:
        for batch in norm.to_batches(max_chunksize=TABLE_BATCH_ROWS):
            writer.write_batch(batch)


def hash_table(table: pa.Table) -> tuple[str, int]:
    """``(sha256:<hex>, stream size)`` of the table's Arrow IPC stream serialisation."""
    sink = _HashSink()
    write_table_stream(table, sink)
    return prefixed(sink.hash.hexdigest()), sink.size


def table_schema(table: pa.Table) -> dict[str, str]:
    return {field.name: str(field.type) for field in table.schema}
