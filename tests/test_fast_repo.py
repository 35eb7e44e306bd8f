"""The benchmarks' fast builder writes runs gittrack reads exactly, and C git finds sound."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fsck

from benchmarks import fast_repo
from gittrack.client import Client
from gittrack.query.search import search_runs


def test_built_runs_read_back_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    ids = fast_repo.build(repo, 12, experiments=2, distinct=5)
    fsck(repo)
    monkeypatch.chdir(repo)
    rows = search_runs(output_format="rows")
    assert sorted(r["run_id"] for r in rows) == sorted(ids)
    assert {r["experiment"] for r in rows} == {"bench-0", "bench-1"}
    run = Client().get_run(ids[7])
    assert run.info.run_name == "run-7" and run.data.params["p0"] == "v7"
    series = fast_repo.default_series(7 % 5)
    history = Client().get_metric_history(ids[7], "m0")
    assert [(m.step, m.value) for m in history] == list(enumerate(series["m0"]))
    assert run.data.metrics["m0"] == series["m0"][-1]
    code_commit = rows[0]["code_commit"]
    assert all(r["code_commit"] == code_commit for r in rows)
