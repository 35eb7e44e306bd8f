"""The HTTP server: threads per connection, optional pre-forked workers, one Router.

Every request passes, in order: the Host check (a name the server was bound as, so a page
from another site cannot reach it through DNS rebinding), optional authentication, routing,
the route's cross-site guard for writes (:func:`gittrack.web.http.accepts_write`), then the
handler. Errors become JSON ``{"error_code": ..., "message": ...}``; a handler's unexpected
exception is logged and answered 500 without a traceback. One access-log line per request
(client address, method, path, status, milliseconds) unless quiet.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

from gittrack.errors import GittrackError
from gittrack.web.http import HTTPError, Request, Response, Router, accepts_write, json_response

__all__ = ["MAX_BODY_BYTES", "WebServer", "is_loopback", "serve"]

log = logging.getLogger("gittrack")
MAX_BODY_BYTES = 512 * 1024 * 1024
Authenticator = Callable[[Request], bool]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) stays on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def error_body(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    answer = json_response({"error_code": code, "message": message}, status)
    answer.headers.update(headers or {})
    return answer


class WebServer(ThreadingHTTPServer):
    """A threading HTTP server dispatching to ``router``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        router: Router,
        *,
        token: str | None = None,
        authenticate: Authenticator | None = None,
        allowed_hosts: Iterable[str] | None = None,
        access_log: IO[str] | None = sys.stderr,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        super().__init__(address, _Handler)
        self.router = router
        self.token = token if token is not None else secrets.token_urlsafe(24)
        self.authenticate = authenticate
        self.access_log = access_log
        self.max_body = max_body
        host, port = self.server_address[:2]
        self.allowed_hosts: set[str] | None
        if allowed_hosts is not None:
            self.allowed_hosts = {h.lower() for h in allowed_hosts}
        elif is_loopback(str(host)):
            names = {str(host), "localhost", "127.0.0.1", "[::1]"}
            self.allowed_hosts = {f"{n}:{port}" for n in names} | names
        else:
            self.allowed_hosts = None  # bound beyond loopback: the operator names the hosts

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"

    def dispatch(self, request: Request) -> Response:
        """The response to ``request`` (never raises)."""
        try:
            host = request.headers.get("host", "").lower()
            if self.allowed_hosts is not None and host not in self.allowed_hosts:
                raise HTTPError(
                    403, f"Host {host!r} is not a name this server answers to", "FORBIDDEN_HOST"
                )
            if self.authenticate is not None and not self.authenticate(request):
                answer = error_body(401, "UNAUTHENTICATED", "credentials are missing or wrong")
                answer.headers["WWW-Authenticate"] = 'Basic realm="gittrack"'
                return answer
            found = self.router.match(request.method, request.path)
            if found is None:
                raise HTTPError(404, f"no endpoint {request.path}", "ENDPOINT_NOT_FOUND")
            route, params = found
            if not accepts_write(request, route.guard, self.token):
                raise HTTPError(
                    403,
                    "state-changing request without the server's token"
                    if route.guard == "token"
                    else "state-changing request must be sent as JSON (cross-site refused)",
                    "PERMISSION_DENIED",
                )
            request.params = params
            return route.handler(request)
        except HTTPError as e:
            return error_body(e.status, e.code, e.message, e.headers)
        except GittrackError as e:
            return error_body(400, "INVALID_PARAMETER_VALUE", e.message)
        except Exception as e:
            log.exception("%s %s failed", request.method, request.path)
            return error_body(500, "INTERNAL_ERROR", f"{type(e).__name__}: {e}")


class _Handler(BaseHTTPRequestHandler):
    server: WebServer
    protocol_version = "HTTP/1.1"
    server_version = "gittrack"
    # Headers and body leave in two writes; with Nagle's algorithm the second waits for
    # the client's delayed ACK (~40 ms per keep-alive request).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """The access log is written by :meth:`_answer`, not by http.server."""

    def _handle(self) -> None:
        start = time.perf_counter()
        length_text = self.headers.get("Content-Length")
        try:
            length = int(length_text or "0")
        except ValueError:
            length = -1
        coding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        response: Response | None = None
        body: bytes | None = b""
        if length_text is None and coding:
            body = self._chunked_body() if coding == "chunked" else None
            if body is None:
                self.close_connection = True  # the rest of the stream is not read
                response = error_body(
                    400 if coding == "chunked" else 411,
                    "BAD_REQUEST",
                    "a Content-Length header or a well-formed chunked body of at most "
                    f"{self.server.max_body} bytes is required",
                )
        elif length < 0 or length > self.server.max_body:
            self.close_connection = True  # do not read what we refuse
            response = error_body(
                413 if length > 0 else 400,
                "REQUEST_TOO_LARGE" if length > 0 else "BAD_REQUEST",
                f"request body of {length_text} bytes refused (limit {self.server.max_body})",
            )
        elif length:
            body = self.rfile.read(length)
        if response is None:
            assert body is not None
            request = Request.build(self.command, self.path, dict(self.headers.items()), body)
            response = self.server.dispatch(request)
        if self.server.access_log is not None:
            # written before the answer is sent: once a client has its answer, the line is
            # there (a server stopped right after it answered had lost the line)
            ms = (time.perf_counter() - start) * 1000
            path = self.path.split("?")[0]
            print(
                f"{self.client_address[0]} {self.command} {path} {response.status} {ms:.1f}ms",
                file=self.server.access_log,
                flush=True,
            )
        self._answer(response)

    def _chunked_body(self) -> bytes | None:
        """A ``Transfer-Encoding: chunked`` body (HTTP clients send one when they cannot
        tell the length first, as ``requests`` does for an empty file); None when it is
        malformed or longer than ``max_body``."""
        parts: list[bytes] = []
        total = 0
        try:
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
                if size < 0 or total + size > self.server.max_body:
                    return None
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields, ignored
                    return b"".join(parts)
                chunk = self.rfile.read(size)
                if len(chunk) != size or self.rfile.readline(3).strip():
                    return None
                parts.append(chunk)
                total += size
        except (ValueError, OSError):
            return None

    def _answer(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in response.headers.items():
            self.send_header(key, value)
        head_only = self.command == "HEAD"
        if isinstance(response.body, bytes):
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(response.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head_only:
            self.wfile.write(b"0\r\n\r\n")
            return
        for chunk in response.body:
            if chunk:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


def serve(
    server: WebServer,
    *,
    workers: int = 1,
    before_fork: Callable[[], None] | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM / SIGINT; ``workers`` processes accept on the one socket.

    Workers are forked before any request is served; ``before_fork`` releases what a child
    must not inherit (open repositories, background threads).
    """
    if workers < 1:
        raise GittrackError(f"--workers must be at least 1, not {workers}")
    children: list[int] = []
    if workers > 1:
        if before_fork is not None:
            before_fork()
        # Non-blocking so a process that loses the race for a connection returns to its loop.
        server.socket.setblocking(False)
        for _ in range(workers - 1):
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                try:
                    server.serve_forever(poll_interval=0.5)
                finally:
                    os._exit(0)
            children.append(pid)

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    if on_ready is not None:
        on_ready(server.url)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        server.server_close()
