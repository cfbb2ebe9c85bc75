"""The summary `monitor run` prints: events applied, dead letters by reason, alerts and households by level."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monitor.runtime.embedded import RunResult

__all__ = ["print_summary"]

LEVELS = ("red", "orange", "yellow", "watch", "none")


def print_summary(result: RunResult, out: Path, seconds: float, development_key: bool) -> None:
    """Print the run's figures as three small tables."""
    console = Console(width=100)
    rate = result.events_read / seconds if seconds > 0 else 0.0
    console.print(f"[bold]household-risk-monitor[/bold]: {result.households:,} households, "
                  f"{result.events_read:,} event lines in {seconds:.1f}s ({rate:,.0f} lines/s)")
    events = Table(title="Events", show_header=False)
    events.add_row("applied", f"{result.events_applied:,}")
    events.add_row("exact duplicates (applied once)", f"{result.duplicates:,}")
    for reason, count in sorted(result.dead_by_reason.items()):
        events.add_row(f"dead-lettered: {reason}", f"{count:,}")
    alerts = Table(title="Alerts", show_header=False)
    by_level = result.alert_levels
    for level in LEVELS[:3]:
        alerts.add_row(level, f"{by_level.get(level, 0):,}")
    by_family = result.alert_families
    for family, count in sorted(by_family.items()):
        alerts.add_row(f"  family {family}", f"{count:,}")
    households = Table(title="Households by level", show_header=False, min_width=30)
    for level in LEVELS:
        households.add_row(level, f"{result.levels.get(level, 0):,}")
    anomalies = Table(title="Data anomalies (sent back to source)", show_header=False, min_width=44)
    for kind, count in sorted(Counter(a.kind for a in result.anomalies).items()):
        anomalies.add_row(kind, f"{count:,}")
    console.print(events, alerts, households, anomalies)
    console.print(f"wrote {out / 'alerts.jsonl'}, {out / 'deadletter.jsonl'}, {out / 'anomalies.jsonl'}, "
                  f"{out / 'monitor.duckdb'}")
    if development_key:
        console.print("[yellow]MONITOR_PSEUDONYM_KEY is unset: pseudonyms use the development key[/yellow]")
