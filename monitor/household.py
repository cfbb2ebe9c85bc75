"""Household facts: what is true of a household at a point in event time.

`HouseholdFacts` starts from the registry baseline and is advanced one event at a time, in event-time
order, by `advance`.  It is a plain msgspec Struct so a runtime can store it as bytes.  Because the
only way to change it is `advance` over events sorted by `Event.key`, the facts at any time depend
only on the set of events applied, never on their arrival order.

The income rule is the 就高原则 (catalogue §3.1): per member and income type, the highest of the
declared, surveyed and verified figures seen in the trailing 12 months.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from msgspec import Struct, field

from monitor import idnumber
from monitor import payloads as p
from monitor.model import DAY, Event, day_of, month_of, t_of_date

__all__ = ["HouseholdFacts", "IncomeRows", "IncomeSource", "MemberState", "advance", "facts_from_record"]

INCOME_TYPES = ("wage", "business", "property", "transfer", "pension")
WINDOW_12M = 365 * DAY
# Which 就高原则 kind each source category is.
_DECLARED, _SURVEYED, _VERIFIED, _BASELINE = "declared", "surveyed", "verified", "baseline"
_NO_RESET = -(1 << 62)

# person_id -> the member's figure of each income type at one time (INCOME_TYPES order) and their sum.
IncomeRows = dict[str, tuple[tuple[float, ...], float]]


@lru_cache(maxsize=1 << 16)
def _civil(ordinal: int) -> tuple[int, int]:
    """(year, month * 32 + day) of a day number: what an age compares (memoised, ages are asked millions of times)."""
    d = dt.date.fromordinal(ordinal)
    return d.year, d.month * 32 + d.day


class IncomeSource(Struct, array_like=True):
    """One figure for one member and income type: when, how it was obtained, how much a month."""

    t: int
    kind: str
    amount: float


class MemberState(Struct):
    """One person's facts.  Times are epoch seconds; None means "never" or "not known"."""

    person_id: str
    relation: str
    birth_day: int
    sex: str
    work_capable: bool
    employed: bool
    joined_at: int | None = None
    left_at: int | None = None
    died_at: int | None = None
    disability_category: str | None = None
    disability_grade: int | None = None
    disability_categories: list[str] = field(default_factory=list)
    disability_new_at: int | None = None
    disability_worsened_at: int | None = None
    disability_change: str | None = None
    disability_revoked_at: int | None = None
    # Every worsening as (t, grade before, grade after): the grade before is lost once the event is applied.
    disability_worsenings: list[tuple[int, int, int]] = field(default_factory=list)
    chronic: bool = False
    major_disease_at: int | None = None
    major_disease_first_at: int | None = None
    outpatient_kind: str | None = None
    unemployed_since: int | None = None
    job_lost_at: int | None = None
    job_lost_employed: bool = False
    reemployed_at: int | None = None
    support_service_at: int | None = None
    public_welfare_post: bool = False
    benefit_start: int | None = None
    benefit_end: int | None = None
    work_injury_grade: int | None = None
    capacity: str | None = None
    mental_risk: int | None = None
    mental_status: str | None = None
    mental_alone: bool = False
    custody: str | None = None
    custody_since: int | None = None
    insurance: str = "insured"
    insurance_subsidised: bool = False
    care_subsidy: bool = False
    living_subsidy: bool = False
    student_stage: str | None = None
    dropout: bool = False
    child_welfare: str | None = None
    business_status: str | None = None
    business_status_at: int | None = None
    incomes: dict[str, list[IncomeSource]] = field(default_factory=dict)
    income_reset: dict[str, list[int]] = field(default_factory=dict)
    unpaid_months: list[int] = field(default_factory=list)
    paid_months: list[int] = field(default_factory=list)
    wage_arrears_months: int = 0
    income_before_death: float = 0.0

    def present(self, t: int) -> bool:
        """Alive and a member of the household at time t."""
        if self.died_at is not None and self.died_at <= t:
            return False
        if self.left_at is not None and self.left_at <= t:
            return False
        return self.joined_at is None or self.joined_at <= t

    def age(self, t: int) -> int:
        """Age in whole years at time t."""
        year, month_day = _civil(day_of(t))
        born_year, born_month_day = _civil(self.birth_day)
        return year - born_year - (month_day < born_month_day)

    def income_of(self, kind: str, t: int) -> float:
        """The 就高原则 figure for one income type at time t (0 when no fresh figure exists).

        A reset (a job lost, a business closed, custody) hides the figures reported before it, but only
        for questions about times after it: the income before a job loss is still known.
        """
        sources = self.incomes.get(kind)
        if not sources:  # most members have figures for one or two of the five types
            return 0.0
        resets = self.income_reset.get(kind)
        reset = max((r for r in resets if r <= t), default=_NO_RESET) if resets else _NO_RESET
        stale = t - WINDOW_12M
        best = 0.0
        for src in sources:
            at = src.t
            if at > t or at < reset or (at < stale and src.kind != _BASELINE):
                continue
            if src.amount > best:  # what max(best, amount) keeps: the first of equals
                best = src.amount
        return best

    def incomes_at(self, t: int) -> tuple[float, ...]:
        """The 就高原则 figure of every income type at t, in INCOME_TYPES order (present or not)."""
        incomes = self.incomes
        return tuple([self.income_of(kind, t) if kind in incomes else 0.0 for kind in INCOME_TYPES])

    def monthly_income(self, t: int) -> float:
        """Total monthly income of the member at t, or 0 once the member has died or left."""
        if not self.present(t):
            return 0.0
        return sum(self.income_of(kind, t) for kind in INCOME_TYPES)


