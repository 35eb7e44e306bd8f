"""Artifacts: logging, dedup, verification on read, hostile manifests, gc."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import fsck, git

import gittrack
from gittrack import format as fmt
from gittrack.artifacts.api import FileInfo
from gittrack.artifacts.cas import ObjectCache
from gittrack.artifacts.client_api import artifacts_of
from gittrack.artifacts.gc import collect_garbage
from gittrack.client import Client
from gittrack.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    UnsafePathError,
    ValidationError,
)
from gittrack.uris import parse_runs_uri, runs_uri

BIG = 200 * 1024  # above the 64 KiB inline threshold


def _run(client: Client) -> str:
    return client.create_run("exp").info.run_id


def _cache(client: Client) -> ObjectCache:
    return artifacts_of(client.store).cache


def _objects(client: Client) -> list[Path]:
    base = _cache(client).base
    return sorted(p for p in base.glob("*/*")) if base.is_dir() else []


def _tamper(client: Client, run_id: str, artifacts: dict[str, Any], files: dict[str, str]) -> None:
    """Write a manifest as a hostile remote might (bypassing every check)."""

    def op(record: fmt.RunRecord) -> None:
        record.artifacts = artifacts

    writer = client.writer(run_id)
    writer.apply(op)
    for name, blob in files.items():
        writer.add_run_file(name, blob)
    writer.flush()


# -- logging and reading back ---------------------------------------------------------------
def test_small_file_rides_inside_git_and_reads_back(repo: Path, tmp_path: Path) -> None:
    (repo / "notes.txt").write_text("hello\n")
    with gittrack.start_run() as run:
        gittrack.log_artifact("notes.txt")
        gittrack.log_artifact("notes.txt", artifact_path="copies/x")
    rid = run.info.run_id
    commit = gittrack.get_run(rid).info.commit
    shown = git(repo, "show", f"{commit}:.gittrack/run/artifacts/notes.txt")
    assert shown == "hello\n"
    manifest = yaml.safe_load(git(repo, "show", f"{commit}:.gittrack/run/artifacts.yaml"))
    assert manifest["notes.txt"]["size"] == 6
    assert manifest["notes.txt"]["mode"] == "100644"
    assert len(manifest["notes.txt"]["blob"]) == 40
    assert "copies/x/notes.txt" in manifest
    assert _objects(Client()) == []  # nothing in the cache: git holds it
    out = gittrack.download_artifacts(rid, "notes.txt", dst_path=tmp_path / "d")
    assert Path(out) == tmp_path / "d" / "notes.txt"
    assert Path(out).read_text() == "hello\n"
    fsck(repo)


def test_large_file_goes_to_the_cache_not_git(repo: Path, tmp_path: Path) -> None:
    data = os.urandom(BIG)
    (repo / "model.bin").write_bytes(data)
    os.chmod(repo / "model.bin", 0o755)
    client = Client()
    rid = _run(client)
    client.log_artifact(rid, "model.bin", "models")
    (obj,) = _objects(client)
    assert stat.S_IMODE(obj.stat().st_mode) == 0o444
    assert stat.S_IMODE(obj.parent.stat().st_mode) == 0o700
    assert obj.read_bytes() == data
    entry = artifacts_of(client.store).manifest(rid)["models/model.bin"]
    assert entry.blob is None and entry.size == BIG and entry.executable
    commit = client.get_run(rid).info.commit
    tree = git(repo, "ls-tree", "-r", "--name-only", str(commit))
    assert "model.bin" not in tree
    out = Path(client.download_artifacts(rid, "models", tmp_path / "d"))
    assert (out / "model.bin").read_bytes() == data
    assert os.access(out / "model.bin", os.X_OK)
    fsck(repo)


def test_same_bytes_in_fifty_runs_are_stored_once(repo: Path) -> None:
    (repo / "weights.bin").write_bytes(os.urandom(BIG))
    client = Client()
    runs = [_run(client) for _ in range(50)]
    for rid in runs:
        client.log_artifact(rid, "weights.bin")
    assert len(_objects(client)) == 1
    shas = {artifacts_of(client.store).manifest(r)["weights.bin"].sha256 for r in runs}
    assert len(shas) == 1


def test_relogging_an_unchanged_file_only_hashes_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "w.bin").write_bytes(os.urandom(BIG))
    client = Client()
    rid = _run(client)
    client.log_artifact(rid, "w.bin")

    def no_copy(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an unchanged file was copied again")

    monkeypatch.setattr(ObjectCache, "add_stream", no_copy)
    client.log_artifact(_run(client), "w.bin")
    (repo / "w.bin").write_bytes(os.urandom(BIG))  # changed: must be copied
    with pytest.raises(AssertionError, match="copied again"):
        client.log_artifact(_run(client), "w.bin")


def test_log_artifacts_dir_text_dict_figure(repo: Path, tmp_path: Path) -> None:
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")

    class FakeFigure:
        def savefig(self, buf: Any, format: str) -> None:
            buf.write(f"figure as {format}".encode())

    with gittrack.start_run() as run:
        gittrack.log_artifacts(str(src), "results")
        gittrack.log_text("some text", "notes/readme.md")
        gittrack.log_dict({"b": [1, 2], "a": "x"}, "cfg.json")
        gittrack.log_dict({"b": [1, 2], "a": "x"}, "cfg.yaml")
        gittrack.log_figure(FakeFigure(), "plots/loss.png")
    rid = run.info.run_id
    assert gittrack.list_artifacts(rid) == [
        FileInfo("cfg.json", False, len(json.dumps({"b": [1, 2], "a": "x"}, indent=2))),
        FileInfo("cfg.yaml", False, len(yaml.safe_dump({"b": [1, 2], "a": "x"}, sort_keys=False))),
        FileInfo("notes", True, None),
        FileInfo("plots", True, None),
        FileInfo("results", True, None),
    ]
    assert gittrack.list_artifacts(rid, "results") == [
        FileInfo("results/a.txt", False, 1),
        FileInfo("results/sub", True, None),
    ]
    assert gittrack.list_artifacts(rid, "results/a.txt") == []  # a file, as in MLflow
    assert gittrack.list_artifacts(f"runs:/{rid}/results/sub") == [
        FileInfo("results/sub/b.txt", False, 1)
    ]
    out = Path(gittrack.download_artifacts(rid, dst_path=tmp_path / "all"))
    assert json.loads((out / "cfg.json").read_text()) == {"b": [1, 2], "a": "x"}
    assert yaml.safe_load((out / "cfg.yaml").read_text()) == {"b": [1, 2], "a": "x"}
    assert (out / "plots" / "loss.png").read_text() == "figure as png"
    assert (out / "results" / "sub" / "b.txt").read_text() == "b"
    assert (out / "notes" / "readme.md").read_text() == "some text"


def test_fluent_artifact_calls_take_run_id_as_mlflow(repo: Path, tmp_path: Path) -> None:
    """MLflow's log_artifact/log_artifacts/log_text/log_dict take run_id=: log to that run
    (a finished one, or while another run is active), not to the active run."""
    (tmp_path / "f.txt").write_text("f")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "g.txt").write_text("g")
    with gittrack.start_run() as target:
        pass
    rid = target.info.run_id
    with gittrack.start_run() as other:
        gittrack.log_artifact(tmp_path / "f.txt", "files", run_id=rid)
        gittrack.log_artifacts(tmp_path / "d", "dir", run_id=rid[:8])
        gittrack.log_text("t", "t.txt", run_id=rid)
        gittrack.log_dict({"k": "✓"}, "d.json", run_id=rid)
    assert [f.path for f in gittrack.list_artifacts(rid)] == ["d.json", "dir", "files", "t.txt"]
    assert gittrack.list_artifacts(other.info.run_id) == []
    assert gittrack.get_run(rid).info.status == "FINISHED"


def test_log_figure_takes_save_kwargs_as_mlflow(repo: Path) -> None:
    """MLflow's log_figure(figure, artifact_file, *, save_kwargs=None) hands save_kwargs
    to savefig (or to_html); here the keyword was a TypeError."""

    class FakeFigure:
        def savefig(self, buf: Any, **kwargs: Any) -> None:
            buf.write(json.dumps(kwargs, sort_keys=True).encode())

    with gittrack.start_run() as run:
        gittrack.log_figure(FakeFigure(), "fig.png", save_kwargs={"dpi": 200})
    client = gittrack.Client()
    client.log_figure(run.info.run_id, FakeFigure(), "b.svg", save_kwargs={"format": "pdf"})
    out = Path(gittrack.download_artifacts(run.info.run_id))
    assert json.loads((out / "fig.png").read_text()) == {"dpi": 200, "format": "png"}
    assert json.loads((out / "b.svg").read_text()) == {"format": "pdf"}


def test_log_figure_without_matplotlib_says_so(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    client = Client()
    with pytest.raises(ArtifactError, match="needs matplotlib"):
        client.log_figure(_run(client), object(), "fig.png")


def test_log_artifact_errors(repo: Path, tmp_path: Path) -> None:
    client = Client()
    rid = _run(client)
    with pytest.raises(ArtifactError, match="does not exist"):
        client.log_artifact(rid, tmp_path / "missing.txt")
    with pytest.raises(ArtifactError, match="use log_artifacts"):
        client.log_artifact(rid, tmp_path)
    with pytest.raises(ArtifactError, match="not a directory"):
        client.log_artifacts(rid, repo / "train.py")
    client.log_text(rid, "x", "a/b.txt")
    with pytest.raises(ArtifactError, match="is a file"):
        client.log_text(rid, "x", "a/b.txt/c.txt")
    with pytest.raises(ArtifactError, match="is a directory"):
        client.log_text(rid, "x", "a")
    with pytest.raises(ArtifactNotFoundError, match="has no artifact 'nope'"):
        client.download_artifacts(rid, "nope", tmp_path / "d")


@pytest.mark.parametrize(
    "bad",
    [
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a\\..\\x",
        "x\0y",
        "C:/x",
        ".git/config",
        "",
        ".G\u200cit.",
        "git~1",
    ],
)
def test_unsafe_artifact_paths_are_refused_when_logging(repo: Path, bad: str) -> None:
    client = Client()
    with pytest.raises(UnsafePathError):
        client.log_text(_run(client), "x", bad)


def test_symlinks_escaping_a_logged_dir_are_refused(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    src = tmp_path / "out"
    src.mkdir()
    (src / "ok.txt").write_text("ok")
    (src / "inner").symlink_to(src / "ok.txt")
    (src / "loop").symlink_to(src)
    client = Client()
    rid = _run(client)
    client.log_artifacts(rid, src)
    assert {f.path for f in client.list_artifacts(rid)} == {"inner", "ok.txt"}
    (src / "leak").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="leading outside"):
        client.log_artifacts(rid, src)


# -- verification -------------------------------------------------------------------------------
def _flip_byte(path: Path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_byte_in_the_cache_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    (repo / "m.bin").write_bytes(os.urandom(BIG))
    client = Client()
    rid = _run(client)
    client.log_artifact(rid, "m.bin")
    (obj,) = _objects(client)
    _flip_byte(obj)
    with pytest.raises(CorruptArtifactError, match=rf"'m.bin' of run {rid[:12]} is corrupt"):
        client.download_artifacts(rid, "m.bin", tmp_path / "d")
    assert list((tmp_path / "d").iterdir()) == []  # no half-written file, no temp left
    (result,) = artifacts_of(client.store).verify([rid])
    assert (result.path, result.status) == ("m.bin", "corrupt")


def test_inline_blob_not_matching_the_manifest_is_refused(repo: Path, tmp_path: Path) -> None:
    client = Client()
    rid = _run(client)
    blob = client.store.git.write_blob(b"evil")
    entry = {"size": 4, "sha256": "0" * 64, "mode": "100644", "blob": blob}
    _tamper(client, rid, {"x.txt": entry}, {"artifacts/x.txt": blob})
    with pytest.raises(CorruptArtifactError, match=r"'x.txt' of run .* is corrupt"):
        client.download_artifacts(rid, "x.txt", tmp_path / "d")
    assert not (tmp_path / "d" / "x.txt").exists()


# -- hostile manifests --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["../escape.txt", "/tmp/abs.txt", "a/../../escape.txt", "a\\..\\..\\e", ".git/hooks/x", "a//b"],
)
def test_hostile_manifest_paths_are_refused_on_restore(
    repo: Path, tmp_path: Path, path: str
) -> None:
    client = Client()
    rid = _run(client)
    blob = client.store.git.write_blob(b"pwned")
    import hashlib

    sha = hashlib.sha256(b"pwned").hexdigest()
    _tamper(client, rid, {path: {"size": 5, "sha256": sha, "mode": "100644", "blob": blob}}, {})
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafePathError):
        client.download_artifacts(rid, "", dest)
    assert list(tmp_path.rglob("*escape*")) == []
    assert list(dest.iterdir()) == []


def test_hostile_sha_cannot_name_a_path(repo: Path, tmp_path: Path) -> None:
    client = Client()
    rid = _run(client)
    entry = {"size": 5, "sha256": "../../../../etc/passwd", "mode": "100644"}
    _tamper(client, rid, {"x": entry}, {})
    with pytest.raises(CorruptArtifactError, match="bad sha256"):
        client.download_artifacts(rid, "x", tmp_path)
    _tamper(client, rid, {"x": {"size": -1, "sha256": "a" * 64}}, {})
    with pytest.raises(CorruptArtifactError, match="bad size"):
        client.list_artifacts(rid)
    _tamper(client, rid, {"x": {"size": 1, "sha256": "a" * 64, "mode": "120000"}}, {})
    with pytest.raises(CorruptArtifactError, match="bad mode"):
        client.list_artifacts(rid)


def test_symlink_at_destination_is_never_followed_out(repo: Path, tmp_path: Path) -> None:
    client = Client()
    rid = _run(client)
    client.log_text(rid, "new", "sub/file.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="symlink leading outside"):
        client.download_artifacts(rid, "", dest, force=True)
    assert list(outside.iterdir()) == []
    # A symlink as the file itself is replaced with --force, never written through.
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (dest / "sub").unlink()
    (dest / "sub").mkdir()
    (dest / "sub" / "file.txt").symlink_to(victim)
    with pytest.raises(ArtifactError, match="exists and differs"):
        client.download_artifacts(rid, "", dest)
    client.download_artifacts(rid, "", dest, force=True)
    assert victim.read_text() == "keep"
    assert not (dest / "sub" / "file.txt").is_symlink()
    assert (dest / "sub" / "file.txt").read_text() == "new"


def test_download_never_overwrites_a_different_file_without_force(
    repo: Path, tmp_path: Path
) -> None:
    client = Client()
    rid = _run(client)
    client.log_text(rid, "v1", "a.txt")
    client.log_text(rid, "b", "b.txt")
    dest = tmp_path / "d"
    client.download_artifacts(rid, "", dest)
    client.download_artifacts(rid, "", dest)  # same content: fine
    (dest / "a.txt").write_text("mine")
    (dest / "b.txt").unlink()
    with pytest.raises(ArtifactError, match=r"exists and differs .* use --force"):
        client.download_artifacts(rid, "", dest)
    assert (dest / "a.txt").read_text() == "mine"
    assert not (dest / "b.txt").exists()  # nothing written when any target is refused
    client.download_artifacts(rid, "", dest, force=True)
    assert (dest / "a.txt").read_text() == "v1"


def test_a_directory_downloads_again_into_the_same_place(repo: Path, tmp_path: Path) -> None:
    """download_artifacts(run, 'dir', dst) a second time (a re-run script) failed with
    '<dst>/dir is a directory; cannot write artifact 'dir' there', as did a first one
    into a dst holding that folder; MLflow writes the files again."""
    client = Client()
    rid = _run(client)
    client.log_text(rid, "1", "dir/a.txt")
    client.log_text(rid, "2", "dir/sub/b.txt")
    dest = tmp_path / "d"
    first = client.download_artifacts(rid, "dir", dest)
    assert client.download_artifacts(rid, "dir", dest) == first == str(dest / "dir")
    assert gittrack.download_artifacts(run_id=rid, artifact_path="dir", dst_path=dest) == first
    assert (dest / "dir/sub/b.txt").read_text() == "2"
    client.log_text(rid, "3", "file.txt")
    (dest / "file.txt").mkdir()
    with pytest.raises(ArtifactError, match="is a directory"):  # a file onto a folder: no
        client.download_artifacts(rid, "file.txt", dest)


# -- URIs ---------------------------------------------------------------------------------------
def test_runs_uris(repo: Path, tmp_path: Path) -> None:
    assert parse_runs_uri("runs:/abc/model/MLmodel").run == "abc"
    assert parse_runs_uri("runs:/abc/model/MLmodel").path == "model/MLmodel"
    assert parse_runs_uri("runs:/abc").path == ""
    assert runs_uri("abc", "x/y") == "runs:/abc/x/y"
    with pytest.raises(ValidationError, match="not a runs:/ URI"):
        parse_runs_uri("s3://x")
    with pytest.raises(ValidationError, match="names no run"):
        parse_runs_uri("runs:/")
    with gittrack.start_run(run_name="named") as run:
        gittrack.log_text("t", "dir/t.txt")
    out = gittrack.download_artifacts(artifact_uri="runs:/named/dir", dst_path=tmp_path)
    assert Path(out, "t.txt").read_text() == "t"
    assert run.info.artifact_uri == f"runs:/{run.info.run_id}/"
    with pytest.raises(ValidationError, match="not supported"):
        gittrack.download_artifacts(artifact_uri="s3://bucket/x")
    with pytest.raises(ValidationError, match="not both"):
        gittrack.download_artifacts(run.info.run_id, artifact_uri="runs:/x/y")
    with pytest.raises(ValidationError, match="needs run_id"):
        gittrack.download_artifacts()
    default = Path(gittrack.download_artifacts(run.info.run_id))
    assert (default / "dir" / "t.txt").read_text() == "t"


# -- concurrency --------------------------------------------------------------------------------
def test_inline_blobs_survive_a_concurrent_writer(repo: Path) -> None:
    from gittrack.writer import set_tags_op, writer_for_loaded

    client = Client()
    rid = _run(client)
    mine = client.writer(rid)
    other = writer_for_loaded(client.store, client.store.load(rid))  # "another process"
    other.apply(set_tags_op({"from": "other"}))
    other.flush()
    client.log_text(rid, "survives", "s.txt")
    commit = client.get_run(rid).info.commit  # our flush must rebase onto theirs
    assert mine.record.tags["from"] == "other"
    assert git(repo, "show", f"{commit}:.gittrack/run/artifacts/s.txt") == "survives"
    fsck(repo)


# -- gc -----------------------------------------------------------------------------------------
def test_gc_frees_exactly_what_no_remaining_run_references(repo: Path, tmp_path: Path) -> None:
    (repo / "shared.bin").write_bytes(os.urandom(BIG))
    (repo / "only_a.bin").write_bytes(os.urandom(BIG + 1))
    client = Client()
    a, b = _run(client), _run(client)
    client.log_artifact(a, "shared.bin")
    client.log_artifact(a, "only_a.bin")
    client.log_artifact(b, "shared.bin")
    cache = _cache(client)
    only_a = artifacts_of(client.store).manifest(a)["only_a.bin"].sha256
    assert collect_garbage(client.store, min_age=0).objects == ()
    client.purge_run(a)
    recent = collect_garbage(client.store)  # default grace period keeps fresh objects
    assert recent.objects == () and recent.kept_recent == 1
    dry = collect_garbage(client.store, min_age=0)
    assert [o.sha256 for o in dry.objects] == [only_a]
    assert dry.bytes == BIG + 1 and not dry.deleted
    assert cache.has(only_a)  # a dry run deletes nothing
    done = collect_garbage(client.store, delete=True, min_age=0)
    assert [o.sha256 for o in done.objects] == [only_a]
    assert not cache.has(only_a)
    assert len(_objects(client)) == 1
    out = Path(client.download_artifacts(b, "shared.bin", tmp_path))
    assert out.read_bytes() == (repo / "shared.bin").read_bytes()
    assert collect_garbage(client.store, min_age=0).objects == ()


def test_gc_and_push_keep_the_objects_of_kept_inputs(repo: Path, tmp_path: Path) -> None:
    from gittrack.artifacts.transfer import push_artifacts

    (repo / "data.csv").write_text("a,b\n1,2\n" * 1000)
    with gittrack.start_run() as run:
        gittrack.log_input(str(repo / "data.csv"), name="train", keep=True)
    client = Client()
    kept = [o.sha256 for o in _cache(client).iter_objects()]
    assert len(kept) == 1
    assert collect_garbage(client.store, delete=True, min_age=0).objects == ()
    assert _cache(client).has(kept[0])
    remote = tmp_path / "shared"
    remote.mkdir()
    assert push_artifacts(client.store, [run.info.run_id], str(remote)).objects == 1
    client.purge_run(run.info.run_id)
    gone = collect_garbage(client.store, delete=True, min_age=0)
    assert [o.sha256 for o in gone.objects] == kept


def test_inline_threshold_is_configurable(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client()
    rid = _run(client)
    monkeypatch.setenv("GITTRACK_ARTIFACT_INLINE_MAX", "0")
    client.log_text(rid, "tiny", "tiny.txt")
    assert artifacts_of(client.store).manifest(rid)["tiny.txt"].blob is None
    assert len(_objects(client)) == 1
    monkeypatch.setenv("GITTRACK_ARTIFACT_INLINE_MAX", "1k")
    assert artifacts_of(client.store).inline_max == 1024
    monkeypatch.delenv("GITTRACK_ARTIFACT_INLINE_MAX")
    git(repo, "config", "gittrack.artifactInlineMax", "lots")
    with pytest.raises(ValidationError, match="artifactInlineMax must be a size"):
        client.log_text(rid, "x", "x.txt")


def test_more_logging_errors(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client()
    rid = _run(client)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ArtifactError, match="is not a regular file"):
        client.log_artifact(rid, fifo)
    src = tmp_path / "dir"
    src.mkdir()
    (src / "dangling").symlink_to(tmp_path / "dir" / "gone")
    with pytest.raises(ArtifactError, match="is a broken symlink"):
        client.log_artifacts(rid, src)
    with pytest.raises(ArtifactError, match=r"cannot write 'x\.json' as JSON"):
        client.log_dict(rid, {"a": object()}, "x.json")
    with pytest.raises(ArtifactError, match=r"cannot write 'x\.yaml' as YAML"):
        client.log_dict(rid, {"a": object()}, "x.yaml")  # was yaml's RepresenterError
    fake = type(sys)("matplotlib")
    monkeypatch.setitem(sys.modules, "matplotlib", fake)
    with pytest.raises(ArtifactError, match="expects a matplotlib or plotly figure, got int"):
        client.log_figure(rid, 3, "f.png")


@pytest.mark.parametrize(
    ("artifacts", "error", "match"),
    [
        ({"x": "not a mapping"}, CorruptArtifactError, "malformed manifest entry"),
        ({"x": {"size": 1, "sha256": "a" * 64, "blob": "zz"}}, CorruptArtifactError, "bad blob"),
        (
            {"a": {"size": 1, "sha256": "a" * 64}, "a/b": {"size": 1, "sha256": "b" * 64}},
            CorruptArtifactError,
            "both a file and a directory",
        ),
        ({"./x": {"size": 1, "sha256": "a" * 64}}, UnsafePathError, "not in normal form"),
    ],
)
def test_malformed_manifests_are_errors_naming_the_run(
    repo: Path, artifacts: dict[str, Any], error: type[Exception], match: str
) -> None:
    client = Client()
    rid = _run(client)
    _tamper(client, rid, artifacts, {})
    with pytest.raises(error, match=match) as exc:
        client.list_artifacts(rid)
    assert rid[:12] in str(exc.value)
    (result,) = artifacts_of(client.store).verify([rid])
    assert result.status == "corrupt"


def test_a_file_in_the_way_of_a_directory_is_an_error(repo: Path, tmp_path: Path) -> None:
    client = Client()
    rid = _run(client)
    client.log_text(rid, "x", "sub/file.txt")
    (tmp_path / "sub").write_text("a file")
    with pytest.raises(ArtifactError, match="exists and is not a directory"):
        client.download_artifacts(rid, "", tmp_path)


@pytest.mark.parametrize("name", [".gitmodules", ".GITattributes", ".g\u200citignore", "GIT~2"])
def test_names_git_fsck_inspects_stay_out_of_git(repo: Path, name: str) -> None:
    client = Client()
    rid = _run(client)
    client.log_text(rid, "[submodule\n", f"d/{name}")
    entry = artifacts_of(client.store).manifest(rid)[f"d/{name}"]
    assert entry.blob is None and _cache(client).has(entry.sha256)
    fsck(repo)
