"""Keeping what a long run builds once, and keeps to its end, out of the garbage collector's walks.

CPython starts a full collection once the objects promoted since the last one number a quarter of the
oldest generation: a count of objects, not of their sizes. A run whose first pass leaves a few
containers of millions of entries (the line index, the household order, the routing directory, a
spool's index) has few objects and long walks: each full collection visits every entry again, and they
come often. Frozen (`gc.freeze`), those objects are left out of every collection until thawed: in the
pooled run of 1M households, the parent's collections took 51 s instead of 99 s (BENCHMARKS.md).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["frozen_from_collector"]


@contextmanager
def frozen_from_collector() -> Iterator[None]:
    """Freeze every object alive now until the block ends (error or not); not meant to be nested.

    A full collection first, so that no garbage is frozen with them: a frozen cycle would stay in memory
    to the end of the block. The freeze is process-wide, so it is undone on the way out: a caller that
    runs again in the same process (the tests, the Kafka tests' oracle) would otherwise keep every run's
    objects frozen, and any reference cycle among them uncollected.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
