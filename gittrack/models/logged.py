"""Logged models (MLflow 3's ``LoggedModel``): a model a run produced, with an id.

A logged model's files are artifacts of its run, under ``artifact_path`` (the model's
name, or ``models/<model_id>`` when a model of that run already uses the name), so
``runs:/<run>/<path>``, ``gittrack models register`` and ``gittrack artifacts`` reach them.
A model created outside any run (MLflow's ``set_active_model``, ``create_external_model``)
belongs to an experiment only; its few small files (an ``MLmodel`` describing it) are
blobs under ``files/`` of its own ref's tree (:func:`add_file`), and its metrics, tags and
params link runs and evaluations to it.
Its metadata lives at ``refs/gittrack/logged-models/<model_id>``: a chain of commits (parent
= the previous state) whose tree holds ``model.yaml`` (docs/format.md); every change moves
the ref with compare-and-swap.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gittrack import format as fmt
from gittrack.errors import ModelError, ModelNotFoundError, ValidationError
from gittrack.naming import HEX_DIGITS
from gittrack.runs import RunStore
from gittrack.store import TreeBuilder
from gittrack.store.refs import RefConflict
from gittrack.store.repo import MODE_FILE, MODE_TREE
from gittrack.validation import check_text, validate_key, validate_name, validate_tag_value

__all__ = [
    "FILE_MAX",
    "REF_ROOT",
    "STATUSES",
    "LoggedModel",
    "ModelMetric",
    "add_file",
    "create",
    "delete",
    "get",
    "list_logged_models",
    "model_files",
    "read_file",
    "save",
    "update",
]

REF_ROOT = "refs/gittrack/logged-models/"
MODEL_FILE = "model.yaml"
FILES_DIR = "files"  # a model outside any run: its files, beside model.yaml
FILE_MAX = 1024 * 1024  # such a file rides in git: larger ones belong in a run
STATUSES = ("PENDING", "READY", "FAILED")
_MAX_RETRIES = 100


@dataclass(frozen=True)
class ModelMetric:
    """One metric point linked to a logged model (MLflow's ``log_metric(model_id=...)``):
    the run that logged it and, when given, the dataset it was measured on."""

    key: str
    value: float
    step: int
    timestamp: int
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True)
class LoggedModel:
    """A model logged by a run: where its files are and what is known about it."""

    model_id: str
    name: str
    experiment: str
    run_id: str | None  # None: created outside any run, no files
    artifact_path: str
    status: str = "PENDING"
    model_type: str | None = None
    created: int = 0
    updated: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    linked_runs: tuple[str, ...] = ()
    metrics: tuple[ModelMetric, ...] = ()

    @property
    def uri(self) -> str:
        """``runs:/<run>/<path>``: where the model's files are (``models:/<model_id>`` for
        a model outside any run)."""
        if self.run_id is None:
            return f"models:/{self.model_id}"
        return f"runs:/{self.run_id}/{self.artifact_path}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _ref(model_id: str) -> str:
    return REF_ROOT + _check_id(model_id)


def _check_id(model_id: object) -> str:
    text = str(model_id)
    if not (text.startswith("m-") and len(text) == 34 and not text[2:].strip(HEX_DIGITS)):
        raise ModelNotFoundError(f"no logged model with id {text!r}")
    return text


def _to_yaml(model: LoggedModel) -> dict[str, Any]:
    return {
        "format_version": 1,
        "model_id": model.model_id,
        "name": model.name,
        "experiment": model.experiment,
        "run_id": model.run_id,
        "artifact_path": model.artifact_path,
        "status": model.status,
        "model_type": model.model_type,
        "created": model.created,
        "updated": model.updated,
        "tags": dict(model.tags),
        "params": dict(model.params),
        "linked_runs": list(model.linked_runs),
        # Written only when there are some, so models without metrics keep their bytes.
        **({"metrics": [_metric_yaml(m) for m in model.metrics]} if model.metrics else {}),
    }


def _metric_yaml(metric: ModelMetric) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": metric.key,
        "value": metric.value,
        "step": metric.step,
        "timestamp": metric.timestamp,
    }
    for name in ("run_id", "dataset_name", "dataset_digest"):
        if getattr(metric, name) is not None:
            out[name] = getattr(metric, name)
    return out


def _metric_from(data: Any) -> ModelMetric:
    def text(name: str) -> str | None:
        return None if data.get(name) is None else str(data[name])

    return ModelMetric(
        key=str(data["key"]),
        value=float(data["value"]),
        step=int(data.get("step") or 0),
        timestamp=int(data.get("timestamp") or 0),
        run_id=text("run_id"),
        dataset_name=text("dataset_name"),
        dataset_digest=text("dataset_digest"),
    )


def _from_yaml(data: Any, what: str) -> LoggedModel:
    try:
        if not isinstance(data, dict):
            raise TypeError("not a mapping")
        status = str(data.get("status") or "PENDING")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return LoggedModel(
            model_id=str(data["model_id"]),
            name=str(data["name"]),
            experiment=str(data["experiment"]),
            run_id=None if data.get("run_id") is None else str(data["run_id"]),
            artifact_path=str(data["artifact_path"]),
            status=status,
            model_type=None if data.get("model_type") is None else str(data["model_type"]),
            created=int(data.get("created") or 0),
            updated=int(data.get("updated") or 0),
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            params={str(k): str(v) for k, v in (data.get("params") or {}).items()},
            linked_runs=tuple(str(r) for r in data.get("linked_runs") or ()),
            metrics=tuple(_metric_from(m) for m in data.get("metrics") or ()),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{what} is damaged: {MODEL_FILE} has a bad field ({e})") from e


def _read(runs: RunStore, commit: str, what: str) -> LoggedModel:
    git = runs.git
    entry = git.lookup_path(git.read_commit(commit).tree.decode("ascii"), MODEL_FILE)
    if entry is None:
        raise ModelError(f"{what} is damaged: commit {commit[:12]} has no {MODEL_FILE}")
    return _from_yaml(fmt.load_yaml(git.read_blob(entry[1]), what), what)


def _write(
    runs: RunStore,
    model: LoggedModel,
    parent: str | None,
    message: str,
    new_file: tuple[str, bytes] | None = None,
) -> None:
    """Commit ``model`` on its ref after ``parent``, keeping the files it holds (plus
    ``new_file``)."""
    git = runs.git
    blob = git.write_blob(fmt.dump_yaml(_to_yaml(model)))
    entries: dict[str, tuple[int, str]] = {MODEL_FILE: (MODE_FILE, blob)}
    if parent is not None:
        for path, mode, sha in _files(runs, parent):
            entries[f"{FILES_DIR}/{path}"] = (mode, sha)
    if new_file is not None:
        entries[f"{FILES_DIR}/{new_file[0]}"] = (MODE_FILE, git.write_blob(new_file[1]))
    tree = TreeBuilder(git).write(entries)
    stamp = model.updated // 1000
    commit = git.write_commit(
        tree=tree,
        parents=[parent] if parent else [],
        author=runs.identity,
        author_time=stamp,
        commit_time=stamp,
        message=f"logged model {model.name} ({model.model_id}): {message}\n",
    )
    git.update_ref(_ref(model.model_id), commit, parent)


def _files(runs: RunStore, commit: str) -> list[tuple[str, int, str]]:
    """(path, mode, blob) of the files a model's commit holds."""
    git = runs.git
    found = git.lookup_path(git.read_commit(commit).tree.decode("ascii"), FILES_DIR)
    if found is None or found[0] != MODE_TREE:
        return []
    return list(git.iter_tree_files(found[1]))


