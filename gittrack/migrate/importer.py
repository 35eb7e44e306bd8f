"""Bringing runs from MLflow into gittrack: each run becomes one commit, id kept.

Re-running an import is safe: a run already imported and unchanged in MLflow is left
alone (its ref does not move); a run changed in MLflow since gets a new commit on the
same ref; nothing is duplicated, because the MLflow run id is the gittrack run id.
Items that cannot be read are reported and skipped; what was imported before stays.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gittrack import format as fmt
from gittrack.errors import GittrackError, MigrationError
from gittrack.format import GIT_COMMIT_TAG, PARENT_RUN_TAG
from gittrack.migrate.source import (
    EXPERIMENT_ID_TAG,
    RUN_ID_RE,
    SourceExperiment,
    SourceRegisteredModel,
    SourceRun,
)

if TYPE_CHECKING:
    from gittrack.artifacts.api import Artifacts
    from gittrack.artifacts.manifest import ManifestEntry
    from gittrack.models.logged import LoggedModel
    from gittrack.runs import LoadedRun, RunStore

log = logging.getLogger("gittrack")

Progress = Callable[[int, int], None]
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
# The key of a run's ``source`` holding the fingerprint of the MLflow state last imported.
IMPORT_STATE_KEY = "mlflow_import"


@dataclass(frozen=True)
class ImportSummary:
    """What an import did (or, with ``dry_run``, would do)."""

    source: str
    dry_run: bool
    experiments: int
    runs_found: int
    new: int
    updated: int
    unchanged: int
    points: int
    artifact_bytes: int
    deleted: int = 0
    deleted_skipped: int = 0
    logged_models: int = 0
    models: int = 0
    versions: int = 0
    skipped: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def imported(self) -> int:
        return self.new + self.updated


@dataclass
class _Tally:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    points: int = 0
    artifact_bytes: int = 0
    deleted: int = 0
    deleted_skipped: int = 0
    logged_models: int = 0
    models: int = 0
    versions: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Reader(Protocol):
    """What the importer needs from a store (a file store or a tracking server)."""

    def experiments(self, *, deleted: bool = True) -> list[SourceExperiment]: ...

    def run_items(self, experiment: SourceExperiment) -> Sequence[Any]: ...

    def item_name(self, item: Any) -> str: ...

    def read_run(
        self, experiment: SourceExperiment, item: Any, scratch: Path | None = None
    ) -> SourceRun: ...

    def registered_models(self) -> list[SourceRegisteredModel]: ...

    def close(self) -> None: ...

    problems: list[tuple[str, str]]


def open_reader(source: str | os.PathLike[str]) -> Reader:
    """A reader for an ``http(s)://`` tracking server URL, a sqlite database
    (``sqlite:///mlflow.db`` or the file's path) or a file store directory."""
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        from gittrack.migrate.mlflow_rest import RestReader

        return RestReader(text)
    from gittrack.migrate.mlflow_sqlite import SqliteReader, is_sqlite_source

    if is_sqlite_source(text):
        return SqliteReader(text)
    scheme = re.match(r"^([a-z][a-z0-9]*)(?:\+[a-z0-9]+)?://", text)
    if scheme is not None and scheme.group(1) != "file":
        raise MigrationError(
            f"cannot read {scheme.group(1)} stores directly: give the MLflow tracking "
            "server's http(s):// URL, a sqlite database or a file store directory"
        )
    from gittrack.migrate.mlflow_files import FileStoreReader

    return FileStoreReader(text)


def import_mlflow(
    source: str | os.PathLike[str],
    *,
    runs: RunStore,
    experiments: Sequence[str] = (),
    dry_run: bool = False,
    skip_deleted: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import an MLflow file store directory, a sqlite database (``sqlite:///...`` or the
    file's path) or a tracking server (``http(s)://`` URL, through its REST API) into the
    repository of ``runs``.

    Experiments come with their tags and MLflow id (tag ``gittrack.mlflow.experiment_id``);
    runs deleted in MLflow, and the runs of deleted experiments, are imported deleted
    (hidden, as ``delete_run`` leaves them) unless ``skip_deleted``. MLflow 3's logged
    models come with their run; the model registry (models, versions with their numbers,
    stages, aliases, descriptions and tags) follows when ``experiments`` is empty (it
    limits the import to those experiments, names or ids).
    ``progress(done, total)`` is called after each run.
    """
    reader = open_reader(source)
    try:
        return _import_from(
            reader,
            str(source),
            runs=runs,
            experiments=experiments,
            dry_run=dry_run,
            skip_deleted=skip_deleted,
            progress=progress,
        )
    finally:
        reader.close()


def _import_from(
    reader: Reader,
    source: str,
    *,
    runs: RunStore,
    experiments: Sequence[str],
    dry_run: bool,
    skip_deleted: bool,
    progress: Progress | None,
) -> ImportSummary:
    chosen = _choose(reader.experiments(), experiments)
    tally = _Tally()
    work: list[tuple[SourceExperiment, Any]] = []
    for experiment in chosen:
        items = reader.run_items(experiment)
        if experiment.lifecycle_stage != "active" and skip_deleted:
            tally.deleted += len(items)
            tally.deleted_skipped += len(items)
            continue
        work += [(experiment, item) for item in items]
    total = len(work)
    named = {}
    if not dry_run:
        named = {
            e.experiment_id: _import_experiment(runs, e, tally)
            for e in chosen
            if e.lifecycle_stage == "active" or not skip_deleted
        }

    def read_all(scratch: Path) -> Iterator[SourceRun | None]:
        for index, (experiment, item) in enumerate(work):
            # A tracking server's artifacts are downloaded into the run's own scratch
            # folder, removed once the run is written (a file store's are read in place).
            folder = scratch / f"run-{index}"
            try:
                yield reader.read_run(experiment, item, folder)
            except MigrationError as e:
                tally.skipped.append((f"run {reader.item_name(item)}", e.message))
                yield None
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    with tempfile.TemporaryDirectory(prefix="gittrack-import-") as scratch:
        _import_runs(
            runs,
            read_all(Path(scratch)),
            tally,
            dry_run=dry_run,
            skip_deleted=skip_deleted,
            progress=progress,
            total=total,
        )
    if not dry_run:
        for experiment in chosen:
            _set_lifecycle(runs, experiment, named.get(experiment.experiment_id), tally)
    if not experiments:
        from gittrack.migrate.registry_import import import_registry

        found = reader.registered_models()
        if dry_run:
            tally.models = len(found)
            tally.versions = sum(len(m.versions) for m in found)
        else:
            tally.models, tally.versions = import_registry(runs, found, tally.skipped)
    tally.skipped += reader.problems
    return ImportSummary(
        source=source,
        dry_run=dry_run,
        experiments=len(chosen),
        runs_found=total,
        new=tally.new,
        updated=tally.updated,
        unchanged=tally.unchanged,
        points=tally.points,
        artifact_bytes=tally.artifact_bytes,
        deleted=tally.deleted,
        deleted_skipped=tally.deleted_skipped,
        logged_models=tally.logged_models,
        models=tally.models,
        versions=tally.versions,
        skipped=tuple(tally.skipped),
    )


def _import_experiment(runs: RunStore, source: SourceExperiment, tally: _Tally) -> str | None:
    """Create the experiment (or bring its tags up to date) with MLflow's id as a tag;
    return the gittrack experiment id (None when the name cannot be used)."""
    from gittrack import experiments as exps
    from gittrack.validation import validate_name

    try:
        name = validate_name(source.name, "experiment")
        tags = {**source.tags, EXPERIMENT_ID_TAG: source.experiment_id}
        existing = exps.get_by_name(runs, name)
        if existing is None:
            return exps.create(runs, name, tags=tags, creation_time=source.creation_time)
        for key, value in tags.items():
            if existing.tags.get(key) != value:
                exps.set_tag(runs, existing.experiment_id, key, value)
        return existing.experiment_id
    except GittrackError as e:
        tally.skipped.append((f"experiment {source.name!r}", e.message))
        return None


def _set_lifecycle(
    runs: RunStore, source: SourceExperiment, experiment_id: str | None, tally: _Tally
) -> None:
    """Delete (or restore) the gittrack experiment as MLflow has it, once its runs are in."""
    from gittrack import experiments as exps

    if experiment_id is None:
        return
    try:
        current = exps.get(runs, experiment_id).lifecycle_stage
        if source.lifecycle_stage == "deleted" and current != "deleted":
            exps.delete(runs, experiment_id)
        elif source.lifecycle_stage == "active" and current == "deleted":
            exps.restore(runs, experiment_id)
    except GittrackError as e:
        tally.skipped.append((f"experiment {source.name!r}", e.message))


def _choose(found: list[SourceExperiment], wanted: Sequence[str]) -> list[SourceExperiment]:
    if not wanted:
        return found
    chosen = [e for e in found if e.name in wanted or e.experiment_id in wanted]
    missing = [w for w in wanted if not any(w in (e.name, e.experiment_id) for e in chosen)]
    if missing:
        raise MigrationError(f"the MLflow store has no experiment {missing[0]!r}")
    return chosen


def _import_runs(
    runs: RunStore,
    items: Iterator[SourceRun | None],
    tally: _Tally,
    *,
    dry_run: bool,
    skip_deleted: bool,
    progress: Progress | None,
    total: int,
) -> None:
    from gittrack.artifacts.client_api import artifacts_of

    existing = runs.list_runs()
    store = artifacts_of(runs)
    for done, run in enumerate(items, 1):
        if run is not None:
            deleted = "deleted" in (run.lifecycle_stage, run.experiment.lifecycle_stage)
            tally.deleted += deleted
            if deleted and skip_deleted:
                tally.deleted_skipped += 1
            else:
                _import_one(runs, store, run, existing.get(run.run_id), tally, dry_run=dry_run)
        if progress is not None:
            progress(done, total)


def _import_one(
    runs: RunStore,
    store: Artifacts,
    run: SourceRun,
    current: str | None,
    tally: _Tally,
    *,
    dry_run: bool,
) -> None:
    from gittrack.artifacts.manifest import read_manifest, set_entries_op
    from gittrack.runs import RefConflict
    from gittrack.validation import validate_name
    from gittrack.writer import write_complete_run

    item = f"run {run.run_id}"
    try:
        experiment = validate_name(run.experiment.name, "experiment")
    except GittrackError as e:
        tally.skipped.append((item, e.message))
        return
    try:
        name = validate_name(run.name, "run")
    except GittrackError as e:
        tally.skipped.append((item, f"{e.message}: the run id is used as its name"))
        name = run.run_id
    tally.skipped += [(item, problem) for problem in run.problems]
    if dry_run:
        tally.points += run.points
        tally.logged_models += len(run.logged_models)
        for name, local in run.artifacts:
            try:
                tally.artifact_bytes += local.stat().st_size
            except OSError as e:
                tally.skipped.append((item, f"artifact {name!r} cannot be read: {e.strerror}"))
        if current is None:
            tally.new += 1
        else:
            tally.unchanged += 1  # a real import tells unchanged from updated
        return
    parent = run.tags.get(PARENT_RUN_TAG)
    commit = run.tags.get(GIT_COMMIT_TAG, "")
    record = fmt.RunRecord(
        run_id=run.run_id,
        name=name,
        experiment=experiment,
        status=run.status,
        start_time=run.start_time,
        end_time=run.end_time,
        user=run.user,
        heartbeat=run.end_time or run.start_time,
        parent_run_id=parent if parent and RUN_ID_RE.match(parent) else None,
        source={"commit": commit} if _HEX40.match(commit) else {},
        params=dict(run.params),
        tags=dict(run.tags),
        inputs=list(run.inputs),
        lifecycle_stage="deleted" if run.lifecycle_stage == "deleted" else "active",
        deleted_time=run.deleted_time if run.lifecycle_stage == "deleted" else None,
    )
    models = _place_models(runs, run)
    entries: list[ManifestEntry] = []
    if run.artifacts_elsewhere and current is not None:
        entries += read_manifest(runs, current, item).values()  # what an import brought
    for path, source in run.artifacts + [a for _, files in models for a in files]:
        try:
            entries.append(store.store_file(source, path))
        except GittrackError as e:
            tally.skipped.append((item, f"artifact {path!r}: {e.message}: skipped"))
    set_entries_op(entries)(record)
    state = fingerprint(record, [(h.key, h.steps, h.timestamps, h.values) for h in run.metrics])
    if current is not None:
        before = runs.load_commit(current, what=item)
        now = None
        imported = before.record.source.get(IMPORT_STATE_KEY)
        if imported is None:  # imported before fingerprints were kept: compare the states
            imported = now = _current_fingerprint(runs, before)
        if imported == state:  # MLflow's run is as it was at the last import
            tally.logged_models += _save_models(runs, run, models, tally)  # their own fields
            tally.unchanged += 1
            return
        if (now or _current_fingerprint(runs, before)) != imported:
            tally.skipped.append(
                (
                    item,
                    "changed in gittrack since it was imported, and in MLflow too: left as it is",
                )
            )
            return
    record.source[IMPORT_STATE_KEY] = state
    files = {f"{fmt.ARTIFACT_BLOBS_DIR}/{e.path}": e.blob for e in entries if e.blob}
    try:
        _, changed = write_complete_run(
            runs, record, histories=run.metrics, run_files=files, expected=current
        )
    except RefConflict:
        tally.skipped.append((item, "changed in gittrack while importing: try again"))
        return
    tally.logged_models += _save_models(runs, run, models, tally)
    if not changed:
        tally.unchanged += 1
        return
    if current is None:
        tally.new += 1
    else:
        tally.updated += 1
    tally.points += run.points
    tally.artifact_bytes += sum(e.size for e in entries)


def fingerprint(
    record: fmt.RunRecord,
    histories: Iterable[tuple[str, Sequence[int], Sequence[int], Sequence[float]]],
) -> str:
    """A digest of what an import takes from MLflow: the run's fields, params, tags,
    inputs, artifact digests and every metric point. Kept in the run's ``source`` so a
    later import tells what changed in MLflow from what changed in gittrack."""
    import hashlib
    import json
    from array import array

    from gittrack.validation import param_text

    state = {
        "run": [
            record.name,
            record.experiment,
            record.status,
            record.start_time,
            record.end_time,
            record.user,
            record.parent_run_id,
            record.lifecycle_stage,
        ],
        "params": {k: param_text(v) for k, v in record.params.items()},
        "tags": record.tags,
        "inputs": record.inputs,
        "artifacts": {path: entry.get("sha256") for path, entry in record.artifacts.items()},
    }
    digest = hashlib.sha256(
        json.dumps(state, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    )
    for key, steps, stamps, values in sorted(histories, key=lambda h: h[0]):
        if not values:
            continue  # a key without points is not stored
        digest.update(f"\n{len(values)} {key}\n".encode())
        digest.update(array("q", steps).tobytes() + array("q", stamps).tobytes())
        digest.update(array("d", values).tobytes())
    return digest.hexdigest()


def _current_fingerprint(runs: RunStore, loaded: LoadedRun) -> str:
    """The fingerprint of a run as gittrack holds it now."""
    table = runs.read_metrics(loaded)
    per_key: dict[str, tuple[list[int], list[int], list[float]]] = {}
    if table is not None:
        columns = [table.column(name).to_pylist() for name in ("key", "step", "timestamp", "value")]
        for key, step, stamp, value in zip(*columns, strict=True):
            steps, stamps, values = per_key.setdefault(key, ([], [], []))
            steps.append(step)
            stamps.append(stamp)
            values.append(value)
    record = loaded.record
    return fingerprint(record, [(key, *points) for key, points in per_key.items()])


def _place_models(
    runs: RunStore, run: SourceRun
) -> list[tuple[LoggedModel, list[tuple[str, Path]]]]:
    """Each logged model of ``run`` with the run artifact path its files go under (the
    model's name when free, else ``models/<model id>``, as :func:`logged.create` picks;
    a model imported before keeps its path) and those files."""
    from gittrack.models import logged

    placed: list[tuple[LoggedModel, list[tuple[str, Path]]]] = []
    taken = {path.partition("/")[0] for path, _ in run.artifacts}
    for source in run.logged_models:
        try:
            path = logged.get(runs, source.model_id).artifact_path
        except GittrackError:
            path = source.name if source.name not in taken else f"models/{source.model_id}"
        taken.add(path.partition("/")[0])
        model = logged.LoggedModel(
            model_id=source.model_id,
            name=source.name,
            experiment=run.experiment.name,
            run_id=run.run_id,
            artifact_path=path,
            status=source.status,
            model_type=source.model_type,
            created=source.created,
            updated=source.updated,
            tags=dict(source.tags),
            params=dict(source.params),
        )
        placed.append((model, [(f"{path}/{rel}", file) for rel, file in source.artifacts]))
    return placed


def _save_models(
    runs: RunStore,
    run: SourceRun,
    models: list[tuple[LoggedModel, list[tuple[str, Path]]]],
    tally: _Tally,
) -> int:
    from gittrack.models import logged

    saved = 0
    for model, _ in models:
        try:
            saved += logged.save(runs, model)
        except GittrackError as e:
            tally.skipped.append((f"logged model {model.model_id} of run {run.run_id}", e.message))
    return saved
