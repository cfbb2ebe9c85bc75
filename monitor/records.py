"""Output record shapes shared by both runtimes: alert lines and dead-letter lines (contract §4.1, §4.2).

Pure functions from core values to JSON-ready dicts; the runtimes decide where the bytes go.
`emitted_at` and `received_at` are the only wall-clock fields, and nothing downstream decides on them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec

from monitor.errors import InvalidEventError, RejectReason
from monitor.pipeline.alerts import Alert

__all__ = ["alert_record", "dead_letter", "encode_line", "utc_now_text"]

_json = msgspec.json.Encoder()


def utc_now_text() -> str:
    """Wall-clock time for emitted_at / received_at (informational only)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def alert_record(alert: Alert, emitted_at: str) -> dict[str, Any]:
    """The alert as the feed carries it: the core fields plus `emitted_at`."""
    record: dict[str, Any] = msgspec.to_builtins(alert)
    record["emitted_at"] = emitted_at
    return record


def dead_letter(error: InvalidEventError | RejectReason, raw: bytes, source: dict[str, Any], received_at: str,
                detail: str | None = None, event_id: str | None = None) -> dict[str, Any]:
    """One dead-letter record.  `detail` comes from our own messages, which never echo input values."""
    if isinstance(error, InvalidEventError):
        reason, detail, event_id = error.reason, error.detail, error.event_id if event_id is None else event_id
    else:
        reason = error
    return {
        "reason": reason.value, "detail": detail or reason.value, "event_id": event_id, "source": source,
        "raw_sha256": hashlib.sha256(raw).hexdigest(), "received_at": received_at,
    }


def encode_line(record: Any) -> bytes:
    """One JSON line."""
    return _json.encode(record) + b"\n"
