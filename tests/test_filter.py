"""MLflow-compatible search filters and order_by (gittrack.query.filter)."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import pytest

from gittrack.errors import FilterSyntaxError, ValidationError
from gittrack.query.filter import Filter, SortKey, parse_filter, parse_order_by, sort_rows


def make_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": "a1b2c3",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "name": "brave-owl",
        "experiment": "mnist",
        "status": "FINISHED",
        "user": "alice",
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_060_000,
        "params": {"model": "CNN", "lr": 0.01, "layers": 3, "tuned": True, "seed": None},
        "metrics": {"acc": 0.5, "loss": 2, "accuracy 2": 0.93, "bad": math.nan},
        "tags": {"team": "vision", "mlflow.note": "it's fine"},
        "inputs": {"train": {"digest": "abc123", "context": "training"}, "test": {"digest": "ff"}},
    }
    row.update(over)
    return row


ROW = make_row()


def matches(text: str, row: dict[str, Any] = ROW) -> bool:
    return parse_filter(text).matches(row)


# ---------------------------------------------------------------- operators and values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc = 0.5", True),
        ("metrics.acc != 0.5", False),
        ("metrics.acc < 0.5", False),
        ("metrics.acc <= 0.5", True),
        ("metrics.acc > 0.4", True),
        ("metrics.acc >= 0.6", False),
        ("metrics.loss = 2", True),  # int metric value, int literal
        ("metrics.loss = 2.0", True),
        ("metrics.acc > 5e-1", False),
        ("metrics.acc >= 5E-1", True),
        ("metrics.acc > -1", True),
        ("metrics.acc > +.25", True),
        ("metrics.acc>0.4", True),  # no spaces needed
    ],
)
def test_metric_comparisons_are_numeric(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.model = 'CNN'", True),
        ('params.model = "CNN"', True),  # double quotes in the value position are a value
        ("params.model != 'CNN'", False),
        ("params.model LIKE 'C%'", True),
        ("params.model LIKE 'c%'", False),  # LIKE is case-sensitive
        ("params.model ILIKE 'c%'", True),
        ("params.model LIKE 'C_N'", True),
        ("params.model LIKE 'C_'", False),  # anchored at both ends
        ("params.model LIKE '%N%'", True),
        ("params.model IN ('RNN', 'CNN')", True),
        ("params.model IN ('RNN')", False),
        ("params.model NOT IN ('RNN', \"MLP\")", True),
        ("params.model NOT IN ('CNN')", False),
        ("tags.team = 'vision'", True),
        ("tags.team ILIKE '%VIS%'", True),
        ("tags.team IN ('nlp')", False),
        ("tags.`mlflow.note` = 'it''s fine'", True),  # doubled quote inside a string
        ('tags."mlflow.note" = "it\'s fine"', True),
    ],
)
def test_param_and_tag_string_operators(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_like_treats_regex_characters_literally() -> None:
    row = make_row(tags={"path": "a.b(c)*"})
    assert matches("tags.path LIKE 'a.b(c)*'", row)
    assert not matches("tags.path LIKE 'a.b(c)+'", row)
    assert not matches("tags.path LIKE 'a.b'", make_row(tags={"path": "axb"}))


@pytest.mark.parametrize(
    ("value", "literal"),
    [(True, "True"), (False, "False"), (None, "None"), (0.5, "0.5"), (1e-05, "1e-05"), (3, "3")],
)
def test_params_compare_through_their_canonical_string(value: object, literal: str) -> None:
    row = make_row(params={"p": value})
    assert matches(f"params.p = '{literal}'", row)
    assert not matches(f"params.p != '{literal}'", row)


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        (0.01, "params.p < '0.05'", True),
        ("0.01", "params.p < '0.05'", True),
        ("1e-3", "params.p <= '0.001'", True),
        (3, "params.p >= '3'", True),
        (3, "params.p > '3'", False),
        ("adam", "params.p < '100'", False),  # not a number: never matches
        ("adam", "params.p > '100'", False),
        (True, "params.p > '0'", False),  # bools are 'True', not numbers
    ],
)
def test_params_compare_numerically_with_order_operators(
    value: object, text: str, expected: bool
) -> None:
    assert matches(text, make_row(params={"p": value})) is expected


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE"])
def test_a_number_against_a_param_is_an_error_for_every_operator(op: str) -> None:
    # MLflow's typing: params are strings, so 0.5 is refused whatever the operator.
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(f"params.alpha {op} 0.5")
    assert f"params.alpha compares with quoted strings, got a number (params are strings, " \
        f"quote it: params.alpha {op} '0.5')" in str(info.value)  # fmt: skip


# ---------------------------------------------------------------- attributes


@pytest.mark.parametrize(
    "text",
    [
        "run_id = 'a1b2c3'",
        "attributes.run_id = 'a1b2c3'",
        "attribute.run_name = 'brave-owl'",
        "attr.name = 'brave-owl'",
        "run.status = 'FINISHED'",
        "status IN ('FINISHED', 'FAILED')",
        "status NOT IN ('RUNNING')",
        "user_id = 'alice'",
        "user LIKE 'al%'",
        "experiment = 'mnist'",
        "experiment_name ILIKE 'MNIST'",
        "commit LIKE '0123%'",
        "start_time = 1700000000000",
        "created >= 1700000000000",
        "end_time > 1700000000000",
        "`run_name` = 'brave-owl'",
        'STATUS = "FINISHED"',
    ],
)
def test_attributes_and_their_aliases_read_the_row(text: str) -> None:
    other = make_row(run_id="x", name="x", status="RUNNING", user="bob", experiment="x",
                     commit="x", start_time=0, end_time=0)  # fmt: skip
    assert matches(text)
    assert not matches(text, other)


def test_end_time_of_a_running_run_is_null() -> None:
    running = make_row(end_time=None, status="RUNNING")
    assert matches("end_time IS NULL", running)
    assert not matches("end_time > 0", running)
    assert not matches("end_time != 0", running)
    assert matches("end_time IS NOT NULL")


# ---------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    "text",
    [
        "metric.acc = 0.5",
        "metrics.acc = 0.5",
        "param.model = 'CNN'",
        "params.model = 'CNN'",
        "parameter.model = 'CNN'",
        "parameters.model = 'CNN'",
        "tag.team = 'vision'",
        "tags.team = 'vision'",
        "METRICS.acc = 0.5",
    ],
)
def test_type_aliases(text: str) -> None:
    assert matches(text)


@pytest.mark.parametrize(
    "text",
    [
        "metrics.`accuracy 2` > 0.9",
        'metrics."accuracy 2" > 0.9',
        "metrics.'accuracy 2' > 0.9",
        "tags.mlflow.note LIKE 'it%'",  # unquoted keys may contain dots
        "tags.`mlflow.note` LIKE 'it%'",
    ],
)
def test_quoted_and_dotted_keys(text: str) -> None:
    assert matches(text)


def test_keys_with_dashes_slashes_and_backticks() -> None:
    row = make_row(metrics={"val/loss-2": 1.0, "odd`key": 2.0})
    assert matches("metrics.val/loss-2 = 1", row)
    assert matches("metrics.`odd``key` = 2", row)


def test_keywords_are_case_insensitive() -> None:
    assert matches("params.model like 'C%' AND metrics.acc > 0 Or status = 'x'")
    assert matches("params.model not in ('x') and tags.nope is null and tags.team Is Not Null")


# ---------------------------------------------------------------- and / or / parentheses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 1 or metrics.acc < 1", True),
        ("metrics.acc > 1 and metrics.acc < 1", False),
        # and binds tighter than or: true or (false and false)
        ("metrics.acc = 0.5 or metrics.acc > 1 and metrics.acc < 0", True),
        ("(metrics.acc = 0.5 or metrics.acc > 1) and metrics.acc < 0", False),
        ("metrics.acc > 1 and metrics.acc < 0 or status = 'FINISHED'", True),
        ("metrics.acc > 1 and (metrics.acc < 0 or status = 'FINISHED')", False),
        ("((status = 'FINISHED'))", True),
        ("(status = 'x' or (tags.team = 'vision' and (metrics.loss = 2)))", True),
    ],
)
def test_precedence_and_parentheses(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_empty_filter_matches_everything(text: str | None) -> None:
    f = parse_filter(text)
    assert f.matches(ROW) and f.matches({}) and str(f) == "" and f.keys() == set()


# ---------------------------------------------------------------- missing keys, NULL, NaN


@pytest.mark.parametrize(
    "text",
    [
        "metrics.nope = 1",
        "metrics.nope != 1",
        "params.nope != 'x'",
        "params.nope NOT IN ('x')",
        "tags.nope != 'x'",
        "inputs.val.digest != 'x'",
        "inputs.train.source != 'x'",
    ],
)
def test_a_clause_on_a_missing_key_is_false(text: str) -> None:
    assert not matches(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.nope IS NULL", True),
        ("metrics.acc IS NULL", False),
        ("metrics.acc IS NOT NULL", True),
        ("params.seed IS NULL", False),  # a param logged as None exists
        ("params.nope IS NULL", True),
        ("tags.team IS NOT NULL", True),
        ("inputs.train.digest IS NOT NULL", True),
        ("inputs.test.context IS NULL", True),
        ("datasets.context IS NOT NULL", True),
    ],
)
def test_is_null_tests_presence(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.bad = 0", False),
        ("metrics.bad != 0", True),
        ("metrics.bad < 1e308", False),
        ("metrics.bad > -1e308", False),
        ("metrics.bad IS NOT NULL", True),
        ("metrics.big > 1e308", True),
    ],
)
def test_nan_is_never_equal_less_or_greater(text: str, expected: bool) -> None:
    row = make_row(metrics={"bad": math.nan, "big": math.inf})
    assert matches(text, row) is expected


# ---------------------------------------------------------------- inputs / datasets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("inputs.train.digest = 'abc123'", True),
        ("inputs.test.digest = 'abc123'", False),
        ("inputs.train.context LIKE 'train%'", True),
        ("inputs.`train`.`digest` IN ('x', 'abc123')", True),
        ("datasets.digest = 'ff'", True),  # any input
        ("dataset.name = 'test'", True),
        ("datasets.name IN ('val')", False),
        ("datasets.context = 'training'", True),
    ],
)
def test_inputs_and_datasets(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_datasets_on_a_run_without_inputs() -> None:
    row = make_row(inputs={})
    assert not matches("datasets.digest != 'x'", row)
    assert matches("datasets.digest IS NULL", row)


# ---------------------------------------------------------------- keys() and str()


def test_keys_lists_the_columns_a_filter_reads() -> None:
    f = parse_filter(
        "metrics.acc > 0 and (params.`a b` = 'x' or tags.t IS NULL) and run_name = 'n' "
        "and user = 'u' and inputs.train.digest = 'd' or datasets.name = 'x'"
    )
    assert f.keys() == {
        ("metrics", "acc"),
        ("params", "a b"),
        ("tags", "t"),
        ("attributes", "name"),
        ("attributes", "user"),
        ("inputs", "train"),
        ("inputs", "*"),
    }


@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc > 0.9",
        "metrics.`accuracy 2` >= -1e-05 and params.\"my.param\" = 'x'",
        "params.model IN ('a', 'it''s') or tags.t IS NOT NULL and created < 5",
        "(status = 'A' or status = 'B') and (name LIKE '%x' or user_id ILIKE 'y')",
        "metrics.x > 1e999 and metrics.y = 3",
        "inputs.`my data`.digest NOT IN ('x') and datasets.digest != 'y'",
        "end_time IS NULL",
    ],
)
def test_str_round_trips(text: str) -> None:
    f = parse_filter(text)
    assert parse_filter(str(f)) == f
    assert str(parse_filter(str(f))) == str(f)


def test_str_is_canonical() -> None:
    text = "attr.created >= 1 AND (params.a like 'x' OR tags.b = \"y\")"
    assert str(parse_filter(text)) == "start_time >= 1 and (params.a LIKE 'x' or tags.b = 'y')"


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "position", "token", "message"),
    [
        ("metrics.accuracy >> 0.9", 17, "'>>'", "expected a comparison operator"),
        ("metrics.acc == 1", 12, "'=='", "expected a comparison operator"),
        ("foo = 'x'", 0, "'foo'", "unknown attribute 'foo' (known: run_id, run_name, status"),
        ("attributes.bar = 'x'", 0, "'attributes.bar'", "unknown attribute 'bar'"),
        ("bogus.x = 1", 0, "'bogus.x'", "unknown key type 'bogus' (known: metrics, params"),
        ("datasets.source = 'x'", 0, "'datasets.source'", "unknown dataset key 'source'"),
        ("params.a = 'abc", 11, '"\'abc"', "unterminated string"),
        ("tags.`a b = 'x'", 5, "\"`a b = 'x'\"", "unterminated string"),
        ("metrics.a >", 11, "end of input", "missing value after >"),
        ("metrics.a > abc", 12, "'abc'", "expected a number or a quoted string"),
        ("metrics.a > 1abc", 12, "'1abc'", "expected a number or a quoted string"),
        ("metrics.a = 'x'", 12, "\"'x'\"", "metrics.a compares with numbers, got a string"),
        ("start_time > '2024'", 13, "\"'2024'\"", "start_time compares with numbers"),
        ("params.a = 1", 11, "'1'", "params.a compares with quoted strings, got a number"),
        ("params.a < 'x'", 11, "\"'x'\"", "params.a < compares numbers: quote a number"),
        ("tags.a > 1", 7, "'>'", "operator > is not supported for tags.a"),
        ("metrics.a LIKE '1'", 10, "'LIKE'", "operator LIKE is not supported for metrics.a"),
        ("metrics.a IN ('1')", 10, "'IN'", "operator IN is not supported"),
        ("params.a IN ()", 13, "')'", "empty IN list"),
        ("params.a IN ('x',)", 17, "')'", "expected a quoted string in the IN list"),
        ("params.a IN ('x' 'y')", 17, "\"'y'\"", "expected ',' or ')' in the IN list"),
        ("params.a IN 'x'", 12, "\"'x'\"", "expected a parenthesised list"),
        ("params.a = ('x')", 11, "'('", "only allowed after IN or NOT IN"),
        ("params.a NOT 'x'", 13, "\"'x'\"", "expected IN after NOT"),
        ("params.a IS NOTHING", 12, "'NOTHING'", "expected NULL after IS"),
        ("(metrics.a > 1", 14, "end of input", "missing closing parenthesis for '('"),
        ("metrics.a > 1)", 13, "')'", "unmatched ')'"),
        ("metrics.a > 1 status = 'x'", 14, "'status'", "expected 'and', 'or' or the end"),
        ("metrics.a > 1 and", 17, "end of input", "expected a key such as metrics.accuracy"),
        ("metrics.a > 1 or or", 17, "'or'", "unknown attribute 'or'"),
        ("metrics > 1", 0, "'metrics'", "expected '.<key>' after 'metrics'"),
        ("metrics. > 1", 8, "' '", "expected a key name after 'metrics.'"),
        ("inputs.train = 'x'", 12, "' '", "expected inputs.<name>.<field>"),
        ("not status = 'x'", 0, "'not'", "NOT is only supported as NOT IN"),
        ("= 3", 0, "'='", "expected a key"),
        ("(" * 51 + "status = 'x'" + ")" * 51, 50, "'('", "parentheses nested deeper than 50"),
    ],
)
def test_syntax_errors_point_at_the_offending_token(
    text: str, position: int, token: str, message: str
) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    msg = str(info.value)
    assert msg.startswith(f"invalid filter at position {position} ({token}): "), msg
    assert message in msg
    assert "\n" not in msg


def test_filter_errors_are_validation_errors_and_reject_non_strings() -> None:
    with pytest.raises(ValidationError):
        parse_filter("metrics.x ~ 1")
    with pytest.raises(FilterSyntaxError, match="must be a string"):
        parse_filter(42)  # type: ignore[arg-type]


def test_long_or_chains_and_deep_parentheses_evaluate() -> None:
    many = parse_filter(" or ".join(f"run_id = '{i}'" for i in range(3000)))
    assert many.matches(make_row(run_id="2999")) and not many.matches(ROW)
    deep = parse_filter("(" * 50 + "status = 'FINISHED'" + ")" * 50)
    assert deep.matches(ROW) and str(deep) == "status = 'FINISHED'"


def test_every_prefix_of_a_filter_parses_or_raises_filter_syntax_error() -> None:
    text = (
        "(metrics.`acc 2` >= -1.5e-3 or params.\"a.b\" NOT IN ('x', 'y''z')) and "
        "tags.t IS NOT NULL and inputs.train.digest ILIKE '%a_' or status = \"OK\""
    )
    for end in range(len(text) + 1):
        try:
            parse_filter(text[:end])
        except FilterSyntaxError as err:
            assert re.match(r"invalid filter at position \d+ \(", str(err))


# ---------------------------------------------------------------- order_by


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("metrics.rmse DESC", SortKey("metrics", "rmse", True)),
        ("metrics.rmse desc", SortKey("metrics", "rmse", True)),
        ("params.alpha", SortKey("params", "alpha", False)),
        ("start_time ASC", SortKey("attributes", "start_time", False)),
        ("created", SortKey("attributes", "start_time", False)),
        ("attributes.run_name DESC", SortKey("attributes", "run_name", True)),
        ("metrics.`accuracy 2` DESC", SortKey("metrics", "accuracy 2", True)),
        ('tags."mlflow.note"', SortKey("tags", "mlflow.note", False)),
        ("inputs.train.digest", SortKey("inputs", "train", False, "digest")),
        ("  metric.loss   ASC  ", SortKey("metrics", "loss", False)),
    ],
)
def test_parse_order_by(clause: str, expected: SortKey) -> None:
    (key,) = parse_order_by([clause])
    assert key == expected
    assert parse_order_by([str(key)]) == [key]


def test_parse_order_by_accepts_none_a_single_string_and_several_terms() -> None:
    assert parse_order_by(None) == [] and parse_order_by([]) == []
    assert parse_order_by("metrics.a DESC") == [SortKey("metrics", "a", True)]
    with pytest.raises(FilterSyntaxError, match="must be a list of strings"):
        parse_order_by(3)  # type: ignore[arg-type]
    with pytest.raises(FilterSyntaxError, match="must be a string"):
        parse_order_by([None])  # type: ignore[list-item]
    assert [str(k) for k in parse_order_by(["metrics.a", "status DESC"])] == [
        "metrics.a ASC",
        "status DESC",
    ]


@pytest.mark.parametrize(
    ("clause", "position", "message"),
    [
        ("metrics.rmse UP", 13, "unknown sort direction, expected ASC or DESC"),
        ("metrics.rmse DESC x", 18, "unexpected text after the sort direction"),
        ("metrics.rmse 1", 13, "unknown sort direction"),
        ("", 0, "expected a key"),
        ("nope DESC", 0, "unknown attribute 'nope'"),
        ("datasets.digest", 0, "cannot sort by datasets"),
        ("metrics.`rmse", 8, "unterminated string"),
    ],
)
def test_order_by_errors(clause: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_order_by([clause])
    msg = str(info.value)
    assert msg.startswith(f"invalid order_by {clause!r} at position {position} ("), msg
    assert message in msg


def run(rid: str, start: int, **metrics: float) -> dict[str, Any]:
    return make_row(run_id=rid, start_time=start, metrics=metrics, params={"p": rid})


def ids(rows: list[Any]) -> list[str]:
    return [r["run_id"] for r in rows]


def test_default_order_is_newest_first_then_run_id() -> None:
    rows = [run("b", 1), run("a", 1), run("c", 2)]
    assert ids(sort_rows(rows, [])) == ["c", "a", "b"]
    assert ids(sort_rows(rows, parse_order_by(None))) == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("metrics.m ASC", ["low", "high", "nan", "none"]),
        ("metrics.m DESC", ["high", "low", "nan", "none"]),  # NaN then missing, always last
    ],
)
def test_sort_puts_nan_then_missing_last_in_both_directions(
    clause: str, expected: list[str]
) -> None:
    rows = [run("none", 4), run("nan", 3, m=math.nan), run("high", 2, m=9.0), run("low", 1, m=1)]
    assert ids(sort_rows(rows, parse_order_by([clause]))) == expected


def test_sort_ties_fall_back_to_start_time_desc_then_run_id() -> None:
    rows = [run("b", 1, m=1), run("a", 1, m=1), run("c", 2, m=1), run("d", 0, m=0)]
    assert ids(sort_rows(rows, parse_order_by(["metrics.m DESC"]))) == ["c", "a", "b", "d"]


def test_sort_by_several_keys_and_params_as_strings() -> None:
    rows = [
        make_row(run_id="1", status="B", params={"p": 10}),
        make_row(run_id="2", status="A", params={"p": 9}),
        make_row(run_id="3", status="B", params={"p": 2}),
        make_row(run_id="4", status="A"),
    ]
    keys = parse_order_by(["status DESC", "params.p ASC"])
    assert ids(sort_rows(rows, keys)) == ["1", "3", "2", "4"]  # '10' < '2' as strings


def test_sort_and_select_return_the_same_row_objects_and_leave_the_input_alone() -> None:
    rows = [run("a", 1, m=1), run("b", 2, m=2)]
    assert sort_rows(rows, [])[0] is rows[1]
    assert parse_filter("metrics.m > 1").select(rows) == [rows[1]]
    assert ids(rows) == ["a", "b"]


# ---------------------------------------------------------------- speed


def test_filtering_100k_rows_is_fast() -> None:
    rows = [
        {"run_id": str(i), "status": "FINISHED", "params": {"model": "cnn" if i % 3 else "rnn"},
         "metrics": {"acc": (i % 100) / 100}, "start_time": i}
        for i in range(100_000)
    ]  # fmt: skip
    f: Filter = parse_filter("metrics.acc > 0.5 and params.model = 'cnn'")
    start = time.perf_counter()
    hits = f.select(rows)
    elapsed = time.perf_counter() - start
    assert len(hits) == sum(1 for i in range(100_000) if i % 100 > 50 and i % 3)
    assert elapsed < 1.0, f"{elapsed:.3f} s"  # ~0.05 s on the dev machine; generous for CI


def test_sort_passes_match_the_tuple_ordering_on_random_rows() -> None:
    """The same-type fast path orders exactly like sorting (group, value) keys: values,
    then NaN, then missing, ties in input order, in both directions."""
    import random

    from gittrack.query.filter import _sort_key, parse_order_by, sort_rows

    rnd = random.Random(7)
    choices = [0.5, 1.0, -2.0, float("nan"), None, 3.0, 1.0]
    rows = []
    for i in range(300):
        metrics = {} if (m := rnd.choice(choices)) is None else {"m": m}
        params = {} if rnd.random() < 0.2 else {"p": rnd.choice(["a", "b", "B", "", "é"])}
        rows.append({"run_id": f"{i:04d}", "start_time": i, "metrics": metrics, "params": params})
    for text in ("metrics.m ASC", "metrics.m DESC", "params.p ASC", "params.p DESC"):
        (sk,) = parse_order_by(text)
        expected = sorted(rows, key=_sort_key(sk), reverse=sk.descending)
        assert [r["run_id"] for r in sort_rows(rows, [sk], ())] == [r["run_id"] for r in expected]
