"""Indicators of the employment dimension (catalogue §3.6): job loss, unemployment, work capacity, care.

Ordinal indicators grade the case themselves and return 3 (H), 2 (M) or 1 (L); the others return a
count, a number of months or days, a grade or a ratio that rules.yaml grades.  Each returns None when it
does not apply.  When several members or events qualify, the highest grade wins and, among equal grades,
the latest event; the finding names that member and event.

"Working age" is the region's range (16-59 by default) and "at home" excludes members in custody or
prison, who neither earn for nor care for the household.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from indicators.base import Context, Dimension, Finding, Indicator, declarer
from indicators.common import better, last_of
from monitor import payloads as p
from monitor.categories import Family
from monitor.household import MemberState
from monitor.model import DAY, Event, day_of, month_of

__all__ = ["DECLARED"]

DECLARED: list[Indicator] = []
declare = declarer(DECLARED, Dimension.EMPLOYMENT)

_CONTRIBUTIONS = ("hr_social_insurance_contrib", "hs_provident_fund")
# Disability categories whose grade 3 counts as severe where the region says so.
_GRADE3_SEVERE_CATEGORIES = ("intellectual", "mental")
# 失能 levels at which a person needs someone at home for daily living.
_CARE_CAPACITY = ("moderate", "severe", "total")
# A paid contribution in one of these months before a job loss shows a regular (full-time) job.
_FORMAL_JOB_MONTHS = 3
# "No capable adult" is an infinite dependency ratio; it is reported as this finite number so the
# value stays a plain JSON number.  It is far above any threshold an operator would set.
_NO_CAPABLE_ADULT_RATIO = 99.0


# --- helpers ---------------------------------------------------------------------------------------------





def _working_age_at(ctx: Context, m: MemberState, t: int) -> bool:
    return ctx.region.working_age_min <= m.age(t) <= ctx.region.working_age_max


def _earns(ctx: Context, m: MemberState) -> bool:
    return ctx.earns(m)


def _has_job(ctx: Context, m: MemberState) -> bool:
    """A regular job (including a public-welfare post) or any current wage or business income."""
    return m.employed or _earns(ctx, m)


def _months_between(start: int, end: int) -> int:
    """Completed calendar months from one event time to another (CST dates)."""
    a, b = dt.date.fromordinal(day_of(start)), dt.date.fromordinal(day_of(end))
    return (b.year - a.year) * 12 + (b.month - a.month) - (b.day < a.day)


def _jobless_since(ctx: Context, m: MemberState) -> int:
    """When a member without a job last had one: the job loss, else the registry record or arrival."""
    known = max(ctx.facts.as_of_t, m.joined_at or ctx.facts.as_of_t)
    return max(known, m.unemployed_since) if m.unemployed_since is not None else known


def _currently_unemployed(m: MemberState) -> bool:
    """Registered unemployed, with neither a re-employment record nor a paid contribution since."""
    if m.unemployed_since is None or m.reemployed_at is not None:
        return False
    lost_month = month_of(m.unemployed_since)
    return not any(month > lost_month for month in m.paid_months)


def _registration(ctx: Context, m: MemberState) -> Event | None:
    """The registration that opened the member's current unemployment spell."""
    for event in reversed(ctx.within("hr_unemployment_registration", math.inf)):
        if event.person_id == m.person_id and event.t == m.unemployed_since:
            return event
    return None


def severely_disabled(ctx: Context, m: MemberState) -> bool:
    """Grade 1-2, or grade 3 intellectual or mental disability where the region counts it as severe."""
    grade = m.disability_grade
    if grade is None:
        return False
    return grade <= 2 or (grade == 3 and ctx.region.severe_includes_grade3_mental
                          and any(c in _GRADE3_SEVERE_CATEGORIES for c in m.disability_categories))


def needs_care(ctx: Context, m: MemberState, illness_days: float) -> bool:
    """Severely disabled, at least moderately 失能, or diagnosed with a major disease within illness_days."""
    ill = m.major_disease_at is not None and ctx.t - m.major_disease_at <= illness_days * DAY
    return ill or severely_disabled(ctx, m) or m.capacity in _CARE_CAPACITY


def _month_index(month: str) -> int:
    year, mon = (int(x) for x in month.split("-"))
    return year * 12 + mon - 1


