"""The snapshot from the stream, without a broker: from the records the three topics would hold.

`monitor snapshot` reads the profiles changelog (every version of every household, last one wins, a
tombstone deletes), the alert feed (at least once: copies under the same alert_id) and the dead letters,
and spools them before writing.  Fed the states, alerts and dead letters of an embedded run, it must
write the same snapshot as the embedded run did, whatever the versions and copies around them.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import duckdb
import pytest

from monitor.pipeline.profile import encode_state, new_state
from monitor.pipeline.rules import RuleSet
from monitor.privacy import Pseudonymiser
from monitor.records import alert_record, encode_line
from monitor.runtime import stream_snapshot
from monitor.runtime.embedded import RunResult, run_embedded
from monitor.runtime.snapshot import SNAPSHOT_TABLES, write_snapshot
from monitor.runtime.stream_snapshot import snapshot_from_records

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
PSEUDO = Pseudonymiser(b"stream-snapshot-key")
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def run(rules: RuleSet) -> RunResult:
    return run_embedded(FIXTURES / "households.jsonl", [FIXTURES / "events.jsonl"], rules, PSEUDO, now=NOW,
                        keep_states=True)


def _tables(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {table: con.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()  # noqa: S608 - our names
                for table in SNAPSHOT_TABLES if table != "snapshot_meta"}


def _rows_as_stored(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {table: con.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()  # noqa: S608 - our names
                for table in SNAPSHOT_TABLES if table != "snapshot_meta"}


def _meta(path: Path) -> tuple:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT as_of, events_applied, events_dead_lettered, households, alerts "
                          "FROM snapshot_meta").fetchone()
    assert row is not None
    return row


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_snapshot_from_the_stream_equals_the_embedded_snapshot(rules: RuleSet, run: RunResult, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   jobs: int) -> None:
    monkeypatch.setattr(stream_snapshot, "STATES_PER_CHUNK", 13)  # many chunks, as at a million households
    monkeypatch.setattr(stream_snapshot, "_PIECE", 4)  # several pool tasks per chunk
    assert run.states and run.alerts and run.dead_letters
    changelog: list[tuple[bytes | None, bytes | None]] = []
    for household_id, state in sorted(run.states.items()):
        changelog.append((household_id.encode(), encode_state(new_state(state.record))))  # an older version first
    changelog += [(household_id.encode(), encode_state(state)) for household_id, state in run.states.items()]
    changelog += [(b"H-GONE", encode_state(next(iter(run.states.values())))), (b"H-GONE", None)]  # tombstoned
    emitted = "2026-11-29T00:00:00Z"
    feed = [(a.household_id.encode(), encode_line(alert_record(a, emitted))) for a in run.alerts]
    feed += feed[:25]  # at-least-once copies
    # On Kafka a dead letter's source is (topic, partition, offset), and a replay can repeat it.
    dead_letters = [dict(d, source={"topic": "illness", "partition": 0, "offset": i})
                    for i, d in enumerate(run.dead_letters)]
    dead = [(None, encode_line(d)) for d in dead_letters]

    stats = snapshot_from_records(tmp_path / "stream.duckdb", rules, PSEUDO, changelog=changelog, alerts=feed,
                                  dead_letters=dead + dead[:5], jobs=jobs)
    write_snapshot(tmp_path / "embedded.duckdb", run.portraits, run.alerts, iter(run.event_index), PSEUDO,
                   rules_version=rules.version, weights={i: s.weight for i, s in rules.indicators.items()},
                   dead_letters=dead_letters, as_of=run.as_of, events_applied=run.events_applied,
                   anomalies=run.anomalies)

    assert (stats.households, stats.events_applied, stats.alerts) == (len(run.states), run.events_applied,
                                                                      len(run.alerts))
    assert stats.duplicate_alert_records == 25
    assert stats.dead_letters == len(dead_letters)
    assert _tables(tmp_path / "stream.duckdb") == _tables(tmp_path / "embedded.duckdb")
    stream_meta, embedded_meta = _meta(tmp_path / "stream.duckdb"), _meta(tmp_path / "embedded.duckdb")
    assert stream_meta[:2] == embedded_meta[:2] and stream_meta[3:] == embedded_meta[3:]


def test_nothing_but_the_snapshot_is_left_behind(rules: RuleSet, run: RunResult, tmp_path: Path) -> None:
    household_id, state = next(iter(run.states.items()))
    snapshot_from_records(tmp_path / "one.duckdb", rules, PSEUDO, changelog=[(household_id.encode(),
                                                                              encode_state(state))],
                          alerts=[], dead_letters=[])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.duckdb"]


def test_a_pool_of_processes_writes_the_same_rows_in_the_same_order(rules: RuleSet, run: RunResult, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_snapshot, "STATES_PER_CHUNK", 17)
    monkeypatch.setattr(stream_snapshot, "_PIECE", 3)
    changelog = [(household_id.encode(), encode_state(state)) for household_id, state in run.states.items()]
    for jobs in (1, 3):
        snapshot_from_records(tmp_path / f"jobs{jobs}.duckdb", rules, PSEUDO, changelog=changelog, alerts=[],
                              dead_letters=[], jobs=jobs)
    alone, pooled = _rows_as_stored(tmp_path / "jobs1.duckdb"), _rows_as_stored(tmp_path / "jobs3.duckdb")
    assert alone["households"] and alone["events"] and alone["indicator_values"]
    assert pooled == alone


def _die(*_args: object, **_kwargs: object) -> None:
    os._exit(3)  # a pool process killed mid-chunk (out of memory, say)


def test_a_pool_process_that_dies_fails_the_snapshot_and_leaves_nothing(rules: RuleSet, run: RunResult,
                                                                        tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_snapshot, "_evaluate", _die)  # the forked processes inherit it
    changelog = [(household_id.encode(), encode_state(state)) for household_id, state in run.states.items()]
    with pytest.raises(BrokenProcessPool):
        snapshot_from_records(tmp_path / "broken.duckdb", rules, PSEUDO, changelog=changelog, alerts=[],
                              dead_letters=[], jobs=2)
    assert list(tmp_path.iterdir()) == []
    assert gc.get_freeze_count() == 0  # the freeze (see the next test) is undone on the way out


def test_the_spools_are_frozen_from_the_collector_while_portraits_are_evaluated(
        rules: RuleSet, run: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frozen_while_evaluating: list[int] = []
    evaluate = stream_snapshot._evaluate

    def spy(*args: object, **kwargs: object) -> object:
        frozen_while_evaluating.append(gc.get_freeze_count())
        return evaluate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(stream_snapshot, "_evaluate", spy)
    changelog = [(household_id.encode(), encode_state(state)) for household_id, state in run.states.items()]
    assert gc.get_freeze_count() == 0
    snapshot_from_records(tmp_path / "one.duckdb", rules, PSEUDO, changelog=changelog, alerts=[], dead_letters=[])
    assert frozen_while_evaluating and min(frozen_while_evaluating) > 10_000
    assert gc.get_freeze_count() == 0


def test_a_snapshot_of_an_empty_deployment_says_which_topic_it_found_empty(
        rules: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing on any topic: far more often a wrong MONITOR_TOPIC_PREFIX than a deployment that has not started.
    from monitor.config import Settings

    monkeypatch.setattr(stream_snapshot, "read_topic", lambda settings, topic: iter(()))
    settings = Settings.from_env({"MONITOR_TOPIC_PREFIX": "typo.", "MONITOR_PSEUDONYM_KEY": "k"})
    assert stream_snapshot.snapshot_from_stream(settings, tmp_path / "s.duckdb", rules) == 0
    err = capsys.readouterr().err
    assert "typo." in err and "profiles-changelog" in err and "MONITOR_TOPIC_PREFIX" in err
    assert _meta(tmp_path / "s.duckdb")[3] == 0  # the (empty) snapshot is still written
