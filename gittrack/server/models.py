"""MLflow 3's logged models and the model registry, over gittrack's registry refs.

A logged model lives in its run (:mod:`gittrack.models.logged`): its ``artifact_uri``
(``mlflow-artifacts:/<exp>/models/<model_id>/artifacts``, as MLflow's) reaches its folder
in the run's artifacts through the ordinary artifact endpoints. Registered models and
versions are :mod:`gittrack.models.registry`'s refs; a version registered from
``models:/m-<id>`` records the logged model and its run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from gittrack import experiments
from gittrack.errors import ModelNotFoundError
from gittrack.experiments import DEFAULT_EXPERIMENT_ID, id_of
from gittrack.models import logged, registry
from gittrack.models.search import (
    MODEL_ORDER,
    MODELS_DEFAULT_ORDER,
    VERSION_FIELDS,
    VERSION_ORDER,
    VERSIONS_DEFAULT_ORDER,
    VERSIONS_TIEBREAK,
    Getter,
    matcher,
    ordered,
)
from gittrack.models.uri import version_source
from gittrack.server.artifacts import model_artifact_uri, split_artifact_path
from gittrack.server.backend import Backend
from gittrack.server.protocol import (
    SEARCH_DEFAULT_RESULTS,
    SEARCH_MAX_RESULTS,
    api_route,
    artifact_uri,
    fields,
    get_int,
    get_list,
    get_str,
    key_values,
    max_results,
    mlflow_error,
    number,
    ok,
    page_offset,
    paged,
    pairs,
)
from gittrack.web.http import Request, Response, Router

__all__ = ["add_routes"]

_STATUS_OUT = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}
_STATUS_IN = {v: k for k, v in _STATUS_OUT.items()} | {"1": "PENDING", "2": "READY", "3": "FAILED"}


def logged_model_json(model: logged.LoggedModel, experiment_id: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.created,
        "last_updated_timestamp_ms": model.updated,
        "artifact_uri": model_artifact_uri(experiment_id, model.model_id),
        "status": _STATUS_OUT[model.status],
        "tags": pairs(model.tags.items()),
    }
    if model.run_id is not None:
        info["source_run_id"] = model.run_id
    if model.model_type:
        info["model_type"] = model.model_type
    metrics = [
        {
            "key": m.key,
            "value": number(m.value),
            "timestamp": m.timestamp,
            "step": m.step,
            "model_id": model.model_id,
            **{
                name: getattr(m, name)
                for name in ("run_id", "dataset_name", "dataset_digest")
                if getattr(m, name) is not None
            },
        }
        for m in model.metrics
    ]
    return {"info": info, "data": {"params": pairs(model.params.items()), "metrics": metrics}}


def _param_getter(key: str) -> Getter:
    return lambda m: m.params.get(key)


def _on(point: logged.ModelMetric, datasets: list[Any]) -> bool:
    """Whether ``point`` was measured on one of ``datasets`` (MLflow's ``{"dataset_name",
    "dataset_digest"}``, the digest optional); any point when none are named."""
    return not datasets or any(
        isinstance(d, dict)
        and d.get("dataset_name") == point.dataset_name
        and d.get("dataset_digest") in (None, "", point.dataset_digest)
        for d in datasets
    )


def _metric_getter(datasets: list[Any]) -> Callable[[str], Getter]:
    """Every point of the model's metric ``key`` (on ``datasets``, when named): a filter
    holds when one of them matches, as in MLflow's store."""

    def getter(key: str) -> Getter:
        return lambda m: [repr(p.value) for p in m.metrics if p.key == key and _on(p, datasets)]

    return getter


# search_logged_models' attribute sort keys (MLflow's names and aliases) and what they read
_LOGGED_ORDER: Mapping[str, Callable[[logged.LoggedModel], Any]] = {
    "name": lambda m: m.name,
    "model_id": lambda m: m.model_id,
    "creation_time": lambda m: m.created,
    "creation_timestamp": lambda m: m.created,
    "creation_timestamp_ms": lambda m: m.created,
    "last_updated_timestamp": lambda m: m.updated,
    "last_updated_timestamp_ms": lambda m: m.updated,
    "status": lambda m: _STATUS_OUT[m.status],
    "model_type": lambda m: m.model_type,
    "source_run_id": lambda m: m.run_id,
}


