"""Writing gittrack's runs as an MLflow file store that the ``mlflow`` package reads.

The layout is the one :mod:`gittrack.migrate.mlflow_files` reads (MLflow's
``FileStore``): experiments under their gittrack experiment ids (``0`` for Default),
deleted ones under ``.trash/``; each run with ``meta.yaml``, ``params/``, ``tags/``,
``metrics/`` (one ``"<timestamp> <value> <step>"`` line per point, in logging order),
dataset inputs and its artifacts (verified while copied); the model registry under
``models/`` (versions, tags, aliases) as MLflow's file registry keeps it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import format as fmt
from gittrack.entities import mlflow_dataset
from gittrack.errors import GittrackError, MigrationError
from gittrack.migrate.locations import local_directory
from gittrack.migrate.registry_export import export_logged_model, export_registry, link_output
from gittrack.migrate.source import EXPERIMENT_ID_TAG, NUMBER_BY_STATUS

if TYPE_CHECKING:
    from gittrack.artifacts.api import Artifacts
    from gittrack.experiments import Experiment
    from gittrack.models.logged import LoggedModel
    from gittrack.runs import LoadedRun, RunStore

TRASH = ".trash"
SOURCE_TYPE_LOCAL = 4  # MLflow's SourceType.LOCAL, written by its FileStore


@dataclass(frozen=True)
class MlflowExport:
    """What an export to an MLflow file store wrote."""

    dest: str
    experiments: int
    runs: int
    points: int
    artifact_bytes: int
    models: int
    versions: int
    skipped: tuple[tuple[str, str], ...] = ()


def mlflow_text(value: Any) -> str:
    """A param value as MLflow stores it (``str()``: ``0.1`` -> ``"0.1"``, True -> ``"True"``)."""
    return value if isinstance(value, str) else str(value)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def _write_values(top: Path, values: Mapping[str, str]) -> None:
    """One file per key (keys with '/' are nested folders), the value as its content."""
    for key, value in values.items():
        _write(top.joinpath(*key.split("/")), value)


def _uri(path: Path) -> str:
    return path.resolve().as_uri()


def export_mlflow(
    dest: str | os.PathLike[str],
    *,
    runs: RunStore,
    progress: Callable[[int, int], None] | None = None,
) -> MlflowExport:
    """Write every experiment, run (deleted ones deleted), logged model and registered
    model of ``runs`` as an MLflow file store at ``dest``.

    ``dest`` is absent, empty, or an MLflow file store (an earlier export, or a store
    MLflow wrote): then the export merges into it: an experiment of the same name is
    reused, each run, logged model and model version gittrack holds replaces its copy
    there, and everything else in the store stays. Any other non-empty path is refused.
    Experiments imported from MLflow keep their MLflow id (``gittrack.mlflow.experiment_id``).
    """
    from gittrack.artifacts.client_api import artifacts_of
    from gittrack.entities import ViewType
    from gittrack.experiments import list_experiments
    from gittrack.models.logged import list_logged_models

    root = local_directory(
        dest,
        "an MLflow file store",
        "export into a directory (then, for a database, run MLflow's `mlflow migrate-filestore`)",
    )
    existing = _existing_store(root)
    (root / TRASH).mkdir(parents=True, exist_ok=True)
    experiments = {e.name: e for e in list_experiments(runs, ViewType.ALL)}
    folders = _experiment_folders(root, experiments, existing)
    for exp in experiments.values():
        folder = folders[exp.name]
        meta = {
            "artifact_location": _uri(folder),
            "creation_time": exp.creation_time,
            "experiment_id": folder.name,
            "last_update_time": exp.last_update_time,
            "lifecycle_stage": exp.lifecycle_stage,
            "name": exp.name,
        }
        _write(folder / "meta.yaml", fmt.dump_yaml(meta))
        _write_values(
            folder / "tags", {k: v for k, v in exp.tags.items() if k != EXPERIMENT_ID_TAG}
        )
    store = artifacts_of(runs)
    current = runs.list_runs()
    models: dict[str, list[LoggedModel]] = {}
    for model in list_logged_models(runs):
        if model.run_id is not None:  # written with their runs; one outside a run is not
            models.setdefault(model.run_id, []).append(model)
    skipped: list[tuple[str, str]] = []
    locations: dict[tuple[str, str], str] = {}
    points = artifact_bytes = written = 0
    for done, (run_id, commit) in enumerate(sorted(current.items()), 1):
        try:
            loaded = runs.load_commit(commit, what=f"run {run_id}")
            run_folder = folders.get(loaded.record.experiment)
            if run_folder is None:
                raise MigrationError(f"experiment {loaded.record.experiment!r} is unknown")
            old = existing.runs.get(run_id)
            if old is not None:
                shutil.rmtree(old)  # gittrack's state of the run replaces the old copy
            n, size = _export_run(
                runs, store, loaded, run_folder, models.get(run_id, []), locations, skipped
            )
            points += n
            artifact_bytes += size
            written += 1
        except GittrackError as e:
            skipped.append((f"run {run_id}", e.message))
        if progress is not None:
            progress(done, len(current))
    n_models, n_versions = export_registry(runs, root, locations, skipped, _write, _write_values)
    return MlflowExport(
        dest=str(root),
        experiments=len(experiments),
        runs=written,
        points=points,
        artifact_bytes=artifact_bytes,
        models=n_models,
        versions=n_versions,
        skipped=tuple(skipped),
    )


@dataclass
class _Existing:
    """What an MLflow file store at the destination already holds."""

    experiments: dict[str, Path] = field(default_factory=dict)  # name -> folder
    ids: set[str] = field(default_factory=set)
    runs: dict[str, Path] = field(default_factory=dict)  # run id -> folder


def _existing_store(root: Path) -> _Existing:
    """Refuse a destination that is neither absent, empty, nor an MLflow file store."""
    found = _Existing()
    if not root.exists():
        root.mkdir(parents=True)
        return found
    if not root.is_dir():
        raise MigrationError(f"{root} exists and is not a directory: refused")
    entries = [p for p in root.iterdir() if p.name != TRASH]
    if not entries and not any((root / TRASH).glob("*")):
        return found
    folders = [p for p in entries if p.is_dir() and (p / "meta.yaml").is_file()]
    folders += [p for p in (root / TRASH).glob("*") if (p / "meta.yaml").is_file()]
    registry = root / "models"
    if not folders and not (registry.is_dir() and any(registry.glob("*/meta.yaml"))):
        raise MigrationError(
            f"{root} is not empty and is not an MLflow file store: refused "
            "(export into an empty directory, or into an MLflow store to merge)"
        )
    for folder in folders:
        try:
            meta = fmt.load_yaml(folder.joinpath("meta.yaml").read_bytes(), str(folder))
        except (OSError, GittrackError) as e:
            raise MigrationError(f"{folder}/meta.yaml cannot be read: refused ({e})") from e
        if not isinstance(meta, dict) or "name" not in meta:
            raise MigrationError(f"{folder}/meta.yaml names no experiment: refused")
        found.experiments.setdefault(str(meta["name"]), folder)
        found.ids.add(folder.name)
        for run_dir in folder.iterdir():
            if len(run_dir.name) == 32 and (run_dir / "meta.yaml").is_file():
                found.runs[run_dir.name] = run_dir
    return found


def _experiment_folders(
    root: Path, experiments: Mapping[str, Experiment], existing: _Existing
) -> dict[str, Path]:
    """Each experiment's folder: the store's experiment of that name, else the MLflow id
    it was imported with, else its gittrack id; an id already taken gets a new number.
    Deleted experiments go under ``.trash`` (a merged one is moved there, or back)."""
    taken = set(existing.ids)
    folders: dict[str, Path] = {}
    for exp in sorted(experiments.values(), key=lambda e: e.experiment_id):
        top = root / TRASH if exp.lifecycle_stage == "deleted" else root
        old = existing.experiments.get(exp.name)
        if old is not None:
            folders[exp.name] = top / old.name
            if old != top / old.name:
                os.replace(old, top / old.name)
            continue
        wanted = exp.tags.get(EXPERIMENT_ID_TAG, "")
        eid = wanted if wanted.isdigit() and wanted not in taken else exp.experiment_id
        if eid in taken:
            eid = str(max((int(i) for i in taken if i.isdigit()), default=0) + 1)
        taken.add(eid)
        folders[exp.name] = top / eid
    return folders


def _export_run(
    runs: RunStore,
    store: Artifacts,
    loaded: LoadedRun,
    folder: Path,
    models: list[LoggedModel],
    locations: dict[tuple[str, str], str],
    skipped: list[tuple[str, str]],
) -> tuple[int, int]:
    """One run; its logged models' files go to their model folders, not its artifacts."""
    record = loaded.record
    experiment_id = folder.name
    run_dir = folder / record.run_id
    meta: dict[str, Any] = {
        "artifact_uri": _uri(run_dir / "artifacts"),
        "end_time": record.end_time,
        "entry_point_name": "",
        "experiment_id": experiment_id,
        "lifecycle_stage": record.lifecycle_stage,
        "run_id": record.run_id,
        "run_name": record.name,
        "source_name": "",
        "source_type": SOURCE_TYPE_LOCAL,
        "source_version": "",
        "start_time": record.start_time,
        "status": NUMBER_BY_STATUS[record.status],
        "tags": [],
        "user_id": record.user,
    }
    if record.deleted_time is not None:  # MLflow's gc --older-than counts from it
        meta["deleted_time"] = record.deleted_time
    for sub in ("metrics", "params", "tags", "artifacts"):  # MLflow finds runs by these
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    _write(run_dir / "meta.yaml", fmt.dump_yaml(meta))
    _write_values(run_dir / "params", {k: mlflow_text(v) for k, v in record.params.items()})
    _write_values(run_dir / "tags", fmt.run_tags(record))
    points = _export_metrics(runs, loaded, run_dir / "metrics")
    _export_inputs(record, run_dir, folder)
    manifest = store.manifest(record.run_id)
    homes = [(f"{m.artifact_path}/", m) for m in models]
    model_dirs: dict[str, Path] = {}
    for model in models:
        model_dirs[model.model_id] = export_logged_model(
            model, folder, experiment_id, _write, _write_values
        )
        link_output(run_dir, model.model_id, _write)
        locations[(record.run_id, model.artifact_path)] = _uri(model_dirs[model.model_id])
    for path in {str(p).rsplit("/MLmodel", 1)[0] for p in manifest if str(p).endswith("MLmodel")}:
        locations.setdefault((record.run_id, path), _uri(run_dir / "artifacts" / path))
    size = 0
    for path, entry in manifest.items():
        home = next((m for prefix, m in homes if path.startswith(prefix)), None)
        if home is None:
            target = (run_dir / "artifacts").joinpath(*path.split("/"))
        else:
            inner = path[len(home.artifact_path) + 1 :]
            target = model_dirs[home.model_id].joinpath(*inner.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "wb") as out:
                store.write_to(record.run_id, entry, out)
        except GittrackError as e:
            target.unlink(missing_ok=True)
            skipped.append((f"run {record.run_id}", f"artifact {path!r}: {e.message}"))
            continue
        except OSError as e:
            raise MigrationError(f"cannot write {target}: {e.strerror or e}") from e
        size += entry.size
    return points, size


