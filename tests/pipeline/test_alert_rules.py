"""Stage 5 on whole households: each headline floor, each red-line rule, escalation and de-duplication."""

from __future__ import annotations

from typing import Any

from monitor.pipeline.alerts import Alert, alert_id
from monitor.pipeline.profile import HouseholdState, Status, apply_event, new_state
from monitor.pipeline.rules import RuleSet
from monitor.privacy import Pseudonymiser
from tests import casebook

PSEUDO = Pseudonymiser(b"test-key")


def run(rules: RuleSet, household: dict[str, Any], events: list[dict[str, Any]]) -> tuple[HouseholdState,
                                                                                         list[Alert]]:
    record = casebook.household(household)
    state = new_state(record)
    alerts: list[Alert] = []
    for event in sorted(casebook.events(record, events), key=lambda e: e.key):
        applied = apply_event(state, event, rules, PSEUDO)
        assert applied.status is Status.APPLIED
        state = applied.state
        alerts.extend(applied.new_alerts)
    return state, alerts


EARNER_FAMILY = {"category": "dibao", "deposits": 500.0,
                 "members": [{"relation": "head", "age": 45, "employed": True, "income": 2600},
                             {"relation": "spouse", "age": 43}, {"relation": "child", "age": 10}]}
WELL_OFF = {"category": "none", "deposits": 300000.0, "region": "330302",
            "members": [{"relation": "head", "age": 45, "employed": True, "income": 9000},
                        {"relation": "spouse", "age": 43, "employed": True, "income": 9000},
                        {"relation": "parent", "age": 70}]}
DX = {"category": "hlth_major_disease_dx", "payload": {"disease_code": "C34", "catalogue_major": True}}


def test_any_headline_event_raises_at_least_yellow(rules: RuleSet) -> None:
    _, alerts = run(rules, WELL_OFF, [{**DX, "member": 2, "days_ago": 5}])
    assert alerts, "a headline event must raise an alert"
    assert alerts[0].level in ("yellow", "orange", "red")
    assert alerts[0].trigger_family == "ILL"
    assert alerts[0].trigger.event_id == "case-000"


def test_a_headline_indicator_at_h_raises_at_least_orange(rules: RuleSet) -> None:
    _, alerts = run(rules, WELL_OFF, [{**DX, "member": 0, "days_ago": 5}])
    assert alerts and alerts[0].level in ("orange", "red")
    assert any(r.indicator_id == "hd_major_disease_new" and r.level == "H" for r in alerts[0].reasons)


def test_r1_headline_event_below_dibao_line_and_not_covered(rules: RuleSet) -> None:
    household = {**EARNER_FAMILY, "category": "dibian",
                 "members": [{"relation": "head", "age": 45, "employed": True, "income": 1200},
                             {"relation": "child", "age": 10}, {"relation": "child", "age": 12}]}
    _, alerts = run(rules, household, [{**DX, "member": 1, "days_ago": 5}])
    assert [a.rule_id for a in alerts] == ["R1_eligible_not_covered"]
    assert alerts[0].level == "red"


def test_r1_does_not_fire_for_a_dibao_household(rules: RuleSet) -> None:
    household = {**EARNER_FAMILY, "members": [{"relation": "head", "age": 45, "employed": True, "income": 1200},
                                              {"relation": "child", "age": 10}, {"relation": "child", "age": 12}]}
    _, alerts = run(rules, household, [{**DX, "member": 1, "days_ago": 5}])
    assert "R1_eligible_not_covered" not in [a.rule_id for a in alerts]


def test_r2_two_headline_streams_within_90_days(rules: RuleSet) -> None:
    _, alerts = run(rules, WELL_OFF, [
        {**DX, "member": 2, "days_ago": 60},
        {"category": "hr_unemployment_registration", "member": 1, "days_ago": 10, "payload": {}},
    ])
    assert alerts[-1].rule_id == "R2_two_headline_streams" and alerts[-1].level == "red"
    assert alerts[-1].trigger_family == "UNEMP"


def test_r3_minor_left_without_guardian(rules: RuleSet) -> None:
    household = {"category": "dibao", "deposits": 100000.0,
                 "members": [{"relation": "head", "age": 40, "employed": True, "income": 6000},
                             {"relation": "child", "age": 9}]}
    _, alerts = run(rules, household, [{"category": "ps_death_registration", "member": 0, "days_ago": 3}])
    assert any(a.rule_id == "R3_minor_without_guardian" and a.level == "red" for a in alerts)


