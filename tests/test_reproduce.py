"""``gittrack reproduce`` and ``gittrack checkout``: from a run's commit back to its code."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import fails
from conftest import SCRIPTS, fsck, git
from typer.testing import CliRunner, Result

from gittrack.cli import reproduce_cmd
from gittrack.cli.app import app
from gittrack.client import Client
from gittrack.errors import ReproduceError, UnsafePathError
from gittrack.reproduce import REPRODUCED_FROM_TAG, compare_metrics, materialise
from gittrack.runs import RunStore
from gittrack.store import GitStore
from gittrack.store.repo import MODE_EXEC, MODE_FILE, MODE_LINK, MODE_TREE

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "reproducible"

TRAIN = """\
import sys
import gittrack

SCALE = 1.0
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
print("training with seed", seed)
with gittrack.start_run():
    gittrack.log_param("seed", seed)
    x = 0.5 + seed
    for step in range(5):
        x = (x * 1.1 + 0.3) * SCALE
        gittrack.log_metric("x", x, step=step)
    gittrack.log_metric("inv", 1.0 / x)
"""

NONDETERMINISTIC = """\
import random
import gittrack

gittrack.log_metric("noise", random.random())
"""


def gittrack_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["gittrack", *args], cwd=cwd, capture_output=True, text=True)


def new_run(repo: Path, before: set[str]) -> str:
    (run_id,) = set(RunStore(repo).list_runs()) - before
    return run_id


def runs_of(repo: Path) -> set[str]:
    return set(RunStore(repo).list_runs())


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def commit_of(repo: Path, run_id: str) -> str:
    return git(repo, "rev-parse", f"refs/gittrack/runs/{run_id}").strip()


def reproduced_runs(repo: Path, original: str) -> list[str]:
    client = Client(repo)
    return [
        rid
        for rid in runs_of(repo)
        if client.get_run(rid).data.tags.get(REPRODUCED_FROM_TAG) == original
    ]


# -- the done-when scenario -----------------------------------------------------------------
def test_reproduce_in_a_clone(repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text(TRAIN)
    (repo / "nd.py").write_text(NONDETERMINISTIC)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "training code")
    python = Path(sys.executable).name

    before = runs_of(repo)
    proc = gittrack_cli(repo, "run", "--experiment", "exp", "--", python, "train.py", "2")
    assert proc.returncode == 0, proc.stderr
    run_a = new_run(repo, before)

    # An uncommitted edit: the snapshot carries it, the work tree is restored afterwards.
    (repo / "train.py").write_text(TRAIN.replace("SCALE = 1.0", "SCALE = 0.9"))
    before = runs_of(repo)
    assert gittrack_cli(repo, "run", "--", python, "train.py", "2").returncode == 0
    run_b = new_run(repo, before)
    git(repo, "checkout", "--", "train.py")

    # A plain script run (no gittrack run): argv and script are recorded by the API.
    before = runs_of(repo)
    plain = subprocess.run([sys.executable, "train.py", "3"], cwd=repo, capture_output=True)
    assert plain.returncode == 0, plain.stderr
    run_c = new_run(repo, before)

    before = runs_of(repo)
    assert gittrack_cli(repo, "run", "--", python, "nd.py").returncode == 0
    run_d = new_run(repo, before)

    client = Client(repo)
    assert client.get_run(run_b).info.dirty
    assert client.get_run(run_a).data.metrics != client.get_run(run_b).data.metrics

    git(repo, "push", "-q", str(bare_remote), "main", "refs/gittrack/*:refs/gittrack/*")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")

    for original in (run_a, run_b, run_c):
        commit = commit_of(clone, original)
        proc = gittrack_cli(clone, "reproduce", commit[:10], "--yes")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "MISMATCH" not in proc.stdout and "match" in proc.stdout
        (copy,) = reproduced_runs(clone, original)
        old, new = Client(clone).get_run(original), Client(clone).get_run(copy)
        assert new.data.metrics == old.data.metrics
        assert new.info.experiment == old.info.experiment
        assert new.info.status == "FINISHED"
        # Same code snapshot (including the uncommitted edit of run B), same parent.
        for ref in ("train.py", "HEAD^"):
            spec = f"refs/gittrack/runs/{{}}:{ref}" if ref != "HEAD^" else "refs/gittrack/runs/{}^"
            assert git(clone, "rev-parse", spec.format(copy)) == git(
                clone, "rev-parse", spec.format(original)
            )

    proc = gittrack_cli(clone, "reproduce", commit_of(clone, run_d)[:10], "--yes")
    assert proc.returncode == 1
    assert "MISMATCH" in proc.stdout
    assert "does NOT reproduce" in proc.stderr
    assert git(clone, "status", "--porcelain") == ""  # the user's work tree is untouched
    fsck(clone)


def test_example_project_reproduces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "example"
    shutil.copytree(EXAMPLE, work)
    git(work, "init", "-q")
    git(work, "add", ".")
    git(work, "commit", "-qm", "example")
    monkeypatch.chdir(work)
    proc = gittrack_cli(work, "run", "-e", "main", "-P", "lr=0.1", "-P", "epochs=20")
    assert proc.returncode == 0, proc.stderr
    (run_id,) = runs_of(work)
    record = RunStore(work).load(run_id).record
    assert record.command["entry_point"] == "main"
    assert record.params == {"lr": 0.1, "epochs": 20, "seed": 42}
    assert record.metrics["rmse"].count == 20
    proc = gittrack_cli(work, "reproduce", run_id[:8], "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all metrics match" in proc.stderr
    # -P overrides an entry point param: a different run, so the verdict is a mismatch.
    proc = gittrack_cli(work, "reproduce", run_id[:8], "--yes", "-P", "epochs=5")
    assert proc.returncode == 1
    copies = reproduced_runs(work, run_id)
    assert {Client(work).get_run(r).data.typed_params["epochs"] for r in copies} == {20, 5}


# -- reproduce: refusals and checks -----------------------------------------------------------
@pytest.fixture
def trained(repo: Path) -> tuple[Path, str]:
    """A repo with train.py committed and one `gittrack run` of it (in-process)."""
    (repo / "train.py").write_text(TRAIN)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "train")
    result = cli("run", "-P", "lr=0.5", "--", sys.executable, "train.py", "1")
    assert result.exit_code == 0, result.output
    (run_id,) = runs_of(repo)
    return repo, run_id


def test_refuses_without_yes_off_a_terminal(trained: tuple[Path, str]) -> None:
    repo, run_id = trained
    proc = gittrack_cli(repo, "reproduce", run_id)
    assert proc.returncode == 1
    assert proc.stderr == (
        "gittrack: error: reproduce executes the run's command: pass --yes to allow it\n"
    )
    assert runs_of(repo) == {run_id}


def test_asks_on_a_terminal(trained: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, run_id = trained
    monkeypatch.setattr(reproduce_cmd, "_interactive", lambda: True)
    result = cli("reproduce", run_id, input="n\n")
    assert result.exit_code == 1
    assert "train.py 1" in result.stderr
    assert runs_of(repo) == {run_id}
    result = cli("reproduce", run_id, input="y\n")
    assert result.exit_code == 0, result.output
    (copy,) = reproduced_runs(repo, run_id)
    assert Client(repo).get_run(copy).data.typed_params == {"lr": 0.5, "seed": 1}


def test_into_directory(trained: tuple[Path, str], tmp_path: Path) -> None:
    _, run_id = trained
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    result = cli("reproduce", run_id, "--yes", "--into", str(busy))
    assert isinstance(result.exception, ReproduceError)
    assert "is not an empty directory" in str(result.exception)
    target = tmp_path / "fresh" / "dir"
    result = cli("reproduce", run_id, "--yes", "--into", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "train.py").read_text() == TRAIN
    assert not (target / ".gittrack" / "run").exists()


def test_environment_differences(
    trained: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, run_id = trained
    from gittrack import reproduce

    real = reproduce.python_environment()
    fake = dict(real, python="2.7.18", packages={**real["packages"], "pyyaml": "0.0.1"})
    fake["packages"].pop("typer")
    monkeypatch.setattr(reproduce, "python_environment", lambda: fake)
    result = cli("reproduce", run_id, "--yes", "--strict")
    assert isinstance(result.exception, ReproduceError)
    assert "--strict: the environment differs" in str(result.exception)
    assert "(+2 more)" in str(result.exception)
    result = cli("reproduce", run_id, "--yes")
    assert result.exit_code == 0, result.output
    assert "warning: python" in result.stderr
    assert "warning: package pyyaml" in result.stderr
    assert "warning: package typer" in result.stderr and "not installed here" in result.stderr


def test_masked_secrets_cannot_be_rerun(repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN)
    cli("run", "--", sys.executable, "train.py", "--password=hunter2")
    (run_id,) = runs_of(repo)
    result = cli("reproduce", run_id, "--yes")
    assert isinstance(result.exception, ReproduceError)
    assert "masked secrets" in str(result.exception)


def test_run_logged_in_process_has_no_script(repo: Path) -> None:
    run = Client(repo).create_run("e")
    Client(repo).set_terminated(run.info.run_id)
    result = cli("reproduce", run.info.run_id, "--yes")
    assert isinstance(result.exception, ReproduceError)
    assert "records no script" in str(result.exception)


def test_untracked_script_is_not_in_snapshot(repo: Path) -> None:
    (repo / "untracked.py").write_text(TRAIN)
    proc = subprocess.run([sys.executable, "untracked.py"], cwd=repo, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    (run_id,) = runs_of(repo)
    result = cli("reproduce", run_id, "--yes")
    assert isinstance(result.exception, ReproduceError)
    assert "script untracked.py is not in its code snapshot" in str(result.exception)


def untracked_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "untracked files" in r.getMessage()]


def test_untracked_script_of_gittrack_run_is_refused_before_running(
    repo: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    (repo / "helper.py").write_text(TRAIN)
    result = cli("run", "--", sys.executable, "helper.py")
    assert result.exit_code == 0, result.output
    # The run start warned, once, naming the setting that captures untracked files.
    assert untracked_warnings(caplog) == [
        "gittrack: untracked files (e.g. helper.py) are not in the run's code snapshot: "
        "git add them, or capture them with git config gittrack.includeUntracked true"
    ]
    (run_id,) = runs_of(repo)
    err = fails(capsys, "reproduce", run_id, "--yes")
    assert "command runs helper.py, which is not in its code snapshot" in err
    assert runs_of(repo) == {run_id}


def test_an_untracked_project_file_is_named_not_asked_for(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "gittrack.yaml").write_text(
        "entry_points:\n  main:\n    parameters: {n: {type: int, default: 2}}\n"
        "    command: 'echo n={n}'\n"
    )
    assert cli("run", "-P", "n=5").exit_code == 0
    (run_id,) = runs_of(repo)
    err = fails(capsys, "reproduce", run_id, "--yes")
    assert f"run {run_id[:12]}'s project file gittrack.yaml is not in its code snapshot " in err
    assert "git add it, or set gittrack.includeUntracked" in err and "write one" not in err
    assert runs_of(repo) == {run_id}


def test_untracked_warning_only_when_files_are_left_out(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (repo / "train.py").write_text(TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "train")
    assert cli("run", "--", sys.executable, "train.py").exit_code == 0
    assert untracked_warnings(caplog) == []  # a clean tree
    (repo / "extra.py").write_text("x = 1\n")
    command = [str(SCRIPTS / "gittrack"), "run", "--", sys.executable, "train.py"]
    git(repo, "config", "gittrack.includeUntracked", "true")
    proc = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and "untracked" not in proc.stderr  # captured
    git(repo, "config", "gittrack.includeUntracked", "false")
    proc = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0
    assert [line for line in proc.stderr.splitlines() if "untracked" in line] == [
        "gittrack: untracked files (e.g. extra.py) are not in the run's code snapshot: "
        "git add them, or capture them with git config gittrack.includeUntracked true"
    ]


def test_failed_reproduction_exits_one(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "flaky.py").write_text(
        "import os, sys\nimport gittrack\ngittrack.log_metric('m', 1.0)\n"
        "sys.exit(0 if os.environ.get('FLAKY_OK') else 1)\n"
    )
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "flaky")
    monkeypatch.setenv("FLAKY_OK", "1")
    assert cli("run", "--", sys.executable, "flaky.py").exit_code == 0
    (run_id,) = runs_of(repo)
    monkeypatch.delenv("FLAKY_OK")
    result = cli("reproduce", run_id, "--yes")
    assert result.exit_code == 1
    assert "ended FAILED (exit 1): no match" in result.stderr
    (copy,) = reproduced_runs(repo, run_id)
    assert Client(repo).get_run(copy).info.status == "FAILED"


def test_unknown_run(repo: Path) -> None:
    proc = gittrack_cli(repo, "reproduce", "nosuchrun", "--yes")
    assert proc.returncode == 1
    assert proc.stderr.startswith("gittrack: error: no run matches 'nosuchrun'")
    assert proc.stderr.count("\n") == 1


def test_bad_tolerance_and_format(trained: tuple[Path, str]) -> None:
    _, run_id = trained
    result = cli("reproduce", run_id, "--yes", "--rtol", "-1")
    assert "must not be negative" in str(result.exception)
    result = cli("reproduce", run_id, "--yes", "--format", "xml")
    assert "unknown format 'xml'" in str(result.exception)


def test_json_verdict(trained: tuple[Path, str]) -> None:
    _, run_id = trained
    result = cli("reproduce", run_id, "--yes", "--format", "json", "--atol", "1e-12")
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)  # the child's own output went to stderr
    assert "training with seed 1" in result.stderr
    assert {row["metric"] for row in verdict} == {"x", "inv"}
    assert all(row["verdict"] == "match" for row in verdict)


def test_compare_metrics() -> None:
    rows = compare_metrics(
        {"a": 1.0, "b": 1.0, "n": math.nan, "gone": 1.0, "inf": math.inf},
        {"a": 1.0 + 1e-12, "b": 1.1, "n": math.nan, "new": 2.0, "inf": math.inf},
        rtol=1e-9,
        atol=0.0,
    )
    assert {r.key: r.match for r in rows} == {
        "a": True,
        "b": False,
        "n": True,
        "gone": False,
        "new": False,
        "inf": True,
    }
    loose = compare_metrics({"b": 1.0}, {"b": 1.1}, rtol=0.0, atol=0.2)
    assert loose[0].match


def test_materialise_modes_and_unsafe_names(repo: Path, tmp_path: Path) -> None:
    store = GitStore(repo)
    blob = store.write_blob(b"#!/bin/sh\necho hi\n")
    link = store.write_blob(b"run.sh")
    sub = store.write_tree({b"inner.txt": (MODE_FILE, store.write_blob(b"inner\n"))})
    entries = {
        b"run.sh": (MODE_EXEC, blob),
        b"alias": (MODE_LINK, link),
        b"dir": (MODE_TREE, sub),
    }
    dest = tmp_path / "out"
    dest.mkdir()
    assert materialise(store, entries, dest) == []
    assert (dest / "run.sh").stat().st_mode & 0o111
    assert (dest / "alias").is_symlink() and (dest / "alias").read_text().startswith("#!")
    assert (dest / "dir" / "inner.txt").read_text() == "inner\n"
    for bad in (b"..", b".git", b".GIT"):
        target = tmp_path / f"bad{len(bad)}{bad[-1]}"
        target.mkdir()
        with pytest.raises(UnsafePathError, match="is unsafe"):
            materialise(store, {bad: (MODE_FILE, blob)}, target)
    store.close()


# -- checkout ---------------------------------------------------------------------------------
def test_checkout_restores_snapshot_without_moving_head(repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN)
    (repo / "old.txt").write_text("old\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "train")
    (repo / "train.py").write_text(TRAIN.replace("SCALE = 1.0", "SCALE = 0.5"))
    assert cli("run", "-P", "k=v", "--", sys.executable, "train.py").exit_code == 0
    (run_id,) = runs_of(repo)
    git(repo, "checkout", "--", "train.py")
    (repo / "later.txt").write_text("later\n")
    git(repo, "add", "later.txt")
    git(repo, "commit", "-qm", "later")
    head = git(repo, "rev-parse", "HEAD")

    result = cli("checkout", run_id[:8])
    assert result.exit_code == 0, result.output
    assert "1 file(s) written, 1 deleted" in result.stdout
    assert "SCALE = 0.5" in (repo / "train.py").read_text()
    assert not (repo / "later.txt").exists()
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "diff", "--cached", "--name-only") == ""
    saved = (repo / ".git" / "gittrack" / "checkout.yaml").read_text()
    assert run_id in saved and "k: v" in saved
    status = git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == [" D later.txt", " M train.py"]  # nothing untracked added


def test_checkout_refuses_to_overwrite_changes(repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "train")
    (repo / "train.py").write_text(TRAIN.replace("SCALE = 1.0", "SCALE = 0.5"))
    (repo / "new.py").write_text("print('tracked at run time')\n")
    git(repo, "add", "new.py")
    assert cli("run", "--", "true").exit_code == 0
    (run_id,) = runs_of(repo)
    git(repo, "checkout", "--", "train.py")
    git(repo, "rm", "-q", "--cached", "new.py")

    (repo / "train.py").write_text("my own edit\n")
    (repo / "new.py").write_text("untracked, different\n")
    proc = gittrack_cli(repo, "checkout", run_id)
    assert proc.returncode == 1
    assert proc.stderr == (
        f"gittrack: error: checkout of run {run_id[:12]} would overwrite uncommitted changes "
        "in new.py (+1 more); commit them or pass --force\n"
    )
    assert (repo / "train.py").read_text() == "my own edit\n"

    (repo / "new.py").write_text("print('tracked at run time')\n")  # same content: fine
    git(repo, "checkout", "--", "train.py")
    assert cli("checkout", run_id).exit_code == 0
    assert "SCALE = 0.5" in (repo / "train.py").read_text()

    (repo / "README").write_text("edited\n")
    (repo / "train.py").write_text("mine\n")
    result = cli("checkout", run_id)
    assert "would overwrite uncommitted changes in README (+1 more)" in str(result.exception)
    result = cli("checkout", run_id, "--force")
    assert result.exit_code == 0, result.output
    assert "SCALE = 0.5" in (repo / "train.py").read_text()
    assert (repo / "README").read_text() == "demo\n"


def test_checkout_of_a_bare_repository(tmp_path: Path, bare_remote: Path) -> None:
    proc = subprocess.run(
        ["gittrack", "checkout", "abcd"],
        cwd=tmp_path,
        env={**os.environ, "GITTRACK_REPO": str(bare_remote)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "bare repository" in proc.stderr and proc.stderr.count("\n") == 1


def test_checkout_never_writes_through_a_symlink(repo: Path, tmp_path: Path) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "file.txt").write_text("in the run\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "data")
    assert cli("run", "--", "true").exit_code == 0
    (run_id,) = runs_of(repo)
    git(repo, "rm", "-rq", "data")
    git(repo, "commit", "-qm", "rm data")
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "data").symlink_to(outside)
    result = cli("checkout", run_id)
    assert isinstance(result.exception, UnsafePathError)
    assert "outside" in str(result.exception)
    assert list(outside.iterdir()) == []


def test_checkout_removes_folders_left_empty(repo: Path) -> None:
    assert cli("run", "--", "true").exit_code == 0
    (run_id,) = runs_of(repo)
    (repo / "pkg" / "sub").mkdir(parents=True)
    (repo / "pkg" / "sub" / "mod.py").write_text("x = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "pkg")
    assert cli("checkout", run_id).exit_code == 0
    assert not (repo / "pkg").exists()


def test_overrides_need_a_recorded_launcher(repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "train")
    proc = subprocess.run([sys.executable, "train.py"], cwd=repo, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    (run_id,) = runs_of(repo)
    result = cli("reproduce", run_id, "--yes", "-P", "seed=3")
    assert isinstance(result.exception, ReproduceError)
    assert "-P cannot change run" in str(result.exception)


def test_overrides_of_a_plain_command_run_are_refused(
    trained: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # The command got its values on its own command line: -P would be recorded, not used.
    repo, run_id = trained
    err = fails(capsys, "reproduce", run_id[:8], "--yes", "-P", "lr=0.9")
    assert "-P cannot change run" in err and "only runs of an entry point" in err
    assert runs_of(repo) == {run_id}


def test_changed_inputs_refuse_unless_allowed(repo: Path) -> None:
    pytest.importorskip("gittrack.lineage")
    (repo / "train.py").write_text(TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "train")
    (repo / "data.csv").write_text("a\n1\n")
    result = cli("run", "--input", "data.csv", "--", sys.executable, "train.py")
    assert result.exit_code == 0, result.output
    (run_id,) = runs_of(repo)
    (repo / "data.csv").write_text("a\n2\n")
    result = cli("reproduce", run_id, "--yes")
    assert isinstance(result.exception, ReproduceError)
    assert "inputs are not as recorded: input 'data.csv' changed" in str(result.exception)
    assert "--allow-changed-inputs" in str(result.exception)
    assert runs_of(repo) == {run_id}
    result = cli("reproduce", run_id, "--yes", "--allow-changed-inputs")
    assert result.exit_code == 0, result.output
    assert "warning: " in result.stderr


MEMORY_INPUT = """\
import pyarrow as pa
import gittrack

