"""Writing a few new objects as one small pack, as ``git index-pack`` would leave it.

A run's flush writes 5 to 8 new objects (its files, three trees, a commit). As loose
objects that is a file creation and a rename each, which cost far more than the bytes
(a file system journal entry and a 4 KiB block each). One pack holds them in two files
instead: ``pack-<checksum>.pack`` (objects zlib-compressed, no deltas) and its version 2
``.idx``. Both are written under temporary names and renamed into place, the pack first:
git and dulwich only look at a pack whose index is present, so no reader ever sees a
half-written one. Background maintenance merges the small packs (``git repack
--geometric``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import zlib
from collections.abc import Mapping

# Type numbers of the pack format (gitformat-pack(5)).
TYPE_NUMS = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}
MAX_PACK_BYTES = 1 << 30  # offsets stay below 2**31: no large-offset table needed


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


def encode_entry(type_name: bytes, body: bytes) -> bytes:
    """An object as an entry of a pack: its type and size, then its zlib-compressed body."""
    return _entry_header(TYPE_NUMS[type_name], len(body)) + zlib.compress(body, 1)


def pack_bytes(entries: Mapping[str, bytes]) -> tuple[bytes, bytes, str]:
    """``(pack, idx, name)`` for ``{hexsha: entry}`` (see :func:`encode_entry`); ``name``
    is the pack's checksum in hex, as git names packs."""
    chunks = [b"PACK", struct.pack(">II", 2, len(entries))]
    offset = 12
    index: list[tuple[bytes, int, int]] = []  # (binary sha, crc32, offset)
    for hexsha, data in entries.items():
        index.append((bytes.fromhex(hexsha), zlib.crc32(data), offset))
        chunks.append(data)
        offset += len(data)
    pack = b"".join(chunks)
    checksum = hashlib.sha1(pack).digest()
    pack += checksum
    index.sort()
    fanout = [0] * 256
    for sha, _, _ in index:
        fanout[sha[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    n = len(index)
    idx = b"".join(
        [
            b"\377tOc",
            struct.pack(">I", 2),
            struct.pack(">256I", *fanout),
            b"".join(sha for sha, _, _ in index),
            struct.pack(f">{n}I", *(crc for _, crc, _ in index)),
            struct.pack(f">{n}I", *(off for _, _, off in index)),
            checksum,
        ]
    )
    idx += hashlib.sha1(idx).digest()
    return pack, idx, checksum.hex()


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


def write_pack(pack_dir: str, entries: Mapping[str, bytes], *, fsync: bool = False) -> str:
    """Store ``{hexsha: entry}`` as one pack in ``pack_dir``; return its path without
    extension. Raises ``OSError`` (nothing is left behind)."""
    pack, idx, name = pack_bytes(entries)
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
