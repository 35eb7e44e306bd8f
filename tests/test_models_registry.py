"""The model registry in git refs: versions, aliases with history, push/pull."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import fsck, git

import gittrack
from gittrack.errors import ModelError, RunNotFoundError, ValidationError
from gittrack.models import registry
from gittrack.session import open_repository

sklearn_linear = pytest.importorskip("sklearn.linear_model")
X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])


def _log(coef: float = 1.0, name: str = "model") -> str:
    model = sklearn_linear.LinearRegression().fit(X, X[:, 0] * coef)
    with gittrack.start_run() as run:
        gittrack.sklearn.log_model(model, name)
    return run.info.run_id


def test_register_versions_point_at_run_commits(repo: Path) -> None:
    r1, r2 = _log(1.0), _log(2.0)
    runs = open_repository(create=False)
    v1 = gittrack.register_model(f"runs:/{r1}/model", "churn")
    v2 = registry.register(runs, r2[:10], "churn", "model", description="second")
    assert (v1.version, v2.version) == (1, 2)
    assert v2.description == "second" and v2.source == f"runs:/{r2}/model"
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/models/").split()
    assert refs == [
        "refs/gittrack/models/churn/versions/1",
        "refs/gittrack/models/churn/versions/2",
    ]
    # The version commit's parent is the run commit: pushing the ref carries the run.
    parent = git(repo, "rev-parse", "refs/gittrack/models/churn/versions/1^").strip()
    assert parent == git(repo, "rev-parse", f"refs/gittrack/runs/{r1}").strip()
    shown = git(repo, "show", "refs/gittrack/models/churn/versions/2:version.yaml")
    assert "version: 2" in shown and r2 in shown
    got = registry.get_version(runs, "churn", "latest")
    assert got == v2
    fsck(repo)


def test_register_errors(repo: Path) -> None:
    run_id = _log()
    runs = open_repository(create=False)
    with pytest.raises(ModelError, match="has no model at 'other'"):
        registry.register(runs, run_id, "m", "other")
    with pytest.raises(RunNotFoundError):
        registry.register(runs, "f" * 32, "m")
    for bad in ("", " x", "a/b", "a..b", "-x", "x.lock", "a b", "é"):
        with pytest.raises(ValidationError, match="invalid model name"):
            registry.register(runs, run_id, bad)


def test_concurrent_registrations_get_distinct_numbers(repo: Path) -> None:
    run_id = _log()
    runs = open_repository(create=False)
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        try:
            barrier.wait()
            results.append(registry.register(runs, run_id, "race").version)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [1, 2, 3, 4, 5, 6]


def test_alias_moves_keep_history(repo: Path) -> None:
    run_id = _log()
    runs = open_repository(create=False)
    for _ in range(3):
        registry.register(runs, run_id, "churn")
    registry.set_alias(runs, "churn", "prod", 1, now_ms=1_000)
    registry.set_alias(runs, "churn", "prod", 2, now_ms=2_000)
    gittrack.set_model_alias("churn", "staging", "3")
    registry.set_alias(runs, "churn", "prod", "latest", now_ms=3_000)
    assert registry.get_alias(runs, "churn", "prod").version == 3
    history = registry.alias_history(runs, "churn", "prod")
    assert [(e.version, e.set_at) for e in history] == [(3, 3_000), (2, 2_000), (1, 1_000)]
    assert registry.alias_at(runs, "churn", "prod", 500) is None
    assert registry.alias_at(runs, "churn", "prod", 1_500) == 1
    assert registry.alias_at(runs, "churn", "prod", 2_999) == 2
    assert registry.alias_at(runs, "churn", "prod", 10**13) == 3
    [model] = registry.list_models(runs)
    assert model.aliases == {"prod": 3, "staging": 3} and model.latest == 3
    # Removing keeps the history (a move to nothing).
    registry.delete_alias(runs, "churn", "staging", now_ms=4_000)
    assert registry.list_models(runs)[0].aliases == {"prod": 3}
    with pytest.raises(ModelError, match="was removed"):
        registry.get_alias(runs, "churn", "staging")
    fsck(repo)


def test_alias_errors_and_removal_rules(repo: Path) -> None:
    run_id = _log()
    runs = open_repository(create=False)
    registry.register(runs, run_id, "m")
    registry.register(runs, run_id, "m")
    with pytest.raises(ModelError, match="has no version 9"):
        registry.set_alias(runs, "m", "prod", 9)
    with pytest.raises(ValidationError, match="invalid alias"):
        registry.set_alias(runs, "m", "latest", 1)
    with pytest.raises(ModelError, match="no registered model named 'ghost'"):
        registry.set_alias(runs, "ghost", "prod", 1)
    with pytest.raises(ModelError, match="no alias @prod"):
        registry.delete_alias(runs, "m", "prod")
    registry.set_alias(runs, "m", "prod", 2)
    with pytest.raises(ModelError, match="is @prod; move or remove the alias first"):
        registry.delete_version(runs, "m", 2)
    registry.delete_version(runs, "m", 1)
    assert [v.version for v in registry.list_versions(runs, "m")] == [2]
    assert registry.register(runs, run_id, "m").version == 3  # numbers are never reused
    assert registry.delete_model(runs, "m") >= 3
    assert registry.list_models(runs) == []


def test_registry_travels_with_push_and_pull(repo: Path, tmp_path: Path, bare_remote: Path) -> None:
    run_id = _log(3.0)
    runs = open_repository(create=False)
    registry.register(runs, run_id, "churn")
    registry.set_alias(runs, "churn", "prod", 1, now_ms=1_000)
    git(repo, "push", "-q", str(bare_remote), "main", "refs/gittrack/*:refs/gittrack/*")

    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare_remote), str(other))
    git(other, "fetch", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")
    runs_b = open_repository(other, create=False)
    [model] = registry.list_models(runs_b)
    assert (model.name, model.versions, model.aliases) == ("churn", [1], {"prod": 1})
    expected = X[:, 0] * 3.0
    loaded = gittrack.load_model("models:/churn@prod", repo=other)
    np.testing.assert_allclose(loaded.predict(X), expected, atol=1e-9)

    # The other clone registers v2, moves @prod, pushes; the first clone pulls the move.
    registry.register(runs_b, run_id, "churn")
    registry.set_alias(runs_b, "churn", "prod", 2, now_ms=2_000)
    git(other, "push", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")
    git(repo, "fetch", "-q", str(bare_remote), "+refs/gittrack/*:refs/gittrack/*")
    assert registry.get_alias(runs, "churn", "prod").version == 2
    history = registry.alias_history(runs, "churn", "prod")
    assert [(e.version, e.set_at) for e in history] == [(2, 2_000), (1, 1_000)]
    fsck(repo)
    fsck(other)
