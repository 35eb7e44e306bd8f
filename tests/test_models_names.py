"""Registered-model names as MLflow allows them (spaces, accents, '@', '%', dots), each kept
in one git ref component that C git accepts; names valid before keep their refs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import fails
from conftest import fsck, git
from mlflow_peer import MLFLOW, mlflow_accepts

import gittrack
from gittrack.errors import ValidationError
from gittrack.models import registry
from gittrack.session import open_repository

sklearn_linear = pytest.importorskip("sklearn.linear_model")
X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0]])
GITTRACK = str(Path(sys.executable).parent / "gittrack")

# Names MLflow accepts that the earlier letters-digits-._- rule refused, with their refs.
ENCODED = {
    "Fraud Detector": "Fraud%20Detector",
    "Modèle de prix": "Mod%C3%A8le%20de%20prix",
    "team@fraud": "team%40fraud",
    "100% sure": "100%25%20sure",
    ".hidden": "%2Ehidden",
    "a..b": "a.%2Eb",
    "ends.": "ends%2E",
    "model.lock": "model%2Elock",
    "x@{1}": "x%40%7B1%7D",
    "tab\there": "tab%09here",
    "~^?*[\\": "%7E%5E%3F%2A%5B%5C",
    "雪 ☃": "%E9%9B%AA%20%E2%98%83",
}
# MLflow refuses these (blank, '/', ':', a path that resolves elsewhere).
MLFLOW_INVALID = ["", "   ", "a/b", "a:b", "models:/x", ".", "..", "..x", "..."]


def log_linear(coef: float = 1.0) -> str:
    model = sklearn_linear.LinearRegression().fit(X, X[:, 0] * coef)
    with gittrack.start_run() as run:
        gittrack.sklearn.log_model(model, "model")
    return run.info.run_id


def _model_refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/models/").split("\n")


def test_mlflow_names_register_list_alias_and_load(repo: Path) -> None:
    r1, r2 = log_linear(1.0), log_linear(2.0)
    runs = open_repository(create=False)
    gittrack.register_model(f"runs:/{r1}/model", "Fraud Detector")
    gittrack.register_model(f"runs:/{r1}/model", "Modèle de prix")
    gittrack.register_model(f"runs:/{r2}/model", "Modèle de prix")
    registry.register(runs, r2, "team@fraud", description="an '@' in the name")
    gittrack.set_model_alias("Modèle de prix", "champion", 2)
    registry.set_alias(runs, "team@fraud", "prod", 1)
    listed = {m.name: (m.versions, m.aliases) for m in registry.list_models(runs)}
    assert listed == {
        "Fraud Detector": ([1], {}),
        "Modèle de prix": ([1, 2], {"champion": 2}),
        "team@fraud": ([1], {"prod": 1}),
    }
    mv = registry.get_version(runs, "Modèle de prix", 2)
    assert (mv.name, mv.run_id) == ("Modèle de prix", r2)
    assert registry.get_model(runs, "team@fraud").aliases == {"prod": 1}
    # models:/ URIs as MLflow reads them: '/' first, then the last '@'.
    x = X[:2]
    by_version = gittrack.load_model("models:/Fraud Detector/1").predict(x)
    np.testing.assert_allclose(by_version, x[:, 0] * 1.0, atol=1e-9)
    by_alias = gittrack.load_model("models:/Modèle de prix@champion").predict(x)
    np.testing.assert_allclose(by_alias, x[:, 0] * 2.0, atol=1e-9)
    np.testing.assert_allclose(
        gittrack.load_model("models:/team@fraud@prod").predict(x), x[:, 0] * 2.0, atol=1e-9
    )
    np.testing.assert_allclose(
        gittrack.load_model("models:/team@fraud/1").predict(x), x[:, 0] * 2.0, atol=1e-9
    )
    assert _model_refs(repo) == [
        "refs/gittrack/models/Fraud%20Detector/versions/1",
        "refs/gittrack/models/Mod%C3%A8le%20de%20prix/aliases/champion",
        "refs/gittrack/models/Mod%C3%A8le%20de%20prix/versions/1",
        "refs/gittrack/models/Mod%C3%A8le%20de%20prix/versions/2",
        "refs/gittrack/models/team%40fraud/aliases/prod",
        "refs/gittrack/models/team%40fraud/versions/1",
        "",
    ]
    fsck(repo)
    # Renamed, the versions and alias move to the new name's ref; nothing stays behind.
    registry.rename_model(runs, "Modèle de prix", "prix - v2")
    assert [m.name for m in registry.list_models(runs)] == [
        "Fraud Detector",
        "prix - v2",
        "team@fraud",
    ]
    assert registry.get_alias(runs, "prix - v2", "champion").version == 2
    assert not [r for r in _model_refs(repo) if "Mod%C3%A8le" in r]
    fsck(repo)


def test_names_valid_before_keep_their_refs(repo: Path) -> None:
    for name in ("churn", "churn.v2_x-1", "A", "9.lock-free", "x" * 100):
        assert registry.encode_name(name) == name
    registry.register(open_repository(create=False), log_linear(), "churn.v2_x-1")
    assert _model_refs(repo)[0] == "refs/gittrack/models/churn.v2_x-1/versions/1"


def test_encoding_is_reversible_and_c_git_accepts_every_ref(repo: Path) -> None:
    for name, component in ENCODED.items():
        assert registry.encode_name(name) == component
        assert registry.decode_name(component) == name
        ref = f"refs/gittrack/models/{component}/versions/1"
        checked = subprocess.run(["git", "check-ref-format", ref], capture_output=True)
        assert checked.returncode == 0, ref
    # Only the form encode_name writes decodes: one name, one ref.
    for other in ("a%2eb", "a%2Eb", "Fraud%20detector%", "%zz", "%C3", "a%2Fb", "a%3Ab", "a@b"):
        assert registry.decode_name(other) is None, other
    # A ref component written by hand in another form is no model (and no crash).
    run_id = log_linear()
    runs = open_repository(create=False)
    registry.register(runs, run_id, ".hidden")
    commit = git(repo, "rev-parse", "refs/gittrack/models/%2Ehidden/versions/1").strip()
    git(repo, "update-ref", "refs/gittrack/models/x%2ehidden/versions/1", commit)
    assert [m.name for m in registry.list_models(runs)] == [".hidden"]
    assert [v.name for v in registry.versions_of_run(runs, run_id)] == [".hidden"]
    git(repo, "update-ref", "-d", "refs/gittrack/models/x%2ehidden/versions/1")
    # Control characters (NUL included) read back exactly; C git accepts what is written.
    for name in ("a\x00b", "line\nbreak\x7f\x1b[0m", "\x85x"):
        registry.register(runs, run_id, name)
        registry.set_alias(runs, name, "prod", 1)
        assert registry.get_version(runs, name, 1).name == name
        assert registry.get_alias(runs, name, "prod").name == name
    fsck(repo)


def test_name_length_is_bounded_by_its_ref_component(repo: Path) -> None:
    run_id = log_linear()
    runs = open_repository(create=False)
    longest = "x" * registry.MAX_NAME_BYTES
    registry.register(runs, run_id, longest)
    registry.register(runs, run_id, "é" * 42)  # 252 bytes once encoded
    fsck(repo)
    with pytest.raises(
        ValidationError, match=r"is too long: 256 bytes in its git ref, at most 255"
    ):
        registry.register(runs, run_id, longest + "x")
    with pytest.raises(ValidationError, match="is too long: 258 bytes"):
        registry.register(runs, run_id, "é" * 43)
    assert len(registry.list_models(runs)) == 2


def test_mlflow_invalid_names_are_refused_in_one_line_writing_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = log_linear()
    runs = open_repository(create=False)
    for bad in MLFLOW_INVALID:
        with pytest.raises(ValidationError, match="invalid model name"):
            registry.register(runs, run_id, bad)
        with pytest.raises(ValidationError, match="invalid model name"):
            registry.create_model(runs, bad)
    with pytest.raises(ValidationError, match="lone surrogate"):
        registry.register(runs, run_id, "a\udc80")
    err = fails(capsys, "models", "register", run_id, "a:b")
    assert err == "gittrack: error: invalid model name 'a:b': names cannot contain '/' or ':'\n"
    err = fails(capsys, "models", "register", run_id, "..x")
    assert "would resolve to '..x'" in err
    assert fails(capsys, "models", "register", run_id, " ").endswith("cannot be blank\n")
    assert git(repo, "for-each-ref", "refs/gittrack/models/") == ""


@pytest.mark.skipif(not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}")
def test_gittrack_accepts_exactly_the_names_mlflow_accepts() -> None:
    names = [*ENCODED, *MLFLOW_INVALID, "a\x00b", "-x", "é", "@", "a/", ":", "x..", "x/.."]
    theirs = mlflow_accepts(["_validate_model_name"], names)
    assert gittrack_accepts(registry.validate_model_name, names) == theirs


def gittrack_accepts(validate: Callable[[str], object], values: list[str]) -> dict[str, bool]:
    """``{value: whether validate takes it}`` (a refusal is a ValidationError)."""
    out = {}
    for value in values:
        try:
            validate(value)
        except ValidationError:
            out[value] = False
        else:
            out[value] = True
    return out


def models_cli(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        [GITTRACK, "models", *args], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_lists_and_shows_names_exactly(repo: Path) -> None:
    run_id = log_linear()
    assert models_cli(repo, "register", run_id, "Fraud Detector") == (
        f"registered Fraud Detector version 1 (runs:/{run_id}/model)\n"
    )
    models_cli(repo, "register", run_id, "Modèle de prix")
    models_cli(repo, "register", run_id, "team@fraud")
    models_cli(repo, "register", run_id, "team@fraud")
    assert models_cli(repo, "alias", "Modèle de prix@champion", "1") == (
        "Modèle de prix@champion -> version 1\n"
    )
    assert models_cli(repo, "alias", "team@fraud@prod", "2") == "team@fraud@prod -> version 2\n"
    listed = json.loads(models_cli(repo, "list", "--format", "json"))
    assert [(m["name"], m["versions"], m["aliases"]) for m in listed] == [
        ("Fraud Detector", [1], {}),
        ("Modèle de prix", [1], {"champion": 1}),
        ("team@fraud", [1, 2], {"prod": 2}),
    ]
    table = models_cli(repo, "list").splitlines()
    assert [line.split("  ")[0] for line in table[2:]] == [
        "Fraud Detector",
        "Modèle de prix",
        "team@fraud",
    ]
    one = json.loads(models_cli(repo, "show", "Fraud Detector/1", "-f", "json"))
    assert [(r["version"], r["source"]) for r in one] == [(1, f"runs:/{run_id}/model")]
    history = json.loads(models_cli(repo, "show", "Modèle de prix@champion", "-f", "json"))
    assert [h["version"] for h in history] == [1]
    # A bare name holding '@' reads as NAME@ALIAS (as in models:/ URIs); NAME/ is the model.
    both = json.loads(models_cli(repo, "show", "team@fraud/", "-f", "json"))
    assert [(r["version"], r["aliases"]) for r in both] == [(1, ""), (2, "@prod")]
    assert (
        models_cli(repo, "stage", "team@fraud/1", "Archived")
        == "team@fraud version 1 -> Archived\n"
    )
    assert models_cli(repo, "rm", "team@fraud@prod") == "removed alias team@fraud@prod\n"
    assert models_cli(repo, "rm", "team@fraud/1") == "removed team@fraud version 1\n"
    assert models_cli(repo, "rm", "team@fraud/", "--yes").startswith("removed model team@fraud (")
    assert [m["name"] for m in json.loads(models_cli(repo, "list", "-f", "json"))] == [
        "Fraud Detector",
        "Modèle de prix",
    ]
    fsck(repo)


def test_export_to_an_mlflow_file_store_skips_names_it_cannot_hold(
    repo: Path, tmp_path: Path
) -> None:
    from gittrack.migrate.mlflow_export import export_mlflow

    run_id = log_linear()
    runs = open_repository(create=False)
    for name in ("Modèle de prix", "100% sure", "a\x00b"):
        registry.register(runs, run_id, name)
    done = export_mlflow(tmp_path / "mlruns", runs=runs)
    assert (done.models, done.versions) == (1, 1)
    assert (tmp_path / "mlruns" / "models" / "Modèle de prix" / "version-1").is_dir()
    assert done.skipped == (
        ("model '100% sure'", "MLflow's file store cannot hold this name"),
        ("model 'a\\x00b'", "MLflow's file store cannot hold this name"),
    )
