"""Recording what data went into a run: ``log_input`` builds an entry and stores it.

An entry (one per input name, in ``.gittrack/run/inputs.yaml``) holds the name, context,
kind (file, directory, table), source, digest, size and, for directories, the file count;
for tables the row count and schema. ``keep=True`` also copies the bytes into the local
content-addressed object cache (``<common dir>/gittrack/objects``) and marks the entry
``kept: true``; kept directories list each file in ``manifest`` so they can be restored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import InputError, ValidationError
from gittrack.format import MODE_LINK_TEXT
from gittrack.lineage.datasets import TABLE_SOURCE, Dataset
from gittrack.lineage.hashing import Digest

if TYPE_CHECKING:
    from gittrack.artifacts.cas import ObjectCache
    from gittrack.client import Client
    from gittrack.format import RunRecord
    from gittrack.lineage.cache import HashCache
    from gittrack.runs import RunStore

KINDS = ("file", "directory", "table")
# MLflow's limits of a dataset's schema and profile (characters)
_MAX_SCHEMA = 1_048_575
_MAX_PROFILE = 16_384


@dataclass(frozen=True)
class InputInfo:
    """One recorded input of a run (the entry of ``inputs.yaml``)."""

    name: str
    context: str | None
    kind: str
    source: str
    digest: str
    size: int
    files: int | None = None
    rows: int | None = None
    schema: dict[str, str] = field(default_factory=dict)
    kept: bool = False

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> InputInfo:
        return cls(
            name=str(entry.get("name", "")),
            context=None if entry.get("context") is None else str(entry["context"]),
            kind=str(entry.get("kind", "")),
            source=str(entry.get("source", "")),
            digest=str(entry.get("digest", "")),
            size=int(entry.get("size") or 0),
            files=None if entry.get("files") is None else int(entry["files"]),
            rows=None if entry.get("rows") is None else int(entry["rows"]),
            schema=dict(entry.get("schema") or {}),
            kept=bool(entry.get("kept", False)),
        )


def hash_cache_for(runs: RunStore) -> HashCache:
    """The hash cache of a tracking repository."""
    from gittrack.lineage.cache import HashCache, cache_path

    return HashCache(cache_path(runs.git.common_dir))


def object_cache_for(common_dir: Path) -> ObjectCache:
    """The local artifact object cache (``<common dir>/gittrack/objects``)."""
    from gittrack.artifacts.cas import ObjectCache

    return ObjectCache(common_dir / "gittrack" / "objects")


def source_text(path: Path, work_tree: Path | None) -> str:
    """The path relative to the repository's work tree (POSIX) when inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    if work_tree is not None:
        for base in (Path(os.path.abspath(work_tree)), work_tree.resolve()):
            try:
                rel = absolute.relative_to(base)
            except ValueError:
                continue
            return rel.as_posix() if rel.parts else "."
    return absolute.as_posix()


def _check_name(name: object, default: str | None) -> str:
    from gittrack.validation import validate_key

    if name is None:
        if not default:
            raise ValidationError("a table input needs a name, e.g. log_input(df, name='features')")
        name = default
    return validate_key(name, "input")


def _check_context(context: object) -> str | None:
    from gittrack.validation import validate_name

    return None if context is None else validate_name(context, "input context")