class HouseholdFacts(Struct):
    """Everything the indicators read about one household, as of `last_t`."""

    household_id: str
    region: str
    category: str
    members: dict[str, MemberState]
    deposits: float
    financial: float
    owned_housing_m2: float
    vehicles: int
    as_of_t: int
    last_t: int = -(1 << 62)
    category_left: dict[str, int] = field(default_factory=dict)
    single_person_coverage: bool = False
    phasing_out: bool = False
    rrm_type: str | None = None
    rrm_eliminated: bool = True
    deposit_history: list[tuple[int, float]] = field(default_factory=list)
    monthly_debt_service: float = 0.0
    public_housing: str = "none"
    monthly_rent: float = 0.0
    rent_arrears_months: int = 0
    housing_grade: str | None = None
    housing_status: str | None = None
    housing_lost_at: int | None = None
    left_behind: str | None = None
    utility_arrears_months: int = 0
    court_enforced: float = 0.0
    court_defaulter: bool = False
    home_event: str | None = None
    home_event_at: int | None = None
    needs_declared: list[str] = field(default_factory=list)
    income_timeline: list[tuple[int, float, int]] = field(default_factory=list)
    earner_timeline: list[tuple[int, int, str | None]] = field(default_factory=list)
    monthly_income_by_month: dict[int, float] = field(default_factory=dict)
    income_now: tuple[int, float] = (-(1 << 62), 0.0)

    def present_members(self, t: int | None = None) -> list[MemberState]:
        """Members alive and in the household at t (default: the latest event time)."""
        at = self.last_t if t is None else t
        return [m for m in self.members.values() if m.present(at)]

    def household_income(self, t: int) -> float:
        """Total monthly income of the present members at t."""
        return sum(m.monthly_income(t) for m in self.members.values())

    def earners(self, t: int) -> list[MemberState]:
        """Present members with a wage or business income, highest first (ties by id)."""
        found = [m for m in self.present_members(t)
                 if m.income_of("wage", t) + m.income_of("business", t) > 0]
        return sorted(found, key=lambda m: (-m.monthly_income(t), m.person_id))


def _baseline_member(m: p.Member, as_of_t: int) -> MemberState:
    state = MemberState(
        person_id=m.person_id, relation=m.relation, birth_day=m.birth_date.toordinal(), sex=m.sex,
        work_capable=m.work_capable, employed=m.employed, chronic=m.chronic,
    )
    if m.disability is not None:
        state.disability_category, state.disability_grade = m.disability.category, m.disability.grade
        state.disability_categories = [m.disability.category]
    if m.monthly_income > 0:
        # The registry figure is the standing baseline: wage for the employed, pension for the retired.
        kind = "wage" if m.employed else ("pension" if state.age(as_of_t) >= 60 else "transfer")
        state.incomes[kind] = [IncomeSource(as_of_t, _BASELINE, m.monthly_income)]
    return state


