"""Indicators of the health_disability dimension (catalogue §3.5): illness, hospital stays, disability, care.

All of them grade the case themselves (`ordinal: true` in rules.yaml) and return 3 (H), 2 (M) or 1 (L), or
None when nothing applies.  When several members or events qualify, the highest grade wins (among equal
grades, the latest event) and the finding names that member and event.
"""

from __future__ import annotations

from indicators.base import Context, Dimension, Finding, Indicator, declarer
from indicators.common import better, last_of
from monitor import payloads as p
from monitor.categories import Family
from monitor.household import MemberState
from monitor.model import DAY, Event, day_of

__all__ = ["DECLARED"]

DECLARED: list[Indicator] = []
declare = declarer(DECLARED, Dimension.HEALTH_DISABILITY)

# ICD-10 chapters of injuries (S, T) and their external causes (V-Y).
_INJURY_CHAPTERS = ("S", "T", "V", "W", "X", "Y")
# Disability categories whose grade 3 counts as severe where the region says so.
_GRADE3_SEVERE_CATEGORIES = ("intellectual", "mental")
_CAPACITY_GRADE = {"total": 3, "severe": 3, "moderate": 2, "mild": 1}
_NEVER = -(1 << 62)  # the time of a fact that came with the registry baseline, not with an event






def _count_finding(ctx: Context, grade: int, counted: list[MemberState], category: str) -> Finding:
    """A count-based finding: the member when there is one, and the latest `category` event behind it."""
    latest: Event | None = None
    for m in counted:
        event = last_of(ctx, category, m.person_id)
        if event is not None and (latest is None or event.key > latest.key):
            latest = event
    subject = counted[0].person_id if len(counted) == 1 else None
    return Finding(grade, subject, latest.event_id if latest else None)


def _admissions(ctx: Context, window_days: float) -> list[tuple[Event, int]]:
    """Admissions in the window with their length of stay in days (up to t while still in hospital).

    A discharge is reported as a later record of the same admission, so records are merged per member
    and admission date and the latest record of each stay wins.
    """
    stays: dict[tuple[str | None, int], Event] = {}
    for event in ctx.within("hlth_inpatient_admission", window_days):
        assert isinstance(event.payload, p.HlthInpatientAdmission)
        stays[(event.person_id, event.payload.admit_date.toordinal())] = event
    out = []
    for (_, admitted), event in sorted(stays.items(), key=lambda kv: kv[1].key):
        assert isinstance(event.payload, p.HlthInpatientAdmission)
        discharged = event.payload.discharge_date
        until = discharged.toordinal() if discharged is not None else day_of(ctx.t)
        out.append((event, max(1, until - admitted)))
    return out


def _severe(ctx: Context, m: MemberState) -> bool:
    """Grade 1-2, or grade 3 intellectual or mental disability where the region counts it as severe."""
    grade = m.disability_grade
    if grade is None:
        return False
    return grade <= 2 or (grade == 3 and ctx.region.severe_includes_grade3_mental
                          and any(c in _GRADE3_SEVERE_CATEGORIES for c in m.disability_categories))


@declare(
    id="hd_major_disease_new", name_zh="新发重大疾病", name_en="New major disease",
    inputs=("hlth_major_disease_dx", "med_special_outpatient", "med_settlement"),
    summary="A member was newly diagnosed with a catalogue major disease",
    headline=Family.ILL,
)
def hd_major_disease_new(ctx: Context, *, window_days: float) -> Finding | None:
    """3: the patient is the main earner or a minor; 2: another working-age adult; 1: anyone else."""
    best: Finding | None = None
    for event in ctx.within("hlth_major_disease_dx", window_days):
        assert isinstance(event.payload, p.HlthMajorDiseaseDx)
        patient = ctx.member(event.person_id)
        if patient is None or not event.payload.catalogue_major:
            continue
        if ctx.is_main_earner(patient) or ctx.age(patient) < 18:
            grade = 3
        elif ctx.working_age(patient):
            grade = 2
        else:
            grade = 1
        if best is None or grade > best.value:
            best = Finding(grade, patient.person_id, event.event_id)
    return best


