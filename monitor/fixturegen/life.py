"""Life-event and household-data stories beyond the four headlines.

Births, marriages, divorces and moves change who belongs to the household; disasters, court cases,
arrears and business failures change what it has; custody, mental illness and child-welfare records
change who cares for whom.  Three stories are deliberate data anomalies (catalogue §4.3 DATA_ANOMALY):
a pension paid after death, a contribution paid after death, a disability subsidy after revocation.
"""

from __future__ import annotations

import datetime as dt

from monitor.fixturegen import codes
from monitor.fixturegen.clock import DAY, END, EPOCH, date_str, day_of_month, month_index, month_str
from monitor.fixturegen.headline import death, disability
from monitor.fixturegen.households import LOW_INCOME
from monitor.fixturegen.people import Person
from monitor.fixturegen.routine import stage_of
from monitor.fixturegen.timeline import Timeline

__all__ = [
    "assistance_change", "birth", "business", "child_welfare", "contrib_after_death", "court", "custody",
    "disaster", "divorce", "elderly_care", "marriage", "migration", "pension_after_death", "property",
    "public_housing", "reregister", "rrm", "securities", "severe_mental", "students", "subsidy_after_revoked",
    "temporary_assistance", "utility_arrears", "vehicle", "wage_arrears", "work_injury",
]


def _adult(m: Person) -> bool:
    return m.age >= 18


def _newcomer(tl: Timeline, born: dt.date, sex: str, relation: str) -> Person:
    person = tl.ids.person(tl.h.region, born, sex, relation, in_registry=False)
    tl.h.joined.append(person)
    return person


