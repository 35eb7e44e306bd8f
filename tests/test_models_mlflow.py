"""Interop: MLflow's own ``mlflow.pyfunc.load_model`` loads models gittrack saved, and back.

MLflow runs in its own virtual environment (``benchmarks/.venvs/mlflow``, created by the
benchmark suite's setup: ``python -m benchmarks``), never in gittrack's. The test is
skipped only when that interpreter is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gittrack

sklearn_linear = pytest.importorskip("sklearn.linear_model")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.envs import peer_env  # noqa: E402

MLFLOW = peer_env("mlflow", install=False)
pytestmark = pytest.mark.skipif(
    not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}"
)

X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0], [4.0, 4.0]])

SCRIPT = r"""
import json, sys
import numpy as np, pandas as pd
import mlflow.pyfunc, mlflow.sklearn
from sklearn.linear_model import LinearRegression

sk_dir, py_dir, out_dir = sys.argv[1:4]
sk = mlflow.pyfunc.load_model(sk_dir)
frame = pd.DataFrame({"a": [1.0, 2.0], "b": [2.0, 3.0]})
custom = mlflow.pyfunc.load_model(py_dir)
X = np.array([[1.0, 2.0], [2.0, 3.0]])
model = LinearRegression().fit(X, X[:, 0] * 10)
mlflow.sklearn.save_model(
    model,
    out_dir,
    serialization_format="cloudpickle",
    input_example=pd.DataFrame({"a": [1.0], "b": [2.0]}),
)
print(json.dumps({
    "sklearn": np.asarray(sk.predict(frame)).tolist(),
    "sklearn_inputs": sk.metadata.get_input_schema().input_names(),
    "custom": np.asarray(custom.predict(np.array([[1.0, 2.0]]))).tolist(),
}))
"""


class Doubler(gittrack.pyfunc.PythonModel):
    def predict(self, context: object, model_input: object, params: object = None) -> object:
        return np.asarray(model_input, dtype=float).sum(axis=1) * 2


def test_mlflow_loads_gittrack_models_and_gittrack_loads_mlflows(tmp_path: Path) -> None:
    model = sklearn_linear.LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
    gittrack.sklearn.save_model(model, tmp_path / "sk", input_example={"a": [1.0], "b": [2.0]})
    import cloudpickle

    # Pickle Doubler by value: MLflow's venv cannot import this test module (no pytest).
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        gittrack.pyfunc.save_model(tmp_path / "py", python_model=Doubler())
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    env = dict(os.environ)
    env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # MLflow 3.x refuses pickles otherwise
    # The custom model's loader module is gittrack.pyfunc: gittrack must be importable there.
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [
            str(MLFLOW.python),
            "-c",
            SCRIPT,
            str(tmp_path / "sk"),
            str(tmp_path / "py"),
            str(tmp_path / "from-mlflow"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(answer["sklearn"], [4.0, 7.0], atol=1e-9)
    assert answer["sklearn_inputs"] == ["a", "b"]
    assert answer["custom"] == [6.0]
    # And the other way: a model MLflow saved loads in gittrack.
    loaded = gittrack.load_model(str(tmp_path / "from-mlflow"))
    np.testing.assert_allclose(loaded.predict({"a": [2.0], "b": [3.0]}), [20.0], atol=1e-6)
