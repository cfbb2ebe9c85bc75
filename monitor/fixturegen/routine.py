"""Routine data every household produces: pensions, contributions, tax, deposits, visits, enrolment...

Each routine kind writes a short episode (one to four events) about a member who is present at the
time; `fill` draws kinds at random until the household has its share of events, and `every_kind`
writes each applicable kind once (showcase households, so that every category appears in small sets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.fixturegen import codes
from monitor.fixturegen.clock import DAY, END, MONTHS, date_str, day_of_month, month_str
from monitor.fixturegen.households import LOW_INCOME
from monitor.fixturegen.people import Person
from monitor.fixturegen.timeline import Timeline

__all__ = ["KINDS", "every_kind", "fill", "stage_of"]


def _months(tl: Timeline, until: int, day: int, count: int, lag: int = 0) -> list[tuple[int, int]]:
    """Up to `count` consecutive (month index, time on `day` of month+lag) pairs before `until`."""
    last = MONTHS - 1 - lag
    first = tl.rng.randint(0, max(0, last))
    out = []
    for m in range(first, min(last, first + count - 1) + 1):
        t = day_of_month(m + lag, day, 9)
        if t < until:
            out.append((m, t))
    return out


def _when(tl: Timeline, p: Person | None) -> int | None:
    """An office-hours time in the window while p (if any) is present."""
    until = min(END, p.gone - DAY) if p is not None else END
    if until <= DAY:
        return None
    return tl.office(tl.rng.randrange(0, until))


def _incomes(p: Person) -> dict[str, float]:
    if p.pension_scheme:
        return {"pension": p.income}
    if p.employed:
        return {"wage": p.income}
    return {}


def pension(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.pension_scheme is not None)
    if p is None:
        return 0
    n = 0
    for _m, t in _months(tl, p.gone, 10, tl.rng.randint(1, 4)):
        n += tl.emit(t, "hr_pension_payment", p, {"monthly_amount": p.income, "scheme": p.pension_scheme})
    return n


def contributions(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.employed)
    if p is None:
        return 0
    n = 0
    for m, t in _months(tl, p.job_end, 25, tl.rng.randint(1, 4)):
        n += tl.emit(t, "hr_social_insurance_contrib", p, {"month": month_str(m), "paid": True,
                                                           "wage_base": p.income})
    return n


def tax(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.employed)
    if p is None:
        return 0
    n = 0
    for m, t in _months(tl, p.job_end, 15, tl.rng.randint(1, 3), lag=1):
        n += tl.emit(t, "tax_individual_income", p, {"month": month_str(m), "incomes": {"wage": p.income}})
    return n


def provident_fund(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.employed and tl.h.category not in ("tekun", "dibao"))
    if p is None:
        return 0
    n = 0
    for m, t in _months(tl, p.job_end, 20, tl.rng.randint(1, 3)):
        n += tl.emit(t, "hs_provident_fund", p, {"month": month_str(m), "paid": True, "base": p.income})
    return n


def deposit(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.age >= 18)
    t = _when(tl, p)
    if p is None or t is None:
        return 0
    h = tl.h
    debt = tl.money(1500, 4000) if h.housing_m2 > 0 and h.category in ("none", "rigid") and tl.rng.random() < .2 \
        else 0.0
    balance = float(round(h.deposits * tl.rng.uniform(0.7, 1.2), 2))
    return tl.emit(t, "fin_bank_deposit", p, {"balance": balance, "monthly_debt_service": debt})


def _needs(tl: Timeline) -> list[str]:
    return sorted(tl.rng.sample(codes.NEEDS, tl.rng.randint(0, 2)))


def home_visit(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.relation == "head") or tl.pick(lambda m: m.age >= 18)
    t = _when(tl, p)
    if p is None or t is None:
        return 0
    h = tl.h
    payload: dict[str, Any] = {"incomes": _incomes(p)}
    if h.housing_m2 > 0:
        payload["housing"] = "own"
    else:
        payload["housing"] = tl.rng.choice(("rented", "rented", "relatives"))
        if payload["housing"] == "rented":
            payload["monthly_rent"] = tl.money(300, 1500)
    payload["needs"] = _needs(tl)
    return tl.emit(t, "ca_home_visit", p, payload)


def self_declaration(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.age >= 18)
    t = _when(tl, p)
    if p is None or t is None:
        return 0
    declared = {k: float(round(v * tl.rng.uniform(0.8, 1.0))) for k, v in _incomes(p).items()}
    return tl.emit(t, "ca_self_declaration", p, {"incomes": declared, "needs": _needs(tl)})


def economic_verification(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.relation == "head") or tl.pick(lambda m: m.age >= 18)
    t = _when(tl, p)
    if p is None or t is None:
        return 0
    h = tl.h
    return tl.emit(t, "ca_economic_verification", p, {
        "incomes": _incomes(p), "deposits": float(round(h.deposits * tl.rng.uniform(0.9, 1.1), 2)),
        "financial": h.financial})


def enrollment(tl: Timeline) -> int:
    p = tl.pick(lambda m: True)
    if p is None:
        return 0
    t = tl.office(tl.rng.choice((0, 345 * DAY, 360 * DAY)) + tl.rng.randrange(10 * DAY))
    if t >= p.gone:
        return 0
    draw = tl.rng.random()
    status = "insured" if draw < 0.95 else "lapsed" if draw < 0.99 else "uninsured"
    scheme = "employee" if p.employed and tl.h.category in ("none", "rigid", "dibian") else "resident"
    return tl.emit(t, "med_enrollment", p, {"status": status, "scheme": scheme if status != "uninsured" else "none",
                                            "subsidised": tl.h.category in ("tekun", "dibao", "dibian", "rrm")})


def stage_of(age: int) -> str:
    """School stage for an age in 2023."""
    return ("preschool" if age < 6 else "primary" if age < 12 else "junior" if age < 15 else "senior"
            if age < 18 else "college")


def _pupil(m: Person) -> bool:
    return m.relation in ("child", "grandchild") and 3 <= m.age <= 21 and not m.employed


def student_status(tl: Timeline) -> int:
    p = tl.pick(_pupil)
    if p is None:
        return 0
    t = tl.office(tl.rng.choice((day_of_month(1, 20), day_of_month(8, 1), day_of_month(13, 26))))
    stage = stage_of(p.age)
    if stage == "senior" and tl.rng.random() < 0.35:
        stage = "vocational"
    return tl.emit(t, "edu_student_status", p, {"stage": stage, "enrolled": True}) if t < p.gone else 0


def student_aid(tl: Timeline) -> int:
    p = tl.pick(lambda m: _pupil(m) and m.age >= 6)
    if p is None:
        return 0
    t = tl.office(tl.rng.choice((day_of_month(2, 15), day_of_month(9, 20), day_of_month(14, 15))))
    aid = tl.money(500, 1500) if p.age < 15 else tl.money(2000, 5000)
    return tl.emit(t, "edu_student_aid", p, {"aid_amount": aid, "dropout": False}) if t < p.gone else 0


def elderly_capacity(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.age >= 65)
    t = _when(tl, p)
    if p is None or t is None:
        return 0
    levels = ("capable", "mild", "moderate", "severe", "total")
    weights = (50, 25, 12, 8, 5) if p.age < 80 else (25, 30, 20, 15, 10)
    return tl.emit(t, "ca_elderly_capacity", p, {"level": tl.rng.choices(levels, weights)[0]})


def special_outpatient(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.chronic)
    t = _when(tl, p)
    if p is None or t is None:
        return 0
    special = tl.rng.random() < 0.2
    code = tl.rng.choice(codes.SPECIAL if special else codes.CHRONIC)
    start = t - tl.rng.randrange(0, 900) * DAY
    return tl.emit(t, "med_special_outpatient", p, {"disease_code": code, "kind": "special" if special
                                                    else "chronic", "start": date_str(start)})


def two_subsidies(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.disability is not None)
    t = _when(tl, p)
    if p is None or t is None or p.disability is None:
        return 0
    living = tl.h.category in LOW_INCOME and tl.rng.random() < 0.9
    care = p.disability[1] <= 2 and tl.rng.random() < 0.9
    if not (living or care):
        return 0
    return tl.emit(t, "dis_two_subsidies", p, {"living_subsidy": living, "care_subsidy": care})


def rrm_monitoring(tl: Timeline) -> int:
    t = _when(tl, None)
    if tl.h.category != "rrm" or t is None:
        return 0
    kind = tl.rng.choices(("unstable_ex_poor", "edge", "sudden_hardship"), (45, 40, 15))[0]
    return tl.emit(t, "agri_rrm_monitoring", None, {"type": kind, "risk_eliminated": tl.rng.random() < 0.25})


def rural_housing(tl: Timeline) -> int:
    t = _when(tl, None)
    if not tl.h.rural or t is None:
        return 0
    return tl.emit(t, "hs_rural_housing_safety", None, {"grade": tl.rng.choices("ABCD", (50, 35, 12, 3))[0]})


def assistance_status(tl: Timeline) -> int:
    t = _when(tl, None)
    if tl.h.category == "none" or t is None:
        return 0
    return tl.emit(t, "ca_assistance_status", None, {"category": tl.h.category, "status": "start"})


def employment_service(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.work_capable and not m.employed)
    t = _when(tl, p)
    if p is None or t is None:
        return 0
    return tl.emit(t, "hr_employment_service", p, {"service": tl.rng.choice(("training", "assistance"))})


def outpatient_claim(tl: Timeline) -> int:
    p = tl.pick(lambda m: m.chronic or m.age >= 55) or tl.pick(lambda m: True)
    t = _when(tl, p)
    if p is None or t is None:
        return 0
    total = tl.money(150, 3500)
    fund = float(round(total * tl.rng.uniform(0.45, 0.75)))
    return tl.emit(t, "med_settlement", p, {"total_cost": total, "fund_paid": fund, "oop": total - fund,
                                            "inpatient": False})


KINDS: tuple[tuple[Callable[[Timeline], int], float], ...] = (
    (pension, 12), (contributions, 12), (tax, 6), (provident_fund, 4), (deposit, 8), (home_visit, 8),
    (self_declaration, 6), (economic_verification, 6), (enrollment, 8), (student_status, 6), (student_aid, 4),
    (elderly_capacity, 4), (special_outpatient, 6), (two_subsidies, 5), (rrm_monitoring, 6),
    (rural_housing, 3), (assistance_status, 4), (employment_service, 3), (outpatient_claim, 8),
)
_FUNCS = tuple(k for k, _ in KINDS)
_CUM = tuple(sum(w for _, w in KINDS[: i + 1]) for i in range(len(KINDS)))


def fill(tl: Timeline, count: int) -> None:
    """Write routine episodes until at least `count` events were added (or nothing applies any more)."""
    added = misses = 0
    while added < count and misses < 25:
        n = tl.rng.choices(_FUNCS, cum_weights=_CUM)[0](tl)
        added += n
        misses = 0 if n else misses + 1


def every_kind(tl: Timeline) -> None:
    """Each applicable routine kind once."""
    for kind in _FUNCS:
        kind(tl)
