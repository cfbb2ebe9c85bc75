"""Indicators of the family_events dimension (catalogue §3.7): household structure and life events.

Deaths, departures, custody, single parents, elderly people living alone, disasters, loss of housing and
the household's assistance category.  Ordinal indicators grade the case themselves and return 3 (H),
2 (M) or 1 (L); fam_repeated_temp_assistance returns a count that rules.yaml grades.  Each returns None
when it does not apply.  When several members or events qualify, the highest grade wins and, among equal
grades, the latest event; the finding names that member and event.

"At home" means present and not held in custody or prison: such a member can neither earn for nor look
after the others.
"""

from __future__ import annotations

import math

from indicators.base import AWAY, Context, Dimension, Finding, Indicator, declarer
from indicators.common import better, event_id_of, last_of
from indicators.employment import severely_disabled, top_earner_before
from monitor import payloads as p
from monitor.categories import Family
from monitor.household import MemberState
from monitor.model import DAY, Event

__all__ = ["DECLARED"]

DECLARED: list[Indicator] = []
declare = declarer(DECLARED, Dimension.FAMILY_EVENTS)


_DEATHS = ("ps_death_registration", "hlth_death_medical_cert")
_DEPARTURES = (*_DEATHS, "ps_hukou_migration", "ca_marriage_registration", "ca_divorce_registration",
               "jus_inmate")
_MEMBERSHIP = ("ps_birth_registration", "ca_marriage_registration", "ca_divorce_registration",
               "ps_hukou_migration")
_CARE_CAPACITY = ("moderate", "severe", "total")
_UNSUPPORTED_CHILD = ("orphan", "de_facto_unsupported")
_DISPLACED = ("relatives", "shelter", "homeless")
# Catalogue §3.7 grades some structures by r (per-capita income / dibao): below 1.5 is under the
# national 低边 line, below 2 is close to it.
_R_EDGE = 1.5
_R_LOW = 2.0
_ADULT, _ELDERLY, _OLD, _VERY_OLD = 18, 60, 70, 80
_ASSET_LOSS_SHARE = 0.5      # "≥50% asset loss" (catalogue §3.7, fam_disaster_affected)
_AWAY_DAYS = 183             # "working-age members away ≥6 m" (fam_left_behind)


# --- helpers ---------------------------------------------------------------------------------------------



def _needs_care(ctx: Context, m: MemberState) -> bool:
    """Severely disabled or at least moderately 失能: cannot live without someone at hand."""
    return severely_disabled(ctx, m) or m.capacity in _CARE_CAPACITY




def _departure(ctx: Context, m: MemberState) -> tuple[int, Event | None] | None:
    """When and through which event a member stopped being at home (death, leaving, custody), if so."""
    times = [x for x in (m.died_at, m.left_at) if x is not None and x <= ctx.t]
    if m.custody in AWAY and m.custody_since is not None:
        times.append(m.custody_since)
    if not times:
        return None
    gone = min(times)
    for category in _DEPARTURES:
        for event in ctx.within(category, (ctx.t - gone) / DAY + 1):
            if event.person_id == m.person_id and event.t == gone:
                return gone, event
    return gone, None


def _last_departure(ctx: Context, home: list[MemberState], *, adults_only: bool = False
                    ) -> tuple[int, Event | None] | None:
    """The latest departure of a member (an adult then, if asked) who is no longer at home."""
    latest: tuple[int, Event | None] | None = None
    for m in ctx.facts.members.values():
        if m in home or (m.joined_at is not None and m.joined_at > ctx.t):
            continue
        gone = _departure(ctx, m)
        if gone is None or (adults_only and m.age(gone[0]) < _ADULT):
            continue
        if latest is None or gone[0] >= latest[0]:
            latest = gone
    return latest


def _working_age_at(ctx: Context, m: MemberState, t: int) -> bool:
    return ctx.region.working_age_min <= m.age(t) <= ctx.region.working_age_max


def _income_around(ctx: Context, t: int) -> tuple[tuple[float, int] | None, tuple[float, int] | None]:
    """(income, size) of the household just before and just after time t, as recorded then.

    The timeline is read rather than replayed because a later job loss or custody resets a member's
    wage for every query, including ones about earlier times.
    """
    before: tuple[float, int] | None = None
    after: tuple[float, int] | None = None
    for at, income, size in ctx.facts.income_timeline:
        if at < t:
            before = (income, size)
        if at <= t:
            after = (income, size)
        else:
            break
    return before, after




