"""Project files: ``gittrack.yaml`` (or MLflow's ``MLproject``) with typed entry points.

The schema is MLflow's MLproject: ``name``, an optional environment (``python_env``,
``conda_env`` or ``docker_env``: recorded, never built) and ``entry_points``, each with
``parameters`` (``{type, default}`` or a bare type) and a ``command`` template whose
``{param}`` placeholders are filled with shell-quoted values. See docs/projects.md.

One more key is gittrack's own: ``artifacts: {remote: URL, endpoint_url: URL}``, the
artifact remote every clone uses (committed with the code; git config overrides it).
"""

from __future__ import annotations

import math
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.errors import CorruptRunError, ProjectError

PROJECT_FILES = ("gittrack.yaml", "gittrack.yml", "MLproject")
PARAM_TYPES = ("float", "int", "string", "str", "bool", "path", "uri")
ENV_KEYS = ("python_env", "conda_env", "docker_env")
ARTIFACTS_KEY = "artifacts"
ARTIFACT_KEYS = ("remote", "endpoint_url")
DEFAULT_ENTRY_POINT = "main"
_NO_DEFAULT = object()
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Parameter:
    """One typed parameter of an entry point."""

    name: str
    type: str
    default: Any = _NO_DEFAULT

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT


@dataclass(frozen=True)
class EntryPoint:
    """A named command template with typed parameters."""

    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """Validate and convert ``given`` values, fill defaults; unknown or missing is an error."""
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            known = ", ".join(self.parameters) or "none"
            raise ProjectError(
                f"entry point {self.name!r} has no parameter {unknown[0]!r} (parameters: {known})"
            )
        values: dict[str, Any] = {}
        for name, param in self.parameters.items():
            if name in given:
                values[name] = convert_value(param, given[name], f"-P {name}")
            elif not param.required:
                values[name] = param.default
            else:
                raise ProjectError(
                    f"entry point {self.name!r} needs parameter {name!r} "
                    f"(give -P {name}=VALUE, type {param.type})"
                )
        return values

    def render(self, values: dict[str, Any]) -> str:
        """The command with each ``{param}`` replaced by its shell-quoted value."""
        quoted = {k: shlex.quote(_text(v)) for k, v in values.items()}
        try:
            return self.command.format(**quoted)
        except (KeyError, IndexError, ValueError) as e:
            raise ProjectError(f"entry point {self.name!r}: cannot fill its command ({e})") from e


@dataclass(frozen=True)
class ArtifactSettings:
    """The ``artifacts`` section: the artifact remote and an S3-compatible endpoint."""

    remote: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class Project:
    """A parsed project file."""

    name: str
    directory: Path
    file: Path
    environment: dict[str, Any]
    entry_points: dict[str, EntryPoint]
    artifacts: ArtifactSettings = ArtifactSettings()

    def entry_point(self, name: str) -> EntryPoint:
        """The entry point ``name``; an unknown one is an error listing those that exist."""
        try:
            return self.entry_points[name]
        except KeyError:
            known = ", ".join(self.entry_points) or "none"
            raise ProjectError(
                f"{self.file.name} has no entry point {name!r} (entry points: {known})"
            ) from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def find_project_file(directory: Path) -> Path | None:
    """``gittrack.yaml`` (then ``gittrack.yml``, then ``MLproject``) in ``directory``."""
    for name in PROJECT_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def load_project(directory: Path) -> Project:
    """Read and validate the project file of ``directory``."""
    path = find_project_file(directory)
    if path is None:
        raise ProjectError(
            f"no gittrack.yaml or MLproject in {directory} (write one: see docs/projects.md)"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ProjectError(f"cannot read {path}: {e.strerror}") from e
    return parse_project(data, path)


def _load_mapping(data: bytes, name: str) -> dict[Any, Any]:
    from gittrack.format import load_yaml

    try:  # safe, size-capped, and refusing aliases ("billion laughs" in a pulled run's code)
        doc = load_yaml(data, name, text_scalars=True)
    except CorruptRunError as e:
        raise ProjectError(e.message) from e
    if not isinstance(doc, dict):
        raise ProjectError(f"{name} must be a mapping with 'name' and 'entry_points'")
    return doc


def parse_project(data: bytes, path: Path) -> Project:
    """Validate the YAML text of a project file stored at ``path``."""
    name = path.name
    doc = _load_mapping(data, name)
    known = ("name", "entry_points", *ENV_KEYS, ARTIFACTS_KEY)
    unknown = sorted(str(k) for k in doc if k not in known)
    if unknown:
        raise ProjectError(f"{name}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    envs = {k: doc[k] for k in ENV_KEYS if k in doc}
    if len(envs) > 1:
        raise ProjectError(f"{name}: give at most one of {', '.join(ENV_KEYS)}")
    artifacts = _parse_artifacts(doc, name)
    raw_points = doc.get("entry_points")
    if ARTIFACTS_KEY in doc and raw_points is None:
        raw_points = {}  # a file that only records where artifacts travel
    elif not isinstance(raw_points, dict) or not raw_points:
        raise ProjectError(f"{name}: 'entry_points' must map entry point names to commands")
    points = {str(ep): _parse_entry_point(str(ep), spec, name) for ep, spec in raw_points.items()}
    return Project(
        name=str(doc.get("name") or path.parent.name),
        directory=path.parent,
        file=path,
        environment=envs,
        entry_points=points,
        artifacts=artifacts,
    )


def parse_artifact_settings(data: bytes, name: str) -> ArtifactSettings:
    """Only the ``artifacts`` section of a project file's text (the rest is not checked)."""
    return _parse_artifacts(_load_mapping(data, name), name)


def _parse_artifacts(doc: dict[Any, Any], name: str) -> ArtifactSettings:
    raw = doc.get(ARTIFACTS_KEY)
    if raw is None:
        return ArtifactSettings()
    where = f"{name}: '{ARTIFACTS_KEY}'"
    if not isinstance(raw, dict):
        raise ProjectError(f"{where} must be a mapping, e.g. {{remote: s3://bucket/prefix}}")
    unknown = sorted(str(k) for k in raw if k not in ARTIFACT_KEYS)
    if unknown:
        raise ProjectError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(ARTIFACT_KEYS)})"
        )
    values: dict[str, str | None] = {}
    for key in ARTIFACT_KEYS:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ProjectError(f"{where}: {key!r} must be a non-empty string")
        values[key] = value.strip() if isinstance(value, str) else None
    return ArtifactSettings(remote=values["remote"], endpoint_url=values["endpoint_url"])


