"""Run a command as a tracked run (``gittrack run``).

The wrapper creates the run, records the command and its params, starts the child with
``GITTRACK_RUN_ID``/``GITTRACK_REPO``/``GITTRACK_EXPERIMENT_NAME`` in its environment (so
fluent calls inside join the same run; the core merges both writers), tees the child's
stdout and stderr to the given streams and into bounded logs kept with the run, and ends
the run from the child's exit: 0 -> FINISHED, death by SIGINT, SIGTERM, SIGKILL or SIGHUP
(forwarded or not) -> KILLED, anything else -> FAILED.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

from gittrack import format as fmt
from gittrack.client import Client
from gittrack.entities import Run
from gittrack.environment import mask_secrets, os_text
from gittrack.errors import CommandNotFoundError, GittrackError, InputError, ValidationError
from gittrack.project import DEFAULT_ENTRY_POINT, PROJECT_FILES, find_project_file, load_project
from gittrack.validation import normalize_param, user_value, validate_key
from gittrack.writer import RunWriter

log = logging.getLogger("gittrack")

LOG_LIMIT = 10 * 1024 * 1024
STDOUT_LOG = "logs/stdout.txt"
STDERR_LOG = "logs/stderr.txt"
LAUNCHER = "gittrack run"
_KILL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGHUP)


@dataclass(frozen=True)
class CommandPlan:
    """What to execute and what to record about it."""

    argv: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """How a tracked command ended."""

    run_id: str
    commit: str | None
    status: str
    exit_code: int


def parse_param_args(items: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{k: "v"}``; anything without ``=`` is an error."""
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"bad -P {item!r}: write it as key=value")
        params[key.strip()] = value
    return params


def plan_command(
    command: Sequence[str],
    *,
    params: Mapping[str, str],
    entry_point: str | None,
    project_dir: Path,
) -> CommandPlan:
    """Decide what to run: an explicit command, or an entry point of the project file."""
    if command and entry_point is not None:
        raise ValidationError("give either -e ENTRY or a command after --, not both")
    if command:
        values = {k: user_value(v) for k, v in params.items()}
        return CommandPlan(argv=list(command), params=values, info={"params": values})
    if entry_point is None:
        if find_project_file(project_dir) is None:
            if params:
                raise ValidationError(
                    f"-P needs an entry point, and there is no {', '.join(PROJECT_FILES)} in "
                    f"{project_dir} (see docs/projects.md); or give a command after --"
                )
            raise ValidationError("nothing to run: give a command after -- or -e ENTRY")
        entry_point = DEFAULT_ENTRY_POINT
    return plan_entry_point(project_dir, entry_point, dict(params))


def plan_entry_point(project_dir: Path, name: str, given: dict[str, Any]) -> CommandPlan:
    """Validate params against entry point ``name`` and render its command."""
    project = load_project(project_dir)
    entry = project.entry_point(name)
    values = entry.resolve(given)
    shell = entry.render(values)
    info: dict[str, Any] = {
        "entry_point": name,
        "project_file": project.file.name,
        "shell": shell,
        "params": values,
    }
    if project.environment:
        info["project_environment"] = project.environment
    return CommandPlan(argv=["/bin/sh", "-c", shell], params=values, info=info)


def relative_cwd(cwd: Path, root: Path) -> str | None:
    """``cwd`` relative to the repository root (posix), or None outside it."""
    try:
        return os_text(cwd.resolve().relative_to(root.resolve()).as_posix())
    except ValueError:
        return None


