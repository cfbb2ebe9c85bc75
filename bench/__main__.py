"""`python -m bench --size quick|full [--only NAME ...]`: run the benchmarks, print as they go, save JSON.

NAME is one of embedded, stages, snapshot, stream, kafka.  Results go to bench/results/latest.json (and a
Markdown rendering to bench/results/latest.md); `python -m bench.report` re-renders them.  With
--only, the other sections of an earlier results file of the same size are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.data import DATA_ROOT, dataset
from bench.embedded import measure_engine
from bench.floor import VARIANTS, measure_floor
from bench.plans import SIZES, Plan
from bench.proc import GB
from bench.report import machine, render_markdown, targets
from bench.snapshot import measure_snapshot
from bench.stages import measure_stages
from monitor.cli import usable_cpus

NAMES = ("embedded", "stages", "snapshot", "stream", "kafka")
RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path("/tmp/hrm-bench-out")


def log(line: str) -> None:
    """Print one line now."""
    print(line, flush=True)


def run_embedded_cases(plan: Plan, results: dict[str, Any]) -> None:
    """Floor and engine side by side on each data set (only those of --households, when given)."""
    results["embedded"] = []
    for case in plan.engine:
        if results.get("households_filter") and case.households not in results["households_filter"]:
            continue
        t0 = time.perf_counter()
        data = dataset(case.households, case.seed, log=log)
        log(f"\n[embedded] {case.households:,} households, {data.lines:,} event lines "
            f"({data.size_bytes / 1e9:.2f} GB on disk)")
        out = WORK / f"embedded-{case.households}"
        # Interleaved, so that a noisy neighbour hurts the floor and the engine alike.
        floors = [measure_floor(data.events_file, *VARIANTS[0], out / "floor-status.json", log)]
        runs: dict[int, dict[str, Any]] = {}
        for jobs in case.jobs:
            if jobs != 1:
                log(f"  engine with monitor run's default --jobs ({usable_cpus()} processes here):")
            runs[jobs] = measure_engine(data.registry, data.events_file, data.lines, case.budget_s, out, log, 6 * GB,
                                        jobs=jobs)
            if len(floors) == 1:
                floors += [measure_floor(data.events_file, p, g, out / "floor-status.json", log)
                           for p, g in VARIANTS[1:]]
        entry = {"households": case.households, "seed": case.seed, "lines": data.lines, "bytes": data.size_bytes,
                 "budget_s": case.budget_s, "floors": floors, "engine": runs.get(1), "pooled": runs.get(0)}
        engine = runs.get(1) or runs[0]
        rate = engine.get("events_per_s") or engine.get("apply_events_per_s")
        what = "whole run" if engine.get("events_per_s") else "apply phase"
        if rate:
            entry["ratios"] = {f["name"]: rate / f["events_per_s"] for f in floors if f.get("events_per_s")}
            log(f"  engine ({what}) / floor: " + ", ".join(f"{name}: {r:.4f} (1/{1 / r:,.0f})"
                                                         for name, r in entry["ratios"].items()))
        entry["seconds"] = time.perf_counter() - t0
        results["embedded"].append(entry)


def run_stages(plan: Plan, results: dict[str, Any]) -> None:
    """The per-stage profile."""
    data = dataset(plan.stages_households, 1, log=log)
    log(f"\n[stages] pyinstrument on an embedded run of {plan.stages_households:,} households")
    results["stages"] = measure_stages(data.registry, data.events_file, WORK / "stages", log)


def run_snapshot(plan: Plan, results: dict[str, Any]) -> None:
    """write_snapshot for N replicated households."""
    base = dataset(plan.snapshot_base, 1, log=log)
    log(f"\n[snapshot] {plan.snapshot_households:,} households replicated from {plan.snapshot_base:,} real ones")
    results["snapshot"] = measure_snapshot(base.registry, base.events_file, plan.snapshot_households,
                                           WORK / "snapshot", log)


def run_stream_snapshot(plan: Plan, results: dict[str, Any]) -> None:
    """`monitor snapshot` of N replicated households, on a broker of its own."""
    from bench.kafka import Broker, Deployment
    from bench.stream_snapshot import measure_stream_snapshot

    base = dataset(plan.snapshot_base, 1, log=log)
    log(f"\n[stream] monitor snapshot of {plan.stream_snapshot_households:,} households replicated from "
        f"{plan.snapshot_base:,} real ones")
    broker = Broker.for_bench()
    try:
        log(f"  broker on 127.0.0.1:{broker.port} started in {broker.start():.1f} s")
        results["stream"] = measure_stream_snapshot(Deployment(broker, "snap", WORK / "stream").env, base.registry,
                                                    base.events_file, plan.stream_snapshot_households,
                                                    WORK / "stream", log,
                                                    single_process_too=plan.stream_snapshot_single_process_too)
    finally:
        broker.stop()
        log("  broker stopped")


def run_kafka(plan: Plan, results: dict[str, Any]) -> None:
    """The Kafka runtime end to end (own broker, own topics)."""
    from bench.kafka import measure_kafka

    log("\n[kafka]")
    results["kafka"] = measure_kafka(plan.kafka, WORK / "kafka", log)


def _merged(path: Path, results: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """With --only: keep the other sections of an earlier run of the same size (each section is self-contained:
    what it compares was measured side by side within it)."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return results
    if earlier.get("size") != results["size"]:
        return results
    merged = {**earlier, **{k: v for k, v in results.items() if k not in ("sections_s", "section_dates")}}
    merged["sections_s"] = {**earlier.get("sections_s", {}), **results["sections_s"]}
    merged["section_dates"] = {**earlier.get("section_dates", {}), **results["section_dates"]}
    merged["duration_s"] = sum(merged["sections_s"].values())  # (embedded: see each case's "seconds")
    for name in NAMES:
        if name not in names and name in earlier:
            merged[name] = earlier[name]
    if "embedded" in names and results.get("households_filter") and earlier.get("embedded"):
        fresh = {c["households"]: c for c in results["embedded"]}
        kept = [c for c in earlier["embedded"] if c["households"] not in fresh]
        merged["embedded"] = sorted([*kept, *fresh.values()], key=lambda c: c["households"])
    return merged


