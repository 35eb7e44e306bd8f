"""Models: the MLmodel format with flavors, a registry in git refs, and serving.

Submodules load lazily; the facade functions live in :mod:`gittrack.models.api`.
``gittrack.models.infer_signature`` and ``ModelSignature`` are MLflow's names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gittrack.models.signature import ModelSignature, infer_signature

__all__ = ["ModelSignature", "infer_signature"]


def __getattr__(name: str) -> Any:
    """Load ``infer_signature`` and ``ModelSignature`` on first use."""
    if name in __all__:
        from gittrack.models import signature

        return getattr(signature, name)
    raise AttributeError(f"module 'gittrack.models' has no attribute {name!r}")
