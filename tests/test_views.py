"""The library views the CLI renders (and the UI and server reuse): JSON rows, experiment
summaries, metric histories, artifact listings, reproduction tolerances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import ok

import gittrack
from gittrack.artifacts.api import ArtifactListing
from gittrack.artifacts.client_api import artifacts_of
from gittrack.errors import ArtifactNotFoundError, ReproduceError, ValidationError
from gittrack.query.page import ExperimentSummary, experiment_summaries
from gittrack.query.views import (
    MetricSeries,
    iso_utc,
    metric_histories,
    run_json,
    run_row_json,
)
from gittrack.reproduce import check_tolerances, compare_metrics
from gittrack.session import open_index, open_repository

ROW_KEYS = [
    "run_id",
    "commit",
    "name",
    "experiment",
    "status",
    "start_time",
    "end_time",
    "params",
    "metrics",
    "tags",
]


def test_the_json_row_is_the_documented_schema_and_what_list_prints(repo: Path) -> None:
    with gittrack.start_run(run_name="a", experiment="e") as run:
        gittrack.log_param("p", 1)
        gittrack.log_metric("m", 0.5)
    (row,) = gittrack.search_runs(output_format="rows", search_all_experiments=True)
    obj = run_row_json(row)
    assert list(obj) == ROW_KEYS
    assert obj["start_time"] == iso_utc(row["start_time"]) and obj["start_time"].endswith("Z")
    assert (obj["params"], obj["metrics"]) == ({"p": 1}, {"m": 0.5})
    assert json.loads(ok("list", "--format", "json")) == [obj]
    shown = run_json(open_repository(create=False).load(run.info.run_id))
    shown["children"] = []  # show adds the runs nested in it
    assert json.loads(ok("show", "a", "--format", "json")) == json.loads(json.dumps(shown))


def test_experiment_summaries_count_runs_and_running_ones(repo: Path) -> None:
    client = gittrack.Client()
    for name in ("old", "new", "new"):
        client.set_terminated(client.create_run(name).info.run_id)
    live = client.create_run("new").info.run_id
    with open_index() as index:
        found = experiment_summaries(index)
    assert [(e.name, e.runs, e.running) for e in found] == [
        ("new", 3, 1), ("old", 1, 0), ("Default", 0, 0)
    ]  # fmt: skip
    assert isinstance(found[0], ExperimentSummary)
    assert found[0].last_start_time is not None and found[0].last_start_time > 0
    client.set_terminated(live)
    rows = json.loads(ok("experiments", "--format", "json"))
    assert [(r["name"], r["runs"]) for r in rows] == [("new", 3), ("old", 1), ("Default", 0)]


def test_metric_histories_group_and_order_points(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.log_metric("b", 2.0, step=2, timestamp=20)
        gittrack.log_metric("a", 1.0, step=1, timestamp=10)
        gittrack.log_metric("b", 1.0, step=1, timestamp=30)
        for value in (3.0, 1.0, 2.0):  # one step and time: logging order breaks the tie
            gittrack.log_metric("c", value, step=5, timestamp=50)
    table = gittrack.Client().metrics_table(run.info.run_id)
    history = metric_histories(table)
    assert history == {
        "a": MetricSeries([1], [10], [1.0]),
        "b": MetricSeries([1, 2], [30, 20], [1.0, 2.0]),
        "c": MetricSeries([5, 5, 5], [50, 50, 50], [3.0, 1.0, 2.0]),
    }
    assert history["b"].rows() == [
        {"step": 1, "timestamp": 30, "value": 1.0},
        {"step": 2, "timestamp": 20, "value": 2.0},
    ]
    assert list(metric_histories(table, ["b"])) == ["b"]
    with pytest.raises(ValidationError, match=r"has no metric 'd' \(it has: a, b, c\)"):
        metric_histories(table, ["d"])
    assert metric_histories(None) == {}


def test_artifact_listing_says_where_each_file_is_stored(repo: Path, tmp_path: Path) -> None:
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_text("hi")
    big.write_bytes(b"x" * (128 * 1024))  # above the inline limit: the object cache
    with gittrack.start_run() as run:
        gittrack.log_artifact(small, "d")
        gittrack.log_artifact(big, "d")
        gittrack.log_text("top", "top.txt")
    store = artifacts_of(open_repository(create=False))
    rid = run.info.run_id
    top = store.listing(rid)
    assert [(e.path, e.is_dir, e.stored) for e in top] == [
        ("d", True, None),
        ("top.txt", False, "git"),
    ]
    files = store.listing(rid, "d", recursive=True)
    assert [(e.path, e.size, e.stored) for e in files] == [
        ("d/big.bin", 128 * 1024, "cache"),
        ("d/small.txt", 2, "git"),
    ]
    assert store.listing(rid, "d/small.txt") == [files[1]]
    assert isinstance(files[0], ArtifactListing) and len(files[0].sha256 or "") == 64
    with pytest.raises(ArtifactNotFoundError):
        store.listing(rid, "nope")
    rows = json.loads(ok("artifacts", "ls", rid, "d", "--format", "json"))
    assert [(r["path"], r["stored"]) for r in rows] == [
        ("d/big.bin", "cache"),
        ("d/small.txt", "git"),
    ]


@pytest.mark.parametrize("rtol,atol", [(-1.0, 0.0), (0.0, -1e-9), (float("nan"), 0.0)])
def test_bad_tolerances_are_refused_by_the_library(rtol: float, atol: float) -> None:
    with pytest.raises(ReproduceError, match=r"must (not be negative|be a number)"):
        check_tolerances(rtol, atol)
    with pytest.raises(ReproduceError):
        compare_metrics({"m": 1.0}, {"m": 1.0}, rtol=rtol, atol=atol)
