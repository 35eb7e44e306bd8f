"""The generic python-function flavor, shaped like ``mlflow.pyfunc``.

Any object with ``predict`` or a :class:`PythonModel` subclass is saved with
cloudpickle when it is installed (plain pickle otherwise) as ``python_model.pkl``; the
MLmodel names ``gittrack.pyfunc`` as loader module, so MLflow loads it too when gittrack
is importable there. Loading a pickle runs code: see docs/security.md.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.errors import ModelError

__all__ = [
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
]

PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


@dataclass(frozen=True)
class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: artifact paths and model config."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Base class of custom models: override ``predict`` (and ``load_context`` if needed)."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after loading, with the paths of the model's artifacts."""

    def predict(self, context: PythonModelContext, model_input: Any, params: Any = None) -> Any:
        """Return predictions for ``model_input``."""
        raise NotImplementedError


class _PredictWrapper(PythonModel):
    """Wraps any object with ``predict`` as a PythonModel."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: PythonModelContext, model_input: Any, params: Any = None) -> Any:
        return self.model.predict(model_input)


def _pickler() -> tuple[Any, str | None]:
    try:
        import cloudpickle
    except ImportError:
        import pickle

        return pickle, None
    return cloudpickle, str(cloudpickle.__version__)


def save_model(
    path: str | os.PathLike[str],
    python_model: Any = None,
    *,
    artifacts: Mapping[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
) -> None:
    """Save ``python_model`` (a PythonModel, or any object with ``predict``) to ``path``."""
    from gittrack._version import __version__
    from gittrack.models.mlmodel import write_model_dir

    if python_model is None or not callable(getattr(python_model, "predict", None)):
        raise ModelError("save_model needs python_model: a PythonModel or an object with predict")
    model = python_model if isinstance(python_model, PythonModel) else _PredictWrapper(python_model)
    pickler, cp_version = _pickler()
    saved_artifacts: dict[str, dict[str, str]] = {}

    def write_files(directory: Path) -> None:
        try:
            with open(directory / PYTHON_MODEL_FILE, "wb") as f:
                pickler.dump(model, f)
        except OSError as e:
            raise ModelError(f"cannot write {directory / PYTHON_MODEL_FILE}: {e.strerror}") from e
        except Exception as e:  # pickling errors name the unpicklable object
            raise ModelError(f"the model cannot be pickled: {e}") from e
        for name, src in (artifacts or {}).items():
            source = Path(src)
            rel = f"{ARTIFACTS_DIR}/{source.name}"
            dst = directory / rel
            dst.parent.mkdir(exist_ok=True)
            try:
                if source.is_dir():
                    shutil.copytree(source, dst)
                else:
                    shutil.copy2(source, dst)
            except OSError as e:
                raise ModelError(f"cannot copy model artifact {name!r} from {src}: {e}") from e
            saved_artifacts[name] = {"path": rel, "uri": str(src)}

    conf: dict[str, Any] = {
        "loader_module": "gittrack.pyfunc",
        "python_model": PYTHON_MODEL_FILE,
    }
    if cp_version:
        conf["cloudpickle_version"] = cp_version
    requirements = list(pip_requirements or [f"gittrack=={__version__}"])
    if pip_requirements is None and cp_version:
        requirements.append(f"cloudpickle=={cp_version}")
    write_model_dir(
        path,
        flavors={"python_function": conf},
        write_files=write_files,
        requirements=requirements,
        signature=as_signature(signature),
        input_example=input_example,
        predict=lambda x: _Loaded(model, PythonModelContext()).predict(x),
    )
    if saved_artifacts:
        _add_artifacts_conf(Path(path), saved_artifacts)


def _add_artifacts_conf(directory: Path, saved: dict[str, dict[str, str]]) -> None:
    from gittrack.models.mlmodel import MLModel

    meta = MLModel.load(directory)
    meta.flavors["python_function"]["artifacts"] = saved
    meta.save(directory)


def as_signature(signature: Any) -> Any:
    """A ModelSignature from one, an MLflow signature or its dict form (None stays None)."""
    from gittrack.models.signature import ModelSignature

    if signature is None or isinstance(signature, ModelSignature):
        return signature
    if hasattr(signature, "to_dict"):  # an MLflow ModelSignature
        return ModelSignature.from_dict(signature.to_dict())
    if isinstance(signature, Mapping):
        return ModelSignature.from_dict(signature)
    raise ModelError(f"signature must be a ModelSignature, not {type(signature).__name__}")


class _Loaded:
    """A PythonModel with its context: ``predict(data, params=None)``."""

    def __init__(self, model: PythonModel, context: PythonModelContext) -> None:
        self.model = model
        self.context = context
        params = list(inspect.signature(model.predict).parameters)
        self._with_context = bool(params) and params[0] == "context"
        self._with_params = "params" in params

    def predict(self, model_input: Any, params: Any = None) -> Any:
        args: list[Any] = [self.context] if self._with_context else []
        args.append(model_input)
        predict: Any = self.model.predict
        if self._with_params:
            return predict(*args, params=params)
        return predict(*args)

    def unwrap(self) -> Any:
        return self.model.model if isinstance(self.model, _PredictWrapper) else self.model


def unpickle(path: Path, what: str) -> Any:
    """Load a pickle (cloudpickle-compatible), translating failures to ModelError."""
    import pickle

    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except FileNotFoundError as e:
        raise ModelError(f"model {what} is incomplete: {path.name} is missing") from e
    except ModuleNotFoundError as e:
        raise ModelError(
            f"model {what} needs the Python module {e.name!r}, which is not installed "
            f"(pip install it, see {what}/requirements.txt)"
        ) from e
    except Exception as e:
        raise ModelError(f"model {what} cannot be unpickled: {type(e).__name__}: {e}") from e


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _Loaded:
    """Loader called by ``load_pyfunc`` (and by MLflow's ``mlflow.pyfunc.load_model``)."""
    from gittrack.models.mlmodel import MLModel

    directory = Path(path)
    if directory.is_file():
        directory = directory.parent
    conf = MLModel.load(directory).flavors.get("python_function") or {}
    model = unpickle(directory / str(conf.get("python_model", PYTHON_MODEL_FILE)), str(directory))
    if not callable(getattr(model, "predict", None)):
        raise ModelError(f"model {directory} holds a {type(model).__name__} without predict")
    artifacts = {
        name: str(directory / str(info.get("path", "")))
        for name, info in (conf.get("artifacts") or {}).items()
        if isinstance(info, dict)
    }
    context = PythonModelContext(artifacts=artifacts, model_config=dict(model_config or {}))
    if hasattr(model, "load_context"):
        model.load_context(context)
    return _Loaded(model, context)


def log_model(
    python_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    artifacts: Mapping[str, str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
) -> Any:
    """Save ``python_model`` as artifacts of the active run; return its ModelInfo."""
    from gittrack.models.api import log_saved_model

    return log_saved_model(
        lambda p: save_model(
            p,
            python_model,
            artifacts=artifacts,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
        ),
        name=name or artifact_path or "model",
        registered_model_name=registered_model_name,
    )


def load_model(model_uri: str, *, trust: bool | None = None) -> Any:
    """Load any model URI (runs:/, models:/, local path) as a PyFuncModel."""
    from gittrack.models.api import load_model as _load

    return _load(model_uri, trust=trust)
