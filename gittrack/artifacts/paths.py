"""Artifact path confinement: every path is relative, clean and stays inside its root.

Paths come from users when logging and from manifests when restoring, and a manifest may
come from a tampered remote, so both sides go through :func:`clean_path`; restoring also
goes through :func:`safe_target`, which refuses to follow a symlink at the destination
that leads outside it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gittrack.errors import ArtifactError, UnsafePathError

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
# Names git refuses inside trees (fsck hasDotgit) and that would plant a repository.
_FORBIDDEN_PARTS = {".git", "git~1"}


# HFS+ ignores these characters in names and NTFS drops trailing dots and spaces, so
# ".g\u200cit" or ".git." would still land as ".git" on such file systems.
_HFS_IGNORED = dict.fromkeys(
    [0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


def fold(part: str) -> str:
    """A name as case-insensitive HFS+/NTFS file systems see it (for '.git' checks)."""
    return part.translate(_HFS_IGNORED).lower().rstrip(". ")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def clean_path(text: str, what: str = "artifact path", *, allow_empty: bool = False) -> str:
    """Return ``text`` as a clean relative POSIX path or raise UnsafePathError.

    Refused: absolute paths, drive letters, ``..``, backslashes, NUL and control
    characters, and ``.git`` components. ``a//b`` and ``./a`` are normalised.
    """
    if not isinstance(text, str):
        raise UnsafePathError(f"{what} must be a string, got {type(text).__name__}")
    if "\0" in text or any(ord(c) < 32 for c in text):
        raise UnsafePathError(f"{what} {_shown(text)} contains control characters")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a file name in another encoding (Latin-1 ...)
            raise UnsafePathError(
                f"{what} {_shown(text)} is not UTF-8 text (a name in another encoding?); rename it"
            ) from None
    if "\\" in text:
        raise UnsafePathError(f"{what} {_shown(text)} contains a backslash; use '/'")
    if text.startswith("/") or _DRIVE_RE.match(text):
        raise UnsafePathError(f"{what} {_shown(text)} is absolute; give a relative path")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise UnsafePathError(f"{what} {_shown(text)} contains '..'")
        if fold(part) in _FORBIDDEN_PARTS:
            raise UnsafePathError(f"{what} {_shown(text)} contains a '.git' component")
    if not parts and not allow_empty:
        raise UnsafePathError(f"{what} {_shown(text)} is empty")
    return "/".join(parts)


def join(prefix: str, name: str) -> str:
    """Join two clean relative paths ('' is the root)."""
    return f"{prefix}/{name}" if prefix and name else prefix or name


def is_within(path: str, base: str) -> bool:
    """True when artifact ``path`` is ``base`` itself or below it ('' contains everything)."""
    return not base or path == base or path.startswith(base + "/")


def safe_target(root: Path, rel: str, *, create: bool = True, folder: bool = False) -> Path:
    """Where artifact ``rel`` goes below ``root``, refusing symlinks that escape ``root``.

    With ``create``, makes missing parent directories. An existing symlink as the final
    component is allowed (it is replaced, never followed, by an atomic rename); an
    existing directory only when ``folder`` (``rel`` may name a directory of artifacts).
    """
    rel = clean_path(rel, "artifact path")
    real_root = os.path.realpath(root)
    current = Path(root)
    parts = rel.split("/")
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink():
            target = os.path.realpath(current)
            if not _inside(target, real_root):
                raise UnsafePathError(
                    f"{current} is a symlink leading outside {root}; refusing to write through it"
                )
        if current.exists() and not current.is_dir():
            raise ArtifactError(f"{current} exists and is not a directory; move it away first")
        if create and not current.exists():
            try:
                current.mkdir(mode=0o755)
            except FileExistsError:
                pass
            except OSError as e:
                raise ArtifactError(f"cannot create directory {current}: {e.strerror}") from e
    final = current / parts[-1]
    if final.is_dir() and not final.is_symlink() and not folder:
        raise ArtifactError(f"{final} is a directory; cannot write artifact {rel!r} there")
    return final


def _inside(path: str, real_root: str) -> bool:
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


def inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """True when the real path of ``path`` lies inside the real path of ``root``."""
    return _inside(os.path.realpath(path), os.path.realpath(root))