# --- indicators -------------------------------------------------------------------------------------------

@declare(
    id="fam_main_earner_death", name_zh="主要劳动力死亡", name_en="Death of main earner",
    inputs=_DEATHS,
    summary="The household's main or only working-age earner died",
    headline=Family.DEATH,
)
def fam_main_earner_death(ctx: Context, *, window_days: float, pension_share: float) -> Finding | None:
    """Grades a recent death by what it took from the household's earnings.

    3: no earner left or the rest live under the edge line; 2: main earner died, others earn;
    1: another working-age member died, or a pensioner whose pension carried the household.
    """
    best: Finding | None = None
    for category in _DEATHS:
        for event in ctx.within(category, window_days):
            person = ctx.member(event.person_id)
            # Two sources report one death; the first record (the one that set died_at) is the evidence.
            if person is None or person.died_at != event.t:
                continue
            before = ctx.facts.earners(event.t - 1)
            working_before = [m for m in before if ctx.working_age(m)]
            was_top = bool(before) and before[0].person_id == person.person_id
            only_working = [m.person_id for m in working_before] == [person.person_id]
            if was_top or only_working:
                grade = 3 if not ctx.earners or ctx.r < ctx.region.edge_mult else 2
            elif ctx.working_age(person) and person in before:
                grade = 1
            else:
                income_before = ctx.facts.household_income(event.t - 1)
                carried = income_before > 0 and person.income_before_death >= pension_share * income_before
                grade = 1 if carried else 0
            if grade and (best is None or grade > best.value):
                best = Finding(grade, person.person_id, event.event_id)
    return best


@declare(
    id="fam_dependant_unsupported", name_zh="被抚养人失去照护", name_en="Dependants left without support",
    inputs=("ps_death_registration", "jus_inmate", "ca_child_welfare", "ca_divorce_registration"),
    summary="A child, a person who needs care, or a very old member is left without anyone at home",
)
def fam_dependant_unsupported(ctx: Context, *, window_days: float) -> Finding | None:
    """Grades a dependant left with nobody able to look after them.

    3: a minor has no adult at home, or is registered as orphaned or de facto unsupported; 2: a severely
    disabled or 失能 adult has no able adult at home; 1: a member aged 70 or more became the only one at
    home within window_days.
    """
    home = ctx.at_home
    minors = [m for m in home if ctx.age(m) < _ADULT]
    carers = [m for m in home if ctx.age(m) >= _ADULT and not _needs_care(ctx, m)]
    for child in minors:
        if child.child_welfare in _UNSUPPORTED_CHILD:
            return Finding(3, child.person_id, event_id_of(last_of(ctx, "ca_child_welfare", child.person_id)))
    dependent = [m for m in home if ctx.age(m) >= _ADULT and _needs_care(ctx, m)]
    # A disabled parent is still a guardian: a minor is unsupported only with no adult at home at all.
    guardians = carers + dependent
    if (minors and not guardians) or (dependent and not carers):
        # The adult whose death, departure or custody left nobody able at home is the evidence.
        last_adult = _last_departure(ctx, home, adults_only=True)
        grade, subject = (3, minors[0]) if minors and not guardians else (2, dependent[0])
        return Finding(grade, subject.person_id, event_id_of(last_adult[1]) if last_adult else None)
    if len(home) == 1 and ctx.age(home[0]) >= _OLD:
        last = _last_departure(ctx, home)
        if last is not None and last[0] > ctx.t - window_days * DAY:
            return Finding(1, home[0].person_id, event_id_of(last[1]))
    return None


@declare(
    id="fam_elderly_alone", name_zh="独居/空巢高龄", name_en="Elderly living alone",
    inputs=("ps_household_register", "ca_elderly_capacity"),
    summary="An elderly person lives alone, or an elderly couple lives on its own",
)
def fam_elderly_alone(ctx: Context) -> Finding | None:
    """Grades elderly-only homes: 3 alone at 80+; 2 alone at 70-79, or a couple both 80+; 1 alone at 60-69."""
    home = ctx.at_home
    if not home or len(home) > 2 or any(ctx.age(m) < _ELDERLY for m in home):
        return None
    if len(home) == 1:
        age = ctx.age(home[0])
        grade = 3 if age >= _VERY_OLD else 2 if age >= _OLD else 1
        return Finding(grade, home[0].person_id)
    return Finding(2) if all(ctx.age(m) >= _VERY_OLD for m in home) else None


