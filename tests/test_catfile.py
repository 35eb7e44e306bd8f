"""Bulk reads through C git's cat-file: files of many folders, read once each."""

from __future__ import annotations

from pathlib import Path

from conftest import git

from gittrack.store.catfile import cat_folder_files


def test_files_of_many_folders_in_two_passes(repo: Path) -> None:
    folder = repo / "run"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.yaml").write_bytes("é: 1\n".encode())
    (folder / "sub" / "b.yaml").write_text("nested\n")
    git(repo, "add", "run")
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD").strip()
    (folder / "b.yaml").write_text("two\n")
    git(repo, "add", "run")
    git(repo, "commit", "-q", "-m", "two")
    second = git(repo, "rev-parse", "HEAD").strip()
    names = ("a.yaml", "b.yaml", "sub", "absent")
    specs = [f"{first}:run", f"{second}:run", f"{first}:no-such-folder", f"{first}:train.py"]
    got = cat_folder_files(repo / ".git", specs, names)
    assert got == [
        {"a.yaml": "é: 1\n".encode()},  # a folder ("sub") is not a file
        {"a.yaml": "é: 1\n".encode(), "b.yaml": b"two\n"},
        {},  # no such folder
        {},  # not a folder
    ]
    assert cat_folder_files(repo / ".git", [], names) == []
