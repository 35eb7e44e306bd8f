"""Objects in a git repository: write loose objects fast and safely, read any object.

Writes do not go through dulwich's object store: each object is compressed into a
temporary file in ``objects/`` and renamed into place, as C git does, so concurrent
writers of the same object never collide on a lock and nothing half-written is ever
visible. Reads go through dulwich (loose objects and packs).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import CorruptRunError, RepositoryError, StorageError
from gittrack.store import maintain
from gittrack.store import refs as refs_mod
from gittrack.store.packwrite import TYPE_NUMS, PackBuilder, remove_pack, write_pack

log = logging.getLogger("gittrack")
_MAINTENANCE: list[subprocess.Popen[bytes]] = []  # background maintenance started here

if TYPE_CHECKING:
    from dulwich.object_store import BaseObjectStore
    from dulwich.repo import Repo

# C git's default for gc.auto: loose objects beyond which `git gc --auto` packs them.
GC_AUTO_DEFAULT = 6700
# git's default for gc.autoPackLimit: packs beyond which `git gc --auto` consolidates them.
GC_AUTO_PACK_LIMIT_DEFAULT = 50
# A flush's new objects go into one pack from this many on (fewer: loose files).
PACK_MIN_OBJECTS = 3
# The open pack (see GitStore._store_batch) is closed at this many objects or bytes.
ROLL_MAX_OBJECTS = 512
ROLL_MAX_BYTES = 1 << 20
MAX_BATCHED_OBJECT = 16 << 20  # larger objects are written loose at once, not held in memory
# An object this process wrote or freshened within this long is taken as present without
# a look at the disk: far below any prune expiry (git's default: two weeks).
FRESH_SECONDS = 3600.0
MAX_FRESH = 200_000
MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000
MODE_TREE = 0o040000
MODE_GITLINK = 0o160000


def find_repository_root(start: Path) -> Path | None:
    """Return the work tree (or bare repo) enclosing ``start``, or None outside git."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        dotgit = candidate / ".git"
        if dotgit.is_dir() or dotgit.is_file():
            return candidate
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            if (candidate / "refs").is_dir():
                return candidate  # a bare repository
    return None


def init_bare_repository(path: Path) -> None:
    """Create an empty bare repository at ``path`` (the embedded default store)."""
    from dulwich.repo import Repo

    try:
        path.mkdir(parents=True, exist_ok=True)
        Repo.init_bare(str(path)).close()
    except OSError as e:
        raise RepositoryError(f"cannot create {path}: {e.strerror}") from e


def _resolve_git_dir(root: Path) -> tuple[Path, Path | None]:
    """Return (git_dir, work_tree) for a work tree or a bare repository."""
    dotgit = root / ".git"
    if dotgit.is_dir():
        return dotgit, root
    if dotgit.is_file():  # worktree or submodule: "gitdir: <path>"
        text = dotgit.read_text().strip()
        if not text.startswith("gitdir:"):
            raise RepositoryError(f"{dotgit} is not a valid .git file")
        git_dir = Path(text[len("gitdir:") :].strip())
        if not git_dir.is_absolute():
            git_dir = (root / git_dir).resolve()
        return git_dir, root
    if (root / "objects").is_dir() and (root / "HEAD").is_file():
        return root, None
    raise RepositoryError(f"{root} is not a git repository")


def _common_dir(git_dir: Path) -> Path:
    """The directory holding objects and refs (differs from git_dir in linked worktrees)."""
    common = git_dir / "commondir"
    if common.is_file():
        path = Path(common.read_text().strip())
        return path if path.is_absolute() else (git_dir / path).resolve()
    return git_dir


def common_dir_of(root: Path) -> Path:
    """The git directory holding objects and refs of the repository at ``root``."""
    return _common_dir(_resolve_git_dir(root)[0])


