"""What the worker's agents do with one message: validate and route, resolve, apply, send.

The `Engine` holds everything the agents share (the tables, the output topics, the offset ledger, a
cache of decoded household states) and knows nothing of how faust delivers messages: `worker.py`
builds the faust app around it and explains the topology.  Each method handles one kind of message;
`guard` turns anything unexpected into a dead letter, so nothing ever leaves an agent.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import os
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from monitor.errors import InvalidEventError, RejectReason
from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.profile import (
    TOO_LARGE_DETAIL,
    HouseholdState,
    Status,
    apply_event,
    decode_state,
    encode_state,
    new_state,
)
from monitor.pipeline.route import BEFORE_TIME, Directory, joins_household
from monitor.pipeline.validate import decode_household, validate_event
from monitor.records import alert_record, dead_letter, utc_now_text
from monitor.runtime.merger import NO_TIME, AssignedPartitions, InputMerger
from monitor.runtime.messages import (
    Carried,
    Checked,
    Membership,
    carried_decoder,
    encoder,
    json_encoder,
    membership_decoder,
)
from monitor.runtime.offsets import OffsetLedger
from monitor.runtime.sent_facts import SentFacts
from monitor.runtime.state_cache import StateCache
from monitor.runtime.topics import Topics, app_id, bootstrap_servers

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.pipeline.rules import RuleSet
    from monitor.privacy import Pseudonymiser

__all__ = ["EXIT_STATE_WRITE_FAILED", "EXIT_TEST_CRASH", "REFERENCE_SETTLE_S", "Engine", "Progress", "TableMapping",
           "hold_unknown_person", "partition_of"]

log = logging.getLogger("monitor.worker")

DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)
REFERENCE_SETTLE_S = 1.0  # registry data that moved this recently may have more on its way (hold_unknown_person)
STALL_S = 0.5  # the worker looks every 0.1 s; a longer gap between two looks is the worker standing still (Progress)
EXIT_STATE_WRITE_FAILED = 70
EXIT_TEST_CRASH = 137


class TableMapping(MutableMapping[str, Any]):
    """A faust table of raw bytes seen through an encode/decode pair, as the core's mappings expect."""

    def __init__(self, table: Any, encode: Any, decode: Any) -> None:
        self.table, self.encode, self.decode = table, encode, decode

    def __getitem__(self, key: str) -> Any:
        value = self.table.get(key)
        if value is None:
            raise KeyError(key)
        return self.decode(value)

    def get(self, key: str, default: Any = None) -> Any:
        """The decoded value, or `default` (one table read, not two)."""
        value = self.table.get(key)
        return default if value is None else self.decode(value)

    def __setitem__(self, key: str, value: Any) -> None:
        self.table[key] = self.encode(value)

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __iter__(self) -> Iterator[str]:
        return (k.decode() if isinstance(k, bytes) else k for k in self.table.keys())

    def __len__(self) -> int:
        return len(self.table)


def _retry_delays() -> tuple[float, ...]:
    text = os.environ.get("MONITOR_RETRY_DELAYS", "")
    if not text.strip():
        return DEFAULT_RETRY_DELAYS
    try:
        delays = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        log.warning("MONITOR_RETRY_DELAYS is not a list of seconds; using the default")
        return DEFAULT_RETRY_DELAYS
    return tuple(d for d in delays if d >= 0)


def _crash_ids() -> frozenset[str]:
    return frozenset(x.strip() for x in os.environ.get("MONITOR_TEST_CRASH_AFTER_STATE", "").split(",")
                     if x.strip())


@dataclass(slots=True)
class Progress:
    """When a count last changed: here, how far this worker has applied registry records and membership facts.

    Time the worker itself stood still (a gap of over STALL_S between two looks: the process stopped, or its
    event loop blocked) is not time the count failed to move, so it moves `moved_at` on by as much.  Seen
    without it: a worker stopped for 2.5 s during a cold start found the registry data 2.6 s stale on waking
    and sent the events it was holding the long way round, as if the data had stopped coming.
    """

    count: int = -1
    moved_at: float = 0.0
    looked_at: float | None = None

    def note(self, count: int, now: float) -> float:
        """Take the count as it is `now`; returns the last time it changed (stalls of the worker left out)."""
        if self.looked_at is not None and now - self.looked_at > STALL_S:
            self.moved_at += now - self.looked_at
        self.looked_at = now
        if count != self.count:
            self.count, self.moved_at = count, now
        return self.moved_at


