"""The machine, the targets verdicts and the Markdown rendering of a results file.

`python -m bench.report [RESULTS_JSON]` re-renders bench/results/latest.md from the JSON.  A verdict
is "met" or "not met" only when a measurement decides it; a figure derived from measurements of part
of a run is an upper or lower bound and is said to be one; "not measured" otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.faust_floor import FLOOR_MODES
from bench.plans import TARGETS

__all__ = ["machine", "render_markdown", "targets"]

ROOT = Path(__file__).resolve().parent.parent


def _cmd(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, Python, load, date and the commit measured."""
    model = next((line.split(":", 1)[1].strip() for line in _cmd("lscpu").splitlines()
                  if line.startswith("Model name")), platform.processor())
    mem_kib = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    nproc = _cmd("nproc") or str(os.cpu_count())
    commit = _cmd("git", "rev-parse", "--short", "HEAD")
    dirty = bool(_cmd("git", "status", "--porcelain", "--untracked-files=no"))
    now = dt.datetime.now(dt.UTC)
    info = {"nproc": nproc, "cpu": model, "ram_gib": round(mem_kib / 1024**2, 1),
            "python": platform.python_version(), "platform": platform.platform(), "loadavg": os.getloadavg(),
            "date_utc": now.isoformat(timespec="seconds"), "commit": commit + ("+uncommitted changes" if dirty else "")}
    info["summary"] = (f"{info['nproc']} cores ({model}), {info['ram_gib']} GiB RAM, Python {info['python']}, "
                       f"commit {info['commit']}, load {info['loadavg'][0]:.1f}")
    return info


def _case(results: dict[str, Any], households: int) -> dict[str, Any] | None:
    return next((c for c in results.get("embedded", []) if c["households"] == households), None)


def _whole_run_row(what: str, run: dict[str, Any]) -> str:
    return (f"| {what} | {run['events_read']:,} | {_rate(run['events_per_s'])} | {_gb(run['peak_rss_bytes'])} | "
            f"read {run['read_s']:.0f} s, apply {run['apply_s']:.0f} s, outputs {run['outputs_s']:.1f} s, snapshot "
            f"{run['snapshot_s']:.1f} s; GC {run['gc_s']:.0f} s |")


def _verdict(target: str, status: str, measured: str) -> dict[str, str]:
    return {"target": target, "status": status, "measured": " ".join(measured.split())}


def _embedded_rate_verdict(case: dict[str, Any] | None, floor_rate: float, label: str, *,
                           pooled_counts: bool = False) -> dict[str, str]:
    """From the one-process run; with `pooled_counts` (a target not about one core) the pooled run, if complete."""
    pooled = (case or {}).get("pooled") or {}
    if pooled_counts and pooled.get("events_per_s"):
        rate = pooled["events_per_s"]
        return _verdict(label, "met" if rate >= floor_rate else "not met",
                        f"{rate:,.0f} events/s over the complete run of {pooled['events_read']:,} events with "
                        f"--jobs {pooled['jobs']}")
    if case is None or not case.get("engine"):
        return _verdict(label, "not measured", "no run of this size in this --size")
    engine = case["engine"]
    if engine.get("events_per_s"):
        rate = engine["events_per_s"]
        return _verdict(label, "met" if rate >= floor_rate else "not met",
                        f"{rate:,.0f} events/s over the complete run of {engine['events_read']:,} events")
    bounds = []
    if engine.get("apply_events_per_s"):
        bounds.append((engine["apply_events_per_s"], f"the apply phase alone ran at {engine['apply_events_per_s']:,.0f}"
                       f" events/s over {engine['events_in_applied_households']:,} events"))
    if engine.get("read_events_per_s_partial"):
        bounds.append((engine["read_events_per_s_partial"], f"the read phase alone ran at "
                       f"{engine['read_events_per_s_partial']:,.0f} lines/s over the first "
                       f"{engine['lines_validated']:,} lines (the run was stopped: {engine.get('killed')})"))
    elif engine.get("read_events_per_s"):
        bounds.append((engine["read_events_per_s"], f"the read phase alone ran at {engine['read_events_per_s']:,.0f}"
                       f" lines/s over all {engine['lines_validated']:,} lines"))
    if bounds and min(b[0] for b in bounds) < floor_rate:
        return _verdict(label, "not met", "; ".join(b[1] for b in bounds) +
                        " (a whole run is slower than any one of its phases)")
    return _verdict(label, "not measured", "run capped; " + "; ".join(b[1] for b in bounds))


