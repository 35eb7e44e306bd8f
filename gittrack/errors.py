"""The one exception tree of gittrack.

Every condition a user can cause is a :class:`GittrackError` subclass whose message is a
single line naming the object and, where possible, the next step. The CLI prints that
line on stderr and exits with :attr:`GittrackError.exit_code`. This module imports
nothing from gittrack.
"""

from __future__ import annotations


class GittrackError(Exception):
    """Root of every error gittrack raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        # Messages are one line by contract: fold anything multi-line a caller passed.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class RepositoryError(GittrackError):
    """The tracking repository is missing, unreadable or not a git repository."""


class ValidationError(GittrackError):
    """A key, name or value given by the user is not acceptable."""


class ParamConflictError(ValidationError):
    """A param was logged again with a different value (params are immutable)."""


class RunNotFoundError(GittrackError):
    """No run matches a run reference."""


class AmbiguousRunError(GittrackError):
    """A run reference matches several runs (``candidates``: their run ids)."""

    def __init__(self, message: str, candidates: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.candidates = candidates


class ExperimentError(GittrackError):
    """An experiment cannot be created, changed or used as asked (exists, deleted, ...)."""


class ExperimentNotFoundError(ExperimentError):
    """No experiment has the given id."""


class RunStateError(GittrackError):
    """The operation does not fit the run's state (e.g. no active run to end)."""


class RunNotActiveError(RunStateError):
    """A deleted run's params, metrics, tags, name or status cannot change (MLflow's rule)."""


class CorruptRunError(GittrackError):
    """A run commit's files cannot be read (truncated, malformed or hostile content)."""


class ConcurrencyError(GittrackError):
    """A lock stayed held by another live process for longer than we wait."""


class StorageError(GittrackError):
    """Writing to the repository failed (disk full, permissions, ...)."""


class FilterSyntaxError(ValidationError):
    """A search filter or sort clause does not parse."""


class ArtifactError(GittrackError):
    """An artifact cannot be stored, found or restored."""


class ArtifactNotFoundError(ArtifactError):
    """The run has no artifact at that path, or its bytes are not available."""


class CorruptArtifactError(ArtifactError):
    """Stored artifact bytes do not match their recorded sha256."""


class UnsafePathError(ArtifactError):
    """A path would escape its destination (absolute, ``..``, or an escaping symlink)."""


class InputError(GittrackError):
    """A run input (file, directory or table) cannot be read, hashed, kept or restored."""


class RemoteError(GittrackError):
    """A remote is unreachable, refused the transfer or rejected credentials."""


class ReproduceError(GittrackError):
    """A run cannot be reproduced (missing command, environment refused, ...)."""


class CommandNotFoundError(GittrackError):
    """The command given to ``gittrack run`` does not exist or cannot be executed."""

    exit_code = 127


class ProjectError(ValidationError):
    """A project file (gittrack.yaml / MLproject) or its parameters are invalid."""


class ModelError(GittrackError):
    """A model cannot be saved, found, loaded or served."""


class ModelNotFoundError(ModelError):
    """No registered model, model version, alias or logged model has that name or id."""


class SignatureError(ModelError):
    """Model input does not match the model's signature."""


class MigrationError(GittrackError):
    """A store to import from or export to cannot be read or written (MLflow, Parquet)."""


class UnsafeSourceError(MigrationError):
    """An item of a store being imported is hostile (a symlink out of the store, an unsafe
    name, a YAML bomb): it is refused whole."""