def _years_before(t: int, years: int, rng_days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=t // DAY - years * 365 - years // 4 - rng_days)


# --- membership --------------------------------------------------------------------------------------------

def birth(tl: Timeline) -> int | None:
    """A newborn with a new ID born on the event date; the birth registration carries household_id."""
    mother = tl.pick(lambda m: m.sex == "F" and 20 <= m.age <= 40 and m.relation in ("head", "spouse", "child"))
    if mother is None:
        return None
    t0 = tl.start(follow=60 * DAY)
    relation = "grandchild" if mother.relation == "child" else "child"
    baby = _newcomer(tl, EPOCH + dt.timedelta(days=t0 // DAY), tl.rng.choice("MF"), relation)
    t0 = tl.office((baby.born - EPOCH).days * DAY)     # the allocator may have moved the day
    tl.emit(t0, "ps_birth_registration", baby, {"relation": relation})
    tl.emit(tl.later(t0, 10, 60), "med_enrollment", baby,
            {"status": "insured", "scheme": "resident", "subsidised": tl.h.category in LOW_INCOME})
    return t0


def marriage(tl: Timeline) -> int | None:
    """An unmarried adult marries: the new spouse joins, or the member marries out and leaves."""
    rng = tl.rng
    has_spouse = any(m.relation == "spouse" for m in tl.present())
    p = tl.pick(lambda m: (m.relation == "child" and 22 <= m.age <= 40)
                or (m.relation == "head" and not has_spouse and 22 <= m.age <= 60))
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=90 * DAY))
    draw = rng.random()
    if p.relation == "child" and draw < 0.5:
        left = tl.departure(p, t0)
        if left is None:
            return None
        t0 = left
        tl.emit(t0, "ca_marriage_registration", p, {"direction": "leaves"})
        tl.leave(p, t0)
        if tl.chance(0.5):
            tl.emit(tl.later(t0, 10, 60), "ps_hukou_migration", p, {"direction": "out", "relation": "child"},
                    after_gone=True)
    elif draw < 0.9 or tl.showcase:
        spouse = _newcomer(tl, _years_before(t0, p.age + rng.randint(-3, 3), rng.randrange(365)),
                           "F" if p.sex == "M" else "M", "spouse")
        tl.emit(t0, "ca_marriage_registration", spouse, {"direction": "joins"})
        if tl.chance(0.4):
            tl.emit(tl.later(t0, 10, 60), "ps_hukou_migration", spouse, {"direction": "in", "relation": "spouse"})
    else:
        tl.emit(t0, "ca_marriage_registration", p, {"direction": "stays"})
    return t0


def divorce(tl: Timeline) -> int | None:
    """The couple divorces; usually one spouse leaves, the minors stay with the other."""
    head = tl.pick(lambda m: m.relation == "head" and m.age < 70)
    spouse = tl.pick(lambda m: m.relation == "spouse")
    if head is None or spouse is None:
        return None
    t0 = tl.departure(spouse, tl.office(tl.start(follow=60 * DAY)))
    if t0 is None:
        return None
    minors = [m for m in tl.present(t0) if m.age < 18]
    leaves = tl.showcase or tl.rng.random() < 0.75
    tl.emit(t0, "ca_divorce_registration", spouse, {"leaves_household": leaves, "custody_minors": len(minors)})
    if leaves:
        tl.leave(spouse, t0)
        if tl.chance(0.4):
            tl.emit(tl.later(t0, 15, 90), "ps_hukou_migration", spouse, {"direction": "out", "relation": "spouse"},
                    after_gone=True)
    if minors and tl.chance(0.5):
        tl.emit(tl.later(t0, 20, 80), "ca_self_declaration", head,
                {"incomes": {"wage": head.income} if head.employed else {}, "needs": ["education_aid"]})
    return t0


def migration(tl: Timeline) -> int | None:
    """A working-age member moves the hukou out (leaving children or elders behind), or a relative moves in."""
    rng = tl.rng
    t0 = tl.office(tl.start(follow=60 * DAY))
    adults = [m for m in tl.present(t0) if m.age >= 18]
    mover = tl.pick(lambda m: 18 <= m.age <= 50 and m.relation != "head", t0) if len(adults) > 1 else None
    left = tl.departure(mover, t0) if mover is not None else None
    if mover is not None and left is not None and (rng.random() < 0.6 or tl.showcase):
        t0 = left
        tl.emit(t0, "ps_hukou_migration", mover, {"direction": "out", "relation": mover.relation})
        tl.leave(mover, t0)
        rest = tl.present(t0 + 1)
        minors = any(m.age < 18 for m in rest)
        elderly = any(m.age >= 60 for m in rest)
        carer = tl.pick(_adult, t0 + 1)
        if carer is not None and (minors or elderly):
            tl.emit(tl.later(t0, 20, 90), "ca_home_visit", carer, {
                "left_behind": "minor_with_elderly" if minors and elderly else "minor" if minors else "elderly",
                "needs": ["care_services"] if elderly else []})
    if mover is None or tl.showcase:
        relation = rng.choice(("parent", "sibling", "other"))
        age = rng.randint(62, 88) if relation == "parent" else rng.randint(25, 60)
        newcomer = _newcomer(tl, _years_before(t0, age, rng.randrange(365)), rng.choice("MF"), relation)
        tl.emit(tl.later(t0, 1, 30), "ps_hukou_migration", newcomer, {"direction": "in", "relation": relation})
    return t0


def reregister(tl: Timeline) -> int | None:
    """A re-registration of the household (ps_household_register) that adds a member."""
    rng, h = tl.rng, tl.h
    t0 = tl.office(tl.start(follow=30 * DAY))
    relation = rng.choice(("grandparent", "other", "sibling"))
    age = rng.randint(70, 92) if relation == "grandparent" else rng.randint(20, 60)
    newcomer = _newcomer(tl, _years_before(t0, age, rng.randrange(365)), rng.choice("MF"), relation)
    if age >= 60:
        newcomer.pension_scheme, newcomer.income = "basic_resident", tl.money(190, 420)
    members = [*tl.present(t0), newcomer]
    tl.emit(t0, "ps_household_register", None, h.record(date_str(t0), members))
    return t0


# --- assets, arrears, income ----------------------------------------------------------------------------------

def disaster(tl: Timeline) -> int | None:
    """Typhoon or flood damage (em_disaster_loss, household-level) and the relief that follows."""
    rng, h = tl.rng, tl.h
    if tl.showcase or rng.random() < 0.7:
        t0 = tl.office(rng.randrange(200 * DAY, 272 * DAY))     # typhoon season 2023
    else:
        t0 = tl.office(tl.start(follow=60 * DAY))
    loss = rng.choices(("collapsed", "severe", "moderate", "minor"), (10, 20, 35, 35))[0]
    if tl.showcase:
        loss = "collapsed"
    value, rebuild = {"collapsed": ((80e3, 300e3), (100e3, 350e3)), "severe": ((30e3, 120e3), (40e3, 150e3)),
                      "moderate": ((5e3, 40e3), (5e3, 40e3)), "minor": ((500, 8e3), (0, 0))}[loss]
    tl.emit(t0, "em_disaster_loss", None, {
        "loss_type": loss, "loss_value": tl.money(*value), "rebuild_cost": tl.money(*rebuild),
        "casualties": int(loss == "collapsed" and rng.random() < 0.15),
        "productive_loss": tl.money(1000, 40_000) if h.rural else 0.0})
    if h.rural:
        grade = "D" if loss in ("collapsed", "severe") else rng.choice("BC")
        tl.emit(tl.later(t0, 10, 40), "hs_rural_housing_safety", None, {"grade": grade})
    if loss in ("collapsed", "severe") or tl.chance(0.4):
        tl.emit(tl.later(t0, 5, 30), "ca_temporary_assistance", None,
                {"amount": tl.money(2000, 20_000), "reason": "disaster"})
    head = tl.pick(_adult, t0)
    if loss == "collapsed" and head is not None:
        tl.emit(tl.later(t0, 3, 20), "ca_home_visit", head, {
            "housing": rng.choice(("relatives", "shelter")), "needs": ["housing_support", "temporary_assistance"]})
    return t0


def court(tl: Timeline) -> int | None:
    """Court enforcement of a debt; sometimes the defaulter list, a seizure and auction of the home."""
    h = tl.h
    p = tl.pick(lambda m: 25 <= m.age <= 70)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=240 * DAY))
    amount = tl.money(5000, 200_000)
    tl.emit(t0, "court_enforcement", p, {"type": "enforced", "amount": amount})
    t = t0
    if tl.chance(0.4):
        t = tl.later(t, 60, 120)
        tl.emit(t, "court_enforcement", p, {"type": "defaulter", "amount": amount})
    if h.housing_m2 > 0 and tl.chance(0.15):
        t = tl.later(t, 20, 60)
        tl.emit(t, "re_property_registration", p, {"event": "seized", "area_m2": h.housing_m2, "only_home": True})
        t = tl.later(t, 60, 120)
        tl.emit(t, "court_enforcement", p, {"type": "auction", "amount": amount})
        tl.emit(tl.later(t, 1, 20), "re_property_registration", p,
                {"event": "auctioned", "area_m2": h.housing_m2, "only_home": True})
    elif tl.chance(0.2):
        tl.emit(tl.later(t, 60, 200), "court_enforcement", p, {"type": "closed", "amount": 0.0})
    return t0


