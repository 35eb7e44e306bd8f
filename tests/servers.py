"""Real network servers for tests, bound to 127.0.0.1 on a free port.

Every server runs in its own subprocess (in its own process group) and is stopped by pid:
SIGTERM (to its process group, so git daemon's per-connection children and running CGI
processes end too), wait up to 5 s, SIGKILL if it is still there. Readiness is
never awaited with a fixed sleep: the port / an HTTP endpoint is polled with a 10 s deadline
and a ``ServerStartError`` carrying the server's output is raised if it does not come up.
If the port picked by ``free_port()`` is stolen before the server binds it, the start is
retried on another port.

Pytest fixtures (function scope; conftest.py re-exports them)
------------------------------------------------------------
``git_daemon`` -> :class:`GitDaemon`
    ``git daemon --reuseaddr --base-path=<base> --export-all --enable=receive-pack`` serving
    ``<tmp_path>/git-daemon`` (created empty). ``.base: Path``, ``.port``, ``.pid``,
    ``.url_for(name) -> "git://127.0.0.1:PORT/name"``, ``.init_bare(name) -> Path`` (creates
    ``base/name`` as a bare repository), ``.output()`` (the daemon's stderr so far).

``http_git_server`` -> :class:`HttpGitServer`
    Smart HTTP: C git's ``git http-backend`` run as a CGI by a small threaded HTTP server
    (``python tests/servers.py http --root DIR --port N [--auth-file F]``), serving
    ``<tmp_path>/git-http``. Same ``.base``, ``.port``, ``.pid``, ``.init_bare(name)``,
    ``.output()``, plus ``.url_for(name, username=None, password=None)`` ->
    ``"http://[user:pass@]127.0.0.1:PORT/name"``. Receive-pack is enabled for every served
    repository (``http.receivepack=true`` is injected through ``GIT_CONFIG_COUNT``), so
    anonymous pushes work while auth is off. ``.set_auth(username, password)`` turns HTTP
    basic auth on (missing/wrong credentials -> 401 with ``WWW-Authenticate: Basic``) and
    ``.clear_auth()`` turns it off again; both take effect on the next request (the server
    re-reads a small JSON file, kept outside ``.base``, on every request). When auth is on,
    the CGI sees ``REMOTE_USER=<username>``.

``s3_server`` -> :class:`S3Server`
    ``python -m moto.server -H 127.0.0.1 -p PORT``; ``.endpoint_url``, ``.port``, ``.pid``,
    ``.output()``, ``.client()`` (a boto3 S3 client for the endpoint). Creates no buckets.
    The fixture also sets dummy credentials (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
    = ``testing``, ``AWS_DEFAULT_REGION=us-east-1``) and removes ``AWS_PROFILE``,
    ``AWS_ENDPOINT_URL*`` and similar variables, so code under test must pass
    ``endpoint_url`` itself. Skipped only when ``moto`` or ``boto3`` is not installed.

``GittrackServer(repo, *args, env=None)`` (no fixture)
    ``gittrack server --port N *args`` (the script beside this interpreter) with ``repo`` as
    its working directory; ``.url`` is ``http://127.0.0.1:PORT`` (an MLflow tracking URI).

Plain context managers
----------------------
``GitDaemon(base)``, ``HttpGitServer(base, auth=None)`` and ``S3Server()`` are the same objects
the fixtures yield; use them in ``with`` blocks to pick the base directory yourself, serve one
directory over both protocols, or check that the pid is gone after ``__exit__``. ``.stop()``
is idempotent. ``free_port()`` returns a currently free loopback TCP port and
``pid_alive(pid)`` tells whether a process still exists.

Example::

    def test_push(repo, git_daemon):
        git_daemon.init_bare("remote.git")
        git(repo, "push", git_daemon.url_for("remote.git"), "main")

Notes: git daemon resolves ``name`` to ``base/name`` and also tries ``base/name.git``;
http-backend does not add ``.git`` for you. Everything is loopback-only.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar

import pytest

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
START_ATTEMPTS = 3
HEALTH_PATH = "/_gittrack_test_server/health"

# Environment variables that would make the servers' git processes look at the wrong repo.
_REPO_ENV_VARS = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_PREFIX",
    }
)


class ServerStartError(RuntimeError):
    """A test server did not come up in time (the message includes its output)."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """True if a process (not yet reaped) with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def git_exec_path() -> Path:
    """Directory holding C git's helper programs (git-daemon, git-http-backend)."""
    out = subprocess.run(
        ["git", "--exec-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(out)


def _server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV_VARS}
    if extra:
        env.update(extra)
    return env


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            resp.read()
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError):
        return False