def _contribution_gap(ctx: Context, m: MemberState) -> Event | None:
    """The report completing two unpaid months in a row right after the last paid month, if any.

    A gap counts only after a paid month (there was a job to lose) and only while nothing was paid since.
    """
    if not m.paid_months:
        return None
    last_paid = max(m.paid_months)
    gap = (last_paid + 1, last_paid + 2)
    if not all(month in m.unpaid_months for month in gap):
        return None
    first_report: dict[int, Event] = {}
    for category in _CONTRIBUTIONS:
        for event in ctx.within(category, math.inf):
            pl = event.payload
            assert isinstance(pl, p.HrSocialInsuranceContrib | p.HsProvidentFund)
            month = _month_index(pl.month)
            if event.person_id == m.person_id and not pl.paid and month in gap:
                if month not in first_report or event.key < first_report[month].key:
                    first_report[month] = event
    if len(first_report) < len(gap):
        return None
    return max(first_report.values(), key=lambda e: e.key)


def _formal_job_before(m: MemberState, t: int) -> bool:
    """A regular job when the loss was registered, or a paid contribution in the months just before."""
    lost_month = month_of(t)
    return m.job_lost_employed or any(lost_month - _FORMAL_JOB_MONTHS <= month < lost_month
                                      for month in m.paid_months)


def top_earner_before(ctx: Context, t: int) -> str | None:
    """The person_id of the top earner just before time t, as recorded when it was true.

    Replaying income at an earlier time is not enough: a job loss or custody resets the member's wage
    for every later query, so the earner timeline kept while advancing is the record to read.
    """
    for at, _, top in reversed(ctx.facts.earner_timeline):
        if at < t:
            return top
    return None


def _was_top_earner(ctx: Context, m: MemberState, t: int) -> bool:
    return top_earner_before(ctx, t) == m.person_id


def _latest(events: Iterable[Event | None]) -> Event | None:
    found = [e for e in events if e is not None]
    return max(found, key=lambda e: e.key) if found else None


# --- indicators -------------------------------------------------------------------------------------------

@declare(
    id="emp_working_age_job_loss", name_zh="劳动年龄成员失业", name_en="Job loss of a working-age member",
    inputs=("hr_unemployment_registration", "hr_social_insurance_contrib", "hs_provident_fund"),
    summary="A working-age member recently lost a job",
    headline=Family.UNEMP,
)
def emp_working_age_job_loss(ctx: Context, *, window_days: float) -> Finding | None:
    """Grades a recent job loss: 3 the main earner's; 2 another member's regular job; 1 anyone else's.

    "Anyone else" had no regular job before registering: odd jobs, part-time work, or a first job search.
    A job loss is a registration of unemployment, or two unpaid contribution months in a row after a paid
    one, within the window, of a member of working age then who has not found work since.
    """
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for event in ctx.within("hr_unemployment_registration", window_days):
        m = ctx.member(event.person_id)
        # Only the registration that opened the current spell counts; a repeat adds nothing.
        if m is None or not m.present(ctx.t) or event.t != m.job_lost_at or not _currently_unemployed(m):
            continue
        if not _working_age_at(ctx, m, event.t):
            continue
        if _was_top_earner(ctx, m, event.t):
            grade = 3
        else:
            grade = 2 if _formal_job_before(m, event.t) else 1
        if better(best, grade, event.t):
            best, found = (grade, event.t), Finding(grade, m.person_id, event.event_id)
    for m in ctx.members:
        gap = _contribution_gap(ctx, m)
        if gap is None or gap.t <= ctx.t - window_days * DAY or not _working_age_at(ctx, m, gap.t):
            continue
        if m.reemployed_at is not None and m.reemployed_at > gap.t:
            continue
        # Contributions are paid only for regular jobs, so a gap is the loss of one.
        grade = 3 if _was_top_earner(ctx, m, gap.t) else 2
        if better(best, grade, gap.t):
            best, found = (grade, gap.t), Finding(grade, m.person_id, gap.event_id)
    return found


@declare(
    id="emp_unemployment_duration", name_zh="失业持续时长", name_en="Unemployment duration",
    inputs=("hr_unemployment_registration", "hr_employment_service"),
    summary="How long a working-age member has been registered unemployed without finding work again",
)
def emp_unemployment_duration(ctx: Context) -> Finding | None:
    """Completed months of the longest current unemployment spell (rules.yaml: H 6+, M 3+, L 1+)."""
    found: Finding | None = None
    for m in ctx.members:
        if not _currently_unemployed(m) or not ctx.working_age(m):
            continue
        assert m.unemployed_since is not None
        months = _months_between(m.unemployed_since, ctx.t)
        if found is None or months > found.value:
            event = _registration(ctx, m)
            found = Finding(months, m.person_id, event.event_id if event else None)
    return found