def utility_arrears(tl: Timeline) -> int | None:
    """Water, power and gas bills unpaid for growing months (household-level); sometimes settled."""
    rng = tl.rng
    m0 = rng.randint(0, 14)
    monthly = tl.money(80, 250)
    months = rng.randint(2, 4)
    for i in range(1, months + 1):
        if m0 + i - 1 < 18:
            tl.emit(day_of_month(m0 + i - 1, 28, 2), "ut_utility_arrears", None,
                    {"months": i, "amount": float(round(monthly * i))})
    if m0 + months < 18 and rng.random() < 0.3:
        tl.emit(day_of_month(m0 + months, 28, 2), "ut_utility_arrears", None, {"months": 0, "amount": 0.0})
    return day_of_month(m0, 28, 2)


def public_housing(tl: Timeline) -> int | None:
    """Public rental housing or a rent subsidy, with rent arrears building up."""
    rng = tl.rng
    t0 = tl.office(tl.start(follow=120 * DAY))
    status = "public_rental" if rng.random() < 0.7 else "rent_subsidy"
    rent = tl.money(150, 800)
    tl.emit(t0, "hs_public_housing", None, {"status": status, "monthly_rent": rent, "arrears_months": 0})
    t = t0
    if tl.chance(0.6):
        for arrears in range(1, rng.randint(2, 4) + 1):
            t = tl.later(t, 28, 35)
            tl.emit(t, "hs_public_housing", None, {"status": status, "monthly_rent": rent, "arrears_months": arrears})
    return t0


