"""Reading one ref from ``packed-refs`` by bisection agrees with C git, whatever its place."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import git

from gittrack.store.refs import read_packed_refs, read_ref


def _packed_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "c")
    lines = [f"create refs/gittrack/runs/{i:032x} HEAD" for i in range(0, 3000, 3)]
    lines += [f"create refs/heads/b{i} HEAD" for i in range(50)]
    subprocess.run(
        ["git", "update-ref", "--stdin"],
        cwd=repo,
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
    )
    for i in range(20):  # annotated tags add peel lines (^sha) after their records
        git(repo, "tag", "-a", f"t{i:02d}", "-m", "t")
    git(repo, "pack-refs", "--all")
    assert not list((repo / ".git" / "refs" / "gittrack" / "runs").glob("*"))
    return repo


def test_every_packed_ref_and_every_gap(tmp_path: Path) -> None:
    repo = _packed_repo(tmp_path)
    gd = repo / ".git"
    assert b"sorted" in (gd / "packed-refs").read_bytes().split(b"\n", 1)[0]
    expected = dict(
        line.split(" ", 1)[::-1]
        for line in git(repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines()
    )
    for name, sha in expected.items():
        assert read_ref(gd, name) == sha, name
    for i in (-1, 1, 2, 1501, 2998, 2999, 4000):  # before, between and after packed names
        name = f"refs/gittrack/runs/{i:032x}" if i >= 0 else "refs/a"
        assert read_ref(gd, name) is None, name
    for name in ("refs/tags/t00x", "refs/tags/t", "refs/zzz", "refs/heads/b1/x"):
        assert read_ref(gd, name) is None, name


def test_refs_under_a_prefix_read_from_a_sorted_file_are_those_git_lists(tmp_path: Path) -> None:
    repo = _packed_repo(tmp_path)
    gd = repo / ".git"
    listed = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    every = dict(line.split(" ") for line in listed.splitlines())
    for prefix in ("refs/gittrack/runs/", "refs/gittrack/", "refs/heads/", "refs/tags/",
                   "refs/heads/b1", "refs/a/", "refs/zzz/", "refs/"):  # fmt: skip
        expected = {k: v for k, v in every.items() if k.startswith(prefix)}
        assert read_packed_refs(gd, prefix) == expected, prefix


def test_unsorted_packed_refs_are_scanned(tmp_path: Path) -> None:
    gd = tmp_path / "g"
    gd.mkdir()
    a, b = "1" * 40, "2" * 40
    (gd / "packed-refs").write_text(f"{b} refs/z\n{a} refs/a\n")  # no "sorted" promise
    assert read_ref(gd, "refs/a") == a and read_ref(gd, "refs/z") == b
    assert read_ref(gd, "refs/m") is None


def test_a_rewritten_packed_refs_is_read_again(tmp_path: Path) -> None:
    from gittrack.store.refs import list_refs

    repo = _packed_repo(tmp_path)
    gd = repo / ".git"
    name = f"refs/gittrack/runs/{3:032x}"
    before = list_refs(gd, "refs/gittrack/runs/")
    assert len(before) == 1000
    first = read_ref(gd, name)  # looked up by bisection in the file mapped once
    assert first == before[name] and read_ref(gd, f"refs/gittrack/runs/{6:032x}") is not None
    before.clear()  # what a caller does with its answer never reaches the next one
    assert len(list_refs(gd, "refs/gittrack/runs/")) == 1000
    git(repo, "commit", "-q", "--allow-empty", "-m", "d")
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", name, head)
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{6:032x}")
    git(repo, "pack-refs", "--all")  # same size: one sha for another, one line less
    after = list_refs(gd, "refs/gittrack/runs/")
    assert after[name] == head and len(after) == 999
    assert first != head and read_ref(gd, name) == head  # the new file, mapped again
    assert read_ref(gd, f"refs/gittrack/runs/{6:032x}") is None
    (gd / "packed-refs").unlink()
    assert read_ref(gd, name) is None


def test_many_new_refs_are_created_in_one_packed_refs_write(tmp_path: Path) -> None:
    """What a pull of many runs uses: refs that exist (loose or packed) are left alone, the
    packed ones keep their peel lines, and C git reads, checks and repacks the result."""
    from gittrack.store.refs import create_packed_refs

    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    one = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    two = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "tag", "-a", "-m", "annotated", "v1", one)
    git(repo, "update-ref", "refs/gittrack/runs/packed", one)
    git(repo, "pack-refs", "--all")
    git(repo, "update-ref", "refs/gittrack/runs/loose", one)
    peeled = git(repo, "show-ref", "-d", "v1")
    new = {f"refs/gittrack/runs/{n}": two for n in ("packed", "loose", "a", "z")}
    created = create_packed_refs(repo / ".git", new)
    assert created == {"refs/gittrack/runs/a", "refs/gittrack/runs/z"}
    listed = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gittrack/")
    assert listed.split("\n")[:-1] == [
        f"refs/gittrack/runs/a {two}",
        f"refs/gittrack/runs/loose {one}",
        f"refs/gittrack/runs/packed {one}",
        f"refs/gittrack/runs/z {two}",
    ]
    assert git(repo, "show-ref", "-d", "v1") == peeled
    assert not (repo / ".git" / "packed-refs.lock").exists()
    assert create_packed_refs(repo / ".git", new) == set()  # all exist now: nothing written
    git(repo, "fsck", "--full", "--strict")
    git(repo, "pack-refs", "--all")
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gittrack/") == (
        listed
    )


def test_creating_packed_refs_waits_for_git_and_never_takes_its_lock(tmp_path: Path) -> None:
    from gittrack.errors import ConcurrencyError
    from gittrack.store.refs import create_packed_refs

    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    head = git(repo, "rev-parse", "HEAD").strip()
    lock = repo / ".git" / "packed-refs.lock"
    lock.write_text("")
    os.utime(lock, (0, 0))  # old, and no process holds it: still git's, as far as we know
    with pytest.raises(ConcurrencyError, match=r"packed-refs\.lock"):
        create_packed_refs(repo / ".git", {"refs/gittrack/runs/x": head}, timeout=0.05)
    assert lock.exists()
    assert git(repo, "for-each-ref", "refs/gittrack/") == ""