@declare(
    id="hd_seriously_ill_members", name_zh="重病成员数", name_en="Seriously ill members",
    inputs=("hlth_major_disease_dx", "med_special_outpatient"),
    summary="One or more members are living with a major disease",
)
def hd_seriously_ill_members(ctx: Context, *, active_days: float) -> Finding | None:
    """3: two or more seriously ill members; 2: one, of working age or younger; 1: one older member.

    A major disease is active when diagnosed within active_days, or when an older diagnosis is still
    treated under a special outpatient (门特) recognition.
    """
    since = ctx.t - active_days * DAY
    ill = [m for m in ctx.members if m.major_disease_at is not None
           and (m.major_disease_at > since or m.outpatient_kind == "special")]
    if not ill:
        return None
    if len(ill) >= 2:
        grade = 3
    else:
        grade = 2 if ctx.age(ill[0]) <= ctx.region.working_age_max else 1
    finding = _count_finding(ctx, grade, ill, "hlth_major_disease_dx")
    if len(ill) == 1 and ill[0].major_disease_at is not None and ill[0].major_disease_at <= since:
        # Kept active by the 门特 recognition: that record is the evidence.
        outpatient = last_of(ctx, "med_special_outpatient", ill[0].person_id)
        finding = Finding(grade, ill[0].person_id, outpatient.event_id if outpatient else finding.evidence)
    return finding


@declare(
    id="hd_hospitalisation_intensity", name_zh="住院强度", name_en="Hospitalisation intensity",
    inputs=("hlth_inpatient_admission",),
    summary="Members of the household were in hospital often or for long over the past year",
)
def hd_hospitalisation_intensity(ctx: Context, *, window_days: float) -> Finding | None:
    """Grades the household's admissions and inpatient days in the window.

    3: four or more admissions or 60+ days; 2: two or three admissions or 30-59 days; 1: a single stay of
    14 days or more.
    """
    stays = _admissions(ctx, window_days)
    if not stays:
        return None
    days = sum(d for _, d in stays)
    if len(stays) >= 4 or days >= 60:
        grade = 3
    elif len(stays) >= 2 or days >= 30:
        grade = 2
    elif days >= 14:
        grade = 1
    else:
        return None
    people = sorted({e.person_id for e, _ in stays if e.person_id})
    return Finding(grade, people[0] if len(people) == 1 else None, stays[-1][0].event_id)


@declare(
    id="hd_critical_event", name_zh="危急重症", name_en="Critical event (ICU or resuscitation)",
    inputs=("hlth_inpatient_admission",),
    summary="A member was recently in intensive care",
)
def hd_critical_event(ctx: Context, *, window_days: float) -> Finding | None:
    """3: the patient is the main earner or a minor; 2: any other member."""
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for event in ctx.within("hlth_inpatient_admission", window_days):
        assert isinstance(event.payload, p.HlthInpatientAdmission)
        patient = ctx.member(event.person_id)
        if patient is None or not event.payload.icu:
            continue
        grade = 3 if ctx.is_main_earner(patient) or ctx.age(patient) < 18 else 2
        if better(best, grade, event.t):
            best, found = (grade, event.t), Finding(grade, patient.person_id, event.event_id)
    return found