def _create_in(directory: str, path: str) -> int:
    """Create ``path`` (exclusive) in an object fan-out ``directory``, made when missing.

    Background maintenance (``git prune-packed``, ``git gc``) removes fan-out directories
    that it emptied, possibly between our ``makedirs`` and our ``open``: try again.
    """
    for _ in range(20):
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)


def _oid(text: str) -> Any:
    """A hex sha or ref name as the bytes dulwich expects (its NewTypes are bytes)."""
    return text.encode("ascii")


def _tree_sort_key(item: tuple[bytes, int, str]) -> bytes:
    name, mode, _ = item
    return name + b"/" if mode == MODE_TREE else name


@dataclass(frozen=True)
class Identity:
    """Author / committer of run commits."""

    name: str
    email: str


class GitStore:
    """One git repository: object writes, object reads, refs with compare-and-swap."""

    def __init__(self, root: Path, *, fsync: bool | Callable[[GitStore], bool] = False) -> None:
        """``fsync``: whether writes are synced to disk, or a function of this store that
        tells, asked at the first write (a command that only reads never needs it)."""
        self.root = root
        self.git_dir, self.work_tree = _resolve_git_dir(root)
        self.common_dir = _common_dir(self.git_dir)
        self.objects_dir = self.common_dir / "objects"
        self._objects = os.fspath(self.objects_dir)
        self._fsync = fsync
        self._repo: Repo | None = None
        self._reader: BaseObjectStore | None = None  # objects/ alone, until _repo opens
        self._known_dirs: set[str] = set()
        self._local = threading.local()  # .batch: objects held back for one pack
        self._fresh: dict[str, float] = {}  # sha -> when this store wrote or freshened it
        self._pack_lock = threading.Lock()
        # dulwich's pack cache is not safe across threads: two threads rescanning it at once
        # may both open a new pack (one copy is never closed), and one may close a pack that
        # vanished while another still reads it. Packs now come and go at every flush.
        self._read_lock = threading.RLock()
        self._new_loose_refs = 0  # loose refs this store created since it last maintained
        self._wrote = False  # objects or refs written (or git run) here: see maintain_at_exit
        # The last pack written here: (its path without extension, its objects)
        self._open_pack: tuple[str, PackBuilder] | None = None
        self._config_cache: tuple[list[object], list[Any]] | None = None
        self._cruft_checked = False  # see _keep_unreachable_packed

    # -- lifecycle -------------------------------------------------------------------
    @property
    def fsync(self) -> bool:
        """Whether writes (objects, packs, refs) are synced to disk before they count."""
        if not isinstance(self._fsync, bool):
            self._fsync = bool(self._fsync(self))
        return self._fsync

    @fsync.setter
    def fsync(self, value: bool) -> None:
        self._fsync = value

    @property
    def dulwich(self) -> Repo:
        """The dulwich ``Repo`` (opened on first use) for what needs more than objects:
        transports, ignore rules, ref removal. Reads of objects share its object store
        once it is open."""
        if self._repo is None:
            from dulwich.errors import NotGitRepository
            from dulwich.repo import Repo

            with self._read_lock:  # one Repo even when two threads ask at once
                if self._repo is None:
                    try:
                        self._repo = Repo(str(self.root))
                    except NotGitRepository as e:
                        raise RepositoryError(f"{self.root} is not a git repository") from e
                    if self._reader is not None:
                        self._reader.close()
                        self._reader = None
        return self._repo

    def _objects_for_reads(self) -> BaseObjectStore:
        """The object store reads go through (call with ``_read_lock`` held): the open
        ``Repo``'s, else one on ``objects/`` alone. Opening a ``Repo`` also imports and
        parses its config, refs and hooks machinery (~20 ms a process), which a command
        that only reads a run never uses."""
        if self._repo is not None:
            return self._repo.object_store
        if self._reader is None:
            from dulwich.object_store import DiskObjectStore

            self._reader = DiskObjectStore(self._objects)
        return self._reader

    def close(self) -> None:
        with self._read_lock:
            if self._repo is not None:
                self._repo.close()
                self._repo = None
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def __del__(self) -> None:
        # A store dropped without close() (``RunStore(repo).load(rid)``, a one-off read)
        # releases the pack files its reads opened rather than leaving them to warn.
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> GitStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing objects -----------------------------------------------------------------
    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Objects this thread writes inside the block are stored when it ends: together as
        one pack from :data:`PACK_MIN_OBJECTS` on (two files instead of one per object),
        else loose. Point a ref at them only after the block; an error inside stores
        nothing. Nested blocks join the outer one."""
        local = self._local
        if getattr(local, "batch", None) is not None:
            yield
            return
        batch: dict[str, tuple[bytes, bytes]] = {}
        local.batch = batch
        try:
            yield
        finally:
            local.batch = None
        self._store_batch(batch)

    def _store_batch(self, batch: dict[str, tuple[bytes, bytes]]) -> None:
        """Store a flush's objects: in this store's open pack, or loose when they are few
        or a maintenance is repacking.

        The open pack is the last pack this store wrote: the new objects are written with
        its objects as one new pack and the old one is removed (every object of it is in
        the new one, git's rule for removing a pack), so a process adds about one pack
        per :data:`ROLL_MAX_OBJECTS` objects instead of one per flush, and maintenance
        seldom has packs to merge. While a maintenance repacks, it may be reading the open
        pack: it stays, and the flush's objects go loose (the next maintenance packs them)
        rather than into one more small pack each.
        """
        if len(batch) < PACK_MIN_OBJECTS or maintain.repacking(self.common_dir):
            for hexsha, (type_name, body) in batch.items():
                self._store_loose(hexsha, type_name, body)
            self._mark_fresh(batch)
            return
        pack_dir = os.path.join(self._objects, "pack")
        with self._pack_lock:
            previous = self._open_pack
            builder = PackBuilder()
            if previous is not None:
                size = sum(len(body) for _, body in batch.values())
                if (
                    len(previous[1]) + len(batch) <= ROLL_MAX_OBJECTS
                    and previous[1].size + size <= ROLL_MAX_BYTES
                ):
                    builder = previous[1].copy()
                else:
                    previous = None
            for hexsha, (type_name, body) in batch.items():
                builder.add(hexsha, type_name, body)
            try:
                base = write_pack(pack_dir, builder, fsync=self.fsync)
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StorageError(f"no space left to write to {self.objects_dir}") from e
                raise StorageError(f"cannot write a pack into {self.objects_dir}: {e}") from e
            if previous is not None and previous[0] != base:
                remove_pack(previous[0])
            self._open_pack = (base, builder)
        self._mark_fresh(batch)

    def _mark_fresh(self, shas: Iterable[str]) -> None:
        fresh = self._fresh
        if len(fresh) > MAX_FRESH:  # a long-lived process: forget, objects get re-checked
            fresh.clear()
        now = time.monotonic()
        for sha in shas:
            fresh[sha] = now

    def _write_raw(self, type_name: bytes, body: bytes) -> str:
        self._wrote = True
        from hashlib import sha1  # (here: a command that writes nothing never loads OpenSSL)

        header = type_name + b" " + str(len(body)).encode() + b"\0"
        sha = sha1(header)
        sha.update(body)
        hexsha = sha.hexdigest()
        # Written or freshened by this store a moment ago: present, and fresh for any prune.
        if time.monotonic() - self._fresh.get(hexsha, -FRESH_SECONDS) < FRESH_SECONDS:
            return hexsha
        batch = getattr(self._local, "batch", None)
        if batch is None or len(body) > MAX_BATCHED_OBJECT:
            self._store_loose(hexsha, type_name, body)
            self._mark_fresh((hexsha,))
        else:  # held for the pack: a copy already on disk is not looked for (one more
            # copy in a new pack is as fresh as git's refreshed mtime)
            batch[hexsha] = (type_name, body)
        return hexsha

    def _freshen_loose(self, hexsha: str) -> bool:
        """Whether ``hexsha`` is present as a loose object; its time is refreshed, as C git
        does, so a concurrent ``git gc`` does not prune an old unreachable copy that a ref
        is about to point at again."""
        try:
            os.utime(os.path.join(self._objects, hexsha[:2], hexsha[2:]))
        except FileNotFoundError:
            return False
        except OSError:  # read-only object (another owner): present all the same
            pass
        self._mark_fresh((hexsha,))
        return True

    def _store_loose(self, hexsha: str, type_name: bytes, body: bytes) -> None:
        if self._freshen_loose(hexsha):
            return
        directory = os.path.join(self._objects, hexsha[:2])
        path = os.path.join(directory, hexsha[2:])
        if hexsha[:2] not in self._known_dirs:
            os.makedirs(directory, exist_ok=True)
            self._known_dirs.add(hexsha[:2])
        header = type_name + b" " + str(len(body)).encode() + b"\0"
        compressor = zlib.compressobj(1)
        data = compressor.compress(header) + compressor.compress(body) + compressor.flush()
        tmp = os.path.join(directory, f"tmp_obj_{os.getpid()}_{os.urandom(4).hex()}")
        fsync = self.fsync  # (a setting read now may fail: before any file exists)
        try:
            fd = _create_in(directory, tmp)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageError(f"no space left to write to {self.objects_dir}") from e
            raise StorageError(f"cannot write object into {self.objects_dir}: {e}") from e

    def write_blob(self, data: bytes) -> str:
        """Store ``data`` as a blob; return its sha."""
        return self._write_raw(b"blob", data)

    def write_tree(self, entries: Mapping[bytes, tuple[int, str]]) -> str:
        """Store a tree of ``{name: (mode, sha)}``; return its sha."""
        items = sorted(
            ((name, mode, sha) for name, (mode, sha) in entries.items()), key=_tree_sort_key
        )
        body = b"".join(b"%o %s\0" % (mode, name) + bytes.fromhex(sha) for name, mode, sha in items)
        return self._write_raw(b"tree", body)

    def write_commit(
        self,
        *,
        tree: str,
        parents: list[str],
        author: Identity,
        author_time: int,
        commit_time: int,
        message: str,
    ) -> str:
        """Store a commit (times in epoch seconds, UTC); return its sha."""
        lines = [f"tree {tree}"]
        lines += [f"parent {p}" for p in parents]
        who = f"{author.name} <{author.email}>"
        lines.append(f"author {who} {author_time} +0000")
        lines.append(f"committer {who} {commit_time} +0000")
        body = ("\n".join(lines) + "\n\n" + message).encode("utf-8")
        return self._write_raw(b"commit", body)

    # -- reading objects -----------------------------------------------------------------
    def _lookup(self, sha: str) -> Any:
        """The dulwich object ``sha`` (KeyError when absent).

        Looked up twice before giving up: a background repack may move an object from a
        loose file into a new pack between dulwich's pack lookup and its loose lookup; the
        second lookup rescans the packs. An object this thread holds back for a pack is
        read from memory.
        """
        pending = getattr(self._local, "batch", None)
        if pending and sha in pending:
            from dulwich.objects import ShaFile

            type_name, body = pending[sha]
            return ShaFile.from_raw_string(TYPE_NUMS[type_name], body, sha=_oid(sha))
        with self._read_lock:
            store = self._objects_for_reads()
            try:
                return store[_oid(sha)]
            except KeyError:
                return store[_oid(sha)]

    def read_object(self, sha: str) -> tuple[bytes, bytes]:
        """Return (type_name, raw body) of an object."""
        try:
            obj = self._lookup(sha)
        except KeyError as e:
            raise CorruptRunError(f"object {sha[:12]} is missing from the repository") from e
        except Exception as e:  # zlib / pack errors from a damaged object
            raise CorruptRunError(f"object {sha[:12]} cannot be read: {e}") from e
        return obj.type_name, obj.as_raw_string()

    def read_blob(self, sha: str) -> bytes:
        type_name, body = self.read_object(sha)
        if type_name != b"blob":
            raise CorruptRunError(f"object {sha[:12]} is a {type_name.decode()}, not a file")
        return body

    def read_tree(self, sha: str) -> dict[bytes, tuple[int, str]]:
        """Return ``{name: (mode, sha)}`` of a tree."""
        try:
            obj = self._lookup(sha)
        except KeyError as e:
            raise CorruptRunError(f"tree {sha[:12]} is missing from the repository") from e
        if obj.type_name != b"tree":
            raise CorruptRunError(f"object {sha[:12]} is not a tree")
        return {e.path: (e.mode, e.sha.decode("ascii")) for e in obj.iteritems()}

    def read_commit(self, sha: str) -> Any:
        """Return the dulwich ``Commit`` object for ``sha``."""
        try:
            obj = self._lookup(sha)
        except KeyError as e:
            raise CorruptRunError(f"commit {sha[:12]} is missing from the repository") from e
        if obj.type_name != b"commit":
            raise CorruptRunError(f"object {sha[:12]} is not a commit")
        return obj

    def has_object(self, sha: str) -> bool:
        pending = getattr(self._local, "batch", None)
        if pending and sha in pending:
            return True
        with self._read_lock:
            return _oid(sha) in self._objects_for_reads()

    def objects_with_prefix(self, prefix: str, limit: int = 64) -> list[str]:
        """Ids of objects (reachable or not, loose or packed) starting with the lowercase
        hex ``prefix``; at most ``limit`` of them."""
        found: list[str] = []
        with self._read_lock:
            for sha in self._objects_for_reads().iter_prefix(prefix.encode("ascii")):
                found.append(sha.decode("ascii") if isinstance(sha, bytes) else str(sha))
                if len(found) >= limit:
                    break
        return found

    def lookup_path(self, tree: str, path: str) -> tuple[int, str] | None:
        """Return (mode, sha) of ``path`` inside ``tree`` or None."""
        current: tuple[int, str] = (MODE_TREE, tree)
        for part in path.strip("/").split("/"):
            if current[0] != MODE_TREE:
                return None
            entries = self.read_tree(current[1])
            found = entries.get(part.encode("utf-8"))
            if found is None:
                return None
            current = found
        return current

    def iter_tree_files(self, tree: str, prefix: str = "") -> Iterator[tuple[str, int, str]]:
        """Yield (path, mode, sha) for every non-tree entry below ``tree``."""
        for name, (mode, sha) in sorted(self.read_tree(tree).items()):
            path = prefix + name.decode("utf-8", "surrogateescape")
            if mode == MODE_TREE:
                yield from self.iter_tree_files(sha, path + "/")
            else:
                yield path, mode, sha

    # -- refs ----------------------------------------------------------------------------
    def read_ref(self, name: str) -> str | None:
        return refs_mod.read_ref(self.common_dir, name)

    def list_refs(self, prefix: str) -> dict[str, str]:
        return refs_mod.list_refs(self.common_dir, prefix)

    def update_ref(self, name: str, new: str, expected: str | None) -> None:
        """Compare-and-swap a ref; raises ``refs.RefConflict`` when it moved."""
        self._wrote = True
        refs_mod.update_ref(self.common_dir, name, new, expected, fsync=self.fsync)
        if expected is None:
            self._new_loose_refs += 1

    def create_refs(self, new: dict[str, str]) -> set[str]:
        """Create the refs of ``new`` that do not exist yet, in one ``packed-refs`` write;
        return the names created (see :func:`refs.create_packed_refs`)."""
        self._wrote = True
        return refs_mod.create_packed_refs(self.common_dir, new, fsync=self.fsync)

    def delete_ref(self, name: str, expected: str) -> bool:
        """Delete a ref (loose and packed) if it still holds ``expected``."""
        self._wrote = True
        from dulwich.file import FileLocked

        for _ in range(200):
            try:
                return bool(self.dulwich.refs.remove_if_equals(_oid(name), _oid(expected)))
            except FileLocked:  # another writer holds packed-refs.lock: wait briefly
                time.sleep(0.01)
            except OSError as e:  # a read-only repository, a full disk ...
                raise StorageError(f"cannot delete {name}: {e.strerror}") from e
        raise StorageError(f"cannot delete {name}: it stays locked by another process")

    def head_commit(self) -> str | None:
        """The commit HEAD points at, or None on an unborn branch."""
        head = self.git_dir / "HEAD"
        try:
            # a branch name is bytes to git: one that is not UTF-8 is read as os paths are
            text = head.read_bytes().decode("utf-8", "surrogateescape").strip()
        except FileNotFoundError as e:
            raise RepositoryError(f"{self.git_dir} has no HEAD") from e
        if text.startswith("ref: "):
            return refs_mod.read_ref(self.common_dir, text[5:])
        return text if len(text) == 40 else None

    def head_branch(self) -> str | None:
        """The branch HEAD is on (None when detached), as text a run can store: bytes of
        its name that are not UTF-8 are shown as ``\\xNN``."""
        text = (self.git_dir / "HEAD").read_bytes().decode("utf-8", "backslashreplace").strip()
        if text.startswith("ref: refs/heads/"):
            return text[len("ref: refs/heads/") :]
        return None

    def config_value(self, section: str, key: str, subsection: str | None = None) -> str | None:
        """Read ``section.key`` (``section.subsection.key``) from repository, then global,
        config (None if unset)."""
        return _config_in(self._configs(), section, key, subsection)

    def config_mentions(self, *words: bytes) -> bool:
        """Whether a config file git reads here (repository, global, system) holds one of
        ``words`` (lowercase; the files are compared in lowercase): that a setting is
        absent, known without parsing any file."""
        for path in _config_files(self.common_dir):
            try:
                with open(path, "rb") as f:
                    text = f.read().lower()
            except OSError:
                continue
            if any(word in text for word in words):
                return True
        return False

    def _configs(self) -> list[Any]:
        """Parsed config files, re-read only when one of them changed."""
        files = _config_files(self.common_dir)
        key: list[object] = []
        for path in files:
            try:
                st = os.stat(path)
                key.append((path, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                key.append((path, None))
        if self._config_cache is not None and self._config_cache[0] == key:
            return self._config_cache[1]
        from dulwich.config import ConfigFile, StackedConfig

        configs: list[Any] = []
        try:
            configs.append(ConfigFile.from_path(files[0]))
        except (FileNotFoundError, OSError):
            pass
        try:
            configs.extend(StackedConfig.default_backends())
        except Exception:  # a broken global config must not stop tracking
            pass
        self._config_cache = (key, configs)
        return configs

    # -- keeping the repository packed ------------------------------------------------
    def auto_maintain(self, *, at_exit: bool = False) -> subprocess.Popen[bytes] | None:
        """Start :mod:`gittrack.store.maintain` in the background once loose objects or
        packs pile up.

        What git does after a commit, at the cost of two small directory listings: the
        loose objects are estimated from one fan-out directory (``objects/17``) against a
        quarter of git's ``gc.auto`` (6700 unless configured; 0 turns it off), and the
        packs are counted against half of ``gc.autoPackLimit`` (50 unless configured), so
        git's own ``gc --auto``, which repacks everything, has nothing to do. Returns the
        process started, or None (below the thresholds, one already running, no way to
        start it). A store that created :data:`maintain.LOOSE_REFS_TO_PACK` refs (one per
        run, 4 KiB on disk each) starts one that packs only them; ``at_exit`` (see
        :meth:`maintain_at_exit`), from :data:`maintain.EXIT_REFS_TO_PACK` refs on, one
        that packs the objects too.
        """
        refs_to_pack = maintain.EXIT_REFS_TO_PACK if at_exit else maintain.LOOSE_REFS_TO_PACK
        configs = self._configs()
        self._keep_unreachable_packed(configs)
        threshold = _int_config(configs, "gc", "auto", GC_AUTO_DEFAULT) // 4
        if threshold <= 0:
            return None
        pack_limit = _int_config(configs, "gc", "autoPackLimit", GC_AUTO_PACK_LIMIT_DEFAULT)
        refs = self._new_loose_refs >= refs_to_pack
        # Only refs to pack: no repack (seconds of delta search), except as a process ends.
        repack = (refs and at_exit) or self._loose_over(threshold)
        repack = repack or self._packs_over(pack_limit // 2)
        if not refs and not repack:
            return None
        try:
            lock_fd = maintain.try_lock(self.common_dir)  # handed over: held from now on
        except OSError as e:
            log.debug("gittrack: cannot lock repository maintenance: %s", e)
            return None
        if lock_fd is None:
            return None  # one is running
        # Kept until they end: a Popen collected while its process runs warns (ResourceWarning).
        _MAINTENANCE[:] = [p for p in _MAINTENANCE if p.poll() is None]
        try:
            proc = subprocess.Popen(
                # The module needs only the standard library: -I -S skip site-packages
                # and their start-up hooks (a third of the interpreter's start).
                [
                    sys.executable,
                    "-I",
                    "-S",
                    maintain.__file__,
                    str(self.common_dir),
                    str(lock_fd),
                    str(refs_to_pack),
                    "repack" if repack else "refs",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(lock_fd,),
                start_new_session=True,  # not the user's Ctrl-C; outlives a short script
            )
        except OSError as e:
            log.debug("gittrack: cannot start repository maintenance: %s", e)
            return None
        finally:
            os.close(lock_fd)  # the child holds the lock now (or nobody, if it did not start)
        self._new_loose_refs = 0
        _MAINTENANCE.append(proc)
        return proc

    def _keep_unreachable_packed(self, configs: list[Any]) -> None:
        """Set ``gc.cruftPacks = true`` in the repository's config (git's default since
        2.40) unless some config sets it. Each run leaves a replaced state (about 5
        objects) unreachable; git 2.37-2.39's ``git gc`` would write every such object
        younger than two weeks as a loose file (1,500 files for 300 runs), and its
        ``gc --auto`` would then start again after every commit. With cruft packs they go
        into one pack, pruned by the same expiry. Looked at once per store; C git writes
        the config (with its own locking)."""
        if self._cruft_checked:
            return
        self._cruft_checked = True
        if _config_in(configs, "gc", "cruftPacks") is not None:
            return  # the user's choice: repository, global or system config (see _configs)
        try:
            self.run_git("config", "--local", "gc.cruftPacks", "true")
        except RepositoryError as e:
            log.debug("gittrack: cannot set gc.cruftPacks: %s", e)

    def maintain_at_exit(self) -> subprocess.Popen[bytes] | None:
        """At the end of a process: what :meth:`auto_maintain` does, and also pack the refs
        once this process created :data:`maintain.EXIT_REFS_TO_PACK` of them since its
        last maintenance, so a sweep leaves its last runs packed too (what git's
        ``gc --auto`` after a command would leave). Nothing when the process wrote nothing
        into this repository through this store (as git runs ``gc --auto`` after commands
        that write): a read-only command reads no config at its end."""
        if not self._wrote:
            return None
        return self.auto_maintain(at_exit=True)

    def _loose_over(self, threshold: int) -> bool:
        """Whether the loose objects, estimated from ``objects/17``, exceed ``threshold``."""
        try:
            with os.scandir(os.path.join(self._objects, "17")) as fanout:
                loose = sum(1 for e in fanout if len(e.name) == 38)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return loose > (threshold + 255) // 256

    def _packs_over(self, limit: int) -> bool:
        """Whether there are more than ``limit`` packs (``limit`` <= 0: never)."""
        if limit <= 0:
            return False
        try:
            with os.scandir(os.path.join(self._objects, "pack")) as entries:
                packs = sum(1 for e in entries if e.name.endswith(".pack"))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return packs > limit

    def run_git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run C git in this repository (used only where C git is the right tool)."""
        self._wrote = True  # (it may write: counted as a write for maintenance)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.work_tree or self.git_dir,
                env=full_env,
                capture_output=True,
                check=False,
            )
        except FileNotFoundError as e:
            raise RepositoryError("this needs the git command, which is not installed") from e
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RepositoryError(f"git {args[0]} failed: {err[-1] if err else proc.returncode}")
        return proc.stdout.decode("utf-8", "surrogateescape")


