"""``gittrack server`` over plain HTTP: MLflow's wire format, safety, durability, load.

Each test starts the real server (the ``gittrack`` script beside this interpreter) on a
free loopback port and stops it by pid; requests are made with the standard library.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import fsck
from servers import GittrackServer

import gittrack

SLOW_SCALE = float(os.environ.get("GITTRACK_SLOW_SCALE", "1"))


def call(
    server: GittrackServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    """One request; returns (status, parsed JSON or raw bytes)."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            payload = resp.read()
            status = resp.status
            kind = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        payload, status, kind = e.read(), e.code, e.headers.get("Content-Type", "")
    return status, json.loads(payload) if kind.startswith("application/json") else payload


API = "/api/2.0/mlflow/"


def new_run(server: GittrackServer, experiment_id: str = "0") -> str:
    status, answer = call(server, "POST", API + "runs/create", {"experiment_id": experiment_id})
    assert status == 200, answer
    return str(answer["run"]["info"]["run_id"])


def test_errors_have_mlflows_shape_and_status(repo: Path) -> None:
    with GittrackServer(repo, "--quiet") as server:
        rid = new_run(server)
        assert call(server, "GET", API + "runs/get?run_id=" + "f" * 32) == (
            404,
            {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Run '{'f' * 32}' not found"},
        )
        status, answer = call(server, "GET", API + "runs/get?run_id=" + rid[:8])
        assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
        status, answer = call(server, "POST", API + "runs/log-metric", {"run_id": rid, "key": "x"})
        assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert "'value'" in answer["message"]
        status, answer = call(
            server, "POST", API + "runs/log-batch", {"run_id": rid, "params": [{"key": "p"}] * 101}
        )
        assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        point = {"key": "m", "value": 1, "timestamp": 1}
        batch = {"run_id": rid, "metrics": [point] * 950, "tags": [{"key": "t"}] * 51}
        status, answer = call(server, "POST", API + "runs/log-batch", batch)  # 1001 in all
        assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        for raw in (b"{not json", b'{"tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
            status, answer = call(
                server, "POST", API + "runs/create", raw=raw, headers=_json_type()
            )
            assert (status, answer["error_code"]) == (400, "BAD_REQUEST")
        status, answer = call(server, "GET", API + "traces/tr-1")
        assert (status, answer["error_code"]) == (501, "ENDPOINT_NOT_FOUND")
        assert call(server, "GET", "/health") == (200, b"OK")  # MLflow's liveness probe
        for field in ("source", "digest", "schema"):  # a lone surrogate: refused, run intact
            dataset = {"name": "d", "digest": "abc", "source": "s", field: "x\ud800"}
            body = {"run_id": rid, "datasets": [{"dataset": dataset}]}
            status, answer = call(server, "POST", API + "runs/log-inputs", body)
            assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert call(server, "GET", API + "runs/get?run_id=" + rid)[0] == 200
        for path, body in (
            ("runs/create", {"experiment_id": "0", "user_id": "x\ud800"}),
            ("registered-models/create", {"name": "m", "description": "x\ud800"}),
            ("experiments/create", {"name": "e", "artifact_location": "x\ud800"}),
            ("logged-models", {"name": "m", "source_run_id": rid, "model_type": "x\ud800"}),
        ):
            status, answer = call(server, "POST", API + path, body)
            assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert call(server, "GET", API + "registered-models/search")[0] == 200
        assert call(server, "POST", API + "experiments/search", {})[0] == 200
        assert (
            call(server, "POST", API + "logged-models/search", {"experiment_ids": ["0"]})[0] == 200
        )
        status, answer = call(server, "GET", API + "runs/log-metric")
        assert (status, answer["error_code"]) == (405, "METHOD_NOT_ALLOWED")
        status, answer = call(server, "POST", API + "runs/delete-tag", {"run_id": rid, "key": "k"})
        assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
        status, answer = call(server, "POST", API + "runs/search", {"experiment_ids": ["0"]})
        assert status == 200 and len(answer["runs"]) == 1  # no half-made run from the refusals
        log = server.output()
    assert "Traceback" not in log and "unreadable" not in log and "skipping run" not in log


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def test_values_read_back_exactly(repo: Path) -> None:
    """NaN and infinities travel as protobuf's strings; unicode and big steps unchanged."""
    with GittrackServer(repo, "--quiet") as server:
        rid = new_run(server)
        batch = {
            "run_id": rid,
            "metrics": [
                {"key": "m", "value": "NaN", "timestamp": 5, "step": 0},
                {"key": "m", "value": "-Infinity", "timestamp": 6, "step": 1},
                {"key": "m", "value": 2.5, "timestamp": "7", "step": str(2**40)},
            ],
            "params": [{"key": "emoji", "value": "🙂\tx ✓"}],
            "tags": [{"key": "t", "value": "ünï"}],
        }
        assert call(server, "POST", API + "runs/log-batch", batch) == (200, {})
        _, hist = call(server, "GET", f"{API}metrics/get-history?run_id={rid}&metric_key=m")
        _, run = call(server, "GET", f"{API}runs/get?run_id={rid}")
    assert [(m["value"], m["step"], m["timestamp"]) for m in hist["metrics"]] == [
        ("NaN", 0, 5),
        ("-Infinity", 1, 6),
        (2.5, 2**40, 7),
    ]
    assert {m["run_id"] for m in hist["metrics"]} == {rid}  # as MLflow 3's server answers
    assert {"key": "emoji", "value": "🙂\tx ✓"} in run["run"]["data"]["params"]
    assert {"key": "t", "value": "ünï"} in run["run"]["data"]["tags"]


def test_metric_history_is_paged(repo: Path) -> None:
    """Paged in MLflow's order (by timestamp): points logged out of order come back sorted."""
    with GittrackServer(repo, "--quiet") as server:
        rid = new_run(server)
        points = [{"key": "loss", "value": i, "timestamp": i, "step": i} for i in range(25)]
        for batch in (points[12:], points[:12]):  # as asynchronous logging may send them
            call(server, "POST", API + "runs/log-batch", {"run_id": rid, "metrics": batch})
        steps, token = [], ""
        for _ in range(5):
            query = f"run_id={rid}&metric_key=loss&max_results=10" + (
                f"&page_token={token}" if token else ""
            )
            status, page = call(server, "GET", API + "metrics/get-history?" + query)
            assert status == 200
            steps += [m["step"] for m in page["metrics"]]
            token = page.get("next_page_token", "")
            if not token:
                break
    assert steps == list(range(25))


def test_host_header_and_cross_site_writes_are_refused(repo: Path) -> None:
    with GittrackServer(repo, "--quiet") as server:
        status, answer = call(server, "GET", API + "experiments/search", headers={"Host": "evil.x"})
        assert (status, answer["error_code"]) == (403, "FORBIDDEN_HOST")
        # A form post (what any web page can send cross-site without a preflight).
        status, answer = call(
            server,
            "POST",
            API + "runs/create",
            raw=b'{"experiment_id": "0"}',
            headers={"Content-Type": "text/plain"},
        )
        assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED")
    assert gittrack.Client(repo).search_runs(output_format="rows") == []


def test_basic_auth_guards_every_endpoint(repo: Path, tmp_path: Path) -> None:
    secrets_file = tmp_path / "basic"
    secrets_file.write_text("alice:pa:ss\n")
    good = "Basic " + base64.b64encode(b"alice:pa:ss").decode()
    bad = "Basic " + base64.b64encode(b"alice:wrong").decode()
    with GittrackServer(repo, "--quiet", "--basic-auth-file", str(secrets_file)) as server:
        assert call(server, "GET", API + "experiments/search")[0] == 401
        assert (
            call(server, "GET", API + "experiments/search", headers={"Authorization": bad})[0]
            == 401
        )
        status, answer = call(
            server, "GET", API + "experiments/search", headers={"Authorization": good}
        )
    assert status == 200 and [e["name"] for e in answer["experiments"]] == ["Default"]


def test_binding_beyond_loopback_without_auth_warns(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gittrack.cli import server_cmd
    from gittrack.web import serve as serve_module

    served: list[str] = []

    def fake_serve(server: Any, **kwargs: Any) -> None:
        served.append(server.url)
        server.server_close()

    monkeypatch.setattr(serve_module, "serve", fake_serve)
    proc_err: list[str] = []
    monkeypatch.setattr(sys, "stderr", _Collect(proc_err))
    server_cmd.server_cmd(host="0.0.0.0", port=0, quiet=True)
    assert served and "without authentication" in "".join(proc_err)
    proc_err.clear()
    monkeypatch.setenv("GITTRACK_SERVER_TOKEN", "t0ken")
    server_cmd.server_cmd(host="0.0.0.0", port=0, quiet=True)
    assert "without authentication" not in "".join(proc_err)


class _Collect:
    def __init__(self, into: list[str]) -> None:
        self.into = into

    def write(self, text: str) -> int:
        self.into.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_bad_server_options_are_one_line_errors(repo: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "gittrack"
    for args, expected in [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--token-file", str(tmp_path / "absent")], "cannot read the token file"),
    ]:
        proc = subprocess.run(
            [str(script), "server", "--port", "0", *args], cwd=repo, capture_output=True, text=True
        )
        assert proc.returncode == 1, proc.stderr
        assert expected in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_artifact_paths_are_confined_to_the_run(repo: Path) -> None:
    artifacts = "/api/2.0/mlflow-artifacts/artifacts/"
    with GittrackServer(repo, "--quiet") as server:
        rid = new_run(server)
        other = new_run(server)
        base = f"0/{rid}/artifacts/"
        assert call(server, "PUT", artifacts + base + "ok.txt", raw=b"fine")[0] == 200
        for hostile in (
            base + "%2E%2E/%2E%2E/" + other + "/artifacts/x",
            base + "a/%2E%2E/%2E%2E/escape",
            base + "..%2F..%2Fescape",
            "%2Fetc/passwd",
            f"0/{'0' * 32}/artifacts/x",
        ):
            status, answer = call(server, "PUT", artifacts + hostile, raw=b"bad")
            assert status in (400, 404), (hostile, status, answer)
            assert answer["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
        status, body = call(server, "GET", artifacts + base + "ok.txt")
        assert (status, body) == (200, b"fine")
        big = os.urandom(9 * 1024 * 1024)  # answered from a spool on disk, in chunks
        assert call(server, "PUT", artifacts + base + "big.bin", raw=big)[0] == 200
        assert call(server, "GET", artifacts + base + "big.bin") == (200, big)
        status, answer = call(server, "GET", artifacts + base + "%2E%2E/x")
        assert status == 400
    client = gittrack.Client(repo)
    assert [f.path for f in client.list_artifacts(rid)] == ["big.bin", "ok.txt"]
    assert client.list_artifacts(other) == []
    fsck(repo)


def test_a_created_run_survives_a_crash_and_answered_writes_are_flushed(repo: Path) -> None:
    """runs/create is committed before it is answered; buffered writes reach git within
    the flush interval (here 0.2 s), so a SIGKILL after that loses nothing."""
    env = {"GITTRACK_FLUSH_INTERVAL": "0.2"}
    server = GittrackServer(repo, "--quiet", env=env)
    with server:
        rid = new_run(server)
        assert gittrack.Client(repo).get_run(rid).info.status == "RUNNING"
        batch = [{"key": "m", "value": i, "timestamp": i, "step": i} for i in range(50)]
        call(server, "POST", API + "runs/log-batch", {"run_id": rid, "metrics": batch})
        call(server, "POST", API + "runs/log-parameter", {"run_id": rid, "key": "p", "value": "v"})
        deadline = time.monotonic() + 20
        while _committed_points(repo, rid) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling git for the flush, not ordering events
        os.kill(server.pid, signal.SIGKILL)
    run = gittrack.Client(repo).get_run(rid)
    assert run.info.status == "RUNNING" and run.data.params == {"p": "v"}
    assert _committed_points(repo, rid) == 50
    fsck(repo)


def _committed_points(repo: Path, run_id: str) -> int:
    out = subprocess.run(
        ["git", "show", f"refs/gittrack/runs/{run_id}:.gittrack/run/run.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        return 0
    import yaml

    metrics = (yaml.safe_load(out.stdout) or {}).get("metrics") or {}
    return int(sum(m.get("count", 0) for m in metrics.values()))


def test_sync_mode_commits_before_answering(repo: Path) -> None:
    with GittrackServer(repo, "--quiet", "--sync") as server:
        rid = new_run(server)
        for i in range(5):
            body = {"run_id": rid, "key": "m", "value": i, "timestamp": i, "step": i}
            assert call(server, "POST", API + "runs/log-metric", body)[0] == 200
            assert _committed_points(repo, rid) == i + 1
        os.kill(server.pid, signal.SIGKILL)
    assert len(gittrack.Client(repo).get_metric_history(rid, "m")) == 5


LOGGER = r"""
import json, sys, urllib.request
url, exp, index, points = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def call(method, path, body=None, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read() or b"{}")
api = "/api/2.0/mlflow/"
run = call("POST", api + "runs/create", {"experiment_id": exp, "run_name": f"w{index}"})
rid = run["run"]["info"]["run_id"]
for k in range(5):
    param = {"run_id": rid, "key": f"p{k}", "value": f"{index}-{k}"}
    call("POST", api + "runs/log-parameter", param)
call("POST", api + "runs/set-tag", {"run_id": rid, "key": "worker", "value": str(index)})
for i in range(points):
    call("POST", api + "runs/log-metric",
         {"run_id": rid, "key": "single", "value": i * 0.5, "timestamp": i, "step": i})
for b in range(2):
    call("POST", api + "runs/log-batch", {"run_id": rid, "metrics": [
        {"key": "batch", "value": b * points + i, "timestamp": i, "step": b * points + i}
        for i in range(points)], "tags": [{"key": f"t{b}", "value": "x"}]})
call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{rid}/artifacts/out/w{index}.txt",
     raw=f"worker {index}".encode())
call("POST", api + "runs/update", {"run_id": rid, "status": "FINISHED"})
print(rid)
"""

SEARCHER = r"""
import json, sys, urllib.request
url, exp, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = 0
for _ in range(rounds):
    req = urllib.request.Request(url + "/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [exp], "filter": "metrics.single >= 0"}).encode(),
        method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        seen = max(seen, len(json.loads(resp.read()).get("runs", [])))
print(seen)
"""


def _load(repo: Path, tmp_path: Path, workers: int, points: int) -> None:
    (tmp_path / "logger.py").write_text(LOGGER)
    (tmp_path / "searcher.py").write_text(SEARCHER)
    with GittrackServer(repo, "--quiet", "--workers", str(workers)) as server:
        _, answer = call(server, "POST", API + "experiments/create", {"name": "load"})
        exp = answer["experiment_id"]
        procs = [
            subprocess.Popen(
                [sys.executable, str(tmp_path / "logger.py"), server.url, exp, str(i), str(points)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(16)
        ]
        searcher = subprocess.Popen(
            [sys.executable, str(tmp_path / "searcher.py"), server.url, exp, "10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ids = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-2000:] + server.output()[-2000:]
            ids.append(out.strip())
        out, err = searcher.communicate(timeout=300)
        assert searcher.returncode == 0, err[-2000:]
        assert "Traceback" not in server.output()
    client = gittrack.Client(repo)
    for index, rid in enumerate(ids):
        run = client.get_run(rid)
        assert run.info.status == "FINISHED" and run.info.experiment == "load"
        assert run.data.params == {f"p{k}": f"{index}-{k}" for k in range(5)}
        assert {k: run.data.tags[k] for k in ("worker", "t0", "t1")} == {
            "worker": str(index),
            "t0": "x",
            "t1": "x",
        }
        single = client.get_metric_history(rid, "single")
        assert [(m.step, m.value) for m in single] == [(i, i * 0.5) for i in range(points)]
        batch = client.get_metric_history(rid, "batch")
        assert sorted(m.step for m in batch) == list(range(2 * points))
        assert [f.path for f in client.list_artifacts(rid, "out")] == [f"out/w{index}.txt"]
    assert len(client.search_runs(output_format="rows")) == 16
    fsck(repo)


@pytest.mark.slow
def test_sixteen_clients_at_once_lose_nothing(repo: Path, tmp_path: Path) -> None:
    """16 logging processes and a searcher against 2 workers (each write committed
    before its answer, runs shared between workers); GITTRACK_SLOW_SCALE=20: 200 points."""
    _load(repo, tmp_path, workers=2, points=max(10, int(10 * SLOW_SCALE)))


def test_one_process_serves_the_web_ui_and_the_api(repo: Path) -> None:
    pytest.importorskip("plotly")
    with GittrackServer(repo, "--quiet") as server:
        rid = new_run(server)
        status, page = call(server, "GET", "/")
        assert status == 200 and b"<html" in page.lower()
        status, runs = call(server, "GET", "/ui/api/runs")
    assert status == 200 and rid in json.dumps(runs)


def test_deleted_runs_leave_searches_until_restored(repo: Path) -> None:
    with GittrackServer(repo, "--quiet") as server:
        keep, gone = new_run(server), new_run(server)
        assert call(server, "POST", API + "runs/delete", {"run_id": gone}) == (200, {})

        def ids(view: str) -> set[str]:
            body = {"experiment_ids": ["0"], "run_view_type": view}
            _, answer = call(server, "POST", API + "runs/search", body)
            return {r["info"]["run_id"] for r in answer.get("runs", [])}

        assert (ids("ACTIVE_ONLY"), ids("DELETED_ONLY"), ids("ALL")) == (
            {keep},
            {gone},
            {keep, gone},
        )
        _, run = call(server, "GET", f"{API}runs/get?run_id={gone}")
        assert run["run"]["info"]["lifecycle_stage"] == "deleted"
        param = {"run_id": gone, "key": "k", "value": "v"}
        assert call(server, "POST", API + "runs/log-parameter", param) == (  # the library's check
            400,
            {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"The run {gone} must be in the 'active' state. Current state is "
                "deleted. (restore_run brings it back)",
            },
        )
        assert call(server, "POST", API + "runs/restore", {"run_id": gone}) == (200, {})
        assert ids("ACTIVE_ONLY") == {keep, gone}
        assert call(server, "POST", API + "runs/log-parameter", param) == (200, {})


def test_search_pages_are_the_library_search_in_slices(repo: Path) -> None:
    """runs/search with a filter, an order and pages answers the library's search sliced
    by MLflow's page tokens, each run as runs/get shows it; a run that changes between
    two searches is answered in its new state."""
    from gittrack.query.search import query_rows

    client = gittrack.Client(repo)
    for i in range(7):
        run = client.create_run("sweep", run_name=f"r{i}", start_time=1_700_000_000_000 + i % 3)
        client.log_params(run.info.run_id, {"model": "cnn" if i % 2 else "mlp", "i": str(i)})
        client.log_metrics(run.info.run_id, {"acc": [0.5, 0.9, float("nan")][i % 3]})
        client.set_terminated(run.info.run_id)
    eid = gittrack.get_experiment_by_name("sweep").experiment_id
    search = {
        "experiment_ids": [eid],
        "filter": "metrics.acc >= 0.5 or params.model = 'cnn'",
        "order_by": ["metrics.acc DESC"],
        "max_results": 2,
    }

    def pages(server: GittrackServer) -> tuple[list[dict[str, Any]], list[str]]:
        runs, tokens, token = [], [], None
        while True:
            body = dict(search, page_token=token) if token else search
            status, answer = call(server, "POST", API + "runs/search", body)
            assert status == 200, answer
            runs += answer["runs"]
            token = answer.get("next_page_token")
            if token is None:
                return runs, tokens
            tokens.append(token)

    with GittrackServer(repo, "--quiet") as server:
        runs, tokens = pages(server)
        want = query_rows(search["filter"], search["order_by"], repo=repo, experiment_ids=[eid])
        assert [r["info"]["run_id"] for r in runs] == [r["run_id"] for r in want]
        assert len(runs) == 6 and tokens == [
            base64.urlsafe_b64encode(json.dumps({"offset": n}).encode()).decode() for n in (2, 4)
        ]
        for run in runs:
            _, got = call(server, "GET", f"{API}runs/get?run_id={run['info']['run_id']}")
            del got["run"]["outputs"]  # runs/get alone answers the logged models
            assert run == got["run"]
        last = runs[-1]["info"]["run_id"]
        body = {"run_id": last, "key": "acc", "value": 0.95, "timestamp": 1, "step": 1}
        assert call(server, "POST", API + "runs/log-metric", body)[0] == 200
        again, _ = pages(server)
    assert again[0]["info"]["run_id"] == last
    assert {m["key"]: m["value"] for m in again[0]["data"]["metrics"]} == {"acc": 0.95}
