"""Per-stage cost of one event: pyinstrument on an embedded run (outputs and snapshot included).

The child profiles `run_to_files` (what `monitor run` calls) on a small generated set and
walks pyinstrument's call tree: the outermost frame that belongs to a stage gets that frame's whole
time (so the indicators called by a portrait count as portrait), and inside `score_household` the
time is split by indicator function.  Sampling at 1 ms adds a few per cent; the shares are what count.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.proc import emit, run_child

__all__ = ["STAGES", "measure_stages", "stages_child"]

# (file, ending of the function name) -> stage; the function name may carry its class ("Directory.observe").
STAGES: dict[tuple[str, str], str] = {
    ("monitor/pipeline/validate.py", "validate_event"): "validate",
    ("monitor/pipeline/validate.py", "decode_household"): "registry decode",
    ("monitor/pipeline/route.py", "observe"): "route",
    ("monitor/pipeline/route.py", "resolve"): "route",
    ("monitor/pipeline/route.py", "register"): "route",
    ("monitor/runtime/embedded.py", "_routed"): "route",
    ("monitor/runtime/intake.py", "triage"): "route",
    ("monitor/household.py", "advance"): "facts",
    ("monitor/pipeline/score.py", "score_household"): "indicators",
    ("monitor/pipeline/alerts.py", "decide_alert"): "alerts",
    ("monitor/pipeline/anomalies.py", "check_event"): "anomalies",
    ("monitor/pipeline/portrait.py", "portrait"): "portrait",
    ("monitor/runtime/embedded.py", "write_outputs"): "outputs",
    ("monitor/runtime/snapshot.py", "add_households"): "snapshot",
    ("monitor/runtime/snapshot.py", "add_events"): "snapshot",
    ("monitor/runtime/snapshot.py", "add_alerts"): "snapshot",
    ("monitor/runtime/snapshot.py", "write"): "snapshot",
}
ORDER = ("validate", "registry decode", "route", "facts", "indicators", "alerts", "anomalies", "portrait",
         "outputs", "snapshot", "other")


def _stage_of(frame: Any) -> str | None:
    path = (frame.file_path or "").replace(os.sep, "/")
    name = frame.function or ""
    for (file, func), stage in STAGES.items():
        if path.endswith(file) and (name == func or name.endswith("." + func)):
            return stage
    return None


def _split(frame: Any, stages: Counter[str], indicator_frames: list[Any]) -> None:
    stage = _stage_of(frame)
    if stage is not None:
        stages[stage] += frame.time
        if stage == "indicators":
            indicator_frames.append(frame)
        return
    for child in frame.children:
        _split(child, stages, indicator_frames)


def _by_indicator(frame: Any, functions: dict[tuple[str, str], str], out: Counter[str]) -> None:
    key = (os.path.realpath(frame.file_path or ""), (frame.function or "").rsplit(".", 1)[-1])
    indicator = functions.get(key)
    if indicator is not None:
        out[indicator] += frame.time
        return
    for child in frame.children:
        _by_indicator(child, functions, out)


def _find(frame: Any, name: str) -> Any:
    if (frame.function or "").endswith(name):
        return frame
    for child in frame.children:
        found = _find(child, name)
        if found is not None:
            return found
    return None


def stages_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Profile one embedded run and return stage seconds, shares and the costliest indicators."""
    from pyinstrument import Profiler

    from indicators import REGISTRY
    from monitor.config import Settings
    from monitor.pipeline.rules import load_rules
    from monitor.runtime.embedded import run_to_files

    settings = Settings.from_env()
    rules = load_rules(settings.rules_path)
    pseudonymiser = settings.pseudonymiser()
    out = Path(spec["out"])
    profiler = Profiler(interval=spec.get("interval", 0.001))
    started = time.perf_counter()
    profiler.start()

    def bench_run() -> Any:
        return run_to_files(Path(spec["households"]), [Path(spec["events"])], rules, pseudonymiser, out)

    result = bench_run()
    profiler.stop()
    wall = time.perf_counter() - started
    root = _find(profiler.last_session.root_frame(), "bench_run")
    stages: Counter[str] = Counter()
    indicator_frames: list[Any] = []
    _split(root, stages, indicator_frames)
    stages["other"] = max(0.0, root.time - sum(stages.values()))
    functions = {(os.path.realpath(ind.fn.__code__.co_filename), ind.fn.__code__.co_name): ind.id for ind in REGISTRY}
    per_indicator: Counter[str] = Counter()
    for frame in indicator_frames:
        _by_indicator(frame, functions, per_indicator)
    total = root.time
    return {
        "events_read": result.events_read, "events_applied": result.events_applied,
        "households": result.households, "wall_s": wall, "profiled_s": total,
        "samples_interval_s": spec.get("interval", 0.001),
        "stages": [{"stage": s, "seconds": stages.get(s, 0.0), "share": stages.get(s, 0.0) / total,
                    "us_per_event": 1e6 * stages.get(s, 0.0) / max(1, result.events_applied)} for s in ORDER],
        "indicators_s": stages.get("indicators", 0.0),
        "indicator_functions_s": sum(per_indicator.values()),
        "indicators": [{"id": i, "seconds": t, "share_of_total": t / total,
                        "share_of_indicators": t / max(1e-9, stages.get("indicators", 0.0)),
                        "us_per_event": 1e6 * t / max(1, result.events_applied)}
                       for i, t in per_indicator.most_common()],
    }



def measure_stages(households: Path, events: Path, out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Profile one run in a child; print the stage table and the ten costliest indicators."""
    child = run_child("bench.stages", {"households": str(households), "events": str(events), "out": str(out)})
    if not child.ok:
        log(f"  stage profile FAILED: {child.killed or child.stderr_tail[-800:]}")
        return {"error": child.killed or child.stderr_tail[-1500:]}
    rep = child.report
    log(f"  {rep['households']:,} households, {rep['events_applied']:,} events applied, profiled "
        f"{rep['profiled_s']:.1f} s = {rep['events_applied'] / rep['profiled_s']:,.0f} ev/s under the profiler")
    for row in rep["stages"]:
        log(f"    {row['stage']:<16} {100 * row['share']:5.1f} %  {row['us_per_event']:8.1f} us/event")
    fn_share = rep["indicator_functions_s"] / max(1e-9, rep["indicators_s"])
    log(f"    (indicators: {100 * fn_share:.0f} % in the 67 indicator functions, the rest in score_household's loop)")
    for row in rep["indicators"][:10]:
        log(f"      {row['id']:<34} {100 * row['share_of_total']:5.1f} % of the run  "
            f"{row['us_per_event']:6.1f} us/event")
    return {**rep, "peak_rss_bytes": child.peak_rss_bytes}


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    emit(stages_child(json.loads(sys.argv[2])))
