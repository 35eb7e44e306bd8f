"""Models: the MLmodel format with flavors, a registry in git refs, and serving.

Submodules load lazily; the facade functions live in :mod:`gittrack.models.api`.
"""

from __future__ import annotations
