"""Fixtures of the reliability tier.

The real-broker fixtures are the Kafka tier's own (tests/kafka/conftest.py), re-exported here so that
pytest finds them for tests/reliability/ too: `kafka_broker` (a broker that answers, started if needed)
and `kafka_case` (a unique topic prefix, data dirs and a worker pool per test).

What the fault tests measure (kill and recovery times, duplicate records, outage figures) is kept in
`config._reliability_measurements`, printed at the end of the run and, when `RELIABILITY_RESULTS`
names a file, written there as JSON (RELIABILITY.md quotes these numbers).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.kafka.conftest import KafkaCase, kafka_broker, kafka_case  # noqa: F401

RESULTS: dict[str, Any] = {}


def record(name: str, values: dict[str, Any]) -> None:
    """Keep what a test measured, for the summary (and RELIABILITY.md)."""
    RESULTS[name] = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **values}


@pytest.fixture(scope="session")
def reliability_results() -> dict[str, Any]:
    return RESULTS


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not RESULTS:
        return
    terminalreporter.section("reliability measurements")
    for key, value in RESULTS.items():
        terminalreporter.write_line(f"{key}: {json.dumps(value, ensure_ascii=False, default=str)}")
    target = os.environ.get("RELIABILITY_RESULTS", "").strip()
    if target:
        path = Path(target)
        previous: dict[str, Any] = {}
        if path.is_file():
            try:
                previous = json.loads(path.read_text())
            except ValueError:
                previous = {}
        previous.update(RESULTS)
        path.write_text(json.dumps(previous, indent=2, ensure_ascii=False, default=str) + "\n")
        terminalreporter.write_line(f"(written to {path})")
