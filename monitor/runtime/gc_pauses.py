"""How long Python's garbage collector has stopped this process: its full collections, counted and timed.

A full collection walks every object the collector tracks while nothing else runs: in a worker, a time in
which no event is applied and no alert is sent. The worker logs these figures with its counters, so that an
operator sees the pauses, and `bench/kafka.py` reads them back (`read_report`) beside the latency it measures:
the line's format is written and read here only.
"""

from __future__ import annotations

import gc
import re
import time
from typing import Any, NamedTuple

__all__ = ["GcPauses", "Report", "read_report"]

FULL = 2  # the oldest generation: a full collection
_REPORT = re.compile(r"garbage collector: (\d+) full collections, ([\d.]+) s in all, longest (\d+) ms; "
                     r"since the last report (\d+), longest (\d+) ms")


class Report(NamedTuple):
    """One `GcPauses.summary` line, read back."""

    full_collections: int
    total_s: float
    longest_ms: float
    recent: int  # full collections since the report before
    recent_longest_ms: float


def read_report(line: str) -> Report | None:
    """The report in one log line, or None when the line has none."""
    match = _REPORT.search(line)
    if match is None:
        return None
    return Report(int(match[1]), float(match[2]), float(match[3]), int(match[4]), float(match[5]))


class GcPauses:
    """Counts and times the full collections from `install` to `uninstall`."""

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.longest_s = 0.0
        self._started = 0.0
        self._reported = 0  # the count at the last summary
        self._recent_longest_s = 0.0  # the longest since then

    def install(self) -> GcPauses:
        """Start timing (a callback of the collector); returns self."""
        gc.callbacks.append(self._on_collection)
        return self

    def uninstall(self) -> None:
        """Stop timing."""
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def summary(self) -> str:
        """The log line: how many so far, how long in all, the longest; and since the last summary (`read_report`)."""
        line = (f"garbage collector: {self.count} full collections, {self.total_s:.1f} s in all, "
                f"longest {1000 * self.longest_s:.0f} ms; since the last report {self.count - self._reported}, "
                f"longest {1000 * self._recent_longest_s:.0f} ms")
        self._reported, self._recent_longest_s = self.count, 0.0
        return line

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != FULL:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        self.count += 1
        self.total_s += took
        self.longest_s = max(self.longest_s, took)
        self._recent_longest_s = max(self._recent_longest_s, took)