class _Server:
    """A subprocess server on 127.0.0.1:port, started on ``__enter__``/``start()``."""

    name = "server"
    stop_timeout = STOP_TIMEOUT

    def __init__(self) -> None:
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- subclass hooks -------------------------------------------------------------------
    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return _server_env()

    def _is_ready(self, port: int) -> bool:
        return _port_accepts(port)

    def _popen_kwargs(self) -> dict[str, Any]:
        return {"stdin": subprocess.DEVNULL}

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._proc.pid

    def output(self) -> str:
        """Everything the server wrote to stdout/stderr so far."""
        if self._log is None or self._log.closed:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError(f"{self.name} already started")
        failures: list[str] = []
        for _ in range(START_ATTEMPTS):
            port = free_port()
            ok, why = self._try_start(port)
            if ok:
                self.port = port
                return
            failures.append(why)
            if "in use" not in why.lower():  # only a stolen port is worth a retry
                break
        raise ServerStartError("\n\n".join(failures))

    def _try_start(self, port: int) -> tuple[bool, str]:
        cmd = self._command(port)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the server)
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,  # own process group: stragglers can be cleaned up
                **self._popen_kwargs(),
            )
        except OSError as exc:
            self.stop()
            return False, f"{self.name}: cannot run {' '.join(cmd)}: {exc}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._proc.poll() is None and self._is_ready(port):
                return True, ""
            try:
                # Doubles as the poll interval and as "did it die?".
                code = self._proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                if time.monotonic() < deadline:
                    continue
                status = f"not ready after {START_TIMEOUT:.0f} s"
            else:
                status = f"exited with code {code} before becoming ready"
            out = self.output()
            self.stop()
            return False, (
                f"{self.name} on {HOST}:{port} {status}\ncommand: {' '.join(cmd)}\n"
                f"output:\n{out or '(none)'}"
            )

    def stop(self) -> None:
        """Terminate the server by pid (SIGTERM, wait, SIGKILL); idempotent.

        SIGTERM goes to the server's process group (whose id is the server's pid), so
        children it forked (git daemon's per-connection processes, running CGIs) end too.
        The group is signalled while the leader is still unreaped, so its id cannot have
        been reused.
        """
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                with proc:  # closes the pipes we gave it and reaps it
                    if proc.poll() is None:
                        try:
                            os.killpg(proc.pid, signal.SIGTERM)
                        except (ProcessLookupError, PermissionError):
                            proc.terminate()
                        try:
                            proc.wait(timeout=self.stop_timeout)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait(timeout=STOP_TIMEOUT)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _GitServer(_Server):
    scheme = "git"

    def __init__(self, base: Path) -> None:
        super().__init__()
        self.base = Path(base).resolve()
        self.base.mkdir(parents=True, exist_ok=True)

    def url_for(self, name: str) -> str:
        return f"{self.scheme}://{HOST}:{self.port}/{name.lstrip('/')}"

    def init_bare(self, name: str) -> Path:
        """Create ``base/name`` as an empty bare repository and return its path."""
        path = self.base / name
        proc = subprocess.run(
            ["git", "init", "-q", "--bare", str(path)],
            capture_output=True,
            text=True,
            check=False,
            env=_server_env(),
        )
        if proc.returncode != 0:
            raise RuntimeError(f"git init --bare {path} failed: {proc.stderr}")
        return path


class GitDaemon(_GitServer):
    """``git daemon`` exporting every repository under ``base`` (push enabled)."""

    name = "git daemon"
    scheme = "git"

    def _command(self, port: int) -> list[str]:
        return [
            str(git_exec_path() / "git-daemon"),
            "--reuseaddr",
            f"--base-path={self.base}",
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
            f"--listen={HOST}",
            f"--port={port}",
            str(self.base),
        ]

    def __enter__(self) -> GitDaemon:
        self.start()
        return self


class HttpGitServer(_GitServer):
    """Smart HTTP (``git http-backend`` as CGI) for every repository under ``base``."""

    name = "git http server"
    scheme = "http"

    def __init__(self, base: Path, auth: tuple[str, str] | None = None) -> None:
        super().__init__(base)
        self._state = Path(tempfile.mkdtemp(prefix="gittrack-http-"))
        self.auth_file = self._state / "auth.json"
        if auth is not None:
            self.set_auth(*auth)

    def set_auth(self, username: str, password: str) -> None:
        """Require HTTP basic auth with these credentials from the next request on."""
        tmp = self.auth_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"username": username, "password": password}))
        os.replace(tmp, self.auth_file)

    def clear_auth(self) -> None:
        """Accept anonymous requests again."""
        self.auth_file.unlink(missing_ok=True)

    def url_for(self, name: str, username: str | None = None, password: str | None = None) -> str:
        userinfo = ""
        if username is not None:
            userinfo = urllib.parse.quote(username, safe="")
            if password is not None:
                userinfo += ":" + urllib.parse.quote(password, safe="")
            userinfo += "@"
        return f"http://{userinfo}{HOST}:{self.port}/{name.lstrip('/')}"

    def _command(self, port: int) -> list[str]:
        return [
            sys.executable,
            str(Path(__file__).resolve()),
            "http",
            "--root",
            str(self.base),
            "--port",
            str(port),
            "--auth-file",
            str(self.auth_file),
        ]

    def _popen_kwargs(self) -> dict[str, Any]:
        # The server exits when this pipe closes, so it cannot outlive a killed pytest.
        return {"stdin": subprocess.PIPE}

    def _is_ready(self, port: int) -> bool:
        return _http_ok(f"http://{HOST}:{port}{HEALTH_PATH}")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            shutil.rmtree(self._state, ignore_errors=True)

    def __enter__(self) -> HttpGitServer:
        self.start()
        return self


