"""Find runs whose process died while they were RUNNING, and mark them KILLED.

A run is dead when it is RUNNING and either it was started on this host by a process
that no longer exists, or its heartbeat (refreshed at every flush and at least every
heartbeat interval) is older than three heartbeat intervals. Marking it KILLED keeps
everything it flushed before it died.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gittrack.client import Client
from gittrack.environment import current_host
from gittrack.errors import CorruptRunError, RunStateError
from gittrack.experiments import is_deleted
from gittrack.runs import RunStore
from gittrack.session import live_writer

if TYPE_CHECKING:
    from gittrack.format import RunRecord


@dataclass(frozen=True)
class DeadRun:
    """A RUNNING run whose writer is gone, and why we think so."""

    run_id: str
    name: str
    reason: str


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_own_live_writer(client: Client, run_id: str) -> bool:
    return live_writer(client.repo, run_id) is not None


def dead_reason(runs: RunStore, *, host: str, pid: int, heartbeat: int, now_ms: int) -> str | None:
    """Why a RUNNING run with these facts is dead, or None when it may be alive."""
    if host == current_host() and pid and not pid_alive(pid):
        return f"process {pid} on {host} is gone"
    limit_ms = 3 * runs.settings.heartbeat_interval * 1000
    if heartbeat and now_ms - heartbeat > limit_ms:
        minutes = (now_ms - heartbeat) / 60000
        return f"no heartbeat for {minutes:.1f} min"
    return None


def find_dead_runs(client: Client) -> list[DeadRun]:
    """Every RUNNING run of the repository whose writing process is gone."""
    runs = client.store
    dead: list[DeadRun] = []
    for run_id, commit in sorted(runs.list_runs().items()):
        try:
            record = runs.load_commit(commit, what=f"run {run_id}").record
        except CorruptRunError:
            continue
        if record.status != "RUNNING":
            continue
        if record.lifecycle_stage != "active" or is_deleted(runs, record.experiment_id):
            continue  # a deleted run cannot change (MLflow's rule): it stays as it is
        reason = _dead(client, run_id, record)
        if reason is not None:
            dead.append(DeadRun(run_id=run_id, name=record.name, reason=reason))
    return dead


def _dead(client: Client, run_id: str, record: RunRecord) -> str | None:
    """Why the process writing a RUNNING run is gone, or None when it may be alive."""
    if _is_own_live_writer(client, run_id):
        return None
    return dead_reason(
        client.store,
        host=record.host,
        pid=record.pid,
        heartbeat=record.heartbeat,
        now_ms=int(time.time() * 1000),
    )


def may_be_alive(client: Client, run: str) -> str | None:
    """Where the process writing a RUNNING run may still run (``"pid N on HOST"``); None
    when the run is not RUNNING or its process is gone."""
    run_id = client.store.resolve(run)
    record = client.store.load(run_id).record
    if record.status != "RUNNING" or _dead(client, run_id, record) is not None:
        return None
    return f"pid {record.pid} on {record.host}"


def kill_reason(client: Client, run: str, *, force: bool = False) -> tuple[str, str]:
    """The id of the run ``run`` names and why :func:`mark_killed` may mark it KILLED (why it
    is dead, or ``"forced"``); changes nothing. :class:`RunStateError` when it is not
    RUNNING, or may still be alive and not ``force``."""
    runs = client.store
    run_id = runs.resolve(run)
    record = runs.load(run_id).record
    if record.status != "RUNNING":
        raise RunStateError(f"run {run_id[:12]} is {record.status}, not RUNNING")
    reason = _dead(client, run_id, record)
    if reason is None:
        if not force:
            raise RunStateError(
                f"run {run_id[:12]} may still be running on {record.host} (pid {record.pid}); "
                "use --force to mark it KILLED anyway"
            )
        reason = "forced"
    return run_id, reason


def mark_killed(client: Client, run: str, *, force: bool = False) -> str:
    """Mark a RUNNING run KILLED (only when it is dead unless ``force``); return its id."""
    run_id, _ = kill_reason(client, run, force=force)
    client.set_terminated(run_id, "KILLED")
    return run_id
