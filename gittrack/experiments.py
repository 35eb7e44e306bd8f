"""Experiments with MLflow's semantics: ids, artifact location, lifecycle stage, tags.

An experiment's id is a pure function of its name (:func:`gittrack.naming.experiment_id_for`):
``"0"`` for ``Default``, else a decimal number taken from sha256 of the name. Every clone
derives the same id with no coordination, and runs written before ids existed (their
``run.yaml`` holds only the experiment name) get the same id on read. Renaming keeps the
id (as MLflow does): the experiment's ref stays where it is and names the new name, and
:func:`id_of` finds it by that name; a new experiment whose derived id is held by a
renamed one takes the next free id derived from its name.

An experiment exists once it is created (:func:`create`, :func:`ensure`) or once a run
names it. What a name alone cannot say (tags, artifact location, deleted state, creation
time) lives at ``refs/gittrack/experiments/<id>``: a chain of commits (parent = the
previous state) whose tree holds ``experiment.yaml`` (see docs/format.md). Experiments
only named by runs have no ref until something about them changes; they are active, with
no tags, created when their first run started.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gittrack import format as fmt
from gittrack.errors import ExperimentError, ExperimentNotFoundError, ValidationError
from gittrack.lifecycle import ViewType
from gittrack.naming import (
    DEFAULT_EXPERIMENT,
    DEFAULT_EXPERIMENT_ID,
    EXPERIMENT_REF_ROOT,
    experiment_id_for,
)
from gittrack.store import TreeBuilder
from gittrack.store.refs import RefConflict
from gittrack.store.repo import MODE_FILE
from gittrack.validation import check_text, validate_key, validate_name, validate_tag_value

if TYPE_CHECKING:
    from gittrack.runs import LoadedRun, RunStore

__all__ = [
    "DEFAULT_EXPERIMENT",
    "DEFAULT_EXPERIMENT_ID",
    "REF_ROOT",
    "Experiment",
    "as_reported",
    "check_active",
    "create",
    "default_artifact_location",
    "delete",
    "delete_tag",
    "deleted_among",
    "ensure",
    "experiment_id_for",
    "get",
    "get_by_name",
    "id_of",
    "is_deleted",
    "list_experiments",
    "remove",
    "rename",
    "restore",
    "search",
    "set_tag",
]

REF_ROOT = EXPERIMENT_REF_ROOT
EXPERIMENT_FILE = "experiment.yaml"
ACTIVE, DELETED = "active", "deleted"
_MAX_RETRIES = 100


@dataclass(frozen=True)
class Experiment:
    """An experiment, shaped like MLflow's ``mlflow.entities.Experiment``."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


def default_artifact_location(experiment_id: str) -> str:
    """Where ``gittrack server`` serves the experiment's artifacts (MLflow's proxied
    scheme: a run's artifacts are under ``<location>/<run_id>/artifacts``)."""
    return f"mlflow-artifacts:/{experiment_id}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- reading -------------------------------------------------------------------------------
def _ref(experiment_id: str) -> str:
    return REF_ROOT + experiment_id


