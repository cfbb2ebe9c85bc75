"""`monitor produce` on Parquet: each row reaches the topic and key its JSON line would, as that JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from monitor.pipeline.validate import decode_household
from monitor.runtime.produce import event_route
from monitor.runtime.stream_snapshot import read_topic
from monitor.runtime.topics import topics_for
from tests.files import objects, write_text_parquet
from tests.kafka.harness import ROOT, produce

pytestmark = pytest.mark.kafka


def _sent(settings: Any, topic: str) -> list[tuple[str | None, bytes]]:
    return [(key.decode() if key is not None else None, value) for key, value, _, _ in read_topic(settings, topic)]


def _as_spooled(value: Any) -> Any:
    """What the spool makes of a value read from text columns: nulls absent at any depth."""
    if isinstance(value, dict):
        return {k: _as_spooled(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_as_spooled(v) for v in value]
    return value


def _payload(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text  # not JSON: sent as the string it is


def test_parquet_rows_are_sent_as_the_json_objects_they_stand_for(kafka_case: Any) -> None:
    registry = objects(ROOT / "fixtures" / "households.jsonl")[:40]
    events = objects(ROOT / "fixtures" / "events.jsonl")[:400]
    pl.DataFrame(registry).write_parquet(kafka_case.tmp / "households.parquet")
    as_json = write_text_parquet(kafka_case.tmp / "events.parquet", events)
    produce(kafka_case.env, kafka_case.tmp / "households.parquet", [kafka_case.tmp / "events.parquet"])
    topics = topics_for(kafka_case.settings)

    # The registry: typed columns, so compared as the records they decode to (8000 and 8000.0 are one amount).
    sent_registry = {key: decode_household(value) for key, value in _sent(kafka_case.settings, topics.households)}
    assert sent_registry == {r["household_id"]: decode_household(json.dumps(r).encode()) for r in registry}

    # The events: text columns, so compared as JSON, on the topic and under the key of their JSON line.
    want: Counter[tuple[str, str | None, str]] = Counter()
    for row in as_json:
        stream, key = event_route(json.dumps(row).encode())
        record = _as_spooled({k: _payload(v) if k == "payload" else v for k, v in row.items()})
        want[topics.stream(stream), key, json.dumps(record, sort_keys=True)] += 1
    got: Counter[tuple[str, str | None, str]] = Counter()
    for topic in {topic for topic, _, _ in want}:
        got.update((topic, key, json.dumps(json.loads(value), sort_keys=True))
                   for key, value in _sent(kafka_case.settings, topic))
    assert sum(want.values()) == len(events) and len(want) > 300
    assert got == want


def test_a_parquet_file_that_cannot_be_read_is_a_one_line_error(kafka_case: Any, tmp_path: Path) -> None:
    fake = tmp_path / "events.parquet"
    fake.write_bytes(b"PAR1 not really")
    proc = subprocess.run([sys.executable, "-m", "monitor", "produce", "--events", str(fake)], cwd=ROOT,
                          env=kafka_case.env, capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "events.parquet" in proc.stderr
