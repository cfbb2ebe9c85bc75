"""`monitor profile HOUSEHOLD_ID`: one household's 一户一画像 in the terminal, read from a snapshot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monitor.runtime.snapshot import DIMENSIONS, open_read_only

__all__ = ["show_profile"]


def show_profile(snapshot: Path, household_id: str) -> int:
    """Print the profile; exit 1 when the household is not in the snapshot, 2 when there is no snapshot."""
    if not snapshot.is_file():
        print(f"monitor profile: error: {snapshot}: no snapshot (run `monitor run` first)", file=sys.stderr)
        return 2
    con = open_read_only(snapshot)
    row = con.execute("SELECT * FROM households WHERE household_id = ?", [household_id]).fetchone()
    if row is None:
        print(f"monitor profile: household {household_id} is not in {snapshot}", file=sys.stderr)
        return 1
    cols = [d[0] for d in con.description]
    h = dict(zip(cols, row, strict=True))
    console = Console(width=110)
    console.print(f"[bold]{household_id}[/bold]  region {h['region']}  category {h['category']}  "
                  f"members {h['member_count']}  r = {h['income_ratio']:.2f} x dibao")
    console.print(f"score [bold]{h['score']:.1f}[/bold]  level [bold]{h['level']}[/bold]  "
                  f"tags: {', '.join(h['tags']) or '-'}  needs: {', '.join(h['needs']) or '-'}")
    dims = Table(title="Dimension scores")
    for dim in DIMENSIONS:
        dims.add_column(dim)
    dims.add_row(*(f"{h[d]:.0f}" for d in DIMENSIONS))
    members = Table(title="Members (pseudonymised)")
    for column in ("member", "relation", "age", "sex", "present", "employed", "disability grade"):
        members.add_column(column)
    for m in con.execute("SELECT member, relation, age_band, sex, present, employed, disability_grade FROM members "
                         "WHERE household_id = ? ORDER BY relation, member", [household_id]).fetchall():
        members.add_row(m[0][:14] + "…", m[1], m[2], m[3], "yes" if m[4] else "no", "yes" if m[5] else "no",
                        str(m[6] or "-"))
    indicators = Table(title="Contributing indicators")
    for column in ("indicator", "dimension", "level", "value", "name"):
        indicators.add_column(column)
    for r in con.execute("SELECT v.indicator_id, v.dimension, v.level, v.value, i.name_zh FROM indicator_values v "
                         "JOIN indicators i USING (indicator_id) WHERE household_id = ? "
                         "ORDER BY v.points DESC, v.indicator_id", [household_id]).fetchall():
        indicators.add_row(r[0], r[1], r[2], f"{r[3]:g}", r[4])
    alerts = Table(title="Alerts")
    for column in ("event time", "level", "rule", "family", "verify by", "reasons"):
        alerts.add_column(column)
    for a in con.execute("SELECT event_time, level, rule_id, trigger_family, verify_by, reasons FROM alerts "
                         "WHERE household_id = ? ORDER BY event_time", [household_id]).fetchall():
        reasons = ", ".join(r["indicator_id"] for r in json.loads(a[5])[:3])
        alerts.add_row(str(a[0])[:16], a[1], a[2], a[3], str(a[4]), reasons)
    timeline = Table(title="Event timeline (latest 24 months)")
    timeline.add_column("occurred at")
    timeline.add_column("category")
    timeline.add_column("event id")
    for e in con.execute("SELECT occurred_at, category, event_id FROM events WHERE household_id = ? AND occurred_at "
                         ">= (SELECT max(occurred_at) FROM events WHERE household_id = ?) - INTERVAL 24 MONTH "
                         "ORDER BY occurred_at", [household_id, household_id]).fetchall():
        timeline.add_row(str(e[0])[:16], e[1], e[2])
    console.print(dims, members, indicators, alerts, timeline)
    return 0
