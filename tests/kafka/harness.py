"""Helpers of the Kafka tests: worker subprocesses, quiescence, read-back and the two oracles.

Oracles:
- `run_embedded` on the same files: the final household states (events applied, scores, the alerts
  each state holds) must be equal, and so must the dead-letter reasons.
- `replay_routed`: the core's `apply_event` replayed over the `{app}-routed` log in its partition
  order, i.e. in the order the household agent really saw the events.  Its alerts are exactly what the
  feed must hold.  Kafka does not order messages across topics, so a household's events can reach it
  out of event-time order; the core then replays the household and its final state is the embedded
  one, but an alert already sent from the earlier, partial view stays on the feed ("provisional").
  The feed is therefore `embedded alerts ∪ provisional alerts`, and equal to this replay's alerts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import msgspec

from monitor.config import Settings
from monitor.errors import InvalidEventError
from monitor.payloads import HouseholdRecord
from monitor.pipeline.portrait import portrait
from monitor.pipeline.profile import HouseholdState, Status, apply_event, decode_state, new_state
from monitor.pipeline.rules import RuleSet, load_rules
from monitor.pipeline.validate import decode_household
from monitor.runtime.embedded import RunResult, run_embedded
from monitor.runtime.messages import Carried
from monitor.runtime.stream_snapshot import read_alerts_topic, read_dead_letters, read_states, read_topic
from monitor.runtime.topics import app_id, bootstrap_servers, topics_for

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
KAFKA_SCRIPT = ROOT / "scripts" / "kafka"
_carried = msgspec.msgpack.Decoder(Carried)


def broker_port() -> int:
    """The broker port: from MONITOR_TEST_BROKER (host:port, set by scripts/run-tests), else KAFKA_PORT."""
    address = os.environ.get("MONITOR_TEST_BROKER", "")
    if address.rsplit(":", 1)[-1].isdigit():
        return int(address.rsplit(":", 1)[-1])
    return int(os.environ.get("KAFKA_PORT", "9092"))


def broker_answers(port: int, timeout_s: float = 1.0) -> bool:
    """TCP connect and a metadata round trip."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            pass
    except OSError:
        return False
    try:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=[f"127.0.0.1:{port}"], request_timeout_ms=5000,
                                 client_id="monitor-test-probe")
        try:
            admin.list_topics()
        finally:
            admin.close()
    except Exception:  # noqa: BLE001
        return False
    return True