def _rss_verdict(case: dict[str, Any] | None, limit: int) -> dict[str, str]:
    label = f"embedded peak RSS <= {limit / 1e9:.0f} GB at 1M households"
    if case is None:
        return _verdict(label, "not measured", "no 1M-household run in this --size")
    if not case.get("engine"):  # a pooled run only: the memory of the process and its pool together
        pooled = case["pooled"]
        peak = pooled.get("tree_peak_pss_bytes") or 0
        if not pooled.get("complete") or not peak:
            return _verdict(label, "not measured", "the pooled run did not complete")
        return _verdict(label, "met" if peak <= limit else "not met",
                        f"{peak / 1e9:.2f} GB Pss, the run's process and its --jobs {pooled['jobs']} pool together "
                        "(complete run)")
    engine = case["engine"]
    peak = engine["peak_rss_bytes"]
    crossed = engine.get("rss_crossed")
    if crossed:
        lines = (crossed.get("status") or {}).get("lines")
        where = f" after {lines:,} of {case['lines']:,} lines" if lines else ""
        return _verdict(label, "not met", f"RSS passed {limit / 1e9:.0f} GB{where} "
                        f"({crossed['wall_s']:.0f} s in); peak seen {peak / 1e9:.1f} GB")
    if engine.get("complete"):
        return _verdict(label, "met" if peak <= limit else "not met", f"peak RSS {peak / 1e9:.2f} GB (complete run)")
    return _verdict(label, "not measured", f"peak RSS {peak / 1e9:.2f} GB in a capped run (a lower bound)")


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Each target of the issue with its verdict and the figure behind it."""
    out = [
        _embedded_rate_verdict(_case(results, 100_000), TARGETS["embedded_100k_events_per_s"],
                               "embedded >= 100,000 events/s on one core at 100k households"),
        _embedded_rate_verdict(_case(results, 1_000_000), TARGETS["embedded_1m_events_per_s"],
                               "embedded >= 50,000 events/s at 1M households", pooled_counts=True),
        _rss_verdict(_case(results, 1_000_000), TARGETS["embedded_1m_peak_rss_bytes"]),
    ]
    kafka = results.get("kafka") or {}
    one = next((r for r in kafka.get("e2e", []) if r.get("workers") == 1 and r.get("events_per_s")), None)
    raw = (kafka.get("raw") or {}).get("events_per_s")
    floors = {r["mode"]: r["events_per_s"] for r in kafka.get("faust_floor", []) if r.get("events_per_s")}
    label = "Kafka one worker >= 10,000 events/s end to end"
    if one:
        rate = one["events_per_s"]
        floor = (f"; faust alone, carrying the worker's messages with no engine: {floors['forward']:,.0f} events/s"
                 if "forward" in floors else "")
        out.append(_verdict(label, "met" if rate >= TARGETS["kafka_one_worker_events_per_s"] else "not met",
                            f"{rate:,.0f} events/s ({one['events']:,} events){floor}"))
    else:
        out.append(_verdict(label, "not measured", kafka.get("error") or "no Kafka run"))
    label = "Kafka one worker >= 50 % of raw aiokafka"
    if one and raw:
        share = one["events_per_s"] / raw
        floor = (f"; a faust agent that only counts: {100 * floors['consume'] / raw:.1f} %"
                 if "consume" in floors else "")
        out.append(_verdict(label, "met" if share >= TARGETS["kafka_one_worker_share_of_raw"] else "not met",
                            f"{100 * share:.1f} % ({one['events_per_s']:,.0f} vs {raw:,.0f} events/s raw){floor}"))
    else:
        out.append(_verdict(label, "not measured", kafka.get("error") or "no Kafka run"))
    lat = kafka.get("latency") or {}
    label = "p99 produce -> alert <= 100 ms at 1,000 events/s"
    if lat.get("p99_text"):
        p99, limit = lat["p99_ms"], TARGETS["kafka_p99_ms_at_1000_per_s"]
        out.append(_verdict(label, "met" if p99 is not None and p99 <= limit else "not met",
                            f"p99 {lat['p99_text']} (p50 {lat['p50_text']}, max {lat['max_text']}; {lat['matched']:,} "
                            f"of {lat['sent']:,} alerts arrived; sent at {lat['achieved_rate']:,.0f}/s)"
                            + _lower_rates(lat.get("context_rates", []))
                            + _scaled(kafka.get("latency_scaled") or {})))
    else:
        out.append(_verdict(label, "not measured", lat.get("error") or kafka.get("error") or "no Kafka run"))
    out.append(_snapshot_verdict("snapshot of 1M households <= 20 s", results.get("snapshot") or {},
                                 "no snapshot run"))
    out.append(_snapshot_verdict("snapshot of 1M households <= 20 s, from the stream (`monitor snapshot`)",
                                 results.get("stream") or {}, "no stream snapshot run"))
    return out


def _lower_rates(rows: list[dict[str, Any]]) -> str:
    """The p99 at each lower rate tried: how far one worker keeps the target.

    (The lowest also carries the first seconds of a worker that was idle, which BENCHMARKS.md describes.)
    """
    if not rows:
        return ""
    return "; p99 at the lower rates tried: " + ", ".join(
        f"{row['achieved_rate']:,.0f} events/s {row['p99_text']}" for row in sorted(rows, key=lambda row: row["rate"]))


def workers_text(n: int) -> str:
    """"one worker" or "N workers", as the Kafka figures name who ran them."""
    return "one worker" if n == 1 else f"{n} workers"


def _scaled(row: dict[str, Any]) -> str:
    """The p99 at the target rate with more workers (the verdict stays one worker's)."""
    if row.get("p99_text"):
        return f"; with {workers_text(row['workers'])} p99 {row['p99_text']} (p50 {row['p50_text']})"
    return f"; with {workers_text(row['workers'])}: {row['error']}" if row.get("error") else ""


def _snapshot_verdict(label: str, snap: dict[str, Any], missing: str) -> dict[str, str]:
    limit = TARGETS["snapshot_1m_seconds"]
    if snap.get("seconds") is None:
        return _verdict(label, "not measured", snap.get("error") or missing)
    if snap["households"] >= 1_000_000:
        return _verdict(label, "met" if snap["seconds"] <= limit else "not met",
                        f"{snap['seconds']:.1f} s for {snap['households']:,} households")
    if snap["seconds"] > limit:
        return _verdict(label, "not met", f"{snap['households']:,} households alone took {snap['seconds']:.1f} s")
    return _verdict(label, "not measured", f"{snap['seconds']:.1f} s for {snap['households']:,} households")


def _gb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e9:.2f}"


