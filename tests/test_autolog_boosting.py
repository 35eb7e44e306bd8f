"""XGBoost and LightGBM autologging: real small trainings checked against the libraries."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb

import gittrack
from gittrack.autologging import safety
from gittrack.autologging.data import as_table
from gittrack.lineage import get_inputs
from gittrack.lineage.hashing import hash_table


@pytest.fixture(autouse=True)
def autolog_off() -> Iterator[None]:
    yield
    gittrack.autolog(disable=True)


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(1)
    X = rng.randn(300, 4)
    y = (X[:, 0] + X[:, 1] + 0.8 * rng.randn(300) > 0).astype(int)
    return X, y


def history(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in gittrack.get_metric_history(run_id, key)]


def artifact_json(repo: Path, run_id: str, path: str) -> dict[str, float]:
    local = gittrack.Client(repo).download_artifacts(run_id, path, str(repo.parent))
    loaded: dict[str, float] = json.loads(Path(local).read_text())
    return loaded


def test_xgboost_train_records_iterations_early_stopping_importance_and_model(
    repo: Path,
) -> None:
    gittrack.xgboost.autolog()
    X, y = data()
    dtrain = xgb.DMatrix(X[:200], label=y[:200])
    dval = xgb.DMatrix(X[200:], label=y[200:])
    evals_result: dict[str, dict[str, list[float]]] = {}
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 2, "eta": 0.3}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=60,
        evals=[(dtrain, "train"), (dval, "val")],
        early_stopping_rounds=3,
        evals_result=evals_result,
        verbose_eval=False,
    )
    run = gittrack.last_active_run()
    assert run is not None and run.info.status == "FINISHED"
    rid = run.info.run_id
    assert run.data.typed_params["max_depth"] == 2 and run.data.typed_params["eta"] == 0.3
    assert run.data.typed_params["num_boost_round"] == 60
    assert run.data.typed_params["early_stopping_rounds"] == 3
    val = evals_result["val"]["logloss"]
    iterations = len(val)
    assert iterations < 60  # it did stop early
    got = history(rid, "val-logloss")
    assert got[:iterations] == [(i, pytest.approx(v)) for i, v in enumerate(val)]
    # the best iteration's metrics again, one step past the last iteration
    assert got[iterations] == (iterations, pytest.approx(val[booster.best_iteration]))
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == iterations - 1
    importance = artifact_json(repo, rid, "feature_importance_weight.json")
    assert importance == pytest.approx(booster.get_score(importance_type="weight"))
    loaded = gittrack.xgboost.load_model(f"runs:/{rid}/model")
    assert np.allclose(loaded.predict(dval), booster.predict(dval))
    pyfunc = gittrack.load_model(f"runs:/{rid}/model")
    assert np.allclose(pyfunc.predict(X[200:]), booster.predict(dval))
    inputs = {e["name"]: e for e in get_inputs(rid)}
    assert set(inputs) == {"train", "eval-val"}
    # a DMatrix holds float32: the input is the data as XGBoost trained on it
    as_trained = as_table(X[:200].astype(np.float32), y[:200].astype(np.float32))
    assert inputs["train"]["digest"] == hash_table(as_trained)[0]


def test_xgboost_train_on_a_dataframe_logs_a_model_that_predicts_on_named_columns(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A DMatrix made from a DataFrame has feature names: the model is logged (it was
    not: predicting on the unnamed example rows failed) and serves the named columns,
    float64 data included."""
    import pandas as pd

    gittrack.xgboost.autolog()
    X, y = data()
    frame = pd.DataFrame(X, columns=["age", "income", "score", "tenure"])
    params = {"objective": "binary:logistic", "max_depth": 2}
    with caplog.at_level(logging.WARNING, logger="gittrack.autolog"):
        booster = xgb.train(params, xgb.DMatrix(frame, label=y), num_boost_round=4)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    rid = gittrack.last_active_run().info.run_id
    pyfunc = gittrack.load_model(f"runs:/{rid}/model")
    inputs = json.loads(pyfunc.metadata.signature.to_dict()["inputs"])
    # the names, and float64 (XGBoost's float32 made MLflow refuse float64 data)
    assert [(c["name"], c["type"]) for c in inputs] == [(c, "double") for c in frame.columns]
    assert np.allclose(pyfunc.predict(frame[:7]), booster.predict(xgb.DMatrix(frame[:7])))


