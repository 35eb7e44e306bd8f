"""Project files (gittrack.yaml / MLproject): parsing, validation, params, rendering."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from gittrack.errors import ProjectError
from gittrack.project import ArtifactSettings, find_project_file, load_project, parse_project

GOOD = b"""
name: wine
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      epochs: {type: int, default: 10}
      fast: {type: bool, default: false}
      data: path
      label: {type: string, default: "red wine"}
    command: "python train.py --alpha {alpha} --epochs {epochs} --fast {fast} {data} {label}"
  plain: "python other.py"
"""


def test_parse_good_project() -> None:
    proj = parse_project(GOOD, Path("/p/gittrack.yaml"))
    assert proj.name == "wine"
    assert proj.environment == {"python_env": "python_env.yaml"}
    main = proj.entry_point("main")
    assert main.parameters["alpha"].default == 0.5
    assert main.parameters["data"].required
    assert proj.entry_point("plain").command == "python other.py"


def test_resolve_converts_fills_defaults_and_quotes() -> None:
    main = parse_project(GOOD, Path("/p/gittrack.yaml")).entry_point("main")
    values = main.resolve({"alpha": "0.3", "fast": "yes", "data": "my data; rm -rf /"})
    assert values == {
        "alpha": 0.3,
        "epochs": 10,
        "fast": True,
        "data": "my data; rm -rf /",
        "label": "red wine",
    }
    command = main.render(values)
    assert shlex.split(command) == [
        "python",
        "train.py",
        "--alpha",
        "0.3",
        "--epochs",
        "10",
        "--fast",
        "true",
        "my data; rm -rf /",
        "red wine",
    ]


def test_typed_values_pass_through() -> None:
    main = parse_project(GOOD, Path("/p/gittrack.yaml")).entry_point("main")
    values = main.resolve({"alpha": 1, "epochs": 3.0, "fast": True, "data": "d"})
    assert values["alpha"] == 1.0 and isinstance(values["alpha"], float)
    assert values["epochs"] == 3 and isinstance(values["epochs"], int)


def test_project_values_are_the_text_written_not_yaml_1_1() -> None:
    text = b"""
entry_points:
  main:
    parameters:
      seed: {type: string, default: 010}
      at: {type: string, default: 12:30}
      answer: {type: str, default: no}
      lr: {type: float, default: 1e-3}
      epochs: {type: int, default: 3.0}
      none: {type: string, default: null}
    command: "python t.py {seed} {at} {answer} {lr} {epochs} {none}"
