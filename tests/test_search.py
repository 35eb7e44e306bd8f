"""gittrack.search_runs: MLflow's filter and order_by over the index, MLflow's columns."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import user_tags

import gittrack
from gittrack.errors import FilterSyntaxError, ValidationError
from gittrack.query.search import search_runs


@pytest.fixture
def runs(repo: Path) -> dict[str, str]:
    client = gittrack.Client()
    ids: dict[str, str] = {}
    specs = [
        ("cnn-1", "vision", {"model": "cnn", "lr": 0.1}, {"acc": 0.90, "loss": 0.3}, 1_000),
        ("cnn-2", "vision", {"model": "cnn", "lr": 0.01}, {"acc": 0.95, "loss": 0.2}, 2_000),
        ("mlp-1", "vision", {"model": "mlp", "lr": 0.1}, {"acc": 0.70}, 3_000),
        ("nlp-1", "text", {"model": "rnn"}, {"acc": math.nan}, 4_000),
    ]
    for name, exp, params, metrics, start in specs:
        run = client.create_run(exp, run_name=name, start_time=1_700_000_000_000 + start)
        rid = run.info.run_id
        client.log_params(rid, params)
        client.log_metrics(rid, metrics)
        client.set_tag(rid, "team", exp[:3])
        client.set_terminated(rid)
        ids[name] = rid
    return ids


def table(filter_string: str | None = None, **kw: Any) -> pa.Table:
    """gittrack's pyarrow form of a search."""
    return search_runs(filter_string=filter_string, output_format="pyarrow", **kw)


def test_table_has_mlflow_columns_and_types(runs: dict[str, str]) -> None:
    table = gittrack.search_runs(output_format="pyarrow", search_all_experiments=True)
    assert isinstance(table, pa.Table)
    assert table.num_rows == 4
    names = table.column_names
    assert names[:8] == [
        "run_id", "experiment_id", "run_name", "experiment", "status", "start_time", "end_time",
        "commit",
    ]  # fmt: skip
    assert {"params.model", "params.lr", "metrics.acc", "metrics.loss", "tags.team"} <= set(names)
    assert table.schema.field("start_time").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("metrics.acc").type == pa.float64()
    assert table.schema.field("params.lr").type == pa.string()
    # newest first by default
    assert table.column("run_name").to_pylist() == ["nlp-1", "mlp-1", "cnn-2", "cnn-1"]
    assert table.column("params.lr").to_pylist() == [None, "0.1", "0.01", "0.1"]


def test_filter_order_experiment_and_max(runs: dict[str, str]) -> None:
    t = table("params.model = 'cnn' and metrics.acc > 0.5", order_by=["metrics.acc DESC"])
    assert t.column("run_name").to_pylist() == ["cnn-2", "cnn-1"]
    t = table("metrics.acc < 0.8 or params.model LIKE 'r%'", order_by=["start_time ASC"])
    assert t.column("run_name").to_pylist() == ["mlp-1", "nlp-1"]
    t = table(experiment_names=["text"])
    assert t.column("run_name").to_pylist() == ["nlp-1"]
    t = table(order_by=["metrics.acc"], max_results=2)
    assert t.column("run_name").to_pylist() == ["mlp-1", "cnn-1"]
    t = table("attributes.run_name IN ('cnn-1', 'nlp-1')")
    assert t.num_rows == 2
    assert table("tags.team = 'zzz'").num_rows == 0


def test_list_output_is_the_row_dicts(runs: dict[str, str]) -> None:
    rows = search_runs(filter_string="params.model = 'mlp'", output_format="rows")
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert row["run_id"] == runs["mlp-1"]
    assert row["params"] == {"model": "mlp", "lr": 0.1}
    assert user_tags(row["tags"]) == {"team": "vis"}
    row["params"]["model"] = "changed by the caller"  # must not leak into the next search
    assert (
        search_runs(filter_string="params.model = 'mlp'", output_format="rows")[0]["params"][
            "model"
        ]
        == "mlp"
    )


def test_client_search_runs_matches(runs: dict[str, str]) -> None:
    client = gittrack.Client()
    if not hasattr(client, "search_runs"):
        pytest.skip("Client.search_runs not added")
    table = client.search_runs("params.model = 'cnn'")
    assert table.num_rows == 2


