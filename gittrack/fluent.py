"""The MLflow-style fluent API: a stack of active runs and module-level logging calls.

Logging with no active run starts one, ended at interpreter exit (as in MLflow). A
``with start_run()`` block ends its run FINISHED, FAILED on an exception, KILLED on
KeyboardInterrupt or SIGTERM. ``GITTRACK_RUN_ID`` makes ``start_run()`` join a run that a
parent process (``gittrack run``) owns; the parent, not this process, ends it.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from gittrack import experiments, session, system_metrics
from gittrack.client import Client
from gittrack.entities import Run, RunData, RunInfo, RunInputs, ViewType
from gittrack.errors import ExperimentError, RunNotActiveError, RunStateError, ValidationError
from gittrack.experiments import Experiment
from gittrack.format import NOTE_TAG
from gittrack.validation import (
    validate_key,
    validate_metric_value,
    validate_name,
    validate_step,
    validate_timestamp,
)
from gittrack.writer import now_ms, resume_op

if TYPE_CHECKING:
    from gittrack import format as fmt
    from gittrack.system_metrics import SystemMetricsMonitor
    from gittrack.writer import RunWriter

log = logging.getLogger("gittrack")


class ActiveRun:
    """A run started by :func:`start_run`; a context manager that ends it."""

    def __init__(self, client: Client, writer: RunWriter, *, owned: bool) -> None:
        self._client = client
        self._writer = writer
        self.owned = owned
        self.system_metrics: SystemMetricsMonitor | None = None

    @property
    def info(self) -> RunInfo:
        return Run.from_record(self._writer.record, self._writer.commit).info

    @property
    def data(self) -> RunData:
        return Run.from_record(self._writer.record, self._writer.commit).data

    @property
    def inputs(self) -> RunInputs:
        """What the run recorded as inputs so far (``log_input``)."""
        return RunInputs.from_entries(self._writer.record.named_inputs())

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None or (issubclass(exc_type, SystemExit) and not _failed_exit(exc)):
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
        end_run(status, _run=self)

    def __repr__(self) -> str:
        return f"<ActiveRun {self._writer.run_id} {self._writer.record.status}>"


def _failed_exit(exc: BaseException | None) -> bool:
    code = getattr(exc, "code", None)
    return code not in (None, 0)


_lock = threading.RLock()
_stack: list[ActiveRun] = []
_last: list[ActiveRun] = []
_experiment: dict[str, str] = {}
_terminated = threading.Event()


def reset() -> None:
    """End every active run (FINISHED), forget the last run and the chosen experiment."""
    with _lock:
        while _stack:
            try:
                end_run()
            except Exception:  # the run stays RUNNING and is detectable as dead
                _stack.pop()
        _last.clear()
        _experiment.clear()


def set_experiment(
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    repo: str | os.PathLike[str] | None = None,
) -> Experiment:
    """Make an experiment the one of runs started from now on (by name or id).

    A name that does not exist yet is created; a deleted experiment is an error.
    """
    if (experiment_name is None) == (experiment_id is None):
        raise ValidationError("give exactly one of experiment_name and experiment_id")
    client = Client(repo)
    if experiment_id is not None:
        experiment = client.get_experiment(experiment_id)
        if experiment.lifecycle_stage != "active":
            raise ExperimentError(
                f"experiment {experiment.name!r} ({experiment.experiment_id}) is deleted: "
                "restore it before making it active"
            )
    else:
        name = validate_name(experiment_name, "experiment")
        experiment = experiments.ensure(client.store, name)
    _experiment["name"] = experiment.name
    return experiment


def _current_experiment() -> str | None:
    return (
        _experiment.get("name")
        or os.environ.get("GITTRACK_EXPERIMENT_NAME")
        or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    )


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
    *,
    experiment: str | None = None,
    repo: str | os.PathLike[str] | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it active; use it as a context manager.

    The run goes to ``experiment_id``, else the experiment named ``experiment``, else the
    one set by :func:`set_experiment`, else ``GITTRACK_EXPERIMENT_NAME``, else Default.
    ``log_system_metrics`` samples CPU, memory, disk and network into ``system/...``
    metrics while the run is active (None: as ``enable_system_metrics_logging()`` says).
    """
    with _lock:
        if _stack and not nested:
            active = _stack[-1]._writer.run_id
            raise RunStateError(f"run {active} is already active; end it first or pass nested=True")
        client = Client(repo)
        owned = True
        env_run = os.environ.get("GITTRACK_RUN_ID")
        if run_id is None and not _stack and env_run:
            run_id, owned = env_run, False
        if run_id is not None:
            writer = client.writable(client.resolve(run_id))
            if owned and writer.record.status != "RUNNING":
                writer.apply(resume_op())
                writer.flush()
            if not owned:
                if experiment_id is not None:
                    experiment = client.get_experiment(experiment_id).name
                _adopt_identity(writer, run_name, experiment or _experiment.get("name"))
            if tags:
                client.set_tags(writer.run_id, tags)
        else:
            if nested and _stack:
                parent_run_id = parent_run_id or _stack[-1]._writer.run_id
            all_tags = dict(tags or {})
            if description is not None:
                all_tags[NOTE_TAG] = description
            if experiment_id is None and experiment is None:
                experiment = _current_experiment()
            created = client.create_run(
                experiment,
                experiment_id=experiment_id,
                run_name=run_name,
                tags=all_tags,
                parent_run_id=parent_run_id,
            )
            writer = client.writer(created.info.run_id)
        run = ActiveRun(client, writer, owned=owned)
        if system_metrics.should_log(log_system_metrics):
            run.system_metrics = system_metrics.monitor_for_run(client, writer.run_id)
        _stack.append(run)
        _install_sigterm_handler()
        return run


