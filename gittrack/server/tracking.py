"""MLflow's tracking endpoints (experiments, runs, metrics) over gittrack's library.

Every handler reads its fields, calls the same public library functions as the CLI and
answers MLflow's JSON. A run's ``artifact_uri`` is ``mlflow-artifacts:/<exp>/<run>/artifacts``
so that clients send artifacts through this server (see :mod:`gittrack.server.artifacts`).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from gittrack import experiments
from gittrack.entities import DATASET_CONTEXT_TAG, Metric, ViewType, mlflow_dataset
from gittrack.errors import ExperimentNotFoundError, ValidationError
from gittrack.experiments import Experiment
from gittrack.format import PARENT_RUN_TAG, RUN_NAME_TAG, STATUSES
from gittrack.lineage.inputs import record_dataset
from gittrack.models import logged
from gittrack.naming import new_run_name
from gittrack.query.search import query_rows
from gittrack.server.backend import Backend
from gittrack.server.protocol import (
    SEARCH_DEFAULT_RESULTS,
    SEARCH_MAX_RESULTS,
    api_route,
    artifact_uri,
    fields,
    finite,
    get_float,
    get_int,
    get_list,
    get_str,
    key_values,
    max_results,
    mlflow_error,
    number,
    ok,
    ok_encoded,
    page_offset,
    paged,
    pairs,
)
from gittrack.validation import param_text
from gittrack.web.http import Request, Response, Router, json_bytes

__all__ = ["add_routes", "encoded_runs", "experiment_json", "run_json"]

HISTORY_MAX_RESULTS = 25_000
# MLflow's log-batch limits (one request): 1000 metrics, 100 params, 100 tags, 1000 in all.
BATCH_LIMITS = {"metrics": 1000, "params": 100, "tags": 100}
BATCH_TOTAL_LIMIT = 1000
# Run messages already encoded, one per run state (run id, commit, lifecycle stage): a
# run's row, and so its JSON, is a function of its commit and of whether its experiment
# is deleted. Encoding the runs a search answers cost more
# than the search itself (500 runs: about 30 ms, against a fraction of a millisecond
# for joining the kept ones). At most _ENCODED_KEPT (about 1 KB each), least recently
# answered dropped first.
_ENCODED_KEPT = 20_000
_encoded: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
_encoded_lock = threading.Lock()


# -- entities as MLflow's JSON ----------------------------------------------------------------
def run_info_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """``RunInfo`` of a run row (the shape of :func:`gittrack.index_build.row_from_record`)."""
    eid = row["experiment_id"]
    info: dict[str, Any] = {
        "run_id": row["run_id"],
        "run_uuid": row["run_id"],
        "run_name": row["name"],
        "experiment_id": eid,
        "user_id": row["user"],
        "status": row["status"],
        "start_time": row["start_time"],
        "artifact_uri": artifact_uri(eid, row["run_id"]),
        "lifecycle_stage": row.get("lifecycle_stage") or "active",
    }
    if row["end_time"] is not None:
        info["end_time"] = row["end_time"]
    return info


def run_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A run row as MLflow's ``Run`` message."""
    tags = row["tags"]  # MLflow's system tags included (gittrack.format.run_tags)
    steps = row.get("metric_steps") or {}
    metrics = []
    for key, value in row["metrics"].items():
        step, stamp = steps.get(key) or (0, row["start_time"])
        metrics.append({"key": key, "value": number(value), "timestamp": stamp, "step": step})
    data = {
        "metrics": metrics,
        "params": pairs((k, param_text(v)) for k, v in row["params"].items()),
        "tags": pairs(tags.items()),
    }
    datasets = [
        _dataset_input_json(name, entry) for name, entry in (row.get("inputs") or {}).items()
    ]
    return {"info": run_info_json(row), "data": data, "inputs": {"dataset_inputs": datasets}}


def encoded_runs(rows: list[dict[str, Any]]) -> list[bytes]:
    """:func:`run_json` of each index row, JSON-encoded (kept per run state)."""
    keys = [(r["run_id"], r["commit"], r.get("lifecycle_stage") or "") for r in rows]
    with _encoded_lock:
        out = [_encoded.get(k) for k in keys]
        for k, body in zip(keys, out, strict=True):
            if body is not None:
                _encoded.move_to_end(k)
    new = {}
    for i, row in enumerate(rows):
        if out[i] is None:
            out[i] = new[keys[i]] = json_bytes(run_json(row))
    if new:
        with _encoded_lock:
            _encoded.update(new)
            while len(_encoded) > _ENCODED_KEPT:
                _encoded.popitem(last=False)
    return [b for b in out if b is not None]


