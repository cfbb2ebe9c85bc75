"""Stage 5: scores + rules → at most one alert per event (contract §4.1, catalogue §4.2 and §4.4).

Every rule whose conditions hold is a candidate; the highest level wins, ties go to the earlier rule.
An alert is only emitted when its trigger family has no open alert of the same or a higher level:
a higher level on an open family is an escalation, a new alert whose `supersedes` names the old one.
The alert id hashes (household, rule, trigger event) and nothing else, so a replay re-creates it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Collection, Mapping

from msgspec import Struct

from indicators import REGISTRY
from indicators.base import Context, Level
from monitor.categories import Family, family_of
from monitor.model import CST, DAY, Event
from monitor.pipeline.rules import LEVEL_RANK, AlertRule, Condition, RuleSet
from monitor.pipeline.score import Reading, Scores
from monitor.privacy import Pseudonymiser, Purpose, mask_id

__all__ = ["Alert", "OpenAlert", "Reason", "Trigger", "alert_id", "decide_alert"]


class Reason(Struct, frozen=True):
    """One contributing indicator, explained without personal data."""

    indicator_id: str
    dimension: str
    level: str
    value: float
    summary: str


class Trigger(Struct, frozen=True):
    """The event that raised the alert."""

    event_id: str
    category: str
    occurred_at: str


class Alert(Struct, frozen=True):
    """An alert record of contract §4.1, less `emitted_at`, which the runtime adds on the way out."""

    alert_id: str
    household_id: str
    level: str
    rule_id: str
    trigger_family: str
    score: float
    dimension_scores: dict[str, float]
    reasons: list[Reason]
    trigger: Trigger
    subject: str | None
    subject_masked: str | None
    needs: list[str]
    verify_by: str
    rules_version: str
    supersedes: str | None
    event_time: str


class OpenAlert(Struct, frozen=True, array_like=True):
    """The latest alert of one trigger family: what a new candidate is compared with."""

    alert_id: str
    level: str
    t: int


def alert_id(household_id: str, rule_id: str, trigger_event_id: str) -> str:
    """Deterministic id: the same household, rule and trigger event always give the same id."""
    digest = hashlib.sha256(f"{household_id}|{rule_id}|{trigger_event_id}".encode()).hexdigest()
    return "a-" + digest[:32]


_HEADLINES = {ind.id: ind.headline for ind in REGISTRY if ind.headline is not None}


def _headline_readings(scores: Scores) -> list[tuple[Reading, Family]]:
    found = [(reading, _HEADLINES[reading.indicator_id]) for reading in scores.readings.values()
             if reading.indicator_id in _HEADLINES]
    found.sort(key=lambda rf: (-rf[0].level, rf[0].indicator_id))
    return found


def _compare(op: str, actual: object, expected: object) -> bool:
    if op == "in":
        return actual in expected  # type: ignore[operator]
    if op == "not_in":
        return actual not in expected  # type: ignore[operator]
    if op == "eq":
        return actual == expected
    a, e = float(actual), float(expected)  # type: ignore[arg-type]
    return {"lt": a < e, "lte": a <= e, "gt": a > e, "gte": a >= e}[op]


class _Match(Struct):
    indicators: list[str]
    headlines: list[tuple[Reading, Family]]
    family: Family | None = None


def _holds(cond: Condition, ctx: Context, scores: Scores, previous: Scores, trigger: Event, match: _Match,
           event_time: Callable[[str], int | None]) -> bool:
    kind = cond.kind
    if kind == "indicator":
        if scores.level_of(cond.target) < cond.level:
            return False
        match.indicators.append(cond.target)
        return True
    if kind in ("headline_indicator", "trigger_headline"):
        by_trigger = kind == "trigger_headline" or cond.fed_by_trigger
        level = cond.level if kind == "headline_indicator" else Level.L
        for reading, family in match.headlines:
            if reading.level >= level and (not by_trigger or reading.evidence == trigger.event_id):
                match.indicators.append(reading.indicator_id)
                match.family = match.family or family
                return bool(cond.value) if kind == "trigger_headline" else True
        return kind == "trigger_headline" and not cond.value
    if kind == "headline_streams":
        families = set()
        for reading, family in match.headlines:
            when = event_time(reading.evidence) if reading.evidence else None
            if when is not None and trigger.t - when <= cond.within_days * DAY:
                families.add(family)
                match.indicators.append(reading.indicator_id)
        return len(families) >= cond.value
    if kind == "score":
        # `rising`: this event lifts the score into the band from at least `hysteresis` points below it, so a
        # household that stays in a band, or hovers at its edge, is not alerted again and again.
        return scores.score >= cond.value and not (cond.rising and previous.score >= cond.value - cond.hysteresis)
    if kind == "dimension":
        return scores.dimensions.get(cond.target, 0.0) >= cond.value
    return _compare(cond.op, _fact(cond.target, ctx, scores), cond.value)


def _fact(name: str, ctx: Context, scores: Scores) -> object:
    if name == "r":
        return ctx.r
    if name == "earners":
        return len(ctx.earners)
    if name == "category":
        return ctx.facts.category
    if name == "household_size":
        return ctx.size
    assert name == "score"
    return scores.score


def _family(rule: AlertRule, match: _Match, trigger: Event) -> str:
    if rule.family == "indicator":
        assert match.family is not None
        return match.family.value
    if rule.family == "trigger":
        return (match.family or family_of(trigger.category)).value
    return rule.family


def decide_alert(
    rules: RuleSet, ctx: Context, scores: Scores, previous: Scores, trigger: Event,
    open_alerts: Mapping[str, OpenAlert], held_before: Collection[str], pseudonymiser: Pseudonymiser,
    event_time: Callable[[str], int | None],
) -> tuple[Alert | None, list[str]]:
    """The alert this event raises (or None), and the ids of the rules that hold after it.

    A rule raises an alert only when this event makes it hold (it did not hold after the previous
    event): a lasting condition is reported once, not on every event.  `previous` is the household's
    score before this event (its registry baseline for the first event).
    """
    best: tuple[AlertRule, _Match] | None = None
    holding: list[str] = []
    headlines = _headline_readings(scores)  # read-only for every rule, so sorted once
    for rule in rules.rules:
        match = _Match(indicators=[], headlines=headlines)
        if not all(_holds(c, ctx, scores, previous, trigger, match, event_time) for c in rule.when):
            continue
        holding.append(rule.id)
        if rule.id not in held_before and (best is None or LEVEL_RANK[rule.level] > LEVEL_RANK[best[0].level]):
            best = (rule, match)
    if best is None:
        return None, holding
    rule, match = best
    family = _family(rule, match, trigger)
    previous_alert = open_alerts.get(family)
    supersedes = None
    if previous_alert is not None and trigger.t - previous_alert.t <= rules.open_alert_days * DAY:
        if LEVEL_RANK[rule.level] <= LEVEL_RANK[previous_alert.level]:
            return None, holding  # the open alert already covers this; the profile shows the new evidence
        supersedes = previous_alert.alert_id
    return _build(rules, ctx, scores, trigger, rule, match, family, supersedes, pseudonymiser), holding


def _build(rules: RuleSet, ctx: Context, scores: Scores, trigger: Event, rule: AlertRule, match: _Match,
           family: str, supersedes: str | None, pseudonymiser: Pseudonymiser) -> Alert:
    matched = list(dict.fromkeys(match.indicators))
    others = sorted((r for r in scores.readings.values() if r.indicator_id not in matched),
                    key=lambda r: (-r.points, -r.weight, r.indicator_id))
    chosen = [scores.readings[i] for i in matched if i in scores.readings] + others
    reasons = [Reason(r.indicator_id, r.dimension, Level(r.level).name, r.value,
                      REGISTRY[r.indicator_id].summary) for r in chosen[: rules.reasons]]
    needs: list[str] = []
    for reading in chosen:
        for need in rules.needs.get(reading.indicator_id, ()):
            if need not in needs:
                needs.append(need)
    subject_id = trigger.person_id or next((r.subject for r in chosen if r.subject), None)
    day = dt.datetime.fromtimestamp(trigger.t, CST).date()
    return Alert(
        alert_id=alert_id(ctx.facts.household_id, rule.id, trigger.event_id),
        household_id=ctx.facts.household_id, level=rule.level, rule_id=rule.id, trigger_family=family,
        score=scores.score, dimension_scores=dict(scores.dimensions), reasons=reasons,
        trigger=Trigger(trigger.event_id, trigger.category, trigger.occurred_at),
        subject=pseudonymiser.pseudonym(subject_id, Purpose.ALERT) if subject_id else None,
        subject_masked=mask_id(subject_id) if subject_id else None,
        needs=needs, verify_by=(day + dt.timedelta(days=rules.verify_days(rule.level))).isoformat(),
        rules_version=rules.version, supersedes=supersedes, event_time=trigger.occurred_at,
    )


