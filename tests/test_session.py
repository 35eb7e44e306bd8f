"""One repository opener, one run resolver, and the process session they share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import fails, ok
from conftest import git

import gittrack
from gittrack import session
from gittrack.config import NO_REPOSITORY
from gittrack.errors import AmbiguousRunError, RepositoryError, RunNotFoundError
from gittrack.runs import resolve_run_ref

# Commands that only read (or move what exists): outside git they must not create a store.
READ_ONLY_COMMANDS = [
    ["list"],
    ["show", "abcd"],
    ["diff", "abcd", "abce"],
    ["metrics", "abcd"],
    ["experiments"],
    ["tag", "abcd", "k=v"],
    ["rm", "abcd", "--yes"],
    ["recover"],
    ["gc"],
    ["push"],
    ["checkout", "abcd"],
    ["reproduce", "abcd", "--yes"],
    ["inputs", "abcd"],
    ["runs-using", "."],
    ["artifacts", "ls", "abcd"],
    ["artifacts", "verify", "abcd"],
    ["artifacts", "verify"],
    ["bundle", "create", "out.bundle"],
    ["models", "list"],
    ["models", "show", "m"],
    ["models", "register", "abcd", "m"],
]


@pytest.fixture
def outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    place = tmp_path / "nowhere"
    place.mkdir()
    monkeypatch.chdir(place)
    return place


@pytest.mark.parametrize("args", READ_ONLY_COMMANDS, ids=" ".join)
def test_read_only_commands_outside_git_refuse_alike_and_create_nothing(
    outside_git: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    err = fails(capsys, *args)
    assert err == f"gittrack: error: {NO_REPOSITORY}\n"
    assert list(outside_git.iterdir()) == []


def test_reading_apis_outside_git_refuse_and_create_nothing(outside_git: Path) -> None:
    with pytest.raises(RepositoryError, match="not inside a git repository"):
        gittrack.get_run("abcd")
    with pytest.raises(RepositoryError, match="not inside a git repository"):
        gittrack.Client(create=False)
    with pytest.raises(RepositoryError, match="not inside a git repository"):
        session.open_repository(create=False)
    assert gittrack.search_runs(output_format="rows") == []  # nowhere to look: no runs
    assert list(outside_git.iterdir()) == []


def test_recording_outside_git_creates_the_embedded_store(outside_git: Path) -> None:
    with gittrack.start_run(run_name="here"):
        gittrack.log_param("p", 1)
    assert (outside_git / ".gittrack-runs" / "objects").is_dir()
    assert json.loads(ok("list", "--format", "json"))[0]["name"] == "here"


def test_a_repository_without_a_working_tree_records_no_code_source(
    outside_git: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs recorded into ./.gittrack-runs or a bare repository (GITTRACK_REPO) claimed
    the git branch 'master', and in a bare clone HEAD's commit 'with uncommitted changes':
    code that was never in git. They now record no commit, branch or dirty flag."""
    with gittrack.start_run(run_name="embedded") as run:
        pass
    assert "mlflow.source.git.branch" not in gittrack.get_run(run.info.run_id).data.tags
    source = tmp_path / "project"
    source.mkdir()
    git(source, "init", "-q")
    (source / "train.py").write_text("print(1)\n")
    git(source, "add", ".")
    git(source, "commit", "-q", "-m", "code")
    git(tmp_path, "clone", "-q", "--bare", str(source), str(tmp_path / "store.git"))
    monkeypatch.setenv("GITTRACK_REPO", str(tmp_path / "store.git"))
    session.reset()
    with gittrack.start_run(run_name="into-bare") as run:
        pass
    got = gittrack.get_run(run.info.run_id)
    assert (got.info.source_commit, got.info.dirty) == (None, False)
    assert not any(k.startswith("mlflow.source.git") for k in got.data.tags)
    shown = json.loads(ok("show", "into-bare", "-f", "json"))
    assert shown["source"] == {"commit": None, "branch": None, "dirty": False}


