"""The distributed runtime against a real Kafka broker, checked against the embedded runtime.

1. differential: generated fixtures (with bad lines) through Kafka give the embedded runtime's final
   household states (events applied, scores, alert ids), dead-letter reasons, and a feed equal to the
   core's replay of the routed log (a superset of the embedded alerts; see harness.py);
2. two workers sharing the partitions give the same;
3. a worker that dies between a state write and the alert send (test hook), then one SIGKILLed while
   it catches up: nothing lost, nothing counted twice, the crash event's alert still sent;
4. bad messages on every input topic become dead letters with their topic, partition and offset, and
   valid events behind them on the same partition are still applied.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from monitor import idnumber
from monitor.categories import Stream
from monitor.runtime.stream_snapshot import read_dead_letters
from monitor.runtime.topics import app_id, bootstrap_servers, topics_for
from tests.kafka.harness import (
    Oracle,
    changelog_writes,
    delete_case_topics,
    fixture_set,
    observe,
    oracle,
    produce,
    replay_routed,
    settings_of,
    wait_quiescent,
)
from tests.kafka.minidata import write as write_minidata

pytestmark = [pytest.mark.kafka, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

HOUSEHOLDS = 150
MEASURE: dict[str, Any] = {}


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    return fixture_set(tmp_path_factory.mktemp("fixtures"), HOUSEHOLDS, seed=7, bad_lines=12)


@pytest.fixture(scope="module")
def expected(fixture_files: tuple[Path, list[Path]], kafka_broker: str) -> Oracle:
    from tests.kafka.harness import case_env

    return oracle(settings_of(case_env(kafka_broker, "oracle")), *fixture_files)


def check_against_oracle(case: Any, expected: Oracle, label: str, *, a_worker_died: bool = False) -> dict[str, Any]:
    """The invariants every run must meet; returns what was observed, for the report.

    The feed equals the core's replay of the routed log only where no worker died: a killed worker loses the
    alerts still in its producer buffer, and a provisional alert that a later event superseded is not sent
    again (RELIABILITY.md, H1).  Every embedded alert must be on the feed in any case.
    """
    settings = case.settings
    seen = observe(settings)
    assert seen.as_of == expected.result.as_of
    assert seen.applied == expected.applied, "events applied per household differ from the embedded run"
    assert seen.scores(expected.rules, expected.result.as_of) == expected.scores, "scores differ"
    assert seen.state_alert_ids == expected.alert_ids, "alerts held by the final states differ"
    replayed, replay_applied = replay_routed(settings, expected.rules)
    assert replay_applied == expected.applied
    if not a_worker_died:
        assert seen.feed_ids == replayed, "the feed is not what the core emits for the routed order"
    assert expected.alert_ids <= seen.feed_ids, "an embedded alert is missing from the feed"
    assert seen.dead_reasons == expected.dead_reasons
    for record in seen.dead_letters:
        assert set(record["source"]) == {"topic", "partition", "offset"}, record
    info = {"events": sum(seen.applied.values()), "alerts": len(expected.alert_ids),
            "provisional_alerts": len(seen.feed_ids - expected.alert_ids),
            "duplicate_alert_records": seen.raw_alert_records - len(seen.feed_ids),
            "dead_letters": len(seen.dead_letters),
            "duplicate_dead_letters": len(seen.dead_letters) - sum(seen.dead_reasons.values())}
    MEASURE[label] = info
    return info


# -- 1. differential ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def single_run(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory,
               fixture_files: tuple[Path, list[Path]]) -> Any:
    """One worker, the fixture set produced while it runs, waited until quiescent."""
    from tests.kafka.conftest import KafkaCase
    from tests.kafka.harness import WorkerPool, case_env

    tmp = tmp_path_factory.mktemp("single")
    env = case_env(kafka_broker, "single")
    case = KafkaCase(env, settings_of(env), tmp, WorkerPool(env, tmp))
    try:
        case.pool.start("a")
        MEASURE["worker_ready_s"] = round(case.pool.wait_ready("a"), 2)
        started = time.monotonic()
        produce(env, *fixture_files)
        waited = wait_quiescent(case.settings, case.pool)
        MEASURE["single_run_s"] = round(time.monotonic() - started, 1)
        MEASURE["quiescence_detection_s"] = round(waited, 1)
        yield case
    finally:
        case.pool.stop_all()
        delete_case_topics(case.settings)


def test_differential_against_the_embedded_runtime(single_run: Any, expected: Oracle) -> None:
    info = check_against_oracle(single_run, expected, "one_worker")
    assert expected.dead_reasons, "the fixture set should contain bad lines"
    assert info["events"] > 0 and info["alerts"] > 0


def test_the_worker_sets_its_consumer_fetch_wait(single_run: Any) -> None:
    # faust has no setting for it: the worker reaches into aiokafka (monitor/runtime/fetch_wait.py), and an
    # aiokafka that renamed the attributes would leave faust's 1,500 ms in place with only a warning
    log = single_run.pool.workers["a"].log.read_text(errors="replace")
    wait_ms = single_run.settings.fetch_wait_ms
    assert f"consumer fetch wait: {wait_ms} ms" in log, single_run.pool.workers["a"].tail()
    assert "could not set the consumer's fetch wait" not in log


def test_snapshot_and_feed_commands_read_the_stream(single_run: Any, expected: Oracle, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.kafka.harness import ROOT

    out = tmp_path / "stream.duckdb"
    proc = subprocess.run([sys.executable, "-m", "monitor", "snapshot", "--out", str(out)], cwd=ROOT,
                          env=single_run.env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import duckdb

    con = duckdb.connect(str(out), read_only=True)
    try:
        households = con.execute("SELECT count(*), sum(events_applied) FROM households").fetchone()
        alert_ids = {row[0] for row in con.execute("SELECT alert_id FROM alerts").fetchall()}
    finally:
        con.close()
    assert households == (len(expected.applied), sum(expected.applied.values()))
    assert expected.alert_ids <= alert_ids
    # Data anomalies: the snapshot's table and the anomalies topic both hold what the embedded run found.
    con = duckdb.connect(str(out), read_only=True)
    try:
        snapshot_anomalies = {row[0] for row in con.execute("SELECT anomaly_id FROM anomalies").fetchall()}
    finally:
        con.close()
    from monitor.runtime.stream_snapshot import read_topic
    from monitor.runtime.topics import topics_for
    from tests.kafka.harness import settings_of

    on_topic = {json.loads(value)["anomaly_id"] for _k, value, _p, _o in
                read_topic(settings_of(single_run.env), topics_for(settings_of(single_run.env)).anomalies) if value}
    assert snapshot_anomalies == on_topic == {a.anomaly_id for a in expected.result.anomalies}
    feed = subprocess.run([sys.executable, "-m", "monitor", "alerts", "--json", "--timeout", "2"], cwd=ROOT,
                          env=single_run.env, capture_output=True, text=True, check=False)
    assert feed.returncode == 0, feed.stderr
    ids = [json.loads(line)["alert_id"] for line in feed.stdout.splitlines()]
    assert len(ids) == len(set(ids)) and expected.alert_ids <= set(ids)
    red = subprocess.run([sys.executable, "-m", "monitor", "alerts", "--level", "red", "--timeout", "2"], cwd=ROOT,
                         env=single_run.env, capture_output=True, text=True, check=False)
    assert red.returncode == 0 and all(" RED " in line for line in red.stdout.splitlines())


# -- 2. two workers -------------------------------------------------------------------------------------
def wait_group(settings: Any, members: int, timeout_s: float = 90.0) -> None:
    """Until the group is stable with `members` members that each own part of the routed topic."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings))
    routed = topics_for(settings).routed
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            group = admin.describe_groups([app_id(settings)])[app_id(settings)]
            owners = [m for m in group["members"]
                      if any(a["topic"] == routed and a["partitions"]
                             for a in (m.get("member_assignment") or {}).get("assigned_partitions", []))]
            if group["group_state"] == "Stable" and len(owners) == members == len(group["members"]):
                return
            time.sleep(0.5)
    finally:
        admin.close()
    raise AssertionError(f"group never became stable with {members} members")


