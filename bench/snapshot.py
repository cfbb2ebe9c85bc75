"""Snapshot cost: `write_snapshot` for N households, built from replicas of real portraits.

Scoring a million households to get a million portraits would take hours, so the child scores a small
real set (the `base` households of a generated data set, with their alerts and event index) and
replicates it to N households: each replica is a real `Portrait` whose household_id is new, with its
alerts (new alert ids) and event rows (new event ids).  Tables, row counts and value shapes are then
those of an N-household run; only the time of `write_snapshot` itself is measured (building the
replicas is not).  Peak RSS covers the replicas plus the writer.  The time is split into building the
main polars frames from Python objects (`_frames`: one Python pass per row, HMAC per member,
`datetime.fromisoformat` per event) and the rest (small frames, DuckDB CREATE TABLE + CHECKPOINT).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from msgspec import structs

from bench.proc import emit, rss_limit, run_child

__all__ = ["measure_snapshot", "snapshot_child"]


def snapshot_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Write a snapshot of spec['households'] replicated households; returns seconds and row counts."""
    import monitor.runtime.snapshot as snap
    from monitor.config import Settings
    from monitor.pipeline.rules import load_rules
    from monitor.runtime.embedded import run_embedded

    settings = Settings.from_env()
    rules = load_rules(settings.rules_path)
    pseudonymiser = settings.pseudonymiser()
    base = run_embedded(Path(spec["base_households"]), [Path(spec["base_events"])], rules, pseudonymiser)
    alerts_of: dict[str, list[Any]] = {}
    for alert in base.alerts:
        alerts_of.setdefault(alert.household_id, []).append(alert)
    events_of: dict[str, list[tuple[str, str, str, str]]] = {}
    for row in base.event_index:
        events_of.setdefault(row[1], []).append(row)
    started = time.perf_counter()
    portraits, alerts, events = [], [], []
    n = int(spec["households"])
    for i in range(n):
        p = base.portraits[i % len(base.portraits)]
        hid = f"{p.household_id[:7]}{i:07d}"
        portraits.append(structs.replace(p, household_id=hid))
        alerts.extend(structs.replace(a, household_id=hid, alert_id=f"{a.alert_id}-{i}")
                      for a in alerts_of.get(p.household_id, ()))
        events.extend((f"{e[0]}-{i}", hid, e[2], e[3]) for e in events_of.get(p.household_id, ()))
    built_s = time.perf_counter() - started
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    weights = {i: s.weight for i, s in rules.indicators.items()}
    frames_s: list[float] = []
    build_frames = snap._frames

    def timed_frames(*args: Any) -> Any:
        t0 = time.perf_counter()
        made = build_frames(*args)
        frames_s.append(time.perf_counter() - t0)
        return made

    snap._frames = timed_frames
    started = time.perf_counter()
    snap.write_snapshot(out / "monitor.duckdb", portraits, alerts, iter(events), pseudonymiser,
                   rules_version=rules.version, weights=weights, dead_letters=[], as_of=base.as_of,
                   events_applied=len(events), anomalies=[])
    seconds = time.perf_counter() - started
    size = (out / "monitor.duckdb").stat().st_size
    (out / "monitor.duckdb").unlink()
    return {"households": n, "base_households": len(base.portraits), "alerts": len(alerts), "events": len(events),
            "indicator_rows": sum(len(p.scores.readings) for p in portraits),
            "members": sum(len(p.members) for p in portraits), "build_replicas_s": built_s, "seconds": seconds,
            "python_frames_s": sum(frames_s),
            "file_bytes": size}



def measure_snapshot(base: Path, base_events: Path, households: int, out: Path,
                     log: Callable[[str], None]) -> dict[str, Any]:
    """Time `write_snapshot` for `households` replicated households in a child; print its line."""
    child = run_child("bench.snapshot", {"base_households": str(base), "base_events": str(base_events),
                                         "households": households, "out": str(out)}, rss_limit_bytes=rss_limit(16))
    row: dict[str, Any] = {"households": households, "peak_rss_bytes": child.peak_rss_bytes, "killed": child.killed}
    if not child.ok:
        row["error"] = child.killed or child.stderr_tail[-1500:]
        log(f"  snapshot of {households:,} households FAILED: {row['error'][-800:]}")
        return row
    rep = child.report
    row.update(rep)
    log(f"  write_snapshot {households:,} households ({rep['events']:,} event rows, {rep['alerts']:,} alerts, "
        f"{rep['indicator_rows']:,} indicator rows, {rep['members']:,} members): {rep['seconds']:.1f} s "
        f"(Python-side frames {rep['python_frames_s']:.1f} s), {rep['file_bytes'] / 1024**2:.0f} MiB, "
        f"peak RSS {child.peak_rss_bytes / 1e9:.2f} GB")
    return row


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    emit(snapshot_child(json.loads(sys.argv[2])))
