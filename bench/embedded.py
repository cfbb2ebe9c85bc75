"""Embedded throughput: `run_to_files`, the function `monitor run` calls (run, outputs, snapshot).

Each run is a fresh child interpreter (peak RSS from `wait4`).  The child wraps names that the runtime
modules imported (the first pass's `validate_event`, `portrait`, `write_outputs`, the snapshot builder's
`write`) with counters and clocks that cost one Python call each (against ~67 indicator calls per
event), and takes the start of the apply phase from `run_to_files`' progress callback, which gives the
phase times:

- read: the first pass (registry + every event line validated and indexed) and the triage (routing,
  dead letters, duplicates), up to the first household's state;
- apply: every household's events decoded again and applied in event-time order, its portrait taken
  and handed to the snapshot builder a piece (1,000 households) at a time;
- outputs + snapshot: alerts/dead letters/anomalies files (the alerts handed to the snapshot builder
  as they are written), then the DuckDB file written.

With `jobs` > 1 (`monitor run --jobs`; 0 means its default, every CPU the child may use) the households
are applied in a pool of forked processes: the counts then come from the run's result, the peak RSS
from the child alone is that of the process that reads, triages and writes, and `tree_peak_pss_bytes`
is the memory of the child and its pool together.

With a time budget (one process only) the child stops once the apply phase has run that long (after a
whole household):
the read phase and the apply rate are then measured, the rest of the run is not (any total derived
from them is an extrapolation and labelled so).  A status file lets the parent say how far a child got
if it had to be killed (RSS safety limit or timeout).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.floor import GcClock
from bench.proc import emit, run_child

__all__ = ["embedded_child", "measure_engine"]

STATUS_EVERY = 50_000


class BudgetSpent(Exception):
    """The apply phase used up its time budget."""


def embedded_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the embedded engine (`run_to_files`, as `monitor run` does) on spec['households'] / spec['events']."""
    import monitor.runtime.embedded as emb
    import monitor.runtime.intake as intake
    from monitor.cli import usable_cpus
    from monitor.config import Settings
    from monitor.pipeline.rules import load_rules

    settings = Settings.from_env()
    rules = load_rules(settings.rules_path)
    pseudonymiser = settings.pseudonymiser()
    budget = spec.get("budget_s")
    jobs = int(spec.get("jobs", 1)) or usable_cpus()
    assert budget is None or jobs == 1, "a budget is checked per household, in the one process"
    status_path = Path(spec["status"])
    status_path.parent.mkdir(parents=True, exist_ok=True)
    marks: dict[str, float] = {}
    count = {"lines": 0, "households": 0, "events": 0}

    def status(phase: str) -> None:
        status_path.write_text(json.dumps({"phase": phase, **count, "t": time.perf_counter() - marks["start"]}))

    validate_event, portrait = intake.validate_event, emb.portrait
    write_outputs, builder_class = emb.write_outputs, emb.SnapshotBuilder

    def counted_validate(raw: bytes, **kw: Any) -> Any:
        count["lines"] += 1
        if count["lines"] % STATUS_EVERY == 0:
            status("read")
        return validate_event(raw, **kw)

    def progress(stage: str, done: int, _total: int) -> None:
        if stage != "apply":
            return
        if "apply" not in marks:  # (0 households done: the read phase is over)
            marks["apply"] = time.perf_counter()
            marks["gc_read"] = clock.seconds
        if jobs > 1:
            count["households"] = done  # (pooled: the portraits are taken in the pool's processes)
        status("apply")

    def counted_portrait(state: Any, as_of: int, rules_: Any) -> Any:
        count["households"] += 1
        count["events"] += len(state.events)
        made = portrait(state, as_of, rules_)
        if count["households"] % 2000 == 0:
            status("apply")
        if budget is not None and time.perf_counter() - marks["apply"] > budget:
            raise BudgetSpent
        return made

    def timed_outputs(*args: Any, **kw: Any) -> None:
        marks["applied"] = time.perf_counter()
        write_outputs(*args, **kw)
        marks["outputs"] = time.perf_counter()

    class TimedBuilder(builder_class):  # type: ignore[misc, valid-type]
        def write(self, *args: Any, **kw: Any) -> str:
            started = time.perf_counter()
            made = super().write(*args, **kw)
            marks["snapshot"] = time.perf_counter()
            marks["snapshot_write"] = marks["snapshot"] - started
            return made

    intake.validate_event = counted_validate
    if jobs == 1:  # (pooled, the portraits are taken in the pool's processes, which count for themselves only)
        emb.portrait = counted_portrait
    emb.write_outputs, emb.SnapshotBuilder = timed_outputs, TimedBuilder
    report: dict[str, Any] = {"complete": False, "jobs": jobs}
    clock = GcClock()
    with clock:
        marks["start"] = time.perf_counter()
        try:
            result = emb.run_to_files(Path(spec["households"]), [Path(spec["events"])], rules, pseudonymiser,
                                      Path(spec["out"]), progress=progress, jobs=jobs)
        except BudgetSpent:
            result = None
            marks["applied"] = time.perf_counter()
        if result is not None:
            if jobs > 1:
                count["households"], count["events"] = result.households, result.events_applied
            report.update(complete=True, events_read=result.events_read, events_applied=result.events_applied,
                          dead_letters=len(result.dead_letters), alerts=sum(result.alert_levels.values()),
                          outputs_s=marks["outputs"] - marks["applied"],
                          snapshot_s=marks["snapshot"] - marks["outputs"],
                          snapshot_write_s=marks["snapshot_write"],
                          total_s=marks["snapshot"] - marks["start"])
    report.update(lines_validated=count["lines"], households_applied=count["households"],
                  events_in_applied_households=count["events"], read_s=marks["apply"] - marks["start"],
                  apply_s=marks["applied"] - marks["apply"], gc_s=clock.seconds, gc_read_s=marks["gc_read"],
                  gc_collections=clock.collections)
    return report


