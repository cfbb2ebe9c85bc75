"""`python -m bench.reuse [--households N]`: how much of each scoring an incremental engine could skip.

Every event re-evaluates all 67 indicators.  This measures, on one embedded run of a generated set
(1,000 households by default), how many of those evaluations found the same thing as the household's
previous scoring, and, for each finding that changed, why:

- **time**: the household as it was before the event, evaluated at the event's time, already finds the new
  value or differs from the old one (a window emptied, a member aged, the 12-month income rule moved on);
- **declared input**: the event's category is among the indicator's declared `inputs`;
- **undeclared**: neither; the event changed facts the indicator reads (members, incomes) through a category
  it does not declare.

It also counts the evaluations whose event is among the indicator's declared inputs: what an engine keyed by
input category would run.  And, in a second run without the tally, it times `score_household` (after each
event, for the first event's baseline, and for each portrait) against the whole `run_embedded`: the rest is
what even an engine whose indicators cost nothing would still spend.

An engine that re-evaluated only the indicators whose declared inputs an event touched would miss the
"time" and "undeclared" changes, so the figures say how far the declarations are from a dependency
graph.  The first run wraps the two core functions the second pass calls (`advance`, to copy the facts
before the event, and `score_household`, to evaluate the indicators one by one), so it is several times
slower than a real run: it only counts.  The timed run wraps `score_household` alone (two clock reads a call).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from bench.data import dataset
from indicators import REGISTRY
from indicators.base import Context, Finding
from monitor.config import Settings
from monitor.household import HouseholdFacts
from monitor.model import Event
from monitor.pipeline import portrait, profile
from monitor.pipeline.rules import RuleSet, load_rules
from monitor.pipeline.score import Scores
from monitor.runtime.embedded import run_embedded

__all__ = ["measure_reuse"]

_facts_codec = (msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(HouseholdFacts))
_CAUSES = ("time", "declared input", "undeclared")


class _Tally:
    """Findings per household's last scoring, and the counts."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.last: dict[str, dict[str, Finding | None]] = {}  # household id -> findings of its last scoring
        self.before: dict[int, HouseholdFacts] = {}  # id(facts) -> a copy taken just before `advance`
        self.evaluations = self.same = self.on_inputs = 0
        self.changed: Counter[str] = Counter()
        self.by_indicator: dict[str, Counter[str]] = {ind.id: Counter() for ind in REGISTRY}
        self.undeclared: dict[str, Counter[str]] = {ind.id: Counter() for ind in REGISTRY}  # -> category -> n

    def findings(self, ctx: Context) -> dict[str, Finding | None]:
        return {ind_id: evaluate(ctx) for ind_id, _, evaluate, _ in self.rules.indicator_plan(ctx.facts.region)}

    def scored(self, ctx: Context) -> None:
        household = ctx.facts.household_id
        now = self.findings(ctx)
        previous = self.last.get(household)
        old_facts = self.before.pop(id(ctx.facts), None)
        self.last[household] = now
        if previous is None or ctx.trigger is None or old_facts is None:
            return  # a baseline scoring, or the first of a replay: nothing to compare with
        then = self._before_the_event_at_its_time(ctx, old_facts)
        for ind_id, finding in now.items():
            self.evaluations += 1
            self.on_inputs += ctx.trigger.category in REGISTRY[ind_id].inputs
            if finding == previous[ind_id]:
                self.same += 1
                continue
            if then[ind_id] != previous[ind_id] or then[ind_id] == finding:
                cause = "time"
            elif ctx.trigger.category in REGISTRY[ind_id].inputs:
                cause = "declared input"
            else:
                cause = "undeclared"
                self.undeclared[ind_id][ctx.trigger.category] += 1
            self.changed[cause] += 1
            self.by_indicator[ind_id][cause] += 1

    def _before_the_event_at_its_time(self, ctx: Context, old_facts: HouseholdFacts) -> dict[str, Finding | None]:
        trigger = ctx.trigger
        assert trigger is not None
        events: dict[str, list[Event]] = dict(ctx.events_by_category)  # type: ignore[arg-type]
        events[trigger.category] = [e for e in events[trigger.category] if e is not trigger]
        return self.findings(Context(facts=old_facts, events_by_category=events, t=ctx.t, region=ctx.region))


