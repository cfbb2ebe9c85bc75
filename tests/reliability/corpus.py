"""The poison corpus (reliability.md §2.2 F7-F11): malformed lines of every kind, each with the reason
the engine must give it.  Built from a valid event so that exactly one thing is wrong with each line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

# kind -> (function of a valid event dict and a serial number -> raw bytes, expected reason)
Maker = Callable[[dict[str, Any], int], bytes]


def _dump(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def _with(event: dict[str, Any], n: int, **changes: Any) -> dict[str, Any]:
    out = {**event, "event_id": f"poison-{n:06d}", **changes}
    return {k: v for k, v in out.items() if v is not ...}


def _bad_checksum(pid: str) -> str:
    return pid[:17] + ("0" if pid[17] != "0" else "1")


KINDS: dict[str, tuple[Maker, str]] = {
    "truncated_json": (lambda e, n: _dump(_with(e, n))[:-7], "invalid_json"),
    "bad_utf8": (lambda e, n: _dump(_with(e, n)).replace(b'"category"', b'"\xff\xfecategory"'), "invalid_json"),
    "bom": (lambda e, n: b"\xef\xbb\xbf" + _dump(_with(e, n)), "invalid_json"),
    "nan": (lambda e, n: _dump(_with(e, n)).replace(b'"occurred_at"', b'"nan_field": NaN, "occurred_at"'),
            "invalid_json"),
    "lone_surrogate": (lambda e, n: _dump(_with(e, n, source_dept="\\ud800")).replace(b"\\\\ud800", b"\\ud800"),
                       "invalid_json"),
    "deep_nesting": (lambda e, n: b'{"event_id": "poison-%06d", "payload": ' % n + b'{"a":' * 1000 + b"1"
                     + b"}" * 1000 + b"}", "invalid_json"),
    "array": (lambda e, n: _dump([_with(e, n)]), "not_an_object"),
    "string": (lambda e, n: b'"just a string"', "not_an_object"),
    "missing_event_id": (lambda e, n: _dump(_with(e, n, event_id=...)), "missing_field"),
    "missing_category": (lambda e, n: _dump(_with(e, n, category=...)), "missing_field"),
    "missing_time": (lambda e, n: _dump(_with(e, n, occurred_at=...)), "missing_field"),
    "wrong_type_time": (lambda e, n: _dump(_with(e, n, occurred_at=20240301)), "bad_type"),
    "naive_time": (lambda e, n: _dump(_with(e, n, occurred_at="2024-03-01T10:00:00")), "bad_type"),
    "event_id_number": (lambda e, n: _dump(_with(e, n, event_id=n)), "bad_type"),
    "zero_width_id": (lambda e, n: _dump(_with(e, n, event_id=f"poison\u200b{n}")), "bad_type"),
    "unknown_category": (lambda e, n: _dump(_with(e, n, category="med_teleportation")), "unknown_category"),
    "bad_checksum": (lambda e, n: _dump(_with(e, n, person_id=_bad_checksum(e["person_id"]))), "bad_person_id"),
    "short_id": (lambda e, n: _dump(_with(e, n, person_id=e["person_id"][:15])), "bad_person_id"),
    "future": (lambda e, n: _dump(_with(e, n, occurred_at="2099-01-01T00:00:00+08:00")), "future_timestamp"),
    "too_large": (lambda e, n: _dump(_with(e, n, source_dept="x" * 70_000)), "too_large"),
    "unknown_household": (lambda e, n: _dump(_with(e, n, household_id="H9999999999999")), "unknown_household"),
    "payload_wrong_type": (lambda e, n: _dump(_with(e, n, payload={"monthly_amount": "300"})), "bad_type"),
    "payload_negative": (lambda e, n: _dump(_with(e, n, payload={"monthly_amount": -300.0})), "out_of_range"),
    "payload_missing": (lambda e, n: _dump(_with(e, n, payload={})), "missing_field"),
    "no_subject": (lambda e, n: _dump(_with(e, n, person_id=None, household_id=None)), "missing_field"),
}


def poison(template: dict[str, Any], count: int) -> Iterator[tuple[bytes, str, str]]:
    """`count` malformed lines cycling through every kind: (raw, kind, expected reason).

    `template` is a valid hr_pension_payment event of a registered person.
    """
    kinds = list(KINDS)
    for n in range(count):
        kind = kinds[n % len(kinds)]
        maker, reason = KINDS[kind]
        yield maker(template, n), kind, reason