def _adopt_identity(writer: RunWriter, name: str | None, experiment: str | None) -> None:
    """The script's own run name and experiment, in a run that ``gittrack run`` owns.

    They apply unless ``gittrack run`` was given them too (``GITTRACK_RUN_GIVEN``): then
    the launcher's win and one warning says so.
    """
    given = os.environ.get("GITTRACK_RUN_GIVEN", "").split(",")
    record = writer.record
    changes: dict[str, str] = {}
    for field, wanted, current, option in (
        ("name", name, record.name, "--name"),
        ("experiment", experiment, record.experiment, "--experiment"),
    ):
        if wanted is None or wanted == current:
            continue
        validate_name(wanted, "run" if field == "name" else "experiment")
        if field in given:
            log.warning(
                "gittrack: %s %r from gittrack run %s wins over %r from the script",
                "run name" if field == "name" else "experiment",
                current,
                option,
                wanted,
            )
        else:
            changes[field] = wanted
    if changes:
        if "experiment" in changes:
            changes["experiment_id"] = experiments.id_of(writer.runs, changes["experiment"])
        writer.apply(_identity_op(changes))
        writer.flush()


def _identity_op(changes: dict[str, str]) -> Callable[[fmt.RunRecord], None]:
    def op(record: fmt.RunRecord) -> None:
        record.name = changes.get("name", record.name)
        if "experiment" in changes:
            record.experiment = changes["experiment"]
            record.experiment_id = changes["experiment_id"]

    return op


def end_run(status: str = "FINISHED", *, _run: ActiveRun | None = None) -> None:
    """End the active run (harmless when none is active, or when called twice)."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise RunStateError(
            f"cannot end a run with status {status!r} (use FINISHED, FAILED or KILLED)"
        )
    with _lock:
        if not _stack:
            return
        run = _run if _run is not None else _stack[-1]
        if run not in _stack:
            return
        # Ending an outer run ends the runs nested inside it first.
        while _stack:
            top = _stack.pop()
            _finish(top, status)
            if top is run:
                break
        _last[:] = [run]


def _finish(run: ActiveRun, status: str) -> None:
    if run.system_metrics is not None:
        run.system_metrics.finish()
    if run.owned:
        run._client.set_terminated(run._writer.run_id, status)
    else:
        run._writer.flush()


def active_run() -> ActiveRun | None:
    """The innermost active run, or None."""
    with _lock:
        return _stack[-1] if _stack else None


def last_active_run() -> Run | None:
    """The active run, else the most recently ended one (read back from the repository)."""
    with _lock:
        run = _stack[-1] if _stack else (_last[0] if _last else None)
    if run is None:
        return None
    return run._client.get_run(run._writer.run_id)


def _ensure_run() -> ActiveRun:
    with _lock:
        return _stack[-1] if _stack else start_run()


def current_client() -> Client:
    """The active run's client, else a reading client of the tracking repository."""
    with _lock:
        if _stack:
            return _stack[-1]._client
    return Client(create=False)


def flush_async_logging() -> None:
    """Write everything this process has buffered, for every run, now (MLflow's name).

    Runs just started become visible to other processes, and every point, param and tag
    logged so far is stored; without it that happens within ``flush_interval`` seconds.
    """
    session.flush_all(strict=True)