@declare(
    id="fam_single_parent", name_zh="单亲抚养", name_en="Single parent with minors",
    inputs=("ps_household_register", "ca_divorce_registration", "ps_death_registration"),
    summary="One adult alone brings up the household's minor children",
)
def fam_single_parent(ctx: Context) -> Finding | None:
    """Grades one adult bringing up minors.

    3: two or more minors and per-capita income under 1.5 x dibao; 2: under 2 x dibao; 1: any other
    single adult with minors.
    """
    home = ctx.at_home
    adults = [m for m in home if ctx.age(m) >= _ADULT]
    minors = [m for m in home if ctx.age(m) < _ADULT]
    if len(adults) != 1 or not minors:
        return None
    if len(minors) >= 2 and ctx.r < _R_EDGE:
        grade = 3
    elif ctx.r < _R_LOW:
        grade = 2
    else:
        grade = 1
    last = _last_departure(ctx, home, adults_only=True)
    return Finding(grade, adults[0].person_id, event_id_of(last[1]) if last else None)


@declare(
    id="fam_membership_change", name_zh="人口变动致人均下降",
    name_en="Membership change lowers per-capita income",
    inputs=_MEMBERSHIP,
    summary="A birth, marriage, divorce or move changed the household so that per-capita income fell",
)
def fam_membership_change(ctx: Context, *, window_days: float, drop_high: float, drop_mid: float,
                          drop_low: float) -> Finding | None:
    """Grades the fall in per-capita income that a change of membership caused.

    3: it fell by drop_high or more and is now under 1.5 x dibao; 2: it fell by drop_mid or more; 1: by
    drop_low or more.  The drop compares just before and just after the change.
    """
    best: tuple[int, int] | None = None
    found: Finding | None = None
    seen: set[int] = set()
    events = sorted((e for c in _MEMBERSHIP for e in ctx.within(c, window_days)), key=lambda e: e.key)
    for event in events:
        if event.t in seen:  # several records of one moment: the change is measured once
            continue
        seen.add(event.t)
        before, after = _income_around(ctx, event.t)
        if before is None or after is None or before[1] == after[1] or not before[1] or not after[1]:
            continue
        pci_before = before[0] / before[1]
        if pci_before <= 0:
            continue
        pci_after = after[0] / after[1]
        drop = 1.0 - pci_after / pci_before
        if drop >= drop_high and pci_after / ctx.region.dibao < _R_EDGE:
            grade = 3
        elif drop >= drop_mid:
            grade = 2
        elif drop >= drop_low:
            grade = 1
        else:
            grade = 0
        if better(best, grade, event.t):
            best, found = (grade, event.t), Finding(grade, event.person_id, event.event_id)
    return found


@declare(
    id="fam_many_minors", name_zh="多子女", name_en="Many minor children",
    inputs=("ps_household_register", "edu_student_status"),
    summary="The household brings up several children",
)
def fam_many_minors(ctx: Context) -> Finding | None:
    """Grades the number of children.

    3: three or more and per-capita income under 2 x dibao; 2: three or more, or two under 1.5 x dibao;
    1: two.  Children are minors, and sons, daughters and grandchildren aged 18 or more still in school.
    """
    children = sum(1 for m in ctx.at_home
                   if ctx.age(m) < _ADULT
                   or (m.student_stage is not None and m.relation in ("child", "grandchild")))
    if children >= 3:
        grade = 3 if ctx.r < _R_LOW else 2
    elif children == 2:
        grade = 2 if ctx.r < _R_EDGE else 1
    else:
        return None
    return Finding(grade)


