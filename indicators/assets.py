"""Indicators of the assets dimension (catalogue §3.3): savings, housing, debts and insurance cover.

Levels come from rules.yaml; the ordinal indicators grade the case themselves (3 = H, 2 = M, 1 = L).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable

from indicators.base import Context, Dimension, Finding, Indicator, declarer
from indicators.common import event_id_of, ratio
from monitor import payloads as p
from monitor.categories import CATEGORIES, Family
from monitor.model import DAY, Event

__all__ = ["DECLARED"]

DECLARED: list[Indicator] = []
declare = declarer(DECLARED, Dimension.ASSETS)

_ILL_CATEGORIES = tuple(c.id for c in CATEGORIES.values() if c.family is Family.ILL)
# Categories whose households are entitled to subsidised health-insurance enrolment (资助参保).
_SUBSIDISED_ENROLMENT = ("tekun", "dibao", "dibian", "rrm")
_HOUSING_GRADES = {"D": 3, "C": 2, "B": 1}
_HOME_EVENT_GRADES = {"seized": 3, "auctioned": 3, "sold": 2, "mortgaged": 1}
# With no income at all a burden ratio is unbounded; it is capped so the value stays a finite number.
_RATIO_CAP = 10.0
# A court defaulter (失信被执行人) counts as owing at least a year's income (catalogue: "≥1.0 or 失信").
_DEFAULTER_YEARS = 1.0


def _latest(ctx: Context, categories: Iterable[str]) -> Event | None:
    """The most recent event at or before t among several categories."""
    found = [e for e in (ctx.latest(c) for c in categories) if e is not None]
    return max(found, key=lambda e: e.key) if found else None






@declare(
    id="ast_liquid_cover_months", name_zh="金融资产可支撑月数", name_en="Months of liquid cover",
    inputs=("fin_bank_deposit", "fin_securities_wealth"),
    summary="How many months the household's savings would cover at the dibao standard",
)
def ast_liquid_cover_months(ctx: Context) -> Finding | None:
    """Value (deposits + financial assets) / (size x dibao), in months; the fewer, the higher the level."""
    if not ctx.members:
        return None
    cover = (ctx.facts.deposits + ctx.facts.financial) / (ctx.size * ctx.region.dibao)
    source = _latest(ctx, ("fin_bank_deposit", "fin_securities_wealth", "ca_economic_verification"))
    return Finding(cover, None, event_id_of(source))


@declare(
    id="ast_deposit_drawdown", name_zh="存款快速消耗", name_en="Deposit drawdown",
    inputs=("fin_bank_deposit",),
    summary="The household's savings are being used up quickly",
)
def ast_deposit_drawdown(ctx: Context, *, window_days: float, min_cover_months: float) -> Finding | None:
    """Value 1 - balance now / balance at the window start; the larger the fall, the higher the level.

    The earlier balance is the last bank or verification figure at or before the window start.  Only when it
    covered min_cover_months at the dibao standard: a small balance running out is ast_liquid_cover_months.
    """
    history = ctx.facts.deposit_history
    i = bisect_right(history, ctx.t - window_days * DAY, key=lambda row: row[0])
    if not i:
        return None
    before = history[i - 1][1]
    if before <= 0 or before < min_cover_months * ctx.size * ctx.region.dibao:
        return None
    now = ctx.facts.deposits + ctx.facts.financial
    return Finding(max(0.0, 1.0 - now / before), None, event_id_of(ctx.latest("fin_bank_deposit")))


@declare(
    id="ast_no_owned_housing", name_zh="无自有住房", name_en="No owned housing",
    inputs=("re_property_registration", "hs_public_housing"),
    summary="The household owns no home, or too little floor space for its size",
)
def ast_no_owned_housing(ctx: Context, *, min_m2_per_person: float) -> Finding | None:
    """3: no owned home and no public housing; 2: no owned home, in public rental; 1: a small home.

    Public rental includes a rent subsidy; small means under min_m2_per_person of owned floor area per member.
    """
    owned = ctx.facts.owned_housing_m2
    if owned > 0:
        grade = 1 if owned / ctx.size < min_m2_per_person else 0
    else:
        grade = 3 if ctx.facts.public_housing == "none" else 2
    if not grade:
        return None
    return Finding(grade, None, event_id_of(_latest(ctx, ("re_property_registration", "hs_public_housing"))))


@declare(
    id="ast_unsafe_housing", name_zh="住房安全等级", name_en="Unsafe housing",
    inputs=("hs_rural_housing_safety", "em_disaster_loss"),
    summary="The household's dwelling was assessed as unsafe",
)
def ast_unsafe_housing(ctx: Context) -> Finding | None:
    """3: safety grade D (dangerous, or collapsed or severely damaged); 2: grade C; 1: grade B."""
    grade = _HOUSING_GRADES.get(ctx.facts.housing_grade or "", 0)
    if not grade:
        return None
    assessed = ctx.latest("hs_rural_housing_safety")
    disaster = ctx.latest("em_disaster_loss")
    # A collapse or severe damage sets grade D in the facts; then the disaster is the evidence.
    if disaster is not None and (assessed is None or disaster.key > assessed.key):
        assert isinstance(disaster.payload, p.EmDisasterLoss)
        if disaster.payload.loss_type in ("collapsed", "severe"):
            assessed = disaster
    return Finding(grade, None, event_id_of(assessed))


@declare(
    id="ast_home_loss_or_seizure", name_zh="住房处置/查封/拍卖", name_en="Only home sold or seized",
    inputs=("re_property_registration", "court_enforcement"),
    summary="The household's only home was seized, auctioned, sold or newly mortgaged",
)
def ast_home_loss_or_seizure(ctx: Context, *, window_days: float) -> Finding | None:
    """3: the only home was seized or auctioned; 2: it was sold; 1: it was newly mortgaged.

    A court auction counts as 3.  Highest grade in the window wins, then the latest event.
    """
    best: tuple[int, tuple[int, str], Event] | None = None
    for event in ctx.within("re_property_registration", window_days):
        assert isinstance(event.payload, p.ReProperty)
        grade = _HOME_EVENT_GRADES.get(event.payload.event, 0) if event.payload.only_home else 0
        if grade and (best is None or (grade, event.key) > best[:2]):
            best = (grade, event.key, event)
    # The court feed does not say which property; like the facts, its auction is read as one on the home.
    for event in ctx.within("court_enforcement", window_days):
        assert isinstance(event.payload, p.CourtEnforcement)
        if event.payload.type == "auction" and (best is None or (3, event.key) > best[:2]):
            best = (3, event.key, event)
    if best is None:
        return None
    grade, _, event = best
    return Finding(grade, event.person_id, event.event_id)


@declare(
    id="ast_debt_burden", name_zh="债务负担", name_en="Debt burden",
    inputs=("fin_bank_deposit", "court_enforcement"),
    summary="Loan repayments take a large share of the household's income",
)
def ast_debt_burden(ctx: Context) -> Finding | None:
    """Value monthly debt service / monthly income (as annual figures); the larger, the higher the level."""
    service = ctx.facts.monthly_debt_service
    if service <= 0:
        return None
    return Finding(ratio(service, ctx.income), None, event_id_of(ctx.latest("fin_bank_deposit")))


@declare(
    id="ast_court_enforced_debt", name_zh="被执行/失信", name_en="Court-enforced debt",
    inputs=("court_enforcement",),
    summary="A member owes a court-enforced debt or is on the defaulter list",
)
def ast_court_enforced_debt(ctx: Context) -> Finding | None:
    """Value enforced amount / annual income, at least one year for a defaulter; the larger, the higher."""
    facts = ctx.facts
    if facts.court_enforced <= 0 and not facts.court_defaulter:
        return None
    value = ratio(facts.court_enforced, ctx.annual_income)
    if facts.court_defaulter:
        value = max(value, _DEFAULTER_YEARS)
    event = ctx.latest("court_enforcement")
    return Finding(value, event.person_id if event else None, event_id_of(event))


@declare(
    id="ast_insurance_gap", name_zh="医保参保缺口", name_en="Health-insurance gap",
    inputs=("med_enrollment", "ca_assistance_status"),
    summary="A member has no health insurance, or pays for it although entitled to subsidised enrolment",
)
def ast_insurance_gap(ctx: Context, *, window_days: float) -> Finding | None:
    """3: an uninsured member with a medical event in the window; 2: an uninsured member; 1: a subsidy gap.

    Uninsured includes lapsed.  A subsidy gap is a member of a household entitled to subsidised enrolment
    (资助参保) who is insured in the resident scheme without the subsidy.  Highest grade wins, then the
    latest event.
    """
    entitled = ctx.facts.category in _SUBSIDISED_ENROLMENT
    # Each member's latest enrolment record (a later record overwrites an earlier one), found in one pass
    # rather than by a backwards scan of all the records for every member.
    enrolment_of = {e.person_id: e for e in ctx.within("med_enrollment", math.inf)}
    best: tuple[int, tuple[int, str], Finding] | None = None
    for member in ctx.members:
        enrolment = enrolment_of.get(member.person_id)
        grade, evidence = 0, enrolment
        if member.insurance in ("uninsured", "lapsed"):
            ill = [e for c in _ILL_CATEGORIES for e in ctx.within(c, window_days)
                   if e.person_id == member.person_id]
            grade = 3 if ill else 2
            evidence = max(ill, key=lambda e: e.key) if ill else enrolment
        elif entitled and not member.insurance_subsidised and enrolment is not None:
            assert isinstance(enrolment.payload, p.MedEnrollment)
            grade = 1 if enrolment.payload.scheme == "resident" else 0
        key = evidence.key if evidence else (0, "")
        if grade and (best is None or (grade, key) > best[:2]):
            best = (grade, key, Finding(grade, member.person_id, event_id_of(evidence)))
    return best[2] if best else None


@declare(
    id="ast_public_rent_arrears", name_zh="公租房欠租", name_en="Public-housing rent arrears",
    inputs=("hs_public_housing",),
    summary="The household is behind with its public-housing rent",
)
def ast_public_rent_arrears(ctx: Context) -> Finding | None:
    """Value months of rent in arrears; the more, the higher the level."""
    if ctx.facts.public_housing == "none" and ctx.facts.rent_arrears_months == 0:
        return None
    return Finding(ctx.facts.rent_arrears_months, None, event_id_of(ctx.latest("hs_public_housing")))


@declare(
    id="ast_productive_asset_loss", name_zh="生产资料损失", name_en="Loss of productive assets",
    inputs=("em_disaster_loss", "mkt_business_registration", "agri_rrm_monitoring"),
    summary="The household recently lost productive assets worth a large part of its yearly income",
)
def ast_productive_asset_loss(ctx: Context, *, window_days: float) -> Finding | None:
    """Value productive-asset losses in the window / annual income; the larger, the higher the level.

    Only the disaster-loss feed carries an amount; the evidence is the largest loss.
    """
    losses = []
    for event in ctx.within("em_disaster_loss", window_days):
        assert isinstance(event.payload, p.EmDisasterLoss)
        if event.payload.productive_loss > 0:
            losses.append((event.payload.productive_loss, event.key, event))
    if not losses:
        return None
    _, _, largest = max(losses)
    total = sum(row[0] for row in losses)
    return Finding(ratio(total, ctx.annual_income), largest.person_id, largest.event_id)
