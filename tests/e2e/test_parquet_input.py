"""`monitor run` on Parquet: the same records in Parquet and in JSONL give the same outputs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from monitor.errors import InvalidEventError
from monitor.pipeline.rules import load_rules
from monitor.pipeline.validate import validate_event
from monitor.privacy import Pseudonymiser
from monitor.runtime.embedded import run_to_files
from monitor.runtime.parquet_input import ParquetSpool
from tests.files import objects, write_jsonl, write_text_parquet

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)  # one clock for both runs: it decides future_timestamp
pytestmark = pytest.mark.e2e


def _run(households: Path, events: list[Path], out: Path) -> Path:
    run_to_files(households, events, load_rules(ROOT / "rules.yaml"), Pseudonymiser(b"k"), out, now=NOW)
    return out


def _outputs(out: Path) -> dict[str, Any]:
    """Everything a run wrote that does not depend on the wall clock or on the input files' names."""
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    for alert in alerts:
        del alert["emitted_at"]
    dead = [json.loads(line) for line in (out / "deadletter.jsonl").read_text().splitlines()]
    with duckdb.connect(str(out / "monitor.duckdb"), read_only=True) as con:
        households = con.execute("SELECT * EXCLUDE (last_event_at) FROM households ORDER BY household_id").fetchall()
        values = con.execute("SELECT * FROM indicator_values ORDER BY ALL").fetchall()
    return {"alerts": alerts, "households": households, "indicator_values": values,
            "dead letters": [(d["reason"], d["detail"], d.get("event_id"), d["source"]["line"]) for d in dead]}


def test_the_fixtures_as_parquet_give_the_outputs_of_the_same_records_as_jsonl(tmp_path: Path) -> None:
    registry, events = objects(FIXTURES / "households.jsonl"), objects(FIXTURES / "events.jsonl")
    as_json_lines = write_text_parquet(tmp_path / "events.parquet", events)
    pl.DataFrame(registry).write_parquet(tmp_path / "households.parquet")

    spools_before = set(Path(tempfile.gettempdir()).glob("monitor-parquet-*"))
    parquet = _run(tmp_path / "households.parquet", [tmp_path / "events.parquet"], tmp_path / "from-parquet")
    assert set(Path(tempfile.gettempdir()).glob("monitor-parquet-*")) == spools_before  # the spool is gone
    jsonl = _run(write_jsonl(tmp_path / "households.jsonl", registry),
                 [write_jsonl(tmp_path / "events.jsonl", as_json_lines)], tmp_path / "from-jsonl")

    got, expected = _outputs(parquet), _outputs(jsonl)
    assert len(expected["alerts"]) > 100 and len(expected["dead letters"]) > 10  # the comparison means something
    assert got == expected
    cited = {json.loads(line)["source"]["file"] for line in (parquet / "deadletter.jsonl").read_text().splitlines()}
    assert cited == {"events.parquet"}


def test_typed_columns_timestamps_and_nulls_read_as_the_json_they_stand_for(tmp_path: Path) -> None:
    # One file per category, as a department exports it: the payload a struct, occurred_at a timestamp with
    # its time zone, and nulls where a record has no value (household-level events have no person).
    registry = objects(FIXTURES / "households.jsonl")
    by_category: dict[str, list[dict[str, Any]]] = {}
    for event in objects(FIXTURES / "events.jsonl"):
        try:
            validate_event(json.dumps(event).encode(), now=NOW)
        except InvalidEventError:
            continue
        by_category.setdefault(event["category"], []).append(event)
    chosen = ("med_settlement", "hlth_major_disease_dx", "em_disaster_loss", "ps_death_registration")
    parquet_files, jsonl_files = [], []
    for category in chosen:
        rows = by_category[category]
        frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(
            pl.col("occurred_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%z").dt.convert_time_zone("Asia/Shanghai"))
        assert isinstance(frame.schema["payload"], pl.Struct)
        frame.write_parquet(tmp_path / f"{category}.parquet")
        parquet_files.append(tmp_path / f"{category}.parquet")
        jsonl_files.append(write_jsonl(tmp_path / f"{category}.jsonl", rows))
    assert any(row.get("person_id") is None for row in by_category["em_disaster_loss"])
    pl.DataFrame(registry).write_parquet(tmp_path / "households.parquet")

    parquet = _run(tmp_path / "households.parquet", parquet_files, tmp_path / "from-parquet")
    jsonl = _run(FIXTURES / "households.jsonl", jsonl_files, tmp_path / "from-jsonl")
    got, expected = _outputs(parquet), _outputs(jsonl)
    assert len(expected["alerts"]) > 20
    assert got == expected


def test_a_file_that_is_not_parquet_is_a_one_line_error(tmp_path: Path) -> None:
    fake = tmp_path / "events.parquet"
    fake.write_text('{"event_id": "x"}\n')
    proc = subprocess.run([sys.executable, "-m", "monitor", "run", "--events", str(fake), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT, check=False,
                          env={"PATH": "/usr/bin:/bin", "MONITOR_PSEUDONYM_KEY": "k"})
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "events.parquet" in proc.stderr
    assert "not a readable Parquet file" in proc.stderr


def test_each_row_is_written_as_the_json_object_it_stands_for(tmp_path: Path) -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    frame = pl.DataFrame({
        "event_id": ["e-1", "e-2"],
        "occurred_at": [dt.datetime(2024, 3, 1, 10, tzinfo=shanghai), dt.datetime(2024, 3, 2, 9, 30, tzinfo=shanghai)],
        "person_id": [None, "330102198001011234"],
        "payload": [{"oop": Decimal("21000.50"), "inpatient": None, "admit_date": dt.date(2024, 2, 28)},
                    {"oop": Decimal("0.00"), "inpatient": True, "admit_date": None}],
        "tags": [["a", None], []],
    }, schema_overrides={"occurred_at": pl.Datetime("us", "Asia/Shanghai")})
    frame = frame.with_columns(pl.col("payload").struct.with_fields(pl.field("oop").cast(pl.Decimal(12, 2))))
    frame.write_parquet(tmp_path / "events.parquet")
    with ParquetSpool() as spool:
        lines = spool.as_lines(tmp_path / "events.parquet").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"event_id": "e-1", "occurred_at": "2024-03-01T10:00:00+08:00",
         "payload": {"oop": 21000.5, "admit_date": "2024-02-28"}, "tags": ["a", None]},
        {"event_id": "e-2", "occurred_at": "2024-03-02T09:30:00+08:00", "person_id": "330102198001011234",
         "payload": {"oop": 0.0, "inpatient": True}, "tags": []},
    ]
