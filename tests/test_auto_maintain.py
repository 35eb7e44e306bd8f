"""The repository stays packed without user action: git's `gc --auto`, started after runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fsck, git

import gittrack
from gittrack.store.maintain import busy, maintain, try_lock, wait_idle
from gittrack.store.repo import GitStore


def _counts(repo: Path) -> dict[str, int]:
    out = git(repo, "count-objects", "-v")
    return {k: int(v) for k, v in (line.split(": ") for line in out.splitlines()) if v.isdigit()}


def _loose(repo: Path) -> int:
    return _counts(repo)["count"]


def _runs(n: int, *, flush_running: bool = False) -> list[str]:
    """``n`` short runs; ``flush_running``: each writes its RUNNING state first (as a run
    longer than the flush interval does), which its end replaces."""
    ids = []
    for i in range(n):
        with gittrack.start_run(run_name=f"r{i}") as run:
            gittrack.log_params({"i": i, "lr": 0.1})
            if flush_running:
                gittrack.flush_async_logging()
            gittrack.log_metric("loss", 1 / (i + 1), step=0)
        ids.append(run.info.run_id)
    return ids


def test_below_the_threshold_nothing_starts(repo: Path) -> None:
    _runs(2)
    with GitStore(repo) as store:
        assert store.auto_maintain() is None


def _packs(repo: Path) -> int:
    return len(list((repo / ".git" / "objects" / "pack").glob("*.pack")))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """The maintenance processes run ends start (recorded as they start)."""
    procs: list[subprocess.Popen[bytes]] = []
    real = GitStore.auto_maintain

    def recording(self: GitStore) -> subprocess.Popen[bytes] | None:
        proc = real(self)
        if proc is not None:
            procs.append(proc)
        return proc

    monkeypatch.setattr(GitStore, "auto_maintain", recording)
    return procs


def test_runs_start_gc_which_packs_and_runs_stay_readable(
    repo: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    git(repo, "config", "gc.autoPackLimit", "8")  # half: from 5 packs on
    for i in range(5):  # the packs of five other processes
        with GitStore(repo) as store, store.batched():
            for k in range(3):
                store.write_blob(b"other %d %d" % (i, k))
    assert _packs(repo) == 5
    ids = _runs(1)
    assert len(started) == 1, "the run's end did not start maintenance although packs piled up"
    assert started[0].wait(timeout=120) == 0
    assert _packs(repo) <= 2  # merged (geometric: the similar small packs become one)
    ids += _runs(10)
    fsck(repo)
    for i, rid in zip([0, *range(10)], ids, strict=True):  # all read back once merged
        run = gittrack.get_run(rid)
        assert run.info.status == "FINISHED" and run.data.typed_params["i"] == i
        assert [m.value for m in gittrack.get_metric_history(rid, "loss")] == [1 / (i + 1)]
    (new,) = _runs(1)  # and new runs keep writing into the packed repository
    assert gittrack.get_run(new).info.status == "FINISHED"
    fsck(repo)


def test_a_run_writes_its_states_as_packs_not_loose_objects(repo: Path) -> None:
    git(repo, "config", "gc.auto", "0")
    before = _loose(repo)
    ids = _runs(20)
    # Two flushes a run, 5-8 objects each: all in this process's one open pack.
    assert _loose(repo) == before
    assert _packs(repo) == 1
    fsck(repo)
    assert [gittrack.get_run(r).data.typed_params["i"] for r in ids] == list(range(20))


def test_the_lock_is_held_from_the_decision_until_the_maintenance_ends(repo: Path) -> None:
    git(repo, "config", "gc.auto", "4")  # a quarter is 1: two loose objects in objects/17
    common = repo / ".git"
    with GitStore(repo) as store:
        i = 0
        while len(list((common / "objects" / "17").glob("*"))) < 2:
            store.write_blob(b"blob %d" % i)
            i += 1
    held = try_lock(common)  # another maintenance is running: none starts, readers wait
    assert held is not None and busy(common)
    with GitStore(repo) as store:
        assert store.auto_maintain() is None
    assert not wait_idle(common, timeout=0.2)
    os.close(held)
    assert wait_idle(common, timeout=0.2)
    with GitStore(repo) as store:
        proc = store.auto_maintain()
    assert proc is not None
    # Held as soon as it is started (handed over, not taken later by the child): a reader
    # never sees "idle" before the maintenance has even begun.
    assert busy(common)
    assert proc.wait(timeout=120) == 0
    assert wait_idle(common, timeout=5) and not busy(common)
    fsck(repo)


def test_turned_off_by_gc_auto_zero(repo: Path) -> None:
    git(repo, "config", "gc.auto", "0")
    _runs(20)
    with GitStore(repo) as store:
        assert store.auto_maintain() is None


def test_a_rewritten_existing_object_is_freshened(repo: Path) -> None:
    with GitStore(repo) as store:
        sha = store.write_blob(b"same bytes")
    path = repo / ".git" / "objects" / sha[:2] / sha[2:]
    old = path.stat().st_mtime - 3600
    subprocess.run(["touch", "-d", f"@{old:.0f}", str(path)], check=True)
    with GitStore(repo) as store:  # another process, later
        assert store.write_blob(b"same bytes") == sha
    assert path.stat().st_mtime > old + 3000


def test_maintain_leaves_no_loose_object_and_loses_nothing(repo: Path) -> None:
    git(repo, "config", "gc.auto", "0")  # only the explicit maintenance below
    ids = _runs(10)
    common = repo / ".git"
    with GitStore(repo) as store:
        for i in range(5):
            store.write_blob(b"loose %d" % i)
    assert _loose(repo) >= 5
    before = {rid: gittrack.get_run(rid).info.commit for rid in ids}
    assert maintain(common)
    assert _loose(repo) == 0
    assert not [p for p in (common / "refs").rglob("*") if p.is_file()]  # refs packed
    fsck(repo)
    for rid, commit in before.items():
        assert gittrack.get_run(rid).info.commit == commit


def test_refs_are_packed_once_enough_loose_refs_pile_up(repo: Path) -> None:
    git(repo, "config", "gc.auto", "0")
    _runs(2)
    common = repo / ".git"
    runs = common / "refs" / "gittrack" / "runs"
    assert maintain(common, min_loose_refs=4)
    assert len([p for p in runs.rglob("*") if p.is_file()]) == 2  # left loose
    _runs(2)
    assert maintain(common, min_loose_refs=4)
    assert not [p for p in runs.rglob("*") if p.is_file()]
    fsck(repo)


def test_a_process_that_created_many_runs_packs_their_refs(
    repo: Path, monkeypatch: pytest.MonkeyPatch, started: list[subprocess.Popen[bytes]]
) -> None:
    from gittrack.store import maintain as maintain_mod

    monkeypatch.setattr(maintain_mod, "LOOSE_REFS_TO_PACK", 3)
    _runs(2)
    assert not started  # two loose refs: nothing to do yet
    loose = _loose(repo)
    _runs(1)
    assert len(started) == 1 and started[0].wait(timeout=120) == 0
    assert (repo / ".git" / "packed-refs").exists()
    assert not [p for p in (repo / ".git" / "refs" / "gittrack").rglob("*") if p.is_file()]
    assert _loose(repo) == loose  # only refs piled up: no repack (it is seconds, not ms)
    fsck(repo)


def test_maintenance_leaves_no_lock_file_behind(repo: Path) -> None:
    git(repo, "config", "gc.auto", "0")
    _runs(2)
    assert maintain(repo / ".git")
    assert not list((repo / ".git").rglob("*.lock"))


def test_an_object_directory_removed_under_a_writer_is_made_again(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`prune-packed` may remove a fan-out directory between our makedirs and our open."""
    import os as os_mod

    from gittrack.store import repo as repo_mod

    real_makedirs = os_mod.makedirs
    removed: list[str] = []

    def makedirs_then_lose_it(name: str, exist_ok: bool = False) -> None:
        real_makedirs(name, exist_ok=exist_ok)
        if not removed:  # the first time: maintenance empties and removes it at once
            removed.append(name)
            os_mod.rmdir(name)

    with GitStore(repo) as store:
        sha = store.write_blob(b"first")
    directory = repo / ".git" / "objects" / sha[:2]
    (directory / sha[2:]).chmod(0o644)
    (directory / sha[2:]).unlink()
    directory.rmdir()  # what prune-packed leaves: no directory at all
    monkeypatch.setattr(repo_mod.os, "makedirs", makedirs_then_lose_it)
    with GitStore(repo) as store:  # another process writes it again
        assert store.write_blob(b"first") == sha
    assert removed and (directory / sha[2:]).exists()
    fsck(repo)


