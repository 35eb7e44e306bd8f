"""What the XGBoost and LightGBM flavors share: saving a model file, loading it back.

Both follow MLflow's layout: the model file (``model.ubj``/``model.json`` for XGBoost,
``model.lgb`` for a LightGBM Booster, ``model.pkl`` for LightGBM's scikit-learn
wrappers) beside the MLmodel, whose flavor names ``data`` and ``model_class`` (the
fully qualified class loaded back) and whose python_function flavor names MLflow's
loader module, so ``mlflow.pyfunc.load_model`` loads it too.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gittrack.errors import ModelError

__all__ = ["class_name", "import_class", "library_version", "model_dir", "save_booster_model"]


def library_version(module: str, what: str) -> str:
    """The installed version of ``module``; ModelError naming ``what`` if it is missing."""
    try:
        lib = importlib.import_module(module)
    except ImportError as e:
        raise ModelError(
            f"{what} needs {module}, which is not installed (pip install {module})"
        ) from e
    return str(lib.__version__)


def class_name(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def import_class(name: str, what: str) -> Any:
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ModelError(f"model {what} needs class {name}, which cannot be imported: {e}") from e


def model_dir(path: str) -> Path:
    """The model directory from the path a pyfunc loader is given (the data file or dir)."""
    directory = Path(path)
    return directory.parent if directory.is_file() else directory


def save_booster_model(
    path: str | os.PathLike[str],
    *,
    flavor: str,
    conf: dict[str, Any],
    data_file: str,
    write: Callable[[Path], None],
    requirements: list[str],
    signature: Any,
    input_example: Any,
    predict: Callable[[Any], Any] | None,
) -> None:
    """Write a model directory whose flavor ``flavor`` keeps its model in ``data_file``."""
    from gittrack.models.mlmodel import write_model_dir
    from gittrack.pyfunc import as_signature

    def write_files(directory: Path) -> None:
        try:
            write(directory / data_file)
        except OSError as e:
            raise ModelError(f"cannot write {directory / data_file}: {e.strerror or e}") from e

    write_model_dir(
        path,
        flavors={
            "python_function": {"loader_module": f"mlflow.{flavor}", "data": data_file},
            flavor: {"data": data_file, "code": None, **conf},
        },
        write_files=write_files,
        requirements=requirements,
        signature=as_signature(signature),
        input_example=input_example,
        predict=predict,
    )