def hold_unknown_person(pending: bool, taken: float, moved_at: float, now: float, wait_s: float) -> bool:
    """Should the router keep an event about a person its directory does not know yet?

    Yes while registry records or membership facts are still on their way to this worker (`pending`, or
    moved less than REFERENCE_SETTLE_S ago), for `wait_s` (`MONITOR_PERSON_WAIT_MS`, default 10 s) after
    the router took the event or after that data last moved (`moved_at`), whichever is later.

    A cold start with a large registry fills the directory for as long as the membership facts take to
    apply: for 5,000 households, 14,000 facts beside 49,000 events, 15 to 20 s on this project's 2-core
    machine, and longer the larger the registry.  Held only `wait_s` from its arrival, such an event went the long way
    round (`{app}-by-person`, then parked and retried): it reached its household after its successors (a
    replay, and alerts from the partial view), and had its retries run out first it would have been
    dead-lettered `unknown_household`.  `pending` compares what this worker has applied with the partition
    ends of its consumer's last fetch and with how far its own facts reach (`SentFacts`: its consumer may
    not have fetched facts the broker has acknowledged).  The settling time covers facts other workers have
    just written: at a cold start the members agent caught up with the partition ends while facts were
    still being written (seen: 26 of 1,500 events sent the long way).  Data that stops moving frees the
    router all the same.
    """
    if not pending and now - moved_at >= REFERENCE_SETTLE_S:
        return False
    return now - max(taken, moved_at) < wait_s


