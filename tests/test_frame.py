"""The columnar filter and sort of the UI's runs table equal the row-wise filter and sort."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from gittrack.query.filter import parse_filter, parse_order_by, sort_rows
from gittrack.query.frame import Frame


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        metrics: dict[str, Any] = {}
        if rnd.random() < 0.8:
            metrics["acc"] = rnd.choice([rnd.random(), 0.5, 1, math.nan, -math.inf, 0.0, -0.0])
        if rnd.random() < 0.5:
            metrics["loss"] = round(rnd.random(), 2)
        params: dict[str, Any] = {}
        if rnd.random() < 0.9:
            params["model"] = rnd.choice(["cnn", "mlp", "CNN", "résumé", "", "1e-05"])
        if rnd.random() < 0.7:
            params["lr"] = rnd.choice([0.1, 0.01, 1e-05, 1, True, None, "0.1"])
        inputs = {"train": {"digest": rnd.choice(["d1", "d2"])}} if rnd.random() < 0.5 else {}
        rows.append(
            {
                "run_id": f"{i:032x}",
                "name": rnd.choice(["a", "b", "run-1", "run-10"]),
                "experiment": rnd.choice(["sweep", "base", "x"]),
                "status": rnd.choice(["FINISHED", "RUNNING", "FAILED"]),
                "user": "u",
                "start_time": 1000 - i,
                "end_time": rnd.choice([None, 2000 + i]),
                "params": params,
                "metrics": metrics,
                "tags": {"team": "vision"} if rnd.random() < 0.5 else {},
                "inputs": inputs,
            }
        )
    return rows


FILTERS = [
    "",
    "metrics.acc > 0.3",
    "metrics.acc != 0.5",
    "metrics.acc = 0",
    "metrics.acc <= 1 and params.model = 'cnn'",
    "params.model ILIKE 'cnn' or metrics.loss < 0.2",
    "params.lr > '0.05'",
    "params.lr = '0.1'",
    "params.lr IS NULL",
    "metrics.loss IS NOT NULL and (tags.team = 'vision' or status = 'RUNNING')",
    "attributes.run_name IN ('a', 'run-10')",
    "attributes.run_name NOT IN ('a')",
    "params.model LIKE '%N%'",
    "end_time > 2010",
    "datasets.digest = 'd1' and metrics.acc > 0.1",
    "inputs.train.digest = 'd2'",
]
ORDERS = [
    [],
    ["metrics.acc"],
    ["metrics.acc DESC"],
    ["params.model DESC"],
    ["params.lr"],
    ["end_time"],
    ["attributes.run_name DESC"],
    ["inputs.train.digest"],
    ["params.model", "metrics.acc DESC"],
]


@pytest.mark.parametrize("seed", range(4))
def test_frame_selects_and_orders_exactly_as_the_row_wise_filter(seed: int) -> None:
    rows = _rows(400, seed)
    frame = Frame(rows)
    for text in FILTERS:
        flt = parse_filter(text)
        for order in ORDERS:
            keys = parse_order_by(order)
            for exps in [(), ("sweep",), ("base", "x")]:
                subset = [r for r in rows if not exps or r["experiment"] in exps]
                expected = sort_rows(flt.select(subset), keys, ())
                got = [rows[i] for i in frame.sequence(flt, keys, exps)]
                assert [r["run_id"] for r in got] == [r["run_id"] for r in expected], (
                    text,
                    order,
                    exps,
                )


def test_values_that_cannot_be_ordered_together_fail_as_the_row_wise_sort_does() -> None:
    rows = [{"run_id": str(i), "metrics": {"m": v}} for i, v in enumerate([2.0, "x", 1.0])]
    keys = parse_order_by(["metrics.m"])
    with pytest.raises(TypeError):
        sort_rows(rows, keys, ())
    with pytest.raises(TypeError):
        Frame(rows).sequence(parse_filter(""), keys)
    # a filter that leaves only comparable values sorts them
    flt = parse_filter("attributes.run_id != '1'")
    assert Frame(rows).sequence(flt, keys) == [2, 0]
