"""The worker consumer's fetch wait: how long the broker may hold a fetch that finds nothing new.

faust builds its aiokafka consumer with a fixed `fetch_max_wait_ms` of 1,500 ms and has no setting for it.
aiokafka keeps one fetch in flight per broker, and leaves out of it every partition whose fetched records are
not consumed yet. So a partition drained just after a fetch went out is asked for again only when that fetch
comes back: when new data reaches one of the partitions in it, or after the whole wait. For a busy worker that
is up to 1.5 s of latency on a partition that had data all along (BENCHMARKS.md, sixteenth and seventeenth
sessions: p99 at 1,000 events/s).

The wait lives in two private attributes: the consumer's (read when it builds its fetcher, at start) and the
fetcher's (read for every fetch). Both are set; if either is missing, as after an aiokafka upgrade that renamed
them, nothing is set and a warning says so, rather than the worker failing to start.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["keep_fetch_wait", "set_fetch_wait"]

log = logging.getLogger("monitor.worker")


def keep_fetch_wait(app: Any, wait_ms: int) -> None:
    """Set the fetch wait at each partition assignment of the faust app; say once whether it took."""
    said = False

    @app.on_partitions_assigned.connect
    async def set_at_assignment(sender: Any, *args: Any, **kwargs: Any) -> None:
        # at every assignment, not only the first: cheap, and right for a consumer faust made anew
        nonlocal said
        took = set_fetch_wait(app, wait_ms)
        if not said:
            said = True
            if took:
                log.info("consumer fetch wait: %d ms", wait_ms)
            else:
                log.warning("could not set the consumer's fetch wait (aiokafka changed?): faust's 1,500 ms stays")


def set_fetch_wait(app: Any, wait_ms: int) -> bool:
    """Set the fetch wait of the faust app's running aiokafka consumer; True when it was set."""
    consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    fetcher = getattr(consumer, "_fetcher", None)
    if not hasattr(consumer, "_fetch_max_wait_ms") or not hasattr(fetcher, "_fetch_max_wait_ms"):
        return False
    consumer._fetch_max_wait_ms = wait_ms  # type: ignore[union-attr]  # noqa: SLF001 - no public setting
    fetcher._fetch_max_wait_ms = wait_ms  # type: ignore[union-attr]  # noqa: SLF001
    return True
