"""The distributed runtime: a faust-streaming worker on the Kafka topics of contract §3.3.

Five agents, each with concurrency 1 (faust-streaming#606: concurrency > 1 can commit past an
in-flight message), all reading raw bytes (`value_serializer='raw'`), `processing_guarantee=
'at_least_once'`, and made exact by idempotence (reliability.md §1.4).  Every message is handled
inside `try/except Exception`: one that cannot be applied becomes a dead letter with the source
`{topic, partition, offset}` of the input message it came from, and is acked; nothing ever leaves an
agent (faust acks a message whose handler raised, and a dead agent stops its partitions:
robinhood/faust#604, faust-streaming#175).

    illness, disability,      ┌────────┐ names a household, or a person the directory knows
    unemployment, death, ───► │ router │ ──────────────────────────────────────────┐
    household-data            └────────┘ (validate; bad → deadletter)              ▼
                                   │ a person not known (yet)              ┌──────────────┐
                                   ▼                                       │ {app}-routed │
                         ┌─────────────────┐   resolver (directory) ──────►└──────────────┘
                         │ {app}-by-person │ ─────►  │                            │   households (registry)
                         └─────────────────┘         │ unknown                    ▼   ▼
                                   ▲                 ▼                      ┌─────────────────┐ profiles table
                                   └──── {app}-retry (bounded) ◄─────────── │ household agent │ (household_id →
                                          retry agent ─► routed/by-person   └─────────────────┘  encode_state)
                                                                              │    │
                directory table ◄── members agent ◄── {app}-membership ◄─────┘    └─► alerts, deadletter
                (person_id → homes)                    (key person_id)

**Routing design (person → household).**  The directory (`monitor.pipeline.route.Directory`) is a
changelogged faust `Table` keyed by person_id, co-partitioned with the input topics:

- The household agent, which owns every household's state, publishes membership facts to
  `{app}-membership` keyed by person_id: all members of a registry record (from the beginning of
  time), the members of a `ps_household_register` event that creates a household (from its time), and
  every birth / move in / spouse joining it sees (`route.joins_household`, from the event time).
- The members agent applies them to the `directory` table.  The topic is keyed by person_id, so the
  table's partition p holds exactly the persons whose murmur2 hash lands on p.
- faust reads a table in the partition of the current message, and its assignor gives one worker
  partition p of every topic with the same partition count, so a lookup made while handling partition
  p of an input topic reads partition p of the directory.  An input event that names only a person is
  keyed by that person (contract §3.3), so the router resolves it on the spot, at its event time.  If
  the key was not the normalised person_id, or the person is not known, it is re-keyed to
  `{app}-by-person` by the normalised person_id, where the resolver looks it up on the right
  partition.  The resolved event goes on to `{app}-routed`, keyed by household_id.

Why not a GlobalTable fed from the registry: every worker would hold every person of the province and
replay the whole changelog on every start; the co-partitioned table scales with the workers, and the
lookup stays local without a network hop in the common case.

**Order.**  Kafka orders messages only within a partition.  So that a household's events reach it in
event-time order whenever the input allows (a late event costs a replay of the household, and an
alert sent from the partial view stays on the feed), the router and the household agent merge their
partitions by event time (`InputMerger`, modelled on Kafka Streams' partition groups), the household
agent takes registry records before events, and the router holds an event about a person the
directory does not know yet while registry records or membership facts are still arriving for this
worker (at most PERSON_WAIT_S).  Whatever still arrives early is handled, not lost: an event whose
household is not known yet is parked on `{app}-retry` and tried again (by default after 1, 2, 4 and
8 s; `MONITOR_RETRY_DELAYS`) before it becomes `unknown_household`; a late event replays its
household.  A person whose move to another household is not yet known when their event is resolved
goes to the household they were known in: event-time routing is exact once the membership is known.

**Household agent.**  It reads the `households` registry topic and `{app}-routed`, both keyed by
household_id with the partition count of the `profiles` table (household_id → `encode_state` bytes;
RocksDB store; changelog `{app}-profiles-changelog`).

- Registry record → a new state.  A second record for the same household is ignored when identical
  (an at-least-once redelivery) and dead-lettered `duplicate_id_conflict` otherwise: the first record
  is kept, as in the embedded runtime.  Changes to a registered household arrive as
  `ps_household_register` events, which have an id and an event time.
- Event → `apply_event`.  CONFLICT → dead letter `duplicate_id_conflict`.  DUPLICATE → the alerts
  it triggered are sent again under the same ids, and the (unchanged) state is written again, so the
  changelog converges even if a crash lost the first changelog record.  APPLIED → the table is
  written FIRST, then `new_alerts` go to `alerts` (key household_id, value one JSON alert record).
  Sends are queued, not awaited one by one: the worker flushes the producer before it commits any
  source offset, so nothing is committed before its outputs are on the broker.
- A process-local LRU cache of decoded states avoids a msgpack decode per event; it is dropped on
  every partition revocation and for a household whose processing raised.
- A failed state write (RocksDB I/O error, disk full) is not dead-lettered: the worker exits at once
  with status 70 and the un-acked event is replayed after a restart.

**Offsets.**  faust's acks are off on the agents' topics: the worker commits, every second and on
each revocation, the run of messages each partition has handled, after flushing the producer
(`OffsetLedger`, monitor/runtime/offsets.py, says why faust's own bookkeeping lost messages here).

Test hook: `MONITOR_TEST_CRASH_AFTER_STATE=<event_id>[,...]` makes the process `os._exit(137)` right
after the table write of those events and before their alerts are sent (once per data dir).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from monitor.errors import InvalidEventError, RejectReason
from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.profile import HouseholdState, Status, apply_event, decode_state, encode_state, new_state
from monitor.pipeline.route import BEFORE_TIME, Directory, joins_household
from monitor.pipeline.validate import decode_household, validate_event
from monitor.records import alert_record, dead_letter, utc_now_text
from monitor.runtime.merger import NO_TIME, AssignedPartitions, InputMerger
from monitor.runtime.offsets import OffsetLedger
from monitor.runtime.topics import Topics, app_id, bootstrap_servers, ensure_topics, topics_for

if TYPE_CHECKING:
    import faust

    from monitor.config import Settings
    from monitor.pipeline.rules import RuleSet
    from monitor.privacy import Pseudonymiser

__all__ = ["Carried", "Checked", "Engine", "Membership", "build_app", "run_worker"]

log = logging.getLogger("monitor.worker")

DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)
CACHE_SIZE = 20_000
COMMIT_INTERVAL_S = 1.0
PERSON_WAIT_S = 10.0  # how long the router holds an unknown person while registry data is still arriving
ROCKSDB_OPTIONS = {"write_buffer_size": 4 << 20, "max_write_buffer_number": 2, "block_cache_size": 32 << 20,
                   "target_file_size_base": 8 << 20}
EXIT_STATE_WRITE_FAILED = 70
EXIT_TEST_CRASH = 137


class Carried(msgspec.Struct, array_like=True):
    """A validated event on an internal topic, with where it entered the system (for dead letters)."""

    event: Event
    raw: bytes
    topic: str
    partition: int
    offset: int
    attempt: int = 0
    target: str = ""  # on the retry topic: "routed" or "by-person"
    due: float = 0.0  # on the retry topic: wall-clock seconds when it may be retried

    @property
    def source(self) -> dict[str, Any]:
        """The dead-letter `source` of the original input message."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(slots=True)
