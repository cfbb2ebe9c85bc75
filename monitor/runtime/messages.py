"""The records of the worker's internal topics (msgpack): carried events, checked input, membership facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from monitor.errors import InvalidEventError
from monitor.model import Event

__all__ = ["Carried", "Checked", "Membership", "carried_decoder", "encoder", "homes_decoder",
           "json_encoder", "membership_decoder"]

class Carried(msgspec.Struct, array_like=True):
    """A validated event on an internal topic, with where it entered the system (for dead letters)."""

    event: Event
    raw: bytes
    topic: str
    partition: int
    offset: int
    attempt: int = 0
    target: str = ""  # on the retry topic: "routed" or "by-person"
    due: float = 0.0  # on the retry topic: wall-clock seconds when it may be retried

    @property
    def source(self) -> dict[str, Any]:
        """The dead-letter `source` of the original input message."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(slots=True)
class Checked:
    """An input message after validation: its event time (the merge key), and either the event or why not."""

    t: int
    raw: bytes
    topic: str
    partition: int
    offset: int
    carried: Carried | None = None
    error: InvalidEventError | None = None
    taken: float = 0.0  # monotonic time the router took it (bounds how long it may wait for the directory)

    @property
    def source(self) -> dict[str, Any]:
        """The dead-letter `source` of the input message."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


class Membership(msgspec.Struct, array_like=True):
    """person → household from `since` on (a record of the `{app}-membership` topic)."""

    person_id: str
    household_id: str
    since: int


encoder = msgspec.msgpack.Encoder()
carried_decoder = msgspec.msgpack.Decoder(Carried)
membership_decoder = msgspec.msgpack.Decoder(Membership)
homes_decoder = msgspec.msgpack.Decoder(list[tuple[int, str]])  # a directory entry: [(since, household_id)]
json_encoder = msgspec.json.Encoder()
