"""scikit-learn autologging: what a ``fit`` records, under MLflow's names.

``fit``, ``fit_transform`` and ``fit_predict`` of every estimator scikit-learn lists
(``sklearn.utils.all_estimators``, without the preprocessing, imputation and feature
modules, plus Pipeline and the parameter searches) record into the active run, or a run
started for the fit and ended after it:

- params ``get_params(deep=True)`` (not deep for a parameter search), tags
  ``estimator_name`` and ``estimator_class``, the training data as input ``train``;
- metrics ``training_*`` (see ``classifier_metrics``/``regressor_metrics``) and
  ``training_score``;
- the model (sklearn flavor) at ``model``, with signature and input example as asked;
- for GridSearchCV/RandomizedSearchCV: ``best_cv_score``, params ``best_<name>``, the
  best estimator at ``best_estimator``, ``cv_results.csv`` and one child run per
  candidate among the ``max_tuning_runs`` best.

Later ``sklearn.metrics`` calls on a logged model's predictions and its ``score`` on
other data log ``<metric>_<dataset variable>`` into the model's run (post-training
metrics, :mod:`gittrack.autologging.post_training`).
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Mapping
from types import CodeType, FrameType
from typing import Any

from gittrack.autologging import fast_metrics, post_training
from gittrack.autologging.data import clean_params, first_rows, log_dataset, log_model_with
from gittrack.autologging.safety import (
    AUTOLOGGING_TAG,
    LoggingRun,
    Options,
    Recorder,
    call_safely,
    logged,
    patch_method,
    warn,
)

FLAVOR = "sklearn"
TRAINING_PREFIX = "training_"
FIT_METHODS = ("fit", "fit_transform", "fit_predict")
EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
# Functions that fit many estimators for one answer: their inner fits are not logged.
UNLOGGED_HELPERS = (
    "cross_validate",
    "cross_val_predict",
    "cross_val_score",
    "learning_curve",
    "permutation_test_score",
    "validation_curve",
)


def estimators_to_patch() -> list[type]:
    """The estimator classes whose fitting methods autologging wraps."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    classes = {cls for _, cls in all_estimators()} | {GridSearchCV, RandomizedSearchCV, Pipeline}
    return sorted(
        (
            cls
            for cls in classes
            if not cls.__module__.startswith(EXCLUDED_MODULES)
            and f"{cls.__module__}.{cls.__name__}" not in EXCLUDED_CLASSES
        ),
        key=lambda cls: f"{cls.__module__}.{cls.__name__}",
    )


def install(opts: Options) -> None:
    """Wrap scikit-learn's fitting methods (and, for post-training metrics, more)."""
    import sklearn.model_selection

    _helper_codes.clear()
    for name in UNLOGGED_HELPERS:
        helper = getattr(sklearn.model_selection, name, None)
        if helper is not None:
            _helper_codes.add(inspect.unwrap(helper).__code__)
    for cls in estimators_to_patch():
        for name in FIT_METHODS:
            patch_method(FLAVOR, cls, name, _fit_wrapper)
    if opts.extra.get("log_post_training_metrics", True):
        post_training.install(FLAVOR, estimators_to_patch())


_helper_codes: set[CodeType] = set()