def test_a_sweep_that_ends_leaves_its_runs_packed(repo: Path) -> None:
    from gittrack.store.maintain import EXIT_REFS_TO_PACK

    sweep = (
        "import gittrack\n"
        f"for i in range({EXIT_REFS_TO_PACK}):\n"
        "    with gittrack.start_run():\n"
        "        gittrack.log_param('i', i)\n"
        "        gittrack.log_metric('loss', 1 / (i + 1))\n"
    )
    subprocess.run([sys.executable, "-c", sweep], cwd=repo, check=True, timeout=300)
    assert wait_idle(repo / ".git", timeout=120)  # started as the sweep's process exited
    assert not [p for p in (repo / ".git" / "refs" / "gittrack").rglob("*") if p.is_file()]
    assert _loose(repo) == 0
    fsck(repo)
    assert len(gittrack.search_runs(output_format="rows")) == EXIT_REFS_TO_PACK


def _git_version() -> tuple[int, ...]:
    text = git(Path.cwd(), "--version").split()[2]
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def test_git_gc_keeps_the_replaced_states_of_runs_packed(repo: Path) -> None:
    """A user's `git gc` does not write each run's replaced state as loose files: runs set
    gc.cruftPacks (git's default from 2.40), so git >= 2.37 packs unreachable objects."""
    ids = _runs(30, flush_running=True)
    assert git(repo, "config", "--get", "gc.cruftPacks").strip() == "true"
    unreachable = git(repo, "fsck", "--unreachable", "--no-reflogs").count("unreachable")
    assert unreachable >= 30  # a replaced RUNNING state per run, at least its commit
    git(repo, "gc", "--quiet")
    if _git_version() >= (2, 37):  # older git ignores the setting and loosens them
        assert _loose(repo) == 0
    fsck(repo)
    for i, rid in enumerate(ids):
        assert gittrack.get_run(rid).data.typed_params["i"] == i