def measure_engine(households: Path, events: Path, lines: int, budget_s: float | None, out: Path,
                   log: Callable[[str], None], watch_bytes: int, jobs: int = 1) -> dict[str, Any]:
    """Run the engine once in a child and print its line; the rates say what they are measured over."""
    status = out / "status.json"
    child = run_child("bench.embedded", {"households": str(households), "events": str(events),
                                         "out": str(out / "run"), "budget_s": budget_s, "jobs": jobs},
                      status=status, watch_bytes=watch_bytes, tree=jobs != 1)
    rep = child.report
    row: dict[str, Any] = {"name": "engine", "budget_s": budget_s, "lines": lines, "wall_s": child.wall_s,
                           "peak_rss_bytes": child.peak_rss_bytes, "killed": child.killed, **rep}
    if jobs != 1:
        row["tree_peak_pss_bytes"] = child.tree_peak_pss_bytes
    if child.crossed:
        row["rss_crossed"] = {"bytes": watch_bytes, **child.crossed}
    if not child.ok and not child.killed:
        row["error"] = child.stderr_tail[-1500:]
        log(f"  engine FAILED (exit {child.returncode}): {child.stderr_tail[-800:]}")
        return row
    if child.killed:
        got = child.status_at_kill or {}
        row.update(complete=False, stopped_in=got.get("phase"), lines_validated=got.get("lines", 0),
                   households_applied=got.get("households", 0), stopped_at_s=got.get("t"))
        if got.get("phase") == "read" and got.get("t"):
            row["read_events_per_s_partial"] = got["lines"] / got["t"]
        log(f"  engine stopped: {child.killed}; it was in the {got.get('phase')} phase after "
            f"{got.get('lines', 0):,} of {lines:,} lines ({got.get('t', 0):.0f} s)"
            + (f", read rate so far {row['read_events_per_s_partial']:,.0f} lines/s"
               if "read_events_per_s_partial" in row else ""))
        return row
    row["read_events_per_s"] = rep["lines_validated"] / rep["read_s"]
    row["apply_events_per_s"] = rep["events_in_applied_households"] / rep["apply_s"] if rep["apply_s"] else None
    if rep["complete"]:
        row["events_per_s"] = rep["events_read"] / rep["total_s"]
        pooled = (f", --jobs {rep['jobs']}: with its pool {child.tree_peak_pss_bytes / 1e9:.2f} GB Pss"
                  if rep.get("jobs", 1) > 1 else "")
        log(f"  engine (complete run)   {rep['events_read']:>11,} lines {row['events_per_s']:>10,.0f} ev/s  "
            f"peak RSS {child.peak_rss_bytes / 1e9:5.2f} GB{pooled}  (read {rep['read_s']:.1f} s, apply "
            f"{rep['apply_s']:.1f} s, outputs {rep['outputs_s']:.1f} s, snapshot {rep['snapshot_s']:.1f} s, "
            f"GC {rep['gc_s']:.1f} s)")
    else:
        # Measured: the read phase over every line, the apply rate over the budget.  Not measured: the rest.
        remaining = max(0, lines - rep["events_in_applied_households"])
        row["extrapolated_total_s"] = rep["read_s"] + rep["apply_s"] + remaining / row["apply_events_per_s"]
        row["extrapolated_events_per_s"] = lines / row["extrapolated_total_s"]
        log(f"  engine (apply capped at {budget_s:.0f} s) read+validate+route {rep['lines_validated']:,} lines in "
            f"{rep['read_s']:.1f} s = {row['read_events_per_s']:,.0f} lines/s; applied "
            f"{rep['events_in_applied_households']:,} events of {rep['households_applied']:,} households in "
            f"{rep['apply_s']:.1f} s = {row['apply_events_per_s']:,.0f} ev/s; peak RSS "
            f"{child.peak_rss_bytes / 1e9:.2f} GB")
        log(f"    EXTRAPOLATION (not measured): whole run ~{row['extrapolated_total_s'] / 60:.0f} min "
            f"= ~{row['extrapolated_events_per_s']:,.0f} ev/s, outputs and snapshot not included")
    return row


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    emit(embedded_child(json.loads(sys.argv[2])))
