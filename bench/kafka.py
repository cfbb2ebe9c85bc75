"""The Kafka runtime end to end, on a broker of its own (`scripts/kafka start`, stopped at the end).

The broker gets its own KAFKA_HOME_DIR (jars linked from the repo's .kafka) and ports
(BENCH_KAFKA_PORT, else the first free pair from 29092 on), so a broker a colleague runs is never touched.
Every measurement uses a fresh topic prefix (own topics, own faust app id and consumer group).

- End to end, 1 and 2 workers: workers started and ready, then `monitor produce` sends a generated
  registry and its events; the clock runs from the start of produce until every event is applied,
  i.e. the profiles changelog holds one record per household plus one per event (the worker writes
  the state once per registry record and once per applied event).  Alerts out at that moment and the
  time until the consumer group has committed everything are reported too.
- Raw aiokafka: one consumer reads the same input topics from the beginning, in the same run;
  consume-only rate over the same number of messages.
- The faust floor (bench/faust_floor.py): faust with the worker's settings and agents but no engine, first
  only counting what it reads, then carrying the worker's messages for each event (input read, routed
  write and read, state write); on its own prefix holding copies of the set, produced before it starts.
- Latency: one worker holding N fresh households (registry taken in and the group idle, lag 0, before
  the first send); one `hlth_major_disease_dx` headline event per household sent at a fixed rate with
  kafka-python, first at 100, 200 and 400 events/s (how far one worker keeps up), then at the target
  rate (each raises exactly one alert, checked with the embedded engine); the alert feed is read by a
  consumer and matched by trigger event_id; time from just before `send` to the alert's arrival.  An
  alert that never arrives counts as infinitely late.  The CreateTime of the event's `{app}-routed`
  record and of the alert record split it into router, household agent and alert delivery.
- The workers' own counters (applied, late = arrived out of event-time order and replayed the
  household, alerts) from their 10-second log reports.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from bench.data import dataset, prefix
from bench.faust_floor import FLOOR_LINE, FLOOR_MODES
from bench.plans import KafkaPlan
from bench.report import workers_text
from monitor.runtime.gc_pauses import Report, read_report

__all__ = ["Broker", "Deployment", "measure_kafka"]

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = ROOT / "scripts" / "kafka"
CST = dt.timezone(dt.timedelta(hours=8))
Log = Any  # Callable[[str], None]
_R = TypeVar("_R")  # what a reader of worker log lines returns
FLOOR_MIN_EVENTS = 50_000  # the faust floor reads at least this many events (copies of the set)
GROUP_SETTLE_S = 3.0  # after the last of several workers joins, before the run starts: the group rebalances


@dataclass
class Broker:
    """A broker of our own, via scripts/kafka with its own home dir and ports."""

    port: int
    home: Path

    @property
    def env(self) -> dict[str, str]:
        """The environment scripts/kafka needs for this broker."""
        return {**os.environ, "KAFKA_PORT": str(self.port), "KAFKA_CPORT": str(self.port + 1),
                "KAFKA_HOME_DIR": str(self.home)}

    @property
    def url(self) -> str:
        """MONITOR_BROKER for it."""
        return f"kafka://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start (fresh data); returns the seconds it took."""
        self.home.mkdir(parents=True, exist_ok=True)
        for shared in ROOT.joinpath(".kafka").glob("lib-*"):  # the jars, so that Maven is not run again
            link = self.home / shared.name
            if not link.exists():
                link.symlink_to(shared)
        self.stop()  # a broker of ours left over from an interrupted run: start fresh
        started = time.perf_counter()
        proc = subprocess.run([str(KAFKA_SCRIPT), "start"], env=self.env, capture_output=True, text=True,
                              timeout=900, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"scripts/kafka start failed: {(proc.stderr or proc.stdout)[-1500:]}")
        return time.perf_counter() - started

    @classmethod
    def for_bench(cls) -> Broker:
        """The benchmark's broker: BENCH_KAFKA_PORT / BENCH_KAFKA_HOME, else the first free ports and /tmp."""
        return cls(_free_port_pair(), Path(os.environ.get("BENCH_KAFKA_HOME", "/tmp/hrm-bench-kafka")))

    def stop(self) -> None:
        """Stop it (only ours: its own home dir and pid file)."""
        subprocess.run([str(KAFKA_SCRIPT), "stop"], env=self.env, capture_output=True, timeout=120, check=False)


