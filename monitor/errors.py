"""The error tree and the fixed set of dead-letter reasons (contract §4.2)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ConfigError", "InputFileError", "InvalidEventError", "MonitorError", "RejectReason", "RuleConfigError"]


class RejectReason(StrEnum):
    """Why an input could not be applied.  The set is part of the contract; add, never rename."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_CATEGORY = "unknown_category"
    BAD_PERSON_ID = "bad_person_id"
    UNKNOWN_HOUSEHOLD = "unknown_household"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_LARGE = "too_large"
    DUPLICATE_ID_CONFLICT = "duplicate_id_conflict"
    PROCESSING_ERROR = "processing_error"


class MonitorError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(MonitorError):
    """A configuration file is wrong; the message names the file and the field."""

    def __init__(self, path: str, where: str, problem: str) -> None:
        self.path, self.where, self.problem = path, where, problem
        super().__init__(f"{path}: {where}: {problem}")


class RuleConfigError(ConfigError):
    """rules.yaml is wrong."""


class InputFileError(MonitorError):
    """A whole input file cannot be read (a bad line in a readable file is a dead letter, not this)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class InvalidEventError(MonitorError):
    """An input line that cannot be applied.  `detail` never repeats an input value."""

    def __init__(self, reason: RejectReason, detail: str, event_id: str | None = None) -> None:
        self.reason, self.detail, self.event_id = reason, detail, event_id
        super().__init__(f"{reason.value}: {detail}")
