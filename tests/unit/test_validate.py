"""Stage 1: every malformed line gets the right reason, and no detail echoes an input value."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import idnumber
from monitor.errors import InvalidEventError
from monitor.pipeline.validate import decode_household, validate_event

NOW = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
PID = idnumber.make("330102", dt.date(1980, 1, 1), 123, "M")
GOOD = {"event_id": "med-1", "category": "med_settlement", "person_id": PID,
        "occurred_at": "2024-03-01T10:00:00+08:00",
        "payload": {"total_cost": 52000.0, "fund_paid": 31000.0, "oop": 21000.0}}


def line(**changes: object) -> bytes:
    event = {**GOOD, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def reason_of(raw: bytes) -> tuple[str, str]:
    with pytest.raises(InvalidEventError) as info:
        validate_event(raw, now=NOW)
    return info.value.reason.value, info.value.detail


def test_a_good_event_validates_with_time_and_digest() -> None:
    _, event = validate_event(line(), now=NOW)
    assert event is not None
    assert event.t == int(dt.datetime(2024, 3, 1, 2, tzinfo=dt.UTC).timestamp())
    assert event.person_id == PID and event.household_id == ""


CASES = [
    (b"{not json", "invalid_json"),
    (b"[1, 2, 3]", "not_an_object"),
    (line(event_id=...), "missing_field"),
    (line(occurred_at=...), "missing_field"),
    (line(payload={"total_cost": "52000", "fund_paid": 1.0, "oop": 1.0}), "bad_type"),
    (line(payload={"total_cost": -1.0, "fund_paid": 1.0, "oop": 1.0}), "out_of_range"),
    (line(category="med_unknown"), "unknown_category"),
    (line(person_id=PID[:17] + ("0" if PID[17] != "0" else "1")), "bad_person_id"),
    (line(occurred_at="2099-01-01T00:00:00+08:00"), "future_timestamp"),
    (line(occurred_at="2024-03-01T10:00:00"), "bad_type"),
    (line(payload={"total_cost": 1.0, "fund_paid": 1.0, "oop": 1.0, "note": "x" * 70_000}), "too_large"),
    (b"\xef\xbb\xbf" + line(), "invalid_json"),
    (b'{"a":' * 2000 + b"1" + b"}" * 2000, "invalid_json"),
    (line(payload={"total_cost": float("nan"), "fund_paid": 1.0, "oop": 1.0}), "invalid_json"),
    (line(person_id=None, household_id=None), "missing_field"),
    (line(household_id="H1101050000001\n"), "bad_type"),  # "$" of a regex would let the newline in
    (line(event_id="med-1\n"), "bad_type"),
    (line(category="dis_certificate", payload={"change": "upgraded", "category": "visual", "grade": 2}),
     "bad_type"),
]


@pytest.mark.parametrize(("raw", "reason"), CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_malformed_lines_get_their_reason(raw: bytes, reason: str) -> None:
    got, detail = reason_of(raw)
    assert got == reason
    assert PID not in detail and "52000" not in detail and "upgraded" not in detail


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_an_unexpected_exception(raw: bytes) -> None:
    try:
        validate_event(raw, now=NOW)
    except InvalidEventError:
        pass


@pytest.mark.parametrize("region", ["110105\n", "\u0661\u0661\u0660\u0661\u0660\u0665", "11010"])
def test_a_registry_record_with_a_malformed_region_is_rejected(region: str) -> None:
    record = {"household_id": "H1101050000001", "region": region, "category": "dibao", "members": [
        {"person_id": PID, "relation": "head", "birth_date": "1980-01-01", "sex": "M", "work_capable": True,
         "employed": False, "monthly_income": 0.0, "disability": None, "chronic": False}]}
    good = dict(record, region="110105")
    assert decode_household(json.dumps(good).encode()).region == "110105"
    with pytest.raises(InvalidEventError):
        decode_household(json.dumps(record).encode())
