"""The four headline stories (contract §1): major illness, disability, unemployment, death.

Each story picks a member who fits, writes a coherent sequence of events and returns its start time
(None when no member fits).  `at` and `person` let another story chain them: two headlines within 90
days, an illness that ends in death.
"""

from __future__ import annotations

from typing import Any

from monitor.fixturegen import codes
from monitor.fixturegen.clock import DAY, END, date_str, day_of_month, month_index, month_str
from monitor.fixturegen.households import LOW_INCOME
from monitor.fixturegen.people import Person, draw_disability
from monitor.fixturegen.timeline import Timeline

__all__ = ["death", "disability", "double_headline", "illness", "unemployment"]

_LOW = LOW_INCOME | {"rrm"}


def _settle(tl: Timeline, t: int, p: Person, total: float, cover: float, *, inpatient: bool) -> float:
    fund = float(round(total * min(cover, 0.95)))
    oop = total - fund
    tl.emit(t, "med_settlement", p, {"total_cost": total, "fund_paid": fund, "oop": oop, "inpatient": inpatient,
                                     "out_of_list": float(round(oop * tl.rng.uniform(0, 0.35)))})
    return oop


def illness(tl: Timeline, at: int | None = None, person: Person | None = None, *,
            severe: bool = False) -> int | None:
    """A major-disease diagnosis during an admission, large settlements, medical assistance."""
    rng, h = tl.rng, tl.h
    t0 = at if at is not None else tl.start(follow=150 * DAY)
    p = person or tl.pick(lambda m: True, t0, t0 + 30 * DAY,
                          weight=lambda m: 3.0 if m.employed else 2.0 if m.age >= 60 else 1.0)
    if p is None:
        return None
    t0 = tl.office(t0)
    code = rng.choice(codes.MAJOR_DISEASES)
    admit = tl.office(max(0, t0 - rng.randrange(0, 5) * DAY))
    discharge = admit + rng.randint(5, 40) * DAY
    tl.emit(admit, "hlth_inpatient_admission", p, {
        "admit_date": date_str(admit),
        "discharge_date": date_str(discharge) if discharge <= END and rng.random() > 0.08 else None,
        "icu": rng.random() < (0.45 if severe else 0.25), "injury": False, "diagnosis_code": code})
    tl.emit(max(t0, admit + 3600), "hlth_major_disease_dx", p,
            {"disease_code": code, "catalogue_major": tl.showcase or rng.random() < 0.88})
    low = h.category in _LOW
    cover = rng.uniform(0.4, 0.55) if severe else rng.uniform(0.5, 0.78) + (0.08 if low else 0.0)
    total = tl.money(150_000, 420_000) if severe else float(round(min(rng.lognormvariate(10.6, 0.6), 600_000)))
    settled = tl.later(discharge, 0, 5)
    oop = _settle(tl, settled, p, total, cover, inpatient=True)
    t = settled
    for _ in range(rng.randint(0, 3)):
        t = tl.later(t, 20, 60)
        oop += _settle(tl, t, p, tl.money(3_000, 40_000), cover, inpatient=rng.random() < 0.3)
    if low and tl.chance(0.7):
        tl.emit(tl.later(settled, 15, 45), "med_assistance_paid", p,
                {"amount": float(round(oop * rng.uniform(0.2, 0.6)))})
    reference = 10_000.0 if low else 26_000.0
    if oop > 0.5 * reference or tl.showcase:
        month = month_index(min(t, END)) + 1
        if month < 18:
            tl.emit(day_of_month(month, 5), "med_high_cost_list", p, {"oop_12m": oop, "reference_line": reference})
    if code in codes.SPECIAL or tl.chance(0.3):
        tl.emit(tl.later(settled, 10, 40), "med_special_outpatient", p,
                {"disease_code": code, "kind": "special", "start": date_str(settled)})
    if severe:
        adult = tl.pick(lambda m: m.age >= 18, settled) or p
        tl.emit(tl.later(settled, 5, 25), "fin_bank_deposit", adult, {"balance": tl.money(20, 800)})
        tl.emit(tl.later(settled, 10, 30), "ca_self_declaration", adult,
                {"incomes": {}, "needs": ["medical_assistance", "temporary_assistance"]})
        if tl.chance(0.5):
            tl.emit(tl.later(settled, 20, 50), "ca_temporary_assistance", None,
                    {"amount": tl.money(3000, 20000), "reason": "medical"})
    return t0


