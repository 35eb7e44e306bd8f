"""Post-training metrics: metric calls on a logged model's predictions, as MLflow names them.

After an autologged fit, the estimator is remembered with its run. Its ``predict``-like
methods remember each result with the name of the variable passed in (``X_test``), and a
``sklearn.metrics`` function called with such a result logs ``<function>_<variable>``
(``accuracy_score_X_test``) into the model's run; ``model.score(X_test, y_test)`` logs
``<Class>_score_X_test``. A second call of the same function on the same run gets
``<function>-2_<variable>``, a second dataset under the same variable name
``<variable>-2``. ``metric_info.json`` maps every key to the call that produced it.
"""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from gittrack.autologging.safety import (
    call_safely,
    is_patched,
    may_log,
    patch_attribute,
    patch_method,
    quiet,
)

PREDICT_METHODS = ("predict", "predict_proba", "transform", "predict_log_proba")
# sklearn.metrics names that build scorers rather than compute a metric
NOT_METRICS = ("check_scoring", "get_scorer", "make_scorer", "get_scorer_names")
INFO_FILE = "metric_info.json"

_lock = threading.RLock()
_models: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_results: dict[int, tuple[str, str]] = {}  # id(prediction) -> (run id, dataset name)
_datasets: dict[tuple[str, str], list[int]] = {}  # (run id, variable name) -> ids seen
_calls: dict[str, dict[str, list[tuple[str, str]]]] = {}  # run -> metric -> [(key, call)]


def install(flavor: str, classes: Iterable[type]) -> None:
    """Wrap the prediction and scoring methods of ``classes`` and sklearn.metrics."""
    import sklearn.metrics

    for cls in classes:
        for name in PREDICT_METHODS:
            patch_method(flavor, cls, name, lambda original: _predict_wrapper(flavor, original))
        patch_method(flavor, cls, "score", lambda original: _score_wrapper(flavor, original))
    for name in sklearn.metrics.__all__:
        func = getattr(sklearn.metrics, name, None)
        if name in NOT_METRICS or name.startswith("plot_") or inspect.isclass(func):
            continue
        if is_patched(func):  # another flavor's patch already follows every prediction
            continue
        patch_attribute(flavor, sklearn.metrics, name, lambda o: _metric_wrapper(flavor, o))


def remember(estimator: Any, run_id: str) -> None:
    """Log later metric calls on ``estimator``'s predictions into ``run_id``."""
    try:
        with _lock:
            _models[estimator] = run_id
    except TypeError:  # not weak-referenceable or not hashable: no post-training metrics
        pass


def _run_of(model: Any) -> str | None:
    try:
        return _models.get(model)
    except TypeError:
        return None


def variable_name(value: Any, fallback: str) -> str:
    """The name the first frame outside gittrack and scikit-learn gives ``value``."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("gittrack.", "sklearn.", "xgboost.", "lightgbm.")):
            for name, bound in frame.f_locals.items():
                if bound is value:
                    return name
            return fallback
        frame = frame.f_back  # type: ignore[assignment]
    return fallback


def _dataset_name(run_id: str, data: Any) -> str:
    name = variable_name(data, "unknown_dataset")
    with _lock:
        seen = _datasets.setdefault((run_id, name), [])
        if id(data) not in seen:
            seen.append(id(data))
        index = seen.index(id(data))
    return name if index == 0 else f"{name}-{index + 1}"


def _forget(key: int) -> None:
    with _lock:
        _results.pop(key, None)


def _predict_wrapper(flavor: str, original: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        run_id = _run_of(self) if may_log() else None
        if run_id is None:
            return original(self, *args, **kwargs)
        with quiet():
            result = original(self, *args, **kwargs)
        data = args[0] if args else next(iter(kwargs.values()), None)
        call_safely(flavor, "remembering a prediction", _remember_result, run_id, data, result)
        return result

    return wrapper


def _remember_result(run_id: str, data: Any, result: Any) -> None:
    name = _dataset_name(run_id, data)
    try:
        weakref.finalize(result, _forget, id(result))
    except TypeError:  # a result that cannot be weakly referenced cannot be tracked safely
        return
    with _lock:
        _results[id(result)] = (run_id, name)


def _score_wrapper(flavor: str, original: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        run_id = _run_of(self) if may_log() else None
        if run_id is None:
            return original(self, *args, **kwargs)
        with quiet():
            value = original(self, *args, **kwargs)
        data = args[0] if args else next(iter(kwargs.values()), None)
        metric = f"{type(self).__name__}_score"
        call_safely(
            flavor,
            "logging a score",
            _log_call,
            run_id,
            metric,
            _dataset_name(run_id, data),
            value,
            _command(f"{type(self).__name__}.score", original, args, kwargs, skip=1),
        )
        return value

    return wrapper


def _metric_wrapper(flavor: str, original: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not may_log() or not _results:
            return original(*args, **kwargs)
        with quiet():
            value = original(*args, **kwargs)
        call_safely(
            flavor, "logging a metric call", _log_metric_call, original, args, kwargs, value
        )
        return value

    return wrapper


def _log_metric_call(
    original: Any, args: tuple[Any, ...], kwargs: dict[str, Any], value: Any
) -> None:
    with _lock:
        found = next(
            (_results[id(a)] for a in (*args, *kwargs.values()) if id(a) in _results), None
        )
    if found is None:
        return
    run_id, dataset = found
    name = original.__name__
    _log_call(run_id, name, dataset, value, _command(name, original, args, kwargs, skip=0))


def _loggable(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _command(name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], skip: int) -> str:
    """``name(arg=<variable>, ...)``: how the metric was called, for metric_info.json."""
    import numpy as np

    def text(value: Any) -> str:
        if value is None or np.isscalar(value):
            if isinstance(value, str) and len(value) > 32:
                return repr(value[:32] + "...")
            return repr(value)
        return variable_name(value, f"<{type(value).__name__}>")

    params = list(inspect.signature(func).parameters)[skip:]
    parts = [f"{p}={text(a)}" for p, a in zip(params, args, strict=False)]
    parts += [f"{k}={text(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _log_call(run_id: str, metric: str, dataset: str, value: Any, command: str) -> None:
    if not _loggable(value):
        return
    from gittrack.client import Client

    with _lock:
        calls = _calls.setdefault(run_id, {}).setdefault(metric, [])
        indexed = metric if not calls else f"{metric}-{len(calls) + 1}"
        key = f"{indexed}_{dataset}"
        calls.append((key, command))
        info = dict(sorted(kv for per in _calls[run_id].values() for kv in per))
    client = Client()
    client.log_metric(run_id, key, float(value))
    client.log_dict(run_id, info, INFO_FILE)
