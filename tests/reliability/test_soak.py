"""Reliability against the REAL broker, SOAK tier (reliability.md §5): long fault-injection runs.

Run them with ONE documented command:   make soak
(= `scripts/run-tests -m soak --run-soak`; add RELIABILITY_RESULTS=/path.json to keep the figures; with
KAFKA_PORT/KAFKA_CPORT/KAFKA_HOME_DIR set it uses that broker instead of the shared one on 9092).

- R1  100k events (10,000 households), 5 kill -9 of the worker at random 5-20 s intervals, restart each time.
      Besides the invariants of the CI tier: no household state ever goes back in the changelog (each
      record's applied set contains the previous one), and per (household, source partition) the routed
      log delivers events in their source order.
- R2  20 crashes between the table write and the alert send: 20/20 alerts on the feed.
- R3  two workers: A runs, B starts, A is killed -9 WHILE the group rebalances, A restarts, B stops;
      50k events (5,000 households): R1 invariants plus per-household sequence contiguity and order.
- R4b the broker is SIGKILLed, the worker is killed too and started again while the broker is down; the
      broker returns 70 s later with its data: the new worker must stay up and resume (worker started while
      the broker is down).
- R5  the workers talk to a second broker through a loopback TCP proxy (`advertised.listeners` points at the
      proxy): 200±100 ms per chunk for 2 minutes while events arrive, then a 30 s blackhole, then heal:
      0 lost / 0 double, lag back to 0 within 120 s of the heal, event→alert latency reported.
- R6  the worker's state directory is a real 64 MiB tmpfs that the test fills up (ENOSPC) mid-run: the
      failure is logged within 10 s, nothing is acked past a failed state write (0 lost after the
      restart with space again), 0 silently skipped events.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from monitor.pipeline.profile import decode_state
from monitor.runtime.messages import Carried
from monitor.runtime.produce import event_route
from monitor.runtime.stream_snapshot import read_topic
from monitor.runtime.topics import app_id, bootstrap_servers, topics_for
from tests.kafka.harness import (
    Oracle,
    case_env,
    changelog_writes,
    fixture_set,
    lag,
    observe,
    oracle,
    produce,
    settings_of,
)
from tests.reliability.conftest import record
from tests.reliability.test_kafka_faults import (
    Deployment,
    PrivateBroker,
    TcpProxy,
    alert_check,
    assert_invariants,
    crash_events,
    exactly_once,
    expected_writes,
    free_port,
    kill_and_restart,
    quiesce,
    read_records,
    run_crash_hook,
    split_events,
    wait_writes,
    worker_health,
)

pytestmark = [pytest.mark.soak, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# RELIABILITY_SOAK_SCALE < 1 shrinks every size and duration (for trying the tests out; the recorded soak
# run uses 1, the sizes of reliability.md §5).
SCALE = float(os.environ.get("RELIABILITY_SOAK_SCALE", "1"))


def scaled(n: float, minimum: int = 1) -> int:
    return max(minimum, int(n * SCALE))

_carried = msgspec.msgpack.Decoder(Carried)


# ================================================================================================ data


@pytest.fixture(scope="module")
def oracle_settings(kafka_broker: str) -> Any:
    return settings_of(case_env(kafka_broker, "oracle"))


@pytest.fixture(scope="module")
def data_10k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    return fixture_set(tmp_path_factory.mktemp("data10k"), scaled(10_000, 100), seed=101, bad_lines=0)


@pytest.fixture(scope="module")
def oracle_10k(data_10k: tuple[Path, list[Path]], oracle_settings: Any) -> Oracle:
    return oracle(oracle_settings, *data_10k)


@pytest.fixture(scope="module")
def data_5k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    return fixture_set(tmp_path_factory.mktemp("data5k"), scaled(5_000, 100), seed=55, bad_lines=0)


@pytest.fixture(scope="module")
def oracle_5k(data_5k: tuple[Path, list[Path]], oracle_settings: Any) -> Oracle:
    return oracle(oracle_settings, *data_5k)


@pytest.fixture(scope="module")
def data_1k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    return fixture_set(tmp_path_factory.mktemp("data1k"), scaled(1_000, 200), seed=17, bad_lines=0)


@pytest.fixture(scope="module")
def oracle_1k(data_1k: tuple[Path, list[Path]], oracle_settings: Any) -> Oracle:
    return oracle(oracle_settings, *data_1k)


# ================================================================================================ order checks


def changelog_regressions(settings: Any) -> dict[str, Any]:
    """Per household, every changelog record's applied-event set must contain the previous record's (a state
    never goes back, e.g. a stale local store written over a newer state after a rebalance)."""
    last: dict[bytes, frozenset[str]] = {}
    records = regressions = 0
    sample: list[str] = []
    for key, value, _p, _o in read_topic(settings, topics_for(settings).profiles_changelog, timeout_s=600):
        if key is None or value is None:
            continue
        records += 1
        ids = frozenset(e.event_id for e in decode_state(value).events)
        previous = last.get(key)
        if previous is not None and not previous <= ids:
            regressions += 1
            if len(sample) < 5:
                sample.append(key.decode())
        last[key] = ids
    return {"changelog_records": records, "state_regressions": regressions, "sample_regressed": sample}


def routed_order(settings: Any) -> dict[str, Any]:
    """First deliveries on the routed log, per (household, source topic-partition), in source-offset order.

    Only events the producer keyed by their household and that were never parked are counted: an event that
    names only a person takes the by-person hop, and a parked one is retried later, so both may pass later
    events of their source partition by design (the core is order-insensitive for them)."""
    topics = topics_for(settings)
    parked: set[str] = set()
    for _k, value, _p, _o in read_topic(settings, topics.retry, timeout_s=600):
        parked.add(_carried.decode(value).event.event_id)
    rows = sorted(read_topic(settings, topics.routed, timeout_s=600), key=lambda r: (r[2], r[3]))
    first: set[str] = set()
    last_offset: dict[tuple[str, str, int], int] = {}
    deliveries = repeats = inversions = checked = 0
    for _k, value, _p, _o in rows:
        carried = _carried.decode(value)
        event = carried.event
        deliveries += 1
        if event.event_id in first:
            repeats += 1
            continue
        first.add(event.event_id)
        if event.event_id in parked or b'"household_id"' not in carried.raw:
            continue
        checked += 1
        key = (event.household_id or "", carried.topic, carried.partition)
        if carried.offset < last_offset.get(key, -1):
            inversions += 1
        last_offset[key] = max(carried.offset, last_offset.get(key, -1))
    return {"routed_records": deliveries, "routed_repeats": repeats, "order_checked": checked,
            "order_inversions": inversions}


# ================================================================================================ R1 soak


def test_soak_r1_100k_events_5_kill9_at_random_5_to_20s(kafka_broker: str, tmp_path: Path,
                                                         data_10k: tuple[Path, list[Path]],
                                                         oracle_10k: Oracle) -> None:
    rng = random.Random(2024)
    dep = Deployment.new(kafka_broker, tmp_path, "soak-r1")
    started = time.monotonic()
    kills: list[dict[str, Any]] = []
    try:
        dep.pool.start("a")
        dep.pool.wait_ready("a")
        producer = threading.Thread(target=produce, args=(dep.env, *data_10k), daemon=True)
        producer.start()
        for _ in range(5):
            pause = rng.uniform(5, 20) * min(1.0, SCALE * 5)
            time.sleep(pause)
            kill = kill_and_restart(dep, "a")
            kill["after_s"] = round(pause, 1)
            kills.append(kill)
        producer.join(timeout=600)
        quiet = quiesce(dep.settings, dep.pool, timeout_s=2400)
        dep.pool.stop_all()
        run_s = time.monotonic() - started
        seen = observe(dep.settings)
        info = {"kills": kills, "run_s": round(run_s, 1), "quiescent_after_last_kill_s": round(quiet, 1),
                **exactly_once(seen, oracle_10k), **alert_check(dep.settings, seen, oracle_10k),
                **changelog_regressions(dep.settings), **routed_order(dep.settings), **worker_health(dep),
                **dep.info}
    finally:
        dep.close()
    record("R1_kill9_soak", info)
    assert len(kills) == 5
    assert_invariants(info)
    assert info["state_regressions"] == 0 and info["order_inversions"] == 0, info
    assert all(k["resumed_after_kill_s"] <= 60 for k in kills), kills


# ================================================================================================ R2 soak

CRASHES = scaled(20, 3)


def test_soak_r2_twenty_crashes_between_state_write_and_alert_send(kafka_broker: str, tmp_path: Path,
                                                                  data_1k: tuple[Path, list[Path]],
                                                                  oracle_1k: Oracle) -> None:
    dep = Deployment.new(kafka_broker, tmp_path, "soak-r2")
    chosen = crash_events(oracle_1k, CRASHES)
    started = time.monotonic()
    try:
        info = run_crash_hook(dep, data_1k, chosen, timeout_s=1200)
        dep.pool.stop_all()
        seen = observe(dep.settings)
        present = sum(1 for a in chosen if a.alert_id in seen.feed_ids)
        info.update(run_s=round(time.monotonic() - started, 1), alerts_present=present,
                    **exactly_once(seen, oracle_1k), **alert_check(dep.settings, seen, oracle_1k),
                    **worker_health(dep), **dep.info)
    finally:
        dep.close()
    record("R2_crash_before_alert_soak", info)
    assert info["hook_exits"] == info["markers"] == CRASHES, info
    assert present == CRASHES, info
    assert_invariants(info)


# ================================================================================================ R3 soak

SIGTERM_WAIT_S = 60.0


def group_state(settings: Any) -> tuple[str, int]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings), request_timeout_ms=5000)
    try:
        group = admin.describe_groups([app_id(settings)])[app_id(settings)]
        return str(group["group_state"]), len(group["members"])
    finally:
        admin.close()


def test_soak_r3_kill9_during_a_two_worker_rebalance(kafka_broker: str, tmp_path: Path,
                                                     data_5k: tuple[Path, list[Path]], oracle_5k: Oracle) -> None:
    dep = Deployment.new(kafka_broker, tmp_path, "soak-r3")
    pool, settings = dep.pool, dep.settings
    started = time.monotonic()
    try:
        pool.start("a")
        pool.wait_ready("a")
        produce(dep.env, *data_5k)
        total = expected_writes(oracle_5k)
        wait_writes(settings, len(oracle_5k.applied) + (total - len(oracle_5k.applied)) // 5, pool, timeout_s=600)
        pool.start("b")
        b_started = time.monotonic()
        state, members = group_state(settings)
        while state == "Stable":
            assert time.monotonic() - b_started < 120, "B never made the group rebalance"
            time.sleep(0.05)
            state, members = group_state(settings)
        killed = {"group_state_at_kill": state, "members_at_kill": members,
                  "after_b_start_s": round(time.monotonic() - b_started, 1)}
        restart = kill_and_restart(dep, "a")
        pool.wait_ready("b", timeout_s=180)
        wait_writes(settings, restart["changelog_at_kill"] + (total - restart["changelog_at_kill"]) // 3, pool,
                    timeout_s=900)
        b_stop = time.monotonic()
        pool.workers["b"].proc.send_signal(signal.SIGTERM)
        try:
            b_exit: int | None = pool.wait_exit("b", timeout_s=SIGTERM_WAIT_S)
            b_hung = False
        except subprocess.TimeoutExpired:  # finding B4: a SIGTERM'd worker can wait forever in faust's wait_empty
            b_hung, b_exit = True, None
            pool.kill("b", signal.SIGKILL)
        del pool.workers["b"]  # stopped on purpose: no longer part of the liveness checks
        quiet = quiesce(settings, pool, timeout_s=1800)
        pool.stop_all()
        seen = observe(settings)
        info = {"kill": {**killed, **restart}, "b_stop_exit": b_exit, "b_sigterm_hung_killed": b_hung,
                "b_stop_s": round(time.monotonic() - b_stop, 1),
                "quiescent_s": round(quiet, 1), "run_s": round(time.monotonic() - started, 1),
                **exactly_once(seen, oracle_5k), **alert_check(settings, seen, oracle_5k),
                **changelog_regressions(settings), **routed_order(settings), **worker_health(dep), **dep.info}
    finally:
        dep.close()
    record("R3_rebalance_kill_soak", info)
    assert info["kill"]["group_state_at_kill"] in ("PreparingRebalance", "CompletingRebalance"), info["kill"]
    assert_invariants(info)
    assert info["households_with_seq_gaps"] == 0, info
    assert info["state_regressions"] == 0 and info["order_inversions"] == 0, info


# ================================================================================================ R4b soak

OUTAGE_S = 70.0 * min(1.0, SCALE * 2)


def test_soak_r4b_broker_sigkill_and_a_worker_started_while_the_broker_is_down(
        tmp_path: Path, data_1k: tuple[Path, list[Path]], oracle_1k: Oracle) -> None:
    broker = PrivateBroker(tmp_path / "broker")
    broker.start()
    dep = Deployment.new(broker.url, tmp_path / "deploy", "soak-r4b")
    pool, settings = dep.pool, dep.settings
    before, after = split_events(data_1k[1], dep.tmp)
    started = time.monotonic()
    try:
        pool.start("a")
        pool.wait_ready("a")
        produce(dep.env, data_1k[0], [before])
        total = expected_writes(oracle_1k)
        wait_writes(settings, len(oracle_1k.applied) + (total - len(oracle_1k.applied)) // 6, pool)
        writes_at_kill = changelog_writes(settings)
        down_at = time.monotonic()
        broker.stop(signal.SIGKILL)
        time.sleep(5)
        pool.kill("a", signal.SIGKILL)
        pool.start("a")  # started while the broker is down
        samples = alive = 0
        first_exit: int | None = None
        while time.monotonic() - down_at < OUTAGE_S:
            samples += 1
            code = pool.workers["a"].proc.poll()
            alive += code is None
            if code is not None and first_exit is None:
                first_exit = code
            time.sleep(0.5)
        restart_s = broker.restart()
        back_at = time.monotonic()
        restarted_after_outage = 0
        while True:  # a worker that died (during or just after the outage) is started again, so recovery is checked
            code = pool.workers["a"].proc.poll()
            if code is not None:
                first_exit = code if first_exit is None else first_exit
                assert restarted_after_outage < 3, pool.workers["a"].tail()
                pool.start("a")
                restarted_after_outage += 1
            try:
                pool.wait_ready("a", timeout_s=180)
                break
            except AssertionError:
                if pool.workers["a"].proc.poll() is None:
                    raise
        produce(dep.env, None, [after])
        wait_writes(settings, writes_at_kill + 1, pool, timeout_s=300)
        resumed = time.monotonic() - back_at
        quiet = quiesce(settings, pool, timeout_s=600)
        pool.stop_all()
        seen = observe(settings)
        info = {"outage_s": OUTAGE_S, "broker_restart_ready_s": round(restart_s, 1),
                "uptime_pct_of_worker_started_during_outage": round(100.0 * alive / max(1, samples), 2),
                "worker_started_while_down_exit": first_exit, "restarted_after_outage": restarted_after_outage,
                "resumed_after_return_s": round(resumed, 1), "quiescent_s": round(quiet, 1),
                "run_s": round(time.monotonic() - started, 1), **exactly_once(seen, oracle_1k),
                **alert_check(settings, seen, oracle_1k), **worker_health(dep), **dep.info}
        started_while_down = (dep.tmp / "a.2.log").read_text(errors="replace").splitlines()
        info["started_while_down_log_tail"] = [line[:200] for line in started_while_down[-3:]]
    finally:
        pool.stop_all()
        broker.close()
    record("R4b_broker_sigkill_worker_started_while_down_soak", info)
    assert_invariants(info)
    assert info["resumed_after_return_s"] <= 120, info
    assert info["worker_started_while_down_exit"] is None, info
    assert info["uptime_pct_of_worker_started_during_outage"] == 100.0, info


# ================================================================================================ R5 soak


class PacedProducer(threading.Thread):
    """Sends event lines at a fixed rate (kafka-python, acks=all, idempotent), routed like `monitor produce`."""

    def __init__(self, servers: list[str], settings: Any, lines: list[bytes], rate: float) -> None:
        super().__init__(daemon=True)
        self.servers, self.settings, self.lines, self.rate = servers, settings, lines, rate
        self.acked = self.failed = 0
        self.finished_at = 0.0

    def run(self) -> None:
        from kafka import KafkaProducer

        topics = topics_for(self.settings)
        producer = KafkaProducer(bootstrap_servers=self.servers, acks="all", enable_idempotence=True, linger_ms=5)
        started = time.monotonic()

        def ok(_m: Any) -> None:
            self.acked += 1

        def bad(_e: Any) -> None:
            self.failed += 1

        try:
            for n, raw in enumerate(self.lines):
                due = started + n / self.rate
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                stream, key = event_route(raw)
                future = producer.send(topics.stream(stream), key=key.encode() if key else None, value=raw)
                future.add_callback(ok)
                future.add_errback(bad)
            producer.flush()
        finally:
            producer.close(timeout=30)
            self.finished_at = time.monotonic()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def test_soak_r5_network_delay_and_a_30s_blackhole_through_a_proxy(
        tmp_path: Path, data_1k: tuple[Path, list[Path]], oracle_1k: Oracle) -> None:
    proxy_port = free_port()
    broker = PrivateBroker(tmp_path / "broker", advertise_port=proxy_port)
    broker.start()
    assert broker.external_port is not None
    proxy = TcpProxy(broker.external_port, proxy_port)
    proxy.start()
    dep = Deployment.new(broker.client_url, tmp_path / "deploy", "soak-r5", observer_url=broker.url)
    pool, settings = dep.pool, dep.settings
    direct_env = dict(dep.env, MONITOR_BROKER=broker.url)
    delay_s, blackhole_s = 120.0 * SCALE, 30.0 * SCALE
    lines = [line for path in data_1k[1] for line in path.read_bytes().splitlines() if line.strip()]
    started = time.monotonic()
    try:
        pool.start("a")
        pool.wait_ready("a")
        produce(direct_env, data_1k[0], [])  # the registry, directly
        quiesce(settings, pool, timeout_s=300)
        phases: dict[str, float] = {"delay_from": time.time()}
        proxy.set_delay(0.2, 0.1)
        paced = PacedProducer(bootstrap_servers(settings), settings, lines, rate=len(lines) / (delay_s + blackhole_s))
        paced.start()
        time.sleep(delay_s)
        phases["blackhole_from"] = time.time()
        proxy.blackhole(True)
        time.sleep(blackhole_s)
        proxy.set_delay(0.0, 0.0)
        proxy.blackhole(False)
        healed = time.monotonic()
        phases["healed_at"] = time.time()
        paced.join(timeout=300)
        lag_zero = None
        good = 0
        while time.monotonic() - healed < 600:
            pool.assert_alive()
            total, _ = lag(settings)
            good = good + 1 if total == 0 else 0
            if good >= 2:
                lag_zero = time.monotonic() - healed
                break
            time.sleep(1.0)
        quiet = quiesce(settings, pool, timeout_s=300)
        pool.stop_all()
        seen = observe(settings)
        latency = alert_latency(settings, phases)
        info = {"delay": "200±100 ms per chunk", "delay_s": delay_s, "blackhole_s": blackhole_s,
                "events_sent": len(lines), "events_acked": paced.acked, "events_failed": paced.failed,
                "producer_done_after_heal_s": round(paced.finished_at - healed, 1),
                "lag_zero_after_heal_s": None if lag_zero is None else round(lag_zero, 1),
                "quiescent_s": round(quiet, 1), "proxy_connections": proxy.connections,
                "worker_generations": pool.generations["a"], "latency": latency,
                "run_s": round(time.monotonic() - started, 1), **exactly_once(seen, oracle_1k),
                **alert_check(settings, seen, oracle_1k), **worker_health(dep), **dep.info}
    finally:
        pool.stop_all()
        proxy.stop()
        broker.close()
    record("R5_delay_blackhole_soak", info)
    assert info["events_failed"] == 0 and info["events_acked"] == len(lines), info
    assert_invariants(info, exact_feed=True)
    assert info["lag_zero_after_heal_s"] is not None and info["lag_zero_after_heal_s"] <= 120, info
    assert info["worker_generations"] == 1, info


def alert_latency(settings: Any, phases: dict[str, float]) -> dict[str, Any]:
    """Event→alert latency (alert record time minus the trigger event's record time, both broker CreateTime
    set by the sending clients) by the phase in which the event was sent."""
    topics = topics_for(settings)
    servers = bootstrap_servers(settings)
    sent: dict[str, float] = {}
    for topic in topics.inputs:
        for r in read_records(servers, topic):
            try:
                sent[json.loads(r.value)["event_id"]] = r.timestamp / 1000.0
            except (ValueError, KeyError, TypeError):
                continue
    first_alert: dict[str, tuple[float, str]] = {}
    for r in read_records(servers, topics.alerts):
        alert = json.loads(r.value)
        t = r.timestamp / 1000.0
        if alert["alert_id"] not in first_alert or t < first_alert[alert["alert_id"]][0]:
            first_alert[alert["alert_id"]] = (t, alert["trigger"]["event_id"])
    by_phase: dict[str, list[float]] = defaultdict(list)
    for t, trigger in first_alert.values():
        if trigger not in sent:
            continue
        s = sent[trigger]
        phase = ("delay" if s < phases["blackhole_from"] else "blackhole" if s < phases["healed_at"] else "after")
        by_phase[phase].append(t - s)
    return {phase: {"alerts": len(v), "p50_s": percentile(v, 0.5), "p99_s": percentile(v, 0.99),
                    "max_s": round(max(v), 3)} for phase, v in sorted(by_phase.items())}


# ================================================================================================ R6 soak

STATE_FS_MB = 64
FAILURE_MARKERS = re.compile(r"state write failed|No space left|IO error|ENOSPC|Errno 28", re.IGNORECASE)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs of STATE_FS_MB MiB at tmp_path/data-a (the worker's MONITOR_DATA_DIR)."""
    mount_point = tmp_path / "deploy" / "data-a"
    mount_point.mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={STATE_FS_MB}m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"blocked: cannot mount a tmpfs here (exit {proc.returncode}): {proc.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if subprocess.run(["mountpoint", "-q", str(mount_point)], check=False).returncode == 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill(directory: Path) -> int:
    """Write a ballast file until ENOSPC; returns the bytes written."""
    written = 0
    block = b"\0" * (1 << 20)
    with (directory / "ballast").open("wb", buffering=0) as out:
        try:
            while True:
                written += out.write(block)
        except OSError:
            pass
        try:
            while True:  # the last partial megabyte, 4 KiB at a time
                written += out.write(block[:4096])
        except OSError:
            pass
    return written


