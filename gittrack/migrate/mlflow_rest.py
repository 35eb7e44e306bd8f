"""Reading an MLflow tracking server through its REST API (urllib; no ``mlflow`` package).

Calls (MLflow's ``service.proto``): ``experiments/search``, ``runs/search`` (params,
tags, dataset inputs), ``metrics/get-history`` (every point of each metric),
``artifacts/list`` and the server's ``/get-artifact`` download; for MLflow 3's logged
models ``logged-models/search``, ``logged-models/<id>/artifacts/directories`` and the
``/ajax-api`` file download; ``registered-models/search`` and ``model-versions/search``.
Credentials come from MLflow's own variables (``MLFLOW_TRACKING_TOKEN``, or
``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``). What the server sends is
untrusted: artifact paths go through gittrack's path confinement (a ``..`` refuses the
run) and answers are size-capped.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from gittrack.artifacts.paths import clean_path
from gittrack.errors import GittrackError, MigrationError, UnsafePathError, UnsafeSourceError
from gittrack.format import STATUSES
from gittrack.migrate.source import (
    MODEL_ID_RE,
    RUN_ID_RE,
    SourceExperiment,
    SourceLoggedModel,
    SourceRegisteredModel,
    SourceRun,
    SourceVersion,
    dataset_input,
)
from gittrack.writer import MetricHistory

if TYPE_CHECKING:
    import ssl

API = "/api/2.0/mlflow/"
PAGE = 1000
MAX_JSON_BYTES = 256 * 1024 * 1024
_MODEL_STATUS = {
    "LOGGED_MODEL_PENDING": "PENDING",
    "LOGGED_MODEL_READY": "READY",
    "LOGGED_MODEL_UPLOAD_FAILED": "FAILED",
}


def _pairs(items: object) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {
        str(i["key"]): str(i.get("value", "")) for i in items if isinstance(i, dict) and "key" in i
    }


def _number(value: object) -> float:
    """A proto double as JSON: a number, or "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value)
    if text in ("NaN", "nan"):
        return math.nan
    return float(text)