def _dataset_input_json(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """MLflow's ``DatasetInput`` of one run input (a dataset an MLflow client logged
    comes back as sent: its schema, profile and tags)."""
    dataset, tags = mlflow_dataset(name, dict(entry))
    return {"tags": pairs(sorted(tags.items())), "dataset": dataset}


def experiment_json(exp: Experiment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": exp.artifact_location,
        "lifecycle_stage": exp.lifecycle_stage,
        "tags": pairs(exp.tags.items()),
    }
    if exp.creation_time is not None:
        out["creation_time"] = exp.creation_time
    if exp.last_update_time is not None:
        out["last_update_time"] = exp.last_update_time
    return out


def view_type(value: Any) -> int:
    if value is None or value == "":
        return ViewType.ACTIVE_ONLY
    if isinstance(value, str) and not value.isdigit():
        with contextlib.suppress(ValidationError):
            return ViewType.from_string(value)
    if isinstance(value, int | str) and str(value).isdigit() and int(value) in (1, 2, 3):
        return int(value)
    raise mlflow_error("INVALID_PARAMETER_VALUE", f"Invalid view type {value!r}")


# -- routes ---------------------------------------------------------------------------------
def add_routes(router: Router, backend: Backend) -> None:
    """Register the experiments, runs and metrics endpoints of MLflow's REST API 2.0."""

    route = api_route(router)

    # -- experiments --------------------------------------------------------------------
    def experiment_of(data: Mapping[str, Any]) -> Experiment:
        eid = get_str(data, "experiment_id")
        assert eid is not None
        try:
            return experiments.get(backend.runs, eid)
        except ExperimentNotFoundError as e:
            raise mlflow_error(
                "RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={eid} exists"
            ) from e

    @route("POST", "experiments/create")
    def create_experiment(request: Request) -> Response:
        data = fields(request)
        name = get_str(data, "name")
        assert name is not None
        if experiments.get_by_name(backend.runs, name) is not None:
            raise mlflow_error(
                "RESOURCE_ALREADY_EXISTS", f"Experiment(name={name}) already exists."
            )
        location = get_str(data, "artifact_location", required=False)
        eid = experiments.create(backend.runs, name, location, dict(key_values(data, "tags")))
        return ok({"experiment_id": eid})

    @route("GET", "experiments/get")
    def get_experiment(request: Request) -> Response:
        return ok({"experiment": experiment_json(experiment_of(fields(request)))})

    @route("GET", "experiments/get-by-name")
    def get_experiment_by_name(request: Request) -> Response:
        name = get_str(fields(request), "experiment_name")
        assert name is not None
        exp = experiments.get_by_name(backend.runs, name)
        if exp is None:
            raise mlflow_error(
                "RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'"
            )
        return ok({"experiment": experiment_json(exp)})

    def search_experiments(request: Request) -> Response:
        data = fields(request)
        size = max_results(data, SEARCH_DEFAULT_RESULTS, SEARCH_MAX_RESULTS)
        found = experiments.search(
            backend.runs,
            view_type(data.get("view_type")),
            None,
            get_str(data, "filter", required=False),
            get_list(data, "order_by") or None,
        )
        chosen, more = paged(found, page_offset(data), size)
        return ok({"experiments": [experiment_json(e) for e in chosen], **more})

    router.add("POST", "/api/2.0/mlflow/experiments/search", search_experiments, guard="preflight")
    router.add("GET", "/api/2.0/mlflow/experiments/search", search_experiments)

    @route("POST", "experiments/update")
    def update_experiment(request: Request) -> Response:
        data = fields(request)
        exp = experiment_of(data)
        new_name = get_str(data, "new_name", required=False)
        if new_name:
            if new_name != exp.name and experiments.get_by_name(backend.runs, new_name):
                raise mlflow_error(
                    "RESOURCE_ALREADY_EXISTS", f"Experiment(name={new_name}) already exists."
                )
            backend.client.rename_experiment(exp.experiment_id, new_name)
        return ok()

    def experiment_in(data: Mapping[str, Any], stage: str) -> Experiment:
        """The experiment named, which must be in ``stage``: MLflow's stores look only
        there, so another stage answers RESOURCE_DOES_NOT_EXIST."""
        exp = experiment_of(data)
        if exp.lifecycle_stage != stage:
            raise mlflow_error(
                "RESOURCE_DOES_NOT_EXIST",
                f"No {stage} experiment with id={exp.experiment_id} exists "
                f"(experiment {exp.name!r} is {exp.lifecycle_stage})",
            )
        return exp

    @route("POST", "experiments/delete")
    def delete_experiment(request: Request) -> Response:
        backend.client.delete_experiment(experiment_in(fields(request), "active").experiment_id)
        return ok()

    @route("POST", "experiments/restore")
    def restore_experiment(request: Request) -> Response:
        exp = experiment_in(fields(request), "deleted")
        backend.client.restore_experiment(exp.experiment_id)
        return ok()

    @route("POST", "experiments/set-experiment-tag")
    def set_experiment_tag(request: Request) -> Response:
        data = fields(request)
        key = get_str(data, "key")
        assert key is not None
        exp = experiment_of(data)
        experiments.set_tag(backend.runs, exp.experiment_id, key, data.get("value") or "")
        return ok()

    @route("POST", "experiments/delete-experiment-tag")
    def delete_experiment_tag(request: Request) -> Response:
        data = fields(request)
        key = get_str(data, "key")
        assert key is not None
        exp = experiment_of(data)
        if key not in exp.tags:
            raise mlflow_error(
                "RESOURCE_DOES_NOT_EXIST",
                f"No tag with name: {key} in experiment with id {exp.experiment_id}",
            )
        experiments.delete_tag(backend.runs, exp.experiment_id, key)
        return ok()

    # -- runs ---------------------------------------------------------------------------
    def run_of(data: Mapping[str, Any]) -> str:
        rid = get_str(data, "run_id", required=False) or get_str(data, "run_uuid", required=False)
        if rid is None:
            raise mlflow_error(
                "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'"
            )
        return backend.run_id(rid)

    def run_to_change(data: Mapping[str, Any]) -> str:
        return backend.writable(run_of(data))

    @route("POST", "runs/create")
    def create_run(request: Request) -> Response:
        data = fields(request)
        eid = get_str(data, "experiment_id", required=False) or experiments.DEFAULT_EXPERIMENT_ID
        exp = experiment_of({"experiment_id": eid})
        if exp.lifecycle_stage != "active":
            raise mlflow_error(  # MLflow's code: a client raises it as a 400, not a 500
                "INVALID_PARAMETER_VALUE",
                f"The experiment {eid} must be in the 'active' state. "
                f"Current state is {exp.lifecycle_stage}.",
            )
        tags = dict(key_values(data, "tags"))
        name = get_str(data, "run_name", required=False) or tags.get(RUN_NAME_TAG)
        name = name or new_run_name()
        tags[RUN_NAME_TAG] = name
        parent = tags.get(PARENT_RUN_TAG)
        run = backend.client.create_run(
            experiment_id=exp.experiment_id,
            run_name=name,
            tags=tags,
            parent_run_id=backend.run_id(parent) if parent else None,
            start_time=get_int(data, "start_time"),
            user=get_str(data, "user_id", required=False),
        )
        return ok({"run": run_json(backend.row(run.info.run_id))})

    @route("GET", "runs/get")
    def get_run(request: Request) -> Response:
        rid = run_of(fields(request))
        run = run_json(backend.row(rid))
        run["outputs"] = {"model_outputs": model_outputs().get(rid, [])}
        return ok({"run": run})

    def model_outputs() -> dict[str, list[dict[str, Any]]]:
        """MLflow's ``model_outputs`` of every run that logged (or output) a model."""
        found: dict[str, list[dict[str, Any]]] = {}
        for m in logged.list_logged_models(backend.runs):
            for rid in dict.fromkeys([*([m.run_id] if m.run_id else []), *m.linked_runs]):
                found.setdefault(rid, []).append({"model_id": m.model_id, "step": 0})
        return found

    @route("POST", "runs/update")
    def update_run(request: Request) -> Response:
        data = fields(request)
        rid = run_to_change(data)
        status = get_str(data, "status", required=False)
        if status is not None and status not in STATUSES:
            raise mlflow_error("INVALID_PARAMETER_VALUE", f"Invalid run status {status!r}")
        name = get_str(data, "run_name", required=False)
        backend.client.update_run(rid, status, name, end_time=get_int(data, "end_time"))
        backend.written(rid)
        return ok({"run_info": run_info_json(backend.row(rid))})

    @route("POST", "runs/log-metric")
    def log_metric(request: Request) -> Response:
        data = fields(request)
        rid = run_to_change(data)
        key = get_str(data, "key")
        assert key is not None
        metric = Metric(
            key=key,
            value=get_float(data, "value"),
            timestamp=get_int(data, "timestamp", required=True) or 0,
            step=get_int(data, "step") or 0,
        )
        linked = model_points(rid, [(data, metric)])
        backend.client.log_metric(rid, key, metric.value, metric.step, metric.timestamp)
        link_points(linked)
        backend.written(rid)
        return ok()

    def model_points(
        rid: str, items: Sequence[tuple[Mapping[str, Any], Metric]]
    ) -> dict[str, list[logged.ModelMetric]]:
        """The points sent with a ``model_id`` (MLflow 3's metrics of a logged model), by
        model; an unknown model is refused before anything is logged."""
        linked: dict[str, list[logged.ModelMetric]] = {}
        for data, m in items:
            mid = get_str(data, "model_id", required=False)
            if not mid:
                continue
            if mid not in linked:
                logged.get(backend.runs, mid)
                linked[mid] = []
            linked[mid].append(
                logged.ModelMetric(
                    key=m.key,
                    value=m.value,
                    step=m.step,
                    timestamp=m.timestamp,
                    run_id=rid,
                    dataset_name=get_str(data, "dataset_name", required=False) or None,
                    dataset_digest=get_str(data, "dataset_digest", required=False) or None,
                )
            )
        return linked

    def link_points(linked: Mapping[str, list[logged.ModelMetric]]) -> None:
        for mid, points in linked.items():
            logged.update(backend.runs, mid, metrics=points)

    @route("POST", "runs/log-parameter")
    def log_param(request: Request) -> Response:
        data = fields(request)
        rid = run_to_change(data)
        key = get_str(data, "key")
        assert key is not None
        backend.client.log_param(rid, key, param_text(data.get("value", "")))
        backend.written(rid)
        return ok()

    @route("POST", "runs/set-tag")
    def set_tag(request: Request) -> Response:
        data = fields(request)
        rid = run_to_change(data)
        key = get_str(data, "key")
        assert key is not None
        backend.client.set_tags(rid, {key: "" if data.get("value") is None else str(data["value"])})
        backend.written(rid)
        return ok()

    @route("POST", "runs/delete-tag")
    def delete_tag(request: Request) -> Response:
        data = fields(request)
        rid = run_to_change(data)
        key = get_str(data, "key")
        assert key is not None
        if key not in backend.row(rid)["tags"]:
            raise mlflow_error(
                "RESOURCE_DOES_NOT_EXIST", f"No tag with name: {key} in run with id {rid}"
            )
        backend.client.delete_tag(rid, key)
        backend.written(rid)
        return ok()

    @route("POST", "runs/log-batch")
    def log_batch(request: Request) -> Response:
        data = fields(request)
        rid = run_to_change(data)
        items = {kind: data.get(kind) or [] for kind in BATCH_LIMITS}
        for kind, limit in BATCH_LIMITS.items():
            if not isinstance(items[kind], list):
                raise mlflow_error("INVALID_PARAMETER_VALUE", f"'{kind}' must be a list")
            if len(items[kind]) > limit:
                raise mlflow_error(
                    "INVALID_PARAMETER_VALUE",
                    f"A batch logging request can contain at most {limit} {kind}. "
                    f"Got {len(items[kind])} {kind}.",
                )
        total = sum(len(v) for v in items.values())
        if total > BATCH_TOTAL_LIMIT:
            raise mlflow_error(
                "INVALID_PARAMETER_VALUE",
                f"A batch logging request can contain at most {BATCH_TOTAL_LIMIT} metrics, "
                f"params, and tags. Got {total} metrics, params, and tags.",
            )
        sent = []
        for m in items["metrics"]:
            if not isinstance(m, dict):
                raise mlflow_error("INVALID_PARAMETER_VALUE", "'metrics' must hold objects")
            key = get_str(m, "key")
            assert key is not None
            metric = Metric(
                key=key,
                value=get_float(m, "value"),
                timestamp=get_int(m, "timestamp", required=True) or 0,
                step=get_int(m, "step") or 0,
            )
            sent.append((m, metric))
        metrics = [metric for _, metric in sent]
        pairs_in = key_values(data, "params")
        params = dict(pairs_in)
        if len(params) < len(pairs_in):  # a dict would keep the last value silently
            twice = sorted(k for k, n in Counter(k for k, _ in pairs_in).items() if n > 1)
            raise mlflow_error(
                "INVALID_PARAMETER_VALUE",
                f"Duplicate parameter keys have been submitted: {twice}. Please ensure "
                "the request contains only one param value per param key.",
            )
        tags = dict(key_values(data, "tags"))
        linked = model_points(rid, sent)
        backend.client.log_batch(rid, metrics=metrics, params=params, tags=tags)
        link_points(linked)
        backend.written(rid)
        return ok()

    @route("POST", "runs/log-inputs")
    def log_inputs(request: Request) -> Response:
        data = fields(request)
        rid = run_to_change(data)
        for item in data.get("datasets") or []:
            dataset = item.get("dataset") if isinstance(item, dict) else None
            if not isinstance(dataset, dict):
                raise mlflow_error("INVALID_PARAMETER_VALUE", "'datasets' must hold datasets")
            tags = dict(key_values(item, "tags"))
            context = tags.pop(DATASET_CONTEXT_TAG, None)
            record_dataset(
                backend.client,
                rid,
                name=str(get_str(dataset, "name")),
                digest=str(get_str(dataset, "digest")),
                source=get_str(dataset, "source", required=False) or "",
                source_type=get_str(dataset, "source_type", required=False) or "",
                context=context,
                schema=get_str(dataset, "schema", required=False) or "",
                profile=get_str(dataset, "profile", required=False) or "",
                tags=tags,
            )
        backend.written(rid)
        return ok()

    @route("POST", "runs/search")
    def search_runs(request: Request) -> Response:
        data = fields(request)
        size = max_results(data, SEARCH_DEFAULT_RESULTS, SEARCH_MAX_RESULTS)
        ids = get_list(data, "experiment_ids")
        if not ids:
            return ok({"runs": []})
        backend.client.flush()  # this process's buffered writes first (read-your-writes)
        with backend.index() as index:
            rows = query_rows(
                get_str(data, "filter", required=False),
                get_list(data, "order_by") or None,
                index=index,
                experiment_ids=ids,
                view_type=view_type(data.get("run_view_type")),
            )
        chosen, more = paged(rows, page_offset(data), size)
        encoded, outputs = encoded_runs(chosen), model_outputs()
        for i, row in enumerate(chosen):  # (few runs output models: the others stay cached)
            if row["run_id"] in outputs:
                run = run_json(row)
                run["outputs"] = {"model_outputs": outputs[row["run_id"]]}
                encoded[i] = json_bytes(run)
        return ok_encoded("runs", encoded, more)

    @route("POST", "runs/delete")
    def delete_run(request: Request) -> Response:
        rid = run_of(fields(request))
        backend.client.delete_run(rid)
        backend.written(rid)
        return ok()

    @route("POST", "runs/restore")
    def restore_run(request: Request) -> Response:
        rid = run_of(fields(request))
        backend.client.restore_run(rid)
        backend.written(rid)
        return ok()

    @route("GET", "metrics/get-history")
    def get_metric_history(request: Request) -> Response:
        data = fields(request)
        rid = run_of(data)
        key = get_str(data, "metric_key")
        assert key is not None
        size = max_results(data, HISTORY_MAX_RESULTS, HISTORY_MAX_RESULTS)
        points = backend.client.get_metric_history(rid, key)  # in logging order
        points.sort(key=lambda m: (m.timestamp, m.step))  # MLflow's order (stable on ties)
        chosen, more = paged(points, page_offset(data), size)
        metrics = [  # MLflow 3's Metric message carries the run id too
            {
                "key": m.key,
                "value": finite(m.value),
                "timestamp": m.timestamp,
                "step": m.step,
                "run_id": m.run_id,
            }
            for m in chosen
        ]
        return ok({"metrics": metrics, **more})
