"""Reliability in embedded mode (R7, R8, R10, R11, R13, S1): bad input is contained, nothing is lost."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import idnumber
from monitor.errors import InvalidEventError
from monitor.fixturegen import generate
from monitor.pipeline.rules import RuleSet
from monitor.pipeline.validate import validate_event
from monitor.privacy import Pseudonymiser
from monitor.runtime.embedded import run_embedded
from tests.reliability.corpus import KINDS, poison

ROOT = Path(__file__).resolve().parents[2]
ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
PSEUDO = Pseudonymiser(b"reliability-key")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ten_k")
    generate(1000, 77, out)
    return out


def _template(dataset: Path) -> dict:
    registry = [json.loads(line) for line in (dataset / "households.jsonl").read_text().splitlines()]
    member = registry[0]["members"][0]
    return {"event_id": "x", "category": "hr_pension_payment", "person_id": member["person_id"],
            "household_id": registry[0]["household_id"], "occurred_at": "2024-03-05T09:00:00+08:00",
            "source_dept": "renshe", "payload": {"monthly_amount": 300.0}}


def test_r7_poison_corpus_every_bad_line_is_dead_lettered_and_every_valid_one_applied(
        dataset: Path, rules: RuleSet, tmp_path: Path) -> None:
    valid = (dataset / "events.jsonl").read_bytes().splitlines()
    bad = list(poison(_template(dataset), 10_000))
    rng = random.Random(7)
    lines: list[tuple[bytes, str | None]] = [(v, None) for v in valid] + [(b, r) for b, _, r in bad]
    rng.shuffle(lines)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b"\n".join(raw for raw, _ in lines) + b"\n")
    result = run_embedded(dataset / "households.jsonl", [mixed], rules, PSEUDO)
    assert len(result.dead_letters) == 10_000
    expected = {n: reason for n, (_, reason) in enumerate(lines, start=1) if reason is not None}
    got = {d["source"]["line"]: d["reason"] for d in result.dead_letters}
    assert got == expected
    assert result.events_applied == len(valid)
    assert Counter(got.values()).keys() == {r for _, r in KINDS.values()}
    # S1: nothing a dead letter says repeats an ID number
    text = json.dumps(result.dead_letters, ensure_ascii=False)
    assert [m for m in ID_PATTERN.findall(text) if idnumber.is_valid(m.upper())] == []


def test_r7_the_poisoned_run_gives_the_same_profiles_as_the_clean_one(dataset: Path, rules: RuleSet,
                                                                      tmp_path: Path) -> None:
    clean = run_embedded(dataset / "households.jsonl", [dataset / "events.jsonl"], rules, PSEUDO)
    mixed = tmp_path / "mixed.jsonl"
    lines = (dataset / "events.jsonl").read_bytes().splitlines()
    lines += [raw for raw, _, _ in poison(_template(dataset), 2_000)]
    random.Random(3).shuffle(lines)
    mixed.write_bytes(b"\n".join(lines) + b"\n")
    poisoned = run_embedded(dataset / "households.jsonl", [mixed], rules, PSEUDO)
    assert [(p.household_id, p.scores) for p in poisoned.portraits] == [(p.household_id, p.scores)
                                                                        for p in clean.portraits]
    assert [a.alert_id for a in poisoned.alerts] == [a.alert_id for a in clean.alerts]


def test_r8_duplicates_apply_once_and_conflicts_are_dead_lettered(dataset: Path, rules: RuleSet,
                                                                  tmp_path: Path) -> None:
    lines = (dataset / "events.jsonl").read_bytes().splitlines()
    events = [json.loads(line) for line in lines]
    rng = random.Random(11)
    resend = rng.sample(range(len(lines)), len(lines) // 10)
    conflicting = rng.sample([i for i in range(len(lines)) if i not in set(resend)], len(lines) // 100)
    extra = [lines[i] for i in resend]
    for i in conflicting:
        changed = dict(events[i])
        moved = dt.datetime.fromisoformat(changed["occurred_at"]) + dt.timedelta(seconds=1)
        changed["occurred_at"] = moved.isoformat()
        extra.append(json.dumps(changed).encode())
    path = tmp_path / "dupes.jsonl"
    path.write_bytes(b"\n".join(lines + extra) + b"\n")
    clean = run_embedded(dataset / "households.jsonl", [dataset / "events.jsonl"], rules, PSEUDO)
    result = run_embedded(dataset / "households.jsonl", [path], rules, PSEUDO)
    assert result.events_applied == clean.events_applied
    assert result.duplicates == len(resend)
    conflicts = [d for d in result.dead_letters if d["reason"] == "duplicate_id_conflict"]
    assert sorted(d["event_id"] for d in conflicts) == sorted(events[i]["event_id"] for i in conflicting)
    assert [(p.household_id, p.scores) for p in result.portraits] == [(p.household_id, p.scores)
                                                                      for p in clean.portraits]


def test_r10_future_events_depend_on_the_clock_but_scores_and_alert_ids_do_not(dataset: Path, rules: RuleSet,
                                                                                 tmp_path: Path) -> None:
    template = _template(dataset)
    lines = (dataset / "events.jsonl").read_bytes().splitlines()
    base = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    future = [json.dumps({**template, "event_id": f"fut-{n}", "occurred_at": (base + delta).isoformat()}).encode()
              for n, delta in enumerate([dt.timedelta(minutes=10), dt.timedelta(days=1), dt.timedelta(days=3650)])]
    path = tmp_path / "future.jsonl"
    path.write_bytes(b"\n".join(lines + future) + b"\n")
    runs = {}
    for skew_hours in (0, 2, -2):
        now = base + dt.timedelta(hours=skew_hours)
        runs[skew_hours] = run_embedded(dataset / "households.jsonl", [path], rules, PSEUDO, now=now,
                                        as_of=dt.datetime(2024, 6, 30, tzinfo=dt.UTC))
    for result in runs.values():
        future_dead = {d["event_id"] for d in result.dead_letters if d["reason"] == "future_timestamp"}
        assert {"fut-1", "fut-2"} <= future_dead
    # 10 minutes ahead is within the 5-minute skew only when the clock runs 2 hours ahead
    assert "fut-0" not in {d["event_id"] for d in runs[2].dead_letters}
    assert "fut-0" in {d["event_id"] for d in runs[0].dead_letters}
    ids = {k: sorted(a.alert_id for a in r.alerts if not a.trigger.event_id.startswith("fut-"))
           for k, r in runs.items()}
    assert ids[0] == ids[2] == ids[-2]


def test_r11_the_same_input_twice_gives_identical_outputs(dataset: Path, rules: RuleSet, tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        proc = subprocess.run([sys.executable, "-m", "monitor", "run", "--households",
                               str(dataset / "households.jsonl"), "--events", str(dataset / "events.jsonl"),
                               "--out", str(tmp_path / name), "--quiet"], capture_output=True, text=True, cwd=ROOT,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        outs.append(tmp_path / name)
    strip = lambda p: [{k: v for k, v in json.loads(x).items() if k != "emitted_at"}  # noqa: E731
                       for x in (p / "alerts.jsonl").read_text().splitlines()]
    assert strip(outs[0]) == strip(outs[1])
    dead = lambda p: [{k: v for k, v in json.loads(x).items() if k != "received_at"}  # noqa: E731
                      for x in (p / "deadletter.jsonl").read_text().splitlines()]
    assert dead(outs[0]) == dead(outs[1])
    assert (outs[0] / "anomalies.jsonl").read_bytes() == (outs[1] / "anomalies.jsonl").read_bytes()


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_r13_no_exception_escapes_the_parser_on_arbitrary_bytes(raw: bytes) -> None:
    try:
        validate_event(raw, now=dt.datetime(2024, 7, 1, tzinfo=dt.UTC))
    except InvalidEventError:
        pass


@settings(max_examples=2_000, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                  max_size=6), max_leaves=30))
def test_r13_no_exception_escapes_on_arbitrary_json_documents(doc: object) -> None:
    try:
        validate_event(json.dumps(doc).encode(), now=dt.datetime(2024, 7, 1, tzinfo=dt.UTC))
    except InvalidEventError:
        pass