def client_and_run_id(run_id: str | None = None) -> tuple[Client, str]:
    """The client and ``run_id`` (resolved), else the active run's (started if none)."""
    if run_id is not None:
        client = Client()
        return client, client.resolve(run_id)
    run = _ensure_run()
    return run._client, run._writer.run_id


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param of the active run (``params.yaml`` keeps its type; ``run.data.params``
    shows MLflow's string form)."""
    client, rid = client_and_run_id()
    return client.log_param(rid, key, value, synchronous)


def log_params(
    params: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> None:
    client, rid = client_and_run_id(run_id)
    client.log_params(rid, params, synchronous)


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> None:
    """Log a metric point of the active run (or ``run_id``); buffered and flushed at the
    run's interval, or before returning with ``synchronous=True``."""
    if run_id is not None or synchronous:
        client, rid = client_and_run_id(run_id)
        client.log_metric(rid, key, value, step, timestamp, synchronous)
        return
    run = _stack[-1] if _stack else _ensure_run()
    writer = run._writer
    try:
        writer.check_active()
    except RunNotActiveError:  # as this process last saw it: the client reads it again
        run._client.writable(writer.run_id)
    writer.log_metric(
        validate_key(key, "metric"),
        validate_metric_value(key, value),
        0 if step is None else validate_step(step),
        now_ms() if timestamp is None else validate_timestamp(timestamp),
    )


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    client, rid = client_and_run_id(run_id)
    client.log_metrics(rid, metrics, step=step, timestamp=timestamp, synchronous=synchronous)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    client, rid = client_and_run_id()
    client.set_tag(rid, key, value, synchronous)


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> None:
    client, rid = client_and_run_id()
    client.set_tags(rid, tags, synchronous)


def delete_tag(key: str) -> None:
    client, rid = client_and_run_id()
    client.delete_tag(rid, key)


def delete_run(run_id: str) -> None:
    """Mark a run deleted (MLflow's soft delete): searches leave it out by default."""
    Client().delete_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    """The run ``run_id`` is nested in, or None."""
    return Client().get_parent_run(run_id)


def get_run(run_id: str, repo: str | os.PathLike[str] | None = None) -> Run:
    """Read a run by id (or unique id/commit prefix or name)."""
    return Client(repo, create=False).get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Any]:
    return Client(create=False).get_metric_history(run_id, key)


# -- experiments --------------------------------------------------------------------------
def create_experiment(
    name: str,
    artifact_location: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> str:
    """Create an experiment and return its id (an existing name is an error)."""
    return Client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id (ExperimentNotFoundError when none)."""
    return Client(create=False).get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment with this name, or None."""
    return Client(create=False).get_experiment_by_name(name)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    """Experiments matching MLflow's experiment filter, newest first by default."""
    return Client(create=False).search_experiments(view_type, max_results, filter_string, order_by)


def delete_experiment(experiment_id: str) -> None:
    """Mark an experiment deleted (its runs stay; ``restore_experiment`` undoes it)."""
    Client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    """Bring a deleted experiment back."""
    Client().restore_experiment(experiment_id)


SEARCH_MAX_RESULTS_DEFAULT = 100_000  # mlflow.search_runs's default


def _active_experiment_id() -> str:
    name = _current_experiment()
    if name is None:
        return experiments.DEFAULT_EXPERIMENT_ID
    return experiments.id_of(Client().store, name)


def search_runs(
    experiment_ids: list[str] | str | None = None,
    filter_string: str | None = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = SEARCH_MAX_RESULTS_DEFAULT,
    order_by: list[str] | str | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
    *,
    repo: str | os.PathLike[str] | None = None,
) -> Any:
    """Search runs as ``mlflow.search_runs`` does: in the active experiment (the one
    :func:`set_experiment` chose, else Default) unless ``experiment_ids`` or
    ``experiment_names`` are given or ``search_all_experiments`` is true; at most
    ``max_results`` (MLflow's 100,000 unless given; None: every match).

    The results and ``output_format`` are those of :func:`gittrack.query.search.search_runs`.
    """
    from gittrack.query.search import search_runs as search

    if not experiment_ids and not experiment_names and not search_all_experiments:
        name = _current_experiment()
        experiment_ids = [
            experiments.DEFAULT_EXPERIMENT_ID
            if name is None
            else experiments.id_of(Client(repo).store, name)
        ]
    return search(
        experiment_ids,
        filter_string,
        run_view_type,
        max_results,
        order_by,
        output_format,
        experiment_names=experiment_names,
        repo=repo,
    )


def set_experiment_tag(key: str, value: Any) -> None:
    """Set a tag of the active experiment."""
    Client().set_experiment_tag(_active_experiment_id(), key, value)


def set_experiment_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags of the active experiment."""
    client = Client()
    eid = _active_experiment_id()
    for key, value in tags.items():
        client.set_experiment_tag(eid, key, value)


def get_tracking_uri() -> str:
    """The tracking repository's root path (created outside git, where runs would go)."""
    return str(Client().repo)


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Select the tracking repository by path or ``file:`` URI (None: back to the default).

    A path inside a git repository selects that repository; any other path becomes (or
    is) a bare tracking repository. The choice is kept in ``GITTRACK_REPO``, so child
    processes inherit it. An ``http(s)`` URI is refused: gittrack records into git, and
    a ``gittrack server`` is reached with the official ``mlflow`` client.
    """
    from gittrack.config import tracking_repository_at

    if uri is None or str(uri) == "":
        os.environ.pop("GITTRACK_REPO", None)
        return
    os.environ["GITTRACK_REPO"] = str(tracking_repository_at(uri))


# -- process exit and SIGTERM -------------------------------------------------------------
def _end_all(status: str) -> None:
    with _lock:
        while _stack:
            end_run(status, _run=_stack[0])


def _at_exit() -> None:
    try:
        _end_all("KILLED" if _terminated.is_set() else "FINISHED")
    except Exception:  # exiting anyway; the run stays RUNNING and is detectable as dead
        pass


atexit.register(_at_exit)
_handler_installed: list[bool] = []


def _install_sigterm_handler() -> None:
    if _handler_installed or threading.current_thread() is not threading.main_thread():
        return
    _handler_installed.append(True)
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main interpreter
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _terminated.set()
    try:
        _end_all("KILLED")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
