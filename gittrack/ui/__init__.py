"""``gittrack ui``: a local web page to browse, chart and compare runs.

The page (``static/``: HTML, CSS and vanilla JavaScript, no build step) talks to a JSON
API (:mod:`gittrack.ui.api`) served by :mod:`gittrack.web`; metric lines are drawn by
uPlot and parallel coordinates and scatter by Plotly.js, each served from the installed
Python package that ships it (:mod:`gittrack.ui.files`), never a CDN.
Nothing here is imported until ``gittrack ui`` (or ``gittrack server``) runs.
"""

from __future__ import annotations

from pathlib import Path

from gittrack.web.http import Router

# what the ``ui`` extra installs: the packages shipping uPlot and Plotly.js, and numpy
# (downsampling metric lines on the server)
REQUIRES = ("uplot", "plotly", "numpy")


def missing_requirements() -> list[str]:
    """The packages the UI needs that are not installed (none are imported)."""
    import importlib.util

    return [m for m in REQUIRES if importlib.util.find_spec(m) is None]


def warm_up() -> None:
    """Import what drawing metric lines needs (numpy, pyarrow's Parquet reader), so the
    first chart request does not wait for it."""
    import numpy  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def router(root: Path, token: str) -> Router:
    """Every route of the UI for the tracking repository at ``root``."""
    from gittrack.ui import api, files

    repo = api.Repository(root)
    out = Router()
    out.include(api.build(repo))
    out.include(files.build(repo, token))
    return out
