"""The model registry, kept in git refs.

``<name>`` and ``<alias>`` below are the model name and the alias, each as one ref component
(:func:`encode_name`): letters, digits, ``._-`` are written as they are; other bytes are
percent-encoded.

- ``refs/gittrack/models/<name>/versions/<n>`` -> a commit whose tree holds
  ``version.yaml`` and whose parent is the run commit (pushing the ref carries the run).
- ``refs/gittrack/models/<name>/aliases/<alias>`` -> a chain of commits, one per move:
  first parent = the alias's previous commit, second parent = the version's commit;
  tree ``alias.yaml`` {name, alias, version, set_at, set_by}. The chain answers "which
  version was @prod at time T".

New versions take the next number with compare-and-swap on a ref that must not exist,
so two registrations at once get different numbers. Listing reads refs (+ small blobs).
"""

from __future__ import annotations

import posixpath
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from gittrack import format as fmt
from gittrack.errors import ModelError, ModelNotFoundError, ValidationError
from gittrack.runs import RunStore
from gittrack.store import TreeBuilder
from gittrack.store.refs import RefConflict
from gittrack.store.repo import MODE_FILE
from gittrack.validation import check_text

__all__ = [
    "MAX_ALIAS_BYTES",
    "MAX_ALIAS_LENGTH",
    "MAX_NAME_BYTES",
    "REF_ROOT",
    "STAGES",
    "AliasEvent",
    "ModelVersion",
    "RegisteredModel",
    "alias_at",
    "alias_history",
    "canonical_stage",
    "create_model",
    "decode_alias",
    "decode_name",
    "delete_alias",
    "delete_model",
    "delete_version",
    "encode_name",
    "get_alias",
    "get_model",
    "get_version",
    "latest_versions",
    "list_models",
    "list_versions",
    "register",
    "rename_model",
    "set_alias",
    "transition_stage",
    "update_model",
    "update_version",
    "validate_alias",
    "validate_model_name",
    "version_by_alias",
    "versions_of_run",
]

REF_ROOT = "refs/gittrack/models/"
VERSION_FILE = "version.yaml"
ALIAS_FILE = "alias.yaml"
MODEL_FILE = "model.yaml"  # at refs/gittrack/models/<name>/meta: description, tags
# A name's bytes as one ref component: what these hold is written as it is (so every name
# of the earlier letters-digits-``._-`` rule keeps its ref), the rest as %XX of its UTF-8.
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
# Names the earlier rule allowed: written as they are (the common case, kept fast).
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# A ref component is a directory name in a loose ref's path: ext4 (and most filesystems)
# hold at most 255 bytes there; C git itself sets no lower limit.
MAX_NAME_BYTES = 255
# MLflow's alias rules (mlflow.utils.validation), kept as its patterns are: ``\w`` is any
# Unicode word character, and ``$`` also matches before one final newline, as in MLflow.
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")  # reserved: ``models:/name/v3`` names a version
MAX_ALIAS_LENGTH = 255  # characters, as MLflow's MAX_REGISTERED_MODEL_ALIAS_LENGTH
# An alias is a ref's last component, a file name: moving it writes ``<alias>.lock`` beside.
MAX_ALIAS_BYTES = MAX_NAME_BYTES - len(".lock")
# MLflow's model version stages (deprecated there, still read and written by its clients).
STAGES = ("None", "Staging", "Production", "Archived")
ACTIVE_STAGES = ("Staging", "Production")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    run_id: str
    run_commit: str
    artifact_path: str
    created: int
    created_by: str
    description: str | None
    commit: str
    tags: dict[str, str] = field(default_factory=dict)
    model_id: str | None = None  # the logged model registered, if any
    source_uri: str | None = None  # the source as the registering client gave it
    updated: int = 0
    stage: str = "None"

    @property
    def source(self) -> str:
        return f"runs:/{self.run_id}/{self.artifact_path}"


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias: from ``set_at`` (epoch ms) on, ``alias`` named ``version``."""

    name: str
    alias: str
    version: int | None
    set_at: int
    set_by: str
    commit: str


@dataclass(frozen=True)
class RegisteredModel:
    """A model name with its versions and current aliases (and, once set, description,
    tags and times)."""

    name: str
    versions: list[int]
    aliases: dict[str, int | None]
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created: int = 0
    updated: int = 0

    @property
    def latest(self) -> int | None:
        return max(self.versions) if self.versions else None


def validate_model_name(name: str) -> str:
    """Accept the names MLflow accepts: not blank, no ``/`` or ``:``, not a path that
    resolves elsewhere (``.``, ``..x``); and, for its git ref, valid unicode whose encoded
    form (:func:`encode_name`) fits in :data:`MAX_NAME_BYTES`."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"invalid model name {name!r}: a model name cannot be blank")
    if "/" in name or ":" in name:
        raise ValidationError(f"invalid model name {name!r}: names cannot contain '/' or ':'")
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        raise ValidationError(
            f"invalid model name {name!r}: names may be treated as files and must not resolve "
            f"to other names; this one would resolve to {normal!r}"
        )
    check_text(name, f"model name {name!r}")
    size = len(encode_name(name))
    if size > MAX_NAME_BYTES:
        shown = repr(name if len(name) <= 40 else name[:37] + "...")
        raise ValidationError(
            f"model name {shown} is too long: {size} bytes in its git ref, at most "
            f"{MAX_NAME_BYTES} (a character other than letters, digits and ._- takes 3 to 12)"
        )
    return name