class Checked:
    """An input message after validation: its event time (the merge key), and either the event or why not."""

    t: int
    raw: bytes
    topic: str
    partition: int
    offset: int
    carried: Carried | None = None
    error: InvalidEventError | None = None
    taken: float = 0.0  # monotonic time the router took it (bounds how long it may wait for the directory)

    @property
    def source(self) -> dict[str, Any]:
        """The dead-letter `source` of the input message."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


class Membership(msgspec.Struct, array_like=True):
    """person → household from `since` on (a record of the `{app}-membership` topic)."""

    person_id: str
    household_id: str
    since: int


_carried_enc = msgspec.msgpack.Encoder()
_carried_dec = msgspec.msgpack.Decoder(Carried)
_member_dec = msgspec.msgpack.Decoder(Membership)
_homes_dec = msgspec.msgpack.Decoder(list[tuple[int, str]])
_json = msgspec.json.Encoder()


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


class Engine:
    """What the agents do with one message; faust only delivers the messages and stores the tables."""

    def __init__(self, settings: Settings, rules: RuleSet, pseudonymiser: Pseudonymiser, topics: Topics) -> None:
        self.settings, self.rules, self.pseudonymiser, self.topics = settings, rules, pseudonymiser, topics
        self.cache: collections.OrderedDict[str, HouseholdState] = collections.OrderedDict()
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
        self.reference: AssignedPartitions | None = None  # households and membership (see reference_pending)
        self._admin: Any = None
        self.counters: collections.Counter[str] = collections.Counter()

    # -- output ---------------------------------------------------------------------------------------
    async def send(self, name: str, key: str | None, value: bytes) -> None:
        """Queue a record on an output topic.

        Delivery is awaited by `commit`, which flushes the producer before it commits any source offset.
        """
        await self.out[name].send(key=key.encode() if key is not None else None, value=value)

    async def dead(self, error: InvalidEventError | RejectReason, raw: bytes, source: dict[str, Any],
                   detail: str | None = None, event_id: str | None = None) -> None:
        """Send one dead-letter record (contract §4.2)."""
        record = dead_letter(error, raw, source, utc_now_text(), detail=detail, event_id=event_id)
        self.counters[f"dead:{record['reason']}"] += 1
        await self.send("deadletter", None, _json.encode(record))

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
            await self.send("retry", key, _carried_enc.encode(parked))
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
        while registry records or membership facts are still on their way to this worker: the router
        then keeps it (and everything after it) a little longer, instead of sending it the long way
        round, where it would reach its household after its successors.
        """
        if checked.carried is None:
            assert checked.error is not None
            await self.dead(checked.error, checked.raw, checked.source)
            return True
        carried = checked.carried
        event = carried.event
        if event.household_id:
            await self.send("routed", event.household_id, _carried_enc.encode(carried))
            return True
        assert event.person_id is not None and self.directory is not None
        if partition_of(event.person_id, self.settings.partitions) == checked.partition:
            # Keyed by this very person: the directory partition we read is the person's, so resolve
            # here and save a hop.  (A miss goes the long way, where it is parked and retried.)
            household_id = self.directory.resolve(event.person_id, event.t)
            if household_id is not None:
                routed = msgspec.structs.replace(carried, event=msgspec.structs.replace(event,
                                                                                        household_id=household_id))
                await self.send("routed", household_id, _carried_enc.encode(routed))
                return True
            if time.monotonic() - checked.taken < PERSON_WAIT_S and self.reference_pending():
                return False
        await self.send("by-person", event.person_id, _carried_enc.encode(carried))
        return True

    def reference_pending(self) -> bool:
        """True while this worker has registry records or membership facts not yet applied."""
        consumer = self.app.consumer
        assert self.reference is not None
        for tp in self.reference.now():
            highwater = consumer.highwater(tp)
            if highwater and highwater > self.ledger.handled.get(tp, -1):
                return True
        return False

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
        carried = _carried_dec.decode(value)
        event = carried.event
        assert self.directory is not None and event.person_id is not None
        household_id = self.directory.resolve(event.person_id, event.t)
        if household_id is None:
            await self.park_or_fail(carried, "by-person", event.person_id,
                                    "no registered household has this person")
            return
        routed = msgspec.structs.replace(carried, event=msgspec.structs.replace(event, household_id=household_id))
        await self.send("routed", household_id, _carried_enc.encode(routed))

    # -- membership agent -----------------------------------------------------------------------------
    def on_membership(self, value: bytes) -> None:
        """Record person → household in the directory table (partition of the person)."""
        member = _member_dec.decode(value)
        assert self.directory is not None
        self.directory.add(member.person_id, member.household_id, member.since)

    async def announce(self, person_id: str, household_id: str, since: int) -> None:
        """Publish a membership fact, keyed by the person so it lands in the person's directory partition."""
        await self.send("membership", person_id, _carried_enc.encode(Membership(person_id, household_id, since)))

    # -- retry agent ------------------------------------------------------------------------------------
    async def on_retry(self, key: bytes | None, value: bytes) -> None:
        """Wait until the parked event is due, then send it back to where it failed."""
        carried = _carried_dec.decode(value)
        wait = carried.due - time.time()
        if wait > 0:
            await asyncio.sleep(min(wait, 60.0))
        target = "by-person" if carried.target == "by-person" else "routed"
        back = msgspec.structs.replace(carried, target="", due=0.0)
        await self.send(target, key.decode() if key else None, _carried_enc.encode(back))

    # -- household agent --------------------------------------------------------------------------------
    def load(self, household_id: str) -> HouseholdState | None:
        """The household's state: from the process cache, else from the table."""
        state = self.cache.get(household_id)
        if state is not None:
            self.cache.move_to_end(household_id)
            return state
        data = self.profiles.get(household_id)
        if data is None:
            return None
        state = decode_state(data)
        self.remember(household_id, state)
        return state

    def remember(self, household_id: str, state: HouseholdState) -> None:
        """Put a state in the LRU cache."""
        self.cache[household_id] = state
        self.cache.move_to_end(household_id)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)

    def store(self, household_id: str, state: HouseholdState) -> None:
        """Write the state to the table (RocksDB + changelog).

        A failed write stops the process: the event is not acked, so it is replayed after a restart
        rather than lost or dead-lettered.
        """
        try:
            self.profiles[household_id] = encode_state(state)
        except Exception:  # noqa: BLE001
            log.critical("state write failed for a household; exiting so the event is replayed", exc_info=True)
            logging.shutdown()
            os._exit(EXIT_STATE_WRITE_FAILED)
        self.remember(household_id, state)

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
        carried = _carried_dec.decode(value)
        event = carried.event
        household_id = event.household_id
        try:
            await self._apply(carried, event, household_id)
        except BaseException:
            self.cache.pop(household_id, None)  # it may be half-mutated; re-read it from the table
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
        self.store(household_id, applied.state)  # state FIRST, then what it triggered
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
            await self.send("alerts", household_id, _json.encode(alert_record(alert, emitted_at)))
        for anomaly in applied.new_anomalies:
            self.counters["anomalies"] += 1
            await self.send("anomalies", household_id, _json.encode(anomaly))

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


