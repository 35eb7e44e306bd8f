"""The JSON API behind the page (``/ui/api/...``): thin handlers over the library.

Reads go through the run index (:mod:`gittrack.query.page` for tables) and the run store;
writes through :class:`gittrack.client.Client`, exactly as the CLI and the Python API do,
so other processes see them at once. Every write route needs the server's token.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import GittrackError, ValidationError
from gittrack.format import NOTE_TAG
from gittrack.validation import param_text
from gittrack.web.http import HTTPError, Request, Response, Router, json_response

if TYPE_CHECKING:
    import pyarrow as pa

    from gittrack.index import RunIndex
    from gittrack.query.page import RunKeys
    from gittrack.runs import LoadedRun, RunStore

MAX_COMPARE = 500
# threads decoding and downsampling run histories for a lines request: the most
# histories held at once (about 3 MB each at 100,000 points)
READ_WORKERS = min(4, os.cpu_count() or 1)
DEFAULT_COLUMNS = 3  # params and as many metrics shown before the user chooses columns
ROW_FIELDS = (
    "run_id",
    "commit",
    "code_commit",
    "name",
    "experiment",
    "status",
    "user",
    "start_time",
    "end_time",
)


class Repository:
    """The tracking repository a UI process serves, and the lock around git reads.

    The index is opened per request (sqlite connections stay in their thread); git
    objects are read under one lock, as the run store is shared by the server's threads.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git_lock = threading.RLock()

    @contextmanager
    def index(self) -> Iterator[RunIndex]:
        from gittrack.session import open_index

        with open_index(self.root, refresh=False) as index:
            yield index

    @contextmanager
    def store(self) -> Iterator[tuple[RunIndex, RunStore]]:
        """The index and the run store, git reads serialised."""
        with self.index() as index, self.git_lock:
            yield index, index.runstore

    def resolve(self, index: RunIndex, ref: str) -> str:
        index.refresh()
        return index.resolve(ref)


def _ints(request: Request, name: str, default: int) -> int:
    text = request.arg(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as e:
        raise ValidationError(f"{name} must be a whole number, got {text!r}") from e


def _window(request: Request) -> tuple[str, float, float] | None:
    """``(x, lo, hi)`` of a zoomed chart, or None for the whole line."""
    lo, hi = request.arg("lo"), request.arg("hi")
    if lo is None and hi is None:
        return None
    from gittrack.ui.series import X_AXES

    x = request.arg("x") or "step"
    if x not in X_AXES:
        raise ValidationError(f"x must be step, time or relative, not {x!r}")
    try:
        low, high = float(lo or "nan"), float(hi or "nan")
    except ValueError as e:
        raise ValidationError(f"lo and hi must be numbers, got {lo!r} and {hi!r}") from e
    if not low <= high:  # also refuses NaN
        raise ValidationError(f"give both lo and hi, lo <= hi (got {lo!r} and {hi!r})")
    return x, low, high


def _view_type(request: Request) -> int:
    """MLflow's runs table shows one lifecycle state at a time: ``state`` active or deleted."""
    from gittrack.lifecycle import ViewType

    state = request.arg("state") or "active"
    views = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY}
    if state not in views:
        raise ValidationError(f"state must be active or deleted, not {state!r}")
    return views[state]


def _columns(request: Request) -> list[tuple[str, str]]:
    out = []
    for item in request.query.get("column", []):
        kind, dot, key = item.partition(".")
        if not dot or kind not in ("params", "metrics", "tags", "inputs") or not key:
            raise ValidationError(
                f"unknown column {item!r} (use params.<key>, metrics.<key>, tags.<key> "
                "or inputs.<name>)"
            )
        out.append((kind, key))
    return out