def test_xgboost_sklearn_wrapper_fit(repo: Path) -> None:
    gittrack.xgboost.autolog(importance_types=["weight", "gain"])
    X, y = data()
    model = xgb.XGBClassifier(n_estimators=8, max_depth=2)
    model.fit(X, y, eval_set=[(X[200:], y[200:])], verbose=False)
    run = gittrack.last_active_run()
    rid = run.info.run_id
    assert run.data.typed_params["max_depth"] == 2 and run.data.typed_params["num_boost_round"] == 8
    expected = model.evals_result()["validation_0"]["logloss"]
    assert [v for _, v in history(rid, "validation_0-logloss")] == pytest.approx(expected)
    names = {f.path for f in gittrack.Client(repo).list_artifacts(rid)}
    assert {"feature_importance_weight.json", "feature_importance_gain.json", "model"} <= names
    loaded = gittrack.xgboost.load_model(f"runs:/{rid}/model")
    assert type(loaded) is xgb.XGBClassifier
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_lightgbm_train_records_iterations_early_stopping_importance_and_model(
    repo: Path,
) -> None:
    gittrack.lightgbm.autolog()
    X, y = data()
    train = lgb.Dataset(X[:200], label=y[:200])
    valid = lgb.Dataset(X[200:], label=y[200:], reference=train)
    record: dict[str, dict[str, list[float]]] = {}
    booster = lgb.train(
        {"objective": "binary", "metric": "binary_logloss", "num_leaves": 4, "verbose": -1},
        train,
        num_boost_round=80,
        valid_sets=[valid],
        valid_names=["val"],
        callbacks=[lgb.early_stopping(3, verbose=False), lgb.record_evaluation(record)],
    )
    run = gittrack.last_active_run()
    rid = run.info.run_id
    assert (
        run.data.typed_params["num_leaves"] == 4 and run.data.typed_params["num_boost_round"] == 80
    )
    val = record["val"]["binary_logloss"]
    got = history(rid, "val-binary_logloss")
    assert got[: len(val)] == [(i, pytest.approx(v)) for i, v in enumerate(val)]
    assert got[len(val)] == (len(val), pytest.approx(val[booster.best_iteration - 1]))
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == len(val)
    for kind in ("split", "gain"):
        expected = booster.feature_importance(importance_type=kind).tolist()
        got_imp = artifact_json(repo, rid, f"feature_importance_{kind}.json")
        assert list(got_imp.values()) == pytest.approx(expected)
    loaded = gittrack.lightgbm.load_model(f"runs:/{rid}/model")
    assert np.allclose(loaded.predict(X), booster.predict(X))
    [entry] = [e for e in get_inputs(rid) if e["name"] == "train"]
    assert entry["digest"] == hash_table(as_table(X[:200], y[:200]))[0]


def test_lightgbm_sklearn_wrapper_fit_and_pyfunc(repo: Path) -> None:
    gittrack.lightgbm.autolog(log_input_examples=True)
    X, y = data()
    model = lgb.LGBMClassifier(n_estimators=6, num_leaves=4, verbose=-1).fit(X, y)
    run = gittrack.last_active_run()
    rid = run.info.run_id
    assert (
        run.data.typed_params["num_boost_round"] == 6 and run.data.typed_params["num_leaves"] == 4
    )
    assert run.data.tags["mlflow.autologging"] == "lightgbm"
    pyfunc = gittrack.load_model(f"runs:/{rid}/model")
    assert np.array_equal(pyfunc.predict(X), model.predict(X))
    assert type(gittrack.lightgbm.load_model(f"runs:/{rid}/model")) is lgb.LGBMClassifier


def test_a_failing_iteration_logger_never_stops_training(
    repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gittrack import fluent
    from gittrack.autologging import boosting

    real = fluent.log_metrics

    def flaky(metrics: dict[str, float], step: int | None = None, **kw: object) -> None:
        if step is not None and step >= 2:
            raise OSError("injected: disk full")
        real(metrics, step=step)

    monkeypatch.setattr(fluent, "log_metrics", flaky)
    monkeypatch.setattr(boosting.BoosterTrain, "after", lambda self, model: 1 / 0)
    gittrack.xgboost.autolog(log_models=False)
    X, y = data()
    dtrain = xgb.DMatrix(X, label=y)
    with caplog.at_level(logging.WARNING, logger="gittrack.autolog"):
        booster = xgb.train(
            {"max_depth": 2}, dtrain, 10, evals=[(dtrain, "train")], verbose_eval=False
        )
    assert booster.num_boosted_rounds() == 10
    assert "injected: disk full" in caplog.text and "ZeroDivisionError" in caplog.text
    rid = gittrack.last_active_run().info.run_id
    assert [s for s, _ in history(rid, "train-rmse")] == [0, 1]


def test_disable_restores_train_and_fit_with_their_signatures() -> None:
    original_train, original_fit = xgb.train, lgb.LGBMClassifier.fit
    gittrack.autolog()
    assert safety.is_patched(xgb.train) and safety.is_patched(lgb.LGBMClassifier.fit)
    assert inspect.signature(xgb.train) == inspect.signature(original_train)
    assert xgb.train.__doc__ == original_train.__doc__
    assert inspect.signature(lgb.LGBMClassifier.fit) == inspect.signature(original_fit)
    gittrack.autolog(disable=True)
    assert xgb.train is original_train and lgb.LGBMClassifier.fit is original_fit
    assert not safety.is_patched(xgb.XGBClassifier.fit)
