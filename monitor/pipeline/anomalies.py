"""Data anomalies (catalogue §4.3 DATA_ANOMALY): facts that contradict each other go back to their source.

They never block scoring: the event is applied as usual, and an anomaly record names the department whose
data looks wrong, so the civil-affairs office can send it back for correction.  Records carry the event id
and category, never a person id (the subject is a keyed pseudonym).
"""

from __future__ import annotations

import hashlib

from msgspec import Struct

from monitor import payloads as p
from monitor.categories import CATEGORIES
from monitor.household import HouseholdFacts, MemberState
from monitor.model import Event

__all__ = ["Anomaly", "anomaly_id", "check_event", "person_in_two_households"]

_AFTER_DEATH = {
    "hr_pension_payment": "pension_after_death",
    "med_assistance_paid": "assistance_after_death",
    "dis_two_subsidies": "subsidy_after_death",
    "hr_social_insurance_contrib": "contribution_after_death",
    "hs_provident_fund": "contribution_after_death",
    "hr_unemployment_benefit": "benefit_after_death",
}
KINDS = (*sorted(set(_AFTER_DEATH.values())), "subsidy_after_revocation", "person_in_two_households")


class Anomaly(Struct, frozen=True):
    """One contradiction, addressed to the department that sent the doubtful record."""

    anomaly_id: str
    kind: str
    household_id: str
    source_dept: str
    event_id: str | None
    category: str | None
    occurred_at: str | None
    detail: str


def anomaly_id(kind: str, *parts: str) -> str:
    """Deterministic id, so a replay re-creates the same anomaly."""
    return "x-" + hashlib.sha256("|".join((kind, *parts)).encode()).hexdigest()[:24]


def _department(event: Event) -> str:
    return event.source_dept or CATEGORIES[event.category].dept


def check_event(facts: HouseholdFacts, member: MemberState | None, event: Event) -> Anomaly | None:
    """The anomaly this (already applied) event reveals, if any."""
    if member is None:
        return None
    kind = _AFTER_DEATH.get(event.category)
    paid = not isinstance(event.payload, p.HrSocialInsuranceContrib | p.HsProvidentFund) or event.payload.paid
    if kind and paid and member.died_at is not None and member.died_at < event.t:
        if isinstance(event.payload, p.DisTwoSubsidies) and not (event.payload.living_subsidy
                                                                 or event.payload.care_subsidy):
            return None
        return Anomaly(anomaly_id(kind, event.event_id), kind, facts.household_id, _department(event),
                       event.event_id, event.category, event.occurred_at,
                       f"{event.category} dated after the member's registered death")
    if (isinstance(event.payload, p.DisTwoSubsidies) and (event.payload.living_subsidy or event.payload.care_subsidy)
            and member.disability_revoked_at is not None and member.disability_grade is None
            and member.disability_revoked_at < event.t):
        kind = "subsidy_after_revocation"
        return Anomaly(anomaly_id(kind, event.event_id), kind, facts.household_id, _department(event),
                       event.event_id, event.category, event.occurred_at,
                       "disability subsidy paid after the certificate was revoked")
    return None


def person_in_two_households(first: str, second: str, person_pseudonym: str) -> Anomaly:
    """Two registry records claim the same person at the same time (sent back to the household registry)."""
    kind = "person_in_two_households"
    return Anomaly(anomaly_id(kind, first, second, person_pseudonym), kind, second, CATEGORIES[
        "ps_household_register"].dept, None, "ps_household_register", None,
        f"a member of this household is also registered in household {first}")
