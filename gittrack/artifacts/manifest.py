"""The artifact manifest of a run: ``.gittrack/run/artifacts.yaml``.

``{path: {size, sha256, mode, blob?}}``: ``path`` is a clean relative POSIX path, ``sha256``
the digest of the bytes, ``mode`` ``"100644"`` or ``"100755"`` as in git trees, and ``blob``
(only for small files) the git blob stored at ``.gittrack/run/artifacts/<path>``. Manifests
can come from anywhere (a pulled run), so :func:`parse_manifest` checks every entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gittrack import format as fmt
from gittrack.artifacts.cas import is_sha256
from gittrack.artifacts.paths import clean_path
from gittrack.errors import CorruptArtifactError, CorruptRunError, UnsafePathError
from gittrack.format import MODE_EXEC_TEXT, MODE_FILE_TEXT

if TYPE_CHECKING:
    from gittrack.runs import RunStore
    from gittrack.writer import Operation

_GIT_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ManifestEntry:
    """One artifact file of a run."""

    path: str
    size: int
    sha256: str
    mode: str = MODE_FILE_TEXT
    blob: str | None = None

    @property
    def executable(self) -> bool:
        return self.mode == MODE_EXEC_TEXT

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"size": self.size, "sha256": self.sha256, "mode": self.mode}
        if self.blob:
            data["blob"] = self.blob
        return data


def parse_entry(path: object, raw: object, what: str) -> ManifestEntry:
    """Check one manifest entry; hostile or malformed entries raise, naming run and path."""
    if not isinstance(path, str):
        raise CorruptArtifactError(f"{what}: artifact manifest has a non-text path {path!r}")
    try:
        clean = clean_path(path, f"{what}: artifact path")
    except UnsafePathError as e:
        raise UnsafePathError(f"{e.message} (refusing this manifest entry)") from e
    if clean != path:
        raise UnsafePathError(f"{what}: artifact path {path!r} is not in normal form")
    if not isinstance(raw, dict):
        raise CorruptArtifactError(f"{what}: artifact {path!r} has a malformed manifest entry")
    size, sha, mode, blob = raw.get("size"), raw.get("sha256"), raw.get("mode"), raw.get("blob")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CorruptArtifactError(f"{what}: artifact {path!r} has a bad size {size!r}")
    if not is_sha256(sha):
        raise CorruptArtifactError(f"{what}: artifact {path!r} has a bad sha256 {sha!r}")
    mode_text = str(mode) if mode is not None else MODE_FILE_TEXT
    if mode_text not in (MODE_FILE_TEXT, MODE_EXEC_TEXT):
        raise CorruptArtifactError(f"{what}: artifact {path!r} has a bad mode {mode!r}")
    if blob is not None and not (isinstance(blob, str) and _GIT_SHA_RE.match(blob)):
        raise CorruptArtifactError(f"{what}: artifact {path!r} has a bad blob id {blob!r}")
    assert isinstance(sha, str)
    return ManifestEntry(path=path, size=size, sha256=sha, mode=mode_text, blob=blob)


def parse_manifest(raw: dict[str, Any], what: str) -> dict[str, ManifestEntry]:
    """Check a whole manifest (``record.artifacts``), path by path."""
    entries = {path: parse_entry(path, value, what) for path, value in raw.items()}
    paths = set(entries)
    for path in entries:  # "a" as a file and "a/b" below it cannot both be restored
        parent = path.rpartition("/")[0]
        while parent:
            if parent in paths:
                raise CorruptArtifactError(
                    f"{what}: artifact {parent!r} is both a file and a directory in the manifest"
                )
            parent = parent.rpartition("/")[0]
    return dict(sorted(entries.items()))


def read_manifest(runs: RunStore, commit: str, what: str) -> dict[str, ManifestEntry]:
    """The manifest stored at a run commit (reads only artifacts.yaml)."""
    from gittrack.store.repo import MODE_TREE

    tree = runs.git.read_commit(commit).tree.decode("ascii")
    entry = runs.git.lookup_path(tree, f"{fmt.RUN_DIR}/{fmt.ARTIFACTS_FILE}")
    if entry is None:
        return {}
    if entry[0] == MODE_TREE:
        raise CorruptRunError(f"{what}: {fmt.ARTIFACTS_FILE} is a directory")
    return manifest_from_bytes(runs.git.read_blob(entry[1]), what)


def manifest_from_bytes(text: bytes | None, what: str) -> dict[str, ManifestEntry]:
    """The checked manifest in the bytes of an artifacts.yaml (None: no such file)."""
    if text is None:
        return {}
    data = fmt.load_yaml(text, f"{what}: {fmt.ARTIFACTS_FILE}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CorruptArtifactError(f"{what}: {fmt.ARTIFACTS_FILE} does not hold a mapping")
    return parse_manifest(data, what)


def set_entries_op(entries: Iterable[ManifestEntry]) -> Operation:
    """A run operation adding (or replacing) manifest entries; replayed on conflicts."""
    items = [(e.path, e.to_yaml()) for e in entries]

    def op(record: fmt.RunRecord) -> None:
        artifacts = dict(record.artifacts)
        for path, data in items:
            # Logging "a" as a file replaces anything stored below "a/", and vice versa.
            for other in [p for p in artifacts if p.startswith(path + "/")]:
                del artifacts[other]
            parent = path.rpartition("/")[0]
            while parent:
                artifacts.pop(parent, None)
                parent = parent.rpartition("/")[0]
            artifacts[path] = dict(data)
        record.artifacts = dict(sorted(artifacts.items()))

    return op
