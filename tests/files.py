"""Input files the tests build: the fixture lines that are objects, and those rows written back as JSON lines
or as Parquet."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["fat_household", "objects", "write_jsonl", "write_text_parquet"]

ROOT = Path(__file__).resolve().parent.parent


def objects(path: Path) -> list[dict[str, Any]]:
    """The lines of a JSON-lines file that are JSON objects (the bad lines of the fixtures left out)."""
    found = []
    for raw in path.read_bytes().splitlines():
        try:
            row = json.loads(raw)
        except ValueError:
            continue
        if isinstance(row, dict):
            found.append(row)
    return found


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSON lines; returns the path."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_text_parquet(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write rows as Parquet with every column text (a payload as JSON text); returns the rows as the JSON
    objects that file stands for: any other non-text value written as its JSON text, as in the file.

    Every column text lets one file carry all 48 categories, and keeps the fixtures' bad lines (a number where
    a string belongs) as bad as they were.
    """
    columns = sorted({key for row in rows for key in row})
    as_text = [{key: value if isinstance(value, str) or value is None else json.dumps(value, ensure_ascii=False)
                for key, value in row.items()} for row in rows]
    pl.DataFrame({c: [row.get(c) for row in as_text] for c in columns},
                 schema=dict.fromkeys(columns, pl.String)).write_parquet(path)
    return [{key: row[key] if key == "payload" else value for key, value in text.items()}
            for row, text in zip(rows, as_text, strict=True)]


def fat_household(out: Path, events: int) -> tuple[Path, Path]:
    """One fixture household with `events` events, an hour apart (reliability.md F17, the fat household).

    The events repeat the household's own routine events (the `household-data` stream only, so that on Kafka
    they reach it in order from one partition) under new ids and times. Returns (registry file, events file).
    """
    from monitor.categories import CATEGORIES

    records = {r["household_id"]: r for r in objects(ROOT / "fixtures" / "households.jsonl")}
    routine: dict[str, list[dict[str, Any]]] = {}
    for row in objects(ROOT / "fixtures" / "events.jsonl"):
        spec = CATEGORIES.get(row.get("category"))  # type: ignore[arg-type]
        if row.get("household_id") in records and spec is not None and spec.stream == "household-data":
            routine.setdefault(row["household_id"], []).append(row)
    household_id = max(sorted(routine), key=lambda h: len(routine[h]))
    first = dt.datetime(2025, 6, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))) - dt.timedelta(hours=events)
    rows = []
    for i in range(events):
        at = first + dt.timedelta(hours=i)
        rows.append({**routine[household_id][i % len(routine[household_id])], "event_id": f"fat-{i:06d}",
                     "occurred_at": at.isoformat(), "reported_at": (at + dt.timedelta(hours=1)).isoformat()})
    out.mkdir(parents=True, exist_ok=True)
    return write_jsonl(out / "households.jsonl", [records[household_id]]), write_jsonl(out / "events.jsonl", rows)
