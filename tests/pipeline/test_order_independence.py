"""The state depends only on the SET of events applied (R9, R11): any arrival order, any duplicates."""

from __future__ import annotations

from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.pipeline.portrait import portrait
from monitor.pipeline.profile import Status, apply_event, new_state
from monitor.pipeline.rules import RuleSet, load_rules
from monitor.privacy import Pseudonymiser
from tests import casebook

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = Pseudonymiser(b"test-key")
RULES: RuleSet = load_rules(ROOT / "rules.yaml")

HOUSEHOLD = {"category": "dibian", "deposits": 3000.0, "region": "330102",
             "members": [{"relation": "head", "age": 46, "employed": True, "income": 2800},
                         {"relation": "spouse", "age": 44, "employed": True, "income": 1500},
                         {"relation": "child", "age": 15}, {"relation": "parent", "age": 74}]}
POOL = [
    {"category": "hlth_major_disease_dx", "member": 3, "days_ago": 80, "payload": {"disease_code": "C16"}},
    {"category": "med_settlement", "member": 3, "days_ago": 75,
     "payload": {"total_cost": 40000.0, "fund_paid": 25000.0, "oop": 15000.0, "inpatient": True}},
    {"category": "hlth_inpatient_admission", "member": 3, "days_ago": 76,
     "payload": {"admit_date": "2024-04-10", "discharge_date": "2024-04-30", "icu": True}},
    {"category": "hr_unemployment_registration", "member": 1, "days_ago": 50, "payload": {}},
    {"category": "hr_unemployment_benefit", "member": 1, "days_ago": 45,
     "payload": {"start": "2024-05-15", "end": "2024-08-15", "monthly_amount": 1500.0}},
    {"category": "dis_certificate", "member": 2, "days_ago": 30,
     "payload": {"change": "new", "category": "physical", "grade": 2}},
    {"category": "ps_death_registration", "member": 0, "days_ago": 10},
    {"category": "hlth_death_medical_cert", "member": 0, "days_ago": 10},
    {"category": "fin_bank_deposit", "member": 0, "days_ago": 100, "payload": {"balance": 9000.0}},
    {"category": "fin_bank_deposit", "member": 0, "days_ago": 5, "payload": {"balance": 1000.0}},
    {"category": "ca_temporary_assistance", "days_ago": 3, "payload": {"amount": 2000.0}},
    {"category": "em_disaster_loss", "days_ago": 20, "payload": {"loss_type": "moderate", "loss_value": 8000.0}},
    {"category": "hr_pension_payment", "member": 3, "days_ago": 60, "payload": {"monthly_amount": 300.0}},
    {"category": "ps_birth_registration", "member": {"age": 0}, "days_ago": 15, "payload": {}},
]
RECORD = casebook.household(HOUSEHOLD)
EVENTS = casebook.events(RECORD, POOL)


def final(order: list[int]) -> tuple[bytes, list[str]]:
    state = new_state(RECORD)
    for i in order:
        applied = apply_event(state, EVENTS[i], RULES, PSEUDO)
        assert applied.status in (Status.APPLIED, Status.DUPLICATE)
        state = applied.state
    view = portrait(state, casebook.AS_OF_T, RULES)
    return msgspec.msgpack.encode(view), sorted(a.alert_id for a in state.alerts)


BASELINE = final(sorted(range(len(EVENTS)), key=lambda i: EVENTS[i].key))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(range(len(EVENTS))), st.lists(st.integers(0, len(EVENTS) - 1), max_size=5))
def test_any_arrival_order_and_duplicates_give_the_same_profile_and_alert_set(order: list[int],
                                                                               dupes: list[int]) -> None:
    arrival = list(order)
    for i in dupes:
        arrival.insert(i % (len(arrival) + 1), i)
    assert final(arrival) == BASELINE


def test_the_story_is_not_trivial() -> None:
    _, alert_ids = BASELINE
    assert len(alert_ids) >= 2


def test_a_redelivered_late_event_resends_the_alerts_its_replay_created() -> None:
    # Apply everything but one early event, then the early (late-arriving) one: the replay may create
    # alerts triggered by other events; a redelivery of the late event must hand all of them back.
    order = sorted(range(len(EVENTS)), key=lambda i: EVENTS[i].key)
    for late in order[:-1]:
        state = new_state(RECORD)
        for i in order:
            if i != late:
                state = apply_event(state, EVENTS[i], RULES, PSEUDO).state
        applied = apply_event(state, EVENTS[late], RULES, PSEUDO)
        again = apply_event(applied.state, EVENTS[late], RULES, PSEUDO)
        assert again.status is Status.DUPLICATE
        assert {a.alert_id for a in applied.new_alerts} <= {a.alert_id for a in again.resend_alerts}