def property(tl: Timeline) -> int | None:
    """A property event: mortgage, sale of the only home, purchase, or demolition of a rural house."""
    rng, h = tl.rng, tl.h
    p = tl.pick(lambda m: m.relation == "head") or tl.pick(_adult)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=60 * DAY))
    if h.housing_m2 <= 0:
        tl.emit(t0, "re_property_registration", p, {"event": "acquired", "area_m2": tl.money(35, 90)})
        return t0
    event = rng.choices(("mortgaged", "sold", "demolished", "acquired"), (40, 25, 15 if h.rural else 3, 20))[0]
    if tl.showcase:
        event = "sold"
    only = event != "acquired"
    area = tl.money(35, 90) if event == "acquired" else h.housing_m2
    tl.emit(t0, "re_property_registration", p, {"event": event, "area_m2": area, "only_home": only})
    if event in ("sold", "demolished"):
        tl.emit(tl.later(t0, 10, 60), "ca_home_visit", p, {
            "housing": "rented" if event == "sold" else "relatives", "monthly_rent": tl.money(400, 1500)
            if event == "sold" else 0.0, "needs": ["housing_support"]})
    return t0


def business(tl: Timeline) -> int | None:
    """A small business (个体户) registered, then abnormal, sometimes deregistered; taxed business income."""
    rng = tl.rng
    p = tl.pick(lambda m: 22 <= m.age <= 59 and m.work_capable)
    if p is None:
        return None
    t0 = tl.office(tl.start(earliest=10 * DAY, follow=260 * DAY))
    income = tl.money(2000, 8000)
    tl.emit(t0, "mkt_business_registration", p, {"status": "active", "monthly_business_income": income})
    m0 = month_index(t0)
    for m in range(m0, min(17, m0 + rng.randint(1, 3))):
        tl.emit(day_of_month(m + 1, 15), "tax_individual_income", p,
                {"month": month_str(m), "incomes": {"business": income}})
    t = tl.later(t0, 90, 240)
    low = float(round(income * rng.uniform(0.2, 0.6)))
    tl.emit(t, "mkt_business_registration", p, {"status": "abnormal", "monthly_business_income": low})
    if tl.chance(0.5):
        tl.emit(tl.later(t, 30, 120), "mkt_business_registration", p, {"status": "deregistered"})
    return t0


def wage_arrears(tl: Timeline) -> int | None:
    """An employer stops paying: an arrears complaint, sometimes resolved later."""
    p = tl.pick(lambda m: m.employed)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=90 * DAY))
    if t0 >= p.job_end:
        return None
    owed = tl.rng.randint(1, 6)
    tl.emit(t0, "hr_wage_arrears", p, {"months_owed": owed, "amount": float(round(p.income * owed))})
    if tl.chance(0.4):
        tl.emit(tl.later(t0, 30, 120), "hr_wage_arrears", p, {"months_owed": 0, "amount": 0.0})
    return t0


def vehicle(tl: Timeline) -> int | None:
    """A vehicle registered (and sometimes deregistered later)."""
    p = tl.pick(lambda m: 20 <= m.age <= 70)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=60 * DAY))
    band = tl.rng.choices(("low", "mid", "high"), (70, 25, 5))[0]
    tl.emit(t0, "ps_vehicle_registration", p, {"change": "registered", "value_band": band})
    if tl.chance(0.3):
        tl.emit(tl.later(t0, 60, 300), "ps_vehicle_registration", p, {"change": "deregistered", "value_band": band})
    return t0


