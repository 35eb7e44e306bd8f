"""Optional authentication for a server reachable beyond this machine.

A bearer token (what the MLflow client sends for ``MLFLOW_TRACKING_TOKEN``) and/or HTTP
basic credentials (``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``), read from a
file or from the environment, never from the command line (where ``ps`` would show them).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gittrack.errors import ValidationError
from gittrack.web.http import Request

__all__ = ["PASSWORD_ENV", "TOKEN_ENV", "USERNAME_ENV", "Credentials", "load_credentials"]

TOKEN_ENV = "GITTRACK_SERVER_TOKEN"
USERNAME_ENV = "GITTRACK_SERVER_USERNAME"
PASSWORD_ENV = "GITTRACK_SERVER_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    """What a request must present: a bearer token, basic credentials, or either."""

    token: str | None = None
    username: str | None = None
    password: str | None = None

    @property
    def enabled(self) -> bool:
        return self.token is not None or self.username is not None

    def check(self, request: Request) -> bool:
        """Whether ``request`` carries valid credentials."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            return hmac.compare_digest(value.encode(), self.token.encode())
        if scheme.lower() == "basic" and self.username is not None:
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            ok = hmac.compare_digest(user.encode(), self.username.encode())
            ok &= hmac.compare_digest(password.encode(), (self.password or "").encode())
            return bool(sep) and ok
        return False

    def authenticator(self) -> Callable[[Request], bool] | None:
        return self.check if self.enabled else None


def _first_line(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(f"cannot read the {what} file {path}: {e.strerror}") from e
    line = text.splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise ValidationError(f"the {what} file {path} is empty")
    return line


def load_credentials(
    token_file: Path | None = None, basic_auth_file: Path | None = None
) -> Credentials:
    """Credentials from the files given (token; ``user:password``), else the environment."""
    token = _first_line(token_file, "token") if token_file else os.environ.get(TOKEN_ENV) or None
    username = password = None
    if basic_auth_file is not None:
        username, sep, password = _first_line(basic_auth_file, "basic auth").partition(":")
        if not sep or not username:
            raise ValidationError(
                f"the basic auth file {basic_auth_file} must hold one line 'user:password'"
            )
    elif os.environ.get(USERNAME_ENV):
        username = os.environ[USERNAME_ENV]
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            raise ValidationError(f"{USERNAME_ENV} is set but {PASSWORD_ENV} is empty")
    return Credentials(token=token, username=username, password=password)
