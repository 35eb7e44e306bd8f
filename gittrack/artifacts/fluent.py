"""Fluent artifact functions (``gittrack.log_artifact`` & co.), on the active run.

Like every fluent logging call, these start a run when none is active.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gittrack.errors import ValidationError
from gittrack.uris import is_runs_uri, parse_runs_uri

if TYPE_CHECKING:
    from gittrack.artifacts.api import FileInfo


def _active(run_id: str | None = None) -> tuple[Any, str]:
    from gittrack.fluent import client_and_run_id

    return client_and_run_id(run_id)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Log a file of the active run (or ``run_id``) as ``<artifact_path>/<file name>``."""
    client, rid = _active(run_id)
    client.log_artifact(rid, local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Log every file below ``local_dir`` under ``artifact_path`` (active run, or ``run_id``)."""
    client, rid = _active(run_id)
    client.log_artifacts(rid, local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Log a string as a text file of the active run (or ``run_id``)."""
    client, rid = _active(run_id)
    client.log_text(rid, text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a dict as JSON (or YAML for .yaml/.yml) in the active run (or ``run_id``)."""
    client, rid = _active(run_id)
    client.log_dict(rid, dictionary, artifact_file)


def log_figure(
    figure: Any, artifact_file: str, *, save_kwargs: Mapping[str, Any] | None = None
) -> None:
    """Log a matplotlib (or plotly, .html) figure in the active run; ``save_kwargs`` go to
    ``savefig`` (or ``to_html``), as MLflow's."""
    client, rid = _active()
    client.log_figure(rid, figure, artifact_file, save_kwargs=save_kwargs)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a dict or pandas DataFrame as a table (.json or .parquet) of the active run (or
    ``run_id``); rows are appended to a table already there."""
    client, rid = _active(run_id)
    client.log_table(rid, data, artifact_file)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = False,
) -> None:
    """Log a numpy array or PIL image of the active run, as ``artifact_file`` or as a
    time-stepped image under ``key``."""
    client, rid = _active()
    client.log_image(rid, image, artifact_file, key, step, timestamp, synchronous)


def _client() -> Any:
    from gittrack.fluent import current_client

    return current_client()


def list_artifacts(run_id: str, path: str | None = None) -> list[FileInfo]:
    """Files and directories directly below ``path`` of a run (``run_id`` may be a
    ``runs:/`` URI)."""
    if is_runs_uri(run_id):
        uri = parse_runs_uri(run_id)
        run_id, path = uri.run, path or uri.path
    result: list[FileInfo] = _client().list_artifacts(run_id, path)
    return result


def download_artifacts(
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | os.PathLike[str] | None = None,
    artifact_uri: str | None = None,
) -> str:
    """Download artifacts to ``dst_path`` (a new temp dir by default); return the local path.

    Give ``run_id`` (and optionally ``artifact_path``) or ``artifact_uri="runs:/<id>/<path>"``.
    Objects missing locally are fetched from the artifact remote and verified.
    """
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise ValidationError("give artifact_uri or run_id/artifact_path, not both")
        if not is_runs_uri(artifact_uri):
            raise ValidationError(
                f"artifact_uri {artifact_uri!r} is not supported (use runs:/<run_id>/<path>)"
            )
        uri = parse_runs_uri(artifact_uri)
        run_id, artifact_path = uri.run, uri.path
    if run_id is None:
        raise ValidationError("download_artifacts needs run_id or artifact_uri")
    result: str = _client().download_artifacts(run_id, artifact_path or "", dst_path)
    return result
