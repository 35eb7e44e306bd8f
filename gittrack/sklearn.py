"""The scikit-learn flavor, shaped like ``mlflow.sklearn``.

The estimator is pickled (plain pickle by default, cloudpickle on request) as
``model.pkl``; the MLmodel's python_function flavor names ``mlflow.sklearn`` as loader
module, so MLflow's own ``mlflow.pyfunc.load_model`` loads it unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gittrack.errors import ModelError

__all__ = ["autolog", "load_model", "log_model", "save_model"]

MODEL_FILE = "model.pkl"
SERIALIZATION_FORMATS = ("pickle", "cloudpickle")


def _sklearn_version(what: str) -> str:
    try:
        import sklearn
    except ImportError as e:
        raise ModelError(
            f"{what} needs scikit-learn, which is not installed (pip install scikit-learn)"
        ) from e
    return str(sklearn.__version__)


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    *,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    serialization_format: str = "pickle",
) -> None:
    """Save a scikit-learn estimator to a new model directory at ``path``."""
    from gittrack.models.mlmodel import write_model_dir
    from gittrack.pyfunc import as_signature

    version = _sklearn_version("saving a scikit-learn model")
    if serialization_format not in SERIALIZATION_FORMATS:
        raise ModelError(
            f"unknown serialization_format {serialization_format!r} (use pickle or cloudpickle)"
        )
    if serialization_format == "cloudpickle":
        try:
            import cloudpickle as pickler
        except ImportError as e:
            raise ModelError("cloudpickle is not installed (pip install cloudpickle)") from e
    else:
        import pickle as pickler

    def write_files(directory: Path) -> None:
        try:
            with open(directory / MODEL_FILE, "wb") as f:
                pickler.dump(sk_model, f)
        except OSError as e:
            raise ModelError(f"cannot write {directory / MODEL_FILE}: {e.strerror}") from e
        except Exception as e:
            raise ModelError(f"the model cannot be pickled: {e}") from e

    flavors: dict[str, dict[str, Any]] = {}
    predict = getattr(sk_model, "predict", None)
    if callable(predict):
        flavors["python_function"] = {
            "loader_module": "mlflow.sklearn",
            "model_path": MODEL_FILE,
            "predict_fn": "predict",
        }
    flavors["sklearn"] = {
        "pickled_model": MODEL_FILE,
        "sklearn_version": version,
        "serialization_format": serialization_format,
        "code": None,
    }
    requirements = pip_requirements or [f"scikit-learn=={version}"]
    if pip_requirements is None and serialization_format == "cloudpickle":
        requirements.append(f"cloudpickle=={pickler.__version__}")
    write_model_dir(
        path,
        flavors=flavors,
        write_files=write_files,
        requirements=requirements,
        signature=as_signature(signature),
        input_example=input_example,
        predict=_SklearnWrapper(sk_model).predict if callable(predict) else None,
    )


class _SklearnWrapper:
    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: Any = None) -> Any:
        # An estimator fitted on an array warns on named columns: give it the values.
        if hasattr(data, "columns") and not hasattr(self.model, "feature_names_in_"):
            data = data.to_numpy()
        return self.model.predict(data)

    def unwrap(self) -> Any:
        return self.model


def _load_estimator(directory: Path, what: str) -> Any:
    from gittrack.models.mlmodel import MLModel
    from gittrack.pyfunc import unpickle

    conf = MLModel.load(directory, what).flavors.get("sklearn")
    if not isinstance(conf, dict):
        raise ModelError(f"model {what} has no sklearn flavor")
    _sklearn_version(f"model {what}")
    fmt = str(conf.get("serialization_format", "pickle"))
    if fmt not in SERIALIZATION_FORMATS:
        raise ModelError(
            f"model {what} uses serialization format {fmt!r}, which gittrack cannot read; "
            "save it with serialization_format='pickle' or 'cloudpickle'"
        )
    return unpickle(directory / str(conf.get("pickled_model", MODEL_FILE)), what)


def _load_pyfunc(path: str) -> _SklearnWrapper:
    """Loader named by the python_function flavor (``mlflow.sklearn``)."""
    directory = Path(path)
    if directory.is_file():
        directory = directory.parent
    return _SklearnWrapper(_load_estimator(directory, str(directory)))


def log_model(
    sk_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    serialization_format: str = "pickle",
) -> Any:
    """Save the estimator as artifacts of the active run; return its ModelInfo."""
    from gittrack.models.api import log_saved_model

    return log_saved_model(
        lambda p: save_model(
            sk_model,
            p,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            serialization_format=serialization_format,
        ),
        name=name or artifact_path or "model",
        registered_model_name=registered_model_name,
    )


def load_model(model_uri: str, *, trust: bool | None = None) -> Any:
    """Load the scikit-learn estimator behind a model URI (runs:/, models:/, path)."""
    from gittrack.models.uri import resolve_trusted

    resolved = resolve_trusted(model_uri, trust=trust)
    return _load_estimator(resolved.path, model_uri)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = "pickle",
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Enable (or disable) autologging of scikit-learn fits (see docs/autolog.md)."""
    from gittrack.autologging import configure

    if max_tuning_runs is not None and max_tuning_runs < 0:
        raise ModelError(f"max_tuning_runs must be 0 or more, not {max_tuning_runs}")
    if serialization_format not in SERIALIZATION_FORMATS:
        raise ModelError(
            f"unknown serialization_format {serialization_format!r} (use pickle or cloudpickle)"
        )
    configure(
        "sklearn",
        disable=disable,
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        log_models=log_models,
        log_datasets=log_datasets,
        exclusive=exclusive,
        silent=silent,
        extra_tags=extra_tags,
        registered_model_name=registered_model_name,
        max_tuning_runs=max_tuning_runs,
        log_post_training_metrics=log_post_training_metrics,
        serialization_format=serialization_format,
        pos_label=pos_label,
    )
