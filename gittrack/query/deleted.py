"""Which experiments are deleted, as every search needs to know (their runs are left
out): kept in the run index for the values of the experiment refs, so a listing reads
only those refs, and opens the repository only after an experiment changed."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from gittrack.naming import EXPERIMENT_REF_ROOT

if TYPE_CHECKING:
    from gittrack.index import RunIndex

__all__ = ["deleted_experiments"]

_KEPT_AS = "deleted-experiments"


def deleted_experiments(index: RunIndex) -> frozenset[str]:
    """The names of the deleted experiments of ``index``'s repository."""
    from gittrack.store.refs import list_refs

    stored = {}
    for ref, commit in list_refs(index.common_dir, EXPERIMENT_REF_ROOT).items():
        if "/" not in (eid := ref[len(EXPERIMENT_REF_ROOT) :]):
            stored[eid] = commit
    if not stored:
        return frozenset()
    signature = hashlib.sha1(repr(sorted(stored.items())).encode()).hexdigest()
    kept = index.kept_value(_KEPT_AS, signature)
    if kept is not None:
        return frozenset(json.loads(kept))
    from gittrack.experiments import deleted_among

    found = deleted_among(lambda: index.runstore, stored)
    index.keep_value(_KEPT_AS, signature, json.dumps(found, ensure_ascii=False))
    return frozenset(found)
