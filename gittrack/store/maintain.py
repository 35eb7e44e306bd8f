"""Keeping a repository packed and bounded without user action, as git's ``gc --auto`` does.

Runs write their objects into packs (see :meth:`GitStore.batched`), a few loose ones
beside them, and one loose ref each. After a run ends, :meth:`GitStore.auto_maintain`
estimates the loose objects from one fan-out directory and counts the packs. Above a
quarter of git's ``gc.auto`` threshold (6700 unless configured; 0 turns it off), above
half of ``gc.autoPackLimit`` packs (50 unless configured; git's own ``gc --auto`` repacks
everything beyond it), or once the process created :data:`LOOSE_REFS_TO_PACK` run refs
(:data:`EXIT_REFS_TO_PACK` when it exits), it starts this file detached, with the
standard library only (``python -I -S maintain.py GIT_DIR FD REFS repack|refs``: no
start-up cost beyond the interpreter's). It then, with C git:

1. packs refs (``pack-refs --all --prune``) once REFS (:data:`LOOSE_REFS_TO_PACK`) loose
   refs have piled up: one file instead of one per run, rewritten seldom (it holds every
   ref); when only refs piled up, that is all it does;
2. merges packs geometrically and packs every loose object (reachable or not) with them
   (``repack -d -n --geometric=2``): the number of packs stays logarithmic in the number
   of objects at an amortised cost, with no full repack; a pack or loose object is
   removed only once its objects are in the new pack, so concurrent writers and readers
   never miss an object. Not when only refs piled up; always when a process exits. While
   it runs it holds an ``flock`` on ``gittrack-repack.pid``: writers then write loose
   objects rather than replace their open pack (see ``GitStore._store_batch``).

Unreachable objects (the intermediate states of runs) stay in packs, where they cost
about half of a run's 1-2 KiB; ``git gc`` removes them by git's own prune rules, and
keeps the younger ones in a cruft pack (``gc.cruftPacks``, set by the store's
``auto_maintain`` unless configured) rather than as loose files.

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
# Held while the repack step runs: writers then leave their open pack alone.
REPACK_LOCK_NAME = "gittrack-repack.pid"
LOOSE_REFS_TO_PACK = 256  # loose refs (4 KiB on disk each) a detached maintenance packs
EXIT_REFS_TO_PACK = 32  # ... and at the end of a process that created this many


def busy(common_dir: Path) -> bool:
    """Whether a maintenance of this repository is running now."""
    return _locked(common_dir / LOCK_NAME)


def repacking(common_dir: Path) -> bool:
    """Whether a maintenance of this repository is repacking now: reading packs, and about
    to remove those it merged."""
    return _locked(common_dir / REPACK_LOCK_NAME)


def _locked(path: Path) -> bool:
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
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


def _git(common_dir: Path, *args: str) -> None:
    subprocess.run(
        ["git", "--git-dir", str(common_dir), *args],
        stdin=subprocess.DEVNULL,
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


def loose_refs(common_dir: Path, stop: int) -> int:
    """How many loose refs ``refs/`` holds, counted up to ``stop``."""
    count = 0
    for _, _, files in os.walk(common_dir / "refs"):
        count += sum(1 for f in files if not f.endswith(".lock"))
        if count >= stop:
            break
    return count


def maintain(
    common_dir: Path, lock_fd: int | None = None, *, min_loose_refs: int = 0, repack: bool = True
) -> bool:
    """Pack loose objects and consolidate packs (unless ``repack`` is False: refs only),
    and pack refs once ``min_loose_refs`` loose refs exist; False when another
    maintenance is running.

    ``lock_fd`` is the lock already taken by :func:`try_lock` (this function closes it).
    """
    fd = try_lock(common_dir) if lock_fd is None else lock_fd
    if fd is None:
        return False
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        if loose_refs(common_dir, min_loose_refs) >= min_loose_refs:
            _git(common_dir, "pack-refs", "--all", "--prune")
        if repack:
            repack_fd = os.open(common_dir / REPACK_LOCK_NAME, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(repack_fd, fcntl.LOCK_EX)
                _git(common_dir, "repack", "-d", "-q", "-n", "--geometric=2")
            finally:
                os.close(repack_fd)
        return True
    finally:
        os.close(fd)


if __name__ == "__main__":  # started by GitStore.auto_maintain: GIT_DIR FD REFS repack|refs
    try:
        maintain(
            Path(sys.argv[1]),
            int(sys.argv[2]),
            min_loose_refs=int(sys.argv[3]),
            repack=sys.argv[4] == "repack",
        )
    except (OSError, subprocess.CalledProcessError):
        sys.exit(1)  # nothing to report to: the next run end tries again