def test_two_workers_agree_with_one(kafka_case: Any, fixture_files: tuple[Path, list[Path]],
                                    expected: Oracle) -> None:
    pool = kafka_case.pool
    pool.start("a")
    pool.wait_ready("a")
    wait_group(kafka_case.settings, 1)
    pool.start("b")  # after a holds every partition: a rebalance takes half of them away from a running worker
    pool.wait_ready("b")
    wait_group(kafka_case.settings, 2)
    produce(kafka_case.env, *fixture_files)
    wait_quiescent(kafka_case.settings, pool)
    check_against_oracle(kafka_case, expected, "two_workers")
    pool.assert_alive()
    for worker in pool.workers.values():  # B11: a rebalance must not make the workers' timers fail
        log = worker.log.read_text(errors="replace")
        assert "could not look at the registry partitions" not in log and "Partition is not assigned" not in log, \
            worker.tail()


# -- 3. kill and crash ----------------------------------------------------------------------------------
def test_killed_and_crashed_worker_loses_nothing_and_counts_nothing_twice(
        kafka_case: Any, fixture_files: tuple[Path, list[Path]], expected: Oracle) -> None:
    """Run 1 dies right after the state write of an alert-raising event in mid-stream, before the alert
    is sent (the test hook: `os._exit(137)`); run 2 is SIGKILLed while it replays and catches up; run 3
    finishes.  Every household must hold exactly the embedded run's events, and the alert of the crash
    event must be on the feed (re-sent by the replay, under the same id)."""
    pool, settings = kafka_case.pool, kafka_case.settings
    alerts = sorted(expected.result.alerts, key=lambda a: a.event_time)
    crash_alert = alerts[len(alerts) // 2]
    crash_id = crash_alert.trigger.event_id
    pool.start("a", {"MONITOR_TEST_CRASH_AFTER_STATE": crash_id})
    pool.wait_ready("a")
    produce(kafka_case.env, *fixture_files)
    code = pool.wait_exit("a", timeout_s=360)  # generous: the crash event sits mid-stream on a shared 2-core box
    assert code == 137, f"the crash hook did not fire (exit {code}):\n{pool.workers['a'].tail()}"
    assert (kafka_case.tmp / "data-a" / f".crashed-after-{crash_id}").exists()
    writes_at_crash = changelog_writes(settings)

    pool.start("a", {"MONITOR_TEST_CRASH_AFTER_STATE": crash_id})  # fires once per data dir: not again
    MEASURE["restart_ready_s"] = round(pool.wait_ready("a"), 2)
    deadline = time.monotonic() + 5
    while changelog_writes(settings) < writes_at_crash + 50 and time.monotonic() < deadline:
        time.sleep(0.02)
    writes_at_kill = changelog_writes(settings)
    pool.kill("a", signal.SIGKILL)

    pool.start("a")
    pool.wait_ready("a")
    wait_quiescent(settings, pool)
    info = check_against_oracle(kafka_case, expected, "crash_then_kill", a_worker_died=True)
    assert crash_alert.alert_id in observe(settings).feed_ids, "the alert of the crash event was never sent"
    info["changelog_writes_at_crash_and_kill"] = (writes_at_crash, writes_at_kill)


# -- 4. bad messages on every input topic ---------------------------------------------------------------
CATEGORY_OF = {Stream.ILLNESS: ("med_settlement", {"total_cost": 100.0, "fund_paid": 50.0, "oop": 50.0}),
               Stream.DISABILITY: ("dis_certificate", {"change": "new", "category": "physical", "grade": 3}),
               Stream.UNEMPLOYMENT: ("hr_unemployment_registration", {"last_monthly_wage": 2000.0}),
               Stream.DEATH: ("hlth_death_medical_cert", {}),
               Stream.HOUSEHOLD_DATA: ("em_disaster_loss", {"loss_type": "minor", "loss_value": 100.0})}


def test_bad_messages_on_every_input_topic_become_dead_letters(kafka_case: Any) -> None:
    from kafka import KafkaProducer

    settings = kafka_case.settings
    households_path, _events = write_minidata(kafka_case.tmp / "mini", 4)
    registry = [json.loads(line) for line in households_path.read_text().splitlines()]
    household = registry[0]
    hid, person = household["household_id"], household["members"][0]["person_id"]
    produce(kafka_case.env, households_path, [])
    kafka_case.pool.start("a")
    kafka_case.pool.wait_ready("a")
    topics = topics_for(settings)
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(settings), acks="all")
    expected_dead: dict[tuple[str, int, int], str] = {}
    valid_ids: list[str] = []
    wrong_check = person[:17] + ("0" if person[17] != "0" else "1")
    unknown_person = idnumber.make("330102", dt.date(1977, 7, 7), 555, "M")

    def send(topic: str, value: bytes, reason: str | None, key: str = hid) -> None:
        meta = producer.send(topic, key=key.encode(), value=value).get(timeout=30)
        if reason is not None:
            expected_dead[(meta.topic, meta.partition, meta.offset)] = reason

    def event(n: str, stream: Stream, **fields: Any) -> dict[str, Any]:
        category, payload = CATEGORY_OF[stream]
        body = {"event_id": f"bad-{stream.value}-{n}", "category": category, "household_id": hid,
                "person_id": person, "occurred_at": "2024-05-01T10:00:00+08:00", "payload": payload}
        body.update(fields)
        return {k: v for k, v in body.items() if v is not None}

    for stream in CATEGORY_OF:
        topic = topics.stream(stream)
        send(topic, b'{"event_id": "broken-' + stream.value.encode() + b'", "category": ', "invalid_json")
        send(topic, json.dumps(event("type", stream, event_id=12345)).encode(), "bad_type")
        send(topic, json.dumps(event("cat", stream, category="no_such_category")).encode(), "unknown_category")
        send(topic, json.dumps(event("pid", stream, household_id=None, person_id=wrong_check)).encode(),
             "bad_person_id", key=wrong_check)
        send(topic, json.dumps(event("hh", stream, household_id="HNOSUCH0000001")).encode(), "unknown_household",
             key="HNOSUCH0000001")
        ok = event("ok", stream)
        valid_ids.append(ok["event_id"])
        send(topic, json.dumps(ok).encode(), None)
    send(topics.stream(Stream.ILLNESS), b"\xff\xfe\x00not utf-8", "invalid_json")
    send(topics.stream(Stream.ILLNESS), b"[1, 2, 3]", "not_an_object")
    send(topics.stream(Stream.ILLNESS),
         json.dumps(event("nobody", Stream.ILLNESS, household_id=None, person_id=unknown_person)).encode(),
         "unknown_household", key=unknown_person)
    send(topics.households, b'{"household_id": "H1", "region": ', "invalid_json", key="invalid-registry-line")
    producer.flush()
    producer.close()
    wait_quiescent(settings, kafka_case.pool)

    dead = read_dead_letters(settings)
    got = Counter((d["source"]["topic"], d["source"]["partition"], d["source"]["offset"]) for d in dead)
    assert all(n == 1 for n in got.values()), "a bad message was dead-lettered twice"
    by_source = {(d["source"]["topic"], d["source"]["partition"], d["source"]["offset"]): d for d in dead}
    assert set(by_source) == set(expected_dead)
    for source, reason in expected_dead.items():
        assert by_source[source]["reason"] == reason, (source, by_source[source])
    for record in dead:
        text = json.dumps(record)
        assert person not in text and wrong_check not in text and unknown_person not in text
    state = observe(settings).states[hid]
    applied = {e.event_id for e in state.events}
    assert set(valid_ids) <= applied, "valid events after the bad ones were not applied"
    MEASURE["bad_messages"] = {"dead_letters": len(dead), "reasons": dict(Counter(d["reason"] for d in dead))}


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Any:
    yield
    if MEASURE:
        request.config._kafka_measurements = dict(MEASURE)  # type: ignore[attr-defined]
