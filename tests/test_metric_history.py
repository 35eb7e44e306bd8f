"""Reading metric histories back: every point exactly, per key, in logging order; the
Arrow/pandas accessor; the decoded-history cache."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

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
                expected[key].append(m)
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
    assert client.get_metric_history(rid[:8], "loss")[-1] == Metric("loss", 9.5, 7, 1000)
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
            assert client.get_metric_history(rid, "m") == [Metric("m", float(i), i, i)] * (i + 1)
    assert len(history._cache) == 2


def test_metric_entities_are_immutable() -> None:
    m = Metric("m", 1.0, 2, 3)
    with pytest.raises(AttributeError):
        m.value = 2.0  # type: ignore[misc]
    assert (m.key, m.value, m.timestamp, m.step) == ("m", 1.0, 2, 3)
    assert m == Metric(key="m", value=1.0, timestamp=2, step=3)


def test_reading_a_history_imports_no_pandas(repo: Path) -> None:
    """pyarrow converts Python scalars and lists through pandas when it is installed,
    which costs more than the read; the history path builds its arrays from buffers."""
    client = gittrack.Client()
    rid = client.create_run().info.run_id
    client.log_batch(rid, metrics=[Metric("m", 1.0, 1, 1), Metric("n", 2.0, 1, 1)])
    client.set_terminated(rid)
    code = (
        "import sys, gittrack; c = gittrack.Client(create=False); "
        f"assert c.get_metric_history('{rid}', 'm') == [gittrack.Metric('m', 1.0, 1, 1)]; "
        f"assert c.metric_history_table('{rid}', 'n').num_rows == 1; "
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


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
