"""Run files are read line by line when gittrack wrote them, by PyYAML otherwise, and
both give the same values."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gittrack import format as fmt
from gittrack.errors import CorruptRunError

TRICKY = "\x00\t\n\r\x1b\x7f\x80\x85\x9f\xa0\u2028\u2029\ufeff\ufffe\uffff\U0010ffff\U0001f600"
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0, exclude_categories=["Cs"]),
        st.sampled_from(TRICKY + ":-#&*!|>'\"%@` yYnNoO~.0123456789eE+_/\\"),
    ),
    max_size=12,
)
SCALARS = st.one_of(
    TEXT,
    st.sampled_from(["yes", "No", "ON", "off", "y", "n", "~", "null", "True", "NaN", ".inf"]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=16,
)


def same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to itself, and types compared (1 is not True, nor 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def pyyaml(data: bytes) -> Any:
    return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@given(DATA)
@settings(max_examples=200, deadline=None)
def test_what_gittrack_writes_reads_back_as_pyyaml_reads_it(value: Any) -> None:
    data = fmt.dump_yaml(value)
    fast = fmt.read_written_yaml(data)
    if fast is not fmt.NOT_WRITTEN:
        assert same(fast, pyyaml(data)), data
    assert same(fmt.load_yaml(data, "x"), pyyaml(data))


def test_a_run_file_is_read_without_pyyaml() -> None:
    run = {
        "format_version": 1,
        "run_id": "0" * 32,
        "name": "ünïcode run",
        "start_time": 1700000000000,
        "parent_run_id": None,
        "source": {"commit": "a" * 40, "dirty": False},
        "command": {"argv": ["python", "train.py", "--lr=0.1"], "cwd": "."},
        "metrics": {"loss": {"value": 0.25, "step": 3, "timestamp": 1, "count": 4}},
        "empty": {},
        "none": [],
        "inputs": [{"name": "train", "digest": "ab12", "rows": 10}, {"name": "test"}],
        "weird": [math.inf, -math.inf, 1e-05, -0.0, 12345678901234567890, "a: b", "é\u2028"],
    }
    data = fmt.dump_yaml(run)
    fast = fmt.read_written_yaml(data)
    assert same(fast, pyyaml(data))


@pytest.mark.parametrize(
    "text",
    [
        "a: 010\n",  # YAML 1.1 octal
        "a: 0x1f\n",
        "a: 1_000\n",
        "a: 1:30\n",  # sexagesimal
        "a: yes\n",
        "a: Off\n",
        "a: n\n",
        "a: ~\n",
        "a: True\n",
        "a: NULL\n",
        "a: 2024-01-01\n",
        "a: 1e5\n",  # a string in YAML 1.1 (no dot)
        "a: .5\n",
        "a: +1\n",
        "# comment\na: 1\n",
        "a: 1 # comment\n",
        "---\na: 1\n",
        "a: &x 1\nb: *x\n",
        "a: [1, 2]\n",
        "a: {b: 1}\n",
        'a: "\\N\\_\\L\\P"\n',  # YAML-only escapes
        'a: "\\ud83d\\ude00"\n',  # surrogate escapes: YAML keeps them apart
        'a: "x\u2028y"\n',  # a raw line separator inside quotes folds in YAML
        "a:  1\n",
        "a:\n    b: 1\n",
        "a:\n- 1\n",
        "a: 'single'\n",
        "a: |\n  block\n",
        "a: b\r\n",
        "a:\tb\n",
        "1: a\n",
        "true: a\n",
        "a: 1\na: 2\n",
        "a: 1",  # no final newline
        "- a\n- b: 1\n  c: 2\n- - x\n",
        "",
        "null\n",
        "[]\n",
    ],
)
def test_yaml_written_by_others_reads_as_pyyaml_reads_it(text: str) -> None:
    data = text.encode()
    try:
        expected = pyyaml(data)
    except yaml.YAMLError:
        with pytest.raises(CorruptRunError):
            fmt.load_yaml(data, "x")
        return
    if b"*" in data:  # aliases: refused whoever reads them
        with pytest.raises(CorruptRunError, match="aliases"):
            fmt.load_yaml(data, "x")
        return
    assert same(fmt.load_yaml(data, "x"), expected)
