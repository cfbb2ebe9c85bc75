"""`monitor run --jobs N`: households applied in a pool of processes give exactly the single-process run.

The pool is only worth having if nothing in the outputs depends on it: the same alerts, anomalies, dead
letters, profiles and snapshot rows, in the same order, and a process that dies fails the run instead of
leaving a partial one.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import duckdb
import pytest

from monitor.pipeline.rules import RuleSet
from monitor.privacy import Pseudonymiser
from monitor.runtime import embedded
from monitor.runtime.embedded import RunResult, run_embedded, run_to_files
from monitor.runtime.snapshot import SNAPSHOT_TABLES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
EVENTS = sorted(FIXTURES.glob("events*.jsonl"))
PSEUDO = Pseudonymiser(b"jobs-key")
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def _run(rules: RuleSet, jobs: int) -> RunResult:
    return run_embedded(FIXTURES / "households.jsonl", EVENTS, rules, PSEUDO, now=NOW, keep_states=True, jobs=jobs)


def test_a_pool_of_processes_gives_the_single_process_run(rules: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_PIECE", 7)  # many pieces
    alone, pooled = _run(rules, 1), _run(rules, 3)
    assert alone.households == 300 and len(alone.alerts) > 100 and alone.anomalies and alone.dead_letters
    assert pooled.portraits == alone.portraits
    assert pooled.alerts == alone.alerts
    assert pooled.anomalies == alone.anomalies
    assert pooled.event_index == alone.event_index
    assert _unstamped(pooled.dead_letters) == _unstamped(alone.dead_letters)
    assert pooled.states == alone.states and list(pooled.states) == list(alone.states)
    assert (pooled.events_applied, pooled.households, pooled.as_of) == (alone.events_applied, alone.households,
                                                                        alone.as_of)
    assert pooled.levels == alone.levels and pooled.alert_levels == alone.alert_levels
    assert pooled.alert_families == alone.alert_families
    assert pooled.indicators_fired == alone.indicators_fired and len(alone.indicators_fired) > 30


def _unstamped(dead_letters: list[dict]) -> list[dict]:
    # received_at is the wall-clock time of reading (contract §4.2); everything else must be equal
    return [{k: v for k, v in d.items() if k != "received_at"} for d in dead_letters]


def _rows_as_stored(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {table: con.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()  # noqa: S608 - our names
                for table in SNAPSHOT_TABLES if table != "snapshot_meta"}


def _lines_without(path: Path, stamp: str) -> list[dict]:
    """The JSON lines of a file, without the wall-clock `stamp` field (emitted_at, received_at)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(stamp in r for r in records)
    return [{k: v for k, v in r.items() if k != stamp} for r in records]


def test_monitor_run_writes_the_same_files_and_snapshot_rows_in_any_number_of_processes(
        rules: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_PIECE", 11)
    for jobs in (1, 2):
        run_to_files(FIXTURES / "households.jsonl", EVENTS, rules, PSEUDO, tmp_path / f"jobs{jobs}", now=NOW,
                     jobs=jobs)
    alone, pooled = tmp_path / "jobs1", tmp_path / "jobs2"
    assert (pooled / "anomalies.jsonl").read_bytes() == (alone / "anomalies.jsonl").read_bytes()
    for name, stamp in (("alerts.jsonl", "emitted_at"), ("deadletter.jsonl", "received_at")):
        assert _lines_without(pooled / name, stamp) == _lines_without(alone / name, stamp), name
    stored = _rows_as_stored(alone / "monitor.duckdb")
    assert len(stored["households"]) == 300 and stored["alerts"] and stored["indicator_values"]
    assert _rows_as_stored(pooled / "monitor.duckdb") == stored


def _die(*_args: object, **_kwargs: object) -> None:
    os._exit(3)  # a pool process killed mid-piece (out of memory, say)


def test_a_pool_process_that_dies_fails_the_run_and_leaves_no_snapshot(rules: RuleSet, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_apply_households", _die)  # the forked processes inherit it
    with pytest.raises(BrokenProcessPool):
        run_to_files(FIXTURES / "households.jsonl", EVENTS, rules, PSEUDO, tmp_path / "out", now=NOW, jobs=2)
    assert list((tmp_path / "out").iterdir()) == []
    assert gc.get_freeze_count() == 0  # the run's freeze is undone on the way out


def test_the_first_pass_is_frozen_from_the_collector_while_households_are_applied(rules: RuleSet) -> None:
    # run_embedded freezes what its first pass built, which lives for the whole run (monitor/runtime/long_lived.py)
    frozen_while_applying: list[int] = []

    def progress(stage: str, _done: int, _total: int) -> None:
        if stage == "apply":
            frozen_while_applying.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    run_embedded(FIXTURES / "households.jsonl", EVENTS, rules, PSEUDO, now=NOW, progress=progress, jobs=2)
    assert frozen_while_applying and min(frozen_while_applying) > 10_000
    assert gc.get_freeze_count() == 0
