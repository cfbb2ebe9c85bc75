"""Topic creation against the real broker, and a worker that waits for a broker that is not there yet."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.runtime.topics import bootstrap_servers, ensure_topics, topics_for
from tests.kafka.harness import WorkerPool, case_env

pytestmark = pytest.mark.kafka


def test_ensure_topics_creates_every_topic_and_both_table_changelogs_compacted(kafka_case: Any) -> None:
    """Finding B1 (RELIABILITY.md): left to faust, the changelogs were created too late for the assignor."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    settings = kafka_case.settings
    topics = topics_for(settings)
    created = ensure_topics(settings)
    changelogs = [topics.profiles_changelog, topics.directory_changelog]
    assert set(changelogs) <= set(created)
    assert set(topics.consumed) <= set(created)
    assert ensure_topics(settings) == []  # idempotent
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings))
    try:
        described = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(changelogs)}
        assert described == dict.fromkeys(changelogs, settings.partitions)
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in changelogs])
        policies = {name: entries["cleanup.policy"]["value"] for name, entries in configs["topic"].items()}
        assert policies == dict.fromkeys(changelogs, "compact")
    finally:
        admin.close()


def test_a_worker_started_while_the_broker_is_down_waits_for_it(tmp_path: Path) -> None:
    """Finding B5: it used to give up after 30 s (exit 2); reliability.md R4 wants it to wait."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pool = WorkerPool(case_env(f"kafka://127.0.0.1:{port}", "no-broker"), tmp_path)
    worker = pool.start("a")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "still waiting" not in worker.tail():
            assert worker.proc.poll() is None, f"the worker exited:\n{worker.tail()}"
            time.sleep(1)
        assert "still waiting" in worker.tail(), worker.tail()
        assert worker.proc.poll() is None
    finally:
        pool.stop_all()


def test_a_topic_with_another_partition_count_is_a_one_line_error_naming_it(kafka_case: Any) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    from monitor.errors import ConfigError

    settings = kafka_case.settings
    alerts = topics_for(settings).alerts
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings))
    try:
        admin.create_topics([NewTopic(alerts, num_partitions=settings.partitions + 1, replication_factor=1)])
    finally:
        admin.close()
    with pytest.raises(ConfigError) as caught:
        ensure_topics(settings)
    message = str(caught.value)
    assert alerts in message and "partitions" in message and "\n" not in message
