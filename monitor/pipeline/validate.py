"""Stage 1: raw bytes → a validated `Event` or registry record, or an `InvalidEventError` with a reason.

msgspec decodes and type-checks in one pass; its messages name only the path and the expectation,
never the input value, which is why `detail` can go into a dead letter as is (after one more scrub
of quoted literals).  Semantic checks follow: category, GB 11643 person ids, offsets, future times.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any, cast

import msgspec

from monitor import idnumber
from monitor.categories import CATEGORIES
from monitor.errors import InvalidEventError, RejectReason
from monitor.model import Event
from monitor.payloads import (
    HOUSEHOLD_ID_CHARACTER,
    HOUSEHOLD_ID_MAX_LENGTH,
    PAYLOAD_TYPES,
    HouseholdRecord,
    Payload,
)

__all__ = ["MAX_EVENT_BYTES", "Envelope", "decode_envelope", "decode_household", "validate_event"]

MAX_EVENT_BYTES = 64 * 1024
_ID = msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+\Z")


class Envelope(msgspec.Struct, frozen=True):
    """The event envelope of contract §3.2, before the payload is checked against its category."""

    event_id: Any
    category: str
    occurred_at: dt.datetime
    person_id: str | None = None
    household_id: str | None = None
    reported_at: dt.datetime | None = None
    source_dept: str | None = None
    payload: msgspec.Raw = msgspec.Raw(b"{}")
    version: int | None = None


_envelope_decoder = msgspec.json.Decoder(Envelope)
_household_decoder = msgspec.json.Decoder(HouseholdRecord)
_payload_decoders = {cat: msgspec.json.Decoder(cls) for cat, cls in PAYLOAD_TYPES.items()}
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_AT = re.compile(r" - at `([^`]*)`")
# The registry's household_id rule, used with fullmatch: "$" would let a trailing newline in.
_HOUSEHOLD_ID = re.compile(f"{HOUSEHOLD_ID_CHARACTER}{{1,{HOUSEHOLD_ID_MAX_LENGTH}}}")
_ID_CHARACTERS = re.compile(r"[A-Za-z0-9_.:\-]*")  # str.isalnum on ASCII is exactly A-Z a-z 0-9


def _reason(exc: Exception, prefix: str = "") -> InvalidEventError:
    """Turn a msgspec error into a reason and a detail that repeats no input value."""
    if isinstance(exc, RecursionError):
        return InvalidEventError(RejectReason.INVALID_JSON, "JSON nested too deeply")
    if not isinstance(exc, msgspec.ValidationError):
        return InvalidEventError(RejectReason.INVALID_JSON, "not valid UTF-8 JSON")
    message = str(exc)
    at = _AT.search(message)
    path = (at.group(1) if at else "$").replace("$", prefix or "$", 1)
    problem = _QUOTED.sub("…", _AT.sub("", message)).strip()
    if message.startswith("Object missing required field"):
        field = message.split("`")[1]
        return InvalidEventError(RejectReason.MISSING_FIELD, f"missing field `{field}` at {path}")
    if path in ("$", prefix) and "Expected `object`" in message:
        return InvalidEventError(RejectReason.NOT_AN_OBJECT, "the line is JSON but not an object")
    if any(word in message for word in (">=", "<=", "> ", "< ", "length")):
        return InvalidEventError(RejectReason.OUT_OF_RANGE, f"{problem} at {path}")
    return InvalidEventError(RejectReason.BAD_TYPE, f"{problem} at {path}")


def decode_envelope(raw: bytes) -> Envelope:
    """Size check and envelope decode; raises InvalidEventError."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEventError(RejectReason.TOO_LARGE, f"line is over {MAX_EVENT_BYTES} bytes")
    try:
        # msgspec skips the bytes of keys it does not know without checking them; the line must be UTF-8 whole.
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEventError(RejectReason.INVALID_JSON, "not valid UTF-8 JSON") from None
    try:
        return _envelope_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _reason(exc) from None


