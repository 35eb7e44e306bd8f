"""push / pull / bundle through a bare path, file://, git daemon and smart HTTP, both engines."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import fsck, git

from gittrack import sync
from gittrack.client import Client
from gittrack.errors import RemoteError, RunNotFoundError

ENGINES = ["git", "dulwich"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GITTRACK_TRANSPORT", request.param)
    return str(request.param)


def make_runs(repo: Path, n: int, *, prefix: str = "r") -> list[str]:
    client = Client(repo)
    ids = []
    for i in range(n):
        run = client.create_run("exp", run_name=f"{prefix}{i}", tags={"origin": prefix})
        rid = run.info.run_id
        client.log_param(rid, "lr", 0.1 * (i + 1))
        for step in range(3):
            client.log_metric(rid, "loss", 1.0 / (step + 1 + i), step=step, timestamp=1000 + step)
        client.set_terminated(rid, "FINISHED")
        ids.append(rid)
    return ids


def contents(repo: Path) -> dict[str, Any]:
    """Every run's id, name, status, params, tags and metric points."""
    client = Client(repo)
    out: dict[str, Any] = {}
    for rid in sorted(client.store.list_runs()):
        run = client.get_run(rid)
        table = client.metrics_table(rid)
        points = sorted(map(tuple, (r.values() for r in table.to_pylist()))) if table else []
        out[rid] = (run.info.run_name, run.info.status, run.data.params, run.data.tags, points)
    return out


def fresh_repo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    git(tmp_path, "init", "-q", str(path))
    return path


def user_state(repo: Path) -> tuple[str, str, str]:
    """Branches, HEAD and working tree status: pull must leave them alone."""
    heads = git(repo, "for-each-ref", "refs/heads", "refs/tags", "refs/remotes")
    return heads, (repo / ".git" / "HEAD").read_text(), git(repo, "status", "--porcelain")


def refs_of(repo: Path, prefix: str = "refs/") -> str:
    return git(repo, "for-each-ref", prefix)


# -- round trips over every transport ----------------------------------------------------------
def test_push_then_pull_into_a_fresh_repo_gives_identical_runs(
    repo: Path, bare_remote: Path, tmp_path: Path, engine: str
) -> None:
    ids = make_runs(repo, 3)
    result = sync.push(repo, str(bare_remote))
    assert result.ok and len(result.new) == 3 and result.up_to_date == 0
    again = sync.push(repo, str(bare_remote))
    assert again.ok and not again.new and not again.updated and again.up_to_date == 3
    other = fresh_repo(tmp_path, "other")
    before = user_state(other)
    pulled = sync.pull(other, str(bare_remote))
    assert sorted(r.rsplit("/", 1)[1] for r in pulled.added) == sorted(ids)
    assert contents(other) == contents(repo)
    assert user_state(other) == before
    assert sync.pull(other, str(bare_remote)).unchanged == 3
    fsck(bare_remote)
    fsck(other)


def test_file_url(repo: Path, bare_remote: Path, tmp_path: Path, engine: str) -> None:
    make_runs(repo, 2)
    assert len(sync.push(repo, bare_remote.as_uri()).new) == 2
    other = fresh_repo(tmp_path, "other")
    assert len(sync.pull(other, bare_remote.as_uri()).added) == 2
    assert contents(other) == contents(repo)


def test_git_daemon(repo: Path, tmp_path: Path, git_daemon: Any, engine: str) -> None:
    bare = git_daemon.init_bare("runs.git")
    make_runs(repo, 2)
    url = git_daemon.url_for("runs.git")
    assert len(sync.push(repo, url).new) == 2
    fsck(bare)
    other = fresh_repo(tmp_path, "other")
    assert len(sync.pull(other, url).added) == 2
    assert contents(other) == contents(repo)


def test_smart_http(repo: Path, tmp_path: Path, http_git_server: Any, engine: str) -> None:
    http_git_server.init_bare("runs.git")
    make_runs(repo, 2)
    url = http_git_server.url_for("runs.git")
    assert len(sync.push(repo, url).new) == 2
    other = fresh_repo(tmp_path, "other")
    assert len(sync.pull(other, url).added) == 2
    assert contents(other) == contents(repo)


