"""Cold index builds: many runs read in bulk, the columns written from the rows as read,
and a build that stops half way never taken for a whole index."""

from __future__ import annotations

import datetime
import json
import marshal
import math
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git

import gittrack
from gittrack import session
from gittrack.errors import StorageError
from gittrack.format import MetricSummary, RunRecord
from gittrack.index import RUN_INDEXES, RunIndex
from gittrack.index_build import index_row, row_columns
from gittrack.query.search import query_rows
from gittrack.session import open_index

FILTER = "metrics.acc > 0.2"


def make_runs(repo: Path) -> list[str]:
    """Runs of every kind a row can be: unicode, NaN, no metrics, a nested run, deleted,
    and a run ref that is not a run (left out of the rows)."""
    client = gittrack.Client()
    ids = []
    for i, (params, acc) in enumerate(
        [({"lr": "0.1", "ключ": "ünï"}, 0.5), ({"lr": "0.2"}, math.nan), ({}, None), ({}, 0.9)]
    ):
        rid = client.create_run("exp" if i % 2 else "other", run_name=f"r{i}").info.run_id
        if params:
            client.log_params(rid, params)
        if acc is not None:
            client.log_metric(rid, "acc", acc)
        client.set_terminated(rid)
        ids.append(rid)
    kid = client.create_run("exp", run_name="kid", parent_run_id=ids[0]).info.run_id
    client.set_tag(kid, "team", "a")
    client.set_terminated(kid)
    client.delete_run(ids[1])
    ids.append(kid)
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", f"refs/gittrack/runs/{'d' * 32}", head)  # corrupt: left out
    return ids


def bulk(monkeypatch: pytest.MonkeyPatch, *, helpers: bool) -> None:
    """Read every run through git cat-file (in helper processes when ``helpers``)."""
    import gittrack.index as index_mod

    monkeypatch.setattr(index_mod, "BATCH_THRESHOLD", 2)
    if helpers:
        monkeypatch.setattr(index_mod, "PARALLEL_THRESHOLD", 2)
        monkeypatch.setattr(index_mod.os, "cpu_count", lambda: 3)


def columns_file(repo: Path) -> Path:
    return repo / ".git" / "gittrack" / "index.sqlite.cols"


def columns(repo: Path) -> str:
    """What the columns file holds (its header, each column's values), as text (NaN
    compares equal as text)."""
    data = columns_file(repo).read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = marshal.loads(data[8 : 8 + size])
    base = 8 + size
    values = {k: marshal.loads(data[base + o : base + o + n]) for k, (o, n) in header[3].items()}
    return repr((header, values))


def cold_build(repo: Path) -> str:
    """Build the index from nothing, as a new process would; the columns it wrote."""
    session.reset()
    for path in (repo / ".git" / "gittrack").glob("index.sqlite*"):
        path.unlink()
    with open_index() as index:
        index.refresh()
    return columns(repo)


@pytest.mark.parametrize("helpers", [False, True])
def test_a_bulk_build_writes_the_columns_a_whole_row_search_writes(
    repo: Path, monkeypatch: pytest.MonkeyPatch, helpers: bool
) -> None:
    make_runs(repo)
    bulk(monkeypatch, helpers=helpers)
    cold = cold_build(repo)
    with sqlite3.connect(repo / ".git" / "gittrack" / "index.sqlite") as db:
        made = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert set(RUN_INDEXES) <= made
    expected = [query_rows(FILTER, "metrics.acc DESC", max_results=n) for n in (1, 10)]
    session.reset()  # a new process: the columns alone answer a search for a few runs
    with monkeypatch.context() as m:
        m.setattr(RunIndex, "rows", lambda self, e=None: pytest.fail("read every row"))
        assert [query_rows(FILTER, "metrics.acc DESC", max_results=n) for n in (1, 10)] == (
            expected
        )
    columns_file(repo).unlink()  # the columns of the same rows, from every decoded row
    session.reset()
    assert query_rows(FILTER, "metrics.acc DESC", max_results=10) == expected[1]
    assert columns(repo) == cold
    assert [r["name"] for r in expected[1]] == ["r3", "r0"]


def test_a_row_to_decode_leaves_the_columns_to_the_first_search(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gittrack.index_build as build_mod

    make_runs(repo)
    bulk(monkeypatch, helpers=False)
    reads = build_mod.index_row

    def one_not_exact(*args: Any) -> Any:  # as for a value JSON has no type for
        row, columns = reads(*args)
        return row, None if row[2] == "r3" else columns

    with monkeypatch.context() as m:
        m.setattr(build_mod, "index_row", one_not_exact)
        session.reset()
        with open_index() as index:
            index.refresh()
    assert not columns_file(repo).exists()
    assert [r["name"] for r in query_rows(FILTER, "metrics.acc DESC", max_results=5)] == [
        "r3",
        "r0",
    ]
    assert columns_file(repo).exists()


def test_only_rows_json_gives_back_exactly_are_kept_as_read() -> None:
    def record(**params: Any) -> RunRecord:
        return RunRecord(
            run_id="a" * 32,
            name="n",
            experiment="exp",
            status="FINISHED",
            start_time=1,
            params=params,
            metrics={"m": MetricSummary(math.inf, 1, 2, 1)},
        )

    params = {"lr": 0.1, "s": "ü", "n": None, "big": 10**30}
    row, columns = index_row("a" * 32, "c" * 40, lambda: record(**params))
    assert columns is not None and columns == row_columns(json.loads(row[10]))
    assert columns[2][0] == (tuple(params), tuple(params.values()))
    assert columns[2][1] == (("m",), (math.inf,))
    for odd in (datetime.date(2020, 1, 2), {1: "a"}, ["x"]):  # text, "1", or nested
        row, columns = index_row("a" * 32, "c" * 40, lambda odd=odd: record(p=odd))
        assert columns is None and row[10] is not None


def test_a_build_that_fails_half_way_leaves_no_index_taken_as_whole(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = make_runs(repo)
    bulk(monkeypatch, helpers=False)
    insert = RunIndex._insert

    def insert_then_fail(self: RunIndex, rows: list[tuple[Any, ...]]) -> None:
        insert(self, rows)
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as m, pytest.raises(StorageError, match="cannot update"):
        m.setattr(RunIndex, "_insert", insert_then_fail)
        cold_build(repo)
    assert not columns_file(repo).exists()
    with open_index(refresh=False) as index:
        assert index.entries() == [] and not index.up_to_date() and not index.generation
        index.refresh()
        assert {e.run_id for e in index.entries() if not e.corrupt} == set(ids)


def test_a_build_killed_half_way_leaves_no_index_taken_as_whole(repo: Path) -> None:
    make_runs(repo)
    script = (
        "import os, signal\n"
        "import gittrack.index as index_mod\n"
        "index_mod.BATCH_THRESHOLD = 2\n"
        "insert = index_mod.RunIndex._insert\n"
        "def insert_then_die(self, rows):\n"
        "    insert(self, rows)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "index_mod.RunIndex._insert = insert_then_die\n"
        "from gittrack.session import open_index\n"
        "open_index()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True)
    assert proc.returncode == -9, proc.stderr
    assert not columns_file(repo).exists()
    session.reset()
    with open_index(refresh=False) as index:
        assert index.entries() == [] and not index.up_to_date()
    assert [r["name"] for r in query_rows(FILTER, "metrics.acc DESC", max_results=5)] == [
        "r3",
        "r0",
    ]
