"""Kafka topic names (contract §3.3) and their idempotent creation.

Every name takes the `MONITOR_TOPIC_PREFIX` prefix, so that tests and tenants never share topics; the
faust app id (consumer group, changelog names) is derived from the same prefix, so they never share
state either.  All topics a worker reads are created here with the same partition count
(`MONITOR_PARTITIONS`): faust does not create source topics, and a source topic with another partition
count than the table changelogs silently breaks co-partitioning (kafka.md §4.4).

Besides the contract's topics the worker uses four internal topics, named after the app id:

- `{app}-routed`     validated events keyed by household_id (input of the household agent);
- `{app}-by-person`  validated events that name only a person, keyed by the person_id;
- `{app}-membership` person → (household, since) records keyed by person_id (feeds the directory);
- `{app}-retry`      events waiting for a registry record or a membership that has not arrived yet.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.categories import Stream
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from kafka import KafkaConsumer

    from monitor.config import Settings

__all__ = ["Topics", "app_id", "bootstrap_servers", "broker_unreachable", "ensure_topics", "kafka_consumer",
           "topics_for"]

log = logging.getLogger("monitor.topics")

APP_BASE = "household-risk-monitor"
INPUT_STREAMS: tuple[Stream, ...] = (Stream.ILLNESS, Stream.DISABILITY, Stream.UNEMPLOYMENT, Stream.DEATH,
                                     Stream.HOUSEHOLD_DATA)


def app_id(settings: Settings) -> str:
    """The faust app id (= consumer group id) for these settings: one per topic prefix."""
    suffix = re.sub(r"[^A-Za-z0-9_\-]+", "-", settings.topic_prefix).strip("-_")
    return f"{APP_BASE}-{suffix}" if suffix else APP_BASE


def bootstrap_servers(settings: Settings) -> list[str]:
    """`kafka://h1:9092;h2:9092` (faust URL form) → ['h1:9092', 'h2:9092'] for kafka-python."""
    servers = []
    for part in re.split(r"[;,]", settings.broker):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            servers.append(part if ":" in part else f"{part}:9092")
    if not servers:
        problem = "names no broker"
        raise ConfigError("environment", "MONITOR_BROKER", problem)  # noqa: EM101
    return servers


@dataclass(frozen=True)
class Topics:
    """All topic names of one deployment (one prefix)."""

    prefix: str
    app: str

    def stream(self, stream: Stream | str) -> str:
        """An input topic by stream (illness, disability, unemployment, death, household-data)."""
        return f"{self.prefix}{Stream(stream).value}"

    @property
    def inputs(self) -> list[str]:
        """The five event input topics."""
        return [self.stream(s) for s in INPUT_STREAMS]

    @property
    def households(self) -> str:
        """The registry topic (compacted, key household_id)."""
        return f"{self.prefix}households"

    @property
    def alerts(self) -> str:
        """The alert feed (key household_id)."""
        return f"{self.prefix}alerts"

    @property
    def deadletter(self) -> str:
        """Dead-letter records (no key)."""
        return f"{self.prefix}deadletter"

    @property
    def anomalies(self) -> str:
        """Data anomalies for the source departments (key household_id)."""
        return f"{self.prefix}anomalies"

    @property
    def routed(self) -> str:
        """Internal: validated events keyed by household_id."""
        return f"{self.app}-routed"

    @property
    def by_person(self) -> str:
        """Internal: validated events that name only a person, keyed by person_id."""
        return f"{self.app}-by-person"

    @property
    def membership(self) -> str:
        """Internal: membership records keyed by person_id."""
        return f"{self.app}-membership"

    @property
    def retry(self) -> str:
        """Internal: events parked until their household or person is known (bounded attempts)."""
        return f"{self.app}-retry"

    @property
    def profiles_changelog(self) -> str:
        """The changelog of the `profiles` table: household_id → encode_state bytes."""
        return f"{self.app}-profiles-changelog"

    @property
    def directory_changelog(self) -> str:
        """The changelog of the `directory` table: person_id → memberships."""
        return f"{self.app}-directory-changelog"

    @property
    def internal(self) -> list[str]:
        """The internal topics the worker reads."""
        return [self.routed, self.by_person, self.membership, self.retry]

    @property
    def consumed(self) -> list[str]:
        """Every topic the worker's consumer group reads (for lag checks)."""
        return [*self.inputs, self.households, *self.internal]

    def all_created(self) -> dict[str, dict[str, str]]:
        """Topic name → topic configs, for every topic `ensure_topics` creates."""
        configs: dict[str, dict[str, str]] = {name: {} for name in
                                              [*self.inputs, self.alerts, self.deadletter, self.anomalies,
                                               *self.internal]}
        # The table changelogs too: left to faust, they are created right before the worker joins its
        # group, and on a busy broker the assignor may not see them yet ("Ignoring missing topic"); the
        # table then has no partitions and every write raises PartitionsMismatch (RELIABILITY.md, B1).
        for name in (self.households, self.profiles_changelog, self.directory_changelog):
            configs[name] = {"cleanup.policy": "compact"}
        return configs


