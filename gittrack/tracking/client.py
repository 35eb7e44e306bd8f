"""``MlflowClient``: MLflow's client, its argument order and return types, over gittrack.

It is :class:`gittrack.client.Client` (every gittrack call stays available) with MLflow's
constructor, ``search_runs`` (experiment ids first, ``Run`` objects in pages) and the
model registry calls, which answer MLflow's ``ModelVersion`` entities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from gittrack.client import Client
from gittrack.entities import Run, ViewType
from gittrack.errors import ValidationError

if TYPE_CHECKING:
    from gittrack.experiments import Experiment

__all__ = ["MlflowClient", "ModelVersion", "PagedList", "RegisteredModel"]

T = TypeVar("T")
SEARCH_MAX_RESULTS_DEFAULT = 1000  # MLflow's client default for search_runs
MODEL_VERSIONS_MAX_RESULTS_DEFAULT = 10_000
REGISTERED_MODELS_MAX_RESULTS_DEFAULT = 100


class PagedList(list[T]):
    """A page of results; ``token`` fetches the next page (None on the last one)."""

    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version, shaped like MLflow's ``ModelVersion`` entity."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    user_id: str | None
    current_stage: str
    source: str
    run_id: str
    status: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None


@dataclass(frozen=True)
class RegisteredModel:
    """MLflow's ``RegisteredModel`` entity: a name, its latest version per stage, aliases."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> version, as MLflow


def _page(items: list[T], max_results: int, page_token: str | None) -> PagedList[T]:
    if not isinstance(max_results, int) or max_results < 1:
        raise ValidationError(f"max_results must be a positive integer, got {max_results!r}")
    start = 0
    if page_token:
        if not page_token.isdigit():
            raise ValidationError(f"invalid page_token {page_token!r}")
        start = int(page_token)
    end = start + max_results
    return PagedList(items[start:end], str(end) if end < len(items) else None)


