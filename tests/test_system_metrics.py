"""System metrics: a background thread samples the machine into system/... metrics."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import gittrack
from gittrack import system_metrics
from gittrack.system_metrics import SystemMetricsMonitor

MLFLOW_NAMES = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
    "system/disk_usage_megabytes",
    "system/disk_available_megabytes",
    "system/network_receive_megabytes",
    "system/network_transmit_megabytes",
}


@pytest.fixture(autouse=True)
def default_settings() -> Iterator[None]:
    yield
    system_metrics._settings.clear()


def system_keys(run_id: str) -> set[str]:
    return {k for k in gittrack.get_run(run_id).data.metrics if k.startswith("system/")}


def test_start_run_with_log_system_metrics_records_mlflow_names(repo: Path) -> None:
    with gittrack.start_run(log_system_metrics=True) as run:
        monitor = run.system_metrics
        assert monitor is not None
    rid = run.info.run_id
    assert system_keys(rid) == MLFLOW_NAMES
    metrics = gittrack.get_run(rid).data.metrics
    assert 0 <= metrics["system/system_memory_usage_percentage"] <= 100
    disk = psutil.disk_usage(os.sep)
    assert metrics["system/disk_usage_megabytes"] == pytest.approx(disk.used / 1e6, rel=0.1)
    assert not any(t.name == "gittrack-system-metrics" for t in threading.enumerate())


def test_runs_log_system_metrics_only_when_enabled(repo: Path) -> None:
    with gittrack.start_run() as plain:
        assert plain.system_metrics is None
    gittrack.enable_system_metrics_logging()
    with gittrack.start_run() as enabled:
        pass
    with gittrack.start_run(log_system_metrics=False) as opted_out:
        pass
    gittrack.disable_system_metrics_logging()
    with gittrack.start_run() as disabled:
        pass
    assert system_keys(plain.info.run_id) == set()
    assert system_keys(enabled.info.run_id) == MLFLOW_NAMES
    assert system_keys(opted_out.info.run_id) == set()
    assert system_keys(disabled.info.run_id) == set()


def test_environment_variable_enables_system_metrics(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(system_metrics.ENV_ENABLE, "true")
    with gittrack.start_run() as run:
        pass
    assert system_keys(run.info.run_id) == MLFLOW_NAMES


def test_the_thread_samples_every_interval_while_the_run_lives(repo: Path) -> None:
    gittrack.set_system_metrics_sampling_interval(0.02)
    with gittrack.start_run(log_system_metrics=True) as run:
        monitor = run.system_metrics
        assert monitor is not None
        deadline = time.monotonic() + 60
        while monitor.step < 3 and time.monotonic() < deadline:  # bounded poll
            time.sleep(0.01)
        assert monitor.step >= 3
    steps = [
        m.step for m in gittrack.get_metric_history(run.info.run_id, "system/disk_usage_percentage")
    ]
    assert steps == list(range(len(steps))) and len(steps) >= 4


def test_means_totals_and_node_id() -> None:
    logged: list[tuple[dict[str, float], int]] = []
    values = iter([10.0, 20.0, 31.0])
    totals = iter([1.0, 2.5, 4.0])
    monitor = SystemMetricsMonitor(
        lambda m, step: logged.append((m, step)),
        samples_before_logging=3,
        node_id="node_0",
        samplers=[
            lambda: {"cpu_utilization_percentage": next(values)},
            lambda: {"network_receive_megabytes": next(totals)},
        ],
    )
    for _ in range(3):
        monitor.sample()
    monitor.publish()
    assert logged == [
        (
            {
                "system/node_0/cpu_utilization_percentage": 20.3,
                "system/node_0/network_receive_megabytes": 4.0,
            },
            0,
        )
    ]


def test_nvidia_gpus_are_sampled_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    fake.NVMLError = NVMLError  # type: ignore[attr-defined]
    fake.nvmlInit = lambda: None  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: 1  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2e9, total=8e9)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=75)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetPowerUsage = lambda h: 150_000  # type: ignore[attr-defined]
    fake.nvmlDeviceGetEnforcedPowerLimit = lambda h: 300_000  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    logged: list[dict[str, float]] = []
    monitor = SystemMetricsMonitor(lambda m, step: logged.append(m))
    monitor.sample()
    monitor.publish()
    gpu = {k: v for k, v in logged[0].items() if "gpu" in k}
    assert gpu == {
        "system/gpu_0_memory_usage_percentage": 25.0,
        "system/gpu_0_memory_usage_megabytes": 2000.0,
        "system/gpu_0_utilization_percentage": 75.0,
        "system/gpu_0_power_usage_watts": 150.0,
        "system/gpu_0_power_usage_percentage": 50.0,
    }


def test_without_psutil_the_run_goes_on_with_a_warning(
    repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    with (
        caplog.at_level(logging.WARNING, logger="gittrack"),
        gittrack.start_run(log_system_metrics=True) as run,
    ):
        gittrack.log_metric("loss", 0.5)
    assert "system metrics need psutil" in caplog.text
    assert gittrack.get_run(run.info.run_id).data.metrics == {"loss": 0.5}


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(gittrack.GittrackError, match="sampling interval"):
        gittrack.set_system_metrics_sampling_interval(0)
    with pytest.raises(gittrack.GittrackError, match="samples before logging"):
        gittrack.set_system_metrics_samples_before_logging(0)
