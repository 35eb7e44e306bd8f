"""The run objects the API returns, shaped like MLflow's ``Run``/``RunInfo``/``RunData``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gittrack.format import RunRecord, run_tags
from gittrack.lifecycle import ViewType as ViewType  # re-exported: part of the entities
from gittrack.validation import param_text


@dataclass(frozen=True)
class RunInfo:
    """Identity and lifecycle of a run (``run.info``)."""

    run_id: str
    run_name: str
    experiment: str
    status: str
    start_time: int
    end_time: int | None
    user_id: str
    commit: str | None
    source_commit: str | None
    dirty: bool
    parent_run_id: str | None = None
    lifecycle_stage: str = "active"
    experiment_id: str = ""

    @property
    def run_uuid(self) -> str:
        return self.run_id

    @property
    def artifact_uri(self) -> str:
        return self.artifact_uri_of(self.run_id)

    @staticmethod
    def artifact_uri_of(run_id: str) -> str:
        """Where a run's artifacts are named from (``runs:/<run_id>/``)."""
        return f"runs:/{run_id}/"


@dataclass(frozen=True)
class RunData:
    """What a run logged (``run.data``).

    ``params`` holds strings exactly as MLflow stores them (``str(value)``);
    ``typed_params`` holds the values with the types they were logged with (as in
    ``params.yaml``: int, float, bool, string, null).
    """

    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    typed_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Param:
    """A param as MLflow's ``log_batch`` takes it."""

    key: str
    value: Any


@dataclass(frozen=True)
class RunTag:
    """A tag as MLflow's ``log_batch`` takes it."""

    key: str
    value: Any


class Metric(NamedTuple):
    """One point of a metric's history, as MLflow 3's ``Metric``: ``key``, ``value``,
    ``timestamp`` (epoch ms), ``step`` and ``run_id`` (set on what
    ``get_metric_history`` returns, None on a point built to be logged); ``model_id``,
    ``dataset_name`` and ``dataset_digest`` are always None (gittrack records none).

    Immutable, equal and hashed by those five fields; a named tuple, so that a history
    of a million points is built quickly.
    """

    key: str
    value: float
    timestamp: int
    step: int
    run_id: str | None = None

    @property
    def model_id(self) -> None:
        return None

    @property
    def dataset_name(self) -> None:
        return None

    @property
    def dataset_digest(self) -> None:
        return None

    def to_dictionary(self) -> dict[str, Any]:
        """The point as MLflow's ``Metric.to_dictionary`` gives it."""
        return {
            "key": self.key,
            "value": self.value,
            "timestamp": self.timestamp,
            "step": self.step,
            "model_id": None,
            "dataset_name": None,
            "dataset_digest": None,
            "run_id": self.run_id,
        }

    def __repr__(self) -> str:
        """MLflow's form: ``<Metric: dataset_digest=None, ..., value=0.5>``."""
        fields = sorted(self.to_dictionary().items())
        return "<Metric: " + ", ".join(f"{k}={v!r}" for k, v in fields) + ">"


@dataclass(frozen=True)
class Run:
    """A run as read back: ``run.info`` and ``run.data``."""

    info: RunInfo
    data: RunData

    @classmethod
    def from_record(cls, record: RunRecord, commit: str | None) -> Run:
        info = RunInfo(
            run_id=record.run_id,
            run_name=record.name,
            experiment=record.experiment,
            experiment_id=record.experiment_id,
            status=record.status,
            start_time=record.start_time,
            end_time=record.end_time,
            user_id=record.user,
            commit=commit,
            source_commit=record.source.get("commit"),
            dirty=bool(record.source.get("dirty", False)),
            parent_run_id=record.parent_run_id,
            lifecycle_stage=record.lifecycle_stage,
        )
        data = RunData(
            params={k: param_text(v) for k, v in record.params.items()},
            metrics={k: m.value for k, m in record.metrics.items()},
            tags=run_tags(record),
            typed_params=dict(record.params),
        )
        return cls(info=info, data=data)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Run:
        """A run from its search row (:func:`gittrack.index_build.row_from_record`'s shape)."""
        info = RunInfo(
            run_id=row["run_id"],
            run_name=row["name"],
            experiment=row["experiment"],
            experiment_id=row["experiment_id"],
            status=row["status"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            user_id=row["user"],
            commit=row["commit"],
            source_commit=row.get("code_commit") or None,
            dirty=bool(row.get("dirty", False)),
            parent_run_id=row.get("parent_run_id"),
            lifecycle_stage=row.get("lifecycle_stage") or "active",
        )
        params = row.get("params", {})
        data = RunData(
            params={k: param_text(v) for k, v in params.items()},
            metrics=dict(row.get("metrics", {})),
            tags=dict(row.get("tags", {})),
            typed_params=dict(params),
        )
        return cls(info=info, data=data)