def disability(tl: Timeline, at: int | None = None, person: Person | None = None,
               change: str | None = None) -> int | None:
    """A disability certificate (new, worse grade, added category or revoked), subsidies, rehabilitation."""
    rng, h = tl.rng, tl.h
    t0 = at if at is not None else tl.start(follow=120 * DAY)
    disabled = [m for m in tl.present(t0) if m.disability is not None]
    if change is None:
        change = rng.choices(("new", "grade_changed", "category_added", "revoked"), (55, 25, 12, 8))[0]
        if (change != "new" and not disabled) or (change == "revoked" and tl.showcase):
            change = "new"
        if change == "grade_changed" and all(m.disability and m.disability[1] == 1 for m in disabled):
            change = "category_added"
    if person is not None:
        p: Person | None = person
    elif change == "new":
        p = tl.pick(lambda m: m.disability is None, t0, weight=lambda m: 2.0 if m.age >= 60 else 1.0)
    elif change == "grade_changed":
        p = tl.pick(lambda m: m.disability is not None and m.disability[1] > 1, t0)
    else:
        p = tl.pick(lambda m: m.disability is not None, t0)
    if p is None:
        return None
    old = p.disability
    payload: dict[str, Any]
    if change == "new" or old is None:
        change = "new"
        category, grade = draw_disability(rng)
        payload = {"change": "new", "category": category, "grade": grade, "previous_grade": None}
    elif change == "grade_changed":
        category, grade = old[0], max(1, old[1] - rng.randint(1, 2))
        payload = {"change": change, "category": category, "grade": grade, "previous_grade": old[1]}
    elif change == "category_added":
        category = rng.choice([c for c in codes.REHAB if c not in (old[0], "multiple")])
        grade = min(old[1], rng.randint(1, 4))
        payload = {"change": change, "category": category, "grade": grade, "previous_grade": old[1]}
    else:
        category, grade = old
        payload = {"change": "revoked", "category": category, "grade": grade, "previous_grade": grade}
    t0 = tl.office(t0)
    tl.emit(t0, "dis_certificate", p, payload)
    if change == "revoked":
        p.disability = None
        return t0
    p.disability = (category, grade)
    living = h.category in _LOW
    care = grade <= 2
    if living or care or tl.showcase:
        tl.emit(tl.later(t0, 20, 60), "dis_two_subsidies", p,
                {"living_subsidy": living or not care, "care_subsidy": care})
    t = t0
    for _ in range(rng.randint(1, 3)):
        t = tl.later(t, 15, 90)
        cost = tl.money(500, 30_000)
        tl.emit(t, "dis_rehab_service", p, {"service": rng.choice(codes.REHAB[category]), "cost": cost,
                                            "oop": float(round(cost * rng.uniform(0.1, 0.6)))})
    if grade <= 2 and p.employed and p.job_end > t0:
        p.job_end = t0
    return t0


def unemployment(tl: Timeline, at: int | None = None, person: Person | None = None) -> int | None:
    """A working-age earner loses the job: arrears, registration, benefit, unpaid months, reemployment."""
    rng, h = tl.rng, tl.h
    t0 = at if at is not None else tl.start(earliest=70 * DAY, follow=200 * DAY)
    p = person or tl.pick(lambda m: m.employed and 18 <= m.age <= 58 and m.job_end > t0, t0, t0 + 30 * DAY,
                          weight=lambda m: m.income)
    if p is None or p.job_end <= t0:
        return None
    t0 = tl.office(t0)
    wage, m0 = p.income, month_index(t0)
    for m in range(max(0, m0 - 3), m0):
        tl.emit(day_of_month(m, 25), "hr_social_insurance_contrib", p,
                {"month": month_str(m), "paid": True, "wage_base": wage})
    if tl.chance(0.35):
        owed = rng.randint(1, 4)
        tl.emit(tl.office(t0 - rng.randint(10, 50) * DAY), "hr_wage_arrears", p,
                {"months_owed": owed, "amount": float(round(wage * owed))})
    registered = tl.later(t0, 0, 10)
    tl.emit(registered, "hr_unemployment_registration", p,
            {"last_monthly_wage": wage, "reason": rng.choice(codes.UNEMP_REASONS)})
    p.job_end = t0
    draw = 0.0 if tl.showcase else rng.random()
    back = tl.later(registered, 60, 240) if draw < 0.65 else END + DAY
    if tl.chance(0.75):
        start = registered + rng.randint(15, 30) * DAY
        months = rng.randint(3, 12)
        tl.emit(tl.office(start), "hr_unemployment_benefit", p, {
            "start": date_str(start), "end": date_str(start + months * 30 * DAY),
            "monthly_amount": tl.money(1800, 2300)})
    first_unpaid = m0 if day_of_month(m0, 25) > t0 else m0 + 1
    for m in range(first_unpaid, min(18, first_unpaid + rng.randint(2, 5))):
        if day_of_month(m, 25) < back:
            tl.emit(day_of_month(m, 25), "hr_social_insurance_contrib", p,
                    {"month": month_str(m), "paid": False, "wage_base": 0.0})
    if h.category not in ("tekun", "dibao") and tl.chance(0.4):
        tl.emit(day_of_month(first_unpaid, 20), "hs_provident_fund", p,
                {"month": month_str(first_unpaid), "paid": False, "base": 0.0})
    if draw < 0.8:
        tl.emit(tl.later(registered, 20, 50), "hr_employment_service", p,
                {"service": rng.choice(("assistance", "training"))})
    if draw < 0.55:
        tl.emit(back, "hr_employment_service", p, {"service": "reemployed"})
        base = float(round(wage * rng.uniform(0.7, 1.1), -1))
        for m in range(month_index(min(back, END)) + 1, min(18, month_index(min(back, END)) + 3)):
            tl.emit(day_of_month(m, 25), "hr_social_insurance_contrib", p,
                    {"month": month_str(m), "paid": True, "wage_base": base})
    elif draw < 0.65:
        tl.emit(back, "hr_employment_service", p, {"service": "public_welfare_post"})
    return t0


