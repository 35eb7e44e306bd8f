"""What a run records about where it ran: user, host, python, packages and command.

Only an allowlist of facts is captured (never environment variables), and command-line
values that look like credentials are masked before they are stored.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
import os
import platform
import re
import socket
import sys
from pathlib import Path
from typing import Any

_SECRET_OPTION = re.compile(
    r"(?i)^(--?[\w-]*(password|passwd|secret|token|api[-_]?key|access[-_]?key|credential)[\w-]*)(=.*)?$"
)
_SECRET_KV = re.compile(
    r"(?i)^([\w.-]*(password|passwd|secret|token|api[-_]?key|access[-_]?key|credential)[\w.-]*)=.+$"
)
_URL_CREDENTIALS = re.compile(r"(?i)(\w+://)([^/@\s:]+):([^/@\s]+)@")
MASK = "****"


def os_text(text: str) -> str:
    """Text from the OS (argv, paths) as unicode a run can store: bytes that are not UTF-8
    (Python's lone surrogates for them) are shown as ``\\xNN``, as Python shows bytes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate no byte stands for
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")


def mask_secrets(argv: list[str]) -> list[str]:
    """The argv a run records: values of secret-looking options (``--token X``,
    ``password=X``) replaced by ****, text that is not UTF-8 made storable (:func:`os_text`)."""
    masked: list[str] = []
    hide_next = False
    for arg in map(os_text, argv):
        if hide_next:
            masked.append(MASK)
            hide_next = False
            continue
        option = _SECRET_OPTION.match(arg)
        if option:
            if option.group(3):
                masked.append(option.group(1) + "=" + MASK)
            else:
                masked.append(arg)
                hide_next = True
            continue
        if _SECRET_KV.match(arg):
            masked.append(arg.split("=", 1)[0] + "=" + MASK)
            continue
        masked.append(_URL_CREDENTIALS.sub(rf"\1\2:{MASK}@", arg))
    return masked


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def current_host() -> str:
    return socket.gethostname()


@functools.lru_cache(maxsize=1)
def installed_packages() -> dict[str, str]:
    """``{distribution: version}`` of every installed distribution.

    Scanning distributions costs 50-800 ms, so the result is cached per process and on
    disk, keyed by the interpreter and the modification times of every ``sys.path``
    directory (installing or removing a package changes its directory's mtime).
    """
    key = _packages_cache_key()
    cache = _cache_dir() / f"packages-{key}.json"
    try:
        cached = json.loads(cache.read_text())
        if isinstance(cached, dict):
            return {str(k): str(v) for k, v in cached.items()}
    except (OSError, ValueError):
        pass
    packages = _scan_packages()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(packages))
        os.replace(tmp, cache)
    except OSError:  # a read-only home must not stop tracking
        pass
    return packages


def _packages_cache_key() -> str:
    parts = [sys.executable, sys.version]
    # sys.path[0] is the script's directory (or ''): it changes all the time and holds
    # no installed distributions worth invalidating for.
    for entry in sys.path[1:]:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gittrack"


def _scan_packages() -> dict[str, str]:
    from importlib import metadata

    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            packages[str(name).lower()] = str(dist.version)
    return dict(sorted(packages.items()))


@functools.lru_cache(maxsize=1)
def python_environment() -> dict[str, Any]:
    """Python version, implementation, platform and installed packages (do not mutate)."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "packages": installed_packages(),
    }


def command_info(work_tree: Path | None) -> dict[str, Any]:
    """The command this process runs: argv (secrets masked), script and cwd in the repo."""
    key = (os.getcwd(), tuple(sys.argv), work_tree)
    cached = _command_cache.get(key)
    if cached is None:
        cached = _command_cache[key] = _command_info(work_tree)
    return dict(cached)


_command_cache: dict[tuple[str, tuple[str, ...], Path | None], dict[str, Any]] = {}


def _command_info(work_tree: Path | None) -> dict[str, Any]:
    argv = mask_secrets([sys.executable.rsplit("/", 1)[-1], *sys.argv]) if sys.argv else []
    info: dict[str, Any] = {"argv": argv}
    cwd = Path.cwd()
    if work_tree is not None:
        try:
            info["cwd"] = os_text(cwd.resolve().relative_to(work_tree.resolve()).as_posix())
        except ValueError:
            pass
        script = sys.argv[0] if sys.argv else ""
        if script and script not in ("-c", "-m", "") and os.path.isfile(script):
            try:
                path = Path(script).resolve().relative_to(work_tree.resolve())
                info["script"] = os_text(path.as_posix())
            except ValueError:
                pass
    return info
