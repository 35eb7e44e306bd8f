"""MLflow's proxied artifact endpoints, stored in gittrack's artifact store.

Clients address artifacts as ``<experiment_id>/<run_id>/artifacts/<path>`` (the run's
``artifact_uri`` is ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``). A logged
model's files are its run's, under the model's ``artifact_path``; clients address them as
MLflow's server places them, ``<experiment_id>/models/<model_id>/artifacts/<path>``, and
a listing of the run leaves them out as MLflow's does (MLflow 3's client lists a run's
``runs:/`` folder and the logged model of that name both: it would see each file twice).
An upload goes through the same calls as ``log_artifact``: the bytes are stored
content-addressed (small files inline in git), the entry joins the run's artifact
manifest. Paths are confined: absolute paths, ``..`` and anything outside the run are
refused.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, cast

from gittrack.artifacts import paths
from gittrack.artifacts.client_api import artifacts_of
from gittrack.models import logged
from gittrack.server.backend import Backend
from gittrack.server.protocol import artifact_uri, fields, get_str, mlflow_error, ok
from gittrack.web.http import Request, Response, Router

__all__ = ["add_routes", "model_artifact_uri", "split_artifact_path"]

PREFIX = "/api/2.0/mlflow-artifacts/artifacts"
_SPOOL_BYTES = 8 * 1024 * 1024  # a download larger than this is spooled to disk
_CHUNK_BYTES = 1024 * 1024


def model_artifact_uri(experiment_id: str, model_id: str) -> str:
    """Where MLflow's client reads and writes a logged model's files."""
    return f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"


def split_artifact_path(backend: Backend, text: str) -> tuple[str, str, bool] | None:
    """``<exp>/<run>/artifacts/<path>`` -> (run id, clean path inside the run, False);
    ``<exp>/models/<model_id>/artifacts/<path>`` -> (the model's run, the path under the
    model's folder in it, True); None when ``text`` names neither."""
    clean = paths.clean_path(text, "artifact path", allow_empty=True)
    parts = clean.split("/") if clean else []
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        model = logged.get(backend.runs, parts[2])
        if model.run_id is None:
            raise mlflow_error(
                "INVALID_PARAMETER_VALUE",
                f"logged model {model.model_id} was created outside a run: its files are "
                "not a run's (log the model inside a run)",
            )
        return model.run_id, "/".join([model.artifact_path, *parts[4:]]), True
    if len(parts) >= 3 and parts[2] == "artifacts":
        return parts[1], "/".join(parts[3:]), False
    return None


def model_outside_runs(backend: Backend, text: str) -> tuple[logged.LoggedModel, str] | None:
    """``<exp>/models/<model_id>/artifacts/<path>`` of a model created outside any run ->
    (the model, the path among its own files); None for anything else."""
    parts = paths.clean_path(text, "artifact path", allow_empty=True).split("/")
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        model = logged.get(backend.runs, parts[2])
        if model.run_id is None:
            return model, "/".join(parts[4:])
    return None


def model_folders(backend: Backend, run_id: str) -> set[str]:
    """The run's folders that hold its logged models' files."""
    return {m.artifact_path for m in logged.list_logged_models(backend.runs) if m.run_id == run_id}


def _listed(files: dict[str, int], folder: str) -> list[dict[str, Any]]:
    """MLflow's listing of ``folder`` among ``{path: size}``: its direct children."""
    prefix = folder + "/" if folder else ""
    found: dict[str, dict[str, Any]] = {}
    for path, size in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        name, _, rest = path[len(prefix) :].partition("/")
        entry: dict[str, Any] = {"path": name, "is_dir": bool(rest)}
        if not rest:
            entry["file_size"] = size
        found[name] = entry
    return list(found.values())


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while block := spool.read(_CHUNK_BYTES):
            yield block


def add_routes(router: Router, backend: Backend) -> None:
    """Register upload (PUT), download (GET) and list (GET) of proxied artifacts."""

    def locate(text: str) -> tuple[str, str]:
        found = split_artifact_path(backend, text)
        if found is None:
            raise mlflow_error(
                "INVALID_PARAMETER_VALUE",
                f"artifact path {text!r} names no run (expected <experiment>/<run>/artifacts/... "
                "or <experiment>/models/<model_id>/artifacts/...)",
            )
        return backend.run_id(found[0]), found[1]

    def upload(request: Request) -> Response:
        runless = model_outside_runs(backend, request.params["path"])
        if runless is not None:
            logged.add_file(backend.runs, runless[0].model_id, runless[1], request.body)
            return ok()
        rid, path = locate(request.params["path"])
        if not path:
            raise mlflow_error("INVALID_PARAMETER_VALUE", "an upload needs a file path")
        store = artifacts_of(backend.runs)
        store.record(backend.client.writer(rid), [store.store_bytes(request.body, path)])
        backend.written(rid)
        return ok()

    def download(request: Request) -> Response:
        runless = model_outside_runs(backend, request.params["path"])
        if runless is not None:
            data = logged.read_file(backend.runs, runless[0].model_id, runless[1])
            return Response(200, data, "application/octet-stream")
        rid, path = locate(request.params["path"])
        backend.client.flush(rid)
        store = artifacts_of(backend.runs)
        base, entries = store.select(rid, path)
        if len(entries) != 1 or entries[0].path != base:
            raise mlflow_error("INVALID_PARAMETER_VALUE", f"artifact {path!r} is a directory")
        # Verified in full before the answer starts (a corrupt artifact is an error, not a
        # truncated 200), in a spool that moves to a temporary file past _SPOOL_BYTES: a
        # large model is not held in memory once per download.
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (_chunks closes it)
        try:
            store.write_to(rid, entries[0], cast(BinaryIO, spool))
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return Response(200, _chunks(spool), "application/octet-stream")

    def list_files(request: Request) -> Response:
        text = get_str(fields(request), "path", required=False) or ""
        runless = model_outside_runs(backend, text)
        if runless is not None:
            model, folder = runless
            return ok({"files": _listed(logged.model_files(backend.runs, model.model_id), folder)})
        found = split_artifact_path(backend, text)
        if found is None:
            return ok({"files": []})
        rid, path, of_model = backend.run_id(found[0]), found[1], found[2]
        hidden = set() if of_model else model_folders(backend, rid)
        if any(path == f or path.startswith(f + "/") for f in hidden):
            return ok({"files": []})  # a logged model's files: listed under the model
        files: list[dict[str, Any]] = []
        for info in backend.client.list_artifacts(rid, path or None):
            if info.path in hidden:
                continue
            entry: dict[str, Any] = {"path": info.path.rpartition("/")[2], "is_dir": info.is_dir}
            if info.file_size is not None:
                entry["file_size"] = info.file_size
            files.append(entry)
        return ok({"files": files})

    router.add("PUT", PREFIX + "/{path:path}", upload, guard="preflight")
    router.add("GET", PREFIX + "/{path:path}", download)
    router.add("GET", PREFIX, list_files)

    def list_run_artifacts(request: Request) -> Response:
        """The tracking API's ``artifacts/list`` (paths relative to the run's root)."""
        data = fields(request)
        rid = get_str(data, "run_id", required=False) or get_str(data, "run_uuid")
        rid = backend.run_id(rid)
        path = get_str(data, "path", required=False)
        infos = backend.client.list_artifacts(rid, path)
        files = []
        for info in infos:
            entry: dict[str, Any] = {"path": info.path, "is_dir": info.is_dir}
            if info.file_size is not None:
                entry["file_size"] = info.file_size
            files.append(entry)
        row = backend.row(rid)
        root = artifact_uri(row["experiment_id"], rid)
        return ok({"root_uri": root, "files": files})

    router.add("GET", "/api/2.0/mlflow/artifacts/list", list_run_artifacts)
