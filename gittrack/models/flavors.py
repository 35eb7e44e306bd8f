"""Saving and logging a model with the flavor its type calls for (scikit-learn, else the
python-function flavor): the ``gittrack.save_model`` and ``gittrack.log_model`` of the
facade, above the flavor modules they choose from."""

from __future__ import annotations

import os
from typing import Any

from gittrack.models.api import ModelInfo, log_saved_model

__all__ = ["log_model", "save_model"]


def _is_sklearn(model: Any) -> bool:
    return type(model).__module__.split(".")[0] == "sklearn"


def save_model(model: Any, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """Save a model to a new directory, picking the flavor (sklearn, else pyfunc)."""
    if _is_sklearn(model):
        from gittrack.sklearn import save_model as save_sklearn

        save_sklearn(model, path, **kwargs)
    else:
        from gittrack.pyfunc import save_model as save_pyfunc

        save_pyfunc(path, model, **kwargs)


def log_model(
    model: Any,
    name: str = "model",
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
) -> ModelInfo:
    """Save a model as artifacts of the active run (flavor picked from its type)."""
    kwargs: dict[str, Any] = {
        "signature": signature,
        "input_example": input_example,
        "pip_requirements": pip_requirements,
    }
    return log_saved_model(
        lambda p: save_model(model, p, **kwargs),
        name=artifact_path or name,
        registered_model_name=registered_model_name,
    )
