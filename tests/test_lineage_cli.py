"""``gittrack inputs`` and ``gittrack runs-using``: in-process and as real subprocesses,
plus the lineage example and docs coverage."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import run_example
from typer.testing import CliRunner

import gittrack
from gittrack.cli.app import app

ROOT = Path(__file__).resolve().parents[1]


def _two_runs(repo: Path) -> tuple[str, str, str]:
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("x\n1\n")
    (repo / "data" / "valid.csv").write_text("x\n2\n")
    with gittrack.start_run(run_name="first") as r1:
        info = gittrack.log_input("data/train.csv", name="train", context="training")
        gittrack.log_input("data", name="all")
        gittrack.log_input(pa.table({"a": [1, 2, 3]}), name="features", keep=True)
    with gittrack.start_run(run_name="second") as r2:
        gittrack.log_input("data/valid.csv", name="valid")
    return r1.info.run_id, r2.info.run_id, info.digest


def test_inputs_table_json_csv(repo: Path) -> None:
    run1, _, digest = _two_runs(repo)
    runner = CliRunner()
    result = runner.invoke(app, ["inputs", "first"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "name",
        "context",
        "kind",
        "source",
        "digest",
        "size",
        "files",
        "rows",
        "kept",
    ]
    assert lines[2].split() == ["train", "training", "file", "data/train.csv", digest[:19], "4"]
    assert lines[4].split()[:3] == ["features", "table", "<table>"]

    result = runner.invoke(app, ["inputs", run1[:8], "--format", "json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [e["name"] for e in entries] == ["train", "all", "features"]
    assert entries[0]["digest"] == digest
    assert entries[2]["schema"] == {"a": "int64"} and entries[2]["kept"] is True

    result = runner.invoke(app, ["inputs", run1, "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[1]["kind"] == "directory" and rows[1]["files"] == "2"
    assert rows[0]["digest"] == digest


def test_inputs_of_a_run_without_inputs(repo: Path) -> None:
    with gittrack.start_run(run_name="bare"):
        gittrack.log_param("p", 1)
    result = CliRunner().invoke(app, ["inputs", "bare"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "has no recorded inputs" in result.stderr
    result = CliRunner().invoke(app, ["inputs", "bare", "-f", "json"])
    assert json.loads(result.stdout) == []


def test_runs_using(repo: Path, tmp_path: Path) -> None:
    run1, run2, digest = _two_runs(repo)
    copy = tmp_path / "same-bytes.csv"
    shutil.copy(repo / "data" / "train.csv", copy)
    runner = CliRunner()
    result = runner.invoke(app, ["runs-using", str(copy)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "run_id",
        "name",
        "experiment",
        "status",
        "input",
        "context",
        "commit",
    ]
    assert lines[2].split()[:6] == [run1[:12], "first", "Default", "FINISHED", "train", "training"]
    assert len(lines) == 3

    result = runner.invoke(app, ["runs-using", "data", "--format", "json"])
    rows = json.loads(result.stdout)
    assert [(r["run_id"], r["input"]) for r in rows] == [(run1, "all")]

    result = runner.invoke(app, ["runs-using", "data/valid.csv", "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["run_id"] for r in rows] == [run2]

    (tmp_path / "other.csv").write_text("never used")
    result = runner.invoke(app, ["runs-using", str(tmp_path / "other.csv")])
    assert result.exit_code == 0
    assert "no run used the bytes of" in result.stderr
    assert digest.startswith("sha256:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inputs", "nosuchrun"], "no run matches 'nosuchrun'"),
        (["runs-using", "missing.csv"], "input 'missing.csv' does not exist"),
        (["inputs", "first", "--format", "xml"], "unknown format 'xml'"),
        (["runs-using", "data", "-f", "yaml"], "unknown format 'yaml'"),
    ],
)
def test_cli_errors_are_one_line(repo: Path, args: list[str], message: str) -> None:
    from gittrack.cli import main

    _two_runs(repo)
    proc = subprocess.run(
        [sys.executable, "-c", "from gittrack.cli import main; main()", *args],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gittrack: error: "), proc.stderr
    assert message in lines[0]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 1


def test_usage_errors_exit_2(repo: Path) -> None:
    result = CliRunner().invoke(app, ["inputs"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["runs-using", "a", "b"])
    assert result.exit_code == 2


def test_installed_command_end_to_end(repo: Path) -> None:
    exe = "gittrack"  # the script beside the test interpreter (tests/conftest.py)
    run1, _, digest = _two_runs(repo)
    out = subprocess.run(
        [exe, "inputs", run1, "-f", "json"], cwd=repo, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["digest"] == digest
    out = subprocess.run(
        [exe, "runs-using", "data/train.csv"], cwd=repo, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert run1[:12] in out.stdout
    out = subprocess.run([exe, "inputs", "--help"], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0 and "--format" in out.stdout
    out = subprocess.run(
        [exe, "runs-using", str(repo / "nope")], cwd=repo, capture_output=True, text=True
    )
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_lineage_example_runs(repo: Path) -> None:
    lines = run_example("lineage_example.py", repo).splitlines()
    assert "input train: changed" in lines
    assert "input valid: same" in lines
    assert lines[-1] == "runs that used valid.csv: lineage-first, lineage-second"


def test_docs_cover_the_lineage_commands() -> None:
    cli_doc = ROOT / "docs" / "cli.md"
    if not cli_doc.is_file():
        pytest.skip("docs/cli.md is not written yet")
    text = cli_doc.read_text()
    for command in ("gittrack inputs", "gittrack runs-using"):
        assert command in text, command
    api = (ROOT / "docs" / "api.md").read_text()
    assert "log_input" in api
    assert "inputs.yaml" in (ROOT / "docs" / "format.md").read_text()


def test_reading_commands_outside_a_repository_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "nowhere"
    outside.mkdir()
    (outside / "f.txt").write_text("x")
    monkeypatch.chdir(outside)
    runner = CliRunner()
    for args in (["inputs", "abcd"], ["runs-using", "f.txt"]):
        proc = subprocess.run(
            [sys.executable, "-c", "from gittrack.cli import main; main()", *args],
            cwd=outside,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 1
        assert proc.stderr.startswith("gittrack: error: not inside a git repository")
        assert proc.stderr.count("\n") == 1
        assert runner.invoke(app, args).exit_code != 0
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]


def test_inputs_in_list_filter_json_and_diff(repo: Path) -> None:
    run1, run2, digest = _two_runs(repo)
    runner = CliRunner()
    result = runner.invoke(
        app, ["list", "--filter", f"inputs.train.digest = '{digest}'", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["run_id"] for r in rows] == [run1]
    assert rows[0]["inputs"]["train"]["digest"] == digest
    assert rows[0]["inputs"]["train"]["context"] == "training"
    result = runner.invoke(app, ["list", "--filter", "inputs.valid.digest LIKE 'sha256:%'"])
    assert result.exit_code == 0, result.output
    assert run2[:8] in result.stdout and run1[:8] not in result.stdout
    result = runner.invoke(app, ["diff", run1, run2])
    assert result.exit_code == 0, result.output
    section = result.stdout[result.stdout.index("inputs") :]
    assert "train" in section and "removed" in section
    assert "valid" in section and "added" in section