def add_file(runs: RunStore, model_id: str, path: str, data: bytes) -> None:
    """Store one file of a model created outside any run (a model of a run keeps its
    files in the run's artifacts). At most :data:`FILE_MAX` bytes: it rides in git."""
    from gittrack.artifacts.paths import clean_path

    path = clean_path(path)
    if len(data) > FILE_MAX:
        raise ModelError(
            f"{path!r} is {len(data)} bytes: a logged model outside any run keeps files of "
            f"at most {FILE_MAX} bytes (log the model inside a run for larger files)"
        )

    def check(model: LoggedModel) -> LoggedModel:
        if model.run_id is not None:
            raise ModelError(
                f"logged model {model_id} keeps its files in run {model.run_id}'s artifacts"
            )
        return replace(model, updated=_now_ms())

    _update(runs, model_id, check, (path, data))


def model_files(runs: RunStore, model_id: str) -> dict[str, int]:
    """``{path: size}`` of the files of a model created outside any run."""
    commit = runs.git.read_ref(_ref(model_id))
    if commit is None:
        raise ModelNotFoundError(f"no logged model with id {model_id!r}")
    git = runs.git
    return {path: len(git.read_blob(sha)) for path, _, sha in _files(runs, commit)}


def read_file(runs: RunStore, model_id: str, path: str) -> bytes:
    """One file of a model created outside any run."""
    commit = runs.git.read_ref(_ref(model_id))
    if commit is None:
        raise ModelNotFoundError(f"no logged model with id {model_id!r}")
    for name, _, sha in _files(runs, commit):
        if name == path:
            return runs.git.read_blob(sha)
    raise ModelNotFoundError(f"logged model {model_id} has no file {path!r}")


def _clean(items: Mapping[str, Any] | None, kind: str) -> dict[str, str]:
    return {validate_key(k, kind): validate_tag_value(k, v) for k, v in (items or {}).items()}


def _clean_metric(metric: ModelMetric) -> ModelMetric:
    validate_key(metric.key, "metric")
    for what in (metric.dataset_name, metric.dataset_digest):
        if what is not None:
            check_text(what, "dataset")
    return replace(metric, value=float(metric.value), step=int(metric.step))


def get(runs: RunStore, model_id: str) -> LoggedModel:
    """The logged model with this id (ModelNotFoundError when there is none)."""
    commit = runs.git.read_ref(_ref(model_id))
    if commit is None:
        raise ModelNotFoundError(f"no logged model with id {model_id!r}")
    return _read(runs, commit, f"logged model {model_id}")