RUNNERS: dict[str, Callable[[Plan, dict[str, Any]], None]] = {
    "embedded": run_embedded_cases, "stages": run_stages, "snapshot": run_snapshot, "stream": run_stream_snapshot,
    "kafka": run_kafka}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=f"any of {', '.join(NAMES)}")
    parser.add_argument("--households", type=int, nargs="+", metavar="N",
                        help="embedded: only the data sets of these sizes (with --only, the others are kept)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    plan = SIZES[args.size]
    names = args.only or list(NAMES)
    started = time.perf_counter()
    results: dict[str, Any] = {"size": args.size, "only": args.only, "machine": machine(),
                               "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
                               "data_dir": str(DATA_ROOT), "sections_s": {}, "section_dates": {},
                               "households_filter": args.households}
    log(f"bench --size {args.size}: {', '.join(names)}; machine {results['machine']['summary']}")
    for name in names:
        t0 = time.perf_counter()
        try:
            RUNNERS[name](plan, results)
        except Exception as exc:  # noqa: BLE001 - one failed section must not lose the others' figures
            log(f"  [{name}] FAILED: {type(exc).__name__}: {exc}")
            results.setdefault("failures", {})[name] = f"{type(exc).__name__}: {exc}"
        results["sections_s"][name] = time.perf_counter() - t0
        results["section_dates"][name] = results["machine"]["date_utc"]
        log(f"  ({name}: {results['sections_s'][name]:.0f} s)")
    results["duration_s"] = time.perf_counter() - started
    if args.only or args.households:
        results = _merged(args.out, results, names)
    results["machine_after"] = {"loadavg": machine()["loadavg"]}
    results["targets"] = targets(results)
    log("\n[targets]")
    for t in results["targets"]:
        log(f"  {t['status']:<13} {t['target']}: {t['measured']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    args.out.with_suffix(".md").write_text(render_markdown(results))
    log(f"\nwrote {args.out} and {args.out.with_suffix('.md')} in {results['duration_s'] / 60:.1f} min total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
