"""System metrics: CPU, memory, disk and network (and NVIDIA GPUs) sampled during a run.

``start_run(log_system_metrics=True)``, or every run after
``enable_system_metrics_logging()`` (or with ``GITTRACK_ENABLE_SYSTEM_METRICS_LOGGING=true``),
gets a background thread that takes a sample every ``sampling_interval`` seconds (10 by
default) and, every ``samples_before_logging`` samples (1), logs their mean as
``system/<name>`` metrics at steps 0, 1, 2, ... under MLflow's names. When the run ends
the thread stops and the samples not yet logged, plus one last sample, are logged, so
even a short run has one point. Needs psutil (the ``autolog`` extra); GPU metrics need
NVIDIA's ``pynvml`` (``nvidia-ml-py``) and a GPU, and are left out otherwise.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

__all__ = [
    "SystemMetricsMonitor",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "monitor_for_run",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "should_log",
]

ENV_ENABLE = "GITTRACK_ENABLE_SYSTEM_METRICS_LOGGING"
PREFIX = "system/"
# running totals since the monitor started: the latest sample is logged, not a mean
TOTALS = frozenset({"network_receive_megabytes", "network_transmit_megabytes"})
_logger = logging.getLogger("gittrack")
_settings: dict[str, Any] = {}


def enable_system_metrics_logging() -> None:
    """Log system metrics for every run started from now on (unless it says otherwise)."""
    _settings["enabled"] = True


def disable_system_metrics_logging() -> None:
    """Stop logging system metrics for runs that do not ask for them."""
    _settings["enabled"] = False


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Seconds between two samples (None: back to 10)."""
    if interval is not None and not interval > 0:
        from gittrack.errors import ValidationError

        raise ValidationError(f"sampling interval must be a positive number, not {interval!r}")
    _settings["interval"] = interval


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """How many samples are averaged into one logged point (None: back to 1)."""
    if samples is not None and (not isinstance(samples, int) or samples < 1):
        from gittrack.errors import ValidationError

        raise ValidationError(f"samples before logging must be 1 or more, not {samples!r}")
    _settings["samples"] = samples


def set_system_metrics_node_id(node_id: str | None) -> None:
    """Name this machine in the keys (``system/<node_id>/...``) for multi-node training."""
    _settings["node_id"] = node_id


def should_log(log_system_metrics: bool | None) -> bool:
    """Whether a run started with ``log_system_metrics`` logs system metrics."""
    if log_system_metrics is not None:
        return bool(log_system_metrics)
    enabled = _settings.get("enabled")
    if enabled is not None:
        return bool(enabled)
    return os.environ.get(ENV_ENABLE, "").strip().lower() in ("1", "true", "yes")


# -- samplers: each returns {name: value} for one sample ---------------------------------
def _cpu_and_memory(psutil: Any) -> dict[str, float]:
    memory = psutil.virtual_memory()
    return {
        "cpu_utilization_percentage": float(psutil.cpu_percent()),
        "system_memory_usage_megabytes": memory.used / 1e6,
        "system_memory_usage_percentage": memory.used / memory.total * 100,
    }


def _disk(psutil: Any) -> dict[str, float]:
    usage = psutil.disk_usage(os.sep)
    return {
        "disk_usage_percentage": float(usage.percent),
        "disk_usage_megabytes": usage.used / 1e6,
        "disk_available_megabytes": usage.free / 1e6,
    }


class _Network:
    """Megabytes received and sent since the monitor started (totals, not means)."""

    def __init__(self, psutil: Any) -> None:
        self.psutil = psutil
        counters = psutil.net_io_counters()
        self.start = (counters.bytes_recv, counters.bytes_sent)

    def __call__(self) -> dict[str, float]:
        counters = self.psutil.net_io_counters()
        return {
            "network_receive_megabytes": (counters.bytes_recv - self.start[0]) / 1e6,
            "network_transmit_megabytes": (counters.bytes_sent - self.start[1]) / 1e6,
        }