def test_a_cruft_packs_setting_of_the_user_is_kept(repo: Path) -> None:
    git(repo, "config", "gc.cruftPacks", "false")
    _runs(2)
    assert git(repo, "config", "--get", "gc.cruftPacks").strip() == "false"


def test_a_cruft_packs_setting_of_the_system_config_is_kept(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "gitconfig"
    system.write_text("[gc]\n\tcruftPacks = false\n", encoding="utf-8")
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM")
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(system))
    _runs(2)
    assert git(repo, "config", "--local", "--get", "gc.cruftPacks", check=False) == ""
    assert git(repo, "config", "--get", "gc.cruftPacks").strip() == "false"


def test_runs_end_when_the_config_cannot_be_written(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting gc.cruftPacks is a courtesy: a config C git cannot write loses nothing."""
    from gittrack.errors import RepositoryError

    def failing(self: GitStore, *args: str, **kwargs: object) -> str:
        raise RepositoryError(f"git {args[0]} failed: could not lock config file")

    monkeypatch.setattr(GitStore, "run_git", failing)
    ids = _runs(2)
    assert git(repo, "config", "--get", "gc.cruftPacks", check=False) == ""
    for i, rid in enumerate(ids):
        run = gittrack.get_run(rid)
        assert run.info.status == "FINISHED" and run.data.typed_params["i"] == i


def test_only_a_process_that_wrote_maintains_as_it_ends(repo: Path) -> None:
    """As git runs `gc --auto` after commands that write: a command that only read (show,
    diff, a push with nothing new) starts nothing at its end, even with packs piled up; one
    that wrote starts the maintenance they call for."""
    git(repo, "config", "gc.autoPackLimit", "8")  # half: from 5 packs on
    shas = []
    for i in range(5):  # the packs of five other processes
        with GitStore(repo) as store, store.batched():
            shas += [store.write_blob(b"other %d %d" % (i, k)) for k in range(3)]
    with GitStore(repo) as reader:
        assert reader.read_blob(shas[0]) == b"other 0 0" and reader.list_refs("refs/")
        assert reader.maintain_at_exit() is None
    assert _packs(repo) == 5
    with GitStore(repo) as writer:
        writer.write_blob(b"one more")
        proc = writer.maintain_at_exit()
    assert proc is not None and proc.wait(timeout=120) == 0
    assert _packs(repo) <= 2
    fsck(repo)