@declare(
    id="fam_disaster_affected", name_zh="受灾", name_en="Disaster-affected",
    inputs=("em_disaster_loss", "hs_rural_housing_safety"),
    summary="The household is on a recent disaster-loss list",
)
def fam_disaster_affected(ctx: Context, *, window_days: float) -> Finding | None:
    """Grades the worst disaster loss within window_days.

    3: the house collapsed or was severely damaged, a member died or was injured, or the house was
    appraised unsafe (grade D) after the disaster; 2: moderate damage, half or more of the household's
    assets lost, or the house appraised grade C; 1: minor damage.
    """
    disasters = ctx.within("em_disaster_loss", window_days)
    if not disasters:
        return None
    best: tuple[int, int] | None = None
    found: Finding | None = None
    liquid = ctx.facts.deposits + ctx.facts.financial
    for event in disasters:
        pl = event.payload
        assert isinstance(pl, p.EmDisasterLoss)
        lost_share = pl.loss_value / (pl.loss_value + liquid) if pl.loss_value > 0 else 0.0
        if pl.loss_type in ("collapsed", "severe") or pl.casualties > 0:
            grade = 3
        elif pl.loss_type == "moderate" or lost_share >= _ASSET_LOSS_SHARE:
            grade = 2
        else:
            grade = 1
        if better(best, grade, event.t):
            best, found = (grade, event.t), Finding(grade, event.person_id, event.event_id)
    # An appraisal after the first disaster of the window tells how badly the house was hit.
    for appraisal in ctx.within("hs_rural_housing_safety", (ctx.t - disasters[0].t) / DAY):
        assert isinstance(appraisal.payload, p.HsRuralHousingSafety)
        grade = {"D": 3, "C": 2}.get(appraisal.payload.grade, 0)
        if better(best, grade, appraisal.t):
            best, found = (grade, appraisal.t), Finding(grade, None, appraisal.event_id)
    return found


@declare(
    id="fam_member_incarcerated", name_zh="成员服刑/羁押", name_en="Member in custody or prison",
    inputs=("jus_inmate",),
    summary="A working-age member is held in custody or serving a prison sentence",
)
def fam_member_incarcerated(ctx: Context) -> Finding | None:
    """Grades a member held in custody or prison: 3 the main earner; 2 another working-age member.

    Children and the elderly do not count (the catalogue has no L level).
    """
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for m in ctx.members:
        if m.custody not in AWAY or m.custody_since is None or not ctx.working_age(m):
            continue
        # Custody stops the member's earnings, so the ranking just before it says who the main earner was.
        grade = 3 if top_earner_before(ctx, m.custody_since) == m.person_id else 2
        if better(best, grade, m.custody_since):
            event = last_of(ctx, "jus_inmate", m.person_id)
            best, found = (grade, m.custody_since), Finding(grade, m.person_id, event_id_of(event))
    return found


@declare(
    id="fam_repeated_temp_assistance", name_zh="反复临时救助", name_en="Repeated temporary assistance",
    inputs=("ca_temporary_assistance",),
    summary="The household needed temporary assistance again and again",
)
def fam_repeated_temp_assistance(ctx: Context, *, window_days: float) -> Finding | None:
    """Temporary-assistance grants within window_days (rules.yaml: H 3+, M 2, L 1)."""
    grants = ctx.within("ca_temporary_assistance", window_days)
    if not grants:
        return None
    return Finding(len(grants), None, grants[-1].event_id)


@declare(
    id="fam_left_behind", name_zh="留守", name_en="Left-behind children or elderly",
    inputs=("ps_hukou_migration", "ps_household_register", "edu_student_status"),
    summary="The working-age members live away and leave children or elderly members behind",
)
def fam_left_behind(ctx: Context) -> Finding | None:
    """Grades members left behind by working-age members who live away.

    3: minors are left in the care of a member aged 70 or more; 2: minors are left behind; 1: elderly
    members are left behind.  Left behind: a home visit recorded it, or no working-age member is at home
    while one moved away half a year ago or more.
    """
    home = ctx.at_home
    minors = [m for m in home if ctx.age(m) < _ADULT]
    elderly = [m for m in home if ctx.age(m) >= _ELDERLY]
    very_old = [m for m in elderly if ctx.age(m) >= _OLD]
    evidence: Event | None = None
    kind = ctx.facts.left_behind
    if kind is not None:
        evidence = last_of(ctx, "ca_home_visit")
    elif not any(ctx.working_age(m) and ctx.age(m) >= _ADULT for m in home):
        for event in ctx.within("ps_hukou_migration", math.inf):
            assert isinstance(event.payload, p.PsHukouMigration)
            m = ctx.member(event.person_id)
            if event.payload.direction == "out" and m is not None and m.left_at == event.t \
                    and _working_age_at(ctx, m, event.t) and event.t <= ctx.t - _AWAY_DAYS * DAY:
                evidence = event
        if evidence is not None:
            kind = "minor_with_elderly" if minors and elderly else "minor" if minors else "elderly"
    if kind is None:
        return None
    if kind in ("minor", "minor_with_elderly") and minors:
        grade = 3 if kind == "minor_with_elderly" and very_old else 2
    elif elderly:
        grade = 1
    else:
        return None
    subject = very_old[0] if grade == 3 else minors[0] if grade == 2 else elderly[0]
    return Finding(grade, subject.person_id, event_id_of(evidence))


