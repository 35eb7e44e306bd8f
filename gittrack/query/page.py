"""Pages of runs for tables: filter, sort and slice the index rows, one page at a time.

A table over 100,000 runs asks for the same filtered and sorted sequence again and again
(next page, previous page, a live refresh): the sequence is computed once and kept, keyed
by the index generation (:attr:`gittrack.index.RunIndex.generation`) and the normalised
filter, sort and experiments, so paging through it costs a slice. Any change to the runs
moves the generation and so invalidates every kept sequence.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import ValidationError
from gittrack.lifecycle import ViewType

if TYPE_CHECKING:
    from gittrack.index import RunIndex
    from gittrack.query.filter import Filter, SortKey
    from gittrack.query.frame import Frame

__all__ = [
    "ExperimentSummary",
    "RunKeys",
    "RunPage",
    "experiment_summaries",
    "matching_rows",
    "page_runs",
    "run_keys",
]

MAX_PAGE = 1000
_KEPT = 32  # filtered and sorted sequences kept (a few users x a few views)
_lock = threading.Lock()
_sequences: OrderedDict[tuple[Any, ...], tuple[Frame, list[int]]] = OrderedDict()
_frames: dict[Path, tuple[str, Frame]] = {}
_keys: dict[tuple[Path, str, tuple[str, ...]], RunKeys] = {}


@dataclass(frozen=True)
class RunPage:
    """One page of matching runs: ``rows`` are index rows (read-only), ``total`` all matches."""

    total: int
    offset: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class RunKeys:
    """The param, metric and tag keys and input names some run has (for choosing columns)."""

    params: list[str]
    metrics: list[str]
    tags: list[str]
    inputs: list[str]


@dataclass(frozen=True)
class ExperimentSummary:
    """An experiment with its number of runs and running runs (runs deleted with
    ``delete_run`` left out), the latest start of those runs (ms; None without runs)
    and its lifecycle stage (``active`` or ``deleted``)."""

    name: str
    experiment_id: str
    runs: int
    running: int
    last_start_time: int | None
    lifecycle_stage: str


def forget_kept() -> None:
    """Drop the frames and sequences this process keeps (the next search builds them)."""
    with _lock:
        _frames.clear()
        _sequences.clear()


def _frame(index: RunIndex) -> Frame:
    """The columnar view of the index's current rows (one per index file, kept while its
    generation lasts)."""
    from gittrack.query.frame import Frame

    generation = index.generation
    with _lock:
        found = _frames.get(index.path)
    if found is not None and found[0] == generation:
        return found[1]
    frame = Frame(index.rows())
    with _lock:
        _frames[index.path] = (generation, frame)
    return frame


def _sequence(
    index: RunIndex,
    flt: Filter,
    keys: list[SortKey],
    experiments: list[str] | None,
    *,
    experiment_ids: list[str] | None = None,
    stages: frozenset[str] | None = None,
) -> tuple[Frame, list[int]]:
    from gittrack.query.deleted import deleted_experiments

    exps = tuple(sorted(set(experiments or ())))
    ids = None if experiment_ids is None else tuple(sorted(set(experiment_ids)))
    kept_stages = None if stages is None else tuple(sorted(stages))
    gone = deleted_experiments(index)  # experiments change without moving the generation
    cache_key = (
        index.path,
        index.generation,
        str(flt),
        tuple(map(str, keys)),
        exps,
        ids,
        kept_stages,
        tuple(sorted(gone)),
    )
    with _lock:
        found = _sequences.get(cache_key)
        if found is not None:
            _sequences.move_to_end(cache_key)
            return found
    frame = _frame(index)
    # index rows come newest first: no tie-breaking sort keys are needed
    found = (
        frame,
        frame.sequence(
            flt, keys, exps, experiment_ids=ids, stages=stages, deleted_experiments=gone
        ),
    )
    with _lock:
        # sequences of an older generation are never asked for again; dropping them
        # also lets go of their frames (a live refresh makes a generation every flush)
        for old in [k for k in _sequences if k[0] == index.path and k[1] != cache_key[1]]:
            del _sequences[old]
        _sequences[cache_key] = found
        while len(_sequences) > _KEPT:
            _sequences.popitem(last=False)
    return found


def matching_rows(
    index: RunIndex,
    flt: Filter,
    keys: list[SortKey],
    *,
    experiments: list[str] | None = None,
    experiment_ids: list[str] | None = None,
    stages: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Every row matching ``flt`` (in ``experiments`` / ``experiment_ids`` / lifecycle
    ``stages`` when given), sorted by ``keys``, newest first when none, as the index is
    (refresh it first). The runs of deleted experiments are deleted runs, and left out
    unless ``experiments`` or ``experiment_ids`` are given (MLflow's search).

    The sequence is kept as :func:`page_runs` keeps it, so asking again while no run
    changed costs a list of the rows (read-only: the index's own).
    """
    frame, positions = _sequence(
        index, flt, keys, experiments, experiment_ids=experiment_ids, stages=stages
    )
    rows = frame.rows
    return [rows[i] for i in positions]


