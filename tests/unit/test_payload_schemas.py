"""Every one of the 48 categories has a payload schema: a valid payload passes, a wrong one is dead-lettered."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from monitor import idnumber
from monitor.categories import CATEGORIES
from monitor.errors import InvalidEventError
from monitor.pipeline.validate import validate_event

PID = idnumber.make("330102", dt.date(1980, 1, 1), 123, "M")
MEMBER = {"person_id": PID, "relation": "head", "birth_date": "1980-01-01", "sex": "M"}
NOW = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)

# category: (a valid payload, the same payload made invalid)
PAYLOADS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "med_settlement": ({"total_cost": 100.0, "fund_paid": 50.0, "oop": 50.0}, {"total_cost": 100.0, "oop": 1.0}),
    "med_special_outpatient": ({"disease_code": "E11", "kind": "chronic"}, {"disease_code": "E11", "kind": "x"}),
    "med_enrollment": ({"status": "insured"}, {"status": "maybe"}),
    "med_assistance_paid": ({"amount": 10.0}, {"amount": -1.0}),
    "med_high_cost_list": ({"oop_12m": 1.0, "reference_line": 2.0}, {"oop_12m": "1"}),
    "hlth_inpatient_admission": ({"admit_date": "2024-01-01"}, {"admit_date": "yesterday"}),
    "hlth_major_disease_dx": ({"disease_code": "C34"}, {"disease_code": "lung cancer, stage 3"}),
    "hlth_severe_mental_registry": ({"risk_grade": 2}, {"risk_grade": 9}),
    "hlth_death_medical_cert": ({"cause_code": "I21"}, {"cause_code": 21}),
    "dis_certificate": ({"change": "new", "category": "visual", "grade": 1},
                        {"change": "new", "category": "visual", "grade": 5}),
    "dis_two_subsidies": ({"living_subsidy": True, "care_subsidy": False}, {"living_subsidy": "yes",
                                                                             "care_subsidy": False}),
    "dis_rehab_service": ({"service": "prosthesis", "cost": 10.0, "oop": 2.0}, {"service": "p", "cost": 10.0}),
    "hr_unemployment_registration": ({}, {"last_monthly_wage": "a lot"}),
    "hr_unemployment_benefit": ({"start": "2024-01-01", "end": "2024-06-01", "monthly_amount": 1500.0},
                                {"start": "2024-01-01", "end": "2024-06-01"}),
    "hr_social_insurance_contrib": ({"month": "2024-01", "paid": True}, {"month": "2024-13", "paid": True}),
    "hr_pension_payment": ({"monthly_amount": 200.0}, {"monthly_amount": -200.0}),
    "hr_work_injury": ({"grade": 7}, {"grade": 11}),
    "hr_employment_service": ({"service": "training"}, {"service": "holiday"}),
    "hr_wage_arrears": ({"months_owed": 2}, {"months_owed": -2}),
    "ps_household_register": ({"household_id": "H1", "region": "330102", "category": "dibao",
                               "members": [MEMBER]},
                              {"household_id": "H1", "region": "Hangzhou", "category": "dibao", "members": []}),
    "ps_birth_registration": ({}, {"relation": "cousin"}),
    "ps_death_registration": ({}, {"cause_code": ["I21"]}),
    "ps_hukou_migration": ({"direction": "in"}, {"direction": "sideways"}),
    "ps_vehicle_registration": ({"change": "registered"}, {"change": "stolen"}),
    "ca_marriage_registration": ({"direction": "joins"}, {"direction": 1}),
    "ca_divorce_registration": ({"leaves_household": True}, {"custody_minors": -1}),
    "ca_assistance_status": ({"category": "dibao", "status": "start"}, {"category": "gold", "status": "start"}),
    "ca_temporary_assistance": ({"amount": 1000.0}, {}),
    "ca_child_welfare": ({"status": "orphan"}, {"status": "happy"}),
    "ca_elderly_capacity": ({"level": "moderate"}, {"level": 3}),
    "ca_economic_verification": ({"incomes": {"wage": 1000.0}, "deposits": 10.0}, {"incomes": {"salary": 1.0}}),
    "ca_home_visit": ({"housing": "rented", "needs": ["medical"]}, {"housing": "castle"}),
    "ca_self_declaration": ({"incomes": {"pension": 300.0}}, {"incomes": {"pension": -3.0}}),
    "hs_public_housing": ({"status": "public_rental", "arrears_months": 2}, {"status": "public_rental",
                                                                              "arrears_months": 200}),
    "hs_rural_housing_safety": ({"grade": "C"}, {"grade": "E"}),
    "hs_provident_fund": ({"month": "2024-02", "paid": False}, {"month": "Feb", "paid": False}),
    "re_property_registration": ({"event": "sold", "only_home": True}, {"event": "gifted"}),
    "edu_student_status": ({"stage": "senior"}, {"stage": "kindergarten"}),
    "edu_student_aid": ({"aid_amount": 2000.0}, {"dropout": "no"}),
    "em_disaster_loss": ({"loss_type": "severe", "loss_value": 3000.0}, {"loss_type": "apocalyptic"}),
    "agri_rrm_monitoring": ({"type": "edge"}, {"type": "edge", "risk_eliminated": "soon"}),
    "tax_individual_income": ({"month": "2024-03", "incomes": {"wage": 5000.0}}, {"month": "2024-03"}),
    "mkt_business_registration": ({"status": "abnormal"}, {"status": "bankrupt"}),
    "court_enforcement": ({"type": "defaulter", "amount": 10.0}, {"type": "jail"}),
    "jus_inmate": ({"status": "prison"}, {"status": "holiday"}),
    "fin_bank_deposit": ({"balance": 100.0}, {"balance": "100"}),
    "fin_securities_wealth": ({"value": 1.0}, {"value": None}),
    "ut_utility_arrears": ({"months": 3}, {"months": 3.5}),
}


def test_the_table_covers_all_48_categories() -> None:
    assert set(PAYLOADS) == set(CATEGORIES)


def _line(category: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"event_id": f"e-{category}", "category": category, "person_id": PID, "household_id": "H1",
                       "occurred_at": "2024-03-01T10:00:00+08:00", "payload": payload}).encode()


@pytest.mark.parametrize("category", sorted(PAYLOADS))
def test_valid_payload_passes(category: str) -> None:
    _, event = validate_event(_line(category, PAYLOADS[category][0]), now=NOW)
    assert event is not None and event.category == category


@pytest.mark.parametrize("category", sorted(PAYLOADS))
def test_invalid_payload_is_rejected_with_a_reason_and_no_value(category: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        validate_event(_line(category, PAYLOADS[category][1]), now=NOW)
    assert info.value.reason.value in ("missing_field", "bad_type", "out_of_range")
    assert info.value.event_id == f"e-{category}"
    for word in ("lung cancer", "Hangzhou", "castle", "apocalyptic", "a lot"):
        assert word not in info.value.detail
