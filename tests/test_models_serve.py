"""The scoring server over real HTTP on 127.0.0.1, started and stopped by the test."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from servers import free_port

import gittrack
from gittrack.models.scoring import BadRequest, parse_payload

sklearn_linear = pytest.importorskip("sklearn.linear_model")
X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0], [4.0, 4.0]])


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    model = sklearn_linear.LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
    path = tmp_path / "model"
    gittrack.sklearn.save_model(model, path, input_example={"a": [1.0], "b": [2.0]})
    return path


@contextmanager
def serving(
    uri: str, *extra: str, cwd: Path | None = None, log: Path | None = None
) -> Iterator[tuple[int, int]]:
    """Run ``gittrack models serve`` in a subprocess; yield (port, pid); stop it by pid.

    ``log``: a file that receives the server's stderr (else a pipe).
    """
    port = free_port()
    err = log.open("wb") if log is not None else subprocess.PIPE
    proc = subprocess.Popen(
        ["gittrack", "models", "serve", "-m", uri, "--port", str(port), *extra],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=err,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                shown = log.read_text() if log is not None else proc.stderr.read().decode()  # type: ignore[union-attr]
                raise AssertionError(f"server exited: {shown}")
            try:
                if request(port, "GET", "/ping")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)  # polling for readiness, not ordering events
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        if log is None:
            proc.stderr.close()  # type: ignore[union-attr]
        else:
            err.close()  # type: ignore[union-attr]


def request(
    port: int, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": ctype} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data.decode()
    finally:
        conn.close()


def post(port: int, payload: Any) -> tuple[int, Any]:
    return request(port, "POST", "/invocations", json.dumps(payload).encode())


def test_scoring_protocol_over_http(model_dir: Path) -> None:
    with serving(str(model_dir)) as (port, _):
        assert request(port, "GET", "/health")[0] == 200
        status, version = request(port, "GET", "/version")
        assert status == 200 and version == gittrack.__version__
        want = [4.0, 7.0]
        split = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [2, 3]]}}
        records = {"dataframe_records": [{"a": 1, "b": 2}, {"a": 2, "b": 3}]}
        for payload in (
            split,
            records,
            {"instances": [{"a": 1, "b": 2}, {"a": 2, "b": 3}]},
            {"inputs": {"a": [1, 2], "b": [2, 3]}},
            {"inputs": [[1, 2], [2, 3]]},
            {**split, "params": {"unused": 1}},
        ):
            status, answer = post(port, payload)
            assert status == 200, answer
            np.testing.assert_allclose(answer["predictions"], want, atol=1e-9)
        status, answer = request(port, "POST", "/invocations", b"a,b\n1,2\n2,3\n", "text/csv")
        assert status == 200
        np.testing.assert_allclose(answer["predictions"], want, atol=1e-9)
        status, answer = request(
            port, "POST", "/invocations", b"a,b\n1,2\n", "text/csv; charset=utf-8"
        )
        assert status == 200


def test_bad_requests_get_json_errors(model_dir: Path) -> None:
    with serving(str(model_dir)) as (port, _):
        cases: list[tuple[bytes, str, int, str]] = [
            (b"{not json", "application/json", 400, "not valid JSON"),
            (b"[1, 2]", "application/json", 400, "must be an object"),
            (b'{"inputs": [[1, 2]], "instances": []}', "application/json", 400, "exactly one"),
            (b'{"data": [[1, 2]]}', "application/json", 400, "exactly one"),
            (b'{"dataframe_split": {"columns": ["a"]}}', "application/json", 400, "data"),
            (b'{"dataframe_records": [1]}', "application/json", 400, "list of objects"),
            (b'{"inputs": {"a": [1]}}', "application/json", 400, "missing column"),
            (b'{"inputs": {"a": ["x"], "b": [1]}}', "application/json", 400, "expects double"),
            (b'{"inputs": 3}', "application/json", 400, "list or an object"),
            (b'{"inputs": [[1, 2]], "params": 3}', "application/json", 400, "params"),
            (b"a,b\n1\n", "text/csv", 400, "fields"),
            (b"\xff\xfe", "application/json", 400, "UTF-8"),
            # Client mistakes, not server faults: 400 naming what is wrong.
            (
                b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [null, 3]]}}',
                "application/json",
                400,
                "column 'a' is required but row 1 has no value (null)",
            ),
            (b'{"dataframe_records": [{"b": 2, "a": null}]}', "application/json", 400, "'a'"),
            (
                b'{"dataframe_split": {"columns": ["a", "b"], "data": []}}',
                "application/json",
                400,
                "dataframe_split.data is empty",
            ),
            (b'{"inputs": []}', "application/json", 400, "inputs is empty"),
            (b'{"inputs": {"a": [], "b": []}}', "application/json", 400, "inputs is empty"),
            (b"a,b\n", "text/csv", 400, "no data rows"),
            (b"x", "text/plain", 415, "unsupported content type"),
        ]
        for body, ctype, code, text in cases:
            status, answer = request(port, "POST", "/invocations", body, ctype)
            assert status == code, (body, answer)
            assert text in answer["message"], (body, answer)
            assert answer["error_code"] in ("BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE")
        assert request(port, "GET", "/nope")[0] == 404
        status, answer = request(port, "GET", "/invocations")
        assert status == 405 and "use POST" in answer["message"]
        assert request(port, "POST", "/ping", b"{}")[0] == 405
        # Oversized bodies are refused from the header, before reading them.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.putrequest("POST", "/invocations")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(51 * 1024 * 1024))
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413
        assert json.loads(resp.read())["error_code"] == "REQUEST_TOO_LARGE"
        conn.close()
        assert request(port, "GET", "/ping")[0] == 200  # still serving
        # A chunked body (no Content-Length) is read; a malformed one is refused.
        # A chunk past the body limit is refused from its size line; a transfer coding
        # other than chunked cannot be read (411).
        for coding, chunks, code, text in (
            ("chunked", b'6\r\n{"inpu\r\n8\r\nts": 3}\r\n0\r\n\r\n', 400, "list or an object"),
            ("chunked", b"zz\r\n", 400, "chunked body"),
            ("chunked", b"%x\r\n" % (51 * 1024 * 1024), 400, "chunked body"),
            ("gzip", b"", 411, "Content-Length"),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.putrequest("POST", "/invocations")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Transfer-Encoding", coding)
            conn.endheaders(chunks)
            resp = conn.getresponse()
            assert resp.status == code and text in json.loads(resp.read())["message"]
            conn.close()
        # 405 names the allowed method; a page from another site (DNS rebinding) is refused.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/invocations")
        resp = conn.getresponse()
        assert resp.status == 405 and resp.getheader("Allow") == "POST"
        resp.read()
        conn.request("GET", "/ping", headers={"Host": f"evil.example:{port}"})
        resp = conn.getresponse()
        assert resp.status == 403 and json.loads(resp.read())["error_code"] == "FORBIDDEN_HOST"
        conn.close()


def test_access_log_line_per_request_and_the_flag_that_stops_it(
    model_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with serving(str(model_dir), log=log) as (port, _):
        post(port, {"inputs": {"a": [1.0], "b": [2.0]}})
        request(port, "GET", "/invocations")
    lines = [line for line in log.read_text().splitlines() if line.startswith("127.0.0.1 ")]
    pattern = r"127\.0\.0\.1 (GET|POST) /[a-z]+ \d{3} \d+\.\dms"
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    assert any(" POST /invocations 200 " in line for line in lines)
    assert any(" GET /invocations 405 " in line for line in lines)
    quiet = tmp_path / "quiet.log"
    with serving(str(model_dir), "--no-access-log", log=quiet) as (port, _):
        post(port, {"inputs": {"a": [1.0], "b": [2.0]}})
    assert "/invocations" not in quiet.read_text()


def test_concurrent_requests_and_two_workers(model_dir: Path) -> None:
    payload = {"inputs": {"a": [1.0], "b": [2.0]}}
    with serving(str(model_dir), "--workers", "2") as (port, pid):
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: post(port, payload), range(64)))
        assert all(s == 200 and abs(a["predictions"][0] - 4.0) < 1e-9 for s, a in results)
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            assert len(children.read_text().split()) == 1  # one forked worker
    # Stopping the parent stops the whole process group (workers included).
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_serve_registered_model_and_cli_errors(repo: Path) -> None:
    model = sklearn_linear.LinearRegression().fit(X, X[:, 0])
    with gittrack.start_run():
        gittrack.sklearn.log_model(model, "model", registered_model_name="churn")
    gittrack.set_model_alias("churn", "prod", 1)
    with serving("models:/churn@prod", cwd=repo) as (port, _):
        status, answer = post(port, {"inputs": [[3.0, 1.0]]})
        assert status == 200
        np.testing.assert_allclose(answer["predictions"], [3.0], atol=1e-9)
    proc = subprocess.run(
        ["gittrack", "models", "serve", "-m", "models:/churn@staging", "--port", "1"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "gittrack: error: model 'churn' has no alias @staging (set it: gittrack models alias)"
    ]


def test_port_in_use_is_one_line_error(model_dir: Path) -> None:
    with serving(str(model_dir)) as (port, _):
        proc = subprocess.run(
            ["gittrack", "models", "serve", "-m", str(model_dir), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"gittrack: error: cannot listen on 127.0.0.1:{port}")
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["models", "serve", "-m", "."], ["server"]])
def test_a_port_out_of_range_is_a_usage_error(
    command: list[str], repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--port 99999 was an internal error (OverflowError from bind, exit 3)."""
    from cli_helpers import fails

    for port in ("99999", "-1"):
        assert "not in the range 0<=x<=65535" in fails(capsys, *command, "--port", port, code=2)


def test_parse_payload_units() -> None:
    assert parse_payload(b'{"dataframe_split": {"data": [[1, 2]]}}', "application/json") == (
        [[1, 2]],
        None,
    )
    data, params = parse_payload(b"a,s\n1,x\n2.5,y\n", "text/csv")
    assert data == {"a": [1, 2.5], "s": ["x", "y"]} and params is None
    with pytest.raises(BadRequest, match="CSV body is empty"):
        parse_payload(b"", "text/csv")