def _rate(n: float | None) -> str:
    return "-" if n is None else f"{n:,.0f}"


def render_markdown(results: dict[str, Any]) -> str:
    """The tables of BENCHMARKS.md for one results file."""
    m = results["machine"]
    lines = [f"Results of `{results['command']}` ({results['size']}), {m['date_utc']}, commit {m['commit']}: "
             f"{m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}; load average "
             f"{m['loadavg'][0]:.1f} at the start, {results.get('machine_after', {}).get('loadavg', [0])[0]:.1f} at "
             f"the end; {results.get('duration_s', 0) / 60:.1f} min in all.", ""]
    if results.get("section_dates"):
        lines[0] += " Sections measured: " + ", ".join(
            f"{name} {when} ({results['sections_s'].get(name, 0) / 60:.1f} min)"
            for name, when in results["section_dates"].items()) + "."
    for case in results.get("embedded", []):
        engine = case.get("engine") or {}
        lines += [f"**Embedded, {case['households']:,} households, {case['lines']:,} event lines "
                  f"({case['bytes'] / 1e9:.2f} GB)**" + (f", engine apply phase capped at {case['budget_s']:.0f} s"
                                                          if case.get("budget_s") else ""), "",
                  "| what | lines | events/s | peak RSS (GB) | note |", "|---|---:|---:|---:|---|"]
        for f in case["floors"]:
            note = f"GC {f.get('gc_s', 0):.1f} s" if f.get("complete") else f"stopped: {f.get('killed')}"
            lines.append(f"| {f['name']} | {f.get('lines', 0):,} | {_rate(f.get('events_per_s'))} | "
                         f"{_gb(f['peak_rss_bytes'])} | {note} |")
        if engine.get("complete"):
            lines.append(_whole_run_row("engine, whole run, one process", engine))
        elif engine.get("killed"):
            lines.append(f"| engine, read phase (stopped) | {engine.get('lines_validated', 0):,} | "
                         f"{_rate(engine.get('read_events_per_s_partial'))} | {_gb(engine['peak_rss_bytes'])} | "
                         f"stopped: {engine['killed']} |")
        elif engine.get("read_s"):
            lines.append("| engine, read phase (validate and index; route, dedupe, sort) | "
                         f"{engine['lines_validated']:,} | "
                         f"{_rate(engine['read_events_per_s'])} | - | {engine['read_s']:.0f} s, GC "
                         f"{engine['gc_read_s']:.0f} s |")
            lines.append(f"| engine, apply phase (capped) | {engine['events_in_applied_households']:,} | "
                         f"{_rate(engine['apply_events_per_s'])} | {_gb(engine['peak_rss_bytes'])} | "
                         f"{engine['households_applied']:,} households in {engine['apply_s']:.0f} s |")
            lines.append(f"| *extrapolated* whole run (not measured) | {case['lines']:,} | "
                         f"*~{_rate(engine['extrapolated_events_per_s'])}* | - | *~"
                         f"{engine['extrapolated_total_s'] / 60:.0f} min without outputs and snapshot* |")
        pooled = case.get("pooled") or {}
        if pooled.get("complete"):
            lines.append(_whole_run_row(f"engine, whole run, `--jobs {pooled['jobs']}`", pooled)[:-2] +
                         f"; with its pool {_gb(pooled.get('tree_peak_pss_bytes', 0))} GB Pss |")
        elif pooled:
            lines.append(f"| engine, `--jobs {pooled.get('jobs')}` | - | - | - | failed or stopped: "
                         f"{pooled.get('killed') or pooled.get('error', '')[-200:]} |")
        if case.get("ratios"):
            ran = engine or case.get("pooled") or {}  # (the ratios are of the pooled run when it ran alone)
            what = "whole run" if ran.get("complete") else "apply phase"
            what += f", --jobs {ran['jobs']}" if ran.get("jobs", 1) > 1 else ""
            lines.append("")
            lines.append(f"Engine ({what}) / floor: " + "; ".join(f"{k}: **{v:.4f}** (1/{1 / v:,.0f})"
                                                                   for k, v in case["ratios"].items()))
        lines.append("")
    stages = results.get("stages") or {}
    if stages.get("stages"):
        lines += [f"**Per-stage cost** (pyinstrument, {stages['households']:,} households, "
                  f"{stages['events_applied']:,} events, {stages['profiled_s']:.1f} s profiled = "
                  f"{stages['events_applied'] / stages['profiled_s']:,.0f} events/s under the profiler)", "",
                  "| stage | share | us per event |", "|---|---:|---:|"]
        lines += [f"| {s['stage']} | {100 * s['share']:.1f} % | {s['us_per_event']:.1f} |" for s in stages["stages"]]
        share = stages["indicator_functions_s"] / max(1e-9, stages["indicators_s"])
        lines += ["", f"Of the indicators stage, {100 * share:.0f} % is in the 67 indicator functions themselves, the "
                  "rest in `score_household`'s own loop (dispatch, levels, readings, dimension scores).", "",
                  "| top indicators by cost | share of the run | us per event |", "|---|---:|---:|"]
        lines += [f"| {i['id']} | {100 * i['share_of_total']:.1f} % | {i['us_per_event']:.1f} |"
                  for i in stages["indicators"][:10]]
        lines.append("")
    snap = results.get("snapshot") or {}
    if snap.get("seconds") is not None:
        lines += [f"**Snapshot**: `write_snapshot` of {snap['households']:,} households (replicas of "
                  f"{snap['base_households']:,} real portraits with new ids), {snap['events']:,} event rows, "
                  f"{snap['alerts']:,} alerts, {snap['indicator_rows']:,} indicator rows, {snap['members']:,} "
                  f"members: **{snap['seconds']:.1f} s** ({snap['python_frames_s']:.1f} s turning the "
                  f"Python objects into columnar frames"
                  + (f", alongside {snap['duckdb_s']:.1f} s of DuckDB appends on a writer thread; "
                     f"{snap['write_s']:.1f} s in the final write; CPU {snap['cpu_s']:.1f} s"
                     if "duckdb_s" in snap else "")
                  + f"), {snap['file_bytes'] / 1e6:.0f} MB file, peak RSS "
                  f"{_gb(snap['peak_rss_bytes'])} GB.", ""]
    snap = results.get("stream") or {}
    if snap.get("seconds") is not None:
        prepared = snap["prepared"]
        jobs = snap.get("jobs", 1)
        pool = f" (each of its {jobs} pool processes at most {_gb(snap['pool_peak_rss_bytes'])} GB, pages shared " \
            "by fork included)" if jobs > 1 else ""
        lines += [f"**Snapshot from the stream**: `monitor snapshot --jobs {jobs}` (`write_stream_snapshot`) of "
                  f"{snap['households']:,} households (replicas of {prepared['base_households']:,} real final states, "
                  f"{prepared['changelog_bytes'] / 1e9:.2f} GB on the profiles changelog, one record each; "
                  f"{snap['alerts']:,} alerts on the feed): **{snap['seconds']:.1f} s** (read and spool "
                  f"{snap['read_s']:.1f} s; decode, portraits and frames {snap['build_s']:.1f} s; final write "
                  f"{snap['write_s']:.1f} s; CPU {snap['cpu_s']:.1f} s), {snap['file_bytes'] / 1e6:.0f} MB file, "
                  f"peak RSS {_gb(snap['peak_rss_bytes'])} GB{pool}."]
        alone = snap.get("single_process") or {}
        if alone.get("seconds") is not None:
            lines[-1] += (f" The same with `--jobs 1`, just after: {alone['seconds']:.1f} s (decode, portraits and "
                          f"frames {alone['build_s']:.1f} s; CPU {alone['cpu_s']:.1f} s), peak RSS "
                          f"{_gb(alone['peak_rss_bytes'])} GB.")
        lines.append("")
    elif snap.get("error"):
        lines += [f"Snapshot from the stream: {' '.join(snap['error'].split())[-600:]}", ""]
    kafka = results.get("kafka") or {}
    if kafka:
        lines += render_kafka(kafka)
    lines += ["**Targets**", "", "| target | verdict | measured |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['status']} | {t['measured']} |" for t in results.get("targets", [])]
    return "\n".join(lines) + "\n"


