"""Content-addressed artifacts: a local sha256 object cache, run manifests, remotes, gc.

Light on import: heavy work (boto3, dulwich reads) happens inside the functions.
"""

from __future__ import annotations

from gittrack.artifacts.fluent import (
    download_artifacts,
    list_artifacts,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_table,
    log_text,
)

__all__ = [
    "download_artifacts",
    "list_artifacts",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_table",
    "log_text",
]
