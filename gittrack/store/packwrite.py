"""Writing a few new objects as one small pack, as ``git index-pack`` would leave it.

A run's flush writes 5 to 8 new objects (its files, three trees, a commit). As loose
objects that is a file creation and a rename each, which cost far more than the bytes
(a file system journal entry and a 4 KiB block each). One pack holds them in two files
instead: ``pack-<checksum>.pack`` (objects zlib-compressed, no deltas) and its version 2
``.idx``. Both are written under temporary names and renamed into place, the pack first:
git and dulwich only look at a pack whose index is present, so no reader ever sees a
half-written one. A :class:`PackBuilder` keeps a pack's compressed entries and sorted
index rows, so a process can write its open pack again with a few more objects at the
cost of those objects (see ``GitStore._store_batch``). Background maintenance merges the
packs of many processes (``git repack --geometric``).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import struct
import zlib

# Type numbers of the pack format (gitformat-pack(5)).
TYPE_NUMS = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}


def _entry_header(type_num: int, size: int) -> bytes:
    """The type-and-size varint that opens an object's entry in a pack."""
    out = bytearray()
    byte = (type_num << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


class PackBuilder:
    """The entries of one pack in writing order, and what its index needs, kept sorted.

    Adding objects to a copy of an open pack's builder costs only the new objects: the
    old entries keep their offsets and compressed bytes, the index rows stay sorted.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._rows: list[tuple[bytes, int, int]] = []  # (binary sha, crc32, offset), sorted
        self._shas: set[bytes] = set()
        self._first_bytes = [0] * 256  # objects per first byte of their id
        self.size = 0  # bytes of the entries

    def __len__(self) -> int:
        return len(self._rows)

    def copy(self) -> PackBuilder:
        other = PackBuilder()
        other._chunks = self._chunks.copy()
        other._rows = self._rows.copy()
        other._shas = self._shas.copy()
        other._first_bytes = self._first_bytes.copy()
        other.size = self.size
        return other

    def add(self, hexsha: str, type_name: bytes, body: bytes) -> None:
        """Add an object (once: an object already in the pack is skipped)."""
        sha = bytes.fromhex(hexsha)
        if sha in self._shas:
            return
        data = _entry_header(TYPE_NUMS[type_name], len(body)) + zlib.compress(body, 1)
        bisect.insort(self._rows, (sha, zlib.crc32(data), 12 + self.size))
        self._shas.add(sha)
        self._first_bytes[sha[0]] += 1
        self._chunks.append(data)
        self.size += len(data)

    def to_bytes(self) -> tuple[bytes, bytes, str]:
        """``(pack, idx, name)``; ``name`` is the pack's checksum in hex, as git names
        packs."""
        from hashlib import sha1  # (here: importing the store must not load OpenSSL)

        n = len(self._rows)
        pack = b"".join([b"PACK", struct.pack(">II", 2, n), *self._chunks])
        checksum = sha1(pack).digest()
        shas, crcs, offsets = zip(*self._rows, strict=True) if n else ((), (), ())
        fanout = itertools.accumulate(self._first_bytes)
        idx = b"".join(
            [
                b"\377tOc",
                struct.pack(">I", 2),
                struct.pack(">256I", *fanout),
                *shas,
                struct.pack(f">{n}I", *crcs),
                struct.pack(f">{n}I", *offsets),
                checksum,
            ]
        )
        return pack + checksum, idx + sha1(idx).digest(), checksum.hex()


def _write_file(path: str, data: bytes, *, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_pack(pack_dir: str, builder: PackBuilder, *, fsync: bool = False) -> str:
    """Store the objects of ``builder`` as one pack in ``pack_dir``; return its path
    without extension. Raises ``OSError`` (nothing is left behind)."""
    pack, idx, name = builder.to_bytes()
    base = os.path.join(pack_dir, f"pack-{name}")
    token = f"{os.getpid()}_{os.urandom(4).hex()}"
    tmp_pack = os.path.join(pack_dir, f"tmp_pack_{token}")
    tmp_idx = os.path.join(pack_dir, f"tmp_idx_{token}")
    try:
        try:
            _write_file(tmp_pack, pack, fsync=fsync)
        except FileNotFoundError:
            os.makedirs(pack_dir, exist_ok=True)
            _write_file(tmp_pack, pack, fsync=fsync)
        _write_file(tmp_idx, idx, fsync=fsync)
        # The pack before its index: a reader looks at a pack only once its index exists.
        os.replace(tmp_pack, base + ".pack")
        os.replace(tmp_idx, base + ".idx")
    except BaseException:
        for tmp in (tmp_pack, tmp_idx):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return base


def remove_pack(base: str) -> None:
    """Remove the pack ``base`` (path without extension) whose objects are all in another
    pack, as ``git repack -d`` does: the index first, so no new reader picks it up; a
    reader that has it open keeps reading it."""
    for ext in (".idx", ".pack"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(base + ext)
