"""Reading metric histories back: every point exactly, per key, in logging order; the
Arrow/pandas accessor; the decoded-history cache."""

from __future__ import annotations

import itertools
import json
import math
import operator
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from mlflow_peer import MLFLOW, run_mlflow

import gittrack
from gittrack import history
from gittrack.entities import Metric
from gittrack.errors import RunNotFoundError, ValidationError

KEYS = ("loss", "accuracy 2", "val/ünïcode_κ")
VALUES = (0.1, -0.0, math.inf, -math.inf, 1e-308, 1.7976931348623157e308, 1 / 3)


def _logged(client: gittrack.Client, rid: str) -> dict[str, list[Metric]]:
    """Interleaved keys over several flushes (each flush rewrites metrics.parquet)."""
    expected: dict[str, list[Metric]] = {k: [] for k in KEYS}
    for flush in range(3):
        batch = []
        for i, value in enumerate(VALUES):
            for k, key in enumerate(KEYS):
                step = flush * 100 + i - 3  # negative steps too
                m = Metric(key, value * (k + 1), 1_700_000_000_000 + 2**40 + i, step)
                batch.append(m)
                expected[key].append(m._replace(run_id=rid))
        client.log_batch(rid, metrics=batch, synchronous=True)
    return expected


def test_history_reads_back_every_point_exactly_per_key_in_logging_order(repo: Path) -> None:
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    expected = _logged(client, rid)
    client.log_metric(rid, "nan", math.nan, timestamp=5, step=1)
    client.set_terminated(rid)
    for key in KEYS:
        got = client.get_metric_history(rid, key)
        assert type(got) is list and got == expected[key]
        assert [repr(m.value) for m in got] == [repr(m.value) for m in expected[key]]  # -0.0
        assert [type(m.value) for m in got] == [float] * len(got)
        assert all(type(m.step) is int and type(m.timestamp) is int for m in got)
    (nan,) = gittrack.get_metric_history(rid, "nan")
    assert math.isnan(nan.value) and (nan.key, nan.timestamp, nan.step) == ("nan", 5, 1)
    assert client.get_metric_history(rid, "never logged") == []
    # a later state of the run is another blob: its history, not the cached one
    client.log_metric(rid, "loss", 9.5, timestamp=7, step=1000)
    assert client.get_metric_history(rid[:8], "loss")[-1] == Metric("loss", 9.5, 7, 1000, rid)
    assert len(client.get_metric_history(rid, "loss")) == len(expected["loss"]) + 1


def test_history_of_a_run_without_metrics_and_of_an_unknown_run(repo: Path) -> None:
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    assert client.get_metric_history(rid, "m") == []
    table = client.metric_history_table(rid, "m")
    assert table.column_names == ["step", "timestamp", "value"] and table.num_rows == 0
    with pytest.raises(RunNotFoundError):
        client.get_metric_history("f" * 32, "m")


def test_history_as_arrow_and_pandas(repo: Path) -> None:
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    expected = _logged(client, rid)
    key = KEYS[2]
    table = client.metric_history_table(rid, key)
    assert table.schema == pa.schema(
        [("step", pa.int64()), ("timestamp", pa.int64()), ("value", pa.float64())]
    )
    assert table.to_pydict() == {
        "step": [m.step for m in expected[key]],
        "timestamp": [m.timestamp for m in expected[key]],
        "value": [m.value for m in expected[key]],
    }
    frame = client.metric_history_table(rid, key, output_format="pandas")
    assert list(frame.columns) == ["step", "timestamp", "value"]
    assert frame["value"].tolist() == [m.value for m in expected[key]]
    assert client.metric_history_table(rid, "other").num_rows == 0
    with pytest.raises(ValidationError, match="unknown output_format 'polars'"):
        client.metric_history_table(rid, key, output_format="polars")


def _chunk(keys: list[str | None], codes: list[int | None], values: list[float | None]) -> pa.Table:
    n = len(codes)
    column = pa.DictionaryArray.from_arrays(
        pa.array(codes, pa.int32()), pa.array(keys, pa.string())
    )
    return pa.table(
        {
            "key": column,
            "step": pa.array(range(n), pa.int64()),
            "timestamp": pa.array([10 * i for i in range(n)], pa.int64()),
            "value": pa.array(values, pa.float64()),
        }
    )