with gittrack.start_run():
    gittrack.log_input(pa.table({"a": [1, 2]}), name="mem")
    gittrack.log_metric("m", 1.0)
"""


def test_memory_table_input_warns_and_reproduces(repo: Path) -> None:
    (repo / "mem.py").write_text(MEMORY_INPUT)
    git(repo, "add", "mem.py")
    git(repo, "commit", "-qm", "mem")
    assert cli("run", "--", sys.executable, "mem.py").exit_code == 0
    (run_id,) = runs_of(repo)
    result = cli("reproduce", run_id, "--yes")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "warning: input 'mem' is a table logged from memory: not checkable" in result.stderr
    assert "changed" not in result.stderr


NESTED = """\
import gittrack

with gittrack.start_run(run_name="outer"):
    gittrack.log_metric("outer", 1.0)
    with gittrack.start_run(run_name="inner", nested=True):
        gittrack.log_metric("inner", 2.0)
"""


def test_child_run_is_refused_naming_its_parent(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "nested.py").write_text(NESTED)
    git(repo, "add", "nested.py")
    git(repo, "commit", "-qm", "nested")
    proc = subprocess.run([sys.executable, "nested.py"], cwd=repo, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    client = Client(repo)
    child = client.get_run("inner").info
    assert child.parent_run_id is not None
    err = fails(capsys, "reproduce", "inner", "--yes")
    assert f"run {child.run_id[:12]} is a child of run {child.parent_run_id[:12]}" in err
    assert f"gittrack reproduce {child.parent_run_id[:12]}" in err
    assert len(runs_of(repo)) == 2


SUBMODULE_TRAIN = """\
import sys
import gittrack

