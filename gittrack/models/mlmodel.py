"""The MLmodel directory: MLflow's layout, written and read by gittrack.

A model directory holds an ``MLmodel`` YAML file naming its flavors (how to load it),
its signature and origin, plus ``requirements.txt``, ``python_env.yaml``, an optional
``input_example.json`` and the flavor's own files (``model.pkl``, ``python_model.pkl``).
The ``python_function`` flavor's ``loader_module`` is a module MLflow also has where
possible (``mlflow.sklearn``), so ``mlflow.pyfunc.load_model`` loads the directory.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.errors import ModelError
from gittrack.models.signature import ModelSignature, enforce, infer_signature, to_columns

__all__ = [
    "LOADERS",
    "MLMODEL_FILE",
    "MLModel",
    "PyFuncModel",
    "load_pyfunc",
    "write_model_dir",
]

MLMODEL_FILE = "MLmodel"
PYFUNC = "python_function"
EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"

# loader_module named in MLmodel -> "module:function" of gittrack that loads it.
LOADERS: dict[str, str] = {
    "mlflow.sklearn": "gittrack.sklearn:_load_pyfunc",
    "gittrack.sklearn": "gittrack.sklearn:_load_pyfunc",
    "gittrack.pyfunc": "gittrack.pyfunc:_load_pyfunc",
    "mlflow.pyfunc.model": "gittrack.pyfunc:_load_pyfunc",
    "mlflow.xgboost": "gittrack.xgboost:_load_pyfunc",
    "gittrack.xgboost": "gittrack.xgboost:_load_pyfunc",
    "mlflow.lightgbm": "gittrack.lightgbm:_load_pyfunc",
    "gittrack.lightgbm": "gittrack.lightgbm:_load_pyfunc",
}


@dataclass
class MLModel:
    """The contents of an ``MLmodel`` file."""

    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifact_path: str | None = None
    run_id: str | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(
        default_factory=lambda: (
            _dt.datetime.now(_dt.timezone.utc)
            .replace(tzinfo=None)
            .isoformat(sep=" ", timespec="microseconds")
        )
    )
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.artifact_path is not None:
            data["artifact_path"] = self.artifact_path
        data["flavors"] = self.flavors
        data["model_uuid"] = self.model_uuid
        if self.run_id is not None:
            data["run_id"] = self.run_id
        if self.saved_input_example_info:
            data["saved_input_example_info"] = self.saved_input_example_info
        if self.signature is not None:
            data["signature"] = self.signature.to_dict()
        data["utc_time_created"] = self.utc_time_created
        data.update(self.extra)
        return data

    def save(self, directory: Path) -> None:
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)
        _write(directory / MLMODEL_FILE, text.encode("utf-8"))

    @classmethod
    def load(cls, directory: str | os.PathLike[str], what: str | None = None) -> MLModel:
        """Read ``<directory>/MLmodel``; ModelError when it is missing or malformed."""
        from gittrack.format import load_yaml

        path = Path(directory) / MLMODEL_FILE
        what = what or str(directory)
        try:
            raw = path.read_bytes()
        except FileNotFoundError as e:
            raise ModelError(f"{what} is not a model: it has no {MLMODEL_FILE} file") from e
        except OSError as e:
            raise ModelError(f"cannot read {path}: {e.strerror}") from e
        try:
            data = load_yaml(raw, f"{what}/{MLMODEL_FILE}")
        except Exception as e:  # CorruptRunError or yaml errors: one message
            raise ModelError(f"{what}/{MLMODEL_FILE} is malformed: {e}") from e
        if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
            raise ModelError(f"{what}/{MLMODEL_FILE} is malformed: it lists no flavors")
        known = {
            "artifact_path",
            "flavors",
            "run_id",
            "model_uuid",
            "utc_time_created",
            "signature",
            "saved_input_example_info",
        }
        sig = data.get("signature")
        return cls(
            flavors=dict(data["flavors"]),
            artifact_path=data.get("artifact_path"),
            run_id=data.get("run_id"),
            model_uuid=str(data.get("model_uuid") or ""),
            utc_time_created=str(data.get("utc_time_created") or ""),
            signature=ModelSignature.from_dict(sig, what) if isinstance(sig, dict) else None,
            saved_input_example_info=data.get("saved_input_example_info"),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as e:
        raise ModelError(f"cannot write {path}: {e.strerror}") from e


def _prepare_dir(path: str | os.PathLike[str]) -> Path:
    directory = Path(path)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ModelError(f"{directory} already exists and is not empty; choose a new path")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create model directory {directory}: {e.strerror}") from e
    return directory


def _python_env_yaml(python_version: str) -> bytes:
    return (
        f"python: {python_version}\n"
        "build_dependencies:\n- pip\n- setuptools\n- wheel\n"
        "dependencies:\n- -r requirements.txt\n"
    ).encode()


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _save_example(directory: Path, example: Any) -> dict[str, Any]:
    cols = to_columns(example)
    if cols is not None:
        names = list(cols)
        rows = [list(r) for r in zip(*cols.values(), strict=True)]
        body: dict[str, Any] = {"columns": names, "data": rows}
        serving: dict[str, Any] = {"dataframe_split": body}
        info: dict[str, Any] = {"type": "dataframe", "pandas_orient": "split"}
    else:
        body = {"inputs": example}
        serving = body
        info = {"type": "ndarray", "format": "tf-serving"}
    try:
        _write(directory / EXAMPLE_FILE, json.dumps(body, default=_json_default).encode())
        _write(
            directory / SERVING_EXAMPLE_FILE, json.dumps(serving, default=_json_default).encode()
        )
    except TypeError as e:
        raise ModelError(f"input_example cannot be saved as JSON: {e}") from e
    return {"artifact_path": EXAMPLE_FILE, "serving_input_path": SERVING_EXAMPLE_FILE, **info}


def write_model_dir(
    path: str | os.PathLike[str],
    *,
    flavors: dict[str, dict[str, Any]],
    write_files: Callable[[Path], None],
    requirements: Iterable[str],
    signature: ModelSignature | None = None,
    input_example: Any = None,
    predict: Callable[[Any], Any] | None = None,
) -> MLModel:
    """Create a model directory: flavor files, MLmodel, requirements and environment."""
    directory = _prepare_dir(path)
    write_files(directory)
    python_version = platform.python_version()
    flavors = {name: dict(conf) for name, conf in flavors.items()}
    if PYFUNC in flavors:
        flavors[PYFUNC].setdefault("python_version", python_version)
        flavors[PYFUNC].setdefault("env", {"virtualenv": "python_env.yaml"})
    model = MLModel(flavors=flavors, signature=signature)
    if input_example is not None:
        model.saved_input_example_info = _save_example(directory, input_example)
        if signature is None:
            inferred = infer_signature(input_example)
            outputs = None
            if predict is not None:
                try:
                    outputs = infer_signature(predict(enforce(input_example, inferred))).inputs
                except Exception:  # an output signature is a nicety, never a save failure
                    outputs = None
            model.signature = ModelSignature(inputs=inferred.inputs, outputs=outputs)
    _write(directory / "requirements.txt", ("\n".join(requirements) + "\n").encode())
    _write(directory / "python_env.yaml", _python_env_yaml(python_version))
    model.save(directory)
    return model


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` enforces the signature first."""

    def __init__(self, impl: Any, metadata: MLModel, path: Path) -> None:
        self._impl = impl
        self.metadata = metadata
        self.path = path

    @property
    def signature(self) -> ModelSignature | None:
        return self.metadata.signature

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Check ``data`` against the signature, then run the model."""
        model_input = enforce(data, self.metadata.signature)
        if params:
            return self._impl.predict(model_input, params=params)
        return self._impl.predict(model_input)

    def unwrap_python_model(self) -> Any:
        """The object the flavor loaded (e.g. the scikit-learn estimator)."""
        return getattr(self._impl, "unwrap", lambda: self._impl)()

    def __repr__(self) -> str:
        flavors = ", ".join(self.metadata.flavors)
        return f"<PyFuncModel {self.path} flavors: {flavors}>"


def load_pyfunc(path: str | os.PathLike[str], *, what: str | None = None) -> PyFuncModel:
    """Load a local model directory through its python_function flavor."""
    import importlib

    directory = Path(path)
    what = what or str(directory)
    meta = MLModel.load(directory, what)
    conf = meta.flavors.get(PYFUNC)
    if not isinstance(conf, dict):
        raise ModelError(
            f"model {what} has no python_function flavor (flavors: {', '.join(meta.flavors)})"
        )
    loader = str(conf.get("loader_module", ""))
    target = LOADERS.get(loader)
    if target is None:
        raise ModelError(
            f"model {what} needs loader module {loader!r}, which gittrack cannot load; "
            "load it with MLflow"
        )
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    data = conf.get("data")
    data_path = directory / str(data) if data else directory
    impl = func(str(data_path))
    return PyFuncModel(impl, meta, directory)
