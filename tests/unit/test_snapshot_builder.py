"""The snapshot builder: chunked building gives the same tables as one-shot, with fixed column types."""

from __future__ import annotations

import datetime as dt
import gc
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.pipeline.rules import load_rules
from monitor.privacy import Pseudonymiser, Purpose
from monitor.runtime.embedded import RunResult, run_embedded
from monitor.runtime.snapshot import SNAPSHOT_TABLES, SnapshotBuilder, open_read_only, write_snapshot

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
KEY = Pseudonymiser(b"snapshot-builder-test-key")
TYPES = {
    "households": [("household_id", "VARCHAR"), ("region", "VARCHAR"), ("category", "VARCHAR"),
                   ("member_count", "BIGINT"), ("score", "DOUBLE"), ("level", "VARCHAR"), ("income", "DOUBLE"),
                   ("assets", "DOUBLE"), ("expenditure", "DOUBLE"), ("health_disability", "DOUBLE"),
                   ("employment", "DOUBLE"), ("family_events", "DOUBLE"), ("income_ratio", "DOUBLE"),
                   ("tags", "VARCHAR[]"), ("needs", "VARCHAR[]"), ("open_alerts", "BIGINT"),
                   ("events_applied", "BIGINT"), ("last_event_at", "TIMESTAMP WITH TIME ZONE")],
    "indicator_values": [("household_id", "VARCHAR"), ("indicator_id", "VARCHAR"), ("dimension", "VARCHAR"),
                         ("value", "DOUBLE"), ("level", "VARCHAR"), ("points", "DOUBLE")],
    "members": [("household_id", "VARCHAR"), ("member", "VARCHAR"), ("relation", "VARCHAR"),
                ("age_band", "VARCHAR"), ("sex", "VARCHAR"), ("present", "BOOLEAN"), ("employed", "BOOLEAN"),
                ("disability_grade", "TINYINT")],
    "events": [("event_id", "VARCHAR"), ("household_id", "VARCHAR"), ("category", "VARCHAR"),
               ("occurred_at", "TIMESTAMP WITH TIME ZONE")],
}


@pytest.fixture(scope="module")
def run() -> RunResult:
    return run_embedded(FIXTURES / "households.jsonl", sorted(FIXTURES.glob("events*.jsonl")),
                        load_rules(ROOT / "rules.yaml"), KEY)


def _write_kwargs(run: RunResult) -> dict[str, Any]:
    rules = load_rules(ROOT / "rules.yaml")
    return {"rules_version": rules.version, "weights": {i: s.weight for i, s in rules.indicators.items()},
            "dead_letters": run.dead_letters, "as_of": run.as_of, "events_applied": run.events_applied,
            "anomalies": run.anomalies}


def _tables(path: Path) -> dict[str, tuple[list[tuple[str, str]], list[tuple[Any, ...]]]]:
    """Every table's schema and rows in stored order (snapshot_meta without its id and creation time)."""
    con = open_read_only(path)
    try:
        out = {}
        for name in SNAPSHOT_TABLES:
            schema = [(c[0], c[1]) for c in con.execute(f'DESCRIBE "{name}"').fetchall()]
            cols = "* EXCLUDE (snapshot_id, created_at)" if name == "snapshot_meta" else "*"
            out[name] = (schema, con.execute(f'SELECT {cols} FROM "{name}"').fetchall())  # noqa: S608
        return out
    finally:
        con.close()