def test_the_repository_may_be_given_as_a_file_uri(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GITTRACK_REPO=file:///path (as MLFLOW_TRACKING_URI is written) answered
    'tracking repository file:/path does not exist'."""
    rid = gittrack.Client(repo.as_uri()).create_run("e", run_name="by-uri").info.run_id
    session.reset()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITTRACK_REPO", repo.as_uri())
    assert json.loads(ok("list", "-f", "json"))[0]["run_id"] == rid
    monkeypatch.setenv("GITTRACK_REPO", f"file:{repo}")
    assert json.loads(ok("show", "by-uri", "-f", "json"))["run_id"] == rid


def test_one_repository_object_per_root(repo: Path) -> None:
    store = session.open_repository(create=False)
    assert session.open_repository(repo, create=True) is store
    assert gittrack.Client().store is store
    session.reset()
    assert session.open_repository(create=False) is not store


def _runs_with_ids(monkeypatch: pytest.MonkeyPatch, *ids: str) -> list[str]:
    """Finished runs given these run ids (ids are random in real use)."""
    client = gittrack.Client()
    made = []
    for i, rid in enumerate(ids):
        monkeypatch.setattr("gittrack.client.new_run_id", lambda rid=rid: rid)
        made.append(client.create_run("e", run_name=f"r{i}").info.run_id)
        client.set_terminated(made[-1])
    return made


def test_id_prefix_wins_over_another_runs_commit_prefix_everywhere(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (b,) = _runs_with_ids(monkeypatch, "f" * 32)
    prefix = gittrack.get_run(b).info.commit[:6]
    (a,) = _runs_with_ids(monkeypatch, prefix + "0" * 26)
    assert a.startswith(prefix) and gittrack.get_run(b).info.commit.startswith(prefix)

    assert gittrack.get_run(prefix).info.run_id == a
    assert gittrack.Client().resolve(prefix) == a
    assert json.loads(ok("show", prefix, "--format", "json"))["run_id"] == a
    with session.open_index() as index:
        assert index.resolve(prefix) == a


def test_commit_prefix_then_name(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (b,) = _runs_with_ids(monkeypatch, "a" * 32)
    commit = gittrack.get_run(b).info.commit
    assert gittrack.get_run(commit[:7]).info.run_id == b
    assert json.loads(ok("show", commit[:7], "--format", "json"))["run_id"] == b
    assert gittrack.get_run("r0").info.run_id == b
    assert json.loads(ok("show", "r0", "--format", "json"))["run_id"] == b


def test_ambiguity_lists_the_candidates_alike(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _runs_with_ids(monkeypatch, "abcd" + "1" * 28, "abcd" + "2" * 28)
    with pytest.raises(AmbiguousRunError) as exc:
        gittrack.get_run("abcd")
    assert exc.value.candidates == (a, b)
    message = exc.value.message
    assert "abcd1111 (r0)" in message and "abcd2222 (r1)" in message
    assert fails(capsys, "show", "abcd") == f"gittrack: error: {message}\n"
    assert gittrack.get_run("abcd1").info.run_id == a  # more characters decide


def test_same_name_is_ambiguous_and_unknown_is_not_found(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = gittrack.Client()
    ids = sorted(client.create_run("e", run_name="twin").info.run_id for _ in range(2))
    with pytest.raises(AmbiguousRunError) as exc:
        gittrack.get_run("twin")
    assert exc.value.candidates == tuple(ids)
    assert "ambiguous: 2 runs match" in fails(capsys, "show", "twin")
    with pytest.raises(RunNotFoundError, match="no run matches 'nope'"):
        gittrack.get_run("nope")
    assert "no run matches 'nope'" in fails(capsys, "show", "nope")


def test_the_rule_on_its_own() -> None:
    runs = {"abcd" + "0" * 28: "1234" + "0" * 36, "ef01" + "0" * 28: "abcd" + "9" * 36}
    names = {rid: "x" for rid in runs}
    assert resolve_run_ref("ABCD", runs, lambda: names) == "abcd" + "0" * 28  # case-blind
    assert resolve_run_ref(" 1234 ", runs, lambda: names) == "abcd" + "0" * 28
    with pytest.raises(RunNotFoundError):
        resolve_run_ref("abc", runs, lambda: {})  # under 4 characters: only a name
    with pytest.raises(AmbiguousRunError):
        resolve_run_ref("x", runs, lambda: names)
    with pytest.raises(RunNotFoundError, match="empty"):
        resolve_run_ref("  ", runs, lambda: names)


def test_a_whole_run_id_is_32_lowercase_hex_characters() -> None:
    """The resolver's shortcut and the server's check of a run id use this one test."""
    from gittrack.naming import is_run_id, new_run_id

    assert is_run_id(new_run_id()) and is_run_id("0" * 32)
    for text in ("f" * 31, "f" * 33, "F" * 32, "g" * 32, "f" * 31 + "\n", " " + "f" * 31, ""):
        assert not is_run_id(text), repr(text)