def test_errors(runs: dict[str, str]) -> None:
    with pytest.raises(FilterSyntaxError, match=r"position 12 \('>>'\)"):
        table("metrics.acc >> 1")
    with pytest.raises(FilterSyntaxError, match="unknown attribute 'bogus'"):
        search_runs(order_by=["bogus DESC"])
    with pytest.raises(ValidationError, match="output_format"):
        search_runs(output_format="xml")
    with pytest.raises(ValidationError, match="max_results"):
        search_runs(max_results=-1)


def test_default_output_is_mlflows_dataframe(runs: dict[str, str]) -> None:
    df = search_runs()  # as MLflow: a pandas DataFrame with MLflow's columns, in its order
    columns = list(df.columns)
    assert columns[:6] == [
        "run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
    ]  # fmt: skip
    kinds = [c.split(".")[0] for c in columns[6:]]
    assert kinds == sorted(kinds, key=["metrics", "params", "tags"].index)
    assert {"metrics.acc", "params.lr", "tags.team", "tags.mlflow.runName"} <= set(columns)
    assert list(df["tags.mlflow.runName"]) == ["nlp-1", "mlp-1", "cnn-2", "cnn-1"]
    assert list(df["params.lr"])[1:] == ["0.1", "0.01", "0.1"]
    assert df["metrics.acc"].dtype == "float64" and str(df["start_time"].dt.tz) == "UTC"
    assert df["artifact_uri"][0] == f"runs:/{runs['nlp-1']}/"
    # MLflow's order: experiment_ids, filter_string, run_view_type, max_results, order_by
    eid = gittrack.get_experiment_by_name("vision").experiment_id  # type: ignore[union-attr]
    df = search_runs([eid], "params.model = 'cnn'", 1, 1, ["metrics.acc DESC"])
    assert list(df["run_id"]) == [runs["cnn-2"]]
    with pytest.raises(ValidationError, match="takes experiment_ids first"):
        search_runs("params.model = 'cnn'")


