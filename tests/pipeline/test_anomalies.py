"""Data anomalies: each contradiction becomes one record for its source department, and scoring goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.pipeline.anomalies import Anomaly
from monitor.pipeline.profile import Status, apply_event, new_state
from monitor.pipeline.rules import RuleSet
from monitor.privacy import Pseudonymiser
from tests import casebook

PSEUDO = Pseudonymiser(b"test-key")
HOUSEHOLD = {"category": "dibao", "members": [{"relation": "head", "age": 70, "income": 800,
                                               "disability": {"category": "physical", "grade": 2}},
                                              {"relation": "spouse", "age": 68}]}


def anomalies(rules: RuleSet, events: list[dict[str, Any]]) -> list[Anomaly]:
    record = casebook.household(HOUSEHOLD)
    state = new_state(record)
    found: list[Anomaly] = []
    for event in sorted(casebook.events(record, events), key=lambda e: e.key):
        applied = apply_event(state, event, rules, PSEUDO)
        assert applied.status is Status.APPLIED
        found.extend(applied.new_anomalies)
    return found


DEATH = {"category": "ps_death_registration", "member": 0, "days_ago": 100}


@pytest.mark.parametrize(("event", "kind", "dept"), [
    ({"category": "hr_pension_payment", "member": 0, "days_ago": 40, "payload": {"monthly_amount": 300.0}},
     "pension_after_death", "renshe"),
    ({"category": "hr_social_insurance_contrib", "member": 0, "days_ago": 40,
      "payload": {"month": "2024-05", "paid": True, "wage_base": 3000.0}}, "contribution_after_death", "renshe"),
    ({"category": "med_assistance_paid", "member": 0, "days_ago": 40, "payload": {"amount": 500.0}},
     "assistance_after_death", "yibao"),
    ({"category": "dis_two_subsidies", "member": 0, "days_ago": 40,
      "payload": {"living_subsidy": True, "care_subsidy": True}}, "subsidy_after_death", "canlian"),
])
def test_payments_after_a_death_go_back_to_their_department(rules: RuleSet, event: dict[str, Any], kind: str,
                                                             dept: str) -> None:
    found = anomalies(rules, [DEATH, event])
    assert [(a.kind, a.source_dept, a.event_id) for a in found] == [(kind, dept, "case-001")]


def test_the_same_payment_before_the_death_is_no_anomaly(rules: RuleSet) -> None:
    payment = {"category": "hr_pension_payment", "member": 0, "days_ago": 200, "payload": {"monthly_amount": 300.0}}
    assert anomalies(rules, [DEATH, payment]) == []


def test_a_subsidy_after_the_certificate_was_revoked(rules: RuleSet) -> None:
    found = anomalies(rules, [
        {"category": "dis_certificate", "member": 0, "days_ago": 90,
         "payload": {"change": "revoked", "category": "physical", "grade": 2}},
        {"category": "dis_two_subsidies", "member": 0, "days_ago": 10,
         "payload": {"living_subsidy": False, "care_subsidy": True}},
    ])
    assert [a.kind for a in found] == ["subsidy_after_revocation"]
    assert found[0].source_dept == "canlian"


def test_a_person_in_two_registry_households_is_reported(tmp_path: Path, rules: RuleSet) -> None:
    from monitor.runtime.embedded import run_embedded

    first = casebook.household(HOUSEHOLD, household_id="H-A")
    second = casebook.household(HOUSEHOLD, household_id="H-B")
    import msgspec

    registry = tmp_path / "households.jsonl"
    registry.write_bytes(b"\n".join(msgspec.json.encode(r) for r in (first, second)) + b"\n")
    events = tmp_path / "events.jsonl"
    events.write_text("")
    result = run_embedded(registry, [events], rules, PSEUDO)
    kinds = [(a.kind, a.household_id) for a in result.anomalies]
    assert kinds == [("person_in_two_households", "H-B"), ("person_in_two_households", "H-B")]
    assert first.members[0].person_id not in msgspec.json.encode(result.anomalies).decode()