class S3Server(_Server):
    """moto's S3-compatible server (``python -m moto.server``); creates no buckets."""

    name = "moto server"
    env: ClassVar[dict[str, str]] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]

    def _env(self) -> dict[str, str]:
        return _server_env(self.env)

    def _is_ready(self, port: int) -> bool:
        return _http_ok(f"http://{HOST}:{port}/moto-api/data.json")

    def client(self) -> Any:
        """A boto3 S3 client talking to this server with the dummy credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
        )

    def __enter__(self) -> S3Server:
        self.start()
        return self


class GittrackServer(_Server):
    """``gittrack server`` (the script beside this interpreter) serving ``repo``.

    ``args`` are extra command-line options; ``env`` extra environment variables.
    ``.url`` is ``http://127.0.0.1:PORT`` (what ``MLFLOW_TRACKING_URI`` is set to).
    """

    name = "gittrack server"

    def __init__(self, repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.repo = Path(repo)
        self.args = list(args)
        self.extra_env = dict(env or {})

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _command(self, port: int) -> list[str]:
        script = Path(sys.executable).parent / "gittrack"
        return [str(script), "server", "--port", str(port), *self.args]

    def _env(self) -> dict[str, str]:
        return _server_env(self.extra_env)

    def _popen_kwargs(self) -> dict[str, Any]:
        return {"stdin": subprocess.DEVNULL, "cwd": str(self.repo)}

    def __enter__(self) -> GittrackServer:
        self.start()
        return self


# -- pytest fixtures ------------------------------------------------------------------------


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    """A running ``git daemon`` serving ``tmp_path/"git-daemon"`` (see module docstring)."""
    with GitDaemon(tmp_path / "git-daemon") as server:
        yield server


@pytest.fixture
def http_git_server(tmp_path: Path) -> Iterator[HttpGitServer]:
    """A running smart-HTTP git server serving ``tmp_path/"git-http"`` (auth off)."""
    with HttpGitServer(tmp_path / "git-http") as server:
        yield server


_AWS_VARS_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A running moto S3 server with dummy AWS credentials in the environment."""
    pytest.importorskip("moto")
    pytest.importorskip("boto3")
    for key in list(os.environ):
        if key in _AWS_VARS_TO_CLEAR or key.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(key)
    for key, value in S3Server.env.items():
        monkeypatch.setenv(key, value)
    with S3Server() as server:
        yield server


# -- the smart-HTTP server (runs in its own process: `python tests/servers.py http ...`) --------


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, root: Path, auth_file: Path) -> None:
        self.root = root
        self.auth_file = auth_file
        self.backend = str(git_exec_path() / "git-http-backend")
        super().__init__((HOST, port), _GitHTTPHandler)


