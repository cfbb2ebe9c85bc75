"""Every agent's loop in the worker: take each offset once, merge partitions by event time, handle.

**Offsets.**  The agents' topics are read with faust's acks off; what may be committed is kept by the
worker's `OffsetLedger` (monitor/runtime/offsets.py), which takes a partition's messages strictly in
offset order from the committed offset on.  A message the ledger does not take (a redelivery, one
fetched before a seek, one of a partition not ours) is skipped; a taken one is buffered here, handled
in offset order per partition, and only then recorded as handled, so a commit never passes a message
that was not handled.

**Order (`ordered=True`).**  Kafka orders messages only within a partition, and faust hands an
agent that reads several topics their messages round-robin by topic.  With a backlog (a first
load, a catch-up after an outage) a household's events on a small topic (death) would reach it
long before its earlier events on a big one (household-data), and events could reach the household
agent before their household's registry record.  The core copes with any order (a late event
replays the household; an unknown household is retried), but every replay rescores the household,
and an alert already sent from the partial view stays on the feed.  So, like Kafka Streams'
partition groups (which take the record with the smallest timestamp among a task's partitions and
wait up to `max.task.idle.ms` for an empty one), an ordered merger releases the buffered message
with the smallest key (event time; registry records and invalid input first) when (a) no partition
that still has unread messages lacks a buffered one, and (b) every partition has one buffered or
the longest-waiting buffered message has waited `hold_s` (`MONITOR_MERGE_HOLD_MS`, default 0: a
producer's batches may reach partitions a little apart).  (b) is timed from the OLDEST arrival, not
from the best message's: timed from the best one, every newcomer with a smaller key (or the same key,
on a partition iterated first) restarted the wait, and at a steady 100 events/s messages sat in the
router for 2 to 5 s.  Bounds: nothing waits longer than MERGE_MAX_HOLD_S and at most
MERGE_MAX_BUFFERED messages are held.
(Pausing a partition that runs ahead would bound the buffer better, but faust's soft pause drops
records already fetched for a paused partition: do not use `consumer.pause_partitions` outside a
rebalance.)

**Not yet.**  A handler may answer "not yet" (the router, for an event about a person its directory
does not know yet while registry data is still arriving).  The message stays at the head of its queue with
everything behind it, and the merger asks again at its next tick (`release_held`, every 0.1 s), not at
each message that arrives: at a cold start of 5,000 households the router asked 33,000 to 46,000 times,
each time resolving the person and scanning the registry partitions, on the core that was filling the
directory.

**Rebalance.**  When faust suspends the flow the buffer is dropped unhandled; the ledger expects its
messages again, and the seek of the next assignment delivers them again to whichever worker owns
them then.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from monitor.runtime.offsets import OffsetLedger, Take

__all__ = ["NOT_HELD", "NO_TIME", "AssignedPartitions", "InputMerger", "may_have_unread", "pick"]

log = logging.getLogger("monitor.worker")

NO_TIME = -(1 << 62)  # the merge key of what goes first: registry records, invalid input
NOT_HELD = -1  # the end of a partition the consumer no longer holds: before any offset, so nothing is pending on it
MERGE_MAX_HOLD_S = 60.0  # ... and at most (a partition that lags but delivers nothing)
MERGE_MAX_BUFFERED = 100_000


def pick(heads: Sequence[tuple[int, float, Any]], now: float, *, ordered: bool, hold_s: float, overfull: bool,
         scan: Callable[[], tuple[bool, bool]]) -> Any:
    """Which partition's head to hand over now, if any (the merge policy above, free of faust).

    `heads` holds (key, arrival time, partition) of each non-empty queue's first message; `scan` says
    whether an assigned partition with nothing buffered still has unread messages (then wait), and
    whether every assigned partition has a head.  Unordered, the longest-waiting head goes at once.
    """
    if not heads:
        return None
    best = min(heads, key=_by_key_then_arrival)
    oldest = min(heads, key=_by_arrival)
    if not ordered:
        return oldest[2]
    waited = now - oldest[1]
    if best[0] == NO_TIME or overfull or waited >= MERGE_MAX_HOLD_S:
        return best[2]
    behind, all_heads = scan()
    if behind:
        return None  # a partition with unread messages has none buffered: its next one may come first
    if all_heads or waited >= hold_s:
        return best[2]
    return None


def may_have_unread(highwater: int | None, expected: int | None) -> bool:
    """Whether a partition with nothing buffered may still deliver a message that should go first.

    `expected` is the next offset the ledger expects of it (None: not seeded yet); `highwater` its end as the
    consumer's last fetch response gave it, None before the first one (aiokafka): not known to be caught up,
    so it is waited for like one with unread messages (at most MERGE_MAX_HOLD_S).
    """
    if expected is None:
        return False
    return highwater is None or highwater > expected


def _by_key_then_arrival(head: tuple[int, float, Any]) -> tuple[int, float]:
    return head[0], head[1]


def _by_arrival(head: tuple[int, float, Any]) -> float:
    return head[1]


class AssignedPartitions:
    """Which of some partitions this worker is assigned now (asked of the consumer at most once a second)."""

    def __init__(self, app: Any, tps: list[Any]) -> None:
        self.app, self.tps = app, tps
        self._assigned: list[Any] = []
        self._asked_at = -1.0

    def now(self) -> list[Any]:
        """The assigned ones among `tps`."""
        now = time.monotonic()
        if now - self._asked_at > 1.0:
            assignment = self.app.consumer.assignment()
            self._assigned = [tp for tp in self.tps if tp in assignment]
            self._asked_at = now
        return self._assigned

    def forget(self) -> None:
        """The assignment changed (a rebalance): ask the consumer again at the next `now()`."""
        self._asked_at = -1.0

    def highwater(self, tp: Any) -> int | None:
        """`tp`'s end as the consumer last fetched it; None before its first fetch; NOT_HELD once it is taken away.

        The consumer's assignment changes in its own thread, so a partition `now()` listed a moment ago may be
        gone, and aiokafka asserts that it is not (B11 in RELIABILITY.md: an error logged at two workers' rebalance).
        Nothing more will come from a partition taken away, so it is not waited for, and `now()` asks again.
        """
        try:
            return self.app.consumer.highwater(tp)
        except AssertionError:  # aiokafka: "Partition is not assigned"
            self.forget()
            return NOT_HELD


class InputMerger:
    """One agent's intake: ledger-checked, buffered per partition, released in key order, handled."""

    def __init__(self, app: Any, ledger: OffsetLedger, topics: list[str], partitions: int, *, name: str,
                 prepare: Any, handle: Any, ordered: bool = True, hold_s: float = 0.0) -> None:
        from faust.streams import _current_event
        from faust.types import TP

        self.app, self.ledger, self.name, self.prepare, self.handle = app, ledger, name, prepare, handle
        self.ordered, self.hold_s = ordered, hold_s
        self.assigned = AssignedPartitions(app, [TP(topic, p) for topic in topics for p in range(partitions)])
        self._current_event = _current_event
        self.queues: dict[Any, collections.deque[tuple[int, Any, Any, float]]] = {}
        self.buffered = 0
        self.stream: Any = None
        self.lock = asyncio.Lock()
        self._wake: asyncio.TimerHandle | None = None
        self._woken: asyncio.Future[None] | None = None
        self.waiting = False  # the handler said "not yet": try again at the next tick, not at every message

    async def run(self, stream: Any) -> None:
        """The agent body: take every message, release what may go; nothing ever leaves it."""
        self.drop()
        unacked = stream.noack()
        self.stream = unacked
        async for ev in unacked.events():
            try:
                await self.add(ev)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - not recorded as handled: it is read again after a restart
                log.exception("%s: could not take a message", self.name)

    async def tick(self) -> None:
        """Timer: release what has waited long enough, or drop the buffer while faust rebalances."""
        try:
            if not self.app.flow_control.is_active():
                self.drop()
                return
            self.waiting = False
            await self.release()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a timer that raises crashes the app
            log.exception("%s: releasing held messages failed", self.name)

    def drop(self) -> None:
        """Forget the buffer unhandled; the ledger expects those messages again."""
        if not self.buffered:
            return
        self.ledger.forget_taken([tp for tp, queue in self.queues.items() if queue])
        log.info("%s: dropped %d held messages for a rebalance (they are read again)", self.name,
                 self.buffered)
        self.queues.clear()
        self.buffered = 0
        self.waiting = False  # the message that said "not yet" went with the buffer

    async def add(self, ev: Any) -> None:
        """Take one message (prepared now: validated or decoded), then release what may go."""
        m = ev.message
        # faust's ack only lets faust forget the message (acks are off for these topics): what is
        # committed comes from the ledger, after the message was handled.
        await self.stream.ack(ev)
        if self.ledger.take(m.tp, m.offset) is not Take.TAKE:
            return
        key, item = self.prepare(ev) if self.ordered else (0, None)
        queue = self.queues.setdefault(m.tp, collections.deque())
        queue.append((key, item, ev, time.monotonic()))
        self.buffered += 1
        if not self.waiting:
            await self.release()

    async def release(self) -> None:
        """Hand buffered messages to the handler, smallest key first, while the merge allows it."""
        if not self.buffered or self.stream is None or self.lock.locked():
            return  # (a release in progress, e.g. a retry waiting until it is due, carries on by itself)
        async with self.lock:
            while self.buffered and self.app.flow_control.is_active():
                tp = self._next()
                if tp is None:
                    self._wake_at_deadline()
                    return
                queue = self.queues[tp]
                key, item, ev, arrived = queue.popleft()
                self.buffered -= 1
                self._current_event.set(weakref.ref(ev))  # tables read and write in this message's partition
                if await self.handle(item, ev) is False:  # (handlers never raise: Engine.guard)
                    queue.appendleft((key, item, ev, arrived))  # not yet: keep it, and the order
                    self.buffered += 1
                    self.waiting = True
                    return
                self.ledger.done(tp, ev.message.offset)

    def _wake_at_deadline(self) -> None:
        """Release again when the longest-waiting message has waited `hold_s`, not at the next tick."""
        if self._wake is not None or not self.ordered:
            return
        oldest = min((queue[0][3] for queue in self.queues.values() if queue), default=None)
        if oldest is not None and (delay := oldest + self.hold_s - time.monotonic()) > 0:
            self._wake = asyncio.get_running_loop().call_later(delay, self._on_wake)

    def _on_wake(self) -> None:
        self._wake = None
        self._woken = asyncio.ensure_future(self.tick())  # (held: the loop keeps only a weak reference)

    def _next(self) -> Any:
        heads = [(queue[0][0], queue[0][3], tp) for tp, queue in self.queues.items() if queue]
        return pick(heads, time.monotonic(), ordered=self.ordered, hold_s=self.hold_s,
                    overfull=self.buffered > MERGE_MAX_BUFFERED, scan=self._scan)

    def _scan(self) -> tuple[bool, bool]:
        """Look at the assigned partitions with nothing buffered.

        Returns (one of them still has unread messages, there are none).
        """
        all_heads = True
        for tp in self.assigned.now():
            if self.queues.get(tp):
                continue
            all_heads = False
            if may_have_unread(self.assigned.highwater(tp), self.ledger.expected.get(tp)):
                return True, False
        return False, all_heads
