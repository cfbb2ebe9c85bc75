"""Payload schemas of the 48 data categories (contract §3.2, catalogue §2 "key fields").

Each payload is a msgspec Struct tagged with its category id, so a stored event decodes back to
the right type.  Unknown payload fields are dropped on decode: a department adding a field never
dead-letters its whole feed, and nothing we did not ask for (free text, names) is ever retained.
Amounts are yuan, monthly unless the field name says otherwise; codes are codes, never free text.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from msgspec import Meta, Struct

__all__ = ["HOUSEHOLD_ID_CHARACTER", "HOUSEHOLD_ID_MAX_LENGTH", "PAYLOAD_TYPES", "Incomes", "Payload"]

Money = Annotated[float, Meta(ge=0, le=1e9)]
Count = Annotated[int, Meta(ge=0, le=10_000)]
# msgspec checks a pattern with re.search: "\Z", not "$" (which also matches before a final newline), and
# "[0-9]", not "\d" (which also matches other scripts' digits).
Code = Annotated[str, Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+\Z")]
# A household id, here and in the event envelope (monitor.pipeline.validate checks it there).
HOUSEHOLD_ID_CHARACTER = r"[A-Za-z0-9_\-]"
HOUSEHOLD_ID_MAX_LENGTH = 64
Month = Annotated[str, Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")]
Grade = Annotated[int, Meta(ge=1, le=4)]
DisabilityCategory = Literal["visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple"]
AssistanceCategory = Literal["tekun", "dibao", "dibian", "rigid", "rrm", "none"]
Relation = Literal["head", "spouse", "child", "parent", "grandchild", "grandparent", "sibling", "other"]
Sex = Literal["M", "F"]


class Incomes(Struct, frozen=True, forbid_unknown_fields=True):
    """Monthly income of one person by type, as one source saw it (就高原则 input)."""

    wage: Money = 0.0
    business: Money = 0.0
    property: Money = 0.0
    transfer: Money = 0.0
    pension: Money = 0.0


class _P(Struct, frozen=True, tag_field="_category"):
    """Base of all payloads; the tag is the category id."""


class MedSettlement(_P, frozen=True, tag="med_settlement"):
    total_cost: Money
    fund_paid: Money
    oop: Money
    inpatient: bool = False
    out_of_list: Money = 0.0


class MedSpecialOutpatient(_P, frozen=True, tag="med_special_outpatient"):
    disease_code: Code
    kind: Literal["special", "chronic"]
    start: dt.date | None = None
    end: dt.date | None = None


class MedEnrollment(_P, frozen=True, tag="med_enrollment"):
    status: Literal["insured", "lapsed", "uninsured"]
    scheme: Literal["employee", "resident", "none"] = "resident"
    subsidised: bool = False


class MedAssistancePaid(_P, frozen=True, tag="med_assistance_paid"):
    amount: Money


class MedHighCostList(_P, frozen=True, tag="med_high_cost_list"):
    oop_12m: Money
    reference_line: Money


class HlthInpatientAdmission(_P, frozen=True, tag="hlth_inpatient_admission"):
    admit_date: dt.date
    discharge_date: dt.date | None = None
    icu: bool = False
    injury: bool = False
    diagnosis_code: Code | None = None


class HlthMajorDiseaseDx(_P, frozen=True, tag="hlth_major_disease_dx"):
    disease_code: Code
    catalogue_major: bool = True


class HlthSevereMentalRegistry(_P, frozen=True, tag="hlth_severe_mental_registry"):
    risk_grade: Annotated[int, Meta(ge=0, le=5)]
    status: Literal["stable", "unstable", "lost_contact", "deregistered"] = "stable"
    lives_alone: bool = False


class HlthDeathMedicalCert(_P, frozen=True, tag="hlth_death_medical_cert"):
    cause_code: Code | None = None


class DisCertificate(_P, frozen=True, tag="dis_certificate"):
    change: Literal["new", "grade_changed", "category_added", "revoked"]
    category: DisabilityCategory
    grade: Grade
    previous_grade: Grade | None = None


class DisTwoSubsidies(_P, frozen=True, tag="dis_two_subsidies"):
    living_subsidy: bool
    care_subsidy: bool


class DisRehabService(_P, frozen=True, tag="dis_rehab_service"):
    service: Code
    cost: Money
    oop: Money


class HrUnemploymentRegistration(_P, frozen=True, tag="hr_unemployment_registration"):
    last_monthly_wage: Money | None = None
    reason: Code | None = None


class HrUnemploymentBenefit(_P, frozen=True, tag="hr_unemployment_benefit"):
    start: dt.date
    end: dt.date
    monthly_amount: Money


class HrSocialInsuranceContrib(_P, frozen=True, tag="hr_social_insurance_contrib"):
    month: Month
    paid: bool
    wage_base: Money = 0.0


class HrPensionPayment(_P, frozen=True, tag="hr_pension_payment"):
    monthly_amount: Money
    scheme: Literal["basic_resident", "employee", "other"] = "basic_resident"


class HrWorkInjury(_P, frozen=True, tag="hr_work_injury"):
    grade: Annotated[int, Meta(ge=1, le=10)]


class HrEmploymentService(_P, frozen=True, tag="hr_employment_service"):
    service: Literal["reemployed", "assistance", "training", "public_welfare_post"]


class HrWageArrears(_P, frozen=True, tag="hr_wage_arrears"):
    months_owed: Annotated[int, Meta(ge=0, le=120)]
    amount: Money = 0.0


class Disability(Struct, frozen=True, forbid_unknown_fields=True):
    """A member's disability certificate."""

    category: DisabilityCategory
    grade: Grade


