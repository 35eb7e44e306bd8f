"""Rendering helpers: tables, JSON, CSV, times, sparklines and plots."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_line_plot_step_labels_of_a_few_points_stay_apart() -> None:
    """`gittrack metrics RUN --plot` of a short history printed 'step 0step 7'."""
    foot = render.line_plot(list(range(8)), [float(i) for i in range(8)]).splitlines()[-1]
    assert foot.split() == ["step", "0", "step", "7"]
    assert render.line_plot([-5], [1.0]).splitlines()[-1].split() == ["step", "-5"]
    assert render.line_plot([0, 0], [5.0, 5.0]).splitlines()[-1].split() == ["step", "0"]


def test_sparkline_and_plot_of_values_near_the_float_limits() -> None:
    """`gittrack metrics RUN` of a metric holding 1e308 and -1e308 failed with an internal
    error (their span overflows to inf, and inf / inf is NaN)."""
    values = [1.0, -1e308, 1e308, math.inf, math.nan, 2.0]
    assert render.sparkline(values) == "▅▁█  ▅"
    lines = render.line_plot(list(range(6)), values).splitlines()
    assert lines[0].split() == ["1e+308", "┤", "●"] and lines[9].startswith("-1e+308 ┤ ●")
    assert lines[5].split()[0] == "0"  # the middle label: (lo + hi) / 2 without overflow


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1.7e308, -1.7e308]),
        max_size=130,
    )
)
def test_sparkline_and_plot_take_any_floats(values: list[float]) -> None:
    line = render.sparkline(values, width=60)
    assert len(line) == (min(len(values), 60) if any(map(math.isfinite, values)) else 0)
    assert len(render.line_plot(list(range(len(values))), values).splitlines()) in (1, 12)


_ASCII_CELL = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
_ANY_CELL = st.text(max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.tuples(
            st.lists(_ASCII_CELL, min_size=n, max_size=n),
            st.lists(st.lists(_ASCII_CELL, min_size=n, max_size=n), max_size=6),
        )
    )
)
def test_own_tables_match_tabulate_byte_for_byte(case: tuple[list[str], list[list[str]]]) -> None:
    """The simple and plain layouts done without tabulate, over printable ASCII cells
    (spaces, empty cells, number-looking text included)."""
    from tabulate import tabulate

    headers, body = case
    headers = [h.strip() or "h" for h in headers]  # the CLI's headers are words
    expected = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
    assert render.simple_table(body, headers) == expected
    assert render.table(body, headers) == expected
    assert render.plain_table(body) == tabulate(body, tablefmt="plain", disable_numparse=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_ASCII_CELL, _ASCII_CELL | st.text(max_size=200)), max_size=5))
def test_shortened_values_are_laid_out_as_tabulate_does(pairs: list[tuple[str, str]]) -> None:
    """Values cut by ``cell`` end with "…": still laid out without tabulate, the same bytes."""
    from tabulate import tabulate

    body = [[k, render.cell(v, 20)] for k, v in pairs]
    expected = tabulate(body, headers=["k", "v"], tablefmt="simple", disable_numparse=True)
    assert render.table(body, ["k", "v"]) == expected
    assert render.kv_table(pairs) == tabulate(
        [[k, render.cell(v, 80)] for k, v in pairs], tablefmt="plain", disable_numparse=True
    )


_SIZE_CELL = st.one_of(st.integers(-(10**12), 10**12), st.just(""), st.none(), _ASCII_CELL)
_PATH_CELL = st.one_of(_ASCII_CELL, _ANY_CELL, st.floats(allow_nan=False), st.integers(0, 99))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(_PATH_CELL, _SIZE_CELL), min_size=2, max_size=2), max_size=6))
def test_a_table_of_sizes_is_tabulates_with_numbers_aligned(body: list[list[object]]) -> None:
    """Artifacts and their sizes, laid out without tabulate where that gives the same bytes:
    integer columns right-aligned, text, floats and number-looking text as tabulate does."""
    from tabulate import tabulate

    assert render.number_table(body, ["path", "size"]) == tabulate(body, headers=["path", "size"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_ANY_CELL, _ANY_CELL), max_size=5))
def test_tables_with_any_text_are_tabulates(pairs: list[tuple[str, str]]) -> None:
    from tabulate import tabulate

    body = [list(p) for p in pairs]
    assert render.table(body, ["k", "v"]) == tabulate(
        body, headers=["k", "v"], tablefmt="simple", disable_numparse=True
    )
    assert render.kv_table(pairs) == tabulate(
        [[k, render.cell(v, 80)] for k, v in pairs], tablefmt="plain", disable_numparse=True
    )


def test_printing_a_run_imports_no_tabulate(repo: Path) -> None:
    """tabulate reads its package metadata on import (~20 ms): plain ASCII tables skip it."""
    make = (
        "import gittrack; c = gittrack.Client(); rid = c.create_run(run_name='plain').info.run_id\n"
        "c.log_params(rid, {'alpha': 0.5, 'name': 'cnn', 'long': 'x' * 100})\n"
        "c.log_metric(rid, 'loss', 0.25, step=3)\n"
        "c.set_tags(rid, {'team': 't1'}); open('model.bin', 'wb').write(b'x' * 1500)\n"
        "c.log_artifact(rid, 'model.bin'); c.set_terminated(rid); print(rid)\n"
    )
    made = subprocess.run(
        [sys.executable, "-c", make], capture_output=True, text=True, cwd=repo, check=True
    )
    rid = made.stdout.strip()
    code = (
        "import sys; from gittrack.cli import main\n"
        f"for args in (['show', '{rid}'], ['metrics', '{rid}'], ['diff', '{rid}', '{rid}']):\n"
        "    try:\n        main(args)\n"
        "    except SystemExit as e:\n        assert not e.code, e.code\n"
        "assert 'tabulate' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "loss" in proc.stdout and "alpha" in proc.stdout
    assert "model.bin    1500" in proc.stdout  # the size aligned right, as tabulate does


def test_json_lines_array_is_strict_json() -> None:
    assert render.to_json_lines_array([]) == "[]"
    text = render.to_json_lines_array([{"a": 1}, {"m": math.nan, "s": "é"}])
    assert text.splitlines() == ["[", '  {"a": 1},', '  {"m": "NaN", "s": "é"}', "]"]
    assert json.loads(text) == [{"a": 1}, {"m": "NaN", "s": "é"}]
