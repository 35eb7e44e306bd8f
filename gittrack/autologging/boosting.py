"""What XGBoost and LightGBM autologging share: the native ``train`` recorder and the
recorder of their scikit-learn wrappers' ``fit``.

A native ``train(params, data, ...)`` records the booster params and the other
arguments of ``train`` as params, the training data as input ``train`` and each
evaluation set as input ``eval-<name>``, ``<set>-<metric>`` metrics at every iteration
(step = iteration; ``@`` becomes ``_at_``), with early stopping ``stopped_iteration``,
``best_iteration`` and the best iteration's metrics again at step = number of
iterations, feature importance as ``feature_importance_<type>.json``, and the model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from gittrack.autologging import post_training
from gittrack.autologging.data import clean_params, first_rows
from gittrack.autologging.safety import (
    LoggingRun,
    Options,
    Recorder,
    call_safely,
    logged,
    patch_attribute,
    patch_method,
    warn,
)

__all__ = ["BoosterTrain", "WrapperFit", "install_wrappers", "metric_key"]


def metric_key(data_name: str, metric: str) -> str:
    """``<data>-<metric>``, with ``@`` (as in ``ndcg@3``) spelled ``_at_`` as MLflow does."""
    return f"{data_name}-{metric}".replace("@", "_at_")


class IterationLog:
    """Logs each iteration's evaluation results; never raises into the training loop."""

    def __init__(self, flavor: str) -> None:
        self.flavor = flavor
        self.results: list[dict[str, float]] = []
        self.failed = False

    def record(self, step: int, metrics: dict[str, float]) -> None:
        self.results.append(metrics)
        if self.failed or not metrics:
            return
        try:
            from gittrack import fluent

            fluent.log_metrics(metrics, step=step)
        except Exception as e:
            self.failed = True
            warn(self.flavor, "iteration metrics are not recorded: %s", e)


class BoosterTrain(Recorder):
    """Records one native ``train`` call; subclasses know the library's specifics."""

    flavor = ""
    data_argument = ""  # the name of the training data argument of train()
    unlogged: tuple[str, ...] = ()  # arguments of train() that are not params

    def __init__(
        self,
        opts: Options,
        run: LoggingRun,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        original: Callable[..., Any],
        log_models: bool,
    ) -> None:
        self.opts = opts
        self.log_models = log_models and opts.log_models
        self.bound = inspect.signature(original).bind(*args, **kwargs)
        self.bound.apply_defaults()
        self.log = IterationLog(self.flavor)
        self.example: Any = None

    @property
    def arguments(self) -> dict[str, Any]:
        return self.bound.arguments

    def before(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        from gittrack import fluent

        params = dict(self.arguments.get("params") or {})
        params.update(
            {k: v for k, v in self.arguments.items() if k not in ("params", *self.unlogged)}
        )
        fluent.log_params(clean_params(params))
        data = self.arguments[self.data_argument]
        self.example = call_safely(self.flavor, "reading the input example", self.rows, data)
        if self.opts.log_datasets:
            for name, context, dataset in self.datasets():
                call_safely(
                    self.flavor, f"recording input {name}", self.log_dataset, dataset, name, context
                )
        callbacks = list(self.arguments.get("callbacks") or [])
        self.arguments["callbacks"] = [*callbacks, self.callback()]
        return self.bound.args, self.bound.kwargs

    def after(self, model: Any) -> None:
        from gittrack import fluent
        from gittrack.artifacts import log_dict

        best = self.best_iteration(model)
        if best is not None and self.log.results:
            stopped = self.stopped_iteration()
            fluent.log_metrics({"stopped_iteration": stopped, "best_iteration": best})
            fluent.log_metrics(self.best_results(best), step=len(self.log.results))
        for kind, importance in self.importances(model).items():
            log_dict(importance, f"feature_importance_{kind}.json")
        if self.log_models:
            call_safely(self.flavor, "logging the model", self.log_model, model)

    # -- library specifics ---------------------------------------------------------------
    def datasets(self) -> list[tuple[str, str, Any]]:
        """``(input name, context, library dataset)`` of the training and evaluation data."""
        raise NotImplementedError

    def rows(self, dataset: Any) -> Any:
        """The first rows of a library dataset, as the model's input example."""
        raise NotImplementedError

    def log_dataset(self, dataset: Any, name: str, context: str) -> None:
        raise NotImplementedError

    def callback(self) -> Any:
        raise NotImplementedError

    def best_iteration(self, model: Any) -> int | None:
        """The best iteration when training stopped early, else None."""
        raise NotImplementedError

    def stopped_iteration(self) -> int:
        raise NotImplementedError

    def best_results(self, best: int) -> dict[str, float]:
        raise NotImplementedError

    def importances(self, model: Any) -> dict[str, dict[str, float]]:
        raise NotImplementedError

    def log_model(self, model: Any) -> None:
        raise NotImplementedError


class WrapperFit(Recorder):
    """Records the ``fit`` of a scikit-learn wrapper: params and metrics come from the
    native ``train`` it calls; this logs the model (the wrapper) afterwards."""

    flavor = ""

    def __init__(
        self, opts: Options, run: LoggingRun, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.opts = opts
        self.run = run
        self.estimator = args[0]
        features = args[1] if len(args) > 1 else kwargs.get("X")
        self.example = first_rows(features) if features is not None else None

    def after(self, result: Any) -> None:
        if self.opts.log_models:
            call_safely(self.flavor, "logging the model", self.log_model)
        post_training.remember(self.estimator, self.run.run_id)

    def log_model(self) -> None:
        """Log the fitted wrapper with the flavor's ``log_model``."""
        raise NotImplementedError


def install_wrappers(flavor: str, classes: list[type], recorder: type[WrapperFit]) -> None:
    """Wrap the ``fit`` of a library's scikit-learn wrapper classes (and their predict and
    score, for post-training metrics)."""
    for cls in classes:
        patch_method(
            flavor,
            cls,
            "fit",
            lambda original: logged(flavor, original, recorder, allow_children=True),
        )
    post_training.install(flavor, classes)


def install_train(
    flavor: str, module: Any, recorder: type[BoosterTrain], *, log_models: bool
) -> None:
    """Wrap ``module.train`` (the library's, or the one its wrappers call)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def factory(
            opts: Options, run: LoggingRun, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Recorder:
            return recorder(opts, run, args, kwargs, original=original, log_models=log_models)

        return logged(flavor, original, factory, allow_children=False, is_method=False)

    patch_attribute(flavor, module, "train", make)
