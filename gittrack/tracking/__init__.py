"""MLflow's ``mlflow.tracking`` names: ``from gittrack.tracking import MlflowClient``."""

from __future__ import annotations

from gittrack.tracking.client import MlflowClient, ModelVersion, PagedList, RegisteredModel

__all__ = ["MlflowClient", "ModelVersion", "PagedList", "RegisteredModel"]
