"""Artifact remotes: where large artifact objects are shared (``<remote>/sha256/<2>/<62>``).

A remote is a directory (a path or ``file://`` URL: a shared disk; created on first
upload) or S3-compatible storage (``s3://bucket/prefix``, boto3 from the optional extra
``gittrack[s3]``). Which one, first match wins: ``GITTRACK_ARTIFACT_REMOTE``, git config
``gittrack.artifactRemote``, the committed project file (``artifacts: {remote: URL}`` in
``gittrack.yaml``, so every clone finds it). The S3 endpoint likewise:
``GITTRACK_S3_ENDPOINT_URL``, ``gittrack.s3EndpointUrl``, ``artifacts: {endpoint_url:}``.

With none of these, a git remote that is a path or ``file://`` URL holds the objects
itself, in ``<its git dir>/gittrack/objects`` (the layout of the local cache), as
git-annex does for local remotes: ``gittrack push`` stores them there and reads in a
clone fetch them from there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gittrack.artifacts.cas import ALGORITHM, CHUNK, discard, hash_file, hash_stream
from gittrack.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    ProjectError,
    RemoteError,
)

if TYPE_CHECKING:
    from gittrack.artifacts.cas import ObjectCache
    from gittrack.project import ArtifactSettings
    from gittrack.runs import RunStore

HOW_TO_CONFIGURE = (
    "set one in gittrack.yaml (artifacts: {remote: s3://bucket/prefix or a path}) and "
    "commit it, or run 'git config gittrack.artifactRemote URL'"
)
NO_REMOTE = f"no artifact remote is configured: {HOW_TO_CONFIGURE}"


def object_key(sha256: str) -> str:
    """The key of an object below a remote's root."""
    return f"{ALGORITHM}/{sha256[:2]}/{sha256[2:]}"


class ArtifactRemote(Protocol):
    """What the transfer code needs from a remote."""

    url: str

    def missing(self, shas: Iterable[str]) -> list[str]:
        """The digests among ``shas`` the remote does not hold."""
        ...

    def upload(self, sha256: str, source: Path) -> None:
        """Store ``source`` (already verified) as object ``sha256``."""
        ...

    def fetch(self, sha256: str, cache: ObjectCache, what: str) -> int:
        """Copy object ``sha256`` into ``cache``, verifying it; return its size."""
        ...