def list_logged_models(runs: RunStore) -> list[LoggedModel]:
    """Every logged model of the repository, newest first."""
    found = []
    for ref, commit in runs.git.list_refs(REF_ROOT).items():
        found.append(_read(runs, commit, f"logged model {ref[len(REF_ROOT) :]}"))
    return sorted(found, key=lambda m: (-m.created, m.model_id))


def create(
    runs: RunStore,
    run_id: str | None,
    name: str,
    *,
    experiment: str | None = None,
    model_type: str | None = None,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> LoggedModel:
    """Record a new model of run ``run_id`` (status PENDING until :func:`update` says READY).

    Its files go under the run's artifact path ``name`` unless the run already has
    artifacts or another model there; then under ``models/<model_id>``. With ``run_id``
    None the model belongs to ``experiment`` (a name) only and holds no files.
    """
    name = validate_name(name, "model")
    if "/" in name or name.strip(".") == "":
        raise ValidationError(f"invalid model name {name!r}: no '/' and not only dots")
    if model_type is not None:
        check_text(model_type, "model type")
    model_id = "m-" + uuid.uuid4().hex
    path = ""
    if run_id is not None:
        record = runs.load(run_id).record
        experiment = record.experiment
        taken = {m.artifact_path for m in list_logged_models(runs) if m.run_id == run_id}
        used = name in taken or any(
            str(p) == name or str(p).startswith(name + "/") for p in record.artifacts
        )
        path = f"models/{model_id}" if used else name
    elif experiment is None:
        raise ValidationError("a logged model outside any run needs its experiment")
    now = _now_ms()
    model = LoggedModel(
        model_id=model_id,
        name=name,
        experiment=experiment,
        run_id=run_id,
        artifact_path=path,
        model_type=model_type,
        created=now,
        updated=now,
        tags=_clean(tags, "tag"),
        params=_clean(params, "param"),
    )
    _write(runs, model, None, "created")
    return model


def update(
    runs: RunStore,
    model_id: str,
    *,
    status: str | None = None,
    tags: Mapping[str, Any] | None = None,
    delete_tag: str | None = None,
    params: Mapping[str, Any] | None = None,
    link_run: str | None = None,
    metrics: Sequence[ModelMetric] = (),
) -> LoggedModel:
    """Change a logged model (status, tags, params, runs that output it, metric points
    added) atomically."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"invalid logged model status {status!r} (use {', '.join(STATUSES)})")
    clean_tags, clean_params = _clean(tags, "tag"), _clean(params, "param")
    new_metrics = tuple(_clean_metric(m) for m in metrics)

    def change(model: LoggedModel) -> LoggedModel:
        new_tags = {**model.tags, **clean_tags}
        if delete_tag is not None:
            if delete_tag not in new_tags:
                raise ModelNotFoundError(f"logged model {model.model_id} has no tag {delete_tag!r}")
            del new_tags[delete_tag]
        links = model.linked_runs
        if link_run is not None and link_run != model.run_id and link_run not in links:
            links = (*links, link_run)
        return replace(
            model,
            status=status or model.status,
            tags=new_tags,
            params={**model.params, **clean_params},
            linked_runs=links,
            metrics=model.metrics + new_metrics,
            updated=_now_ms(),
        )

    return _update(runs, model_id, change)


def _update(
    runs: RunStore,
    model_id: str,
    change: Callable[[LoggedModel], LoggedModel],
    new_file: tuple[str, bytes] | None = None,
) -> LoggedModel:
    for _ in range(_MAX_RETRIES):
        commit = runs.git.read_ref(_ref(model_id))
        if commit is None:
            raise ModelNotFoundError(f"no logged model with id {model_id!r}")
        new = change(_read(runs, commit, f"logged model {model_id}"))
        try:
            _write(runs, new, commit, "updated", new_file)
        except RefConflict:
            continue
        return new
    raise ModelError(f"logged model {model_id} keeps changing under us; try again")


def save(runs: RunStore, model: LoggedModel) -> bool:
    """Record ``model`` exactly as given (an import keeping another tracker's id, times,
    tags and params); False when it is already recorded so. Its run, if any, must exist."""
    _check_id(model.model_id)
    if model.status not in STATUSES:
        raise ValidationError(f"invalid logged model status {model.status!r}")
    if model.run_id is not None:
        runs.load(model.run_id)
    model = replace(model, tags=_clean(model.tags, "tag"), params=_clean(model.params, "param"))
    for _ in range(_MAX_RETRIES):
        commit = runs.git.read_ref(_ref(model.model_id))
        if commit is not None and _read(runs, commit, f"logged model {model.model_id}") == model:
            return False
        try:
            _write(runs, model, commit, "recorded")
        except RefConflict:
            continue
        return True
    raise ModelError(f"logged model {model.model_id} keeps changing under us; try again")


def delete(runs: RunStore, model_id: str) -> None:
    """Forget a logged model (its files stay artifacts of its run)."""
    commit = runs.git.read_ref(_ref(model_id))
    if commit is None:
        raise ModelNotFoundError(f"no logged model with id {model_id!r}")
    runs.git.delete_ref(_ref(model_id), commit)
