"""``gittrack export parquet``: the dataset other engines read equals ``gittrack list``."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import fails, ok

import gittrack


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _num(value: Any) -> float:
    return float(value.replace("Infinity", "inf")) if isinstance(value, str) else float(value)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.fixture
def logged(repo: Path) -> list[str]:
    client = gittrack.Client()
    (repo / "data.csv").write_text("a,b\n1,2\n")
    ids = []
    for i, (experiment, name) in enumerate(
        [("vision α", "one"), ("vision α", "two"), ("nlp/100%", "three")]
    ):
        run = client.create_run(experiment, run_name=name)
        rid = run.info.run_id
        client.log_params(rid, {"lr": 0.1 * (i + 1), "deep": i == 1, "opt": "adam ü"})
        for step in range(5):
            client.log_metric(rid, "loss/train", 1.0 / (step + 1 + i), step=step)
        client.log_metric(rid, "odd", float("nan") if i == 0 else float("-inf"))
        client.set_tag(rid, "team", f"t{i}")
        client.log_input(rid, str(repo / "data.csv"), name="data", context="train")
        client.set_terminated(rid, "FINISHED" if i else "FAILED")
        ids.append(rid)
    return ids


def _check_against_list(dest: Path, engine: str = "pyarrow") -> None:
    listed = {r["run_id"]: r for r in json.loads(ok("list", "--format", "json"))}
    client = gittrack.Client()
    if engine == "pyarrow":
        import pyarrow.dataset as ds

        runs = ds.dataset(dest / "runs", format="parquet", partitioning="hive").to_table()
        rows = runs.to_pylist()
        metrics = ds.dataset(dest / "metrics", format="parquet", partitioning="hive").to_table()
        points = [
            (p["run_id"], p["key"], p["step"], p["timestamp"], p["value"], p["experiment"])
            for p in metrics.to_pylist()
        ]
    else:
        import duckdb

        con = duckdb.connect()
        query = "select * from read_parquet(?, hive_partitioning = true)"
        cursor = con.execute(query, [str(dest / "runs" / "*" / "*.parquet")])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        for row in rows:  # DuckDB gives maps as dicts
            for kind in ("params", "metrics", "tags"):
                row[kind] = list(row[kind].items())
        points = con.execute(
            "select run_id, key, step, timestamp, value, experiment from read_parquet(?, "
            "hive_partitioning = true)",
            [str(dest / "metrics" / "*" / "*.parquet")],
        ).fetchall()
    rows = [r for r in rows if r["lifecycle_stage"] == "active"]  # as gittrack list
    assert sorted(r["run_id"] for r in rows) == sorted(listed)
    for row in rows:
        want = listed[row["run_id"]]
        assert (row["commit"], row["name"], row["experiment"], row["status"]) == (
            want["commit"],
            want["name"],
            want["experiment"],
            want["status"],
        )
        assert (_iso(row["start_time"]), _iso(row["end_time"])) == (
            want["start_time"],
            want["end_time"],
        )
        assert dict(row["params"]) == {
            k: v if isinstance(v, str) else str(v) for k, v in want["params"].items()
        }
        assert dict(row["tags"]) == want["tags"]
        got_metrics = dict(row["metrics"])
        assert set(got_metrics) == set(want["metrics"])
        assert all(_same(got_metrics[k], _num(v)) for k, v in want["metrics"].items())
        assert [(i["name"], i["digest"]) for i in row["inputs"]] == [
            (name, entry["digest"]) for name, entry in want.get("inputs", {}).items()
        ]
        run = client.get_run(row["run_id"])
        assert row["user"] == run.info.user_id and row["source_commit"] == run.info.source_commit
    points = [p for p in points if p[0] in listed]
    expected_points = sorted(
        (rid, m.key, m.step, m.timestamp, repr(m.value), want["experiment"])
        for rid, want in listed.items()
        for key in want["metrics"]
        for m in client.get_metric_history(rid, key)
    )
    assert sorted((*p[:4], repr(p[4]), p[5]) for p in points) == expected_points


def test_export_equals_list_and_reexport_writes_only_changes(
    repo: Path, tmp_path: Path, logged: list[str]
) -> None:
    dest = tmp_path / "lake"
    first = json.loads(ok("export", "parquet", str(dest), "--format", "json"))
    assert (first["runs"], first["written"], first["points"]) == (3, 3, 18)
    _check_against_list(dest)
    files = sorted(p.relative_to(dest) for p in dest.rglob("*.parquet"))
    again = json.loads(ok("export", "parquet", str(dest), "--format", "json"))
    assert (again["written"], again["unchanged"], again["points"]) == (0, 3, 0)
    assert sorted(p.relative_to(dest) for p in dest.rglob("*.parquet")) == files
    # One run changes, one is deleted, one is new: only those move.
    client = gittrack.Client()
    client.set_tag(logged[1], "team", "changed")
    client.flush()
    ok("rm", logged[2], "--yes")
    new = client.create_run("vision α", run_name="four")
    client.log_metric(new.info.run_id, "loss/train", 0.5)
    client.set_terminated(new.info.run_id)
    third = json.loads(ok("export", "parquet", str(dest), "--format", "json"))
    assert (third["runs"], third["written"], third["removed"], third["unchanged"]) == (3, 2, 1, 1)
    _check_against_list(dest)
    assert not (dest / "runs" / "experiment=nlp%2F100%25").exists()


def test_deleted_runs_are_marked_and_an_older_export_is_written_again(
    repo: Path, tmp_path: Path, logged: list[str]
) -> None:
    """A run deleted with delete_run was a row like any other (gittrack list and MLflow's
    search hide it): the runs table says which are deleted in ``lifecycle_stage``."""
    import pyarrow.dataset as ds

    gittrack.Client().delete_run(logged[0])
    dest = tmp_path / "lake"
    ok("export", "parquet", str(dest))
    table = ds.dataset(dest / "runs", format="parquet", partitioning="hive").to_table()
    stages = {r["run_id"]: r["lifecycle_stage"] for r in table.to_pylist()}
    assert stages == {logged[0]: "deleted", logged[1]: "active", logged[2]: "active"}
    _check_against_list(dest)
    # An export made before the column existed (state format 1) is written again whole.
    state = json.loads((dest / "_gittrack_export.json").read_text())
    (dest / "_gittrack_export.json").write_text(json.dumps({**state, "format": 1}))
    again = json.loads(ok("export", "parquet", str(dest), "--format", "json"))
    assert (again["runs"], again["written"], again["unchanged"]) == (3, 3, 0)
    assert len(list(dest.glob("runs/*/*.parquet"))) == 2  # the old parts are gone
    _check_against_list(dest)


def test_duckdb_reads_the_same(repo: Path, tmp_path: Path, logged: list[str]) -> None:
    pytest.importorskip("duckdb")
    ok("export", "parquet", str(tmp_path / "lake"))
    _check_against_list(tmp_path / "lake", engine="duckdb")


def test_export_refuses_a_foreign_directory(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], logged: list[str]
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("precious")
    err = fails(capsys, "export", "parquet", str(tmp_path / "mine"))
    assert "not empty and holds no gittrack export" in err
    assert (tmp_path / "mine" / "keep.txt").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    assert "is not a directory" in fails(capsys, "export", "parquet", str(tmp_path / "file"))
