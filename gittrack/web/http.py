"""Requests, responses and routing: plain data, no sockets (see :mod:`gittrack.web.serve`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

__all__ = [
    "Guard",
    "HTTPError",
    "Handler",
    "Request",
    "Response",
    "Route",
    "Router",
    "json_bytes",
    "json_response",
]

# How a route that changes state is protected against cross-site requests:
# "token": the request carries the server's per-process token (X-Gittrack-Token header);
# "preflight": the request is one a browser sends cross-site only after a CORS preflight
#   (which this server never grants): a method other than GET/HEAD/POST, or a POST whose
#   Content-Type is not one an HTML form can send (e.g. application/json);
# "none": the route changes nothing (a GET, or a POST that only computes its answer, as
#   the scoring server's /invocations: it must be declared with ``computes=True``).
Guard = Literal["token", "preflight", "none"]
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


class HTTPError(Exception):
    """An answer other than 2xx, raised by a handler: ``status``, ``code``, one-line message."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = " ".join(str(message).split())
        self.headers = headers or {}


@dataclass
class Request:
    """One HTTP request as handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    @classmethod
    def build(cls, method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
        """A request from the raw request line target (path and query string)."""
        path, _, qs = target.partition("?")
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qs(qs, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON (an empty body is ``{}``); 400 when it is not JSON."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HTTPError(400, f"request body is not valid JSON: {e}") from e
        except RecursionError as e:  # arrays or objects nested thousands deep
            raise HTTPError(400, "request body is nested too deeply to be read") from e


@dataclass
class Response:
    """What a handler answers. ``body`` may be bytes or an iterable of byte chunks."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_bytes(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON (non-ASCII kept as is; NaN refused)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a compact UTF-8 JSON response (non-ASCII kept as is)."""
    return Response(status, json_bytes(data), "application/json")


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    guard: Guard


_PARAM = re.compile(r"\{(\w+)(:path)?\}")


def _compile(template: str) -> re.Pattern[str]:
    """``/runs/{run_id}/files/{path:path}`` -> a regex with named groups."""
    out, last = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[last : m.start()]))
        out.append(f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})")
        last = m.end()
    out.append(re.escape(template[last:]))
    return re.compile("".join(out) + r"\Z")


class Router:
    """Routes by method and path template; writes declare how they are guarded."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        # Maps an exception a handler raised to a response (each API has its own error shape).
        self.on_error: Callable[[Exception], Response | None] | None = None

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        guard: Guard = "none",
        computes: bool = False,
    ) -> None:
        """Serve ``method template`` with ``handler``; a write names its ``guard``.

        ``computes``: a POST that changes nothing (it only computes its answer) needs no guard.
        """
        if method.upper() not in ("GET", "HEAD") and guard == "none" and not computes:
            raise ValueError(f"{method} {template} changes state: give it a guard")
        self.routes.append(Route(method.upper(), _compile(template), handler, guard))

    def route(
        self, method: str, template: str, *, guard: Guard = "none"
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler) -> Handler:
            self.add(method, template, handler, guard=guard)
            return handler

        return register

    def include(self, other: Router) -> None:
        """Mount every route of ``other`` (its error mapping applies to its routes)."""
        for r in other.routes:
            handler = r.handler if other.on_error is None else _with_errors(r.handler, other)
            self.routes.append(Route(r.method, r.pattern, handler, r.guard))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for ``method path``; raises 405 when only other methods match."""
        allowed = set()
        for r in self.routes:
            m = r.pattern.match(path)
            if m is None:
                continue
            if r.method == method or (method == "HEAD" and r.method == "GET"):
                # Matched on the raw path (an encoded "/" stays inside its segment), then decoded.
                return r, {k: unquote(v) for k, v in m.groupdict().items()}
            allowed.add(r.method)
        if allowed:
            raise HTTPError(
                405,
                f"{method} is not allowed on {path} (use {', '.join(sorted(allowed))})",
                "METHOD_NOT_ALLOWED",
                {"Allow": ", ".join(sorted(allowed))},
            )
        return None


def _with_errors(handler: Handler, router: Router) -> Handler:
    def run(request: Request) -> Response:
        try:
            return handler(request)
        except Exception as e:
            assert router.on_error is not None
            answer = router.on_error(e)
            if answer is None:
                raise
            return answer

    return run


def accepts_write(request: Request, guard: Guard, token: str) -> bool:
    """Whether a state-changing request passes its route's cross-site guard."""
    if guard == "none":
        return True
    if guard == "token":
        return bool(token) and request.headers.get("x-gittrack-token", "") == token
    if request.method not in ("GET", "HEAD", "POST"):
        return True
    return (
        request.method == "POST"
        and request.content_type not in FORM_CONTENT_TYPES
        and bool(request.content_type)
    )
