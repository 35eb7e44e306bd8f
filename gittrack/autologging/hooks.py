"""Post-import hooks: call a function once a module has been imported.

``when_imported(name, hook)`` calls ``hook(module)`` at once when ``name`` is already in
``sys.modules``, else right after its first import finishes. A finder at the front of
``sys.meta_path`` recognises the watched names; the module still loads through its own
loader (kept as ``module.__loader__``), so nothing else about the import changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["cancel", "when_imported"]

_logger = logging.getLogger("gittrack.autolog")
_lock = threading.RLock()
_pending: dict[str, list[Callable[[ModuleType], None]]] = {}


def when_imported(name: str, hook: Callable[[ModuleType], None]) -> None:
    """Run ``hook(module)`` now if ``name`` is imported, else after its import."""
    module = sys.modules.get(name)
    if module is not None and not _initializing(module):
        _run(hook, module)
        return
    with _lock:
        _pending.setdefault(name, []).append(hook)
        if not any(isinstance(f, _Finder) for f in sys.meta_path):
            sys.meta_path.insert(0, _Finder())


def cancel(name: str) -> None:
    """Forget the hooks still waiting for ``name``."""
    with _lock:
        _pending.pop(name, None)


def _initializing(module: ModuleType) -> bool:
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _run(hook: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        hook(module)
    except Exception as e:  # an import must never fail because of a hook
        _logger.warning("gittrack autologging could not hook into %s: %s", module.__name__, e)


def _fire(module: ModuleType) -> None:
    with _lock:
        hooks = _pending.pop(module.__name__, [])
    for hook in hooks:
        _run(hook, module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds watched modules through the other finders and wraps their loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _Finder):
                continue
            find = getattr(finder, "find_spec", None)
            found = find(fullname, path, target) if find is not None else None
            if isinstance(found, importlib.machinery.ModuleSpec):
                spec = found
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _HookLoader(spec.loader)
        return spec


class _HookLoader(importlib.abc.Loader):
    """Runs the real loader, puts it back on the module, then fires the hooks."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        _fire(module)