def test_r4_last_earner_died(rules: RuleSet) -> None:
    _, alerts = run(rules, EARNER_FAMILY, [{"category": "ps_death_registration", "member": 0, "days_ago": 3}])
    red = [a for a in alerts if a.level == "red"]
    assert red and red[0].rule_id in ("R4_last_earner_died", "R3_minor_without_guardian")
    household = {**EARNER_FAMILY, "members": EARNER_FAMILY["members"][:2]}
    _, alerts = run(rules, household, [{"category": "ps_death_registration", "member": 0, "days_ago": 3}])
    assert [a.rule_id for a in alerts] == ["R4_last_earner_died"]
    assert alerts[0].trigger_family == "DEATH"
    assert "funeral_aid" in alerts[0].needs


def test_r5_medical_costs_over_a_years_income_and_no_savings(rules: RuleSet) -> None:
    household = {"category": "dibao", "deposits": 100.0,
                 "members": [{"relation": "head", "age": 66, "income": 900}]}
    _, alerts = run(rules, household, [
        {"category": "med_settlement", "member": 0, "days_ago": 20,
         "payload": {"total_cost": 60000.0, "fund_paid": 40000.0, "oop": 20000.0}},
    ])
    assert any(a.rule_id == "R5_medical_cost_no_cover" for a in alerts)


def test_same_level_evidence_attaches_and_a_higher_level_supersedes(rules: RuleSet) -> None:
    _, alerts = run(rules, WELL_OFF, [
        {**DX, "member": 2, "days_ago": 40},
        {"category": "hlth_inpatient_admission", "member": 2, "days_ago": 39,
         "payload": {"admit_date": "2024-05-20", "discharge_date": "2024-05-25"}},
        {**DX, "member": 0, "days_ago": 10},
    ])
    ill = [a for a in alerts if a.trigger_family == "ILL"]
    assert len(ill) == 2, [(a.rule_id, a.level) for a in alerts]
    assert ill[1].supersedes == ill[0].alert_id
    assert ill[1].level != ill[0].level


def test_alert_ids_are_deterministic_and_carry_no_personal_data(rules: RuleSet) -> None:
    state, alerts = run(rules, EARNER_FAMILY, [{"category": "ps_death_registration", "member": 0, "days_ago": 3}])
    _, again = run(rules, EARNER_FAMILY, [{"category": "ps_death_registration", "member": 0, "days_ago": 3}])
    assert [a.alert_id for a in alerts] == [a.alert_id for a in again]
    assert alerts[0].alert_id == alert_id(state.facts.household_id, alerts[0].rule_id, "case-000")
    pid = state.record.members[0].person_id
    import msgspec

    text = msgspec.json.encode(alerts).decode()
    assert pid not in text
    assert alerts[0].subject_masked == pid[:6] + "********" + pid[-4:]
    assert alerts[0].rules_version == rules.version
    assert alerts[0].verify_by == "2024-06-30"


def test_a_duplicate_is_applied_once_and_resends_its_alerts(rules: RuleSet) -> None:
    record = casebook.household(EARNER_FAMILY)
    state = new_state(record)
    [event] = casebook.events(record, [{"category": "ps_death_registration", "member": 0, "days_ago": 3}])
    first = apply_event(state, event, rules, PSEUDO)
    again = apply_event(first.state, event, rules, PSEUDO)
    assert again.status is Status.DUPLICATE
    assert [a.alert_id for a in again.resend_alerts] == [a.alert_id for a in first.new_alerts]
    assert len(again.state.events) == 1


def test_windows_age_at_the_as_of_time_even_without_new_events(rules: RuleSet) -> None:
    from monitor.model import DAY
    from monitor.pipeline.portrait import portrait

    state, _ = run(rules, WELL_OFF, [{**DX, "member": 0, "days_ago": 10}])
    now = portrait(state, casebook.AS_OF_T, rules)
    later = portrait(state, casebook.AS_OF_T + 100 * DAY, rules)
    assert now.scores.level_of("hd_major_disease_new").name == "H"
    assert later.scores.level_of("hd_major_disease_new").name == "NONE"
    assert later.scores.score < now.scores.score