def measure_reuse(households: int, seed: int = 1) -> dict[str, Any]:
    """Run the embedded engine once on a generated set, with the tally wrapped around scoring."""
    data = dataset(households, seed)
    settings = Settings.from_env()
    rules = load_rules(settings.rules_path)
    tally = _Tally(rules)
    real_advance, real_score = profile.advance, profile.score_household

    def advance(facts: HouseholdFacts, event: Event) -> Any:
        encode, decode = _facts_codec
        tally.before[id(facts)] = decode.decode(encode.encode(facts))
        return real_advance(facts, event)

    def score_household(ctx: Context, rules: RuleSet) -> Scores:
        tally.scored(ctx)
        return real_score(ctx, rules)

    profile.advance, profile.score_household = advance, score_household
    try:
        result = run_embedded(data.registry, [data.events_file], rules, settings.pseudonymiser(), jobs=1)
    finally:
        profile.advance, profile.score_household = real_advance, real_score
    changed = sum(tally.changed.values())
    run_s, scoring_s = _time_scoring(data.registry, data.events_file, rules, settings)
    return {
        "run_s": run_s, "scoring_s": scoring_s,
        "events_per_s_without_scoring": result.events_applied / (run_s - scoring_s),
        "households": households, "seed": seed, "events_applied": result.events_applied,
        "evaluations": tally.evaluations, "same": tally.same, "changed": changed, "on_inputs": tally.on_inputs,
        "same_share": tally.same / tally.evaluations if tally.evaluations else None,
        "changed_by_cause": {cause: tally.changed[cause] for cause in _CAUSES},
        "indicators_never_changed_outside_inputs": sorted(
            ind_id for ind_id, causes in tally.by_indicator.items()
            if not causes["time"] and not causes["undeclared"]),
        "by_indicator": {ind_id: dict(causes) for ind_id, causes in tally.by_indicator.items() if causes},
        "undeclared_categories": {ind_id: dict(found.most_common()) for ind_id, found in tally.undeclared.items()
                                  if found},
    }


def _time_scoring(registry: Path, events: Path, rules: RuleSet, settings: Settings) -> tuple[float, float]:
    """(seconds of the whole run, seconds of it inside score_household), one process, nothing else wrapped."""
    real = profile.score_household
    inside = 0.0

    def score_household(ctx: Context, rules: RuleSet) -> Scores:
        nonlocal inside
        start = time.perf_counter()
        try:
            return real(ctx, rules)
        finally:
            inside += time.perf_counter() - start

    profile.score_household = portrait.score_household = score_household
    try:
        start = time.perf_counter()
        run_embedded(registry, [events], rules, settings.pseudonymiser(), jobs=1)
        return time.perf_counter() - start, inside
    finally:
        profile.score_household = portrait.score_household = real


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the figures, and write them as JSON with --out."""
    parser = argparse.ArgumentParser(prog="python -m bench.reuse", description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    found = measure_reuse(args.households)
    share = found["same_share"]
    print(f"{found['households']:,} households, {found['events_applied']:,} events applied: "
          f"{found['evaluations']:,} indicator evaluations after an event, "
          f"{found['same']:,} ({share:.1%}) found the same as the household's previous scoring")
    print(f"evaluations whose event is among the indicator's declared inputs: {found['on_inputs']:,} "
          f"({found['on_inputs'] / found['evaluations']:.1%}): what an engine keyed by input category would run")
    print(f"changed: {found['changed']:,}, of which " + ", ".join(
        f"{cause} {n:,} ({n / found['changed']:.0%})" for cause, n in found["changed_by_cause"].items()))
    print(f"timed run: {found['run_s']:.1f} s, of which {found['scoring_s']:.1f} s in score_household "
          f"({found['scoring_s'] / found['run_s']:.0%}); with indicators that cost nothing: at most "
          f"{found['events_per_s_without_scoring']:,.0f} events/s")
    only_inputs = found["indicators_never_changed_outside_inputs"]
    print(f"indicators that changed only on their declared inputs: {len(only_inputs)} of {len(REGISTRY)}")
    worst = sorted(found["by_indicator"].items(), key=lambda kv: -(kv[1].get("time", 0) + kv[1].get("undeclared", 0)))
    for ind_id, causes in worst[:10]:
        print(f"  {ind_id:34s} " + ", ".join(f"{c} {causes.get(c, 0):,}" for c in _CAUSES))
    print("categories that changed an indicator without being among its inputs (most often first):")
    for ind_id, categories in sorted(found["undeclared_categories"].items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  {ind_id:34s} " + ", ".join(f"{c} {n:,}" for c, n in list(categories.items())[:4]))
    if args.out:
        args.out.write_text(json.dumps(found, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
