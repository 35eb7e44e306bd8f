"""The interpreters the suite runs: gittrack's own, and one virtual environment per peer.

MLflow and DVC are never project dependencies: each is installed, pinned, into
``benchmarks/.venvs/<name>`` (gitignored) the first time the suite needs it, and reused
after that.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = Path(__file__).resolve().parent / ".venvs"

# What pip resolves here (2026-11): mlflow 3.18.0 is listed but its mlflow-skinny is not
# served, so 3.17.2 is the newest installable 3.x.
PINS = {"mlflow": "mlflow==3.17.2", "dvc": "dvc==3.67.1"}


@dataclass
class Env:
    """One interpreter: ``python`` runs children, ``bin`` holds the tool's commands."""

    name: str
    python: Path
    available: bool
    note: str = ""
    setup_seconds: float | None = None

    @property
    def bin(self) -> Path:
        return self.python.parent


def system_env() -> Env:
    return Env("gittrack", Path(sys.executable), True)


def _marker(name: str) -> Path:
    return VENVS / name / ".bench-installed"


def peer_env(name: str, *, install: bool) -> Env:
    """The peer's venv; created and pip-installed (pinned) when absent and allowed."""
    python = VENVS / name / "bin" / "python"
    marker = _marker(name)
    if python.exists() and marker.exists() and marker.read_text().strip() == PINS[name]:
        return Env(name, python, True, note="cached venv")
    if not install:
        return Env(name, python, False, note=f"no venv at {python.parent.parent} (skipped)")
    start = time.perf_counter()
    log = VENVS / f"{name}-install.log"
    VENVS.mkdir(parents=True, exist_ok=True)
    print(f"[setup] installing {PINS[name]} into {python.parent.parent} (log: {log})", flush=True)
    with log.open("w") as out:
        ok = (
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(python.parent.parent)],
                stdout=out,
                stderr=out,
                check=False,
            ).returncode
            == 0
        )
        ok = (
            ok
            and subprocess.run(
                [str(python), "-m", "pip", "install", "-q", PINS[name]],
                stdout=out,
                stderr=out,
                check=False,
            ).returncode
            == 0
        )
    seconds = time.perf_counter() - start
    if not ok:
        return Env(
            name,
            python,
            False,
            note=f"install of {PINS[name]} failed, see {log}",
            setup_seconds=seconds,
        )
    marker.write_text(PINS[name] + "\n")
    print(f"[setup] {name} ready in {seconds:.0f} s", flush=True)
    return Env(name, python, True, note=f"installed in {seconds:.0f} s", setup_seconds=seconds)


def _out(args: list[str]) -> str:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[-1] if proc.returncode == 0 and text else "unavailable"


def dist_version(env: Env, dist: str) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: print('not installed')"
    )
    return _out([str(env.python), "-c", code, dist])


def gittrack_version() -> str:
    """The checkout's version (what the suite benchmarks), whether or not it is installed."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from gittrack._version import __version__; print(__version__)"
    )
    return _out([sys.executable, "-c", code, str(ROOT)])


def loadavg() -> str:
    """Other processes share the machine: the report states how busy it was."""
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "unknown"


def file_creation(directory: Path, files: int = 200) -> str:
    """Microseconds to create (and then remove) an empty file in ``directory``: the file
    system's own cost, which both gittrack's and MLflow's writes pay per file. On the same
    disk it was seen to vary from about 20 us to over 1 ms between directories and over
    minutes, and the create rows with it."""
    import os
    import time

    scratch = directory / f"creation-probe-{os.getpid()}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        for i in range(files):
            os.close(os.open(scratch / str(i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        per_file = (time.perf_counter() - start) / files
    finally:
        for i in range(files):
            (scratch / str(i)).unlink(missing_ok=True)
        scratch.rmdir()
    return f"{per_file * 1e6:.0f} us"


def machine_info(envs: dict[str, Env]) -> dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        mem = f"{kib / 2**20:.1f} GiB"
    import os
    import platform

    info = {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "gittrack": gittrack_version(),
        "git": _out(["git", "--version"]).replace("git version ", ""),
    }
    system = envs["gittrack"]
    for dist in ("dulwich", "pyarrow"):
        info[dist] = dist_version(system, dist)
    for name in ("mlflow", "dvc"):
        env = envs.get(name)
        info[name] = dist_version(env, name) if env and env.available else "not run"
    return info
