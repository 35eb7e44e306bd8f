"""Log, list, download and verify the artifacts of a run.

Small files (at most ``inline_max`` bytes, 64 KiB by default) are stored as git blobs
inside the run commit, at ``.gittrack/run/artifacts/<path>``, so a plain push carries them.
Larger files are streamed into the local object cache (:mod:`gittrack.artifacts.cas`) and
reach other machines through an artifact remote (or a path git remote). Every read
re-hashes the bytes and compares them with the manifest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gittrack import format as fmt
from gittrack.artifacts import paths
from gittrack.artifacts.cas import ObjectCache, discard
from gittrack.artifacts.manifest import ManifestEntry, read_manifest, set_entries_op
from gittrack.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    CorruptRunError,
    GittrackError,
    UnsafePathError,
    ValidationError,
)

if TYPE_CHECKING:
    from gittrack.runs import RunStore
    from gittrack.writer import RunWriter

log = logging.getLogger("gittrack")

DEFAULT_INLINE_MAX = 64 * 1024


@dataclass(frozen=True)
class FileInfo:
    """One entry of :func:`list_artifacts` (MLflow's ``FileInfo``)."""

    path: str
    is_dir: bool
    file_size: int | None


@dataclass(frozen=True)
class ArtifactListing:
    """One row of :meth:`Artifacts.listing`: a file (size, sha256, where it is stored:
    ``git`` or ``cache``) or a directory (``is_dir``, the rest None)."""

    path: str
    is_dir: bool
    size: int | None
    sha256: str | None
    stored: str | None

    @classmethod
    def of(cls, entry: ManifestEntry) -> ArtifactListing:
        return cls(entry.path, False, entry.size, entry.sha256, "git" if entry.blob else "cache")


@dataclass(frozen=True)
class VerifyResult:
    """The state of one artifact: ``ok``, ``corrupt`` or ``missing`` (not on this machine)."""

    run_id: str
    path: str
    status: str
    detail: str = ""


def _what(run_id: str, path: str) -> str:
    return f"artifact {path!r} of run {run_id[:12]}"


class Artifacts:
    """The artifacts of one tracking repository."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs
        self.cache = ObjectCache(
            runs.git.common_dir / "gittrack" / "objects", fsync=runs.settings.fsync
        )

    @property
    def inline_max(self) -> int:
        """Largest file stored inside git (env GITTRACK_ARTIFACT_INLINE_MAX, git config
        gittrack.artifactInlineMax; 0 keeps every artifact out of git)."""
        text = os.environ.get("GITTRACK_ARTIFACT_INLINE_MAX")
        if text is None:
            text = self.runs.git.config_value("gittrack", "artifactInlineMax")
        if text is None or not text.strip():
            return DEFAULT_INLINE_MAX
        units = {"k": 1024, "m": 1024**2}
        raw = text.strip().lower()
        factor = units.get(raw[-1], 1)
        try:
            value = int(raw[:-1] if raw[-1] in units else raw) * factor
        except ValueError:
            raise ValidationError(
                f"gittrack.artifactInlineMax must be a size in bytes (e.g. 65536 or 64k), "
                f"got {text!r}"
            ) from None
        return max(value, 0)

    # -- logging ----------------------------------------------------------------------
    def store_file(self, src: Path, artifact_path: str) -> ManifestEntry:
        """Store one file's bytes (inline blob or cache object) and describe it."""
        try:
            st = os.stat(src)
        except OSError as e:
            raise ArtifactError(f"cannot read {src}: {e.strerror}") from e
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(f"{src} is not a regular file")
        mode = fmt.MODE_EXEC_TEXT if st.st_mode & 0o111 else fmt.MODE_FILE_TEXT
        limit = self.inline_max
        if st.st_size <= limit and not _git_special(artifact_path):
            try:
                with open(src, "rb") as f:
                    data = f.read(limit + 1)
            except OSError as e:
                raise ArtifactError(f"cannot read {src}: {e.strerror}") from e
            if len(data) <= limit:
                return self._inline(data, artifact_path, mode)
        stored = self.cache.add_file(src)
        return ManifestEntry(artifact_path, stored.size, stored.sha256, mode)

    def store_bytes(self, data: bytes, artifact_path: str) -> ManifestEntry:
        """Store an in-memory payload (log_text / log_dict / log_figure)."""
        if len(data) <= self.inline_max and not _git_special(artifact_path):
            return self._inline(data, artifact_path, fmt.MODE_FILE_TEXT)
        stored = self.cache.add_bytes(data)
        return ManifestEntry(artifact_path, stored.size, stored.sha256, fmt.MODE_FILE_TEXT)

    def _inline(self, data: bytes, artifact_path: str, mode: str) -> ManifestEntry:
        blob = self.runs.git.write_blob(data)
        sha = hashlib.sha256(data).hexdigest()
        return ManifestEntry(artifact_path, len(data), sha, mode, blob)

    def record(self, writer: RunWriter, entries: list[ManifestEntry]) -> None:
        """Add entries (and their inline blobs) to the run; they land with its next flush."""
        if not entries:
            return
        _check_conflicts(writer, entries)
        writer.apply(set_entries_op(entries))
        blobs = {f"{fmt.ARTIFACT_BLOBS_DIR}/{e.path}": e.blob for e in entries if e.blob}
        for name, blob in blobs.items():
            writer.add_run_file(name, blob)
        # The bytes are stored already; the manifest entry is committed with the run's
        # next flush (at most flush_interval seconds away, and at the run's end), like
        # every other change. The writer keeps these files across concurrent updates.

    # -- reading ----------------------------------------------------------------------
    def manifest(self, run_id: str) -> dict[str, ManifestEntry]:
        """The checked manifest of a run (by full run id)."""
        return read_manifest(self.runs, self.runs.run_commit(run_id), f"run {run_id[:12]}")

    def list_files(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """Files and directories directly below ``path`` ('' or None: the top level)."""
        base = paths.clean_path(path or "", "artifact path", allow_empty=True)
        seen: dict[str, FileInfo] = {}
        for entry in self.manifest(run_id).values():
            if not base or entry.path.startswith(base + "/"):
                rest = entry.path[len(base) + 1 :] if base else entry.path
                head, sep, _ = rest.partition("/")
                full = paths.join(base, head)
                if sep:
                    seen.setdefault(full, FileInfo(full, True, None))
                else:
                    seen[full] = FileInfo(full, False, entry.size)
        return [seen[k] for k in sorted(seen)]

    def listing(
        self, run_id: str, path: str | None = None, *, recursive: bool = False
    ) -> list[ArtifactListing]:
        """What ``gittrack artifacts ls`` shows: the entries directly below ``path`` (or
        every file below it when ``recursive``), each with its digest and where its bytes
        are stored (``git``: inline in the run commit, ``cache``: the object cache and
        artifact remote; None for directories). A ``path`` naming a file lists that file;
        an unknown ``path`` is an ArtifactNotFoundError."""
        manifest = self.manifest(run_id)
        base = paths.clean_path(path or "", "artifact path", allow_empty=True)
        if recursive:
            chosen = [e for e in manifest.values() if paths.is_within(e.path, base)]
            return [ArtifactListing.of(e) for e in sorted(chosen, key=lambda e: e.path)]
        if base:
            self.select(run_id, base)  # an unknown path is an error, not an empty list
            if base in manifest:
                return [ArtifactListing.of(manifest[base])]
        out = []
        for info in self.list_files(run_id, base):
            found = manifest.get(info.path)
            if found is None:
                out.append(ArtifactListing(info.path, True, None, None, None))
            else:
                out.append(ArtifactListing.of(found))
        return out

    def select(self, run_id: str, path: str | None) -> tuple[str, list[ManifestEntry]]:
        """The entries at or below ``path``; (clean path, entries) or ArtifactNotFoundError."""
        base = paths.clean_path(path or "", "artifact path", allow_empty=True)
        manifest = self.manifest(run_id)
        if base in manifest:
            return base, [manifest[base]]
        chosen = [e for p, e in manifest.items() if paths.is_within(p, base)]
        if not chosen:
            if not base:
                raise ArtifactNotFoundError(f"run {run_id[:12]} has no artifacts")
            raise ArtifactNotFoundError(
                f"run {run_id[:12]} has no artifact {base!r} (see 'gittrack artifacts ls')"
            )
        return base, chosen

    def restore(self, run_id: str, path: str | None, dest: Path, *, force: bool = False) -> Path:
        """Write artifact ``path`` (a file or a directory) of a run to ``dest``.

        A file is written at ``dest`` itself; a directory's files are written below
        ``dest`` at their paths relative to ``path``. Existing different files are kept
        unless ``force``; nothing is written when any target is refused.
        """
        base, entries = self.select(run_id, path)
        single = len(entries) == 1 and entries[0].path == base
        if single:
            plan = [(entries[0], dest)]
        else:
            dest_root = dest
            plan = [
                (e, paths.safe_target(dest_root, _relative(e.path, base), create=False))
                for e in entries
            ]
        todo = [(e, t) for e, t in plan if self._needs_write(run_id, e, t, force)]
        if todo and not single:
            try:
                dest.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as e:
                raise ArtifactError(f"{dest} exists and is not a directory") from e
            except OSError as e:
                raise ArtifactError(f"cannot create {dest}: {e.strerror}") from e
        for entry, _ in todo:  # fetch what is missing before writing anything
            if entry.blob is None or self._inline_bytes(entry) is None:
                self.ensure_local(run_id, entry)
        for entry, target in todo:
            if not single:
                target = paths.safe_target(dest, _relative(entry.path, base), create=True)
            else:
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise ArtifactError(f"cannot create {target.parent}: {e.strerror}") from e
            self._write_entry(run_id, entry, target)
        return dest

    def download(
        self, run_id: str, path: str | None, dst: Path | None, *, force: bool = False
    ) -> Path:
        """MLflow's layout: artifact ``path`` lands at ``dst/path`` (``dst``: a new temp dir)."""
        root = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="gittrack-"))
        base = paths.clean_path(path or "", "artifact path", allow_empty=True)
        # a folder there is fine for a folder artifact (a file onto it is refused below)
        target = paths.safe_target(root, base, create=False, folder=True) if base else root
        if target.is_symlink() and not paths.inside(target, root):
            raise UnsafePathError(f"{target} is a symlink leading outside {root}; refusing it")
        self.restore(run_id, base, target, force=force)
        return target

    def write_to(self, run_id: str, entry: ManifestEntry, out: BinaryIO) -> None:
        """Stream one artifact, verified, to an open binary file (e.g. stdout).

        The hash is only known at the end: on a mismatch the bytes were already written
        and CorruptArtifactError is raised afterwards.
        """
        self._copy_verified(run_id, entry, out)

    def _needs_write(self, run_id: str, entry: ManifestEntry, target: Path, force: bool) -> bool:
        if not os.path.lexists(target):
            return True
        if target.is_file() and not target.is_symlink():
            try:
                same = target.stat().st_size == entry.size and _sha(target) == entry.sha256
            except OSError:
                same = False
            if same:
                return False
        elif target.is_dir() and not target.is_symlink():
            raise ArtifactError(
                f"{target} is a directory; cannot write {_what(run_id, entry.path)}"
            )
        if not force:
            raise ArtifactError(
                f"{target} exists and differs from {_what(run_id, entry.path)}; "
                "use --force (force=True) to overwrite it"
            )
        return True

    def _write_entry(self, run_id: str, entry: ManifestEntry, target: Path) -> None:
        what = _what(run_id, entry.path)
        tmp = target.parent / f".{target.name}.gittrack-tmp-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                self._copy_verified(run_id, entry, out)
            os.chmod(tmp, 0o755 if entry.mode == fmt.MODE_EXEC_TEXT else 0o644)
            os.replace(tmp, target)
        except OSError as e:
            discard(tmp)
            raise ArtifactError(f"cannot write {what} to {target}: {e.strerror}") from e
        except BaseException:
            discard(tmp)
            raise

    def _copy_verified(self, run_id: str, entry: ManifestEntry, out: BinaryIO) -> None:
        """Write the entry's bytes to ``out``, re-hashed; CorruptArtifactError on mismatch."""
        from gittrack.artifacts.cas import hash_stream

        what = _what(run_id, entry.path)
        data = self._inline_bytes(entry)
        if data is not None:
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise CorruptArtifactError(
                    f"{what} is corrupt: its git blob does not match the manifest's sha256"
                )
            out.write(data)
            return
        self.ensure_local(run_id, entry)
        with open(self.cache.path_for(entry.sha256), "rb") as f:
            sha, _ = hash_stream(f, out)
        if sha != entry.sha256:
            raise CorruptArtifactError(
                f"{what} is corrupt in the artifact cache (sha256 {sha[:12]}, expected "
                f"{entry.sha256[:12]}); delete {self.cache.path_for(entry.sha256)} and fetch it "
                "again"
            )

    def _inline_bytes(self, entry: ManifestEntry) -> bytes | None:
        if entry.blob is None:
            return None
        try:
            return self.runs.git.read_blob(entry.blob)
        except CorruptRunError:  # the blob did not travel: fall back to the object cache
            return None

    def ensure_local(self, run_id: str, entry: ManifestEntry) -> None:
        """Make an entry's object present in the cache, fetching it from a remote."""
        if self.cache.has(entry.sha256):
            return
        from gittrack.artifacts.remote import fetch_object, read_remotes

        remotes = read_remotes(self.runs)
        fetch_object(remotes, entry.sha256, self.cache, _what(run_id, entry.path))

    # -- verifying --------------------------------------------------------------------
    def verify(self, run_ids: list[str]) -> list[VerifyResult]:
        """Re-hash every artifact of the runs that is available on this machine."""
        results: list[VerifyResult] = []
        for run_id in run_ids:
            try:
                manifest = self.manifest(run_id)
            except GittrackError as e:
                results.append(VerifyResult(run_id, "", "corrupt", e.message))
                continue
            for entry in manifest.values():
                results.append(self._verify_entry(run_id, entry))
        return results

    def _verify_entry(self, run_id: str, entry: ManifestEntry) -> VerifyResult:
        data = self._inline_bytes(entry)
        if data is not None:
            ok = hashlib.sha256(data).hexdigest() == entry.sha256 and len(data) == entry.size
            return VerifyResult(
                run_id, entry.path, "ok" if ok else "corrupt", "" if ok else "git blob differs"
            )
        if not self.cache.has(entry.sha256):
            return VerifyResult(run_id, entry.path, "missing", "not in the local cache")
        try:
            self.cache.check(entry.sha256, _what(run_id, entry.path))
        except CorruptArtifactError:
            return VerifyResult(run_id, entry.path, "corrupt", "cache object differs")
        return VerifyResult(run_id, entry.path, "ok")