def _cgi_config_env(base: dict[str, str], pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Append ``git -c`` style settings to the GIT_CONFIG_COUNT list in ``base``."""
    env = dict(base)
    count = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    for key, value in pairs:
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
    return env


class _GitHTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so curl's "Expect: 100-continue" is answered at once
    server: _GitHTTPServer

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    # -- helpers ----------------------------------------------------------------------------
    def _read_body(self) -> IO[bytes] | None:
        """Spool the request body (Content-Length or chunked) to a temp file."""
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = self.headers.get("Content-Length")
        if not chunked and length is None:
            return None
        body = tempfile.TemporaryFile()  # noqa: SIM115  (returned to the caller)
        try:
            if chunked:
                while True:
                    size_line = self.rfile.readline(1024)
                    if not size_line:
                        raise ConnectionError("truncated chunked body")
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        break
                    _copy_exact(self.rfile, body, size)
                    self.rfile.readline(8)  # CRLF after each chunk
            else:
                _copy_exact(self.rfile, body, int(length or "0"))
            body.seek(0)
        except BaseException:
            body.close()
            raise
        return body

    def _authorised_user(self) -> tuple[bool, str | None]:
        try:
            wanted = json.loads(self.server.auth_file.read_text())
        except FileNotFoundError:
            return True, None
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(token.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        ok = hmac.compare_digest(user.encode(), wanted["username"].encode())
        ok &= hmac.compare_digest(password.encode(), wanted["password"].encode())
        return ok, user if ok else None

    def _send_simple(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        data = text.encode()
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self, send_body: bool = True) -> None:
        self.close_connection = True
        path, _, query = self.path.partition("?")
        if path == HEALTH_PATH:
            self._send_simple(200, "ok\n")
            return
        body = self._read_body()  # read before any 401 so the client sees the response
        try:
            ok, user = self._authorised_user()
            if not ok:
                self._send_simple(
                    401, "authentication required\n", {"WWW-Authenticate": 'Basic realm="git"'}
                )
                return
            self._run_cgi(path, query, body, user, send_body)
        finally:
            if body is not None:
                body.close()

    def _run_cgi(
        self, path: str, query: str, body: IO[bytes] | None, user: str | None, send_body: bool
    ) -> None:
        env = _server_env()
        for key in list(env):
            if key.startswith(("HTTP_", "CONTENT_", "REMOTE_", "GIT_PROTOCOL")):
                del env[key]
        env = _cgi_config_env(env, [("http.receivepack", "true")])
        env.update(
            GIT_PROJECT_ROOT=str(self.server.root),
            GIT_HTTP_EXPORT_ALL="1",
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_SOFTWARE="gittrack-test-http",
            SERVER_PROTOCOL=self.request_version,
            SERVER_NAME=HOST,
            SERVER_PORT=str(self.server.server_address[1]),
            REQUEST_METHOD=self.command,
            QUERY_STRING=query,
            PATH_INFO=urllib.parse.unquote(path),
            REMOTE_ADDR=self.client_address[0],
        )
        if user is not None:
            env["REMOTE_USER"] = user
            env["AUTH_TYPE"] = "Basic"
        if body is not None:
            body.seek(0, os.SEEK_END)
            env["CONTENT_LENGTH"] = str(body.tell())
            body.seek(0)
        for header, var in (
            ("Content-Type", "CONTENT_TYPE"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),  # gzip bodies from C git
            ("Git-Protocol", "GIT_PROTOCOL"),  # protocol v2
            ("Accept", "HTTP_ACCEPT"),
        ):
            value = self.headers.get(header)
            if value is not None:
                env[var] = value

        with subprocess.Popen(
            [self.server.backend],
            stdin=body if body is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=env,
        ) as proc:
            assert proc.stdout is not None
            try:
                status, headers = _read_cgi_headers(proc.stdout)
                code, _, reason = status.partition(" ")
                self.send_response(int(code), reason or None)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                if send_body:
                    shutil.copyfileobj(proc.stdout, self.wfile, 64 * 1024)
                else:
                    shutil.copyfileobj(proc.stdout, _NullWriter())
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                proc.kill()


class _NullWriter:
    def write(self, data: bytes) -> int:
        return len(data)


def _copy_exact(src: IO[bytes], dst: IO[bytes], size: int) -> None:
    while size > 0:
        chunk = src.read(min(size, 64 * 1024))
        if not chunk:
            raise ConnectionError("request body shorter than announced")
        dst.write(chunk)
        size -= len(chunk)


def _read_cgi_headers(stream: IO[bytes]) -> tuple[str, list[tuple[str, str]]]:
    """Parse CGI response headers; return ("code reason", other headers)."""
    status = "200 OK"
    headers: list[tuple[str, str]] = []
    while True:
        line = stream.readline(65536)
        if not line:
            if not headers and status == "200 OK":
                return "502 Bad Gateway", [("Content-Type", "text/plain")]
            break
        line = line.rstrip(b"\r\n")
        if not line:
            break
        key, _, value = line.decode("latin-1").partition(":")
        key, value = key.strip(), value.strip()
        if key.lower() == "status":
            status = value
        elif key.lower() not in ("connection", "content-length", "transfer-encoding"):
            headers.append((key, value))
    return status, headers


def _serve_http(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="servers.py http")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth-file", type=Path, required=True)
    args = parser.parse_args(argv)
    server = _GitHTTPServer(args.port, args.root.resolve(), args.auth_file)

    def shutdown_on_eof() -> None:
        # Our parent holds the write end of stdin; EOF means it stopped us or died.
        sys.stdin.buffer.read()
        server.shutdown()

    threading.Thread(target=shutdown_on_eof, daemon=True).start()
    with server:
        server.serve_forever(poll_interval=0.2)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands: dict[str, Callable[[Sequence[str]], int]] = {"http": _serve_http}
    if not args or args[0] not in commands:
        print(f"usage: servers.py {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    return commands[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
