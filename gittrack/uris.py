"""Artifact URIs: ``runs:/<run>/<path>`` names an artifact of a run (as in MLflow).

``runs:/<run_id>/model/MLmodel`` -> run ``<run_id>``, path ``model/MLmodel``. The run part
may be anything :meth:`gittrack.runs.RunStore.resolve` accepts (id, prefix, name); an empty
path (``runs:/<run_id>`` or ``runs:/<run_id>/``) means the run's whole artifact tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from gittrack.errors import ValidationError

RUNS_SCHEME = "runs:"

__all__ = ["RunsUri", "is_runs_uri", "parse_runs_uri", "runs_uri"]


@dataclass(frozen=True)
class RunsUri:
    """A parsed ``runs:/`` URI: the run reference and the artifact path ('' for all)."""

    run: str
    path: str


def is_runs_uri(text: str) -> bool:
    """True when ``text`` starts with ``runs:``."""
    return text.startswith(RUNS_SCHEME)


def parse_runs_uri(uri: str) -> RunsUri:
    """Split ``runs:/<run>/<path>`` into its run reference and artifact path."""
    if not is_runs_uri(uri):
        raise ValidationError(f"{uri!r} is not a runs:/ URI (expected runs:/<run_id>/<path>)")
    rest = uri[len(RUNS_SCHEME) :].lstrip("/")
    run, _, path = rest.partition("/")
    if not run.strip():
        raise ValidationError(f"{uri!r} names no run (expected runs:/<run_id>/<path>)")
    return RunsUri(run=run.strip(), path=path.strip("/"))


def runs_uri(run_id: str, path: str = "") -> str:
    """Build ``runs:/<run_id>/<path>``."""
    return f"{RUNS_SCHEME}/{run_id}/{path.lstrip('/')}"
