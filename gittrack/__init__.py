"""gittrack: git-native experiment tracking with MLflow's fluent API.

``import gittrack as mlflow`` works for the common subset::

    with gittrack.start_run(run_name="baseline"):
        gittrack.log_param("alpha", 0.5)
        gittrack.log_metric("rmse", 0.8, step=1)

Heavy modules (pyarrow, dulwich) load only when a call needs them.
"""

from __future__ import annotations

from gittrack._version import __version__
from gittrack.client import Client
from gittrack.entities import Metric, Run, RunData, RunInfo
from gittrack.errors import GittrackError
from gittrack.fluent import (
    ActiveRun,
    Experiment,
    active_run,
    delete_tag,
    end_run,
    get_metric_history,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)

__all__ = [
    "ActiveRun",
    "Client",
    "Experiment",
    "GittrackError",
    "Metric",
    "Run",
    "RunData",
    "RunInfo",
    "__version__",
    "active_run",
    "delete_tag",
    "end_run",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]
