"""Fixtures of the Kafka tier: a real broker (started here if nobody else did), a unique topic prefix
and data dirs per test, and worker subprocesses that are always killed in teardown.

`make test` starts the broker with `scripts/kafka start` before pytest; a developer running pytest by
hand gets it started here (and stopped at the end of the session, only if this session started it).
If the broker can neither be reached nor started: with CI=true the tests FAIL; otherwise they are
skipped with the reason (never silently).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Settings
from tests.kafka.harness import (
    KAFKA_SCRIPT,
    ROOT,
    WorkerPool,
    broker_answers,
    broker_port,
    case_env,
    delete_case_topics,
    settings_of,
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """`kafka://127.0.0.1:<port>` of a broker that answers."""
    port = broker_port()
    started_here = False
    script_env = dict(os.environ, KAFKA_PORT=str(port))
    if not broker_answers(port):
        status = subprocess.run([str(KAFKA_SCRIPT), "status"], cwd=ROOT, env=script_env, capture_output=True,
                                text=True, timeout=60, check=False)
        proc = subprocess.run([str(KAFKA_SCRIPT), "start"], cwd=ROOT, env=script_env, capture_output=True,
                              text=True, timeout=600, check=False)
        if proc.returncode != 0 or not broker_answers(port, timeout_s=5.0):
            message = (f"no Kafka broker on 127.0.0.1:{port} and `scripts/kafka start` failed "
                       f"(exit {proc.returncode}): {(proc.stderr or proc.stdout)[-1500:]}")
            if _in_ci():
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        started_here = status.returncode == 1  # it was stopped: this session started it, and stops it
    yield f"kafka://127.0.0.1:{port}"
    if started_here:
        subprocess.run([str(KAFKA_SCRIPT), "stop"], cwd=ROOT, env=script_env, capture_output=True, timeout=120,
                       check=False)


@dataclass
class KafkaCase:
    env: dict[str, str]
    settings: Settings
    tmp: Path
    pool: WorkerPool


@pytest.fixture
def kafka_case(kafka_broker: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[KafkaCase]:
    """A fresh deployment: own topics, own app id, own worker data dirs; workers killed afterwards."""
    name = request.node.name.removeprefix("test_")[:20].replace("_", "-").strip("-")
    env = case_env(kafka_broker, name)
    pool = WorkerPool(env, tmp_path)
    settings = settings_of(env)
    try:
        yield KafkaCase(env, settings, tmp_path, pool)
    finally:
        pool.stop_all()
        delete_case_topics(settings)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print what the Kafka tests measured (worker start-up, provisional alerts, duplicates)."""
    measured = getattr(config, "_kafka_measurements", None)
    if measured:
        terminalreporter.section("kafka runtime measurements")
        for key, value in measured.items():
            terminalreporter.write_line(f"{key}: {value}")