@declare(
    id="fam_assistance_category", name_zh="监测对象类别（对象来源）", name_en="Monitoring category",
    inputs=("ca_assistance_status", "agri_rrm_monitoring"),
    summary="The household's assistance or monitoring category sets a baseline of risk",
)
def fam_assistance_category(ctx: Context) -> Finding | None:
    """Grades the baseline risk of the household's assistance or monitoring category.

    3: an anti-relapse (防返贫) risk not yet eliminated, or a 低边 household with a severely ill or
    disabled member not yet covered on their own (单人户施保); 2: a 低边 or 刚性支出 household; 1: a 低保
    household.  特困 and general households are not graded.
    """
    facts = ctx.facts
    rrm_event = last_of(ctx, "agri_rrm_monitoring")
    status_event = last_of(ctx, "ca_assistance_status")
    # A household registered under 防返贫 monitoring stays at risk until a report says it is eliminated.
    rrm_open = not facts.rrm_eliminated if facts.rrm_type is not None else facts.category == "rrm"
    if rrm_open:
        return Finding(3, None, event_id_of(rrm_event or status_event))
    if facts.category == "dibian":
        if not facts.single_person_coverage:
            for m in ctx.members:
                if severely_disabled(ctx, m) or m.major_disease_at is not None:
                    return Finding(3, m.person_id, event_id_of(status_event))
        return Finding(2, None, event_id_of(status_event))
    if facts.category == "rigid":
        return Finding(2, None, event_id_of(status_event))
    if facts.category == "dibao":
        return Finding(1, None, event_id_of(status_event))
    return None


@declare(
    id="fam_housing_displacement", name_zh="住房丧失/搬迁", name_en="Loss of housing or displacement",
    inputs=("em_disaster_loss", "re_property_registration", "court_enforcement", "hs_public_housing"),
    summary="The household recently lost its home, or faces losing it",
)
def fam_housing_displacement(ctx: Context, *, window_days: float) -> Finding | None:
    """Grades a recent loss of the home, or the threat of it.

    3: the home was lost within window_days and the household is homeless, in temporary shelter, or not
    yet visited since; 2: it lost the home and stays with relatives; 1: its only home was seized or put
    to judicial auction.  A household visited since and found rehoused (own or rented) is not graded.
    """
    losses: list[Event] = []
    notices: list[Event] = []
    for event in ctx.within("em_disaster_loss", window_days):
        assert isinstance(event.payload, p.EmDisasterLoss)
        if event.payload.loss_type in ("collapsed", "severe"):
            losses.append(event)
    for event in ctx.within("re_property_registration", window_days):
        assert isinstance(event.payload, p.ReProperty)
        if event.payload.only_home and event.payload.event in ("auctioned", "demolished"):
            losses.append(event)
        elif event.payload.only_home and event.payload.event == "seized":
            notices.append(event)
    for event in ctx.within("hs_public_housing", window_days):
        assert isinstance(event.payload, p.HsPublicHousing)
        # Public rental ending while rent is owed is an eviction.
        if event.payload.status == "none" and event.payload.arrears_months > 0:
            losses.append(event)
    for event in ctx.within("court_enforcement", window_days):
        assert isinstance(event.payload, p.CourtEnforcement)
        if event.payload.type == "auction":
            notices.append(event)
    where: str | None = None
    visits = [e for e in ctx.within("ca_home_visit", math.inf)
              if isinstance(e.payload, p.CaHomeVisit) and e.payload.housing is not None]
    if visits:
        visit = visits[-1]
        assert isinstance(visit.payload, p.CaHomeVisit)
        where = visit.payload.housing
        # Without a loss event on record, a visit that found the household displaced is the loss.
        if not losses and where in _DISPLACED and visit.t > ctx.t - window_days * DAY:
            losses.append(visit)
    if losses:
        lost = max(losses, key=lambda e: e.key)
        housed_at = where if visits and visits[-1].t >= lost.t else None
        if housed_at in ("own", "rented"):
            return None
        return Finding(2 if housed_at == "relatives" else 3, None, lost.event_id)
    if notices:
        return Finding(1, None, max(notices, key=lambda e: e.key).event_id)
    return None
