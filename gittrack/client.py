"""``Client``: explicit, run-id based access to runs (MLflow's ``MlflowClient`` shape).

Writers are shared per process (:mod:`gittrack.session`): logging to one run through the
fluent API and through a client goes into the same buffer, and the buffer is flushed at
the run's interval, when the run ends, before it is read back, and at interpreter exit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import experiments, session
from gittrack import format as fmt
from gittrack.artifacts.client_api import ArtifactsMixin
from gittrack.entities import Metric, Param, Run, RunTag, ViewType
from gittrack.environment import command_info, current_host, current_user, python_environment
from gittrack.errors import (
    ExperimentError,
    ExperimentNotFoundError,
    ParamConflictError,
    RunNotActiveError,
    RunStateError,
    ValidationError,
)
from gittrack.naming import DEFAULT_EXPERIMENT, new_run_id, new_run_name
from gittrack.store.snapshot import snapshot_worktree, warn_untracked_once
from gittrack.validation import (
    check_text,
    normalize_param,
    params_equal,
    validate_key,
    validate_metric_value,
    validate_name,
    validate_step,
    validate_tag_value,
    validate_timestamp,
)
from gittrack.writer import (
    RunWriter,
    delete_tag_op,
    experiment_op,
    lifecycle_op,
    now_ms,
    resume_op,
    set_tags_op,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from gittrack.history import DecodedMetrics
    from gittrack.runs import RunStore


class Client(ArtifactsMixin):
    """Explicit access to the runs of one tracking repository."""

    def __init__(self, repo: str | os.PathLike[str] | None = None, *, create: bool = True) -> None:
        """Open the tracking repository (see :func:`gittrack.session.open_repository`);
        ``create=False`` for a client that only reads: no repository is then an error
        instead of a new ``./.gittrack-runs``."""
        self.store: RunStore = session.open_repository(repo, create=create)

    @property
    def repo(self) -> Path:
        """Root of the tracking repository."""
        return self.store.root

    # -- creating and ending -----------------------------------------------------------
    def create_run(
        self,
        experiment: str | None = None,
        *,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
        code_from: str | None = None,
        experiment_id: str | None = None,
        user: str | None = None,
    ) -> Run:
        """Create a RUNNING run and return it.

        The run is written at its first flush: this process reads it at once, other
        processes within ``flush_interval`` seconds (or after :meth:`flush`). A run that
        ends sooner is written once, in its final state.

        ``experiment`` is a name, ``experiment_id`` an id (give at most one). ``user``
        defaults to the user running this process.
        ``code_from`` (a run commit) reuses that run's code snapshot and parent instead of
        snapshotting the working tree (used by ``gittrack reproduce``).
        """
        runs = self.store
        if experiment_id is not None:
            exp = experiments.get(runs, experiment_id)
            if experiment is not None and experiment != exp.name:
                raise ExperimentError(
                    f"experiment {experiment!r} and experiment id {exp.experiment_id!r} "
                    f"({exp.name!r}) disagree: give one of them"
                )
            experiment = exp.name
        elif experiment is not None and experiment.isascii() and experiment.isdigit():
            _refuse_an_id_for_a_name(runs, experiment)
        experiment = validate_name(
            experiment or os.environ.get("GITTRACK_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT,
            "experiment",
        )
        experiments.check_active(runs, experiment)
        clean_tags = {
            validate_key(k, "tag"): validate_tag_value(k, v) for k, v in (tags or {}).items()
        }
        # MLflow's clients may name the run and its parent by tags: they are the record's
        # name and parent here (and read back as those tags, see format.run_tags).
        run_name = clean_tags.pop(fmt.RUN_NAME_TAG, None) if run_name is None else run_name
        clean_tags.pop(fmt.RUN_NAME_TAG, None)
        tagged_parent = clean_tags.pop(fmt.PARENT_RUN_TAG, None)
        parent_run_id = parent_run_id or tagged_parent
        name = validate_name(run_name, "run") if run_name is not None else new_run_name()
        if parent_run_id is not None:
            parent_run_id = runs.resolve(parent_run_id)
            parent = session.live_writer(runs.root, parent_run_id)
            if parent is not None and parent.commit is None:
                parent.flush()  # a written run never names an unwritten parent
        if code_from is not None:
            origin = runs.load_commit(code_from)
            code_entries, head = origin.code_entries, origin.parent
            source = dict(origin.record.source)
        else:
            snap = snapshot_worktree(runs.git, include_untracked=runs.settings.include_untracked)
            if not runs.settings.include_untracked:
                warn_untracked_once(runs.git, snap)
            code_entries, head = snap.root_entries, runs.git.head_commit()
            source = {"commit": head, "branch": runs.git.head_branch(), "dirty": snap.dirty}
            if runs.git.work_tree is None:  # ./.gittrack-runs or a bare store: no code in git
                head, source = None, {"commit": None, "branch": None, "dirty": False}
        start = start_time if start_time is not None else now_ms()
        record = fmt.RunRecord(
            run_id=new_run_id(),
            name=name,
            experiment=experiment,
            experiment_id=experiments.id_of(runs, experiment),
            status="RUNNING",
            start_time=start,
            user=current_user() if user is None else check_text(user, "user"),
            host=current_host(),
            pid=os.getpid(),
            heartbeat=start,
            parent_run_id=parent_run_id,
            source=source,
            command=command_info(runs.git.work_tree),
            environment=python_environment(),
            tags=clean_tags,
        )
        writer = RunWriter(runs, record, code_entries=code_entries, parent=head, base_commit=None)
        writer.experiment_deleted = False  # checked above
        session.add_writer(writer)
        return Run.from_record(writer.record, writer.commit)

    def writer(self, run_id: str) -> RunWriter:
        """The writer of a run in this process, joining the stored run if needed."""
        return session.writer_of(self.store, run_id)

    def writable(self, run_id: str) -> RunWriter:
        """The writer of a run whose params, metrics, tags, name or status may change:
        as in MLflow, not while the run or its experiment is deleted (RunNotActiveError).

        The experiment is looked up once per writer: a live writer sees this process's
        deletions at once, another process's when it joins the run; before refusing, the
        stored state is read again (another process may have restored the run)."""
        writer = self.writer(run_id)
        if writer.experiment_deleted is None:
            writer.experiment_deleted = experiments.is_deleted(
                self.store, writer.record.experiment_id
            )
        try:
            writer.check_active()
        except RunNotActiveError:
            stored = self.store.load(writer.run_id).record
            writer.see_stage(stored, experiments.is_deleted(self.store, stored.experiment_id))
            writer.check_active()
        return writer

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", end_time: int | None = None
    ) -> None:
        """End a run with ``status`` (FINISHED, FAILED or KILLED) at ``end_time`` (ms, now)."""
        writer = self.writable(self.store.resolve(run_id))
        writer.end(status, end_time)  # a failure keeps the writer and its buffer for a retry
        session.drop_writer(self.store.root, writer.run_id)

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        name: str | None = None,
        *,
        end_time: int | None = None,
    ) -> None:
        """MLflow's ``update_run``: rename a run, end it (FINISHED, FAILED, KILLED) or
        make it RUNNING again."""
        rid = self.store.resolve(run_id)
        if name is not None:
            self.rename_run(rid, name)
        if status == "RUNNING":
            writer = self.writable(rid)
            if writer.record.status != "RUNNING":
                writer.apply(resume_op())
                writer.flush()
        elif status is not None:
            self.set_terminated(rid, status, end_time)

    # -- logging ---------------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log one param (immutable: a value with another MLflow string form is an error).

        ``synchronous=True`` writes it to the repository before returning."""
        validate_key(key, "param")
        normalized = normalize_param(key, value)
        writer = self.writable(run_id)
        writer.log_param(key, normalized)
        _sync(writer, synchronous)
        return value

    def log_params(
        self, run_id: str, params: Mapping[str, Any], synchronous: bool | None = None
    ) -> None:
        writer = self.writable(run_id)
        items = [(validate_key(k, "param"), normalize_param(k, v)) for k, v in params.items()]
        for key, value in items:
            writer.log_param(key, value)
        _sync(writer, synchronous)

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Log one metric point (``step`` defaults to 0, ``timestamp`` to now, in ms).

        Points are buffered; ``synchronous=True`` writes them before returning."""
        writer = self.writable(run_id)
        writer.log_metric(
            validate_key(key, "metric"),
            validate_metric_value(key, value),
            0 if step is None else validate_step(step),
            now_ms() if timestamp is None else validate_timestamp(timestamp),
        )
        _sync(writer, synchronous)

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        writer = self.writable(run_id)
        stamp = now_ms() if timestamp is None else validate_timestamp(timestamp)
        step_value = 0 if step is None else validate_step(step)
        checked = [
            (validate_key(k, "metric"), validate_metric_value(k, v)) for k, v in metrics.items()
        ]
        for key, value in checked:
            writer.log_metric(key, value, step_value, stamp)
        _sync(writer, synchronous)

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: Mapping[str, Any] | Iterable[Param] | None = None,
        tags: Mapping[str, Any] | Iterable[RunTag] | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Log many metric points, params and tags at once.

        ``params`` and ``tags`` are mappings or, as in MLflow, lists of ``Param`` and
        ``RunTag``."""
        params = _pairs(params, Param, "params")
        tags = _pairs(tags, RunTag, "tags")
        writer = self.writable(run_id)
        points = [
            (
                validate_key(m.key, "metric"),
                validate_metric_value(m.key, m.value),
                validate_step(m.step),
                validate_timestamp(m.timestamp),
            )
            for m in metrics
        ]
        if params:
            self.log_params(run_id, params)
        if tags:
            self.set_tags(run_id, tags)
        for key, value, step, stamp in points:
            writer.log_metric(key, value, step, stamp)
        _sync(writer, synchronous)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        self.set_tags(run_id, {key: value}, synchronous)

    def set_tags(
        self, run_id: str, tags: Mapping[str, Any], synchronous: bool | None = None
    ) -> None:
        """Set tags; ``mlflow.runName`` renames the run, as in MLflow."""
        clean = {validate_key(k, "tag"): validate_tag_value(k, v) for k, v in tags.items()}
        name = clean.pop(fmt.RUN_NAME_TAG, None)
        if name is not None:
            self.rename_run(run_id, name)
        writer = self.writable(run_id)
        if clean:
            writer.apply(set_tags_op(clean))
        _sync(writer, synchronous)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; an unknown tag is an error, as in MLflow."""
        writer = self.writable(run_id)
        if key not in writer.record.tags:
            if key in fmt.run_tags(writer.record):  # shown with the tags, but not one
                raise RunStateError(
                    f"tag {key!r} is derived from the run's record (its name, parent, user "
                    "or source), so it cannot be deleted"
                )
            raise RunStateError(f"run {run_id[:12]} has no tag {key!r}")
        writer.apply(delete_tag_op(key))

    def rename_run(self, run_id: str, name: str) -> None:
        """Give a run a new name (MLflow's ``update_run(run_id, name=...)``)."""
        new = validate_name(name, "run")
        writer = self.writable(self.store.resolve(run_id))

        def rename(record: fmt.RunRecord) -> None:
            record.name = new

        writer.apply(rename)

    def log_input(
        self,
        run_id: str,
        source: Any,
        name: str | None = None,
        context: str | None = None,
        keep: bool = False,
    ) -> Any:
        """Record a file, directory or table as an input of a run (see gittrack.lineage)."""
        from gittrack.lineage.inputs import record_input

        return record_input(
            self, self.store.resolve(run_id), source, name=name, context=context, keep=keep
        )

    def flush(self, run_id: str | None = None) -> None:
        """Write buffered data now (all runs of this process when ``run_id`` is None)."""
        for writer in session.writers(self.store.root, run_id):
            writer.flush()

    # -- experiments -----------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Create an experiment and return its id (an existing name is an error)."""
        return experiments.create(self.store, name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> experiments.Experiment:
        """The experiment with this id (ExperimentNotFoundError when none)."""
        return experiments.get(self.store, experiment_id)

    def get_experiment_by_name(self, name: str) -> experiments.Experiment | None:
        """The experiment with this name, or None."""
        return experiments.get_by_name(self.store, name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
    ) -> list[experiments.Experiment]:
        """Experiments matching MLflow's experiment filter, newest first by default."""
        return experiments.search(self.store, view_type, max_results, filter_string, order_by)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment deleted: its runs read as deleted and refuse changes, as in
        MLflow (their commits are left as they are)."""
        self._set_experiment_stage(experiment_id, experiments.delete, deleted=True)

    def restore_experiment(self, experiment_id: str) -> None:
        """Bring a deleted experiment back (runs deleted one by one stay deleted)."""
        self._set_experiment_stage(experiment_id, experiments.restore, deleted=False)

    def _set_experiment_stage(
        self, experiment_id: str, change: Callable[[RunStore, str], None], *, deleted: bool
    ) -> None:
        eid = experiments.get(self.store, experiment_id).experiment_id
        change(self.store, eid)
        for writer in session.writers(self.store.root):  # this process's live runs of it
            if writer.record.experiment_id == eid:
                writer.experiment_deleted = deleted

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an experiment, keeping its id (MLflow's ``rename_experiment``): its
        record, then each of its runs and logged models (a new commit each) name it anew.
        Calling it again finishes a rename that was interrupted."""
        from gittrack.models import logged
        from gittrack.query.search import query_rows

        self.flush()
        before = experiments.rename(self.store, experiment_id, new_name)
        eid = before.experiment_id
        rows = query_rows(None, repo=self.store.root, experiment_ids=[eid], view_type=ViewType.ALL)
        for row in rows:
            if row["experiment"] != new_name:
                writer = self.writer(row["run_id"])
                writer.apply(experiment_op(new_name, eid))
                writer.flush()
        names = {before.name} | {r["experiment"] for r in rows}
        for model in logged.list_logged_models(self.store):
            if model.experiment in names and model.experiment != new_name:
                logged.save(self.store, replace(model, experiment=new_name))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        experiments.set_tag(self.store, experiment_id, key, value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        experiments.delete_tag(self.store, experiment_id, key)

    # -- reading ---------------------------------------------------------------------
    def resolve(self, run: str) -> str:
        """Turn a run id (or prefix), commit prefix or unique name into the run id."""
        return self.store.resolve(run)

    def get_run(self, run_id: str) -> Run:
        """Read a run (any unique id/commit prefix or name works too)."""
        rid = self.store.resolve(run_id)
        session.flush_pending(self.store.root, rid)
        loaded = experiments.as_reported(self.store, self.store.load(rid))
        return Run.from_record(loaded.record, loaded.commit)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged point of one metric, in logging order."""
        rid = self.store.resolve(run_id)
        history = self._history(rid)
        return [] if history is None else history.metrics(key, rid)

    def metric_history_table(self, run_id: str, key: str, *, output_format: str = "pyarrow") -> Any:
        """One metric's history as columns ``step``, ``timestamp``, ``value`` in logging
        order: a ``pyarrow.Table`` (no copy of the decoded history), or a pandas
        ``DataFrame`` with ``output_format="pandas"``. A key the run never logged gives
        no rows."""
        if output_format not in ("pyarrow", "pandas"):
            raise ValidationError(
                f"unknown output_format {output_format!r} (use 'pyarrow' or 'pandas')"
            )
        history = self._history(self.store.resolve(run_id))
        if history is None:
            from gittrack.history import empty_columns

            table = empty_columns()
        else:
            table = history.columns(key)
        return table.to_pandas() if output_format == "pandas" else table

    def _history(self, rid: str) -> DecodedMetrics | None:
        """The decoded metric history of the run with the full id ``rid``."""
        self.flush(rid)
        return self.store.metric_history(rid)

    def metrics_table(self, run_id: str) -> pa.Table | None:
        """The full metric history of a run (key, step, timestamp, value)."""
        rid = self.store.resolve(run_id)
        self.flush(rid)
        return self.store.read_metrics(self.store.load(rid))

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted, as MLflow does: searches leave it out unless asked
        (``run_view_type``), ``get_run`` still reads it, :meth:`restore_run` undoes it."""
        self._set_lifecycle(run_id, "deleted")

    def restore_run(self, run_id: str) -> None:
        """Bring a run marked deleted back (not while its experiment is deleted: it would
        still read as deleted)."""
        rid = self.store.resolve(run_id)
        eid = self.writer(rid).record.experiment_id
        if experiments.is_deleted(self.store, eid):
            raise ExperimentError(
                f"run {rid[:12]} is in the deleted experiment {eid}: restore_experiment"
                f"({eid!r}) brings its runs back"
            )
        self._set_lifecycle(rid, "active")

    def _set_lifecycle(self, run_id: str, stage: str) -> None:
        writer = self.writer(self.store.resolve(run_id))
        writer.apply(lifecycle_op(stage))
        writer.flush()

    def get_parent_run(self, run_id: str) -> Run | None:
        """The run ``run_id`` is nested in, or None."""
        parent = self.get_run(run_id).info.parent_run_id
        return None if parent is None else self.get_run(parent)

    def purge_run(self, run_id: str) -> None:
        """Delete a run's ref for good (its data goes at the next ``git gc``)."""
        rid = self.store.resolve(run_id)
        writer = session.drop_writer(self.store.root, rid)
        if writer is not None:
            writer.ended = True
            if writer.commit is None:
                return  # never written: nothing to delete
        self.store.delete(rid)

    def search_runs(
        self,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        experiment_names: list[str] | None = None,
        max_results: int | None = None,
        output_format: str = "pyarrow",
    ) -> Any:
        """Search this repository's runs (see :func:`gittrack.search_runs`)."""
        from gittrack.query.search import search_runs

        self.flush()
        return search_runs(
            filter_string=filter_string,
            order_by=order_by,
            experiment_names=experiment_names,
            max_results=max_results,
            output_format=output_format,
            repo=self.store.root,
        )


def _refuse_an_id_for_a_name(runs: RunStore, name: str) -> None:
    """``create_run("0")`` from MLflow's habit (``MlflowClient.create_run`` takes an id):
    refused when no experiment has that name and it is an experiment's id, rather than
    filing the run under a new experiment named by the digits."""
    if experiments.get_by_name(runs, name) is not None:
        return
    try:
        exp = experiments.get(runs, name)
    except ExperimentNotFoundError:
        return
    raise ExperimentError(
        f"no experiment is named {name!r}, the id of experiment {exp.name!r}: "
        f"Client.create_run takes a name (or experiment_id={name!r}); "
        "MlflowClient.create_run takes the id"
    )


def _sync(writer: RunWriter, synchronous: bool | None) -> None:
    """``synchronous=True`` (MLflow's argument): write what is buffered now."""
    if synchronous:
        writer.flush()


def _pairs(items: Any, entity: type[Param] | type[RunTag], what: str) -> dict[str, Any]:
    """A mapping, or MLflow's list of Param/RunTag entities, as a dict."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items:
        key, value = getattr(item, "key", None), getattr(item, "value", _NO_VALUE)
        if not isinstance(key, str) or value is _NO_VALUE:
            raise ValidationError(
                f"log_batch {what} must be a mapping or a list of {entity.__name__}"
                f"(key, value), got {type(item).__name__}"
            )
        if what == "params" and key in out and not params_equal(out[key], value):
            raise ParamConflictError(
                f"log_batch params give {key!r} two values ({out[key]!r} and {value!r}); "
                "params are immutable"
            )
        out[key] = value
    return out


_NO_VALUE = object()
