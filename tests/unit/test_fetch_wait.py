"""The worker consumer's fetch wait: the setting, and what `set_fetch_wait` does when it cannot reach aiokafka.

That it reaches the real aiokafka consumer inside a real worker is checked in the Kafka tier
(tests/kafka/test_kafka_runtime.py, `test_the_worker_sets_its_consumer_fetch_wait`).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.runtime.fetch_wait import set_fetch_wait

pytestmark = pytest.mark.unit


def test_fetch_wait_setting() -> None:
    assert Settings.from_env({}).fetch_wait_ms == 100
    assert Settings.from_env({"MONITOR_FETCH_WAIT_MS": "1500"}).fetch_wait_ms == 1500
    for bad in ("0", "-1", "2.5", "soon", "1501"):
        with pytest.raises(ConfigError, match="MONITOR_FETCH_WAIT_MS") as caught:
            Settings.from_env({"MONITOR_FETCH_WAIT_MS": bad})
        assert "\n" not in str(caught.value)


def _app(consumer: object) -> SimpleNamespace:
    return SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_consumer=consumer)))


def test_a_consumer_not_started_yet_is_left_alone() -> None:
    consumer = SimpleNamespace(_fetch_max_wait_ms=1500, _fetcher=None)  # aiokafka builds its fetcher at start
    assert not set_fetch_wait(_app(consumer), 100)
    assert consumer._fetch_max_wait_ms == 1500
    assert not set_fetch_wait(_app(None), 100)


def test_attributes_renamed_in_aiokafka_set_nothing() -> None:
    fetcher = SimpleNamespace(fetch_max_wait=1500)
    consumer = SimpleNamespace(_fetch_max_wait_ms=1500, _fetcher=fetcher)
    assert not set_fetch_wait(_app(consumer), 100)
    assert consumer._fetch_max_wait_ms == 1500 and not hasattr(fetcher, "_fetch_max_wait_ms")


def test_a_started_consumer_gets_the_wait_on_both() -> None:
    fetcher = SimpleNamespace(_fetch_max_wait_ms=1500)
    consumer = SimpleNamespace(_fetch_max_wait_ms=1500, _fetcher=fetcher)
    assert set_fetch_wait(_app(consumer), 100)
    assert (consumer._fetch_max_wait_ms, fetcher._fetch_max_wait_ms) == (100, 100)
