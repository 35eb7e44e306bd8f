"""The scoring server: MLflow's protocol for one loaded model, on the one HTTP layer.

``GET /ping`` and ``/health`` (200 once the model is loaded), ``GET /version``,
``POST /invocations`` (the protocol is :mod:`gittrack.models.scoring`). Client mistakes
get 400 ``{"error_code": "BAD_REQUEST", "message": ...}``, other content types 415, a
body over the limit 413, a wrong method 405 with ``Allow``. Served by
:func:`gittrack.web.serve.serve`: threads per connection, ``workers > 1`` pre-forked
processes on the one socket, one access-log line per request.
"""

from __future__ import annotations

from gittrack._version import __version__
from gittrack.models.mlmodel import PyFuncModel
from gittrack.models.scoring import MAX_BODY_BYTES, BadRequest, predict_json
from gittrack.web.http import HTTPError, Request, Response, Router
from gittrack.web.serve import WebServer

__all__ = ["MAX_BODY_BYTES", "scoring_router", "scoring_server"]


def scoring_router(model: PyFuncModel) -> Router:
    """The routes that score with ``model``."""
    out = Router()

    def health(request: Request) -> Response:
        return Response(200, b"\n")

    def version(request: Request) -> Response:
        return Response(200, __version__.encode(), "text/plain; charset=utf-8")

    def invocations(request: Request) -> Response:
        try:
            return Response(200, predict_json(model, request.body, request.content_type))
        except BadRequest as e:
            raise HTTPError(e.status, e.message, e.code) from e

    out.add("GET", "/ping", health)
    out.add("GET", "/health", health)
    out.add("GET", "/version", version)
    out.add("POST", "/invocations", invocations, computes=True)  # scores, changes nothing
    return out


def scoring_server(
    model: PyFuncModel,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    access_log: bool = True,
    max_body: int = MAX_BODY_BYTES,
) -> WebServer:
    """A bound (not yet serving) scoring server; OSError when the address is taken.

    On loopback it answers only to loopback host names (DNS rebinding); bound beyond it,
    to any Host, as MLflow's scoring server does.
    """
    import sys

    return WebServer(
        (host, port),
        scoring_router(model),
        access_log=sys.stderr if access_log else None,
        max_body=max_body,
    )
