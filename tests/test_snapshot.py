"""The code snapshot: tracked files with uncommitted edits, never ignored files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fsck, git

import gittrack


def _files(repo: Path, ref: str) -> dict[str, str]:
    names = git(repo, "ls-tree", "-r", "--name-only", ref).split("\n")
    return {
        n: git(repo, "show", f"{ref}:{n}")
        for n in names
        if n and not n.startswith(".gittrack/run/")
    }


def _run(repo: Path) -> tuple[str, gittrack.Run]:
    with gittrack.start_run() as run:
        pass
    return f"refs/gittrack/runs/{run.info.run_id}", gittrack.get_run(run.info.run_id)


def test_clean_tree_equals_head_and_is_not_dirty(repo: Path) -> None:
    ref, run = _run(repo)
    assert run.info.dirty is False
    head_tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    diff = git(repo, "diff", "--stat", "HEAD", ref, "--", ".", ":(exclude).gittrack")
    assert diff == ""
    assert head_tree  # sanity: HEAD has a tree


def test_uncommitted_edit_deleted_file_and_ignored_file(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited, not committed')\n")
    (repo / "README").unlink()
    (repo / "debug.log").write_text("ignored\n")
    (repo / "notes.txt").write_text("untracked\n")
    ref, run = _run(repo)
    files = _files(repo, ref)
    assert files["train.py"] == "print('edited, not committed')\n"
    assert "README" not in files
    assert "debug.log" not in files
    assert "notes.txt" not in files  # untracked files only when configured
    assert run.info.dirty is True
    fsck(repo)


def test_staged_new_file_is_included(repo: Path) -> None:
    (repo / "new.py").write_text("x = 1\n")
    git(repo, "add", "new.py")
    ref, _ = _run(repo)
    assert _files(repo, ref)["new.py"] == "x = 1\n"


def test_untracked_files_when_configured(repo: Path) -> None:
    git(repo, "config", "gittrack.includeUntracked", "true")
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "data.csv").write_text("a,b\n")
    ref, run = _run(repo)
    files = _files(repo, ref)
    assert files["notes.txt"] == "untracked\n"
    assert files["sub/data.csv"] == "a,b\n"
    assert "debug.log" not in files
    assert run.info.dirty is True


def test_executable_bit_and_symlink_are_kept(repo: Path) -> None:
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    (repo / "link").symlink_to("train.py")
    git(repo, "add", "run.sh", "link")
    git(repo, "commit", "-q", "-m", "more")
    ref, _ = _run(repo)
    tree = git(repo, "ls-tree", ref)
    assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith("run.sh"))
    assert "120000 blob" in next(line for line in tree.splitlines() if line.endswith("link"))


def test_split_index_falls_back_to_c_git(repo: Path) -> None:
    git(repo, "update-index", "--split-index")
    (repo / "train.py").write_text("print('split')\n")
    ref, run = _run(repo)
    assert _files(repo, ref)["train.py"] == "print('split')\n"
    assert run.info.dirty is True
    fsck(repo)


def test_repository_without_commits(empty_repo: Path) -> None:
    (empty_repo / "a.py").write_text("a\n")
    git(empty_repo, "add", "a.py")
    ref, run = _run(empty_repo)
    assert git(empty_repo, "rev-list", "--parents", "-1", ref).split()[1:] == []  # root commit
    assert _files(empty_repo, ref)["a.py"] == "a\n"
    assert run.info.source_commit is None
    fsck(empty_repo)


def test_a_branch_name_that_is_not_utf8(repo: Path) -> None:
    """On a branch named in Latin-1 bytes, start_run raised a bare UnicodeDecodeError."""
    import subprocess

    head = git(repo, "rev-parse", "HEAD").strip()
    subprocess.run(["git", "checkout", "-q", "-b", b"caf\xe9"], cwd=repo, check=True)
    _, run = _run(repo)
    got = gittrack.get_run(run.info.run_id)
    assert got.info.source_commit == head
    assert got.data.tags["mlflow.source.git.branch"] == "caf\\xe9"  # the byte shown
    fsck(repo)


@pytest.mark.parametrize("user_dir_file", [".gittrack/config.yaml"])
def test_users_own_dot_gittrack_files_are_kept(repo: Path, user_dir_file: str) -> None:
    target = repo / user_dir_file
    target.parent.mkdir()
    target.write_text("mine: true\n")
    git(repo, "add", user_dir_file)
    git(repo, "commit", "-q", "-m", "cfg")
    ref, _ = _run(repo)
    assert _files(repo, ref)[user_dir_file] == "mine: true\n"
