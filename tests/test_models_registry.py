"""The model registry in git refs: versions, aliases with history, push/pull."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import fsck, git

import gittrack
from gittrack.errors import ModelError, ModelNotFoundError, RunNotFoundError, ValidationError
from gittrack.models import logged, registry
from gittrack.models.uri import version_source
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
    for bad in ("", " ", "a/b", "a:b", ".", "..x"):  # what MLflow refuses too
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


def test_model_descriptions_and_tags_before_and_after_versions(repo: Path) -> None:
    runs = open_repository(create=False)
    created = registry.create_model(runs, "empty", description="later", tags={"team": "a"})
    assert (created.versions, created.description, created.tags) == ([], "later", {"team": "a"})
    with pytest.raises(ModelError, match="already exists"):
        registry.create_model(runs, "empty")
    registry.update_model(runs, "empty", tags={"x": "1"}, description="now")
    registry.update_model(runs, "empty", delete_tag="team")
    got = registry.get_model(runs, "empty")
    assert (got.description, got.tags) == ("now", {"x": "1"})
    assert [m.name for m in registry.list_models(runs)] == ["empty"]
    rid = _log()
    mv = registry.register(
        runs, rid, "empty", tags={"k": "v"}, model_id="m-" + "a" * 32, source_uri="models:/m-x"
    )
    assert (mv.version, mv.tags, mv.model_id, mv.source_uri) == (
        1,
        {"k": "v"},
        "m-" + "a" * 32,
        "models:/m-x",
    )
    mv = registry.update_version(runs, "empty", 1, description="d", tags={"k2": "v2"})
    mv = registry.update_version(runs, "empty", "1", delete_tag="k")
    assert (mv.description, mv.tags) == ("d", {"k2": "v2"})
    assert registry.get_version(runs, "empty", 1).tags == {"k2": "v2"}
    with pytest.raises(ModelNotFoundError):
        registry.update_version(runs, "empty", 1, delete_tag="absent")
    assert registry.delete_model(runs, "empty") == 2
    with pytest.raises(ModelNotFoundError):
        registry.get_model(runs, "empty")
    fsck(repo)


def test_logged_models_live_in_their_run(repo: Path) -> None:
    runs = open_repository(create=False)
    with gittrack.start_run() as run:
        gittrack.log_text("x", "model/notes.txt")
    rid = run.info.run_id
    first = logged.create(runs, rid, "model", tags={"a": "1"}, params={"p": "2"})
    second = logged.create(runs, rid, "clf", model_type="sklearn")
    assert first.artifact_path == f"models/{first.model_id}"  # "model/" holds artifacts already
    assert second.artifact_path == "clf" and second.uri == f"runs:/{rid}/clf"
    assert (first.status, first.tags, first.params) == ("PENDING", {"a": "1"}, {"p": "2"})
    ready = logged.update(runs, first.model_id, status="READY", tags={"b": "2"}, link_run="f" * 32)
    assert (ready.status, ready.tags, ready.linked_runs) == (
        "READY",
        {"a": "1", "b": "2"},
        ("f" * 32,),
    )
    assert logged.get(runs, first.model_id) == ready
    assert {m.model_id for m in logged.list_logged_models(runs)} == {
        first.model_id,
        second.model_id,
    }
    with pytest.raises(ValidationError):
        logged.update(runs, first.model_id, status="DONE")
    logged.delete(runs, second.model_id)
    for missing in (second.model_id, "m-nothex", "../x"):
        with pytest.raises(ModelNotFoundError):
            logged.get(runs, missing)
    with pytest.raises(RunNotFoundError):
        logged.create(runs, "0" * 32, "model")
    fsck(repo)


def test_a_logged_model_outside_any_run_keeps_small_files_and_metrics(repo: Path) -> None:
    runs = open_repository(create=False)
    with pytest.raises(ValidationError, match="needs its experiment"):
        logged.create(runs, None, "agent")
    model = logged.create(runs, None, "agent", experiment="Default")
    assert (model.run_id, model.uri) == (None, f"models:/{model.model_id}")
    logged.add_file(runs, model.model_id, "MLmodel", "ü: ☃\n".encode())
    point = logged.ModelMetric("acc", float("nan"), 3, 1_700_000_000_000, run_id="f" * 32)
    kept = logged.update(runs, model.model_id, metrics=[point], tags={"t": "v"})
    assert logged.model_files(runs, model.model_id) == {"MLmodel": len("ü: ☃\n".encode())}
    assert logged.read_file(runs, model.model_id, "MLmodel") == "ü: ☃\n".encode()
    got = logged.get(runs, model.model_id)
    assert (got.tags, got.metrics[0].step, got.metrics[0].run_id) == (kept.tags, 3, "f" * 32)
    assert str(got.metrics[0].value) == "nan"  # (NaN equals nothing: compared as text)
    with pytest.raises(ModelError, match="at most"):
        logged.add_file(runs, model.model_id, "big.bin", b"x" * (logged.FILE_MAX + 1))
    with pytest.raises(ModelNotFoundError):
        logged.read_file(runs, model.model_id, "absent")
    with pytest.raises(ModelError, match="outside a run"):  # no model files to register
        version_source(runs, f"models:/{model.model_id}")
    with gittrack.start_run() as run:
        pass
    in_run = logged.create(runs, run.info.run_id, "clf")
    with pytest.raises(ModelError, match="artifacts"):
        logged.add_file(runs, in_run.model_id, "MLmodel", b"x")
    fsck(repo)


def test_version_numbers_are_never_reused_after_rm(repo: Path) -> None:
    """As in MLflow (docs/models.md): removing the highest version does not free its number,
    and what the removed version said stays readable."""
    run_id = _log()
    runs = open_repository(create=False)
    for _ in range(2):
        registry.register(runs, run_id, "churn")
    registry.delete_version(runs, "churn", 2)
    assert registry.register(runs, run_id, "churn").version == 3
    assert [v.version for v in registry.list_versions(runs, "churn")] == [1, 3]
    removed = git(repo, "show", "refs/gittrack/models/churn/removed/2:version.yaml")
    assert "version: 2" in removed
    registry.delete_version(runs, "churn", 3)
    registry.rename_model(runs, "churn", "churn2")  # the record of removed numbers moves too
    assert registry.register(runs, run_id, "churn2").version == 4
    assert registry.delete_model(runs, "churn2") == 5  # versions 1, 4, removed 2, 3, meta
    assert registry.register(runs, run_id, "churn2").version == 1  # a new model: from 1
    fsck(repo)