def _latest_point(key: str, term: Mapping[str, Any]) -> Callable[[logged.LoggedModel], Any]:
    """The model's latest point of metric ``key`` (by timestamp, then step), on the
    term's dataset when it names one, as a sort key (NaN above every number); None when
    it has none."""

    def read(model: logged.LoggedModel) -> Any:
        on = [term] if term.get("dataset_name") else []
        points = [p for p in model.metrics if p.key == key and _on(p, on)]
        if not points:
            return None
        value = max(points, key=lambda p: (p.timestamp, p.step)).value
        return (math.isnan(value), 0.0 if math.isnan(value) else value)

    return read


def _logged_order(
    models: list[logged.LoggedModel], order_by: list[Any]
) -> list[logged.LoggedModel]:
    """``models`` (newest first, then by id) in MLflow's ``order_by`` of logged models:
    ``{"field_name": "metrics.<key>" or an attribute, "ascending": bool}``, first term
    most significant, models lacking the value last."""
    for term in reversed(order_by):
        field = str(term.get("field_name")) if isinstance(term, dict) else ""
        kind, _, key = field.partition(".")
        if kind == "metrics" and key:
            read = _latest_point(key, term)
        elif field in _LOGGED_ORDER:
            read = _LOGGED_ORDER[field]
        else:
            raise mlflow_error("INVALID_PARAMETER_VALUE", f"Invalid order by field name: {field}")
        have = [m for m in models if read(m) is not None]
        lack = [m for m in models if read(m) is None]
        models = sorted(have, key=read, reverse=term.get("ascending", True) is False) + lack
    return models


def version_json(mv: registry.ModelVersion, aliases: Mapping[str, int | None]) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": str(mv.version),
        "creation_timestamp": mv.created,
        "last_updated_timestamp": mv.updated or mv.created,
        "user_id": mv.created_by,
        "current_stage": mv.stage,
        "description": mv.description or "",
        "source": mv.source_uri or mv.source,
        "run_id": mv.run_id,
        "status": "READY",
        "tags": pairs(mv.tags.items()),
        "aliases": sorted(a for a, v in aliases.items() if v == mv.version),
        **({"model_id": mv.model_id} if mv.model_id else {}),
    }