def test_http_credentials(repo: Path, tmp_path: Path, http_git_server: Any, engine: str) -> None:
    http_git_server.init_bare("runs.git")
    http_git_server.set_auth("alice", "s3cret")
    make_runs(repo, 1)
    before = refs_of(repo)
    bad = http_git_server.url_for("runs.git", "alice", "wrong")
    with pytest.raises(RemoteError, match="authentication failed") as err:
        sync.push(repo, bad)
    assert "wrong" not in str(err.value)
    with pytest.raises(RemoteError, match="authentication failed"):
        sync.pull(repo, bad)
    with pytest.raises(RemoteError, match="authentication failed"):
        sync.push(repo, http_git_server.url_for("runs.git"))  # no credentials, never prompts
    assert refs_of(repo) == before
    good = http_git_server.url_for("runs.git", "alice", "s3cret")
    assert len(sync.push(repo, good).new) == 1


# -- remotes and errors ----------------------------------------------------------------------
def test_named_remote_and_default_origin(repo: Path, bare_remote: Path) -> None:
    make_runs(repo, 1)
    with pytest.raises(RemoteError, match="no remote named 'origin'"):
        sync.push(repo)
    with pytest.raises(RemoteError, match="no remote named 'team'"):
        sync.pull(repo, "team")
    git(repo, "remote", "add", "origin", str(bare_remote))
    assert len(sync.push(repo).new) == 1
    tracking = refs_of(repo, "refs/gittrack-remotes/origin/")
    assert "refs/gittrack-remotes/origin/runs/" in tracking
    git(repo, "remote", "add", "team", str(bare_remote))
    assert sync.push(repo, "team").up_to_date == 1


def test_unreachable_remote_changes_nothing(repo: Path, engine: str) -> None:
    from servers import free_port

    make_runs(repo, 1)
    before = refs_of(repo)
    url = f"git://127.0.0.1:{free_port()}/nothing.git"
    with pytest.raises(RemoteError, match=r"127\.0\.0\.1"):
        sync.push(repo, url)
    with pytest.raises(RemoteError):
        sync.pull(repo, url)
    assert refs_of(repo) == before
    if engine == "dulwich":  # the OS's reason, not urllib3's wrapping of it
        for scheme in ("git", "http"):
            url = f"{scheme}://127.0.0.1:{free_port()}/nothing.git"
            for call in (sync.push, sync.pull):
                with pytest.raises(
                    RemoteError, match=r"remote unreachable \(Connection refused\)$"
                ):
                    call(repo, url)


