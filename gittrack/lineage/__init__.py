"""Data lineage: record by content digest what data went into a run, and check it later.

``log_input(path_or_table, name=, context=, keep=)`` records an input of the active run
(or of ``run_id``); :func:`diff_inputs`, :func:`check_inputs`,
:func:`restore_kept_inputs` and :func:`runs_using` use what was recorded. The digest
construction and the hash cache are documented in docs/lineage.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below load on first use (see __getattr__)
    from gittrack.lineage.checks import (
        check_inputs,
        diff_inputs,
        get_inputs,
        kept_objects,
        kept_objects_at,
        restore_kept_inputs,
        runs_using,
        unchecked_inputs,
    )
    from gittrack.lineage.inputs import InputInfo

__all__ = [
    "InputInfo",
    "check_inputs",
    "diff_inputs",
    "get_inputs",
    "kept_objects",
    "kept_objects_at",
    "log_input",
    "restore_kept_inputs",
    "runs_using",
    "unchecked_inputs",
]


def log_input(
    source: Any,
    name: str | None = None,
    context: str | None = None,
    keep: bool = False,
    run_id: str | None = None,
) -> InputInfo:
    """Record ``source`` (a file or directory path, a pyarrow Table, a pandas DataFrame or
    a ``gittrack.data`` dataset, named by its name) as an input of the active run
    (started if none) or of ``run_id``; give MLflow's ``context`` by keyword.

    The same ``name`` logged again replaces the earlier entry. ``keep=True`` also stores
    the bytes in the artifact cache so a reproduction can restore them.
    """
    if run_id is None:
        from gittrack.fluent import client_and_run_id

        client, rid = client_and_run_id()
    else:
        from gittrack.client import Client
        from gittrack.session import writer_roots

        # A run this process is writing may live in another repository than the cwd's
        # (``gittrack run --repo``): prefer the repository of its live writer.
        roots = writer_roots(run_id)
        client = Client(roots[0] if roots else None, create=False)
        rid = client.resolve(run_id)
    from gittrack.lineage.inputs import record_input

    return record_input(client, rid, source, name=name, context=context, keep=keep)


# Loaded on first use: `gittrack diff` compares inputs without importing how they are
# hashed and recorded.
def __getattr__(name: str) -> Any:
    value: Any
    if name == "InputInfo":
        from gittrack.lineage import inputs

        value = inputs.InputInfo
    elif name in __all__ and name != "log_input":
        from gittrack.lineage import checks

        value = getattr(checks, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