def _default_columns(keys: RunKeys, rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The runs table's columns before the user chooses: ``DEFAULT_COLUMNS`` params and as
    many metrics, those whose values differ among the rows shown first (the settings a
    sweep varies, rather than those every run shares), each group in name order."""

    def differs(kind: str, key: str) -> bool:
        return len({repr(row.get(kind, {}).get(key)) for row in rows}) > 1

    columns = []
    for kind, names in (("params", keys.params), ("metrics", keys.metrics)):
        ranked = sorted(names, key=lambda k: not differs(kind, k))  # stable: by name within
        columns += [(kind, k) for k in ranked[:DEFAULT_COLUMNS]]
    return columns


def _table_row(row: dict[str, Any], columns: list[tuple[str, str]]) -> dict[str, Any]:
    out = {f: row.get(f) for f in ROW_FIELDS}
    cells = {}
    for kind, key in columns:
        values = row.get(kind, {})
        value = values.get(key)
        if kind == "params" and key in values:
            value = param_text(value)
        elif kind == "inputs" and isinstance(value, dict):
            value = value.get("digest")
        cells[f"{kind}.{key}"] = _plain(value)
    out["cells"] = cells
    return out


def _plain(value: Any) -> Any:
    """A JSON-safe value: non-finite floats become their text."""
    if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
        return str(value)
    return value


def _plain_map(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in mapping.items()}


def _param_texts(params: dict[str, Any]) -> dict[str, str]:
    """Params as the text MLflow and the CLI show (``1.0`` stays ``"1.0"``, a 20-digit
    integer keeps every digit): a JSON number would reach the page as a JavaScript one."""
    return {k: param_text(v) for k, v in params.items()}


def build(repo: Repository) -> Router:
    """The routes of the UI's JSON API."""
    r = Router()

    @r.route("GET", "/ui/api/experiments")
    def experiments(q: Request) -> Response:
        from gittrack.query.page import experiment_summaries

        with repo.index() as index:
            found = experiment_summaries(index)
        return json_response([vars(e) for e in found])

    @r.route("GET", "/ui/api/keys")
    def keys(q: Request) -> Response:
        from gittrack.query.page import run_keys

        with repo.index() as index:
            found = run_keys(index, q.query.get("experiment") or None)
        return json_response(vars(found))

    @r.route("GET", "/ui/api/runs")
    def runs(q: Request) -> Response:
        """A page of the runs table. ``columns=default``: the first params and metrics
        when no ``column`` is given; ``since``: the generation the page shows, answered
        ``{"unchanged": true}`` while no run changed (the cheap live refresh); ``state``:
        the active runs (default) or those deleted with ``delete_run``."""
        from gittrack.query.page import page_runs, run_keys

        columns = _columns(q)
        view_type = _view_type(q)
        experiments = q.query.get("experiment") or None
        with repo.index() as index:
            index.refresh()
            generation = index.generation
            if q.arg("since") == generation:
                return json_response({"unchanged": True, "generation": generation})
            page = page_runs(
                index,
                filter_string=q.arg("filter"),
                order_by=[o for o in q.query.get("order", []) if o.strip()] or None,
                experiments=experiments,
                offset=_ints(q, "offset", 0),
                limit=_ints(q, "limit", 50),
                view_type=view_type,
            )
            if not columns and q.arg("columns") == "default":
                columns = _default_columns(run_keys(index, experiments), page.rows)
        return json_response(
            {
                "total": page.total,
                "offset": page.offset,
                "generation": generation,
                "columns": [f"{kind}.{key}" for kind, key in columns],
                "rows": [_table_row(row, columns) for row in page.rows],
            }
        )

    @r.route("GET", "/ui/api/run/{run}")
    def run(q: Request) -> Response:
        from gittrack.artifacts.client_api import artifacts_of
        from gittrack.experiments import as_reported

        with repo.store() as (index, store):
            loaded = as_reported(store, store.load(repo.resolve(index, q.params["run"])))
            manifest = artifacts_of(store).manifest(loaded.record.run_id)
        doc = run_document(loaded)
        doc["artifacts"] = [
            {"path": e.path, "size": e.size, "sha256": e.sha256} for e in manifest.values()
        ]
        return json_response(doc)

    @r.route("GET", "/ui/api/run/{run}/code")
    def code(q: Request) -> Response:
        from gittrack.query.diff import code_files, uncommitted_changes

        with repo.store() as (index, store):
            loaded = store.load(repo.resolve(index, q.params["run"]))
            path = q.arg("path")
            files = code_files(store, loaded)
            if path is None:
                return json_response(
                    {
                        "files": sorted(files),
                        "parent": loaded.parent,
                        "diff": uncommitted_changes(store, loaded),
                    }
                )
            entry = files.get(path)
            if entry is None:
                raise HTTPError(404, f"run has no code file {path!r}", "RESOURCE_DOES_NOT_EXIST")
            data = store.git.read_blob(entry[1])
        return json_response(_text_preview(data))

    @r.route("GET", "/ui/api/lines")
    def lines(q: Request) -> Response:
        """Chart lines of the chosen runs: ``key`` (repeatable) limits the metrics sent, or
        ``first=N`` sends the first N metric names of the runs in sorted order (what a page
        draws first, asked for before it knows the names); ``lo`` and ``hi`` (with ``x``:
        step, time or relative) ask for a zoomed window."""
        from gittrack.ui import series

        ids = [i for i in q.query.get("run", []) if i]
        wanted = [k for k in q.query.get("key", []) if k]
        points = _ints(q, "points", 1500)
        first = _ints(q, "first", 0)
        if not ids or len(ids) > MAX_COMPARE:
            raise ValidationError(f"give between 1 and {MAX_COMPARE} runs")
        if first < 0 or (first and wanted):
            raise ValidationError("first must be a positive number of metrics, without key")
        window = _window(q)
        out = []
        with repo.index() as index:
            index.refresh()
            rids = index.resolve_many(ids)
            entries = {e.run_id: e for e in index.entries_of(rids)}
            if first:
                rows = index.rows_of(rids).values()
                names = sorted({k for row in rows for k in row.get("metrics", {})})
                wanted = names[:first] or [""]  # no metric: no line (an empty list is all)
        for rid in rids:
            entry = entries.get(rid)
            if entry is None or entry.corrupt:
                raise ValidationError(f"run {rid[:12]} is unreadable (see 'gittrack list')")
        # the index has what the page shows; only lines not kept yet need git, each
        # run's history downsampled as soon as it is read and then dropped
        unread = {
            e.commit: e for e in entries.values() if window or not series.is_kept(e.commit, points)
        }

        def lines_of(commit: str, table: pa.Table | None) -> dict[str, dict[str, Any]]:
            entry = unread[commit]
            if window is None:
                return series.run_lines(commit, points, lambda: table, wanted)
            x, lo, hi = window
            return series.window_lines(
                table, wanted, points, x=x, lo=lo, hi=hi, start_time=entry.start_time
            )

        with repo.store() as (_, store):
            read = store.map_metrics_at(list(unread), lines_of, workers=READ_WORKERS)
        found = dict(zip(unread, read, strict=True))

        def metrics_of(commit: str) -> pa.Table | None:  # dropped from the kept lines meanwhile
            with repo.store() as (_, store):
                return store.map_metrics_at([commit], lambda _, table: table)[0]

        for rid in rids:
            entry = entries[rid]
            drawn = found.get(entry.commit)
            if drawn is None:
                drawn = series.run_lines(
                    entry.commit, points, partial(metrics_of, entry.commit), wanted
                )
            out.append(
                {"run_id": rid, "name": entry.name, "start_time": entry.start_time, "lines": drawn}
            )
        return json_response(out)

    @r.route("GET", "/ui/api/compare")
    def compare(q: Request) -> Response:
        """The index rows of the chosen runs (params, final metrics, tags), in that order."""
        ids = [i for i in q.query.get("run", []) if i]
        if not ids or len(ids) > MAX_COMPARE:
            raise ValidationError(f"give between 1 and {MAX_COMPARE} runs")
        with repo.index() as index:
            index.refresh()
            wanted = index.resolve_many(ids)
            by_id = index.rows_of(wanted)
        rows = []
        for rid in wanted:
            row = by_id.get(rid)
            if row is None:
                raise ValidationError(f"run {rid[:12]} is unreadable (see 'gittrack list')")
            doc = {f: row.get(f) for f in ROW_FIELDS}
            doc["params"] = _param_texts(row.get("params", {}))
            for kind in ("metrics", "tags"):
                doc[kind] = _plain_map(row.get(kind, {}))
            rows.append(doc)
        return json_response(rows)

    @r.route("GET", "/ui/api/diff")
    def diff(q: Request) -> Response:
        from gittrack.query.diff import code_diff

        a, b = q.arg("a") or "", q.arg("b") or ""
        with repo.store() as (index, store):
            la = store.load(repo.resolve(index, a))
            lb = store.load(repo.resolve(index, b))
            text = code_diff(store, la, lb, full=True)
        return json_response({"a": la.record.run_id, "b": lb.record.run_id, "diff": text})

    @r.route("GET", "/ui/api/models")
    def models(q: Request) -> Response:
        from gittrack.models import registry

        out = []
        with repo.store() as (_, store):
            for model in registry.list_models(store):
                versions = [vars(v) for v in registry.list_versions(store, model.name)]
                history = {
                    alias: [vars(e) for e in registry.alias_history(store, model.name, alias)]
                    for alias in model.aliases
                }
                out.append(
                    {
                        "name": model.name,
                        "latest": model.latest,
                        "aliases": model.aliases,
                        "versions": versions,
                        "alias_history": history,
                    }
                )
        return json_response(out)

    # -- writes (token) --------------------------------------------------------------
    def _client_for(index: RunIndex, ref: str) -> tuple[Any, str]:
        from gittrack.client import Client

        return Client(index.root), repo.resolve(index, ref)

    @r.route("POST", "/ui/api/run/{run}/tags", guard="token")
    def set_tags(q: Request) -> Response:
        body = q.json()
        tags, remove = body.get("set") or {}, body.get("delete") or []
        if not isinstance(tags, dict) or not isinstance(remove, list):
            raise ValidationError('expected {"set": {key: value}, "delete": [key]}')
        with repo.store() as (index, _):
            client, rid = _client_for(index, q.params["run"])
            if tags:
                client.set_tags(rid, {str(k): v for k, v in tags.items()})
            for key in remove:
                client.delete_tag(rid, str(key))
            client.flush(rid)
        return json_response({"run_id": rid})

    @r.route("POST", "/ui/api/run/{run}/rename", guard="token")
    def rename(q: Request) -> Response:
        with repo.store() as (index, _):
            client, rid = _client_for(index, q.params["run"])
            client.rename_run(rid, q.json().get("name"))
            client.flush(rid)
        return json_response({"run_id": rid})

    @r.route("POST", "/ui/api/run/{run}/note", guard="token")
    def note(q: Request) -> Response:
        text = q.json().get("note")
        if not isinstance(text, str):
            raise ValidationError('expected {"note": "text"}')
        with repo.store() as (index, _):
            client, rid = _client_for(index, q.params["run"])
            client.set_tags(rid, {NOTE_TAG: text})
            client.flush(rid)
        return json_response({"run_id": rid})

    @r.route("DELETE", "/ui/api/run/{run}", guard="token")
    def delete(q: Request) -> Response:
        """MLflow's UI delete: the run is marked deleted, and can be restored."""
        with repo.store() as (index, _):
            client, rid = _client_for(index, q.params["run"])
            client.delete_run(rid)
        return json_response({"deleted": rid})

    @r.route("POST", "/ui/api/run/{run}/restore", guard="token")
    def restore(q: Request) -> Response:
        with repo.store() as (index, _):
            client, rid = _client_for(index, q.params["run"])
            client.restore_run(rid)
        return json_response({"restored": rid})

    r.on_error = on_error
    return r


def on_error(e: Exception) -> Response | None:
    """The UI's errors: ``{"error_code": <error class>, "message": <one line>}``."""
    if isinstance(e, GittrackError):
        kind = type(e).__name__
        status = 404 if kind in ("RunNotFoundError", "ArtifactNotFoundError") else 400
        return json_response({"error_code": kind, "message": e.message}, status)
    return None


def run_document(loaded: LoadedRun) -> dict[str, Any]:
    """Everything about one run for the run page (times in epoch ms)."""
    rec = loaded.record
    return {
        "run_id": rec.run_id,
        "commit": loaded.commit,
        "parent_commit": loaded.parent,
        "name": rec.name,
        "experiment": rec.experiment,
        "status": rec.status,
        "lifecycle_stage": rec.lifecycle_stage,
        "start_time": rec.start_time,
        "end_time": rec.end_time,
        "user": rec.user,
        "host": rec.host,
        "pid": rec.pid,
        "parent_run_id": rec.parent_run_id,
        "source": rec.source,
        "command": rec.command,
        "params": _param_texts(rec.params),
        "metrics": {
            k: {
                "value": _plain(m.value),
                "step": m.step,
                "timestamp": m.timestamp,
                "count": m.count,
            }
            for k, m in rec.metrics.items()
        },
        "tags": {k: v for k, v in rec.tags.items() if k != NOTE_TAG},
        "note": rec.tags.get(NOTE_TAG, ""),
        "inputs": rec.inputs,
        "environment": rec.environment,
    }


PREVIEW_BYTES = 1024 * 1024


def _text_preview(data: bytes) -> dict[str, Any]:
    """Text (UTF-8, cut at 1 MiB) or a note that the file is binary."""
    cut = len(data) > PREVIEW_BYTES
    head = data[:PREVIEW_BYTES]
    if b"\0" in head[:8192]:
        return {"binary": True, "size": len(data)}
    return {"text": head.decode("utf-8", "replace"), "truncated": cut, "size": len(data)}
