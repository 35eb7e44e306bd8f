"""A push or pull with nothing new writes nothing, on either side; what a push must forget
about a remote (runs it lost) it forgets without a pull first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import fsck, git
from test_sync import fresh_repo, make_runs

from gittrack import sync
from gittrack.client import Client
from gittrack.store import GitStore, transport


@pytest.fixture(params=["git", "dulwich"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GITTRACK_TRANSPORT", request.param)
    return str(request.param)


def state(git_dir: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every file of a git directory: inode, size, mtime and (for refs) the bytes."""
    found = {}
    for root, _dirs, files in os.walk(git_dir):
        for name in files:
            path = Path(root, name)
            st = path.stat()
            small = path.read_bytes() if st.st_size < 4096 else b""
            found[str(path.relative_to(git_dir))] = (st.st_ino, st.st_size, st.st_mtime_ns, small)
    return found


def test_a_push_of_nothing_new_leaves_both_sides_byte_identical(
    repo: Path, bare_remote: Path, engine: str
) -> None:
    make_runs(repo, 3)
    first = sync.push(repo, str(bare_remote))
    assert len(first.new) == 3
    remote_before, local_before = state(bare_remote), state(repo / ".git")
    again = sync.push(repo, str(bare_remote))
    assert (again.new, again.updated, again.rejected, again.up_to_date) == ((), (), (), 3)
    assert state(bare_remote) == remote_before  # refs, packed-refs, objects: untouched
    assert state(repo / ".git") == local_before  # tracking refs not rewritten either
    fsck(bare_remote)


def test_a_pull_of_nothing_new_touches_no_ref_object_or_index(
    repo: Path, bare_remote: Path, tmp_path: Path, engine: str
) -> None:
    ids = make_runs(repo, 2)
    sync.push(repo, str(bare_remote))
    clone = fresh_repo(tmp_path, "clone")
    assert len(sync.pull(clone, str(bare_remote)).added) == 2
    Client(clone).search_runs()  # the run index exists now
    before = state(clone / ".git")
    result = sync.pull(clone, str(bare_remote))
    assert (result.added, result.updated, result.merged, result.unchanged) == ((), (), (), 2)
    assert state(clone / ".git") == before
    assert sorted(Client(clone).store.list_runs()) == sorted(ids)
    fsck(clone)


def test_a_run_the_remote_lost_is_pushed_again_without_a_pull(
    repo: Path, bare_remote: Path, engine: str
) -> None:
    """The record of the last exchange still names the lost run; push forgets it itself,
    and keeps the record of the runs it does not move."""
    ids = make_runs(repo, 2)
    sync.push(repo, str(bare_remote))
    lost, kept = (f"refs/gittrack/runs/{i}" for i in ids)
    git(bare_remote, "update-ref", "-d", lost)
    Client(repo).set_tag(ids[0], "after", "loss")  # ours moved on too
    Client(repo).flush()
    result = sync.push(repo, str(bare_remote))
    assert result.new == (lost,) and not result.rejected and result.up_to_date == 1
    assert git(bare_remote, "rev-parse", lost) == git(repo, "rev-parse", lost)
    tracking = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack-remotes/")
    assert sorted(r.rsplit("/", 1)[1] for r in tracking.split()) == sorted(ids)
    assert kept.rsplit("/", 1)[1] in tracking
    fsck(bare_remote)


# -- a remote on this machine: its refs are read from its files, as git lists them ----------
def git_listing(remote: str, cwd: Path) -> dict[str, str]:
    """``git ls-remote`` of the remote's ``refs/gittrack/*``: the judge."""
    out = git(cwd, "ls-remote", remote, "refs/gittrack/*")
    return {name: sha for sha, name in (line.split("\t") for line in out.splitlines())}


def listed(repo: Path, remote: str | None) -> dict[str, str]:
    """gittrack's listing of the remote's ``refs/gittrack/*`` (None: origin)."""
    with GitStore(repo) as store:
        return transport.listing(store, transport.resolve_remote(store, remote), "list")()


