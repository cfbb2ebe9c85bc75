"""Snapshot cost: `write_snapshot` for N households, built from replicas of real portraits.

Scoring a million households to get a million portraits would take hours, so the child scores a small
real set (the `base` households of a generated data set, with their alerts and event index) and
replicates it to N households: each replica is a real `Portrait` whose household_id is new, with its
alerts (new alert ids) and event rows (new event ids).  Tables, row counts and value shapes are then
those of an N-household run; only the time of `write_snapshot` itself is measured (building the
replicas is not).  Each replica's members get their own person ids (the base id + the replica number), so
that the writer pseudonymises as many distinct persons as a real N-household run has.  Peak RSS covers the
replicas plus the writer.  Besides the total, three figures: "python_frames_s", the time spent turning the
Python objects into columnar frames (`snapshot_frames.*_frame`, on the calling thread); "duckdb_s", the
time the writer thread spent appending them to the DuckDB file (it overlaps the former); "write_s", the
time of `SnapshotBuilder.write` (small tables, waiting for the writer, CHECKPOINT, rename); "cpu_s", the
process CPU time of the whole call (both threads).
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
        members = [structs.replace(m, person_id=f"{m.person_id}{i}") for m in p.members]
        portraits.append(structs.replace(p, household_id=hid, members=members))
        alerts.extend(structs.replace(a, household_id=hid, alert_id=f"{a.alert_id}-{i}")
                      for a in alerts_of.get(p.household_id, ()))
        events.extend((f"{e[0]}-{i}", hid, e[2], e[3]) for e in events_of.get(p.household_id, ()))
    built_s = time.perf_counter() - started
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    weights = {i: s.weight for i, s in rules.indicators.items()}
    spent: dict[str, float] = {"frames": 0.0, "duckdb": 0.0, "write": 0.0}
    by_function: dict[str, float] = {}
    for owner, method, part in ((snap, "households_frame", "frames"), (snap, "indicator_values_frame", "frames"),
                                (snap, "members_frame", "frames"), (snap, "alerts_frame", "frames"),
                                (snap, "events_frame", "frames"), (snap._TableWriter, "_write", "duckdb"),
                                (snap._TableWriter, "_close", "duckdb"), (snap.SnapshotBuilder, "write", "write")):
        setattr(owner, method, _timed(getattr(owner, method), spent, part, by_function))
    started, cpu_started = time.perf_counter(), time.process_time()
    snap.write_snapshot(out / "monitor.duckdb", portraits, alerts, iter(events), pseudonymiser,
                   rules_version=rules.version, weights=weights, dead_letters=[], as_of=base.as_of,
                   events_applied=len(events), anomalies=[])
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    size = (out / "monitor.duckdb").stat().st_size
    (out / "monitor.duckdb").unlink()
    return {"households": n, "base_households": len(base.portraits), "alerts": len(alerts), "events": len(events),
            "indicator_rows": sum(len(p.scores.readings) for p in portraits),
            "members": sum(len(p.members) for p in portraits), "build_replicas_s": built_s, "seconds": seconds,
            "cpu_s": cpu_s,
            "python_frames_s": spent["frames"], "duckdb_s": spent["duckdb"], "write_s": spent["write"],
            "seconds_by_function": by_function,
            "file_bytes": size}


def _timed(method: Callable[..., Any], spent: dict[str, float], part: str,
           by_function: dict[str, float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            took = time.perf_counter() - t0
            spent[part] += took
            by_function[method.__name__] = by_function.get(method.__name__, 0.0) + took

    return timed


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
        f"(CPU {rep['cpu_s']:.1f} s) "
        f"(Python objects → frames {rep['python_frames_s']:.1f} s; DuckDB appends {rep['duckdb_s']:.1f} s on the "
        f"writer thread, overlapping; final write {rep['write_s']:.1f} s), "
        f"{rep['file_bytes'] / 1024**2:.0f} MiB, "
        f"peak RSS {child.peak_rss_bytes / 1e9:.2f} GB")
    return row


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    emit(snapshot_child(json.loads(sys.argv[2])))
