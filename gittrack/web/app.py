"""The routes of one serving process: the UI and, beside it, MLflow's REST API.

``gittrack ui`` and ``gittrack server`` both build their server from :func:`build_router`,
so one process serves the page and the API on the same port, token and Host check.
"""

from __future__ import annotations

from pathlib import Path

from gittrack.web.http import Router


def build_router(root: Path, token: str) -> Router:
    """Every route served for the tracking repository at ``root`` (``token``: the server's)."""
    from gittrack import ui

    out = Router()
    out.include(ui.router(root, token))
    return out
