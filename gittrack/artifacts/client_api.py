"""Artifact methods of :class:`gittrack.Client` (MLflow ``MlflowClient`` signatures).

``Client`` inherits :class:`ArtifactsMixin`; the mixin only relies on the client's run
store, its per-process writers and its flush.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gittrack.artifacts import paths
from gittrack.errors import ArtifactError, ValidationError
from gittrack.writer import set_tags_op

if TYPE_CHECKING:
    from gittrack.artifacts.api import Artifacts, FileInfo
    from gittrack.runs import RunStore
    from gittrack.writer import RunWriter

_stores: dict[Path, Artifacts] = {}


def artifacts_of(runs: RunStore) -> Artifacts:
    """The :class:`~gittrack.artifacts.api.Artifacts` of a run store (one per repository)."""
    from gittrack.artifacts.api import Artifacts

    found = _stores.get(runs.root)
    if found is None or found.runs is not runs:
        found = _stores[runs.root] = Artifacts(runs)
    return found


class _ClientLike(Protocol):
    @property
    def store(self) -> RunStore: ...

    def writer(self, run_id: str) -> RunWriter: ...

    def flush(self, run_id: str | None = None) -> None: ...

    def resolve(self, run: str) -> str: ...


def _dest(artifact_path: str | None, name: str) -> str:
    base = paths.clean_path(artifact_path or "", "artifact_path", allow_empty=True)
    return paths.join(base, paths.clean_path(name, "file name"))


def serialize_dict(data: Any, artifact_file: str) -> bytes:
    """JSON (indented) unless ``artifact_file`` ends in .yaml/.yml, as MLflow does."""
    if artifact_file.lower().endswith((".yaml", ".yml")):
        import yaml

        try:
            text: str = yaml.safe_dump(data, default_flow_style=False, sort_keys=False)
        except yaml.YAMLError as e:
            raise ArtifactError(f"cannot write {artifact_file!r} as YAML: {e}") from e
        return text.encode("utf-8")
    try:
        return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ArtifactError(f"cannot write {artifact_file!r} as JSON: {e}") from e


def render_figure(
    figure: Any, artifact_file: str, save_kwargs: Mapping[str, Any] | None = None
) -> bytes:
    """A matplotlib figure (``savefig``) or a plotly figure (``.html``) as bytes;
    ``save_kwargs`` go to ``savefig`` (the format defaults to the suffix) or ``to_html``."""
    suffix = Path(artifact_file).suffix.lower().lstrip(".")
    options = dict(save_kwargs or {})
    if hasattr(figure, "savefig"):
        buf = io.BytesIO()
        figure.savefig(buf, **{"format": suffix or "png", **options})
        return buf.getvalue()
    if hasattr(figure, "to_html") and suffix in ("html", "htm"):
        return str(figure.to_html(**options)).encode("utf-8")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ArtifactError(
            "log_figure needs matplotlib (pip install matplotlib) or a plotly figure"
        ) from None
    raise ArtifactError(
        f"log_figure expects a matplotlib or plotly figure, got {type(figure).__name__}"
    )


class ArtifactsMixin:
    """Log, list and download artifacts of runs by run id."""

    def log_artifact(
        self: _ClientLike,
        run_id: str,
        local_path: str | os.PathLike[str],
        artifact_path: str | None = None,
    ) -> None:
        """Log one file as ``<artifact_path>/<its name>``."""
        src = Path(local_path)
        if src.is_dir():
            raise ArtifactError(f"{src} is a directory; use log_artifacts to log a directory")
        if not src.exists():
            raise ArtifactError(f"{src} does not exist")
        store = artifacts_of(self.store)
        entry = store.store_file(src, _dest(artifact_path, src.name))
        store.record(self.writer(run_id), [entry])

    def log_artifacts(
        self: _ClientLike,
        run_id: str,
        local_dir: str | os.PathLike[str],
        artifact_path: str | None = None,
    ) -> None:
        """Log every file below ``local_dir`` under ``artifact_path``."""
        from gittrack.artifacts.api import collect_dir

        base = paths.clean_path(artifact_path or "", "artifact_path", allow_empty=True)
        store = artifacts_of(self.store)
        entries = [
            store.store_file(src, paths.join(base, rel))
            for src, rel in collect_dir(Path(local_dir))
        ]
        store.record(self.writer(run_id), entries)

    def log_text(self: _ClientLike, run_id: str, text: str, artifact_file: str) -> None:
        """Log a string as a UTF-8 text file."""
        path = paths.clean_path(artifact_file, "artifact_file")
        store = artifacts_of(self.store)
        store.record(self.writer(run_id), [store.store_bytes(text.encode("utf-8"), path)])

    def log_dict(self: _ClientLike, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Log a dict as JSON, or YAML when ``artifact_file`` ends in .yaml/.yml."""
        path = paths.clean_path(artifact_file, "artifact_file")
        store = artifacts_of(self.store)
        data = serialize_dict(dictionary, artifact_file)
        store.record(self.writer(run_id), [store.store_bytes(data, path)])

    def log_figure(
        self: _ClientLike,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """Log a matplotlib figure (format from the suffix) or a plotly figure (.html);
        ``save_kwargs`` go to ``savefig`` or ``to_html``, as MLflow's."""
        path = paths.clean_path(artifact_file, "artifact_file")
        store = artifacts_of(self.store)
        data = render_figure(figure, artifact_file, save_kwargs)
        store.record(self.writer(run_id), [store.store_bytes(data, path)])

    def log_table(self: _ClientLike, run_id: str, data: Any, artifact_file: str) -> None:
        """Log a dict or DataFrame as a table (MLflow's JSON ``split`` or Parquet, by the
        suffix); a table already at ``artifact_file`` gets the rows appended, as in MLflow."""
        from gittrack.artifacts import media

        path = paths.clean_path(artifact_file, "artifact_file")
        media.check_table_file(path)
        frame = media.table_frame(data)
        rid = self.resolve(run_id)
        self.flush(rid)
        store = artifacts_of(self.store)
        existing = store.manifest(rid).get(path)
        if existing is not None:
            out = io.BytesIO()
            store.write_to(rid, existing, out)
            frame = media.appended(out.getvalue(), frame, path)
        writer = self.writer(rid)
        store.record(writer, [store.store_bytes(media.table_bytes(frame, path), path)])
        tag = media.logged_artifacts_tag(writer.record.tags.get(media.LOGGED_ARTIFACTS_TAG), path)
        if tag is not None:
            writer.apply(set_tags_op({media.LOGGED_ARTIFACTS_TAG: tag}))

    def log_image(
        self: _ClientLike,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Log a numpy array or PIL image: as ``artifact_file``, or (``key``, ``step``) as
        MLflow's time-stepped images (``images/<key>+step+<n>+...png`` and a small
        ``.webp`` copy)."""
        from gittrack.artifacts import media
        from gittrack.writer import now_ms

        if (artifact_file is None) == (key is None) or (
            artifact_file is not None and (step, timestamp) != (None, None)
        ):
            raise ValidationError(
                "log_image takes either artifact_file, or key with optional step and timestamp"
            )
        picture = media.pil_image(image)
        store = artifacts_of(self.store)
        if artifact_file is not None:
            path = paths.clean_path(artifact_file, "artifact_file")
            entries = [store.store_bytes(media.image_bytes(picture, path), path)]
        else:
            assert key is not None
            full, small = media.image_step_paths(
                key, step or 0, now_ms() if timestamp is None else int(timestamp)
            )
            entries = [
                store.store_bytes(media.image_bytes(picture, full), full),
                store.store_bytes(media.image_bytes(media.compressed(picture), small), small),
            ]
        writer = self.writer(self.resolve(run_id))
        store.record(writer, entries)
        if key is not None:
            writer.apply(set_tags_op({media.LOGGED_IMAGES_TAG: "True"}))
        if synchronous:
            writer.flush()

    def list_artifacts(self: _ClientLike, run_id: str, path: str | None = None) -> list[FileInfo]:
        """Files and directories directly below ``path`` of a run."""
        rid = self.resolve(run_id)
        self.flush(rid)
        return artifacts_of(self.store).list_files(rid, path)

    def download_artifacts(
        self: _ClientLike,
        run_id: str,
        path: str = "",
        dst_path: str | os.PathLike[str] | None = None,
        *,
        force: bool = False,
    ) -> str:
        """Download artifact ``path`` ('' for all) to ``dst_path/path``; return that path."""
        rid = self.resolve(run_id)
        self.flush(rid)
        dst = Path(dst_path) if dst_path is not None else None
        return str(artifacts_of(self.store).download(rid, path, dst, force=force))
