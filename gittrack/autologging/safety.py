"""The machinery every autologging integration shares.

- Options: what ``autolog(...)`` was called with, per flavor (``sklearn``, ``xgboost``,
  ``lightgbm``); a flavor without options is disabled.
- Patches: ``patch_method``/``patch_attribute`` replace a function with a wrapper made by
  ``functools.wraps`` (same name, docstring and ``inspect.signature``); ``revert`` puts
  every original back.
- Training sessions: a process-wide stack of the fits being logged, so a ``fit`` inside a
  logged ``fit`` (a meta-estimator's inner estimators) is not logged again.
- Managed runs: a logged fit with no active run starts one and ends it afterwards.
- Safety: an exception raised by gittrack's own code is logged as a warning on the
  ``gittrack.autolog`` logger and the user's training goes on; exceptions of the
  training itself propagate unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTOLOGGING_TAG",
    "LoggingRun",
    "Options",
    "Recorder",
    "call_safely",
    "disable",
    "enable",
    "is_patched",
    "logged",
    "logging_run",
    "may_log",
    "patch_attribute",
    "patch_method",
    "quiet",
    "revert",
    "training_session",
    "warn",
]

AUTOLOGGING_TAG = "mlflow.autologging"
_logger = logging.getLogger("gittrack.autolog")
_MISSING = object()


@dataclass(frozen=True)
class Options:
    """The options of one flavor's ``autolog(...)`` call (MLflow's names)."""

    log_models: bool = True
    log_datasets: bool = True
    log_input_examples: bool = False
    log_model_signatures: bool = True
    exclusive: bool = False
    silent: bool = False
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    registered_model_name: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


_lock = threading.RLock()
_options: dict[str, Options] = {}
# flavor -> (owner, attribute name, value in owner.__dict__ before patching or _MISSING)
_patches: dict[str, list[tuple[Any, str, Any]]] = {}


def enable(flavor: str, opts: Options, install: Callable[[], None]) -> None:
    """Enable ``flavor`` with ``opts``: patches installed by ``install`` replace old ones."""
    with _lock:
        revert(flavor)
        _options[flavor] = opts
        try:
            install()
        except BaseException:
            revert(flavor)
            raise


def disable(flavor: str) -> None:
    """Disable ``flavor`` and remove its patches."""
    with _lock:
        revert(flavor)


def revert(flavor: str) -> None:
    """Put back every original the flavor replaced (newest patch first)."""
    with _lock:
        _options.pop(flavor, None)
        for owner, name, before in reversed(_patches.pop(flavor, [])):
            if before is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, before)


def is_patched(func: Any) -> bool:
    """Whether ``func`` is a wrapper installed by autologging."""
    return hasattr(func, "__gittrack_original__")


def _unwrap(func: Any) -> Any:
    while is_patched(func):
        func = func.__gittrack_original__
    return func


def _install(flavor: str, owner: Any, name: str, original: Any, wrapper: Any) -> None:
    functools.update_wrapper(wrapper, original)
    wrapper.__gittrack_original__ = original
    before = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
    setattr(owner, name, wrapper)
    _patches.setdefault(flavor, []).append((owner, name, before))


def patch_attribute(
    flavor: str, owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> None:
    """Replace the function ``owner.name`` (a module attribute) by ``make(original)``."""
    original = _unwrap(getattr(owner, name, None))
    if not callable(original):
        return
    _install(flavor, owner, name, original, make(original))


def patch_method(
    flavor: str, cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> None:
    """Replace method ``name`` of ``cls`` (own or inherited) by ``make(original)``.

    A method behind scikit-learn's ``available_if`` descriptor keeps its descriptor:
    the descriptor's function is wrapped instead, so availability checks still apply.
    """
    for klass in cls.__mro__:
        if name in klass.__dict__:
            raw = klass.__dict__[name]
            break
    else:
        return
    if hasattr(raw, "fn") and hasattr(raw, "check"):  # sklearn's available_if
        if not is_patched(raw.fn):
            _install(flavor, raw, "fn", raw.fn, make(raw.fn))
        return
    if not callable(raw) or isinstance(raw, (staticmethod, classmethod, type)):
        return
    original = _unwrap(raw)
    _install(flavor, cls, name, original, make(original))


# -- warnings -----------------------------------------------------------------------------
def warn(flavor: str, message: str, *args: Any) -> None:
    """Log a warning about autologging (not when the flavor is ``silent``)."""
    opts = _options.get(flavor)
    if opts is None or not opts.silent:
        _logger.warning("gittrack autologging (%s): " + message, flavor, *args)


def call_safely(flavor: str, what: str, func: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """``func(*args, **kw)``; an exception becomes a warning naming ``what``, and None."""
    try:
        with quiet():
            return func(*args, **kw)
    except Exception as e:
        warn(flavor, "%s failed, training goes on: %s: %s", what, type(e).__name__, e)
        return None


# -- training sessions --------------------------------------------------------------------
# One stack for the process (as MLflow's): joblib's threads fitting a meta-estimator's
# inner estimators must see the outer fit too, which a thread-local stack would hide.
_sessions: list[tuple[object, bool]] = []
_quiet: list[bool] = []


def may_log() -> bool:
    """False inside a logged fit that does not allow its inner fits to be logged."""
    return not _quiet and all(allow for _, allow in _sessions)


@contextlib.contextmanager
def training_session(estimator: object, *, allow_children: bool) -> Iterator[None]:
    """Mark a fit of ``estimator`` as being logged for the duration of the block."""
    entry = (estimator, allow_children)
    _sessions.append(entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            _sessions.remove(entry)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Within the block, patched functions do not log (gittrack's own metric calls)."""
    _quiet.append(True)
    try:
        yield
    finally:
        _quiet.pop()


