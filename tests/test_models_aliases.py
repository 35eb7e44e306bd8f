"""Registered-model aliases as MLflow allows them (a leading digit or '_', accents, any
Unicode word character), each kept in one git ref component through the same codec as
model names; aliases valid before keep their refs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import fails
from conftest import fsck, git
from mlflow_peer import MLFLOW, mlflow_accepts
from test_models_names import X, gittrack_accepts, log_linear, models_cli

import gittrack
from gittrack.errors import ModelNotFoundError, ValidationError
from gittrack.models import registry
from gittrack.session import open_repository

# Aliases MLflow accepts that the earlier start-with-a-letter rule refused, with their refs.
ENCODED = {
    "1st": "1st",
    "été": "%C3%A9t%C3%A9",
    "_shadow": "_shadow",
    "a-b_c": "a-b_c",
    "模型": "%E6%A8%A1%E5%9E%8B",
    "٣": "%D9%A3",
    "v": "v",
    "v1a": "v1a",
    "latest2": "latest2",
    "x" * 250: "x" * 250,
}
# MLflow refuses these: reserved 'latest' (any case) and versions, other characters, empty,
# longer than 255 characters.
MLFLOW_INVALID = ["latest", "Latest", "v3", "V12", "a b", "a/b", "a@b", "a.b", "", "x" * 256]
CHARACTERS = "names may only contain alphanumerics, underscores (_), and dashes (-)"
REFUSED = {
    "latest": "invalid alias 'latest': 'latest' (in any case) is reserved",
    "v3": "invalid alias 'v3': version alias names (v1, V2) are reserved",
    "a b": f"invalid alias 'a b': {CHARACTERS}",
    "a.b": f"invalid alias 'a.b': {CHARACTERS}",
    "x" * 256: f"invalid alias '{'x' * 37}...': 256 characters, at most 255",
}
NEW = ["1st", "été", "_shadow", "a-b_c"]


def _alias_refs(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/models/")
    return [ref for ref in out.splitlines() if "/aliases/" in ref]


def test_mlflow_aliases_set_get_delete_history_and_load(repo: Path) -> None:
    r1, r2 = log_linear(1.0), log_linear(2.0)
    gittrack.register_model(f"runs:/{r1}/model", "churn")
    gittrack.register_model(f"runs:/{r2}/model", "churn")
    runs = open_repository(create=False)
    client = gittrack.MlflowClient()
    for alias in NEW:
        registry.set_alias(runs, "churn", alias, 1, now_ms=1_000)
        gittrack.set_model_alias("churn", alias, 2)
        assert registry.get_alias(runs, "churn", alias).version == 2
        assert client.get_model_version_by_alias("churn", alias).version == 2
        assert [e.version for e in registry.alias_history(runs, "churn", alias)] == [2, 1]
        assert registry.alias_at(runs, "churn", alias, 1_500) == 1
    assert registry.get_model(runs, "churn").aliases == {a: 2 for a in NEW}
    assert client.get_registered_model("churn").aliases == {a: "2" for a in NEW}
    x = X[:2]
    by_alias = gittrack.load_model("models:/churn@été").predict(x)
    np.testing.assert_allclose(by_alias, x[:, 0] * 2.0, atol=1e-9)
    # 'latest' (any case) is no stored alias: as in MLflow, it reads the highest version.
    np.testing.assert_allclose(
        gittrack.load_model("models:/churn@latest").predict(x), x[:, 0] * 2.0, atol=1e-9
    )
    assert client.get_model_version_by_alias("churn", "LATEST").version == 2
    registry.create_model(runs, "empty")
    with pytest.raises(ModelNotFoundError, match="'empty' has no version yet"):
        registry.version_by_alias(runs, "empty", "latest")
    client.set_registered_model_alias("churn", "1st", 1)
    np.testing.assert_allclose(
        gittrack.load_model("models:/churn@1st").predict(x), x[:, 0] * 1.0, atol=1e-9
    )
    client.delete_registered_model_alias("churn", "_shadow")
    with pytest.raises(ModelNotFoundError, match="alias churn@_shadow was removed"):
        registry.get_alias(runs, "churn", "_shadow")
    assert [e.version for e in registry.alias_history(runs, "churn", "_shadow")] == [None, 2, 1]
    assert registry.get_model(runs, "churn").aliases == {"1st": 1, "été": 2, "a-b_c": 2}
    refs = _alias_refs(repo)
    assert refs == [
        "refs/gittrack/models/churn/aliases/%C3%A9t%C3%A9",
        "refs/gittrack/models/churn/aliases/1st",
        "refs/gittrack/models/churn/aliases/_shadow",
        "refs/gittrack/models/churn/aliases/a-b_c",
    ]
    for ref in refs:
        checked = subprocess.run(["git", "check-ref-format", ref], capture_output=True)
        assert checked.returncode == 0, ref
    fsck(repo)
    # Renamed, every alias (with its history) moves to the new name's refs.
    registry.rename_model(runs, "churn", "churn 2")
    assert registry.get_model(runs, "churn 2").aliases == {"1st": 1, "été": 2, "a-b_c": 2}
    assert [e.version for e in registry.alias_history(runs, "churn 2", "été")] == [2, 2, 1]
    assert [r.split("/")[3] for r in _alias_refs(repo)] == ["churn%202"] * 4
    fsck(repo)


def test_aliases_valid_before_keep_their_refs(repo: Path) -> None:
    for alias in ("prod", "Champion-2", "a_b", "x" + "y" * 63):
        assert registry.encode_name(alias) == alias
        assert registry.decode_alias(alias) == alias
    runs = open_repository(create=False)
    registry.register(runs, log_linear(), "churn")
    registry.set_alias(runs, "churn", "Champion-2", 1)
    assert _alias_refs(repo) == ["refs/gittrack/models/churn/aliases/Champion-2"]


def test_alias_codec_is_the_name_codec_and_reversible(repo: Path) -> None:
    for alias, component in ENCODED.items():
        assert registry.encode_name(alias) == component
        assert registry.decode_alias(component) == alias
    # Only the form encode_name writes decodes; reserved or refused aliases are no alias.
    for other in ("%c3%a9t%c3%a9", "%31st", "latest", "v3", "a%20b", "%C3", "a%2Fb"):
        assert registry.decode_alias(other) is None, other
    # A ref written by hand in another form is no alias (and no crash).
    runs = open_repository(create=False)
    registry.register(runs, log_linear(), "churn")
    registry.set_alias(runs, "churn", "été", 1)
    commit = git(repo, "rev-parse", "refs/gittrack/models/churn/aliases/%C3%A9t%C3%A9").strip()
    git(repo, "update-ref", "refs/gittrack/models/churn/aliases/%c3%a9t%c3%a9", commit)
    assert registry.get_model(runs, "churn").aliases == {"été": 1}
    # An alias is bounded by its ref component: 250 bytes, so '<alias>.lock' fits in 255.
    registry.set_alias(runs, "churn", "é" * 41, 1)  # 246 bytes once encoded
    registry.set_alias(runs, "churn", "x" * 250, 1)
    assert registry.get_alias(runs, "churn", "é" * 41).version == 1
    with pytest.raises(ValidationError, match="is too long: 252 bytes in its git ref"):
        registry.set_alias(runs, "churn", "é" * 42, 1)
    with pytest.raises(ValidationError, match="is too long: 251 bytes in its git ref"):
        registry.set_alias(runs, "churn", "x" * 251, 1)
    fsck(repo)


def test_mlflow_invalid_aliases_are_refused_in_one_line_writing_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = open_repository(create=False)
    registry.register(runs, log_linear(), "churn")
    for bad in MLFLOW_INVALID:
        with pytest.raises(ValidationError, match="alias") as raised:
            registry.set_alias(runs, "churn", bad, 1)
        assert "\n" not in str(raised.value)
        with pytest.raises(ValidationError):
            registry.get_alias(runs, "churn", bad)
    for bad, message in REFUSED.items():
        assert fails(capsys, "models", "alias", f"churn@{bad}", "1") == (
            f"gittrack: error: {message}\n"
        )
    assert _alias_refs(repo) == []


@pytest.mark.skipif(not MLFLOW.available, reason=f"MLflow venv not installed: {MLFLOW.note}")
def test_gittrack_accepts_exactly_the_aliases_mlflow_accepts() -> None:
    aliases = [*ENCODED, *MLFLOW_INVALID, "LATEST", "v١", "a\n", "v1\n", "latest\n", "é" * 42]
    aliases += ["-", "_", "a\tb", "e\u0301", "a\u200db", "x" * 251, "x" * 255, "x" * 247 + "\n"]
    validators = ["_validate_model_alias_name", "_validate_model_alias_name_reserved"]
    theirs = mlflow_accepts(validators, aliases)
    # Where gittrack differs: an alias whose encoded ref component passes 250 bytes.
    for long in ("é" * 42, "x" * 251, "x" * 255):
        assert theirs[long] is True
        theirs[long] = False
    assert gittrack_accepts(registry.validate_alias, aliases) == theirs


def test_cli_sets_shows_and_removes_mlflow_aliases_exactly(repo: Path) -> None:
    run_id = log_linear()
    models_cli(repo, "register", run_id, "churn")
    models_cli(repo, "register", run_id, "churn")
    for alias in NEW:
        assert models_cli(repo, "alias", f"churn@{alias}", "1") == f"churn@{alias} -> version 1\n"
    assert models_cli(repo, "alias", "churn@été", "2") == "churn@été -> version 2\n"
    listed = json.loads(models_cli(repo, "list", "--format", "json"))
    assert listed[0]["aliases"] == {"1st": 1, "_shadow": 1, "a-b_c": 1, "été": 2}
    table = models_cli(repo, "list").splitlines()
    assert "@1st=1 @_shadow=1 @a-b_c=1 @été=2" in table[2]
    history = json.loads(models_cli(repo, "show", "churn@été", "-f", "json"))
    assert [h["version"] for h in history] == [2, 1]
    rows = json.loads(models_cli(repo, "show", "churn", "-f", "json"))
    assert [(r["version"], r["aliases"]) for r in rows] == [
        (1, "@1st @_shadow @a-b_c"),
        (2, "@été"),
    ]
    assert models_cli(repo, "rm", "churn@_shadow") == "removed alias churn@_shadow\n"
    history = json.loads(models_cli(repo, "show", "churn@_shadow", "-f", "json"))
    assert [h["version"] for h in history] == [None, 1]
    fsck(repo)