def _relative(path: str, base: str) -> str:
    return path[len(base) + 1 :] if base else path


def _sha(path: Path) -> str:
    from gittrack.artifacts.cas import hash_file

    return hash_file(path)[0]


def _git_special(path: str) -> bool:
    """Names C git's fsck inspects (``.gitmodules``, ``.git`` look-alikes) never ride
    inside git trees: such files stay in the object cache."""
    for part in path.split("/"):
        folded = paths.fold(part)
        if folded.startswith(".git") or folded.startswith("git~"):
            return True
    return False


def _check_conflicts(writer: RunWriter, entries: list[ManifestEntry]) -> None:
    existing = set(writer.record.artifacts)
    new = {e.path for e in entries}
    for path in new:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in existing or parent in new:
                raise ArtifactError(
                    f"artifact {parent!r} of run {writer.run_id[:12]} is a file; "
                    f"cannot log {path!r} below it"
                )
            parent = parent.rpartition("/")[0]
        if any(p.startswith(path + "/") for p in existing | new):
            raise ArtifactError(
                f"artifact {path!r} of run {writer.run_id[:12]} is a directory; "
                "log the file under another path"
            )


def collect_dir(local_dir: Path) -> list[tuple[Path, str]]:
    """Files below ``local_dir`` as (real source path, relative artifact path).

    Symlinks are followed only when they stay inside ``local_dir``; one leading outside
    raises UnsafePathError. Directory symlink loops are walked once.
    """
    root = Path(local_dir)
    if not root.is_dir():
        raise ArtifactError(f"{local_dir} is not a directory")
    real_root = os.path.realpath(root)
    found: list[tuple[Path, str]] = []
    seen = {real_root}
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        directory, rel = stack.pop()
        try:
            children = sorted(os.scandir(directory), key=lambda d: d.name)
        except OSError as e:
            raise ArtifactError(f"cannot read directory {directory}: {e.strerror}") from e
        for child in children:
            child_rel = paths.clean_path(paths.join(rel, child.name), "file name")
            real = os.path.realpath(child.path)
            if child.is_symlink() and not paths.inside(real, real_root):
                raise UnsafePathError(
                    f"{child.path} is a symlink leading outside {local_dir}; refusing to log it"
                )
            if os.path.isdir(real):
                if real not in seen:
                    seen.add(real)
                    stack.append((child.path, child_rel))
            elif os.path.isfile(real):
                found.append((Path(real), child_rel))
            elif child.is_symlink():
                raise ArtifactError(f"{child.path} is a broken symlink")
            else:
                log.warning("gittrack: skipping %s (not a regular file)", child.path)
    return sorted(found, key=lambda item: item[1])