class _NvidiaGpus:
    """Memory, utilisation and power of each NVIDIA GPU through NVML."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.handles = [
            pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
        ]

    def __call__(self) -> dict[str, float]:
        nvml, sample = self.nvml, {}
        for i, handle in enumerate(self.handles):
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                sample[f"gpu_{i}_memory_usage_percentage"] = memory.used / memory.total * 100
                sample[f"gpu_{i}_memory_usage_megabytes"] = memory.used / 1e6
                sample[f"gpu_{i}_utilization_percentage"] = float(
                    nvml.nvmlDeviceGetUtilizationRates(handle).gpu
                )
                milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
                limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
                sample[f"gpu_{i}_power_usage_watts"] = milliwatts / 1000
                sample[f"gpu_{i}_power_usage_percentage"] = milliwatts / limit * 100
            except nvml.NVMLError as e:
                _logger.debug("gittrack: GPU %d metrics unavailable: %s", i, e)
        return sample


def default_samplers() -> list[Callable[[], dict[str, float]]]:
    """CPU/memory, disk, network and, when NVML finds GPUs, the GPUs."""
    import psutil

    samplers: list[Callable[[], dict[str, float]]] = [
        lambda: _cpu_and_memory(psutil),
        lambda: _disk(psutil),
        _Network(psutil),
    ]
    try:
        gpus = _NvidiaGpus()
    except Exception:  # no pynvml, no driver or no GPU: no GPU metrics
        _logger.debug("gittrack: no NVIDIA GPU metrics", exc_info=True)
    else:
        if gpus.handles:
            samplers.append(gpus)
    return samplers


class SystemMetricsMonitor:
    """Samples the system in a background thread and logs the means into one run."""

    def __init__(
        self,
        log_metrics: Callable[[dict[str, float], int], None],
        *,
        sampling_interval: float | None = None,
        samples_before_logging: int | None = None,
        node_id: str | None = None,
        samplers: list[Callable[[], dict[str, float]]] | None = None,
    ) -> None:
        self.log_metrics = log_metrics
        self.interval = float(sampling_interval or _settings.get("interval") or 10.0)
        self.samples = int(samples_before_logging or _settings.get("samples") or 1)
        node = node_id or _settings.get("node_id")
        self.prefix = PREFIX + (f"{node}/" if node else "")
        self.samplers = samplers if samplers is not None else default_samplers()
        self.step = 0
        self._pending: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="gittrack-system-metrics", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.sample() >= self.samples:
                    self.publish()
            except Exception as e:  # never take the process down; the run keeps going
                _logger.warning("gittrack: system metrics stopped: %s", e)
                return

    def sample(self) -> int:
        """Take one sample of every sampler; returns how many samples are pending."""
        values: dict[str, float] = {}
        for sampler in self.samplers:
            values.update(sampler())
        with self._lock:
            for key, value in values.items():
                self._pending[key].append(value)
            return max((len(v) for v in self._pending.values()), default=0)

    def publish(self) -> None:
        """Log the mean of the pending samples at the next step."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(list)
            step = self.step
            self.step += 1
        if pending:
            means = {
                self.prefix + k: v[-1] if k in TOTALS else round(sum(v) / len(v), 1)
                for k, v in pending.items()
            }
            self.log_metrics(means, step)

    def finish(self) -> None:
        """Stop the thread; log what was sampled since the last point, with one last sample."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.sample()
            self.publish()
        except Exception as e:
            _logger.warning("gittrack: last system metrics sample lost: %s", e)


def monitor_for_run(client: Any, run_id: str) -> SystemMetricsMonitor | None:
    """A started monitor logging into ``run_id``, or None (with a warning) without psutil."""
    try:
        monitor = SystemMetricsMonitor(
            lambda metrics, step: client.log_metrics(run_id, metrics, step=step)
        )
    except ImportError:
        _logger.warning(
            "gittrack: system metrics need psutil (pip install psutil); run %s has none", run_id
        )
        return None
    monitor.start()
    return monitor