def page_runs(
    index: RunIndex,
    *,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    experiments: list[str] | None = None,
    offset: int = 0,
    limit: int = 50,
    view_type: int = ViewType.ACTIVE_ONLY,
) -> RunPage:
    """The runs ``offset .. offset+limit`` of those matching ``filter_string`` (the
    ``gittrack list --filter`` grammar), sorted by ``order_by`` (newest first by default),
    in the lifecycle stages of ``view_type`` (active runs, as ``gittrack list`` and
    ``search_runs`` show by default).

    The index is refreshed first. A malformed filter raises FilterSyntaxError.
    """
    if offset < 0:
        raise ValidationError(f"offset must be 0 or more, got {offset}")
    if not 0 < limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    from gittrack.query.filter import parse_filter, parse_order_by

    flt, keys = parse_filter(filter_string), parse_order_by(order_by)
    index.refresh()
    stages = ViewType.stages(view_type)
    every = stages == ViewType.stages(ViewType.ALL)  # as search_runs: no stage filter
    frame, positions = _sequence(index, flt, keys, experiments, stages=None if every else stages)
    rows = [frame.rows[i] for i in positions[offset : offset + limit]]
    return RunPage(total=len(positions), offset=offset, rows=rows)


def run_keys(index: RunIndex, experiments: list[str] | None = None) -> RunKeys:
    """Every param, metric and tag key and input name of the (experiments') runs, sorted."""
    index.refresh()
    exps = tuple(sorted(set(experiments or ())))
    cache_key = (index.path, index.generation, exps)
    found = _keys.get(cache_key)
    if found is not None:
        return found
    seen: dict[str, set[str]] = {"params": set(), "metrics": set(), "tags": set(), "inputs": set()}
    for row in index.rows(list(exps) or None):
        for kind, keys in seen.items():
            keys.update(row.get(kind, ()))
    found = RunKeys(*(sorted(seen[k]) for k in ("params", "metrics", "tags", "inputs")))
    with _lock:
        for stale in [k for k in _keys if k[0] == index.path and k[1] != cache_key[1]]:
            del _keys[stale]
        _keys[cache_key] = found
    return found


def experiment_summaries(
    index: RunIndex, view_type: int = ViewType.ACTIVE_ONLY
) -> list[ExperimentSummary]:
    """Every experiment of ``view_type`` (:class:`~gittrack.lifecycle.ViewType`, active
    only by default), those without runs included, with its counts: most recently used
    first (its latest run's start, else its creation), then by name. The index is
    refreshed; the counts come from one grouped query."""
    from gittrack.experiments import list_experiments

    index.refresh()
    counts: dict[str, tuple[int, int, int | None]] = {
        name: (n, running, last) for name, n, running, last in index.experiment_counts()
    }
    listed = list_experiments(index.runstore, view_type, spans=index.experiment_spans())
    found = []
    for e in listed:
        n, running, last = counts.get(e.name, (0, 0, None))
        summary = ExperimentSummary(e.name, e.experiment_id, n, running, last, e.lifecycle_stage)
        found.append((summary, e.creation_time))
    found.sort(key=lambda f: f[0].name)
    found.sort(key=lambda f: f[0].last_start_time or f[1] or 0, reverse=True)
    return [summary for summary, _ in found]
