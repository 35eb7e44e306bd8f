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
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import format as fmt
from gittrack.errors import GittrackError, MigrationError
from gittrack.migrate.source import (
    DATASET_CONTEXT_TAG,
    MLFLOW_DIGEST_PREFIX,
    NUMBER_BY_STATUS,
)

if TYPE_CHECKING:
    from gittrack.artifacts.api import Artifacts
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
    """Write every experiment, run and registered model of ``runs`` into a new MLflow
    file store at ``dest`` (which must be absent or empty)."""
    from gittrack.artifacts.client_api import artifacts_of
    from gittrack.entities import ViewType
    from gittrack.experiments import list_experiments

    root = Path(dest)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise MigrationError(f"{root} exists and is not an empty directory: refused")
    root.mkdir(parents=True, exist_ok=True)
    (root / TRASH).mkdir()
    experiments = {e.name: e for e in list_experiments(runs, ViewType.ALL)}
    folders: dict[str, Path] = {}
    for exp in experiments.values():
        folder = (root / TRASH if exp.lifecycle_stage == "deleted" else root) / exp.experiment_id
        folders[exp.name] = folder
        meta = {
            "artifact_location": _uri(folder),
            "creation_time": exp.creation_time,
            "experiment_id": exp.experiment_id,
            "last_update_time": exp.last_update_time,
            "lifecycle_stage": exp.lifecycle_stage,
            "name": exp.name,
        }
        _write(folder / "meta.yaml", fmt.dump_yaml(meta))
        _write_values(folder / "tags", exp.tags)
    store = artifacts_of(runs)
    current = runs.list_runs()
    skipped: list[tuple[str, str]] = []
    points = artifact_bytes = written = 0
    for done, (run_id, commit) in enumerate(sorted(current.items()), 1):
        try:
            loaded = runs.load_commit(commit, what=f"run {run_id}")
            run_folder = folders.get(loaded.record.experiment)
            if run_folder is None:
                raise MigrationError(f"experiment {loaded.record.experiment!r} is unknown")
            n, size = _export_run(runs, store, loaded, run_folder, run_folder.name, skipped)
            points += n
            artifact_bytes += size
            written += 1
        except GittrackError as e:
            skipped.append((f"run {run_id}", e.message))
        if progress is not None:
            progress(done, len(current))
    models, versions = _export_registry(runs, root, folders, skipped)
    return MlflowExport(
        dest=str(root),
        experiments=len(experiments),
        runs=written,
        points=points,
        artifact_bytes=artifact_bytes,
        models=models,
        versions=versions,
        skipped=tuple(skipped),
    )


def _export_run(
    runs: RunStore,
    store: Artifacts,
    loaded: LoadedRun,
    folder: Path,
    experiment_id: str,
    skipped: list[tuple[str, str]],
) -> tuple[int, int]:
    record = loaded.record
    run_dir = folder / record.run_id
    meta: dict[str, Any] = {
        "artifact_uri": _uri(run_dir / "artifacts"),
        "end_time": record.end_time,
        "entry_point_name": "",
        "experiment_id": experiment_id,
        "lifecycle_stage": "active",
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
    for sub in ("metrics", "params", "tags", "artifacts"):  # MLflow finds runs by these
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    _write(run_dir / "meta.yaml", fmt.dump_yaml(meta))
    _write_values(run_dir / "params", {k: mlflow_text(v) for k, v in record.params.items()})
    _write_values(run_dir / "tags", fmt.run_tags(record))
    points = _export_metrics(runs, loaded, run_dir / "metrics")
    _export_inputs(record, run_dir, folder)
    manifest = store.manifest(record.run_id)
    size = 0
    for path, entry in manifest.items():
        target = (run_dir / "artifacts").joinpath(*path.split("/"))
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
    for entry in record.inputs:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        kept = entry.get("mlflow") if isinstance(entry.get("mlflow"), dict) else None
        name = str(entry["name"])
        if kept is not None:
            dataset: dict[str, Any] = {
                "digest": str(kept.get("digest", "")),
                "name": name,
                "source": str(kept.get("source", "")),
                "source_type": str(kept.get("source_type", "")),
            }
            for optional in ("schema", "profile"):
                if kept.get(optional) is not None:
                    dataset[optional] = str(kept[optional])
            tags = {str(k): str(v) for k, v in (kept.get("tags") or {}).items()}
        else:
            digest = str(entry.get("digest", "")).removeprefix(MLFLOW_DIGEST_PREFIX)
            dataset = {
                "digest": digest,
                "name": name,
                "source": json.dumps({"uri": str(entry.get("source", ""))}),
                "source_type": "local",
            }
            schema = entry.get("schema")
            if isinstance(schema, dict) and schema:
                colspec = [{"type": str(t), "name": str(c)} for c, t in schema.items()]
                dataset["schema"] = json.dumps({"mlflow_colspec": colspec})
            if entry.get("rows") is not None:
                dataset["profile"] = json.dumps({"num_rows": entry["rows"]})
            tags = {} if entry.get("context") is None else {DATASET_CONTEXT_TAG: entry["context"]}
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


def _export_registry(
    runs: RunStore, root: Path, folders: dict[str, Path], skipped: list[tuple[str, str]]
) -> tuple[int, int]:
    """Registered models, versions and aliases in MLflow's file registry layout."""
    from gittrack.models.registry import list_models, list_versions

    count = 0
    models = list_models(runs)
    for model in models:
        top = root / "models" / model.name
        try:
            versions = list_versions(runs, model.name)
        except GittrackError as e:
            skipped.append((f"model {model.name}", e.message))
            continue
        created = min((v.created for v in versions), default=0)
        updated = max((v.created for v in versions), default=0)
        meta = {
            "creation_timestamp": created,
            "description": None,
            "last_updated_timestamp": updated,
            "name": model.name,
        }
        _write(top / "meta.yaml", fmt.dump_yaml(meta))
        for version in versions:
            location = _version_location(runs, version.run_id, version.artifact_path, folders)
            data = {
                "creation_timestamp": version.created,
                "current_stage": "None",
                "description": version.description,
                "last_updated_timestamp": version.created,
                "name": model.name,
                "run_id": version.run_id,
                "run_link": None,
                "source": version.source,
                "status": "READY",
                "status_message": None,
                "storage_location": location,
                "user_id": version.created_by,
                "version": version.version,
            }
            _write(top / f"version-{version.version}" / "meta.yaml", fmt.dump_yaml(data))
            count += 1
        for alias, number in model.aliases.items():
            if number is not None:
                _write(top / "aliases" / alias, str(number))
    return len(models), count


def _version_location(
    runs: RunStore, run_id: str, artifact_path: str, folders: dict[str, Path]
) -> str | None:
    """Where MLflow finds a version's files: the exported run's artifact folder."""
    try:
        record = runs.load(run_id).record
    except GittrackError:
        return None
    folder = folders.get(record.experiment)
    if folder is None:
        return None
    return _uri(folder / run_id / "artifacts" / artifact_path)
