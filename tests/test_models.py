"""Models: the MLmodel format, flavors, signatures, URIs and the trust rule."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import gittrack
import gittrack.pyfunc
import gittrack.sklearn
from gittrack.errors import ModelError, SignatureError, ValidationError
from gittrack.models.signature import ModelSignature, enforce, infer_signature

sklearn_linear = pytest.importorskip("sklearn.linear_model")

X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0], [4.0, 4.0]])
Y = X[:, 0] * 2 + X[:, 1]


def _fit() -> Any:
    return sklearn_linear.LinearRegression().fit(X, Y)


class AddN(gittrack.pyfunc.PythonModel):
    """A custom model: row sums plus n (and params['k'])."""

    def __init__(self, n: float) -> None:
        self.n = n

    def load_context(self, context: gittrack.pyfunc.PythonModelContext) -> None:
        path = context.artifacts.get("offset")
        self.offset = float(Path(path).read_text()) if path else 0.0

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        extra = (params or {}).get("k", 0)
        return np.asarray(model_input, dtype=float).sum(axis=1) + self.n + self.offset + extra


class PredictOnly:
    """Any object with predict (no PythonModel base)."""

    def predict(self, data: Any) -> list[float]:
        return [float(sum(row)) for row in np.asarray(data, dtype=float)]


# -- format ------------------------------------------------------------------------------
def test_sklearn_save_writes_mlflow_layout(tmp_path: Path) -> None:
    path = tmp_path / "m"
    gittrack.sklearn.save_model(_fit(), path, input_example={"a": [1.0], "b": [2.0]})
    names = {p.name for p in path.iterdir()}
    assert {"MLmodel", "model.pkl", "requirements.txt", "python_env.yaml"} <= names
    assert {"input_example.json", "serving_input_example.json"} <= names
    meta = yaml.safe_load((path / "MLmodel").read_text())
    pyfunc = meta["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"
    assert pyfunc["model_path"] == "model.pkl"
    assert pyfunc["env"] == {"virtualenv": "python_env.yaml"}
    assert pyfunc["python_version"].count(".") == 2
    sk = meta["flavors"]["sklearn"]
    assert sk["pickled_model"] == "model.pkl"
    assert sk["serialization_format"] == "pickle"
    assert len(meta["model_uuid"]) == 32 and "utc_time_created" in meta
    inputs = json.loads(meta["signature"]["inputs"])
    assert inputs == [
        {"type": "double", "name": "a", "required": True},
        {"type": "double", "name": "b", "required": True},
    ]
    assert json.loads(meta["signature"]["outputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}
    ]
    assert json.loads((path / "input_example.json").read_text()) == {
        "columns": ["a", "b"],
        "data": [[1.0, 2.0]],
    }
    assert "scikit-learn==" in (path / "requirements.txt").read_text()


def test_save_refuses_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("x")
    with pytest.raises(ModelError, match="not empty"):
        gittrack.save_model(_fit(), tmp_path / "m")


# -- round trips per flavor --------------------------------------------------------------
def test_sklearn_round_trip_local_path(tmp_path: Path) -> None:
    model = _fit()
    gittrack.save_model(model, tmp_path / "m")  # facade picks the sklearn flavor
    loaded = gittrack.load_model(str(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    raw = gittrack.sklearn.load_model(str(tmp_path / "m"))
    assert type(raw).__name__ == "LinearRegression"
    np.testing.assert_allclose(raw.predict(X), model.predict(X))


def test_sklearn_cloudpickle_format(tmp_path: Path) -> None:
    gittrack.sklearn.save_model(_fit(), tmp_path / "m", serialization_format="cloudpickle")
    assert gittrack.sklearn.load_model(str(tmp_path / "m")).predict(X[:1]).shape == (1,)
    with pytest.raises(ModelError, match="serialization_format"):
        gittrack.sklearn.save_model(_fit(), tmp_path / "n", serialization_format="skops")


def test_python_model_round_trip_with_artifacts_and_params(tmp_path: Path) -> None:
    offset = tmp_path / "offset.txt"
    offset.write_text("100")
    gittrack.pyfunc.save_model(
        tmp_path / "m", python_model=AddN(1), artifacts={"offset": str(offset)}
    )
    meta = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert meta["flavors"]["python_function"]["loader_module"] == "gittrack.pyfunc"
    assert meta["flavors"]["python_function"]["artifacts"]["offset"]["path"] == (
        "artifacts/offset.txt"
    )
    loaded = gittrack.pyfunc.load_model(str(tmp_path / "m"))
    assert loaded.predict([[1, 2]]).tolist() == [104.0]
    assert loaded.predict([[1, 2]], params={"k": 5}).tolist() == [109.0]
    assert isinstance(loaded.unwrap_python_model(), AddN)


def test_any_object_with_predict_round_trip(tmp_path: Path) -> None:
    gittrack.save_model(PredictOnly(), tmp_path / "m")
    assert gittrack.load_model(str(tmp_path / "m")).predict([[1, 2], [3, 4]]) == [3.0, 7.0]
    with pytest.raises(ModelError, match="python_model"):
        gittrack.pyfunc.save_model(tmp_path / "n", python_model=object())


# -- signatures ----------------------------------------------------------------------------
def test_infer_signature_forms() -> None:
    cols = infer_signature({"a": [1, 2], "s": ["x", "y"], "f": [True, False]})
    assert [(c["name"], c["type"]) for c in cols.inputs] == [
        ("a", "long"),
        ("s", "string"),
        ("f", "boolean"),
    ]
    recs = infer_signature([{"a": 1.5, "b": 2}, {"a": 2.5, "b": 3}])
    assert recs.column_names == ["a", "b"]
    tensor = infer_signature(np.zeros((3, 4), dtype=np.float32))
    assert tensor.inputs == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}
    ]
    assert ModelSignature.from_dict(cols.to_dict()) == cols


def test_enforce_columns_converts_and_names_missing() -> None:
    sig = infer_signature({"a": [1.0], "b": [2.0]})
    out = enforce({"b": [3, 4], "a": ["1.5", 2]}, sig)  # reordered, convertible types
    assert np.asarray(out).tolist() == [[1.5, 3.0], [2.0, 4.0]]
    assert np.asarray(enforce([[1, 2]], sig)).tolist() == [[1.0, 2.0]]  # positional
    with pytest.raises(SignatureError, match=r"missing column.*'b'"):
        enforce({"a": [1.0]}, sig)
    with pytest.raises(SignatureError, match=r"column 'a' expects double.*'abc'"):
        enforce({"a": ["abc"], "b": [1]}, sig)
    with pytest.raises(SignatureError, match="shape"):
        enforce([[1, 2, 3]], sig)
    longs = infer_signature({"n": [1]})
    with pytest.raises(SignatureError, match=r"expects long.*1.5"):
        enforce({"n": [1.5]}, longs)
    strings = infer_signature({"s": ["x"]})
    with pytest.raises(SignatureError, match="expects string"):
        enforce({"s": [3]}, strings)


def test_enforce_tensor() -> None:
    sig = infer_signature(np.zeros((1, 2)))
    assert enforce([[1, 2]], sig).dtype == np.float64
    with pytest.raises(SignatureError, match=r"expects \[-1, 2\]"):
        enforce([[1, 2, 3]], sig)
    with pytest.raises(SignatureError, match="tensor"):
        enforce([["a", "b"]], sig)
    ints = infer_signature(np.zeros((1, 2), dtype=np.int64))
    with pytest.raises(SignatureError, match="int64"):
        enforce([[1.5, 2]], ints)


def test_predict_enforces_signature_from_input_example(tmp_path: Path) -> None:
    gittrack.sklearn.save_model(_fit(), tmp_path / "m", input_example={"a": [1.0], "b": [2.0]})
    loaded = gittrack.load_model(str(tmp_path / "m"))
    assert loaded.signature is not None and loaded.signature.column_names == ["a", "b"]
    np.testing.assert_allclose(loaded.predict([{"a": 1, "b": 2}]), [4.0], atol=1e-9)
    with pytest.raises(SignatureError, match="'b'"):
        loaded.predict({"a": [1.0]})


def test_explicit_signature_is_kept(tmp_path: Path) -> None:
    sig = infer_signature({"x": [1.0], "y": [1.0]})
    gittrack.sklearn.save_model(_fit(), tmp_path / "m", signature=sig, input_example=X[:1])
    assert gittrack.load_model(str(tmp_path / "m")).signature == sig


# -- errors ----------------------------------------------------------------------------------
def test_missing_flavor_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gittrack.sklearn.save_model(_fit(), tmp_path / "m")
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    with pytest.raises(ModelError, match=r"needs scikit-learn.*pip install scikit-learn"):
        gittrack.load_model(str(tmp_path / "m"))
    with pytest.raises(ModelError, match="needs scikit-learn"):
        gittrack.sklearn.save_model(object(), tmp_path / "n")


def test_missing_module_while_unpickling(tmp_path: Path) -> None:
    gittrack.pyfunc.save_model(tmp_path / "m", python_model=PredictOnly())
    # Rewrite the pickle so it names a module that does not exist.
    (tmp_path / "m" / "python_model.pkl").write_bytes(_pickle_naming("no_such_module_xyz"))
    with pytest.raises(ModelError, match="needs the Python module 'no_such_module_xyz'"):
        gittrack.load_model(str(tmp_path / "m"))


def _pickle_naming(module: str) -> bytes:
    """A protocol-0 pickle that imports ``module.Thing`` when loaded."""
    return f"c{module}\nThing\n.".encode()


def test_not_a_model_and_bad_uris(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no MLmodel file"):
        gittrack.load_model(str(tmp_path / "empty"))
    with pytest.raises(ModelError, match="no model directory"):
        gittrack.load_model(str(tmp_path / "nope"))
    with pytest.raises(ModelError, match="unsupported model URI"):
        gittrack.load_model("s3://bucket/model")
    with pytest.raises(ModelError, match="malformed model URI"):
        gittrack.load_model("models:/onlyname")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "MLmodel").write_text("flavors:\n  other: {}\n")
    with pytest.raises(ModelError, match="no python_function flavor"):
        gittrack.load_model(str(tmp_path / "bad"))
    (tmp_path / "bad" / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.transformers\n"
    )
    with pytest.raises(ModelError, match=r"loader module 'mlflow.transformers'"):
        gittrack.load_model(str(tmp_path / "bad"))


# -- logging into runs and every URI form ------------------------------------------------
def test_log_model_and_load_every_uri_form(repo: Path) -> None:
    model = _fit()
    with gittrack.start_run() as run:
        info = gittrack.sklearn.log_model(
            model, "model", registered_model_name="churn", input_example=X[:2]
        )
    run_id = run.info.run_id
    assert info.model_uri == f"runs:/{run_id}/model"
    assert info.registered_model_version == 1
    stored = gittrack.get_run(run_id)
    assert stored.info.status == "FINISHED"
    gittrack.set_model_alias("churn", "prod", 1)
    expected = model.predict(X)
    for uri in (
        info.model_uri,
        f"runs:/{run_id[:8]}/model",
        "models:/churn/1",
        "models:/churn/latest",
        "models:/churn@prod",
    ):
        np.testing.assert_allclose(gittrack.load_model(uri).predict(X), expected)
    np.testing.assert_allclose(
        gittrack.sklearn.load_model("models:/churn@prod").predict(X), expected
    )
    meta = yaml.safe_load(
        (
            Path(gittrack.download_artifacts(run_id=run_id, artifact_path="model/MLmodel"))
        ).read_text()
    )
    assert meta["run_id"] == run_id and meta["artifact_path"] == "model"


def test_log_model_generic_and_python_model(repo: Path) -> None:
    with gittrack.start_run() as run:
        a = gittrack.log_model(PredictOnly(), "plain")
        b = gittrack.pyfunc.log_model(AddN(2), name="custom")
    assert a.model_uri.endswith("/plain") and b.run_id == run.info.run_id
    assert gittrack.load_model(a.model_uri).predict([[1, 1]]) == [2.0]
    assert gittrack.load_model(b.model_uri).predict([[1, 1]]).tolist() == [4.0]
    with pytest.raises(ModelError, match="relative artifact path"), gittrack.start_run():
        gittrack.log_model(PredictOnly(), "../up")


def test_unknown_model_version_alias_and_path(repo: Path) -> None:
    with gittrack.start_run() as run:
        gittrack.sklearn.log_model(_fit(), "model", registered_model_name="m")
    with pytest.raises(ModelError, match="no registered model named 'ghost'"):
        gittrack.load_model("models:/ghost/1")
    with pytest.raises(ModelError, match="has no version 7"):
        gittrack.load_model("models:/m/7")
    with pytest.raises(ModelError, match="no alias @staging"):
        gittrack.load_model("models:/m@staging")
    with pytest.raises(ModelError, match="no model at"):
        gittrack.load_model(f"runs:/{run.info.run_id}/elsewhere")
    with pytest.raises(ValidationError, match="invalid version"):
        gittrack.load_model("models:/m/x")


# -- trust ------------------------------------------------------------------------------------
def _foreign_run(monkeypatch: pytest.MonkeyPatch) -> str:
    """A run recorded by another user on another host (as after a pull)."""
    import gittrack.client as client_mod

    with monkeypatch.context() as m:
        m.setattr(client_mod, "current_host", lambda: "elsewhere.example")
        m.setattr(client_mod, "current_user", lambda: "mallory")
        with gittrack.start_run() as run:
            gittrack.sklearn.log_model(_fit(), "model")
    return run.info.run_id


def test_foreign_model_needs_trust(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _foreign_run(monkeypatch)
    uri = f"runs:/{run_id}/model"
    with pytest.raises(ModelError, match=r"logged by mallory@elsewhere.example.*trust=True"):
        gittrack.load_model(uri)
    with pytest.raises(ModelError, match="GITTRACK_TRUST_MODELS=1"):
        gittrack.sklearn.load_model(uri)
    assert gittrack.load_model(uri, trust=True).predict(X[:1]).shape == (1,)
    monkeypatch.setenv("GITTRACK_TRUST_MODELS", "1")
    assert gittrack.sklearn.load_model(uri) is not None
    with pytest.raises(ModelError, match="trust"):
        gittrack.load_model(uri, trust=False)  # an explicit False wins over the env


def test_enforce_without_pandas_gives_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    sig = infer_signature({"a": [1.0], "b": [2.0]})
    out = enforce([{"b": 2, "a": 1}], sig)
    assert isinstance(out, np.ndarray) and out.tolist() == [[1.0, 2.0]]
    assert enforce({"s": ["x"], "n": [1]}, None).tolist() == [["x", 1]]


def test_unreadable_serialization_format(tmp_path: Path) -> None:
    gittrack.sklearn.save_model(_fit(), tmp_path / "m")
    text = (
        (tmp_path / "m" / "MLmodel")
        .read_text()
        .replace("serialization_format: pickle", "serialization_format: skops")
    )
    (tmp_path / "m" / "MLmodel").write_text(text)
    with pytest.raises(ModelError, match="'skops', which gittrack cannot read"):
        gittrack.sklearn.load_model(str(tmp_path / "m"))