@declare(
    id="emp_zero_employment_household", name_zh="零就业家庭", name_en="Zero-employment household",
    inputs=("ps_household_register", "hr_social_insurance_contrib", "hr_employment_service"),
    summary="No working-age member able to work has had a job for some months",
)
def emp_zero_employment_household(ctx: Context, *, min_days: float) -> Finding | None:
    """Grades a household whose working-age members able to work have no job.

    3: two or more such members, none with a job for min_days; 2: the only such member has had no job for
    min_days; 1: the only jobs are public-welfare posts.
    """
    capable = [m for m in ctx.at_home
               if ctx.working_age(m) and m.student_stage is None
               and (m.work_capable or m.employed or m.unemployed_since is not None)]
    if not capable:
        return None
    jobs = [m for m in capable if _has_job(ctx, m)]
    if any(not m.public_welfare_post for m in jobs):
        return None
    if jobs:
        return Finding(1, jobs[0].person_id if len(jobs) == 1 else None)
    # The household has had no job since the latest member's job loss (or registry record or arrival).
    latest = max(capable, key=lambda m: (_jobless_since(ctx, m), m.person_id))
    since = _jobless_since(ctx, latest)
    registration = _registration(ctx, latest) if latest.unemployed_since == since else None
    evidence = registration.event_id if registration else None
    if ctx.t - since < min_days * DAY:
        return Finding(0)
    if len(capable) >= 2:
        return Finding(3, None, evidence)
    return Finding(2, capable[0].person_id, evidence)


@declare(
    id="emp_benefit_exhaustion", name_zh="失业保险金到期", name_en="Unemployment benefit exhaustion",
    inputs=("hr_unemployment_benefit",),
    summary="A member's unemployment benefit has ended or ends soon while they have no job",
)
def emp_benefit_exhaustion(ctx: Context, *, warn_days: float, urgent_days: float) -> Finding | None:
    """Grades the end of a jobless member's unemployment benefit.

    3: the benefit has ended and the member has no job; 2: it ends within urgent_days; 1: it ends within
    warn_days.  A member back in work is not counted.
    """
    best: tuple[int, int] | None = None
    found: Finding | None = None
    today = day_of(ctx.t)
    for m in ctx.members:
        event = last_of(ctx, "hr_unemployment_benefit", m.person_id)
        if event is None or _has_job(ctx, m) or (m.reemployed_at is not None and m.reemployed_at > event.t):
            continue
        assert isinstance(event.payload, p.HrUnemploymentBenefit)
        days_left = event.payload.end.toordinal() - today
        if days_left < 0:
            grade = 3
        elif days_left <= urgent_days:
            grade = 2
        elif days_left <= warn_days:
            grade = 1
        else:
            grade = 0
        if better(best, grade, event.t):
            best, found = (grade, event.t), Finding(grade, m.person_id, event.event_id)
    return found


@declare(
    id="emp_work_capacity_loss", name_zh="劳动能力丧失", name_en="Loss of work capacity",
    inputs=("dis_certificate", "hlth_major_disease_dx", "hr_work_injury"),
    summary="A working-age member can no longer work, or only partly, through disability, illness or injury",
)
def emp_work_capacity_loss(ctx: Context, *, treatment_days: float) -> Finding | None:
    """Grades the loss of a working-age member's capacity to work.

    3: the main earner lost it; 2: another working-age member did; 1: a working-age member lost part of
    it.  Full loss: disability grade 1-2, a major disease diagnosed within treatment_days, or work-injury
    grade 1-4; partial loss: disability grade 3-4 or work-injury grade 5-10.
    """
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for m in ctx.members:
        if not ctx.working_age(m):
            continue
        disability = last_of(ctx, "dis_certificate", m.person_id)
        injury = last_of(ctx, "hr_work_injury", m.person_id)
        full: list[Event | None] = []
        partial: list[Event | None] = []
        if m.disability_grade is not None:
            (full if m.disability_grade <= 2 else partial).append(disability)
        if m.work_injury_grade is not None:
            (full if m.work_injury_grade <= 4 else partial).append(injury)
        if m.major_disease_at is not None and ctx.t - m.major_disease_at <= treatment_days * DAY:
            full.append(last_of(ctx, "hlth_major_disease_dx", m.person_id))
        if not full and not partial:
            continue
        # A fact from the registry baseline has no event; it ranks as the oldest.
        evidence = _latest(full) if full else _latest(partial)
        t = evidence.t if evidence else ctx.facts.as_of_t
        if full:
            main = ctx.is_main_earner(m) or (evidence is not None and _was_top_earner(ctx, m, evidence.t))
            grade = 3 if main else 2
        else:
            grade = 1
        if better(best, grade, t):
            best, found = (grade, t), Finding(grade, m.person_id, evidence.event_id if evidence else None)
    return found


@declare(
    id="emp_work_injury", name_zh="工伤伤残", name_en="Work-injury disability",
    inputs=("hr_work_injury",),
    summary="A member has a recognised work-injury disability grade",
)
def emp_work_injury(ctx: Context) -> Finding | None:
    """The most severe work-injury grade in the household, 1 (worst) to 10 (rules.yaml: H 1-4, M 5-6)."""
    found: Finding | None = None
    for m in ctx.members:
        grade = m.work_injury_grade
        if grade is not None and (found is None or grade < found.value):
            event = last_of(ctx, "hr_work_injury", m.person_id)
            found = Finding(grade, m.person_id, event.event_id if event else None)
    return found


