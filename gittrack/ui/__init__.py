"""``gittrack ui``: a local web page to browse, chart and compare runs.

The page (``static/``: HTML, CSS and vanilla JavaScript, no build step) talks to a JSON
API (:mod:`gittrack.ui.api`) served by :mod:`gittrack.web`; charts are drawn by Plotly.js
served from the installed ``plotly`` package (:mod:`gittrack.ui.files`), never a CDN.
Nothing here is imported until ``gittrack ui`` (or ``gittrack server``) runs.
"""

from __future__ import annotations

from pathlib import Path

from gittrack.web.http import Router


def router(root: Path, token: str) -> Router:
    """Every route of the UI for the tracking repository at ``root``."""
    from gittrack.ui import api, files

    repo = api.Repository(root)
    out = Router()
    out.include(api.build(repo))
    out.include(files.build(repo, token))
    return out
