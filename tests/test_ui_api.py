"""gittrack ui's server side: paging, run data, charts' lines, writes and safety."""

from __future__ import annotations

import base64
import html
import http.client
import json
import math
import re
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from conftest import git, user_tags

import gittrack
from gittrack.client import Client
from gittrack.ui.files import LIBRARIES
from gittrack.web.app import build_router
from gittrack.web.serve import WebServer

TOKEN = "test-token"


@pytest.fixture
def runs(repo: Path, tmp_path: Path) -> list[str]:
    """Five runs in two experiments; the newest has artifacts of every previewed kind."""
    ids = []
    for i in range(5):
        gittrack.set_experiment("sweep" if i < 3 else "base")
        with gittrack.start_run(run_name=f"run-{i}") as run:
            gittrack.log_params({"lr": 0.1 * (i + 1), "model": "cnn" if i % 2 else "mlp"})
            for step in range(50):
                gittrack.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            gittrack.set_tag("team", "vision")
            ids.append(run.info.run_id)
    page = tmp_path / "page.html"
    page.write_text("<script>parent.document.title='x'</script>")
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,x\n2,y\n")
    client = Client()
    client.log_artifact(ids[-1], str(page))
    client.log_artifact(ids[-1], str(table))
    client.flush()
    return ids


@contextmanager
def serving(repo: Path) -> Iterator[WebServer]:
    """The UI's routes for ``repo`` on a server in a thread (what ``gittrack ui`` serves)."""
    srv = WebServer(("127.0.0.1", 0), build_router(repo, TOKEN), token=TOKEN, access_log=None)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        thread.join()
        srv.server_close()


@pytest.fixture
def server(runs: list[str], repo: Path) -> Iterator[WebServer]:
    with serving(repo) as srv:
        yield srv


def call(
    srv: WebServer,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=30)
    try:
        data = b"" if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get_json(srv: WebServer, url: str, **query: object) -> object:
    status, _, body = call(srv, "GET", url + ("?" + urlencode(query, doseq=True) if query else ""))
    assert status == 200, body
    return json.loads(body)


def test_runs_are_paged_sorted_and_only_the_asked_columns_travel(
    server: WebServer, runs: list[str]
) -> None:
    page = get_json(server, "/ui/api/runs", limit=2, offset=0, column=["params.lr"])
    assert isinstance(page, dict)
    assert page["total"] == 5 and [r["run_id"] for r in page["rows"]] == runs[::-1][:2]
    assert set(page["rows"][0]["cells"]) == {"params.lr"}
    assert "params" not in page["rows"][0]
    ordered = get_json(server, "/ui/api/runs", order="params.lr ASC", limit=50)
    assert isinstance(ordered, dict)
    assert [r["run_id"] for r in ordered["rows"]] == runs
    second = get_json(server, "/ui/api/runs", order="params.lr ASC", offset=4, limit=50)
    assert isinstance(second, dict)
    assert [r["run_id"] for r in second["rows"]] == runs[4:]


def test_filter_is_the_list_grammar_and_errors_come_back_as_one_message(
    server: WebServer, runs: list[str]
) -> None:
    page = get_json(server, "/ui/api/runs", filter="params.model = 'cnn' and metrics.loss < 1")
    assert isinstance(page, dict)
    assert {r["run_id"] for r in page["rows"]} == {runs[1], runs[3]}
    status, _, body = call(server, "GET", "/ui/api/runs?" + urlencode({"filter": "metrics.loss <"}))
    error = json.loads(body)
    assert status == 400 and error["error_code"] == "FilterSyntaxError"
    assert "position 14" in error["message"]
    status, _, body = call(server, "GET", "/ui/api/runs?limit=100000")
    assert status == 400 and "limit" in json.loads(body)["message"]


def test_experiments_keys_and_compare_rows(server: WebServer, runs: list[str]) -> None:
    exps = get_json(server, "/ui/api/experiments")
    assert isinstance(exps, list)
    assert [(e["name"], e["runs"]) for e in exps] == [("base", 2), ("sweep", 3), ("Default", 0)]
    Client().delete_run(runs[4])  # the CLI's experiment list: deleted runs not counted
    assert [e["runs"] for e in get_json(server, "/ui/api/experiments")] == [1, 3, 0]  # type: ignore[union-attr]
    keys = get_json(server, "/ui/api/keys", experiment="base")
    assert isinstance(keys, dict)
    assert user_tags(dict.fromkeys(keys.pop("tags"), "")) == {"team": ""}  # + MLflow's system tags
    assert keys == {"params": ["lr", "model"], "metrics": ["loss"], "inputs": []}
    rows = get_json(server, "/ui/api/compare", run=[runs[0][:8], "run-2"])
    assert isinstance(rows, list)
    assert [r["run_id"] for r in rows] == [runs[0], runs[2]]
    assert rows[1]["params"] == {"lr": "0.30000000000000004", "model": "mlp"}  # str(0.1 * 3)


