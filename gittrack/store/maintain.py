"""Keeping a repository packed and bounded without user action, as git's ``gc --auto`` does.

Every run leaves ~16 loose objects, half of them intermediate states that no ref reaches
once the run ends. After a run ends, :meth:`GitStore.auto_maintain` estimates the loose
objects from one fan-out directory and, above a quarter of git's ``gc.auto`` threshold
(6700 unless configured; 0 turns it off), starts this module detached
(``python -m gittrack.store.maintain GIT_DIR``). It then, with C git:

1. packs every loose object (reachable or not) into one new pack and removes the loose
   copies that are now packed (``pack-objects`` + ``prune-packed``): nothing is deleted
   that is not in a pack, so concurrent writers and readers never miss an object;
2. packs refs (``pack-refs --all --prune``): one file instead of one per run;
3. merges packs geometrically (``repack -d --geometric=2``), so their number stays
   logarithmic in the number of objects at an amortised cost, with no full repack.

Unreachable objects (the intermediate states of runs) stay in packs, where they cost
about half of a run's 1-2 KiB; ``git gc`` removes them by git's own prune rules.

One maintenance at a time per repository (an ``flock`` on ``gittrack-maintain.pid``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

# Not "*.lock": git and tools take a leftover *.lock for a stale lock; this one stays, and
# a live maintenance holds an flock on it (its pid is written inside).
LOCK_NAME = "gittrack-maintain.pid"
_HEX = frozenset("0123456789abcdef")


def loose_objects(objects_dir: Path) -> list[str]:
    """The ids of every loose object under ``objects_dir``."""
    found: list[str] = []
    for fanout in os.scandir(objects_dir):
        if len(fanout.name) != 2 or not set(fanout.name) <= _HEX or not fanout.is_dir():
            continue
        for entry in os.scandir(fanout.path):
            if len(entry.name) == 38 and set(entry.name) <= _HEX:
                found.append(fanout.name + entry.name)
    return found


def busy(common_dir: Path) -> bool:
    """Whether a maintenance of this repository is running now."""
    if fcntl is None:
        return False
    try:
        fd = os.open(common_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we took
    return False


def wait_idle(common_dir: Path, timeout: float = 120.0) -> bool:
    """Wait until no maintenance of this repository runs; False if one still runs at timeout.

    For whoever needs the object store still (``git fsck`` reports a loose object that a
    running maintenance packed and removed between listing and reading it).
    """
    deadline = time.monotonic() + timeout
    while busy(common_dir):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _git(common_dir: Path, *args: str, stdin: bytes | None = None) -> None:
    subprocess.run(
        ["git", "--git-dir", str(common_dir), *args],
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )


def try_lock(common_dir: Path) -> int | None:
    """Take the maintenance lock of this repository: its open descriptor, or None if held.

    The lock is an ``flock`` on an open file: it stays held while any process keeps the
    descriptor open, so a starter can hand it to the process it starts (``pass_fds``) and
    no reader ever sees "idle" between the decision to maintain and the maintenance.
    """
    fd = os.open(common_dir / LOCK_NAME, os.O_WRONLY | os.O_CREAT, 0o644)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
    return fd


def maintain(common_dir: Path, lock_fd: int | None = None) -> bool:
    """Pack loose objects and refs, consolidate packs; False when another one is running.

    ``lock_fd`` is the lock already taken by :func:`try_lock` (this function closes it).
    """
    fd = try_lock(common_dir) if lock_fd is None else lock_fd
    if fd is None:
        return False
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        objects = common_dir / "objects"
        loose = loose_objects(objects)
        if loose:
            listing = "".join(f"{sha}\n" for sha in loose).encode()
            _git(common_dir, "pack-objects", "-q", str(objects / "pack" / "pack"), stdin=listing)
            _git(common_dir, "prune-packed", "-q")
        _git(common_dir, "pack-refs", "--all", "--prune")
        _git(common_dir, "repack", "-d", "-q", "--geometric=2")
        return True
    finally:
        os.close(fd)


if __name__ == "__main__":  # started detached by GitStore.auto_maintain, lock fd in argv[2]
    try:
        maintain(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
    except (OSError, subprocess.CalledProcessError):
        sys.exit(1)  # nothing to report to: the next run end tries again
