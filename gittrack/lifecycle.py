"""Lifecycle stages of runs: MLflow's ``ViewType`` (also exported by :mod:`gittrack.entities`).

Its own small module so that a search imports it without the entity classes.
"""

from __future__ import annotations

from gittrack.errors import ValidationError

__all__ = ["ViewType"]


class ViewType:
    """Which lifecycle stages a search returns (MLflow's values)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @staticmethod
    def from_string(name: str) -> int:
        """The view type MLflow names ``active_only``, ``deleted_only`` or ``all`` (any case)."""
        found = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}.get(name.upper())
        if found is None:
            raise ValidationError(
                f"unknown view type {name!r} (use active_only, deleted_only or all)"
            )
        return found

    @staticmethod
    def stages(view_type: int) -> frozenset[str]:
        """The lifecycle stages ``view_type`` selects."""
        if view_type == ViewType.ACTIVE_ONLY:
            return frozenset({"active"})
        if view_type == ViewType.DELETED_ONLY:
            return frozenset({"deleted"})
        if view_type == ViewType.ALL:
            return frozenset({"active", "deleted"})
        raise ValidationError(
            f"unknown view_type {view_type!r} (use ViewType.ACTIVE_ONLY, DELETED_ONLY or ALL)"
        )
