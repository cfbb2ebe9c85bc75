"""How far the membership facts this worker sent reach, until its directory has applied them.

The household agent announces each member of a registry record as a membership fact on
`{app}-membership`; the members agent applies it to the directory.  In between, a fact sits in the
producer or on the broker, where the consumer's view of the partition's end (from its last fetch) does
not show it yet.  The router, which keeps an event about an unknown person while the directory may
still learn that person (`engine.hold_unknown_person`), must count such facts as pending.

It used to rely on a settling time for them, and that was not enough: after the worker had stalled for
a moment (a `SIGSTOP` of 2.5 s in tests/kafka/test_cold_start.py), its consumer showed nothing pending
for over a second while the broker had already acknowledged about 1,000 facts per partition that it
had not fetched, and the router sent the events waiting for them the long way round.  The producer's
acknowledgement gives each fact's partition and offset, so the worker knows exactly how far its own
facts reach.  Facts that other workers send are still covered by the partition ends and the settling
time only.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["SentFacts"]


class SentFacts:
    """Membership facts sent by this worker: how many await the broker's acknowledgement, how far the rest reach."""

    def __init__(self) -> None:
        self.unacknowledged = 0
        self.reach: dict[int, int] = {}  # partition -> offset of the last fact acknowledged there

    def track(self, delivery: asyncio.Future[Any]) -> None:
        """Follow one fact's delivery (the future the producer resolves with the record's metadata)."""
        self.unacknowledged += 1
        delivery.add_done_callback(self._delivered)

    def _delivered(self, delivery: asyncio.Future[Any]) -> None:
        self.unacknowledged -= 1
        if delivery.cancelled() or delivery.exception() is not None:
            return  # never written: nothing for the directory to wait for
        metadata = delivery.result()
        if metadata.offset > self.reach.get(metadata.partition, -1):
            self.reach[metadata.partition] = metadata.offset

    def pending(self, partition: int, handled: int) -> bool:
        """Whether a fact this worker sent to `partition` is at or past `handled` (the next offset not yet applied)."""
        return self.reach.get(partition, -1) >= handled
