"""Reliability against the REAL broker, CI tier (reliability.md §2, §5): R1, R2, R4, R7 and S1.

Every scenario runs real `python -m monitor worker` subprocesses against a real Kafka 3.9.1 broker and
is checked against the embedded runtime on the same files (the oracle, tests/kafka/harness.py):

- R1  kill -9 of the worker twice while ~10k events (1,000 households) are processed, restart each time:
      applied event ids per household == oracle (0 lost, 0 double-applied), scores equal, the feed holds
      every oracle alert (dedup by alert_id) and equals the core's replay of the routed log; raw duplicate
      alert records and the recovery time of each restart are reported.
- R2  the worker dies between the table write and the alert send (MONITOR_TEST_CRASH_AFTER_STATE) on
      chosen events that each raise an alert; after each restart the alert is on the feed.
- R2b the same crash on a LATE event whose household replay creates an alert for an earlier trigger: that
      alert still reaches the feed after the restart (finding B2, fixed in 7385f9a).
- R4  the broker is stopped (SIGTERM) for 70 s while the worker runs, then started again WITH ITS DATA
      (a private broker of this test: `scripts/kafka start` wipes the data dir by design): the worker
      never exits, processing resumes within 120 s, no acknowledged event is lost.
- R7  the 10k-line poison corpus (tests/reliability/corpus.py) interleaved with ~10k valid events through
      `monitor produce`: every bad line dead-lettered once with its reason and the topic/partition/offset of
      the very input record (checked by reading that record back and comparing its SHA-256), 0 worker
      restarts, every valid event applied.
- S1  the alerts, anomalies and dead-letter topics, the worker logs and a `monitor snapshot` DuckDB file of the R1 and
      R7 runs hold no valid 18-character ID number, no mobile number and no planted canary (a mobile and
      a name added to valid events as unknown fields), outside the masked form in alerts.

The helpers at the top (PrivateBroker, TcpProxy, the checks) are shared with test_soak.py.
Run: `scripts/run-tests -m kafka tests/reliability` (or `make test-kafka`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from monitor import idnumber
from monitor.config import Settings
from monitor.runtime.topics import app_id, bootstrap_servers, topics_for
from tests.kafka.harness import (
    KAFKA_SCRIPT,
    PYTHON,
    ROOT,
    Observed,
    Oracle,
    WorkerPool,
    case_env,
    changelog_writes,
    delete_case_topics,
    fixture_set,
    lag,
    observe,
    oracle,
    partition_lag,
    produce,
    replay_routed,
    settings_of,
)
from tests.reliability.conftest import record
from tests.reliability.corpus import KINDS, poison

pytestmark = [pytest.mark.kafka, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

KAFKA_VERSION = "3.9.1"
STALL_S = 120.0  # no commit and no state write for this long while messages wait: the worker is stuck

# ================================================================================================ helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def kafka_lib() -> Path:
    """The broker jars (fetched by `scripts/kafka fetch` if missing)."""
    home = Path(os.environ.get("KAFKA_HOME_DIR", ROOT / ".kafka"))
    lib = home / f"lib-{KAFKA_VERSION}"
    if not (lib / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        subprocess.run([str(KAFKA_SCRIPT), "fetch"], cwd=ROOT, check=True, capture_output=True, timeout=900)
    return lib


class PrivateBroker:
    """A single-node KRaft broker of one test, on free ports, with the settings of scripts/kafka.

    scripts/kafka wipes and re-formats the data dir on every `start` (fresh cluster per test run) and has
    no "restart keeping the data" command, so the broker-outage tests run their own broker: `start()`
    formats once, `stop()` sends SIGTERM (controlled shutdown, as `scripts/kafka stop` does) and
    `restart()` runs the very same java command line again WITHOUT formatting, so the log dirs survive.

    With `advertise_port`, a second listener EXTERNAL on `external_port` advertises 127.0.0.1:advertise_port
    (a TcpProxy in front of it), so clients that bootstrap through the proxy keep talking through it,
    while `url` (the PLAINTEXT listener, which advertises itself) is a direct path for test observers.
    """

    def __init__(self, home: Path, *, advertise_port: int | None = None) -> None:
        self.home = home
        self.port, self.cport = free_port(), free_port()
        self.external_port = free_port() if advertise_port else None
        self.advertise_port = advertise_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "logs" / "server.out"
        self.conf = home / "server.properties"
        self.cmd: list[str] = []
        self.launches = 0

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def client_url(self) -> str:
        """What workers use: through the proxy if there is one."""
        return f"kafka://127.0.0.1:{self.advertise_port}" if self.advertise_port else self.url

    def _write_config(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        (self.home / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka.server.KafkaRaftServer=INFO\n")
        listeners = f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.cport}"
        advertised = f"PLAINTEXT://127.0.0.1:{self.port}"
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        if self.external_port:
            listeners += f",EXTERNAL://127.0.0.1:{self.external_port}"
            advertised += f",EXTERNAL://127.0.0.1:{self.advertise_port}"
            protocols += ",EXTERNAL:PLAINTEXT"
        self.conf.write_text(f"""# written by tests/reliability/test_kafka_faults.py (PrivateBroker)
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{self.cport}
listeners={listeners}
advertised.listeners={advertised}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map={protocols}
log.dirs={self.home / "data"}
auto.create.topics.enable=true
num.partitions=8
default.replication.factor=1
min.insync.replicas=1
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
""")

    def start(self, timeout_s: float = 120.0) -> float:
        """A fresh cluster: write the config, format the data dir once, launch; seconds until ready."""
        lib = kafka_lib()
        shutil.rmtree(self.home / "data", ignore_errors=True)
        self._write_config()
        log4j = f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}"
        cluster_id = "rel" + uuid.uuid4().hex[:19]
        subprocess.run(["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", log4j, "-cp",
                        f"{lib}/*", "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.conf),
                        "--ignore-formatted"], check=True, capture_output=True, timeout=120)
        self.cmd = ["java", "-Xms512m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                    "-XX:MaxInlineLevel=15", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
                    f"-Dkafka.logs.dir={self.home / 'logs'}", log4j, "-cp", f"{lib}/*", "kafka.Kafka",
                    str(self.conf)]
        return self._launch(timeout_s)

    def restart(self, timeout_s: float = 120.0) -> float:
        """The same command line again, no format: the data survives.  Seconds until ready."""
        assert self.cmd, "start() first"
        assert self.proc is None or self.proc.poll() is not None, "the broker still runs"
        return self._launch(timeout_s)

    def _launch(self, timeout_s: float) -> float:
        started = time.monotonic()
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.launches += 1
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"broker exited with {self.proc.returncode}:\n{self.tail()}")
            with self.log.open("rb") as handle:
                handle.seek(offset)
                if b"Kafka Server started" in handle.read() and port_open(self.port):
                    return time.monotonic() - started
            time.sleep(0.25)
        raise AssertionError(f"broker not ready after {timeout_s}s:\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> float:
        """Stop our broker process (by pid); SIGKILL if it outlives the timeout.  Seconds taken."""
        started = time.monotonic()
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        return time.monotonic() - started

    def close(self) -> None:
        self.stop(signal.SIGTERM, timeout_s=30)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


class TcpProxy:
    """A loopback TCP proxy with per-chunk delay (mean ± jitter, order kept) and a blackhole switch.

    While blackholed, new connections are accepted but not forwarded and no byte moves in either
    direction; what was sent meanwhile is delivered after the heal, as TCP retransmission would do once a
    partition heals (connections the clients gave up on are closed by them).  Runs its own event loop in
    a thread, so the test can switch it while workers talk through it.
    """

    def __init__(self, upstream_port: int, listen_port: int, seed: int = 11) -> None:
        self.upstream_port, self.listen_port = upstream_port, listen_port
        self.rng = random.Random(seed)
        self.delay = (0.0, 0.0)
        self.blackholed = False
        self.connections = 0
        self.forwarded_bytes = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._healed: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "proxy did not start"

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    async def _serve(self) -> None:
        self._healed = asyncio.Event()
        self._healed.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port)

    def set_delay(self, mean_s: float, jitter_s: float) -> None:
        self.delay = (mean_s, jitter_s)

    def blackhole(self, on: bool) -> None:
        assert self.loop is not None and self._healed is not None
        self.blackholed = on
        self.loop.call_soon_threadsafe(self._healed.clear if on else self._healed.set)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._healed is not None
        self._writers.add(writer)
        self.connections += 1
        try:
            await self._healed.wait()
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except OSError:
                return
            self._writers.add(up_writer)
            pipes = [asyncio.ensure_future(self._pipe(reader, up_writer)),
                     asyncio.ensure_future(self._pipe(up_reader, writer))]
            _done, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            up_writer.close()
            self._writers.discard(up_writer)
        finally:
            writer.close()
            self._writers.discard(writer)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        assert self.loop is not None and self._healed is not None
        loop = self.loop
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def pump() -> None:
            last_due = 0.0
            while True:
                try:
                    data = await src.read(65536)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    await queue.put(None)
                    return
                mean, jitter = self.delay
                delay = max(0.0, mean + self.rng.uniform(-jitter, jitter)) if mean > 0 else 0.0
                last_due = max(last_due, loop.time() + delay)
                await queue.put((last_due, data))

        pumper = asyncio.ensure_future(pump())
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                due, data = item
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._healed.wait()
                dst.write(data)
                self.forwarded_bytes += len(data)
                await dst.drain()
        except (ConnectionError, OSError):
            return
        finally:
            pumper.cancel()

    def stop(self) -> None:
        loop = self.loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)


@dataclass
class Deployment:
    """A worker deployment of one test: own topic prefix, own data dirs, own worker processes."""

    env: dict[str, str]
    settings: Settings
    tmp: Path
    pool: WorkerPool
    info: dict[str, Any] = field(default_factory=dict)
    seen: Observed | None = None

    @classmethod
    def new(cls, broker_url: str, tmp: Path, name: str, *, observer_url: str | None = None) -> Deployment:
        """A fresh deployment; `observer_url` is where the test itself reads (default: the workers' broker)."""
        tmp.mkdir(parents=True, exist_ok=True)
        env = case_env(broker_url, name)
        settings = settings_of(dict(env, MONITOR_BROKER=observer_url) if observer_url else env)
        return cls(env, settings, tmp, WorkerPool(env, tmp))

    def __post_init__(self) -> None:
        self.info.setdefault("worker_module_at_start", engine_version())

    def close(self) -> None:
        """Stop our workers (by pid) and delete the deployment's topics (harness.delete_case_topics; kept with
        MONITOR_TEST_KEEP_TOPICS=1)."""
        self.pool.stop_all()
        delete_case_topics(self.settings)

    def worker_logs(self) -> list[Path]:
        return sorted(self.tmp.glob("*.log"))


def worker_health(dep: Deployment) -> dict[str, Any]:
    """What the worker logs say went wrong: handler exceptions (each one a `processing_error` dead letter) and
    PartitionsMismatch lines (the bug above); and which worker module ran."""
    text = "\n".join(p.read_text(errors="replace") for p in dep.worker_logs())
    return {"processing_error_log_lines": text.count("processing error at"),
            "partitions_mismatch_log_lines": text.count("PartitionsMismatch"),
            "worker_module_at_end": engine_version()}


WORKER_MODULES = [f"monitor/runtime/{name}.py" for name in ("worker", "engine", "merger", "offsets", "messages")]


def engine_version() -> str:
    """A hash of the git blob hashes of the worker's modules under test (they may carry uncommitted changes)."""
    proc = subprocess.run(["git", "hash-object", *WORKER_MODULES], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    return hashlib.sha256(proc.stdout.encode()).hexdigest()[:12]


def lag_by_topic(settings: Settings) -> dict[str, int]:
    """Uncommitted messages of the worker group per topic (for failure messages of a stalled worker)."""
    lags, _ends = partition_lag(settings)
    out: Counter[str] = Counter()
    for tp, behind in lags.items():
        if behind:
            out[f"{tp.topic.removeprefix(app_id(settings))}[{tp.partition}]"] += behind
    return dict(out)


def quiesce(settings: Settings, pool: WorkerPool | None, timeout_s: float = 300.0,
            stall_s: float | None = None) -> float:
    """harness.wait_quiescent, failing early (with the lag per topic) when the worker is stuck: messages wait but
    neither a commit nor a state write happens for `stall_s` seconds."""
    stall_s = STALL_S if stall_s is None else stall_s
    started = time.monotonic()
    progress, progress_at = (-1, -1), started
    good, last_ends = 0, None
    while True:
        if pool is not None:
            pool.assert_alive()
        total, ends = lag(settings)
        if total == 0 and ends == last_ends:
            good += 1
            if good >= 2:
                return time.monotonic() - started
        else:
            good = 0
        last_ends = ends
        now = (total, changelog_writes(settings))
        if now != progress:
            progress, progress_at = now, time.monotonic()
        elif total and time.monotonic() - progress_at > stall_s:
            tails = "" if pool is None else "\n".join(f"--- {w.name}\n{w.tail(12)}" for w in pool.workers.values())
            raise AssertionError(f"worker stalled: lag {total} and no commit or state write for {stall_s:.0f}s; "
                                 f"lag by topic {lag_by_topic(settings)}\n{tails}")
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not quiescent after {timeout_s:.0f}s; lag by topic {lag_by_topic(settings)}")
        time.sleep(1.0)


def wait_writes(settings: Settings, target: int, pool: WorkerPool | None = None, timeout_s: float = 300.0,
                allow_exit: bool = False) -> float:
    """Seconds until the profiles changelog holds at least `target` records."""
    started = time.monotonic()
    while changelog_writes(settings) < target:
        if pool is not None and not allow_exit:
            pool.assert_alive()
        assert time.monotonic() - started < timeout_s, f"changelog never reached {target} records"
        time.sleep(0.1)
    return time.monotonic() - started


def expected_writes(expected: Oracle) -> int:
    """Changelog records of a run without replays: one per registry record and one per applied event."""
    return len(expected.applied) + sum(expected.applied.values())


SEQ = re.compile(r"-(\d+)$")


def exactly_once(seen: Observed, expected: Oracle) -> dict[str, Any]:
    """Applied event ids per household against the oracle: lost, double-applied, unexpected; and the
    per-household sequence numbers of the generated ids (1..n, Flink's SemanticsCheckMapper) contiguous."""
    want = {hid: [e.event_id for e in s.events] for hid, s in expected.result.states.items()}
    got = {hid: [e.event_id for e in s.events] for hid, s in seen.states.items()}
    lost = double = unexpected = seq_gaps = 0
    differing: list[str] = []
    for hid in sorted(want.keys() | got.keys()):
        w, g = Counter(want.get(hid, [])), Counter(got.get(hid, []))
        h_lost = sum((w - g).values())
        h_double = sum(n - 1 for n in g.values() if n > 1)
        h_unexpected = sum(1 for k in g if k not in w)
        if h_lost or h_double or h_unexpected:
            differing.append(hid)
        lost, double, unexpected = lost + h_lost, double + h_double, unexpected + h_unexpected
        seqs = sorted(int(m.group(1)) for e in g if (m := SEQ.search(e)))
        want_seqs = sorted(int(m.group(1)) for e in w if (m := SEQ.search(e)))
        if seqs != want_seqs:
            seq_gaps += 1
    scores = seen.scores(expected.rules, expected.result.as_of)
    scores_differ = sum(1 for hid, s in expected.scores.items() if scores.get(hid) != s)
    return {"households": len(want), "events_expected": sum(len(v) for v in want.values()),
            "events_applied": sum(len(v) for v in got.values()), "lost": lost, "double_applied": double,
            "unexpected": unexpected, "households_differing": len(differing), "sample_differing": differing[:5],
            "households_with_seq_gaps": seq_gaps, "scores_differing": scores_differ,
            "state_alerts_equal": seen.state_alert_ids == expected.alert_ids}


def alert_check(settings: Settings, seen: Observed, expected: Oracle) -> dict[str, Any]:
    """The feed after dedup by alert_id: every oracle alert present, and exactly what the core emits for the
    routed log's real order (harness.replay_routed); raw duplicate records are reported."""
    replayed, _applied = replay_routed(settings, expected.rules)
    return {"oracle_alerts": len(expected.alert_ids), "feed_distinct": len(seen.feed_ids),
            "missing": len(expected.alert_ids - seen.feed_ids),
            "provisional": len(seen.feed_ids - expected.alert_ids),
            "feed_equals_routed_replay": seen.feed_ids == replayed,
            "routed_replay_not_on_feed": len(replayed - seen.feed_ids),
            "on_feed_not_in_routed_replay": len(seen.feed_ids - replayed),
            "raw_alert_records": seen.raw_alert_records,
            "raw_duplicate_records": seen.raw_alert_records - len(seen.feed_ids)}


def dead_letter_check(seen: Observed, expected: Oracle) -> dict[str, Any]:
    """Dead letters de-duplicated by source (at-least-once may repeat one after a kill) against the oracle."""
    by_source: dict[tuple[Any, ...], str] = {}
    for d in seen.dead_letters:
        s = d["source"]
        by_source.setdefault((s["topic"], s["partition"], s["offset"]), d["reason"])
    return {"dead_letters_raw": len(seen.dead_letters), "dead_letters_distinct": len(by_source),
            "reasons_equal": Counter(by_source.values()) == expected.dead_reasons}


def assert_invariants(info: dict[str, Any], *, exact_feed: bool = False) -> None:
    """0 lost, 0 double-applied, equal scores and final alerts, 0 missing oracle alerts on the feed.

    `exact_feed`: the feed must also equal the core's replay of the routed log (harness.replay_routed).  Only
    where no worker process died: a killed worker loses the alerts still in its producer buffer, and on replay
    the engine re-sends only the alerts its CURRENT state holds for that trigger, so a provisional alert that a
    later (also replayed) event had already superseded is legitimately never delivered.
    """
    assert info["lost"] == 0, info
    assert info["double_applied"] == 0, info
    assert info["unexpected"] == 0, info
    assert info["scores_differing"] == 0, info
    assert info["state_alerts_equal"], info
    assert info["missing"] == 0, info
    if exact_feed:
        assert info["feed_equals_routed_replay"], info


def read_records(servers: list[str], topic: str, timeout_s: float = 120.0) -> list[Any]:
    """Every record (with timestamp and headers) of a topic up to its end offsets now."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", client_id="reliability-reader",
                             max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for tp, records in consumer.poll(timeout_ms=500, max_records=10_000).items():
                out.extend(r for r in records if r.offset < ends[tp])
        return out
    finally:
        consumer.close()


# -- S1: what counts as a leak ---------------------------------------------------------------------------------
ID_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9０-９]{17}[0-9Xx０-９Ｘｘ](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
MASKED_ID = re.compile(r"^\d{6}\*{8}[\dX]{4}$")
CANARY_NAME = "欧阳测试"


def canary_mobile(n: int) -> str:
    return f"139{n:08d}"


def pii_scan(text: str, registry_ids: set[str], canaries: set[str]) -> dict[str, int]:
    """Valid GB 11643 IDs (any boundary-delimited 18-character run), mobiles, registry IDs anywhere (every
    18-character window), and planted canaries."""
    valid = sum(1 for m in ID_RUN.findall(text) if idnumber.is_valid(idnumber.normalise(m)))
    mobiles = len(MOBILE.findall(text))
    known = 0
    if registry_ids:
        for run in re.findall(r"[0-9]{17,}[0-9Xx]?", text):
            known += sum(1 for i in range(len(run) - 17) if run[i:i + 18].upper() in registry_ids)
    planted = sum(text.count(c) for c in canaries)
    return {"valid_ids": valid, "mobiles": mobiles, "registry_ids": known, "canaries": planted}


def registry_ids(households: Path) -> set[str]:
    ids: set[str] = set()
    for line in households.read_text().splitlines():
        if line.strip():
            ids.update(m["person_id"].upper() for m in json.loads(line).get("members", []))
    return ids


def snapshot_text(env: dict[str, str], out: Path) -> tuple[str, dict[str, int]]:
    """`monitor snapshot` of a deployment, dumped table by table as text."""
    import duckdb

    proc = subprocess.run([PYTHON, "-m", "monitor", "snapshot", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    con = duckdb.connect(str(out), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        parts, rows = [], {}
        for table in tables:
            data = con.execute(f'SELECT * FROM "{table}"').fetchall()
            rows[table] = len(data)
            parts.extend(json.dumps(row, ensure_ascii=False, default=str) for row in data)
    finally:
        con.close()
    return "\n".join(parts) + "\n" + proc.stdout + proc.stderr, rows


# ================================================================================================ data


@pytest.fixture(scope="module")
def oracle_settings(kafka_broker: str) -> Settings:
    return settings_of(case_env(kafka_broker, "oracle"))


@pytest.fixture(scope="module")
def data_1k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """`monitor fixtures --households 1000` (~9.7k events, plus 12 bad lines and their exact duplicates)."""
    return fixture_set(tmp_path_factory.mktemp("data1k"), 1000, seed=7, bad_lines=12)


@pytest.fixture(scope="module")
def oracle_1k(data_1k: tuple[Path, list[Path]], oracle_settings: Settings) -> Oracle:
    return oracle(oracle_settings, *data_1k)


@pytest.fixture(scope="module")
def data_300(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    return fixture_set(tmp_path_factory.mktemp("data300"), 300, seed=3, bad_lines=0)


@pytest.fixture(scope="module")
def oracle_300(data_300: tuple[Path, list[Path]], oracle_settings: Settings) -> Oracle:
    return oracle(oracle_settings, *data_300)


# ================================================================================================ R1


def kill_and_restart(dep: Deployment, name: str, *, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """kill -9 the worker, restart it; seconds until faust is ready and until it works again (`wait_resumed`)."""
    settings, pool = dep.settings, dep.pool
    killed_at = time.monotonic()
    pool.kill(name, signal.SIGKILL)
    time.sleep(0.3)  # let records already on the wire land before taking the count
    writes = changelog_writes(settings)
    pool.start(name, extra_env)
    ready = pool.wait_ready(name, timeout_s=120)
    resumed_by = wait_resumed(settings, writes, pool, timeout_s=120)
    return {"changelog_at_kill": writes, "ready_s": round(ready, 1), "resumed_by": resumed_by,
            "resumed_after_kill_s": round(time.monotonic() - killed_at, 1)}


def wait_resumed(settings: Settings, writes: int, pool: WorkerPool, timeout_s: float) -> str:
    """Wait until a restarted worker shows it works again: a state write past `writes` (the changelog's count at
    the kill), or no lag at all in two looks half a second apart: the killed worker had handled and committed
    everything there was, so there is nothing to write.  (Waiting for a write alone failed the scaled soak's R1,
    whose data is all applied before its last kills: the restarted worker had nothing to do; RELIABILITY.md H4.)"""
    started = time.monotonic()
    idle = 0
    while True:
        pool.assert_alive()
        if changelog_writes(settings) > writes:
            return "state write"
        idle = idle + 1 if lag(settings)[0] == 0 else 0
        if idle >= 2 and changelog_writes(settings) == writes:
            return "nothing left"
        assert time.monotonic() - started < timeout_s, (
            f"no state write after the restart and lag by topic {lag_by_topic(settings)} after {timeout_s:.0f}s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def r1_run(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory, data_1k: tuple[Path, list[Path]],
           oracle_1k: Oracle) -> Iterator[Deployment]:
    dep = Deployment.new(kafka_broker, tmp_path_factory.mktemp("r1"), "r1-kill9")
    started = time.monotonic()
    try:
        dep.pool.start("a")
        dep.info["first_ready_s"] = round(dep.pool.wait_ready("a"), 1)
        dep.info["produce_s"] = round(produce(dep.env, *data_1k), 1)
        total = expected_writes(oracle_1k)
        kills = []
        for fraction in (1 / 3, 2 / 3):
            wait_writes(dep.settings, int(total * fraction), dep.pool)
            kills.append(kill_and_restart(dep, "a"))
        dep.info["kills"] = kills
        dep.info["quiescent_after_last_restart_s"] = round(quiesce(dep.settings, dep.pool, timeout_s=300), 1)
        dep.info["run_s"] = round(time.monotonic() - started, 1)
        dep.pool.stop_all()
        dep.seen = observe(dep.settings)
        yield dep
    finally:
        dep.close()


def test_r1_kill9_twice_loses_nothing_and_applies_nothing_twice(r1_run: Deployment, oracle_1k: Oracle) -> None:
    assert r1_run.seen is not None
    info = {**exactly_once(r1_run.seen, oracle_1k), **alert_check(r1_run.settings, r1_run.seen, oracle_1k),
            **dead_letter_check(r1_run.seen, oracle_1k), **r1_run.info, **worker_health(r1_run)}
    record("R1_kill9_ci", info)
    assert info["processing_error_log_lines"] == 0, info
    assert_invariants(info)
    assert info["reasons_equal"], info
    assert info["households_with_seq_gaps"] == 0, info
    assert len(info["kills"]) == 2
    for kill in info["kills"]:
        assert kill["resumed_after_kill_s"] <= 60, kill  # reliability.md R1: recovery <= 60 s per restart
        assert kill["resumed_by"] == "state write", kill  # killed at 1/3 and 2/3 of the writes: work was left


# ================================================================================================ R2

CRASHES_CI = 5


def crash_events(expected: Oracle, count: int) -> list[Any]:
    """`count` alerts of the oracle, from different households, spread over event time; their triggers are the
    events the worker will die on."""
    alerts = sorted(expected.result.alerts, key=lambda a: (a.event_time, a.alert_id))
    chosen, households = [], set()
    step = max(1, len(alerts) // (count + 1))
    for i in range(step, len(alerts), step):
        a = alerts[i]
        if a.household_id not in households and a.trigger.event_id not in {c.trigger.event_id for c in chosen}:
            chosen.append(a)
            households.add(a.household_id)
        if len(chosen) == count:
            break
    assert len(chosen) == count, "not enough alerts in the oracle"
    return chosen


def run_crash_hook(dep: Deployment, data: tuple[Path, list[Path]], chosen: list[Any],
                   timeout_s: float = 600.0) -> dict[str, Any]:
    """Run with the hook on the chosen trigger events; restart after every exit until quiescent."""
    pool, settings = dep.pool, dep.settings
    crash_env = {"MONITOR_TEST_CRASH_AFTER_STATE": ",".join(a.trigger.event_id for a in chosen)}
    pool.start("a", crash_env)
    pool.wait_ready("a")
    produce(dep.env, *data)
    exits: list[int] = []
    ready: list[float] = []
    quiet = 0
    deadline = time.monotonic() + timeout_s
    progress, progress_at = (-1, -1), time.monotonic()
    while time.monotonic() < deadline:
        worker = pool.workers["a"]
        code = worker.proc.poll()
        if code is not None:
            exits.append(code)
            assert code == 137, f"worker exited with {code}, not by the hook:\n{worker.tail()}"
            pool.start("a", crash_env)
            took = pool.wait_ready("a", exit_ok=True)  # it may reach the next hook before faust says Ready
            if took is not None:
                ready.append(round(took, 1))
            quiet = 0
            continue
        total, _ends = lag(settings)
        quiet = quiet + 1 if total == 0 else 0
        if quiet >= 3 and len(exits) == len(chosen):
            break
        if quiet >= 20:  # quiescent for 20 s and a hook never fired: its event was never applied
            break
        now = (total, changelog_writes(settings))
        if now != progress:
            progress, progress_at = now, time.monotonic()
        elif time.monotonic() - progress_at > STALL_S:
            raise AssertionError(f"worker stalled: no commit and no state write for {STALL_S:.0f}s after "
                                 f"{len(exits)} crashes; lag by topic {lag_by_topic(settings)}\n{worker.tail(15)}")
        time.sleep(1.0)
    else:
        raise AssertionError(f"not done after {timeout_s}s: {len(exits)} crashes; lag by topic "
                             f"{lag_by_topic(settings)}\n{pool.workers['a'].tail()}")
    markers = [a for a in chosen if (dep.tmp / "data-a" / f".crashed-after-{a.trigger.event_id}").exists()]
    return {"chosen": len(chosen), "hook_exits": len(exits), "markers": len(markers), "restart_ready_s": ready}


def test_r2_crash_between_state_write_and_alert_send_still_delivers_the_alert(
        kafka_broker: str, tmp_path: Path, data_300: tuple[Path, list[Path]], oracle_300: Oracle) -> None:
    dep = Deployment.new(kafka_broker, tmp_path, "r2-crash")
    chosen = crash_events(oracle_300, CRASHES_CI)
    started = time.monotonic()
    try:
        info = run_crash_hook(dep, data_300, chosen)
        dep.pool.stop_all()
        info["run_s"] = round(time.monotonic() - started, 1)
        seen = observe(dep.settings)
        present = sum(1 for a in chosen if a.alert_id in seen.feed_ids)
        info.update(alerts_present=present, **exactly_once(seen, oracle_300),
                    **alert_check(dep.settings, seen, oracle_300), **worker_health(dep), **dep.info)
    finally:
        dep.close()
    record("R2_crash_before_alert_ci", info)
    assert info["processing_error_log_lines"] == 0, info
    assert info["hook_exits"] == info["markers"] == len(chosen), info
    assert present == len(chosen), f"{len(chosen) - present} alerts of crash events never reached the feed: {info}"
    assert_invariants(info)


def late_event_case(households: Path, events: list[Path], rules: Any, pseudonymiser: Any,
                    limit: int = 300) -> tuple[bytes, list[bytes], bytes, str, str] | None:
    """A household and one of its events X such that X arriving LAST (late, so the core replays the household)
    creates an alert whose trigger is ANOTHER event Y, and the final state keeps it.  Returns (registry line,
    the other event lines in event-time order, X's line, the alert id, Y's event id)."""
    import datetime as dt

    from monitor.pipeline.profile import Status, apply_event, new_state
    from monitor.pipeline.validate import decode_household, validate_event

    registry = {decode_household(line).household_id: line
                for line in households.read_bytes().splitlines() if line.strip()}
    now = dt.datetime.now(dt.UTC)
    by_household: dict[str, list[tuple[Any, bytes]]] = {}
    for path in events:
        for line in path.read_bytes().splitlines():
            try:
                _envelope, event = validate_event(line, now=now)
            except Exception:  # noqa: BLE001 - bad lines of the fixture set
                continue
            if event is not None and event.household_id in registry:
                by_household.setdefault(event.household_id, []).append((event, line))
    for household_id in sorted(by_household)[:limit]:
        items = sorted(by_household[household_id], key=lambda item: item[0].key)
        if len({e.event_id for e, _ in items}) != len(items):
            continue
        record_ = decode_household(registry[household_id])
        for k in range(len(items) - 1):
            late_event, late_line = items[k]
            others = items[:k] + items[k + 1:]
            state = new_state(record_)
            for event, _line in others:
                state = apply_event(state, event, rules, pseudonymiser).state
            applied = apply_event(state, late_event, rules, pseudonymiser)
            final = {a.alert_id for a in applied.state.alerts}
            for alert in applied.new_alerts:
                if (applied.status is Status.APPLIED and alert.trigger.event_id != late_event.event_id
                        and alert.alert_id in final):
                    return (registry[household_id], [line for _e, line in others], late_line, alert.alert_id,
                            alert.trigger.event_id)
    return None


def test_r2b_crash_after_a_late_events_state_write_still_delivers_the_alerts_its_replay_created(
        kafka_broker: str, tmp_path: Path, data_1k: tuple[Path, list[Path]], oracle_1k: Oracle) -> None:
    """A late event X makes the core replay its household; the replay creates an alert triggered by an EARLIER
    event Y.  The worker dies after writing the state of X and before sending that alert.  After the restart X
    is a duplicate, Y is long committed: the alert must still reach the feed.  (Failed before commit 7385f9a:
    the duplicate re-sent only alerts triggered by X itself; finding B2 in RELIABILITY.md.)"""
    dep = Deployment.new(kafka_broker, tmp_path, "r2b-late-crash")
    case = late_event_case(data_1k[0], data_1k[1], oracle_1k.rules, dep.settings.pseudonymiser())
    assert case is not None, "no late-event case in the fixture set"
    registry_line, others, late_line, alert_id, other_trigger = case
    (tmp_path / "household.jsonl").write_bytes(registry_line + b"\n")
    (tmp_path / "before.jsonl").write_bytes(b"\n".join(others) + b"\n")
    (tmp_path / "late.jsonl").write_bytes(late_line + b"\n")
    late_id = json.loads(late_line)["event_id"]
    expected = oracle(dep.settings, tmp_path / "household.jsonl", [tmp_path / "before.jsonl", tmp_path / "late.jsonl"])
    assert alert_id in expected.alert_ids
    pool = dep.pool
    try:
        pool.start("a", {"MONITOR_TEST_CRASH_AFTER_STATE": late_id})
        pool.wait_ready("a")
        produce(dep.env, tmp_path / "household.jsonl", [tmp_path / "before.jsonl"])
        quiesce(dep.settings, pool, timeout_s=180)
        produce(dep.env, None, [tmp_path / "late.jsonl"])
        code = pool.wait_exit("a", timeout_s=120)
        assert code == 137, f"the crash hook did not fire (exit {code})"
        pool.start("a")
        pool.wait_ready("a")
        quiesce(dep.settings, pool, timeout_s=180)
        pool.stop_all()
        seen = observe(dep.settings)
    finally:
        dep.close()
    info = {"late_event": late_id, "alert_id": alert_id, "alert_trigger": other_trigger,
            "alert_on_feed": alert_id in seen.feed_ids, "alert_in_final_state": alert_id in seen.state_alert_ids,
            "oracle_alerts_missing_from_feed": len(expected.alert_ids - seen.feed_ids), **worker_health(dep)}
    record("R2b_crash_after_late_event_ci", info)
    assert exactly_once(seen, expected)["lost"] == 0
    assert info["alert_in_final_state"], info
    assert info["alert_on_feed"], f"alert {alert_id} (trigger {other_trigger}) is in the state but never sent: {info}"


# ================================================================================================ R4

OUTAGE_S = 70.0


def split_events(events: list[Path], out: Path) -> tuple[Path, Path]:
    lines = [line for path in events for line in path.read_bytes().splitlines() if line.strip()]
    half = len(lines) // 2
    first, second = out / "events-before.jsonl", out / "events-after.jsonl"
    first.write_bytes(b"\n".join(lines[:half]) + b"\n")
    second.write_bytes(b"\n".join(lines[half:]) + b"\n")
    return first, second


def broker_outage(dep: Deployment, broker: PrivateBroker, data: tuple[Path, list[Path]], expected: Oracle,
                  outage_s: float = OUTAGE_S) -> dict[str, Any]:
    """Worker up; first half produced (acked); broker SIGTERM mid-processing for `outage_s`; broker back with its
    data; second half produced; the worker's uptime sampled every 0.5 s throughout."""
    households, events = data
    before, after = split_events(events, dep.tmp)
    pool, settings = dep.pool, dep.settings
    pool.start("a")
    pool.wait_ready("a")
    produce(dep.env, households, [before])
    total = expected_writes(expected)
    wait_writes(settings, len(expected.applied) + (total - len(expected.applied)) // 6, pool)
    writes_at_stop = changelog_writes(settings)
    samples = alive = 0

    def sample() -> None:
        nonlocal samples, alive
        samples += 1
        alive += pool.workers["a"].proc.poll() is None

    down_at = time.monotonic()
    stop_s = broker.stop(signal.SIGTERM)
    while time.monotonic() - down_at < outage_s:
        sample()
        time.sleep(0.5)
    restart_s = broker.restart()
    back_at = time.monotonic()
    sample()
    produce(dep.env, None, [after])  # after the return: only acknowledged sends count (exit 0)
    resumed_s = None
    while time.monotonic() - back_at < 300:
        sample()
        if resumed_s is None and changelog_writes(settings) > writes_at_stop:
            resumed_s = time.monotonic() - back_at
            break
        time.sleep(0.5)
    quiet_started = time.monotonic()
    while True:
        sample()
        total_lag, _ = lag(settings)
        if total_lag == 0:
            break
        assert time.monotonic() - quiet_started < 300, "lag never drained after the outage"
        time.sleep(1.0)
    quiesce(settings, pool, timeout_s=120)
    sample()
    info = {"outage_s": round(outage_s, 1), "broker_stop_s": round(stop_s, 1),
            "broker_restart_ready_s": round(restart_s, 1), "changelog_at_stop": writes_at_stop,
            "resumed_after_return_s": None if resumed_s is None else round(resumed_s, 1),
            "lag_zero_after_return_s": round(time.monotonic() - back_at, 1),
            "uptime_pct": round(100.0 * alive / max(1, samples), 2), "uptime_samples": samples,
            "worker_generations": pool.generations["a"], "worker_exit": pool.workers["a"].proc.poll()}
    pool.stop_all()
    return info


def test_r4_broker_down_70s_the_worker_survives_resumes_and_loses_nothing(
        tmp_path: Path, data_300: tuple[Path, list[Path]], oracle_300: Oracle) -> None:
    broker = PrivateBroker(tmp_path / "broker")
    broker.start()
    dep = Deployment.new(broker.url, tmp_path / "deploy", "r4-broker-down")
    started = time.monotonic()
    try:
        info = broker_outage(dep, broker, data_300, oracle_300)
        seen = observe(dep.settings)
        info.update(run_s=round(time.monotonic() - started, 1), **exactly_once(seen, oracle_300),
                    **alert_check(dep.settings, seen, oracle_300))
    finally:
        dep.pool.stop_all()
        broker.close()
    disconnects = sum(log.read_text(errors="replace").count("Connection") for log in dep.worker_logs())
    info["worker_log_connection_lines"] = disconnects
    info.update(worker_health(dep), **dep.info)
    record("R4_broker_down_ci", info)
    assert info["processing_error_log_lines"] == 0, info
    assert info["worker_generations"] == 1 and info["worker_exit"] is None, info
    assert info["uptime_pct"] == 100.0, info
    assert info["resumed_after_return_s"] is not None and info["resumed_after_return_s"] <= 120, info
    assert_invariants(info, exact_feed=True)


# ================================================================================================ R7

POISON_LINES = 10_000


def poison_template(households: Path) -> dict[str, Any]:
    first = json.loads(households.read_text().splitlines()[0])
    member = first["members"][0]
    return {"event_id": "x", "category": "hr_pension_payment", "person_id": member["person_id"],
            "household_id": first["household_id"], "occurred_at": "2024-03-05T09:00:00+08:00",
            "source_dept": "renshe", "payload": {"monthly_amount": 300.0}}


def with_canaries(events: list[Path], out: Path, every: int = 10) -> tuple[Path, set[str]]:
    """The valid events, every `every`-th with a mobile number and a name as fields the schema does not name
    (the decoder drops them; S1 checks they never come out anywhere)."""
    lines, canaries = [], {CANARY_NAME}
    n = 0
    for path in events:
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                lines.append(line)
                continue
            if isinstance(event, dict) and isinstance(event.get("payload"), dict) and n % every == 0:
                mobile = canary_mobile(n)
                event["payload"]["contact_mobile"] = mobile
                event["contact_name"] = CANARY_NAME
                canaries.add(mobile)
                line = json.dumps(event, ensure_ascii=False).encode()
            n += 1
            lines.append(line)
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out, canaries


@dataclass
class PoisonRun:
    dep: Deployment
    valid: Path
    canaries: set[str]
    expected_bad: Counter[tuple[str, str]]  # (sha256 of the raw line, reason)
    expected: Oracle


@pytest.fixture(scope="module")
def r7_run(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory,
           oracle_settings: Settings) -> Iterator[PoisonRun]:
    tmp = tmp_path_factory.mktemp("r7")
    households, events = fixture_set(tmp / "data", 1000, seed=21, bad_lines=0)
    valid, canaries = with_canaries(events, tmp / "valid.jsonl")
    expected = oracle(oracle_settings, households, [valid])
    bad = list(poison(poison_template(households), POISON_LINES))
    rng = random.Random(7)
    mixed = [line for line in valid.read_bytes().splitlines() if line.strip()] + [raw for raw, _k, _r in bad]
    rng.shuffle(mixed)
    assert not any(b"\n" in raw or not raw.strip() for raw, _k, _r in bad), "a poison line monitor produce would split"
    (tmp / "mixed.jsonl").write_bytes(b"\n".join(mixed) + b"\n")
    expected_bad = Counter((hashlib.sha256(raw).hexdigest(), reason) for raw, _k, reason in bad)
    dep = Deployment.new(kafka_broker, tmp / "deploy", "r7-poison")
    started = time.monotonic()
    try:
        dep.pool.start("a")
        dep.pool.wait_ready("a")
        dep.info["produce_s"] = round(produce(dep.env, households, [tmp / "mixed.jsonl"]), 1)
        quiesce(dep.settings, dep.pool, timeout_s=400)
        dep.info["run_s"] = round(time.monotonic() - started, 1)
        dep.info["worker_generations"] = dep.pool.generations["a"]
        dep.info["worker_alive_at_end"] = dep.pool.workers["a"].proc.poll() is None
        dep.pool.stop_all()
        dep.seen = observe(dep.settings)
        yield PoisonRun(dep, valid, canaries, expected_bad, expected)
    finally:
        dep.close()


def test_r7_poison_corpus_through_kafka_every_bad_line_dead_lettered_once_with_its_source(r7_run: PoisonRun) -> None:
    dep, seen = r7_run.dep, r7_run.dep.seen
    assert seen is not None
    inputs: dict[tuple[str, int, int], bytes] = {}
    topics = topics_for(dep.settings)
    servers = bootstrap_servers(dep.settings)
    for topic in [*topics.inputs, topics.households]:
        for r in read_records(servers, topic):
            inputs[(r.topic, r.partition, r.offset)] = r.value or b""
    by_source: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    malformed_source = 0
    for d in seen.dead_letters:
        s = d.get("source") or {}
        if set(s) != {"topic", "partition", "offset"}:
            malformed_source += 1
            continue
        by_source.setdefault((s["topic"], s["partition"], s["offset"]), []).append(d)
    sha_mismatch = sum(1 for src, ds in by_source.items()
                       if src not in inputs or hashlib.sha256(inputs[src]).hexdigest() != ds[0]["raw_sha256"])
    got = Counter((ds[0]["raw_sha256"], ds[0]["reason"]) for ds in by_source.values())
    missing = r7_run.expected_bad - got
    extra = got - r7_run.expected_bad
    without_reason = sum(1 for d in seen.dead_letters if not d.get("reason") or not d.get("detail"))
    reasons = Counter(reason for (_sha, reason) in got.elements())
    dl_text = "\n".join(json.dumps(d, ensure_ascii=False) for d in seen.dead_letters)
    pii = pii_scan(dl_text, set(), r7_run.canaries)
    valid = exactly_once(seen, r7_run.expected)
    info = {"poison_lines": POISON_LINES, "kinds": len(KINDS), "valid_events": valid["events_expected"],
            "dead_letters_raw": len(seen.dead_letters), "dead_letters_distinct_sources": len(by_source),
            "dead_lettered_with_expected_reason": sum((r7_run.expected_bad & got).values()),
            "missing": sum(missing.values()), "unexpected": sum(extra.values()),
            "sample_missing_reasons": sorted({r for (_s, r) in missing})[:10],
            "sample_unexpected_reasons": sorted({r for (_s, r) in extra})[:10],
            "source_not_the_input_record": sha_mismatch, "malformed_source": malformed_source,
            "without_reason": without_reason, "reasons": dict(sorted(reasons.items())),
            "valid_applied": valid["events_applied"], "valid_lost": valid["lost"],
            "valid_double": valid["double_applied"], "dead_letter_pii": pii, **dep.info, **worker_health(dep)}
    record("R7_poison_kafka_ci", info)
    assert info["missing"] == 0 and info["unexpected"] == 0, info
    assert sha_mismatch == 0 and malformed_source == 0 and without_reason == 0, info
    assert info["dead_letters_raw"] == POISON_LINES, "a bad line was dead-lettered twice (no restart happened)"
    assert dep.info["worker_generations"] == 1 and dep.info["worker_alive_at_end"], "the worker restarted"
    assert valid["lost"] == valid["double_applied"] == valid["unexpected"] == 0, valid
    assert pii == {"valid_ids": 0, "mobiles": 0, "registry_ids": 0, "canaries": 0}, pii


# ================================================================================================ S1


def scan_deployment(dep: Deployment, households: Path, canaries: set[str], label: str) -> dict[str, Any]:
    """S1 over one deployment: the alerts, anomalies and dead-letter topics (values and headers), the worker logs
    and a `monitor snapshot` DuckDB file."""
    ids = registry_ids(households)
    topics = topics_for(dep.settings)
    servers = bootstrap_servers(dep.settings)
    out: dict[str, Any] = {}
    alerts = read_records(servers, topics.alerts)
    alert_text = "\n".join((r.value or b"").decode("utf-8", "replace") for r in alerts)
    masked_bad = 0
    for r in alerts:
        masked = json.loads(r.value).get("subject_masked")
        if masked is not None and not MASKED_ID.match(masked):
            masked_bad += 1
    out["alerts"] = {"records": len(alerts), "badly_masked": masked_bad, **pii_scan(alert_text, ids, canaries)}
    anomalies = read_records(servers, topics.anomalies) if hasattr(topics, "anomalies") else []
    anomaly_text = "\n".join((r.value or b"").decode("utf-8", "replace") for r in anomalies)
    out["anomalies"] = {"records": len(anomalies), **pii_scan(anomaly_text, ids, canaries)}
    dead = read_records(servers, topics.deadletter)
    dead_text = "\n".join((r.value or b"").decode("utf-8", "replace") + " " + repr(r.headers) for r in dead)
    out["deadletter"] = {"records": len(dead), **pii_scan(dead_text, ids, canaries)}
    logs = dep.worker_logs()
    log_text = "\n".join(p.read_text(errors="replace") for p in logs)
    out["worker_logs"] = {"files": len(logs), "bytes": len(log_text), **pii_scan(log_text, ids, canaries)}
    text, rows = snapshot_text(dep.env, dep.tmp / f"{label}-snapshot.duckdb")
    out["snapshot"] = {"rows": sum(rows.values()), **pii_scan(text, ids, canaries)}
    return out


def test_s1_no_raw_identifier_in_alerts_dead_letters_logs_or_the_snapshot(
        r1_run: Deployment, r7_run: PoisonRun, data_1k: tuple[Path, list[Path]]) -> None:
    r7_households = r7_run.valid.parent / "data" / "households.jsonl"
    results = {"R1": scan_deployment(r1_run, data_1k[0], set(), "r1"),
               "R7": scan_deployment(r7_run.dep, r7_households, r7_run.canaries, "r7")}
    # control: the same scan over the R7 input topics (raw events) must find the identifiers and canaries
    topics = topics_for(r7_run.dep.settings)
    raw = "\n".join((r.value or b"").decode("utf-8", "replace") for topic in topics.inputs
                     for r in read_records(bootstrap_servers(r7_run.dep.settings), topic))
    control = pii_scan(raw, registry_ids(r7_households), r7_run.canaries)
    record("S1_pii_scan_kafka_ci", {**results, "control_input_topics": control})
    assert control["valid_ids"] > 0 and control["registry_ids"] > 0 and control["mobiles"] > 0, control
    assert control["canaries"] > 0, control
    leaks = {f"{run}.{where}.{kind}": n for run, places in results.items() for where, found in places.items()
             for kind, n in found.items() if kind in ("valid_ids", "mobiles", "registry_ids", "canaries",
                                                      "badly_masked") and n}
    assert leaks == {}, leaks
    assert results["R1"]["alerts"]["records"] > 0 and results["R7"]["deadletter"]["records"] >= POISON_LINES

