"""Building the run index (:mod:`gittrack.index`): runs read into rows, in bulk for cold
builds; the column cache; which runs keep earlier states.

A run's index row is a ``runs`` table tuple whose ``doc`` field is the JSON of its
filterable row (:func:`row_from_record`). Many runs are read through ``git cat-file``,
in helper processes on every core when there are very many. Each read also hands back
the row itself when it equals what decoding its JSON gives (nearly always), so a cold
build writes the column cache (:func:`write_columns`) without decoding 100,000
documents again.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import marshal
import operator
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import CorruptRunError
from gittrack.gcpause import collector_paused

if TYPE_CHECKING:
    from gittrack.format import RunRecord

log = logging.getLogger("gittrack")

COLUMNS_VERSION = 1
NESTED = ("params", "metrics", "tags")  # the row's dicts the column cache splits by key
_DATASET_DICTS = ("schema", "mlflow")  # an input's mappings its row keeps (row_from_record)
DOC = 10  # the position of ``doc`` in a ``runs`` row
ERROR_FIELD = 11  # ``error``: the reason a run is unreadable (None: readable); then ``deleted``
# One row in the column cache: the names of its top-level fields that are not dicts or
# lists, their values, and per NESTED kind the dict's (keys, values).
Columns = tuple[
    tuple[str, ...], tuple[Any, ...], tuple[tuple[tuple[str, ...], tuple[Any, ...]], ...]
]
# A read run: its ``runs`` row and, when decoding the row's JSON gives it back exactly,
# what the column cache keeps of it (None: decode the JSON; a corrupt run has none).
Read = tuple[tuple[Any, ...], Columns | None]


def row_from_record(record: RunRecord, commit: str) -> dict[str, Any]:
    """The filterable row of a run (the shape :mod:`gittrack.query.filter` evaluates)."""
    # Each input's scalar fields (what filters compare) and the mappings MLflow's dataset
    # fields are made of (a table's ``schema``, an imported dataset's ``mlflow``: see
    # gittrack.entities.mlflow_dataset), so a run read from its row has the inputs of a
    # run read whole; not a kept directory's file list.
    inputs = {
        name: {
            str(k): v
            for k, v in entry.items()
            if k != "name"
            and (v is None or isinstance(v, str | int | float | bool) or k in _DATASET_DICTS)
        }
        for name, entry in record.named_inputs()
    }
    from gittrack.format import run_tags

    return {
        "run_id": record.run_id,
        "commit": commit,
        "code_commit": str(record.source.get("commit") or ""),
        "dirty": bool(record.source.get("dirty", False)),
        "name": record.name,
        "experiment": record.experiment,
        "experiment_id": record.experiment_id,
        "status": record.status,
        "lifecycle_stage": record.lifecycle_stage,
        "user": record.user,
        "start_time": record.start_time,
        "end_time": record.end_time,
        "params": dict(record.params),
        "metrics": {k: m.value for k, m in record.metrics.items()},
        "metric_steps": {k: [m.step, m.timestamp] for k, m in record.metrics.items()},
        "tags": run_tags(record),
        "inputs": inputs,
        "parent_run_id": record.parent_run_id,
    }


def row_columns(row: dict[str, Any], fields: tuple[str, ...] | None = None) -> Columns:
    """What the column cache keeps of ``row``: the values of ``fields`` (by default its
    top-level fields that are not dicts or lists) and the keys and values of each
    NESTED dict, taken while the row is at hand (as tuples, compact to send and sort)."""
    if fields is None:
        fields = tuple(k for k, v in row.items() if not isinstance(v, dict | list))
    nested = tuple((tuple(d), tuple(d.values())) for d in (row.get(k) or {} for k in NESTED))
    return fields, tuple(map(row.get, fields)), nested


def index_row(run_id: str, commit: str, read: Callable[[], RunRecord]) -> Read:
    """The ``runs`` table row of one run (the last field is the error of a corrupt run)
    and its :func:`row_columns` when its JSON decodes back to it exactly."""
    try:
        record = read()
    except CorruptRunError as e:
        return (run_id, commit, "", "", "", 0, "", 0, 0, None, None, e.message, 0), None
    row = row_from_record(record, commit)
    texts: list[object] = []  # values JSON has no type for (a YAML date): written as text

    def as_text(value: object) -> str:
        texts.append(value)
        return str(value)

    doc = json.dumps(row, default=as_text, separators=(",", ":"))
    # Every other value JSON gives back as it was, but a nested mapping's keys that are
    # not text (only a param value or a parent link can nest, when read by PyYAML).
    nested = any(type(v) is dict or type(v) is list for v in row["params"].values())
    exact = not texts and not nested and type(row["parent_run_id"]) not in (dict, list)
    parent = record.parent_run_id if isinstance(record.parent_run_id, str) else None
    fields = (record.name, record.experiment, record.status, record.start_time, record.host)
    deleted = int(record.lifecycle_stage == "deleted")
    return (
        (run_id, commit, *fields, record.pid, record.heartbeat, parent, doc, None, deleted),
        row_columns(row) if exact else None,
    )


def batch_rows(common_dir: str, changed: list[tuple[str, str]]) -> list[Read | None]:
    """Rows of ``changed`` read through one ``git cat-file --batch`` (None: read carefully)."""
    from gittrack import format as fmt
    from gittrack.store.catfile import cat_tree_files

    names = (fmt.RUN_FILE, fmt.PARAMS_FILE, fmt.TAGS_FILE, fmt.INPUTS_FILE)
    trees = [f"{sha}:{fmt.RUN_DIR}" for _, sha in changed]
    files = cat_tree_files(Path(common_dir), trees, names)
    rows: list[Read | None] = []
    with collector_paused():  # the rows kept hold no cycles (see gittrack.gcpause)
        for chunk, (rid, sha) in zip(files, changed, strict=True):
            if chunk[0] is None:  # not a run commit, or objects missing
                rows.append(None)
                continue
            texts = {n: b for n, b in zip(names, chunk, strict=True) if b is not None}
            read = functools.partial(fmt.parse_record, texts, f"run {rid}")
            rows.append(index_row(rid, sha, read))
    return rows


def parallel_rows(common_dir: str, changed: list[tuple[str, str]]) -> list[Read | None]:
    """:func:`batch_rows` split over helper processes (``python -c``, never multiprocessing,
    which would re-run a user's unguarded ``__main__``), one chunk kept in this process.
    Helpers answer in ``marshal`` (the same interpreter reads it back, much faster than
    JSON)."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    workers = min(os.cpu_count() or 1, 8)
    size = -(-len(changed) // workers)
    chunks = [changed[i : i + size] for i in range(0, len(changed), size)]
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    code = "from gittrack.index_build import helper_main; helper_main()"

    def helper(chunk: list[tuple[str, str]]) -> list[Read | None]:
        request = json.dumps({"common_dir": common_dir, "changed": chunk}).encode()
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code], input=request, capture_output=True, env=env
            )
            if proc.returncode == 0:
                with collector_paused():
                    rows: list[Read | None] = marshal.loads(proc.stdout)
                if isinstance(rows, list) and len(rows) == len(chunk):
                    return rows
            log.debug("gittrack: index helper failed: %s", proc.stderr[-500:])
        except (OSError, ValueError, EOFError, TypeError) as e:
            log.debug("gittrack: index helper failed: %s", e)
        return batch_rows(common_dir, chunk)

    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        futures = [pool.submit(helper, chunk) for chunk in chunks[1:]]
        rows = batch_rows(common_dir, chunks[0])
        for future in futures:
            rows.extend(future.result())
    return rows


