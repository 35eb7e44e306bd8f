"""Reading an MLflow file store (``mlruns/``) without the ``mlflow`` package.

Layout (as MLflow's ``FileStore`` writes it): ``<root>/<experiment id>/meta.yaml`` and
``tags/<key>``; deleted experiments under ``<root>/.trash/``; each run in
``<experiment>/<run id>/`` with ``meta.yaml`` (status as MLflow's integer enum),
``params/<key>`` and ``tags/<key>`` (the file holds the value), ``metrics/<key>`` with one
``"<timestamp ms> <value> <step>"`` line per point (two fields: step 0; five: a dataset
name and digest follow), keys with ``/`` as nested folders, ``inputs/<id>/meta.yaml``
naming a dataset of ``<experiment>/datasets/<id>/meta.yaml``, and ``artifacts/``.

The store is treated as untrusted: YAML goes through gittrack's safe loader (aliases and
oversized files refused), symlinks leading out of the store and unsafe artifact names
refuse the run, and artifacts are read only from the run's own ``artifacts/`` folder
inside the store, never from the ``artifact_uri`` a meta.yaml names.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gittrack import format as fmt
from gittrack.artifacts.paths import clean_path, inside
from gittrack.errors import GittrackError, MigrationError, UnsafeSourceError
from gittrack.migrate.locations import file_uri_path
from gittrack.migrate.source import (
    DELETED_VERSION_STAGE,
    MODEL_ID_RE,
    MODEL_STATUS_BY_NUMBER,
    RUN_ID_RE,
    STATUS_BY_NUMBER,
    SourceExperiment,
    SourceLoggedModel,
    SourceRegisteredModel,
    SourceRun,
    SourceVersion,
    dataset_input,
    epoch_ms,
)
from gittrack.validation import validate_key
from gittrack.writer import MetricHistory

TRASH = ".trash"
META = "meta.yaml"
RESERVED_EXPERIMENT_FOLDERS = ("tags", "datasets", "traces", "models")
MAX_META_BYTES = 1 << 20
MAX_VALUE_BYTES = 1 << 20
REGISTRY = "models"
_count_spaces = operator.methodcaller("count", b" ")


class FileStoreReader:
    """The experiments and runs of one MLflow file store directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(file_uri_path(os.fspath(root))).expanduser()
        if not path.is_dir():
            raise MigrationError(f"MLflow store {str(root)!r} is not a directory")
        self.root = path
        self.real_root = os.path.realpath(path)
        self._models: dict[str, dict[str, list[SourceLoggedModel]]] = {}
        self.problems: list[tuple[str, str]] = []  # items outside runs that were skipped
        if not (path / "0" / META).is_file() and not any(
            (entry / META).is_file() for entry in self._subdirs(path)
        ):
            raise MigrationError(
                f"{path} is not an MLflow file store (no <experiment>/meta.yaml inside)"
            )

    def close(self) -> None:
        """Nothing to release (files are opened per read)."""

    # -- walking ------------------------------------------------------------------------
    def _subdirs(self, path: Path) -> list[Path]:
        try:
            with os.scandir(path) as it:
                return sorted(Path(e.path) for e in it if e.is_dir(follow_symlinks=False))
        except OSError:
            return []

    def _check_inside(self, path: Path, what: str) -> None:
        if not inside(path, self.real_root):
            raise UnsafeSourceError(f"{what} is a symlink leading out of the store: refused")

    def experiments(self, *, deleted: bool = True) -> list[SourceExperiment]:
        """Every experiment (active first, then deleted ones from ``.trash``)."""
        found: list[SourceExperiment] = []
        folders = [(p, False) for p in self._subdirs(self.root) if p.name != TRASH]
        if deleted:
            folders += [(p, True) for p in self._subdirs(self.root / TRASH)]
        for folder, trashed in folders:
            if not (folder / META).exists():
                continue  # e.g. MLflow's registry folder "models"
            found.append(self._experiment(folder, trashed))
        return found

    def experiment_dir(self, experiment: SourceExperiment) -> Path:
        path = self.root / experiment.experiment_id
        if experiment.lifecycle_stage == "deleted" or not path.is_dir():
            path = self.root / TRASH / experiment.experiment_id
        return path

    def _experiment(self, folder: Path, trashed: bool) -> SourceExperiment:
        what = f"experiment folder {folder.name}"
        try:
            meta = self._meta(folder, what)
            exp_id = str(meta.get("experiment_id", ""))
            if exp_id != folder.name:
                raise MigrationError(f"{what}: meta.yaml names experiment {exp_id!r}")
            name = meta.get("name")
            if not isinstance(name, str) or not name.strip():
                raise MigrationError(f"{what}: meta.yaml has no experiment name")
            stage = "deleted" if trashed else str(meta.get("lifecycle_stage") or "active")
            tags, _ = self._values(folder / "tags", f"{what}: tag", "tag")
            created = meta.get("creation_time")
            return SourceExperiment(
                exp_id, name, stage, tags, created if isinstance(created, int) else None
            )
        except MigrationError:
            raise
        except GittrackError as e:
            raise MigrationError(f"{what}: {e.message}") from e

    def run_items(self, experiment: SourceExperiment) -> list[Path]:
        """The run folders of an experiment (every subfolder that is not reserved)."""
        return [
            p
            for p in self._subdirs(self.experiment_dir(experiment))
            if p.name not in RESERVED_EXPERIMENT_FOLDERS
        ]

    # -- files ----------------------------------------------------------------------------
    def _read(self, path: Path, limit: int | None, what: str) -> bytes:
        if path.is_symlink():
            self._check_inside(path, what)
        try:
            with open(path, "rb") as f:
                data = f.read() if limit is None else f.read(limit + 1)
        except OSError as e:
            raise MigrationError(f"{what} cannot be read: {e.strerror or e}") from e
        if limit is not None and len(data) > limit:
            raise MigrationError(f"{what} is larger than {limit // 1024} KiB")
        return data

    def _meta(self, folder: Path, what: str) -> dict[str, Any]:
        path = folder / META
        if not path.exists() and not path.is_symlink():
            raise MigrationError(f"{what} has no meta.yaml")
        data = fmt.load_yaml(self._read(path, MAX_META_BYTES, f"{what}/meta.yaml"), what)
        if not isinstance(data, dict):
            raise MigrationError(f"{what}: meta.yaml does not hold a mapping")
        return data

    def _files(self, top: Path, what: str) -> Iterator[tuple[str, Path]]:
        return files_below(top, self.real_root, what)

    def _values(self, top: Path, what: str, kind: str) -> tuple[dict[str, str], list[str]]:
        """Param or tag files below ``top`` as ``{key: text}``, plus skipped items."""
        values: dict[str, str] = {}
        problems: list[str] = []
        for key, path in self._files(top, what):
            try:
                validate_key(key, kind)
                data = self._read(path, MAX_VALUE_BYTES, f"{what} {key!r}")
                values[key] = data.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(f"{what} {key!r} is not UTF-8 text: skipped")
            except UnsafeSourceError:
                raise
            except MigrationError as e:
                problems.append(f"{e.message}: skipped")
            except GittrackError as e:
                problems.append(f"{what} {key!r}: {e.message}: skipped")
        return dict(sorted(values.items())), problems

    # -- runs -------------------------------------------------------------------------------
    @staticmethod
    def item_name(item: Path) -> str:
        return item.name

    def read_run(
        self, experiment: SourceExperiment, run_dir: Path, scratch: Path | None = None
    ) -> SourceRun:
        """Read one run folder whole (artifacts stay where they are: ``scratch`` is not
        needed); MigrationError when the run must be skipped."""
        what = f"run {run_dir.name}"
        try:
            return self._read_run(experiment, run_dir, what)
        except MigrationError:
            raise
        except GittrackError as e:
            raise MigrationError(f"{what}: {e.message}") from e

    def _read_run(self, experiment: SourceExperiment, run_dir: Path, what: str) -> SourceRun:
        meta = self._meta(run_dir, what)
        run_id = str(meta.get("run_id") or meta.get("run_uuid") or "")
        if run_id != run_dir.name:
            raise MigrationError(f"{what}: meta.yaml names run {run_id!r}")
        if not RUN_ID_RE.match(run_id):
            raise MigrationError(f"{what}: the run id is not 32 hex characters")
        if str(meta.get("experiment_id")) != experiment.experiment_id:
            raise MigrationError(
                f"{what}: meta.yaml names experiment {meta.get('experiment_id')!r}, "
                f"not {experiment.experiment_id!r}"
            )
        problems: list[str] = []
        status_number = meta.get("status", 1)
        status = STATUS_BY_NUMBER.get(status_number) if isinstance(status_number, int) else None
        if status is None:
            raise MigrationError(f"{what}: unknown status {status_number!r}")
        if status == "SCHEDULED":
            problems.append(f"{what}: status SCHEDULED recorded as RUNNING")
            status = "RUNNING"
        start, end = meta.get("start_time"), meta.get("end_time")
        if not isinstance(start, int) or not (end is None or isinstance(end, int)):
            raise MigrationError(f"{what}: start_time/end_time are not integers")
        params, more = self._values(run_dir / "params", f"{what}: param", "param")
        problems += more
        tags, more = self._values(run_dir / "tags", f"{what}: tag", "tag")
        problems += more
        name = meta.get("run_name") or tags.get(fmt.RUN_NAME_TAG) or run_id
        run = SourceRun(
            run_id=run_id,
            experiment=experiment,
            name=str(name),
            status=status,
            start_time=start,
            end_time=end,
            user=str(meta.get("user_id") or ""),
            lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
            deleted_time=epoch_ms(meta.get("deleted_time")),
            params=params,
            tags=tags,
            problems=problems,
        )
        for key, path in self._files(run_dir / "metrics", f"{what}: metric"):
            try:
                validate_key(key, "metric")
            except GittrackError as e:
                problems.append(f"{what}: {e.message}: skipped")
                continue
            try:
                data = self._read(path, None, f"{what}: metric {key!r}")
            except UnsafeSourceError:
                raise
            except MigrationError as e:
                problems.append(f"{e.message}: skipped")
                continue
            history, bad = parse_metric_lines(key, data)
            if bad:
                problems.append(f"{what}: metric {key!r}: {bad} malformed line(s) skipped")
            run.metrics.append(history)
        run.inputs = self._inputs(run_dir, experiment, what, problems)
        run.logged_models = self._logged_models(experiment).get(run_id, [])
        for rel, path in self._files(run_dir / "artifacts", f"{what}: artifact"):
            clean = clean_path(rel, f"{what}: artifact")
            run.artifacts.append((clean, path))
        return run

    def _inputs(
        self, run_dir: Path, experiment: SourceExperiment, what: str, problems: list[str]
    ) -> list[dict[str, Any]]:
        inputs: list[dict[str, Any]] = []
        top = run_dir / "inputs"
        if not top.is_dir():
            return inputs
        datasets = self.experiment_dir(experiment) / "datasets"
        for folder in self._subdirs(top):
            try:
                link = self._meta(folder, f"{what}: input {folder.name}")
                if link.get("source_type") != "DATASET":
                    continue  # model inputs are linked through logged models
                source_id = str(link.get("source_id", ""))
                if not re.match(r"^[0-9a-f]{32}$", source_id):
                    raise MigrationError(f"{what}: input {folder.name} names no dataset")
                data = self._meta(datasets / source_id, f"{what}: dataset {source_id}")
                raw_tags = link.get("tags") or {}
                tags = {str(k): str(v) for k, v in raw_tags.items()}
                inputs.append(
                    dataset_input(
                        name=str(data["name"]),
                        digest=str(data["digest"]),
                        source_type=str(data.get("source_type", "")),
                        source=str(data.get("source", "")),
                        schema=_opt_str(data.get("schema")),
                        profile=_opt_str(data.get("profile")),
                        tags=tags,
                    )
                )
            except (KeyError, AttributeError) as e:
                problems.append(f"{what}: input {folder.name} is malformed ({e}): skipped")
            except GittrackError as e:
                problems.append(f"{e.message}: skipped")
        return inputs

    # -- MLflow 3 logged models and the model registry ------------------------------------
    def _logged_models(self, experiment: SourceExperiment) -> dict[str, list[SourceLoggedModel]]:
        """``{source run id: [logged models]}`` of an experiment (read once)."""
        found = self._models.get(experiment.experiment_id)
        if found is not None:
            return found
        found = self._models[experiment.experiment_id] = {}
        for folder in self._subdirs(self.experiment_dir(experiment) / REGISTRY):
            what = f"logged model {folder.name}"
            try:
                model = self._logged_model(folder, what)
            except GittrackError as e:
                self.problems.append((what, e.message))
                continue
            found.setdefault(model.run_id, []).append(model)
        for models in found.values():
            models.sort(key=lambda m: (m.created, m.model_id))
        return found

    def _logged_model(self, folder: Path, what: str) -> SourceLoggedModel:
        meta = self._meta(folder, what)
        model_id = str(meta.get("model_id") or "")
        if model_id != folder.name or not MODEL_ID_RE.match(model_id):
            raise MigrationError(f"{what}: meta.yaml names model {model_id!r}")
        run_id = str(meta.get("source_run_id") or "")
        if not RUN_ID_RE.match(run_id):
            raise MigrationError(f"{what}: no source run (gittrack keeps models in their run)")
        status = MODEL_STATUS_BY_NUMBER.get(meta.get("status"))  # type: ignore[arg-type]
        tags, problems = self._values(folder / "tags", f"{what}: tag", "tag")
        params, more = self._values(folder / "params", f"{what}: param", "param")
        if problems or more:
            raise MigrationError("; ".join(problems + more))
        created = meta.get("creation_timestamp")
        updated = meta.get("last_updated_timestamp")
        artifacts = tuple(
            (clean_path(rel, f"{what}: artifact"), path)
            for rel, path in self._files(folder / "artifacts", f"{what}: artifact")
        )
        return SourceLoggedModel(
            model_id=model_id,
            name=str(meta.get("name") or "model"),
            run_id=run_id,
            status=status or "PENDING",
            created=created if isinstance(created, int) else 0,
            updated=updated if isinstance(updated, int) else 0,
            model_type=_opt_str(meta.get("model_type")),
            tags=tags,
            params=params,
            artifacts=artifacts,
        )

    def registered_models(self) -> list[SourceRegisteredModel]:
        """The file registry below ``<root>/models``: models, versions, tags, aliases."""
        found = []
        for folder in self._subdirs(self.root / REGISTRY):
            what = f"registered model {folder.name}"
            try:
                found.append(self._registered_model(folder, what))
            except GittrackError as e:
                self.problems.append((what, e.message))
        return found

    def _registered_model(self, folder: Path, what: str) -> SourceRegisteredModel:
        meta = self._meta(folder, what)
        if meta.get("name") != folder.name:
            raise MigrationError(f"{what}: meta.yaml names model {meta.get('name')!r}")
        tags, problems = self._values(folder / "tags", f"{what}: tag", "tag")
        self.problems += [(what, p) for p in problems]
        aliases: dict[str, int] = {}
        for alias, path in self._files(folder / "aliases", f"{what}: alias"):
            text = self._read(path, 64, f"{what}: alias {alias!r}").decode("ascii", "replace")
            if text.strip().isdigit():
                aliases[alias] = int(text.strip())
            else:
                self.problems.append((what, f"alias {alias!r} names no version: skipped"))
        versions = []
        for sub in self._subdirs(folder):
            if not sub.name.startswith("version-"):
                continue
            try:
                version = self._version(sub, f"{what} {sub.name}")
            except GittrackError as e:
                self.problems.append((f"{what} {sub.name}", e.message))
                continue
            if version is not None:
                versions.append(version)
        return SourceRegisteredModel(
            name=folder.name,
            created=_int(meta.get("creation_timestamp")),
            updated=_int(meta.get("last_updated_timestamp")),
            description=_opt_str(meta.get("description")),
            tags=tags,
            aliases=aliases,
            versions=tuple(sorted(versions, key=lambda v: v.version)),
        )

    def _version(self, folder: Path, what: str) -> SourceVersion | None:
        meta = self._meta(folder, what)
        stage = str(meta.get("current_stage") or "None")
        if stage == DELETED_VERSION_STAGE:
            return None
        number = meta.get("version")
        if not isinstance(number, int) or folder.name != f"version-{number}":
            raise MigrationError(f"{what}: meta.yaml names version {number!r}")
        tags, problems = self._values(folder / "tags", f"{what}: tag", "tag")
        self.problems += [(what, p) for p in problems]
        run_id = _opt_str(meta.get("run_id"))
        return SourceVersion(
            version=number,
            run_id=run_id if run_id and RUN_ID_RE.match(run_id) else None,
            source=str(meta.get("source") or ""),
            model_id=_opt_str(meta.get("model_id")),
            stage=stage,
            created=_int(meta.get("creation_timestamp")),
            updated=_int(meta.get("last_updated_timestamp")),
            user=str(meta.get("user_id") or ""),
            description=_opt_str(meta.get("description")),
            tags=tags,
        )