def build_app(settings: Settings, rules: RuleSet, pseudonymiser: Pseudonymiser, *,
              web_port: int | None = None) -> tuple[faust.App, Engine]:
    """The faust app with its tables and agents, and the engine the agents call."""
    import faust
    from faust.types import TP

    topics = topics_for(settings)
    engine = Engine(settings, rules, pseudonymiser, topics)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id(settings),
        broker=settings.broker,
        store="rocksdb://",
        datadir=str(settings.data_dir.resolve()),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        processing_guarantee="at_least_once",
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_request_timeout=30.0,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=5,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_bind="127.0.0.1",
        autodiscover=False,
        origin="monitor.runtime.worker",
    )

    def topic(*names: str) -> Any:
        # acks off: commits come from the worker's ledger, not from faust's acked-offset bookkeeping
        return app.topic(*names, key_serializer="raw", value_serializer="raw", partitions=settings.partitions,
                         acks=False)

    inputs = topic(*topics.inputs)
    by_person = topic(topics.by_person)
    household_in = topic(topics.households, topics.routed)
    membership = topic(topics.membership)
    retry = topic(topics.retry)
    engine.out = {"routed": topic(topics.routed), "by-person": by_person, "membership": membership,
                  "retry": retry, "alerts": topic(topics.alerts), "deadletter": topic(topics.deadletter),
                  "anomalies": topic(topics.anomalies)}
    table_options = dict(ROCKSDB_OPTIONS)
    engine.profiles = app.Table("profiles", default=None, key_type=bytes, value_type=bytes,
                                partitions=settings.partitions, options=dict(table_options))
    directory_table = app.Table("directory", default=None, key_type=bytes, value_type=bytes,
                                partitions=settings.partitions, options=dict(table_options))
    engine.directory = Directory(TableMapping(directory_table, _carried_enc.encode, _homes_dec.decode))
    engine.app = app
    engine.reference = AssignedPartitions(app, [TP(t, p) for t in (topics.households, topics.membership)
                                                for p in range(settings.partitions)])

    def prepare_input(ev: Any) -> tuple[int, Checked]:
        m = ev.message
        checked = engine.check(ev.value, m.topic, m.partition, m.offset)
        return checked.t, checked

    async def handle_input(checked: Checked, ev: Any) -> bool:
        done = True

        async def forward() -> None:
            nonlocal done
            done = await engine.forward(checked)

        await engine.guard(forward(), checked.raw, checked.source)
        return done

    def prepare_household(ev: Any) -> tuple[int, Any]:
        m = ev.message
        if m.topic == topics.households:
            return NO_TIME, None  # the registry first: events must find their household
        try:
            return _carried_dec.decode(ev.value).event.t, None
        except Exception:  # noqa: BLE001 - handled (and dead-lettered) when released
            return NO_TIME, None

    async def handle_household(_item: Any, ev: Any) -> None:
        m = ev.message
        if m.topic == topics.households:
            await engine.guard(engine.on_registry(ev.value, m.topic, m.partition, m.offset), ev.value,
                               {"topic": m.topic, "partition": m.partition, "offset": m.offset})
        else:
            await engine.guard(engine.on_routed(ev.value), *_carried_raw(ev))

    engine.agent_topics = frozenset([*topics.inputs, topics.by_person, topics.households, topics.routed,
                                     topics.membership, topics.retry])
    ledger = engine.ledger
    router_merge = InputMerger(app, ledger, topics.inputs, settings.partitions, name="router",
                               prepare=prepare_input, handle=handle_input)
    household_merge = InputMerger(app, ledger, [topics.households, topics.routed], settings.partitions,
                                  name="households", prepare=prepare_household, handle=handle_household)
    app.agent(inputs, concurrency=1, name="router")(_agent_body(router_merge))
    app.agent(household_in, concurrency=1, name="households")(_agent_body(household_merge))

    async def handle_by_person(_item: Any, ev: Any) -> None:
        await engine.guard(engine.on_by_person(ev.value), *_carried_raw(ev))

    async def handle_membership(_item: Any, ev: Any) -> None:
        await engine.guard(_sync(engine.on_membership, ev.value), b"", _internal_source(ev))

    async def handle_retry(_item: Any, ev: Any) -> None:
        await engine.guard(engine.on_retry(ev.key, ev.value), *_carried_raw(ev))

    mergers = [router_merge, household_merge]
    for name, channel, names, handler in (("resolver", by_person, [topics.by_person], handle_by_person),
                                          ("members", membership, [topics.membership], handle_membership),
                                          ("retry", retry, [topics.retry], handle_retry)):
        merger = InputMerger(app, ledger, names, settings.partitions, name=name, prepare=None, handle=handler,
                             ordered=False)
        mergers.append(merger)
        app.agent(channel, concurrency=1, name=name)(_agent_body(merger))

    engine.mergers = mergers

    @app.timer(interval=0.1)
    async def release_held() -> None:
        for merger in mergers:
            await merger.tick()

    @app.timer(interval=COMMIT_INTERVAL_S)
    async def commit_handled() -> None:
        await engine.commit()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        engine.cache.clear()
        for merger in mergers:
            merger.drop()
        await engine.commit()  # what was handled, before another worker takes the partitions
        engine.ledger.close()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        engine.start_assignment(args[0] if args else kwargs.get("assigned", ()))

    return app, engine