def test_params_reach_the_page_as_the_text_logged(repo: Path) -> None:
    """A param is shown as MLflow and the CLI show it: 1.0 stays 1.0 (not 1), a large
    integer keeps every digit, a text that looks like a number stays text."""
    logged = {"alpha": 1.0, "seed": 2**64 + 1, "tiny": 1e-300, "name": "1e3", "flag": True}
    with gittrack.start_run() as run:
        gittrack.log_params(logged)
    expected = {"alpha": "1.0", "seed": "18446744073709551617", "tiny": "1e-300",
                "name": "1e3", "flag": "True"}  # fmt: skip
    assert Client().get_run(run.info.run_id).data.params == expected
    with serving(repo) as srv:
        doc = get_json(srv, f"/ui/api/run/{run.info.run_id}")
        rows = get_json(srv, "/ui/api/compare", run=[run.info.run_id])
        page = get_json(srv, "/ui/api/runs", column=[f"params.{k}" for k in logged])
    assert isinstance(doc, dict) and isinstance(rows, list) and isinstance(page, dict)
    assert doc["params"] == expected and rows[0]["params"] == expected
    assert page["rows"][0]["cells"] == {f"params.{k}": v for k, v in expected.items()}


def test_run_page_data_code_and_diff(server: WebServer, runs: list[str], repo: Path) -> None:
    doc = get_json(server, f"/ui/api/run/{runs[-1]}")
    assert isinstance(doc, dict)
    assert doc["name"] == "run-4" and doc["metrics"]["loss"]["count"] == 50
    assert sorted(a["path"] for a in doc["artifacts"]) == ["page.html", "t.csv"]
    code = get_json(server, f"/ui/api/run/{runs[-1]}/code")
    assert isinstance(code, dict)
    assert "train.py" in code["files"] and code["diff"] == ""  # ran on a clean tree
    text = get_json(server, f"/ui/api/run/{runs[-1]}/code", path="train.py")
    assert text == {"text": "print('training')\n", "truncated": False, "size": 18}
    table = get_json(server, f"/ui/api/table/{runs[-1]}/t.csv")
    assert table == {"columns": ["a", "b"], "rows": [["1", "x"], ["2", "y"]], "total": 2}
    status, _, _ = call(server, "GET", f"/ui/api/run/{runs[-1]}/code?path=nope.py")
    assert status == 404


def test_parquet_artifacts_preview_their_first_rows_with_the_total(
    server: WebServer, runs: list[str], tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gittrack.ui.files import TABLE_ROWS

    n = TABLE_ROWS * 2 + 34
    table = pa.table(
        {
            "id": list(range(n)),
            "label": [None if i % 7 == 0 else f"é{i}" for i in range(n)],
            "score": [math.nan if i == 3 else i / 3 for i in range(n)],
        }
    )
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=100)  # many row groups
    pq.write_table(table.slice(0, 0), tmp_path / "empty.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1" + b"x" * 64)
    client = Client()
    for name in ("big.parquet", "empty.parquet", "bad.parquet"):
        client.log_artifact(runs[0], str(tmp_path / name))
    client.flush()
    found = get_json(server, f"/ui/api/table/{runs[0]}/big.parquet")
    assert isinstance(found, dict) and found["total"] == n
    assert found["columns"] == ["id", "label", "score"]
    expected = [
        [i, None if i % 7 == 0 else f"é{i}", "nan" if i == 3 else i / 3] for i in range(TABLE_ROWS)
    ]
    assert found["rows"] == expected
    empty = get_json(server, f"/ui/api/table/{runs[0]}/empty.parquet")
    assert empty == {"columns": ["id", "label", "score"], "rows": [], "total": 0}
    status, _, body = call(server, "GET", f"/ui/api/table/{runs[0]}/bad.parquet")
    assert status == 400 and json.loads(body)["message"].startswith(
        "bad.parquet cannot be read as a table:"
    )


def test_csv_artifacts_preview_each_cell_as_the_text_in_the_file(
    server: WebServer, runs: list[str], tmp_path: Path
) -> None:
    cells = [
        ["0.0", "010", "1e-3", "", "2024-01-01", "NaN", "true", "1,5", "naïve 東京"],
        ["-0", "1_000", "0x10", "null", "12:30", "inf", "False", " 7", "x"],
    ]
    header = [f"c{i}" for i in range(len(cells[0]))]
    lines = [header, *cells]
    text = "".join(",".join(f'"{c}"' if "," in c else c for c in row) + "\n" for row in lines)
    (tmp_path / "exact.csv").write_text(text, encoding="utf-8")
    Client().log_artifact(runs[0], str(tmp_path / "exact.csv"))
    Client().flush()
    found = get_json(server, f"/ui/api/table/{runs[0]}/exact.csv")
    assert found == {"columns": header, "rows": cells, "total": 2}


