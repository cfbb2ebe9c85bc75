"""Encoding events and writing events.jsonl in feed order with bounded memory.

Order of events.jsonl: all events sorted by (occurred_at, event_id), the order a live feed would deliver
them; so households interleave, and each household's events are in time order.  The global sort is an
external bucket sort: while households are generated, each encoded line goes to the bucket file of its
time slice (about 100,000 events per bucket, at most one bucket per day of the window); then each bucket
is read, sorted in memory and appended to events.jsonl.  Memory is bounded by one bucket, whatever the
number of households; small sets never touch a temporary file.  Malformed lines (bad.py) are spliced in
during that final pass, at line numbers fixed in advance.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

import orjson

from monitor.categories import CATEGORIES
from monitor.fixturegen.clock import END, reported, stamp
from monitor.fixturegen.timeline import Timeline

__all__ = ["EventWriter", "Splicer", "encode_household"]

BUCKET_EVENTS = 100_000
_MAX_BUCKETS = END // 86_400 + 1
_PREFIX = {c: c.split("_")[0] for c in CATEGORIES}
_META = {c: (cat.mode, cat.dept) for c, cat in CATEGORIES.items()}
OMIT_HOUSEHOLD = 0.3            # share of person events (of registry members) sent without household_id


def encode_household(tl: Timeline, counts: dict[str, int]) -> list[tuple[int, bytes]]:
    """The household's events as (time, b"<occurred_at><event_id><TAB><json>") in time order.

    Event ids are `{category prefix}-{household_id}-{k:03d}`, k the 1-based rank in the household's
    time order, so they are unique and stable for a given (households, seed).
    """
    hid = tl.h.hid
    random = tl.rng.random
    out = []
    for k, (t, _, category, person, payload, force) in enumerate(sorted(tl.events, key=lambda e: (e[0], e[1])), 1):
        mode, dept = _META[category]
        event_id = f"{_PREFIX[category]}-{hid}-{k:03d}"
        occurred = stamp(t)
        event: dict[str, object] = {"event_id": event_id, "category": category}
        if person is not None:
            event["person_id"] = person.pid
            if force or random() >= OMIT_HOUSEHOLD:
                event["household_id"] = hid
        else:
            event["household_id"] = hid
        event["occurred_at"] = occurred
        event["reported_at"] = stamp(reported(t, mode, random()))
        event["source_dept"] = dept
        event["payload"] = payload
        out.append((t, (occurred + event_id).encode() + b"\t" + orjson.dumps(event)))
        counts[category] += 1
    return out


class Splicer(Protocol):
    """Supplies the malformed lines: where they go and what they are."""

    def next_line(self) -> int | None:
        """1-based line number of the next malformed line, None when there are no more."""

    def make(self, line: int, recent: deque[bytes]) -> bytes:
        """The malformed line for that line number, given the most recent valid lines."""


class EventWriter:
    """Collects encoded events, then writes them sorted, with malformed lines spliced in."""

    def __init__(self, out_dir: Path, expected_events: int) -> None:
        self.count = 0
        self._buckets = max(1, min(_MAX_BUCKETS, -(-expected_events // BUCKET_EVENTS)))
        self._width = END // self._buckets + 1
        self._memory: list[bytes] = []
        self._tmp: Path | None = None
        self._files: list[IO[bytes]] = []
        if self._buckets > 1:
            self._tmp = Path(tempfile.mkdtemp(prefix=".fixturegen-", dir=out_dir))
            self._files = [open(self._tmp / f"{i:04d}", "wb", buffering=1 << 18)
                           for i in range(self._buckets)]

    def add(self, lines: list[tuple[int, bytes]]) -> None:
        """Take one household's encoded events."""
        self.count += len(lines)
        if not self._files:
            self._memory.extend(line for _, line in lines)
            return
        width, files = self._width, self._files
        for t, line in lines:
            f = files[t // width]
            f.write(line)
            f.write(b"\n")

    def _sorted_buckets(self) -> Iterator[list[bytes]]:
        if not self._files:
            self._memory.sort()
            yield [line[line.index(b"\t") + 1:] for line in self._memory]
            self._memory = []
            return
        for f in self._files:
            f.close()
        assert self._tmp is not None
        for i in range(self._buckets):
            path = self._tmp / f"{i:04d}"
            lines = path.read_bytes().split(b"\n")
            path.unlink()
            lines.pop()                                  # after the last newline
            lines.sort()
            yield [line[line.index(b"\t") + 1:] for line in lines]

    def finish(self, path: Path, splicer: Splicer) -> int:
        """Write the sorted events with the malformed lines; returns the number of lines written."""
        written = 0
        recent: deque[bytes] = deque(maxlen=64)
        try:
            with open(path, "wb", buffering=1 << 20) as out:
                nxt = splicer.next_line()
                for bucket in self._sorted_buckets():
                    i = 0
                    while nxt is not None and nxt - written - 1 < len(bucket) - i:
                        take = nxt - written - 1
                        if take:
                            out.write(b"\n".join(bucket[i:i + take]) + b"\n")
                            recent.extend(bucket[max(i, i + take - 64):i + take])
                            i += take
                            written += take
                        out.write(splicer.make(nxt, recent) + b"\n")
                        written += 1
                        nxt = splicer.next_line()
                    if i < len(bucket):
                        out.write(b"\n".join(bucket[i:]) + b"\n")
                        recent.extend(bucket[max(i, len(bucket) - 64):])
                        written += len(bucket) - i
                while nxt is not None:
                    out.write(splicer.make(nxt, recent) + b"\n")
                    written += 1
                    nxt = splicer.next_line()
        finally:
            self.close()
        return written

    def close(self) -> None:
        """Remove the temporary bucket files (also after an error)."""
        for f in self._files:
            if not f.closed:
                f.close()
        if self._tmp is not None and self._tmp.exists():
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._files = []