def helper_main() -> None:
    """Entry of an index helper process: a JSON request on stdin, marshalled rows on stdout."""
    import sys

    request = json.loads(sys.stdin.buffer.read())
    changed = [(str(rid), str(sha)) for rid, sha in request["changed"]]
    rows = batch_rows(str(request["common_dir"]), changed)
    sys.stdout.buffer.write(marshal.dumps(rows))


def rows_columns(rows: list[dict[str, Any]]) -> list[Columns]:
    """The :func:`row_columns` of ``rows``, each of the first row's fields (a row may
    lack one: None), built field by field in C (itemgetter, map, zip)."""
    if not rows:
        return []
    fields = row_columns(rows[0])[0]
    with collector_paused():
        values: list[tuple[Any, ...]]
        try:
            if len(fields) < 2:  # (itemgetter of one field gives no tuple)
                raise KeyError
            values = list(map(operator.itemgetter(*fields), rows))
        except KeyError:  # a row lacks a field (or there is one): row by row
            values = [tuple(map(r.get, fields)) for r in rows]
        nested = []
        for kind in NESTED:
            dicts = [r.get(kind) or {} for r in rows]
            nested.append(zip(map(tuple, dicts), map(tuple, map(dict.values, dicts)), strict=True))
        return list(zip(itertools.repeat(fields), values, zip(*nested, strict=True)))