@dataclass
class Deployment:
    """One topic prefix with its workers."""

    broker: Broker
    name: str
    work: Path
    procs: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.prefix = f"b{uuid.uuid4().hex[:8]}-{self.name}."
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        self.env.update({"MONITOR_BROKER": self.broker.url, "MONITOR_TOPIC_PREFIX": self.prefix,
                         "MONITOR_PARTITIONS": "8", "MONITOR_PSEUDONYM_KEY": "bench-key", "PYTHONUNBUFFERED": "1"})
        self.work.mkdir(parents=True, exist_ok=True)

    @property
    def settings(self) -> Any:
        """The Settings the workers see."""
        from monitor.config import Settings

        return Settings.from_env(self.env)

    def start_workers(self, n: int, timeout_s: float = 120.0, *, module: str = "monitor",
                      env: dict[str, str] | None = None) -> float:
        """Start n workers (own data dirs, no web server) and wait until all say Ready; seconds taken.

        `module` is what `python -m` runs with `worker --loglevel info` (the faust floor is a worker too), with
        `env` added to the deployment's environment."""
        started = time.perf_counter()
        for i in range(n):
            log = self.work / f"{self.name}-worker{i}.log"
            data_dir = self.work / f"{self.prefix}data{i}"  # fresh: faust's RocksDB files outlive a topic prefix
            shutil.rmtree(data_dir, ignore_errors=True)
            worker_env = dict(self.env, **(env or {}), MONITOR_DATA_DIR=str(data_dir))
            with log.open("wb") as out:
                proc = subprocess.Popen([sys.executable, "-m", module, "worker", "--loglevel", "info"], cwd=ROOT,
                                        env=worker_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            self.procs.append((proc, log))
        deadline = time.perf_counter() + timeout_s
        for proc, log in self.procs:
            while "Worker]: Ready" not in log.read_text(errors="replace"):
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.returncode}: {self.tail(log)}")
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"worker not ready after {timeout_s:.0f} s: {self.tail(log)}")
                time.sleep(0.2)
        return time.perf_counter() - started

    def counters(self, wait_s: float = 12.0) -> dict[str, int]:
        """The workers' own counters (applied, late, alerts...), summed, from the first report each logs
        (every 10 s) after this call, else the last one."""
        total: dict[str, int] = {}
        for found in self._next_reports([log for _, log in self.procs], _read_counters, wait_s):
            if found:
                for key, value in found[-1].items():
                    total[key] = total.get(key, 0) + value
        return total

    def gc_reports(self, wait_s: float = 12.0) -> list[Report]:
        """The first worker's reports of its full garbage collections, once its next one (every 10 s) is in."""
        return self._next_reports([self.procs[0][1]], read_report, wait_s)[0]

    @staticmethod
    def _next_reports(logs: list[Path], read: Callable[[str], _R | None], wait_s: float) -> list[list[_R]]:
        """Each log's reports (the lines `read` reads), once every log has one more than at the call (at most
        `wait_s`: the workers report every 10 s)."""
        before = [len(_log_reports(log, read)) for log in logs]
        deadline = time.perf_counter() + wait_s
        while time.perf_counter() < deadline and any(len(_log_reports(log, read)) <= n
                                                     for log, n in zip(logs, before, strict=True)):
            time.sleep(0.5)
        return [_log_reports(log, read) for log in logs]

    @staticmethod
    def tail(log: Path, n: int = 15) -> str:
        """The last lines of a worker log."""
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])

    def alive(self) -> bool:
        """Every worker still running."""
        return all(proc.poll() is None for proc, _ in self.procs)

    def stop_workers(self) -> None:
        """SIGTERM our own workers (by pid), SIGKILL what is left after 15 s; remove their data dirs and forget them."""
        for proc, _ in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for data_dir in self.work.glob(f"{self.prefix}data*"):
            shutil.rmtree(data_dir, ignore_errors=True)
        self.procs.clear()

    def produce(self, households: Path | None, events: Path | None) -> float:
        """`monitor produce` as a user runs it; returns its wall time."""
        args = [sys.executable, "-m", "monitor", "produce", "--quiet"]
        if households is not None:
            args += ["--households", str(households)]
        if events is not None:
            args += ["--events", str(events)]
        started = time.perf_counter()
        proc = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"monitor produce failed: {(proc.stderr or proc.stdout)[-1500:]}")
        return time.perf_counter() - started