@declare(
    id="hd_disability_new", name_zh="新增残疾", name_en="New disability certificate",
    inputs=("dis_certificate",),
    summary="A member recently received a first disability certificate",
    headline=Family.DIS,
)
def hd_disability_new(ctx: Context, *, window_days: float) -> Finding | None:
    """By the grade on the new certificate: 3: grade 1-2; 2: grade 3; 1: grade 4."""
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for event in ctx.within("dis_certificate", window_days):
        assert isinstance(event.payload, p.DisCertificate)
        holder = ctx.member(event.person_id)
        # Only the record that opened the member's certificate, and only while it still stands.
        if holder is None or holder.disability_new_at != event.t or holder.disability_grade is None:
            continue
        grade = 3 if event.payload.grade <= 2 else 2 if event.payload.grade == 3 else 1
        if better(best, grade, event.t):
            best, found = (grade, event.t), Finding(grade, holder.person_id, event.event_id)
    return found


@declare(
    id="hd_disability_worsened", name_zh="残疾等级加重/类别增加", name_en="Disability grade worsened",
    inputs=("dis_certificate",),
    summary="A member's disability was reassessed as more severe or gained a further category",
    headline=Family.DIS,
)
def hd_disability_worsened(ctx: Context, *, window_days: float) -> Finding | None:
    """3: the grade worsened into grade 1-2; 2: it worsened within grades 3-4; 1: a category was added."""
    since = ctx.t - window_days * DAY
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for m in ctx.members:
        if m.disability_grade is None:  # revoked since
            continue
        for t, before, after in m.disability_worsenings:
            if not since < t <= ctx.t:
                continue
            grade = (3 if after <= 2 else 2) if after < before else 1
            if better(best, grade, t):
                event = next((e for e in ctx.within("dis_certificate", window_days)
                              if e.t == t and e.person_id == m.person_id), None)
                best = (grade, t)
                found = Finding(grade, m.person_id, event.event_id if event else None)
    return found


@declare(
    id="hd_severe_disabled_members", name_zh="重度残疾成员数", name_en="Severely disabled members",
    inputs=("dis_certificate",),
    summary="The household has members with a severe disability",
)
def hd_severe_disabled_members(ctx: Context) -> Finding | None:
    """3: two or more severely disabled members; 2: one; 1: disabled members, none of them severe."""
    disabled = [m for m in ctx.members if m.disability_grade is not None]
    if not disabled:
        return None
    severe = [m for m in disabled if _severe(ctx, m)]
    grade = 3 if len(severe) >= 2 else 2 if severe else 1
    return _count_finding(ctx, grade, severe or disabled, "dis_certificate")


@declare(
    id="hd_disability_subsidy_gap", name_zh="残疾补贴应享未享",
    name_en="Disability subsidy due but not received",
    inputs=("dis_certificate", "dis_two_subsidies", "ca_assistance_status"),
    summary="A disabled member appears eligible for a disability subsidy the household does not receive",
)
def hd_disability_subsidy_gap(ctx: Context) -> Finding | None:
    """Grades subsidy gaps: 3: two or more; 2: one care-subsidy gap; 1: one living-subsidy gap.

    A gap is a severely disabled member without the care subsidy (护理补贴), or, in a 低保 household, a
    disabled member without the living subsidy (生活补贴).
    """
    care_gaps, living_gaps = [], []
    for m in ctx.members:
        if m.disability_grade is None:
            continue
        if _severe(ctx, m) and not m.care_subsidy:
            care_gaps.append(m)
        if ctx.facts.category == "dibao" and not m.living_subsidy:
            living_gaps.append(m)
    gaps = len(care_gaps) + len(living_gaps)
    if gaps == 0:
        return None
    grade = 3 if gaps >= 2 else 2 if care_gaps else 1
    return _count_finding(ctx, grade, care_gaps or living_gaps, "dis_certificate")


@declare(
    id="hd_care_dependency", name_zh="失能照护依赖", name_en="Care dependency",
    inputs=("ca_elderly_capacity", "dis_certificate"),
    summary="A member has been assessed as unable to look after themselves without help",
)
def hd_care_dependency(ctx: Context) -> Finding | None:
    """By the assessed loss of capacity (失能): 3: severe or total; 2: moderate; 1: mild."""
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for m in ctx.members:
        grade = _CAPACITY_GRADE.get(m.capacity or "", 0)
        event = last_of(ctx, "ca_elderly_capacity", m.person_id) if grade else None
        t = event.t if event else _NEVER
        if better(best, grade, t):
            best, found = (grade, t), Finding(grade, m.person_id, event.event_id if event else None)
    return found