def broker_unreachable(settings: Settings, exc: Exception) -> ConfigError:
    """The one-line error for a broker that does not answer: it names MONITOR_BROKER and its value."""
    problem = f"broker {settings.broker} not reachable ({type(exc).__name__})"
    return ConfigError("environment", "MONITOR_BROKER", problem)


def kafka_consumer(settings: Settings, **config: Any) -> KafkaConsumer:
    """A kafka-python consumer on the settings' broker; one that cannot be reached is a `broker_unreachable` error."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        return KafkaConsumer(bootstrap_servers=bootstrap_servers(settings), **config)
    except KafkaError as exc:
        raise broker_unreachable(settings, exc) from None


def topics_for(settings: Settings) -> Topics:
    """The topic names for these settings."""
    return Topics(prefix=settings.topic_prefix, app=app_id(settings))


def ensure_topics(settings: Settings, *, timeout_s: float | None = 30.0) -> list[str]:
    """Create every topic of contract §3.3 (and the worker's internal ones) if missing; return those created.

    Idempotent: existing topics are kept.  An existing topic with another partition count than
    `settings.partitions` is an error, since the worker could not co-partition it with its tables.
    `timeout_s=None` waits for an unreachable broker as long as it takes (a worker started during a
    broker outage), with a warning every 30 s.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    topics = topics_for(settings)
    wanted = topics.all_created()
    started = time.monotonic()
    deadline = started + (timeout_s if timeout_s is not None else 30.0)
    warned = started
    admin = None
    while admin is None:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings), client_id="monitor-admin",
                                     request_timeout_ms=15000)
        except KafkaError as exc:
            now = time.monotonic()
            unreachable = broker_unreachable(settings, exc)
            if timeout_s is not None and now > deadline:
                raise unreachable from None
            if now - warned >= 30.0:
                log.warning("%s for %.0f s; still waiting", unreachable.problem, now - started)
                warned = now
            time.sleep(0.5)
    deadline = max(deadline, time.monotonic() + 30.0)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            new = [NewTopic(name, num_partitions=settings.partitions, replication_factor=1,
                            topic_configs=wanted[name] or None) for name in missing]
            try:
                admin.create_topics(new, timeout_ms=15000)
            except TopicAlreadyExistsError:
                pass  # a concurrent worker won the race; the check below still applies
            admin.wait_for_topics(missing, timeout_ms=int(max(1.0, deadline - time.monotonic()) * 1000))
        for described in admin.describe_topics(list(wanted)):
            count = len(described.get("partitions") or [])
            if count != settings.partitions:
                problem = f"has {count} partitions, MONITOR_PARTITIONS is {settings.partitions}"
                name = described.get("name") or described.get("topic")  # (kafka-python 3 says "name")
                raise ConfigError("kafka", f"topic {name}", problem)  # noqa: EM101
        return missing
    finally:
        admin.close()
