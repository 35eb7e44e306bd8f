"""Runs each case's repetitions in fresh processes and aggregates their measures.

A *case* is one workload for one tool (one function in a ``workloads_*`` module). Each
repetition is a new child process of the tool's interpreter with its own scratch
directory, so nothing cached in a process carries over between repetitions. Cases that
need a populated store (N runs) name a *fixture*: built once per suite run, either by
keeping the last repetition of the case that creates it, or by running its builder
once, untimed; consumers copy it before touching it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.envs import ROOT, Env, file_creation

# Workloads whose time is mostly creating files: each case notes what creating one costs
# on the disk just before it (the report's start and end figures can miss it).
CREATING_WORKLOADS = frozenset({"create", "growth"})

BOOTSTRAP = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from benchmarks.child import main; sys.exit(main(sys.argv[1:]))"
)


@dataclass(frozen=True)
class Fixture:
    """A store of N runs that later cases read; built by ``func`` into its directory."""

    name: str
    func: str
    env: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Case:
    workload: str
    tool: str
    func: str  # "<module>:<function>" inside benchmarks/
    env: str  # key of the interpreter that runs it: gittrack, mlflow or dvc
    args: dict[str, Any] = field(default_factory=dict)
    fixture: str | None = None  # consumed
    provides: str | None = None  # kept from the last repetition
    max_reps: int | None = None  # cap for cases whose repetition costs minutes
    why_capped: str = ""
    alternate: str | None = None  # neighbouring cases sharing it run a repetition each in turn


@dataclass
class Measure:
    label: str
    ops: int
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_op(self) -> float:
        return self.median / self.ops


def wait_for_maintenance(timeout: float = 120.0) -> bool:
    """Wait until no gittrack repository maintenance runs on this machine (False if one
    still runs after ``timeout`` s). A process that created runs starts one, detached, as
    it ends (``gittrack.store.maintain``); left running, the one of a repetition would
    share the cores and the disk with the next and slow its small writes several times
    over (a ref created in 450 µs instead of 30). Linux: looks through ``/proc``."""
    from gittrack.store import maintain

    marker = os.fsencode(maintain.__file__)  # as GitStore.auto_maintain starts it
    deadline = time.monotonic() + timeout
    while True:
        running = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                running = marker in cmdline.read_bytes()
            except OSError:  # the process ended meanwhile
                continue
            if running:
                break
        if not running:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


@dataclass
class CaseResult:
    case: Case
    reps: int = 0
    measures: dict[str, Measure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)  # per missing measure
    wall: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.case.workload,
            "tool": self.case.tool,
            "func": self.case.func,
            "args": self.case.args,
            "reps": self.reps,
            "error": self.error,
            "errors": self.errors,
            "notes": self.notes,
            "wall_seconds": round(self.wall, 3),
            "measures": {
                k: {"label": m.label, "ops": m.ops, "seconds": m.seconds}
                for k, m in self.measures.items()
            },
        }


class Harness:
    def __init__(
        self,
        *,
        workdir: Path,
        envs: dict[str, Env],
        reps: int,
        timeout: float,
        fixtures: dict[str, Fixture],
        reuse_fixtures: bool = False,
    ) -> None:
        self.workdir = workdir
        self.envs = envs
        self.reps = reps
        self.timeout = timeout
        self.fixtures = fixtures
        self.built: dict[str, str | None] = {}  # fixture -> None if ok, else the error
        if workdir.exists() and not reuse_fixtures:
            shutil.rmtree(workdir)
        (workdir / "fixtures").mkdir(parents=True, exist_ok=True)
        self.reuse = reuse_fixtures

    def cleanup(self) -> None:
        """Remove fixtures and scratch stores (kept with --reuse-fixtures)."""
        if not self.reuse:
            for sub in ("fixtures", "cases"):
                shutil.rmtree(self.workdir / sub, ignore_errors=True)

    def _fixture_dir(self, name: str) -> Path:
        return self.workdir / "fixtures" / name

    def _child_env(self, env: Env) -> dict[str, str]:
        child = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        child.update(
            {
                "MLFLOW_ALLOW_FILE_STORE": "true",
                "MLFLOW_DISABLE_TELEMETRY": "true",
                "DO_NOT_TRACK": "1",
                "DVC_NO_ANALYTICS": "1",
                "PATH": f"{env.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            }
        )
        if env.name == "gittrack":
            # Benchmark the checkout, installed or not.
            child["PYTHONPATH"] = str(ROOT)
        return child

    def _spawn(
        self,
        env: Env,
        func: str,
        workdir: Path,
        args: dict[str, Any],
        fixture: Path | None,
        rep: int = 0,
    ) -> dict[str, Any]:
        workdir.mkdir(parents=True, exist_ok=True)
        result = workdir.parent / f"{workdir.name}.result.json"
        log = workdir.parent / f"{workdir.name}.log"
        spec = {
            "func": func,
            "workdir": str(workdir),
            "args": args,
            "fixture": str(fixture) if fixture else None,
            "rep": rep,
        }
        cmd = [
            str(env.python),
            "-c",
            BOOTSTRAP.format(root=str(ROOT)),
            json.dumps(spec),
            str(result),
        ]
        try:
            with log.open("wb") as out:
                proc = subprocess.run(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self._child_env(env),
                    timeout=self.timeout,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            return {"measures": {}, "notes": [], "error": f"timed out after {self.timeout:.0f} s"}
        if not result.exists():
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            return {
                "measures": {},
                "notes": [],
                "error": f"child exited {proc.returncode}: {tail[0][:300]}",
            }
        data: dict[str, Any] = json.loads(result.read_text())
        return data

    def ensure_fixture(self, name: str) -> str | None:
        """Build a fixture unless present; returns an error text when it cannot be had."""
        if name in self.built:
            return self.built[name]
        fx = self.fixtures[name]
        target = self._fixture_dir(name)
        done = target.parent / f"{name}.ok"
        if self.reuse and done.exists():
            self.built[name] = None
            return None
        env = self.envs[fx.env]
        if not env.available:
            self.built[name] = f"{env.name}: {env.note}"
            return self.built[name]
        if target.exists():
            shutil.rmtree(target)
        print(f"[fixture] {name} ...", flush=True)
        start = time.perf_counter()
        data = self._spawn(env, fx.func, target, fx.args, None)
        self.built[name] = data["error"]
        if data["error"] is None:
            done.write_text("ok\n")
        print(
            f"[fixture] {name} {'ok' if data['error'] is None else data['error']} "
            f"({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
        return self.built[name]

    def run_case(self, case: Case) -> CaseResult:
        return self.run_cases([case])[0]

    def run_cases(self, cases: list[Case]) -> list[CaseResult]:
        """Run ``cases`` one repetition each in turn (so that a slow stretch of the machine,
        or of its disk, falls on every case alike: their ratios stay fair)."""
        results = [CaseResult(case) for case in cases]
        pending = [self._repetitions(res) for res in results]
        while pending:
            for reps in list(pending):
                if next(reps, None) is None:
                    pending.remove(reps)
        return results

    def _repetitions(self, res: CaseResult) -> Iterator[bool]:
        """Run ``res.case`` one repetition per step, recording into ``res``."""
        case = res.case
        env = self.envs[case.env]
        if not env.available:
            res.error = f"not run: {env.note}"
            return
        fixture_dir: Path | None = None
        if case.fixture:
            err = self.ensure_fixture(case.fixture)
            if err:
                res.error = f"fixture {case.fixture} failed: {err}"
                return
            fixture_dir = self._fixture_dir(case.fixture)
        reps = min(self.reps, case.max_reps or self.reps)
        if reps < self.reps and case.why_capped:
            res.notes.append(f"{reps} repetition(s) only: {case.why_capped}")
        base = self.workdir / "cases" / f"{case.workload}-{case.tool}"
        if case.workload in CREATING_WORKLOADS:  # their time follows the disk's (README)
            probe = file_creation(self.workdir)
            res.notes.append(f"creating an empty file in the scratch directory first: {probe}")
        for rep in range(reps):
            start = time.perf_counter()
            keep = case.provides is not None and rep == reps - 1 and case.provides not in self.built
            workdir = (
                self._fixture_dir(case.provides) if keep and case.provides else (base / f"rep{rep}")
            )
            if keep and workdir.exists():
                shutil.rmtree(workdir)
            print(f"  [{case.workload}/{case.tool}] rep {rep + 1}/{reps}", flush=True)
            if not wait_for_maintenance():
                res.notes.append("a repository maintenance still ran after 120 s: timed beside it")
            data = self._spawn(env, case.func, workdir, case.args, fixture_dir, rep)
            for note in data["notes"]:
                if note not in res.notes:
                    res.notes.append(note)
            for key, text in data.get("errors", {}).items():
                res.errors.setdefault(key, text)
            for key, m in data["measures"].items():
                measure = res.measures.setdefault(key, Measure(m["label"], m["ops"]))
                measure.seconds.append(m["seconds"])
            if keep and case.provides:
                self.built[case.provides] = data["error"]
                if data["error"] is None:
                    (workdir.parent / f"{case.provides}.ok").write_text("ok\n")
            if not keep:
                shutil.rmtree(workdir, ignore_errors=True)
            if data["error"]:
                res.error = data["error"]
                if case.provides:  # its builder would fail the same way: don't retry
                    self.built.setdefault(case.provides, data["error"])
                res.wall += time.perf_counter() - start
                return
            res.reps = rep + 1
            res.wall += time.perf_counter() - start
            yield True
