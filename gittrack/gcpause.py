"""Pausing Python's cyclic garbage collector while building many small objects at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk build (entities, decoded rows).

    Building a million objects crosses the collector's thresholds again and again, and
    each older-generation pass walks every object built so far: about as costly as the
    build itself (decoding 100,000 index rows: 4 s instead of 1 s). What is built holds
    no reference cycles; the collector runs again as soon as the build is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
