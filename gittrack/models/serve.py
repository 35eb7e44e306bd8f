"""A scoring server speaking MLflow's protocol, on the standard library's HTTP server.

``GET /ping`` and ``/health`` (200 when the model is loaded), ``GET /version``,
``POST /invocations`` with ``application/json`` (exactly one of ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs``; optional ``params``) or ``text/csv``.
Answers ``{"predictions": ...}``; bad requests (malformed, empty, a null in a required
column) get 400 ``{"error_code": "BAD_REQUEST", "message": ...}``, other content types
415, bodies over the limit 413, a wrong method 405. One access-log line per request. Requests are
served on threads; ``workers > 1`` forks processes that accept on the one listening
socket. Binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from gittrack.errors import GittrackError, ModelError
from gittrack.models.mlmodel import PyFuncModel

__all__ = ["MAX_BODY_BYTES", "ScoringServer", "make_server", "parse_payload", "serve"]

log = logging.getLogger("gittrack")
MAX_BODY_BYTES = 50 * 1024 * 1024
INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class BadRequest(Exception):
    """Internal: the request cannot be scored (status, error code, message)."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _csv_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_payload(body: bytes, content_type: str) -> tuple[Any, dict[str, Any] | None]:
    """Turn a request body into (model input, params); raises BadRequest."""
    mime = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(400, f"request body is not UTF-8: {e}") from e
    if mime == "text/csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise BadRequest(400, "CSV body is empty: send a header row and data rows")
        header, data = rows[0], rows[1:]
        if not data:
            raise BadRequest(400, "CSV body has a header but no data rows")
        if any(len(r) != len(header) for r in data):
            raise BadRequest(400, "CSV rows do not all have as many fields as the header")
        return {h: [_csv_value(r[i]) for r in data] for i, h in enumerate(header)}, None
    if mime != "application/json":
        raise BadRequest(
            415,
            f"unsupported content type {mime!r}: use application/json or text/csv",
            "UNSUPPORTED_MEDIA_TYPE",
        )
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRequest(400, f"request body is not valid JSON: {e}") from e
    if not isinstance(payload, dict):
        raise BadRequest(400, f"JSON body must be an object with one of {', '.join(INPUT_KEYS)}")
    present = [k for k in INPUT_KEYS if k in payload]
    unknown = sorted(set(payload) - set(INPUT_KEYS) - {"params"})
    if len(present) != 1 or unknown:
        raise BadRequest(
            400,
            f"JSON body must have exactly one of {', '.join(INPUT_KEYS)} (and optionally "
            f"params); got {', '.join(sorted(payload)) or 'nothing'}",
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest(400, "params must be a JSON object")
    key = present[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise BadRequest(400, 'dataframe_split must be {"columns": [...], "data": [[...]]}')
        if not value["data"]:
            raise BadRequest(400, "dataframe_split.data is empty: send at least one row")
        columns = value.get("columns")
        data = value["data"]
        if columns is None:
            return data, params
        if not isinstance(columns, list) or any(
            not isinstance(r, list) or len(r) != len(columns) for r in data
        ):
            raise BadRequest(400, "dataframe_split rows must be lists as long as columns")
        return {str(c): [r[i] for r in data] for i, c in enumerate(columns)}, params
    if key == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise BadRequest(400, "dataframe_records must be a list of objects")
    elif not isinstance(value, (list, dict)):
        raise BadRequest(400, f"{key} must be a list or an object")
    if not value or (isinstance(value, dict) and all(v == [] for v in value.values())):
        raise BadRequest(400, f"{key} is empty: send at least one row")
    return value, params


def _jsonable(result: Any) -> Any:
    if hasattr(result, "to_dict") and hasattr(result, "columns"):  # a DataFrame
        return result.to_dict(orient="records")
    if hasattr(result, "tolist"):
        return result.tolist()
    if isinstance(result, (list, tuple)):
        return [_jsonable(r) for r in result]
    if isinstance(result, dict):
        return {str(k): _jsonable(v) for k, v in result.items()}
    return result


class ScoringServer(ThreadingHTTPServer):
    """A threading HTTP server holding the model it scores with."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        model: PyFuncModel,
        *,
        max_body: int = MAX_BODY_BYTES,
        access_log: TextIO | None = None,
    ) -> None:
        self.model = model
        self.max_body = max_body
        self.access_log = access_log
        self.access_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScoringServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("serve: " + format, *args)

    def parse_request(self) -> bool:
        self.started = time.perf_counter()
        return super().parse_request()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One access-log line per answer: method, path, status, duration."""
        sink = self.server.access_log
        if sink is None:
            return
        took = (time.perf_counter() - getattr(self, "started", time.perf_counter())) * 1000
        method = getattr(self, "command", None) or "-"
        path = (getattr(self, "path", None) or "-").split("?")[0]
        status = getattr(code, "value", code)
        line = f"{self.client_address[0]} {method} {path} {status} {took:.1f}ms\n"
        with self.server.access_lock:
            try:
                sink.write(line)
                sink.flush()
            except (OSError, ValueError):  # a closed log must not stop scoring
                pass

    def _not_allowed(self, allow: str) -> None:
        self.send_response(405)
        body = json.dumps(
            {
                "error_code": "METHOD_NOT_ALLOWED",
                "message": f"{self.command} is not allowed on {self.path.split('?')[0]}; "
                f"use {allow}",
            }
        ).encode()
        self.send_header("Allow", allow)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error_code": code, "message": message}).encode()
        self._send(status, body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in ("/ping", "/health"):
            self._send(200, b"\n", "application/json")
        elif path == "/version":
            from gittrack._version import __version__

            self._send(200, __version__.encode(), "text/plain; charset=utf-8")
        elif path == "/invocations":
            self._not_allowed("POST")
        else:
            self._error(404, "ENDPOINT_NOT_FOUND", f"no endpoint {path}")

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        length_text = self.headers.get("Content-Length")
        if path != "/invocations":
            self.close_connection = True
            if path in ("/ping", "/health", "/version"):
                self._not_allowed("GET")
            else:
                self._error(404, "ENDPOINT_NOT_FOUND", f"no endpoint {path}")
            return
        try:
            length = int(length_text or "")
        except ValueError:
            self.close_connection = True
            self._error(411, "BAD_REQUEST", "a Content-Length header is required")
            return
        if length > self.server.max_body:
            self.close_connection = True  # do not read what we refuse
            self._error(
                413,
                "REQUEST_TOO_LARGE",
                f"request body of {length} bytes exceeds the limit of {self.server.max_body}",
            )
            return
        body = self.rfile.read(length)
        try:
            data, params = parse_payload(body, self.headers.get("Content-Type", ""))
            result = self.server.model.predict(data, params=params)
        except BadRequest as e:
            self._error(e.status, e.code, e.message)
            return
        except GittrackError as e:
            self._error(400, "BAD_REQUEST", e.message)
            return
        except Exception as e:
            log.exception("serve: prediction failed")
            self._error(500, "INTERNAL_ERROR", f"{type(e).__name__}: {e}")
            return
        try:
            answer = json.dumps({"predictions": _jsonable(result)}).encode()
        except (TypeError, ValueError) as e:
            self._error(500, "INTERNAL_ERROR", f"predictions are not JSON-serialisable: {e}")
            return
        self._send(200, answer)


def make_server(
    model: PyFuncModel, host: str = "127.0.0.1", port: int = 5000, **kwargs: Any
) -> ScoringServer:
    """Bind a scoring server (not yet serving); ModelError when the address is taken."""
    try:
        return ScoringServer((host, port), model, **kwargs)
    except OSError as e:
        raise ModelError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def serve(
    model: PyFuncModel,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    on_ready: Callable[[str, int], None] | None = None,
    access_log: TextIO | None = None,
) -> None:
    """Serve ``model`` until SIGTERM / SIGINT; ``workers`` processes share the socket.

    ``access_log``: where each request's line (client, method, path, status, duration)
    goes; None writes none.
    """
    if workers < 1:
        raise ModelError(f"--workers must be at least 1, not {workers}")
    server = make_server(model, host, port, access_log=access_log)
    bound_host, bound_port = server.server_address[:2]
    children: list[int] = []
    if workers > 1:
        # Several processes accept on one socket: non-blocking so a process that loses
        # the race for a connection returns to its loop instead of blocking in accept().
        server.socket.setblocking(False)
        for _ in range(workers - 1):
            pid = os.fork()
            if pid == 0:  # worker: serve until killed
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
        on_ready(str(bound_host), int(bound_port))
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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