def _inside_helper() -> bool:
    """Whether the fit runs inside cross_validate & co. (found by their code objects, so
    that a helper imported before autologging was enabled counts too)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code in _helper_codes:
            return True
        frame = frame.f_back
    return False


def _fit_wrapper(original: Any) -> Any:
    return logged(FLAVOR, original, SklearnFit, allow_children=False, skip=_inside_helper)


# -- what one fit records -----------------------------------------------------------------
def is_search(estimator: Any) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, (GridSearchCV, RandomizedSearchCV))


def estimator_tags(estimator: Any) -> dict[str, str]:
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


class SklearnFit(Recorder):
    """Records one scikit-learn fit."""

    def __init__(
        self, opts: Options, run: LoggingRun, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.opts = opts
        self.run = run
        self.estimator = args[0]
        # X and y by position or by the names fit gives them (MultiOutput* say X, Y)
        params = list(inspect.signature(type(self.estimator).fit).parameters)
        names = [*params[1:3], None, None]
        self.X = args[1] if len(args) > 1 else kwargs.get(str(names[0]))
        self.y = args[2] if len(args) > 2 else kwargs.get(str(names[1]))
        at = params.index("sample_weight") if "sample_weight" in params else len(args)
        self.sample_weight = args[at] if at < len(args) else kwargs.get("sample_weight")

    def before(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        from gittrack import fluent

        estimator = self.estimator
        # each part on its own: a param the active run already holds with another value
        # (a second fit in one run) must not cost the tags and the data
        params = clean_params(estimator.get_params(deep=not is_search(estimator)))
        call_safely(FLAVOR, "logging params", fluent.log_params, params)
        fluent.set_tags(estimator_tags(estimator))
        if self.opts.log_datasets and self.X is not None:
            call_safely(
                FLAVOR,
                "recording the training data",
                log_dataset,
                FLAVOR,
                self.X,
                self.y,
                name="train",
                context="train",
            )
        return None

    def after(self, result: Any) -> None:
        from gittrack import fluent

        estimator = self.estimator
        if self.y is not None:
            metrics = call_safely(FLAVOR, "computing training metrics", self.training_metrics)
            if metrics:
                fluent.log_metrics(metrics)
        elif self.X is not None:
            warn(FLAVOR, "training metrics are not recorded: the fit was given no labels")
        if self.opts.log_models:
            call_safely(FLAVOR, "logging the model", self.log_model, estimator, "model", self.opts)
        if is_search(estimator):
            call_safely(FLAVOR, "logging the parameter search", self.log_search)
        if self.opts.extra.get("log_post_training_metrics", True):
            post_training.remember(estimator, self.run.run_id)

    def training_metrics(self) -> dict[str, float]:
        from sklearn.base import is_classifier, is_regressor

        estimator, X, y, weight = self.estimator, self.X, self.y, self.sample_weight
        pos_label = self.opts.extra.get("pos_label")
        metrics: dict[str, float] = {}
        if is_classifier(estimator):
            metrics = classifier_metrics(estimator, X, y, weight, pos_label, TRAINING_PREFIX)
        elif is_regressor(estimator):
            metrics = regressor_metrics(estimator, X, y, weight, TRAINING_PREFIX)
        if callable(getattr(estimator, "score", None)):
            score = call_safely(FLAVOR, "the training score", self.training_score, metrics)
            if score is not None:
                metrics[TRAINING_PREFIX + "score"] = score
        return metrics

    def training_score(self, metrics: dict[str, float]) -> float:
        """``estimator.score(X, y)``; the mixins' own score is accuracy or r2, known already."""
        from sklearn.base import ClassifierMixin, RegressorMixin

        estimator, X, y, weight = self.estimator, self.X, self.y, self.sample_weight
        score = inspect.unwrap(type(estimator).score)
        known = {
            ClassifierMixin.score: TRAINING_PREFIX + "accuracy_score",
            RegressorMixin.score: TRAINING_PREFIX + "r2_score",
        }.get(score)
        if known in metrics:
            return metrics[known]
        takes_weight = "sample_weight" in inspect.signature(score).parameters
        return float(estimator.score(X, y, weight) if takes_weight else estimator.score(X, y))

    def log_model(self, model: Any, name: str, opts: Options) -> None:
        from gittrack.sklearn import log_model

        example = first_rows(self.X) if self.X is not None else None
        predict = getattr(model, "predict", None) or getattr(model, "transform", None)
        log_model_with(
            log_model,
            model,
            opts,
            example,
            predict,
            name=name,
            serialization_format=opts.extra.get("serialization_format", "pickle"),
        )

    def log_search(self) -> None:
        from gittrack import fluent

        search = self.estimator
        if self.opts.log_models and hasattr(search, "best_estimator_"):
            no_registration = dataclasses.replace(self.opts, registered_model_name=None)
            call_safely(
                FLAVOR,
                "logging the best estimator",
                self.log_model,
                search.best_estimator_,
                "best_estimator",
                no_registration,
            )
        if hasattr(search, "best_score_"):
            fluent.log_metrics({"best_cv_score": float(search.best_score_)})
        if hasattr(search, "best_params_"):
            fluent.log_params(
                clean_params({f"best_{k}": v for k, v in search.best_params_.items()})
            )
        if hasattr(search, "cv_results_"):
            rows = cv_rows(search.cv_results_)
            from gittrack.artifacts import log_text

            log_text(cv_results_csv(search.cv_results_), "cv_results.csv")
            call_safely(FLAVOR, "creating child runs", self.child_runs, rows)

    def child_runs(self, rows: list[dict[str, Any]]) -> None:
        from gittrack import fluent

        search = self.estimator
        limit = self.opts.extra.get("max_tuning_runs", 5)
        rank = next((k for k in rows[0] if k.startswith("rank_test_")), None) if rows else None
        chosen = sorted(rows, key=lambda r: r[rank]) if rank else rows
        if limit is not None:
            chosen = chosen[:limit]
        seed = search.estimator
        base = clean_params(seed.get_params(deep=not is_search(seed)))
        tags = {AUTOLOGGING_TAG: FLAVOR, **estimator_tags(seed)}
        for row in chosen:
            with fluent.start_run(nested=True, tags=tags):
                fluent.log_params({**base, **clean_params(row.get("params", {}))})
                fluent.log_metrics(
                    {
                        k: float(v)
                        for k, v in row.items()
                        if not k.startswith(("param", "split"))
                        and isinstance(v, (int, float))
                        and not isinstance(v, bool)
                    }
                )
                if self.opts.log_datasets and self.X is not None:
                    log_dataset(FLAVOR, self.X, self.y, name="train", context="train")


