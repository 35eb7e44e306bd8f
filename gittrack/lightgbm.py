"""The LightGBM flavor, shaped like ``mlflow.lightgbm``: save, log and load models; autolog.

A Booster is saved with its own ``save_model`` as ``model.lgb``; a scikit-learn wrapper
(``LGBMClassifier``, ...) is pickled as ``model.pkl`` (loading it runs code: see
docs/security.md). The MLmodel names the class and ``mlflow.lightgbm`` as pyfunc loader.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from gittrack.errors import ModelError

__all__ = ["autolog", "load_model", "log_model", "save_model"]

FLAVOR = "lightgbm"
BOOSTER_CLASS = "lightgbm.basic.Booster"


def save_model(
    lgb_model: Any,
    path: str | os.PathLike[str],
    *,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
) -> None:
    """Save a LightGBM Booster or scikit-learn wrapper to a new model directory."""
    from gittrack.models.boosters import class_name, library_version, save_booster_model

    version = library_version("lightgbm", "saving a LightGBM model")
    booster = class_name(lgb_model) == BOOSTER_CLASS

    def write(target: Path) -> None:
        if booster:
            lgb_model.save_model(str(target))
        else:
            with open(target, "wb") as f:
                pickle.dump(lgb_model, f)

    conf: dict[str, Any] = {"lgb_version": version, "model_class": class_name(lgb_model)}
    if not booster:
        conf["serialization_format"] = "pickle"
    save_booster_model(
        path,
        flavor=FLAVOR,
        conf=conf,
        data_file="model.lgb" if booster else "model.pkl",
        write=write,
        requirements=pip_requirements or [f"lightgbm=={version}"],
        signature=signature,
        input_example=input_example,
        predict=_Wrapper(lgb_model).predict,
    )


class _Wrapper:
    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: Any = None) -> Any:
        return self.model.predict(data)

    def unwrap(self) -> Any:
        return self.model


def _load(directory: Path, what: str) -> Any:
    from gittrack.models.boosters import library_version
    from gittrack.models.mlmodel import MLModel
    from gittrack.pyfunc import unpickle

    conf = MLModel.load(directory, what).flavors.get(FLAVOR)
    if not isinstance(conf, dict):
        raise ModelError(f"model {what} has no lightgbm flavor")
    library_version("lightgbm", f"model {what}")
    data = directory / str(conf.get("data", "model.lgb"))
    if str(conf.get("model_class", BOOSTER_CLASS)) != BOOSTER_CLASS:
        return unpickle(data, what)
    import lightgbm

    if not data.is_file():
        raise ModelError(f"model {what} is incomplete: {data.name} is missing")
    try:
        return lightgbm.Booster(model_file=str(data))
    except Exception as e:  # LightGBM raises its own LightGBMError for a bad file
        raise ModelError(f"model {what} cannot be loaded by lightgbm: {e}") from e


def _load_pyfunc(path: str) -> _Wrapper:
    """Loader named by the python_function flavor (``mlflow.lightgbm``)."""
    from gittrack.models.boosters import model_dir

    directory = model_dir(path)
    return _Wrapper(_load(directory, str(directory)))


def log_model(
    lgb_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
) -> Any:
    """Save the model as artifacts of the active run; return its ModelInfo."""
    from gittrack.models.api import log_saved_model

    return log_saved_model(
        lambda p: save_model(
            lgb_model,
            p,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
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
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Enable (or disable) autologging of ``lightgbm.train`` and the scikit-learn wrappers."""
    from gittrack.autologging import configure

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
    )