def _check_person(person_id: str | None) -> str | None:
    if person_id is None:
        return None
    normalised = idnumber.normalise(person_id)
    problem = idnumber.problem(normalised)
    if problem is not None:
        raise InvalidEventError(RejectReason.BAD_PERSON_ID, problem)
    return normalised


def _check_time(value: dt.datetime, field: str, now: dt.datetime | None, skew: dt.timedelta) -> int:
    if value.tzinfo is None:
        raise InvalidEventError(RejectReason.BAD_TYPE, f"{field} must be RFC 3339 with a UTC offset")
    if now is not None and value > now + skew:
        raise InvalidEventError(RejectReason.FUTURE_TIMESTAMP, f"{field} is later than the receive time allows")
    return int(value.timestamp())


def validate_event(raw: bytes, *, now: dt.datetime | None = None,
                   skew: dt.timedelta = dt.timedelta(minutes=5)) -> tuple[Envelope, Event | None]:
    """Validate one event line.  Returns the envelope and the Event with `household_id` possibly unset ("").

    Routing (filling in the household) is the router's job; everything else is checked here.
    Raises InvalidEventError, with `event_id` set whenever the envelope got that far.
    """
    envelope = decode_envelope(raw)
    event_id = envelope.event_id
    if not isinstance(event_id, str) or not (1 <= len(event_id) <= 128) or not _valid_id(event_id):
        raise InvalidEventError(RejectReason.BAD_TYPE, "event_id must be a string of 1-128 id characters")
    try:
        if envelope.category not in CATEGORIES:
            raise InvalidEventError(RejectReason.UNKNOWN_CATEGORY, "category is not one of the 48 data categories")
        try:
            payload = _payload_decoders[envelope.category].decode(envelope.payload)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise _reason(exc, "$.payload") from None
        t = _check_time(envelope.occurred_at, "occurred_at", now, skew)
        if envelope.reported_at is not None and envelope.reported_at.tzinfo is None:
            raise InvalidEventError(RejectReason.BAD_TYPE, "reported_at must be RFC 3339 with a UTC offset")
        person_id = _check_person(envelope.person_id)
        household_id = envelope.household_id
        if household_id is not None and not _HOUSEHOLD_ID.fullmatch(household_id):
            raise InvalidEventError(RejectReason.BAD_TYPE, "household_id must be 1-64 id characters")
        if isinstance(payload, HouseholdRecord):
            _check_household(payload)
            household_id = payload.household_id
        if person_id is None and household_id is None:
            raise InvalidEventError(RejectReason.MISSING_FIELD, "an event needs a person_id or a household_id")
    except InvalidEventError as exc:
        exc.event_id = event_id
        raise
    digest = hashlib.blake2b(
        msgspec.json.encode([envelope.category, t, person_id, household_id, payload]), digest_size=10
    ).hexdigest()
    event = Event(event_id, envelope.category, t, envelope.occurred_at.isoformat(), person_id,
                  household_id or "", envelope.source_dept, cast(Payload, payload), digest)
    return envelope, event


def _valid_id(value: str) -> bool:
    return _ID_CHARACTERS.fullmatch(value) is not None


def _check_household(record: HouseholdRecord) -> None:
    seen: set[str] = set()
    for index, member in enumerate(record.members):
        problem = idnumber.problem(idnumber.normalise(member.person_id))
        if problem is not None:
            raise InvalidEventError(RejectReason.BAD_PERSON_ID, f"member {index}: {problem}")
        if member.person_id in seen:
            raise InvalidEventError(RejectReason.OUT_OF_RANGE, f"member {index}: person listed twice")
        seen.add(member.person_id)


def decode_household(raw: bytes) -> HouseholdRecord:
    """Validate one registry line (contract §3.1); raises InvalidEventError."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEventError(RejectReason.TOO_LARGE, f"line is over {MAX_EVENT_BYTES} bytes")
    try:
        record = _household_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _reason(exc) from None
    _check_household(record)
    return record
