"""The local content-addressed object cache: ``<common_dir>/gittrack/objects/sha256/<2>/<62>``.

Files are streamed once in 1 MiB chunks: hashed while they are copied into a temporary
file next to the objects, then renamed into place, so memory stays flat whatever the size
and a half-written object is never visible. Objects are read-only (0o444), directories
private (0o700). A *hint* remembers which object a file (path, device, inode, size, mtime,
ctime) produced last time, so logging an unchanged file again only re-hashes it to confirm
and writes nothing.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gittrack.errors import ArtifactError, CorruptArtifactError, StorageError

log = logging.getLogger("gittrack")

CHUNK = 1 << 20
ALGORITHM = "sha256"
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(text: object) -> bool:
    """True for 64 lowercase hex characters."""
    return isinstance(text, str) and bool(_SHA_RE.match(text))


@dataclass(frozen=True)
class Stored:
    """An object in the cache: its digest, size, and whether this call added it."""

    sha256: str
    size: int
    new: bool


@dataclass(frozen=True)
class CachedObject:
    """One file of the cache as found on disk."""

    sha256: str
    path: Path
    size: int
    mtime: float


def _os_error(e: OSError, action: str) -> Exception:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"no space left to {action}")
    return ArtifactError(f"cannot {action}: {e.strerror or e}")


def discard(path: Path) -> None:
    """Remove a temporary file, ignoring every error (cleanup must not mask the cause)."""
    try:
        path.unlink()
    except OSError:
        pass


def hash_stream(stream: BinaryIO, out: BinaryIO | None = None) -> tuple[str, int]:
    """sha256 and size of everything ``stream`` yields, copying it to ``out`` if given."""
    digest = hashlib.sha256()
    size = 0
    readinto = getattr(stream, "readinto", None)
    if readinto is None:  # e.g. some HTTP bodies: plain read() of one chunk at a time
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            if out is not None:
                out.write(chunk)
            size += len(chunk)
        return digest.hexdigest(), size
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := readinto(buf):
        part = view[:n]
        digest.update(part)
        if out is not None:
            out.write(part)
        size += n
    return digest.hexdigest(), size


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """sha256 and size of a file, streamed."""
    try:
        with open(path, "rb") as f:
            return hash_stream(f)
    except OSError as e:
        raise _os_error(e, f"read {path}") from e


class ObjectCache:
    """Content-addressed files below ``root`` (``<common_dir>/gittrack/objects``)."""

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = root
        self.base = root / ALGORITHM
        self.tmp_dir = root / "tmp"
        self.hints_dir = root / "hints"
        self.fsync = fsync

    # -- locating ---------------------------------------------------------------------
    def path_for(self, sha256: str) -> Path:
        """The file of object ``sha256`` (which must be 64 hex characters)."""
        if not is_sha256(sha256):
            raise CorruptArtifactError(f"{sha256!r} is not a sha256 digest")
        return self.base / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def touch(self, sha256: str) -> None:
        """Refresh an object's mtime so a concurrent ``gc`` keeps it (grace period)."""
        try:
            os.utime(self.path_for(sha256))
        except OSError:
            pass

    def _mkdir(self, path: Path) -> None:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise _os_error(e, f"create {path}") from e

    # -- adding -----------------------------------------------------------------------
    def _temp(self) -> tuple[Path, BinaryIO]:
        self._mkdir(self.tmp_dir)
        tmp = self.tmp_dir / f"tmp_{os.getpid()}_{os.urandom(6).hex()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise _os_error(e, f"write into {self.tmp_dir}") from e
        return tmp, os.fdopen(fd, "wb")

    def _install(self, tmp: Path, sha256: str) -> bool:
        """Move a complete temp file into place; False when the object already existed."""
        dest = self.path_for(sha256)
        if dest.is_file():
            discard(tmp)
            self.touch(sha256)
            return False
        self._mkdir(dest.parent)
        try:
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        except OSError as e:
            discard(tmp)
            raise _os_error(e, f"store object {sha256[:12]}") from e
        return True

    def add_stream(
        self, stream: BinaryIO, *, expected: str | None = None, what: str = ""
    ) -> Stored:
        """Copy ``stream`` into the cache; with ``expected``, refuse bytes of another hash."""
        tmp, out = self._temp()
        try:
            with out:
                sha, size = hash_stream(stream, out)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
        except OSError as e:
            discard(tmp)
            raise _os_error(e, f"write {what or 'object'} into the artifact cache") from e
        except BaseException:
            discard(tmp)
            raise
        if expected is not None and sha != expected:
            discard(tmp)
            raise CorruptArtifactError(
                f"{what or 'object ' + expected[:12]} arrived corrupt (sha256 {sha[:12]}, "
                f"expected {expected[:12]}); nothing was stored"
            )
        return Stored(sha, size, self._install(tmp, sha))

    def add_bytes(self, data: bytes) -> Stored:
        """Store a small in-memory payload."""
        import io

        return self.add_stream(io.BytesIO(data))

    def add_file(self, src: str | os.PathLike[str]) -> Stored:
        """Store a file (streamed once); an unchanged, already stored file is only hashed."""
        try:
            st = os.stat(src)
        except OSError as e:
            raise _os_error(e, f"read {src}") from e
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(f"{src} is not a regular file")
        hint_key = self._hint_key(src, st)
        hinted = self._read_hint(hint_key)
        if hinted is not None and self.has(hinted):
            sha, size = hash_file(src)
            if sha == hinted:
                self.touch(sha)
                return Stored(sha, size, False)
        try:
            with open(src, "rb") as f:
                stored = self.add_stream(f, what=str(src))
        except OSError as e:
            raise _os_error(e, f"read {src}") from e
        if stored.size != st.st_size:
            raise ArtifactError(f"{src} changed while it was being logged; log it again")
        self._write_hint(hint_key, stored.sha256)
        return stored

    # -- hints ------------------------------------------------------------------------
    @staticmethod
    def _hint_key(src: str | os.PathLike[str], st: os.stat_result) -> str:
        text = "\0".join(
            str(x)
            for x in (
                os.path.realpath(src),
                st.st_dev,
                st.st_ino,
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
            )
        )
        return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()

    def _read_hint(self, key: str) -> str | None:
        try:
            text = (self.hints_dir / key[:2] / key[2:]).read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if is_sha256(text) else None

    def _write_hint(self, key: str, sha256: str) -> None:
        directory = self.hints_dir / key[:2]
        tmp = directory / f"tmp_{os.getpid()}_{os.urandom(4).hex()}"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp.write_text(sha256, "ascii")
            os.replace(tmp, directory / key[2:])
        except OSError as e:  # only an optimisation: never fail a log over it
            log.debug("gittrack: cannot write artifact hint: %s", e)
            discard(tmp)

    def clear_hints(self, keep: set[str]) -> int:
        """Drop hints naming objects not in ``keep``; return how many were removed."""
        removed = 0
        if not self.hints_dir.is_dir():
            return 0
        for path in self.hints_dir.glob("*/*"):
            try:
                target = path.read_text("ascii").strip()
            except (OSError, UnicodeDecodeError):
                target = ""
            if target not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- reading ----------------------------------------------------------------------
    def check(self, sha256: str, what: str) -> int:
        """Re-hash an object; raise CorruptArtifactError naming ``what`` on a mismatch."""
        sha, size = hash_file(self.path_for(sha256))
        if sha != sha256:
            raise CorruptArtifactError(
                f"{what} is corrupt in the artifact cache (sha256 {sha[:12]}, expected "
                f"{sha256[:12]}); delete {self.path_for(sha256)} and fetch it again"
            )
        return size

    def iter_objects(self) -> Iterator[CachedObject]:
        """Every object file in the cache."""
        if not self.base.is_dir():
            return
        for sub in sorted(self.base.iterdir()):
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for path in sorted(sub.iterdir()):
                sha = sub.name + path.name
                if not is_sha256(sha):
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue
                yield CachedObject(sha, path, st.st_size, st.st_mtime)

    def remove(self, sha256: str) -> None:
        path = self.path_for(sha256)
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            raise _os_error(e, f"delete {path}") from e
