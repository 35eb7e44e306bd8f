"""Writing gittrack's model registry and logged models in MLflow's file store layout.

Logged models (MLflow 3) go under ``<experiment>/models/<model id>/`` (``meta.yaml``,
``tags/``, ``params/``, ``artifacts/`` with the model's files) and the runs that output
them get ``outputs/<model id>/meta.yaml``; registered models under ``models/<name>/``
(``meta.yaml``, ``tags/``, ``aliases/<alias>``, ``version-<n>/meta.yaml`` and ``tags/``),
as MLflow's ``FileStore`` and file registry keep them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import format as fmt
from gittrack.errors import GittrackError
from gittrack.migrate.source import MODEL_NUMBER_BY_STATUS

if TYPE_CHECKING:
    from gittrack.models.logged import LoggedModel
    from gittrack.runs import RunStore

REGISTRY = "models"
OUTPUTS = "outputs"

Write = Callable[[Path, "bytes | str"], None]
WriteValues = Callable[[Path, Mapping[str, str]], None]


def model_folder(experiment_folder: Path, model: LoggedModel) -> Path:
    return experiment_folder / REGISTRY / model.model_id


def export_logged_model(
    model: LoggedModel,
    experiment_folder: Path,
    experiment_id: str,
    write: Write,
    write_values: WriteValues,
) -> Path:
    """Write a logged model's metadata (its files are copied by the caller into the
    returned ``artifacts`` folder) and link it from the runs that output it."""
    top = model_folder(experiment_folder, model)
    shutil.rmtree(top, ignore_errors=True)  # an export again replaces what it wrote
    artifacts = top / "artifacts"
    meta = {
        "artifact_location": artifacts.resolve().as_uri(),
        "creation_timestamp": model.created,
        "experiment_id": experiment_id,
        "last_updated_timestamp": model.updated,
        "model_id": model.model_id,
        "model_type": model.model_type,
        "name": model.name,
        "source_run_id": model.run_id,
        "status": MODEL_NUMBER_BY_STATUS[model.status],
        "status_message": None,
    }
    write(top / "meta.yaml", fmt.dump_yaml(meta))
    write_values(top / "tags", model.tags)
    write_values(top / "params", model.params)
    for sub in ("metrics", "params", "tags"):
        (top / sub).mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    return artifacts


def link_output(run_dir: Path, model_id: str, write: Write) -> None:
    """``outputs/<model id>/meta.yaml`` of a run, as MLflow links a run to its model."""
    link = {
        "destination_id": model_id,
        "destination_type": "MODEL_OUTPUT",
        "source_id": model_id,
        "source_type": "RUN_OUTPUT",
        "step": 0,
        "tags": {},
    }
    write(run_dir / OUTPUTS / model_id / "meta.yaml", fmt.dump_yaml(link))


def export_registry(
    runs: RunStore,
    root: Path,
    locations: Mapping[tuple[str, str], str],
    skipped: list[tuple[str, str]],
    write: Write,
    write_values: WriteValues,
) -> tuple[int, int]:
    """Registered models, versions (stage, description, tags), aliases and model tags.

    ``locations`` maps ``(run id, artifact path)`` to where the exported files are (a
    logged model's ``artifacts`` folder, or a folder inside the run's artifacts)."""
    from gittrack.models.registry import list_models, list_versions

    count = written = 0
    for model in list_models(runs):
        if "%" in model.name or "\0" in model.name:
            # MLflow's file registry refuses '%' in a name; no file name holds NUL.
            skipped.append((f"model {model.name!r}", "MLflow's file store cannot hold this name"))
            continue
        top = root / REGISTRY / model.name
        try:
            versions = list_versions(runs, model.name)
        except GittrackError as e:
            skipped.append((f"model {model.name}", e.message))
            continue
        created = model.created or min((v.created for v in versions), default=0)
        updated = model.updated or max((v.updated for v in versions), default=created)
        aliases = {a: str(v) for a, v in sorted(model.aliases.items()) if v is not None}
        meta: dict[str, Any] = {
            "aliases": aliases,
            "creation_timestamp": created,
            "description": model.description,
            "last_updated_timestamp": updated,
            "name": model.name,
        }
        write(top / "meta.yaml", fmt.dump_yaml(meta))
        write_values(top / "tags", model.tags)
        for version in versions:
            folder = top / f"version-{version.version}"
            shutil.rmtree(folder, ignore_errors=True)
            data = {
                "creation_timestamp": version.created,
                "current_stage": version.stage,
                "description": version.description,
                "last_updated_timestamp": version.updated or version.created,
                "model_id": version.model_id,
                "name": model.name,
                "run_id": version.run_id,
                "run_link": None,
                "source": version.source_uri or version.source,
                "status": "READY",
                "status_message": None,
                "storage_location": locations.get((version.run_id, version.artifact_path)),
                "user_id": version.created_by or None,
                "version": version.version,
            }
            write(folder / "meta.yaml", fmt.dump_yaml(data))
            write_values(folder / "tags", version.tags)
            count += 1
        for alias, number in aliases.items():
            write(top / "aliases" / alias, number)
        written += 1
    return written, count