class Engine:
    """What the agents do with one message; faust only delivers the messages and stores the tables."""

    def __init__(self, settings: Settings, rules: RuleSet, pseudonymiser: Pseudonymiser, topics: Topics) -> None:
        self.settings, self.rules, self.pseudonymiser, self.topics = settings, rules, pseudonymiser, topics
        self.cache = StateCache()
        self.retry_delays = _retry_delays()
        self.crash_ids = _crash_ids()
        self.crash_marker_dir = Path(settings.data_dir)
        # Filled in by build_app:
        self.profiles: Any = None
        self.directory: Directory | None = None
        self.out: dict[str, Any] = {}
        self.app: Any = None
        self.mergers: list[InputMerger] = []
        self.ledger = OffsetLedger()
        self.agent_topics: frozenset[str] = frozenset()
        self.reference: AssignedPartitions | None = None  # households and membership (see reference_backlog)
        self.reference_moved = Progress()
        self.sent_facts = SentFacts()  # this worker's membership facts, until the directory has them
        self._admin: Any = None
        self.counters: collections.Counter[str] = collections.Counter()

    # -- output ---------------------------------------------------------------------------------------
    async def send(self, name: str, key: str | None, value: bytes) -> asyncio.Future[Any]:
        """Queue a record on an output topic; returns its delivery (resolved with the record's metadata).

        Delivery is awaited by `commit`, which flushes the producer before it commits any source offset.
        """
        return await self.out[name].send(key=key.encode() if key is not None else None, value=value)

    async def dead(self, error: InvalidEventError | RejectReason, raw: bytes, source: dict[str, Any],
                   detail: str | None = None, event_id: str | None = None) -> None:
        """Send one dead-letter record (contract §4.2)."""
        record = dead_letter(error, raw, source, utc_now_text(), detail=detail, event_id=event_id)
        self.counters[f"dead:{record['reason']}"] += 1
        await self.send("deadletter", None, json_encoder.encode(record))

    async def guard(self, coro: Any, raw: bytes | None, source: dict[str, Any]) -> None:
        """Run one message's handler; anything unexpected becomes a `processing_error` dead letter."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - nothing may leave an agent (reliability.md §1.4)
            log.exception("processing error at %s", source)
            try:
                await self.dead(RejectReason.PROCESSING_ERROR, raw or b"", source,
                                detail=f"unexpected {type(exc).__name__} while processing")
            except Exception:  # noqa: BLE001
                log.exception("could not send a dead letter for %s", source)

    async def park_or_fail(self, carried: Carried, target: str, key: str, detail: str) -> None:
        """Retry later (bounded) or give up with `unknown_household`."""
        if carried.attempt < len(self.retry_delays):
            parked = msgspec.structs.replace(carried, attempt=carried.attempt + 1, target=target,
                                             due=time.time() + self.retry_delays[carried.attempt])
            self.counters[f"parked:{target}"] += 1
            await self.send("retry", key, encoder.encode(parked))
            return
        await self.dead(RejectReason.UNKNOWN_HOUSEHOLD, carried.raw, carried.source, detail=detail,
                        event_id=carried.event.event_id)

    # -- router: input topics -------------------------------------------------------------------------
    def check(self, raw: bytes | None, topic: str, partition: int, offset: int) -> Checked:
        """Validate one input message (never raises): a Carried event, or what its dead letter says."""
        raw = raw or b""
        try:
            _, event = validate_event(raw, now=dt.datetime.now(dt.UTC))
            assert event is not None
        except InvalidEventError as exc:
            return Checked(NO_TIME, raw, topic, partition, offset, error=exc)
        except Exception as exc:  # noqa: BLE001
            log.exception("validation crashed at %s/%d@%d", topic, partition, offset)
            return Checked(NO_TIME, raw, topic, partition, offset, error=InvalidEventError(
                RejectReason.PROCESSING_ERROR, f"unexpected {type(exc).__name__} while validating"))
        return Checked(event.t, raw, topic, partition, offset, carried=Carried(event, raw, topic, partition, offset),
                       taken=time.monotonic())

    async def forward(self, checked: Checked) -> bool:
        """Send a checked input on towards its household (or to the dead letters).

        Returns False, having sent nothing, for an event about a person the directory does not know yet
        while registry records or membership facts are still on their way to this worker
        (`hold_unknown_person`): the router then keeps it (and everything after it) a little longer,
        instead of sending it the long way round, where it would reach its household after its
        successors.
        """
        if checked.carried is None:
            assert checked.error is not None
            await self.dead(checked.error, checked.raw, checked.source)
            return True
        carried = checked.carried
        event = carried.event
        if event.household_id:
            await self.send("routed", event.household_id, encoder.encode(carried))
            return True
        assert event.person_id is not None and self.directory is not None
        if partition_of(event.person_id, self.settings.partitions) == checked.partition:
            # Keyed by this very person: the directory partition we read is the person's, so resolve
            # here and save a hop.  (A miss goes the long way, where it is parked and retried.)
            household_id = self.directory.resolve(event.person_id, event.t)
            if household_id is not None:
                routed = msgspec.structs.replace(carried, event=msgspec.structs.replace(event,
                                                                                        household_id=household_id))
                await self.send("routed", household_id, encoder.encode(routed))
                return True
            now = time.monotonic()
            pending, moved_at = self.note_reference(now)
            if hold_unknown_person(pending, checked.taken, moved_at, now, self.settings.person_wait_s):
                return False
        await self.send("by-person", event.person_id, encoder.encode(carried))
        return True

    def note_reference(self, now: float) -> tuple[bool, float]:
        """Whether registry records or membership facts are pending, and when they last moved.

        Called by the router when it meets an unknown person and by the worker's 0.1 s timer, so that
        `moved_at` is when the data moved, not when the router last looked.
        """
        pending, applied = self.reference_backlog()
        return pending, self.reference_moved.note(applied, now)

    def reference_backlog(self) -> tuple[bool, int]:
        """Whether this worker has registry records or membership facts not yet applied; how far it has applied them.

        Not yet applied: before the end of an assigned partition as the consumer last fetched it, or a fact this
        worker sent (still unacknowledged, or acknowledged at or past what it has applied on that partition).
        """
        assert self.reference is not None
        pending, applied = self.sent_facts.unacknowledged > 0, 0
        for tp in self.reference.now():
            handled = self.ledger.handled.get(tp, -1)
            highwater = self.reference.highwater(tp)
            pending = (pending or bool(highwater and highwater > handled)
                       or (tp.topic == self.topics.membership and self.sent_facts.pending(tp.partition, handled)))
            applied += handled
        return pending, applied

    # -- offsets: the worker commits from its ledger (monitor/runtime/offsets.py) ---------------------
    def start_assignment(self, assigned: Any) -> None:
        """A new assignment: forget the old one, and seed the ledger with the new one's committed offsets."""
        generation = self.ledger.close()
        ours = [tp for tp in assigned if tp.topic in self.agent_topics]
        if ours:
            asyncio.ensure_future(self._seed(generation, ours))

    async def _seed(self, generation: int, tps: list[Any]) -> None:
        """Seed the ledger at each partition's committed offset (the log start if none) and seek there.

        The seek makes the consumer deliver every partition again from where the ledger expects it,
        whatever faust fetched before (the ledger skips a message that is not the next expected one).
        Retried until it succeeds or the assignment changes.
        """
        while generation == self.ledger.generation:
            try:
                offsets = await self._start_offsets(tps)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broker hiccup: try again
                log.warning("could not read the committed offsets (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            if self.ledger.seed(generation, offsets):
                for tp, offset in offsets.items():
                    await self.app.consumer.seek(tp, offset)
                log.info("seeded %d partitions at their committed offsets", len(offsets))
            return

    async def _start_offsets(self, tps: list[Any]) -> dict[Any, int]:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.structs import TopicPartition

        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(self.settings),
                                        request_timeout_ms=30_000)
            await admin.start()
            self._admin = admin
        committed = await self._admin.list_consumer_group_offsets(
            app_id(self.settings), partitions=[TopicPartition(tp.topic, tp.partition) for tp in tps])
        earliest = await self.app.consumer.earliest_offsets(*tps)
        starts = {}
        for tp in tps:
            meta = committed.get(TopicPartition(tp.topic, tp.partition))
            offset = meta.offset if meta is not None else -1
            starts[tp] = max(offset, earliest.get(tp, 0) or 0)  # (retention may have removed the committed one)
        return starts

    async def reseek(self) -> None:
        """Seek each partition that delivers past the ledger's expected offset back to that offset."""
        for tp, offset in self.ledger.reseek().items():
            log.info("%s delivered past offset %d (fetched before a seek): seeking back", tp, offset)
            await self.app.consumer.seek(tp, offset)

    async def commit(self) -> None:
        """Commit the handled run of every partition, after flushing what handling it sent."""
        offsets = self.ledger.committable()
        if not offsets:
            return
        generation = self.ledger.generation
        await self.app.producer.flush()  # outputs (tables' changelogs included) reach the broker first
        if await self.app.consumer._commit(offsets):  # the consumer's own commit: faust's acks are off here
            self.ledger.mark_committed(generation, offsets)

    # -- resolver: {app}-by-person --------------------------------------------------------------------
    async def on_by_person(self, value: bytes) -> None:
        """Resolve a person-only event to the household the person belonged to at the event time."""
        carried = carried_decoder.decode(value)
        event = carried.event
        assert self.directory is not None and event.person_id is not None
        household_id = self.directory.resolve(event.person_id, event.t)
        if household_id is None:
            await self.park_or_fail(carried, "by-person", event.person_id,
                                    "no registered household has this person")
            return
        routed = msgspec.structs.replace(carried, event=msgspec.structs.replace(event, household_id=household_id))
        await self.send("routed", household_id, encoder.encode(routed))

    # -- membership agent -----------------------------------------------------------------------------
    def on_membership(self, value: bytes) -> None:
        """Record person → household in the directory table (partition of the person)."""
        member = membership_decoder.decode(value)
        assert self.directory is not None
        self.directory.add(member.person_id, member.household_id, member.since)

    async def announce(self, person_id: str, household_id: str, since: int) -> None:
        """Publish a membership fact, keyed by the person so it lands in the person's directory partition."""
        fact = encoder.encode(Membership(person_id, household_id, since))
        self.sent_facts.track(await self.send("membership", person_id, fact))

    # -- retry agent ------------------------------------------------------------------------------------
    async def on_retry(self, key: bytes | None, value: bytes) -> None:
        """Wait until the parked event is due, then send it back to where it failed."""
        carried = carried_decoder.decode(value)
        wait = carried.due - time.time()
        if wait > 0:
            await asyncio.sleep(min(wait, 60.0))
        target = "by-person" if carried.target == "by-person" else "routed"
        back = msgspec.structs.replace(carried, target="", due=0.0)
        await self.send(target, key.decode() if key else None, encoder.encode(back))

    # -- household agent --------------------------------------------------------------------------------
    def load(self, household_id: str) -> HouseholdState | None:
        """The household's state: from the process cache, else from the table."""
        state = self.cache.get(household_id)
        if state is not None:
            return state
        data = self.profiles.get(household_id)
        if data is None:
            return None
        state = decode_state(data)
        self.cache.put(household_id, state, len(data))
        return state

    def store(self, household_id: str, state: HouseholdState, encoded: bytes = b"") -> None:
        """Write the state (`encoded`: its bytes, when the caller has them) to the table (RocksDB + changelog).

        A failed write stops the process: the event is not recorded as handled, so it is replayed after a restart
        rather than lost or dead-lettered.
        """
        try:
            encoded = encoded or encode_state(state)
            self.profiles[household_id] = encoded
        except Exception:  # noqa: BLE001
            log.critical("state write failed for a household; exiting so the event is replayed", exc_info=True)
            logging.shutdown()
            os._exit(EXIT_STATE_WRITE_FAILED)
        self.cache.put(household_id, state, len(encoded))

    async def on_registry(self, raw: bytes | None, topic: str, partition: int, offset: int) -> None:
        """A registry record from the `households` topic."""
        raw = raw or b""
        source = {"topic": topic, "partition": partition, "offset": offset}
        try:
            record = decode_household(raw)
        except InvalidEventError as exc:
            await self.dead(exc, raw, source)
            return
        expected = partition_of(record.household_id, self.settings.partitions)
        if expected != partition:
            await self.dead(RejectReason.PROCESSING_ERROR, raw, source,
                            detail="registry record is not keyed by its household_id")
            return
        state = self.load(record.household_id)
        if state is not None:
            if state.record != record:
                await self.dead(RejectReason.DUPLICATE_ID_CONFLICT, raw, source,
                                detail="household_id appears twice in the registry; the first record is kept")
                return
            self.counters["registry_redelivered"] += 1
        else:
            state = new_state(record)
            self.store(record.household_id, state)
            self.counters["households"] += 1
        for member in record.members:  # (again on a redelivery: the first announcement may have been lost)
            await self.announce(member.person_id, record.household_id, BEFORE_TIME)

    async def on_routed(self, value: bytes) -> None:
        """An event routed to its household: apply it and send what it triggered."""
        carried = carried_decoder.decode(value)
        event = carried.event
        household_id = event.household_id
        try:
            await self._apply(carried, event, household_id)
        except BaseException:
            self.cache.pop(household_id)  # it may be half-mutated; re-read it from the table
            raise

    async def _apply(self, carried: Carried, event: Event, household_id: str) -> None:
        state = self.load(household_id)
        if state is None:
            if not isinstance(event.payload, HouseholdRecord):
                await self.park_or_fail(carried, "routed", household_id, "the household is not in the registry")
                return
            state = new_state(event.payload)  # a household first known from a ps_household_register event
            for member in event.payload.members:
                await self.announce(member.person_id, household_id, event.t)
        if state.events and event.key < state.events[-1].key:
            self.counters["late"] += 1  # applied by replaying the household (arrived out of event-time order)
        applied = apply_event(state, event, self.rules, self.pseudonymiser)
        if applied.status is Status.CONFLICT:
            await self.dead(RejectReason.DUPLICATE_ID_CONFLICT, carried.raw, carried.source,
                            detail="event_id was already applied with different content; the first is kept",
                            event_id=event.event_id)
            return
        if applied.status is Status.TOO_LARGE:
            self.cache.pop(household_id)  # half-changed: the table holds the state before this event
            await self.dead(RejectReason.TOO_LARGE, carried.raw, carried.source, detail=TOO_LARGE_DETAIL,
                            event_id=event.event_id)
            return
        self.store(household_id, applied.state, applied.encoded)  # state FIRST, then what it triggered
        if applied.status is Status.APPLIED:
            self.counters["applied"] += 1
            self._maybe_crash(event.event_id)
            alerts = applied.new_alerts
        else:
            self.counters["duplicates"] += 1
            alerts = applied.resend_alerts
        if joins_household(event):
            assert event.person_id is not None
            await self.announce(event.person_id, household_id, event.t)
        emitted_at = utc_now_text()
        for alert in alerts:
            self.counters["alerts"] += 1
            await self.send("alerts", household_id, json_encoder.encode(alert_record(alert, emitted_at)))
        for anomaly in applied.new_anomalies:
            self.counters["anomalies"] += 1
            await self.send("anomalies", household_id, json_encoder.encode(anomaly))

    def _maybe_crash(self, event_id: str) -> None:
        if event_id not in self.crash_ids:
            return
        marker = self.crash_marker_dir / f".crashed-after-{event_id}"
        if marker.exists():
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("crash hook fired\n")
        log.warning("MONITOR_TEST_CRASH_AFTER_STATE: exiting after the state write of a chosen event")
        logging.shutdown()
        os._exit(EXIT_TEST_CRASH)



def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives a key: what every client here uses."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
