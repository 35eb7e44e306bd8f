"""The run objects the API returns, shaped like MLflow's ``Run``/``RunInfo``/``RunData``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gittrack.format import RunRecord, run_tags
from gittrack.lifecycle import ViewType as ViewType  # re-exported: part of the entities
from gittrack.validation import param_text

# The input tag that holds a dataset input's context (MLflow's ``mlflow.data.context``).
DATASET_CONTEXT_TAG = "mlflow.data.context"
# How a digest imported from MLflow is kept (gittrack's own digests are ``sha256:...``).
MLFLOW_DIGEST_PREFIX = "mlflow:"


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


def mlflow_dataset(name: str, entry: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """A run input as MLflow's dataset fields (name, digest, source_type, source, and
    schema and profile when known) and its input tags, context included.

    An input imported from MLflow gives back the fields it came with; one an MLflow
    client logged through ``gittrack server`` (kind ``dataset``) the fields it sent; one
    logged with gittrack is a ``local`` dataset whose source is ``{"uri": ...}``.
    """
    import json

    kept = entry.get("mlflow")
    if isinstance(kept, dict):
        dataset = _dataset_fields(name, kept)
        for optional in ("schema", "profile"):
            if kept.get(optional) is not None:
                dataset[optional] = str(kept[optional])
        sent = kept.get("tags")
        return dataset, {str(k): str(v) for k, v in sent.items()} if isinstance(sent, dict) else {}
    tags: dict[str, str] = {}
    if entry.get("kind") == "dataset":  # as an MLflow client sent it
        dataset = _dataset_fields(name, entry)
        for field_name, key in (("schema", "dataset_schema"), ("profile", "profile")):
            if entry.get(key):
                dataset[field_name] = str(entry[key])
        try:  # JSON text of a mapping (record_dataset); anything else reads as no tags
            sent = json.loads(str(entry.get("input_tags") or "{}"))
        except ValueError:
            sent = None
        if isinstance(sent, dict):
            tags.update((str(k), str(v)) for k, v in sent.items())
    else:
        dataset = {
            "name": name,
            "digest": str(entry.get("digest", "")).removeprefix(MLFLOW_DIGEST_PREFIX),
            "source_type": "local",
            "source": json.dumps({"uri": str(entry.get("source", ""))}),
        }
        schema = entry.get("schema")
        if isinstance(schema, dict) and schema:
            colspec = [{"type": str(t), "name": str(c)} for c, t in schema.items()]
            dataset["schema"] = json.dumps({"mlflow_colspec": colspec})
        if entry.get("rows") is not None:
            dataset["profile"] = json.dumps({"num_rows": entry["rows"]})
    if entry.get("context") is not None:
        tags[DATASET_CONTEXT_TAG] = str(entry["context"])
    return dataset, tags


def _dataset_fields(name: str, sent: Mapping[str, Any]) -> dict[str, str]:
    """MLflow's required dataset fields as an MLflow client or store gave them."""
    return {"name": name, **{k: str(sent.get(k, "")) for k in ("digest", "source_type", "source")}}


@dataclass(frozen=True)
class Dataset:
    """A dataset as MLflow's ``Dataset``: ``schema`` and ``profile`` are JSON text or None."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class InputTag:
    """A tag of a dataset input (MLflow's ``InputTag``), e.g. the context."""

    key: str
    value: str


@dataclass(frozen=True)
class DatasetInput:
    """A dataset a run used and its tags (MLflow's ``DatasetInput``)."""

    dataset: Dataset
    tags: list[InputTag] = field(default_factory=list)

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any]) -> DatasetInput:
        """The dataset input of one recorded run input (see :func:`mlflow_dataset`)."""
        values, tags = mlflow_dataset(name, entry)
        return cls(
            dataset=Dataset(**values),
            tags=[InputTag(k, v) for k, v in sorted(tags.items())],
        )


@dataclass(frozen=True)
class RunInputs:
    """What went into a run (``run.inputs``, MLflow's ``RunInputs``): its dataset inputs
    in recording order; ``model_inputs`` is always empty (gittrack records none)."""

    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[Any] = field(default_factory=list)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> RunInputs:
        """The inputs of a run from its recorded entries, as (name, entry) pairs."""
        return cls(dataset_inputs=[DatasetInput.from_entry(n, e) for n, e in entries])


@dataclass(frozen=True)
class Run:
    """A run as read back: ``run.info``, ``run.data`` and ``run.inputs``."""

    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

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
        return cls(info=info, data=data, inputs=RunInputs.from_entries(record.named_inputs()))

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
        recorded = row.get("inputs")  # most runs record none: a search builds many runs
        inputs = RunInputs.from_entries(recorded.items()) if recorded else RunInputs()
        return cls(info=info, data=data, inputs=inputs)
