"""``gittrack run``: a command as a tracked run (in-process CLI and real subprocesses)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import fails
from conftest import fsck, git
from typer.testing import CliRunner, Result

from gittrack.cli.app import app
from gittrack.client import Client
from gittrack.errors import CommandNotFoundError
from gittrack.runner import _Tail, parse_param_args
from gittrack.runs import RunStore

SCRIPT = """\
import os, sys
import gittrack
print("child sees", os.environ["GITTRACK_RUN_ID"], os.environ["GITTRACK_EXPERIMENT_NAME"])
print("to stderr", file=sys.stderr)
with gittrack.start_run() as run:
    gittrack.log_param("from_child", 7)
    for i in range(3):
        gittrack.log_metric("loss", 1.0 / (i + 1), step=i)
sys.exit(int(sys.argv[1]) if sys.argv[1:2] and sys.argv[1].isdigit() else 0)
"""


def only_run(repo: Path) -> str:
    runs = RunStore(repo).list_runs()
    assert len(runs) == 1, runs
    return next(iter(runs))


def read_log(repo: Path, run_id: str, name: str) -> str:
    """A kept log: an inline artifact of the run."""
    assert f"logs/{name}" in RunStore(repo).load(run_id).record.artifacts
    return git(repo, "show", f"refs/gittrack/runs/{run_id}:.gittrack/run/artifacts/logs/{name}")


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_run_records_params_command_logs_and_child_metrics(repo: Path) -> None:
    (repo / "script.py").write_text(SCRIPT)
    result = CliRunner().invoke(
        app,
        ["run", "-P", "lr=0.1", "-P", "n=3", "-P", "tag=abc", "--name", "first",
         "--experiment", "exp1", "--", sys.executable, "script.py", "--token", "s3cret"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run_id = only_run(repo)
    assert f"child sees {run_id} exp1" in result.stdout
    assert "to stderr" in result.stderr
    assert f"run {run_id[:12]} FINISHED (exit 0)" in result.stderr
    run = Client(repo).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "first" and run.info.experiment == "exp1"
    assert run.data.typed_params == {"lr": 0.1, "n": 3, "tag": "abc", "from_child": 7}
    assert run.data.metrics == {"loss": pytest.approx(1 / 3)}
    command = RunStore(repo).load(run_id).record.command
    assert command["launcher"] == "gittrack run"
    assert command["cwd"] == "."
    assert command["argv"][1:] == ["script.py", "--token", "****"]
    assert command["params"] == {"lr": 0.1, "n": 3, "tag": "abc"}
    assert f"child sees {run_id}" in read_log(repo, run_id, "stdout.txt")
    assert read_log(repo, run_id, "stderr.txt") == "to stderr\n"
    fsck(repo)


def test_failing_command_marks_failed_and_passes_exit_code(repo: Path) -> None:
    (repo / "script.py").write_text(SCRIPT)
    result = cli("run", "--", sys.executable, "script.py", "3")
    assert result.exit_code == 3
    run = Client(repo).get_run(only_run(repo))
    assert run.info.status == "FAILED"
    assert run.data.metrics["loss"] == pytest.approx(1 / 3)


def test_command_not_found(repo: Path) -> None:
    result = cli("run", "--", "no-such-command-xyz", "arg")
    assert isinstance(result.exception, CommandNotFoundError)
    assert result.exception.exit_code == 127
    run_id = only_run(repo)
    assert Client(repo).get_run(run_id).info.status == "FAILED"
    assert "was not found" in read_log(repo, run_id, "stderr.txt")


def test_command_not_found_subprocess_is_one_line(repo: Path) -> None:
    proc = subprocess.run(
        ["gittrack", "run", "--", "no-such-command-xyz"], capture_output=True, text=True
    )
    assert proc.returncode == 127
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == [
        f"gittrack: error: command 'no-such-command-xyz' was not found "
        f"(run {only_run(repo)[:12]} marked FAILED)"
    ]
    assert "Traceback" not in proc.stderr


def test_not_executable(repo: Path) -> None:
    (repo / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    result = cli("run", "--", "./tool.sh")
    assert isinstance(result.exception, CommandNotFoundError)
    assert "is not executable" in str(result.exception)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-P", "novalue", "--", "true"], "bad -P 'novalue': write it as key=value"),
        (["-P", "=1", "--", "true"], "bad -P '=1'"),
        (["-e", "main", "--", "true"], "either -e ENTRY or a command"),
        ([], "nothing to run"),
        (["-P", "lr=0.1"], "-P needs an entry point, and there is no gittrack.yaml, "),
        (["-P", "bad key!=1", "--", "true"], "param key 'bad key!'"),
    ],
)
def test_user_errors_are_one_line(repo: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(["gittrack", "run", *args], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") <= 3  # announcements + one error line
    assert message in proc.stderr.splitlines()[-1]
    assert "Traceback" not in proc.stderr


def test_bad_param_key_creates_no_run(repo: Path) -> None:
    result = cli("run", "-P", "bad key!=1", "--", "true")
    assert result.exit_code == 1
    assert RunStore(repo).list_runs() == {}


@pytest.mark.parametrize("value", ["x" * 7000, "\udcff"])  # too long; bytes not UTF-8
def test_bad_param_value_creates_no_run(repo: Path, value: str) -> None:
    """Only the key was checked first: a refused value left a FAILED run behind."""
    result = cli("run", "-P", f"k={value}", "--", "true")
    assert result.exit_code == 1 and "param 'k'" in str(result.exception)
    assert RunStore(repo).list_runs() == {}


def test_arguments_that_are_not_utf8_leave_a_readable_run(repo: Path) -> None:
    """A file name in Latin-1 on the command line (argv holds lone surrogates) made the
    run's run.yaml unreadable: the run and all it logged were left out everywhere."""
    (repo / "log.py").write_text(
        "import sys, gittrack\n"
        "with gittrack.start_run(run_name='script') as r:\n"
        "    gittrack.log_metric('m', 1.0)\n"
    )
    proc = subprocess.run([sys.executable, "log.py", b"caf\xe9.csv"], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    result = cli("run", "--name", "wrapped", "--", "echo", "caf\udce9.csv")
    assert result.exit_code == 0, result.output
    for name in ("script", "wrapped"):
        run = Client().get_run(name)
        assert run.info.status == "FINISHED"
        argv = RunStore(repo).load(run.info.run_id).record.command["argv"]
        assert argv[-1] == "caf\\xe9.csv"  # the byte shown, as Python shows bytes
    assert Client().get_run("script").data.metrics == {"m": 1.0}


@pytest.mark.parametrize(
    "args",
    [
        ["--nmae", "x", "--", "true"],
        ["-f", "json", "--", "true"],
        ["--keep", "--", "true"],
    ],
)
def test_run_usage_errors_exit_2_and_create_no_run(
    repo: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(capsys, "run", *args, code=2)
    assert "Error:" in err
    assert RunStore(repo).list_runs() == {}


def test_missing_input_creates_no_run(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = fails(capsys, "run", "--input", "data/nothere.csv", "--", "true")
    assert "input 'data/nothere.csv' does not exist" in err
    assert RunStore(repo).list_runs() == {}


IDENTITY_SCRIPT = """\
import gittrack
gittrack.set_experiment("from-script")
with gittrack.start_run(run_name="script-name"):
    gittrack.log_metric("m", 1.0)
"""


def test_script_name_and_experiment_apply_under_gittrack_run(repo: Path) -> None:
    (repo / "named.py").write_text(IDENTITY_SCRIPT)
    result = cli("run", "--", sys.executable, "named.py")
    assert result.exit_code == 0, result.output
    info = Client(repo).get_run(only_run(repo)).info
    assert (info.run_name, info.experiment) == ("script-name", "from-script")
    assert info.experiment_id == Client(repo).get_experiment_by_name("from-script").experiment_id  # type: ignore[union-attr]
    assert "wins over" not in result.stderr


def test_gittrack_run_options_win_and_say_so(repo: Path) -> None:
    (repo / "named.py").write_text(IDENTITY_SCRIPT)
    result = cli("run", "--name", "cli-name", "--experiment", "cli-exp", "--",
                 sys.executable, "named.py")  # fmt: skip
    assert result.exit_code == 0, result.output
    info = Client(repo).get_run(only_run(repo)).info
    assert (info.run_name, info.experiment) == ("cli-name", "cli-exp")
    lines = [line for line in result.stderr.splitlines() if "wins over" in line]
    assert lines == [
        "gittrack: run name 'cli-name' from gittrack run --name wins over 'script-name' "
        "from the script",
        "gittrack: experiment 'cli-exp' from gittrack run --experiment wins over "
        "'from-script' from the script",
    ]


def test_run_from_subdirectory_records_cwd(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "sub").mkdir()
    (repo / "sub" / "script.py").write_text(SCRIPT)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "sub")
    monkeypatch.chdir(repo / "sub")
    assert cli("run", "--", sys.executable, "script.py").exit_code == 0
    command = RunStore(repo).load(only_run(repo)).record.command
    assert command["cwd"] == "sub"


def test_entry_point_run(repo: Path) -> None:
    (repo / "gittrack.yaml").write_text(
        "name: demo\npython_env: env.yaml\nentry_points:\n  main:\n"
        "    parameters:\n      alpha: {type: float, default: 0.5}\n      label: string\n"
        f"    command: '{sys.executable} script.py 0 {{alpha}} {{label}}'\n"
    )
    (repo / "script.py").write_text(
        SCRIPT.replace("import os, sys", "import os, sys\nprint(sys.argv)")
    )
    result = cli("run", "-e", "main", "-P", "label=it's red")
    assert result.exit_code == 0, result.output
    assert "'0.5', \"it's red\"" in result.stdout
    record = RunStore(repo).load(only_run(repo)).record
    assert record.params["alpha"] == 0.5 and record.params["label"] == "it's red"
    assert record.command["entry_point"] == "main"
    assert record.command["project_file"] == "gittrack.yaml"
    assert record.command["project_environment"] == {"python_env": "env.yaml"}
    assert record.command["params"] == {"alpha": 0.5, "label": "it's red"}
    # No -e and no command: the default entry point "main".
    assert cli("run", "-P", "label=x").exit_code == 0


def test_entry_point_errors_create_no_run(repo: Path) -> None:
    (repo / "gittrack.yaml").write_text(
        "name: demo\nentry_points:\n  main:\n    parameters: {alpha: float}\n"
        "    command: 'echo {alpha}'\n"
    )
    for args, message in [
        (["-e", "main", "-P", "beta=1"], "has no parameter 'beta'"),
        (["-e", "main"], "needs parameter 'alpha'"),
        (["-e", "main", "-P", "alpha=x"], "'x' is not a valid float"),
        (["-e", "trian", "-P", "alpha=1"], "no entry point 'trian'"),
    ]:
        result = cli("run", *args)
        assert result.exit_code == 1
        assert message in str(result.exception)
    assert RunStore(repo).list_runs() == {}


def test_input_is_recorded(repo: Path) -> None:
    pytest.importorskip("gittrack.lineage")
    (repo / "data.csv").write_text("a,b\n1,2\n")
    result = cli("run", "--input", "data.csv", "--", "true")
    assert result.exit_code == 0, result.output
    record = RunStore(repo).load(only_run(repo)).record
    assert len(record.inputs) == 1


def _start_waiting(repo: Path, script: str) -> subprocess.Popen[str]:
    (repo / "wait.py").write_text(script)
    proc = subprocess.Popen(
        ["gittrack", "run", "--", sys.executable, "wait.py"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"  # the child runs: now signal the wrapper
    return proc


WAIT = "import sys\nprint('ready', flush=True)\nsys.stdin.read()\n"


def test_sigterm_is_forwarded_and_marks_killed(repo: Path) -> None:
    script = "import gittrack\ngittrack.log_param('p', 1)\n" + WAIT
    with _start_waiting(repo, script) as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert proc.stderr is not None
        assert "KILLED" in proc.stderr.read()
    run = Client(repo).get_run(only_run(repo))
    assert run.info.status == "KILLED"
    assert run.data.typed_params == {"p": 1}


def test_sigint_is_forwarded_when_not_on_a_terminal(repo: Path) -> None:
    with _start_waiting(repo, WAIT) as proc:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code in (1, 128 + signal.SIGINT)  # KeyboardInterrupt in the child
    assert Client(repo).get_run(only_run(repo)).info.status == "KILLED"


def test_git_track_entry_point(repo: Path) -> None:
    proc = subprocess.run(
        ["git", "track", "run", "--", "echo", "hello"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello\n"
    assert Client(repo).get_run(only_run(repo)).info.status == "FINISHED"


def test_help_mentions_options() -> None:
    result = cli("run", "--help")
    assert result.exit_code == 0
    for option in ("--param", "--name", "--experiment", "--entry-point", "--input"):
        assert option in result.stdout


def test_tail_keeps_the_last_bytes() -> None:
    tail = _Tail(10)
    for chunk in (b"abcdef", b"ghijkl", b"mn"):
        tail.add(chunk)
    assert tail.value() == b"[gittrack: 4 earlier bytes dropped]\nefghijklmn"
    small = _Tail(100)
    small.add(b"x")
    assert small.value() == b"x"


def test_param_parsing() -> None:
    assert parse_param_args(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}


ARGS_SCRIPT = """\
import argparse
import gittrack
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--seed")
parser.add_argument("--at")
parser.add_argument("--flag")
parser.add_argument("--mask")
with gittrack.start_run():
    gittrack.log_params(vars(parser.parse_args()))
"""


def test_run_params_are_typed_as_documented_not_as_yaml_1_1(repo: Path) -> None:
    # A script logging its own argparse values must agree with what -P recorded.
    (repo / "args.py").write_text(ARGS_SCRIPT)
    result = cli(
        "run", "-P", "lr=1e-3", "-P", "seed=010", "-P", "at=12:30", "-P", "flag=no",
        "-P", "mask=0x10", "-P", "n=3", "-P", "ok=true", "--", sys.executable, "args.py",
        "--lr", "1e-3", "--seed", "010", "--at", "12:30", "--flag", "no", "--mask", "0x10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    params = Client(repo).get_run(only_run(repo)).data.typed_params
    assert params == {
        "lr": 0.001, "seed": "010", "at": "12:30", "flag": "no", "mask": "0x10",
        "n": 3, "ok": True,
    }  # fmt: skip