def _config_files(common_dir: Path) -> list[str]:
    """The config files git reads in a repository, as dulwich finds the global and system
    ones: the repository's, ``GIT_CONFIG_GLOBAL`` or ``~/.gitconfig`` and the XDG one, then
    ``GIT_CONFIG_SYSTEM`` or ``/etc/gitconfig`` (none with ``GIT_CONFIG_NOSYSTEM``)."""
    files = [str(common_dir / "config")]
    if "GIT_CONFIG_GLOBAL" in os.environ:
        files.append(os.environ["GIT_CONFIG_GLOBAL"])
    else:
        home = os.path.expanduser("~")
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        files += [os.path.join(home, ".gitconfig"), os.path.join(xdg, "git", "config")]
    if "GIT_CONFIG_SYSTEM" in os.environ:
        files.append(os.environ["GIT_CONFIG_SYSTEM"])
    elif "GIT_CONFIG_NOSYSTEM" not in os.environ:
        files.append("/etc/gitconfig")
    return files


def _config_in(
    configs: list[Any], section: str, key: str, subsection: str | None = None
) -> str | None:
    """``section.key`` (``section.subsection.key``) from the first of the parsed ``configs``
    that sets it."""
    name = (section.encode(),) if subsection is None else (section.encode(), subsection.encode())
    for cfg in configs:
        try:
            value = cfg.get(name, key.encode())
        except KeyError:
            continue
        return bytes(value).decode("utf-8", "replace")
    return None


