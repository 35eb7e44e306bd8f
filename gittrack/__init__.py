"""gittrack: git-native experiment tracking with MLflow's fluent API.

``import gittrack as mlflow`` works for the common subset::

    with gittrack.start_run(run_name="baseline"):
        gittrack.log_param("alpha", 0.5)
        gittrack.log_metric("rmse", 0.8, step=1)

Heavy modules (pyarrow, dulwich) load only when a call needs them.
"""

from __future__ import annotations

import importlib

from gittrack._version import __version__
from gittrack.errors import GittrackError

TYPE_CHECKING = False  # as typing's, without importing typing (~3 ms of `gittrack --version`)

if TYPE_CHECKING:  # the names below load on first use (see __getattr__)
    from typing import Any

    from gittrack.artifacts import (
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
    from gittrack.autologging import autolog
    from gittrack.client import Client
    from gittrack.entities import Metric, Param, Run, RunData, RunInfo, RunTag, ViewType
    from gittrack.experiments import Experiment
    from gittrack.fluent import (
        ActiveRun,
        active_run,
        create_experiment,
        delete_experiment,
        delete_run,
        delete_tag,
        end_run,
        flush_async_logging,
        get_experiment,
        get_experiment_by_name,
        get_metric_history,
        get_parent_run,
        get_run,
        get_tracking_uri,
        last_active_run,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        restore_experiment,
        search_experiments,
        search_runs,
        set_experiment,
        set_experiment_tag,
        set_experiment_tags,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from gittrack.lineage import log_input
    from gittrack.models.api import load_model, register_model, set_model_alias
    from gittrack.models.flavors import log_model, save_model
    from gittrack.system_metrics import (
        disable_system_metrics_logging,
        enable_system_metrics_logging,
        set_system_metrics_node_id,
        set_system_metrics_samples_before_logging,
        set_system_metrics_sampling_interval,
    )
    from gittrack.tracking import MlflowClient

# public name -> module that defines it; imported on first attribute access so that
# `import gittrack` (and the CLI) load only what a call needs.
_EXPORTS: dict[str, str] = {
    "Metric": "gittrack.entities",
    "MlflowClient": "gittrack.tracking",
    "Param": "gittrack.entities",
    "RunTag": "gittrack.entities",
    "delete_run": "gittrack.fluent",
    "get_parent_run": "gittrack.fluent",
    "set_tracking_uri": "gittrack.fluent",
    "Run": "gittrack.entities",
    "RunData": "gittrack.entities",
    "RunInfo": "gittrack.entities",
    "ActiveRun": "gittrack.fluent",
    "Client": "gittrack.client",
    "Experiment": "gittrack.experiments",
    "ViewType": "gittrack.entities",
    "create_experiment": "gittrack.fluent",
    "delete_experiment": "gittrack.fluent",
    "get_experiment": "gittrack.fluent",
    "get_experiment_by_name": "gittrack.fluent",
    "restore_experiment": "gittrack.fluent",
    "search_experiments": "gittrack.fluent",
    "set_experiment_tag": "gittrack.fluent",
    "set_experiment_tags": "gittrack.fluent",
    "autolog": "gittrack.autologging",
    "active_run": "gittrack.fluent",
    "delete_tag": "gittrack.fluent",
    "disable_system_metrics_logging": "gittrack.system_metrics",
    "enable_system_metrics_logging": "gittrack.system_metrics",
    "download_artifacts": "gittrack.artifacts",
    "end_run": "gittrack.fluent",
    "flush_async_logging": "gittrack.fluent",
    "get_metric_history": "gittrack.fluent",
    "get_run": "gittrack.fluent",
    "get_tracking_uri": "gittrack.fluent",
    "last_active_run": "gittrack.fluent",
    "list_artifacts": "gittrack.artifacts",
    "load_model": "gittrack.models.api",
    "log_artifact": "gittrack.artifacts",
    "log_artifacts": "gittrack.artifacts",
    "log_dict": "gittrack.artifacts",
    "log_figure": "gittrack.artifacts",
    "log_image": "gittrack.artifacts",
    "log_input": "gittrack.lineage",
    "log_metric": "gittrack.fluent",
    "log_metrics": "gittrack.fluent",
    "log_model": "gittrack.models.flavors",
    "log_param": "gittrack.fluent",
    "log_params": "gittrack.fluent",
    "log_table": "gittrack.artifacts",
    "log_text": "gittrack.artifacts",
    "register_model": "gittrack.models.api",
    "save_model": "gittrack.models.flavors",
    "search_runs": "gittrack.fluent",
    "set_experiment": "gittrack.fluent",
    "set_model_alias": "gittrack.models.api",
    "set_system_metrics_node_id": "gittrack.system_metrics",
    "set_system_metrics_samples_before_logging": "gittrack.system_metrics",
    "set_system_metrics_sampling_interval": "gittrack.system_metrics",
    "set_tag": "gittrack.fluent",
    "set_tags": "gittrack.fluent",
    "start_run": "gittrack.fluent",
}

__all__ = [
    "ActiveRun",
    "Client",
    "Experiment",
    "GittrackError",
    "Metric",
    "MlflowClient",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunTag",
    "ViewType",
    "__version__",
    "active_run",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "disable_system_metrics_logging",
    "download_artifacts",
    "enable_system_metrics_logging",
    "end_run",
    "flush_async_logging",
    "get_experiment",
    "get_experiment_by_name",
    "get_metric_history",
    "get_parent_run",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "list_artifacts",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "register_model",
    "restore_experiment",
    "save_model",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_model_alias",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]

_LAZY_SUBMODULES = frozenset({"lightgbm", "pyfunc", "sklearn", "xgboost"})


def __getattr__(name: str) -> Any:
    """Load public names and the flavor modules (``sklearn``, ...) on first use."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"gittrack.{name}")
    raise AttributeError(f"module 'gittrack' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _LAZY_SUBMODULES)
