"""Every string a user logs reads back exactly: through the API, the CLI's JSON and C git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_helpers import ok
from conftest import fsck
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gittrack
from gittrack import format as fmt
from gittrack.errors import UnsafePathError, ValidationError

# Characters YAML reads as line breaks or refuses, and other usual suspects, made likely.
TRICKY = "\x00\t\n\r\x1b\x7f\x80\x85\x9f\xa0\u2028\u2029\ufeff\ufffe\uffff\U0010ffff\U0001f600"
CHARS = st.one_of(
    st.characters(min_codepoint=0, exclude_categories=["Cs"]), st.sampled_from(TRICKY)
)
TEXT = st.text(alphabet=CHARS, max_size=24)
NAMES = st.text(  # names refuse C0 controls and DEL only
    alphabet=st.characters(min_codepoint=32, exclude_categories=["Cs"], exclude_characters="\x7f"),
    min_size=1,
).filter(str.strip)


def _git_yaml(repo: Path, commit: str, name: str) -> object:
    data = subprocess.run(
        ["git", "show", f"{commit}:{fmt.RUN_DIR}/{name}"], cwd=repo, capture_output=True, check=True
    ).stdout
    loaded = yaml.load(data, Loader=yaml.SafeLoader)
    assert yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) == loaded
    return loaded


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(param=TEXT, tag=TEXT, name=NAMES)
def test_logged_strings_read_back_exactly(repo: Path, param: str, tag: str, name: str) -> None:
    with gittrack.start_run(run_name=name) as run:
        gittrack.log_param("p", param)
        gittrack.set_tag("t", tag)
    rid = run.info.run_id

    got = gittrack.get_run(rid)
    assert (got.data.params["p"], got.data.tags["t"], got.info.run_name) == (param, tag, name)

    shown = json.loads(ok("show", rid, "--format", "json"))
    assert (shown["params"]["p"], shown["tags"]["t"], shown["name"]) == (param, tag, name)
    (row,) = [r for r in json.loads(ok("list", "--format", "json")) if r["run_id"] == rid]
    assert (row["params"]["p"], row["tags"]["t"], row["name"]) == (param, tag, name)

    commit = got.info.commit
    assert commit is not None
    assert _git_yaml(repo, commit, fmt.PARAMS_FILE) == {"p": param}
    assert _git_yaml(repo, commit, fmt.TAGS_FILE)["t"] == tag  # type: ignore[index]
    assert _git_yaml(repo, commit, fmt.RUN_FILE)["name"] == name  # type: ignore[index]
    fsck(repo)


@given(value=st.one_of(TEXT, st.lists(TEXT, max_size=3), st.dictionaries(TEXT, TEXT, max_size=3)))
@settings(max_examples=200, deadline=None)
def test_the_yaml_writer_on_its_own(value: object) -> None:
    data = fmt.dump_yaml({"k": value, "l": [value]})
    expected = {"k": value, "l": [value]}
    assert yaml.load(data, Loader=yaml.SafeLoader) == expected
    assert yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) == expected


def test_text_that_is_not_unicode_never_makes_a_run_unreadable(repo: Path) -> None:
    """Lone surrogates (file names in Latin-1, read by Python as surrogateescape) were
    written as \\u escapes that YAML refuses: logging an input from such a file made the
    whole run unreadable. They are now written as the bytes' \\xNN text."""
    data = fmt.dump_yaml({"k": "in\udce9.csv", "l": ["a\ud800"]})
    assert yaml.safe_load(data) == {"k": "in\\xe9.csv", "l": ["a\\ud800"]}
    (repo / b"in\xe9.csv".decode("utf-8", "surrogateescape")).write_text("1,2\n")
    with gittrack.start_run() as run:
        gittrack.log_input("in\udce9.csv", name="data")
    got = gittrack.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    (entry,) = gittrack.lineage.get_inputs(run.info.run_id)
    assert entry["source"] == "in\\xe9.csv" and entry["digest"].startswith("sha256:")
    # as an artifact, such a name would not name the file again: refused at the call
    with gittrack.start_run() as run, pytest.raises(UnsafePathError, match="is not UTF-8 text"):
        gittrack.log_artifact("in\udce9.csv")
    assert gittrack.MlflowClient().list_artifacts(run.info.run_id) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda: gittrack.log_param("p", "a\ud800b"),
        lambda: gittrack.set_tag("t", "\udfff"),
        lambda: gittrack.start_run(run_name="run \ud83d"),
        lambda: gittrack.set_experiment("exp \udc00"),
    ],
    ids=["param", "tag", "run name", "experiment"],
)
def test_lone_surrogates_are_refused_clearly(repo: Path, call: object) -> None:
    with pytest.raises(ValidationError, match=r"U\+D[89A-F][0-9A-F]{2}, a lone surrogate"):
        call()  # type: ignore[operator]