def build_entry(
    runs: RunStore,
    source: Any,
    *,
    name: str | None = None,
    context: str | None = None,
    keep: bool = False,
    cache: HashCache | None = None,
) -> dict[str, Any]:
    """Hash ``source`` (path, pyarrow Table, pandas DataFrame or a
    :class:`~gittrack.lineage.datasets.Dataset`) and build its entry."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        default = Path(os.path.abspath(path)).name
        entry_name = _check_name(name, default)
        entry_context = _check_context(context)
        own_cache = cache is None
        hc = hash_cache_for(runs) if cache is None else cache
        try:
            from gittrack.lineage.hashing import hash_path

            digest = hash_path(path, hc)
        finally:
            if own_cache:
                hc.close()
        entry: dict[str, Any] = {
            "name": entry_name,
            "context": entry_context,
            "kind": digest.kind,
            "source": source_text(path, runs.git.work_tree),
            "digest": digest.digest,
            "size": digest.size,
        }
        if digest.kind == "directory":
            entry["files"] = len(digest.files)
        if keep:
            _keep_path(runs, path, digest, entry)
        return entry
    if isinstance(source, Dataset):
        return _table_entry(
            runs,
            source.table,
            name=name or source.name,
            context=context,
            keep=keep,
            source_text=source.source,
        )
    if isinstance(source, bytes):
        raise InputError(
            "cannot log bytes as an input (give a file or directory path, a pyarrow Table "
            "or a pandas DataFrame)"
        )
    return _table_entry(runs, source, name=name, context=context, keep=keep)


def _table_entry(
    runs: RunStore,
    source: Any,
    *,
    name: str | None,
    context: str | None,
    keep: bool,
    source_text: str = TABLE_SOURCE,
) -> dict[str, Any]:
    from gittrack.lineage.hashing import as_arrow_table, hash_table, table_schema

    table = as_arrow_table(source)
    entry_name = _check_name(name, None)
    entry_context = _check_context(context)
    digest, size = hash_table(table)
    entry: dict[str, Any] = {
        "name": entry_name,
        "context": entry_context,
        "kind": "table",
        "source": source_text,
        "digest": digest,
        "size": size,
        "rows": table.num_rows,
        "schema": table_schema(table),
    }
    if keep:
        _keep_table(runs, table, digest)
        entry["kept"] = True
    return entry


# -- keeping bytes ------------------------------------------------------------------------
def _keep_object(objects: ObjectCache, path: str, sha: str) -> None:
    """Copy one file into the object cache unless its object is already there."""
    from gittrack.errors import ArtifactError

    if objects.has(sha):
        objects.touch(sha)
        return
    try:
        with open(path, "rb") as f:
            objects.add_stream(f, expected=sha, what=f"input {path}")
    except OSError as e:
        raise InputError(f"input {path!r} cannot be read to keep it ({e.strerror})") from e
    except ArtifactError as e:
        raise InputError(f"input {path!r} cannot be kept: {e.message}") from e


def _keep_path(runs: RunStore, path: Path, digest: Digest, entry: dict[str, Any]) -> None:
    objects = object_cache_for(runs.git.common_dir)
    if digest.kind == "file":
        _keep_object(objects, os.path.abspath(path), digest.digest.removeprefix("sha256:"))
    else:
        manifest: list[dict[str, Any]] = []
        top = os.path.abspath(path)
        for item in digest.files:
            if item.mode == MODE_LINK_TEXT:
                manifest.append({"path": item.path, "mode": item.mode, "link": item.link})
                continue
            _keep_object(objects, os.path.join(top, *item.path.split("/")), item.sha256)
            manifest.append(
                {"path": item.path, "mode": item.mode, "sha256": item.sha256, "size": item.size}
            )
        entry["kept"] = True
        entry["manifest"] = manifest
        return
    entry["kept"] = True


def _keep_table(runs: RunStore, table: Any, digest: str) -> None:
    import tempfile

    from gittrack.errors import ArtifactError
    from gittrack.lineage.hashing import write_table_stream

    objects = object_cache_for(runs.git.common_dir)
    sha = digest.removeprefix("sha256:")
    if objects.has(sha):
        objects.touch(sha)
        return
    try:
        objects.tmp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=objects.tmp_dir) as tmp:
            write_table_stream(table, tmp)
            tmp.seek(0)
            objects.add_stream(tmp, expected=sha, what="table input")
    except OSError as e:
        raise InputError(f"cannot keep the table input: {e.strerror or e}") from e
    except ArtifactError as e:
        raise InputError(f"cannot keep the table input: {e.message}") from e


# -- recording ----------------------------------------------------------------------------
def replace_input_op(entry: dict[str, Any]) -> Any:
    """An operation for ``RunWriter.apply``: put ``entry``, replacing one of the same name."""

    def op(record: RunRecord) -> None:
        inputs = list(record.inputs)
        for i, old in enumerate(inputs):
            if isinstance(old, dict) and old.get("name") == entry["name"]:
                inputs[i] = dict(entry)
                break
        else:
            inputs.append(dict(entry))
        record.inputs = inputs

    return op


def record_input(
    client: Client,
    run_id: str,
    source: Any,
    *,
    name: str | None = None,
    context: str | None = None,
    keep: bool = False,
) -> InputInfo:
    """Hash ``source`` and record it as an input of run ``run_id`` (a full run id)."""
    writer = client.writable(run_id)  # before hashing: a deleted run takes no input
    entry = build_entry(client.store, source, name=name, context=context, keep=keep)
    writer.apply(replace_input_op(entry))
    return InputInfo.from_entry(entry)


def record_dataset(
    client: Client,
    run_id: str,
    *,
    name: str,
    digest: str,
    source: str,
    source_type: str = "",
    context: str | None = None,
    schema: str = "",
    profile: str = "",
    tags: Mapping[str, str] | None = None,
) -> InputInfo:
    """Record a dataset its producer already digested (e.g. an MLflow client's
    ``log_input``) as an input of run ``run_id``: kind ``dataset``, nothing hashed here.

    ``name`` is free text (an MLflow dataset's name), ``schema`` and ``profile`` are kept
    as the producer wrote them (MLflow: JSON text), ``tags`` (other than the context) as
    ``input_tags``, JSON text."""
    from gittrack.validation import MAX_TAG_LENGTH, check_text, validate_name

    texts = {"digest": digest, "source": source, "source type": source_type}
    texts.update(schema=schema, profile=profile)
    texts.update({f"tag {k!r}": f"{k}{v}" for k, v in (tags or {}).items()})
    for what, text in texts.items():  # a lone surrogate would make inputs.yaml unreadable
        check_text(text, f"dataset {name!r}: {what}")
    if not digest or len(digest) > 256 or len(source) > MAX_TAG_LENGTH:
        raise ValidationError(f"dataset {name!r} needs a digest (<= 256) and a short source")
    if len(schema) > _MAX_SCHEMA or len(profile) > _MAX_PROFILE:
        raise ValidationError(
            f"dataset {name!r}: schema (at most {_MAX_SCHEMA} characters) or profile "
            f"(at most {_MAX_PROFILE}) too long"
        )
    entry: dict[str, Any] = {
        "name": validate_name(name, "dataset"),
        "context": _check_context(context),
        "kind": "dataset",
        "source": source,
        "digest": digest,
        "size": 0,
        "source_type": source_type,
    }
    if schema:
        entry["dataset_schema"] = schema
    if profile:
        entry["profile"] = profile
    if tags:
        entry["input_tags"] = json.dumps(dict(tags), ensure_ascii=False, sort_keys=True)
    client.writable(run_id).apply(replace_input_op(entry))
    return InputInfo.from_entry(entry)
