"""Settings: one frozen object read once from the environment (prefix MONITOR_) and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import ConfigError
from monitor.privacy import DEV_KEY_LABEL, Pseudonymiser

__all__ = ["PACKAGE_ROOT", "Settings"]

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Runtime settings.  Never read os.environ anywhere else."""

    pseudonym_key: bytes
    key_is_development: bool
    broker: str
    topic_prefix: str
    data_dir: Path
    partitions: int
    rules_path: Path
    # How long a worker's event-time merge waits for older messages on partitions that are caught up
    # (monitor/runtime/merger.py).  0 like Kafka Streams' max.task.idle.ms: data already on the broker
    # is waited for anyway, and 250 ms left the reordering seen in the benchmark unchanged.
    merge_hold_s: float = 0.0
    # How long a worker's router keeps an event about a person its directory does not know yet, while
    # registry records or membership facts are on their way but do not move (monitor/runtime/engine.py,
    # `hold_unknown_person`).  After that it goes the long way round: parked, retried, then dead-lettered.
    person_wait_s: float = 10.0
    # How long a worker's consumer lets the broker hold a fetch that finds nothing new (faust fixes 1,500 ms;
    # monitor/runtime/fetch_wait.py says why a shorter wait lowers the latency of a busy worker).
    fetch_wait_ms: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read MONITOR_* variables; the pseudonym key falls back to a clearly-labelled development key."""
        env = os.environ if env is None else env
        key = env.get("MONITOR_PSEUDONYM_KEY", "")
        partitions_text = env.get("MONITOR_PARTITIONS", "8")
        if not partitions_text.isdigit() or not 1 <= int(partitions_text) <= 256:
            problem = "must be a whole number from 1 to 256"
            raise ConfigError("environment", "MONITOR_PARTITIONS", problem)  # noqa: EM101
        return cls(
            pseudonym_key=(key or DEV_KEY_LABEL).encode(),
            key_is_development=not key,
            broker=env.get("MONITOR_BROKER", "kafka://127.0.0.1:9092"),
            topic_prefix=env.get("MONITOR_TOPIC_PREFIX", ""),
            data_dir=Path(env.get("MONITOR_DATA_DIR", "./data")),
            partitions=int(partitions_text),
            rules_path=Path(env.get("MONITOR_RULES", str(PACKAGE_ROOT / "rules.yaml"))),
            merge_hold_s=_milliseconds(env, "MONITOR_MERGE_HOLD_MS", 0, 60_000) / 1000,
            person_wait_s=_milliseconds(env, "MONITOR_PERSON_WAIT_MS", 10_000, 600_000) / 1000,
            fetch_wait_ms=_milliseconds(env, "MONITOR_FETCH_WAIT_MS", 100, 1_500, least=1),
        )

    def pseudonymiser(self) -> Pseudonymiser:
        """The keyed pseudonymiser for these settings."""
        return Pseudonymiser(self.pseudonym_key)


def _milliseconds(env: Mapping[str, str], name: str, default: int, most: int, *, least: int = 0) -> int:
    """A whole number of milliseconds from `env[name]`, or a ConfigError naming the variable."""
    text = env.get(name, str(default))
    if not text.isdigit() or not least <= int(text) <= most:
        problem = f"must be a whole number of milliseconds from {least} to {most}"
        raise ConfigError("environment", name, problem)  # noqa: EM101
    return int(text)
