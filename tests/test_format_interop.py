"""Storage format v1 as C git and pyarrow see it: runs are plain, sound git objects."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from conftest import fsck, git

import gittrack
from gittrack.format import FORMAT_VERSION, dump_yaml


def _make_run(repo: Path) -> gittrack.ActiveRun:
    gittrack.set_experiment("wine")
    with gittrack.start_run(run_name="baseline", tags={"team": "a"}) as run:
        gittrack.log_params({"alpha": 0.5, "model": "enet"})
        for step in range(10):
            gittrack.log_metric("rmse", 1.0 / (step + 1), step=step)
    return run


def test_fsck_is_clean_and_ref_is_per_run(repo: Path) -> None:
    run = _make_run(repo)
    fsck(repo)
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gittrack/runs/")
    assert refs.split() == [f"refs/gittrack/runs/{run.info.run_id}", run.info.commit]


def test_experiment_ref_is_plain_yaml_under_its_derived_id(repo: Path) -> None:
    run = _make_run(repo)
    eid = run.info.experiment_id
    assert eid == gittrack.get_experiment_by_name("wine").experiment_id  # type: ignore[union-attr]
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/experiments/")
    assert refs.split() == [f"refs/gittrack/experiments/{eid}"]
    data = yaml.safe_load(git(repo, "show", f"refs/gittrack/experiments/{eid}:experiment.yaml"))
    assert data["experiment_id"] == eid and data["name"] == "wine"
    assert data["lifecycle_stage"] == "active" and data["tags"] == {}
    run_yaml = git(repo, "show", f"refs/gittrack/runs/{run.info.run_id}:.gittrack/run/run.yaml")
    assert yaml.safe_load(run_yaml)["experiment_id"] == eid
    gittrack.delete_experiment(eid)
    log = git(repo, "log", "--format=%s", f"refs/gittrack/experiments/{eid}").splitlines()
    assert log == [f"experiment wine ({eid}): deleted", f"experiment wine ({eid}): created"]
    fsck(repo)


def test_commit_parent_is_head_and_log_reads_well(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    run = _make_run(repo)
    ref = f"refs/gittrack/runs/{run.info.run_id}"
    assert git(repo, "rev-parse", f"{ref}^").strip() == head
    message = git(repo, "log", "-1", "--format=%B", ref)
    assert message.startswith("run baseline [wine] FINISHED")
    assert "params: alpha=0.5 model=enet" in message
    assert "metrics: rmse=0.1" in message
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Gittrack-Run-Id,valueonly)", ref)
    assert trailers.strip() == run.info.run_id
    # git log of the run shows the code commit it ran on
    assert "initial" in git(repo, "log", "--format=%s", ref)


def test_files_readable_with_git_show_and_pyarrow(repo: Path) -> None:
    run = _make_run(repo)
    ref = f"refs/gittrack/runs/{run.info.run_id}"
    meta = yaml.safe_load(git(repo, "show", f"{ref}:.gittrack/run/run.yaml"))
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["run_id"] == run.info.run_id
    assert meta["status"] == "FINISHED" and meta["experiment"] == "wine"
    assert meta["metrics"]["rmse"]["value"] == 0.1 and meta["metrics"]["rmse"]["count"] == 10
    assert meta["source"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    params = yaml.safe_load(git(repo, "show", f"{ref}:.gittrack/run/params.yaml"))
    assert params == {"alpha": 0.5, "model": "enet"}
    tags = yaml.safe_load(git(repo, "show", f"{ref}:.gittrack/run/tags.yaml"))
    assert tags == {"team": "a"}
    env = yaml.safe_load(git(repo, "show", f"{ref}:.gittrack/run/environment.yaml"))
    assert env["python"].count(".") == 2 and "pyarrow" in env["packages"]
    raw = subprocess.run(
        ["git", "show", f"{ref}:.gittrack/run/metrics.parquet"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    table = pq.read_table(pa.BufferReader(raw))
    assert table.column_names == ["key", "step", "timestamp", "value"]
    assert table.schema.field("key").type == pa.dictionary(pa.int32(), pa.string())
    assert table.num_rows == 10
    columns = pq.ParquetFile(io.BytesIO(raw)).metadata.row_group(0)
    assert {columns.column(i).compression for i in range(4)} == {"ZSTD"}
    # steps and timestamps delta-encoded (docs/format.md), read back exactly
    assert ["DELTA_BINARY_PACKED" in columns.column(i).encodings for i in range(4)] == [
        False,
        True,
        True,
        False,
    ]
    assert table.column("step").to_pylist() == list(range(10))


def test_code_snapshot_is_in_the_run_tree(repo: Path) -> None:
    run = _make_run(repo)
    ref = f"refs/gittrack/runs/{run.info.run_id}"
    files = git(repo, "ls-tree", "-r", "--name-only", ref).split()
    assert {"train.py", "README", ".gitignore"} <= set(files)
    assert git(repo, "show", f"{ref}:train.py") == "print('training')\n"


def test_run_never_touches_head_index_branches_or_files(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")  # an uncommitted edit
    before = {
        "head": git(repo, "rev-parse", "HEAD"),
        "branches": git(repo, "for-each-ref", "refs/heads"),
        "index": (repo / ".git" / "index").read_bytes(),
        "status": git(repo, "status", "--porcelain"),
        "file": (repo / "train.py").read_text(),
    }
    _make_run(repo)
    after = {
        "head": git(repo, "rev-parse", "HEAD"),
        "branches": git(repo, "for-each-ref", "refs/heads"),
        "index": (repo / ".git" / "index").read_bytes(),
        "status": git(repo, "status", "--porcelain"),
        "file": (repo / "train.py").read_text(),
    }
    assert before == after


def test_yaml_emitter_round_trips_through_safe_loader() -> None:
    values = {
        "int": 3,
        "float": 0.5,
        "tiny": 1e-05,
        "huge": 1e300,
        "negzero": -0.0,
        "inf": float("inf"),
        "ninf": float("-inf"),
        "none": None,
        "yes": True,
        "no": False,
        "s_true": "true",
        "s_yes": "yes",
        "s_null": "null",
        "s_num": "1.5",
        "s_int": "012",
        "s_hex": "0x1F",
        "s_exp": "1e3",
        "s_time": "12:30",
        "s_date": "2020-01-01",
        "colon": "a: b",
        "dash": "- x",
        "hash": "#c",
        "quote": "'q'",
        "dq": '"d"',
        "unicode": "ünïcödé ✓",
        "newline": "a\nb",
        "tab": "a\tb",
        "lead": " x",
        "trail": "x ",
        "empty": "",
        "star": "*x",
        "amp": "&x",
        "brace": "{a}",
        "bracket": "[a]",
        "key with space": "v",
        "k/x.y-z": "v",
        "nested": {"a": {"b": [1, "two", {"c": None}]}},
        "list": [1, [2, 3], {"d": "e"}],
        "emptydict": {},
        "emptylist": [],
    }
    assert yaml.safe_load(dump_yaml(values)) == values


def test_embedded_repository_outside_git(tmp_path: Path) -> None:
    work = tmp_path / "nogit"
    work.mkdir()
    script = (
        "import gittrack\n"
        "with gittrack.start_run() as r: gittrack.log_metric('m', 1)\n"
        "with gittrack.start_run() as r: gittrack.log_metric('m', 2)\n"
        "print(r.info.run_id)\n"
    )
    import sys

    out = subprocess.run(
        [sys.executable, "-c", script], cwd=work, capture_output=True, text=True, check=True
    )
    store = work / ".gittrack-runs"
    assert (store / "objects").is_dir()
    assert out.stderr.count("runs are stored in") == 1  # said once, on stderr
    assert str(store) in out.stderr
    refs = git(store, "for-each-ref", "refs/gittrack/runs/")
    assert len(refs.splitlines()) == 2
    fsck(store)


def test_repo_argument_and_env_var_choose_the_repository(
    repo: Path, tmp_path: Path, monkeypatch: object
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    client = gittrack.Client(repo=other)
    run = client.create_run("e")
    client.set_terminated(run.info.run_id)
    assert git(other, "for-each-ref", "refs/gittrack/").strip()
    assert git(repo, "for-each-ref", "refs/gittrack/").strip() == ""
    import pytest

    with pytest.raises(gittrack.GittrackError, match="does not exist"):
        gittrack.Client(repo=tmp_path / "missing")
    with pytest.raises(gittrack.GittrackError, match="not inside a git repository"):
        gittrack.Client(repo=tmp_path)
