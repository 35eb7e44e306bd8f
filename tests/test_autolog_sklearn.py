"""scikit-learn autologging: real small fits, checked against scikit-learn's own numbers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import gittrack
from gittrack.autologging import safety
from gittrack.autologging.data import as_table
from gittrack.lineage import get_inputs
from gittrack.lineage.hashing import hash_table


@pytest.fixture(autouse=True)
def autolog_off() -> Iterator[None]:
    yield
    gittrack.autolog(disable=True)


def data(n: int = 200, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.randn(n, 4)
    y = (X[:, 0] + 0.5 * rng.randn(n) > 0).astype(int)
    if classes == 3:
        y = np.digitize(X[:, 0], [-0.5, 0.5])
    return X, y


def runs(repo: Path) -> list[gittrack.Run]:
    rows = gittrack.search_runs(output_format="rows", repo=repo)
    return [gittrack.get_run(row["run_id"], repo=repo) for row in rows]


def test_classifier_fit_records_params_metrics_tags_model_and_input(repo: Path) -> None:
    gittrack.sklearn.autolog(log_input_examples=True)
    X, y = data()
    model = LogisticRegression(C=0.5).fit(X, y)

    run = gittrack.last_active_run()
    assert run is not None and run.info.status == "FINISHED"
    assert run.data.typed_params["C"] == 0.5
    assert run.data.params["solver"] == model.get_params()["solver"]
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    pred, proba = model.predict(X), model.predict_proba(X)
    expected = {
        "training_precision_score": metrics.precision_score(y, pred, average="weighted"),
        "training_recall_score": metrics.recall_score(y, pred, average="weighted"),
        "training_f1_score": metrics.f1_score(y, pred, average="weighted"),
        "training_accuracy_score": metrics.accuracy_score(y, pred),
        "training_log_loss": metrics.log_loss(y, proba),
        "training_roc_auc": metrics.roc_auc_score(y, proba[:, 1]),
        "training_score": model.score(X, y),
    }
    assert run.data.metrics == pytest.approx(expected)

    loaded = gittrack.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(loaded.predict(X), pred)
    pyfunc = gittrack.load_model(f"runs:/{run.info.run_id}/model")
    assert pyfunc.signature is not None
    assert (repo / ".git").exists()

    [entry] = get_inputs(run.info.run_id)
    assert entry["name"] == "train" and entry["context"] == "train"
    assert entry["digest"] == hash_table(as_table(X, y))[0]
    assert entry["rows"] == 200


def test_array_and_numpy_params_are_logged_as_mlflow_logs_them(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """KMeans(init=<array>) logged no params at all (a warning: 'can only convert an
    array of size 1'); MLflow logs str() of every param."""
    from sklearn.cluster import KMeans

    gittrack.sklearn.autolog()
    X, _ = data(30)
    centers = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    model = KMeans(n_clusters=2, init=centers, n_init=1, tol=np.float32(0.001))
    with caplog.at_level(logging.WARNING, logger="gittrack.autolog"):
        model.fit(X)
    assert not [r for r in caplog.records if "failed" in r.getMessage()]
    params = gittrack.last_active_run().data.params
    assert params == {k: str(v) for k, v in model.get_params(deep=True).items()}


def test_multiclass_and_regressor_metrics_match_sklearn(repo: Path) -> None:
    gittrack.sklearn.autolog(log_models=False)
    X, y = data(classes=3)
    clf = LogisticRegression().fit(X, y)
    got = gittrack.last_active_run().data.metrics
    assert got["training_roc_auc"] == pytest.approx(
        metrics.roc_auc_score(y, clf.predict_proba(X), average="weighted", multi_class="ovo")
    )
    target = X @ np.array([1.0, 2.0, 0.0, -1.0]) + 0.1
    reg = LinearRegression().fit(X, target)
    got = gittrack.last_active_run().data.metrics
    mse = metrics.mean_squared_error(target, reg.predict(X))
    assert got["training_mean_squared_error"] == pytest.approx(mse)
    assert got["training_root_mean_squared_error"] == pytest.approx(mse**0.5)
    assert got["training_r2_score"] == pytest.approx(reg.score(X, target))
    assert set(got) == {
        "training_mean_squared_error",
        "training_mean_absolute_error",
        "training_r2_score",
        "training_root_mean_squared_error",
        "training_score",
    }


def test_inside_an_active_run_autolog_logs_into_it(repo: Path) -> None:
    gittrack.sklearn.autolog(log_models=False, log_datasets=False)
    X, y = data()
    with gittrack.start_run() as active:
        gittrack.log_param("note", "mine")
        LogisticRegression().fit(X, y)
        assert gittrack.active_run() is active
    [run] = runs(repo)
    assert run.info.run_id == active.info.run_id
    assert run.data.params["note"] == "mine" and "C" in run.data.params
    assert "mlflow.autologging" not in run.data.tags


def test_exclusive_leaves_user_runs_alone_and_extra_tags_mark_managed_runs(repo: Path) -> None:
    gittrack.sklearn.autolog(log_models=False, exclusive=True, extra_tags={"team": "é"})
    X, y = data()
    with gittrack.start_run() as active:
        LogisticRegression().fit(X, y)
    LogisticRegression().fit(X, y)
    by_id = {r.info.run_id: r for r in runs(repo)}
    assert by_id.pop(active.info.run_id).data.params == {}
    [managed] = by_id.values()
    assert managed.data.tags["team"] == "é" and "C" in managed.data.params


def test_pipeline_is_one_run_and_its_steps_are_not_separate_runs(repo: Path) -> None:
    gittrack.sklearn.autolog(log_models=False)
    X, y = data()
    Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y)
    [run] = runs(repo)
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.typed_params["lr__C"] == 1.0  # deep params of the steps


