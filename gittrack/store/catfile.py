"""Bulk reads through C git's ``cat-file --batch`` (used for cold index builds).

Reading thousands of small files out of run commits is several times faster through one
``git cat-file --batch`` process than object by object; callers fall back to
:class:`~gittrack.store.GitStore` reads when git is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Generator, Iterable
from contextlib import closing
from pathlib import Path

from gittrack.errors import StorageError


def available() -> bool:
    """Whether the git command is installed."""
    return shutil.which("git") is not None


def cat_blobs(git_dir: Path, specs: Iterable[str]) -> list[bytes | None]:
    """Contents of each ``<rev>:<path>`` spec (None when missing or not a blob), in order."""
    return cat_objects(git_dir, specs, b"blob")


def cat_tree_files(
    git_dir: Path, trees: list[str], names: tuple[str, ...]
) -> list[list[bytes | None]]:
    """The files ``names`` of each ``<rev>:<path>`` tree spec (None when missing or not a
    file), in order: each tree is found once, then its files by hash (reading 4 files of
    one folder by path makes git walk to the folder 4 times), a file many trees share
    once."""
    wanted = {name.encode("utf-8"): i for i, name in enumerate(names)}
    found: list[list[bytes | None]] = []
    shas: list[str] = []
    for body in cat_objects(git_dir, trees, b"tree"):
        row: list[bytes | None] = [None] * len(names)
        at = 0
        while body is not None and at < len(body):  # "<mode> <name>\0<20-byte hash>"...
            space = body.index(b" ", at)
            nul = body.index(b"\0", space)
            slot = wanted.get(body[space + 1 : nul])
            if slot is not None and not body.startswith(b"40000", at):
                row[slot] = body[nul + 1 : nul + 21]
            at = nul + 21
        found.append(row)
        shas.extend(raw.hex() for raw in row if raw is not None)
    distinct = list(dict.fromkeys(shas))
    blobs = dict(zip(distinct, cat_objects(git_dir, distinct, b"blob"), strict=True))
    return [[None if raw is None else blobs[raw.hex()] for raw in row] for row in found]


def cat_objects(git_dir: Path, specs: Iterable[str], kind: bytes) -> list[bytes | None]:
    """Raw bodies of each object spec (None when missing or not of type ``kind``), in order."""
    with closing(iter_objects(git_dir, specs, kind)) as found:
        return list(found)


def iter_objects(
    git_dir: Path, specs: Iterable[str], kind: bytes
) -> Generator[bytes | None, None, None]:
    """:func:`cat_objects` one object at a time, as git sends them: a caller that drops
    each body before asking for the next holds one at a time. Close the iterator when
    leaving early (``contextlib.closing``): that stops git."""
    wanted = [s.encode("utf-8", "surrogateescape") for s in specs]
    if not wanted:
        return
    try:
        proc = subprocess.Popen(  # --buffer: not one write (and flush) per object
            ["git", "--git-dir", str(git_dir), "cat-file", "--batch", "--buffer"],
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
        except OSError:  # git stopped (the reader left early)
            pass
        try:
            stdin.close()
        except OSError:
            pass

    writer = threading.Thread(target=feed, name="gittrack-cat-file", daemon=True)
    writer.start()
    try:
        for _ in wanted:
            header = stdout.readline()
            if not header:
                raise StorageError("git cat-file stopped early (is the repository damaged?)")
            parts = header.split()
            if len(parts) != 3:  # "<spec> missing" / "<spec> ambiguous"
                yield None
                continue
            size = int(parts[2])
            data = stdout.read(size)
            stdout.read(1)  # the newline after each object
            yield data if parts[1] == kind else None
    finally:
        # stdout first: a caller that left early leaves git writing, and a closed pipe
        # ends it (then the feeding thread, if git had not read every spec yet)
        stdout.close()
        proc.wait()
        writer.join()