class MlflowClient(Client):
    """MLflow's ``MlflowClient`` over a gittrack repository.

    ``tracking_uri`` is a path or ``file:`` URI (None: the repository around the current
    directory, as for the fluent API); the model registry is kept in the same repository.
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        from gittrack.config import tracking_repository_at

        repo = None if tracking_uri is None else tracking_repository_at(tracking_uri)
        super().__init__(repo)
        if registry_uri is not None and tracking_repository_at(registry_uri) != self.repo:
            raise ValidationError(
                f"registry URI {registry_uri!r} is not the tracking repository: gittrack "
                "keeps the model registry in the tracking repository (omit registry_uri)"
            )

    def create_run(  # type: ignore[override]  # MLflow's order, not Client's
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run in experiment ``experiment_id``."""
        return super().create_run(
            experiment_id=str(experiment_id), start_time=start_time, tags=tags, run_name=run_name
        )

    def log_metric(  # type: ignore[override]  # MLflow's order: timestamp before step
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Log one metric point (``timestamp`` defaults to now, ``step`` to 0)."""
        super().log_metric(run_id, key, value, step, timestamp, synchronous)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End a run (``status`` FINISHED unless given)."""
        super().set_terminated(run_id, status or "FINISHED", end_time)

    def search_runs(  # type: ignore[override]  # MLflow's order, not Client's
        self,
        experiment_ids: list[str] | str,
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """Runs of ``experiment_ids`` matching the filter, as ``Run`` objects, one page at a
        time (``page_token`` from the previous page's ``token``)."""
        from gittrack.query.search import query_rows

        self.flush()
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        rows = query_rows(
            filter_string,
            order_by,
            repo=self.repo,
            experiment_ids=ids,
            view_type=run_view_type,
        )
        return _page([Run.from_row(r) for r in rows], max_results, page_token)

    def search_experiments(  # type: ignore[override]  # pages, as MLflow's
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """Experiments matching MLflow's experiment filter, one page at a time
        (``page_token`` from the previous page's ``token``)."""
        found = super().search_experiments(view_type, None, filter_string, order_by)
        return _page(found, max_results, page_token)

    # -- the model registry -------------------------------------------------------------
    def _version(self, mv: Any, aliases: dict[str, int | None]) -> ModelVersion:
        return ModelVersion(
            name=mv.name,
            version=mv.version,
            creation_timestamp=mv.created,
            last_updated_timestamp=mv.updated or mv.created,
            description=mv.description,
            user_id=mv.created_by or None,
            current_stage=mv.stage,
            source=mv.source_uri or mv.source,
            run_id=mv.run_id,
            tags=dict(mv.tags),
            aliases=sorted(a for a, v in aliases.items() if v == mv.version),
            model_id=mv.model_id,
        )

    def _aliases(self, name: str) -> dict[str, int | None]:
        from gittrack.models import registry

        return registry.get_model(self.store, name).aliases

    def _registered(self, model: Any) -> RegisteredModel:
        """MLflow's entity of a :class:`gittrack.models.registry.RegisteredModel`."""
        from gittrack.models import registry

        name = model.name
        latest = [
            self._version(mv, model.aliases) for mv in registry.latest_versions(self.store, name)
        ]
        return RegisteredModel(
            name=model.name,
            creation_timestamp=model.created,
            last_updated_timestamp=model.updated or model.created,
            description=model.description,
            latest_versions=latest,
            tags=dict(model.tags),
            aliases={a: str(v) for a, v in sorted(model.aliases.items()) if v is not None},
        )

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """Register a model name before any version (an existing name is an error)."""
        from gittrack.models import registry

        return self._registered(
            registry.create_model(self.store, name, description=description, tags=tags)
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model: description, tags, aliases and its latest version per stage."""
        from gittrack.models import registry

        return self._registered(registry.get_model(self.store, name))

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version of a registered model."""
        from gittrack.models import registry

        return self._version(registry.get_version(self.store, name, version), self._aliases(name))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``name@alias`` points at."""
        from gittrack.models import registry

        mv = registry.version_by_alias(self.store, name, alias)
        return self._version(mv, self._aliases(name))

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``name@alias`` at ``version`` (the move is kept in the alias history)."""
        from gittrack.models import registry

        registry.set_alias(self.store, name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias (its history stays)."""
        from gittrack.models import registry

        registry.delete_alias(self.store, name, alias)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        """Change a registered model's description."""
        from gittrack.models import registry

        return self._registered(registry.update_model(self.store, name, description=description))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Give a registered model a new name; its versions, aliases and tags move with it."""
        from gittrack.models import registry

        return self._registered(registry.rename_model(self.store, name, new_name))

    def delete_registered_model(self, name: str) -> None:
        """Remove a registered model with every version and alias (its runs stay)."""
        from gittrack.models import registry

        registry.delete_model(self.store, name)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set a tag on a registered model."""
        from gittrack.models import registry

        registry.update_model(self.store, name, tags={key: value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a registered model's tag (one it does not have: nothing to do, as MLflow)."""
        from gittrack.models import registry

        if key in registry.get_model(self.store, name).tags:
            registry.update_model(self.store, name, delete_tag=key)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Create the next version of ``name`` (registered first with
        :meth:`create_registered_model`) from a model logged in a run: ``source`` is
        ``runs:/<run>/<path>``, ``models:/m-<id>`` (or ``model_id``), another version's
        ``models:/NAME/VERSION``, or the model's path in ``run_id``. ``run_link`` and
        ``await_creation_for`` are accepted for MLflow's signature: a version is ready
        when this returns."""
        from gittrack.models import registry
        from gittrack.models.uri import version_source

        registry.get_model(self.store, name)  # MLflow: the name must be registered first
        found = version_source(self.store, source, model_id)
        if found is None:
            if run_id is None:
                raise ValidationError(
                    f"cannot register {source!r}: give runs:/<run>/<path>, models:/m-<id>, "
                    "models:/NAME/VERSION, or the model's path with run_id"
                )
            found = (run_id, source, None)
        run, path, mid = found
        mv = registry.register(
            self.store,
            run,
            name,
            path,
            description=description,
            tags=tags,
            model_id=mid,
            source_uri=source,
        )
        return self._version(mv, self._aliases(name))

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """A new version of ``dst_name`` (registered now if it is not) pointing at the model
        ``src_model_uri`` (``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``) points at."""
        from gittrack.errors import ModelNotFoundError
        from gittrack.models import registry

        try:
            registry.get_model(self.store, dst_name)
        except ModelNotFoundError:
            registry.create_model(self.store, dst_name)
        return self.create_model_version(dst_name, src_model_uri)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        """Change a version's description."""
        from gittrack.models import registry

        mv = registry.update_version(self.store, name, version, description=description)
        return self._version(mv, self._aliases(name))

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Remove one version and the aliases naming it, as MLflow does (their history
        stays); its number is never given again."""
        from gittrack.models import registry

        registry.delete_version(self.store, name, version, drop_aliases=True)

    def set_model_version_tag(
        self,
        name: str,
        version: int | str | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        """Set a tag on a version (given by number, or the latest in ``stage``)."""
        from gittrack.models import registry

        number = self._version_number(name, version, stage)
        registry.update_version(self.store, name, number, tags={str(key): value})

    def delete_model_version_tag(
        self,
        name: str,
        version: int | str | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        """Remove a version's tag (one it does not have: nothing to do, as MLflow)."""
        from gittrack.models import registry

        number = self._version_number(name, version, stage)
        if key in registry.get_version(self.store, name, number).tags:
            registry.update_version(self.store, name, number, delete_tag=key)

    def _version_number(self, name: str, version: int | str | None, stage: str | None) -> int:
        """MLflow's version-or-stage argument pair, as a version number."""
        from gittrack.models import registry

        if (version is None) == (stage is None):
            raise ValidationError("give exactly one of version and stage")
        if version is not None:
            return registry.get_version(self.store, name, version).version
        latest = registry.latest_versions(self.store, name, [str(stage)])
        if not latest:
            raise ValidationError(f"model {name!r} has no version in stage {stage!r}")
        return latest[0].version

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where the version's model files are: its run's artifact URI and path."""
        from gittrack.entities import RunInfo
        from gittrack.models import registry

        mv = registry.get_version(self.store, name, version)
        return RunInfo.artifact_uri_of(mv.run_id) + mv.artifact_path

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        """The latest version in each stage (of ``stages``, else of every stage)."""
        from gittrack.models import registry

        aliases = self._aliases(name)
        return [
            self._version(mv, aliases) for mv in registry.latest_versions(self.store, name, stages)
        ]

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Move a version to an MLflow stage (None, Staging, Production, Archived)."""
        from gittrack.models import registry

        mv = registry.transition_stage(
            self.store, name, version, stage, archive_existing=archive_existing_versions
        )
        return self._version(mv, self._aliases(name))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Versions matching MLflow's registry filter (``name``, ``run_id``,
        ``source_path``, ``version_number``, ``tags.<key>``; =, !=, LIKE, ILIKE, AND), by
        default most recently changed first (then name, then newest version), as MLflow."""
        from gittrack.models import registry
        from gittrack.models.search import (
            VERSION_ORDER,
            VERSIONS_DEFAULT_ORDER,
            VERSIONS_TIEBREAK,
            ordered,
            version_matcher,
        )

        check = version_matcher(filter_string)
        models = registry.list_models(self.store)
        aliases = {model.name: model.aliases for model in models}
        found = [
            mv
            for model in models
            for mv in registry.list_versions(self.store, model.name)
            if check(mv)
        ]
        found = ordered(found, order_by or VERSIONS_DEFAULT_ORDER, VERSION_ORDER, VERSIONS_TIEBREAK)
        return _page([self._version(mv, aliases[mv.name]) for mv in found], max_results, page_token)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """Registered models matching MLflow's registry filter (``name``, ``tags.<key>``;
        =, !=, LIKE, ILIKE, AND), by name unless ``order_by`` says otherwise, as MLflow."""
        from gittrack.models import registry
        from gittrack.models.search import MODEL_ORDER, MODELS_DEFAULT_ORDER, matcher, ordered

        check = matcher(filter_string, {"name": lambda m: m.name})
        found = [m for m in registry.list_models(self.store) if check(m)]
        found = ordered(found, order_by or MODELS_DEFAULT_ORDER, MODEL_ORDER)
        return _page([self._registered(m) for m in found], max_results, page_token)