def render_kafka(kafka: dict[str, Any]) -> list[str]:
    """The Kafka table."""
    lines = ["**Kafka**" + (f": {' '.join(kafka['error'].split())}" if kafka.get("error") else ""), ""]
    rows = [r for r in kafka.get("e2e", [])]
    if rows or kafka.get("raw"):
        lines += ["| what | events | seconds | events/s | note |", "|---|---:|---:|---:|---|"]
        for r in rows:
            lines.append(f"| {r['workers']} worker(s), produce -> all applied | {r.get('events', 0):,} | "
                         f"{r.get('seconds', 0):.1f} | {_rate(r.get('events_per_s'))} | {r.get('note', '')} |")
        raw = kafka.get("raw") or {}
        if raw:
            lines.append(f"| raw aiokafka consume-only | {raw.get('events', 0):,} | {raw.get('seconds', 0):.1f} | "
                         f"{_rate(raw.get('events_per_s'))} | {raw.get('note', '')} |")
        for floor in kafka.get("faust_floor", []):
            what = FLOOR_MODES.get(floor.get("mode", ""), "?")
            note = floor.get("error") or (f"{floor['copies']} copies of the set, {floor['registry']:,} registry "
                                          "records besides; first to last message")
            lines.append(f"| faust floor, {what} | {floor.get('events', 0):,} | {floor.get('seconds', 0):.1f} | "
                         f"{_rate(floor.get('events_per_s'))} | {note} |")
        lines.append("")
    lat = kafka.get("latency") or {}
    scaled = kafka.get("latency_scaled") or {}
    for row in (*lat.get("context_rates", ()), lat, scaled):
        if row.get("p99_text"):
            workers = row.get("workers", 1)
            lines += [f"Latency send -> alert at {row['achieved_rate']:,.0f} events/s for {row['seconds']:.0f} s, "
                      f"{workers_text(workers)}: p50 **{row['p50_text']}**, p99 **{row['p99_text']}**, "
                      f"max {row['max_text']} "
                      f"({row['matched']:,} of {row['sent']:,} alerts arrived within "
                      f"{row['waited_after_last_send_s']:.0f} s of the last send)."
                      + (" Legs, p50 / p99: " + "; ".join(f"{leg} {v['p50']:,.0f} / {v['p99']:,.0f} ms"
                                                          for leg, v in row.get("legs_ms", {}).items())
                         if row.get("legs_ms") else "")
                      + (f". The {'' if workers == 1 else 'first '}worker's full garbage collections meanwhile: "
                         f"{row['worker_gc']['text']}."
                         if row.get("worker_gc") else ""), ""]
    for row in (lat, scaled):
        if row.get("error"):
            lines += [f"Latency, {row.get('workers', 1)} worker(s): {row['error']}", ""]
    return lines


def main() -> int:
    """Re-render the Markdown of a results file."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results" / "latest.json"
    results = json.loads(path.read_text())
    results["targets"] = targets(results)
    path.with_suffix(".md").write_text(render_markdown(results))
    print(path.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
