"""The XGBoost flavor, shaped like ``mlflow.xgboost``: save, log and load models; autolog.

A Booster or a scikit-learn wrapper (``XGBClassifier``, ...) is saved with its own
``save_model`` as ``model.ubj`` (or ``.json``); the MLmodel names its class, so it loads
back as the same class, and ``mlflow.xgboost`` as pyfunc loader (MLflow loads it too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gittrack.errors import ModelError

__all__ = ["autolog", "load_model", "log_model", "save_model"]

FLAVOR = "xgboost"
MODEL_FORMATS = ("ubj", "json")


def save_model(
    xgb_model: Any,
    path: str | os.PathLike[str],
    *,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    model_format: str = "ubj",
) -> None:
    """Save an XGBoost Booster or scikit-learn wrapper to a new model directory."""
    from gittrack.models.boosters import class_name, library_version, save_booster_model

    version = library_version("xgboost", "saving an XGBoost model")
    if model_format not in MODEL_FORMATS:
        raise ModelError(f"unknown model_format {model_format!r} (use ubj or json)")
    data_file = f"model.{model_format}"
    save_booster_model(
        path,
        flavor=FLAVOR,
        conf={
            "xgb_version": version,
            "model_class": class_name(xgb_model),
            "model_format": model_format,
        },
        data_file=data_file,
        write=lambda target: xgb_model.save_model(str(target)),
        requirements=pip_requirements or [f"xgboost=={version}"],
        signature=signature,
        input_example=input_example,
        predict=_Wrapper(xgb_model).predict,
    )


class _Wrapper:
    """pyfunc view: a Booster predicts on a DMatrix, a wrapper on the data itself."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: Any = None) -> Any:
        import xgboost

        if isinstance(self.model, xgboost.Booster):
            return self.model.predict(xgboost.DMatrix(data))
        return self.model.predict(data)

    def unwrap(self) -> Any:
        return self.model


def _load(directory: Path, what: str) -> Any:
    from gittrack.models.boosters import import_class, library_version
    from gittrack.models.mlmodel import MLModel

    conf = MLModel.load(directory, what).flavors.get(FLAVOR)
    if not isinstance(conf, dict):
        raise ModelError(f"model {what} has no xgboost flavor")
    library_version("xgboost", f"model {what}")
    model = import_class(str(conf.get("model_class", "xgboost.core.Booster")), what)()
    try:
        model.load_model(str(directory / str(conf.get("data", "model.ubj"))))
    except Exception as e:  # xgboost raises its own XGBoostError for a bad or missing file
        raise ModelError(f"model {what} cannot be loaded by xgboost: {e}") from e
    return model


def _load_pyfunc(path: str) -> _Wrapper:
    """Loader named by the python_function flavor (``mlflow.xgboost``)."""
    from gittrack.models.boosters import model_dir

    directory = model_dir(path)
    return _Wrapper(_load(directory, str(directory)))


def log_model(
    xgb_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    model_format: str = "ubj",
) -> Any:
    """Save the model as artifacts of the active run; return its ModelInfo."""
    from gittrack.models.api import log_saved_model

    return log_saved_model(
        lambda p: save_model(
            xgb_model,
            p,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            model_format=model_format,
        ),
        name=name or artifact_path or "model",
        registered_model_name=registered_model_name,
    )


def load_model(model_uri: str, *, trust: bool | None = None) -> Any:
    """Load the Booster or scikit-learn wrapper behind a model URI (runs:/, models:/, path)."""
    from gittrack.models.uri import resolve_trusted

    resolved = resolve_trusted(model_uri, trust=trust)
    return _load(resolved.path, model_uri)


def autolog(
    importance_types: list[str] | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    model_format: str = "ubj",
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Enable (or disable) autologging of ``xgboost.train`` and the scikit-learn wrappers."""
    from gittrack.autologging import configure

    if model_format not in MODEL_FORMATS:
        raise ModelError(f"unknown model_format {model_format!r} (use ubj or json)")
    configure(
        FLAVOR,
        disable=disable,
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        log_models=log_models,
        log_datasets=log_datasets,
        exclusive=exclusive,
        silent=silent,
        extra_tags=extra_tags,
        registered_model_name=registered_model_name,
        importance_types=list(importance_types or ["weight"]),
        model_format=model_format,
    )
