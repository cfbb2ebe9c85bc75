"""The analyst snapshot (contract §4.3): one DuckDB file, built in bulk from polars frames.

It is written to a temporary name and renamed into place, so a reader never sees half a snapshot.
Column allowlist: household ids, region codes, scores, levels, indicator values, event ids and
categories, alert fields; member references only as analyst-key pseudonyms with an age band.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
import msgspec
import polars as pl

from indicators import REGISTRY
from monitor.model import CST
from monitor.pipeline.alerts import Alert
from monitor.pipeline.anomalies import Anomaly
from monitor.pipeline.portrait import Portrait
from monitor.privacy import Pseudonymiser, Purpose

__all__ = ["SNAPSHOT_TABLES", "open_read_only", "write_snapshot"]

SNAPSHOT_TABLES = ("households", "indicator_values", "alerts", "events", "indicators", "members", "snapshot_meta",
                   "deadletters", "anomalies")
DIMENSIONS = ("income", "assets", "expenditure", "health_disability", "employment", "family_events")
LEVEL_NAMES = {1: "L", 2: "M", 3: "H"}


def _age_band(age: int) -> str:
    if age < 18:
        return "0-17"
    if age >= 80:
        return "80+"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def _frames(portraits: Sequence[Portrait], alerts: Sequence[Alert], events: Iterable[tuple[str, str, str, str]],
            pseudonymiser: Pseudonymiser) -> dict[str, pl.DataFrame]:
    households = pl.DataFrame(
        {
            "household_id": [p.household_id for p in portraits],
            "region": [p.region for p in portraits],
            "category": [p.category for p in portraits],
            "member_count": [p.member_count for p in portraits],
            "score": [p.scores.score for p in portraits],
            "level": [p.level for p in portraits],
            **{dim: [p.scores.dimensions.get(dim, 0.0) for p in portraits] for dim in DIMENSIONS},
            "income_ratio": [p.income_ratio for p in portraits],
            "tags": [p.tags for p in portraits],
            "needs": [p.needs for p in portraits],
            "open_alerts": [len(p.open_alerts) for p in portraits],
            "events_applied": [p.events_applied for p in portraits],
            "last_event_at": [_ts(p.last_event_at) for p in portraits],
        },
        schema_overrides={"tags": pl.List(pl.String), "needs": pl.List(pl.String),
                          "last_event_at": pl.Datetime("us", "UTC")},
    )
    rows = [(p.household_id, r.indicator_id, r.dimension, r.value, LEVEL_NAMES[r.level], r.points)
            for p in portraits for r in p.scores.readings.values()]
    indicator_values = pl.DataFrame(rows, schema={"household_id": pl.String, "indicator_id": pl.String,
                                                  "dimension": pl.String, "value": pl.Float64, "level": pl.String,
                                                  "points": pl.Float64}, orient="row")
    members = pl.DataFrame(
        [(p.household_id, pseudonymiser.pseudonym(m.person_id, Purpose.ANALYST), m.relation, _age_band(m.age),
          m.sex, m.present, m.employed, m.disability_grade) for p in portraits for m in p.members],
        schema={"household_id": pl.String, "member": pl.String, "relation": pl.String, "age_band": pl.String,
                "sex": pl.String, "present": pl.Boolean, "employed": pl.Boolean, "disability_grade": pl.Int8},
        orient="row")
    alert_rows = [msgspec.to_builtins(a) for a in alerts]
    alerts_df = pl.DataFrame(
        {
            "alert_id": [a["alert_id"] for a in alert_rows],
            "household_id": [a["household_id"] for a in alert_rows],
            "level": [a["level"] for a in alert_rows],
            "rule_id": [a["rule_id"] for a in alert_rows],
            "trigger_family": [a["trigger_family"] for a in alert_rows],
            "score": [a["score"] for a in alert_rows],
            "dimension_scores": [msgspec.json.encode(a["dimension_scores"]).decode() for a in alert_rows],
            "reasons": [msgspec.json.encode(a["reasons"]).decode() for a in alert_rows],
            "trigger_event_id": [a["trigger"]["event_id"] for a in alert_rows],
            "trigger_category": [a["trigger"]["category"] for a in alert_rows],
            "subject": [a["subject"] for a in alert_rows],
            "subject_masked": [a["subject_masked"] for a in alert_rows],
            "needs": [a["needs"] for a in alert_rows],
            "verify_by": [dt.date.fromisoformat(a["verify_by"]) for a in alert_rows],
            "rules_version": [a["rules_version"] for a in alert_rows],
            "supersedes": [a["supersedes"] for a in alert_rows],
            "event_time": [_ts(a["event_time"]) for a in alert_rows],
        },
        schema_overrides={"needs": pl.List(pl.String), "event_time": pl.Datetime("us", "UTC"),
                          "verify_by": pl.Date, "subject": pl.String, "subject_masked": pl.String,
                          "supersedes": pl.String},
    )
    event_rows = list(events)
    events_df = pl.DataFrame(
        {"event_id": [e[0] for e in event_rows], "household_id": [e[1] for e in event_rows],
         "category": [e[2] for e in event_rows], "occurred_at": [_ts(e[3]) for e in event_rows]},
        schema_overrides={"occurred_at": pl.Datetime("us", "UTC")},
    )
    catalogue = pl.DataFrame(
        {"indicator_id": [i.id for i in REGISTRY], "dimension": [i.dimension.value for i in REGISTRY],
         "name_zh": [i.name_zh for i in REGISTRY], "name_en": [i.name_en for i in REGISTRY],
         "inputs": [sorted(i.inputs) for i in REGISTRY], "headline": [i.headline is not None for i in REGISTRY]},
        schema_overrides={"inputs": pl.List(pl.String)},
    )
    return {"households": households, "indicator_values": indicator_values, "alerts": alerts_df,
            "events": events_df, "indicators": catalogue, "members": members}


def _ts(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC) if text else None


def write_snapshot(path: Path, portraits: Sequence[Portrait], alerts: Sequence[Alert],
                   events: Iterable[tuple[str, str, str, str]], pseudonymiser: Pseudonymiser, *,
                   rules_version: str, weights: dict[str, float], dead_letters: Sequence[dict[str, object]],
                   as_of: int, events_applied: int, anomalies: Sequence[Anomaly] = ()) -> str:
    """Write the snapshot atomically; returns its snapshot_id."""
    frames = _frames(portraits, alerts, events, pseudonymiser)
    frames["anomalies"] = pl.DataFrame(
        [msgspec.to_builtins(a) for a in anomalies] or None,
        schema={f: pl.String for f in Anomaly.__struct_fields__}, orient="row")
    frames["indicators"] = frames["indicators"].with_columns(
        pl.col("indicator_id").replace_strict(weights, return_dtype=pl.Float64).alias("weight"))
    frames["deadletters"] = pl.DataFrame(
        {"reason": [str(d["reason"]) for d in dead_letters], "detail": [str(d["detail"]) for d in dead_letters],
         "event_id": [d.get("event_id") for d in dead_letters],
         "source": [msgspec.json.encode(d["source"]).decode() for d in dead_letters]},
        schema={"reason": pl.String, "detail": pl.String, "event_id": pl.String, "source": pl.String})
    created_at = dt.datetime.now(dt.UTC)
    snapshot_id = hashlib.sha256(f"{rules_version}|{as_of}|{len(portraits)}|{created_at.isoformat()}".encode()) \
        .hexdigest()[:16]
    frames["snapshot_meta"] = pl.DataFrame({
        "snapshot_id": [snapshot_id], "created_at": [created_at], "rules_version": [rules_version],
        "as_of": [dt.datetime.fromtimestamp(as_of, CST).astimezone(dt.UTC)],
        "events_applied": [events_applied], "events_dead_lettered": [len(dead_letters)],
        "households": [len(portraits)], "alerts": [len(alerts)],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        for name, frame in frames.items():
            con.register("frame", frame.to_arrow())
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame')  # noqa: S608 - our own table names
            con.unregister("frame")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp.replace(path)
    return snapshot_id


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """How analysts should open a snapshot: read-only, no file or network access from SQL."""
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