def _parse_entry_point(ep: str, spec: Any, file: str) -> EntryPoint:
    where = f"{file}: entry point {ep!r}"
    if isinstance(spec, str):
        spec = {"command": spec}
    if not isinstance(spec, dict):
        raise ProjectError(f"{where} must be a mapping with 'command' and 'parameters'")
    extra = sorted(str(k) for k in spec if k not in ("command", "parameters"))
    if extra:
        raise ProjectError(f"{where}: unknown key {extra[0]!r} (known: command, parameters)")
    command = spec.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ProjectError(f"{where} needs a 'command' string")
    raw_params = spec.get("parameters") or {}
    if not isinstance(raw_params, dict):
        raise ProjectError(f"{where}: 'parameters' must map names to types")
    params = {str(p): _parse_parameter(str(p), v, where) for p, v in raw_params.items()}
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(command) if f is not None]
    except ValueError as e:
        raise ProjectError(f"{where}: command template is malformed ({e})") from e
    for placeholder in fields:
        if placeholder not in params:
            raise ProjectError(
                f"{where}: command uses {{{placeholder}}}, which is not a declared parameter"
            )
    return EntryPoint(name=ep, command=command, parameters=params)


def _parse_parameter(name: str, spec: Any, where: str) -> Parameter:
    if isinstance(spec, str):
        spec = {"type": spec}
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ProjectError(f"{where}: parameter {name!r} must be a type or {{type, default}}")
    kind = str(spec.get("type", "string"))
    if kind not in PARAM_TYPES:
        raise ProjectError(
            f"{where}: parameter {name!r} has unknown type {kind!r} "
            f"(types: {', '.join(PARAM_TYPES)})"
        )
    param = Parameter(name=name, type=kind)
    if "default" in spec and spec["default"] is not None:
        default = convert_value(param, spec["default"], f"{where}: default of {name!r}")
        param = Parameter(name=name, type=kind, default=default)
    return param


def convert_value(param: Parameter, value: Any, what: str) -> Any:
    """Convert a CLI string (or a YAML default) to the parameter's type."""
    kind = param.type
    text = _text(value).strip() if not isinstance(value, str) else value
    bad = ProjectError(f"{what}: {text!r} is not a valid {kind}")
    if kind == "int":
        if isinstance(value, bool):
            raise bad
        try:
            return int(text)
        except ValueError:
            pass
        number = _float(text, bad)
        if not number.is_integer():
            raise bad
        return int(number)
    if kind == "float":
        if isinstance(value, bool):
            raise bad
        return _float(text, bad)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise bad
    if kind in ("path", "uri") and not text.strip():
        raise bad
    return text


def _float(text: str, bad: ProjectError) -> float:
    try:
        number = float(text)
    except ValueError:
        raise bad from None
    if not math.isfinite(number):
        raise bad
    return number