class Member(Struct, frozen=True):
    """One household member as the registry records it."""

    person_id: str
    relation: Relation
    birth_date: dt.date
    sex: Sex
    work_capable: bool = False
    employed: bool = False
    monthly_income: Money = 0.0
    disability: Disability | None = None
    chronic: bool = False


class Assets(Struct, frozen=True):
    """Household assets at registration."""

    deposits: Money = 0.0
    financial: Money = 0.0
    owned_housing_m2: Annotated[float, Meta(ge=0, le=100_000)] = 0.0
    vehicles: Count = 0


class HouseholdRecord(_P, frozen=True, tag="ps_household_register"):
    """The registry baseline (contract §3.1); also the payload of ps_household_register."""

    household_id: Annotated[str, Meta(min_length=1, max_length=HOUSEHOLD_ID_MAX_LENGTH,
                                      pattern=rf"^{HOUSEHOLD_ID_CHARACTER}+\Z")]
    region: Annotated[str, Meta(pattern=r"^[0-9]{6}\Z")]
    category: AssistanceCategory
    members: Annotated[list[Member], Meta(max_length=64)]
    assets: Assets = Assets()
    as_of: dt.date | None = None


class PsBirthRegistration(_P, frozen=True, tag="ps_birth_registration"):
    relation: Relation = "child"


class PsDeathRegistration(_P, frozen=True, tag="ps_death_registration"):
    cause_code: Code | None = None


class PsHukouMigration(_P, frozen=True, tag="ps_hukou_migration"):
    direction: Literal["in", "out"]
    relation: Relation = "other"


class PsVehicleRegistration(_P, frozen=True, tag="ps_vehicle_registration"):
    change: Literal["registered", "deregistered"]
    value_band: Literal["low", "mid", "high"] = "low"


class CaMarriageRegistration(_P, frozen=True, tag="ca_marriage_registration"):
    direction: Literal["joins", "leaves", "stays"] = "stays"


class CaDivorceRegistration(_P, frozen=True, tag="ca_divorce_registration"):
    leaves_household: bool = False
    custody_minors: Count = 0


class CaAssistanceStatus(_P, frozen=True, tag="ca_assistance_status"):
    category: AssistanceCategory
    status: Literal["start", "end", "phasing_out"]
    single_person_coverage: bool = False


class CaTemporaryAssistance(_P, frozen=True, tag="ca_temporary_assistance"):
    amount: Money
    reason: Code | None = None


class CaChildWelfare(_P, frozen=True, tag="ca_child_welfare"):
    status: Literal["orphan", "de_facto_unsupported", "distressed", "none"]


class CaElderlyCapacity(_P, frozen=True, tag="ca_elderly_capacity"):
    level: Literal["capable", "mild", "moderate", "severe", "total"]


class CaEconomicVerification(_P, frozen=True, tag="ca_economic_verification"):
    incomes: Incomes | None = None
    deposits: Money | None = None
    financial: Money | None = None


class CaHomeVisit(_P, frozen=True, tag="ca_home_visit"):
    incomes: Incomes | None = None
    monthly_rent: Money | None = None
    housing: Literal["own", "rented", "relatives", "shelter", "homeless"] | None = None
    left_behind: Literal["minor", "elderly", "minor_with_elderly"] | None = None
    needs: Annotated[list[Code], Meta(max_length=16)] = []


