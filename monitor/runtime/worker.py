"""The distributed runtime: a faust-streaming worker on the Kafka topics of contract §3.3.

Five agents, each with concurrency 1, all reading raw bytes (`value_serializer='raw'`), at least
once, and made exact by idempotence (reliability.md §1.4).  Every message is handled inside
`try/except Exception` (`Engine.guard`): one that cannot be applied becomes a dead letter with the
source `{topic, partition, offset}` of the input message it came from, and counts as handled; nothing
ever leaves an agent (a dead agent stops its partitions: robinhood/faust#604, faust-streaming#175).

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
worker (`hold_unknown_person`).  Whatever still arrives early is handled, not lost: an event whose
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
- Event → `apply_event`.  CONFLICT → dead letter `duplicate_id_conflict`.  TOO_LARGE (the state would
  outgrow its changelog record, `MAX_STATE_BYTES`) → dead letter `too_large`, and the household stays as
  the table holds it: one fat household must not stop its partition.  DUPLICATE → the alerts
  it triggered are sent again under the same ids, and the (unchanged) state is written again, so the
  changelog converges even if a crash lost the first changelog record.  APPLIED → the table is
  written FIRST, then `new_alerts` go to `alerts` (key household_id, value one JSON alert record).
  Sends are queued, not awaited one by one: the worker flushes the producer before it commits any
  source offset, so nothing is committed before its outputs are on the broker.
- A process-local LRU cache of decoded states (`StateCache`, 8 MiB of states: small, so that the garbage
  collector's full collections stay short) saves a table read and a msgpack decode on a household's next
  event; it is dropped on every partition revocation and for a household whose processing raised.
- Once its first partitions are assigned, the worker freezes what it has built (faust, aiokafka, the modules:
  about 90,000 objects) out of the garbage collector's walks (`freeze_for_good`): its full collections, during
  which nothing is applied, took 39 to 55 ms instead of 107 to 113 in the benchmark's latency runs.
- A failed state write (RocksDB I/O error, disk full) is not dead-lettered: the worker exits at once
  with status 70 and the event, not recorded as handled, is replayed after a restart.

**Offsets.**  faust's acks are off on the agents' topics: the worker commits, every second and on
each revocation, the run of messages each partition has handled, after flushing the producer
(`OffsetLedger`, monitor/runtime/offsets.py, says why faust's own bookkeeping lost messages here).

Test hook: `MONITOR_TEST_CRASH_AFTER_STATE=<event_id>[,...]` makes the process `os._exit(137)` right
after the table write of those events and before their alerts are sent (once per data dir).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from monitor.pipeline.route import Directory
from monitor.runtime.engine import Engine, TableMapping
from monitor.runtime.fetch_wait import keep_fetch_wait
from monitor.runtime.gc_pauses import GcPauses
from monitor.runtime.long_lived import freeze_for_good
from monitor.runtime.merger import NO_TIME, AssignedPartitions, InputMerger
from monitor.runtime.messages import Checked, carried_decoder, encoder, homes_decoder
from monitor.runtime.topics import app_id, ensure_topics, topics_for

if TYPE_CHECKING:
    import faust

    from monitor.config import Settings
    from monitor.pipeline.rules import RuleSet
    from monitor.privacy import Pseudonymiser

__all__ = ["build_app", "faust_app", "run_worker"]

log = logging.getLogger("monitor.worker")

COMMIT_INTERVAL_S = 1.0
PRODUCER_BATCH_BYTES = 256 * 1024  # under the broker's 1 MiB message limit; a bigger record gets a batch of its own
ROCKSDB_OPTIONS = {"write_buffer_size": 4 << 20, "max_write_buffer_number": 2, "block_cache_size": 32 << 20,
                   "target_file_size_base": 8 << 20}


def faust_app(settings: Settings, name: str, *, web_port: int | None = None) -> faust.App:
    """A faust app with the worker's transport settings, without agents or tables.

    Raw bytes, RocksDB stores in the data dir, acks from every replica, the consumer's fetch wait. `build_app` adds
    the worker's agents and tables, the benchmark's faust floor (bench/faust_floor.py) its own.
    """
    import faust

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        name,
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
        # aiokafka's default batch (16 KiB) holds one or two states of ~9 KB, and a send to a partition whose batch
        # is full waits for the produce request in flight (one per broker) to finish. 256 KiB: the 5,000-household
        # set end to end went at 772, 712, 790 and 772 events/s against 673, 689, 730 and 725 (BENCHMARKS.md).
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_bind="127.0.0.1",
        autodiscover=False,
        origin="monitor.runtime.worker",
    )
    keep_fetch_wait(app, settings.fetch_wait_ms)  # a transport setting faust does not have
    return app


def build_app(settings: Settings, rules: RuleSet, pseudonymiser: Pseudonymiser, *,
              web_port: int | None = None) -> tuple[faust.App, Engine]:
    """The faust app with its tables and agents, and the engine the agents call."""
    from faust.types import TP

    topics = topics_for(settings)
    engine = Engine(settings, rules, pseudonymiser, topics)
    app = faust_app(settings, app_id(settings), web_port=web_port)

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
    engine.directory = Directory(TableMapping(directory_table, encoder.encode, homes_decoder.decode))
    engine.app = app
    reference = AssignedPartitions(app, [TP(t, p) for t in (topics.households, topics.membership)
                                         for p in range(settings.partitions)])
    engine.reference = reference

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
            return carried_decoder.decode(ev.value).event.t, None
        except Exception:  # noqa: BLE001 - handled (and dead-lettered) when released
            return NO_TIME, None

    async def handle_household(_item: Any, ev: Any) -> None:
        m = ev.message
        if m.topic == topics.households:
            await engine.guard(engine.on_registry(ev.value, m.topic, m.partition, m.offset), ev.value,
                               {"topic": m.topic, "partition": m.partition, "offset": m.offset})
        else:
            await engine.guard(engine.on_routed(ev.value), *_carried_raw(ev))

    engine.agent_topics = frozenset(topics.consumed)  # every topic an agent reads: its offsets are the ledger's
    ledger = engine.ledger
    router_merge = InputMerger(app, ledger, topics.inputs, settings.partitions, name="router",
                               prepare=prepare_input, handle=handle_input, hold_s=settings.merge_hold_s)
    household_merge = InputMerger(app, ledger, [topics.households, topics.routed], settings.partitions,
                                  name="households", prepare=prepare_household, handle=handle_household,
                                  hold_s=settings.merge_hold_s)
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
        try:
            engine.note_reference(time.monotonic())  # when the registry data last moved (the router's wait)
        except Exception:  # noqa: BLE001 - a timer that raises crashes the app
            log.exception("could not look at the registry partitions")
        for merger in mergers:
            await merger.tick()

    @app.timer(interval=COMMIT_INTERVAL_S)
    async def commit_handled() -> None:
        await engine.reseek()
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
        for assigned in (reference, *(merger.assigned for merger in mergers)):
            assigned.forget()  # what they last asked may be the old assignment (highwater() copes meanwhile)

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
        carried = carried_decoder.decode(ev.value)
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

    frozen = False

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal frozen
        assigned = args[0] if args else kwargs.get("assigned", ())
        log.info("assigned %d partitions (%.1fs after start)", len(assigned), time.monotonic() - started)
        if not frozen:  # up and running: what exists now lives to the end, keep it out of full collections
            frozen = True
            log.info("%d objects kept out of the garbage collector's walks", freeze_for_good())

    mergers = engine.mergers
    pauses = GcPauses().install()

    @app.timer(interval=10.0)
    async def report() -> None:
        if engine.counters:
            log.info("counters: %s", dict(sorted(engine.counters.items())))
        if pauses.count:
            log.info("%s", pauses.summary())
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
