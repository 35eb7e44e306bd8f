"""A hash a run ever showed keeps naming that run: after edits, pulls and ``git gc``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_helpers import fails, ok
from conftest import fsck, git

import gittrack
from gittrack import session, sync
from gittrack.client import Client
from gittrack.errors import AmbiguousRunError
from gittrack.recovery import find_dead_runs
from gittrack.runs import RunStore, resolve_run_ref
from gittrack.store.maintain import maintain


def finished_run(name: str = "base") -> tuple[str, str]:
    """A FINISHED run made through the fluent API: (run id, the commit it ended on)."""
    with gittrack.start_run(run_name=name) as run:
        gittrack.log_param("lr", 0.1)
        gittrack.log_metric("loss", 0.5)
        rid = run.info.run_id
    final = Client().get_run(rid).info.commit
    assert run.info.commit == final  # what the ended run shows is its final hash
    return rid, final


def edit(rid: str, how: str) -> str:
    """One user edit of a run (written at once); the run's commit after it."""
    client = Client()
    if how == "tag":
        client.set_tag(rid, "stage", "review")
    elif how == "note":
        client.set_tag(rid, "mlflow.note.content", "good run")
    else:
        client.rename_run(rid, "renamed")
    client.flush(rid)
    return client.get_run(rid).info.commit


def fresh_session() -> None:
    """Forget this process's repositories and writers: the next call reads from disk."""
    session.reset()


def test_every_hash_a_finished_run_had_still_names_it(repo: Path) -> None:
    rid, first = finished_run()
    hashes = [first] + [edit(rid, how) for how in ("tag", "note", "rename")]
    assert len(set(hashes)) == 4  # each user edit gives the run a new hash
    for sha in hashes:
        assert Client().resolve(sha[:8]) == rid
        assert Client().resolve(sha.upper()) == rid
        assert f"run         {rid}" in ok("show", sha[:8])
    # plain git: the ref names the latest state, every earlier one is in its history,
    # and the first parent is still the code commit the run started from
    ref = f"refs/gittrack/runs/{rid}"
    assert git(repo, "rev-parse", ref).strip() == hashes[-1]
    logged = git(repo, "log", "--format=%H", ref).split()
    assert all(sha in logged for sha in hashes)
    assert git(repo, "rev-parse", f"{ref}^1").strip() == git(repo, "rev-parse", "HEAD").strip()
    assert "run renamed [Default] FINISHED" in git(repo, "log", "-1", "--format=%s", ref)
    fsck(repo)
    git(repo, "gc", "-q", "--prune=now")
    fsck(repo)
    (repo / ".git" / "gittrack" / "index.sqlite").unlink()
    fresh_session()
    for sha in hashes:
        assert Client().resolve(sha[:10]) == rid
        assert rid in ok("show", sha[:10])
    assert Client().get_run(rid).info.run_name == "renamed"


def test_run_hash_printed_at_the_end_of_gittrack_run_is_its_final_one(repo: Path) -> None:
    from typer.testing import CliRunner

    from gittrack.cli.app import app

    (repo / "script.py").write_text("import gittrack\ngittrack.log_metric('m', 1.0)\n")
    result = CliRunner().invoke(app, ["run", "--", sys.executable, "script.py"])
    assert result.exit_code == 0, result.output
    (rid,) = RunStore(repo).list_runs()
    final = git(repo, "rev-parse", f"refs/gittrack/runs/{rid}").strip()
    assert f"run {rid[:12]} FINISHED (exit 0), commit {final[:12]}" in result.stderr


def test_a_finished_run_keeps_its_hash_unless_a_user_edits_it(repo: Path) -> None:
    rid, first = finished_run()
    client = Client()
    writer = client.writer(rid)  # a process that joined the finished run, e.g. to read it
    writer.flush(heartbeat=True)  # the background flusher's heartbeat
    assert find_dead_runs(client) == []
    ok("recover")
    assert maintain(repo / ".git")
    fresh_session()
    assert Client().get_run(rid).info.commit == first
    assert git(repo, "rev-parse", f"refs/gittrack/runs/{rid}").strip() == first


def test_old_hashes_travel_with_push_and_pull_and_survive_gc(
    repo: Path, bare_remote: Path, tmp_path: Path
) -> None:
    rid, first = finished_run()
    tagged = edit(rid, "tag")
    sync.push(repo, str(bare_remote))
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo), str(other))
    pulled = sync.pull(other, str(bare_remote))
    assert pulled.added == (f"refs/gittrack/runs/{rid}",)
    assert sync.pull(other, str(bare_remote)).unchanged == 1  # nothing rewritten
    assert Client(other).get_run(rid).info.commit == tagged
    for sha in (first, tagged):
        assert Client(other).resolve(sha[:8]) == rid
    # an edit in the other clone travels back; the hashes of both clones still resolve
    Client(other).set_tag(rid, "stage", "done")
    Client(other).flush(rid)
    done = Client(other).get_run(rid).info.commit
    sync.push(other, str(bare_remote))
    assert sync.pull(repo, str(bare_remote)).updated == (f"refs/gittrack/runs/{rid}",)
    assert Client(repo).get_run(rid).info.commit == done
    git(other, "gc", "-q", "--prune=now")
    fresh_session()
    for clone in (repo, other):
        for sha in (first, tagged, done):
            assert Client(clone).resolve(sha[:8]) == rid
    fsck(other)


