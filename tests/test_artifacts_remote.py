"""Artifact remotes: a shared directory and S3 (moto on 127.0.0.1), push/fetch, on-demand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git
from servers import S3Server

from gittrack.artifacts.client_api import artifacts_of
from gittrack.artifacts.remote import PathRemote, S3Remote, open_remote
from gittrack.artifacts.transfer import FetchStats, PushStats, fetch_artifacts, push_artifacts
from gittrack.client import Client
from gittrack.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    RemoteError,
)

BIG = 100 * 1024


def _logged(repo: Path) -> tuple[Client, str, bytes]:
    """A run with one large artifact (cache) and one small one (git)."""
    data = os.urandom(BIG)
    (repo / "model.bin").write_bytes(data)
    client = Client(repo)
    rid = client.create_run("exp").info.run_id
    client.log_artifact(rid, repo / "model.bin")
    client.log_text(rid, "small", "small.txt")
    client.set_terminated(rid)
    return client, rid, data


def _clone(repo: Path, tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "fetch", "-q", str(repo), "refs/gittrack/*:refs/gittrack/*")
    return clone


def test_path_remote_push_then_fetch_on_demand_in_a_clone(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "shared"
    remote.mkdir()
    git(repo, "config", "gittrack.artifactRemote", str(remote))
    client, rid, data = _logged(repo)
    assert push_artifacts(client.store, [rid]) == PushStats(1, BIG, 0)
    assert push_artifacts(client.store, [rid]) == PushStats(0, 0, 0)  # the remote has it
    assert len(list((remote / "sha256").glob("*/*"))) == 1  # the small file went by git

    clone = _clone(repo, tmp_path)
    other = Client(clone)
    # Small artifacts travel with git: no artifact remote needed.
    out = Path(other.download_artifacts(rid, "small.txt", tmp_path / "d1"))
    assert out.read_text() == "small"
    git(clone, "remote", "remove", "origin")  # origin (a path) would serve its own cache
    with pytest.raises(ArtifactNotFoundError, match="no artifact remote is configured"):
        other.download_artifacts(rid, "model.bin", tmp_path / "d1")
    git(clone, "config", "gittrack.artifactRemote", str(remote))
    out = Path(other.download_artifacts(rid, "model.bin", tmp_path / "d2"))
    assert out.read_bytes() == data
    assert artifacts_of(other.store).cache.has(
        artifacts_of(other.store).manifest(rid)["model.bin"].sha256
    )


def test_fetch_artifacts_and_a_corrupt_remote_object(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "shared"
    remote.mkdir()
    client, rid, _ = _logged(repo)
    push_artifacts(client.store, [rid], str(remote))
    clone = _clone(repo, tmp_path)
    other = Client(clone)
    (obj,) = (remote / "sha256").glob("*/*")
    os.chmod(obj, 0o644)
    obj.write_bytes(b"tampered")
    with pytest.raises(CorruptArtifactError, match=r"'model.bin' of run .* arrived corrupt"):
        fetch_artifacts(other.store, [rid], f"file://{remote}")
    assert list(artifacts_of(other.store).cache.iter_objects()) == []  # nothing stored
    obj.unlink()
    assert fetch_artifacts(other.store, [rid], str(remote)) == FetchStats(0, 0, 1)


def test_push_corrupt_local_object_is_refused(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "shared"
    remote.mkdir()
    client, rid, _ = _logged(repo)
    (obj,) = artifacts_of(client.store).cache.iter_objects()
    os.chmod(obj.path, 0o644)
    obj.path.write_bytes(b"x" * BIG)
    with pytest.raises(CorruptArtifactError, match="corrupt; not uploaded"):
        push_artifacts(client.store, [rid], str(remote))
    assert list(remote.rglob("*/*/*")) == []
    obj.path.unlink()  # not here at all: skipped and counted
    assert push_artifacts(client.store, [rid], str(remote)) == PushStats(0, 0, 1)


def test_remote_configuration_errors(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, rid, _ = _logged(repo)
    runs = client.store
    with pytest.raises(ArtifactError, match="no artifact remote is configured"):
        open_remote(runs)
    with pytest.raises(ArtifactError, match="scheme 'ftp' is not supported"):
        open_remote(runs, "ftp://host/x")
    with pytest.raises(ArtifactError, match="names no bucket"):
        open_remote(runs, "s3://")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RemoteError, match="is not a directory"):
        push_artifacts(runs, [rid], str(tmp_path / "a-file"))
    # A path artifact remote that does not exist yet is created on the first push.
    assert push_artifacts(runs, [rid], str(tmp_path / "new" / "store")) == PushStats(1, BIG, 0)
    assert len(list((tmp_path / "new" / "store" / "sha256").glob("*/*"))) == 1
    monkeypatch.setenv("GITTRACK_ARTIFACT_REMOTE", "relative/dir")
    found = open_remote(runs)
    assert isinstance(found, PathRemote) and found.root == repo / "relative/dir"
    monkeypatch.setenv("GITTRACK_ARTIFACT_REMOTE", "s3://bucket/some/prefix")
    monkeypatch.setenv("GITTRACK_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    s3 = open_remote(runs)
    assert isinstance(s3, S3Remote)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == (
        "bucket",
        "some/prefix",
        "http://127.0.0.1:9",
    )


def test_s3_remote_push_fetch_and_errors(repo: Path, tmp_path: Path, s3_server: S3Server) -> None:
    s3 = s3_server.client()
    s3.create_bucket(Bucket="arts")
    git(repo, "config", "gittrack.artifactRemote", "s3://arts/team/x")
    git(repo, "config", "gittrack.s3EndpointUrl", s3_server.endpoint_url)
    client, rid, data = _logged(repo)
    assert push_artifacts(client.store, [rid]) == PushStats(1, BIG, 0)
    assert push_artifacts(client.store, [rid]) == PushStats(0, 0, 0)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="arts")["Contents"]]
    sha = artifacts_of(client.store).manifest(rid)["model.bin"].sha256
    assert keys == [f"team/x/sha256/{sha[:2]}/{sha[2:]}"]

    clone = _clone(repo, tmp_path)
    git(clone, "config", "gittrack.artifactRemote", "s3://arts/team/x")
    git(clone, "config", "gittrack.s3EndpointUrl", s3_server.endpoint_url)
    other = Client(clone)
    out = Path(other.download_artifacts(rid, "model.bin", tmp_path / "d"))
    assert out.read_bytes() == data

    # A tampered object on the remote is refused on the way in.
    s3.put_object(Bucket="arts", Key=keys[0], Body=b"tampered")
    (tmp_path / "third").mkdir()
    third_repo = _clone(repo, tmp_path / "third")
    git(third_repo, "config", "gittrack.s3EndpointUrl", s3_server.endpoint_url)
    git(third_repo, "config", "gittrack.artifactRemote", "s3://arts/team/x")
    third = Client(third_repo)
    with pytest.raises(CorruptArtifactError, match="arrived corrupt"):
        fetch_artifacts(third.store, [rid], "s3://arts/team/x")
    s3.delete_object(Bucket="arts", Key=keys[0])
    git(third_repo, "remote", "remove", "origin")  # origin (a path) would serve its cache
    with pytest.raises(
        ArtifactNotFoundError, match="neither in the local artifact cache nor on s3://arts/team/x;"
    ):
        third.download_artifacts(rid, "model.bin", tmp_path / "d3")
    # Errors from S3 are one line naming the remote.
    with pytest.raises(RemoteError, match=r"^S3 .* on s3://missing-bucket failed: [^\n]*$"):
        push_artifacts(client.store, [rid], "s3://missing-bucket")


def test_s3_without_boto3_says_how_to_install_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    client, rid, _ = _logged(repo)
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ArtifactError, match=r"needs boto3: pip install 'gittrack\[s3\]'"):
        push_artifacts(client.store, [rid], "s3://bucket/x")


def test_unwritable_path_remote_is_a_remote_error(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "sha256").write_text("a file where the objects folder should be")
    client, rid, _ = _logged(repo)
    with pytest.raises(RemoteError, match="cannot write to artifact remote"):
        push_artifacts(client.store, [rid], str(remote))


def test_s3_many_objects_use_one_listing(
    repo: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_server.client().create_bucket(Bucket="many")
    monkeypatch.setenv("GITTRACK_ARTIFACT_INLINE_MAX", "0")
    monkeypatch.setenv("GITTRACK_S3_ENDPOINT_URL", s3_server.endpoint_url)
    client = Client(repo)
    rid = client.create_run("exp").info.run_id
    for i in range(25):
        client.log_text(rid, f"text {i}", f"t/{i}.txt")
    url = "s3://many/p"
    assert push_artifacts(client.store, [rid], url).objects == 25
    calls: list[str] = []
    monkeypatch.setattr(S3Remote, "_has", lambda self, sha: calls.append(sha))
    assert push_artifacts(client.store, [rid], url) == PushStats(0, 0, 0)
    assert calls == []  # more than 20 objects: one LIST instead of a HEAD each


def test_many_runs_are_read_in_one_batch_with_the_same_answer(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gittrack.artifacts import transfer
    from gittrack.lineage import log_input

    client = Client(repo)
    (repo / "data.csv").write_bytes(os.urandom(1000))
    ids = []
    for i in range(22):
        rid = client.create_run("exp").info.run_id
        if i % 3 == 0:
            (repo / "model.bin").write_bytes(os.urandom(BIG))
            client.log_artifact(rid, repo / "model.bin")
        if i % 4 == 0:
            log_input(repo / "data.csv", name="data", keep=True, run_id=rid)
        client.set_terminated(rid)
        ids.append(rid)
    batched = transfer.large_objects(client.store, ids)
    assert len(batched) == 8 + 1  # eight models, one kept input shared by six runs
    monkeypatch.setattr(transfer, "LISTING_FROM", 1)  # commits from one listing of every ref
    assert transfer.large_objects(client.store, ids) == batched
    monkeypatch.setattr(transfer, "BATCH_THRESHOLD", 10**9)
    assert transfer.large_objects(client.store, ids) == batched


def test_runs_read_while_git_pushed_are_read_again_when_they_moved_since(repo: Path) -> None:
    """A push reads the pushed runs' manifests while git sends them; a run logged to in
    the meantime is read again at its new commit, so its new artifact is not missed."""
    from gittrack.artifacts import transfer

    client = Client(repo)
    still, moved = (client.create_run("exp").info.run_id for _ in range(2))
    client.flush()
    commits = {rid: client.store.run_commit(rid) for rid in (still, moved)}
    known = transfer.read_run_objects(client.store, commits)
    assert transfer.large_objects(client.store, [still, moved], known=known) == {}
    (repo / "model.bin").write_bytes(os.urandom(BIG))
    client.log_artifact(moved, repo / "model.bin")  # after the read: the ref moved on
    client.flush()
    found = transfer.large_objects(client.store, [still, moved], known=known)
    assert [run for run, _label in found.values()] == [moved]
    # A run still at the commit read is not read again: what was read is what counts.
    (sha,) = found
    stale = {still: (commits[still], {}, {sha})}
    assert transfer.large_objects(client.store, [still], known=stale) == {
        sha: (still, f"kept input {sha[:12]}")
    }
