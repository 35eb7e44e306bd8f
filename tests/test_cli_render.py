"""Rendering helpers: tables, JSON, CSV, times, sparklines and plots."""

from __future__ import annotations

import json
import math
import random

import pytest

from gittrack.cli import render
from gittrack.errors import ValidationError
from gittrack.query.views import iso_utc


def test_render_formats() -> None:
    rows = [{"a": 1, "b": "x y"}, {"a": 2.5, "b": None}]
    table = render.render(rows, ["a", "b"], "table").splitlines()
    assert table[0].split() == ["a", "b"] and table[2].split() == ["1", "x", "y"]
    assert json.loads(render.render(rows, ["b"], "json")) == [{"b": "x y"}, {"b": None}]
    assert render.render(rows, ["a", "b"], "csv") == "a,b\n1,x y\n2.5,"
    with pytest.raises(ValidationError, match="unknown format 'yaml'"):
        render.render(rows, ["a"], "yaml")


def test_json_is_strict() -> None:
    text = render.to_json({"m": [math.nan, math.inf, -math.inf, 1.5]})
    assert json.loads(text) == {"m": ["NaN", "Infinity", "-Infinity", 1.5]}
    assert "NaN," in text.replace(" ", "").replace("\n", "").replace('"', "")


def test_cell_shortens_and_keeps_float_type_visible() -> None:
    assert render.cell(1.0) == "1.0" and render.cell(1) == "1" and render.cell(-2.0) == "-2.0"
    assert render.cell(0.30000000000000004) == "0.3"
    assert render.cell(None) == ""
    long = render.cell("x" * 100)
    assert len(long) == render.MAX_CELL and long.endswith("…")
    assert render.cell("a\nb") == "a b"


def test_times_and_durations() -> None:
    assert iso_utc(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert iso_utc(None) is None
    assert render.duration(0, 850) == "850ms"
    assert render.duration(0, 42_000) == "42s"
    assert render.duration(0, 185_000) == "3m05s"
    assert render.duration(0, 2 * 3600_000 + 4 * 60_000) == "2h04m"
    assert render.duration(0, 3 * 86400_000 + 4 * 3600_000) == "3d04h"
    assert render.duration(0, None, "FAILED") == ""
    assert render.duration(None, 5) == ""
    now = 1_700_000_000_000
    assert len(render.local_short(now, now)) == 5  # HH:MM today
    assert len(render.local_short(now - 400 * 86400_000, now)) == 16  # with the year


def test_sparkline() -> None:
    assert render.sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert render.sparkline([2, 2, 2]) == "▄▄▄"
    assert render.sparkline([1, math.nan, 3]) == "▁ █"
    assert render.sparkline([]) == "" and render.sparkline([math.nan]) == ""
    assert len(render.sparkline([float(i) for i in range(1000)], width=40)) == 40


def test_line_plot_has_height_and_axis() -> None:
    values = [1.0 / (i + 1) for i in range(100)]
    text = render.line_plot(list(range(100)), values, height=10, width=100)
    lines = text.splitlines()
    assert len(lines) == 12  # 10 rows, the axis, the step labels
    assert lines[0].lstrip().startswith("1 ┤●")  # the maximum, top left
    assert "└" + "─" * 100 in lines[10]
    assert len(render.line_plot(list(range(100)), values, width=50).splitlines()[0]) < 70
    assert "step 0" in lines[11] and "step 99" in lines[11]
    assert render.line_plot([0], [math.nan]) == "(no finite values to plot)"


def test_fast_table_matches_tabulate_byte_for_byte() -> None:
    from tabulate import tabulate

    rng = random.Random(7)
    headers = ["run", "name", "params.alpha", "metrics.x", "e"]
    for _ in range(20):
        body = [
            ["".join(rng.choice("ab -.0") for _ in range(rng.randint(0, 14))).strip()
             for _ in headers]
            for _ in range(rng.randint(0, 8))
        ]  # fmt: skip
        body = [[" ".join(c.split()) for c in line] for line in body]
        expected = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
        assert render.simple_table(body, headers) == expected
    rows = [{"a": str(i), "b": "x" * (i % 7)} for i in range(render.FAST_TABLE_ROWS + 5)]
    body = [[r["a"], r["b"]] for r in rows]
    assert render.render(rows, ["a", "b"], "table") == tabulate(
        body, headers=["a", "b"], tablefmt="simple", disable_numparse=True
    )


def test_json_lines_array_is_strict_json() -> None:
    assert render.to_json_lines_array([]) == "[]"
    text = render.to_json_lines_array([{"a": 1}, {"m": math.nan, "s": "é"}])
    assert text.splitlines() == ["[", '  {"a": 1},', '  {"m": "NaN", "s": "é"}', "]"]
    assert json.loads(text) == [{"a": 1}, {"m": "NaN", "s": "é"}]
