"""Artifact remotes: where large artifact objects are shared (``<remote>/sha256/<2>/<62>``).

A remote is a directory (a path or ``file://`` URL: a shared disk) or S3-compatible
storage (``s3://bucket/prefix``, boto3 from the optional extra ``gittrack[s3]``). It is
configured in git config ``gittrack.artifactRemote`` (and ``gittrack.s3EndpointUrl``);
``GITTRACK_ARTIFACT_REMOTE`` and ``GITTRACK_S3_ENDPOINT_URL`` override them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gittrack.artifacts.cas import ALGORITHM, CHUNK, discard, hash_file, hash_stream
from gittrack.errors import ArtifactError, ArtifactNotFoundError, CorruptArtifactError, RemoteError

if TYPE_CHECKING:
    from gittrack.artifacts.cas import ObjectCache
    from gittrack.runs import RunStore


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
        if not self.root.is_dir():
            raise RemoteError(f"artifact remote {self.url} is not a directory; create it first")
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


def configured_url(runs: RunStore) -> str | None:
    """The artifact remote URL from the environment or git config, or None."""
    env = os.environ.get("GITTRACK_ARTIFACT_REMOTE")
    if env:
        return env
    return runs.git.config_value("gittrack", "artifactRemote") or None


def open_remote(runs: RunStore, url: str | None = None) -> ArtifactRemote:
    """The remote at ``url`` (default: the configured one)."""
    url = url or configured_url(runs)
    if not url:
        raise ArtifactError(
            "no artifact remote is configured: run "
            "'git config gittrack.artifactRemote <path or s3://bucket/prefix>'"
        )
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise ArtifactError(f"artifact remote {url!r} names no bucket (s3://bucket/prefix)")
        endpoint = os.environ.get("GITTRACK_S3_ENDPOINT_URL") or runs.git.config_value(
            "gittrack", "s3EndpointUrl"
        )
        return S3Remote(bucket, prefix, url, endpoint or None)
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