def test_missing_remote_repository(repo: Path, tmp_path: Path, engine: str) -> None:
    make_runs(repo, 1)
    with pytest.raises(RemoteError, match="no remote named"):
        sync.push(repo, str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a repository\n")
    for path in (tmp_path / "empty", tmp_path / "a-file"):
        for call, what in ((sync.push, "push to"), (sync.pull, "fetch from")):
            with pytest.raises(RemoteError) as err:
                call(repo, str(path))
            assert str(err.value) == f"{what} {path} failed: no git repository there"


def test_an_empty_or_self_remote_is_refused_even_with_origin_set(
    repo: Path, bare_remote: Path
) -> None:
    make_runs(repo, 1)
    git(repo, "remote", "add", "origin", str(bare_remote))
    git(repo, "remote", "add", "self", ".")
    for remote in ("", "self", str(repo / "train.py" / "..")):
        with pytest.raises(RemoteError, match=r"empty|this repository itself"):
            sync.push(repo, remote)
    assert refs_of(bare_remote) == ""
    assert sync.push(repo, "origin").new


def test_bad_engine_setting(repo: Path, bare_remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_runs(repo, 1)
    monkeypatch.setenv("GITTRACK_TRANSPORT", "carrier-pigeon")
    with pytest.raises(RemoteError, match="GITTRACK_TRANSPORT"):
        sync.push(repo, str(bare_remote))


def test_push_chosen_runs_only(repo: Path, bare_remote: Path, engine: str) -> None:
    ids = make_runs(repo, 3)
    result = sync.push(repo, str(bare_remote), runs=[ids[0][:8], "r2"])
    assert sorted(result.new) == sorted(f"refs/gittrack/runs/{i}" for i in (ids[0], ids[2]))
    remote = refs_of(bare_remote)
    assert ids[1] not in remote and ids[0] in remote
    with pytest.raises(RunNotFoundError):
        sync.push(repo, str(bare_remote), runs=["no-such-run"])


def test_registry_refs_travel_too(
    repo: Path, bare_remote: Path, tmp_path: Path, engine: str
) -> None:
    make_runs(repo, 1)
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", "refs/gittrack/models/clf/versions/1", head)
    assert "refs/gittrack/models/clf/versions/1" in sync.push(repo, str(bare_remote)).new
    other = fresh_repo(tmp_path, "other")
    sync.pull(other, str(bare_remote))
    assert "refs/gittrack/models/clf/versions/1" in refs_of(other)


def test_progress_goes_to_the_callback_only_when_given(
    repo: Path, bare_remote: Path, tmp_path: Path
) -> None:
    make_runs(repo, 2)
    seen: list[bytes] = []
    sync.push(repo, str(bare_remote), progress=seen.append)
    assert any(b"objects" in chunk for chunk in seen)
    other = fresh_repo(tmp_path, "other")
    seen.clear()
    sync.pull(other, str(bare_remote), progress=seen.append)
    assert any(b"objects" in chunk for chunk in seen)


# -- the conflict rule -----------------------------------------------------------------------
@pytest.fixture
def two_clones(repo: Path, bare_remote: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """``repo`` and ``other`` both hold one run, in sync with ``bare_remote``."""
    (rid,) = make_runs(repo, 1)
    sync.push(repo, str(bare_remote))
    other = fresh_repo(tmp_path, "other")
    sync.pull(other, str(bare_remote))
    return repo, other, rid


def test_remote_only_change_is_taken(two_clones: tuple[Path, Path, str], bare_remote: Path) -> None:
    a, b, rid = two_clones
    Client(a).set_tag(rid, "note", "from a")
    Client(a).flush()
    assert sync.push(a, str(bare_remote)).updated == (f"refs/gittrack/runs/{rid}",)
    pulled = sync.pull(b, str(bare_remote))
    assert pulled.updated == (f"refs/gittrack/runs/{rid}",)
    assert Client(b).get_run(rid).data.tags["note"] == "from a"


def test_local_only_change_is_kept_and_pushed(
    two_clones: tuple[Path, Path, str], bare_remote: Path
) -> None:
    _, b, rid = two_clones
    Client(b).set_tag(rid, "note", "from b")
    Client(b).flush()
    pulled = sync.pull(b, str(bare_remote))
    assert pulled.kept_local == (f"refs/gittrack/runs/{rid}",)
    assert sync.push(b, str(bare_remote)).updated == (f"refs/gittrack/runs/{rid}",)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_both_changed_push_is_rejected_then_pull_merges(
    two_clones: tuple[Path, Path, str],
    bare_remote: Path,
    engine_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITTRACK_TRANSPORT", engine_name)
    a, b, rid = two_clones
    ca, cb = Client(a), Client(b)
    ca.set_tags(rid, {"who": "a", "only_a": "1"})
    ca.log_metric(rid, "acc", 0.5, step=1, timestamp=5000)
    ca.flush()
    sync.push(a, str(bare_remote))
    remote_before = refs_of(bare_remote)
    cb.set_tags(rid, {"who": "b", "only_b": "2"})
    cb.log_metric(rid, "acc", 0.7, step=2, timestamp=6000)
    cb.flush()
    rejected = sync.push(b, str(bare_remote))
    assert not rejected.ok and rejected.rejected[0][0] == f"refs/gittrack/runs/{rid}"
    assert refs_of(bare_remote) == remote_before  # nothing overwritten
    pulled = sync.pull(b, str(bare_remote))
    assert pulled.merged == (f"refs/gittrack/runs/{rid}",)
    run = cb.get_run(rid)
    assert run.data.tags["only_a"] == "1" and run.data.tags["only_b"] == "2"
    assert run.data.tags["who"] == "b"  # b updated last
    steps = [(m.step, m.value) for m in cb.get_metric_history(rid, "acc")]
    assert sorted(steps) == [(1, 0.5), (2, 0.7)]
    assert run.data.metrics["acc"] == 0.7
    assert sync.push(b, str(bare_remote)).updated == (f"refs/gittrack/runs/{rid}",)
    assert sync.pull(a, str(bare_remote)).updated == (f"refs/gittrack/runs/{rid}",)
    assert contents(a) == contents(b)
    fsck(b)
    fsck(bare_remote)


def test_terminal_status_beats_running(repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    client = Client(repo)
    rid = client.create_run("exp", run_name="live").info.run_id
    sync.push(repo, str(bare_remote))
    other = fresh_repo(tmp_path, "other")
    sync.pull(other, str(bare_remote))
    Client(other).set_terminated(rid, "FAILED")
    sync.push(other, str(bare_remote))
    client.set_tag(rid, "late", "yes")  # newer heartbeat, still RUNNING here
    client.flush()
    assert sync.pull(repo, str(bare_remote)).merged == (f"refs/gittrack/runs/{rid}",)
    run = client.store.load(rid).record
    assert run.status == "FAILED" and run.tags["late"] == "yes"


def test_param_conflict_keeps_both_versions(
    two_clones: tuple[Path, Path, str], bare_remote: Path
) -> None:
    a, b, rid = two_clones
    Client(a).log_param(rid, "batch", 32)
    Client(a).flush()
    sync.push(a, str(bare_remote))
    Client(b).log_param(rid, "batch", 64)
    Client(b).flush()
    local = git(b, "rev-parse", f"refs/gittrack/runs/{rid}").strip()
    pulled = sync.pull(b, str(bare_remote))
    (conflict,) = pulled.conflicts
    assert "batch" in conflict.reason
    assert git(b, "rev-parse", f"refs/gittrack/runs/{rid}").strip() == local
    assert git(b, "rev-parse", conflict.kept_at).strip() == conflict.remote_commit
    assert conflict.kept_at.startswith(f"refs/gittrack-conflicts/runs/{rid}/")
    assert not sync.push(b, str(bare_remote)).ok  # still cannot overwrite the remote
    assert sync.pull(b, str(bare_remote)).conflicts  # reported again, nothing lost


def test_concurrent_pushes_from_two_clones(repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    other = fresh_repo(tmp_path, "other")
    ids = make_runs(repo, 5, prefix="a") + make_runs(other, 5, prefix="b")
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def worker(path: Path) -> None:
        barrier.wait()
        try:
            results[str(path)] = sync.push(path, str(bare_remote))
        except Exception as e:  # surfaced by the assertion below
            results[str(path)] = e

    threads = [threading.Thread(target=worker, args=(p,)) for p in (repo, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, sync.PushResult) and r.ok for r in results.values()), results
    remote = refs_of(bare_remote, "refs/gittrack/runs/")
    assert all(rid in remote for rid in ids)
    fsck(bare_remote)


# -- C git interop ---------------------------------------------------------------------------
def test_plain_git_push_then_gittrack_pull(repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    make_runs(repo, 2)
    git(repo, "push", "-q", str(bare_remote), "refs/gittrack/*:refs/gittrack/*")
    other = fresh_repo(tmp_path, "other")
    assert len(sync.pull(other, str(bare_remote)).added) == 2
    assert contents(other) == contents(repo)


def test_gittrack_push_then_plain_git_fetch(
    repo: Path, bare_remote: Path, tmp_path: Path, engine: str
) -> None:
    make_runs(repo, 2)
    sync.push(repo, str(bare_remote))
    other = fresh_repo(tmp_path, "other")
    git(other, "fetch", "-q", str(bare_remote), "refs/gittrack/*:refs/gittrack/*")
    fsck(other)
    assert refs_of(other, "refs/gittrack/") == refs_of(repo, "refs/gittrack/")
    assert contents(other) == contents(repo)


def test_clone_pull_list(repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    git(repo, "push", "-q", str(bare_remote), "main")
    make_runs(repo, 2)
    sync.push(repo, str(bare_remote))
    git(tmp_path, "clone", "-q", str(bare_remote), "clone")
    clone = tmp_path / "clone"
    assert len(sync.pull(clone).added) == 2  # origin is the default
    assert contents(clone) == contents(repo)
    assert git(clone, "status", "--porcelain") == ""


# -- bundles ---------------------------------------------------------------------------------
def test_bundle_round_trip(repo: Path, tmp_path: Path, engine: str) -> None:
    ids = make_runs(repo, 3)
    out = tmp_path / "runs.bundle"
    assert sync.bundle_create(out, repo=repo).refs == 3
    verify = subprocess.run(
        ["git", "bundle", "verify", str(out)], cwd=repo, capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stderr
    other = fresh_repo(tmp_path, "other")
    result = sync.bundle_unbundle(out, repo=other)
    assert sorted(r.rsplit("/", 1)[1] for r in result.added) == sorted(ids)
    assert contents(other) == contents(repo)
    fsck(other)
    assert sync.bundle_unbundle(out, repo=other).unchanged == 3


def test_bundle_of_chosen_runs_and_merge_on_import(repo: Path, tmp_path: Path) -> None:
    ids = make_runs(repo, 2)
    out = tmp_path / "one.bundle"
    assert sync.bundle_create(out, [ids[0]], repo=repo).refs == 1
    other = fresh_repo(tmp_path, "other")
    sync.bundle_unbundle(out, repo=other)
    assert list(contents(other)) == [ids[0]]
    Client(repo).set_tag(ids[0], "a", "1")
    Client(repo).flush()
    Client(other).set_tag(ids[0], "b", "2")
    Client(other).flush()
    sync.bundle_create(out, [ids[0]], repo=repo)
    assert sync.bundle_unbundle(out, repo=other).merged == (f"refs/gittrack/runs/{ids[0]}",)
    tags = Client(other).get_run(ids[0]).data.tags
    assert tags["a"] == "1" and tags["b"] == "2"


def test_bundle_errors(repo: Path, tmp_path: Path, engine: str) -> None:
    with pytest.raises(RunNotFoundError, match="no runs"):
        sync.bundle_create(tmp_path / "x.bundle", repo=repo)
    with pytest.raises(RemoteError, match="does not exist"):
        sync.bundle_unbundle(tmp_path / "missing.bundle", repo=repo)
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"not a bundle\n")
    before = refs_of(repo)
    with pytest.raises(RemoteError, match="cannot read bundle"):
        sync.bundle_unbundle(junk, repo=repo)
    assert refs_of(repo) == before
    make_runs(repo, 1)
    target = tmp_path / "usb" / "runs.bundle"
    with pytest.raises(RemoteError) as err:
        sync.bundle_create(target, repo=repo)
    assert str(err.value) == (
        f"cannot write bundle {target}: there is no directory {target.parent} (create it first)"
    )
    assert not (tmp_path / "usb").exists()


def test_registry_ref_changed_on_both_sides_is_kept_as_conflict(
    two_clones: tuple[Path, Path, str], bare_remote: Path
) -> None:
    a, b, _ = two_clones
    ref = "refs/gittrack/models/clf/aliases/prod"
    base = git(a, "rev-parse", "HEAD").strip()
    git(a, "update-ref", ref, base)
    sync.push(a, str(bare_remote))
    sync.pull(b, str(bare_remote))
    git(a, "commit", "-q", "--allow-empty", "-m", "a")
    git(a, "update-ref", ref, "HEAD")
    sync.push(a, str(bare_remote))
    theirs = git(a, "rev-parse", ref).strip()
    git(b, "update-ref", ref, git(b, "commit-tree", "-m", "b", f"{base}^{{tree}}").strip())
    mine = git(b, "rev-parse", ref).strip()
    (conflict,) = sync.pull(b, str(bare_remote)).conflicts
    assert conflict.ref == ref and conflict.remote_commit == theirs
    assert git(b, "rev-parse", ref).strip() == mine
    assert not sync.push(b, str(bare_remote)).ok


def test_the_cli_module_loads_nothing_heavy() -> None:
    code = (
        "import sys, gittrack.cli.sync_cmd; "
        "bad = [m for m in ('dulwich', 'pyarrow', 'gittrack.sync') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_run_written_during_pull_is_kept_and_never_overwritten(
    two_clones: tuple[Path, Path, str], bare_remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, rid = two_clones
    ref = f"refs/gittrack/runs/{rid}"
    Client(a).set_tag(rid, "x", "1")
    Client(a).flush()
    sync.push(a, str(bare_remote))
    real_fetch = sync.transport.fetch

    def fetch_then_log(*args: Any, **kwargs: Any) -> Any:
        out = real_fetch(*args, **kwargs)
        Client(b).set_tag(rid, "y", "2")  # a process logging to the run, mid-pull
        Client(b).flush()
        return out

    monkeypatch.setattr(sync.transport, "fetch", fetch_then_log)
    assert sync.pull(b, str(bare_remote)).kept_local == (ref,)
    monkeypatch.setattr(sync.transport, "fetch", real_fetch)
    assert not sync.push(b, str(bare_remote)).ok  # the remote's change is not overwritten
    assert sync.pull(b, str(bare_remote)).merged == (ref,)
    tags = Client(b).get_run(rid).data.tags
    assert tags["x"] == "1" and tags["y"] == "2"


def test_bulk_paths_wildcard_push_and_fetch(
    repo: Path, bare_remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above PUSH_CHUNK changed refs, one wildcard push / fetch does the work; from
    BULK_CREATE new runs, their refs are created in one packed-refs write."""
    monkeypatch.setattr(sync.transport, "PUSH_CHUNK", 1)
    monkeypatch.setattr(sync, "BULK_CREATE", 2)
    ids = make_runs(repo, 3)
    assert len(sync.push(repo, str(bare_remote)).new) == 3
    other = fresh_repo(tmp_path, "other")
    assert Client(other).search_runs().num_rows == 0  # an index from before the pull
    assert len(sync.pull(other, str(bare_remote)).added) == 3
    assert contents(other) == contents(repo)
    assert refs_of(other, "refs/gittrack/runs/") == refs_of(repo, "refs/gittrack/runs/")
    assert "refs/gittrack/runs/" in (other / ".git" / "packed-refs").read_text()
    assert Client(other).search_runs().num_rows == 3  # the index sees the packed refs
    for rid in ids[:2]:
        Client(repo).set_tag(rid, "side", "repo")
        Client(other).set_tag(rid, "other", "yes")
    Client(repo).flush()
    Client(other).flush()
    pushed = sync.push(repo, str(bare_remote))
    assert len(pushed.updated) == 2 and pushed.up_to_date == 1
    assert len(sync.push(other, str(bare_remote)).rejected) == 2
    assert len(sync.pull(other, str(bare_remote)).merged) == 2
    result = sync.push(other, str(bare_remote), runs=ids)  # chosen runs, chunks of 1
    assert result.ok and len(result.updated) == 2 and result.up_to_date == 1
    fsck(other)
    fsck(bare_remote)


def test_a_first_bulk_push_records_what_it_pushed_in_one_packed_refs_write(
    repo: Path, bare_remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Git wrote one tracking ref file per pushed run (a first push of 1,000 runs spent as
    long on them as on the push); they are now created together in packed-refs, and the
    next push takes its leases from them."""
    monkeypatch.setattr(sync.transport, "PUSH_CHUNK", 1)
    ids = make_runs(repo, 3)
    assert len(sync.push(repo, str(bare_remote)).new) == 3

    def by_run(where: Path, prefix: str) -> dict[str, str]:
        listed = git(where, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return {ref.rpartition("/")[2]: sha for ref, sha in map(str.split, listed.splitlines())}

    assert by_run(repo, "refs/gittrack-remotes/") == by_run(bare_remote, "refs/gittrack/runs/")
    assert sorted(by_run(repo, "refs/gittrack-remotes/")) == sorted(ids)
    loose = repo / ".git" / "refs" / "gittrack-remotes"
    assert [f for f in loose.rglob("*") if f.is_file()] == []
    other = fresh_repo(tmp_path, "other")
    sync.pull(other, str(bare_remote))
    Client(other).set_tag(ids[0], "side", "other")
    Client(other).flush()
    assert sync.push(other, str(bare_remote)).updated == (f"refs/gittrack/runs/{ids[0]}",)
    Client(repo).set_tag(ids[0], "side", "repo")
    Client(repo).flush()
    assert [r for r, _ in sync.push(repo, str(bare_remote)).rejected] == [
        f"refs/gittrack/runs/{ids[0]}"
    ]  # the lease recorded by the first push held: the other side's change is kept
    fsck(repo)


def test_a_first_bulk_push_never_overwrites_a_run_created_there_meanwhile(
    repo: Path, bare_remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync.transport, "PUSH_CHUNK", 1)
    ids = make_runs(repo, 3)
    elsewhere = fresh_repo(tmp_path, "elsewhere")  # an unrelated commit under a run's ref
    git(elsewhere, "commit", "-q", "--allow-empty", "-m", "not this run")
    ref = f"refs/gittrack/runs/{ids[1]}"
    git(elsewhere, "push", "-q", str(bare_remote), f"HEAD:{ref}")
    theirs = git(bare_remote, "rev-parse", ref)
    listing = sync.transport.listing

    def before_it_arrived(*args: Any, **kwargs: Any) -> Any:
        found = listing(*args, **kwargs)()
        return lambda: {r: sha for r, sha in found.items() if r != ref}

    monkeypatch.setattr(sync.transport, "listing", before_it_arrived)
    result = sync.push(repo, str(bare_remote))
    assert [r for r, _ in result.rejected] == [ref] and len(result.new) == 2
    assert git(bare_remote, "rev-parse", ref) == theirs
    assert ids[1] not in git(repo, "for-each-ref", "refs/gittrack-remotes/")


def test_a_remote_that_lost_runs_takes_them_again(
    repo: Path, bare_remote: Path, tmp_path: Path, engine: str
) -> None:
    """A run deleted on the remote, or the remote recreated empty, never blocks a push."""
    ids = make_runs(repo, 2)
    sync.push(repo, str(bare_remote))
    git(bare_remote, "update-ref", "-d", f"refs/gittrack/runs/{ids[0]}")
    assert sync.pull(repo, str(bare_remote)).added == ()  # nothing comes back, nothing lost
    assert sorted(Client(repo).store.list_runs()) == sorted(ids)
    result = sync.push(repo, str(bare_remote))
    assert result.new == (f"refs/gittrack/runs/{ids[0]}",) and not result.rejected
    shutil.rmtree(bare_remote)
    git(tmp_path, "init", "-q", "--bare", str(bare_remote))
    result = sync.push(repo, str(bare_remote))
    assert sorted(result.new) == sorted(f"refs/gittrack/runs/{i}" for i in ids)
    clone = fresh_repo(tmp_path, "clone")
    sync.pull(clone, str(bare_remote))
    assert contents(clone) == contents(repo)


@pytest.mark.parametrize("url", ["htp://127.0.0.1:9/runs.git", "gti://127.0.0.1:9/runs.git"])
def test_a_mistyped_url_scheme_is_named(repo: Path, engine: str, url: str) -> None:
    make_runs(repo, 1)
    git(repo, "remote", "add", "origin", url)
    before = refs_of(repo)
    scheme = url.split(":", 1)[0]
    for call in (lambda: sync.push(repo), lambda: sync.pull(repo), lambda: sync.push(repo, url)):
        with pytest.raises(RemoteError) as err:
            call()
        assert f"'{scheme}://' is not a git transport" in str(err.value), err.value
    assert refs_of(repo) == before


def test_a_missing_repository_on_a_smart_http_server(
    repo: Path, http_git_server: Any, engine: str
) -> None:
    make_runs(repo, 1)
    url = http_git_server.url_for("typo.git")
    for call in (sync.push, sync.pull):
        with pytest.raises(RemoteError, match=r"failed: no git repository there$"):
            call(repo, url)