def test_soak_r6_state_directory_runs_out_of_space(kafka_broker: str, tmp_path: Path, small_tmpfs: Path,
                                                   data_1k: tuple[Path, list[Path]], oracle_1k: Oracle) -> None:
    dep = Deployment.new(kafka_broker, tmp_path / "deploy", "soak-r6")
    pool, settings = dep.pool, dep.settings
    started = time.monotonic()
    try:
        pool.start("a")
        pool.wait_ready("a")
        produce(dep.env, *data_1k)
        total = expected_writes(oracle_1k)
        wait_writes(settings, len(oracle_1k.applied) + (total - len(oracle_1k.applied)) // 3, pool)
        log = pool.workers["a"].log
        log_offset = log.stat().st_size
        ballast = fill(small_tmpfs)
        full_at = time.monotonic()
        full_wall = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        logged_after = exit_code = None
        first_line = ""
        while time.monotonic() - full_at < 120:
            with log.open("rb") as handle:
                handle.seek(log_offset)
                new = handle.read().decode(errors="replace")
            match = FAILURE_MARKERS.search(new)
            if match and logged_after is None:
                logged_after = time.monotonic() - full_at
                line_start = new.rfind("\n", 0, match.start()) + 1
                first_line = new[line_start:new.find("\n", match.end())][:300]
            exit_code = pool.workers["a"].proc.poll()
            if exit_code is not None and logged_after is not None:
                break
            time.sleep(0.1)
        hung = pool.workers["a"].proc.poll() is None
        if hung:
            pool.kill("a", signal.SIGKILL)
        writes_at_failure = changelog_writes(settings)
        (small_tmpfs / "ballast").unlink()
        pool.start("a")
        ready = pool.wait_ready("a", timeout_s=180)
        quiet = quiesce(settings, pool, timeout_s=600)
        pool.stop_all()
        seen = observe(settings)
        info = {"tmpfs_mb": STATE_FS_MB, "ballast_bytes": ballast, "filled_at": full_wall,
                "error_logged_after_s": None if logged_after is None else round(logged_after, 1),
                "first_error_line": first_line, "exit_code": exit_code, "hung_and_killed": hung,
                "changelog_at_failure": writes_at_failure, "restart_ready_s": round(ready, 1),
                "quiescent_after_restart_s": round(quiet, 1), "run_s": round(time.monotonic() - started, 1),
                **exactly_once(seen, oracle_1k), **alert_check(settings, seen, oracle_1k), **worker_health(dep),
                **dep.info}
    finally:
        dep.close()
    record("R6_disk_full_soak", info)
    assert info["error_logged_after_s"] is not None and info["error_logged_after_s"] <= 10, info
    assert_invariants(info)  # 0 lost, 0 double, 0 silently skipped (every oracle event applied)
