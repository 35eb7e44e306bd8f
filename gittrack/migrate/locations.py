"""Where a migration reads or writes on this machine: paths and ``file:`` URIs.

MLflow users name stores by URI (``file:///data/mlruns``, ``sqlite:///mlflow.db``,
``http://host:5000``); the commands that need a local directory take a ``file:`` URI as
its path and refuse other URIs with one line, rather than making a folder named
``sqlite:`` or ``http:`` in the working directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gittrack.errors import MigrationError

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def file_uri_path(text: str) -> str:
    """The path of a ``file:`` URI (percent-decoded); any other text unchanged."""
    if not text.startswith("file:"):
        return text
    from urllib.parse import unquote, urlparse

    return unquote(urlparse(text).path)


def local_directory(dest: str | os.PathLike[str], what: str, hint: str) -> Path:
    """``dest`` as a local directory path; a URI other than ``file:`` is a MigrationError
    naming ``what`` is written and ``hint`` (what to do instead)."""
    text = file_uri_path(os.fspath(dest))
    match = _URI.match(text)
    if match is not None and len(match.group(1)) > 1:  # "C:" is a Windows drive
        raise MigrationError(f"{what} is written to a local directory, not to {text!r}: {hint}")
    return Path(text).expanduser()