def test_without_pandas_the_default_says_what_to_do(
    runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(ValidationError, match=r"needs pandas .* output_format='pyarrow'"):
        search_runs()
    assert len(search_runs(output_format="rows")) == 4


def test_empty_repo_and_outside_any_repo(
    empty_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = table()
    assert empty.num_rows == 0 and "run_id" in empty.column_names
    assert list(search_runs().columns)[:6] == [
        "run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
    ]  # fmt: skip
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert search_runs(output_format="rows") == []
    assert not (outside / ".gittrack-runs").exists()


def test_list_output_is_mlflows_list_of_runs(runs: dict[str, str]) -> None:
    """``output_format="list"`` gives ``Run`` objects, as MLflow's does (code written for
    MLflow reads ``r.info.run_id``); gittrack's dict rows are ``"rows"``."""
    from gittrack.entities import Run

    found = gittrack.search_runs(
        filter_string="params.model = 'cnn'",
        order_by=["start_time"],
        output_format="list",
        search_all_experiments=True,
    )
    assert all(isinstance(r, Run) for r in found)
    assert [r.info.run_id for r in found] == [runs["cnn-1"], runs["cnn-2"]]
    assert [r.info.run_name for r in found] == ["cnn-1", "cnn-2"]
    assert found[1].data.params == {"model": "cnn", "lr": "0.01"}  # MLflow's strings
    assert found[1].data.metrics == {"acc": 0.95, "loss": 0.2}
    client = gittrack.MlflowClient()
    assert found == [client.get_run(r.info.run_id) for r in found]  # as a run reads back
    rows = gittrack.search_runs(
        filter_string="params.model = 'cnn'", output_format="rows", search_all_experiments=True
    )
    assert {r["run_id"] for r in rows} == {runs["cnn-1"], runs["cnn-2"]}
    with pytest.raises(ValidationError, match="unknown output_format 'dicts'"):
        gittrack.search_runs(output_format="dicts")


def test_search_is_exported() -> None:
    assert "search_runs" in gittrack.__all__
    assert gittrack.search_runs is gittrack.fluent.search_runs


def test_fluent_search_is_scoped_to_the_active_experiment_as_in_mlflow(
    runs: dict[str, str],
) -> None:
    def names(**kw: Any) -> set[str]:
        return {r["name"] for r in gittrack.search_runs(output_format="rows", **kw)}

    client = gittrack.Client()
    client.set_terminated(client.create_run("Default", run_name="plain").info.run_id)
    assert names() == {"plain"}  # no experiment chosen: Default's runs only
    assert names(search_all_experiments=True) == {"plain", "cnn-1", "cnn-2", "mlp-1", "nlp-1"}
    assert names(experiment_names=["text"]) == {"nlp-1"}
    gittrack.set_experiment("vision")
    assert names() == {"cnn-1", "cnn-2", "mlp-1"}
    assert names(filter_string="params.model = 'cnn'") == {"cnn-1", "cnn-2"}
    text_id = gittrack.get_experiment_by_name("text").experiment_id
    assert names(experiment_ids=[text_id]) == {"nlp-1"}
    # the library's search (and the client's) keeps its explicit scope: every experiment
    assert len(search_runs(output_format="rows")) == 5


def test_warm_searches_see_changes_from_other_processes(runs: dict[str, str], repo: Path) -> None:
    assert table().num_rows == 4  # warm: rows now cached in this process
    subprocess.run(
        ["git", "update-ref", "-d", f"refs/gittrack/runs/{runs['cnn-1']}"], cwd=repo, check=True
    )
    assert table().column("run_name").to_pylist() == ["nlp-1", "mlp-1", "cnn-2"]
    rid = runs["cnn-2"]
    code = f"import gittrack; c = gittrack.Client(); c.set_tag({rid!r}, 'team', 'new')"
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)
    assert table("tags.team = 'new'").column("run_name").to_pylist() == ["cnn-2"]


def _reference(
    rows: list[dict[str, Any]],
    filter_string: str,
    order_by: list[str],
    ids: list[str] | None,
    view_type: int,
    parent: str | None,
) -> list[str]:
    """The search row by row: filter, experiments, lifecycle stages, then a stable sort by
    the keys and MLflow's tie-breakers (start_time DESC, run_id)."""
    from gittrack.entities import ViewType
    from gittrack.query.filter import parse_filter, parse_order_by, sort_rows

    stages = ViewType.stages(view_type)
    found = [
        r
        for r in parse_filter(filter_string).select(rows)
        if (ids is None or r["experiment_id"] in ids)
        and r.get("lifecycle_stage", "active") in stages
        and (parent is None or r.get("parent_run_id") == parent)
    ]
    keys = parse_order_by(order_by)
    return [r["run_id"] for r in (sort_rows(found, keys) if keys else found)]


def test_search_equals_the_row_by_row_filter_and_sort(runs: dict[str, str], repo: Path) -> None:
    """The columnar search, with its kept sequences, answers exactly what filtering and
    sorting every row answers: same runs, same order (ties, NaN, missing values, deleted
    and nested runs), across experiments, view types and repeated calls."""
    from gittrack.entities import ViewType
    from gittrack.query.search import query_rows
    from gittrack.session import open_index

    client = gittrack.Client()
    parent = runs["cnn-1"]
    for i, acc in enumerate([0.9, 0.9, math.nan]):  # ties with cnn-1's acc, and a NaN
        child = client.create_run(
            "vision", run_name=f"child-{i}", start_time=1_700_000_005_000, parent_run_id=parent
        )
        client.log_metrics(child.info.run_id, {"acc": acc})
        client.set_terminated(child.info.run_id)
    client.delete_run(runs["cnn-2"])
    with open_index(repo) as index:
        rows = index.rows()
    ids = {r["experiment"]: r["experiment_id"] for r in rows}
    filters = ["", "metrics.acc > 0.5", "params.model = 'cnn' or metrics.acc != 0.9", "tags.x = ''"]
    orders = [[], ["metrics.acc DESC"], ["metrics.acc"], ["params.lr", "start_time"], ["name"]]
    scopes = [None, [ids["vision"]], [ids["text"], ids["vision"]], ["404"]]
    for flt in filters:
        for order in orders:
            for scope in scopes:
                for view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
                    for nested in (None, parent):
                        want = _reference(rows, flt, order, scope, view, nested)
                        for _ in range(2):  # computed, then kept
                            got = query_rows(
                                flt,
                                order,
                                experiment_ids=scope,
                                view_type=view,
                                parent_run_id=nested,
                            )
                            assert [r["run_id"] for r in got] == want, (flt, order, scope, view)
    kept = query_rows("metrics.acc > 0.5", ["metrics.acc DESC"])
    client.log_metric(runs["nlp-1"], "acc", 0.99)  # a change drops the kept sequence
    again = query_rows("metrics.acc > 0.5", ["metrics.acc DESC"])
    assert again[0]["name"] == "nlp-1" and len(again) == len(kept) + 1