def files_below(top: Path, root: str, what: str) -> Iterator[tuple[str, Path]]:
    """``(relative posix path, file)`` of every file below ``top``, sorted per folder.

    Symlinks are checked, not walked: one whose target lies outside ``root`` (a real
    path), or that names a folder, raises UnsafeSourceError.
    """

    def check(path: Path, name: str) -> None:
        if not inside(path, root):
            raise UnsafeSourceError(f"{name} is a symlink leading out of the store: refused")

    if top.is_symlink():
        check(top, what)
    if not top.is_dir():
        return
    stack = [(top, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            raise MigrationError(f"{what} {prefix or '.'} cannot be listed: {e.strerror}") from e
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            path = Path(entry.path)
            if entry.is_symlink():
                check(path, f"{what} {rel!r}")
                if os.path.isdir(path):
                    raise UnsafeSourceError(f"{what} {rel!r} is a symlinked folder: refused")
                yield rel, path
            elif entry.is_dir(follow_symlinks=False):
                stack.append((path, rel + "/"))
            elif entry.is_file(follow_symlinks=False):
                yield rel, path


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def parse_metric_lines(key: str, data: bytes) -> tuple[MetricHistory, int]:
    """Parse a metric file; return its history and the number of malformed lines."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    n = len(lines)
    # Fast path: every line has exactly three fields separated by single spaces.
    if n and set(map(_count_spaces, lines)) == {2}:
        tokens = data.split()
        if len(tokens) == 3 * n:
            try:
                return (
                    MetricHistory(
                        key,
                        steps=list(map(int, tokens[2::3])),
                        timestamps=list(map(int, tokens[0::3])),
                        values=list(map(float, tokens[1::3])),
                    ),
                    0,
                )
            except ValueError:
                pass
    steps: list[int] = []
    stamps: list[int] = []
    values: list[float] = []
    bad = 0
    for line in lines:
        parts = line.split()
        if len(parts) not in (2, 3, 5):
            bad += 1
            continue
        try:
            stamp, value = int(parts[0]), float(parts[1])
            step = int(parts[2]) if len(parts) > 2 else 0
        except ValueError:
            bad += 1
            continue
        stamps.append(stamp)
        values.append(value)
        steps.append(step)
    return MetricHistory(key, steps=steps, timestamps=stamps, values=values), bad