def facts_from_record(record: p.HouseholdRecord) -> HouseholdFacts:
    """The baseline facts of a registry record, before any event."""
    as_of_t = t_of_date(record.as_of) if record.as_of else 0
    facts = HouseholdFacts(
        household_id=record.household_id, region=record.region, category=record.category,
        members={m.person_id: _baseline_member(m, as_of_t) for m in record.members},
        deposits=record.assets.deposits, financial=record.assets.financial,
        owned_housing_m2=record.assets.owned_housing_m2, vehicles=record.assets.vehicles, as_of_t=as_of_t,
    )
    _record_timelines(facts, as_of_t)
    return facts


def _new_member(person_id: str, relation: str, t: int) -> MemberState:
    return MemberState(
        person_id=person_id, relation=relation, birth_day=idnumber.birth_date_of(person_id).toordinal(),
        sex=idnumber.sex_of(person_id), work_capable=False, employed=False, joined_at=t,
    )


def _add_income(m: MemberState, incomes: p.Incomes, kind: str, t: int) -> None:
    for income_type in INCOME_TYPES:
        amount = getattr(incomes, income_type)
        if amount > 0 or kind != _DECLARED:
            m.incomes.setdefault(income_type, []).append(IncomeSource(t, kind, amount))


def _set_income(m: MemberState, income_type: str, kind: str, t: int, amount: float) -> None:
    m.incomes.setdefault(income_type, []).append(IncomeSource(t, kind, amount))


def _reset_income(m: MemberState, income_type: str, t: int) -> None:
    m.income_reset.setdefault(income_type, []).append(t)


def _record_timelines(facts: HouseholdFacts, t: int) -> IncomeRows:
    # One pass over the members computes what household_income, present_members and earners would each
    # compute again (same figures, summed in the same order, so the same floats).
    rows: IncomeRows = {}
    totals: list[float] = []
    earning: list[tuple[float, str]] = []
    size = 0
    for m in facts.members.values():
        if not m.present(t):
            totals.append(0.0)
            continue
        by_type = m.incomes_at(t)
        total = sum(by_type)
        rows[m.person_id] = (by_type, total)
        totals.append(total)
        size += 1
        if by_type[0] + by_type[1] > 0:  # wage + business
            earning.append((-total, m.person_id))
    income = sum(totals)
    facts.income_now = (t, income)
    if not facts.income_timeline or facts.income_timeline[-1][1:] != (income, size):
        facts.income_timeline.append((t, income, size))
    earners = sorted(earning)
    top = earners[0][1] if earners else None
    if not facts.earner_timeline or facts.earner_timeline[-1][1:] != (len(earners), top):
        facts.earner_timeline.append((t, len(earners), top))
    facts.monthly_income_by_month[month_of(t)] = income
    return rows


def advance(facts: HouseholdFacts, event: Event) -> IncomeRows:
    """Apply one event to the facts, in place.  Callers apply events in `Event.key` order.

    Returns the present members' income figures at the event's time, worked out for the timelines: a
    `Context` at that time over the facts as they are now can take them instead of computing them again.
    """
    t = event.t
    member = facts.members.get(event.person_id) if event.person_id else None
    handler = _HANDLERS.get(event.category)
    if handler is not None:
        handler(facts, member, event)
    facts.last_t = max(facts.last_t, t)
    return _record_timelines(facts, t)


# --- one small handler per category that changes a fact ------------------------------------------------

