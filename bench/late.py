"""`python -m bench.late`: what late events cost, rescored from just before them against a full replay.

A late event (older than its household's latest) is applied by replaying the household. Until the tenth
session that scored every event of the household again; `apply_event` now follows the events before the
late one without scoring them (`_replay_from` in monitor/pipeline/profile.py). This applies the same
arrivals both ways in one process, alternating: "full replay" puts the old path back (`replay` of all the
household's events), "from the late event" is the code as it is. Two arrival patterns:

- **jitter**: every household of a generated set (1,000 by default), its events in event-time order except
  that each may arrive up to `--jitter` places after its turn (seeded): what a worker merging several
  partitions sees while a producer writes them unevenly;
- **long history**: one household of `--long` events (its own routine events, an hour apart, repeated), the
  last `--tail` of them arriving newest first: every one of those is late, the old path's worst case.

Events are routed by the registry's members (births and moves are left out: the order is what matters here).
Each line prints the events, how many arrived late, and the seconds both ways and with every event in order
(the better of two runs each); the final states of the three are compared byte for byte.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from bench.data import dataset
from monitor.categories import CATEGORIES
from monitor.config import Settings
from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline import profile
from monitor.pipeline.profile import HouseholdState, apply_event, encode_state, new_state
from monitor.pipeline.rules import RuleSet, load_rules
from monitor.pipeline.validate import decode_household, validate_event
from monitor.privacy import Pseudonymiser

__all__ = ["household_stories", "measure_late"]

NOW = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # (no event of a generated set is in the future)
Story = tuple[HouseholdRecord, list[Event]]


def household_stories(registry: Path, events_file: Path) -> list[Story]:
    """Each household's valid events, routed by the registry's members, in event-time order.

    (The tests of the shortcut take their households from the bundled fixtures with this too.)
    """
    records = [decode_household(line) for line in registry.read_bytes().splitlines() if line.strip()]
    home = {m.person_id: r.household_id for r in records for m in r.members}
    events: dict[str, list[Event]] = {}
    for line in events_file.read_bytes().splitlines():
        try:
            _, event = validate_event(line, now=NOW)
        except Exception:  # noqa: BLE001, S112 - the generated sets' malformed lines
            continue
        if event is None:
            continue
        household_id = event.household_id or home.get(event.person_id or "")
        if household_id:
            events.setdefault(household_id, []).append(msgspec.structs.replace(event, household_id=household_id))
    return [(r, sorted(events.get(r.household_id, ()), key=lambda e: e.key)) for r in records]


def _jittered(events: list[Event], jitter: float, rng: random.Random) -> list[Event]:
    order = sorted(range(len(events)), key=lambda i: i + rng.uniform(0, jitter))
    return [events[i] for i in order]


def _long_history(stories: list[Story], n: int) -> Story:
    """The household with the most routine (household-data) events, given `n` of them an hour apart."""
    routine = {r.household_id: [e for e in evs if CATEGORIES[e.category].stream == "household-data"]
               for r, evs in stories}
    record = max((r for r, _ in stories), key=lambda r: (len(routine[r.household_id]), r.household_id))
    own = routine[record.household_id]
    first = dt.datetime(2025, 6, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))) - dt.timedelta(hours=n)
    events = []
    for i in range(n):
        at = first + dt.timedelta(hours=i)
        events.append(msgspec.structs.replace(own[i % len(own)], event_id=f"long-{i:06d}", t=int(at.timestamp()),
                                              occurred_at=at.isoformat()))
    return record, events


def _apply(arrivals: list[tuple[HouseholdRecord, list[Event]]], rules: RuleSet,
           pseudonymiser: Pseudonymiser) -> tuple[list[HouseholdState], int]:
    states, late = [], 0
    for record, events in arrivals:
        state = new_state(record)
        for event in events:
            late += bool(state.events) and event.key < state.events[-1].key
            state = apply_event(state, event, rules, pseudonymiser).state
        states.append(state)
    return states, late


def _full_replay(state: HouseholdState, late: Event, rules: RuleSet, pseudonymiser: Pseudonymiser) -> HouseholdState:
    return profile.replay(state.record, state.events, rules, pseudonymiser, digests=state.digests)


def _both_ways(arrivals: list[tuple[HouseholdRecord, list[Event]]], rules: RuleSet,
               pseudonymiser: Pseudonymiser) -> dict[str, Any]:
    """Seconds (better of two, alternating) with the full replay, with the code as it is, and in order."""
    in_order = [(record, sorted(events, key=lambda e: e.key)) for record, events in arrivals]
    ways = (("full_replay_s", arrivals, _full_replay), ("from_late_event_s", arrivals, profile._replay_from),
            ("in_order_s", in_order, profile._replay_from))
    seconds: dict[str, list[float]] = {name: [] for name, _, _ in ways}
    finals: dict[str, list[bytes]] = {}
    late: dict[str, int] = {}
    shortcut = profile._replay_from
    for _ in range(2):
        for name, given, replay_from in ways:
            profile._replay_from = replay_from
            try:
                started = time.perf_counter()
                states, late[name] = _apply(given, rules, pseudonymiser)
                seconds[name].append(time.perf_counter() - started)
            finally:
                profile._replay_from = shortcut
            finals[name] = [encode_state(msgspec.structs.replace(s, digests=dict(sorted(s.digests.items())),
                                                                 created_by={})) for s in states]
    assert late["in_order_s"] == 0
    return {"events": sum(len(evs) for _, evs in arrivals), "late": late["from_late_event_s"],
            **{name: min(values) for name, values in seconds.items()},
            "same_states": finals["full_replay_s"] == finals["from_late_event_s"] == finals["in_order_s"]}


def measure_late(households: int, jitter: float, long: int, tail: int, seed: int = 1) -> dict[str, Any]:
    """Both arrival patterns, both ways; prints a line for each."""
    data = dataset(households, seed)
    settings = Settings.from_env()
    rules, pseudonymiser = load_rules(settings.rules_path), settings.pseudonymiser()
    stories = household_stories(data.registry, data.events_file)
    rng = random.Random(seed)
    results: dict[str, Any] = {"households": households, "jitter": jitter, "long": long, "tail": tail}
    results["jitter_run"] = _both_ways([(r, _jittered(evs, jitter, rng)) for r, evs in stories], rules, pseudonymiser)
    record, events = _long_history(stories, long)
    arrivals = events[:long - tail] + events[long - tail:][::-1]
    results["long_run"] = _both_ways([(record, arrivals)], rules, pseudonymiser)
    for name, label in (("jitter_run", f"jitter: {households:,} households, each event up to {jitter:g} places late"),
                        ("long_run", f"long history: one household of {long:,} events, the last {tail} newest first")):
        row = results[name]
        print(f"{label}: {row['events']:,} events, {row['late']:,} late; full replay {row['full_replay_s']:.2f} s, "
              f"from the late event {row['from_late_event_s']:.2f} s "
              f"({row['full_replay_s'] / row['from_late_event_s']:.1f}x); all in order {row['in_order_s']:.2f} s; "
              f"same states: {row['same_states']}")
    return results


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, measure, write the JSON results."""
    parser = argparse.ArgumentParser(prog="python -m bench.late", description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000, help="households of the jitter set")
    parser.add_argument("--jitter", type=float, default=3.0, help="how many places late an event may arrive")
    parser.add_argument("--long", type=int, default=1_000, help="events of the long-history household")
    parser.add_argument("--tail", type=int, default=50, help="its last events, arriving newest first")
    parser.add_argument("--out", type=Path, default=Path("bench/results/late.json"))
    args = parser.parse_args(argv)
    results = measure_late(args.households, args.jitter, args.long, args.tail)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    same = results["jitter_run"]["same_states"] and results["long_run"]["same_states"]
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