def test_cross_val_score_fits_are_not_logged(repo: Path) -> None:
    gittrack.sklearn.autolog(log_models=False)
    X, y = data()
    cross_val_score(LogisticRegression(), X, y, cv=3)
    assert runs(repo) == []


def test_grid_search_parent_and_best_children(repo: Path) -> None:
    gittrack.sklearn.autolog(max_tuning_runs=2)
    X, y = data()
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0]}, cv=3).fit(X, y)
    all_runs = runs(repo)
    [parent] = [r for r in all_runs if r.data.tags["estimator_name"] == "GridSearchCV"]
    children = [r for r in all_runs if r is not parent]
    assert len(children) == 2
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert parent.data.typed_params["best_C"] == search.best_params_["C"]
    assert "estimator__C" not in parent.data.params  # a search logs its params shallowly
    for child in children:
        assert child.info.parent_run_id == parent.info.run_id
        assert child.data.tags["estimator_name"] == "LogisticRegression"
        i = list(search.cv_results_["param_C"]).index(child.data.typed_params["C"])
        assert child.data.metrics["mean_test_score"] == pytest.approx(
            search.cv_results_["mean_test_score"][i]
        )
        assert search.cv_results_["rank_test_score"][i] <= 2
    client = gittrack.Client(repo)
    names = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"model", "best_estimator", "cv_results.csv"} <= names
    best = gittrack.sklearn.load_model(f"runs:/{parent.info.run_id}/best_estimator")
    assert np.array_equal(best.predict(X), search.predict(X))


def test_post_training_metrics_and_score_on_other_data(repo: Path) -> None:
    gittrack.sklearn.autolog(log_models=False)
    X, y = data()
    X_test, y_test = X[:50] + 0.1, y[:50]
    model = LogisticRegression().fit(X[50:], y[50:])
    run_id = gittrack.last_active_run().info.run_id
    predictions = model.predict(X_test)
    acc = metrics.accuracy_score(y_test, predictions)
    acc2 = metrics.accuracy_score(y_test, predictions, normalize=False)
    score = model.score(X_test, y_test)
    got = gittrack.get_run(run_id).data.metrics
    assert got["accuracy_score_X_test"] == acc
    assert got["accuracy_score-2_X_test"] == acc2
    assert got["LogisticRegression_score_X_test"] == score
    info = gittrack.Client(repo).download_artifacts(run_id, "metric_info.json", str(repo.parent))
    text = Path(info).read_text()
    assert "accuracy_score(y_true=y_test, y_pred=predictions)" in text


