"""The household profile (一户一画像, catalogue §5) as of one moment: what analysts and caseworkers read.

The state is evaluated again at the as-of time (the latest event time of the run, or `--as-of`), so a
90-day window that has closed no longer counts even if no event arrived since.
"""

from __future__ import annotations

import datetime as dt

from msgspec import Struct

from indicators.base import Context, Level
from monitor.model import DAY
from monitor.pipeline.alerts import Alert
from monitor.pipeline.profile import HouseholdState
from monitor.pipeline.rules import LEVEL_RANK, RuleSet
from monitor.pipeline.score import Scores, score_household

__all__ = ["TAGS", "MemberView", "Portrait", "portrait"]

# 标签 (catalogue §5): a tag is shown when any of its indicators is at the given level or above.
TAGS: tuple[tuple[str, tuple[str, ...], Level], ...] = (
    ("因病", ("hd_major_disease_new", "hd_seriously_ill_members", "exp_medical_oop_ratio"), Level.M),
    ("因残", ("hd_disability_new", "hd_disability_worsened", "hd_severe_disabled_members"), Level.M),
    ("因失业", ("emp_working_age_job_loss", "emp_unemployment_duration"), Level.L),
    ("因死亡/丧偶", ("fam_main_earner_death",), Level.L),
    ("因灾", ("fam_disaster_affected", "exp_disaster_rebuild"), Level.L),
    ("因意外", ("hd_accident_injury",), Level.L),
    ("因学", ("exp_education_burden",), Level.M),
    ("刚性支出大", ("exp_rigid_ratio",), Level.M),
    ("收入骤减", ("inc_income_drop",), Level.M),
    ("零就业", ("emp_zero_employment_household",), Level.M),
    ("独居高龄", ("fam_elderly_alone",), Level.M),
    ("单亲", ("fam_single_parent",), Level.L),
    ("重残", ("hd_severe_disabled_members",), Level.M),
    ("多病", ("hd_seriously_ill_members",), Level.H),
)


class MemberView(Struct, frozen=True):
    """A member as the profile shows it: no ID number, an age band instead of a birth date."""

    person_id: str
    relation: str
    age: int
    sex: str
    present: bool
    employed: bool
    disability_grade: int | None
    monthly_income: float


class Portrait(Struct, frozen=True):
    """One household's profile at `as_of`."""

    household_id: str
    region: str
    category: str
    member_count: int
    scores: Scores
    level: str
    tags: list[str]
    needs: list[str]
    events_applied: int
    last_event_at: str | None
    open_alerts: list[Alert]
    members: list[MemberView]
    income_ratio: float


def portrait(state: HouseholdState, as_of: int, rules: RuleSet) -> Portrait:
    """Evaluate the household at `as_of` and gather its profile."""
    facts = state.facts
    by_category: dict[str, list] = {}
    for event in state.events:
        by_category.setdefault(event.category, []).append(event)
    at = max(as_of, facts.last_t) if state.events else as_of
    ctx = Context(facts=facts, events_by_category=by_category, t=at, region=rules.region(facts.region))
    scores = score_household(ctx, rules)
    open_alerts = _open_alerts(state, at, rules)
    level = rules.band(scores.score)
    for alert in open_alerts:
        if LEVEL_RANK[alert.level] > LEVEL_RANK[level]:
            level = alert.level
    tags = [tag for tag, ids, floor in TAGS if any(scores.level_of(i) >= floor for i in ids)]
    if ctx.r < 1.0 and facts.category not in ("dibao", "tekun"):
        tags.append("疑似应保未保")
    if facts.phasing_out:
        tags.append("渐退期")
    needs: list[str] = []
    for reading in sorted(scores.readings.values(), key=lambda r: (-r.points, r.indicator_id)):
        for need in rules.needs.get(reading.indicator_id, ()):
            if need not in needs:
                needs.append(need)
    for need in facts.needs_declared:
        if need not in needs:
            needs.append(need)
    members = [MemberView(m.person_id, m.relation, m.age(at), m.sex, m.present(at), m.employed,
                          m.disability_grade, round(m.monthly_income(at), 2)) for m in facts.members.values()]
    last = state.events[-1].occurred_at if state.events else None
    return Portrait(facts.household_id, facts.region, facts.category, len(ctx.members), scores, level, tags,
                    needs, len(state.events), last, open_alerts, members, round(ctx.r, 4))


def _open_alerts(state: HouseholdState, at: int, rules: RuleSet) -> list[Alert]:
    superseded = {a.supersedes for a in state.alerts if a.supersedes}
    horizon = at - rules.open_alert_days * DAY
    out = []
    for alert in state.alerts:
        when = int(dt.datetime.fromisoformat(alert.event_time).timestamp())
        if alert.alert_id not in superseded and when >= horizon:
            out.append(alert)
    return out


