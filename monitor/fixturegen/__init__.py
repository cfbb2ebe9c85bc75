"""Synthetic, realistic, deterministic fixtures: a household registry and its event history.

`generate(households, seed, out_dir)` writes

- `households.jsonl`: one registry record per line (contract §3.1), in household_id order;
- `events.jsonl`: one event per line (contract §3.2), all events sorted by (occurred_at, event_id), the
  order a live feed would deliver them (households interleave; each household's events are in time
  order).  Times are 2023-01-01 .. 2024-06-30, +08:00.  About 30 % of the person events of registry
  members leave household_id out, so the engine must route them through the registry;
- `expected_deadletters.json` (only with `bad_lines > 0`): for each malformed line, its 1-based line
  number in events.jsonl and the dead-letter reason the engine must give.

Same (households, seed, options) -> byte-identical files: every household draws from its own
`random.Random` seeded with a string (no hash randomisation, no wall clock, no set order), and ID
numbers are allocated in household order.  Memory stays bounded: households stream to their file and
events go through an external bucket sort (writer.py), so a million households (~10 M events) need
a few hundred MB and a few minutes.  Pure Python: no faust, Kafka or DuckDB.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import orjson

from monitor.categories import CATEGORIES
from monitor.fixturegen.bad import BadLines
from monitor.fixturegen.people import IdAllocator
from monitor.fixturegen.regions import allocate
from monitor.fixturegen.scenarios import compose, play, showcase_slots
from monitor.fixturegen.writer import EventWriter, encode_household

__all__ = ["generate"]

PROGRESS_EVERY = 1000


def generate(households: int, seed: int, out_dir: Path, *, bad_lines: int = 0,
             progress: Callable[[int], None] | None = None,
             events_per_household: float = 10.0) -> dict[str, int]:
    """Write the fixture files into out_dir and return counts.

    Args:
        households: number of households in the registry (any size; 1,000,000 works).
        seed: the seed; the same (households, seed, options) gives byte-identical files.
        out_dir: directory for households.jsonl, events.jsonl and expected_deadletters.json.
        bad_lines: number of malformed lines to splice into events.jsonl (plus one exact duplicate of an
            earlier valid line per started cycle of 13 kinds, which is not bad and not counted here).
        progress: called with the number of households generated so far, every 1,000 and at the end.
        events_per_household: mean number of valid events per household.

    Returns:
        {"households", "members", "events" (valid, distinct), "bad_lines", "exact_duplicates",
        "lines" (of events.jsonl)} plus one entry per data category id (valid events of that category).
    """
    if households < 0 or bad_lines < 0 or events_per_household < 0:
        msg = "households, bad_lines and events_per_household must not be negative"
        raise ValueError(msg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    ids = IdAllocator()
    showcases = showcase_slots(households)
    members = done = 0
    events = EventWriter(out_dir, int(households * events_per_household * 1.1))
    try:
        with open(out_dir / "households.jsonl", "wb", buffering=1 << 20) as registry:
            for region, count in allocate(households):
                for n in range(1, count + 1):
                    rng = random.Random(f"{seed}:{region.code}:{n}")
                    showcase = showcases.get(done)
                    h, stories = compose(rng, region, n, ids, showcase)
                    registry.write(orjson.dumps(h.record()) + b"\n")
                    members += len(h.members)
                    tl = play(h, rng, ids, stories, showcase=showcase is not None,
                              events_per_household=events_per_household)
                    events.add(encode_household(tl, counts))
                    done += 1
                    if progress is not None and done % PROGRESS_EVERY == 0:
                        progress(done)
        splicer = BadLines(bad_lines, events.count, seed)
        lines = events.finish(out_dir / "events.jsonl", splicer)
    finally:
        events.close()
    expected = out_dir / "expected_deadletters.json"
    if bad_lines:
        expected.write_bytes(orjson.dumps(splicer.expected, option=orjson.OPT_INDENT_2) + b"\n")
    elif expected.exists():
        expected.unlink()                                # a stale list would describe another file
    if progress is not None and done % PROGRESS_EVERY:
        progress(done)
    return {"households": households, "members": members, "events": events.count, "bad_lines": bad_lines,
            "exact_duplicates": splicer.duplicates, "lines": lines, **counts}
