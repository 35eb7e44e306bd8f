"""``gittrack ui``: the command, its defaults and its errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import fails
from ui_server import GITTRACK, ui_process

import gittrack


def test_ui_binds_loopback_only_and_serves_the_page(repo: Path) -> None:
    with gittrack.start_run(run_name="first"):
        gittrack.log_metric("m", 1.0)
    with ui_process(repo) as url:
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        with urllib.request.urlopen(url + "/ui/api/experiments", timeout=10) as resp:
            experiments = json.load(resp)
        assert [(e["name"], e["runs"], e["running"]) for e in experiments] == [("Default", 1, 0)]
        # bound to 127.0.0.1 itself, not to every address: another loopback address is refused
        with socket.socket() as s:
            s.settimeout(5)
            assert s.connect_ex(("127.0.0.2", port)) != 0


def test_outside_a_repository_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [GITTRACK, "ui", "--no-browser", "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("gittrack: error: not inside a git repository")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_port_in_use_one_line_error(repo: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [GITTRACK, "ui", "--no-browser", "--port", str(port)],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"gittrack: error: cannot listen on 127.0.0.1:{port}")
    assert proc.stderr.count("\n") == 1


def test_cli_start_up_imports_nothing_of_the_ui() -> None:
    code = (
        "import sys\n"
        "from gittrack.cli.app import build\n"
        "build()\n"
        "import gittrack\n"
        "bad = [m for m in ('gittrack.ui', 'gittrack.web', 'plotly', 'numpy', 'http.server')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_the_ui_extra_one_line_error_naming_what_to_install(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install without ``gittrack[ui]`` (here: uPlot's package missing) is told what to
    install; nothing is started."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "uplot" else find_spec(name, *a),
    )
    err = fails(capsys, "ui", "--no-browser", "--port", "0")
    assert err == "gittrack: error: gittrack ui needs uplot: pip install 'gittrack[ui]'\n"