def test_chunked_building_equals_one_shot_writing(run: RunResult, tmp_path: Path) -> None:
    one_shot = tmp_path / "one.duckdb"
    write_snapshot(one_shot, run.portraits, run.alerts, iter(run.event_index), KEY, **_write_kwargs(run))
    builder = SnapshotBuilder(KEY, workdir=tmp_path)
    starts = range(0, len(run.portraits), 7)  # small uneven chunks, interleaved as a runner would hand them over
    for i, start in enumerate(starts):
        builder.add_households(run.portraits[start:start + 7])
        builder.add_alerts(_part(run.alerts, i, len(starts)))
        builder.add_events(_part(run.event_index, i, len(starts)))
    chunked = tmp_path / "chunked.duckdb"
    builder.write(chunked, **_write_kwargs(run))

    expected, got = _tables(one_shot), _tables(chunked)
    assert got == expected
    assert len(got["alerts"][1]) == len(run.alerts) > 0
    assert len(got["events"][1]) == len(run.event_index) > 0
    assert [row[0] for row in got["households"][1]] == [p.household_id for p in run.portraits]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunked.duckdb", "one.duckdb"]  # no work files left


def _part(items: list[Any], i: int, parts: int) -> list[Any]:
    return items[i * len(items) // parts:(i + 1) * len(items) // parts]


def test_column_types_are_fixed_even_for_empty_tables(run: RunResult, tmp_path: Path) -> None:
    full, empty = tmp_path / "full.duckdb", tmp_path / "empty.duckdb"
    write_snapshot(full, run.portraits, run.alerts, run.event_index, KEY, **_write_kwargs(run))
    SnapshotBuilder(KEY).write(empty, rules_version="v", weights=_write_kwargs(run)["weights"], dead_letters=[],
                               as_of=0, events_applied=0)
    full_tables, empty_tables = _tables(full), _tables(empty)
    for name, types in TYPES.items():
        assert full_tables[name][0] == types
    for name in SNAPSHOT_TABLES:
        if name not in ("anomalies", "deadletters"):  # these two were never typed from their values
            assert empty_tables[name][0] == full_tables[name][0], name
    assert empty_tables["households"][1] == []
    assert empty_tables["snapshot_meta"][1][0][-2:] == (0, 0)


def test_members_are_analyst_pseudonyms_with_age_bands(run: RunResult, tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    write_snapshot(path, run.portraits, run.alerts, run.event_index, KEY, **_write_kwargs(run))
    members = _tables(path)["members"][1]
    expected = [(p.household_id, KEY.pseudonym(m.person_id, Purpose.ANALYST), _band(m.age))
                for p in run.portraits for m in p.members]
    assert [(hid, member, band) for hid, member, _, band, *_ in members] == expected


def _band(age: int) -> str:
    if age < 18:
        return "0-17"
    if age >= 80:
        return "80+"
    return f"{age // 10 * 10}-{age // 10 * 10 + 9}"


def test_event_times_polars_cannot_parse_fall_back_to_python(tmp_path: Path) -> None:
    texts = ["2024-03-01T10:00:00+08:00", "2024-03-01T10:00:00.250+05:45", "2024-03-01T02:00:00Z",
             "2024-02-29 23:30:00-03:30"]
    builder = SnapshotBuilder(KEY, workdir=tmp_path)
    builder.add_events([(f"e{i}", "H1", "med_settlement", t) for i, t in enumerate(texts)])
    path = tmp_path / "s.duckdb"
    weights = {i: s.weight for i, s in load_rules(ROOT / "rules.yaml").indicators.items()}
    builder.write(path, rules_version="v", weights=weights, dead_letters=[], as_of=0, events_applied=len(texts))
    got = [row[3] for row in _tables(path)["events"][1]]
    assert got == [dt.datetime.fromisoformat(t).astimezone(dt.UTC) for t in texts]


def test_a_builder_dropped_unwritten_leaves_no_file_and_restores_the_switch_interval(tmp_path: Path) -> None:
    interval = sys.getswitchinterval()
    builder = SnapshotBuilder(KEY, workdir=tmp_path)
    builder.add_events([("e1", "H1", "med_settlement", "2024-03-01T10:00:00+08:00")])
    assert sys.getswitchinterval() <= interval
    del builder
    gc.collect()
    assert list(tmp_path.iterdir()) == []
    assert sys.getswitchinterval() == interval
