"""Data lineage: digests of files, directories and tables, the hash cache, keep/restore,
checks before a reproduction, and the errors a user can cause."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import fsck, git

import gittrack
from gittrack.errors import InputError, UnsafePathError, ValidationError
from gittrack.lineage import (
    check_inputs,
    diff_inputs,
    kept_objects,
    restore_kept_inputs,
    runs_using,
    unchecked_inputs,
)
from gittrack.lineage.cache import HashCache, cache_path
from gittrack.lineage.hashing import hash_path, hash_table

DOCS = Path(__file__).resolve().parent.parent / "docs" / "lineage.md"


def _doc_function(name: str) -> Any:
    """Run the reference implementation printed in docs/lineage.md."""
    text = DOCS.read_text()
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        if f"def {name}(" in block:
            namespace: dict[str, Any] = {}
            exec(block, namespace)
            return namespace[name]
    raise AssertionError(f"docs/lineage.md has no {name}()")


def _run_record(run_id: str) -> Any:
    from gittrack.session import open_repository

    return open_repository(create=False).load(run_id).record


def _future_clock() -> int:
    """A clock far enough ahead that freshly written files are not 'racy'."""
    import time

    return time.time_ns() + 3600 * 10**9


def _make_tree(root: Path) -> Path:
    data = root / "data"
    (data / "sub" / "deeper").mkdir(parents=True)
    (data / "empty-dir").mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    (data / "sub" / "x.bin").write_bytes(bytes(range(256)) * 10)
    (data / "sub" / "deeper" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(data / "sub" / "deeper" / "run.sh", 0o755)
    (data / "link").symlink_to("train.csv")
    return data


# -- files ---------------------------------------------------------------------------------
def test_file_input_is_recorded_by_sha256(repo: Path) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("x,y\n1,2\n")
    with gittrack.start_run() as run:
        info = gittrack.log_input("data/train.csv", context="training")
    expected = subprocess.run(
        ["sha256sum", "data/train.csv"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert info.digest == f"sha256:{expected}"
    assert (info.name, info.kind, info.source, info.size) == (
        "train.csv",
        "file",
        "data/train.csv",
        8,
    )
    stored = _run_record(run.info.run_id).inputs
    assert stored == [
        {
            "name": "train.csv",
            "context": "training",
            "kind": "file",
            "source": "data/train.csv",
            "digest": f"sha256:{expected}",
            "size": 8,
        }
    ]
    out = git(repo, "show", f"refs/gittrack/runs/{run.info.run_id}:.gittrack/run/inputs.yaml")
    assert "digest:" in out and expected in out
    fsck(repo)


def test_file_outside_the_repository_keeps_its_absolute_path(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("z")
    with gittrack.start_run():
        info = gittrack.log_input(str(outside), name="ext")
    assert info.source == outside.as_posix()


def test_hashing_a_large_file_uses_constant_memory(tmp_path: Path) -> None:
    import tracemalloc

    big = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for _ in range(48):
            f.write(chunk)
    expected = hashlib.sha256(chunk * 48).hexdigest()
    tracemalloc.start()
    try:
        digest = hash_path(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.digest == f"sha256:{expected}"
    assert peak < 4 * (1 << 20), peak


# -- directories ---------------------------------------------------------------------------
def test_directory_digest_matches_the_documented_construction(repo: Path) -> None:
    data = _make_tree(repo)
    reference = _doc_function("directory_digest")
    with gittrack.start_run() as run:
        info = gittrack.log_input("data", context="training")
    assert info.kind == "directory"
    assert info.digest == reference(str(data))
    assert info.files == 4  # train.csv, x.bin, run.sh, link (empty-dir is not counted)
    assert info.size == 8 + 2560 + len("#!/bin/sh\necho hi\n")
    entry = _run_record(run.info.run_id).inputs[0]
    assert entry["files"] == 4 and "manifest" not in entry  # the manifest is for kept inputs


def test_directory_digest_sees_content_names_and_exec_bit(tmp_path: Path) -> None:
    data = _make_tree(tmp_path)
    base = hash_path(data).digest
    os.chmod(data / "train.csv", 0o755)
    assert hash_path(data).digest != base
    os.chmod(data / "train.csv", 0o644)
    assert hash_path(data).digest == base
    (data / "train.csv").rename(data / "train2.csv")
    renamed = hash_path(data).digest
    assert renamed != base
    (data / "train2.csv").rename(data / "train.csv")
    (data / "empty-dir" / "new").write_text("")
    assert hash_path(data).digest not in (base, renamed)


def test_symlinks_in_a_directory_are_recorded_never_followed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    secret = tmp_path / "outside.txt"
    secret.write_text("one")
    (data / "escape").symlink_to(secret)
    (data / "dirlink").symlink_to(tmp_path)  # a loop if it were followed
    first = hash_path(data)
    secret.write_text("two")  # the target changes, the link does not
    assert hash_path(data).digest == first.digest
    links = {f.path: f.link for f in first.files}
    assert links == {"escape": str(secret), "dirlink": str(tmp_path)}


# -- tables --------------------------------------------------------------------------------
def test_table_digest_is_stable_and_documented(repo: Path) -> None:
    table = pa.table({"x": pa.array(range(100_000), pa.int64()), "y": [0.5] * 100_000})
    chunked = pa.concat_tables([table.slice(0, 7), table.slice(7, 50_000), table.slice(50_007)])
    with_meta = table.replace_schema_metadata({b"origin": b"test"})
    digest, size = hash_table(table)
    assert hash_table(chunked)[0] == digest
    assert hash_table(with_meta)[0] == digest
    assert _doc_function("table_digest")(table) == digest
    assert hash_table(table.slice(1))[0] != digest
    with gittrack.start_run() as run:
        info = gittrack.log_input(table, name="features", context="training")
    assert (info.kind, info.source, info.rows, info.size) == ("table", "<table>", 100_000, size)
    assert info.schema == {"x": "int64", "y": "double"}
    assert _run_record(run.info.run_id).inputs[0]["schema"] == {"x": "int64", "y": "double"}


def test_pandas_dataframe_hashes_like_its_arrow_table(repo: Path) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.1, 0.2, 0.3]}, index=[10, 20, 30])
    table = pa.table({"a": pa.array([1, 2, 3], pa.int64()), "b": [0.1, 0.2, 0.3]})
    with gittrack.start_run():
        info = gittrack.log_input(df, name="df")
    assert info.digest == hash_table(table)[0]  # index dropped, pandas metadata ignored
    assert info.rows == 3


def test_record_batch_is_accepted(repo: Path) -> None:
    batch = pa.record_batch({"a": [1, 2]})
    with gittrack.start_run():
        info = gittrack.log_input(batch, name="batch")
    assert info.digest == hash_table(pa.Table.from_batches([batch]))[0]


# -- names, replacing, clients ---------------------------------------------------------------
def test_logging_the_same_name_again_replaces_the_entry(repo: Path) -> None:
    (repo / "a.txt").write_text("a")
    (repo / "b.txt").write_text("b")
    with gittrack.start_run() as run:
        gittrack.log_input("a.txt", name="train")
        gittrack.log_input("b.txt", name="other")
        gittrack.log_input("b.txt", name="train", context="v2")
    inputs = _run_record(run.info.run_id).inputs
    assert [(e["name"], e["source"], e["context"]) for e in inputs] == [
        ("train", "b.txt", "v2"),
        ("other", "b.txt", None),
    ]


def test_client_log_input_and_run_id_argument(repo: Path) -> None:
    (repo / "a.txt").write_text("a")
    client = gittrack.Client()
    run = client.create_run("lineage", run_name="explicit")
    info = client.log_input(run.info.run_id[:8], "a.txt", name="a", context="eval")
    gittrack.log_input(str(repo / "a.txt"), name="again", run_id="explicit")
    client.set_terminated(run.info.run_id)
    inputs = _run_record(run.info.run_id).inputs
    assert [e["name"] for e in inputs] == ["a", "again"]
    assert inputs[0]["digest"] == info.digest == inputs[1]["digest"]
    assert gittrack.active_run() is None  # run_id= does not start a fluent run


def test_input_survives_a_concurrent_writer(repo: Path) -> None:
    """The entry is an operation replayed on top of another process's update."""
    (repo / "a.txt").write_text("a")
    client = gittrack.Client()
    run = client.create_run()
    client.flush(run.info.run_id)  # written now: another process joins it
    proc = subprocess.run(
        [
            "python",
            "-c",
            "import gittrack; c = gittrack.Client(); "
            f"c.log_param({run.info.run_id!r}, 'from_child', 1); c.flush()",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    writer = client.writer(run.info.run_id)
    client.log_input(run.info.run_id, "a.txt", name="a")
    writer.flush()
    record = _run_record(run.info.run_id)
    assert record.params == {"from_child": 1}
    assert [e["name"] for e in record.inputs] == ["a"]


# -- the hash cache --------------------------------------------------------------------------
def test_cache_hits_when_unchanged_and_sees_same_size_rewrite_with_mtime_restored(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"A" * 4096)
    db = tmp_path / "cache.sqlite"
    with HashCache(db, clock=_future_clock) as cache:
        first = hash_path(data, cache)
    with HashCache(db, clock=_future_clock) as cache:
        assert hash_path(data, cache).digest == first.digest
        assert (cache.hits, cache.misses) == (1, 0)

    before = os.stat(data)
    with open(data, "r+b") as f:  # same size, same inode, different bytes
        f.write(b"B" * 4096)
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    # ctime only moves when the clock has ticked since creation; re-applying utime until
    # it has is polling a condition, not ordering events by sleeping.
    while os.stat(data).st_ctime_ns == before.st_ctime_ns:
        os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(data)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    with HashCache(db, clock=_future_clock) as cache:
        changed = hash_path(data, cache)
        assert (cache.hits, cache.misses) == (0, 1)
    assert changed.digest == "sha256:" + hashlib.sha256(b"B" * 4096).hexdigest()


def test_cache_does_not_trust_files_modified_just_before_hashing(tmp_path: Path) -> None:
    data = tmp_path / "fresh.txt"
    data.write_text("fresh")
    db = tmp_path / "cache.sqlite"
    with HashCache(db) as cache:  # the real clock: the file is seconds old at most
        hash_path(data, cache)
        hash_path(data, cache)
        assert (cache.hits, cache.misses) == (0, 2)


def test_directory_relog_reads_nothing_when_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _make_tree(tmp_path)
    db = tmp_path / "cache.sqlite"
    with HashCache(db, clock=_future_clock) as cache:
        first = hash_path(data, cache)
    import gittrack.lineage.hashing as hashing

    def no_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached file was read again")

    monkeypatch.setattr(hashing, "_read_sha256", no_read)
    with HashCache(db, clock=_future_clock) as cache:
        assert hash_path(data, cache).digest == first.digest
        assert cache.hits == 3  # the symlink is never cached: its target text is hashed


def test_log_input_uses_the_repository_cache(repo: Path) -> None:
    (repo / "a.txt").write_text("a")
    with gittrack.start_run():
        gittrack.log_input("a.txt")
    common = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    path = cache_path(common if common.is_absolute() else repo / common)
    assert path.is_file()
    import sqlite3

    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT count(*) FROM hashes").fetchone()
    assert count == 1


def test_unusable_cache_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "a.txt"
    data.write_text("a")
    bad = tmp_path / "cache-is-a-dir"
    bad.mkdir()
    with caplog.at_level(logging.WARNING, logger="gittrack"), HashCache(bad) as cache:
        digest = hash_path(data, cache)
    assert digest.digest == "sha256:" + hashlib.sha256(b"a").hexdigest()
    assert "hash cache" in caplog.text


# -- errors --------------------------------------------------------------------------------
def test_missing_path_is_one_line_error(repo: Path) -> None:
    with gittrack.start_run(), pytest.raises(InputError, match=r"'nope\.csv' does not exist"):
        gittrack.log_input("nope.csv")


def test_fifo_is_refused_without_blocking(repo: Path) -> None:
    os.mkfifo(repo / "pipe")
    with gittrack.start_run(), pytest.raises(InputError, match="not a regular file"):
        gittrack.log_input("pipe")
    (repo / "d").mkdir()
    os.mkfifo(repo / "d" / "pipe")
    with gittrack.start_run(), pytest.raises(InputError, match="'pipe', which is not a regular"):
        gittrack.log_input("d")


def test_unreadable_file_is_one_line_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "secret.csv").write_text("s")
    real_open = os.open

    def deny(path: Any, flags: int, *args: Any) -> int:
        if str(path).endswith("secret.csv"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    with gittrack.start_run(), pytest.raises(InputError) as info:
        gittrack.log_input("secret.csv")
    assert "cannot be read (Permission denied)" in info.value.message
    assert "\n" not in info.value.message


def test_unreadable_directory_is_one_line_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "d").mkdir()
    real_scandir = os.scandir

    def deny(path: Any = ".") -> Any:
        if str(path).endswith("/d"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", deny)
    with gittrack.start_run(), pytest.raises(InputError, match="cannot be read"):
        gittrack.log_input("d")


def test_unsupported_sources_and_bad_names(repo: Path) -> None:
    with gittrack.start_run():
        with pytest.raises(InputError, match="cannot log a dict"):
            gittrack.log_input({"a": 1}, name="x")
        with pytest.raises(InputError, match="cannot log bytes"):
            gittrack.log_input(b"raw", name="x")
        with pytest.raises(ValidationError, match="table input needs a name"):
            gittrack.log_input(pa.table({"a": [1]}))
        (repo / "ok.txt").write_text("ok")
        with pytest.raises(ValidationError, match="input key"):
            gittrack.log_input("ok.txt", name="bad\nname")
        with pytest.raises(ValidationError, match="input context"):
            gittrack.log_input("ok.txt", context="")
        run_id = gittrack.active_run().info.run_id  # type: ignore[union-attr]
    assert _run_record(run_id).inputs == []  # nothing half-recorded


def test_file_changing_while_hashed_is_retried_then_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gittrack.lineage.hashing as hashing

    data = tmp_path / "moving.bin"
    data.write_bytes(b"0" * 10)
    real_fstat = os.fstat
    calls = {"n": 0}

    def growing_fstat(fd: int) -> os.stat_result:
        calls["n"] += 1
        st = real_fstat(fd)
        if calls["n"] % 2 == 0:  # every "after" stat sees a different size
            with open(data, "ab") as f:
                f.write(b"1")
            st = real_fstat(fd)
        return st

    monkeypatch.setattr(hashing.os, "fstat", growing_fstat)
    with pytest.raises(InputError, match="keeps changing while being hashed"):
        hash_path(data)


# -- keep, restore, check ---------------------------------------------------------------------
def _objects(repo: Path) -> Path:
    return repo / ".git" / "gittrack" / "objects" / "sha256"


def test_keep_stores_bytes_once_and_restores_them(repo: Path, tmp_path: Path) -> None:
    data = _make_tree(repo)
    (repo / "model.cfg").write_text("depth: 3\n")
    with gittrack.start_run() as run1:
        gittrack.log_input("data", name="train", keep=True)
        gittrack.log_input("model.cfg", keep=True)
        gittrack.log_input(pa.table({"a": [1, 2]}), name="t", keep=True)
    with gittrack.start_run():
        gittrack.log_input("data", name="train", keep=True)  # same bytes: nothing new
    record = _run_record(run1.info.run_id)
    train = record.inputs[0]
    assert train["kept"] is True
    assert {m["path"] for m in train["manifest"]} == {
        "link",
        "sub/deeper/run.sh",
        "sub/x.bin",
        "train.csv",
    }
    stored = sorted(p for p in _objects(repo).rglob("*") if p.is_file())
    assert len(stored) == 5 == len(kept_objects(record))  # 3 files + model.cfg + table
    from gittrack.lineage import kept_objects_at
    from gittrack.session import open_repository

    runs = open_repository(create=False)
    assert kept_objects_at(runs, runs.run_commit(run1.info.run_id)) == kept_objects(record)
    assert {p.parent.name + p.name for p in stored} == kept_objects(record)

    dest = tmp_path / "restore"
    dest.mkdir()
    restored = restore_kept_inputs(record, dest, repo=repo)
    assert restored == ["data", "model.cfg"]
    assert hash_path(dest / "data").digest == train["digest"]
    assert os.access(dest / "data" / "sub" / "deeper" / "run.sh", os.X_OK)
    assert os.readlink(dest / "data" / "link") == "train.csv"
    assert (dest / "model.cfg").read_text() == "depth: 3\n"
    assert check_inputs(record, dest, repo) == []
    # No repository there, so no object cache: the restored files still hash as recorded,
    # and the table (built in memory by the script) is not a problem, only unchecked.
    assert check_inputs(record, dest, dest) == []
    assert unchecked_inputs(record) == [
        "input 't' is a table logged from memory: not checkable before the run"
    ]
    assert data.is_dir()


def test_restore_verifies_bytes_and_refuses_escaping_links(repo: Path, tmp_path: Path) -> None:
    (repo / "a.txt").write_text("original")
    with gittrack.start_run() as run:
        gittrack.log_input("a.txt", keep=True)
    record = _run_record(run.info.run_id)
    sha = record.inputs[0]["digest"].removeprefix("sha256:")
    obj = _objects(repo) / sha[:2] / sha[2:]
    os.chmod(obj, 0o644)
    obj.write_text("tampered")
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(InputError, match="corrupt in the artifact cache"):
        restore_kept_inputs(record, dest, repo=repo)
    assert not (dest / "a.txt").exists()
    obj.unlink()
    with pytest.raises(InputError, match="not in the artifact cache"):
        restore_kept_inputs(record, dest, repo=repo)

    hostile = {
        "name": "d",
        "kind": "directory",
        "source": "d",
        "digest": "sha256:" + "0" * 64,
        "kept": True,
        "manifest": [{"path": "evil", "mode": "120000", "link": "../../../etc/passwd"}],
    }
    record.inputs = [hostile]
    with pytest.raises(UnsafePathError, match="leads outside"):
        restore_kept_inputs(record, dest, repo=repo)
    record.inputs = [dict(hostile, source="../outside")]
    with pytest.raises(UnsafePathError, match=r"contains '\.\.'"):
        restore_kept_inputs(record, dest, repo=repo)


def test_check_inputs_reports_changed_and_missing(repo: Path, tmp_path: Path) -> None:
    data = _make_tree(repo)
    (repo / "gone.txt").write_text("bye")
    with gittrack.start_run() as run:
        gittrack.log_input("data", name="train")
        gittrack.log_input("gone.txt", name="gone")
        gittrack.log_input(pa.table({"a": [1]}), name="mem")
        gittrack.log_input(pa.table({"a": [2]}), name="kept-mem", keep=True)
    record = _run_record(run.info.run_id)
    assert check_inputs(record, tmp_path, repo) == []  # nothing known to differ
    assert unchecked_inputs(record) == [
        "input 'mem' is a table logged from memory: not checkable before the run",
        "input 'kept-mem' is a table logged from memory: not checkable before the run",
    ]
    old = record.inputs[0]["digest"]
    (data / "train.csv").write_text("a,b\n1,3\n")
    (repo / "gone.txt").unlink()
    problems = check_inputs(record, tmp_path, repo)
    new = hash_path(data).digest
    assert problems == [
        f"input 'train' changed: data is {new[:19]}, the run used {old[:19]}",
        "input 'gone' is missing: gone.txt not found",
    ]
    # a relative source missing from repo_root is looked up in workdir
    (tmp_path / "gone.txt").write_text("bye")
    assert "input 'gone' is missing: gone.txt not found" not in check_inputs(record, tmp_path, repo)


def test_check_passes_kept_inputs_that_can_be_restored(repo: Path, tmp_path: Path) -> None:
    (repo / "a.txt").write_text("v1")
    with gittrack.start_run() as run:
        gittrack.log_input("a.txt", keep=True)
    record = _run_record(run.info.run_id)
    (repo / "a.txt").write_text("v2")
    assert check_inputs(record, tmp_path, repo) == []  # restorable, so not a problem
    sha = record.inputs[0]["digest"].removeprefix("sha256:")
    (_objects(repo) / sha[:2] / sha[2:]).unlink()
    assert check_inputs(record, tmp_path, repo)[0].startswith("input 'a.txt' changed:")


def test_kept_data_restores_in_a_clone_sharing_the_object_cache(repo: Path, tmp_path: Path) -> None:
    """A fresh clone gets the run refs by git and the kept bytes from an object store."""
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("1,2\n")
    with gittrack.start_run() as run:
        gittrack.log_input("data", name="train", keep=True)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")
    from gittrack.session import open_repository

    record = open_repository(clone, create=False).load(run.info.run_id).record
    assert not (clone / "data").exists()
    assert check_inputs(record, clone, clone) == ["input 'train' is missing: data not found"]
    # Stand-in for an artifact pull: copy the objects the run's kept inputs need.
    for sha in kept_objects(record):
        src = _objects(repo) / sha[:2] / sha[2:]
        dst = _objects(clone) / sha[:2] / sha[2:]
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
    assert check_inputs(record, clone, clone) == []
    assert restore_kept_inputs(record, clone) == ["data"]
    assert (clone / "data" / "train.csv").read_text() == "1,2\n"


# -- diff, runs_using, filter ---------------------------------------------------------------
def test_diff_inputs(repo: Path) -> None:
    for name in ("a", "b", "c"):
        (repo / f"{name}.txt").write_text(name)
    with gittrack.start_run() as r1:
        gittrack.log_input("a.txt", name="same")
        gittrack.log_input("b.txt", name="changed")
        gittrack.log_input("c.txt", name="removed")
    (repo / "b.txt").write_text("b2")
    with gittrack.start_run() as r2:
        gittrack.log_input("a.txt", name="same")
        gittrack.log_input("b.txt", name="changed")
        gittrack.log_input("c.txt", name="added")
    a, b = _run_record(r1.info.run_id), _run_record(r2.info.run_id)
    diff = diff_inputs(a, b)
    assert [(d["name"], d["change"]) for d in diff] == [
        ("same", "same"),
        ("changed", "changed"),
        ("removed", "removed"),
        ("added", "added"),
    ]
    assert diff[1]["digest_a"] == a.inputs[1]["digest"] != diff[1]["digest_b"]
    assert diff[2]["digest_b"] is None and diff[3]["digest_a"] is None


def test_runs_using_finds_runs_by_digest_not_by_path(repo: Path, tmp_path: Path) -> None:
    data = _make_tree(repo)
    with gittrack.start_run(run_name="uses-dir") as r1:
        gittrack.log_input("data", name="train", context="training")
    with gittrack.start_run(run_name="uses-file") as r2:
        gittrack.log_input("data/train.csv", name="csv")
    with gittrack.start_run(run_name="unrelated"):
        gittrack.log_input(pa.table({"a": [1]}), name="t")
    copy = tmp_path / "copy.csv"
    copy.write_bytes((data / "train.csv").read_bytes())
    rows = runs_using(copy)
    assert [(r["run_id"], r["input"]) for r in rows] == [(r2.info.run_id, "csv")]
    rows = runs_using(data)
    assert [(r["name"], r["input"], r["context"]) for r in rows] == [
        ("uses-dir", "train", "training")
    ]
    assert rows[0]["run_id"] == r1.info.run_id
    (data / "train.csv").write_text("changed")
    assert runs_using(data) == []


def test_filter_grammar_selects_runs_by_input_digest(repo: Path) -> None:
    from gittrack.index_build import row_from_record
    from gittrack.query.filter import parse_filter

    (repo / "a.txt").write_text("a")
    (repo / "b.txt").write_text("b")
    with gittrack.start_run() as r1:
        info = gittrack.log_input("a.txt", name="train", context="training")
    with gittrack.start_run() as r2:
        gittrack.log_input("b.txt", name="train", context="training")
    rows = [row_from_record(_run_record(r.info.run_id), "0" * 40) for r in (r1, r2)]
    flt = parse_filter(f"inputs.train.digest = '{info.digest}'")
    assert [row["run_id"] for row in rows if flt.matches(row)] == [r1.info.run_id]
    flt = parse_filter("inputs.train.context = 'training'")
    assert len([row for row in rows if flt.matches(row)]) == 2


def test_run_id_of_a_live_writer_in_another_repository(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (repo / "a.txt").write_text("a")
    client = gittrack.Client(other)
    run = client.create_run()
    gittrack.log_input(str(repo / "a.txt"), name="a", run_id=run.info.run_id)
    client.set_terminated(run.info.run_id)
    from gittrack.session import open_repository

    assert [
        e["name"] for e in open_repository(other, create=False).load(run.info.run_id).record.inputs
    ] == ["a"]


def test_the_tools_api_takes_get_inputs_and_plain_paths(repo: Path, tmp_path: Path) -> None:
    """docs/lineage.md's table, called as a tool would: with get_inputs(run) and strings."""
    from gittrack.lineage import get_inputs, kept_objects

    (repo / "a.txt").write_text("v1")
    with gittrack.start_run() as run:
        gittrack.log_input("a.txt", name="a", keep=True)
        gittrack.log_input(pa.table({"x": [1]}), name="mem")
    inputs = get_inputs(run.info.run_id)
    sha = inputs[0]["digest"].removeprefix("sha256:")
    assert kept_objects(inputs) == {sha}
    assert check_inputs(inputs, str(tmp_path), str(repo)) == []
    assert unchecked_inputs(inputs) == [
        "input 'mem' is a table logged from memory: not checkable before the run"
    ]
    assert restore_kept_inputs(inputs, str(tmp_path / "out"), repo=str(repo)) == ["a.txt"]
    assert (tmp_path / "out" / "a.txt").read_text() == "v1"