class PathRemote:
    """A directory, e.g. on a shared disk."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url

    def _path(self, sha256: str) -> Path:
        return self.root / object_key(sha256)

    def missing(self, shas: Iterable[str]) -> list[str]:
        if self.root.exists() and not self.root.is_dir():
            raise RemoteError(f"artifact remote {self.url} is not a directory")
        return [sha for sha in shas if not self._path(sha).is_file()]

    def upload(self, sha256: str, source: Path) -> None:
        dest = self._path(sha256)
        tmp = dest.parent / f"tmp_{os.getpid()}_{os.urandom(6).hex()}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(source, "rb") as src, open(tmp, "wb") as out:
                sha, _ = hash_stream(src, out)
            if sha != sha256:
                discard(tmp)
                raise CorruptArtifactError(
                    f"local object {sha256[:12]} is corrupt; not uploaded to {self.url}"
                )
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        except OSError as e:
            discard(tmp)
            raise RemoteError(f"cannot write to artifact remote {self.url}: {e.strerror}") from e

    def fetch(self, sha256: str, cache: ObjectCache, what: str) -> int:
        path = self._path(sha256)
        try:
            with open(path, "rb") as f:
                return cache.add_stream(f, expected=sha256, what=f"{what} from {self.url}").size
        except FileNotFoundError as e:
            raise ArtifactNotFoundError(
                f"{what} (object {sha256[:12]}) is not on artifact remote {self.url}"
            ) from e
        except OSError as e:
            raise RemoteError(f"cannot read artifact remote {self.url}: {e.strerror}") from e


class S3Remote:
    """S3-compatible object storage through boto3 (imported on first use)."""

    def __init__(self, bucket: str, prefix: str, url: str, endpoint_url: str | None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = url
        self.endpoint_url = endpoint_url
        self._client: Any = None

    def _key(self, sha256: str) -> str:
        return f"{self.prefix}/{object_key(sha256)}" if self.prefix else object_key(sha256)

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError as e:
                raise ArtifactError(
                    f"artifact remote {self.url} needs boto3: pip install 'gittrack[s3]'"
                ) from e
            try:
                self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
            except Exception as e:  # botocore config errors (bad endpoint, region, ...)
                raise RemoteError(f"cannot set up S3 for {self.url}: {_first_line(e)}") from e
        return self._client

    def _error(self, e: Exception, action: str) -> RemoteError:
        return RemoteError(f"S3 {action} on {self.url} failed: {_first_line(e)}")

    def _existing(self) -> set[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self._key("0" * 64).rsplit("/", 2)[0] + "/"
        found: set[str] = set()
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    parts = str(item["Key"]).rsplit("/", 2)
                    if len(parts) == 3:
                        found.add(parts[1] + parts[2])
        except (BotoCoreError, ClientError) as e:
            raise self._error(e, "listing") from e
        return found

    def _has(self, sha256: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except ClientError as e:
            if str(e.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(e, "lookup") from e
        except BotoCoreError as e:
            raise self._error(e, "lookup") from e
        return True

    def missing(self, shas: Iterable[str]) -> list[str]:
        wanted = list(shas)
        if len(wanted) <= 20:  # a few HEADs beat listing a large bucket
            return [sha for sha in wanted if not self._has(sha)]
        existing = self._existing()
        return [sha for sha in wanted if sha not in existing]

    def upload(self, sha256: str, source: Path) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        if hash_file(source)[0] != sha256:  # never upload bytes that do not match their name
            raise CorruptArtifactError(
                f"local object {sha256[:12]} is corrupt; not uploaded to {self.url}"
            )
        config = TransferConfig(multipart_chunksize=8 * CHUNK, max_concurrency=4)
        try:
            self.client.upload_file(
                str(source),
                self.bucket,
                self._key(sha256),
                ExtraArgs={"Metadata": {"sha256": sha256}},
                Config=config,
            )
        except (BotoCoreError, ClientError) as e:
            raise self._error(e, f"upload of {sha256[:12]}") from e
        except Exception as e:  # s3transfer wraps failures in its own exception types
            raise self._error(e, f"upload of {sha256[:12]}") from e

    def fetch(self, sha256: str, cache: ObjectCache, what: str) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ArtifactNotFoundError(
                    f"{what} (object {sha256[:12]}) is not on artifact remote {self.url}"
                ) from e
            raise self._error(e, f"download of {sha256[:12]}") from e
        except BotoCoreError as e:
            raise self._error(e, f"download of {sha256[:12]}") from e
        body = response["Body"]
        try:
            return cache.add_stream(body, expected=sha256, what=f"{what} from {self.url}").size
        except (BotoCoreError, ClientError) as e:
            raise self._error(e, f"download of {sha256[:12]}") from e
        finally:
            body.close()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def project_settings(runs: RunStore) -> ArtifactSettings:
    """The ``artifacts`` section of the project file at the repository's root (in a bare
    repository: the one committed at HEAD)."""
    from gittrack.project import PROJECT_FILES, ArtifactSettings, parse_artifact_settings

    git = runs.git
    if git.work_tree is not None:
        for name in PROJECT_FILES:
            path = git.work_tree / name
            if path.is_file():
                try:
                    data = path.read_bytes()
                except OSError as e:
                    raise ProjectError(f"cannot read {path}: {e.strerror}") from e
                return parse_artifact_settings(data, name)
        return ArtifactSettings()
    head = git.head_commit()
    if head is not None:
        tree = git.read_commit(head).tree.decode("ascii")
        for name in PROJECT_FILES:
            found = git.lookup_path(tree, name)
            if found is not None:
                return parse_artifact_settings(git.read_blob(found[1]), name)
    return ArtifactSettings()


def configured_url(runs: RunStore) -> str | None:
    """The artifact remote URL from the environment, git config or the project file."""
    env = os.environ.get("GITTRACK_ARTIFACT_REMOTE")
    if env:
        return env
    return runs.git.config_value("gittrack", "artifactRemote") or project_settings(runs).remote


def _endpoint_url(runs: RunStore) -> str | None:
    return (
        os.environ.get("GITTRACK_S3_ENDPOINT_URL")
        or runs.git.config_value("gittrack", "s3EndpointUrl")
        or project_settings(runs).endpoint_url
    )


def open_remote(runs: RunStore, url: str | None = None) -> ArtifactRemote:
    """The remote at ``url`` (default: the configured one)."""
    url = url or configured_url(runs)
    if not url:
        raise ArtifactError(NO_REMOTE)
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise ArtifactError(f"artifact remote {url!r} names no bucket (s3://bucket/prefix)")
        return S3Remote(bucket, prefix, url, _endpoint_url(runs) or None)
    if url.startswith("file://"):
        path = Path(url[len("file://") :])
    elif "://" in url:
        scheme = url.split("://", 1)[0]
        raise ArtifactError(
            f"artifact remote {url!r}: scheme {scheme!r} is not supported (use a path or s3://)"
        )
    else:
        path = Path(url).expanduser()
    if not path.is_absolute():
        path = runs.root / path
    return PathRemote(path, url)


def git_remote_store(url: str) -> PathRemote | None:
    """The object store inside a git remote that is a path or ``file://`` URL
    (``<its git common dir>/gittrack/objects``); None for network remotes."""
    from gittrack.errors import RepositoryError
    from gittrack.store import GitStore
    from gittrack.store.transport import local_path

    path = local_path(url)
    if path is None:
        return None
    try:
        common = GitStore(path).common_dir
    except (RepositoryError, OSError):
        return None
    return PathRemote(common / "gittrack" / "objects", f"{url} (git remote)")


def push_target(runs: RunStore, git_remote: str | None = None) -> ArtifactRemote | None:
    """Where pushed objects go: the configured artifact remote, else the git remote
    (``git_remote``, default origin) when it is a path; None when neither can hold them."""
    if configured_url(runs):
        return open_remote(runs)
    if git_remote is None:
        git_remote = remote_urls(runs, push=True).get("origin")
    return None if git_remote is None else git_remote_store(git_remote)


def read_remotes(runs: RunStore) -> list[ArtifactRemote]:
    """Where missing objects are looked for, in order: the configured artifact remote,
    then every git remote that is a path (origin first)."""
    found: list[ArtifactRemote] = []
    if configured_url(runs):
        found.append(open_remote(runs))
    for url in remote_urls(runs).values():
        store = git_remote_store(url)
        if store is not None:
            found.append(store)
    return found


def remote_urls(runs: RunStore, *, push: bool = False) -> dict[str, str]:
    """The repository's git remotes by name (origin first), URLs as git reads them
    (``push``: where git pushes)."""
    from gittrack.store.transport import remote_urls as urls

    return urls(runs.git, push=push)


def fetch_object(remotes: list[ArtifactRemote], sha256: str, cache: ObjectCache, what: str) -> int:
    """Copy object ``sha256`` from the first remote that holds it; ArtifactNotFoundError
    (naming where it looked and what to do) when none does."""
    for remote in remotes:
        try:
            return remote.fetch(sha256, cache, what)
        except ArtifactNotFoundError:
            continue
    raise ArtifactNotFoundError(f"{what} (object {sha256[:12]}) {not_found_where(remotes)}")


def not_found_where(remotes: list[ArtifactRemote]) -> str:
    """The end of a "not found" message: where it was looked for and what to do."""
    if not remotes:
        return f"is not in the local artifact cache and {NO_REMOTE}"
    where = ", ".join(r.url for r in remotes)
    return (
        f"is neither in the local artifact cache nor on {where}; in the clone that logged "
        "it, run 'gittrack artifacts push'"
    )
