"""The routes of one serving process: the UI and, beside it, MLflow's REST API.

``gittrack ui`` and ``gittrack server`` both build their server from :func:`build_router`,
so one process serves the page and the API on the same port, token and Host check.
"""

from __future__ import annotations

from pathlib import Path

from gittrack.web.http import Router


def build_router(root: Path, token: str, *, ui: bool = True, sync_writes: bool = False) -> Router:
    """Every route served for the tracking repository at ``root`` (``token``: the server's).

    ``ui``: include the web UI's routes; ``sync_writes``: MLflow API writes are committed
    before they are answered (see :mod:`gittrack.server.backend`).
    """
    from gittrack.server import mlflow_router

    out = Router()
    if ui:
        from gittrack import ui as web_ui

        out.include(web_ui.router(root, token))
    out.include(mlflow_router(root, sync_writes=sync_writes))
    return out