def _from_data(data: Mapping[str, Any], what: str) -> Experiment:
    try:
        eid = str(data["experiment_id"])
        tags = data.get("tags") or {}
        if not isinstance(tags, dict):
            raise TypeError("tags is not a mapping")
        stage = str(data.get("lifecycle_stage") or ACTIVE)
        if stage not in (ACTIVE, DELETED):
            raise ValueError(f"unknown lifecycle_stage {stage!r}")
        return Experiment(
            experiment_id=eid,
            name=str(data["name"]),
            artifact_location=str(data.get("artifact_location") or default_artifact_location(eid)),
            lifecycle_stage=stage,
            tags={str(k): str(v) for k, v in tags.items()},
            creation_time=None if data.get("creation_time") is None else int(data["creation_time"]),
            last_update_time=(
                None if data.get("last_update_time") is None else int(data["last_update_time"])
            ),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ExperimentError(f"{what} is damaged: {EXPERIMENT_FILE} has a bad field ({e})") from e


def _read_commit(runs: RunStore, commit: str, what: str) -> dict[str, Any]:
    git = runs.git
    entry = git.lookup_path(git.read_commit(commit).tree.decode("ascii"), EXPERIMENT_FILE)
    if entry is None:
        raise ExperimentError(f"{what} is damaged: commit {commit[:12]} has no {EXPERIMENT_FILE}")
    data = fmt.load_yaml(git.read_blob(entry[1]), what)
    if not isinstance(data, dict):
        raise ExperimentError(f"{what} is damaged: {EXPERIMENT_FILE} is not a mapping")
    return data


_cache: dict[str, Experiment] = {}  # commit sha -> experiment (commits never change)


def _stored(runs: RunStore, experiment_id: str) -> tuple[str, Experiment] | None:
    """The commit and state of an experiment that has a ref, else None."""
    commit = runs.git.read_ref(_ref(experiment_id))
    if commit is None:
        return None
    return commit, _at(lambda: runs, experiment_id, commit)


def _at(runs: Callable[[], RunStore], experiment_id: str, commit: str) -> Experiment:
    """The state of an experiment at ``commit`` (``runs`` called only when not cached)."""
    exp = _cache.get(commit)
    if exp is None:
        what = f"experiment {experiment_id}"
        exp = _cache[commit] = _from_data(_read_commit(runs(), commit, what), what)
    return exp


def deleted_among(runs: Callable[[], RunStore], stored: Mapping[str, str]) -> list[str]:
    """The names of the deleted experiments among ``stored`` (``{experiment id: commit
    of its ref}``); ``runs`` is called only for states not read yet in this process."""
    return sorted(
        exp.name
        for eid, commit in stored.items()
        if (exp := _at(runs, eid, commit)).lifecycle_stage == DELETED
    )


def _all_stored(runs: RunStore) -> dict[str, Experiment]:
    out: dict[str, Experiment] = {}
    for ref in runs.git.list_refs(REF_ROOT):
        eid = ref[len(REF_ROOT) :]
        found = _stored(runs, eid) if "/" not in eid else None
        if found is not None:
            out[eid] = found[1]
    return out


def _run_experiments(runs: RunStore, name: str | None = None) -> dict[str, tuple[int, int]]:
    """``{experiment name: (first run start, last run start)}`` over the repository's runs
    (of every experiment, or only of ``name``)."""
    from gittrack.session import open_index

    with open_index(runs.root) as index:
        return index.experiment_spans(name)


def _implicit(name: str, span: tuple[int, int] | None) -> Experiment:
    eid = experiment_id_for(name)
    return Experiment(
        experiment_id=eid,
        name=name,
        artifact_location=default_artifact_location(eid),
        creation_time=None if span is None else span[0],
        last_update_time=None if span is None else span[1],
    )


def list_experiments(
    runs: RunStore,
    view_type: int = ViewType.ALL,
    *,
    spans: Mapping[str, tuple[int, int]] | None = None,
) -> list[Experiment]:
    """Every experiment of ``view_type`` (Default included while active), in no set order.
    ``spans``: the open index's :meth:`gittrack.index.RunIndex.experiment_spans` (else read)."""
    stages = ViewType.stages(view_type)
    stored = _all_stored(runs)
    found = {e.name: e for e in stored.values()}
    for name, span in (_run_experiments(runs) if spans is None else spans).items():
        if name not in found:
            found[name] = _implicit(name, span)
    if DEFAULT_EXPERIMENT not in found:
        found[DEFAULT_EXPERIMENT] = _implicit(DEFAULT_EXPERIMENT, None)
    return [e for e in found.values() if e.lifecycle_stage in stages]


def get(runs: RunStore, experiment_id: str) -> Experiment:
    """The experiment with ``experiment_id`` (active or deleted)."""
    eid = _check_id(experiment_id)
    stored = _stored(runs, eid)
    if stored is not None:
        return stored[1]
    if eid == DEFAULT_EXPERIMENT_ID:
        return _implicit(
            DEFAULT_EXPERIMENT, _run_experiments(runs, DEFAULT_EXPERIMENT).get(DEFAULT_EXPERIMENT)
        )
    for name, span in _run_experiments(runs).items():
        if experiment_id_for(name) == eid and _stored_by_name(runs, name) is None:
            return _implicit(name, span)
    raise ExperimentNotFoundError(f"no experiment with id {eid!r} (see search_experiments())")


def _stored_by_name(runs: RunStore, name: str) -> Experiment | None:
    """The experiment with a ref that is named ``name``: at its derived id, or (renamed,
    or created while a renamed experiment held that id) at another."""
    stored = _stored(runs, experiment_id_for(name))
    if stored is not None and stored[1].name == name:
        return stored[1]
    return next((e for e in _all_stored(runs).values() if e.name == name), None)


def id_of(runs: RunStore, name: str) -> str:
    """The id of the experiment named ``name`` (derived from the name unless renamed)."""
    stored = _stored_by_name(runs, name)
    return stored.experiment_id if stored is not None else experiment_id_for(name)


def get_by_name(runs: RunStore, name: str) -> Experiment | None:
    """The experiment named ``name`` (active or deleted), or None."""
    validate_name(name, "experiment")
    stored = _stored_by_name(runs, name)
    if stored is not None:
        return stored
    if _stored(runs, experiment_id_for(name)) is not None:
        return None  # its derived id holds another, renamed, experiment
    span = _run_experiments(runs, name).get(name)
    if span is None and name != DEFAULT_EXPERIMENT:
        return None
    return _implicit(name, span)


def _check_id(experiment_id: object) -> str:
    eid = str(experiment_id).strip() if isinstance(experiment_id, str | int) else ""
    if not eid.isdigit() or isinstance(experiment_id, bool):
        raise ValidationError(f"invalid experiment id {experiment_id!r}: ids are decimal numbers")
    return eid


def as_reported(runs: RunStore, loaded: LoadedRun) -> LoadedRun:
    """``loaded`` with the lifecycle stage MLflow reports: ``deleted`` while the run's
    experiment is deleted (MLflow's delete_experiment marks each of its runs deleted),
    else the run's own (a ref read; the run's commit is left as it is)."""
    record = loaded.record
    if record.lifecycle_stage != ACTIVE or not is_deleted(runs, record.experiment_id):
        return loaded
    return replace(loaded, record=replace(record, lifecycle_stage=DELETED))


def is_deleted(runs: RunStore, experiment_id: str) -> bool:
    """Whether the experiment with this id is deleted (a ref read)."""
    stored = _stored(runs, experiment_id) if experiment_id.isdigit() else None
    return stored is not None and stored[1].lifecycle_stage == DELETED


def check_active(runs: RunStore, name: str) -> None:
    """Refuse to record into a deleted experiment (ref reads, no index)."""
    stored = _stored_by_name(runs, name)
    if stored is not None and stored.lifecycle_stage == DELETED:
        raise ExperimentError(
            f"experiment {name!r} is deleted: restore it (restore_experiment("
            f"{stored.experiment_id!r})) before logging runs to it"
        )


# -- writing -------------------------------------------------------------------------------
def _data(exp: Experiment) -> dict[str, Any]:
    location = exp.artifact_location
    return {
        "format_version": 1,
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": None
        if location == default_artifact_location(exp.experiment_id)
        else location,
        "lifecycle_stage": exp.lifecycle_stage,
        "creation_time": exp.creation_time,
        "last_update_time": exp.last_update_time,
        "tags": dict(exp.tags),
    }


def _write(runs: RunStore, exp: Experiment, parent: str | None, message: str) -> str:
    git = runs.git
    blob = git.write_blob(fmt.dump_yaml(_data(exp)))
    tree = TreeBuilder(git).write({EXPERIMENT_FILE: (MODE_FILE, blob)})
    stamp = (exp.last_update_time or _now_ms()) // 1000
    commit = git.write_commit(
        tree=tree,
        parents=[parent] if parent else [],
        author=runs.identity,
        author_time=stamp,
        commit_time=stamp,
        message=f"experiment {exp.name} ({exp.experiment_id}): {message}\n",
    )
    git.update_ref(_ref(exp.experiment_id), commit, parent)
    _cache[commit] = exp
    return commit


def _clean_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {validate_key(k, "tag"): validate_tag_value(k, v) for k, v in (tags or {}).items()}


def create(
    runs: RunStore,
    name: str,
    artifact_location: str | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    creation_time: int | None = None,
) -> str:
    """Create an experiment and return its id; an existing name is an error.
    ``creation_time`` (epoch ms, default now) keeps another tracker's time on import."""
    validate_name(name, "experiment")
    clean = _clean_tags(tags)
    existing = get_by_name(runs, name)
    if existing is not None:
        state = " (deleted: restore it instead)" if existing.lifecycle_stage == DELETED else ""
        raise ExperimentError(f"experiment {name!r} already exists{state}")
    if artifact_location:
        check_text(artifact_location, "artifact location")
    eid = _free_id(runs, name)
    now = _now_ms() if creation_time is None else creation_time
    exp = Experiment(
        experiment_id=eid,
        name=name,
        artifact_location=artifact_location or default_artifact_location(eid),
        tags=clean,
        creation_time=now,
        last_update_time=now,
    )
    try:
        _write(runs, exp, None, "created")
    except RefConflict as e:  # created meanwhile by another process
        raise ExperimentError(f"experiment {name!r} already exists") from e
    return eid


def _free_id(runs: RunStore, name: str) -> str:
    """The id derived from ``name``, or (held by a renamed experiment) the first free one
    derived from ``name`` and a counter."""
    eid = experiment_id_for(name)
    for n in range(1, 1000):
        if _stored(runs, eid) is None:
            return eid
        eid = experiment_id_for(f"{name}\n{n}")
    raise ExperimentError(f"no free id for experiment {name!r}")


def ensure(runs: RunStore, name: str) -> Experiment:
    """The active experiment ``name``, created when missing (``set_experiment``'s rule)."""
    for _ in range(_MAX_RETRIES):
        exp = get_by_name(runs, name)
        if exp is None:
            try:
                return get(runs, create(runs, name))
            except ExperimentError:
                continue  # created by another process meanwhile: read it
        if exp.lifecycle_stage == DELETED:
            raise ExperimentError(
                f"experiment {name!r} is deleted: restore it (restore_experiment("
                f"{exp.experiment_id!r})) or use another name"
            )
        return exp
    raise ExperimentError(f"experiment {name!r} keeps changing; try again")


def _update(
    runs: RunStore, experiment_id: str, change: Callable[[Experiment], Experiment], message: str
) -> Experiment:
    """Apply ``change`` to the experiment's state with compare-and-swap on its ref."""
    eid = _check_id(experiment_id)
    for _ in range(_MAX_RETRIES):
        stored = _stored(runs, eid)
        parent, current = stored if stored is not None else (None, get(runs, eid))
        new = change(current)
        new = Experiment(**{**new.__dict__, "last_update_time": _now_ms()})
        try:
            _write(runs, new, parent, message)
        except RefConflict:
            continue
        return new
    raise ExperimentError(f"experiment {eid} keeps changing; try again")


def _with(exp: Experiment, **changes: Any) -> Experiment:
    return Experiment(**{**exp.__dict__, **changes})


def delete(runs: RunStore, experiment_id: str) -> None:
    """Mark an experiment deleted (its runs stay; :func:`restore` brings it back)."""
    if _check_id(experiment_id) == DEFAULT_EXPERIMENT_ID:
        raise ExperimentError("the Default experiment (id '0') cannot be deleted")

    def change(exp: Experiment) -> Experiment:
        if exp.lifecycle_stage == DELETED:
            raise ExperimentError(
                f"experiment {exp.name!r} ({exp.experiment_id}) is already deleted"
            )
        return _with(exp, lifecycle_stage=DELETED)

    _update(runs, experiment_id, change, "deleted")


def restore(runs: RunStore, experiment_id: str) -> None:
    """Bring a deleted experiment back."""

    def change(exp: Experiment) -> Experiment:
        if exp.lifecycle_stage != DELETED:
            raise ExperimentError(f"experiment {exp.name!r} ({exp.experiment_id}) is not deleted")
        return _with(exp, lifecycle_stage=ACTIVE)

    _update(runs, experiment_id, change, "restored")


def remove(runs: RunStore, experiment_id: str) -> None:
    """Remove a deleted experiment's record for good (once its runs are gone: a run left
    would name an experiment that is active again). One still deleted only: a restore by
    another process meanwhile keeps it (:class:`ExperimentError`)."""
    eid = _check_id(experiment_id)
    stored = _stored(runs, eid)
    if (
        stored is None
        or stored[1].lifecycle_stage != DELETED
        or not runs.git.delete_ref(_ref(eid), stored[0])
    ):
        raise ExperimentError(f"experiment {eid} is not deleted (any more): it is kept")


def rename(runs: RunStore, experiment_id: str, new_name: str) -> Experiment:
    """Give the experiment a new name, keeping its id; return its state before.

    Only the experiment's own record changes here: its runs name it by name, and
    :meth:`gittrack.Client.rename_experiment` moves them too."""
    if _check_id(experiment_id) == DEFAULT_EXPERIMENT_ID:
        raise ExperimentError("the Default experiment (id '0') cannot be renamed")
    validate_name(new_name, "experiment")
    before = get(runs, experiment_id)
    if before.name == new_name:
        return before
    if get_by_name(runs, new_name) is not None:
        raise ExperimentError(f"experiment {new_name!r} already exists")
    _update(runs, experiment_id, lambda e: _with(e, name=new_name), f"renamed from {before.name}")
    return before


def set_tag(runs: RunStore, experiment_id: str, key: str, value: Any) -> None:
    """Set one tag of an experiment."""
    clean = _clean_tags({key: value})
    _update(runs, experiment_id, lambda e: _with(e, tags={**e.tags, **clean}), f"tag {key}")


def delete_tag(runs: RunStore, experiment_id: str, key: str) -> None:
    """Remove one tag of an experiment; an unknown tag is an error."""

    def change(exp: Experiment) -> Experiment:
        if key not in exp.tags:
            raise ExperimentError(f"experiment {exp.name!r} has no tag {key!r}")
        return _with(exp, tags={k: v for k, v in exp.tags.items() if k != key})

    _update(runs, experiment_id, change, f"untag {key}")


# -- searching -----------------------------------------------------------------------------
def search(
    runs: RunStore,
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    """MLflow's ``search_experiments``: filter and order on ``name``, ``experiment_id``
    (ids compare as text, sort as numbers), ``creation_time``, ``last_update_time`` and
    ``tags.<key>``; newest first by default."""
    from gittrack.query.filter import EXPERIMENTS, SortKey, parse_filter, parse_order_by, sort_rows

    flt = parse_filter(filter_string, EXPERIMENTS)
    keys = [  # experiment ids sort as numbers, as in MLflow's stores
        SortKey(k.kind, "experiment_number", k.descending) if k.key == "experiment_id" else k
        for k in parse_order_by(order_by, EXPERIMENTS)
    ]
    if max_results is not None and (isinstance(max_results, bool) or max_results < 0):
        raise ValidationError(f"max_results must be 0 or more, got {max_results!r}")
    rows: list[dict[str, Any]] = [
        {
            "name": e.name,
            "creation_time": e.creation_time,
            "last_update_time": e.last_update_time,
            "experiment_id": e.experiment_id,
            "experiment_number": int(e.experiment_id),
            "tags": e.tags,
            "_experiment": e,
        }
        for e in list_experiments(runs, view_type)
    ]
    defaults = (
        SortKey("attributes", "creation_time", True),
        SortKey("attributes", "experiment_number"),
    )
    selected = sort_rows(flt.select(rows), keys, defaults)
    found: list[Experiment] = [r["_experiment"] for r in selected]
    return found if max_results is None else found[:max_results]