def add_routes(router: Router, backend: Backend) -> None:
    """Register the logged-model and model-registry endpoints."""

    route = api_route(router)

    def model_json(model: logged.LoggedModel) -> dict[str, Any]:
        return logged_model_json(model, id_of(backend.runs, model.experiment))

    # -- logged models ------------------------------------------------------------------
    @route("POST", "logged-models")
    def create_logged_model(request: Request) -> Response:
        data = fields(request)
        run_id = get_str(data, "source_run_id", required=False)
        experiment = None
        if not run_id:  # set_active_model, initialize_logged_model: the experiment's only
            eid = get_str(data, "experiment_id", required=False)
            experiment = experiments.get(backend.runs, eid or DEFAULT_EXPERIMENT_ID).name
        model = logged.create(
            backend.runs,
            backend.run_id(run_id) if run_id else None,
            get_str(data, "name", required=False) or "model",
            experiment=experiment,
            model_type=get_str(data, "model_type", required=False),
            tags=dict(key_values(data, "tags")),
            params=dict(key_values(data, "params")),
        )
        return ok({"model": model_json(model)})

    def model_id(request: Request) -> str:
        return request.params["model_id"]

    @route("GET", "logged-models/{model_id}")
    def get_logged_model(request: Request) -> Response:
        return ok({"model": model_json(logged.get(backend.runs, model_id(request)))})

    @route("PATCH", "logged-models/{model_id}")
    def finalize_logged_model(request: Request) -> Response:
        status = str(fields(request).get("status", ""))
        if status not in _STATUS_IN:
            raise mlflow_error("INVALID_PARAMETER_VALUE", f"Invalid logged model status {status!r}")
        model = logged.update(backend.runs, model_id(request), status=_STATUS_IN[status])
        return ok({"model": model_json(model)})

    @route("DELETE", "logged-models/{model_id}")
    def delete_logged_model(request: Request) -> Response:
        logged.delete(backend.runs, model_id(request))
        return ok()

    @route("PATCH", "logged-models/{model_id}/tags")
    def set_logged_model_tags(request: Request) -> Response:
        tags = dict(key_values(fields(request), "tags"))
        logged.update(backend.runs, model_id(request), tags=tags)
        return ok()

    @route("DELETE", "logged-models/{model_id}/tags/{tag_key}")
    def delete_logged_model_tag(request: Request) -> Response:
        logged.update(backend.runs, model_id(request), delete_tag=request.params["tag_key"])
        return ok()

    @route("POST", "logged-models/{model_id}/params")
    def log_logged_model_params(request: Request) -> Response:
        params = dict(key_values(fields(request), "params"))
        logged.update(backend.runs, model_id(request), params=params)
        return ok()

    @route("POST", "logged-models/search")
    def search_logged_models(request: Request) -> Response:
        data = fields(request)
        size = max_results(data, SEARCH_DEFAULT_RESULTS, SEARCH_MAX_RESULTS)
        wanted = set(data.get("experiment_ids") or [])
        datasets = data.get("datasets") or []
        check = matcher(
            get_str(data, "filter", required=False),
            {
                "name": lambda m: m.name,
                "model_id": lambda m: m.model_id,
                "source_run_id": lambda m: m.run_id,
                "model_type": lambda m: m.model_type,
                "status": lambda m: _STATUS_OUT[m.status],
            },
            {"params": _param_getter, "metrics": _metric_getter(datasets)},
        )
        found = [
            m
            for m in logged.list_logged_models(backend.runs)
            if (not wanted or id_of(backend.runs, m.experiment) in wanted)
            and check(m)
            and (not datasets or any(_on(p, datasets) for p in m.metrics))
        ]
        found = _logged_order(found, data.get("order_by") or [])
        chosen, more = paged(found, page_offset(data), size)
        return ok({"models": [model_json(m) for m in chosen], **more})

    @route("POST", "runs/outputs")
    def log_outputs(request: Request) -> Response:
        data = fields(request)
        rid = backend.run_id(get_str(data, "run_id"))
        for item in data.get("models") or []:
            if not isinstance(item, dict):
                raise mlflow_error("INVALID_PARAMETER_VALUE", "'models' must hold objects")
            logged.update(backend.runs, str(get_str(item, "model_id")), link_run=rid)
        return ok()

    # -- registered models ----------------------------------------------------------------
    def model_name(data: Mapping[str, Any]) -> str:
        return str(get_str(data, "name"))

    def aliases_of(name: str) -> dict[str, int | None]:
        return registry.get_model(backend.runs, name).aliases

    def registered_json(rm: registry.RegisteredModel) -> dict[str, Any]:
        latest = []
        if rm.latest is not None:
            latest = [version_json(registry.get_version(backend.runs, rm.name, rm.latest), {})]
        return {
            "name": rm.name,
            "creation_timestamp": rm.created,
            "last_updated_timestamp": rm.updated or rm.created,
            "description": rm.description or "",
            "latest_versions": latest,
            "tags": pairs(rm.tags.items()),
            "aliases": [
                {"alias": a, "version": str(v)} for a, v in sorted(rm.aliases.items()) if v
            ],
        }

    def missing_model(name: str) -> None:
        try:
            registry.get_model(backend.runs, name)
        except ModelNotFoundError as e:
            raise mlflow_error(
                "RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found"
            ) from e

    @route("POST", "registered-models/create")
    def create_registered_model(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        registry.validate_model_name(name)
        if any(m.name == name for m in registry.list_models(backend.runs)):
            raise mlflow_error(
                "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists."
            )
        rm = registry.create_model(
            backend.runs,
            name,
            description=get_str(data, "description", required=False),
            tags=dict(key_values(data, "tags")),
        )
        return ok({"registered_model": registered_json(rm)})

    @route("GET", "registered-models/get")
    def get_registered_model(request: Request) -> Response:
        name = model_name(fields(request))
        missing_model(name)
        return ok({"registered_model": registered_json(registry.get_model(backend.runs, name))})

    @route("PATCH", "registered-models/update")
    def update_registered_model(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        missing_model(name)
        description = get_str(data, "description", required=False)
        rm = registry.update_model(backend.runs, name, description=description or "")
        return ok({"registered_model": registered_json(rm)})

    @route("POST", "registered-models/rename")
    def rename_registered_model(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        missing_model(name)
        new_name = str(get_str(data, "new_name"))
        if any(m.name == new_name for m in registry.list_models(backend.runs)):
            raise mlflow_error(
                "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={new_name}) already exists."
            )
        rm = registry.rename_model(backend.runs, name, new_name)
        return ok({"registered_model": registered_json(rm)})

    @route("DELETE", "registered-models/delete")
    def delete_registered_model(request: Request) -> Response:
        name = model_name(fields(request))
        missing_model(name)
        registry.delete_model(backend.runs, name)
        return ok()

    def search_registered_models(request: Request) -> Response:
        data = fields(request)
        size = max_results(data, 100, 1000)
        check = matcher(get_str(data, "filter", required=False), {"name": lambda m: m.name})
        found = [m for m in registry.list_models(backend.runs) if check(m)]
        order = get_list(data, "order_by") or MODELS_DEFAULT_ORDER
        chosen, more = paged(ordered(found, order, MODEL_ORDER), page_offset(data), size)
        return ok({"registered_models": [registered_json(m) for m in chosen], **more})

    router.add("GET", "/api/2.0/mlflow/registered-models/search", search_registered_models)

    @route("POST", "registered-models/set-tag")
    def set_registered_model_tag(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        missing_model(name)
        key = str(get_str(data, "key"))
        registry.update_model(backend.runs, name, tags={key: data.get("value") or ""})
        return ok()

    @route("DELETE", "registered-models/delete-tag")
    def delete_registered_model_tag(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        missing_model(name)
        key = str(get_str(data, "key"))
        if key in registry.get_model(backend.runs, name).tags:  # MLflow: absent is no error
            registry.update_model(backend.runs, name, delete_tag=key)
        return ok()

    def latest_versions(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        missing_model(name)
        rm = registry.get_model(backend.runs, name)
        found = registry.latest_versions(backend.runs, name, data.get("stages") or [])
        return ok({"model_versions": [version_json(mv, rm.aliases) for mv in found]})

    path = "/api/2.0/mlflow/registered-models/get-latest-versions"
    router.add("POST", path, latest_versions, guard="preflight")
    router.add("GET", path, latest_versions)

    # -- model versions -------------------------------------------------------------------
    def source_of(data: Mapping[str, Any]) -> tuple[str, str, str | None]:
        """(run id, artifact path in the run, logged model id) a version is created from."""
        source = get_str(data, "source", required=False) or ""
        found_at = version_source(backend.runs, source, get_str(data, "model_id", required=False))
        if found_at is not None:
            run, path, mid = found_at
            return backend.run_id(run), path, mid
        prefix = "mlflow-artifacts:/"
        if source.startswith(prefix):
            found = split_artifact_path(backend, source[len(prefix) :])
            if found is not None and found[1]:
                return backend.run_id(found[0]), found[1], None
        raise mlflow_error(
            "INVALID_PARAMETER_VALUE",
            f"cannot register {source!r}: gittrack registers models logged in a run "
            "(models:/m-<id>, runs:/<run>/<path>, models:/<name>/<version> or this server's "
            "mlflow-artifacts:/ URI)",
        )

    def version_of(data: Mapping[str, Any]) -> registry.ModelVersion:
        name = model_name(data)
        number = get_int(data, "version", required=True)
        missing_model(name)
        try:
            return registry.get_version(backend.runs, name, str(number))
        except ModelNotFoundError as e:
            raise mlflow_error(
                "RESOURCE_DOES_NOT_EXIST",
                f"Model Version (name={name}, version={number}) not found",
            ) from e

    @route("POST", "model-versions/create")
    def create_model_version(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        missing_model(name)
        run_id, path, mid = source_of(data)
        mv = registry.register(
            backend.runs,
            run_id,
            name,
            path,
            description=get_str(data, "description", required=False),
            tags=dict(key_values(data, "tags")),
            model_id=mid,
            source_uri=get_str(data, "source", required=False),
        )
        return ok({"model_version": version_json(mv, {})})

    @route("GET", "model-versions/get")
    def get_model_version(request: Request) -> Response:
        mv = version_of(fields(request))
        return ok({"model_version": version_json(mv, aliases_of(mv.name))})

    @route("PATCH", "model-versions/update")
    def update_model_version(request: Request) -> Response:
        data = fields(request)
        mv = version_of(data)
        description = get_str(data, "description", required=False) or ""
        mv = registry.update_version(backend.runs, mv.name, mv.version, description=description)
        return ok({"model_version": version_json(mv, aliases_of(mv.name))})

    @route("POST", "model-versions/transition-stage")
    def transition_stage(request: Request) -> Response:
        data = fields(request)
        mv = version_of(data)
        archive = data.get("archive_existing_versions") in (True, "true", "True")
        mv = registry.transition_stage(
            backend.runs, mv.name, mv.version, str(get_str(data, "stage")), archive_existing=archive
        )
        return ok({"model_version": version_json(mv, aliases_of(mv.name))})

    @route("DELETE", "model-versions/delete")
    def delete_model_version(request: Request) -> Response:
        mv = version_of(fields(request))
        registry.delete_version(backend.runs, mv.name, mv.version, drop_aliases=True)
        return ok()

    @route("GET", "model-versions/search")
    def search_model_versions(request: Request) -> Response:
        data = fields(request)
        size = max_results(data, 10_000, 200_000)
        check = matcher(get_str(data, "filter", required=False), VERSION_FIELDS)
        models = registry.list_models(backend.runs)
        aliases = {rm.name: rm.aliases for rm in models}
        found = [
            mv for rm in models for mv in registry.list_versions(backend.runs, rm.name) if check(mv)
        ]
        order = get_list(data, "order_by") or VERSIONS_DEFAULT_ORDER
        found = ordered(found, order, VERSION_ORDER, VERSIONS_TIEBREAK)
        chosen, more = paged(found, page_offset(data), size)
        return ok({"model_versions": [version_json(mv, aliases[mv.name]) for mv in chosen], **more})

    @route("GET", "model-versions/get-download-uri")
    def get_download_uri(request: Request) -> Response:
        mv = version_of(fields(request))
        for model in logged.list_logged_models(backend.runs):
            if mv.model_id == model.model_id or (
                model.run_id == mv.run_id and model.artifact_path == mv.artifact_path
            ):  # a logged model's files are read where its client wrote them
                return ok({"artifact_uri": model_json(model)["info"]["artifact_uri"]})
        row = backend.row(mv.run_id)
        uri = artifact_uri(row["experiment_id"], mv.run_id)
        return ok({"artifact_uri": f"{uri}/{mv.artifact_path}"})

    @route("POST", "model-versions/set-tag")
    def set_model_version_tag(request: Request) -> Response:
        data = fields(request)
        mv = version_of(data)
        key = str(get_str(data, "key"))
        registry.update_version(
            backend.runs, mv.name, mv.version, tags={key: data.get("value") or ""}
        )
        return ok()

    @route("DELETE", "model-versions/delete-tag")
    def delete_model_version_tag(request: Request) -> Response:
        data = fields(request)
        mv = version_of(data)
        key = str(get_str(data, "key"))
        if key in mv.tags:  # MLflow: deleting a tag that is not there is no error
            registry.update_version(backend.runs, mv.name, mv.version, delete_tag=key)
        return ok()

    # -- aliases ------------------------------------------------------------------------
    @route("POST", "registered-models/alias")
    def set_alias(request: Request) -> Response:
        data = fields(request)
        mv = version_of(data)
        registry.set_alias(backend.runs, mv.name, str(get_str(data, "alias")), mv.version)
        return ok()

    @route("DELETE", "registered-models/alias")
    def delete_alias(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        missing_model(name)
        alias = str(get_str(data, "alias"))
        if aliases_of(name).get(alias) is not None:  # MLflow: absent is no error
            registry.delete_alias(backend.runs, name, alias)
        return ok()

    @route("GET", "registered-models/alias")
    def get_by_alias(request: Request) -> Response:
        data = fields(request)
        name = model_name(data)
        missing_model(name)
        alias = str(get_str(data, "alias"))
        aliases = aliases_of(name)
        if aliases.get(alias) is None and alias.lower() != "latest":  # MLflow's code, message
            raise mlflow_error(
                "INVALID_PARAMETER_VALUE", f"Registered model alias {alias} not found."
            )
        mv = registry.version_by_alias(backend.runs, name, alias)
        return ok({"model_version": version_json(mv, aliases)})