def starts_of_git(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argument lists of the git processes gittrack starts from now on."""
    started: list[list[str]] = []
    real = transport.run_git

    def recorded(store: GitStore, args: list[str], **kwargs: Any) -> tuple[int, str, str]:
        started.append(args)
        return real(store, args, **kwargs)

    monkeypatch.setattr(transport, "run_git", recorded)
    return started


def test_a_push_of_nothing_new_to_a_path_starts_no_git(
    repo: Path, bare_remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remote's refs are read from its files (packed and loose alike): a push with
    nothing to send costs no git process at all."""
    monkeypatch.setenv("GITTRACK_TRANSPORT", "git")
    ids = make_runs(repo, 3)
    sync.push(repo, str(bare_remote))
    git(bare_remote, "pack-refs", "--all")  # the remote's runs packed, one loose again
    loose, other = (f"refs/gittrack/runs/{i}" for i in ids[:2])
    git(bare_remote, "update-ref", loose, other)
    git(bare_remote, "update-ref", loose, git(repo, "rev-parse", loose).strip())
    assert (bare_remote / loose).is_file()
    started = starts_of_git(monkeypatch)
    for remote in (str(bare_remote), f"file://{bare_remote}"):
        again = sync.push(repo, remote)
        assert (again.new, again.updated, again.up_to_date) == ((), (), 3)
    assert started == []
    assert listed(repo, str(bare_remote)) == git_listing(str(bare_remote), repo)


def test_a_remote_read_from_its_files_lists_what_git_lists(
    repo: Path, bare_remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refs hidden by the remote's configuration, URLs rewritten by ours, settings given to
    git in the environment: git's own listing decides, and ours is the same."""
    monkeypatch.setenv("GITTRACK_TRANSPORT", "git")
    ids = make_runs(repo, 2)
    sync.push(repo, str(bare_remote))
    decoy = tmp_path / "decoy.git"  # an empty repository a rewrite leads to
    git(tmp_path, "init", "-q", "--bare", str(decoy))
    git(repo, "remote", "add", "origin", str(bare_remote))
    hidden = f"refs/gittrack/runs/{ids[0]}"
    cases = [
        (bare_remote, "uploadpack.hideRefs", hidden),
        (bare_remote, "transfer.hideRefs", hidden),
        (repo, f"url.{decoy}.insteadOf", str(bare_remote)),
        (None, f"url.{decoy}.insteadOf", str(bare_remote)),  # in the user's config
    ]
    for where, key, value in cases:
        scope = ["--global"] if where is None else []
        where = where or repo
        git(where, "config", *scope, key, value)
        started = starts_of_git(monkeypatch)
        theirs = listed(repo, None)
        assert [args[-2] for args in started] == ["origin"]  # git was asked
        assert theirs == git_listing("origin", repo)
        assert hidden not in theirs and len(theirs) == (0 if "url." in key else 1)
        git(where, "config", *scope, "--unset", key)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{decoy}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(bare_remote))
    assert listed(repo, str(bare_remote)) == git_listing(str(bare_remote), repo) == {}


def test_a_push_of_nothing_new_loads_only_what_it_uses(repo: Path, bare_remote: Path) -> None:
    """Start-up is most of such a push: no dulwich (git config is searched, not parsed;
    the remote's refs are read as files), no OpenSSL hashing, no JSON."""
    make_runs(repo, 2)
    sync.push(repo, str(bare_remote))
    code = (
        "import sys\nfrom gittrack.cli import main\n"
        f"main(['push', {str(bare_remote)!r}])\n"
        "print(sorted(m for m in ('dulwich', 'hashlib', 'json', 'yaml', 'pyarrow')"
        " if m in sys.modules))"
    )
    env = {**os.environ, "GITTRACK_TRANSPORT": "git"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"everything is up to date on {bare_remote}", "[]"]
