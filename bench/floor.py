"""The floor: what any Python engine pays before doing real work on the same events file.

Read every line, JSON-parse it (msgspec, and the standard library's json for reference) and group it
by household in a dict of lists (household_id, else person_id: about 30 % of the generated person
events name only the person).  No validation, no routing, no scoring.  Run in a child process, so its
peak RSS is measured like the engine's.

Keeping a million parsed objects alive makes CPython's cyclic garbage collector walk them again and
again (it costs the msgspec floor about 3x at 1M events), so the floor is measured with the collector
on (as the engine runs) and off (`gc.disable()`, what a bulk loader can do); the time spent in
collections is reported either way (`gc.callbacks`).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from bench.proc import emit

__all__ = ["VARIANTS", "GcClock", "floor_child", "measure_floor"]

STATUS_EVERY = 100_000
VARIANTS = (("msgspec", False), ("msgspec", True), ("json", True))  # (parser, gc enabled)


class GcClock:
    """Total seconds spent in cyclic garbage collections while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._start = 0.0

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections += 1


def floor_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Parse and group `spec['events']` with `spec['parser']`; returns lines, groups and seconds."""
    decode = msgspec.json.decode if spec["parser"] == "msgspec" else json.loads
    Path(spec["status"]).parent.mkdir(parents=True, exist_ok=True)
    if not spec["gc"]:
        gc.disable()
    with GcClock() as clock:
        started = time.perf_counter()
        lines, bad, groups = _parse_and_group(Path(spec["events"]), decode, Path(spec["status"]), started)
        seconds = time.perf_counter() - started
    return {"parser": spec["parser"], "gc": spec["gc"], "gc_s": clock.seconds, "lines": lines, "bad": bad,
            "groups": len(groups), "seconds": seconds, "events_per_s": lines / seconds if seconds else 0.0}


def _parse_and_group(path: Path, decode: Callable[[bytes], Any], status: Path,
                     started: float) -> tuple[int, int, dict[str, list[Any]]]:
    groups: dict[str, list[Any]] = {}
    lines = bad = 0
    with path.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            lines += 1
            if lines % STATUS_EVERY == 0:
                status.write_text(json.dumps({"lines": lines, "t": time.perf_counter() - started}))
            try:
                obj = decode(line)
                key = obj.get("household_id") or obj.get("person_id") or ""
            except (ValueError, AttributeError):
                bad += 1
                continue
            group = groups.get(key)
            if group is None:
                groups[key] = [obj]
            else:
                group.append(obj)
    return lines, bad, groups



def measure_floor(events: Path, parser: str, gc_on: bool, status: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Run one floor variant in a child and print its line."""
    from bench.proc import run_child

    child = run_child("bench.floor", {"events": str(events), "parser": parser, "gc": gc_on}, status=status)
    row: dict[str, Any] = {"name": f"floor {parser} gc={'on' if gc_on else 'off'}", "parser": parser, "gc": gc_on,
                           "peak_rss_bytes": child.peak_rss_bytes, "wall_s": child.wall_s, "killed": child.killed}
    if child.ok:
        row.update(child.report, complete=True)
    else:
        got = child.status_at_kill or {}
        lines, seconds = got.get("lines", 0), got.get("t", 0.0)
        row.update(complete=False, lines=lines, seconds=seconds, events_per_s=lines / seconds if seconds else None,
                   error=None if child.killed else child.stderr_tail[-500:])
    rate = f"{row['events_per_s']:>10,.0f} ev/s" if row.get("events_per_s") else "         - ev/s"
    note = "" if row["complete"] else f"  [stopped: {child.killed or 'failed'}; rate over the first {lines:,} lines]"
    if row.get("error"):
        note += "\n" + row["error"]
    log(f"  {row['name']:<22} {row.get('lines', 0):>11,} lines {rate}  "
        f"peak RSS {child.peak_rss_bytes / 1e9:5.2f} GB{note}")
    return row


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    emit(floor_child(json.loads(sys.argv[2])))
