"""Model URIs: ``runs:/<run>/<path>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
``models:/<name>/latest`` or a local directory, resolved to a local model directory.

Trust: a model recorded by another user or on another host (for example pulled from a
teammate) is refused unless the caller passes ``trust=True`` or sets
``GITTRACK_TRUST_MODELS=1``, because loading a pickled model runs its code.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gittrack.errors import ModelError

if TYPE_CHECKING:
    from gittrack.models.registry import ModelVersion
    from gittrack.runs import RunStore

__all__ = [
    "ResolvedModel",
    "parse_model_name",
    "parse_run_source",
    "registered_version",
    "resolve",
    "resolve_trusted",
    "version_source",
]

TRUST_ENV = "GITTRACK_TRUST_MODELS"


@dataclass(frozen=True)
class ResolvedModel:
    """A model URI made local: its directory and where it came from."""

    uri: str
    path: Path
    run_id: str | None
    origin: str | None  # "user@host" of the run that logged it, if from a run
    foreign: bool


def parse_run_source(text: str) -> tuple[str, str]:
    """``runs:/<run>/<path>`` or ``RUN[:path]`` -> (run reference, artifact path)."""
    if text.startswith("runs:/"):
        rest = text[len("runs:/") :].strip("/")
        run, _, path = rest.partition("/")
    else:
        run, _, path = text.partition(":")
    if not run:
        raise ModelError(f"{text!r} names no run; use runs:/<run_id>/<path> or RUN[:path]")
    return run, path.strip("/") or "model"


def parse_model_name(text: str) -> tuple[str, str | None, str | None]:
    """``NAME/VERSION`` -> (NAME, VERSION, None); ``NAME@ALIAS`` -> (NAME, None, ALIAS);
    ``NAME`` -> (NAME, None, None).

    As in MLflow's ``models:/`` URIs a ``/`` decides first (a name holds none): ``a@b/2``
    is version 2 of ``a@b``, and ``a@b/`` the model itself (VERSION ``""``). Otherwise an
    ``@`` splits at the last one (an alias holds none): ``a@b@prod`` is ``a@b``'s @prod."""
    if "/" in text:
        name, _, version = text.partition("/")
        return name, version, None
    if "@" in text:
        name, _, alias = text.rpartition("@")
        return name, None, alias
    return text, None, None


def _parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/name/3`` -> (name, "3", None); ``models:/name@prod`` -> (name, None, "prod")."""
    name, version, alias = parse_model_name(uri[len("models:/") :].strip("/"))
    if alias is not None:
        if not name or not alias:
            raise ModelError(f"malformed model URI {uri!r}; use models:/NAME@ALIAS")
        return name, None, alias
    if not name or not version or "/" in version:
        raise ModelError(f"malformed model URI {uri!r}; use models:/NAME/VERSION or NAME@ALIAS")
    return name, version, None


def registered_version(runs: RunStore, uri: str) -> ModelVersion:
    """The registry version ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` names."""
    from gittrack.models import registry

    name, version, alias = _parse_models_uri(uri)
    if alias is not None:
        return registry.version_by_alias(runs, name, alias)
    assert version is not None
    return registry.get_version(runs, name, version)


def version_source(
    runs: RunStore, source: str, model_id: str | None = None
) -> tuple[str, str, str | None] | None:
    """(run reference, artifact path, logged model id) a registry version made from
    ``source`` points at: a logged model (``model_id`` or ``models:/m-<id>``),
    ``runs:/<run>/<path>`` or another version (``models:/NAME/VERSION``, ``models:/NAME@ALIAS``:
    MLflow's ``copy_model_version``); None for any other source."""
    from gittrack.models import logged

    if model_id is None and source.startswith("models:/m-"):
        model_id = source[len("models:/") :].strip("/")
    if model_id is not None:
        model = logged.get(runs, model_id)
        if model.run_id is None:
            raise ModelError(
                f"logged model {model_id} was created outside a run and holds no model files: "
                "register a model logged in a run"
            )
        return model.run_id, model.artifact_path, model_id
    if source.startswith("runs:/"):
        run, path = parse_run_source(source)
        return run, path, None
    if source.startswith("models:/"):
        mv = registered_version(runs, source)
        return mv.run_id, mv.artifact_path, mv.model_id
    return None


def _download(run_id: str, path: str, uri: str, repo: str | os.PathLike[str] | None) -> Path:
    from gittrack.client import Client
    from gittrack.errors import ArtifactNotFoundError

    dst = tempfile.mkdtemp(prefix="gittrack-model-")
    # Loaded models may read their files (PythonModel artifacts) while the process runs.
    atexit.register(shutil.rmtree, dst, ignore_errors=True)
    try:
        return Path(Client(repo, create=False).download_artifacts(run_id, path, dst))
    except ArtifactNotFoundError as e:
        raise ModelError(f"no model at {uri}: {e.message}") from e


def resolve(uri: str, *, repo: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """Make ``uri`` a local model directory (downloading run artifacts when needed)."""
    text = str(uri).strip()
    if text.startswith("models:/"):
        from gittrack.session import open_repository

        mv = registered_version(open_repository(repo, create=False), text)
        return _from_run(text, mv.run_id, mv.artifact_path, repo)
    if text.startswith("runs:/"):
        run, path = parse_run_source(text)
        return _from_run(text, run, path, repo)
    if "://" in text or text.startswith(("models:", "runs:")):
        raise ModelError(f"unsupported model URI {text!r}: use runs:/, models:/ or a local path")
    local = Path(text).expanduser()
    if not local.is_dir():
        raise ModelError(f"no model directory at {text!r}")
    return ResolvedModel(uri=text, path=local, run_id=None, origin=None, foreign=False)


def _from_run(
    uri: str, run_ref: str, path: str, repo: str | os.PathLike[str] | None
) -> ResolvedModel:
    from gittrack.environment import current_host, current_user
    from gittrack.session import open_repository

    runs = open_repository(repo, create=False)
    run_id = runs.resolve(run_ref)
    record = runs.load(run_id).record
    origin = f"{record.user}@{record.host}"
    foreign = (record.user, record.host) != (current_user(), current_host())
    local = _download(run_id, path, uri, repo)
    return ResolvedModel(uri=uri, path=local, run_id=run_id, origin=origin, foreign=foreign)


def trust_from_env() -> bool:
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def resolve_trusted(
    uri: str, *, trust: bool | None = None, repo: str | os.PathLike[str] | None = None
) -> ResolvedModel:
    """Resolve ``uri`` and refuse a foreign model unless trusted (argument or env)."""
    resolved = resolve(uri, repo=repo)
    allowed = trust if trust is not None else trust_from_env()
    if resolved.foreign and not allowed:
        raise ModelError(
            f"model {uri} was logged by {resolved.origin}, not by this user and host; loading "
            f"it runs its code: pass trust=True (models serve --trust) or set {TRUST_ENV}=1 "
            "if you trust it"
        )
    return resolved
