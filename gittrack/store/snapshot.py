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
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gittrack.store.repo import (
    MODE_EXEC,
    MODE_FILE,
    MODE_GITLINK,
    MODE_LINK,
    MODE_TREE,
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


# Per-process caches: runs started one after another in one process mostly see the
# same index and the same files, so parse the index once and write the trees once.
_IndexRow = tuple[str, int, str, int, int]  # path, mode, sha, size, mtime_ns
_index_cache: dict[str, tuple[tuple[int, int, int], list[_IndexRow]]] = {}
_tree_cache: dict[str, tuple[dict[str, tuple[int, str]], str, dict[bytes, tuple[int, str]]]] = {}
_head_tree_cache: dict[str, str] = {}


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
    submodule_dirty = False
    if work is not None:
        for path, (mode, sha) in list(files.items()):
            if mode == MODE_GITLINK:
                commit, changed = _submodule_state(work, path, sha)
                files[path] = (MODE_GITLINK, commit)
                submodule_dirty = submodule_dirty or changed
    key = str(store.git_dir)
    cached = _tree_cache.get(key)
    if cached is not None and cached[0] == files:
        tree, root_entries = cached[1], cached[2]
    else:
        tree, root_entries = TreeBuilder(store).write_with_root(files)
        _tree_cache[key] = (files, tree, root_entries)
    head = store.head_commit()
    head_tree = None
    if head is not None:
        head_tree = _head_tree_cache.get(head)
        if head_tree is None:
            head_tree = _head_tree_cache[head] = store.read_commit(head).tree.decode("ascii")
    dirty = (head_tree != tree if head_tree is not None else bool(files)) or submodule_dirty
    return Snapshot(tree=tree, root_entries=dict(root_entries), dirty=dirty)


def _submodule_state(work: Path, path: str, recorded: str) -> tuple[str, bool]:
    """The commit checked out in submodule ``path`` and whether its files differ from it
    (the same rule as the top level); the index's gitlink when it is not checked out."""
    if not os.path.lexists(work / path / ".git"):
        return recorded, False
    try:
        with GitStore(work / path) as sub:
            head = sub.head_commit()
            if head is None:
                return recorded, False
            return head, snapshot_worktree(sub).dirty
    except Exception as e:  # an unreadable submodule: keep what the index records
        log.debug("submodule %s not readable (%s); keeping its gitlink", path, e)
        return recorded, False


def submodule_store(store: GitStore, path: str, commit: str) -> GitStore | None:
    """A repository holding submodule ``path``'s ``commit`` (``.git/modules/<path>``, else
    the submodule's checkout), or None when this clone does not have it."""
    candidates = [store.common_dir / "modules" / path]
    if store.work_tree is not None:
        candidates.append(store.work_tree / path)
    for candidate in candidates:
        try:
            sub = GitStore(candidate)
            if sub.has_object(commit):
                return sub
        except Exception:  # not a repository (or an unreadable one): try the next
            continue
        sub.close()
    return None


def _index_rows(index_path: Path) -> tuple[list[_IndexRow], int]:
    """The index's entries (cached while the index file is unchanged) and its mtime."""
    from dulwich.index import ConflictedIndexEntry, Index, IndexEntry

    st = index_path.stat()
    stat_key = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _index_cache.get(str(index_path))
    if cached is not None and cached[0] == stat_key:
        return cached[1], st.st_mtime_ns
    rows: list[_IndexRow] = []
    for raw_path, item in Index(str(index_path), read=True).items():
        if isinstance(item, ConflictedIndexEntry):
            picked = item.this or item.other or item.ancestor
            if picked is None:
                continue
            entry: IndexEntry = picked
        else:
            entry = item
        sha = entry.sha.decode("ascii") if isinstance(entry.sha, bytes) else str(entry.sha)
        rows.append(
            (
                raw_path.decode("utf-8", "surrogateescape"),
                entry.mode,
                sha,
                entry.size,
                _entry_mtime_ns(entry.mtime),
            )
        )
    _index_cache[str(index_path)] = (stat_key, rows)
    return rows, st.st_mtime_ns


def _from_index(store: GitStore, work: Path, index_path: Path) -> dict[str, tuple[int, str]]:
    rows, index_mtime_ns = _index_rows(index_path)
    files: dict[str, tuple[int, str]] = {}
    root = os.fspath(work)
    for path, mode, sha, size, mtime_ns in rows:
        if mode == MODE_GITLINK:
            files[path] = (MODE_GITLINK, sha)
            continue
        full = os.path.join(root, path)
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            continue  # deleted in the working tree
        unchanged = (
            st.st_size == size and st.st_mtime_ns == mtime_ns and st.st_mtime_ns < index_mtime_ns
        )
        files[path] = (_mode_of(st), sha if unchanged else _hash_path(store, Path(full), st))
    return files


def _from_c_git(store: GitStore, index_path: Path) -> dict[str, tuple[int, str]]:
    with tempfile.TemporaryDirectory(prefix="gittrack-index-") as tmp:
        private = Path(tmp) / "index"
        shutil.copyfile(index_path, private)
        env = {"GIT_INDEX_FILE": str(private)}
        store.run_git("add", "-u", env=env)
        tree = store.run_git("write-tree", env=env).strip()
    return {path: (mode, sha) for path, mode, sha in store.iter_tree_files(tree)}


def _untracked_files(
    store: GitStore, work: Path, tracked: Container[str]
) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Untracked, non-ignored files and symlinks of the working tree, as they are found."""
    from dulwich.ignore import IgnoreFilterManager

    manager = IgnoreFilterManager.from_repo(store.dulwich)
    for dirpath, dirnames, filenames in os.walk(work):
        rel_dir = os.path.relpath(dirpath, work)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        dirnames[:] = [  # never into .git, ignored folders or submodules (tracked links)
            d
            for d in dirnames
            if d != ".git"
            and rel_dir + d not in tracked
            and not manager.is_ignored(rel_dir + d + "/")
        ]
        for name in filenames:
            rel = rel_dir + name
            if rel in tracked or manager.is_ignored(rel):
                continue
            full = Path(dirpath) / name
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                yield rel, full, st


def _untracked(
    store: GitStore, work: Path, tracked: dict[str, tuple[int, str]]
) -> dict[str, tuple[int, str]]:
    return {
        rel: (_mode_of(st), _hash_path(store, full, st))
        for rel, full, st in _untracked_files(store, work, tracked)
    }


_warned_untracked: set[str] = set()


def warn_untracked_once(store: GitStore, snapshot: Snapshot) -> None:
    """Warn (once per process and repository) that untracked files are left out."""
    work = store.work_tree
    if work is None or str(store.git_dir) in _warned_untracked:
        return
    _warned_untracked.add(str(store.git_dir))
    tracked = {path for path, _, _ in _flatten_entries(store, snapshot.root_entries)}
    found = next(iter(_untracked_files(store, work, tracked)), None)
    if found is not None:
        log.warning(
            "gittrack: untracked files (e.g. %s) are not in the run's code snapshot: "
            "git add them, or capture them with git config gittrack.includeUntracked true",
            found[0],
        )


def _flatten_entries(
    store: GitStore, entries: Mapping[bytes, tuple[int, str]]
) -> Iterator[tuple[str, int, str]]:
    for raw, (mode, sha) in entries.items():
        name = raw.decode("utf-8", "surrogateescape")
        if mode == MODE_TREE:
            yield from store.iter_tree_files(sha, name + "/")
        else:
            yield name, mode, sha
