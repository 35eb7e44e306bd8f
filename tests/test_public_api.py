"""The facade: what `import gittrack` offers, and what it costs to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import run_example

import gittrack

ROOT = Path(__file__).resolve().parents[1]


def test_all_names_exist_and_are_public() -> None:
    for name in gittrack.__all__:
        assert hasattr(gittrack, name), name
        assert not name.startswith("_") or name == "__version__"
    assert len(set(gittrack.__all__)) == len(gittrack.__all__)


def test_mlflow_fluent_subset_is_there() -> None:
    mlflow_names = {
        "set_experiment",
        "start_run",
        "end_run",
        "flush_async_logging",
        "active_run",
        "last_active_run",
        "log_param",
        "log_params",
        "log_metric",
        "log_metrics",
        "set_tag",
        "set_tags",
        "delete_tag",
        "get_run",
        "search_runs",
        "log_artifact",
        "log_artifacts",
        "log_text",
        "log_dict",
        "get_tracking_uri",
    }
    assert mlflow_names <= set(gittrack.__all__)


def test_import_loads_neither_pyarrow_nor_dulwich() -> None:
    code = (
        "import sys, gittrack\n"
        "heavy = [m for m in ('pyarrow', 'dulwich', 'pandas', 'typer') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


def test_quickstart_example_runs(repo: Path) -> None:
    lines = run_example("quickstart.py", repo).splitlines()
    assert sum(" FINISHED rmse=" in line for line in lines) == 3
    assert lines[-1].startswith("best run: ")
    runs = gittrack.Client(repo).store.list_runs()
    assert len(runs) == 3


# The facade's public names, pinned: adding or removing one is a decision (and a docs/api.md
# change), never a side effect of moving code.
FACADE = [
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


def test_the_facade_exports_exactly_the_pinned_names() -> None:
    assert gittrack.__all__ == FACADE
