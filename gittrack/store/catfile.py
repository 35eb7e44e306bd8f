"""Bulk reads through C git's ``cat-file --batch`` (used for cold index builds).

Reading thousands of small files out of run commits is several times faster through one
``git cat-file --batch`` process than object by object; callers fall back to
:class:`~gittrack.store.GitStore` reads when git is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

from gittrack.errors import StorageError


def available() -> bool:
    """Whether the git command is installed."""
    return shutil.which("git") is not None


def cat_blobs(git_dir: Path, specs: Iterable[str]) -> list[bytes | None]:
    """Contents of each ``<rev>:<path>`` spec (None when missing or not a blob), in order."""
    return cat_objects(git_dir, specs, b"blob")


def cat_folder_files(
    git_dir: Path, folders: Iterable[str], names: tuple[str, ...]
) -> list[dict[str, bytes]]:
    """For each folder spec (``<rev>:<path>``), the files named ``names`` directly in it
    as ``{name: bytes}`` (absent names and non-files left out).

    Two passes: the folders' trees, then each distinct file once. Against one
    ``<rev>:<path>/<name>`` spec per file, that is about half the object reads (every
    spec walks from the commit down), and runs holding the same file read it once.
    """
    found: list[dict[str, str]] = []
    for body in cat_objects(git_dir, folders, b"tree"):
        entries = _tree_entries(body) if body is not None else {}
        found.append({name: entries[name] for name in names if name in entries})
    distinct = sorted({sha for files in found for sha in files.values()})
    blobs = dict(zip(distinct, cat_objects(git_dir, distinct, b"blob"), strict=True))
    return [
        {name: body for name, sha in files.items() if (body := blobs[sha]) is not None}
        for files in found
    ]


def _tree_entries(body: bytes) -> dict[str, str]:
    """``{name: object id}`` of a raw tree (``<mode> <name>\\0<20-byte id>`` entries)."""
    entries: dict[str, str] = {}
    at = 0
    try:
        while at < len(body):
            space = body.index(b" ", at)
            nul = body.index(b"\0", space)
            entries[body[space + 1 : nul].decode("utf-8", "surrogateescape")] = body[
                nul + 1 : nul + 21
            ].hex()
            at = nul + 21
    except ValueError as e:
        raise StorageError("git cat-file gave a malformed tree (is the repository damaged?)") from e
    return entries


def cat_objects(git_dir: Path, specs: Iterable[str], kind: bytes) -> list[bytes | None]:
    """Raw bodies of each object spec (None when missing or not of type ``kind``), in order."""
    wanted = [s.encode("utf-8", "surrogateescape") for s in specs]
    if not wanted:
        return []
    try:
        proc = subprocess.Popen(
            ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as e:
        raise StorageError(f"cannot run git cat-file: {e.strerror}") from e
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def feed() -> None:  # a thread, so a full stdout pipe can never deadlock us
        try:
            stdin.write(b"".join(spec + b"\n" for spec in wanted))
            stdin.close()
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=feed, name="gittrack-cat-file", daemon=True)
    writer.start()
    out: list[bytes | None] = []
    try:
        for _ in wanted:
            header = stdout.readline()
            if not header:
                raise StorageError("git cat-file stopped early (is the repository damaged?)")
            parts = header.split()
            if len(parts) != 3:  # "<spec> missing" / "<spec> ambiguous"
                out.append(None)
                continue
            size = int(parts[2])
            data = stdout.read(size)
            stdout.read(1)  # the newline after each object
            out.append(data if parts[1] == kind else None)
    finally:
        writer.join()
        stdout.close()
        proc.wait()
    return out