class Offsets:
    """End offsets and committed lag of one deployment's topics (kafka-python)."""

    def __init__(self, deployment: Deployment) -> None:
        from kafka import KafkaConsumer
        from kafka.admin import KafkaAdminClient

        from monitor.runtime.topics import app_id, bootstrap_servers, topics_for

        settings = deployment.settings
        self.servers = bootstrap_servers(settings)
        self.topics = topics_for(settings)
        self.group = app_id(settings)
        self.partitions = settings.partitions
        self.consumer = KafkaConsumer(bootstrap_servers=self.servers, group_id=None, enable_auto_commit=False)
        self.admin = KafkaAdminClient(bootstrap_servers=self.servers, request_timeout_ms=10000)

    def _tps(self, topics: list[str]) -> list[Any]:
        from kafka import TopicPartition

        return [TopicPartition(t, p) for t in topics for p in range(self.partitions)]

    def records(self, topic: str) -> int:
        """Records in a topic so far (sum of end offsets; 0 if it does not exist yet)."""
        try:
            return int(sum(self.consumer.end_offsets(self._tps([topic])).values()))
        except Exception:  # noqa: BLE001 - the changelog appears only once the worker writes to it
            return 0

    def lag(self) -> int:
        """Messages the worker group has not committed yet, over every topic it reads."""
        tps = self._tps(self.topics.consumed)
        ends = self.consumer.end_offsets(tps)
        committed = self.admin.list_group_offsets({self.group: tps}).get(self.group, {})
        total = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset is not None and meta.offset >= 0 else 0
            total += max(0, ends[tp] - done)
        return total

    def close(self) -> None:
        """Close the clients."""
        self.consumer.close()
        self.admin.close()


def _wait_records(offsets: Offsets, topic: str, expected: int, timeout_s: float, deployment: Deployment,
                  poll_s: float = 0.1) -> tuple[float | None, int]:
    """Seconds until `topic` holds `expected` records (None on timeout or a dead worker) and the count seen."""
    started = time.perf_counter()
    seen = 0
    while time.perf_counter() - started < timeout_s:
        seen = offsets.records(topic)
        if seen >= expected:
            return time.perf_counter() - started, seen
        if not deployment.alive():
            return None, seen
        time.sleep(poll_s)
    return None, seen


