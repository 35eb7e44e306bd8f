"""MLflow's registry operations over git refs: stages, renaming, versions kept by number."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import fails, ok
from conftest import fsck, git

import gittrack
from gittrack.errors import ModelError, ModelNotFoundError, ValidationError
from gittrack.models import logged, registry
from gittrack.session import open_repository

sklearn_linear = pytest.importorskip("sklearn.linear_model")
X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])


def _log() -> str:
    model = sklearn_linear.LinearRegression().fit(X, X[:, 0])
    with gittrack.start_run() as run:
        gittrack.sklearn.log_model(model, "model")
    return run.info.run_id


def test_stages_move_and_archive_the_others(repo: Path) -> None:
    run_id = _log()
    runs = open_repository(create=False)
    for _ in range(3):
        registry.register(runs, run_id, "churn")
    assert registry.get_version(runs, "churn", 1).stage == "None"
    assert registry.transition_stage(runs, "churn", 1, "production").stage == "Production"
    registry.transition_stage(runs, "churn", 2, "Production")
    assert [v.stage for v in registry.list_versions(runs, "churn")] == [
        "Production",
        "Production",
        "None",
    ]
    moved = registry.transition_stage(runs, "churn", 3, "Production", archive_existing=True)
    assert moved.stage == "Production" and moved.updated >= moved.created
    assert [v.stage for v in registry.list_versions(runs, "churn")] == [
        "Archived",
        "Archived",
        "Production",
    ]
    shown = git(repo, "show", "refs/gittrack/models/churn/versions/3:version.yaml")
    assert "stage: Production" in shown
    with pytest.raises(ValidationError, match="invalid stage 'Live'"):
        registry.transition_stage(runs, "churn", 1, "Live")
    with pytest.raises(ValidationError, match="archive_existing is only for"):
        registry.transition_stage(runs, "churn", 1, "Archived", archive_existing=True)
    fsck(repo)


def test_rename_moves_versions_aliases_and_metadata(repo: Path) -> None:
    run_id = _log()
    runs = open_repository(create=False)
    registry.create_model(runs, "old", description="d", tags={"team": "cv"})
    registry.register(runs, run_id, "old", tags={"t": "1"})
    registry.register(runs, run_id, "old")
    registry.transition_stage(runs, "old", 2, "Staging")
    registry.set_alias(runs, "old", "prod", 1)
    renamed = registry.rename_model(runs, "old", "new")
    assert (renamed.name, renamed.versions, renamed.aliases) == ("new", [1, 2], {"prod": 1})
    assert (renamed.description, renamed.tags) == ("d", {"team": "cv"})
    versions = registry.list_versions(runs, "new")
    assert [(v.name, v.run_id, v.stage, v.tags) for v in versions] == [
        ("new", run_id, "None", {"t": "1"}),
        ("new", run_id, "Staging", {}),
    ]
    assert registry.get_alias(runs, "new", "prod").version == 1
    assert [e.version for e in registry.alias_history(runs, "new", "prod")] == [1, 1]
    with pytest.raises(ModelNotFoundError):
        registry.get_model(runs, "old")
    assert git(repo, "for-each-ref", "refs/gittrack/models/old/") == ""
    assert gittrack.pyfunc.load_model("models:/new@prod").predict(X).shape == (3,)
    registry.create_model(runs, "other")
    with pytest.raises(ModelError, match="'other' already exists"):
        registry.rename_model(runs, "new", "other")
    with pytest.raises(ValidationError, match="invalid model name"):
        registry.rename_model(runs, "new", "a/b")
    fsck(repo)


def test_register_a_given_number_and_record_a_logged_model_as_given(repo: Path) -> None:
    run_id = _log()
    runs = open_repository(create=False)
    mv = registry.register(runs, run_id, "m", version=4, created_by="", now_ms=5, updated_ms=9)
    assert (mv.version, mv.created, mv.updated, mv.created_by) == (4, 5, 9, "")
    assert registry.register(runs, run_id, "m").version == 5
    with pytest.raises(ModelError, match="already has a version 4"):
        registry.register(runs, run_id, "m", version=4)
    model = logged.LoggedModel(
        model_id="m-" + "a" * 32,
        name="model",
        experiment="Default",
        run_id=run_id,
        artifact_path="model",
        status="READY",
        created=1,
        updated=2,
        tags={"k": "v"},
    )
    assert logged.save(runs, model) is True
    assert logged.save(runs, model) is False  # already recorded so: nothing moves
    assert logged.get(runs, model.model_id) == model


def test_stage_and_rename_from_the_command_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _log()
    runs = open_repository(create=False)
    registry.register(runs, run_id, "churn")
    registry.register(runs, run_id, "churn")
    assert ok("models", "stage", "churn/1", "production").strip() == "churn version 1 -> Production"
    ok("models", "stage", "churn/2", "Production", "--archive-existing")
    shown = json.loads(ok("models", "show", "churn", "--format", "json"))
    assert [(r["version"], r["stage"]) for r in shown] == [(1, "Archived"), (2, "Production")]
    assert "renamed model churn to churn2" in ok("models", "rename", "churn", "churn2")
    assert [m.name for m in registry.list_models(runs)] == ["churn2"]
    assert "invalid stage 'Live'" in fails(capsys, "models", "stage", "churn2/1", "Live")
    assert "is not NAME/VERSION" in fails(capsys, "models", "stage", "churn2", "Staging")
    assert "no registered model named 'churn'" in fails(capsys, "models", "rename", "churn", "x")
