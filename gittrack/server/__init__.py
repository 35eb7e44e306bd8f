"""``gittrack server``: MLflow's REST API over a gittrack repository.

The official ``mlflow`` client (any language), pointed at this server with
``MLFLOW_TRACKING_URI=http://HOST:PORT``, records ordinary gittrack runs: experiments,
runs, params, metrics, tags, artifacts (proxied), logged models and the model registry.
Handlers call the library's public functions; :func:`mlflow_router` gathers them on one
:class:`gittrack.web.http.Router` mounted by the one HTTP layer (:mod:`gittrack.web`).
Endpoints of MLflow's API that gittrack does not serve answer 501 ``ENDPOINT_NOT_FOUND``.
"""

from __future__ import annotations

import os

from gittrack.web.http import Guard, HTTPError, Request, Response, Router

__all__ = ["mlflow_router"]

_API_PREFIXES = ("/api/2.0/mlflow", "/api/3.0/mlflow", "/api/2.0/mlflow-artifacts")


def mlflow_router(
    repo: str | os.PathLike[str] | None = None,
    *,
    sync_writes: bool = False,
) -> Router:
    """Every MLflow endpoint gittrack serves, for the repository at ``repo``."""
    from gittrack.server import artifacts, models, tracking
    from gittrack.server.backend import Backend
    from gittrack.server.protocol import error_response, ok

    backend = Backend(repo, sync_writes=sync_writes)
    router = Router()
    router.on_error = error_response
    tracking.add_routes(router, backend)
    artifacts.add_routes(router, backend)
    models.add_routes(router, backend)

    def server_info(request: Request) -> Response:
        return ok(
            {
                "store_type": "gittrack",
                "workspaces_enabled": False,
                "trace_archival_enabled": False,
                "multipart_uploads_enabled": False,
                "multipart_downloads_enabled": False,
            }
        )

    router.add("GET", "/api/3.0/mlflow/server-info", server_info)

    def health(request: Request) -> Response:
        """MLflow's liveness probe (``curl -f http://HOST:PORT/health`` in deployments)."""
        return Response(200, b"OK", "text/plain; charset=utf-8")

    router.add("GET", "/health", health)
    _add_not_served(router)
    return router


def _add_not_served(router: Router) -> None:
    """Answer the rest of MLflow's API with 501 (405 when another method is served)."""
    served = list(router.routes)

    def not_served(request: Request) -> Response:
        methods = sorted({r.method for r in served if r.pattern.match(request.path)})
        if methods:
            raise HTTPError(
                405,
                f"{request.method} is not allowed on {request.path} (use {', '.join(methods)})",
                "METHOD_NOT_ALLOWED",
            )
        raise HTTPError(
            501,
            f"gittrack server does not serve {request.method} {request.path} "
            "(see docs/server.md for the endpoints it serves)",
            "ENDPOINT_NOT_FOUND",
        )

    for prefix in _API_PREFIXES:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            guard: Guard = "none" if method == "GET" else "preflight"
            router.add(method, prefix + "/{rest:path}", not_served, guard=guard)
