"""Autologging: record training runs of scikit-learn, XGBoost and LightGBM unasked.

``gittrack.autolog()`` enables every supported library, now for those already imported
and at their import for the others; ``gittrack.sklearn.autolog()``,
``gittrack.xgboost.autolog()`` and ``gittrack.lightgbm.autolog()`` enable one. What each
records is listed in docs/autolog.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from gittrack.autologging import hooks
from gittrack.autologging.safety import Options, disable, enable

__all__ = ["FLAVORS", "autolog", "configure", "enable_flavor"]

# flavor -> (module that must be imported first, gittrack module with its install())
FLAVORS: dict[str, tuple[str, str]] = {
    "sklearn": ("sklearn", "gittrack.autologging.sklearn"),
    "xgboost": ("xgboost", "gittrack.autologging.xgboost"),
    "lightgbm": ("lightgbm", "gittrack.autologging.lightgbm"),
}


def enable_flavor(flavor: str, *, disable_: bool, opts: Options) -> None:
    """Enable one flavor now (its library gets imported) or, with ``disable_``, remove it."""
    hooks.cancel(FLAVORS[flavor][0])
    if disable_:
        disable(flavor)
        return
    module = importlib.import_module(FLAVORS[flavor][1])
    install: Callable[[Options], None] = module.install
    enable(flavor, opts, lambda: install(opts))


def configure(
    flavor: str,
    *,
    disable: bool,
    log_input_examples: bool,
    log_model_signatures: bool,
    log_models: bool,
    log_datasets: bool,
    exclusive: bool,
    silent: bool,
    extra_tags: Mapping[str, Any] | None,
    registered_model_name: str | None,
    **extra: Any,
) -> None:
    """What a flavor's ``autolog(...)`` does: enable it with these options, or remove it."""
    opts = Options(
        log_models=log_models,
        log_datasets=log_datasets,
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        exclusive=exclusive,
        silent=silent,
        extra_tags={str(k): str(v) for k, v in (extra_tags or {}).items()},
        registered_model_name=registered_model_name,
        extra=extra,
    )
    enable_flavor(flavor, disable_=disable, opts=opts)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    log_traces: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, Any] | None = None,
    exclude_flavors: list[str] | None = None,
) -> None:
    """Enable (or, with ``disable=True``, remove) autologging for every supported library.

    Libraries already imported are patched now; the others when they are first imported.
    MLflow's signature: ``log_traces`` (gittrack records no GenAI traces) and
    ``disable_for_unsupported_versions`` (every installed version is patched) are
    accepted and ignored.
    """
    common: dict[str, Any] = {
        "log_input_examples": log_input_examples,
        "log_model_signatures": log_model_signatures,
        "log_models": log_models,
        "log_datasets": log_datasets,
        "exclusive": exclusive,
        "silent": silent,
        "extra_tags": extra_tags,
        "registered_model_name": None,
    }
    for flavor, (library, _) in FLAVORS.items():
        if flavor in (exclude_flavors or ()):
            continue
        if disable:
            configure(flavor, disable=True, **common)
            continue

        def hook(module: ModuleType, flavor: str = flavor) -> None:
            configure(flavor, disable=False, **common)

        hooks.when_imported(library, hook)