class CaSelfDeclaration(_P, frozen=True, tag="ca_self_declaration"):
    incomes: Incomes | None = None
    needs: Annotated[list[Code], Meta(max_length=16)] = []


class HsPublicHousing(_P, frozen=True, tag="hs_public_housing"):
    status: Literal["public_rental", "rent_subsidy", "none"]
    monthly_rent: Money = 0.0
    arrears_months: Annotated[int, Meta(ge=0, le=120)] = 0


class HsRuralHousingSafety(_P, frozen=True, tag="hs_rural_housing_safety"):
    grade: Literal["A", "B", "C", "D"]


class HsProvidentFund(_P, frozen=True, tag="hs_provident_fund"):
    month: Month
    paid: bool
    base: Money = 0.0


class ReProperty(_P, frozen=True, tag="re_property_registration"):
    event: Literal["acquired", "sold", "mortgaged", "seized", "auctioned", "demolished"]
    area_m2: Annotated[float, Meta(ge=0, le=100_000)] = 0.0
    only_home: bool = False


class EduStudentStatus(_P, frozen=True, tag="edu_student_status"):
    stage: Literal["preschool", "primary", "junior", "senior", "vocational", "college", "none"]
    enrolled: bool = True


class EduStudentAid(_P, frozen=True, tag="edu_student_aid"):
    aid_amount: Money = 0.0
    dropout: bool = False


class EmDisasterLoss(_P, frozen=True, tag="em_disaster_loss"):
    loss_type: Literal["collapsed", "severe", "moderate", "minor"]
    loss_value: Money = 0.0
    casualties: Count = 0
    rebuild_cost: Money = 0.0
    productive_loss: Money = 0.0


class AgriRrmMonitoring(_P, frozen=True, tag="agri_rrm_monitoring"):
    type: Literal["unstable_ex_poor", "edge", "sudden_hardship"]
    risk_eliminated: bool = False


class TaxIndividualIncome(_P, frozen=True, tag="tax_individual_income"):
    month: Month
    incomes: Incomes


class MktBusinessRegistration(_P, frozen=True, tag="mkt_business_registration"):
    status: Literal["active", "abnormal", "deregistered"]
    monthly_business_income: Money | None = None


class CourtEnforcement(_P, frozen=True, tag="court_enforcement"):
    type: Literal["enforced", "defaulter", "auction", "closed"]
    amount: Money = 0.0


class JusInmate(_P, frozen=True, tag="jus_inmate"):
    status: Literal["in_custody", "prison", "community_correction", "released"]


class FinBankDeposit(_P, frozen=True, tag="fin_bank_deposit"):
    balance: Money
    monthly_debt_service: Money = 0.0


class FinSecuritiesWealth(_P, frozen=True, tag="fin_securities_wealth"):
    value: Money


class UtUtilityArrears(_P, frozen=True, tag="ut_utility_arrears"):
    months: Annotated[int, Meta(ge=0, le=120)]
    amount: Money = 0.0


Payload = (
    MedSettlement | MedSpecialOutpatient | MedEnrollment | MedAssistancePaid | MedHighCostList
    | HlthInpatientAdmission | HlthMajorDiseaseDx | HlthSevereMentalRegistry | HlthDeathMedicalCert
    | DisCertificate | DisTwoSubsidies | DisRehabService | HrUnemploymentRegistration
    | HrUnemploymentBenefit | HrSocialInsuranceContrib | HrPensionPayment | HrWorkInjury
    | HrEmploymentService | HrWageArrears | HouseholdRecord | PsBirthRegistration | PsDeathRegistration
    | PsHukouMigration | PsVehicleRegistration | CaMarriageRegistration | CaDivorceRegistration
    | CaAssistanceStatus | CaTemporaryAssistance | CaChildWelfare | CaElderlyCapacity
    | CaEconomicVerification | CaHomeVisit | CaSelfDeclaration | HsPublicHousing | HsRuralHousingSafety
    | HsProvidentFund | ReProperty | EduStudentStatus | EduStudentAid | EmDisasterLoss | AgriRrmMonitoring
    | TaxIndividualIncome | MktBusinessRegistration | CourtEnforcement | JusInmate | FinBankDeposit
    | FinSecuritiesWealth | UtUtilityArrears
)

PAYLOAD_TYPES: dict[str, type[_P]] = {
    cls.__struct_config__.tag: cls
    for cls in Payload.__args__
}
assert len(PAYLOAD_TYPES) == 48, "one payload schema per data category"
