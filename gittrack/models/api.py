"""Models independent of their flavor: log a saved model directory as run artifacts, load,
register, alias (the flavors build on this; :mod:`gittrack.models.flavors` picks one)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gittrack.errors import ModelError
from gittrack.models.mlmodel import MLModel, PyFuncModel, load_pyfunc
from gittrack.models.signature import ModelSignature

__all__ = [
    "ModelInfo",
    "load_model",
    "log_saved_model",
    "register_model",
    "set_model_alias",
]


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns: where the model went."""

    model_uri: str
    run_id: str
    artifact_path: str
    flavors: dict[str, Any]
    signature: ModelSignature | None
    model_uuid: str
    registered_model_version: int | None = None


def _artifact_name(name: str) -> str:
    clean = name.strip().strip("/")
    parts = clean.split("/")
    if not clean or any(p in ("", ".", "..") for p in parts) or "\\" in clean:
        raise ModelError(f"model name {name!r} is not a relative artifact path; use e.g. 'model'")
    return clean


def log_saved_model(
    save: Callable[[Path], None], *, name: str, registered_model_name: str | None
) -> ModelInfo:
    """Save through ``save`` into a temporary directory, then log it as run artifacts."""
    from gittrack.fluent import client_and_run_id

    artifact_path = _artifact_name(name)
    client, run_id = client_and_run_id()
    with tempfile.TemporaryDirectory(prefix="gittrack-model-") as tmp:
        local = Path(tmp) / "model"
        save(local)
        meta = MLModel.load(local)
        meta.run_id = run_id
        meta.artifact_path = artifact_path
        meta.save(local)
        client.log_artifacts(run_id, local, artifact_path)
    client.flush(run_id)
    version = None
    if registered_model_name is not None:
        version = register_model(
            f"runs:/{run_id}/{artifact_path}", registered_model_name, repo=client.repo
        ).version
    return ModelInfo(
        model_uri=f"runs:/{run_id}/{artifact_path}",
        run_id=run_id,
        artifact_path=artifact_path,
        flavors=meta.flavors,
        signature=meta.signature,
        model_uuid=meta.model_uuid,
        registered_model_version=version,
    )


def load_model(
    model_uri: str, *, trust: bool | None = None, repo: str | os.PathLike[str] | None = None
) -> PyFuncModel:
    """Load a model URI (``runs:/``, ``models:/``, local path); returns ``.predict(data)``.

    A model from a run another user or host recorded (e.g. pulled) loads only with
    ``trust=True`` or ``GITTRACK_TRUST_MODELS=1``: unpickling runs code.
    """
    from gittrack.models.uri import resolve_trusted

    resolved = resolve_trusted(model_uri, trust=trust, repo=repo)
    return load_pyfunc(resolved.path, what=model_uri)


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    repo: str | os.PathLike[str] | None = None,
) -> Any:
    """Create the next version of ``name`` from ``runs:/<run>/<path>`` (or ``RUN[:path]``),
    a logged model's ``models:/m-<id>`` or another version's ``models:/NAME/VERSION``, with
    ``tags`` on the version. ``await_registration_for`` is accepted for MLflow's signature:
    the version is ready when this returns."""
    from gittrack.models import registry
    from gittrack.models.uri import parse_run_source, version_source
    from gittrack.session import open_repository

    runs = open_repository(repo, create=False)
    run_ref, path, model_id = version_source(runs, model_uri) or (
        *parse_run_source(model_uri),
        None,
    )
    return registry.register(
        runs, run_ref, name, path, description=description, tags=tags, model_id=model_id
    )


def set_model_alias(
    name: str, alias: str, version: int | str, *, repo: str | os.PathLike[str] | None = None
) -> Any:
    """Point ``name@alias`` at ``version`` (the move is recorded in the alias history)."""
    from gittrack.models import registry
    from gittrack.session import open_repository

    return registry.set_alias(open_repository(repo, create=False), name, alias, version)