class _Tail:
    """The last ``limit`` bytes of a stream."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        while self.size > self.limit:
            first = self.chunks.popleft()
            excess = self.size - self.limit
            if len(first) > excess:
                self.chunks.appendleft(first[excess:])
                self.size -= excess
                self.dropped += excess
            else:
                self.size -= len(first)
                self.dropped += len(first)

    def value(self) -> bytes:
        data = b"".join(self.chunks)
        if self.dropped:
            return b"[gittrack: %d earlier bytes dropped]\n" % self.dropped + data
        return data


def _pump(fd: int, sink: BinaryIO | None, tail: _Tail) -> None:
    echo = sink
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        tail.add(chunk)
        if echo is not None:
            try:
                echo.write(chunk)
                echo.flush()
            except (OSError, ValueError):  # closed or broken terminal: keep logging
                echo = None
    os.close(fd)


def run_tracked(
    plan: CommandPlan,
    *,
    repo: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
    run_name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
    inputs: Sequence[str] = (),
    keep_inputs: bool = False,
    code_from: str | None = None,
    record_cwd: str | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    on_start: Callable[[Run], None] | None = None,
    log_limit: int = LOG_LIMIT,
) -> RunResult:
    """Run ``plan`` as a new tracked run and end the run from the child's exit code."""
    work_dir = (cwd or Path.cwd()).resolve()
    # Mistakes found before the run exists leave no FAILED run behind.
    for key, value in plan.params.items():
        normalize_param(validate_key(key, "param"), value)
    for path in inputs:
        if not os.path.lexists(path):
            raise InputError(f"input {path!r} does not exist (check the path)")
    client = Client(repo)
    run = client.create_run(experiment, run_name=run_name, tags=tags, code_from=code_from)
    run_id = run.info.run_id
    writer = client.writer(run_id)
    try:
        info: dict[str, Any] = {"argv": mask_secrets(plan.argv), "launcher": LAUNCHER}
        where = record_cwd if record_cwd is not None else relative_cwd(work_dir, client.repo)
        if where is not None:
            info["cwd"] = where
        info.update(plan.info)
        writer.apply(_command_op(info))
        if plan.params:
            client.log_params(run_id, plan.params)
        for path in inputs:
            client.log_input(run_id, path, keep=keep_inputs)
        writer.flush()
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    env = dict(os.environ)
    env.update(
        GITTRACK_RUN_ID=run_id,
        GITTRACK_REPO=str(client.repo),
        GITTRACK_EXPERIMENT_NAME=writer.record.experiment,
        PYTHONUNBUFFERED="1",
    )
    given = [what for what, value in (("name", run_name), ("experiment", experiment)) if value]
    env["GITTRACK_RUN_GIVEN"] = ",".join(given)
    if on_start is not None:
        on_start(run)
    out_tail, err_tail = _Tail(log_limit), _Tail(log_limit)
    received: list[int] = []
    # Signals are caught from before the child starts: one that arrives while it starts is
    # forwarded once it exists, never lost nor raised here as KeyboardInterrupt.
    forwarder = _SignalForwarder(received)
    with forwarder:
        try:
            proc = subprocess.Popen(
                plan.argv, cwd=work_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as e:
            reason = "was not found" if isinstance(e, FileNotFoundError) else f"cannot start ({e})"
            if isinstance(e, PermissionError):
                reason = "is not executable"
            message = f"command {plan.argv[0]!r} {reason}"
            err_tail.add(f"gittrack: {message}\n".encode())
            _finish(client, run_id, "FAILED", out_tail, err_tail)
            raise CommandNotFoundError(f"{message} (run {run_id[:12]} marked FAILED)") from e
        forwarder.attach(proc)
        code = _wait(proc, stdout, stderr, out_tail, err_tail)
    if received or code in [-s for s in _KILL_SIGNALS]:
        status = "KILLED"
    else:
        status = "FINISHED" if code == 0 else "FAILED"
    commit = _finish(client, run_id, status, out_tail, err_tail)
    return RunResult(
        run_id=run_id, commit=commit, status=status, exit_code=code if code >= 0 else 128 - code
    )


def _wait(
    proc: subprocess.Popen[bytes],
    stdout: BinaryIO | None,
    stderr: BinaryIO | None,
    out_tail: _Tail,
    err_tail: _Tail,
) -> int:
    """Pump the child's output to ``stdout``/``stderr`` and its tails; its exit code."""
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(os.dup(proc.stdout.fileno()), stdout, out_tail)),
        threading.Thread(target=_pump, args=(os.dup(proc.stderr.fileno()), stderr, err_tail)),
    ]
    proc.stdout.close()
    proc.stderr.close()
    for pump in pumps:
        pump.start()
    code = proc.wait()
    for pump in pumps:
        pump.join()
    return code


def _command_op(info: dict[str, Any]) -> Callable[[fmt.RunRecord], None]:
    def op(record: fmt.RunRecord) -> None:
        record.command = dict(info)

    return op


def _noop(record: fmt.RunRecord) -> None:
    """Forces a flush, which rebases the writer onto what the child wrote."""


def _finish(client: Client, run_id: str, status: str, out: _Tail, err: _Tail) -> str | None:
    """Keep the logs with the run and end it (after catching up with the child's commits)."""
    writer = client.writer(run_id)
    writer.apply(_noop)
    writer.flush()
    logs = {path: tail.value() for path, tail in ((STDOUT_LOG, out), (STDERR_LOG, err))}
    logs = {path: data for path, data in logs.items() if data}
    try:
        _store_logs(writer, logs)
    except GittrackError as e:  # the run must still end; its logs are a convenience
        log.warning("gittrack: the output of run %s was not kept: %s", run_id[:12], e)
    client.set_terminated(run_id, status)
    return writer.commit


def _store_logs(writer: RunWriter, logs: dict[str, bytes]) -> None:
    """Keep the child's output as artifacts of the run."""
    if not logs:
        return
    from gittrack.artifacts.client_api import artifacts_of

    store = artifacts_of(writer.runs)
    store.record(writer, [store.store_bytes(data, path) for path, data in logs.items()])


class _SignalForwarder:
    """Forward SIGINT/SIGTERM to the child while it runs (main thread only).

    A Ctrl-C typed on the terminal already reaches the child (same process group), so
    SIGINT is forwarded only when this process is not the terminal's foreground job.
    """

    def __init__(self, received: list[int]) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.received = received
        self.pending: list[int] = []
        self.previous: dict[int, Any] = {}

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        """Forward to ``proc`` from now on, starting with what arrived while it started."""
        self.proc = proc
        while self.pending:
            self._forward(self.pending.pop(0))

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if signum == signal.SIGINT and _terminal_foreground():
            return
        if self.proc is None:
            self.pending.append(signum)
        else:
            self._forward(signum)

    def _forward(self, signum: int) -> None:
        assert self.proc is not None
        try:
            self.proc.send_signal(signum)
        except OSError:  # already gone
            pass

    def __enter__(self) -> _SignalForwarder:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self.previous[sig] = signal.signal(sig, self._handler)
                except ValueError:  # not the main interpreter
                    pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _terminal_foreground() -> bool:
    try:
        return os.isatty(sys.stdin.fileno()) and os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False
