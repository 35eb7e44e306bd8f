"""Snapshot of the working tree as a git tree, without touching HEAD, index or files.

Tracked files are taken from the index; any whose stat differs from the index entry (or
that could have changed within the index's own timestamp, "racy git") is re-read and
hashed, so uncommitted edits are captured. Deleted files are left out. Untracked files
that are not ignored are added only when asked. Where dulwich cannot read the index
(split or sparse index), C git builds the tree from a private copy of the index.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gittrack.store.repo import (
    MODE_EXEC,
    MODE_FILE,
    MODE_GITLINK,
    MODE_LINK,
    GitStore,
    TreeBuilder,
)

log = logging.getLogger("gittrack")


@dataclass(frozen=True)
class Snapshot:
    """The working tree at one moment, written as a tree, and whether it differs from HEAD."""

    tree: str
    root_entries: dict[bytes, tuple[int, str]]
    dirty: bool


def _mode_of(st: os.stat_result) -> int:
    if stat.S_ISLNK(st.st_mode):
        return MODE_LINK
    return MODE_EXEC if st.st_mode & 0o111 else MODE_FILE


def _hash_path(store: GitStore, full: Path, st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return store.write_blob(os.fsencode(os.readlink(full)))
    with open(full, "rb") as f:
        return store.write_blob(f.read())


def _entry_mtime_ns(entry_mtime: object) -> int:
    if isinstance(entry_mtime, tuple):
        return int(entry_mtime[0]) * 1_000_000_000 + int(entry_mtime[1])
    return int(float(entry_mtime) * 1e9)  # type: ignore[arg-type]


def snapshot_worktree(store: GitStore, *, include_untracked: bool = False) -> Snapshot:
    """Capture the working tree (tracked files incl. uncommitted edits) as a tree."""
    files: dict[str, tuple[int, str]] = {}
    work = store.work_tree
    index_path = store.git_dir / "index"
    if work is not None and index_path.exists():
        try:
            files = _from_index(store, work, index_path)
        except Exception as e:  # split/sparse index or a format dulwich does not read
            log.debug("index not readable by dulwich (%s); using C git", e)
            files = _from_c_git(store, index_path)
    if work is not None and include_untracked:
        files.update(_untracked(store, work, files))
    tree, root_entries = TreeBuilder(store).write_with_root(files)
    head = store.head_commit()
    head_tree = store.read_commit(head).tree.decode("ascii") if head else None
    dirty = head_tree != tree if head_tree is not None else bool(files)
    return Snapshot(tree=tree, root_entries=root_entries, dirty=dirty)


def _from_index(store: GitStore, work: Path, index_path: Path) -> dict[str, tuple[int, str]]:
    from dulwich.index import ConflictedIndexEntry, Index

    index = Index(str(index_path), read=True)
    index_mtime_ns = index_path.stat().st_mtime_ns
    files: dict[str, tuple[int, str]] = {}
    for raw_path, item in index.items():
        path = raw_path.decode("utf-8", "surrogateescape")
        entry = item
        if isinstance(entry, ConflictedIndexEntry):
            entry = entry.this or entry.ours or entry.theirs
            if entry is None:
                continue
        sha = entry.sha.decode("ascii") if isinstance(entry.sha, bytes) else str(entry.sha)
        if entry.mode == MODE_GITLINK:
            files[path] = (MODE_GITLINK, sha)
            continue
        full = work / path
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            continue  # deleted in the working tree
        unchanged = (
            st.st_size == entry.size
            and st.st_mtime_ns == _entry_mtime_ns(entry.mtime)
            and st.st_mtime_ns < index_mtime_ns
        )
        files[path] = (_mode_of(st), sha if unchanged else _hash_path(store, full, st))
    return files


def _from_c_git(store: GitStore, index_path: Path) -> dict[str, tuple[int, str]]:
    with tempfile.TemporaryDirectory(prefix="gittrack-index-") as tmp:
        private = Path(tmp) / "index"
        shutil.copyfile(index_path, private)
        env = {"GIT_INDEX_FILE": str(private)}
        store.run_git("add", "-u", env=env)
        tree = store.run_git("write-tree", env=env).strip()
    return {path: (mode, sha) for path, mode, sha in store.iter_tree_files(tree)}


def _untracked(
    store: GitStore, work: Path, tracked: dict[str, tuple[int, str]]
) -> dict[str, tuple[int, str]]:
    from dulwich.ignore import IgnoreFilterManager

    manager = IgnoreFilterManager.from_repo(store.dulwich)
    extra: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(work):
        rel_dir = os.path.relpath(dirpath, work)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        dirnames[:] = [
            d for d in dirnames if d != ".git" and not manager.is_ignored(rel_dir + d + "/")
        ]
        for name in filenames:
            rel = rel_dir + name
            if rel in tracked or manager.is_ignored(rel):
                continue
            full = Path(dirpath) / name
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                extra[rel] = (_mode_of(st), _hash_path(store, full, st))
    return extra