@declare(
    id="hd_severe_mental_disorder", name_zh="严重精神障碍", name_en="Severe mental disorder",
    inputs=("hlth_severe_mental_registry",),
    summary="A member is registered for care of a severe mental disorder",
)
def hd_severe_mental_disorder(ctx: Context) -> Finding | None:
    """3: risk grade 3 or above, or the patient lives alone; 2: unstable or out of contact; 1: stable."""
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for m in ctx.members:
        if m.mental_risk is None:
            continue
        if m.mental_risk >= 3 or m.mental_alone:
            grade = 3
        elif m.mental_status in ("unstable", "lost_contact"):
            grade = 2
        else:
            grade = 1
        event = last_of(ctx, "hlth_severe_mental_registry", m.person_id)
        t = event.t if event else _NEVER
        if better(best, grade, t):
            best, found = (grade, t), Finding(grade, m.person_id, event.event_id if event else None)
    return found


@declare(
    id="hd_special_outpatient_members", name_zh="门诊慢特病人数",
    name_en="Members with chronic or special outpatient conditions",
    inputs=("med_special_outpatient",),
    summary="Members are recognised for long-term chronic or special outpatient treatment",
)
def hd_special_outpatient_members(ctx: Context) -> Finding | None:
    """Grades members recognised for special (门特) or chronic (门慢) outpatient treatment.

    3: a 门特 member and at least one more recognised member; 2: one 门特 member, or two or more 门慢
    members; 1: one 门慢 member.
    """
    special = [m for m in ctx.members if m.outpatient_kind == "special"]
    chronic = [m for m in ctx.members if m.outpatient_kind == "chronic"]
    if not special and not chronic:
        return None
    if special and len(special) + len(chronic) >= 2:
        grade = 3
    elif special or len(chronic) >= 2:
        grade = 2
    else:
        grade = 1
    return _count_finding(ctx, grade, special + chronic, "med_special_outpatient")


@declare(
    id="hd_accident_injury", name_zh="意外伤害", name_en="Accidental injury",
    inputs=("hlth_inpatient_admission", "hr_work_injury", "em_disaster_loss"),
    summary="A member was recently admitted to hospital after an accident or injury",
)
def hd_accident_injury(ctx: Context, *, window_days: float) -> Finding | None:
    """Grades injury admissions (flagged, or ICD-10 S-T and V-Y) in the window.

    3: the main earner stayed 14 days or more; 2: another working-age member, or a stay of 7 days or more;
    1: any other injury admission.
    """
    # A stay is an injury stay when any of its records (admission or discharge) says so.
    injured = []
    for event in ctx.within("hlth_inpatient_admission", window_days):
        assert isinstance(event.payload, p.HlthInpatientAdmission)
        code = (event.payload.diagnosis_code or "").upper()
        if event.payload.injury or code.startswith(_INJURY_CHAPTERS):
            injured.append((event.person_id, event.payload.admit_date))
    best: tuple[int, int] | None = None
    found: Finding | None = None
    for event, days in _admissions(ctx, window_days):
        assert isinstance(event.payload, p.HlthInpatientAdmission)
        patient = ctx.member(event.person_id)
        if patient is None or (event.person_id, event.payload.admit_date) not in injured:
            continue
        if ctx.is_main_earner(patient) and days >= 14:
            grade = 3
        elif ctx.working_age(patient) or days >= 7:
            grade = 2
        else:
            grade = 1
        if better(best, grade, event.t):
            best, found = (grade, event.t), Finding(grade, patient.person_id, event.event_id)
    return found
