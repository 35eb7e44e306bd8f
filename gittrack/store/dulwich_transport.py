"""The fallback engine: dulwich's low-level client (``send_pack`` / ``fetch``) and bundles.

Used when C git is not installed or ``GITTRACK_TRANSPORT=dulwich``; same contract as the
C git functions of :mod:`gittrack.store.transport`. (``porcelain.push`` fails on wildcard
refspecs of custom refs and ``porcelain.fetch`` creates no custom refs, so neither is used.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from gittrack.errors import RemoteError
from gittrack.store.repo import GitStore
from gittrack.store.transport import (
    NAMESPACE,
    Progress,
    RefUpdate,
    Remote,
    _short,
    forget_gone,
    redact,
    set_refs,
)


def _client(store: GitStore, remote: Remote) -> tuple[Any, str]:
    from dulwich.client import get_transport_and_path

    try:
        return get_transport_and_path(remote.url)
    except Exception as e:  # malformed URL, unsupported scheme
        raise RemoteError(f"cannot use remote {remote.display}: {redact(str(e))}") from e


def _close(client: Any) -> None:
    """Close a dulwich client; collect the sockets it leaves behind on some paths."""
    import gc
    import warnings

    client.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _error(remote: Remote, what: str, e: Exception) -> RemoteError:
    from dulwich.client import HTTPUnauthorized

    if isinstance(e, HTTPUnauthorized):
        return RemoteError(
            f"{what} {remote.display}: authentication failed (check the credentials in the URL)"
        )
    text = redact(" ".join(str(e).split())) or type(e).__name__
    if "refused" in text.lower() or isinstance(e, (ConnectionError, TimeoutError)):
        return RemoteError(f"{what} {remote.display}: remote unreachable ({_short(text, 80)})")
    if "not a git repository" in text.lower() or isinstance(e, FileNotFoundError):
        return RemoteError(f"{what} {remote.display} failed: no git repository there")
    return RemoteError(f"{what} {remote.display} failed: {_short(text)}")


def push(
    store: GitStore, remote: Remote, refs: list[str] | None, progress: Progress | None
) -> list[RefUpdate]:
    client, path = _client(store, remote)
    local = store.list_refs(NAMESPACE)
    chosen = local if refs is None else {r: local[r] for r in refs if r in local}
    tracking = store.list_refs(remote.tracking_prefix)
    results: dict[str, RefUpdate] = {}

    def update_refs(remote_refs: dict[bytes, bytes]) -> dict[bytes, bytes]:
        new = dict(remote_refs)
        for ref, sha in chosen.items():
            have = remote_refs.get(ref.encode())
            theirs = have.decode() if have else None
            if theirs == sha:
                results[ref] = RefUpdate(ref, "uptodate")
            elif theirs is None or theirs == tracking.get(remote.tracking_ref(ref)):
                # (absent there: creating it overwrites nothing, whatever we saw before)
                new[ref.encode()] = sha.encode()
                results[ref] = RefUpdate(ref, "new" if theirs is None else "updated")
            else:
                results[ref] = RefUpdate(ref, "rejected", "stale info")
        return new

    try:
        result = client.send_pack(
            path,
            update_refs,
            generate_pack_data=store.dulwich.object_store.generate_pack_data,
            progress=progress,
        )
    except Exception as e:
        raise _error(remote, "push to", e) from e
    finally:
        _close(client)
    for ref, error in (result.ref_status or {}).items():
        name = ref.decode()
        if error is not None and name in results:
            results[name] = RefUpdate(name, "rejected", str(error))
    set_refs(
        store,
        {
            remote.tracking_ref(u.ref): chosen[u.ref]
            for u in results.values()
            if u.status != "rejected"
        },
    )
    return list(results.values())


def fetch(store: GitStore, remote: Remote, progress: Progress | None) -> dict[str, str]:
    client, path = _client(store, remote)
    repo = store.dulwich
    objects: Any = repo.object_store

    def wants(refs: dict[bytes, bytes], depth: int | None = None) -> list[bytes]:
        return [
            sha
            for ref, sha in refs.items()
            if ref.startswith(NAMESPACE.encode()) and sha not in objects
        ]

    try:
        result = client.fetch(
            path, repo, determine_wants=wants, progress=progress, ref_prefix=[NAMESPACE.encode()]
        )
    except Exception as e:
        raise _error(remote, "fetch from", e) from e
    finally:
        _close(client)
    theirs = {
        ref.decode(): sha.decode()
        for ref, sha in result.refs.items()
        if sha and ref.startswith(NAMESPACE.encode()) and not ref.endswith(b"^{}")
    }
    forget_gone(store, remote, theirs)
    set_refs(store, {remote.tracking_ref(r): s for r, s in theirs.items()})
    return theirs


def bundle_create(store: GitStore, tmp: Path, path: Path, names: list[str]) -> None:
    """Write the bundle into ``tmp`` (the caller renames it to ``path``)."""
    from dulwich.bundle import create_bundle_from_repo, write_bundle

    try:
        bundle = create_bundle_from_repo(store.dulwich, [cast(Any, n.encode()) for n in names])
        with bundle, open(tmp, "wb") as f:
            write_bundle(f, bundle)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RemoteError(f"cannot write bundle {path}: {e.strerror}") from e


def bundle_import(store: GitStore, path: Path) -> dict[str, str]:
    """Store a bundle's objects; return its ``refs/gittrack/*`` refs."""
    from dulwich.bundle import read_bundle

    try:
        with open(path, "rb") as f, read_bundle(f) as bundle:
            if bundle.prerequisites:
                raise RemoteError(f"bundle {path} needs commits this repository lacks")
            data = bundle.pack_data
            if data is not None:
                store.dulwich.object_store.add_pack_data(len(data), data.iter_unpacked())
            return {
                r.decode(): s.decode()
                for r, s in bundle.references.items()
                if r.startswith(NAMESPACE.encode())
            }
    except (OSError, ValueError, AssertionError) as e:
        raise RemoteError(f"cannot read bundle {path}: not a git bundle") from e
