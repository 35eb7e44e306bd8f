"""``import gittrack as mlflow``: the autolog functions take MLflow's arguments, in
MLflow's order, with MLflow's defaults (read from the real ``mlflow`` package)."""

from __future__ import annotations

import inspect

import pytest
from mlflow_peer import MLFLOW, run_mlflow

import gittrack

pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)

SIGNATURES = r"""
import inspect, json
import mlflow, mlflow.lightgbm, mlflow.sklearn, mlflow.xgboost
functions = {
    "autolog": mlflow.autolog, "sklearn": mlflow.sklearn.autolog,
    "xgboost": mlflow.xgboost.autolog, "lightgbm": mlflow.lightgbm.autolog,
}
print(json.dumps({
    name: [[p.name, repr(p.default)] for p in inspect.signature(f).parameters.values()]
    for name, f in functions.items()
}))
"""

# Documented in docs/autolog.md: gittrack pickles with the standard library (cloudpickle
# is no dependency); MLflow loads either.
DIFFERENT_DEFAULTS = {("sklearn", "serialization_format"): ("'pickle'", "'cloudpickle'")}


def test_autolog_functions_take_mlflows_arguments() -> None:
    """mlflow.autolog(log_traces=False) or disable_for_unsupported_versions=True raised
    TypeError with gittrack.autolog."""
    theirs = run_mlflow(SIGNATURES)
    ours = {
        "autolog": gittrack.autolog,
        "sklearn": gittrack.sklearn.autolog,
        "xgboost": gittrack.xgboost.autolog,
        "lightgbm": gittrack.lightgbm.autolog,
    }
    for name, function in ours.items():
        mine = [[p.name, repr(p.default)] for p in inspect.signature(function).parameters.values()]
        expected = []
        for arg, default in theirs[name]:
            ours_theirs = DIFFERENT_DEFAULTS.get((name, arg))
            if ours_theirs is not None:
                assert default == ours_theirs[1]
                default = ours_theirs[0]
            expected.append([arg, default])
        assert mine == expected, name
    gittrack.autolog(log_traces=False, disable_for_unsupported_versions=True, disable=True)