def securities(tl: Timeline) -> int | None:
    """Funds or wealth products found by the financial-asset check."""
    p = tl.pick(_adult)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=30 * DAY))
    value = tl.money(2000, 120_000)
    t = t0
    for _ in range(tl.rng.randint(1, 3)):
        tl.emit(t, "fin_securities_wealth", p, {"value": value})
        value = float(round(value * tl.rng.uniform(0.6, 1.2)))
        t = tl.later(t, 60, 150)
    return t0


def temporary_assistance(tl: Timeline) -> int | None:
    """A declared hardship and one to three temporary-assistance grants."""
    rng = tl.rng
    p = tl.pick(_adult)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=90 * DAY))
    tl.emit(t0, "ca_self_declaration", p, {"incomes": {}, "needs": ["temporary_assistance"]})
    t = t0
    reason = rng.choice(codes.TEMP_REASONS)
    for _ in range(rng.randint(1, 3)):
        t = tl.later(t, 7, 120)
        tl.emit(t, "ca_temporary_assistance", None, {"amount": tl.money(500, 5000), "reason": reason})
    return t0


def assistance_change(tl: Timeline) -> int | None:
    """A change of assistance status: 渐退 (phasing out) then end, a new category, or 单人户施保."""
    rng, h = tl.rng, tl.h
    t0 = tl.office(tl.start(follow=200 * DAY))
    draw = 0.0 if tl.showcase else rng.random()
    if draw < 0.4 and h.category in ("dibao", "dibian", "tekun", "rrm") or tl.showcase:
        category = h.category if h.category != "none" else "dibao"
        tl.emit(t0, "ca_assistance_status", None, {"category": category, "status": "phasing_out"})
        tl.emit(tl.later(t0, 90, 180), "ca_assistance_status", None, {"category": category, "status": "end"})
        if tl.showcase:
            tl.emit(tl.later(t0, 200, 260), "ca_assistance_status", None, {"category": "dibian", "status": "start"})
    elif draw < 0.7:
        upgrade = {"none": "dibian", "dibian": "dibao", "rigid": "dibian", "rrm": "dibao"}.get(h.category, "dibao")
        tl.emit(t0, "ca_assistance_status", None, {"category": upgrade, "status": "start"})
    elif h.category == "dibian":
        tl.emit(t0, "ca_assistance_status", None, {"category": "dibao", "status": "start",
                                                   "single_person_coverage": True})
    else:
        tl.emit(t0, "ca_assistance_status", None, {"category": h.category, "status": "end"})
    return t0


def rrm(tl: Timeline) -> int | None:
    """防返贫 monitoring of a rural household: risk identified, housing checked, risk eliminated later."""
    rng, h = tl.rng, tl.h
    t0 = tl.office(tl.start(follow=200 * DAY))
    kind = rng.choices(("unstable_ex_poor", "edge", "sudden_hardship"), (40, 35, 25))[0]
    tl.emit(t0, "agri_rrm_monitoring", None, {"type": kind, "risk_eliminated": False})
    if h.rural or tl.showcase:
        tl.emit(tl.later(t0, 10, 60), "hs_rural_housing_safety", None,
                {"grade": rng.choices("ABCD", (30, 40, 22, 8))[0]})
    if tl.chance(0.5):
        tl.emit(tl.later(t0, 150, 300), "agri_rrm_monitoring", None, {"type": kind, "risk_eliminated": True})
    return t0


# --- care, health and custody ------------------------------------------------------------------------------

