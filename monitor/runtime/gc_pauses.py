"""How long Python's garbage collector has stopped this process: its full collections, counted and timed.

A full collection walks every object the collector tracks while nothing else runs: in a worker, a time in
which no event is applied and no alert is sent. The worker logs these figures with its counters, so that an
operator sees the pauses (and `bench/kafka.py` reads them from the log beside the latency it measures).
"""

from __future__ import annotations

import gc
import time
from typing import Any

__all__ = ["GcPauses"]

FULL = 2  # the oldest generation: a full collection


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
        """One line for the log: how many so far, how long in all, the longest; and since the last summary."""
        line = (f"{self.count} full collections, {self.total_s:.1f} s in all, longest {1000 * self.longest_s:.0f} ms; "
                f"since the last report {self.count - self._reported}, longest {1000 * self._recent_longest_s:.0f} ms")
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