class RestReader:
    """The experiments and runs of one MLflow tracking server."""

    def __init__(self, url: str, *, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.problems: list[tuple[str, str]] = []  # items outside runs that were skipped
        self._models: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.headers = {"Accept": "application/json"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif user:
            import base64

            secret = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
        self.tls = _tls_context()

    def close(self) -> None:
        """Nothing to release (a connection per request)."""

    # -- transport ---------------------------------------------------------------------------
    def _open(self, path: str, body: dict[str, Any] | None = None) -> Any:
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout, context=self.tls)
        except urllib.error.HTTPError as e:
            detail = ""
            try:
                detail = json.loads(e.read(65536) or b"{}").get("message", "")
            except (ValueError, AttributeError, OSError):
                pass
            raise MigrationError(
                f"MLflow server {self.url} answered {e.code} to {path.split('?')[0]}"
                + (f": {detail}" if detail else "")
            ) from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise MigrationError(f"cannot reach MLflow server {self.url}: {reason}") from e

    def call(
        self,
        endpoint: str,
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One REST call to ``/api/2.0/mlflow/<endpoint>``; the decoded JSON answer."""
        path = API + endpoint + ("?" + urlencode(query) if query else "")
        with self._open(path, body) as response:
            raw = response.read(MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES:
            raise MigrationError(f"MLflow server {self.url}: answer to {endpoint} is too large")
        try:
            data = json.loads(raw or b"{}")
        except ValueError as e:
            raise MigrationError(
                f"{self.url} did not answer {endpoint} with JSON (is it an MLflow server?)"
            ) from e
        if not isinstance(data, dict):
            raise MigrationError(f"MLflow server {self.url}: {endpoint} answered {type(data)}")
        return data

    def _pages(
        self, endpoint: str, key: str, body: dict[str, Any], *, get: bool = False
    ) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            args = {**body, **({"page_token": token} if token else {})}
            page = self.call(endpoint, query=args) if get else self.call(endpoint, body=args)
            items = page.get(key) or []
            yield from (i for i in items if isinstance(i, dict))
            token = page.get("next_page_token")
            if not token or not items:
                return

    # -- reading -------------------------------------------------------------------------------
    def experiments(self, *, deleted: bool = True) -> list[SourceExperiment]:
        view = "ALL" if deleted else "ACTIVE_ONLY"
        found = []
        for item in self._pages(
            "experiments/search", "experiments", {"max_results": PAGE, "view_type": view}
        ):
            found.append(
                SourceExperiment(
                    experiment_id=str(item.get("experiment_id", "")),
                    name=str(item.get("name", "")),
                    lifecycle_stage=str(item.get("lifecycle_stage") or "active"),
                    tags=_pairs(item.get("tags")),
                    creation_time=_opt_int(item.get("creation_time")),
                )
            )
        return found

    def run_items(self, experiment: SourceExperiment) -> list[dict[str, Any]]:
        """Every run of an experiment as ``runs/search`` returns it (deleted included)."""
        body = {
            "experiment_ids": [experiment.experiment_id],
            "run_view_type": "ALL",
            "max_results": PAGE,
        }
        return list(self._pages("runs/search", "runs", body))

    @staticmethod
    def item_name(item: dict[str, Any]) -> str:
        info = item.get("info") or {}
        return str(info.get("run_id") or info.get("run_uuid") or "?")

    def read_run(
        self, experiment: SourceExperiment, item: dict[str, Any], scratch: Path | None = None
    ) -> SourceRun:
        """One run whole: metric histories fetched, artifacts downloaded into ``scratch``."""
        info = item.get("info") or {}
        data = item.get("data") or {}
        run_id = str(info.get("run_id") or info.get("run_uuid") or "")
        what = f"run {run_id or '?'}"
        if not RUN_ID_RE.match(run_id):
            raise MigrationError(f"{what}: the run id is not 32 hex characters")
        status = str(info.get("status") or "RUNNING")
        problems: list[str] = []
        if status not in STATUSES:
            problems.append(f"{what}: status {status} recorded as RUNNING")
            status = "RUNNING"
        try:
            start = int(info.get("start_time") or 0)
            end = None if info.get("end_time") in (None, "") else int(info["end_time"])
        except (TypeError, ValueError) as e:
            raise MigrationError(f"{what}: start_time/end_time are not integers") from e
        run = SourceRun(
            run_id=run_id,
            experiment=experiment,
            name=str(info.get("run_name") or run_id),
            status=status,
            start_time=start,
            end_time=end,
            user=str(info.get("user_id") or ""),
            lifecycle_stage=str(info.get("lifecycle_stage") or "active"),
            params=dict(sorted(_pairs(data.get("params")).items())),
            tags=dict(sorted(_pairs(data.get("tags")).items())),
            problems=problems,
        )
        keys = sorted({str(m["key"]) for m in data.get("metrics") or [] if "key" in m})
        for key in keys:
            run.metrics.append(self._history(run_id, key))
        for entry in (item.get("inputs") or {}).get("dataset_inputs") or []:
            try:
                dataset = entry["dataset"]
                run.inputs.append(
                    dataset_input(
                        name=str(dataset["name"]),
                        digest=str(dataset["digest"]),
                        source_type=str(dataset.get("source_type", "")),
                        source=str(dataset.get("source", "")),
                        schema=None if dataset.get("schema") is None else str(dataset["schema"]),
                        profile=None if dataset.get("profile") is None else str(dataset["profile"]),
                        tags=_pairs(entry.get("tags")),
                    )
                )
            except (KeyError, TypeError) as e:
                problems.append(f"{what}: a dataset input is malformed ({e}): skipped")
        if scratch is None:
            raise MigrationError(f"{what}: artifacts need a scratch directory")
        self._download_artifacts(run, scratch / "run")
        for model in self._model_items(experiment).get(run_id, []):
            self._logged_model(model, scratch, run)
        return run

    def _history(self, run_id: str, key: str) -> MetricHistory:
        steps: list[int] = []
        stamps: list[int] = []
        values: list[float] = []
        token = None
        while True:
            query: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                query["page_token"] = token
            page = self.call("metrics/get-history", query=query)
            for m in page.get("metrics") or []:
                steps.append(int(m.get("step") or 0))
                stamps.append(int(m.get("timestamp") or 0))
                values.append(_number(m.get("value", "NaN")))
            token = page.get("next_page_token")
            if not token or not page.get("metrics"):
                return MetricHistory(key, steps=steps, timestamps=stamps, values=values)

    def _listing(self, run_id: str, path: str) -> list[dict[str, Any]]:
        query = {"run_id": run_id, **({"path": path} if path else {})}
        files = self.call("artifacts/list", query=query).get("files") or []
        return [f for f in files if isinstance(f, dict) and "path" in f]

    def _download_artifacts(self, run: SourceRun, scratch: Path) -> None:
        run.artifacts += self._download_tree(
            f"run {run.run_id}",
            lambda folder: self._listing(run.run_id, folder),
            lambda rel: (
                "/get-artifact?" + urlencode({"path": rel, "run_uuid": run.run_id}, quote_via=quote)
            ),
            scratch,
            run.problems,
        )

    def _download_tree(
        self,
        what: str,
        listing: Callable[[str], list[dict[str, Any]]],
        download: Callable[[str], str],
        scratch: Path,
        problems: list[str],
    ) -> list[tuple[str, Path]]:
        """Every file below a listed root: ``(relative path, downloaded copy)``."""
        found: list[tuple[str, Path]] = []
        pending = [""]
        while pending:
            folder = pending.pop()
            for entry in listing(folder):
                try:
                    rel = clean_path(str(entry["path"]), f"{what}: artifact path")
                except UnsafePathError as e:
                    raise UnsafeSourceError(f"{e.message}: refused") from e
                if folder and not rel.startswith(folder + "/"):
                    raise UnsafeSourceError(
                        f"{what}: the server listed {rel!r} inside {folder!r}: refused"
                    )
                if entry.get("is_dir"):
                    pending.append(rel)
                    continue
                target = scratch.joinpath(*rel.split("/"))
                try:
                    self._fetch(download(rel), target)
                except GittrackError as e:
                    problems.append(f"{what}: artifact {rel!r}: {e.message}: skipped")
                    continue
                found.append((rel, target))
        return found

    def _fetch(self, path: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._open(path) as response, open(target, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)

    # -- MLflow 3 logged models ---------------------------------------------------------------
    def _model_items(self, experiment: SourceExperiment) -> dict[str, list[dict[str, Any]]]:
        """``{source run id: [logged model JSON]}`` of an experiment (searched once)."""
        found = self._models.get(experiment.experiment_id)
        if found is None:
            found = self._models[experiment.experiment_id] = {}
            body = {"experiment_ids": [experiment.experiment_id], "max_results": 100}
            for item in self._pages("logged-models/search", "models", body):
                info = item.get("info") or {}
                found.setdefault(str(info.get("source_run_id") or ""), []).append(item)
        return found

    def _logged_model(self, item: dict[str, Any], scratch: Path, run: SourceRun) -> None:
        info = item.get("info") or {}
        model_id = str(info.get("model_id") or "")
        what = f"logged model {model_id or '?'}"
        if not MODEL_ID_RE.match(model_id):
            run.problems.append(f"{what}: not an MLflow model id: skipped")
            return
        root = f"{API}logged-models/{model_id}/artifacts/"
        files = self._download_tree(
            what,
            lambda folder: [
                f
                for f in self._json(
                    root
                    + "directories"
                    + ("?" + urlencode({"artifact_directory_path": folder}) if folder else "")
                ).get("files")
                or []
                if isinstance(f, dict) and "path" in f
            ],
            lambda rel: (
                f"/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?"
                + urlencode({"artifact_file_path": rel}, quote_via=quote)
            ),
            scratch / "models" / model_id,
            run.problems,
        )
        status = str(info.get("status") or "")
        run.logged_models.append(
            SourceLoggedModel(
                model_id=model_id,
                name=str(info.get("name") or "model"),
                run_id=run.run_id,
                status=_MODEL_STATUS.get(status, "PENDING"),
                created=int(info.get("creation_timestamp_ms") or 0),
                updated=int(info.get("last_updated_timestamp_ms") or 0),
                model_type=info.get("model_type") or None,
                tags=_pairs(info.get("tags")),
                params=_pairs((item.get("data") or {}).get("params")),
                artifacts=tuple(files),
            )
        )

    def _json(self, path: str) -> dict[str, Any]:
        with self._open(path) as response:
            raw = response.read(MAX_JSON_BYTES + 1)
        try:
            data = json.loads(raw or b"{}")
        except ValueError as e:
            raise MigrationError(f"{self.url} did not answer {path} with JSON") from e
        return data if isinstance(data, dict) else {}

    # -- the model registry -------------------------------------------------------------------
    def registered_models(self) -> list[SourceRegisteredModel]:
        """Registered models with their versions, tags and aliases (``registered-models/
        search``, ``model-versions/search``)."""
        found = []
        for item in self._pages("registered-models/search", "registered_models", {}, get=True):
            name = str(item.get("name", ""))
            query = {"filter": f"name = '{name}'", "max_results": PAGE}
            versions = []
            for v in self._pages("model-versions/search", "model_versions", query, get=True):
                try:
                    versions.append(_version(v))
                except (KeyError, TypeError, ValueError) as e:
                    self.problems.append(
                        (f"registered model {name}", f"a version is malformed ({e})")
                    )
            aliases = {}
            for a in item.get("aliases") or []:
                if isinstance(a, dict) and str(a.get("version", "")).isdigit():
                    aliases[str(a.get("alias"))] = int(a["version"])
            found.append(
                SourceRegisteredModel(
                    name=name,
                    created=int(item.get("creation_timestamp") or 0),
                    updated=int(item.get("last_updated_timestamp") or 0),
                    description=item.get("description") or None,
                    tags=_pairs(item.get("tags")),
                    aliases=aliases,
                    versions=tuple(sorted(versions, key=lambda v: v.version)),
                )
            )
        return found


def _tls_context() -> ssl.SSLContext | None:
    """TLS as MLflow's client takes it from the environment: ``MLFLOW_TRACKING_INSECURE_TLS``
    (no certificate check), ``MLFLOW_TRACKING_SERVER_CERT_PATH`` (a CA bundle to check the
    server with), ``MLFLOW_TRACKING_CLIENT_CERT_PATH`` (a client certificate, key included);
    None: Python's defaults."""
    import ssl

    insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("true", "1")
    server_cert = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
    client_cert = os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH")
    if not (insecure or server_cert or client_cert):
        return None
    try:
        context = ssl.create_default_context(cafile=server_cert or None)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if client_cert:
            context.load_cert_chain(client_cert)
    except (OSError, ssl.SSLError) as e:
        raise MigrationError(f"MLFLOW_TRACKING_*_CERT_PATH cannot be used: {e}") from e
    return context


def _opt_int(value: object) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _version(item: dict[str, Any]) -> SourceVersion:
    run_id = str(item.get("run_id") or "")
    return SourceVersion(
        version=int(item["version"]),
        run_id=run_id if RUN_ID_RE.match(run_id) else None,
        source=str(item.get("source") or ""),
        model_id=item.get("model_id") or None,
        stage=str(item.get("current_stage") or "None"),
        created=int(item.get("creation_timestamp") or 0),
        updated=int(item.get("last_updated_timestamp") or 0),
        user=str(item.get("user_id") or ""),
        description=item.get("description") or None,
        tags=_pairs(item.get("tags")),
    )
