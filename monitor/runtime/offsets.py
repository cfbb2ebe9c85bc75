"""Which offsets a worker may commit: the worker's own bookkeeping, not faust's.

The distributed runtime is at-least-once made exact by idempotence, so the one thing it must never do
is commit an offset past a message it has not handled: that message is then lost for good.
faust-streaming 0.15.3 derives commits from a list of acked offsets plus "gaps" it infers from its
fetcher, and after a restart or a rebalance it hands some offsets over twice, seeks back and forth,
and resets its idea of the committed offset; under those races its commits passed messages that were
never handled (seen here: 382 of 9,726 events lost over two `kill -9`s, and one in ten lost when two
workers shared the partitions).  So the agents' topics are consumed with faust's acks off, and the
worker commits from this ledger instead, which keeps one rule per partition:

- On every assignment the ledger is seeded with the group's committed offset of each assigned
  partition (or the log start when there is none) and the worker seeks there.
- A message is taken only if its offset is exactly the next one expected.  Lower: a redelivery of a
  message already taken (skipped).  Higher: something fetched before the seek, or the consumer sits
  past the expected offset (skipped, and the partition is sought back to the expected offset: faust
  drops any message below the highest offset it has delivered since a seek, so a stale message that
  slips in after a seek would otherwise hide the ones the seek delivers again; seen in the R2 soak as
  a partition that stopped with 85 messages of lag).  A partition not seeded in the current
  assignment: not ours (skipped).
- Taken messages are handled in offset order per partition (the agents keep a FIFO per partition),
  and the commit of a partition is the offset after the last handled message, never lower than what
  was committed.

So a commit covers exactly a contiguous run of handled messages from the committed offset on.  This
module is plain Python (no faust, no Kafka client) and is tested on its own
(tests/unit/test_offset_ledger.py).
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Mapping

__all__ = ["OffsetLedger", "Take"]


class Take(enum.Enum):
    """What to do with a delivered message."""

    TAKE = "take"  # the next expected offset: handle it
    SEEN = "seen"  # taken already in this assignment (a redelivery): skip
    AHEAD = "ahead"  # beyond the next expected one (fetched before a seek): skip, it comes again
    NOT_OURS = "not_ours"  # not assigned, or not seeded yet in this assignment: skip


class OffsetLedger:
    """Per partition: the next offset to take, the next offset after the handled run, the committed one."""

    def __init__(self) -> None:
        self.generation = 0
        self.expected: dict[Hashable, int] = {}
        self.handled: dict[Hashable, int] = {}
        self.committed: dict[Hashable, int] = {}
        self.skipped: dict[Take, int] = {Take.SEEN: 0, Take.AHEAD: 0, Take.NOT_OURS: 0}
        self.ahead: set[Hashable] = set()  # partitions that delivered past the expected offset since a take

    def close(self) -> int:
        """Partitions are being revoked: forget them all, take nothing until the next seed.

        Returns the new generation, which a seed must name (a seed for an earlier assignment that
        completes late is ignored).
        """
        self.generation += 1
        self.expected.clear()
        self.handled.clear()
        self.committed.clear()
        self.ahead.clear()
        return self.generation

    def seed(self, generation: int, offsets: Mapping[Hashable, int]) -> bool:
        """Start the given partitions at their committed offsets (False: a stale generation)."""
        if generation != self.generation:
            return False
        for tp, offset in offsets.items():
            self.expected[tp] = self.handled[tp] = self.committed[tp] = offset
        return True

    def take(self, tp: Hashable, offset: int) -> Take:
        """Judge one delivered message; TAKE advances the expected offset."""
        expected = self.expected.get(tp)
        verdict = (Take.NOT_OURS if expected is None else Take.SEEN if offset < expected
                   else Take.AHEAD if offset > expected else Take.TAKE)
        if verdict is Take.TAKE:
            self.expected[tp] = offset + 1
            self.ahead.discard(tp)
        else:
            self.skipped[verdict] += 1
            if verdict is Take.AHEAD:
                self.ahead.add(tp)
        return verdict

    def reseek(self) -> dict[Hashable, int]:
        """Partition → offset to seek to: those that delivered past the expected offset since the last call.

        The caller seeks them (once per call: a few stale messages may still follow a seek, and the
        next call seeks again until the expected message arrives).
        """
        due = {tp: self.expected[tp] for tp in self.ahead if tp in self.expected}
        self.ahead.clear()
        return due

    def forget_taken(self, tps: Iterable[Hashable]) -> None:
        """Taken messages were dropped unhandled: expect them again from the first unhandled one."""
        for tp in tps:
            if tp in self.handled:
                self.expected[tp] = self.handled[tp]

    def done(self, tp: Hashable, offset: int) -> bool:
        """A taken message was handled; False (nothing recorded) if it is not the next in the run.

        A message from before a revocation, or one handled out of order, is never committed past.
        """
        if self.handled.get(tp) != offset or offset >= self.expected.get(tp, -1):
            return False
        self.handled[tp] = offset + 1
        return True

    def committable(self) -> dict[Hashable, int]:
        """Partition → offset to commit now (only those that moved since the last commit)."""
        return {tp: upto for tp, upto in self.handled.items() if upto > self.committed.get(tp, -1)}

    def mark_committed(self, generation: int, offsets: Mapping[Hashable, int]) -> None:
        """The broker accepted these commits (ignored if the assignment changed meanwhile)."""
        if generation != self.generation:
            return
        for tp, offset in offsets.items():
            if tp in self.committed:
                self.committed[tp] = max(self.committed[tp], offset)