"""
    main = parse_project(text, Path("/p/gittrack.yaml")).entry_point("main")
    values = main.resolve({"none": "x"})
    assert values == {
        "seed": "010", "at": "12:30", "answer": "no", "lr": 0.001, "epochs": 3, "none": "x"
    }  # fmt: skip
    assert main.resolve({"seed": "007", "none": "x"})["seed"] == "007"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"data": "d", "gamma": "1"}, "has no parameter 'gamma'"),
        ({}, "needs parameter 'data'"),
        ({"data": "d", "alpha": "abc"}, "'abc' is not a valid float"),
        ({"data": "d", "alpha": "nan"}, "is not a valid float"),
        ({"data": "d", "epochs": "1.5"}, "'1.5' is not a valid int"),
        ({"data": "d", "fast": "maybe"}, "'maybe' is not a valid bool"),
        ({"data": ""}, "is not a valid path"),
    ],
)
def test_bad_params(given: dict[str, str], message: str) -> None:
    main = parse_project(GOOD, Path("/p/gittrack.yaml")).entry_point("main")
    with pytest.raises(ProjectError, match=message):
        main.resolve(given)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"name: [unclosed", "gittrack.yaml is not valid YAML"),
        (  # what is wrong and where, not PyYAML's context line ("while parsing ...")
            b"name: x\nentry_points:\n\tmain: a\n",
            r"gittrack.yaml is not valid YAML: found character that cannot start any token "
            r"\(line 3, column 1\)$",
        ),
        (b"entry_points: [\n", r"is not valid YAML: did not find expected node content \(line 2"),
        (b"- a\n- b\n", "must be a mapping"),
        (b"name: x\n", "'entry_points' must map"),
        (b"name: x\nentry_points: {}\n", "'entry_points' must map"),
        (b"name: x\nentry_points:\n  main: [a, b]\n", "must be a mapping with 'command'"),
        (b"name: x\nentry_points:\n  main: {parameters: {}}\n", "needs a 'command' string"),
        (b"name: x\nentry_points:\n  main: {command: x, shell: y}\n", "unknown key 'shell'"),
        (b"name: x\nfoo: 1\nentry_points:\n  main: a\n", "unknown key 'foo'"),
        (
            b"name: x\npython_env: a\nconda_env: b\nentry_points:\n  main: a\n",
            "at most one of",
        ),
        (
            b"name: x\nentry_points:\n  main: {command: a, parameters: [a]}\n",
            "'parameters' must map",
        ),
        (
            b"name: x\nentry_points:\n  main: {command: a, parameters: {p: {type: complex}}}\n",
            "unknown type 'complex'",
        ),
        (
            b"name: x\nentry_points:\n  main: {command: a, parameters: {p: [3]}}\n",
            "must be a type or",
        ),
        (
            b"name: x\nentry_points:\n"
            b"  main: {command: a, parameters: {p: {type: int, default: x}}}\n",
            "default of 'p': 'x' is not a valid int",
        ),
        (b"name: x\nentry_points:\n  main: {command: 'run {q}'}\n", "uses {q}, which is not"),
        (b"name: x\nentry_points:\n  main: {command: 'run {q'}\n", "template is malformed"),
        (
            b"artifacts: s3://b\n",
            "'artifacts' must be a mapping, e.g. .remote: s3://bucket/prefix.",
        ),
        (
            b"artifacts: {remote: s3://b, region: x}\n",
            "unknown key 'region' .known: remote, endpoint_url",
        ),
        (b"artifacts: {remote: ''}\n", "'remote' must be a non-empty string"),
        (b"artifacts: {endpoint_url: [a]}\n", "'endpoint_url' must be a non-empty string"),
    ],
)
def test_project_validation_errors(text: bytes, message: str) -> None:
    with pytest.raises(ProjectError, match=message) as info:
        parse_project(text, Path("/p/gittrack.yaml"))
    assert "\n" not in str(info.value)


def test_unknown_entry_point_lists_known() -> None:
    proj = parse_project(GOOD, Path("/p/gittrack.yaml"))
    with pytest.raises(ProjectError, match=r"no entry point 'trian' \(entry points: main, plain\)"):
        proj.entry_point("trian")


def test_find_and_load_prefers_gittrack_yaml(tmp_path: Path) -> None:
    assert find_project_file(tmp_path) is None
    with pytest.raises(ProjectError, match=r"no gittrack\.yaml or MLproject"):
        load_project(tmp_path)
    (tmp_path / "MLproject").write_bytes(b"name: ml\nentry_points:\n  main: python a.py\n")
    assert load_project(tmp_path).name == "ml"
    (tmp_path / "gittrack.yaml").write_bytes(b"name: gt\nentry_points:\n  main: python b.py\n")
    assert load_project(tmp_path).file.name == "gittrack.yaml"


def test_mlflow_example_file_works_unchanged() -> None:
    mlproject = b"""
name: tutorial
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      l1_ratio: {type: float, default: 0.1}
    command: "python train.py {alpha} {l1_ratio}"
"""
    proj = parse_project(mlproject, Path("/p/MLproject"))
    main = proj.entry_point("main")
    assert main.render(main.resolve({"alpha": "0.3"})) == "python train.py 0.3 0.1"


def test_a_project_file_may_only_say_where_artifacts_travel() -> None:
    proj = parse_project(b"artifacts:\n  remote: s3://b/p\n", Path("/p/gittrack.yaml"))
    assert proj.artifacts == ArtifactSettings(remote="s3://b/p", endpoint_url=None)
    assert proj.entry_points == {}
    with pytest.raises(ProjectError, match=r"no entry point 'main' \(entry points: none\)"):
        proj.entry_point("main")
    assert parse_project(GOOD, Path("/p/gittrack.yaml")).artifacts == ArtifactSettings()


def test_artifact_settings_from_the_work_tree_or_from_head_of_a_bare_repository(
    repo: Path, tmp_path: Path
) -> None:
    from conftest import git

    from gittrack.artifacts.remote import configured_url, open_remote
    from gittrack.runs import RunStore

    assert configured_url(RunStore(repo)) is None
    (repo / "gittrack.yaml").write_text(
        "artifacts: {remote: s3://b/p, endpoint_url: 'http://127.0.0.1:9'}\n"
    )
    store = RunStore(repo)
    assert configured_url(store) == "s3://b/p"
    assert getattr(open_remote(store), "endpoint_url", None) == "http://127.0.0.1:9"
    git(repo, "add", "gittrack.yaml")
    git(repo, "commit", "-qm", "artifacts")
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert configured_url(RunStore(bare)) == "s3://b/p"
    (repo / "gittrack.yaml").write_text("artifacts: [broken\n")
    with pytest.raises(ProjectError, match=r"gittrack\.yaml is not valid YAML"):
        configured_url(RunStore(repo))