def test_uncommitted_edits_show_as_the_diff_against_the_parent(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")
    with gittrack.start_run() as run:
        pass
    with serving(repo) as srv:
        code = get_json(srv, f"/ui/api/run/{run.info.run_id}/code")
    assert isinstance(code, dict)
    assert "-print('training')" in code["diff"] and "+print('edited')" in code["diff"]


def test_lines_are_downsampled_keeping_extremes(server: WebServer, runs: list[str]) -> None:
    lines = get_json(server, "/ui/api/lines", run=runs[:2], points=16)
    assert isinstance(lines, list)
    assert [line["run_id"] for line in lines] == runs[:2]
    loss = unpacked(lines[0]["lines"]["loss"])
    assert loss["count"] == 50 and len(loss["value"]) <= 18
    assert max(loss["value"]) == 1.0 and min(loss["value"]) == pytest.approx(1 / 50)
    assert loss["step"] == sorted(loss["step"]) and loss["step"][0] == 0 and loss["step"][-1] == 49


def test_metrics_of_many_runs_read_in_one_batch_equal_those_read_one_by_one(
    runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gittrack import runs as runs_module

    store = Client().store
    commits = [store.run_commit(rid) for rid in runs]
    one_by_one = store.map_metrics_at(commits, lambda _, table: table)
    monkeypatch.setattr(runs_module, "BATCH_READS", 1)  # through git cat-file
    batched = store.map_metrics_at(commits, lambda _, table: table)
    assert [t.num_rows for t in batched] == [50] * 5
    assert all(a.equals(b) for a, b in zip(one_by_one, batched, strict=True))


@pytest.fixture
def varied_runs(repo: Path) -> list[str]:
    """Twelve runs (enough for one git cat-file): unicode keys, runs lacking a key or
    every metric, NaN and infinities, steps logged out of order."""
    keys = ["loss", "损失/ü", "acc 2"]
    ids = []
    for i in range(12):
        with gittrack.start_run(run_name=f"varied-{i}") as run:
            steps = range(200 + 37 * i)
            for step in reversed(steps) if i == 5 else steps:
                if i % 4 == 3:
                    break  # no metric at all
                value = math.sin(step / 7.0) * (i + 1)
                if step % 53 == 0:
                    value = [math.nan, math.inf, -math.inf][step % 3]
                gittrack.log_metrics(
                    {k: value + j for j, k in enumerate(keys[: 1 + i % 3])}, step=step
                )
        ids.append(run.info.run_id)
    return ids


def test_lines_read_on_a_pool_equal_each_run_downsampled_alone(
    varied_runs: list[str], repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gittrack.ui import api
    from gittrack.ui.series import as_json, clamp_points, downsample, window_lines

    monkeypatch.setattr(api, "READ_WORKERS", 4)
    store = Client().store
    tables = [store.read_metrics(store.load(rid)) for rid in varied_runs]  # one at a time
    wanted = ["损失/ü", "loss"]
    expected = [
        {k: as_json(line) for k, line in downsample(t, clamp_points(40)).items() if k in wanted}
        for t in tables
    ]
    zoomed = [window_lines(t, wanted, 40, x="step", lo=30, hi=90, start_time=0) for t in tables]
    assert sum(1 for e in expected if "损失/ü" in e) == 6 and sum(1 for e in expected if not e) == 3
    with serving(repo) as srv:
        for _ in range(2):  # read from git, then from the kept lines
            answer = get_json(srv, "/ui/api/lines", run=varied_runs, key=wanted, points=40)
            assert isinstance(answer, list)
            assert [r["run_id"] for r in answer] == varied_runs
            assert [r["lines"] for r in answer] == expected
        window = get_json(
            srv, "/ui/api/lines", run=varied_runs, key=wanted, points=40, lo=30, hi=90
        )
        assert isinstance(window, list)
        assert [r["lines"] for r in window] == zoomed


def test_metrics_of_many_runs_are_held_one_per_worker(varied_runs: list[str]) -> None:
    import weakref

    from gittrack.ui.series import as_json, downsample

    store = Client().store
    commits = [store.run_commit(rid) for rid in varied_runs]
    alive = [0]  # histories handed out and not yet freed
    held: list[int] = []
    lock = threading.Lock()

    def freed() -> None:
        with lock:
            alive[0] -= 1

    def use(_: str, table: Any) -> dict[str, Any]:
        with lock:
            if table is not None:
                alive[0] += 1
                weakref.finalize(table, freed)
            held.append(alive[0])
        return {k: as_json(line) for k, line in downsample(table, 64).items()}

    pooled = store.map_metrics_at(commits, use, workers=3)
    assert max(held) <= 3  # the histories read so far are not all kept
    held.clear()
    assert store.map_metrics_at(commits, use, workers=1) == pooled
    assert max(held) == 1


@pytest.mark.parametrize("workers", [1, 4])
def test_a_damaged_history_among_many_is_one_clear_error(
    varied_runs: list[str], repo: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    from test_hostile_input import corrupt

    from gittrack.ui import api

    monkeypatch.setattr(api, "READ_WORKERS", workers)
    bad = varied_runs[4]
    corrupt(repo, bad, {"metrics.parquet": b"PAR1" + b"x" * 300 + b"PAR1"})
    commit = git(repo, "rev-parse", f"refs/gittrack/runs/{bad}").strip()
    with serving(repo) as srv:
        status, _, body = call(
            srv, "GET", "/ui/api/lines?" + urlencode({"run": varied_runs}, doseq=True)
        )
        error = json.loads(body)
        assert status == 400 and error["error_code"] == "CorruptRunError"
        assert commit[:12] in error["message"] and "\n" not in error["message"]
        healthy = [rid for rid in varied_runs if rid != bad]
        answer = get_json(srv, "/ui/api/lines", run=healthy)
        assert isinstance(answer, list) and [r["run_id"] for r in answer] == healthy


def unpacked(line: dict[str, Any]) -> dict[str, Any]:
    """A line of /ui/api/lines with its arrays (base64 of little-endian float64) decoded."""

    def numbers(text: str) -> list[float]:
        data = base64.b64decode(text)
        return list(struct.unpack(f"<{len(data) // 8}d", data))

    return {k: v if k == "count" else numbers(v) for k, v in line.items()}


def test_live_refresh_is_answered_unchanged_until_a_run_changes(
    server: WebServer, runs: list[str]
) -> None:
    page = get_json(server, "/ui/api/runs", columns="default")
    assert isinstance(page, dict)
    assert page["columns"] == ["params.lr", "params.model", "metrics.loss"]
    assert set(page["rows"][0]["cells"]) == set(page["columns"])
    token = page["generation"]
    assert get_json(server, "/ui/api/runs", since=token) == {
        "unchanged": True,
        "generation": token,
    }
    Client().set_tag(runs[0], "note", "changed")
    Client().flush(runs[0])
    again = get_json(server, "/ui/api/runs", since=token, column="tags.note")
    assert isinstance(again, dict) and again["generation"] != token
    assert {r["cells"]["tags.note"] for r in again["rows"]} == {None, "changed"}


def test_default_columns_show_what_the_runs_vary_before_what_they_share(repo: Path) -> None:
    """A sweep's table opens on the params it varies: before the user chooses columns,
    params (and metrics) whose values differ among the rows come first, by name."""
    gittrack.set_experiment("sweep")
    for lr, depth in ((0.1, 3), (0.01, 3), (0.001, 6)):
        with gittrack.start_run():
            shared = {"batch_size": 64, "dataset": "wine-v2", "epochs": 10, "seed": 7}
            gittrack.log_params({**shared, "lr": lr, "depth": depth})
            gittrack.log_metrics({"a_const": 1.0, "b_const": 2.0, "c_const": 3.0, "loss": lr})
    with serving(repo) as srv:
        page = get_json(srv, "/ui/api/runs", columns="default")
        assert isinstance(page, dict)
        assert page["columns"] == [
            "params.depth",
            "params.lr",
            "params.batch_size",
            "metrics.loss",
            "metrics.a_const",
            "metrics.b_const",
        ]
        # a page whose rows share every value keeps the name order
        one = get_json(srv, "/ui/api/runs", columns="default", limit=1)
        assert isinstance(one, dict)
        assert one["columns"][:3] == ["params.batch_size", "params.dataset", "params.depth"]


def test_lines_of_one_metric_and_of_a_zoomed_window(repo: Path) -> None:
    with gittrack.start_run() as run:
        for step in range(1000):
            gittrack.log_metrics({"loss": 1000.0 - step, "acc": step / 1000}, step=step)
    rid = run.info.run_id
    with serving(repo) as srv:
        (whole,) = get_json(srv, "/ui/api/lines", run=rid, key="loss", points=100)
        assert list(whole["lines"]) == ["loss"]  # only the metric asked for
        assert len(unpacked(whole["lines"]["loss"])["value"]) <= 102
        (zoomed,) = get_json(srv, "/ui/api/lines", run=rid, key="loss", points=100, lo=500, hi=520)
        line = unpacked(zoomed["lines"]["loss"])
        # every logged point of the window, and one on either side, values as logged
        assert line["step"] == list(range(499, 522))
        assert line["value"] == [1000.0 - s for s in range(499, 522)]
        assert line["count"] == 1000
        (rel,) = get_json(srv, "/ui/api/lines", run=rid, key="acc", x="relative", lo=-1, hi=1e9)
        assert len(unpacked(rel["lines"]["acc"])["step"]) == 1000
        status, _, body = call(srv, "GET", f"/ui/api/lines?run={rid}&lo=5&hi=1")
        assert status == 400 and b"lo <= hi" in body
        status, _, body = call(srv, "GET", f"/ui/api/lines?run={rid}&lo=1&hi=5&x=epoch")
        assert status == 400 and b"x must be step, time or relative" in body


def test_lines_of_the_first_metrics_by_name_before_the_page_knows_them(repo: Path) -> None:
    """``first=N``: the first N metric names of the chosen runs, in sorted order, as the
    compare page asks for them beside the runs' rows."""
    ids = []
    for keys in (["zeta", "beta"], ["alpha", "beta"], []):
        with gittrack.start_run() as run:
            for step in range(3):
                gittrack.log_metrics({k: float(step) for k in keys}, step=step)
        ids.append(run.info.run_id)
    with serving(repo) as srv:
        answer = get_json(srv, "/ui/api/lines", run=ids, first=2, points=64)
        assert [sorted(r["lines"]) for r in answer] == [["beta"], ["alpha", "beta"], []]
        assert unpacked(answer[1]["lines"]["alpha"])["value"] == [0.0, 1.0, 2.0]
        every = get_json(srv, "/ui/api/lines", run=ids, first=12, points=64)
        assert [sorted(r["lines"]) for r in every] == [["beta", "zeta"], ["alpha", "beta"], []]
        (none,) = get_json(srv, "/ui/api/lines", run=ids[2], first=3, points=64)
        assert none["lines"] == {}
        for query in ("first=2&key=beta", "first=-1"):
            status, _, body = call(srv, "GET", f"/ui/api/lines?run={ids[0]}&{query}")
            assert status == 400 and json.loads(body)["message"] == (
                "first must be a positive number of metrics, without key"
            )


def test_keep_extremes_keeps_every_spike() -> None:
    import numpy as np

    from gittrack.ui.series import keep_extremes

    values = np.sin(np.arange(10_000) / 300.0)
    values[1234], values[8765] = 50.0, -50.0
    kept = keep_extremes(values, 1000)
    assert len(kept) <= 1002 and {0, 1234, 8765, 9999} <= set(kept.tolist())
    assert list(kept) == sorted(kept)
    assert keep_extremes(values[:10], 1000).tolist() == list(range(10))


@pytest.mark.parametrize("keys, grouped", [(5, False), (300, False), (4, True)])
def test_history_grouped_per_key_in_step_order(keys: int, grouped: bool) -> None:
    import random

    import pyarrow as pa

    from gittrack.ui.series import group_history

    rnd = random.Random(keys)
    rows = [
        (
            rnd.randrange(keys),
            rnd.randrange(50),
            rnd.randrange(3),
            rnd.choice([rnd.random(), math.nan]),
        )
        for _ in range(3000)
    ]
    if grouped:  # rows already grouped by key, as a single-metric loop writes them
        rows.sort(key=lambda r: r[0])
    names = [f"m{k}/ü" for k in range(keys)]
    codes = pa.array([r[0] for r in rows], pa.int32())
    table = pa.table(
        {
            "key": pa.DictionaryArray.from_arrays(codes, pa.array(names)),
            "step": pa.array([r[1] for r in rows], pa.int64()),
            "timestamp": pa.array([r[2] for r in rows], pa.int64()),
            "value": pa.array([r[3] for r in rows], pa.float64()),
        }
    )
    found = group_history(table)
    expected = {}
    for code, name in enumerate(names):  # each key's points by step, then time, else as logged
        mine = sorted((r for r in rows if r[0] == code), key=lambda r: (r[1], r[2]))
        if mine:
            expected[name] = [(r[1], r[2], repr(r[3])) for r in mine]
    assert list(found) == list(expected)
    for name, (steps, stamps, values) in found.items():
        got = list(zip(steps.tolist(), stamps.tolist(), map(repr, values.tolist()), strict=True))
        assert got == expected[name]


@pytest.mark.parametrize(
    "column",
    [
        [3, -(2**63), 2**63 - 1],
        [0.1, -0.0, math.inf, 1e-300],
        "sliced",
        "chunked",
        "with nulls",
        "empty",
        "uint8",
        "float32",
    ],
)
def test_arrow_columns_as_numpy_hold_every_value_exactly(column: object) -> None:
    import pyarrow as pa

    from gittrack.ui.series import as_numpy

    arrays = {
        "sliced": pa.array([1.5, 2.5, 3.5, 4.5]).slice(1, 2),
        "chunked": pa.chunked_array([[1, 2], [], [3]], pa.int64()),
        "with nulls": pa.array([1.0, None, 2.0]),
        "empty": pa.chunked_array([], pa.int64()),
        "uint8": pa.array([0, 255], pa.uint8()),
        "float32": pa.array([0.5, 1.25], pa.float32()),
    }
    array = arrays[column] if isinstance(column, str) else pa.array(column)
    expected = [math.nan if v is None else v for v in array.to_pylist()]
    found = as_numpy(array)
    assert list(map(repr, found.tolist())) == list(map(repr, expected))
    assert str(found.dtype) == {"halffloat": "float16", "float": "float32"}.get(
        str(array.type), str(array.type).replace("double", "float64")
    )


def test_drawing_lines_does_not_import_pandas() -> None:
    """pyarrow's to_numpy imports pandas (about 0.16 s), which the first chart request
    after ``gittrack ui`` starts would wait for."""
    import importlib.util
    import subprocess
    import sys

    assert importlib.util.find_spec("pandas") is not None  # else this test shows nothing
    script = (
        "import sys\n"
        "from gittrack.format import metrics_table, read_metrics, write_metrics\n"
        "from gittrack.ui.series import downsample, window_lines\n"
        "data = write_metrics(metrics_table([0, 0], ['m'], [0, 1], [5, 6], [1.0, 2.0]))\n"
        "t = read_metrics(data, 'x')\n"
        "assert downsample(t, 100)['m'][2].tolist() == [1.0, 2.0]\n"
        "window_lines(t, ['m'], 100, x='step', lo=0, hi=1, start_time=5)\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_non_finite_points_are_left_out_of_lines(repo: Path) -> None:
    import pyarrow as pa

    from gittrack.format import metrics_table
    from gittrack.ui.series import as_json, downsample

    table: pa.Table = metrics_table([0, 0, 0], ["m"], [0, 1, 2], [10, 11, 12], [1.0, math.nan, 3.0])
    lines = downsample(table, 100)
    assert list(lines) == ["m"]
    assert unpacked(as_json(lines["m"])) == {
        "step": [0, 2],
        "time": [10, 12],
        "value": [1.0, 3.0],
        "count": 3,
    }


def test_writes_need_the_token_and_go_through_the_library(
    server: WebServer, runs: list[str]
) -> None:
    rid = runs[0]
    path = f"/ui/api/run/{rid}/tags"
    status, _, _ = call(
        server, "POST", path, {"set": {"k": "v"}}, {"Content-Type": "application/json"}
    )
    assert status == 403
    status, _, _ = call(server, "POST", path, {"set": {"k": "v"}}, {"X-Gittrack-Token": "wrong"})
    assert status == 403
    auth = {"X-Gittrack-Token": TOKEN, "Content-Type": "application/json"}
    assert call(server, "POST", path, {"set": {"ключ": "значение ✓"}}, auth)[0] == 200
    assert call(server, "POST", path, {"delete": ["team"]}, auth)[0] == 200
    assert (
        call(server, "POST", f"/ui/api/run/{rid}/note", {"note": "first try\nbad lr"}, auth)[0]
        == 200
    )
    assert call(server, "POST", f"/ui/api/run/{rid}/rename", {"name": "renamed é"}, auth)[0] == 200
    run = Client().get_run(rid)
    assert run.data.tags["ключ"] == "значение ✓" and "team" not in run.data.tags
    assert run.data.tags["mlflow.note.content"] == "first try\nbad lr"
    assert run.info.run_name == "renamed é"
    doc = get_json(server, f"/ui/api/run/{rid}")
    assert isinstance(doc, dict)
    assert doc["note"] == "first try\nbad lr" and "mlflow.note.content" not in doc["tags"]
    status, _, body = call(server, "POST", f"/ui/api/run/{rid}/rename", {"name": ""}, auth)
    assert status == 400 and "name" in json.loads(body)["message"]
    assert call(server, "DELETE", f"/ui/api/run/{rid}", None, {"X-Gittrack-Token": "x"})[0] == 403
    assert call(server, "DELETE", f"/ui/api/run/{rid}", None, auth)[0] == 200
    assert Client().get_run(rid).info.lifecycle_stage == "deleted"  # MLflow's soft delete


def test_the_deleted_state_lists_deleted_runs_and_restore_brings_them_back(
    server: WebServer, runs: list[str]
) -> None:
    """The UI had no way to see runs deleted with delete_run or to restore them."""
    rid, auth = runs[1], {"X-Gittrack-Token": TOKEN, "Content-Type": "application/json"}

    def shown(state: str) -> tuple[int, list[str]]:
        page = get_json(server, "/ui/api/runs", state=state)
        assert isinstance(page, dict)
        return page["total"], [r["run_id"] for r in page["rows"]]

    assert call(server, "DELETE", f"/ui/api/run/{rid}", None, auth)[0] == 200
    assert shown("deleted") == (1, [rid])
    assert shown("active") == (4, [r for r in reversed(runs) if r != rid])
    doc = get_json(server, f"/ui/api/run/{rid}")
    assert isinstance(doc, dict) and doc["lifecycle_stage"] == "deleted"
    status, _, body = call(server, "POST", f"/ui/api/run/{rid}/tags", {"set": {"k": "v"}}, auth)
    assert status == 400 and json.loads(body) == {
        "error_code": "RunNotActiveError",
        "message": f"The run {rid} must be in the 'active' state. Current state is deleted. "
        "(restore_run brings it back)",
    }
    restore = f"/ui/api/run/{rid}/restore"
    assert call(server, "POST", restore, {}, {"X-Gittrack-Token": "x"})[0] == 403
    assert call(server, "POST", restore, {}, auth)[0] == 200
    assert shown("deleted") == (0, [])
    assert get_json(server, f"/ui/api/run/{rid}")["lifecycle_stage"] == "active"  # type: ignore[index]
    status, _, body = call(server, "GET", "/ui/api/runs?state=gone")
    assert status == 400 and json.loads(body)["message"] == (
        "state must be active or deleted, not 'gone'"
    )


def test_page_carries_the_token_and_the_charting_libraries_are_served_locally(
    server: WebServer,
) -> None:
    status, headers, body = call(server, "GET", "/")
    assert status == 200 and f'content="{TOKEN}"' in body.decode()
    assert "default-src 'self'" in headers["content-security-policy"]
    assert b"https://" not in body
    # the page names each library by the installed file: the browser keeps it (and the
    # code it compiled from it) for good; an address naming another file is not kept
    page = body.decode()
    for name, installed, before in (
        ("uPlot.iife.js", LIBRARIES["uPlot.iife.js"].path(), b""),
        ("uPlot.min.css", LIBRARIES["uPlot.min.css"].path(), b""),
        # after the line that has Chromium compile Plotly.js off the page's main thread
        ("plotly.min.js", LIBRARIES["plotly.min.js"].path(), b"//# allFunctionsCalledOnLoad\n"),
    ):
        found = re.search(rf'"(/ui/vendor/{re.escape(name)}\?v=[^"]+)"', page)
        assert found, name
        status, headers, served = call(server, "GET", html.unescape(found.group(1)))
        assert status == 200 and served == before + installed.read_bytes()
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert headers["content-type"].startswith(kind)
        assert headers["cache-control"] == "public, max-age=31536000, immutable"
        for stale in (f"/ui/vendor/{name}", f"/ui/vendor/{name}?v=0-0"):
            status, headers, again = call(server, "GET", stale)
            assert status == 200 and again == served and headers["cache-control"] == "no-cache"
    assert len(LIBRARIES["plotly.min.js"].path().read_bytes()) > 1_000_000
    status, _, body = call(server, "GET", "/ui/vendor/d3.js")
    assert status == 404 and json.loads(body)["message"] == "no library 'd3.js'"
    app = call(server, "GET", "/ui/static/app.js")[2]
    assert b"https://" not in app and b"http://" not in app  # nothing from the internet
    assert call(server, "GET", "/ui/static/..%2Fapi.py")[0] == 404


def test_a_library_not_installed_is_a_404_naming_what_to_install(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the package (or with a package lacking the file) the page still loads and
    names the library's plain address, which answers 404 with the reason."""
    from gittrack.ui import files

    monkeypatch.setitem(
        files.LIBRARIES, "uPlot.iife.js", files.Library("gittrack_no_such_pkg", "a.js")
    )
    monkeypatch.setitem(files.LIBRARIES, "uPlot.min.css", files.Library("gittrack", "no.css"))
    with serving(repo) as srv:
        status, _, page = call(srv, "GET", "/")
        assert status == 200 and b'content="/ui/vendor/uPlot.iife.js"' in page
        assert b'href="/ui/vendor/uPlot.min.css"' in page
        status, _, body = call(srv, "GET", "/ui/vendor/uPlot.iife.js")
        assert status == 404 and json.loads(body)["message"] == (
            "gittrack_no_such_pkg is not installed (pip install 'gittrack[ui]')"
        )
        status, _, body = call(srv, "GET", "/ui/vendor/uPlot.min.css")
        assert status == 404 and json.loads(body)["message"].endswith(
            "no.css is missing from the gittrack package"
        )


def test_host_header_must_name_this_server(server: WebServer) -> None:
    status, _, body = call(server, "GET", "/ui/api/experiments", headers={"Host": "evil.example"})
    assert status == 403 and json.loads(body)["error_code"] == "FORBIDDEN_HOST"


@pytest.mark.parametrize(
    "path",
    ["../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd"],
)
def test_artifact_paths_cannot_leave_the_run(server: WebServer, runs: list[str], path: str) -> None:
    for prefix in ("/ui/artifact/", "/ui/api/table/"):
        status, _, body = call(server, "GET", f"{prefix}{runs[-1]}/{path}")
        assert status in (400, 404), body
        assert b"root:" not in body


def test_artifacts_are_served_sandboxed_so_no_script_runs_in_the_ui_origin(
    server: WebServer, runs: list[str]
) -> None:
    status, headers, body = call(server, "GET", f"/ui/artifact/{runs[-1]}/{quote('page.html')}")
    assert status == 200 and b"<script>" in body
    assert headers["content-security-policy"].startswith("sandbox")
    assert headers["x-content-type-options"] == "nosniff"
    app = (Path(gittrack.__file__).parent / "ui" / "static" / "app.js").read_text()
    assert 'h("iframe", {sandbox: ""' in app  # HTML previews: an iframe with every permission off


def test_text_artifacts_in_utf8_are_served_as_utf8(repo: Path, tmp_path: Path) -> None:
    """An HTML report with no <meta charset> (pandas' to_html writes none) shows its
    accents, not mojibake; bytes that are not UTF-8 are left to the browser to guess."""
    files = {
        "report.html": "<p>résumé ✓</p>".encode(),
        "old.html": "<p>caf\xe9</p>".encode("latin-1"),
    }
    with gittrack.start_run() as run:
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
            gittrack.log_artifact(str(tmp_path / name))
    with serving(repo) as srv:
        types = {
            name: call(srv, "GET", f"/ui/artifact/{run.info.run_id}/{name}")[1]["content-type"]
            for name in files
        }
    assert types == {"report.html": "text/html; charset=utf-8", "old.html": "text/html"}


def test_page_runs_slices_the_same_sequence_as_search(runs: list[str], repo: Path) -> None:
    from gittrack.entities import ViewType
    from gittrack.query.page import page_runs
    from gittrack.query.search import query_rows
    from gittrack.session import open_index

    for flt, order in [(None, None), ("metrics.loss < 0.5", ["params.model DESC", "metrics.loss"])]:
        expected = [r["run_id"] for r in query_rows(flt, order)]
        with open_index() as index:
            got = [
                r["run_id"]
                for offset in range(0, 5, 2)
                for r in page_runs(
                    index, filter_string=flt, order_by=order, offset=offset, limit=2
                ).rows
            ]
        assert got == expected
    with open_index() as index:
        before = page_runs(index, limit=10).total
        with gittrack.start_run():
            pass
        assert page_runs(index, limit=10).total == before + 1  # a new run moves the cache on
    # a run deleted through the API leaves the table, as it leaves `gittrack list` and the
    # experiment's count; it is still there for a view of every run
    Client().delete_run(runs[0])
    assert runs[0] not in [r["run_id"] for r in query_rows()]
    with open_index() as index:
        shown = [r["run_id"] for r in page_runs(index, limit=10).rows]
        assert runs[0] not in shown and len(shown) == before
        every = page_runs(index, limit=10, view_type=ViewType.ALL).rows
        assert runs[0] in [r["run_id"] for r in every]


def test_models_with_versions_linked_to_runs_and_alias_history(repo: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from gittrack.models import registry
    from gittrack.session import open_repository

    x = np.array([[1.0], [2.0], [3.0]])
    ids = []
    for coef in (1.0, 2.0):
        with gittrack.start_run() as run:
            gittrack.sklearn.log_model(LinearRegression().fit(x, x[:, 0] * coef), "model")
        ids.append(run.info.run_id)
        gittrack.register_model(f"runs:/{run.info.run_id}/model", "Modèle churn")
    registry.set_alias(open_repository(create=False), "Modèle churn", "prod", 1, now_ms=1000)
    registry.set_alias(open_repository(create=False), "Modèle churn", "prod", 2, now_ms=2000)
    with serving(repo) as srv:
        models = get_json(srv, "/ui/api/models")
    assert isinstance(models, list) and len(models) == 1
    churn = models[0]
    assert (
        churn["name"] == "Modèle churn" and churn["latest"] == 2 and churn["aliases"] == {"prod": 2}
    )
    assert [(v["version"], v["run_id"]) for v in churn["versions"]] == [(1, ids[0]), (2, ids[1])]
    history = churn["alias_history"]["prod"]
    assert sorted((e["set_at"], e["version"]) for e in history) == [(1000, 1), (2000, 2)]