def students(tl: Timeline) -> int | None:
    """A pupil's school status and aid each term; a few drop out."""
    rng = tl.rng
    p = tl.pick(lambda m: m.relation in ("child", "grandchild") and 6 <= m.age <= 21 and not m.employed)
    if p is None:
        return None
    stage = stage_of(p.age + 1)
    if stage == "senior" and rng.random() < 0.4:
        stage = "vocational"
    t0 = tl.office(day_of_month(8, 1))                  # autumn term 2023
    tl.emit(t0, "edu_student_status", p, {"stage": stage, "enrolled": True})
    aid = tl.money(500, 1500) if stage in ("primary", "junior") else tl.money(2000, 5000)
    tl.emit(tl.later(t0, 20, 60), "edu_student_aid", p, {"aid_amount": aid, "dropout": False})
    if rng.random() < 0.08 and stage in ("junior", "senior", "vocational"):
        t = tl.office(day_of_month(13, 26))
        tl.emit(t, "edu_student_aid", p, {"aid_amount": 0.0, "dropout": True})
        tl.emit(tl.later(t, 1, 20), "edu_student_status", p, {"stage": stage, "enrolled": False})
    else:
        tl.emit(tl.office(day_of_month(13, 26)), "edu_student_status", p, {"stage": stage, "enrolled": True})
    return t0


def elderly_care(tl: Timeline) -> int | None:
    """An elder's capacity assessed and reassessed as it declines; pension and chronic outpatient care."""
    rng = tl.rng
    p = tl.pick(lambda m: m.age >= 65)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=200 * DAY))
    levels = ("capable", "mild", "moderate", "severe", "total")
    first = rng.randint(0, 2)
    tl.emit(t0, "ca_elderly_capacity", p, {"level": levels[first]})
    tl.emit(tl.later(t0, 120, 300), "ca_elderly_capacity", p, {"level": levels[min(4, first + rng.randint(1, 2))]})
    if p.pension_scheme:
        m = month_index(t0)
        tl.emit(day_of_month(m, 10), "hr_pension_payment", p, {"monthly_amount": p.income, "scheme": p.pension_scheme})
    tl.emit(tl.later(t0, 10, 90), "med_special_outpatient", p, {
        "disease_code": rng.choice(codes.CHRONIC), "kind": "chronic", "start": date_str(t0)})
    carer = tl.pick(lambda m: m is not p and m.age >= 18, t0) or p
    tl.emit(tl.later(t0, 30, 120), "ca_home_visit", carer, {"needs": ["care_services"]})
    return t0


def severe_mental(tl: Timeline) -> int | None:
    """A patient on the severe-mental-disorder register; sometimes unstable or lost to follow-up."""
    rng, h = tl.rng, tl.h
    p = tl.pick(lambda m: 18 <= m.age <= 75)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=150 * DAY))
    alone = len(h.members) == 1
    tl.emit(t0, "hlth_severe_mental_registry", p, {"risk_grade": rng.randint(0, 2), "status": "stable",
                                                   "lives_alone": alone})
    if tl.chance(0.4):
        status = rng.choices(("unstable", "lost_contact"), (80, 20))[0]
        tl.emit(tl.later(t0, 60, 150), "hlth_severe_mental_registry", p,
                {"risk_grade": rng.randint(3, 5), "status": status, "lives_alone": alone})
    return t0


def child_welfare(tl: Timeline) -> int | None:
    """A minor recognised as a child in distress (困境儿童), with school aid."""
    p = tl.pick(lambda m: m.age < 17)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=90 * DAY))
    tl.emit(t0, "ca_child_welfare", p, {"status": "distressed"})
    if p.age >= 6:
        tl.emit(tl.later(t0, 20, 80), "edu_student_aid", p, {"aid_amount": tl.money(800, 3000), "dropout": False})
    return t0


def custody(tl: Timeline) -> int | None:
    """A member is detained, then imprisoned or released; community correction for some."""
    rng = tl.rng
    p = tl.pick(lambda m: 18 <= m.age <= 60, weight=lambda m: 4.0 if m.sex == "M" else 1.0)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=150 * DAY))
    tl.emit(t0, "jus_inmate", p, {"status": "in_custody"})
    p.job_end = min(p.job_end, t0)
    if rng.random() < 0.6 or tl.showcase:
        tl.emit(tl.later(t0, 30, 120), "jus_inmate", p, {"status": "prison"})
        minors = [m for m in tl.present(t0) if m.age < 18]
        if minors and sum(m.age >= 18 for m in tl.present(t0)) == 1:
            for m in minors:
                tl.emit(tl.later(t0, 30, 90), "ca_child_welfare", m, {"status": "de_facto_unsupported"})
    else:
        t = tl.later(t0, 20, 60)
        tl.emit(t, "jus_inmate", p, {"status": "released"})
        if rng.random() < 0.5:
            tl.emit(tl.later(t, 1, 10), "jus_inmate", p, {"status": "community_correction"})
    return t0


