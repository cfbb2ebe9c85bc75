"""Malformed input lines, spliced into events.jsonl at fixed pseudo-random line numbers.

`bad_lines` dead-letter lines cycle through thirteen kinds, each with the reason the engine must give
(contract §4.2).  After every cycle of thirteen (and after a partial last cycle) comes one extra line that
is an exact byte-for-byte duplicate of an earlier valid line: it is not bad (the engine applies the event
once and dead-letters nothing), so it is not in expected_deadletters.json and not counted in `bad_lines`.
Every malformed line is built from a valid line just before it, so it looks like real traffic, and gets
an event id of its own (`{prefix}-bad-{n:06d}`), except the conflicting duplicate, which reuses the id of
an earlier valid line with a different payload.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import deque
from typing import Any

import orjson

from monitor import idnumber

__all__ = ["KINDS", "BadLines"]

# (kind, expected dead-letter reason)
KINDS: tuple[tuple[str, str], ...] = (
    ("truncated_json", "invalid_json"),
    ("json_array", "not_an_object"),
    ("missing_event_id", "missing_field"),
    ("missing_occurred_at", "missing_field"),
    ("amount_as_string", "bad_type"),
    ("negative_amount", "out_of_range"),
    ("unknown_category", "unknown_category"),
    ("bad_check_character", "bad_person_id"),
    ("unknown_household", "unknown_household"),
    ("year_2099", "future_timestamp"),
    ("oversize_line", "too_large"),
    ("no_utc_offset", "bad_type"),
    ("conflicting_duplicate", "duplicate_id_conflict"),
)
EXACT_DUPLICATE = "exact_duplicate"
OVERSIZE = 70_000               # bytes of padding: the line exceeds the 64 KiB limit


def _sequence(bad: int) -> list[str]:
    kinds: list[str] = []
    for i in range(bad):
        kinds.append(KINDS[i % len(KINDS)][0])
        if i % len(KINDS) == len(KINDS) - 1 or i == bad - 1:
            kinds.append(EXACT_DUPLICATE)
    return kinds


class BadLines:
    """Plans the malformed lines for a file of `valid` events and builds them on demand."""

    def __init__(self, bad: int, valid: int, seed: int) -> None:
        kinds = _sequence(bad)
        if kinds and valid < 1:
            msg = "bad_lines needs at least one valid event to derive malformed lines from"
            raise ValueError(msg)
        total = valid + len(kinds)
        rng = random.Random(f"{seed}:bad-lines")
        lines = sorted(rng.sample(range(2, total + 1), len(kinds))) if kinds else []
        self._plan = list(zip(lines, kinds, strict=True))
        self._at = 0
        self._used: set[str] = set()       # event ids already duplicated (conflict or exact)
        self.expected: list[dict[str, Any]] = []
        self.duplicates = 0
        self._reason = dict(KINDS)

    def next_line(self) -> int | None:
        """1-based line number of the next planned line."""
        return self._plan[self._at][0] if self._at < len(self._plan) else None

    def make(self, line: int, recent: deque[bytes]) -> bytes:
        """Build the planned line `line` from the recent valid lines."""
        planned, kind = self._plan[self._at]
        assert planned == line
        self._at += 1
        if kind == EXACT_DUPLICATE:
            raw = self._pick(recent, lambda e: e["event_id"] not in self._used)[1]
            self._used.add(orjson.loads(raw)["event_id"])
            self.duplicates += 1
            return raw
        event_id, raw = self._build(kind, recent)
        self.expected.append({"line": line, "reason": self._reason[kind], "kind": kind, "event_id": event_id})
        return raw

    # -- construction ------------------------------------------------------------------------------------------
    @staticmethod
    def _pick(recent: deque[bytes], test: Any = None) -> tuple[dict[str, Any], bytes]:
        """The most recent valid line passing `test` (else the most recent one), decoded and raw."""
        for raw in reversed(recent):
            event = orjson.loads(raw)
            if test is None or test(event):
                return event, raw
        return orjson.loads(recent[-1]), recent[-1]

    def _fresh_id(self, event: dict[str, Any]) -> str:
        return f"{event['event_id'].split('-')[0]}-bad-{len(self.expected) + 1:06d}"

    def _build(self, kind: str, recent: deque[bytes]) -> tuple[str | None, bytes]:
        if kind == "conflicting_duplicate":
            event, _ = self._pick(recent, lambda e: e["event_id"] not in self._used and _tweakable(e["payload"]))
            self._used.add(event["event_id"])
            event["payload"] = _tweak(event["payload"])
            return event["event_id"], orjson.dumps(event)
        event, _ = self._pick(recent, lambda e: "person_id" in e)
        event = dict(event, event_id=self._fresh_id(event))
        if kind == "truncated_json":
            raw = orjson.dumps(event)
            return event["event_id"], raw[: len(raw) // 2]
        if kind == "json_array":
            return event["event_id"], orjson.dumps([event])
        if kind == "missing_event_id":
            del event["event_id"]
            return None, orjson.dumps(event)
        if kind == "missing_occurred_at":
            del event["occurred_at"]
        elif kind in ("amount_as_string", "negative_amount"):
            event["category"], event["source_dept"] = "med_settlement", "yibao"
            event["event_id"] = "med" + event["event_id"][event["event_id"].index("-"):]
            oop: object = "2100.00" if kind == "amount_as_string" else -2100.0
            event["payload"] = {"total_cost": 5200.0, "fund_paid": 3100.0, "oop": oop, "inpatient": False}
        elif kind == "unknown_category":
            event["category"] = "hlth_dental_claim"
        elif kind == "bad_check_character":
            pid = event.get("person_id") or idnumber.make("330102", _date(event), 1, "M")
            right = idnumber.check_character(pid[:17])
            event["person_id"] = pid[:17] + "0123456789X"[("0123456789X".index(right) + 3) % 11]
            event.pop("household_id", None)
        elif kind == "unknown_household":
            event = {"event_id": "ut" + event["event_id"][event["event_id"].index("-"):],
                     "category": "ut_utility_arrears", "household_id": f"H000000{len(self.expected) + 1:07d}",
                     "occurred_at": event["occurred_at"], "reported_at": event["reported_at"],
                     "source_dept": "utility", "payload": {"months": 2, "amount": 260.0}}
        elif kind == "year_2099":
            event["occurred_at"] = "2099" + event["occurred_at"][4:]
            event["reported_at"] = "2099" + event["reported_at"][4:]
        elif kind == "oversize_line":
            event["payload"] = dict(event["payload"], attachment="A" * OVERSIZE)
        elif kind == "no_utc_offset":
            event["occurred_at"] = event["occurred_at"][:19]
        return event["event_id"], orjson.dumps(event)


def _date(event: dict[str, Any]) -> dt.date:
    return dt.date.fromisoformat(event["occurred_at"][:10])


def _tweakable(payload: dict[str, Any]) -> bool:
    return any(isinstance(v, float | bool) for v in payload.values())


def _tweak(payload: dict[str, Any]) -> dict[str, Any]:
    """The same payload with its first amount changed (or its first flag flipped): a different version."""
    out = dict(payload)
    for key, value in payload.items():
        if isinstance(value, float):
            out[key] = float(round(value * 1.5 + 100))
            return out
    for key, value in payload.items():
        if isinstance(value, bool):
            out[key] = not value
            return out
    return out