def test_a_merge_of_edits_from_two_clones_keeps_both_hashes(
    repo: Path, bare_remote: Path, tmp_path: Path
) -> None:
    rid, _ = finished_run()
    sync.push(repo, str(bare_remote))
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo), str(other))
    sync.pull(other, str(bare_remote))
    Client(repo).set_tag(rid, "who", "a")
    Client(repo).flush(rid)
    ours = Client(repo).get_run(rid).info.commit
    sync.push(repo, str(bare_remote))
    Client(other).set_tag(rid, "who2", "b")
    Client(other).flush(rid)
    theirs = Client(other).get_run(rid).info.commit
    assert sync.pull(other, str(bare_remote)).merged == (f"refs/gittrack/runs/{rid}",)
    merged = Client(other).get_run(rid)
    assert merged.data.tags["who"] == "a" and merged.data.tags["who2"] == "b"
    for sha in (ours, theirs):
        assert Client(other).resolve(sha[:8]) == rid
    fsck(other)


def test_a_bundle_that_builds_on_our_run_is_taken_not_merged(repo: Path, tmp_path: Path) -> None:
    rid, _ = finished_run()
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo), str(other))
    sync.bundle_unbundle(sync.bundle_create(tmp_path / "a.bundle", repo=repo).path, repo=other)
    Client(repo).set_tag(rid, "stage", "review")
    Client(repo).flush(rid)
    tagged = Client(repo).get_run(rid).info.commit
    bundle = sync.bundle_create(tmp_path / "b.bundle", repo=repo).path
    result = sync.bundle_unbundle(bundle, repo=other)
    assert result.updated == (f"refs/gittrack/runs/{rid}",) and not result.merged
    assert Client(other).get_run(rid).info.commit == tagged


def test_a_hash_that_several_runs_had_is_ambiguous(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {"a" * 32: "1234aa" + "0" * 34, "b" * 32: "5678bb" + "0" * 34}

    def states(prefix: str) -> set[str]:  # run b had the hash 1234bb... before an edit
        return {"b" * 32} if ("1234bb" + "0" * 34).startswith(prefix) else set()

    names = {"a" * 32: "first", "b" * 32: "second"}.copy
    with pytest.raises(AmbiguousRunError) as err:
        resolve_run_ref("1234", runs, names, states)
    assert set(err.value.candidates) == {"a" * 32, "b" * 32}
    assert "2 runs match: aaaaaaaa (first), bbbbbbbb (second)" in str(err.value)
    assert resolve_run_ref("1234b", runs, names, states) == "b" * 32
    assert resolve_run_ref("1234a", runs, names, states) == "a" * 32
    # a hash no run ever had: one line, exit 1
    rid, first = finished_run("one")
    edit(rid, "tag")
    unknown = next(p for p in ("0000aaaa", "ffff0000") if not first.startswith(p[:4]))
    assert f"no run matches '{unknown}'" in fails(capsys, "show", unknown)


def test_in_a_repository_without_commits_earlier_states_are_the_only_parents(
    empty_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gittrack.index.BATCH_THRESHOLD", 1)  # the index's bulk reading too
    other, _ = finished_run("unedited")
    rid, first = finished_run()
    tagged = edit(rid, "tag")
    renamed = edit(rid, "rename")
    loaded = RunStore(empty_repo).load(rid)
    assert loaded.parent is None and loaded.earlier == (tagged,)
    assert git(empty_repo, "log", "--format=%H", f"refs/gittrack/runs/{rid}").split() == [
        renamed,
        tagged,
        first,
    ]
    for sha in (first, tagged, renamed):
        assert Client().resolve(sha[:8]) == rid
        assert rid_of_show(sha) == rid
    assert rid_of_show(Client().get_run(other).info.commit) == other
    fsck(empty_repo)


def test_many_runs_resolve_old_hashes_through_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import fast_repo

    repo = tmp_path / "repo"
    ids = fast_repo.build(repo, 80)  # past the index's batch threshold
    monkeypatch.chdir(repo)
    before = {rid: Client().get_run(rid).info.commit for rid in ids[:3]}
    edit(ids[0], "tag")
    assert rid_of_show(before[ids[0]]) == ids[0]
    assert rid_of_show(before[ids[1]]) == ids[1]  # an unedited run's commit
    second = edit(ids[0], "note")  # the index extends what it knows from the new commit
    edit(ids[2], "rename")
    for rid in ids[:3]:
        assert rid_of_show(before[rid]) == rid
    assert rid_of_show(second) == ids[0]


def rid_of_show(sha: str) -> str:
    """The run id `gittrack show <8 hex of sha> -f json` names."""
    import json

    return str(json.loads(ok("show", sha[:8], "--format", "json"))["run_id"])


def test_a_running_state_resolves_in_its_clone_until_gc_prunes_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = Client()
    rid = client.create_run(run_name="live").info.run_id
    listed = client.get_run(rid).info.commit  # what `gittrack list` shows while it runs
    client.log_metric(rid, "loss", 0.5)
    client.flush(rid)
    assert client.get_run(rid).info.commit != listed
    client.set_terminated(rid)
    final = client.get_run(rid).info.commit
    # a RUNNING state is replaced by the next flush, not kept in the run's history ...
    assert listed not in git(repo, "log", "--format=%H", f"refs/gittrack/runs/{rid}").split()
    # ... but it still names the run while this clone holds it
    assert client.resolve(listed[:8]) == rid
    assert rid in ok("show", listed[:8])
    git(repo, "gc", "-q", "--prune=now")
    fresh_session()
    assert f"no run matches '{listed[:8]}'" in fails(capsys, "show", listed[:8])
    assert Client().resolve(final[:8]) == rid
