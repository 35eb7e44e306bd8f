"""XGBoost autologging: ``xgboost.train`` and the scikit-learn wrappers (``XGBClassifier``, ...).

See :mod:`gittrack.autologging.boosting` for what a native ``train`` records; the
feature importance types are the ``importance_types`` option (default ``["weight"]``).
A wrapper's ``fit`` records the same through the ``train`` it calls, then logs the
wrapper as the model.
"""

from __future__ import annotations

import inspect
from typing import Any

from gittrack.autologging.boosting import (
    BoosterTrain,
    WrapperFit,
    install_train,
    install_wrappers,
    metric_key,
)
from gittrack.autologging.data import EXAMPLE_ROWS, log_dataset, log_model_with
from gittrack.autologging.safety import Options

FLAVOR = "xgboost"


def install(opts: Options) -> None:
    import xgboost
    import xgboost.sklearn

    install_train(FLAVOR, xgboost, XGBoostTrain, log_models=True)
    install_train(FLAVOR, xgboost.sklearn, XGBoostTrain, log_models=False)
    install_wrappers(FLAVOR, wrapper_classes(), XGBoostWrapperFit)


def wrapper_classes() -> list[type]:
    import xgboost.sklearn

    base = xgboost.sklearn.XGBModel
    return [
        cls
        for _, cls in inspect.getmembers(xgboost.sklearn, inspect.isclass)
        if issubclass(cls, base) and cls is not base
    ]


def _dense(dmatrix: Any) -> Any:
    return dmatrix.get_data().toarray()


class XGBoostTrain(BoosterTrain):
    flavor = FLAVOR
    data_argument = "dtrain"
    unlogged = (
        "dtrain",
        "evals",
        "obj",
        "feval",
        "evals_result",
        "xgb_model",
        "callbacks",
        "learning_rates",
    )

    def datasets(self) -> list[tuple[str, str, Any]]:
        train = self.arguments["dtrain"]
        found = [("train", "train", train)]
        for data, name in self.arguments.get("evals") or ():
            if data is not train:
                found.append((f"eval-{name}", "eval", data))
        return found

    def rows(self, dataset: Any) -> Any:
        """The first rows, in float64 (XGBoost holds float32, a signature of float32
        would make MLflow refuse the float64 data a user predicts on); a DataFrame with
        the feature names when the DMatrix has some (made from a DataFrame), since the
        booster then predicts only on data with those names."""
        rows = dataset.get_data()[:EXAMPLE_ROWS].toarray().astype("float64")
        names = dataset.feature_names
        if names is None:
            return rows
        try:
            import pandas
        except ImportError:  # named columns need pandas; the model is then not logged
            return rows
        return pandas.DataFrame(rows, columns=list(names))

    def log_dataset(self, dataset: Any, name: str, context: str) -> None:
        label = dataset.get_label()
        log_dataset(
            FLAVOR, _dense(dataset), label if len(label) else None, name=name, context=context
        )

    def callback(self) -> Any:
        import xgboost

        log = self.log

        class Record(xgboost.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                try:
                    metrics = {
                        metric_key(data, metric): float(values[-1])
                        for data, per_metric in evals_log.items()
                        for metric, values in per_metric.items()
                    }
                except Exception:  # an unexpected evals_log shape: skip this iteration
                    metrics = {}
                log.record(epoch, metrics)
                return False

        return Record()

    def best_iteration(self, model: Any) -> int | None:
        if not self.arguments.get("early_stopping_rounds"):
            return None
        return int(model.best_iteration)

    def stopped_iteration(self) -> int:
        return len(self.log.results) - 1

    def best_results(self, best: int) -> dict[str, float]:
        return self.log.results[best]

    def importances(self, model: Any) -> dict[str, dict[str, float]]:
        kinds = self.opts.extra.get("importance_types", ["weight"])
        return {kind: dict(model.get_score(importance_type=kind)) for kind in kinds}

    def log_model(self, model: Any) -> None:
        import xgboost

        from gittrack.xgboost import log_model

        def predict(rows: Any) -> Any:
            return model.predict(xgboost.DMatrix(rows))

        log_model_with(
            log_model,
            model,
            self.opts,
            self.example,
            predict,
            model_format=self.opts.extra.get("model_format", "ubj"),
        )


class XGBoostWrapperFit(WrapperFit):
    flavor = FLAVOR

    def log_model(self) -> None:
        from gittrack.xgboost import log_model

        log_model_with(
            log_model,
            self.estimator,
            self.opts,
            self.example,
            self.estimator.predict,
            model_format=self.opts.extra.get("model_format", "ubj"),
        )