def _int_config(configs: list[Any], section: str, key: str, default: int) -> int:
    value = _config_in(configs, section, key)
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class TreeBuilder:
    """Builds nested trees from ``{path: (mode, sha)}`` and writes them bottom-up."""

    def __init__(self, store: GitStore) -> None:
        self.store = store

    def write(self, files: Mapping[str, tuple[int, str]]) -> str:
        return self.write_with_root(files)[0]

    def write_with_root(
        self, files: Mapping[str, tuple[int, str]]
    ) -> tuple[str, dict[bytes, tuple[int, str]]]:
        """Write the trees; return the root's sha and its entries."""
        root: dict[bytes, Any] = {}
        for path, (mode, sha) in files.items():
            parts = path.encode("utf-8", "surrogateescape").split(b"/")
            node = root
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):  # a file and a directory of one name
                    child = node[part] = {}
                node = child
            node[parts[-1]] = (mode, sha)
        return self._write_node(root)

    def _write_node(self, node: dict[bytes, Any]) -> tuple[str, dict[bytes, tuple[int, str]]]:
        entries: dict[bytes, tuple[int, str]] = {}
        for name, value in node.items():
            if isinstance(value, dict):
                entries[name] = (MODE_TREE, self._write_node(value)[0])
            else:
                entries[name] = value
        return self.store.write_tree(entries), entries
