"""Where runs are stored and the settings that shape how they are written.

The tracking repository is, in order: the ``repo`` argument, ``GITTRACK_REPO``, the git
repository enclosing the current directory, and outside any repository an embedded bare
repository ``./.gittrack-runs`` (created on first use, announced once on stderr), just as
MLflow falls back to ``./mlruns``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from gittrack.errors import RepositoryError, ValidationError
from gittrack.store import GitStore, find_repository_root, init_bare_repository

log = logging.getLogger("gittrack")

EMBEDDED_DIR = ".gittrack-runs"
DEFAULT_FLUSH_INTERVAL = 5.0
DEFAULT_HEARTBEAT_INTERVAL = 30.0
_announced: set[Path] = set()


@dataclass(frozen=True)
class Settings:
    """How runs are written (from env vars first, then git config ``gittrack.*``)."""

    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    include_untracked: bool = False
    fsync: bool = False


NO_REPOSITORY = (
    "not inside a git repository (and no .gittrack-runs here): no runs to read; "
    "cd into a repository or set GITTRACK_REPO"
)


def find_tracking_root(repo: str | os.PathLike[str] | None = None, *, create: bool) -> Path:
    """The root of the tracking repository (the one place that decides it).

    Outside any git repository the embedded ``./.gittrack-runs`` is used when it exists;
    it is created only when ``create`` (commands that record something), otherwise that
    is a :class:`RepositoryError` with the same one-line message everywhere.
    """
    explicit = repo if repo is not None else os.environ.get("GITTRACK_REPO") or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if str(path).startswith("file://"):
            path = Path(str(path)[len("file://") :])
        if not path.exists():
            raise RepositoryError(f"tracking repository {path} does not exist")
        root = find_repository_root(path)
        if root is None:
            raise RepositoryError(f"{path} is not inside a git repository (run 'git init' there)")
        return root
    root = find_repository_root(Path.cwd())
    if root is not None:
        return root
    embedded = Path.cwd() / EMBEDDED_DIR
    if not (embedded / "objects").is_dir():
        if not create:
            raise RepositoryError(NO_REPOSITORY)
        init_bare_repository(embedded)
    if embedded not in _announced:
        _announced.add(embedded)
        log.warning("gittrack: not inside a git repository; runs are stored in %s", embedded)
    return embedded


def _parse_bool(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValidationError(f"{name} must be true or false, got {text!r}")


def _parse_seconds(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(f"{name} must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise ValidationError(f"{name} must be positive, got {text!r}")
    return value


def load_settings(store: GitStore) -> Settings:
    """Read settings: ``GITTRACK_*`` env vars override ``gittrack.*`` git config."""

    def get(env: str, key: str) -> str | None:
        value = os.environ.get(env)
        return value if value is not None else store.config_value("gittrack", key)

    flush = get("GITTRACK_FLUSH_INTERVAL", "flushInterval")
    heartbeat = get("GITTRACK_HEARTBEAT_INTERVAL", "heartbeatInterval")
    untracked = get("GITTRACK_INCLUDE_UNTRACKED", "includeUntracked")
    fsync = get("GITTRACK_FSYNC", "fsync")
    return Settings(
        flush_interval=_parse_seconds(flush, "flush interval") if flush else DEFAULT_FLUSH_INTERVAL,
        heartbeat_interval=(
            _parse_seconds(heartbeat, "heartbeat interval")
            if heartbeat
            else DEFAULT_HEARTBEAT_INTERVAL
        ),
        include_untracked=_parse_bool(untracked, "includeUntracked") if untracked else False,
        fsync=_parse_bool(fsync, "fsync") if fsync else False,
    )
