"""The embedded runner's two passes: an index first, then household by household, with nothing lost.

The first pass keeps only byte locations; these tests check that what the second pass decodes again
is exactly what a one-shot reading would have applied: routing of person-only events, duplicates and
conflicts across files, unknown households, batch boundaries, and the snapshot streamed batch by batch.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from monitor.pipeline.rules import RuleSet
from monitor.privacy import Pseudonymiser
from monitor.runtime import embedded
from monitor.runtime.embedded import run_embedded, run_to_files
from monitor.runtime.snapshot import SNAPSHOT_TABLES, write_snapshot
from tests.files import objects, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
PSEUDO = Pseudonymiser(b"two-pass-key")
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def _run(rules: RuleSet, *files: Path) -> embedded.RunResult:
    return run_embedded(FIXTURES / "households.jsonl", list(files), rules, PSEUDO, now=NOW)


def test_piece_size_does_not_change_anything(rules: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _run(rules, FIXTURES / "events.jsonl")
    monkeypatch.setattr(embedded, "_PIECE", 7)
    batched = _run(rules, FIXTURES / "events.jsonl")
    assert whole.households == batched.households == len(whole.portraits) == 300
    assert batched.portraits == whole.portraits
    assert batched.alerts == whole.alerts
    assert batched.event_index == whole.event_index
    assert [(d["reason"], d["source"]) for d in batched.dead_letters] == \
        [(d["reason"], d["source"]) for d in whole.dead_letters]


def test_copies_and_conflicts_across_files_and_person_only_routing(rules: RuleSet, tmp_path: Path) -> None:
    rows = objects(FIXTURES / "events.jsonl")
    base = _run(rules, write_jsonl(tmp_path / "a.jsonl", rows))
    routed = next(r for r in rows if r.get("household_id") and r.get("person_id")
                  and r["category"] == "hr_pension_payment")
    copy = dict(routed)
    conflict = dict(routed, occurred_at="2024-01-02T09:00:00+08:00")
    unknown_person = dict(routed, event_id="x-unknown-person", household_id=None, person_id="110101199003070011")
    second = write_jsonl(tmp_path / "b.jsonl", [copy, conflict, unknown_person])
    result = _run(rules, tmp_path / "a.jsonl", second)

    assert result.duplicates == base.duplicates + 1
    assert result.events_applied == base.events_applied
    assert result.portraits == base.portraits
    new = [d for d in result.dead_letters if d["source"]["file"] == "b.jsonl"]
    assert [(d["source"]["line"], d["reason"], d["event_id"]) for d in new] == [
        (2, "duplicate_id_conflict", routed["event_id"]), (3, "unknown_household", "x-unknown-person")]
    assert new[1]["detail"] == "no registered household has this person"


def test_a_person_only_event_reaches_the_household_of_its_person(rules: RuleSet, tmp_path: Path) -> None:
    rows = objects(FIXTURES / "events.jsonl")
    membership = {"ca_household_record", "ps_birth_registration", "ps_hukou_migration", "ca_marriage_registration"}
    named = [r for r in rows if r.get("household_id") and r.get("person_id") and r["category"] not in membership]
    stripped = [dict(r, household_id=None) if r in named[:40] else r for r in rows]
    before = _run(rules, write_jsonl(tmp_path / "named.jsonl", rows))
    after = _run(rules, write_jsonl(tmp_path / "stripped.jsonl", stripped))
    where = {e[0]: e[1] for e in after.event_index}
    assert all(where[r["event_id"]] == r["household_id"] for r in named[:40])
    assert after.event_index == before.event_index


def test_the_streamed_snapshot_equals_the_one_shot_snapshot(rules: RuleSet, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_PIECE", 11)
    streamed = run_to_files(FIXTURES / "households.jsonl", [FIXTURES / "events.jsonl"], rules, PSEUDO,
                            tmp_path / "streamed", now=NOW)
    whole = _run(rules, FIXTURES / "events.jsonl")
    write_snapshot(tmp_path / "whole.duckdb", whole.portraits, whole.alerts, iter(whole.event_index), PSEUDO,
                   rules_version=rules.version, weights={i: s.weight for i, s in rules.indicators.items()},
                   dead_letters=whole.dead_letters, as_of=whole.as_of, events_applied=whole.events_applied,
                   anomalies=whole.anomalies)
    assert streamed.portraits == []  # handed to the snapshot builder, not kept
    assert streamed.households == whole.households
    with duckdb.connect(str(tmp_path / "streamed" / "monitor.duckdb"), read_only=True) as a, \
            duckdb.connect(str(tmp_path / "whole.duckdb"), read_only=True) as b:
        for table in SNAPSHOT_TABLES:
            if table == "snapshot_meta":
                continue
            query = f'SELECT * FROM "{table}" ORDER BY ALL'  # noqa: S608 - our own table names
            assert a.execute(query).fetchall() == b.execute(query).fetchall(), table


def test_a_run_with_a_sink_spools_its_alerts_and_writes_them_in_the_same_order(rules: RuleSet,
                                                                               tmp_path: Path) -> None:
    whole = _run(rules, FIXTURES / "events.jsonl")
    streamed = run_to_files(FIXTURES / "households.jsonl", [FIXTURES / "events.jsonl"], rules, PSEUDO,
                            tmp_path / "out", now=NOW)
    assert streamed.alerts == [] and streamed.spool is not None and len(streamed.spool) == len(whole.alerts) > 100
    assert [a for chunk in streamed.alerts_in_order(chunk=17) for a in chunk] == whole.alerts
    written = [json.loads(line) for line in (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()]
    assert [a["alert_id"] for a in written] == [a.alert_id for a in whole.alerts]
    assert streamed.alert_levels == whole.alert_levels and sum(whole.alert_levels.values()) == len(whole.alerts)