def case_env(broker: str, name: str) -> dict[str, str]:
    """A unique prefix (topics, app id, consumer group) per test, a test key, fast retries."""
    prefix = f"t{uuid.uuid4().hex[:10]}-{name}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update({"MONITOR_BROKER": broker, "MONITOR_TOPIC_PREFIX": prefix, "MONITOR_PARTITIONS": "8",
                "MONITOR_PSEUDONYM_KEY": "kafka-test-key", "MONITOR_RETRY_DELAYS": "0.5,1,2",
                "PYTHONUNBUFFERED": "1"})
    return env


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    ready_after: float | None = None

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@dataclass
class WorkerPool:
    """`python -m monitor worker` subprocesses with their own data dirs and no web server."""

    env: dict[str, str]
    tmp: Path
    workers: dict[str, Worker] = field(default_factory=dict)
    generations: Counter[str] = field(default_factory=Counter)

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> Worker:
        self.generations[name] += 1
        log = self.tmp / f"{name}.{self.generations[name]}.log"
        env = dict(self.env, MONITOR_DATA_DIR=str(self.tmp / f"data-{name}"), **(extra_env or {}))
        with log.open("wb") as out:
            proc = subprocess.Popen([PYTHON, "-m", "monitor", "worker", "--loglevel", "info"], cwd=ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(name, proc, log, time.monotonic())
        self.workers[name] = worker
        return worker

    @overload
    def wait_ready(self, name: str, timeout_s: float = ..., *, exit_ok: Literal[False] = ...) -> float: ...

    @overload
    def wait_ready(self, name: str, timeout_s: float = ..., *, exit_ok: bool) -> float | None: ...

    def wait_ready(self, name: str, timeout_s: float = 90.0, *, exit_ok: bool = False) -> float | None:
        """Seconds from spawn until faust says the worker is ready (recovery done, consuming).

        With `exit_ok`, a worker that exits first (a test hook) gives None instead of a failure.
        """
        worker = self.workers[name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                if exit_ok:
                    return None
                raise AssertionError(f"worker {name} exited with {worker.proc.returncode}:\n{worker.tail()}")
            if "Worker]: Ready" in worker.log.read_text(errors="replace"):
                worker.ready_after = time.monotonic() - worker.started
                return worker.ready_after
            time.sleep(0.2)
        raise AssertionError(f"worker {name} not ready after {timeout_s}s:\n{worker.tail()}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        worker = self.workers[name]
        if worker.proc.poll() is None:
            os.kill(worker.proc.pid, sig)
        worker.proc.wait(timeout=30)

    def pause(self, name: str, seconds: float) -> None:
        """Stop the worker's process (SIGSTOP) for `seconds`, then let it go on (SIGCONT): a machine's hiccup."""
        pid = self.workers[name].proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    def wait_exit(self, name: str, timeout_s: float) -> int:
        return self.workers[name].proc.wait(timeout=timeout_s)

    def assert_alive(self) -> None:
        for worker in self.workers.values():
            assert worker.proc.poll() is None, f"worker {worker.name} died:\n{worker.tail()}"

    def stop_all(self) -> None:
        """SIGTERM, then SIGKILL what is still running after 15 s (only our own processes, by pid)."""
        alive = [w for w in self.workers.values() if w.proc.poll() is None]
        for worker in alive:
            os.kill(worker.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for worker in alive:
            try:
                worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(worker.proc.pid, signal.SIGKILL)
                worker.proc.wait(timeout=10)


def delete_case_topics(settings: Settings) -> None:
    """Delete the topics of one test deployment (its prefix and its app id), so a broker that lives
    across sessions does not collect them (keep them with MONITOR_TEST_KEEP_TOPICS=1, to look into a
    failure).  Best effort: a failure here never fails a test."""
    from kafka.admin import KafkaAdminClient

    prefix, app = settings.topic_prefix, app_id(settings)
    if not prefix or os.environ.get("MONITOR_TEST_KEEP_TOPICS"):
        return
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings), request_timeout_ms=30000)
        try:
            mine = [t for t in admin.list_topics() if t.startswith(prefix) or t.startswith(app + "-")]
            if mine:
                admin.delete_topics(mine, timeout_ms=30000)
        finally:
            admin.close()
    except Exception:  # noqa: BLE001
        pass


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def partition_lag(settings: Settings) -> tuple[dict[Any, int], dict[Any, int]]:
    """(lag of the worker group per partition of every topic it reads, end offsets)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient

    servers = bootstrap_servers(settings)
    tps = [TopicPartition(t, p) for t in topics_for(settings).consumed for p in range(settings.partitions)]
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=10000)
    try:
        ends = consumer.end_offsets(tps)
        group = app_id(settings)
        committed = admin.list_group_offsets({group: tps}).get(group, {})
    finally:
        consumer.close()
        admin.close()
    lags = {}
    for tp in tps:
        meta = committed.get(tp)
        done = meta.offset if meta is not None and meta.offset is not None and meta.offset >= 0 else 0
        lags[tp] = max(0, ends[tp] - done)
    return lags, ends


def lag(settings: Settings) -> tuple[int, dict[Any, int]]:
    """(total lag of the worker group over every topic it reads, end offsets)."""
    lags, ends = partition_lag(settings)
    return sum(lags.values()), ends


def wait_quiescent(settings: Settings, pool: WorkerPool | None = None, *, timeout_s: float = 120.0,
                   stable: int = 2, interval_s: float = 1.0) -> float:
    """Wait until the group's committed offsets reach the end of every topic it reads, twice in a row
    with no end offset moving in between.  Returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout_s
    good, last_ends, total = 0, None, -1
    while time.monotonic() < deadline:
        if pool is not None:
            pool.assert_alive()
        total, ends = lag(settings)
        if total == 0 and ends == last_ends:
            good += 1
            if good >= stable:
                return time.monotonic() - started
        else:
            good = 0
        last_ends = ends
        time.sleep(interval_s)
    tails = "" if pool is None else "\n".join(f"--- {w.name}\n{w.tail(30)}" for w in pool.workers.values())
    raise AssertionError(f"not quiescent after {timeout_s}s (lag {total})\n{tails}")


def changelog_writes(settings: Settings) -> int:
    """Records in the profiles changelog so far (a progress measure while the worker runs)."""
    return records_in(settings, topics_for(settings).profiles_changelog)


def records_in(settings: Settings, topic: str) -> int:
    """Records written to `topic` so far (its partitions' end offsets; 0 if it does not exist yet)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(settings), group_id=None, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            return 0
        return sum(consumer.end_offsets([TopicPartition(topic, p) for p in parts]).values())
    finally:
        consumer.close()


@dataclass
class Oracle:
    result: RunResult
    rules: RuleSet

    @property
    def alert_ids(self) -> set[str]:
        return {a.alert_id for a in self.result.alerts}

    @property
    def applied(self) -> dict[str, int]:
        return {hid: len(state.events) for hid, state in self.result.states.items()}

    @property
    def scores(self) -> dict[str, tuple[float, ...]]:
        return {p.household_id: _rounded(p) for p in self.result.portraits}

    @property
    def dead_reasons(self) -> Counter[str]:
        return self.result.dead_by_reason


def oracle(settings: Settings, households: Path, events: Iterable[Path]) -> Oracle:
    rules = load_rules(settings.rules_path)
    return Oracle(run_embedded(households, list(events), rules, settings.pseudonymiser(), keep_states=True), rules)


def _rounded(p: Any) -> tuple[float, ...]:
    dims = sorted(p.scores.dimensions.items())
    return (round(p.scores.score, 4), *(round(v, 4) for _k, v in dims), float(p.events_applied))


@dataclass
class Observed:
    """What the Kafka side holds after quiescence."""

    states: dict[str, HouseholdState]
    feed: list[dict[str, Any]]
    raw_alert_records: int
    dead_letters: list[dict[str, Any]]
    as_of: int

    @property
    def feed_ids(self) -> set[str]:
        return {a["alert_id"] for a in self.feed}

    @property
    def state_alert_ids(self) -> set[str]:
        return {a.alert_id for s in self.states.values() for a in s.alerts}

    @property
    def applied(self) -> dict[str, int]:
        return {hid: len(s.events) for hid, s in self.states.items()}

    def scores(self, rules: RuleSet, as_of: int) -> dict[str, tuple[float, ...]]:
        return {hid: _rounded(portrait(s, as_of, rules)) for hid, s in self.states.items()}

    @property
    def dead_reasons(self) -> Counter[str]:
        """Reasons, one per (source, reason): a replay after a crash may dead-letter a message again."""
        unique = {(d["source"]["topic"], d["source"]["partition"], d["source"]["offset"], d["reason"])
                  for d in self.dead_letters}
        return Counter(reason for *_source, reason in unique)


def observe(settings: Settings) -> Observed:
    states = read_states(settings)
    feed, raw = read_alerts_topic(settings)
    as_of = max((s.events[-1].t for s in states.values() if s.events), default=0)
    return Observed(states, feed, raw, read_dead_letters(settings), as_of)


def replay_routed(settings: Settings, rules: RuleSet) -> tuple[set[str], dict[str, int]]:
    """The alert ids the core emits when fed the routed log in its real order; and events applied."""
    pseudonymiser = settings.pseudonymiser()
    topics = topics_for(settings)
    states: dict[str, HouseholdState] = {}
    for _key, value, _p, _o in read_topic(settings, topics.households):
        try:
            record = decode_household(value or b"")
        except InvalidEventError:
            continue
        states.setdefault(record.household_id, new_state(record))
    parked: set[tuple[str, int]] = set()
    for _key, value, _p, _o in read_topic(settings, topics.retry):
        carried = _carried.decode(value)
        if carried.target == "routed":
            parked.add((carried.event.event_id, carried.attempt - 1))
    routed = sorted(read_topic(settings, topics.routed), key=lambda r: (r[2], r[3]))
    alert_ids: set[str] = set()
    stored_bytes: dict[str, bytes] = {}
    for _key, value, _p, _o in routed:
        carried = _carried.decode(value)
        event = carried.event
        if (event.event_id, carried.attempt) in parked:
            continue
        state = states.get(event.household_id)
        if state is None:
            if not isinstance(event.payload, HouseholdRecord):
                continue
            state = new_state(event.payload)
        applied = apply_event(state, event, rules, pseudonymiser)
        if applied.status is Status.CONFLICT:
            continue
        if applied.status is Status.TOO_LARGE:  # refused, as the worker does: back to the stored state
            stored = stored_bytes.get(event.household_id)
            states[event.household_id] = decode_state(stored) if stored else new_state(state.record)
            continue
        if applied.status is Status.APPLIED:
            stored_bytes[event.household_id] = applied.encoded
        states[event.household_id] = applied.state
        alerts = applied.new_alerts if applied.status is Status.APPLIED else applied.resend_alerts
        alert_ids.update(a.alert_id for a in alerts)
    return alert_ids, {hid: len(s.events) for hid, s in states.items()}


def fixture_set(out: Path, households: int, seed: int = 7, bad_lines: int = 12) -> tuple[Path, list[Path]]:
    """`monitor fixtures` output if the generator exists, else the hand-made set of minidata.py."""
    proc = subprocess.run([PYTHON, "-m", "monitor", "fixtures", "--households", str(households), "--seed",
                           str(seed), "--bad-lines", str(bad_lines), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if proc.returncode == 0 and (out / "households.jsonl").is_file():
        return out / "households.jsonl", sorted(out.glob("events*.jsonl"))
    from tests.kafka.minidata import write

    households_path, events_path = write(out, households, seed)
    return households_path, [events_path]


def produce(env: dict[str, str], households: Path | None, events: list[Path]) -> float:
    """`monitor produce` (in a subprocess, like a user would); returns its wall time."""
    started = time.monotonic()
    args = [PYTHON, "-m", "monitor", "produce", "--quiet"]
    if households is not None:
        args += ["--households", str(households)]
    if events:
        args += ["--events", *map(str, events)]
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return time.monotonic() - started