def test_histories_of_foreign_files_with_several_dictionaries_and_nulls() -> None:
    """Row groups with dictionaries of their own, a key listed twice in one dictionary,
    null keys and values: what another Parquet writer may produce."""
    table = pa.concat_tables(
        [
            _chunk(["a", "b", "a"], [0, 1, 2, None], [1.0, 2.0, 3.0, 4.0]),
            _chunk(["b", "a"], [1, 0, 0], [5.0, None, 7.0]),
        ]
    )
    decoded = history.DecodedMetrics(table)
    assert decoded.keys() == ["a", "b"]
    assert [(m.step, m.value) for m in decoded.metrics("a")] == [(0, 1.0), (2, 3.0), (0, 5.0)]
    assert [(m.step, m.timestamp, m.value) for m in decoded.metrics("b")] == [
        (1, 10, 2.0),
        (1, 10, None),
        (2, 20, 7.0),
    ]
    assert decoded.metrics("c") == []


def test_decoded_histories_are_bounded_and_stay_right(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MAX_CACHED_TABLES", 2)
    history.forget_decoded()
    client = gittrack.Client()
    runs = {}
    for i in range(4):
        rid = client.create_run().info.run_id
        client.log_batch(rid, metrics=[Metric("m", float(i), i, i)] * (i + 1), synchronous=True)
        runs[rid] = i
    for _ in range(2):
        for rid, i in runs.items():
            got = client.get_metric_history(rid, "m")
            assert got == [Metric("m", float(i), i, i, rid)] * (i + 1)
    assert len(history._cache) == 2


def test_metric_entities_are_immutable() -> None:
    m = Metric("m", 1.0, 2, 3)
    with pytest.raises(AttributeError):
        m.value = 2.0  # type: ignore[misc]
    assert (m.key, m.value, m.timestamp, m.step) == ("m", 1.0, 2, 3)
    assert m == Metric(key="m", value=1.0, timestamp=2, step=3)


def test_reading_a_history_imports_neither_pandas_nor_pyarrow_compute(repo: Path) -> None:
    """pyarrow converts Python scalars and lists through pandas when it is installed, and
    importing pyarrow.compute wraps hundreds of kernels: either costs more than the read.
    The history path builds its arrays from buffers and groups rows without them."""
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    client.log_batch(rid, metrics=[Metric("m", 1.0, 1, 1), Metric("n", 2.0, 1, 1)])
    client.set_terminated(rid)
    code = (
        "import sys, gittrack; c = gittrack.Client(create=False); "
        f"assert c.get_metric_history('{rid}', 'm') == [gittrack.Metric('m', 1.0, 1, 1, '{rid}')]; "
        f"assert c.metric_history_table('{rid}', 'n').num_rows == 1; "
        "print('pandas' in sys.modules, 'pyarrow.compute' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False False"


def test_history_keeps_logging_order_extreme_values_and_unicode_keys(repo: Path) -> None:
    """Steps out of order stay in logging order (as MLflow's file store returns them);
    int64 extremes, int-valued floats, NaN and a unicode key read back exactly."""
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    key = "ß/λ 2 κ"
    points = [
        (5, 3.0, 2**62),
        (1, math.nan, 0),
        (3, -0.0, -(2**63)),
        (2**63 - 1, 1e300, 2**63 - 1),
        (-(2**63), 7.0, 1),
    ]
    batch = [Metric(key, value, stamp, step) for step, value, stamp in points]
    client.log_batch(rid, metrics=[*batch, Metric("other", 1.0, 1, 1)], synchronous=True)
    got = client.get_metric_history(rid, key)
    assert [(m.step, m.timestamp) for m in got] == [(s, t) for s, _, t in points]
    assert [repr(m.value) for m in got] == [repr(v) for _, v, _ in points]  # 3.0, -0.0, nan
    assert {type(m.value) for m in got} == {float} and {m.key for m in got} == {key}
    assert {m.run_id for m in got} == {rid}
    from gittrack.tracking import MlflowClient

    again = MlflowClient().get_metric_history(rid, key)  # MLflow's client class, same points
    assert [repr(m) for m in again] == [repr(m) for m in got]
    assert again[0] == got[0] and again[1] != got[1]  # NaN points differ, as in MLflow
    table = client.metric_history_table(rid, key)
    assert table.column("step").to_pylist() == [s for s, _, _ in points]


def _interleaved(rows: int, keys: list[str | None], chunks: int, seed: int) -> pa.Table:
    """Interleaved keys, null codes and values; row groups with dictionaries of their own
    (pyarrow unifies dictionaries only when none holds a null)."""
    import random

    rng = random.Random(seed)
    tables = []
    for _ in range(chunks):
        codes = [rng.choice([*range(len(keys)), None]) for _ in range(rows)]
        values = [rng.choice([rng.random(), math.inf, None]) for _ in range(rows)]
        tables.append(_chunk(rng.sample(keys, len(keys)), codes, values))
    return pa.concat_tables(tables)


def test_numpy_and_plain_python_grouping_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are grouped by key with numpy when pyarrow has it, in Python otherwise: both
    give every key its points in the file's order, and the same Arrow columns."""
    for seed, keys, chunks in ((0, ["a", "b", "a", None, "c"], 1), (1, ["a", "b", "a", "c"], 3)):
        table = _interleaved(200, keys, chunks, seed)
        expected: dict[str, list[tuple[object, ...]]] = {}
        for row in table.to_pylist():
            if row["key"] is not None:
                expected.setdefault(row["key"], []).append(
                    (row["step"], row["timestamp"], row["value"])
                )
        for engine in ("numpy", "python"):
            if engine == "python":
                monkeypatch.setattr(history, "_numpy", lambda: None)
            decoded = history.DecodedMetrics(table)
            for key in ("a", "b", "c"):
                got = [(m.step, m.timestamp, m.value) for m in decoded.metrics(key, "r")]
                assert got == expected.get(key, []), (engine, seed, key)
                columns = decoded.columns(key).to_pydict()
                assert list(zip(*columns.values(), strict=True)) == got
            monkeypatch.undo()


def test_metric_entities_behave_as_mlflows_metric() -> None:
    m = Metric("m", 1.0, 2, 3, "r1")
    assert m == Metric(key="m", value=1.0, timestamp=2, step=3, run_id="r1")
    assert m != Metric("m", 1.0, 2, 3) and hash(m) == hash(Metric("m", 1.0, 2, 3, "r1"))
    assert len({m, Metric("m", 1.0, 2, 3, "r1"), Metric("m", 1.0, 2, 4, "r1")}) == 2
    assert (m.model_id, m.dataset_name, m.dataset_digest) == (None, None, None)
    assert m.to_dictionary() == {
        "key": "m",
        "value": 1.0,
        "timestamp": 2,
        "step": 3,
        "model_id": None,
        "dataset_name": None,
        "dataset_digest": None,
        "run_id": "r1",
    }


def test_collector_pause_restores_the_collector_state() -> None:
    import gc

    from gittrack.gcpause import collector_paused

    assert gc.isenabled()
    with pytest.raises(KeyError), collector_paused():
        assert not gc.isenabled()
        raise KeyError("x")
    assert gc.isenabled()  # back on after an error too
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller's own pause is kept
    finally:
        gc.enable()


MLFLOW_HISTORY = r"""
import json, sys, tempfile
from mlflow import MlflowClient
from mlflow.entities import Metric
points = json.loads(sys.argv[1])
client = MlflowClient(tracking_uri="file://" + tempfile.mkdtemp())
rid = client.create_run(client.create_experiment("e")).info.run_id
for key, value, stamp, step in points:
    client.log_metric(rid, key, float(value), timestamp=stamp, step=step)
print(json.dumps(describe(client.get_metric_history, rid, points[0][0], Metric)))
"""

DESCRIBE = r"""
def describe(history, rid, key, entity):
    a, b = history(rid, key), history(rid, key)
    return {
        "repr": [repr(m).replace(rid, "RUN") for m in a],
        "equal": [x == y for x, y in zip(a, b)],
        "same_hash": [hash(x) == hash(y) for x, y in zip(a, b)],
        "unset_run_id_equal": [entity(m.key, m.value, m.timestamp, m.step) == m for m in a],
        "type": type(a).__mro__[-2].__name__,
    }
"""


@pytest.mark.skipif(not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}")
def test_history_entities_print_compare_and_hash_as_mlflows(repo: Path) -> None:
    """The same points logged to MLflow's file store and to gittrack: the entities
    print alike (run id aside), and compare and hash alike across two reads, NaN too."""
    points = [
        ["loss/λ 2", "3.0", 1_700_000_000_000, 2**62],
        ["loss/λ 2", "nan", 5, -1],
        ["loss/λ 2", "-inf", 6, 0],
        ["loss/λ 2", "0.1", 7, 0],
    ]
    want = run_mlflow(DESCRIBE + MLFLOW_HISTORY, json.dumps(points))
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    for key, value, stamp, step in points:
        client.log_metric(rid, key, float(value), timestamp=stamp, step=step)
    scope: dict[str, Any] = {}
    exec(DESCRIBE, scope)
    got = scope["describe"](client.get_metric_history, rid, points[0][0], Metric)
    assert got == want


def test_settled_builds_reach_the_oldest_generation_and_garbage_is_still_collected() -> None:
    import gc
    import weakref

    from gittrack.gcpause import collector_paused

    class Node:
        pass

    cycle = Node()
    cycle.self = cycle  # type: ignore[attr-defined]
    gone = weakref.ref(cycle)
    del cycle
    with collector_paused(settle=True):
        built = [("m", float(i), i, [i]) for i in range(1000)]
    assert gc.isenabled()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(built[0]) in oldest and id(built[-1]) in oldest
    gc.collect()
    assert gone() is None  # the young cycle, promoted with the build, is still collected


def test_settling_never_releases_objects_the_process_froze() -> None:
    import gc

    from gittrack.gcpause import collector_paused

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused(settle=True):
            built = [[i] for i in range(100)]
        # settling would unfreeze them all (count 0); frozen objects another thread frees
        # meanwhile may lower the count a little
        assert 0 < gc.get_freeze_count() <= frozen and built
    finally:
        gc.unfreeze()


def test_repeated_reads_give_new_lists_of_the_same_points(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key's entities are kept for the next read: each call still returns a list of
    its own (changing it changes no later read), and the kept points stay bounded."""
    monkeypatch.setattr(history, "MAX_KEPT_POINTS", 10)
    history.forget_decoded()
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    batch = [Metric(k, i / 7, 1_700_000_000_000 + i // 3, i) for i in range(6) for k in "ab"]
    batch.append(Metric("big", 1.0, 1, 1))
    batch += [Metric("big", float(i), 2, i) for i in range(40)]  # more than kept
    client.log_batch(rid, metrics=batch, synchronous=True)
    want = {k: [m._replace(run_id=rid) for m in batch if m.key == k] for k in ("a", "b", "big")}
    first = client.get_metric_history(rid, "a")
    assert first == want["a"]
    same = client.get_metric_history(rid, "a")
    assert same is not first and all(map(operator.is_, same, first))  # kept, new list
    first.clear()
    for _ in range(2):
        for key in ("a", "b", "big", "a"):
            got = client.get_metric_history(rid, key)
            assert got == want[key] and [type(m.timestamp) for m in got] == [int] * len(got)
            got.append(Metric("x", 0.0, 0, 0))
    big = client.get_metric_history(rid, "big")
    assert big[1].timestamp is big[-1].timestamp  # one batch's timestamp: one int
    assert history._kept._points == 6 and len(history._kept._lists) == 1  # "a" only


def test_identical_runs_share_a_file_but_not_their_run_ids(repo: Path) -> None:
    """Two runs that logged the same points store one blob: each reads its own run id."""
    client = gittrack.Client()
    rids = [client.create_run().info.run_id for _ in range(2)]
    for rid in rids:
        client.log_batch(rid, metrics=[Metric("m", 0.5, 7, 1)], synchronous=True)
    for _ in range(2):
        for rid in rids:
            assert client.get_metric_history(rid, "m") == [Metric("m", 0.5, 7, 1, rid)]


def test_equal_neighbouring_timestamps_share_one_int_and_read_back_exactly() -> None:
    import numpy as np

    stamps = [0, -1, 2**63 - 1, -(2**63), 2**40]  # neighbours differ
    for repeats in (1, 7, 8, 9, 1000):
        column = np.array([stamps[i % 5] for i in range(60) for _ in range(repeats)], np.int64)
        shared = history._shared_runs(np, column)
        if repeats < 8:
            assert shared is None  # short runs: nothing worth sharing
            continue
        assert shared == column.tolist() and {type(t) for t in shared} == {int}
        assert all((a is b) == (a == b) for a, b in itertools.pairwise(shared))
    assert history._shared_runs(np, np.array([5], dtype=np.int64)) is None
    assert history._shared_runs(np, np.array([5] * 8, dtype=np.int64)) == [5] * 8


def test_keys_logged_at_the_same_steps_share_the_step_ints(repo: Path) -> None:
    """Steps counting up by one are slices of one list of ints shared by the run's keys;
    steps in any other order, or outside that list, read back as logged."""
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    steps = {
        "a": list(range(300)),
        "b": list(range(300)),
        "from 280": list(range(280, 300)),
        "every 2nd": list(range(0, 300, 2)),
        "down": list(range(299, 249, -1)),
        "same ends": [0, 2, 1, 3],
    }
    batch = [Metric(k, s / 3, 5, s) for k, ss in steps.items() for s in ss]
    client.log_batch(rid, metrics=batch, synchronous=True)
    got = {k: client.get_metric_history(rid, k) for k in steps}
    for key, ss in steps.items():
        assert [(m.step, m.value) for m in got[key]] == [(s, s / 3) for s in ss]
    assert got["a"][299].step is got["b"][299].step is got["from 280"][19].step
    other = client.create_run().info.run_id
    negative = [Metric("m", 1.0, 5, s) for s in (-1, 0, 1, 2**63 - 1, 2**62)]
    client.log_batch(other, metrics=negative, synchronous=True)
    assert [m.step for m in client.get_metric_history(other, "m")] == [m.step for m in negative]