def end_to_end(broker: Broker, data: Any, workers: int, plan: KafkaPlan, work: Path, log: Log) -> dict[str, Any]:
    """Produce a generated set and time it until every event is applied, with `workers` workers."""
    dep = Deployment(broker, f"e2e{workers}", work)
    row: dict[str, Any] = {"workers": workers, "events": data.lines, "households": data.households,
                           "prefix": dep.prefix}
    try:
        row["ready_s"] = dep.start_workers(workers)
        time.sleep(GROUP_SETTLE_S if workers > 1 else 0.5)  # let the group settle after the last join
        offsets = Offsets(dep)
        expected = data.households + data.lines
        result: dict[str, Any] = {}

        def wait() -> None:
            result["applied"] = _wait_records(offsets, offsets.topics.profiles_changelog, expected,
                                              plan.e2e_timeout_s, dep)

        waiter = threading.Thread(target=wait)
        started = time.perf_counter()
        waiter.start()
        row["produce_s"] = dep.produce(data.registry, data.events_file)
        waiter.join()
        seconds, seen = result["applied"]
        row["state_writes"] = seen
        if seconds is None:
            row["error"] = (f"not all applied after {plan.e2e_timeout_s:.0f} s: {seen:,} of {expected:,} state "
                            f"writes; workers alive: {dep.alive()}")
            log(f"  {workers} worker(s): {row['error']}")
            return row
        row["seconds"] = time.perf_counter() - started
        row["events_per_s"] = data.lines / row["seconds"]
        row["alerts_out"] = offsets.records(offsets.topics.alerts)
        row["deadletters"] = offsets.records(offsets.topics.deadletter)
        t0 = time.perf_counter()
        while offsets.lag() > 0 and time.perf_counter() - t0 < 60:
            time.sleep(0.25)
        row["committed_after_s"] = row["seconds"] + time.perf_counter() - t0
        row["worker_counters"] = dep.counters()
        late = row["worker_counters"].get("late", 0)
        row["note"] = (f"produce alone {row['produce_s']:.1f} s; {row['alerts_out']:,} alerts, "
                       f"{row['deadletters']:,} dead letters; all offsets committed at "
                       f"{row['committed_after_s']:.1f} s; {late:,} events reached their household out of event-time "
                       "order and replayed it")
        log(f"  {workers} worker(s): {data.lines:,} events + {data.households:,} households produced -> all applied "
            f"in {row['seconds']:.1f} s = {row['events_per_s']:,.0f} events/s ({row['note']})")
        offsets.close()
        return row
    finally:
        dep.stop_workers()