sys.path.insert(0, "sub")
import lib

with gittrack.start_run():
    gittrack.log_metric("v", lib.VALUE)
"""


def with_submodule(repo: Path, tmp_path: Path) -> Path:
    """Add a submodule ``sub`` (lib.py: VALUE = 1) and a train.py using it; commit both."""
    source = tmp_path / "libsrc"
    source.mkdir()
    git(source, "init", "-q")
    (source / "lib.py").write_text("VALUE = 1\n")
    git(source, "add", "lib.py")
    git(source, "commit", "-qm", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(source), "sub")
    (repo / "train.py").write_text(SUBMODULE_TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "with submodule")
    return repo / "sub"


def test_submodule_commit_and_edits_are_recorded_and_restored(repo: Path, tmp_path: Path) -> None:
    sub = with_submodule(repo, tmp_path)
    (sub / "lib.py").write_text("VALUE = 2\n")
    git(sub, "commit", "-qam", "two")  # a new submodule commit, not yet in the index
    new_head = git(sub, "rev-parse", "HEAD").strip()

    def run() -> str:
        before = runs_of(repo)
        assert cli("run", "--", sys.executable, "train.py").exit_code == 0
        return new_run(repo, before)

    first = run()
    gitlink = git(repo, "ls-tree", f"refs/gittrack/runs/{first}", "sub").split()
    assert gitlink[:3] == ["160000", "commit", new_head]
    assert RunStore(repo).load(first).record.source["dirty"] is True
    git(repo, "commit", "-qam", "bump sub")
    assert RunStore(repo).load(run()).record.source["dirty"] is False
    (sub / "lib.py").write_text("VALUE = 3\n")  # an edit inside the submodule
    assert RunStore(repo).load(run()).record.source["dirty"] is True
    git(sub, "checkout", "--", "lib.py")
    fsck(repo)
    # Reproducing the first run restores the submodule at the commit it ran (VALUE = 2).
    result = cli("reproduce", first, "--yes")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "all metrics match" in result.stderr


def test_checkout_writes_submodules_at_the_commit_the_run_recorded(
    repo: Path, tmp_path: Path
) -> None:
    sub = with_submodule(repo, tmp_path)
    (sub / "lib.py").write_text("VALUE = 2\n")
    git(sub, "commit", "-qam", "two")
    ran_on = git(sub, "rev-parse", "HEAD").strip()
    assert cli("run", "--", sys.executable, "train.py").exit_code == 0
    (run_id,) = runs_of(repo)
    git(sub, "checkout", "-q", "HEAD~1")  # the submodule moves back to VALUE = 1
    (sub / "extra.py").write_text("X = 1\n")
    git(sub, "add", "extra.py")
    git(sub, "commit", "-qm", "extra")
    sub_head = git(sub, "rev-parse", "HEAD").strip()

    (sub / "lib.py").write_text("VALUE = 9\n")  # an uncommitted edit inside the submodule
    refused = cli("checkout", run_id[:8])
    assert refused.exit_code == 1 and "sub/lib.py" in str(refused.exception)
    git(sub, "checkout", "--", "lib.py")

    result = cli("checkout", run_id[:8])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "1 file(s) written, 1 deleted" in result.stdout  # sub/lib.py, sub/extra.py
    assert (sub / "lib.py").read_text() == "VALUE = 2\n"
    assert not (sub / "extra.py").exists()
    assert git(sub, "diff", ran_on) == ""  # the submodule's files are the run's
    assert git(sub, "rev-parse", "HEAD").strip() == sub_head  # its HEAD does not move
    assert git(sub, "diff", "--cached", "--name-only") == ""
    git(repo, "submodule", "deinit", "-q", "-f", "sub")
    result = cli("checkout", run_id[:8])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "warning: submodule sub is not checked out" in result.stderr