def encode_name(name: str) -> str:
    """A model name or alias as one git ref component, reversibly (:func:`decode_name`,
    :func:`decode_alias`).

    Letters, digits, ``_`` and ``-`` stay; so does ``.`` except where git forbids it (first,
    last, after another ``.``, before a final ``lock``); every other character, ``%``
    included, becomes ``%XX`` per UTF-8 byte. Case is kept."""
    if _PLAIN.fullmatch(name) and ".." not in name and not name.endswith((".", ".lock")):
        return name
    last = len(name) - 1
    out = []
    for i, ch in enumerate(name):
        if ch in _SAFE and not (
            ch == "." and (i in (0, last) or name[i - 1] == "." or name[i:] == ".lock")
        ):
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
    return "".join(out)


def _decode_component(component: str) -> str | None:
    """The text :func:`encode_name` wrote as ``component``; None for any other form."""
    try:
        text = unquote(component, errors="strict")
    except UnicodeDecodeError:
        return None
    return text if encode_name(text) == component else None


def decode_name(component: str) -> str | None:
    """The model name a ref component holds; None when it is not one :func:`encode_name`
    writes (a ref made by hand) or names no valid model."""
    name = _decode_component(component)
    try:
        return validate_model_name(name) if name is not None else None
    except ValidationError:
        return None


def decode_alias(component: str) -> str | None:
    """The alias a ref component below ``aliases/`` holds; None when it is not one
    :func:`encode_name` writes or no valid alias."""
    alias = _decode_component(component)
    try:
        return validate_alias(alias) if alias is not None else None
    except ValidationError:
        return None


def ref_label(ref: str) -> str | None:
    """A registry ref in words for messages (``model 'x' version 3``, ``model 'x' alias
    'champion'``, ``model 'x' removed version 2``, ``model 'x'``); None for a ref this
    registry did not write."""
    if not ref.startswith(REF_ROOT):
        return None
    component, _, rest = ref[len(REF_ROOT) :].partition("/")
    name = decode_name(component)
    kind, _, part = rest.partition("/")
    if name is None:
        return None
    if rest == "meta":
        return f"model {name!r}"
    if kind in ("versions", "removed") and part.isdigit():
        return f"model {name!r} {'removed ' if kind == 'removed' else ''}version {part}"
    alias = decode_alias(part) if kind == "aliases" else None
    return None if alias is None else f"model {name!r} alias {alias!r}"