def raw_consume(broker: Broker, prefix_: str, per_pass: int, minimum: int, log: Log) -> dict[str, Any]:
    """aiokafka, one consumer, no group, the same input topics from the beginning: consume-only rate.

    The topics are read again from the beginning (`seek_to_beginning`) until `minimum` messages were
    read, so that the clock (started before `start()`, connection and metadata included) runs long
    enough to mean something.
    """
    from aiokafka import AIOKafkaConsumer

    from monitor.config import Settings
    from monitor.runtime.topics import topics_for

    topics = topics_for(Settings.from_env({"MONITOR_TOPIC_PREFIX": prefix_}))
    names = [*topics.inputs, topics.households]

    async def consume() -> tuple[int, int, float]:
        started = time.perf_counter()
        consumer = AIOKafkaConsumer(*names, bootstrap_servers=f"127.0.0.1:{broker.port}", group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            count = passes = 0
            while count < minimum and time.perf_counter() - started < 300:
                in_pass = 0
                while in_pass < per_pass and time.perf_counter() - started < 300:
                    batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                    got = sum(len(records) for records in batch.values())
                    if not got and in_pass:
                        break  # fewer messages than expected: count what is there
                    in_pass += got
                count += in_pass
                passes += 1
                await consumer.seek_to_beginning()
            return count, passes, time.perf_counter() - started
        finally:
            await consumer.stop()

    count, passes, seconds = asyncio.run(consume())
    row = {"events": count, "passes": passes, "seconds": seconds, "events_per_s": count / seconds,
           "note": f"input + registry topics, {passes} passes from the beginning, no processing"}
    log(f"  raw aiokafka consume-only: {count:,} messages ({passes} passes over the same topics) in {seconds:.2f} s "
        f"= {row['events_per_s']:,.0f} msg/s")
    return row


def faust_floor(broker: Broker, data: Any, plan: KafkaPlan, work: Path, log: Log) -> list[dict[str, Any]]:
    """faust without the engine (bench/faust_floor.py), consume-only and with the worker's messages, one worker each.

    Its own topic prefix holds the set as many times as makes at least FLOOR_MIN_EVENTS events, produced before
    the floor starts: each mode reads everything from the beginning, and its rate runs from the first message
    either agent read to the last (the floor's own clock, so start-up and group join are left out).
    """
    dep = Deployment(broker, "floor", work)
    copies = max(1, math.ceil(FLOOR_MIN_EVENTS / max(1, data.lines)))
    registry, events = work / "floor-households.jsonl", work / "floor-events.jsonl"
    for source, target in ((data.registry, registry), (data.events_file, events)):
        with target.open("wb") as out:
            for _ in range(copies):
                with source.open("rb") as copy:
                    shutil.copyfileobj(copy, out)
    dep.produce(registry, events)
    offsets = Offsets(dep)
    sent = sum(offsets.records(topic) for topic in offsets.topics.inputs)
    registered = offsets.records(offsets.topics.households)
    offsets.close()
    rows = []
    for mode in ("consume", "forward"):
        row: dict[str, Any] = {"mode": mode, "events": sent, "registry": registered, "copies": copies}
        rows.append(row)
        try:
            dep.start_workers(1, module="bench.faust_floor",
                              env={"FLOOR_MODE": mode, "FLOOR_APP_ID": f"{dep.prefix}floor-{mode}"})
            wanted = (sent, registered + (sent if mode == "forward" else 0))
            deadline = time.perf_counter() + plan.e2e_timeout_s
            line = (0, 0, 0.0, 0.0)
            while time.perf_counter() < deadline:
                line = next(reversed(_log_reports(dep.procs[0][1], _read_floor_line)), line)
                if line[:2] == wanted:
                    break
                time.sleep(0.5)
            if line[:2] != wanted:
                row["error"] = f"read {line[0]:,} input and {line[1]:,} household-agent messages of {wanted} in time"
                log(f"  faust floor ({mode}): {row['error']}")
                continue
            row["seconds"] = line[3] - line[2]
            row["events_per_s"] = sent / row["seconds"]
            log(f"  faust floor, {FLOOR_MODES[mode]}: {sent:,} events + {registered:,} registry records "
                f"({copies} copies of the set) in {row['seconds']:.2f} s = {row['events_per_s']:,.0f} events/s")
        finally:
            dep.stop_workers()
    registry.unlink()
    events.unlink()
    return rows


def _read_floor_line(line: str) -> tuple[int, int, float, float] | None:
    """The floor's `FLOOR router household first last` report in one log line, or None when the line has none."""
    words = line.split(f"{FLOOR_LINE} ", 1)
    if len(words) != 2:  # noqa: PLR2004
        return None
    router, household, first, latest = words[1].split()
    return int(router), int(household), float(first), float(latest)


def _log_reports(log: Path, read: Callable[[str], _R | None]) -> list[_R]:
    """The reports in a worker log so far: each line `read` reads, in order."""
    return [report for line in log.read_text(errors="replace").splitlines() if (report := read(line)) is not None]


def _headline(i: int, household: dict[str, Any], tag: str) -> tuple[str, str, bytes]:
    event_id = f"lat-{tag}-{i}"
    occurred = (dt.datetime.now(CST) - dt.timedelta(seconds=2)).isoformat(timespec="seconds")
    event = {"event_id": event_id, "category": "hlth_major_disease_dx", "occurred_at": occurred,
             "household_id": household["household_id"], "person_id": household["members"][0]["person_id"],
             "source_dept": "bench", "payload": {"disease_code": "C34", "catalogue_major": True}}
    return event_id, household["household_id"], json.dumps(event).encode()


def latency(broker: Broker, plan: KafkaPlan, work: Path, log: Log, *, workers: int = 1) -> dict[str, Any]:
    """p50/p99/max from send to alert, one headline event per fresh household.

    One worker: first at each of `plan.latency_context_rates` (lowest first: how far one worker keeps up, which says
    how many workers a rate needs), then at the target rate, each for `plan.latency_seconds`, on the same worker.
    More workers: the target rate only. The target rate's row is the result, with the others under "context_rates".
    """
    rates = (*(plan.latency_context_rates if workers == 1 else ()), plan.latency_rate)
    counts = [int(rate * plan.latency_seconds) for rate in rates]
    n = sum(counts)
    source = dataset(10_000 if n <= 10_000 else 100_000, 1, log=log)
    households = [json.loads(line) for line in prefix(source, n).read_text().splitlines()]
    dep = Deployment(broker, "latency" if workers == 1 else f"latency{workers}", work)
    whose = "the worker's" if workers == 1 else "the first worker's"
    try:
        dep.start_workers(workers)
        if workers > 1:
            time.sleep(GROUP_SETTLE_S)  # as end_to_end does
        offsets = Offsets(dep)
        dep.produce(prefix(source, n), None)
        loaded, _ = _wait_records(offsets, offsets.topics.profiles_changelog, n, 900, dep)
        if loaded is None:
            return {"error": f"the workers had not taken in the {n:,}-household registry after 900 s"}
        # The registry's membership announcements and directory updates must be done too: wait until the
        # group has committed everything it reads (else the first sends queue behind that backlog).
        idle_after = _wait_idle(offsets, 600)
        if idle_after is None:
            return {"error": "the workers did not finish taking in the registry (lag > 0 after 600 s)"}
        feed = AlertFeed(f"127.0.0.1:{broker.port}", offsets.topics, offsets.partitions)
        rows: list[dict[str, Any]] = []
        try:
            reports = dep.gc_reports()
            marks = [len(reports)]  # each phase's full collections: the worker's reports between two marks
            start = 0
            for rate, count in zip(rates, counts, strict=True):
                rows.append(_paced(feed, dep, households[start:start + count], rate, plan.latency_seconds,
                                   plan.latency_wait_s, log))
                start += count
                reports = dep.gc_reports()
                marks.append(len(reports))
        finally:
            feed.close()
            offsets.close()
        for row, (first, last) in zip(rows, itertools.pairwise(marks), strict=True):
            row["worker_gc"] = _gc_during(reports[first:last])
            log(f"  {whose} full garbage collections during the {row['rate']:,} events/s sends: "
                f"{row['worker_gc']['text']}")
        return {**rows[-1], "context_rates": rows[:-1]}
    finally:
        dep.stop_workers()


def _read_counters(line: str) -> dict[str, int] | None:
    """The counters in one worker log line (`counters: {...}`), or None when the line has none."""
    if "counters: {" not in line:
        return None
    return {key: int(value) for key, value in ast.literal_eval(line.split("counters: ", 1)[1].strip()).items()}


def _gc_during(reports: list[Report]) -> dict[str, Any]:
    """Full collections in the reports logged while a phase ran and in the first one after it ended.

    Each report covers the 10 s since the one before, so this may include a few seconds before and after the phase
    (the worker idle then).
    """
    count = sum(r.recent for r in reports)
    longest = max((r.recent_longest_ms for r in reports), default=0.0)
    return {"full_collections": count, "longest_ms": longest if count else None,
            "text": f"{count}, longest {longest:,.0f} ms" if count else "none"}


def _wait_idle(offsets: Offsets, timeout_s: float) -> float | None:
    """Seconds until the worker group's committed lag is 0 twice in a row; None on timeout."""
    started = time.perf_counter()
    zero = 0
    while time.perf_counter() - started < timeout_s:
        zero = zero + 1 if offsets.lag() == 0 else 0
        if zero >= 2:
            return time.perf_counter() - started
        time.sleep(0.5)
    return None


class AlertFeed:
    """kafka-python consumers in a thread on the alert topic and the internal routed topic.

    For each trigger event_id: when the router had forwarded it (CreateTime of its `{app}-routed`
    record), when the household agent sent its alert (CreateTime of the alert record) and when the alert
    reached this consumer (wall clock), which splits the latency into router, household agent and
    delivery of the alert.
    """

    def __init__(self, server: str, topics: Any, partitions: int) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from monitor.runtime.messages import Carried

        self._carried = msgspec.msgpack.Decoder(Carried)
        self.alerts_topic = topics.alerts
        self.consumer = KafkaConsumer(bootstrap_servers=[server], group_id=None, enable_auto_commit=False,
                                      fetch_max_wait_ms=10)
        tps = [TopicPartition(t, p) for t in (topics.alerts, topics.routed) for p in range(partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_end(*tps)
        for tp in tps:
            self.consumer.position(tp)
        self.arrived: dict[str, float] = {}
        self.alert_created: dict[str, float] = {}
        self.routed_created: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for tp, records in self.consumer.poll(timeout_ms=50).items():
                now = time.time()
                for record in records:
                    if tp.topic == self.alerts_topic:
                        trigger = json.loads(record.value)["trigger"]["event_id"]
                        self.arrived.setdefault(trigger, now)
                        self.alert_created.setdefault(trigger, record.timestamp / 1000)
                    else:
                        event_id = self._carried.decode(record.value).event.event_id
                        self.routed_created.setdefault(event_id, record.timestamp / 1000)

    def close(self) -> None:
        """Stop the thread and the consumer."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.consumer.close()


def _paced(feed: AlertFeed, dep: Deployment, households: list[dict[str, Any]], rate: int, seconds: float,
           wait_s: float, log: Log) -> dict[str, Any]:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=[f"127.0.0.1:{dep.broker.port}"], acks="all", linger_ms=0)
    topic = f"{dep.prefix}illness"
    # kafka-python fetches a topic's metadata at its first send, which blocked it for 100 to 140 ms here. The
    # first event's latency then included that wait, and the paced loop caught up with a burst of about ten
    # events at once, which queued behind each other in the worker: at 100 events/s they could be the worst
    # of the phase (the quick size's p99 is its fifth-worst of 500 events). So the metadata is fetched first.
    producer.partitions_for(topic)
    tag = uuid.uuid4().hex[:6]
    messages = [_headline(i, h, tag) for i, h in enumerate(households)]
    sent_at: dict[str, float] = {}
    started = time.perf_counter()
    for i, (event_id, key, value) in enumerate(messages):
        pause = started + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent_at[event_id] = time.time()
        producer.send(topic, key=key.encode(), value=value)
    producer.flush()
    achieved = len(messages) / (time.perf_counter() - started)
    deadline = time.perf_counter() + wait_s
    while sum(1 for e in sent_at if e in feed.arrived) < len(sent_at) and time.perf_counter() < deadline \
            and dep.alive():
        time.sleep(0.2)
    producer.close()
    lat = sorted(1000 * (feed.arrived[e] - t) if e in feed.arrived else math.inf for e, t in sent_at.items())
    matched = sum(1 for x in lat if x != math.inf)
    row = {"rate": rate, "achieved_rate": achieved, "seconds": seconds, "sent": len(sent_at), "matched": matched,
           "waited_after_last_send_s": wait_s}
    for name, p in (("p50_ms", 50.0), ("p99_ms", 99.0), ("max_ms", 100.0)):
        value = _pct(lat, p)
        row[name] = None if value == math.inf else value
        text = f"> {wait_s:.0f} s (not arrived)" if value == math.inf else f"{value:,.0f} ms"
        row[name.replace("_ms", "_text")] = text
    # Where the time goes, for the events whose alert arrived (medians and p99 of each leg, ms).
    legs: dict[str, list[float]] = {"router": [], "household agent": [], "alert delivery": []}
    for e, t in sent_at.items():
        if e in feed.arrived and e in feed.routed_created:
            legs["router"].append(1000 * (feed.routed_created[e] - t))
            legs["household agent"].append(1000 * (feed.alert_created[e] - feed.routed_created[e]))
            legs["alert delivery"].append(1000 * (feed.arrived[e] - feed.alert_created[e]))
    row["legs_ms"] = {leg: {"p50": _pct(sorted(v), 50), "p99": _pct(sorted(v), 99)} for leg, v in legs.items() if v}
    workers = len(dep.procs)
    row["workers"] = workers
    log(f"  latency at {achieved:,.0f} events/s for {seconds:.0f} s, {workers_text(workers)}: p50 {row['p50_text']}, "
        f"p99 {row['p99_text']}, max {row['max_text']} ({matched:,} of {len(sent_at):,} alerts arrived within "
        f"{wait_s:.0f} s of the last send)")
    if row["legs_ms"]:
        log("    legs (p50 / p99 ms): " + ", ".join(f"{leg} {v['p50']:,.0f} / {v['p99']:,.0f}"
                                                     for leg, v in row["legs_ms"].items()))
    return row


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    index = min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))
    return values[index]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_pair() -> int:
    """BENCH_KAFKA_PORT, else the first port from 29092 on that is free together with the next one."""
    if os.environ.get("BENCH_KAFKA_PORT"):
        return int(os.environ["BENCH_KAFKA_PORT"])
    for port in range(29092, 29192, 2):
        if _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError("no free pair of ports in 29092..29191 for the benchmark broker")


def readiness() -> dict[str, Any]:
    """Is the Kafka runtime there: the worker command, its modules, the Kafka tests?"""
    tests = sorted(p.name for p in (ROOT / "tests" / "kafka").glob("test_*.py"))
    proc = subprocess.run([sys.executable, "-m", "monitor", "worker", "--help"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    modules = {m: (ROOT / "monitor" / "runtime" / f"{m}.py").is_file() for m in ("worker", "produce", "topics")}
    return {"worker_help_exit": proc.returncode, "modules": modules, "kafka_tests": tests}


def measure_kafka(plan: KafkaPlan, work: Path, log: Log) -> dict[str, Any]:
    """All the Kafka figures; a failure is reported with what happened, never raised."""
    result: dict[str, Any] = {"runtime": readiness(), "e2e": []}
    log(f"  runtime: {result['runtime']}")
    broker = Broker.for_bench()
    try:
        result["broker_start_s"] = broker.start()
        log(f"  broker on 127.0.0.1:{broker.port} started in {result['broker_start_s']:.1f} s")
        data = dataset(plan.households, 2, log=log)
        for workers in plan.workers:
            try:
                result["e2e"].append(end_to_end(broker, data, workers, plan, work, log))
            except Exception as exc:  # noqa: BLE001
                result["e2e"].append({"workers": workers, "error": f"{type(exc).__name__}: {exc}"})
                log(f"  {workers} worker(s) FAILED: {exc}")
        done = next((r for r in result["e2e"] if r.get("events_per_s")), None)
        if done:
            result["raw"] = raw_consume(broker, done["prefix"], data.lines + data.households, 200_000, log)
        try:
            result["faust_floor"] = faust_floor(broker, data, plan, work, log)
        except Exception as exc:  # noqa: BLE001
            result["faust_floor"] = [{"error": f"{type(exc).__name__}: {exc}"}]
            log(f"  faust floor FAILED: {exc}")
        for key, workers in (("latency", 1), ("latency_scaled", plan.latency_scaled_workers)):
            if not workers:
                continue
            try:
                result[key] = latency(broker, plan, work, log, workers=workers)
            except Exception as exc:  # noqa: BLE001
                result[key] = {"workers": workers, "error": f"{type(exc).__name__}: {exc}"}
                log(f"  latency with {workers_text(workers)} FAILED: {exc}")
    except Exception as exc:  # noqa: BLE001
        result["error"] = f"{type(exc).__name__}: {exc}"
        log(f"  FAILED: {result['error']}")
    finally:
        broker.stop()
        log("  broker stopped")
    return result
