"""The worker's account of the garbage collector's full collections."""

from __future__ import annotations

import gc
import re

from monitor.runtime.gc_pauses import GcPauses


def test_full_collections_are_counted_and_timed_and_young_ones_are_not() -> None:
    pauses = GcPauses().install()
    gc.disable()  # only the collections asked for here
    try:
        gc.collect(0)
        gc.collect(1)
        assert pauses.count == 0
        garbage = [[] for _ in range(50_000)]  # something to walk, so the collections take measurable time
        gc.collect()
        gc.collect()
        del garbage
    finally:
        pauses.uninstall()
        gc.enable()
    gc.collect()  # after uninstall: not counted
    assert pauses.count == 2
    assert 0 < pauses.longest_s <= pauses.total_s
    assert re.fullmatch(r"2 full collections, \d+\.\d s in all, longest \d+ ms; since the last report 2, "
                        r"longest \d+ ms", pauses.summary())
    assert pauses.summary().endswith("since the last report 0, longest 0 ms")  # (a summary starts the next period)


def test_uninstall_twice_is_harmless() -> None:
    pauses = GcPauses().install()
    pauses.uninstall()
    pauses.uninstall()
    assert pauses._on_collection not in gc.callbacks
