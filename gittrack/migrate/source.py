"""What an importer reads from another tracker, whatever the transport (files or REST).

Readers (:mod:`gittrack.migrate.mlflow_files`, :mod:`gittrack.migrate.mlflow_rest`) turn
a store into these plain objects; :mod:`gittrack.migrate.importer` writes them into
gittrack. A reader raises :class:`~gittrack.errors.MigrationError` for an item it must
skip (the importer reports it and goes on) and notes smaller losses in ``problems``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.entities import DATASET_CONTEXT_TAG, MLFLOW_DIGEST_PREFIX
from gittrack.lineage.datasets import TABLE_SOURCE
from gittrack.writer import MetricHistory

RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")  # an MLflow run id
MODEL_ID_RE = re.compile(r"^m-[0-9a-f]{32}$")  # an MLflow 3 logged model id
DELETED_VERSION_STAGE = "Deleted_Internal"  # MLflow keeps deleted versions under this stage
# MLflow's RunStatus enum as stored in a file store's meta.yaml.
STATUS_BY_NUMBER = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
NUMBER_BY_STATUS = {name: number for number, name in STATUS_BY_NUMBER.items()}
# The MLflow experiment id an imported experiment came from, kept as an experiment tag so
# that an export writes the experiment under the same id again.
EXPERIMENT_ID_TAG = "gittrack.mlflow.experiment_id"
# MLflow's LoggedModelStatus as stored in a file store's meta.yaml.
MODEL_STATUS_BY_NUMBER = {1: "PENDING", 2: "READY", 3: "FAILED"}
MODEL_NUMBER_BY_STATUS = {name: number for number, name in MODEL_STATUS_BY_NUMBER.items()}


@dataclass(frozen=True)
class SourceExperiment:
    """One experiment of the source store."""

    experiment_id: str
    name: str
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None


@dataclass(frozen=True)
class SourceLoggedModel:
    """An MLflow 3 logged model; its files are ``artifacts`` (relative path, local file)."""

    model_id: str
    name: str
    run_id: str
    status: str
    created: int
    updated: int
    model_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    artifacts: tuple[tuple[str, Path], ...] = ()


@dataclass(frozen=True)
class SourceVersion:
    """One version of a registered model (its run and files named by ``source``,
    ``model_id`` or ``run_id``)."""

    version: int
    run_id: str | None
    source: str
    model_id: str | None
    stage: str
    created: int
    updated: int
    user: str
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRegisteredModel:
    """A registered model with its versions and aliases (alias -> version number)."""

    name: str
    created: int
    updated: int
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: tuple[SourceVersion, ...] = ()


@dataclass
class SourceRun:
    """One run of the source store, read whole (artifacts as local files;
    ``artifacts_elsewhere`` when the store keeps some where they cannot be read, so an
    import keeps the files it brought before)."""

    run_id: str
    experiment: SourceExperiment
    name: str
    status: str
    start_time: int
    end_time: int | None
    user: str
    lifecycle_stage: str = "active"
    deleted_time: int | None = None  # epoch ms of MLflow's delete_run, where it keeps one
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricHistory] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[tuple[str, Path]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    logged_models: list[SourceLoggedModel] = field(default_factory=list)
    artifacts_elsewhere: bool = False

    @property
    def points(self) -> int:
        return sum(len(m.values) for m in self.metrics)


def epoch_ms(value: Any) -> int | None:
    """A time the source store recorded, in epoch milliseconds; None when it holds none
    (or anything but a whole number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def dataset_input(
    *,
    name: str,
    digest: str,
    source_type: str,
    source: str,
    schema: str | None,
    profile: str | None,
    tags: dict[str, str],
) -> dict[str, Any]:
    """An MLflow dataset input as a gittrack input entry (kind ``table``).

    The digest keeps MLflow's value behind an ``mlflow:`` prefix (gittrack's own digests
    are ``sha256:``); MLflow's fields ride along verbatim under ``mlflow`` so an export
    gives them back unchanged.
    """
    import json

    entry: dict[str, Any] = {
        "name": name,
        "context": tags.get(DATASET_CONTEXT_TAG),
        "kind": "table",
        "source": TABLE_SOURCE,
        "digest": MLFLOW_DIGEST_PREFIX + digest,
        "size": 0,
    }
    try:
        rows = json.loads(profile or "{}").get("num_rows")
    except (ValueError, AttributeError):
        rows = None
    if isinstance(rows, int) and not isinstance(rows, bool):
        entry["rows"] = rows
    try:
        columns = json.loads(schema or "{}").get("mlflow_colspec") or []
        entry["schema"] = {str(c["name"]): str(c["type"]) for c in columns}
    except (ValueError, AttributeError, KeyError, TypeError):
        pass
    mlflow: dict[str, Any] = {"digest": digest, "source_type": source_type, "source": source}
    if schema is not None:
        mlflow["schema"] = schema
    if profile is not None:
        mlflow["profile"] = profile
    if tags:
        mlflow["tags"] = dict(tags)
    entry["mlflow"] = mlflow
    return entry