def _death(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    if m is not None and m.died_at is None:
        m.income_before_death = m.monthly_income(e.t - 1)
        m.died_at = e.t


def _birth(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.PsBirthRegistration)
    if m is None and e.person_id:
        facts.members[e.person_id] = _new_member(e.person_id, e.payload.relation, e.t)


def _migration(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.PsHukouMigration)
    if e.payload.direction == "out":
        if m is not None:
            m.left_at = e.t
    elif e.person_id:
        if m is None:
            facts.members[e.person_id] = _new_member(e.person_id, e.payload.relation, e.t)
        else:
            m.left_at, m.joined_at = None, e.t


def _marriage(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.CaMarriageRegistration)
    if e.payload.direction == "leaves" and m is not None:
        m.left_at = e.t
    elif e.payload.direction == "joins" and e.person_id and m is None:
        facts.members[e.person_id] = _new_member(e.person_id, "spouse", e.t)


def _divorce(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.CaDivorceRegistration)
    if e.payload.leaves_household and m is not None:
        m.left_at = e.t


def _major_dx(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HlthMajorDiseaseDx)
    if m is not None and e.payload.catalogue_major:
        m.major_disease_at = e.t
        if m.major_disease_first_at is None:
            m.major_disease_first_at = e.t


def _special_outpatient(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.MedSpecialOutpatient)
    if m is not None:
        ended = e.payload.end is not None and t_of_date(e.payload.end) <= e.t
        if ended:
            m.outpatient_kind = None
        elif m.outpatient_kind != "special":
            m.outpatient_kind = e.payload.kind
        m.chronic = m.chronic or not ended


def _mental(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HlthSevereMentalRegistry)
    if m is not None:
        pl = e.payload
        m.mental_risk = None if pl.status == "deregistered" else pl.risk_grade
        m.mental_status, m.mental_alone = pl.status, pl.lives_alone


def _disability(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.DisCertificate)
    if m is None:
        return
    pl, old_grade = e.payload, m.disability_grade
    m.disability_change = pl.change
    if pl.change == "revoked":
        m.disability_category = m.disability_grade = None
        m.disability_categories = []
        m.disability_revoked_at = e.t
        return
    if pl.change == "new" and old_grade is None:
        m.disability_new_at = e.t
    elif old_grade is not None and (pl.grade < old_grade or pl.category not in m.disability_categories):
        m.disability_worsened_at = e.t
    elif old_grade is None:
        m.disability_new_at = e.t
    if pl.category not in m.disability_categories:
        m.disability_categories.append(pl.category)
    m.disability_category = pl.category if old_grade is None or pl.grade <= old_grade else m.disability_category
    m.disability_grade = pl.grade if old_grade is None or pl.change != "category_added" else min(old_grade,
                                                                                                    pl.grade)
    if old_grade is not None and m.disability_worsened_at == e.t:
        m.disability_worsenings.append((e.t, old_grade, m.disability_grade))


def _unemployed(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    if m is not None and (m.unemployed_since is None or m.reemployed_at is not None):
        m.unemployed_since, m.job_lost_at, m.reemployed_at = e.t, e.t, None
        m.job_lost_employed = m.employed  # a regular job was lost, not odd jobs (emp_working_age_job_loss)
        m.employed, m.public_welfare_post = False, False
        _reset_income(m, "wage", e.t)


def _benefit(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HrUnemploymentBenefit)
    if m is not None:
        m.benefit_start, m.benefit_end = t_of_date(e.payload.start), t_of_date(e.payload.end)
        _set_income(m, "transfer", _VERIFIED, e.t, e.payload.monthly_amount)


def _contribution(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HrSocialInsuranceContrib | p.HsProvidentFund)
    if m is None:
        return
    year, month = (int(x) for x in e.payload.month.split("-"))
    index = year * 12 + month - 1
    if e.payload.paid:
        if index not in m.paid_months:
            m.paid_months.append(index)
        base = e.payload.wage_base if isinstance(e.payload, p.HrSocialInsuranceContrib) else e.payload.base
        if base > 0 and isinstance(e.payload, p.HrSocialInsuranceContrib):
            _set_income(m, "wage", _VERIFIED, e.t, base)
    elif index not in m.unpaid_months:
        m.unpaid_months.append(index)


def _pension(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HrPensionPayment)
    if m is not None:
        _set_income(m, "pension", _VERIFIED, e.t, e.payload.monthly_amount)


def _work_injury(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HrWorkInjury)
    if m is not None:
        m.work_injury_grade = e.payload.grade if m.work_injury_grade is None else min(m.work_injury_grade,
                                                                                        e.payload.grade)


def _employment_service(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HrEmploymentService)
    if m is None:
        return
    if e.payload.service in ("reemployed", "public_welfare_post"):
        m.reemployed_at, m.employed = e.t, True
        m.public_welfare_post = e.payload.service == "public_welfare_post"
    m.support_service_at = e.t


def _wage_arrears(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HrWageArrears)
    if m is not None:
        m.wage_arrears_months = e.payload.months_owed


def _enrollment(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.MedEnrollment)
    if m is not None:
        m.insurance, m.insurance_subsidised = e.payload.status, e.payload.subsidised


def _subsidies(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.DisTwoSubsidies)
    if m is not None:
        m.living_subsidy, m.care_subsidy = e.payload.living_subsidy, e.payload.care_subsidy


def _assistance_status(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.CaAssistanceStatus)
    pl = e.payload
    if pl.status == "start":
        facts.category, facts.phasing_out = pl.category, False
        facts.single_person_coverage = facts.single_person_coverage or pl.single_person_coverage
    elif pl.status == "phasing_out":
        facts.phasing_out = True
    elif facts.category == pl.category:
        facts.category_left[pl.category] = e.t
        facts.category, facts.phasing_out = "none", False


def _child_welfare(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.CaChildWelfare)
    if m is not None:
        m.child_welfare = None if e.payload.status == "none" else e.payload.status


def _capacity(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.CaElderlyCapacity)
    if m is not None:
        m.capacity = e.payload.level


def _income_report(kind: str):  # type: ignore[no-untyped-def]
    def handler(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
        pl = e.payload
        assert isinstance(pl, p.CaEconomicVerification | p.CaHomeVisit | p.CaSelfDeclaration)
        if m is not None and pl.incomes is not None:
            _add_income(m, pl.incomes, kind, e.t)
        if isinstance(pl, p.CaEconomicVerification):
            facts.deposits = pl.deposits if pl.deposits is not None else facts.deposits
            facts.financial = pl.financial if pl.financial is not None else facts.financial
            if pl.deposits is not None:
                facts.deposit_history.append((e.t, pl.deposits + facts.financial))
        if isinstance(pl, p.CaHomeVisit):
            if pl.monthly_rent is not None:
                facts.monthly_rent = pl.monthly_rent
            if pl.housing is not None:
                facts.housing_status = pl.housing
                if pl.housing in ("relatives", "shelter", "homeless"):
                    facts.housing_lost_at = facts.housing_lost_at or e.t
            facts.left_behind = pl.left_behind
        if isinstance(pl, p.CaHomeVisit | p.CaSelfDeclaration):
            for need in pl.needs:
                if need not in facts.needs_declared:
                    facts.needs_declared.append(need)
    return handler


def _tax(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.TaxIndividualIncome)
    if m is not None:
        _add_income(m, e.payload.incomes, _VERIFIED, e.t)


def _business(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.MktBusinessRegistration)
    if m is None:
        return
    m.business_status, m.business_status_at = e.payload.status, e.t
    if e.payload.status == "deregistered":
        _reset_income(m, "business", e.t)
    elif e.payload.monthly_business_income is not None:
        _set_income(m, "business", _VERIFIED, e.t, e.payload.monthly_business_income)


def _custody(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.JusInmate)
    if m is None:
        return
    if e.payload.status in ("in_custody", "prison"):
        m.custody, m.custody_since = e.payload.status, e.t
        _reset_income(m, "wage", e.t)
        _reset_income(m, "business", e.t)
    else:
        m.custody = None


def _deposit(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.FinBankDeposit)
    facts.deposits = e.payload.balance
    facts.monthly_debt_service = e.payload.monthly_debt_service
    facts.deposit_history.append((e.t, facts.deposits + facts.financial))


def _securities(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.FinSecuritiesWealth)
    facts.financial = e.payload.value


def _public_housing(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HsPublicHousing)
    facts.public_housing = e.payload.status
    facts.monthly_rent = e.payload.monthly_rent or facts.monthly_rent
    facts.rent_arrears_months = e.payload.arrears_months


def _housing_safety(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.HsRuralHousingSafety)
    facts.housing_grade = e.payload.grade


def _property(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.ReProperty)
    pl = e.payload
    if pl.event == "acquired":
        facts.owned_housing_m2 += pl.area_m2
    elif pl.event in ("sold", "auctioned", "demolished"):
        facts.owned_housing_m2 = max(0.0, facts.owned_housing_m2 - pl.area_m2)
    if pl.only_home or pl.event in ("seized", "auctioned"):
        facts.home_event, facts.home_event_at = pl.event, e.t
    if pl.only_home and pl.event in ("auctioned", "demolished"):
        facts.housing_lost_at = e.t


def _vehicle(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.PsVehicleRegistration)
    facts.vehicles = max(0, facts.vehicles + (1 if e.payload.change == "registered" else -1))


def _student(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.EduStudentStatus)
    if m is not None:
        m.student_stage = e.payload.stage if e.payload.enrolled and e.payload.stage != "none" else None


def _student_aid(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.EduStudentAid)
    if m is not None:
        m.dropout = e.payload.dropout


def _disaster(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.EmDisasterLoss)
    if e.payload.loss_type in ("collapsed", "severe"):
        facts.housing_lost_at = e.t
        facts.housing_grade = "D"


def _rrm(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.AgriRrmMonitoring)
    facts.rrm_type, facts.rrm_eliminated = e.payload.type, e.payload.risk_eliminated


def _court(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.CourtEnforcement)
    if e.payload.type == "closed":
        facts.court_enforced, facts.court_defaulter = 0.0, False
    else:
        facts.court_enforced = max(facts.court_enforced, e.payload.amount)
        facts.court_defaulter = facts.court_defaulter or e.payload.type == "defaulter"
        if e.payload.type == "auction":
            facts.home_event, facts.home_event_at = "auctioned", e.t


def _utility(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    assert isinstance(e.payload, p.UtUtilityArrears)
    facts.utility_arrears_months = e.payload.months


def _register(facts: HouseholdFacts, m: MemberState | None, e: Event) -> None:
    # A later registry record of the same household: adopt its category and add new members.
    assert isinstance(e.payload, p.HouseholdRecord)
    facts.category, facts.region = e.payload.category, e.payload.region
    for rec in e.payload.members:
        if rec.person_id not in facts.members:
            joined = _baseline_member(rec, e.t)
            joined.joined_at = e.t
            facts.members[rec.person_id] = joined


_HANDLERS = {
    "ps_death_registration": _death,
    "hlth_death_medical_cert": _death,
    "ps_birth_registration": _birth,
    "ps_hukou_migration": _migration,
    "ca_marriage_registration": _marriage,
    "ca_divorce_registration": _divorce,
    "hlth_major_disease_dx": _major_dx,
    "med_special_outpatient": _special_outpatient,
    "hlth_severe_mental_registry": _mental,
    "dis_certificate": _disability,
    "hr_unemployment_registration": _unemployed,
    "hr_unemployment_benefit": _benefit,
    "hr_social_insurance_contrib": _contribution,
    "hs_provident_fund": _contribution,
    "hr_pension_payment": _pension,
    "hr_work_injury": _work_injury,
    "hr_employment_service": _employment_service,
    "hr_wage_arrears": _wage_arrears,
    "med_enrollment": _enrollment,
    "dis_two_subsidies": _subsidies,
    "ca_assistance_status": _assistance_status,
    "ca_child_welfare": _child_welfare,
    "ca_elderly_capacity": _capacity,
    "ca_economic_verification": _income_report(_VERIFIED),
    "ca_home_visit": _income_report(_SURVEYED),
    "ca_self_declaration": _income_report(_DECLARED),
    "tax_individual_income": _tax,
    "mkt_business_registration": _business,
    "jus_inmate": _custody,
    "fin_bank_deposit": _deposit,
    "fin_securities_wealth": _securities,
    "hs_public_housing": _public_housing,
    "hs_rural_housing_safety": _housing_safety,
    "re_property_registration": _property,
    "ps_vehicle_registration": _vehicle,
    "edu_student_status": _student,
    "edu_student_aid": _student_aid,
    "em_disaster_loss": _disaster,
    "agri_rrm_monitoring": _rrm,
    "court_enforcement": _court,
    "ut_utility_arrears": _utility,
    "ps_household_register": _register,
}
