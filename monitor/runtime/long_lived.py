"""Keeping what a long run builds once, and keeps to its end, out of the garbage collector's walks.

CPython starts a full collection once the objects promoted since the last one number a quarter of the
oldest generation: a count of objects, not of their sizes. A run whose first pass leaves a few
containers of millions of entries (the line index, the household order, the routing directory, a
spool's index) has few objects and long walks: each full collection visits every entry again, and they
come often. Frozen (`gc.freeze`), those objects are left out of every collection until thawed: in the
pooled run of 1M households, the parent's collections took 51 s instead of 99 s (BENCHMARKS.md). A worker
freezes what it has built once it is up (`freeze_for_good`): faust, aiokafka and the modules are about 90,000
objects that every full collection walked again while no event was applied.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["freeze_for_good", "frozen_from_collector"]


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


def freeze_for_good() -> int:
    """Freeze every object alive now for the rest of the process; returns how many are frozen.

    For a process that has finished building what it keeps to its end (a worker, once its first partitions
    are assigned). A full collection first, so that no garbage is frozen; an object frozen here and dropped
    later is still freed by its reference count, only a reference cycle among such objects would stay.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
