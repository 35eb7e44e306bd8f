"""The local run index: incremental, follows every ref change, never the source of truth."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git

import gittrack
from gittrack import session
from gittrack.errors import AmbiguousRunError, CorruptRunError, RepositoryError, RunNotFoundError
from gittrack.index import RACY_NS
from gittrack.session import open_index


def make_run(
    name: str, experiment: str = "exp", params: dict[str, object] | None = None, **metrics: float
) -> str:
    client = gittrack.Client()
    run = client.create_run(experiment, run_name=name)
    rid = run.info.run_id
    if params:
        client.log_params(rid, params)
    for key, value in metrics.items():
        client.log_metric(rid, key, value)
    client.set_terminated(rid)
    return rid


def as_a_new_process() -> None:
    """Forget every row, frame and sorted sequence this process holds."""
    from gittrack.query.page import forget_kept

    session.reset()
    forget_kept()


def age_refs(repo: Path, seconds: float = 10.0) -> None:
    """Backdate the run refs' directory and packed-refs: no racy window is left."""
    past = time.time() - seconds
    for path in (repo / ".git/refs/gittrack/runs", repo / ".git/packed-refs"):
        if path.exists():
            os.utime(path, (past, past))


def test_index_follows_new_changed_and_deleted_runs(repo: Path) -> None:
    a = make_run("a", params={"lr": 0.1}, acc=0.5)
    with open_index() as index:
        assert [e.run_id for e in index.entries()] == [a]
        row = index.rows()[0]
        assert row["params"] == {"lr": 0.1} and row["metrics"] == {"acc": 0.5}
        assert row["commit"] == git(repo, "rev-parse", f"refs/gittrack/runs/{a}").strip()
    b = make_run("b")
    gittrack.Client().set_tag(a, "note", "x")
    gittrack.Client().flush(a)
    with open_index() as index:
        assert {e.run_id for e in index.entries()} == {a, b}
        assert next(r for r in index.rows() if r["run_id"] == a)["tags"]["note"] == "x"
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{b}")  # C git deletes a run
    with open_index() as index:
        assert [e.run_id for e in index.entries()] == [a]
    assert (repo / ".git/gittrack/index.sqlite").is_file()


def test_packed_refs_are_read(repo: Path) -> None:
    a = make_run("a")
    git(repo, "pack-refs", "--all")
    assert not (repo / f".git/refs/gittrack/runs/{a}").exists()
    with open_index() as index:
        assert [e.name for e in index.entries()] == ["a"]
    b = make_run("b")
    with open_index() as index:
        assert {e.run_id for e in index.entries()} == {a, b}


def test_fast_path_skips_the_scan_only_outside_the_racy_window(repo: Path) -> None:
    make_run("a")
    with open_index(repo, refresh=False) as index:
        index.refresh()
        assert not index.up_to_date()  # refs changed < 2 s ago: must rescan next time
    age_refs(repo)
    with open_index(repo, refresh=False) as index:
        index.refresh()
        assert index.up_to_date()
    make_run("b")  # a change by "another process" moves the signature
    with open_index(repo, refresh=False) as index:
        assert not index.up_to_date()
        index.refresh()
        assert [e.name for e in index.entries()] == ["b", "a"]
    assert RACY_NS == 2_000_000_000


def test_stale_rows_are_dropped_even_when_the_signature_is_trusted(repo: Path) -> None:
    a = make_run("a")
    age_refs(repo)
    with open_index(repo, refresh=False) as index:
        index.refresh()
    (repo / f".git/refs/gittrack/runs/{a}").unlink()  # deleted behind git's back
    with open_index(repo, refresh=False) as index:
        index.refresh()
        assert index.entries() == []


