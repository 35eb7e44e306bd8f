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
        path = Path(_file_uri_path(os.fspath(explicit))).expanduser()
        if not path.exists():
            raise RepositoryError(f"tracking repository {path} does not exist")
        root = find_repository_root(path)
        if root is None:
            raise RepositoryError(f"{path} is not inside a git repository (run 'git init' there)")
        return root
    root = find_repository_root(Path.cwd())
    if root is not None:
        return root
    return _embedded_repo(Path.cwd() / EMBEDDED_DIR, create=create)


def tracking_repository_at(uri: str | os.PathLike[str]) -> Path:
    """The repository a tracking URI (a path or ``file:`` URI) names, created when needed.

    A path inside a git repository (existing or not) names that repository; any other
    path is (or becomes) a bare tracking repository. Server and database URIs are refused.
    """
    from urllib.parse import urlparse

    text = os.fspath(uri)
    scheme = urlparse(text).scheme.lower() if "://" in text or text.startswith("file:") else ""
    text = _file_uri_path(text)
    if scheme in ("http", "https"):
        raise RepositoryError(
            f"tracking URI {text!r} is a server: gittrack records into a git repository "
            "(give a path); to log into 'gittrack server', use the official mlflow client "
            "with MLFLOW_TRACKING_URI set to it"
        )
    if scheme and scheme != "file" and len(scheme) > 1:  # "C:" is a Windows drive
        raise RepositoryError(
            f"tracking URI {text!r} is not supported: give a path or a file: URI "
            "of a git repository"
        )
    path = Path(text).expanduser().absolute()
    probe = path
    while not probe.exists():
        probe = probe.parent
    root = find_repository_root(probe)
    if root is not None:
        return root
    return _embedded_repo(path, create=True, chosen=True)


def _file_uri_path(text: str) -> str:
    """The path of a ``file:`` URI (``file:///a%20b``, ``file:./mlruns``); other text as is."""
    if not text.lower().startswith("file:"):
        return text
    from urllib.parse import unquote, urlparse

    parsed = urlparse(text)
    return unquote(parsed.path if parsed.netloc in ("", "localhost") else text[5:])


def _embedded_repo(path: Path, *, create: bool, chosen: bool = False) -> Path:
    """A bare tracking repository at ``path``; the fallback one (not ``chosen`` by a
    tracking URI) is announced once, as MLflow's fallback to ./mlruns is."""
    if not (path / "objects").is_dir():
        if not create:
            raise RepositoryError(NO_REPOSITORY)
        init_bare_repository(path)
    if not chosen and path not in _announced:
        _announced.add(path)
        log.warning("gittrack: not inside a git repository; runs are stored in %s", path)
    return path


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
