"""Using recorded inputs: compare two runs, check inputs before a reproduction, restore
kept inputs, and find the runs that consumed given bytes."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from gittrack.errors import InputError
from gittrack.format import MODE_EXEC_TEXT, MODE_LINK_TEXT

if TYPE_CHECKING:
    from gittrack.artifacts.cas import ObjectCache
    from gittrack.format import RunRecord
    from gittrack.lineage.cache import HashCache
    from gittrack.runs import RunStore

log = logging.getLogger("gittrack")


# What the tools API takes: a run record, or the input entries get_inputs() returns.
Inputs: TypeAlias = "RunRecord | Sequence[dict[str, Any]]"
PathLike: TypeAlias = "str | os.PathLike[str]"


def _entries(record: Inputs) -> list[dict[str, Any]]:
    inputs = record if isinstance(record, Sequence) else record.inputs
    return [e for e in inputs if isinstance(e, dict) and e.get("name")]


def get_inputs(run: str, *, repo: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The recorded input entries of a run (id or unique prefix, commit prefix or name)."""
    from gittrack.client import Client

    client = Client(repo, create=False)
    run_id = client.resolve(run)
    client.flush(run_id)
    return list(client.store.load(run_id).record.inputs)


def diff_inputs(
    record_a: RunRecord | Sequence[dict[str, Any]], record_b: RunRecord | Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Compare inputs by name: ``[{name, change: added|removed|changed|same, digest_a,
    digest_b}]``, names of run A first (in its order), then names only B has.

    Takes run records or lists of input entries (:func:`get_inputs`)."""
    a = {str(e["name"]): e for e in _entries(record_a)}
    b = {str(e["name"]): e for e in _entries(record_b)}
    out: list[dict[str, Any]] = []
    for name in [*a, *(n for n in b if n not in a)]:
        da = a[name].get("digest") if name in a else None
        db = b[name].get("digest") if name in b else None
        if name not in b:
            change = "removed"
        elif name not in a:
            change = "added"
        else:
            change = "same" if da == db else "changed"
        out.append({"name": name, "change": change, "digest_a": da, "digest_b": db})
    return out


# -- repositories -------------------------------------------------------------------------
def _common_dir(repo: Path | None) -> Path | None:
    """The git common dir of the repository at or above ``repo`` (None outside git)."""
    from gittrack.store.repo import common_dir_of, find_repository_root

    if repo is None:
        return None
    root = find_repository_root(repo)
    if root is None:
        return None
    try:
        return common_dir_of(root)
    except Exception:  # an odd .git file: hashing goes on without the cache
        return None


def _caches(repo: Path | None) -> tuple[HashCache, ObjectCache | None]:
    from gittrack.lineage.cache import HashCache, cache_path
    from gittrack.lineage.inputs import object_cache_for

    common = _common_dir(repo)
    if common is None:
        return HashCache(None), None
    return HashCache(cache_path(common)), object_cache_for(common)


def kept_entry_objects(entry: dict[str, Any]) -> list[str]:
    """The object-cache digests a kept input needs (empty when not kept)."""
    if not entry.get("kept"):
        return []
    if entry.get("kind") == "directory":
        return [
            str(f["sha256"])
            for f in entry.get("manifest") or []
            if isinstance(f, dict) and f.get("mode") != MODE_LINK_TEXT and f.get("sha256")
        ]
    return [str(entry.get("digest", "")).removeprefix("sha256:")]


def kept_objects(record: Inputs) -> set[str]:
    """Every sha256 object a run's kept inputs need (for syncing artifact stores)."""
    return {sha for entry in _entries(record) for sha in kept_entry_objects(entry)}


def kept_objects_at(runs: RunStore, commit: str) -> set[str]:
    """The kept-input objects of the run stored at ``commit`` (reads only inputs.yaml).

    For artifact gc (keep them) and push/pull (move them) alongside artifact objects.
    """
    from gittrack import format as fmt

    tree = runs.git.read_commit(commit).tree.decode("ascii")
    found = runs.git.lookup_path(tree, f"{fmt.RUN_DIR}/{fmt.INPUTS_FILE}")
    if found is None:
        return set()
    return kept_objects_in(runs.git.read_blob(found[1]), f"run commit {commit[:12]}")


def kept_objects_in(text: bytes, what: str) -> set[str]:
    """The kept-input objects named by the bytes of an inputs.yaml."""
    from gittrack import format as fmt
    from gittrack.artifacts.cas import is_sha256
    from gittrack.errors import CorruptRunError

    what = f"{what}: {fmt.INPUTS_FILE}"
    data = fmt.load_yaml(text, what)
    if not isinstance(data, list):
        raise CorruptRunError(f"{what} should hold a list")
    return {
        sha for e in data if isinstance(e, dict) for sha in kept_entry_objects(e) if is_sha256(sha)
    }


def _restorable(entry: dict[str, Any], objects: ObjectCache | None) -> bool:
    shas = kept_entry_objects(entry)
    if objects is None or not shas:
        return False
    try:
        return all(objects.has(sha) for sha in shas)
    except Exception:  # a malformed digest in a pulled record: not restorable
        return False


# -- checking -----------------------------------------------------------------------------
def _locate(source: str, workdir: Path, repo_root: Path) -> Path | None:
    path = Path(source)
    if path.is_absolute():
        return path if os.path.lexists(path) else None
    for base in (repo_root, workdir):
        candidate = base / path
        if os.path.lexists(candidate):
            return candidate
    return None


def check_inputs(record: Inputs, workdir: PathLike, repo_root: PathLike) -> list[str]:
    """Human-readable problems with a run's recorded inputs (empty: all match).

    Relative sources are looked up in ``repo_root`` (the user's repository), then in
    ``workdir``. Kept inputs whose bytes are all in the object cache pass (they can be
    restored with :func:`restore_kept_inputs`); tables are never a problem here: they
    come from memory, so :func:`unchecked_inputs` lists them instead.
    """
    from gittrack.lineage.hashing import hash_path, short

    workdir, repo_root = Path(workdir), Path(repo_root)
    cache, objects = _caches(repo_root)
    problems: list[str] = []
    try:
        for entry in _entries(record):
            name, kind = str(entry["name"]), str(entry.get("kind", ""))
            source, recorded = str(entry.get("source", "")), str(entry.get("digest", ""))
            if kind == "table" or (entry.get("kept") and _restorable(entry, objects)):
                continue
            path = _locate(source, workdir, repo_root)
            if path is None:
                problems.append(f"input {name!r} is missing: {source} not found")
                continue
            try:
                now = hash_path(path, cache)
            except InputError as e:
                problems.append(f"input {name!r}: {e.message}")
                continue
            if now.kind != kind:
                problems.append(f"input {name!r} was a {kind}, {source} is now a {now.kind}")
            elif now.digest != recorded:
                problems.append(
                    f"input {name!r} changed: {source} is {short(now.digest)}, "
                    f"the run used {short(recorded)}"
                )
    finally:
        cache.close()
    return problems


def unchecked_inputs(record: Inputs) -> list[str]:
    """Inputs that cannot be checked before a reproduction: tables logged from memory.

    Not a problem (nothing is known to differ): the reproduction logs them again and
    their digests can be compared then (``gittrack diff``).
    """
    return [
        f"input {str(e['name'])!r} is a table logged from memory: not checkable before the run"
        for e in _entries(record)
        if e.get("kind") == "table"
    ]


# -- restoring ----------------------------------------------------------------------------
def _copy_object(objects: ObjectCache, sha: str, dest: Path, executable: bool) -> None:
    """Copy object ``sha`` to ``dest`` atomically, verifying its hash on the way."""
    from gittrack.artifacts.cas import hash_stream

    if dest.is_file() and not dest.is_symlink():
        from gittrack.lineage.hashing import hash_file

        try:
            if hash_file(dest).digest == f"sha256:{sha}":
                return
        except InputError:
            pass
    tmp = dest.with_name(f".{dest.name}.gittrack-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        with open(objects.path_for(sha), "rb") as src, open(tmp, "xb") as out:
            got, _ = hash_stream(src, out)
        if got != sha:
            raise InputError(
                f"kept input bytes for {dest} are corrupt in the artifact cache "
                f"(sha256 {got[:12]}, expected {sha[:12]}); delete {objects.path_for(sha)}"
            )
        os.chmod(tmp, 0o755 if executable else 0o644)
        os.replace(tmp, dest)
    except FileNotFoundError as e:
        tmp.unlink(missing_ok=True)
        if e.filename != str(objects.path_for(sha)):  # the destination's folder is gone
            raise InputError(f"cannot restore kept input {dest}: {e.strerror or e}") from e
        raise InputError(
            f"kept input bytes {sha[:12]} for {dest} are not in the artifact cache "
            "(pull them from the artifact remote)"
        ) from e
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot restore kept input {dest}: {e.strerror or e}") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _restore_link(dest: Path, target: str, base: Path) -> None:
    from gittrack.artifacts.paths import inside
    from gittrack.errors import UnsafePathError

    if os.path.isabs(target) or not inside(dest.parent / target, base):
        raise UnsafePathError(
            f"kept input symlink {dest} -> {target!r} leads outside {base}; refusing it"
        )
    if os.path.lexists(dest):
        if dest.is_symlink() and os.readlink(dest) == target:
            return
        dest.unlink()
    os.symlink(target, dest)


def restore_kept_inputs(
    record: Inputs, dest_root: PathLike, *, repo: PathLike | None = None
) -> list[str]:
    """Write every kept file/directory input into ``dest_root`` at its recorded relative
    path, verifying each file's sha256; return the restored sources.

    Objects come from the artifact cache of ``repo`` (default: the repository enclosing
    ``dest_root``, else the tracking repository). Inputs with absolute sources and tables
    are not restored (logged). Files already there with the right bytes are left alone;
    other files in a restored directory are not deleted.
    """
    from gittrack.artifacts.paths import clean_path, safe_target

    kept = [e for e in _entries(record) if e.get("kept") and e.get("kind") != "table"]
    if not kept:
        return []
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    repo = Path(repo) if repo is not None else None
    if repo is None and _common_dir(dest_root) is None:
        from gittrack.config import find_tracking_root

        repo = find_tracking_root(None, create=False)
    common = _common_dir(repo if repo is not None else dest_root)
    if common is None:
        raise InputError(f"no git repository at {repo or dest_root} holds the kept inputs")
    from gittrack.lineage.inputs import object_cache_for

    objects = object_cache_for(common)
    restored: list[str] = []
    for entry in kept:
        name, source = str(entry["name"]), str(entry.get("source", ""))
        if os.path.isabs(source):
            log.warning(
                "gittrack: kept input %r has an absolute source %s; not restored", name, source
            )
            continue
        rel = clean_path(source, f"kept input {name!r} source")
        if entry.get("kind") == "file":
            sha = str(entry.get("digest", "")).removeprefix("sha256:")
            _copy_object(objects, sha, safe_target(dest_root, rel), False)
        else:
            base = dest_root / rel
            base.mkdir(parents=True, exist_ok=True)
            for f in entry.get("manifest") or []:
                sub = clean_path(str(f.get("path", "")), f"kept input {name!r} file")
                target = safe_target(dest_root, f"{rel}/{sub}")
                if f.get("mode") == MODE_LINK_TEXT:
                    _restore_link(target, str(f.get("link", "")), base)
                else:
                    executable = f.get("mode") == MODE_EXEC_TEXT
                    _copy_object(objects, str(f.get("sha256", "")), target, executable)
        restored.append(rel)
    return restored


# -- finding runs -------------------------------------------------------------------------
def runs_using(
    path: str | os.PathLike[str], *, repo: str | os.PathLike[str] | None = None
) -> list[dict[str, Any]]:
    """Every run with an input whose digest equals that of ``path`` (file or directory).

    Rows: run_id, name, experiment, status, start_time, input, context, digest, commit.
    Newest runs first.
    """
    from gittrack.lineage.inputs import hash_cache_for
    from gittrack.session import open_repository

    runs = open_repository(repo, create=False)
    cache = hash_cache_for(runs)
    try:
        from gittrack.lineage.hashing import hash_path

        digest = hash_path(path, cache).digest
    finally:
        cache.close()
    out: list[dict[str, Any]] = []
    for row in _rows(runs):
        for input_name, data in (row.get("inputs") or {}).items():
            if isinstance(data, dict) and data.get("digest") == digest:
                out.append(
                    {
                        "run_id": row["run_id"],
                        "name": row.get("name", ""),
                        "experiment": row.get("experiment", ""),
                        "status": row.get("status", ""),
                        "start_time": row.get("start_time"),
                        "input": input_name,
                        "context": data.get("context"),
                        "digest": digest,
                        "commit": row.get("commit", ""),
                    }
                )
    out.sort(key=lambda r: (-(r["start_time"] or 0), r["run_id"], r["input"]))
    return out


def _rows(runs: RunStore) -> list[dict[str, Any]]:
    """Filterable rows of every run, through the local index."""
    from gittrack.session import open_index

    with open_index(runs.root) as index:
        return index.rows()