@declare(
    id="emp_dependency_ratio", name_zh="抚养比", name_en="Dependency ratio",
    inputs=("ps_household_register", "edu_student_status", "dis_certificate", "hlth_major_disease_dx"),
    summary="How many dependants each working-age member able to work has to support",
)
def emp_dependency_ratio(ctx: Context) -> Finding | None:
    """Dependants per working-age adult able to work (rules.yaml: H 3+, M 2+, L 1.5+).

    Dependants are minors, students, members aged 60 or more, the severely disabled and members with a
    major disease on record.  With dependants and nobody able to work the ratio is reported as 99 (H).
    """
    dependants, capable = 0, 0
    for m in ctx.at_home:
        age = ctx.age(m)
        if (age < 18 or age >= 60 or m.student_stage is not None or severely_disabled(ctx, m)
                or m.major_disease_at is not None):
            dependants += 1
        elif ctx.working_age(m) and (m.work_capable or m.employed or _earns(ctx, m)
                                     or m.unemployed_since is not None):
            capable += 1
    if dependants == 0:
        return None
    return Finding(dependants / capable if capable else _NO_CAPABLE_ADULT_RATIO)


@declare(
    id="emp_wage_arrears", name_zh="欠薪", name_en="Wage arrears",
    inputs=("hr_wage_arrears",),
    summary="An employer owes a member unpaid wages",
)
def emp_wage_arrears(ctx: Context) -> Finding | None:
    """Months of wages owed to the member owed most (rules.yaml: H 3+, M 2, L 1)."""
    found: Finding | None = None
    for m in ctx.members:
        if m.wage_arrears_months > 0 and (found is None or m.wage_arrears_months > found.value):
            event = last_of(ctx, "hr_wage_arrears", m.person_id)
            found = Finding(m.wage_arrears_months, m.person_id, event.event_id if event else None)
    return found


@declare(
    id="emp_caregiver_out_of_work", name_zh="因照护无法就业", name_en="Caregiver unable to work",
    inputs=("ca_elderly_capacity", "dis_certificate", "hr_social_insurance_contrib"),
    summary="A working-age member able to work stays out of work to care for a member who needs care",
)
def emp_caregiver_out_of_work(ctx: Context, *, illness_days: float) -> Finding | None:
    """Grades a working-age member kept out of regular work by a member who needs care.

    3: the only adult able to care is out of work; 2: one of several adults is; 1: the carer has only
    informal or part-time earnings.  Care is needed by a severely disabled member, a member at least
    moderately 失能, or one diagnosed with a major disease within illness_days.
    """
    home = ctx.at_home
    cared = [m for m in home if needs_care(ctx, m, illness_days)]
    if not cared:
        return None
    carers = [m for m in home
              if m not in cared and ctx.working_age(m) and m.student_stage is None
              and (m.work_capable or m.unemployed_since is not None) and not m.employed]
    if not carers:
        return None
    adults = [m for m in home if m not in cared and ctx.age(m) >= 18]
    out_of_work = [m for m in carers if not _earns(ctx, m)]
    if out_of_work:
        carer = out_of_work[0]
        grade = 2 if any(m is not carer for m in adults) else 3
    else:
        grade, carer = 1, carers[0]
    reasons = [last_of(ctx, c, m.person_id)
               for m in cared for c in ("ca_elderly_capacity", "dis_certificate", "hlth_major_disease_dx")]
    evidence = _latest(reasons)
    return Finding(grade, carer.person_id, evidence.event_id if evidence else None)


@declare(
    id="emp_reemployment_service_gap", name_zh="就业帮扶未覆盖", name_en="No re-employment support",
    inputs=("hr_employment_service",),
    summary="An unemployed member has had no employment assistance, training or public-welfare post",
)
def emp_reemployment_service_gap(ctx: Context) -> Finding | None:
    """Days an unemployed member has gone without any employment service (rules.yaml: H 180+, M 90+, L 60+).

    The longest such spell counts; any assistance, training or post since the job loss closes the gap.
    """
    found: Finding | None = None
    for m in ctx.members:
        if not _currently_unemployed(m) or not ctx.working_age(m):
            continue
        assert m.unemployed_since is not None
        if m.support_service_at is not None and m.support_service_at >= m.unemployed_since:
            continue
        days = day_of(ctx.t) - day_of(m.unemployed_since)
        if found is None or days > found.value:
            event = _registration(ctx, m)
            found = Finding(days, m.person_id, event.event_id if event else None)
    return found