def test_patched_methods_keep_signature_and_docstring_and_disable_restores() -> None:
    original_fit = LogisticRegression.fit
    original_accuracy = metrics.accuracy_score
    gittrack.sklearn.autolog()
    patched = LogisticRegression.fit
    assert safety.is_patched(patched)
    assert inspect.signature(patched) == inspect.signature(original_fit)
    assert patched.__doc__ == original_fit.__doc__ and patched.__name__ == "fit"
    assert inspect.signature(metrics.accuracy_score) == inspect.signature(original_accuracy)
    gittrack.sklearn.autolog(disable=True)
    assert LogisticRegression.fit is original_fit
    assert metrics.accuracy_score is original_accuracy
    assert not safety.is_patched(Pipeline.fit)


def test_disabled_autolog_records_nothing(repo: Path) -> None:
    gittrack.sklearn.autolog()
    gittrack.sklearn.autolog(disable=True)
    LogisticRegression().fit(*data())
    assert runs(repo) == []


def test_failures_inside_autologging_never_break_training(
    repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gittrack.autologging import sklearn as sk

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(sk, "log_dataset", boom)
    monkeypatch.setattr(sk, "classifier_metrics", boom)
    monkeypatch.setattr(sk.SklearnFit, "log_model", boom)
    gittrack.sklearn.autolog()
    X, y = data()
    with caplog.at_level(logging.WARNING, logger="gittrack.autolog"):
        model = LogisticRegression().fit(X, y)
    assert model.score(X, y) > 0.8
    assert caplog.text.count("injected") == 3
    run = gittrack.last_active_run()
    assert run.info.status == "FINISHED" and "C" in run.data.params
    assert "training_score" not in run.data.metrics  # computed with the failing metrics


def test_a_run_that_cannot_start_means_a_warning_and_an_unlogged_fit(
    repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gittrack import fluent

    def refuse(*args: object, **kwargs: object) -> None:
        raise gittrack.GittrackError("injected: repository locked")

    monkeypatch.setattr(fluent, "start_run", refuse)
    gittrack.sklearn.autolog()
    X, y = data()
    with caplog.at_level(logging.WARNING, logger="gittrack.autolog"):
        model = LogisticRegression().fit(X, y)
    assert hasattr(model, "coef_")
    assert "no run could be started" in caplog.text and "injected" in caplog.text


def test_silent_suppresses_warnings(
    repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gittrack.autologging import sklearn as sk

    monkeypatch.setattr(sk, "log_dataset", lambda *a, **k: 1 / 0)
    gittrack.sklearn.autolog(silent=True, log_models=False)
    with caplog.at_level(logging.WARNING, logger="gittrack.autolog"):
        LogisticRegression().fit(*data())
    assert caplog.text == ""


def test_training_errors_propagate_and_the_run_fails(repo: Path) -> None:
    gittrack.sklearn.autolog(log_models=False)
    X, y = data()
    with pytest.raises(ValueError):
        LogisticRegression().fit(X, np.zeros(len(y)))  # one class: scikit-learn refuses
    [run] = runs(repo)
    assert run.info.status == "FAILED"


def test_bad_max_tuning_runs_is_a_clear_error() -> None:
    with pytest.raises(gittrack.GittrackError, match="max_tuning_runs"):
        gittrack.sklearn.autolog(max_tuning_runs=-1)


@pytest.mark.parametrize("seed", range(6))
def test_numpy_metrics_equal_sklearn_metrics(seed: int) -> None:
    from gittrack.autologging import fast_metrics

    rng = np.random.RandomState(seed)
    n, k = 60, 2 + seed % 3
    labels = np.array(["a", "b", "c", "d"][:k]) if seed % 2 else np.arange(k) * 10
    y = labels[rng.randint(0, k, n)]
    pred = np.where(rng.rand(n) < 0.7, y, labels[rng.randint(0, k, n)])
    proba = rng.dirichlet(np.ones(k), n).round(2)  # rounding makes ties
    proba /= proba.sum(axis=1, keepdims=True)
    weight = rng.rand(n) if seed >= 3 else None
    got = fast_metrics.classifier(y, pred, proba, np.unique(y), weight, None)
    assert got is not None
    for name, func in (
        ("precision_score", metrics.precision_score),
        ("recall_score", metrics.recall_score),
        ("f1_score", metrics.f1_score),
    ):
        assert got[name] == pytest.approx(
            func(y, pred, average="weighted", sample_weight=weight, zero_division=0)
        )
    assert got["accuracy_score"] == pytest.approx(
        metrics.accuracy_score(y, pred, sample_weight=weight)
    )
    assert got["log_loss"] == pytest.approx(metrics.log_loss(y, proba, sample_weight=weight))
    if weight is None:
        score = proba[:, 1] if k == 2 else proba
        expected = metrics.roc_auc_score(y, score, average="weighted", multi_class="ovo")
        assert got["roc_auc"] == pytest.approx(expected)
    target = rng.randn(n)
    estimate = target + rng.randn(n) * 0.3
    reg = fast_metrics.regressor(target, estimate, weight)
    assert reg == pytest.approx(
        {
            "mean_squared_error": metrics.mean_squared_error(
                target, estimate, sample_weight=weight
            ),
            "mean_absolute_error": metrics.mean_absolute_error(
                target, estimate, sample_weight=weight
            ),
            "r2_score": metrics.r2_score(target, estimate, sample_weight=weight),
        }
    )


def test_binary_pos_label_metrics_equal_sklearn(repo: Path) -> None:
    gittrack.sklearn.autolog(log_models=False, log_datasets=False, pos_label=1)
    X, y = data()
    model = LogisticRegression().fit(X, y)
    got = gittrack.last_active_run().data.metrics
    pred = model.predict(X)
    assert got["training_f1_score"] == pytest.approx(metrics.f1_score(y, pred, pos_label=1))
    assert got["training_precision_score"] == pytest.approx(metrics.precision_score(y, pred))


def test_second_fit_with_other_params_in_one_run_warns_and_keeps_the_rest(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gittrack.sklearn.autolog(log_models=False)
    X, y = data()
    with caplog.at_level(logging.WARNING, logger="gittrack.autolog"), gittrack.start_run() as run:
        LogisticRegression(C=1.0).fit(X, y)
        LogisticRegression(C=2.0).fit(X[:100], y[:100])
    assert "logging params failed" in caplog.text
    got = gittrack.get_run(run.info.run_id).data
    assert got.typed_params["C"] == 1.0  # params are immutable: the first value stays
    assert [e["rows"] for e in get_inputs(run.info.run_id)] == [100]  # the latest data


def test_registered_model_name_and_input_example(repo: Path) -> None:
    from gittrack.models import registry
    from gittrack.session import open_repository

    gittrack.sklearn.autolog(registered_model_name="churn", log_input_examples=True)
    X, y = data()
    LogisticRegression().fit(X, y)
    run_id = gittrack.last_active_run().info.run_id
    [version] = registry.list_versions(open_repository(repo, create=False), "churn")
    assert version.version == 1
    files = {f.path for f in gittrack.Client(repo).list_artifacts(run_id, "model")}
    assert "model/input_example.json" in files
    loaded = gittrack.load_model("models:/churn/1")
    assert np.array_equal(loaded.predict(X[:5]), LogisticRegression().fit(X, y).predict(X[:5]))
