"""Start ``gittrack ui`` as a user does (the script beside this interpreter) and stop it by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GITTRACK = str(Path(sys.executable).parent / "gittrack")


@contextmanager
def ui_process(cwd: Path, *args: str) -> Iterator[str]:
    """Run ``gittrack ui --no-browser --port 0 ARGS`` in ``cwd``; yield the URL it prints."""
    proc = subprocess.Popen(
        [GITTRACK, "ui", "--no-browser", "--port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the server listens
        if not line.startswith("gittrack ui: http://"):
            proc.kill()
            raise AssertionError(f"no URL from gittrack ui: {line!r} {proc.communicate()}")
        yield line.split()[2].rstrip("/")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