def main_earner(tl: Timeline, t: int = 0) -> Person | None:
    """Whom a death story is about: the top earner, else the head, else anyone present."""
    return tl.earner(t) or tl.pick(lambda m: m.relation == "head", t) or tl.pick(lambda m: True, t)


def death(tl: Timeline, at: int | None = None, person: Person | None = None, *,
          cert: bool | None = None) -> int | None:
    """A death (police deregistration, usually the medical certificate too) and what follows for the rest."""
    rng, h = tl.rng, tl.h
    p = person or main_earner(tl, at or 0)
    if p is None:
        return None
    earliest = max(at if at is not None else 30 * DAY, p.last_t + DAY)
    if earliest > END - DAY or (p.gone < earliest and at is None):
        return None
    if at is not None and at >= p.last_t:
        t0 = at
    else:
        t0 = rng.randrange(earliest, max(earliest + DAY, END - (60 * DAY if tl.showcase else DAY)))
    tl.leave(p, t0, died=True)
    cause = rng.choice(codes.DEATH_CAUSES)
    tl.emit(t0, "ps_death_registration", p, {"cause_code": cause} if rng.random() < 0.7 else {})
    if cert if cert is not None else rng.random() < 0.75:
        tl.emit(t0, "hlth_death_medical_cert", p, {"cause_code": cause})
    rest = tl.present(t0 + 1)
    if tl.chance(0.5):
        tl.emit(tl.later(t0, 5, 40), "ca_temporary_assistance", None,
                {"amount": tl.money(2000, 8000), "reason": "funeral"})
    minors = [m for m in rest if m.age < 18]
    if minors and all(m.age < 18 for m in rest):
        status = "orphan" if rng.random() < 0.6 else "de_facto_unsupported"
        for m in minors:
            tl.emit(tl.later(t0, 10, 60), "ca_child_welfare", m, {"status": status})
        tl.emit(tl.later(t0, 30, 90), "ca_assistance_status", None, {"category": "tekun", "status": "start"})
    elif rest and h.category not in ("tekun", "dibao") and tl.chance(0.3):
        tl.emit(tl.later(t0, 30, 90), "ca_assistance_status", None, {"category": "dibao", "status": "start"})
    return t0


def double_headline(tl: Timeline) -> int | None:
    """Two headline streams within 90 days (red-line rule R2)."""
    rng = tl.rng
    t0 = tl.start(earliest=60 * DAY, follow=200 * DAY)
    variant = rng.randrange(4)
    gap = rng.randint(10, 85) * DAY
    if variant == 0:                                    # illness, then the carer loses the job
        patient = tl.pick(lambda m: not m.employed, t0) or tl.pick(lambda m: True, t0)
        if illness(tl, t0, patient) is None:
            return None
        return unemployment(tl, t0 + gap) or t0
    if variant == 1:                                    # a major illness that ends in death
        patient = main_earner(tl, t0)
        if patient is None or patient.last_t >= t0:
            return None
        tl.leave(patient, t0 + gap)                     # nothing about the patient after the death
        illness(tl, t0, patient, severe=rng.random() < 0.3)
        death(tl, t0 + gap, patient, cert=True)
        return t0
    if variant == 2:                                    # job loss, then an illness in the family
        if unemployment(tl, t0) is None:
            return illness(tl, t0)
        illness(tl, t0 + gap)
        return t0
    disability(tl, t0, change="new")                    # a new disability, then a job loss
    unemployment(tl, t0 + gap)
    return t0