def _agent_body(merger: InputMerger) -> Any:
    async def body(stream: Any) -> None:
        await merger.run(stream)

    body.__name__ = body.__qualname__ = merger.name
    return body


async def _sync(fn: Any, *args: Any) -> None:
    fn(*args)


def _internal_source(ev: Any) -> dict[str, Any]:
    m = ev.message
    return {"topic": m.topic, "partition": m.partition, "offset": m.offset}


def _carried_raw(ev: Any) -> tuple[bytes, dict[str, Any]]:
    """For a dead letter about an internal message: the original raw input and source, when decodable."""
    try:
        carried = _carried_dec.decode(ev.value)
    except Exception:  # noqa: BLE001
        return ev.value or b"", _internal_source(ev)
    return carried.raw, carried.source


def run_worker(settings: Settings, *, web_port: int | None = None, loglevel: str = "warning") -> int:
    """`monitor worker`: ensure the topics exist, then run one faust worker until stopped."""
    import faust

    from monitor.pipeline.rules import load_rules

    rules = load_rules(settings.rules_path)
    started = time.monotonic()
    level = loglevel.lower()
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    logging.getLogger("monitor.topics").setLevel(logging.INFO)
    created = ensure_topics(settings, timeout_s=None)  # a worker waits for its broker, however long
    app, engine = build_app(settings, rules, settings.pseudonymiser(), web_port=web_port)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", ())
        log.info("assigned %d partitions (%.1fs after start)", len(assigned), time.monotonic() - started)

    mergers = engine.mergers

    @app.timer(interval=10.0)
    async def report() -> None:
        if engine.counters:
            log.info("counters: %s", dict(sorted(engine.counters.items())))
        held = {merger.name: merger.buffered for merger in mergers if merger.buffered}
        skipped = {k.value: v for k, v in engine.ledger.skipped.items() if v}
        if held or skipped:
            log.info("held: %s; skipped (not the next offset): %s", held, skipped)

    if created:
        log.info("created topics: %s", ", ".join(created))
    if settings.key_is_development:
        log.warning("MONITOR_PSEUDONYM_KEY is not set: alerts carry DEVELOPMENT pseudonyms")
    worker = faust.Worker(app, loglevel=level, quiet=level not in ("debug", "info"))
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0