def validate_alias(alias: str) -> str:
    """Accept the aliases MLflow accepts (``\\w`` and ``-``, at most 255 characters; not
    ``latest`` in any case, not a version such as ``v3``), refusing the others with MLflow's
    reason; and, for its git ref, whose encoded form fits in :data:`MAX_ALIAS_BYTES`."""
    if not isinstance(alias, str) or alias == "":
        raise ValidationError("invalid alias: a registered model alias name cannot be empty")
    shown = repr(alias if len(alias) <= 40 else alias[:37] + "...")
    if not _ALIAS.match(alias):
        raise ValidationError(
            f"invalid alias {shown}: names may only contain alphanumerics, underscores (_), "
            "and dashes (-)"
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise ValidationError(
            f"invalid alias {shown}: {len(alias)} characters, at most {MAX_ALIAS_LENGTH}"
        )
    if alias.lower() == "latest":
        raise ValidationError(f"invalid alias {shown}: 'latest' (in any case) is reserved")
    if _VERSION_ALIAS.match(alias):
        raise ValidationError(f"invalid alias {shown}: version alias names (v1, V2) are reserved")
    size = len(encode_name(alias))
    if size > MAX_ALIAS_BYTES:
        raise ValidationError(
            f"alias {shown} is too long: {size} bytes in its git ref, at most "
            f"{MAX_ALIAS_BYTES} (a character outside ASCII takes 6 to 12)"
        )
    return alias


def canonical_stage(stage: str) -> str:
    """MLflow's stage names, any case (``staging`` -> ``Staging``); others are an error."""
    for known in STAGES:
        if str(stage).lower() == known.lower():
            return known
    raise ValidationError(f"invalid stage {stage!r}: use {', '.join(STAGES)}")


def _version_number(version: int | str, name: str) -> int:
    text = str(version).strip().lstrip("v")
    if not text.isdigit() or int(text) < 1:
        raise ValidationError(f"invalid version {version!r} of model {name!r}: use 1, 2, ...")
    return int(text)


def _model_root(name: str) -> str:
    """``refs/gittrack/models/<encoded name>/``: every ref of the model is below it."""
    return f"{REF_ROOT}{encode_name(name)}/"


def _version_ref(name: str, version: int) -> str:
    return f"{_model_root(name)}versions/{version}"


def _removed_ref(name: str, version: int) -> str:
    """Where a removed version's commit stays: its number is never given again."""
    return f"{_model_root(name)}removed/{version}"


def _meta_ref(name: str) -> str:
    return f"{_model_root(name)}meta"


def _alias_ref(name: str, alias: str) -> str:
    return f"{_model_root(name)}aliases/{encode_name(alias)}"


def _all_model_refs(runs: RunStore) -> dict[str, dict[str, str]]:
    """``{name: {ref below the model's root (versions/1, meta, ...): sha}}`` for every
    model; refs whose name component :func:`encode_name` did not write are left out."""
    by_component: dict[str, dict[str, str]] = {}
    for ref, sha in runs.git.list_refs(REF_ROOT).items():
        component, _, rest = ref[len(REF_ROOT) :].partition("/")
        by_component.setdefault(component, {})[rest] = sha
    grouped = {decode_name(component): refs for component, refs in by_component.items()}
    return {name: refs for name, refs in grouped.items() if name is not None}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _who(runs: RunStore) -> str:
    ident = runs.identity
    return f"{ident.name} <{ident.email}>"


def _commit(runs: RunStore, files: dict[str, bytes], parents: list[str], message: str) -> str:
    git = runs.git
    message = message.replace("\0", "\\0")  # a name may hold NUL; git's fsck refuses it there
    tree = TreeBuilder(git).write(
        {name: (MODE_FILE, git.write_blob(data)) for name, data in files.items()}
    )
    now = int(time.time())
    return git.write_commit(
        tree=tree,
        parents=parents,
        author=runs.identity,
        author_time=now,
        commit_time=now,
        message=message,
    )


def _read_yaml(runs: RunStore, commit: str, filename: str, what: str) -> dict[str, Any]:
    git = runs.git
    obj = git.read_commit(commit)
    entry = git.lookup_path(obj.tree.decode("ascii"), filename)
    if entry is None:
        raise ModelError(f"{what} is damaged: its commit {commit[:12]} has no {filename}")
    data = fmt.load_yaml(git.read_blob(entry[1]), what)
    if not isinstance(data, dict):
        raise ModelError(f"{what} is damaged: {filename} is not a mapping")
    return data


def _model_refs(runs: RunStore, name: str) -> dict[str, str]:
    return runs.git.list_refs(_model_root(name))


def _versions_of(runs: RunStore, name: str) -> dict[int, str]:
    prefix = f"{_model_root(name)}versions/"
    return {
        int(ref[len(prefix) :]): sha
        for ref, sha in _model_refs(runs, name).items()
        if ref.startswith(prefix) and ref[len(prefix) :].isdigit()
    }


def _numbers_taken(runs: RunStore, name: str) -> set[int]:
    """Version numbers in use or removed (MLflow never gives a removed number again)."""
    found = set()
    root = _model_root(name)
    for ref in _model_refs(runs, name):
        kind, _, number = ref[len(root) :].partition("/")
        if kind in ("versions", "removed") and number.isdigit():
            found.add(int(number))
    return found


def _has_model(record: fmt.RunRecord, path: str) -> bool:
    wanted = f"{path}/MLmodel"
    return any(str(key).strip("/") == wanted for key in record.artifacts)


def register(
    runs: RunStore,
    run_ref: str,
    name: str,
    artifact_path: str = "model",
    *,
    description: str | None = None,
    now_ms: int | None = None,
    tags: Mapping[str, Any] | None = None,
    model_id: str | None = None,
    source_uri: str | None = None,
    version: int | None = None,
    created_by: str | None = None,
    stage: str = "None",
    updated_ms: int | None = None,
) -> ModelVersion:
    """Create the next version of ``name`` pointing at the model in ``run_ref``.

    ``model_id`` and ``source_uri`` record what an MLflow client registered (a logged
    model, the source URI as it gave it); ``tags`` are the version's tags. ``version``
    asks for that number (an import keeping MLflow's numbers): taken is an error."""
    validate_model_name(name)
    stage = canonical_stage(stage)
    run_id = runs.resolve(run_ref)
    loaded = runs.load(run_id)
    path = artifact_path.strip("/") or "model"
    if not _has_model(loaded.record, path):
        raise ModelError(
            f"run {run_id[:12]} has no model at {path!r} (log one with log_model, or give RUN:path)"
        )
    created = now_ms if now_ms is not None else _now_ms()
    who = _who(runs) if created_by is None else created_by
    for _ in range(1000):
        number = version or max(_numbers_taken(runs, name), default=0) + 1
        info: dict[str, Any] = {
            "name": name,
            "version": number,
            "run_id": run_id,
            "run_commit": loaded.commit,
            "artifact_path": path,
            "created": created,
            "created_by": who,
            "description": _text(description, "description"),
            "tags": _clean_tags(tags),
            "model_id": model_id,
            "source_uri": _text(source_uri, "source"),
            "stage": stage,
            "updated": updated_ms if updated_ms is not None else created,
        }
        message = f"model {name} version {number}\n\nsource: runs:/{run_id}/{path}\n"
        commit = _commit(runs, {VERSION_FILE: fmt.dump_yaml(info)}, [loaded.commit], message)
        try:
            runs.git.update_ref(_version_ref(name, number), commit, None)
        except RefConflict as e:
            if version is not None:
                raise ModelError(f"model {name!r} already has a version {version}") from e
            continue  # another process took this number: take the next one
        if version is None and runs.git.read_ref(_removed_ref(name, number)) is not None:
            # removed while we counted (delete_version marks before it deletes): not ours
            runs.git.delete_ref(_version_ref(name, number), commit)
            continue
        return _version_from(info, commit, f"model {name} version {number}")
    raise ModelError(f"cannot register model {name!r}: too many concurrent registrations")


def _version_from(data: dict[str, Any], commit: str, what: str) -> ModelVersion:
    try:
        return ModelVersion(
            name=str(data["name"]),
            version=int(data["version"]),
            run_id=str(data["run_id"]),
            run_commit=str(data["run_commit"]),
            artifact_path=str(data["artifact_path"]),
            created=int(data.get("created") or 0),
            created_by=str(data.get("created_by") or ""),
            description=data.get("description"),
            commit=commit,
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            model_id=None if data.get("model_id") is None else str(data["model_id"]),
            source_uri=None if data.get("source_uri") is None else str(data["source_uri"]),
            updated=int(data.get("updated") or data.get("created") or 0),
            stage=canonical_stage(str(data.get("stage") or "None")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{what} is damaged: version.yaml lacks {e}") from e


def _require_model(runs: RunStore, name: str) -> dict[int, str]:
    validate_model_name(name)
    versions = _versions_of(runs, name)
    if not versions and runs.git.read_ref(_meta_ref(name)) is None:
        raise ModelNotFoundError(f"no registered model named {name!r} (see gittrack models list)")
    return versions


def get_version(runs: RunStore, name: str, version: int | str) -> ModelVersion:
    """Read one version; ``version`` may be a number or ``latest``."""
    versions = _require_model(runs, name)
    if str(version) == "latest" and not versions:
        raise ModelNotFoundError(f"model {name!r} has no version yet (gittrack models register)")
    number = max(versions) if str(version) == "latest" else _version_number(version, name)
    commit = versions.get(number)
    if commit is None:
        raise ModelNotFoundError(
            f"model {name!r} has no version {number} (versions: "
            f"{', '.join(map(str, sorted(versions)))})"
        )
    what = f"model {name} version {number}"
    return _version_from(_read_yaml(runs, commit, VERSION_FILE, what), commit, what)


def list_versions(runs: RunStore, name: str) -> list[ModelVersion]:
    return [get_version(runs, name, n) for n in sorted(_require_model(runs, name))]


def _alias_from(data: dict[str, Any], commit: str) -> AliasEvent:
    version = data.get("version")
    return AliasEvent(
        name=str(data.get("name", "")),
        alias=str(data.get("alias", "")),
        version=int(version) if version is not None else None,
        set_at=int(data.get("set_at") or 0),
        set_by=str(data.get("set_by") or ""),
        commit=commit,
    )


def get_alias(runs: RunStore, name: str, alias: str) -> AliasEvent:
    """The alias's current state; ModelError when it is unknown or removed."""
    _require_model(runs, name)
    commit = runs.git.read_ref(_alias_ref(name, validate_alias(alias)))
    if commit is None:
        raise ModelNotFoundError(
            f"model {name!r} has no alias @{alias} (set it: gittrack models alias)"
        )
    event = _alias_from(_read_yaml(runs, commit, ALIAS_FILE, f"{name}@{alias}"), commit)
    if event.version is None:
        raise ModelNotFoundError(
            f"alias {name}@{alias} was removed (set it: gittrack models alias)"
        )
    return event


def version_by_alias(runs: RunStore, name: str, alias: str) -> ModelVersion:
    """The version ``name@alias`` names now; ``latest`` (any case, never a stored alias) is
    the highest version, as MLflow reads ``models:/NAME@latest``."""
    if isinstance(alias, str) and alias.lower() == "latest":
        return get_version(runs, name, "latest")
    return get_version(runs, name, str(get_alias(runs, name, alias).version))


def set_alias(
    runs: RunStore,
    name: str,
    alias: str,
    version: int | str | None,
    *,
    now_ms: int | None = None,
) -> AliasEvent:
    """Move ``name@alias`` to ``version`` (None: remove it) atomically, keeping history."""
    versions = _require_model(runs, name)
    validate_alias(alias)
    number: int | None = None
    if version is not None:
        number = get_version(runs, name, version).version
    ref = _alias_ref(name, alias)
    set_at = now_ms if now_ms is not None else _now_ms()
    for _ in range(100):
        current = runs.git.read_ref(ref)
        data = {
            "name": name,
            "alias": alias,
            "version": number,
            "set_at": set_at,
            "set_by": _who(runs),
        }
        parents = [current] if current else []
        if number is not None:
            parents.append(versions[number])
        target = f"version {number}" if number is not None else "nothing (removed)"
        message = f"model {name}@{alias} -> {target}\n"
        commit = _commit(runs, {ALIAS_FILE: fmt.dump_yaml(data)}, parents, message)
        try:
            runs.git.update_ref(ref, commit, current)
        except RefConflict:
            continue
        return _alias_from(data, commit)
    raise ModelError(f"cannot move {name}@{alias}: it keeps changing under us")


def delete_alias(runs: RunStore, name: str, alias: str, *, now_ms: int | None = None) -> None:
    """Remove an alias (recorded as a move to nothing, so its history stays)."""
    get_alias(runs, name, alias)
    set_alias(runs, name, alias, None, now_ms=now_ms)


def alias_history(runs: RunStore, name: str, alias: str) -> list[AliasEvent]:
    """Every move of ``name@alias``, newest first."""
    validate_model_name(name)
    commit = runs.git.read_ref(_alias_ref(name, validate_alias(alias)))
    events: list[AliasEvent] = []
    git = runs.git
    while commit is not None:
        obj = git.read_commit(commit)
        if git.lookup_path(obj.tree.decode("ascii"), ALIAS_FILE) is None:
            break  # the first move's only parent is a version commit
        events.append(_alias_from(_read_yaml(runs, commit, ALIAS_FILE, f"{name}@{alias}"), commit))
        commit = obj.parents[0].decode("ascii") if obj.parents else None
    return events


def alias_at(runs: RunStore, name: str, alias: str, when_ms: int) -> int | None:
    """The version ``name@alias`` named at ``when_ms`` (None: unset then)."""
    for event in alias_history(runs, name, alias):
        if event.set_at <= when_ms:
            return event.version
    return None


def list_models(runs: RunStore) -> list[RegisteredModel]:
    """Every registered model with its versions and current aliases (reads refs)."""
    models = []
    for name, refs in sorted(_all_model_refs(runs).items()):
        versions = sorted(
            int(r[len("versions/") :])
            for r in refs
            if r.startswith("versions/") and r[len("versions/") :].isdigit()
        )
        aliases: dict[str, int | None] = {}
        for rest, sha in sorted(refs.items()):
            alias = decode_alias(rest[len("aliases/") :]) if rest.startswith("aliases/") else None
            if alias is not None:
                event = _alias_from(_read_yaml(runs, sha, ALIAS_FILE, f"{name}@{alias}"), sha)
                if event.version is not None:
                    aliases[alias] = event.version
        meta = refs.get("meta")
        if versions or meta:
            info = _meta_from(runs, name, meta)
            models.append(
                RegisteredModel(
                    name=name,
                    versions=versions,
                    aliases=aliases,
                    description=info.get("description"),
                    tags=dict(info.get("tags") or {}),
                    created=int(info.get("created") or 0),
                    updated=int(info.get("updated") or 0),
                )
            )
    return models


def versions_of_run(runs: RunStore, run_id: str) -> list[ModelVersion]:
    """Registered versions whose model lives in run ``run_id`` (deleting it breaks them)."""
    found = []
    for name, refs in sorted(_all_model_refs(runs).items()):
        for rest, sha in sorted(refs.items()):
            if rest.startswith("versions/") and rest[len("versions/") :].isdigit():
                what = f"model {name} version {rest[len('versions/') :]}"
                mv = _version_from(_read_yaml(runs, sha, VERSION_FILE, what), sha, what)
                if mv.run_id == run_id:
                    found.append(mv)
    return found


def delete_version(
    runs: RunStore, name: str, version: int | str, *, drop_aliases: bool = False
) -> None:
    """Remove one version; refused while an alias names it, unless ``drop_aliases``
    removes those aliases first (as MLflow's registry does)."""
    mv = get_version(runs, name, version)
    for model in list_models(runs):
        if model.name == name:
            held = sorted(a for a, v in model.aliases.items() if v == mv.version)
            if held and not drop_aliases:
                raise ModelError(
                    f"version {mv.version} of {name!r} is @{', @'.join(held)}; move or remove "
                    "the alias first"
                )
            for alias in held:
                set_alias(runs, name, alias, None)
    try:  # marked first, so that no registration counting meanwhile takes the number
        runs.git.update_ref(_removed_ref(name, mv.version), mv.commit, None)
    except RefConflict:
        pass  # removed before under this number (an import may have reused it)
    runs.git.delete_ref(_version_ref(name, mv.version), mv.commit)


def delete_model(runs: RunStore, name: str) -> int:
    """Remove every version and alias of ``name``; return how many refs went."""
    _require_model(runs, name)
    refs = _model_refs(runs, name)
    for ref, sha in refs.items():
        runs.git.delete_ref(ref, sha)
    return len(refs)


# -- what MLflow's registry adds: model descriptions and tags, version tags -----------------
def _text(value: str | None, what: str) -> str | None:
    """A description or source as given; not valid unicode (a lone surrogate) is refused,
    as it would leave the model's YAML unreadable."""
    from gittrack.validation import check_text

    return None if value is None else check_text(str(value), what)


def _clean_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    from gittrack.validation import validate_key, validate_tag_value

    return {validate_key(k, "tag"): validate_tag_value(k, v) for k, v in (tags or {}).items()}


def _meta_from(runs: RunStore, name: str, commit: str | None) -> dict[str, Any]:
    if commit is None:
        return {}
    return _read_yaml(runs, commit, MODEL_FILE, f"model {name}")


def create_model(
    runs: RunStore,
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    now_ms: int | None = None,
) -> RegisteredModel:
    """Register a model name before any version (an existing name is an error)."""
    validate_model_name(name)
    if _model_refs(runs, name):
        raise ModelError(f"registered model {name!r} already exists")
    now = _now_ms() if now_ms is None else now_ms
    data: dict[str, Any] = {
        "name": name,
        "description": _text(description, "description"),
        "tags": _clean_tags(tags),
    }
    data |= {"created": now, "updated": now}
    commit = _commit(runs, {MODEL_FILE: fmt.dump_yaml(data)}, [], f"model {name}: created\n")
    try:
        runs.git.update_ref(_meta_ref(name), commit, None)
    except RefConflict as e:
        raise ModelError(f"registered model {name!r} already exists") from e
    return get_model(runs, name)


def get_model(runs: RunStore, name: str) -> RegisteredModel:
    """One registered model (ModelNotFoundError when it has neither versions nor metadata)."""
    _require_model(runs, name)
    return next(m for m in list_models(runs) if m.name == name)


def update_model(
    runs: RunStore,
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    delete_tag: str | None = None,
    now_ms: int | None = None,
) -> RegisteredModel:
    """Change a registered model's description or tags (compare-and-swap on its meta ref)."""
    _require_model(runs, name)
    clean = _clean_tags(tags)
    for _ in range(100):
        current = runs.git.read_ref(_meta_ref(name))
        data = dict(_meta_from(runs, name, current))
        data.setdefault("name", name)
        data.setdefault("created", _now_ms())
        new_tags = {**(data.get("tags") or {}), **clean}
        if delete_tag is not None:
            if delete_tag not in new_tags:
                raise ModelNotFoundError(f"registered model {name!r} has no tag {delete_tag!r}")
            del new_tags[delete_tag]
        data["tags"] = new_tags
        if description is not None:
            data["description"] = _text(description, "description")
        data["updated"] = _now_ms() if now_ms is None else now_ms
        parents = [current] if current else []
        commit = _commit(
            runs, {MODEL_FILE: fmt.dump_yaml(data)}, parents, f"model {name}: updated\n"
        )
        try:
            runs.git.update_ref(_meta_ref(name), commit, current)
        except RefConflict:
            continue
        return get_model(runs, name)
    raise ModelError(f"cannot update model {name!r}: it keeps changing under us")


def update_version(
    runs: RunStore,
    name: str,
    version: int | str,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    delete_tag: str | None = None,
    stage: str | None = None,
    now_ms: int | None = None,
) -> ModelVersion:
    """Change a version's description, tags or stage; it keeps its number and run."""
    clean = _clean_tags(tags)
    stage = None if stage is None else canonical_stage(stage)
    for _ in range(100):
        mv = get_version(runs, name, version)
        what = f"model {name} version {mv.version}"
        data = _read_yaml(runs, mv.commit, VERSION_FILE, what)
        new_tags = {**(data.get("tags") or {}), **clean}
        if delete_tag is not None:
            if delete_tag not in new_tags:
                raise ModelNotFoundError(f"{what} has no tag {delete_tag!r}")
            del new_tags[delete_tag]
        data["tags"] = new_tags
        if description is not None:
            data["description"] = _text(description, "description")
        if stage is not None:
            data["stage"] = stage
        data["updated"] = _now_ms() if now_ms is None else now_ms
        message = f"model {name} version {mv.version}: updated\n"
        commit = _commit(runs, {VERSION_FILE: fmt.dump_yaml(data)}, [mv.run_commit], message)
        try:
            runs.git.update_ref(_version_ref(name, mv.version), commit, mv.commit)
        except RefConflict:
            continue
        return _version_from(data, commit, what)
    raise ModelError(f"cannot update model {name!r} version {version}: it keeps changing")


def latest_versions(
    runs: RunStore, name: str, stages: list[str] | None = None
) -> list[ModelVersion]:
    """The latest version in each of ``stages`` (every stage when None or empty), by
    version number: MLflow's ``get_latest_versions``."""
    wanted = {canonical_stage(str(s)) for s in stages or []} or set(STAGES)
    latest: dict[str, ModelVersion] = {}
    for mv in list_versions(runs, name):
        if mv.stage in wanted:
            latest[mv.stage] = mv  # versions come in order: the last one wins
    return sorted(latest.values(), key=lambda v: v.version)


def transition_stage(
    runs: RunStore,
    name: str,
    version: int | str,
    stage: str,
    *,
    archive_existing: bool = False,
) -> ModelVersion:
    """Move a version to an MLflow stage (None, Staging, Production, Archived).

    ``archive_existing`` moves the other versions in that stage to Archived, as MLflow's
    ``archive_existing_versions`` (only for Staging and Production)."""
    stage = canonical_stage(stage)
    if archive_existing and stage not in ACTIVE_STAGES:
        raise ValidationError(
            f"archive_existing is only for {' and '.join(ACTIVE_STAGES)}, not {stage!r}"
        )
    moved = update_version(runs, name, version, stage=stage)
    if archive_existing:
        for other in list_versions(runs, name):
            if other.version != moved.version and other.stage == stage:
                update_version(runs, name, other.version, stage="Archived")
    return moved


def rename_model(runs: RunStore, name: str, new_name: str) -> RegisteredModel:
    """Give a registered model a new name: its versions (numbers, runs, tags, stages),
    aliases, description and tags move to ``new_name``; the old name is gone."""
    _require_model(runs, name)
    validate_model_name(new_name)
    if _model_refs(runs, new_name):
        raise ModelError(f"registered model {new_name!r} already exists")
    old_refs = _model_refs(runs, name)
    now = _now_ms()
    moved: dict[int, str] = {}
    versions = list_versions(runs, name)
    for mv in versions:
        what = f"model {name} version {mv.version}"
        data = _read_yaml(runs, mv.commit, VERSION_FILE, what) | {"name": new_name}
        message = f"model {new_name} version {mv.version} (renamed from {name})\n"
        commit = _commit(runs, {VERSION_FILE: fmt.dump_yaml(data)}, [mv.run_commit], message)
        runs.git.update_ref(_version_ref(new_name, mv.version), commit, None)
        moved[mv.version] = commit
    old_meta = old_refs.get(_meta_ref(name))
    meta = dict(_meta_from(runs, name, old_meta))
    meta |= {"name": new_name, "updated": now}
    meta.setdefault("created", min((v.created for v in versions), default=now))
    parents = [old_meta] if old_meta else []
    message = f"model {new_name}: renamed from {name}\n"
    commit = _commit(runs, {MODEL_FILE: fmt.dump_yaml(meta)}, parents, message)
    runs.git.update_ref(_meta_ref(new_name), commit, None)
    prefix = f"{_model_root(name)}aliases/"
    for ref, sha in old_refs.items():
        if not ref.startswith(prefix):
            continue
        component = ref[len(prefix) :]
        alias = decode_alias(component) or component  # a ref made by hand moves as it is
        data = _read_yaml(runs, sha, ALIAS_FILE, f"{name}@{alias}") | {"name": new_name}
        parents = [sha]
        if data.get("version") is not None and int(data["version"]) in moved:
            parents.append(moved[int(data["version"])])
        message = f"model {new_name}@{alias} (renamed from {name})\n"
        commit = _commit(runs, {ALIAS_FILE: fmt.dump_yaml(data)}, parents, message)
        runs.git.update_ref(f"{_model_root(new_name)}aliases/{component}", commit, None)
    removed = f"{_model_root(name)}removed/"
    for ref, sha in old_refs.items():
        if ref.startswith(removed):
            runs.git.update_ref(f"{_model_root(new_name)}removed/{ref[len(removed) :]}", sha, None)
    for ref, sha in old_refs.items():
        runs.git.delete_ref(ref, sha)
    return get_model(runs, new_name)
