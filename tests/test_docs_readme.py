"""README's "In a nutshell" runs as shown: the Python block, then its shell lines."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import SCRIPTS

README = Path(__file__).resolve().parent.parent / "README.md"


def _nutshell() -> tuple[str, list[str]]:
    section = README.read_text(encoding="utf-8").split("## In a nutshell", 1)[1]
    python = re.search(r"```python\n(.*?)```", section, re.S)
    shell = re.search(r"```sh\n(.*?)```", section, re.S)
    assert python and shell
    lines = [line.split("  #", 1)[0].strip() for line in shell.group(1).splitlines()]
    return python.group(1), [line for line in lines if line]


def _run(argv: list[str], cwd: Path) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{argv}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def test_nutshell_runs_as_shown(repo: Path) -> None:
    code, commands = _nutshell()
    run_id, status = _run([sys.executable, "-c", code], repo).split()
    assert re.fullmatch(r"[0-9a-f]{32}", run_id) and status == "FINISHED"
    outputs = []
    for line in commands:
        argv = shlex.split(line.replace("<run_id>", run_id))
        if argv[0] == "gittrack":
            argv[0] = str(SCRIPTS / "gittrack")
        outputs.append(_run(argv, repo))
    listing, shown, log = outputs
    assert "baseline" in listing and "wine" in listing
    assert run_id in shown and "rmse" in shown and "l1_ratio" in shown
    assert f"Gittrack-Run-Id: {run_id}" in log and "initial" in log  # the run, then its code
