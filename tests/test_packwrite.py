"""A flush's objects go into one pack that C git reads; a process keeps one open pack."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest
from conftest import fsck, git

from gittrack.errors import StorageError
from gittrack.store.maintain import REPACK_LOCK_NAME
from gittrack.store.packwrite import PackBuilder
from gittrack.store.repo import GitStore, Identity


def _packs(repo: Path) -> list[Path]:
    return sorted((repo / ".git" / "objects" / "pack").glob("*.pack"))


def _loose(repo: Path) -> int:
    out = git(repo, "count-objects", "-v")
    return int(dict(line.split(": ") for line in out.splitlines())["count"])


def test_a_batch_is_one_pack_that_c_git_reads_object_for_object(repo: Path) -> None:
    loose = _loose(repo)
    big = os.urandom(70_000)  # a size needing three bytes of the entry's size varint
    with GitStore(repo) as store, store.batched():
        empty = store.write_blob(b"")
        blob = store.write_blob(big)
        tree = store.write_tree({b"big.bin": (0o100644, blob), b"e": (0o100644, empty)})
        who = Identity("A Ü", "a@example.com")
        commit = store.write_commit(
            tree=tree, parents=[], author=who, author_time=1, commit_time=2, message="é\n"
        )
        # Before the block ends, this thread reads its own objects from memory.
        assert store.read_blob(blob) == big and store.has_object(commit)
        assert not _packs(repo)
    (pack,) = _packs(repo)
    assert _loose(repo) == loose
    verified = git(repo, "verify-pack", "-v", str(pack.with_suffix(".idx")))
    assert {blob, empty, tree, commit} <= {line.split()[0] for line in verified.splitlines()[:4]}
    assert git(repo, "rev-parse", f"{commit}^{{tree}}").strip() == tree and git(
        repo, "cat-file", "-s", blob
    ).strip() == str(len(big))
    git(repo, "update-ref", "refs/heads/packed", commit)
    fsck(repo)
    with GitStore(repo) as fresh:  # another process reads the pack through dulwich
        assert fresh.read_blob(blob) == big and fresh.read_blob(empty) == b""


def test_an_error_inside_a_batch_stores_nothing(repo: Path) -> None:
    with GitStore(repo) as store:
        with pytest.raises(RuntimeError), store.batched():
            sha = store.write_blob(b"never stored")
            store.write_blob(b"nor this")
            store.write_blob(b"nor that")
            raise RuntimeError("flush failed")
        assert not store.has_object(sha)
    assert not _packs(repo)
    assert git(repo, "cat-file", "-e", sha, check=False) == ""
    with GitStore(repo) as store:
        assert not store.has_object(sha)


def test_a_few_objects_stay_loose(repo: Path) -> None:
    loose = _loose(repo)
    with GitStore(repo) as store, store.batched():
        store.write_blob(b"one")
        store.write_blob(b"two")
    assert not _packs(repo) and _loose(repo) == loose + 2


def test_the_open_pack_takes_the_next_batch_and_the_old_pack_goes(repo: Path) -> None:
    with GitStore(repo) as store:
        with store.batched():
            first = [store.write_blob(b"a%d" % i) for i in range(3)]
        (old,) = _packs(repo)
        with store.batched():
            second = [store.write_blob(b"b%d" % i) for i in range(3)]
        (new,) = _packs(repo)
        assert new != old and not old.with_suffix(".idx").exists()
        listed = git(repo, "verify-pack", "-v", str(new.with_suffix(".idx")))
        assert set(first + second) <= {line.split()[0] for line in listed.splitlines()[:6]}
        # While a maintenance repacks (it may be reading the open pack) the pack stays
        # and the objects go loose.
        held = os.open(repo / ".git" / REPACK_LOCK_NAME, os.O_WRONLY | os.O_CREAT)
        fcntl.flock(held, fcntl.LOCK_EX)
        loose = _loose(repo)
        try:
            with store.batched():
                third = [store.write_blob(b"c%d" % i) for i in range(3)]
        finally:
            os.close(held)
        assert _packs(repo) == [new] and _loose(repo) == loose + 3
    with GitStore(repo) as fresh:
        assert all(fresh.has_object(sha) for sha in first + second + third)
    fsck(repo)


def test_a_full_disk_is_a_storage_error_and_leaves_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gittrack.store import packwrite

    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if bytes(data[:4]) in (b"PACK", b"\377tOc"):  # a pack or its index
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with GitStore(repo) as store:
        monkeypatch.setattr(packwrite.os, "write", full)
        with pytest.raises(StorageError, match="no space left"), store.batched():
            for i in range(3):
                store.write_blob(b"x%d" % i)
        monkeypatch.setattr(packwrite.os, "write", real_write)
    assert not list((repo / ".git" / "objects" / "pack").iterdir())  # no temporary file left


def test_an_object_added_twice_is_packed_once(repo: Path) -> None:
    from gittrack.store.packwrite import write_pack

    builder = PackBuilder()
    with GitStore(repo) as store:  # the ids, from the loose writer
        shas = [store.write_blob(b"twice"), store.write_blob(b"once")]
    for sha, body in zip([shas[0], shas[1], shas[0]], [b"twice", b"once", b"twice"], strict=True):
        builder.add(sha, b"blob", body)
    assert len(builder) == 2
    base = write_pack(str(repo / ".git" / "objects" / "pack"), builder)
    listed = git(repo, "verify-pack", "-v", base + ".idx")
    assert sorted(line.split()[0] for line in listed.splitlines()[:2]) == sorted(shas)


def test_a_flush_whose_pack_fails_is_written_whole_by_the_next(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gittrack
    from gittrack.store import repo as repo_mod

    real = repo_mod.write_pack
    calls = {"n": 0}

    def fail_once(pack_dir: str, builder: PackBuilder, *, fsync: bool = False) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(pack_dir, builder, fsync=fsync)

    run = gittrack.start_run()
    gittrack.log_param("p", 1)
    client = gittrack.Client()
    monkeypatch.setattr(repo_mod, "write_pack", fail_once)
    with pytest.raises(StorageError, match="no space left"):
        client.flush(run.info.run_id)
    gittrack.log_metric("m", 0.5)
    gittrack.end_run()  # the next flush writes everything the failed one held
    assert calls["n"] >= 2
    fsck(repo)
    got = gittrack.get_run(run.info.run_id)
    assert got.data.params == {"p": "1"} and got.data.metrics == {"m": 0.5}
