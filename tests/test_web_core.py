"""The HTTP layer under ``gittrack ui`` and ``gittrack server``: routing, guards, errors."""

from __future__ import annotations

import http.client
import io
import json
import threading
from collections.abc import Iterator

import pytest

from gittrack.errors import RunNotFoundError
from gittrack.web.http import HTTPError, Request, Response, Router, json_response
from gittrack.web.serve import WebServer, is_loopback


def _router() -> Router:
    r = Router()
    r.add("GET", "/items/{name}", lambda q: json_response({"name": q.params["name"]}))
    r.add("GET", "/files/{path:path}", lambda q: json_response({"path": q.params["path"]}))
    r.add("POST", "/ui/write", lambda q: json_response({"ok": q.json()}), guard="token")
    r.add("POST", "/api/write", lambda q: json_response({"ok": q.json()}), guard="preflight")
    r.add("PUT", "/api/blob", lambda q: json_response({"size": len(q.body)}), guard="preflight")

    def missing(q: Request) -> Response:
        raise RunNotFoundError("no run matches 'zz'")

    def broken(q: Request) -> Response:
        raise KeyError("boom")

    def teapot(q: Request) -> Response:
        raise HTTPError(418, "short and stout", "TEAPOT")

    r.add("GET", "/missing", missing)
    r.add("GET", "/broken", broken)
    r.add("GET", "/teapot", teapot)
    r.add("GET", "/stream", lambda q: Response(200, iter([b"ab", b"", b"cd"]), "text/plain"))
    return r


@pytest.fixture
def server() -> Iterator[tuple[WebServer, io.StringIO]]:
    log = io.StringIO()
    srv = WebServer(("127.0.0.1", 0), _router(), token="secret", access_log=log, max_body=1000)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv, log
    srv.shutdown()
    thread.join()
    srv.server_close()


def call(
    srv: WebServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_routes_and_path_parameters(server: tuple[WebServer, io.StringIO]) -> None:
    srv, log = server
    status, body = call(srv, "GET", "/items/%C3%A9%20x%2Fy?a=1")
    assert (status, json.loads(body)) == (200, {"name": "é x/y"})
    status, body = call(srv, "GET", "/files/a/b/c.txt")
    assert (status, json.loads(body)) == (200, {"path": "a/b/c.txt"})
    assert "GET /items/%C3%A9%20x%2Fy 200" in log.getvalue()


def test_errors_are_json_never_tracebacks(server: tuple[WebServer, io.StringIO]) -> None:
    srv, _ = server
    status, body = call(srv, "GET", "/nowhere")
    assert status == 404 and json.loads(body)["error_code"] == "ENDPOINT_NOT_FOUND"
    status, body = call(srv, "DELETE", "/items/x")
    assert status == 405 and "use GET" in json.loads(body)["message"]
    status, body = call(srv, "GET", "/missing")
    assert (status, json.loads(body)["message"]) == (400, "no run matches 'zz'")
    status, body = call(srv, "GET", "/broken")
    assert status == 500 and b"Traceback" not in body and b"KeyError" in body
    assert call(srv, "GET", "/teapot")[0] == 418


def test_host_header_must_name_the_server(server: tuple[WebServer, io.StringIO]) -> None:
    srv, _ = server
    status, body = call(srv, "GET", "/items/x", headers={"Host": "evil.example:80"})
    assert status == 403 and json.loads(body)["error_code"] == "FORBIDDEN_HOST"
    port = srv.server_address[1]
    assert call(srv, "GET", "/items/x", headers={"Host": f"localhost:{port}"})[0] == 200


def test_token_guard(server: tuple[WebServer, io.StringIO]) -> None:
    srv, _ = server
    jtype = {"Content-Type": "application/json"}
    assert call(srv, "POST", "/ui/write", b"{}", jtype)[0] == 403
    wrong = {**jtype, "X-Gittrack-Token": "guess"}
    assert call(srv, "POST", "/ui/write", b"{}", wrong)[0] == 403
    good = {**jtype, "X-Gittrack-Token": "secret"}
    assert call(srv, "POST", "/ui/write", b'{"a":1}', good) == (200, b'{"ok":{"a":1}}')


def test_preflight_guard_refuses_what_a_form_can_send(
    server: tuple[WebServer, io.StringIO],
) -> None:
    srv, _ = server
    for ctype in ("text/plain", "application/x-www-form-urlencoded", ""):
        headers = {"Content-Type": ctype} if ctype else {}
        assert call(srv, "POST", "/api/write", b"{}", headers)[0] == 403, ctype
    assert call(srv, "POST", "/api/write", b"[]", {"Content-Type": "application/json"})[0] == 200
    assert call(srv, "PUT", "/api/blob", b"xyz") == (200, b'{"size":3}')


def test_body_limit_and_bad_json(server: tuple[WebServer, io.StringIO]) -> None:
    srv, _ = server
    status, body = call(srv, "PUT", "/api/blob", b"x" * 1001)
    assert status == 413 and json.loads(body)["error_code"] == "REQUEST_TOO_LARGE"
    status, body = call(srv, "POST", "/api/write", b"{nope", {"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in json.loads(body)["message"]


def test_streamed_body(server: tuple[WebServer, io.StringIO]) -> None:
    srv, _ = server
    assert call(srv, "GET", "/stream") == (200, b"abcd")


def test_authentication_hook() -> None:
    srv = WebServer(
        ("127.0.0.1", 0),
        _router(),
        authenticate=lambda q: q.headers.get("authorization") == "Bearer t",
        access_log=None,
    )
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        assert call(srv, "GET", "/items/x")[0] == 401
        assert call(srv, "GET", "/items/x", headers={"Authorization": "Bearer t"})[0] == 200
    finally:
        srv.shutdown()
        thread.join()
        srv.server_close()


def test_a_write_route_must_name_its_guard() -> None:
    with pytest.raises(ValueError, match="give it a guard"):
        Router().add("POST", "/x", lambda q: json_response({}))


def test_loopback_names() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
