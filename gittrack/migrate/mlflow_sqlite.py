"""Reading an MLflow sqlite database (``sqlite:///mlflow.db``) without the ``mlflow`` package.

MLflow's SQL store keeps experiments, runs, params, tags, every metric point, dataset
inputs, MLflow 3's logged models and the model registry in tables (``experiments``,
``runs``, ``params``, ``tags``, ``metrics``, ``inputs``/``datasets``, ``logged_models``,
``registered_models``, ``model_versions``, ...); the files stay where each run's
``artifact_uri`` (and each logged model's ``artifact_location``) says. The database is
opened read-only and read as MLflow's client reads it: metric points in MLflow's order
(timestamp, step, value), NaN from the ``is_nan`` flag, infinities as the largest floats
MLflow stored in their place.

A database copied from another machine names that machine's folders: an artifact root
that is not here is looked for as ``mlruns`` beside the database.

The database is untrusted like a file store: only a local folder named
``<run id>/artifacts`` (``<model id>/artifacts`` for a logged model) is read, and a
symlink in it leading out of it refuses the run. Artifacts MLflow keeps elsewhere (an
``mlflow-artifacts:`` URI of a tracking server, S3, ...) are reported, not fetched: import
from the tracking server's URL to bring them.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gittrack.artifacts.paths import clean_path
from gittrack.errors import GittrackError, MigrationError
from gittrack.format import STATUSES
from gittrack.migrate.locations import file_uri_path
from gittrack.migrate.mlflow_files import files_below
from gittrack.migrate.source import (
    DELETED_VERSION_STAGE,
    MODEL_ID_RE,
    MODEL_STATUS_BY_NUMBER,
    RUN_ID_RE,
    SourceExperiment,
    SourceLoggedModel,
    SourceRegisteredModel,
    SourceRun,
    SourceVersion,
    dataset_input,
    epoch_ms,
)
from gittrack.writer import MetricHistory

SQLITE_HEADER = b"SQLite format 3\x00"


def is_sqlite_source(text: str) -> bool:
    """True for a ``sqlite:`` URI or a path to a SQLite database file."""
    if text.startswith("sqlite:"):
        return True
    try:
        with open(Path(text).expanduser(), "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def database_path(text: str) -> Path:
    """The file of ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a plain path."""
    if text.startswith("sqlite:"):
        from urllib.parse import unquote

        rest = text[len("sqlite:") :]
        if not rest.startswith("///"):
            raise MigrationError(
                f"{text!r} names no database file (use sqlite:///path/to/mlflow.db)"
            )
        text = unquote(rest[3:].split("?", 1)[0])
    return Path(text).expanduser()


class SqliteReader:
    """The experiments, runs and registry of one MLflow sqlite database."""

    def __init__(self, source: str) -> None:
        path = database_path(source)
        if not path.is_file():
            raise MigrationError(f"MLflow database {str(path)!r} does not exist")
        self.path = path
        self.problems: list[tuple[str, str]] = []  # items outside runs that were skipped
        self._reported: set[str] = set()
        try:
            self.db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error as e:
            raise MigrationError(f"{path} cannot be opened as a database: {e}") from e
        try:
            self._tables = {
                str(row[0])
                for row in self.db.execute("select name from sqlite_master where type = 'table'")
            }
        except sqlite3.Error as e:
            self.db.close()
            raise MigrationError(f"{path} cannot be read as a database: {e}") from e
        if not {"experiments", "runs"} <= self._tables:
            self.db.close()
            raise MigrationError(
                f"{path} is not an MLflow database (no experiments and runs tables)"
            )

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- queries -----------------------------------------------------------------------------
    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        try:
            self.db.row_factory = sqlite3.Row
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise MigrationError(f"{self.path}: {e}") from e

    def _has(self, table: str) -> bool:
        return table in self._tables

    def _columns(self, table: str) -> set[str]:
        return {str(row["name"]) for row in self._rows(f"pragma table_info({table})")}

    def _pairs(self, sql: str, *args: Any) -> dict[str, str]:
        return {str(k): "" if v is None else str(v) for k, v in self._rows(sql, *args)}

    # -- experiments and runs ------------------------------------------------------------------
    def experiments(self, *, deleted: bool = True) -> list[SourceExperiment]:
        """Every experiment (by id), deleted ones included unless ``deleted`` is False."""
        created = "creation_time" if "creation_time" in self._columns("experiments") else "null"
        rows = self._rows(
            f"select experiment_id, name, lifecycle_stage, {created} as created "
            "from experiments order by experiment_id"
        )
        found = []
        for row in rows:
            stage = str(row["lifecycle_stage"] or "active")
            if stage == "deleted" and not deleted:
                continue
            tags = (
                self._pairs(
                    "select key, value from experiment_tags where experiment_id = ? order by key",
                    row["experiment_id"],
                )
                if self._has("experiment_tags")
                else {}
            )
            found.append(
                SourceExperiment(
                    experiment_id=str(row["experiment_id"]),
                    name=str(row["name"]),
                    lifecycle_stage=stage,
                    tags=tags,
                    creation_time=row["created"] if isinstance(row["created"], int) else None,
                )
            )
        return found

    def run_items(self, experiment: SourceExperiment) -> list[sqlite3.Row]:
        """The rows of ``runs`` of an experiment, deleted ones included."""
        columns = self._columns("runs")
        name = "name" if "name" in columns else "null as name"
        deleted = "deleted_time" if "deleted_time" in columns else "null as deleted_time"
        return self._rows(
            f"select run_uuid, {name}, user_id, status, start_time, end_time, "
            f"lifecycle_stage, {deleted}, artifact_uri from runs where experiment_id = ? "
            "order by start_time, run_uuid",
            int(experiment.experiment_id),
        )

    @staticmethod
    def item_name(item: sqlite3.Row) -> str:
        return str(item["run_uuid"])

    def read_run(
        self, experiment: SourceExperiment, item: sqlite3.Row, scratch: Path | None = None
    ) -> SourceRun:
        """One run whole (artifacts are read where they are: ``scratch`` is not needed)."""
        run_id = str(item["run_uuid"])
        what = f"run {run_id}"
        if not RUN_ID_RE.match(run_id):
            raise MigrationError(f"{what}: the run id is not 32 hex characters")
        status = str(item["status"] or "RUNNING")
        problems: list[str] = []
        if status not in STATUSES:
            problems.append(f"{what}: status {status} recorded as RUNNING")
            status = "RUNNING"
        start, end = item["start_time"], item["end_time"]
        if not isinstance(start, int) or not (end is None or isinstance(end, int)):
            raise MigrationError(f"{what}: start_time/end_time are not integers")
        params = self._pairs(
            "select key, value from params where run_uuid = ? order by key", run_id
        )
        tags = self._pairs("select key, value from tags where run_uuid = ? order by key", run_id)
        run = SourceRun(
            run_id=run_id,
            experiment=experiment,
            name=str(item["name"] or tags.get("mlflow.runName") or run_id),
            status=status,
            start_time=start,
            end_time=end,
            user=str(item["user_id"] or ""),
            lifecycle_stage=str(item["lifecycle_stage"] or "active"),
            deleted_time=epoch_ms(item["deleted_time"]),
            params=params,
            tags=tags,
            problems=problems,
        )
        run.metrics = list(self._histories(run_id))
        run.inputs = self._inputs(run_id, what, problems)
        found, here = self._artifact_files(item["artifact_uri"], run_id, what, 3)
        run.artifacts = list(found)
        run.logged_models, models_here = self._logged_models(run_id, what, problems)
        run.artifacts_elsewhere = not (here and models_here)
        return run

    def _histories(self, run_id: str) -> Iterator[MetricHistory]:
        rows = self._rows(
            "select key, timestamp, step, value, is_nan from metrics where run_uuid = ? "
            "order by key, timestamp, step, value",
            run_id,
        )
        points: dict[str, tuple[list[int], list[int], list[float]]] = {}
        for key, stamp, step, value, is_nan in rows:
            steps, stamps, values = points.setdefault(str(key), ([], [], []))
            steps.append(int(step))
            stamps.append(int(stamp))
            values.append(float("nan") if is_nan else float(value))
        for key, (steps, stamps, values) in points.items():
            yield MetricHistory(key, steps=steps, timestamps=stamps, values=values)

    def _inputs(self, run_id: str, what: str, problems: list[str]) -> list[dict[str, Any]]:
        if not {"inputs", "datasets"} <= self._tables:
            return []
        rows = self._rows(
            "select i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
            "d.dataset_schema, d.dataset_profile from inputs i join datasets d "
            "on d.dataset_uuid = i.source_id where i.source_type = 'DATASET' "
            "and i.destination_type = 'RUN' and i.destination_id = ? order by i.rowid",
            run_id,
        )
        found = []
        for row in rows:
            tags = (
                self._pairs(
                    "select name, value from input_tags where input_uuid = ? order by name",
                    row["input_uuid"],
                )
                if self._has("input_tags")
                else {}
            )
            try:
                found.append(
                    dataset_input(
                        name=str(row["name"]),
                        digest=str(row["digest"]),
                        source_type=str(row["dataset_source_type"] or ""),
                        source=str(row["dataset_source"] or ""),
                        schema=_opt_str(row["dataset_schema"]),
                        profile=_opt_str(row["dataset_profile"]),
                        tags=tags,
                    )
                )
            except GittrackError as e:
                problems.append(f"{what}: input {row['input_uuid']}: {e.message}: skipped")
        return found

    def _artifact_files(
        self, uri: object, owner: str, what: str, depth: int
    ) -> tuple[tuple[tuple[str, Path], ...], bool]:
        """The files below an artifact URI naming a local ``.../<owner>/artifacts`` folder,
        and False when they are not on this machine (noted once per kind of location).

        ``depth`` is how far below MLflow's artifact root the folder is (3 for a run's
        ``<experiment>/<run>/artifacts``): a root that is not here (the database was
        copied from another machine) is looked for as ``mlruns`` beside the database."""
        text = str(uri or "")
        if text.startswith("file:"):
            text = file_uri_path(text)
        elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", text):
            scheme = text.split(":", 1)[0]
            if scheme not in self._reported:
                self._reported.add(scheme)
                self.problems.append(
                    (
                        f"artifacts under {scheme}:/ URIs",
                        "they are not in the database nor on this machine (import from "
                        "the tracking server's URL to bring them)",
                    )
                )
            return (), False
        if not text:
            return (), True
        folder = Path(text)
        if not folder.is_absolute():
            folder = self.path.parent / folder
        if folder.parts[-2:] != (owner, "artifacts"):
            raise MigrationError(f"{what}: its artifact location {text!r} is not {owner}/artifacts")
        root = folder.parents[depth - 1]
        if not root.is_dir():
            beside = self.path.parent / "mlruns"
            if not beside.is_dir():
                if str(root) not in self._reported:
                    self._reported.add(str(root))
                    self.problems.append(
                        (
                            f"artifacts under {root}",
                            "no such folder on this machine, nor mlruns/ beside the "
                            "database: their runs come without their files",
                        )
                    )
                return (), False
            folder = beside.joinpath(*folder.parts[-depth:])
        where = f"{what}: artifact"
        found = tuple(
            (clean_path(rel, where), path)
            for rel, path in files_below(folder, os.path.realpath(folder), where)
        )
        return found, True

    # -- MLflow 3 logged models and the model registry ------------------------------------------
    def _logged_models(
        self, run_id: str, what: str, problems: list[str]
    ) -> tuple[list[SourceLoggedModel], bool]:
        """The logged models of a run, and False when some of their files are not on
        this machine."""
        if not self._has("logged_models"):
            return [], True
        rows = self._rows(
            "select model_id, name, artifact_location, creation_timestamp_ms, "
            "last_updated_timestamp_ms, status, model_type from logged_models "
            "where source_run_id = ? and coalesce(lifecycle_stage, 'active') = 'active' "
            "order by creation_timestamp_ms, model_id",
            run_id,
        )
        found = []
        here = True
        for row in rows:
            model_id = str(row["model_id"])
            where = f"logged model {model_id}"
            if not MODEL_ID_RE.match(model_id):
                problems.append(f"{what}: {where}: not an MLflow model id: skipped")
                continue
            files, local = self._artifact_files(row["artifact_location"], model_id, where, 4)
            here = here and local
            found.append(
                SourceLoggedModel(
                    model_id=model_id,
                    name=str(row["name"] or "model"),
                    run_id=run_id,
                    status=MODEL_STATUS_BY_NUMBER.get(row["status"], "PENDING"),
                    created=_int(row["creation_timestamp_ms"]),
                    updated=_int(row["last_updated_timestamp_ms"]),
                    model_type=_opt_str(row["model_type"]),
                    tags=self._pairs(
                        "select tag_key, tag_value from logged_model_tags where model_id = ? "
                        "order by tag_key",
                        model_id,
                    ),
                    params=self._pairs(
                        "select param_key, param_value from logged_model_params "
                        "where model_id = ? order by param_key",
                        model_id,
                    ),
                    artifacts=files,
                )
            )
        return found, here

    def registered_models(self) -> list[SourceRegisteredModel]:
        """Registered models with their versions (deleted ones left out), tags and aliases."""
        if not {"registered_models", "model_versions"} <= self._tables:
            return []
        found = []
        for row in self._rows(
            "select name, creation_time, last_updated_time, description "
            "from registered_models order by name"
        ):
            name = str(row["name"])
            aliases = (
                {
                    str(alias): int(version)
                    for alias, version in self._rows(
                        "select alias, version from registered_model_aliases where name = ?",
                        name,
                    )
                }
                if self._has("registered_model_aliases")
                else {}
            )
            versions = tuple(
                SourceVersion(
                    version=int(v["version"]),
                    run_id=v["run_id"] if RUN_ID_RE.match(str(v["run_id"] or "")) else None,
                    source=str(v["source"] or ""),
                    model_id=None,
                    stage=str(v["current_stage"] or "None"),
                    created=_int(v["creation_time"]),
                    updated=_int(v["last_updated_time"]),
                    user=str(v["user_id"] or ""),
                    description=v["description"] or None,
                    tags=self._pairs(
                        "select key, value from model_version_tags where name = ? "
                        "and version = ? order by key",
                        name,
                        v["version"],
                    ),
                )
                for v in self._rows(
                    "select * from model_versions where name = ? and current_stage is not ? "
                    "order by version",
                    name,
                    DELETED_VERSION_STAGE,
                )
            )
            found.append(
                SourceRegisteredModel(
                    name=name,
                    created=_int(row["creation_time"]),
                    updated=_int(row["last_updated_time"]),
                    description=row["description"] or None,
                    tags=self._pairs(
                        "select key, value from registered_model_tags where name = ? order by key",
                        name,
                    ),
                    aliases=aliases,
                    versions=versions,
                )
            )
        return found


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
