"""The installed entry points as real processes: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gittrack


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture
def two_runs(repo: Path) -> list[str]:
    client = gittrack.Client()
    ids = []
    for name, acc in (("first", 0.5), ("second", 0.9)):
        r = client.create_run("exp", run_name=name)
        client.log_param(r.info.run_id, "lr", acc / 10)
        client.log_metric(r.info.run_id, "acc", acc)
        client.set_terminated(r.info.run_id)
        ids.append(r.info.run_id)
    return ids


@pytest.mark.parametrize("cmd", [["gittrack"], ["git-track"], ["git", "track"]])
def test_entry_points_list(cmd: list[str], two_runs: list[str], repo: Path) -> None:
    proc = run(*cmd, "list", "--filter", "metrics.acc > 0.6", "--format", "json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [d["name"] for d in data] == ["second"]


def test_show_and_version(two_runs: list[str], repo: Path) -> None:
    proc = run("gittrack", "show", "first", cwd=repo)
    assert proc.returncode == 0 and two_runs[0] in proc.stdout
    proc = run("gittrack", "--version", cwd=repo)
    assert proc.returncode == 0 and proc.stdout.startswith("gittrack ")


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["show", "nope"], 1, "no run matches 'nope'"),
        (["list", "--filter", "metrics.acc >"], 1, "missing value after >"),
        (["list", "--sort", "metrics.nope DESC"], 1, "unknown sort key metrics.nope"),
        (["tag", "first", "novalue"], 1, "expected key=value"),
        (["rm", "first"], 1, "pass --yes"),
        (["list", "--frobnicate"], 2, "No such option"),
        (["frobnicate"], 2, "No such command"),
    ],
)
def test_errors_are_one_line_without_traceback(
    two_runs: list[str], repo: Path, args: list[str], code: int, needle: str
) -> None:
    proc = run("gittrack", *args, cwd=repo, env=dict(os.environ, GITTRACK_DEBUG=""))
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    if code == 1:
        assert proc.stderr.startswith("gittrack: error: ")
        assert proc.stderr.count("\n") == 1
    assert proc.stdout == ""


def test_debug_shows_the_traceback(two_runs: list[str], repo: Path) -> None:
    proc = run("gittrack", "--debug", "show", "nope", cwd=repo)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_outside_a_repository(tmp_path: Path) -> None:
    proc = run("gittrack", "list", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("gittrack: error: not inside a git repository")
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / ".gittrack-runs").exists()


def test_cli_import_loads_neither_pyarrow_nor_dulwich() -> None:
    code = (
        "import sys, gittrack.cli.app\n"
        "bad = [m for m in ('pyarrow', 'dulwich') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_help_loads_neither_pyarrow_nor_dulwich_nor_rich() -> None:
    code = (
        "import sys\n"
        "from gittrack.cli import main\n"
        "try:\n    main(['--help'])\n"
        "except SystemExit as e:\n    assert not e.code\n"
        "bad = [m for m in ('pyarrow', 'dulwich', 'rich') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "list" in proc.stdout


def test_tests_start_the_scripts_of_their_own_interpreter() -> None:
    """Whatever PATH the caller had, `gittrack` here is the one beside sys.executable."""
    import shutil

    scripts = Path(sys.executable).parent
    for name in ("gittrack", "git-track", "python"):
        found = shutil.which(name)
        assert found is not None and Path(found).parent == scripts, (name, found)


def test_version_answers_before_typer_loads(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom gittrack.cli import main\nmain(['--version'])\n"
        "print(sorted(m for m in ('typer', 'typing', 'yaml', 'pyarrow', 'dulwich')"
        " if m in sys.modules))"
    )
    proc = run(sys.executable, "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"gittrack {gittrack.__version__}", "[]"]


@pytest.mark.parametrize(
    ("args", "unneeded"),
    [
        (
            ["show", "first"],
            ("pyarrow", "gittrack.query.filter", "gittrack.entities", "dulwich.config"),
        ),
        (["diff", "first", "second"], ("pyarrow", "gittrack.lineage.hashing", "dulwich.config")),
        (["metrics", "first"], ("yaml", "dulwich.config", "random")),
    ],
    ids=["show", "diff", "metrics"],
)
def test_one_run_commands_import_only_what_they_use(
    args: list[str], unneeded: tuple[str, ...], two_runs: list[str], repo: Path
) -> None:
    """Start-up dominates these commands: the search grammar, the entity classes, input
    hashing, Parquet, PyYAML or the git config parser (settings of writes) stay unloaded
    where the command has no use for them."""
    code = (
        "import sys\nfrom gittrack.cli import main\n"
        f"main({args!r})\n"
        f"print(sorted(m for m in {unneeded!r} if m in sys.modules))"
    )
    proc = run(sys.executable, "-c", code, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_a_fresh_clone_holds_no_symlink_leading_out_of_it() -> None:
    """A committed link to one machine's directory (e.g. a local venv cache) dangles in
    every other clone, and the code creating that directory then fails."""
    root = Path(__file__).resolve().parents[1]
    listing = subprocess.run(
        ["git", "ls-files", "-s"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        if meta.startswith("120000 "):
            target = os.readlink(root / path)
            assert not os.path.isabs(target), (path, target)
            assert (root / path).resolve().is_relative_to(root), (path, target)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", "benchmarks/.venvs"], cwd=root, check=False
    )
    assert ignored.returncode == 0  # the peer venvs (or a link to them) are never committed


def test_python_m_gittrack_is_the_command_without_the_venv_on_path(
    two_runs: list[str], repo: Path
) -> None:
    """`.venv/bin/python -m gittrack` works where the venv is not activated (the models
    example serves through it): the same command, the same exit codes."""
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    listed = run(sys.executable, "-m", "gittrack", "list", "--format", "csv", cwd=repo, env=env)
    assert listed.returncode == 0, listed.stderr
    assert {line.split(",")[0] for line in listed.stdout.splitlines()[1:]} == set(two_runs)
    missing = run(sys.executable, "-m", "gittrack", "show", "nope", cwd=repo, env=env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("gittrack: error:") and "Traceback" not in missing.stderr


def test_a_bad_write_setting_stops_writes_but_not_reads(two_runs: list[str], repo: Path) -> None:
    """Settings are read when a write needs them: a read-only command does not parse git
    config, and a write still refuses a malformed value (one line, exit 1, nothing lost)."""
    env = {**os.environ, "GITTRACK_FSYNC": "sometimes"}
    shown = run("gittrack", "show", "first", cwd=repo, env=env)
    assert shown.returncode == 0 and "first" in shown.stdout, shown.stderr
    tagged = run("gittrack", "tag", "first", "k=v", cwd=repo, env=env)
    assert tagged.returncode == 1
    assert tagged.stderr == "gittrack: error: fsync must be true or false, got 'sometimes'\n"
    assert "k" not in gittrack.Client(repo).get_run(two_runs[0]).data.tags


def test_the_program_leaves_its_objects_to_the_os_but_runs_its_exit_work(
    two_runs: list[str], repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as the program (its objects frozen for a quick exit), a write is complete when
    the process ends; called in-process, the caller's collector is left as found."""
    import gc

    from gittrack.cli import main

    tagged = run("gittrack", "tag", "second", "k=v", cwd=repo)
    assert tagged.returncode == 0, tagged.stderr
    assert gittrack.Client(repo).get_run(two_runs[1]).data.tags["k"] == "v"
    frozen = gc.get_freeze_count()
    main(["show", "first"])
    assert "first" in capsys.readouterr().out
    assert gc.isenabled() and gc.get_freeze_count() == frozen
