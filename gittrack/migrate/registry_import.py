"""Bringing MLflow's model registry into gittrack's (after the runs it points at).

Each registered model keeps its name, description, tags and times; each version keeps
its number, run, source, stage, description, tags, creator and times; aliases name the
same versions. A version registered from an MLflow 3 logged model (``models:/m-<id>``)
points at that model's files, which the run import placed in the model's run. Importing
again changes only what differs (MLflow's values win); nothing is duplicated.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gittrack.errors import GittrackError, MigrationError, ModelNotFoundError
from gittrack.migrate.source import SourceRegisteredModel, SourceVersion

if TYPE_CHECKING:
    from gittrack.models.registry import ModelVersion
    from gittrack.runs import RunStore

# Where a version's files sit inside its run, when its source names the run's artifacts:
# file:///.../<exp>/<run>/artifacts/<path>, mlflow-artifacts:/<exp>/<run>/artifacts/<path>.
_RUN_ARTIFACT = re.compile(r"/([0-9a-f]{32})/artifacts/(.+?)/*$")


def import_registry(
    runs: RunStore, models: list[SourceRegisteredModel], skipped: list[tuple[str, str]]
) -> tuple[int, int]:
    """Import ``models``; return (models, versions) written or already up to date."""
    done_models = done_versions = 0
    for model in models:
        what = f"registered model {model.name}"
        try:
            versions = _import_model(runs, model, skipped)
        except GittrackError as e:
            skipped.append((what, e.message))
            continue
        done_models += 1
        done_versions += versions
    return done_models, done_versions


def _import_model(
    runs: RunStore, model: SourceRegisteredModel, skipped: list[tuple[str, str]]
) -> int:
    from gittrack.models import registry

    name = registry.validate_model_name(model.name)
    try:
        current = registry.get_model(runs, name)
    except ModelNotFoundError:
        current = registry.create_model(
            runs, name, description=model.description, tags=model.tags, now_ms=model.created
        )
    written = 0
    for version in model.versions:
        try:
            _import_version(runs, name, version)
            written += 1
        except GittrackError as e:
            skipped.append((f"model {name} version {version.version}", e.message))
    aliases = registry.get_model(runs, name).aliases
    for alias, number in sorted(model.aliases.items()):
        if aliases.get(alias) != number:
            try:
                registry.set_alias(runs, name, alias, number, now_ms=model.updated)
            except GittrackError as e:
                skipped.append((f"alias {name}@{alias}", e.message))
    current = registry.get_model(runs, name)
    stale = sorted(set(current.tags) - set(model.tags))
    for key in stale:
        registry.update_model(runs, name, delete_tag=key)
    if stale or (current.description, current.tags, current.updated) != (
        model.description,
        model.tags,
        model.updated,
    ):
        registry.update_model(
            runs, name, description=model.description, tags=model.tags, now_ms=model.updated
        )
    return written


def _files_of(runs: RunStore, version: SourceVersion) -> tuple[str, str]:
    """(run id, artifact path) of a version's model files in gittrack."""
    from gittrack.models import logged
    from gittrack.models.uri import parse_run_source

    model_id = version.model_id
    if model_id is None and version.source.startswith("models:/m-"):
        model_id = version.source[len("models:/") :].strip("/")  # servers may omit model_id
    if model_id:
        try:
            found = logged.get(runs, model_id)
        except ModelNotFoundError as e:
            raise MigrationError(
                f"its logged model {model_id} was not imported (is its run?)"
            ) from e
        if found.run_id is None:
            raise MigrationError(f"its logged model {model_id} holds no files (it has no run)")
        return found.run_id, found.artifact_path
    if version.source.startswith("runs:/"):
        run, path = parse_run_source(version.source)
        return run, path
    match = _RUN_ARTIFACT.search(version.source)
    if match is not None:
        return match.group(1), match.group(2)
    raise MigrationError(f"its source {version.source!r} is not inside a run")


def _import_version(runs: RunStore, name: str, version: SourceVersion) -> None:
    from gittrack.models import registry

    run_id, path = _files_of(runs, version)
    try:
        current: ModelVersion | None = registry.get_version(runs, name, version.version)
    except ModelNotFoundError:
        current = None
    if current is None:
        registry.register(
            runs,
            run_id,
            name,
            path,
            version=version.version,
            description=version.description,
            tags=version.tags,
            model_id=version.model_id,
            source_uri=version.source,
            created_by=version.user,
            stage=version.stage,
            now_ms=version.created,
            updated_ms=version.updated,
        )
        return
    if current.run_id != run_id:
        raise MigrationError(
            f"gittrack's version {version.version} is from run {current.run_id[:12]}, "
            f"MLflow's from {run_id[:12]}: left as it is"
        )
    for key in sorted(set(current.tags) - set(version.tags)):
        registry.update_version(runs, name, version.version, delete_tag=key)
    wanted = (version.description, version.tags, version.stage, version.updated)
    if (current.description, current.tags, current.stage, current.updated) != wanted:
        registry.update_version(
            runs,
            name,
            version.version,
            description=version.description,
            tags=version.tags,
            stage=version.stage,
            now_ms=version.updated,
        )
