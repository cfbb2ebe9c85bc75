"""Temporary files that keep large, write-once runs of records out of memory until they are written.

A million households raise about 800,000 alerts (1.5 KB each even msgpack-encoded: their reasons are
text) and have about 9 KiB of encoded state each (26 KiB decoded): held as Python objects they would not
fit beside the rest of a run.  A spool keeps the encoded bytes in an unlinked temporary file and, in
memory, only where each record is and the key it is read back in order by.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from array import array
from collections.abc import Iterator
from typing import IO, Self

import msgspec

from monitor.pipeline.alerts import Alert

__all__ = ["AlertSpool", "StateSpool", "output_order"]


def output_order(alert: Alert) -> tuple[int, str, str]:
    """The order alerts are written in, everywhere: event time, household, alert id."""
    return int(dt.datetime.fromisoformat(alert.event_time).timestamp()), alert.household_id, alert.alert_id


class _Spool:
    """An append-only temporary file of byte strings, each read back by (offset, length)."""

    def __init__(self, prefix: str) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115 - closed by close()
        self._size = 0

    def _append(self, data: bytes) -> int:
        """Write one record; returns its offset."""
        offset = self._size
        self._file.write(data)
        self._size += len(data)
        return offset

    def _reader(self) -> int:
        """The file descriptor to `os.pread` from, with everything written so far flushed."""
        self._file.flush()
        return self._file.fileno()

    def close(self) -> None:
        """Drop the file (it has no name, so closing it frees the disk space)."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AlertSpool(_Spool):
    """Alerts, read back in output order."""

    def __init__(self) -> None:
        super().__init__("alerts-")
        self._order: list[tuple[int, str, str]] = []
        self._where = array("q")  # offset, length, offset, length, ...

    def add(self, alert: Alert) -> None:
        """Keep one alert."""
        encoded = _alert_encoder.encode(alert)
        self._where.extend((self._append(encoded), len(encoded)))
        self._order.append(output_order(alert))

    def __len__(self) -> int:
        return len(self._order)

    def in_order(self, chunk: int) -> Iterator[list[Alert]]:
        """The alerts decoded again, in output order, `chunk` at a time."""
        fd, where = self._reader(), self._where
        order = sorted(range(len(self._order)), key=self._order.__getitem__)
        for start in range(0, len(order), chunk):
            yield [_alert_decoder.decode(os.pread(fd, where[2 * i + 1], where[2 * i]))
                   for i in order[start:start + chunk]]


class StateSpool(_Spool):
    """The latest encoded state of each household (a changelog read from its beginning), by household id.

    A later value of a key replaces the earlier one (its bytes stay in the file, unreferenced); None
    deletes the key, as a changelog tombstone does.  Beside where each value is, the spool keeps the time
    of the household's last event, read without decoding the rest of the state, so that the as-of time
    of a snapshot is known before any household is decoded.
    """

    def __init__(self) -> None:
        super().__init__("states-")
        self._where: dict[str, tuple[int, int, int]] = {}  # household_id -> offset, length, last event time

    def put(self, household_id: str, encoded: bytes | None) -> None:
        """Record the household's value (None: a tombstone)."""
        if encoded is None:
            self._where.pop(household_id, None)
            return
        events = _tail_decoder.decode(encoded).events
        self._where[household_id] = (self._append(encoded), len(encoded), events[-1].t if events else 0)

    def __len__(self) -> int:
        return len(self._where)

    @property
    def last_event_time(self) -> int:
        """The latest event time over every household (0 when none has an event)."""
        return max((last for _, _, last in self._where.values()), default=0)

    def in_order(self, chunk: int) -> Iterator[list[tuple[str, bytes]]]:
        """(household_id, encoded state) in household id order, `chunk` at a time.

        Encoded, so that the caller decodes one state at a time and lets it go: a list of decoded states
        would be about 26 KiB of live objects each (tracemalloc, 1,000 generated households), for the
        cyclic collector to walk again and again.
        """
        fd = self._reader()
        keys = sorted(self._where)
        for start in range(0, len(keys), chunk):
            batch = []
            for key in keys[start:start + chunk]:
                offset, length, _ = self._where[key]
                batch.append((key, os.pread(fd, length, offset)))
            yield batch


class _EventTime(msgspec.Struct, array_like=True):
    """The first fields of an encoded `Event` (the decoder skips the rest)."""

    event_id: str
    category: str
    t: int


class _StateTail(msgspec.Struct):
    """The part of an encoded `HouseholdState` that says when its last event was."""

    events: list[_EventTime]


_alert_encoder = msgspec.msgpack.Encoder()
_alert_decoder = msgspec.msgpack.Decoder(Alert)
_tail_decoder = msgspec.msgpack.Decoder(_StateTail)