def fresh_columns(reads: list[Read]) -> list[Columns] | None:
    """The :func:`row_columns` of ``reads`` (every run of an index just built) in the
    index's order (newest first, then by id; unreadable runs left out), as read; None
    when some row has to be decoded or has another shape (the first search that wants a
    few rows then writes the columns)."""
    with collector_paused():  # (100,000 rows: the collector would walk them again and again)
        kept = [(row, columns) for row, columns in reads if row[DOC] is not None]
        if any(columns is None for _, columns in kept):
            return None
        kept.sort(key=lambda read: (-read[0][5], read[0][0]))  # start_time DESC, run_id
        found = [columns for _, columns in kept if columns is not None]
    if any(columns[0] != found[0][0] for columns in found):
        return None
    return found


def write_columns(path: Path, generation: str, rows: list[Columns]) -> None:
    """Write the column cache ``path`` of ``rows`` (the :func:`row_columns` of every
    readable row of index state ``generation``, of one shape, in
    :meth:`gittrack.index.RunIndex.rows`'s order): a top-level field's value per row, a
    param/metric/tag key's (row positions, values), after a header
    ``(version, generation, rows, {column: (offset, length)})``; replaced whole."""
    with collector_paused():  # what is built holds no cycles (see gittrack.gcpause)
        blobs = _column_blobs(rows)
    where: dict[tuple[str, str], tuple[int, int]] = {}
    offset = 0
    for name_key, blob in blobs.items():
        where[name_key] = (offset, len(blob))
        offset += len(blob)
    header = marshal.dumps((COLUMNS_VERSION, generation, len(rows), where))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(len(header).to_bytes(8, "little"))
            f.write(header)
            for blob in blobs.values():
                f.write(blob)
        os.replace(tmp, path)
    except (OSError, ValueError):  # a cache: failing to write it changes nothing
        with contextlib.suppress(OSError):  # nor failing to clean up (read-only)
            tmp.unlink(missing_ok=True)


def _column_blobs(rows: list[Columns]) -> dict[tuple[str, str], bytes]:
    """Each column of ``rows`` (see :func:`write_columns`), marshalled."""
    fields = rows[0][0] if rows else ()
    # marshal's format 2 (no shared references) writes 100,000 values several times
    # faster than the default; what it reads back is the same
    blobs: dict[tuple[str, str], bytes] = {}
    if fields:  # each field's values, transposed in C
        table = zip(*(values for _, values, _ in rows), strict=True)
        blobs.update(
            (("attributes", name), marshal.dumps(list(values), 2))
            for name, values in zip(fields, table, strict=True)
        )
    for k, kind in enumerate(NESTED):
        by_keys: dict[tuple[str, ...], tuple[list[int], list[tuple[Any, ...]]]] = {}
        for i, (_, _, nested_values) in enumerate(rows):  # rows sharing a key set
            keys, values = nested_values[k]
            at, kept = by_keys.setdefault(keys, ([], []))
            at.append(i)
            kept.append(values)
        nested: dict[str, tuple[list[int], list[Any]]] = {}
        for keys, (at, kept) in by_keys.items():
            for key, values in zip(keys, zip(*kept, strict=True), strict=True):
                positions, column = nested.setdefault(key, ([], []))
                positions.extend(at)
                column.extend(values)
        blobs.update(((kind, key), marshal.dumps(data, 2)) for key, data in nested.items())
    return blobs


def unedited_runs(common_dir: Path, todo: list[tuple[str, str]]) -> set[str]:
    """Ids of the ``todo`` runs (``(run_id, commit)``) whose commit keeps no earlier state,
    told apart through ``git cat-file --batch``: the commits, then their distinct first
    parents (runs share code commits); the others are walked the careful way."""
    from gittrack.runs import run_id_of_message
    from gittrack.store.catfile import cat_objects

    found = set()
    first: dict[str, str] = {}  # run id -> its commit's only parent
    bodies = cat_objects(common_dir, [commit for _, commit in todo], b"commit")
    for (rid, _), body in zip(todo, bodies, strict=True):
        if body is None:
            continue
        header = body.split(b"\n\n", 1)[0].split(b"\n")
        parents = [line[7:].decode("ascii") for line in header if line.startswith(b"parent ")]
        if not parents:
            found.add(rid)
        elif len(parents) == 1:
            first[rid] = parents[0]
    distinct = sorted(set(first.values()))
    messages = {
        sha: None if body is None else body.split(b"\n\n", 1)[-1]
        for sha, body in zip(distinct, cat_objects(common_dir, distinct, b"commit"), strict=True)
    }
    for rid, parent in first.items():
        message = messages[parent]
        if message is None or run_id_of_message(message) != rid:  # the code commit
            found.add(rid)
    return found