def work_injury(tl: Timeline) -> int | None:
    """An injury at work: admission, settlement mostly paid by the fund, a work-injury grade later."""
    rng = tl.rng
    p = tl.pick(lambda m: m.employed and 18 <= m.age <= 59)
    if p is None:
        return None
    t0 = tl.office(tl.start(follow=200 * DAY))
    if t0 >= p.job_end:
        return None
    los = rng.randint(3, 45)
    code = rng.choice(codes.INJURIES)
    tl.emit(t0, "hlth_inpatient_admission", p, {
        "admit_date": date_str(t0), "discharge_date": date_str(t0 + los * DAY) if t0 + los * DAY <= END else None,
        "icu": rng.random() < 0.1, "injury": True, "diagnosis_code": code})
    total = tl.money(8000, 150_000)
    fund = float(round(total * rng.uniform(0.85, 0.97)))
    tl.emit(tl.later(t0 + los * DAY, 0, 5), "med_settlement", p,
            {"total_cost": total, "fund_paid": fund, "oop": total - fund, "inpatient": True})
    grade = rng.choices(range(1, 11), (2, 3, 4, 6, 8, 12, 15, 16, 17, 17))[0]
    tl.emit(tl.later(t0, 60, 150), "hr_work_injury", p, {"grade": grade})
    if grade <= 4:
        p.job_end = min(p.job_end, t0)
        if rng.random() < 0.6:
            disability(tl, tl.later(t0, 100, 180), p, change="new" if p.disability is None else "grade_changed")
    return t0


# --- deliberate data anomalies -------------------------------------------------------------------------------

def pension_after_death(tl: Timeline) -> int | None:
    """A pensioner dies and the pension is still paid the next month (DATA_ANOMALY)."""
    p = tl.pick(lambda m: m.pension_scheme is not None)
    if p is None:
        return None
    t0 = tl.rng.randrange(120 * DAY, END - 70 * DAY)
    m0 = month_index(t0)
    for m in range(max(0, m0 - 3), m0):
        tl.emit(day_of_month(m, 10), "hr_pension_payment", p, {"monthly_amount": p.income, "scheme": p.pension_scheme})
    died = death(tl, t0, p)
    if died is None:
        return None
    tl.emit(day_of_month(month_index(died) + 1, 10), "hr_pension_payment", p,
            {"monthly_amount": p.income, "scheme": p.pension_scheme}, after_gone=True)
    return t0


def contrib_after_death(tl: Timeline) -> int | None:
    """An earner dies and a paid social-insurance contribution still arrives (DATA_ANOMALY)."""
    p = tl.earner()
    if p is None:
        return None
    t0 = tl.rng.randrange(90 * DAY, END - 70 * DAY)
    died = death(tl, t0, p)
    if died is None:
        return None
    m = month_index(died) + 1
    tl.emit(day_of_month(m, 25), "hr_social_insurance_contrib", p,
            {"month": month_str(m), "paid": True, "wage_base": p.income}, after_gone=True)
    return t0


def subsidy_after_revoked(tl: Timeline) -> int | None:
    """A disability certificate is revoked but the two subsidies keep coming (DATA_ANOMALY)."""
    p = tl.pick(lambda m: m.disability is not None)
    if p is None or p.disability is None:
        return None
    severe = p.disability[1] <= 2
    t0 = disability(tl, tl.start(follow=90 * DAY), p, change="revoked")
    if t0 is None:
        return None
    tl.emit(tl.later(t0, 20, 60), "dis_two_subsidies", p, {"living_subsidy": True, "care_subsidy": severe})
    return t0