def cv_rows(cv_results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``cv_results_`` as one dict per candidate."""
    keys = list(cv_results)
    count = len(cv_results[keys[0]]) if keys else 0
    return [{k: _item(cv_results[k][i]) for k in keys} for i in range(count)]


def _item(value: Any) -> Any:
    return value.item() if type(value).__module__ == "numpy" and hasattr(value, "item") else value


def cv_results_csv(cv_results: Mapping[str, Any]) -> str:
    """``cv_results_`` as CSV text, one row per candidate (pandas' ``to_csv`` layout)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = list(cv_results)
    writer.writerow(keys)
    for row in cv_rows(cv_results):
        writer.writerow(["" if row[k] is None else row[k] for k in keys])
    return out.getvalue()


# -- training metrics (MLflow's names and arguments) --------------------------------------
def classifier_metrics(
    estimator: Any, X: Any, y: Any, weight: Any, pos_label: Any, prefix: str
) -> dict[str, float]:
    """precision/recall/f1 (weighted, or binary for ``pos_label``), accuracy, log loss and
    ROC AUC (weighted, one-vs-one) when the estimator has ``predict_proba``.

    The numbers are scikit-learn's: computed with numpy where :mod:`fast_metrics` covers
    the case, else by ``sklearn.metrics`` with MLflow's arguments.
    """
    from sklearn import metrics as m

    average = "weighted" if pos_label is None else "binary"
    y_pred = estimator.predict(X)
    proba = estimator.predict_proba(X) if hasattr(estimator, "predict_proba") else None
    classes = getattr(estimator, "classes_", None)
    results = fast_metrics.classifier(y, y_pred, proba, classes, weight, pos_label) or {}
    labelled = {"pos_label": pos_label, "average": average}
    calls: list[tuple[str, Any, Any, dict[str, Any]]] = [
        ("precision_score", m.precision_score, y_pred, labelled),
        ("recall_score", m.recall_score, y_pred, labelled),
        ("f1_score", m.f1_score, y_pred, labelled),
        ("accuracy_score", m.accuracy_score, y_pred, {"normalize": True}),
    ]
    if proba is not None:
        score = proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba
        calls.append(("log_loss", m.log_loss, proba, {}))
        calls.append(
            ("roc_auc", m.roc_auc_score, score, {"average": "weighted", "multi_class": "ovo"})
        )
    for name, func, second, kwargs in calls:
        if name in results:
            continue
        # the prediction goes by position: log_loss renamed its y_pred to y_proba in 1.9
        value = call_safely(
            FLAVOR, f"metric {name}", func, y, second, sample_weight=weight, **kwargs
        )
        if value is not None:
            results[name] = float(value)
    return {prefix + k: v for k, v in results.items()}


def regressor_metrics(estimator: Any, X: Any, y: Any, weight: Any, prefix: str) -> dict[str, float]:
    """mean squared/absolute error, r2 (uniform average) and the root of the mse."""
    import math

    from sklearn import metrics as m

    y_pred = estimator.predict(X)
    results = fast_metrics.regressor(y, y_pred, weight) or {}
    for name, func in (
        ("mean_squared_error", m.mean_squared_error),
        ("mean_absolute_error", m.mean_absolute_error),
        ("r2_score", m.r2_score),
    ):
        if name in results:
            continue
        value = call_safely(
            FLAVOR,
            f"metric {name}",
            func,
            y,
            y_pred,
            sample_weight=weight,
            multioutput="uniform_average",
        )
        if value is not None:
            results[name] = float(value)
    if "mean_squared_error" in results:
        results["root_mean_squared_error"] = math.sqrt(results["mean_squared_error"])
    return {prefix + k: v for k, v in results.items()}