def test_warm_listing_imports_neither_dulwich_nor_pyarrow(repo: Path) -> None:
    make_run("a", acc=1.0)
    age_refs(repo)
    with open_index():
        pass
    code = (
        "import sys\n"
        "from gittrack.cli import main\n"
        "try:\n    main(['list', '--filter', 'metrics.acc > 0'])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "bad = [m for m in ('dulwich', 'pyarrow') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "a" in proc.stdout


def test_corrupt_run_is_skipped_with_a_warning_and_show_explains(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = make_run("good")
    head = git(repo, "rev-parse", "HEAD").strip()
    bad = "f" * 32
    git(repo, "update-ref", f"refs/gittrack/runs/{bad}", head)  # not a run commit
    with caplog.at_level(logging.WARNING, logger="gittrack"), open_index() as index:
        assert [r["run_id"] for r in index.rows()] == [good]
        assert index.resolve("ffff") == bad
    assert any(bad[:12] in r.getMessage() for r in caplog.records)
    with pytest.raises(CorruptRunError, match="not a gittrack run"), open_index() as index:
        index.runstore.load(index.resolve(bad))


def test_many_unreadable_runs_are_counted_on_one_line_past_the_first_few(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = make_run("good")
    head = git(repo, "rev-parse", "HEAD").strip()
    bad = [c * 32 for c in "abcdef"]  # six commits that are not runs (e.g. a newer format)
    for rid in bad:
        git(repo, "update-ref", f"refs/gittrack/runs/{rid}", head)
    with caplog.at_level(logging.WARNING, logger="gittrack"), open_index() as index:
        assert [r["run_id"] for r in index.rows()] == [good]
    lines = [r.getMessage() for r in caplog.records]
    named = [line for line in lines if line.startswith("gittrack: skipping run ")]
    assert len(named) == 3 and all(any(b[:12] in line for b in bad) for line in named)
    assert "gittrack: skipping 3 more unreadable runs ('gittrack show RUN' tells why)" in lines
    left_out = [line for line in lines if "left out" in line]
    assert left_out == [
        f"gittrack: runs {bad[0][:12]}, {bad[1][:12]}, {bad[2][:12]} and 3 more "
        "are unreadable and left out"
    ]
    assert len(lines) == 5


def test_resolve_by_id_commit_and_name(repo: Path) -> None:
    a = make_run("alpha")
    b = make_run("twin")
    c = make_run("twin")
    commit = git(repo, "rev-parse", f"refs/gittrack/runs/{a}").strip()
    with open_index() as index:
        assert index.resolve(a) == a
        assert index.resolve(a[:6]) == a
        assert index.resolve(commit[:7]) == a
        assert index.resolve("alpha") == a
        with pytest.raises(AmbiguousRunError, match="2 runs match") as exc:
            index.resolve("twin")
        assert b[:8] in str(exc.value) and c[:8] in str(exc.value)
        with pytest.raises(RunNotFoundError, match="no run matches 'nope'"):
            index.resolve("nope")
        with pytest.raises(RunNotFoundError, match="empty"):
            index.resolve(" ")
        # many at once, in order: full ids (upper case too), prefixes and names mixed
        assert index.resolve_many([b, a.upper(), c]) == [b, a, c]
        assert index.resolve_many(["alpha", b[:6], commit[:7]]) == [a, b, a]
        with pytest.raises(RunNotFoundError):
            index.resolve_many([a, "f" * 32])
        assert set(index.rows_of([a, c, "f" * 32])) == {a, c}
        assert index.rows_of([a])[a]["name"] == "alpha"
    # RunStore.resolve (the library's) finds names through the index too
    assert gittrack.Client().resolve("alpha") == a


def test_resolve_reads_only_matching_rows_and_keeps_the_rule(repo: Path) -> None:
    """The index answers names and id prefixes through its indexes; the answers are the
    rule's: an id prefix beats a commit prefix, which beats a name; hex-looking names
    still resolve."""
    import sqlite3

    a = make_run("a")
    commit_a = git(repo, "rev-parse", f"refs/gittrack/runs/{a}").strip()
    make_run(commit_a[:8])  # named like a's commit
    c = make_run("facade00")  # a hex-looking name matching no id or commit
    index_file = repo / ".git/gittrack/index.sqlite"
    with open_index() as index:
        assert index.resolve(commit_a[:8]) == a
        assert index.resolve(a[:5].upper()) == a
        assert index.resolve("facade00") == c
    plain = sqlite3.connect(index_file)  # an index of an older schema: rebuilt on open
    plain.executescript(  # without the name index, with the JSON one once made
        "DROP INDEX runs_by_name; DROP INDEX runs_by_parent; CREATE INDEX runs_by_parent"
        " ON runs (json_extract(doc, '$.parent_run_id'));"
        " UPDATE meta SET value = '7' WHERE key = 'schema';"
    )
    plain.close()
    nan = gittrack.Client().create_run("exp", run_name="nan").info.run_id
    gittrack.Client().log_metric(nan, "loss", math.nan, synchronous=True)
    with open_index() as index:  # a row with NaN goes in
        assert index.resolve(c) == c
        assert index.resolve("nan") == nan
        with pytest.raises(RunNotFoundError):
            index.resolve("0" * 40)
    plain = sqlite3.connect(index_file)
    sql = "SELECT COUNT(*) FROM sqlite_master WHERE type='index' AND name LIKE 'runs_by_%'"
    assert plain.execute(sql).fetchone()[0] == 4  # start, name, parent and experiment
    plain.close()


def test_rebuild_and_damaged_index(repo: Path) -> None:
    make_run("a")
    make_run("b")
    path = repo / ".git/gittrack/index.sqlite"
    with open_index() as index:
        assert index.rebuild() == 2
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with open_index() as index:  # a damaged index is thrown away and rebuilt
        assert sorted(e.name for e in index.entries()) == ["a", "b"]
    assert path.read_bytes().startswith(b"SQLite format 3")


def test_unusable_index_location_falls_back_to_memory(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_run("a")
    (repo / ".git/gittrack").write_text("a file where the index folder should be")
    with caplog.at_level(logging.WARNING, logger="gittrack"), open_index() as index:
        assert [e.name for e in index.entries()] == ["a"]
    assert any("temporary" in r.getMessage() for r in caplog.records)


def test_listing_where_the_index_cannot_be_written(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A read-only git directory (a mount, a CI cache): listing still works, and the
    index is not called damaged when it only cannot be opened for writing."""
    from cli_helpers import ok

    make_run("a", params={"lr": 0.1})
    (repo / ".git/gittrack").mkdir(exist_ok=True)
    (repo / ".git/gittrack/index.sqlite").mkdir()  # sqlite cannot open it; nothing to rebuild
    as_a_new_process()
    with caplog.at_level(logging.WARNING, logger="gittrack"):
        assert "a" in ok("list")
    messages = [r.getMessage() for r in caplog.records]
    assert not any("damaged" in m for m in messages), messages
    assert sum("temporary" in m for m in messages) == 1, messages
    shutil.rmtree(repo / ".git/gittrack")
    (repo / ".git/gittrack").write_text("a file where the index folder should be")
    as_a_new_process()
    assert json.loads(ok("list", "--format", "json"))[0]["params"] == {"lr": 0.1}


def test_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RepositoryError, match="not inside a git repository"):
        open_index()
    assert not (tmp_path / ".gittrack-runs").exists()  # reading never creates a repository


def test_linked_worktree_shares_the_index(repo: Path, tmp_path: Path) -> None:
    a = make_run("a")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt))
    with open_index(wt) as index:
        assert [e.run_id for e in index.entries()] == [a]
        assert index.path == repo / ".git/gittrack/index.sqlite"


def test_embedded_repository_outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rid = make_run("loose")  # outside git: runs go to ./.gittrack-runs
    assert (tmp_path / ".gittrack-runs").is_dir()
    with open_index() as index:
        assert index.root == tmp_path / ".gittrack-runs"
        assert index.resolve("loose") == rid


def test_reading_objects_one_at_a_time_can_stop_early(repo: Path) -> None:
    import threading
    from contextlib import closing

    from gittrack.store.catfile import iter_objects

    data = os.urandom(100_000)
    (repo / "big.bin").write_bytes(data)
    git(repo, "add", "big.bin")
    git(repo, "commit", "-qm", "big")
    specs = ["HEAD:big.bin"] * 20_000  # more than the pipes to and from git hold
    first: list[bytes | None] = []

    def read_one() -> None:
        with closing(iter_objects(repo / ".git", specs, b"blob")) as found:
            first.append(next(found))

    reader = threading.Thread(target=read_one, daemon=True)  # a failure must not hang exit
    reader.start()
    reader.join(timeout=120)
    assert not reader.is_alive(), "closing the reader early left git and it waiting"
    assert first == [data]


def test_batch_reading_gives_the_same_rows(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gittrack.index as index_mod
    from gittrack.store.catfile import cat_blobs, cat_tree_files

    for i in range(3):
        make_run(f"r{i}", params={"i": i, "s": "x"}, acc=i / 2)
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", f"refs/gittrack/runs/{'d' * 32}", head)  # corrupt, in the batch
    with open_index() as index:
        careful = index.rows()
    monkeypatch.setattr(index_mod, "BATCH_THRESHOLD", 1)
    with open_index() as index:
        assert index.rebuild() == 4
        assert index.rows() == careful
        assert [e.corrupt for e in index.entries()].count(True) == 1
    monkeypatch.setattr(index_mod, "PARALLEL_THRESHOLD", 2)  # helper processes too
    monkeypatch.setattr(index_mod.os, "cpu_count", lambda: 3)
    with open_index() as index:
        assert index.rebuild() == 4
        assert index.rows() == careful
        assert [e.corrupt for e in index.entries()].count(True) == 1
    blobs = cat_blobs(repo / ".git", [f"{head}:train.py", f"{head}:nope", head])
    assert blobs == [b"print('training')\n", None, None]  # a commit is not a blob
    (repo / "sub").mkdir()
    (repo / "sub" / "a.txt").write_text("in a folder\n")
    (repo / "folder.txt").mkdir()  # a folder named like a file is not that file
    (repo / "folder.txt" / "x").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    files = cat_tree_files(
        repo / ".git",
        ["HEAD:", "HEAD:sub", "HEAD:nope", "HEAD:train.py"],
        ("train.py", "folder.txt", "a.txt"),
    )
    assert files == [
        [b"print('training')\n", None, None],
        [None, None, b"in a folder\n"],
        [None, None, None],  # no such folder
        [None, None, None],  # a file is not a folder
    ]


def test_decoded_row_snapshot_is_used_only_while_current(repo: Path) -> None:
    client = gittrack.Client()
    for name in ("a", "b"):
        client.set_terminated(client.create_run("snap", run_name=name).info.run_id)
    assert len(gittrack.search_runs(output_format="rows", search_all_experiments=True)) == 2
    snapshot = repo / ".git" / "gittrack" / "index.sqlite.rows"
    assert snapshot.exists()
    session.reset()  # as a new process: only the snapshot on disk remains
    snapshot.write_bytes(b"\x00garbage")  # damaged: ignored and rewritten
    assert {
        r["name"] for r in gittrack.search_runs(output_format="rows", search_all_experiments=True)
    } == {"a", "b"}
    client.set_terminated(client.create_run("snap", run_name="c").info.run_id)
    session.reset()  # a new process: only the (now stale) blob remains
    names = {
        r["name"] for r in gittrack.search_runs(output_format="rows", search_all_experiments=True)
    }
    assert names == {"a", "b", "c"}


def test_rows_kept_in_memory_follow_a_few_changes_without_a_full_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gittrack.index import RunIndex

    first = make_run("first", loss=1.0)
    running = gittrack.Client().create_run("exp", run_name="live").info.run_id
    doomed = make_run("doomed")
    with open_index() as index:
        index.refresh()
        assert {r["name"] for r in index.rows()} == {"first", "live", "doomed"}
    gittrack.Client().log_metric(running, "loss", 0.5)  # changed
    gittrack.Client().flush(running)
    gittrack.Client().purge_run(doomed)  # vanished
    newest = make_run("newest")  # added
    reads: list[str] = []
    monkeypatch.setattr(RunIndex, "_load_snapshot", lambda self, g: reads.append(g))
    with open_index() as index:
        index.refresh()
        carried = index.rows()
        assert reads == []  # no row was decoded again but the changed ones
        session.reset()  # as a new process: everything read from the index file
        monkeypatch.undo()
        fresh = index.rows()
    assert carried == fresh
    assert [r["run_id"] for r in carried][:1] == [newest]
    assert {r["run_id"] for r in carried} == {first, running, newest}
    assert next(r for r in carried if r["run_id"] == running)["metrics"] == {"loss": 0.5}


def test_children_are_found_without_decoding_every_row(repo: Path) -> None:
    from gittrack.query.search import query_rows

    parent = make_run("parent")
    client = gittrack.Client()
    kids = []
    for i in range(2):
        run = client.create_run("exp", run_name=f"kid{i}", parent_run_id=parent)
        client.log_metric(run.info.run_id, "loss", math.nan)  # rows keep NaN: not strict JSON
        client.set_terminated(run.info.run_id)
        kids.append(run.info.run_id)
    # the parent's id as text elsewhere in a row is not a parent link
    decoy = make_run("decoy", params={"note": f'"parent_run_id":"{parent}"'})
    with open_index() as index:
        assert sorted(r["run_id"] for r in index.rows_with_parent(parent)) == sorted(kids)
        assert index.rows_with_parent(decoy) == []
        client.delete_run(kids[0])
        found = query_rows(index=index, parent_run_id=parent)
        assert [r["run_id"] for r in found] == [kids[1]]
        assert query_rows(index=index, parent_run_id=parent, experiment_names=["other"]) == []


def test_a_few_rows_are_found_from_the_columns_alone_as_whole_rows_find_them(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search for a few runs in a new process reads only the columns it names; what it
    returns equals what the whole rows give, for filters, sorts and narrowing alike."""
    from gittrack.index import RunIndex
    from gittrack.query.search import query_rows

    client = gittrack.Client()
    make_run("plain", params={"lr": 0.1, "opt": "adam"}, acc=0.5)
    make_run("nan", "other", params={"lr": None, "ключ": "ünï"}, acc=math.nan)
    make_run("bare")
    tagged = make_run("tagged", params={"lr": 0.5, "opt": "sgd"}, acc=0.9, loss=2.0)
    client.set_tag(tagged, "team", "a")
    client.flush(tagged)
    client.delete_run(make_run("deleted", params={"lr": 0.2}, acc=0.7))
    cases: list[dict[str, object]] = [
        {},
        {"filter_string": "metrics.acc > 0.1"},
        {"filter_string": "params.lr >= '0.1' or params.ключ = 'ünï'", "order_by": "metrics.acc"},
        {"filter_string": "tags.team = 'a' and attributes.run_name LIKE 't%'"},
        {"order_by": ["params.opt DESC", "metrics.acc"], "experiment_names": ["exp"]},
        {"filter_string": "params.lr IS NULL", "view_type": 3},
        {"order_by": "metrics.loss DESC", "experiment_ids": ["0"]},
        {"filter_string": "attributes.status = 'FINISHED'", "view_type": 2},
    ]
    whole = [query_rows(**case) for case in cases]  # type: ignore[arg-type]
    columns = repo / ".git" / "gittrack" / "index.sqlite.cols"
    assert not columns.exists()  # written only for searches that want a few rows
    query_rows(max_results=1)
    assert columns.exists()
    as_a_new_process()  # the columns file is on disk, no row in memory
    monkeypatch.setattr(RunIndex, "rows", lambda self, e=None: pytest.fail("read every row"))
    for case, expected in zip(cases, whole, strict=True):
        for n in (1, 3, 10):
            assert query_rows(**case, max_results=n) == expected[:n], case  # type: ignore[arg-type]


def test_columns_of_an_older_state_are_not_used(repo: Path) -> None:
    from gittrack.query.search import query_rows

    make_run("a", acc=0.1)
    assert [r["name"] for r in query_rows(max_results=5)] == ["a"]
    session.reset()
    make_run("b", acc=0.2)  # the columns file on disk now describes an older index
    session.reset()
    assert [r["name"] for r in query_rows(order_by="metrics.acc DESC", max_results=5)] == [
        "b",
        "a",
    ]


def test_columns_of_an_older_state_answer_with_the_runs_changed_since(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a few runs are added, changed, deleted or dropped, a search for a few runs
    still reads the older columns (the changed runs from the index) and answers what the
    whole rows answer; when many changed, it reads whole rows and writes new columns."""
    import gittrack.index
    from gittrack.index import RunIndex
    from gittrack.query.search import query_rows

    client = gittrack.Client()
    same = make_run("same", params={"lr": 0.1}, acc=0.5)
    grows = make_run("grows", params={"lr": 0.3}, acc=0.2)
    deleted = make_run("deleted", "other", params={"lr": 0.2}, acc=0.7)
    dropped = make_run("dropped", params={"lr": 0.4}, acc=0.95)
    make_run("bare")
    query_rows(max_results=1)  # columns of this state
    columns = repo / ".git" / "gittrack" / "index.sqlite.cols"
    written = columns.read_bytes()
    as_a_new_process()
    client.log_metric(grows, "acc", 0.99)  # a new value and a new key
    client.log_metric(grows, "ключ", 1.5)
    client.set_tag(grows, "team", "ü")
    client.flush(grows)
    client.delete_run(deleted)
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{dropped}")
    added = make_run("added", params={"lr": 0.1}, acc=0.6)
    cases: list[dict[str, object]] = [
        {},
        {"order_by": "metrics.acc DESC"},
        {"filter_string": "params.lr = '0.1'", "order_by": "attributes.run_name"},
        {"filter_string": "metrics.ключ > 1 or tags.team = 'ü'"},
        {"filter_string": "metrics.acc >= 0.5", "view_type": 3, "order_by": "metrics.acc"},
        {"experiment_names": ["other"], "view_type": 2},
    ]
    whole = [query_rows(**case) for case in cases]  # type: ignore[arg-type]
    assert [r["run_id"] for r in whole[1]][:3] == [grows, added, same]  # the changes show
    assert [r["run_id"] for r in whole[5]] == [deleted]
    as_a_new_process()
    with monkeypatch.context() as m:
        m.setattr(RunIndex, "rows", lambda self, e=None: pytest.fail("read every row"))
        for case, expected in zip(cases, whole, strict=True):
            for n in (1, 3, 10):
                assert query_rows(**case, max_results=n) == expected[:n], case  # type: ignore[arg-type]
    assert columns.read_bytes() == written  # the older columns answered
    monkeypatch.setattr(gittrack.index, "_STALE_COLUMNS_MIN", 2)
    make_run("late", params={"lr": 0.1}, acc=0.55)
    as_a_new_process()
    case = {"filter_string": "params.lr >= '0.1'", "order_by": "metrics.acc"}
    found = query_rows(**case, max_results=3)  # type: ignore[arg-type]
    assert columns.read_bytes() != written  # whole rows were read, new columns written
    assert found == query_rows(**case)[:3]  # type: ignore[arg-type]
    assert [r["name"] for r in found] == ["same", "late", "added"]


def test_an_unknown_sort_key_names_the_known_keys_from_columns_too(repo: Path) -> None:
    from gittrack.errors import ValidationError
    from gittrack.query.search import query_rows

    make_run("a", acc=0.1, loss=1.0)
    query_rows(max_results=1)
    session.reset()
    with pytest.raises(ValidationError, match="known: acc, loss"):
        query_rows(order_by="metrics.accc", max_results=3, check_sort_keys=True)
