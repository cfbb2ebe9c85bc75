"""The worker's account of the garbage collector's full collections."""

from __future__ import annotations

import gc
import re

from monitor.runtime.gc_pauses import GcPauses, read_report


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
    line = pauses.summary()
    assert re.fullmatch(r"garbage collector: 2 full collections, \d+\.\d s in all, longest \d+ ms; "
                        r"since the last report 2, longest \d+ ms", line)
    assert pauses.summary().endswith("since the last report 0, longest 0 ms")  # (a summary starts the next period)
    report = read_report(f"[2026-11-30 18:00:00,000] INFO monitor.worker: {line}")  # as the worker logs it
    assert report is not None
    assert (report.full_collections, report.recent) == (2, 2)
    assert report.longest_ms == report.recent_longest_ms == round(1000 * pauses.longest_s)
    assert report.total_s == round(pauses.total_s, 1)


def test_a_line_without_a_report_reads_as_none() -> None:
    assert read_report("[2026-11-30 18:00:00,000] INFO monitor.worker: counters: {'applied': 3}") is None


def test_uninstall_twice_is_harmless() -> None:
    pauses = GcPauses().install()
    pauses.uninstall()
    pauses.uninstall()
    assert pauses._on_collection not in gc.callbacks