def _export_metrics(runs: RunStore, loaded: LoadedRun, top: Path) -> int:
    table = runs.read_metrics(loaded)
    if table is None or not table.num_rows:
        return 0
    lines: dict[str, list[str]] = {}
    keys = table.column("key").cast("string").to_pylist()
    steps = table.column("step").to_pylist()
    stamps = table.column("timestamp").to_pylist()
    values = table.column("value").to_pylist()
    for key, step, stamp, value in zip(keys, steps, stamps, values, strict=True):
        # MLflow writes f"{timestamp} {value} {step}": repr of the float, nan and inf too.
        lines.setdefault(key, []).append(f"{stamp} {value!r} {step}\n")
    for key, items in lines.items():
        _write(top.joinpath(*key.split("/")), "".join(items))
    return len(keys)


def _md5(*parts: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


def _export_inputs(record: fmt.RunRecord, run_dir: Path, folder: Path) -> None:
    """Dataset inputs as MLflow links them: a dataset under the experiment, an input
    under the run, with MLflow's ids (md5 of name and digest; of dataset id and run id)."""
    for name, entry in record.named_inputs():
        dataset, tags = mlflow_dataset(name, entry)
        dataset_id = _md5(name, dataset["digest"])
        dataset_dir = folder / "datasets" / dataset_id
        if not (dataset_dir / "meta.yaml").exists():
            _write(dataset_dir / "meta.yaml", fmt.dump_yaml(dataset))
        link = {
            "destination_id": dataset_id,  # as MLflow writes it
            "destination_type": "RUN",
            "source_id": dataset_id,
            "source_type": "DATASET",
            "tags": tags,
        }
        _write(
            run_dir / "inputs" / _md5(dataset_id, record.run_id) / "meta.yaml", fmt.dump_yaml(link)
        )
