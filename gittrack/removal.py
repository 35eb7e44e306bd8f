"""Removing runs for good: ``gittrack rm RUN...``, and the purge of soft-deleted runs and
experiments (``gittrack rm --deleted``, MLflow's ``mlflow gc``).

Both make one :class:`Removal`, checked whole before anything is removed (a run a
registered model version needs, or whose process may still be logging to it, is refused
unless ``force``), then :func:`remove` carries it out: each run's ref
(:meth:`gittrack.Client.purge_run`), then the record of each deleted experiment whose runs
all went. The objects go at the next ``git gc``, artifact bytes of the local cache at
``gittrack gc``. Removing is local: a remote that holds the runs gives them back on pull.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gittrack import experiments as exps
from gittrack.errors import (
    ExperimentError,
    ExperimentNotFoundError,
    RunStateError,
    ValidationError,
)
from gittrack.lifecycle import ViewType

if TYPE_CHECKING:
    from gittrack.client import Client
    from gittrack.experiments import Experiment
    from gittrack.index import RunIndex
    from gittrack.models.registry import ModelVersion
    from gittrack.runs import RunStore

__all__ = ["Removal", "plan_purge", "plan_removal", "remove"]


@dataclass(frozen=True)
class Removal:
    """What a removal will do, decided before anything is removed."""

    runs: tuple[str, ...]  # full run ids, in the order they go
    names: dict[str, str] = field(default_factory=dict)  # run id -> run name
    needed_by: dict[str, tuple[ModelVersion, ...]] = field(default_factory=dict)  # forced
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kept, naming it
    experiments: tuple[Experiment, ...] = ()  # deleted experiments removed with their runs
    undated: tuple[str, ...] = ()  # deleted runs left: no deletion time recorded
    younger: int = 0  # deleted runs and experiments left: deleted too recently
    kept_experiments: tuple[str, ...] = ()  # deleted experiments left: a run of theirs stays
    deleted_only: bool = False  # a purge: a run restored meanwhile is kept


def plan_removal(index: RunIndex, runs: Sequence[str], *, force: bool = False) -> Removal:
    """The removal of ``runs`` (any run references; every one resolved first), refused
    with a :class:`ValidationError` for a run a model version needs or a run whose process
    may still be logging to it, unless ``force``."""
    ids = list(dict.fromkeys(index.resolve(r) for r in runs))
    return _checked(index, ids, force=force)


def plan_purge(
    index: RunIndex,
    *,
    older_than: int | None = None,
    experiments: Sequence[str] | None = None,
    runs: Sequence[str] | None = None,
    force: bool = False,
    now: int | None = None,
) -> Removal:
    """The removal of every soft-deleted run (``delete_run``, or in a deleted experiment)
    and of every deleted experiment with its runs, as MLflow's ``mlflow gc``.

    ``older_than`` (ms): only what was deleted at least that long before ``now`` (epoch
    ms, default the current time), counted from a run's recorded ``deleted_time`` or its
    deleted experiment's ``last_update_time``; a run deleted with no recorded time is left
    (listed in ``undated``). ``experiments`` (names or ids): only runs of those
    experiments. ``runs``: only these runs, each of which must be deleted (and, with
    ``older_than``, old enough). A run that is not deleted is never in the plan.
    ``force``: as :func:`plan_removal`."""
    index.refresh()
    store = index.runstore
    now = time.time_ns() // 1_000_000 if now is None else now
    threshold = None if older_than is None else now - _check_age(older_than)
    deleted = exps.list_experiments(store, ViewType.DELETED_ONLY, spans=index.experiment_spans())
    gone = {e.name: e for e in deleted}
    scope = None if experiments is None else {_experiment(store, e).name for e in experiments}
    chosen = None if runs is None else list(dict.fromkeys(index.resolve(r) for r in runs))
    rows = index.rows() if chosen is None else list(index.rows_of(chosen).values())
    ids: list[str] = []
    undated: list[str] = []
    younger = 0
    left_in: set[str] = set()  # deleted experiments a run of which stays
    for row in rows:
        rid, exp = row["run_id"], gone.get(row["experiment"])
        own = row.get("lifecycle_stage") == "deleted"
        if not own and exp is None:
            if chosen is not None:
                raise ValidationError(
                    f"run {rid[:8]} is not deleted (only deleted runs are purged; "
                    "gittrack rm without --deleted removes any run)"
                )
            continue
        if scope is not None and row["experiment"] not in scope:
            if chosen is not None:
                raise ValidationError(f"run {rid[:8]} is not in the experiment(s) given")
            continue
        if threshold is not None:
            when = store.load(rid).record.deleted_time if own else None
            if when is None and exp is not None:
                when = exp.last_update_time
            if when is None or when > threshold:
                if chosen is not None:
                    why = "has no recorded deletion time" if when is None else "is too recent"
                    raise ValidationError(f"run {rid[:8]} is deleted but {why} for --older-than")
                if when is None:
                    undated.append(rid)
                else:
                    younger += 1
                if exp is not None:
                    left_in.add(exp.name)
                continue
        ids.append(rid)
    removed_exps: list[Experiment] = []
    kept: list[str] = []
    if chosen is None:
        for exp in sorted(gone.values(), key=lambda e: e.name):
            if scope is not None and exp.name not in scope:
                continue
            if threshold is not None and (exp.last_update_time or now) > threshold:
                younger += 1
            elif exp.name in left_in:
                kept.append(exp.name)
            else:
                removed_exps.append(exp)
    return replace(
        _checked(index, ids, force=force),
        experiments=tuple(removed_exps),
        undated=tuple(undated),
        younger=younger,
        kept_experiments=tuple(kept),
        deleted_only=True,
    )


def remove(
    index: RunIndex, removal: Removal, *, on_run: Callable[[str], Any] | None = None
) -> None:
    """Carry out ``removal``: each run's ref (``on_run(run_id)`` after each), then each
    experiment's record. What changed since the plan is kept, and said after everything
    else (:class:`RunStateError`): in a purge, a run restored meanwhile (its own restore
    or its experiment's); an experiment a run of which appeared or stays."""
    from gittrack.client import Client

    client = Client(index.root)
    restored = []
    for rid in removal.runs:
        if removal.deleted_only and not _deleted(client, rid):
            restored.append(rid[:8])
            continue
        client.purge_run(rid)
        if on_run is not None:
            on_run(rid)
    kept = []
    if removal.experiments:
        index.refresh()
        left = index.experiment_spans()
        for exp in removal.experiments:
            try:
                if exp.name not in left:
                    exps.remove(client.store, exp.experiment_id)
                    continue
            except ExperimentError:  # restored meanwhile
                pass
            kept.append(repr(exp.name))
    why = []
    if restored:
        why.append(f"run(s) {', '.join(restored)}: restored meanwhile")
    if kept:
        why.append(f"experiment(s) {', '.join(kept)}: restored meanwhile, or a run of it stays")
    if why:
        raise RunStateError(f"kept {'; '.join(why)}")


def _deleted(client: Client, run_id: str) -> bool:
    """Whether the run reads as deleted now (its own stage, or its experiment's)."""
    loaded = exps.as_reported(client.store, client.store.load(run_id))
    return loaded.record.lifecycle_stage == "deleted"


# -- helpers -------------------------------------------------------------------------------
def _check_age(older_than: int) -> int:
    if isinstance(older_than, bool) or not isinstance(older_than, int) or older_than < 0:
        raise ValidationError(f"older_than must be 0 or more milliseconds, got {older_than!r}")
    return older_than


def _experiment(store: RunStore, text: str) -> Experiment:
    """The experiment named ``text``, else the one whose id it is."""
    found = exps.get_by_name(store, text) if text.strip() else None
    if found is None and text.strip().isdigit():
        try:
            found = exps.get(store, text)
        except ExperimentNotFoundError:
            found = None
    if found is None:
        raise ExperimentNotFoundError(f"no experiment named {text!r} and none with that id")
    return found


def _checked(index: RunIndex, ids: list[str], *, force: bool) -> Removal:
    """The removal of ``ids`` after the checks :func:`plan_removal` names."""
    from gittrack.client import Client
    from gittrack.models.registry import versions_of_run
    from gittrack.recovery import may_be_alive

    client: Client = Client(index.root)
    for rid in [] if force else ids:
        where = may_be_alive(client, rid)
        if where is not None:
            raise ValidationError(
                f"run {rid[:8]} is RUNNING and its process may still be logging to it "
                f"({where}); end it first, or pass --force"
            )
    needed_by = {rid: tuple(versions_of_run(index.runstore, rid)) for rid in ids}
    for rid, needed in needed_by.items():
        if needed and not force:
            mv = needed[0]
            more = f" (+{len(needed) - 1} more)" if len(needed) > 1 else ""
            raise ValidationError(
                f"run {rid[:8]} holds model {mv.name} version {mv.version}{more}; "
                f"remove the version first (gittrack models rm {mv.name}/{mv.version}) "
                "or pass --force"
            )
    gone = set(ids)
    children: dict[str, list[str]] = {}
    for row in index.rows():
        parent = row.get("parent_run_id")
        if parent in gone and row["run_id"] not in gone:
            children.setdefault(parent, []).append(row["run_id"])
    names = {e.run_id: e.name for e in index.entries_of(ids)}
    return Removal(
        runs=tuple(ids),
        names=names,
        needed_by={rid: mvs for rid, mvs in needed_by.items() if mvs},
        children={k: tuple(v) for k, v in children.items()},
    )
