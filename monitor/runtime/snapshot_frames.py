"""Snapshot frames: one chunk of portraits, alerts or event rows → a columnar polars frame.

Each function makes one pass per column over Python objects (plain lists, no row tuples) and leaves the
per-row work polars can do (level names, age bands, time parsing) to polars expressions. The schemas are
explicit, so every chunk of a table has the same schema whatever its values, and an empty table still has
its real column types.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter, itemgetter
from typing import Any

import msgspec
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]  # (no stubs; used for list columns only)

from monitor.pipeline.alerts import Alert
from monitor.pipeline.portrait import Portrait

__all__ = ["ALERTS", "DIMENSIONS", "EVENTS", "HOUSEHOLDS", "INDICATOR_VALUES", "MEMBERS", "alerts_frame",
           "events_frame", "households_frame", "indicator_values_frame", "members_frame"]

DIMENSIONS = ("income", "assets", "expenditure", "health_disability", "employment", "family_events")
LEVEL_NAMES = {1: "L", 2: "M", 3: "H"}
STR, F64, I64, BOOL = pl.String(), pl.Float64(), pl.Int64(), pl.Boolean()
UTC_US = pl.Datetime("us", "UTC")
STRINGS = pl.List(STR)

HOUSEHOLDS = pl.Schema({
    "household_id": STR, "region": STR, "category": STR, "member_count": I64, "score": F64, "level": STR,
    **dict.fromkeys(DIMENSIONS, F64), "income_ratio": F64, "tags": STRINGS, "needs": STRINGS, "open_alerts": I64,
    "events_applied": I64, "last_event_at": UTC_US})
INDICATOR_VALUES = pl.Schema({"household_id": STR, "indicator_id": STR, "dimension": STR, "value": F64,
                              "level": STR, "points": F64})
MEMBERS = pl.Schema({"household_id": STR, "member": STR, "relation": STR, "age_band": STR, "sex": STR,
                     "present": BOOL, "employed": BOOL, "disability_grade": pl.Int8()})
ALERTS = pl.Schema({
    "alert_id": STR, "household_id": STR, "level": STR, "rule_id": STR, "trigger_family": STR, "score": F64,
    "dimension_scores": STR, "reasons": STR, "trigger_event_id": STR, "trigger_category": STR, "subject": STR,
    "subject_masked": STR, "needs": STRINGS, "verify_by": pl.Date(), "rules_version": STR, "supersedes": STR,
    "event_time": UTC_US})
EVENTS = pl.Schema({"event_id": STR, "household_id": STR, "category": STR, "occurred_at": UTC_US})

# What `datetime.isoformat()` of an aware datetime gives; anything else is parsed by Python (see `_utc`).
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"


def households_frame(portraits: Sequence[Portrait]) -> pl.DataFrame:
    """One row per household, in the order given."""
    scores = [p.scores for p in portraits]
    dims = [s.dimensions for s in scores]
    columns: dict[str, list[Any]] = {
        "household_id": _get(portraits, "household_id"), "region": _get(portraits, "region"),
        "category": _get(portraits, "category"), "member_count": _get(portraits, "member_count"),
        "score": _get(scores, "score"), "level": _get(portraits, "level"),
        **{dim: [d.get(dim, 0.0) for d in dims] for dim in DIMENSIONS},
        "income_ratio": _get(portraits, "income_ratio"), "tags": _get(portraits, "tags"),
        "needs": _get(portraits, "needs"), "open_alerts": [len(p.open_alerts) for p in portraits],
        "events_applied": _get(portraits, "events_applied"), "last_event_at": _get(portraits, "last_event_at"),
    }
    return _frame(columns, HOUSEHOLDS, times=("last_event_at",))


def indicator_values_frame(portraits: Sequence[Portrait]) -> pl.DataFrame:
    """One row per household × reading, households in the order given, readings in their dict order."""
    readings = [p.scores.readings for p in portraits]
    flat = [r for by_id in readings for r in by_id.values()]
    columns: dict[str, list[Any]] = {
        "indicator_id": _get(flat, "indicator_id"), "dimension": _get(flat, "dimension"),
        "value": _get(flat, "value"), "level": _get(flat, "level"), "points": _get(flat, "points")}
    schema = {name: dtype for name, dtype in INDICATOR_VALUES.items() if name != "household_id"}
    frame = pl.DataFrame(columns, schema={**schema, "level": I64}).with_columns(
        pl.col("level").replace_strict(LEVEL_NAMES, return_dtype=STR))
    return frame.insert_column(0, _repeat(portraits, [len(r) for r in readings]))


def members_frame(portraits: Sequence[Portrait], pseudonym: Callable[[str], str]) -> pl.DataFrame:
    """One row per member, households in the order given; members only as pseudonyms with an age band."""
    members = [m for p in portraits for m in p.members]
    columns: dict[str, list[Any]] = {
        "member": list(map(pseudonym, _get(members, "person_id"))),
        "relation": _get(members, "relation"), "age_band": _get(members, "age"), "sex": _get(members, "sex"),
        "present": _get(members, "present"), "employed": _get(members, "employed"),
        "disability_grade": _get(members, "disability_grade")}
    age = pl.col("age_band")
    low = age // 10 * 10
    band = (pl.when(age < 18).then(pl.lit("0-17")).when(age >= 80).then(pl.lit("80+"))  # noqa: PLR2004
            .otherwise(pl.format("{}-{}", low, low + 9)))
    schema = {name: dtype for name, dtype in MEMBERS.items() if name != "household_id"}
    frame = pl.DataFrame(columns, schema={**schema, "age_band": I64}).with_columns(band.alias("age_band"))
    return frame.insert_column(0, _repeat(portraits, [len(p.members) for p in portraits]))


def alerts_frame(alerts: Sequence[Alert]) -> pl.DataFrame:
    """One row per alert, in the order given; dimension scores and reasons as JSON text."""
    triggers = _get(alerts, "trigger")
    encode = msgspec.json.encode
    columns: dict[str, list[Any]] = {
        "alert_id": _get(alerts, "alert_id"), "household_id": _get(alerts, "household_id"),
        "level": _get(alerts, "level"), "rule_id": _get(alerts, "rule_id"),
        "trigger_family": _get(alerts, "trigger_family"), "score": _get(alerts, "score"),
        "dimension_scores": [encode(a.dimension_scores).decode() for a in alerts],
        "reasons": [encode(a.reasons).decode() for a in alerts],
        "trigger_event_id": _get(triggers, "event_id"), "trigger_category": _get(triggers, "category"),
        "subject": _get(alerts, "subject"), "subject_masked": _get(alerts, "subject_masked"),
        "needs": _get(alerts, "needs"), "verify_by": _get(alerts, "verify_by"),
        "rules_version": _get(alerts, "rules_version"), "supersedes": _get(alerts, "supersedes"),
        "event_time": _get(alerts, "event_time")}
    frame = _frame(columns, {**ALERTS, "verify_by": STR}, times=("event_time",))
    verify_by = frame.get_column("verify_by")
    dates = verify_by.str.to_date("%Y-%m-%d", strict=False)
    if dates.null_count() != verify_by.null_count():
        dates = pl.Series("verify_by", [dt.date.fromisoformat(v) for v in verify_by], dtype=pl.Date())
    return frame.with_columns(dates)


def events_frame(rows: Sequence[tuple[str, str, str, str]]) -> pl.DataFrame:
    """One row per applied event (event_id, household_id, category, occurred_at), in the order given."""
    columns: dict[str, list[Any]] = {name: list(map(itemgetter(i), rows)) for i, name in enumerate(EVENTS)}
    return _frame(columns, EVENTS, times=("occurred_at",))


def _repeat(portraits: Sequence[Portrait], counts: list[int]) -> pl.Series:
    """Each household id `count` times: the household_id column of a household × item table."""
    ids = pl.DataFrame({"household_id": _get(portraits, "household_id"), "n": counts},
                       schema={"household_id": STR, "n": I64})
    return ids.filter(pl.col("n") > 0).select(pl.col("household_id").repeat_by("n")).explode("household_id") \
        .get_column("household_id")


def _get(objects: Sequence[object], name: str) -> list[Any]:
    return list(map(attrgetter(name), objects))


def _frame(columns: dict[str, list[Any]], schema: Mapping[str, pl.DataType], times: tuple[str, ...]) -> pl.DataFrame:
    """The frame, with the ISO texts of `times` parsed to UTC instants and lists of strings made list columns."""
    lists = [name for name, dtype in schema.items() if dtype == STRINGS]
    scalars = {name: dtype for name, dtype in schema.items() if name not in lists}
    frame = pl.DataFrame({name: columns[name] for name in scalars}, schema={**scalars, **dict.fromkeys(times, STR)})
    frame = frame.with_columns(*(_utc(frame.get_column(name)) for name in times),
                               *(_strings(name, columns[name]) for name in lists))
    return frame.select(schema.keys())


def _strings(name: str, lists: list[list[str]]) -> pl.Series:
    """A List(String) column from Python lists of str, via Arrow offsets: polars would build one Series per list."""
    offsets = pa.array([0, *itertools.accumulate(map(len, lists))], type=pa.int64())
    values = pa.array([item for items in lists for item in items], type=pa.large_string())
    return pl.Series(name, pa.LargeListArray.from_arrays(offsets, values), dtype=STRINGS)


def _utc(texts: pl.Series) -> pl.Series:
    """ISO 8601 texts with an offset → Datetime(us, UTC); exactly the instants `datetime.fromisoformat` gives."""
    parsed = texts.str.to_datetime(_ISO_FORMAT, time_unit="us", time_zone="UTC", strict=False)
    if parsed.null_count() == texts.null_count():
        return parsed
    # Some text polars cannot read (e.g. `Z` or no offset): Python decides, as it always did.
    return pl.Series(texts.name, [dt.datetime.fromisoformat(t).astimezone(dt.UTC) if t else None for t in texts],
                     dtype=UTC_US)