# -- runs ---------------------------------------------------------------------------------
_autolog_runs: set[str] = set()


@dataclass
class LoggingRun:
    """The run a logged fit writes to (the user's, or one autologging started)."""

    run_id: str


@contextlib.contextmanager
def logging_run(flavor: str, opts: Options) -> Iterator[LoggingRun | None]:
    """The active run, or a run started (and ended after the block) for this fit.

    Yields None when nothing is to be logged: ``exclusive`` with a run the user started,
    or a run that could not be started (a warning says why).
    """
    from gittrack import fluent

    active = fluent.active_run()
    if active is not None:
        run_id = active.info.run_id
        if opts.exclusive and run_id not in _autolog_runs:
            yield None
            return
        yield LoggingRun(run_id)
        return
    try:
        run = fluent.start_run(tags={AUTOLOGGING_TAG: flavor, **dict(opts.extra_tags)})
    except Exception as e:
        warn(flavor, "no run could be started, training goes on unlogged: %s", e)
        yield None
        return
    run_id = run.info.run_id
    _autolog_runs.add(run_id)
    status = "FAILED"
    try:
        yield LoggingRun(run_id)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        _autolog_runs.discard(run_id)
        call_safely(flavor, "ending the run", fluent.end_run, status)


# -- logged calls -------------------------------------------------------------------------
class Recorder:
    """What one logged call records: ``before`` may change the call's arguments."""

    def before(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
        """Log what is known before training; return ``(args, kwargs)`` to call with."""
        return None

    def after(self, result: Any) -> None:
        """Log what training produced."""


def logged(
    flavor: str,
    original: Callable[..., Any],
    make_recorder: Callable[[Options, LoggingRun, tuple[Any, ...], dict[str, Any]], Recorder],
    *,
    allow_children: bool,
    is_method: bool = True,
    skip: Callable[[], bool] | None = None,
) -> Callable[..., Any]:
    """A wrapper of ``original`` that logs each call into a (possibly managed) run.

    ``skip()`` (asked only when the call would be logged) vetoes logging this call.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = _options.get(flavor)
        if opts is None or not may_log() or (skip is not None and skip()):
            return original(*args, **kwargs)
        owner = args[0] if is_method and args else original
        with (
            training_session(owner, allow_children=allow_children),
            logging_run(flavor, opts) as run,
        ):
            if run is None:
                return original(*args, **kwargs)
            recorder = call_safely(
                flavor, "reading the training call", make_recorder, opts, run, args, kwargs
            )
            if recorder is not None:
                changed = call_safely(
                    flavor, "logging before training", recorder.before, args, kwargs
                )
                if changed is not None:
                    args, kwargs = changed
            result = original(*args, **kwargs)
            if recorder is not None:
                call_safely(flavor, "logging after training", recorder.after, result)
            return result

    return wrapper
