"""LightGBM autologging: ``lightgbm.train`` and the scikit-learn wrappers (``LGBMClassifier``, ...).

See :mod:`gittrack.autologging.boosting` for what a native ``train`` records; feature
importance is logged for both ``split`` and ``gain``. Early stopping (a callback in
LightGBM) is recognised by the booster's ``best_iteration`` being set.
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
from gittrack.autologging.data import log_dataset, log_model_with
from gittrack.autologging.safety import Options

FLAVOR = "lightgbm"


def install(opts: Options) -> None:
    import lightgbm
    import lightgbm.sklearn

    install_train(FLAVOR, lightgbm, LightGBMTrain, log_models=True)
    install_train(FLAVOR, lightgbm.sklearn, LightGBMTrain, log_models=False)
    install_wrappers(FLAVOR, wrapper_classes(), LightGBMWrapperFit)


def wrapper_classes() -> list[type]:
    import lightgbm.sklearn

    base = lightgbm.sklearn.LGBMModel
    return [
        cls
        for _, cls in inspect.getmembers(lightgbm.sklearn, inspect.isclass)
        if issubclass(cls, base) and cls is not base and cls.__module__.startswith("lightgbm")
    ]


class LightGBMTrain(BoosterTrain):
    flavor = FLAVOR
    data_argument = "train_set"
    unlogged = (
        "train_set",
        "valid_sets",
        "valid_names",
        "fobj",
        "feval",
        "init_model",
        "learning_rates",
        "callbacks",
    )

    def datasets(self) -> list[tuple[str, str, Any]]:
        train = self.arguments["train_set"]
        found = [("train", "train", train)]
        valid = list(self.arguments.get("valid_sets") or ())
        names = list(self.arguments.get("valid_names") or [])
        for i, data in enumerate(valid):
            if data is not train:
                name = names[i] if i < len(names) else f"valid_{i}"
                found.append((f"eval-{name}", "eval", data))
        return found

    def rows(self, dataset: Any) -> Any:
        from gittrack.autologging.data import first_rows

        return first_rows(dataset.data) if dataset.data is not None else None

    def log_dataset(self, dataset: Any, name: str, context: str) -> None:
        if dataset.data is None or isinstance(dataset.data, str):
            return
        log_dataset(FLAVOR, dataset.data, dataset.label, name=name, context=context)

    def callback(self) -> Any:
        log = self.log

        def record(env: Any) -> None:
            try:
                metrics = {
                    metric_key(entry[0], entry[1]): float(entry[2])
                    for entry in env.evaluation_result_list
                }
            except Exception:  # an unexpected result shape: skip this iteration
                metrics = {}
            log.record(env.iteration, metrics)

        return record

    def best_iteration(self, model: Any) -> int | None:
        best = int(getattr(model, "best_iteration", 0) or 0)
        return best if best > 0 else None

    def stopped_iteration(self) -> int:
        return len(self.log.results)

    def best_results(self, best: int) -> dict[str, float]:
        return self.log.results[best - 1]

    def importances(self, model: Any) -> dict[str, dict[str, float]]:
        names = model.feature_name()
        return {
            kind: dict(
                zip(names, model.feature_importance(importance_type=kind).tolist(), strict=True)
            )
            for kind in ("split", "gain")
        }

    def log_model(self, model: Any) -> None:
        from gittrack.lightgbm import log_model

        log_model_with(log_model, model, self.opts, self.example, model.predict)


class LightGBMWrapperFit(WrapperFit):
    flavor = FLAVOR

    def log_model(self) -> None:
        from gittrack.lightgbm import log_model

        log_model_with(log_model, self.estimator, self.opts, self.example, self.estimator.predict)
