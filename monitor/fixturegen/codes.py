"""Code lists the payloads draw from: ICD-10 codes, service and reason codes (codes, never free text)."""

from __future__ import annotations

__all__ = [
    "CHRONIC", "DEATH_CAUSES", "INJURIES", "MAJOR_DISEASES", "NEEDS", "REHAB", "SPECIAL", "TEMP_REASONS",
    "UNEMP_REASONS",
]

# 大病专项救治病种 and other serious diseases (ICD-10): code, share of the catalogue-major list.
MAJOR_DISEASES = ("C34.9", "C16.9", "C18.9", "C20", "C22.0", "C50.9", "C53.9", "C15.9", "C91.0", "C92.1",
                  "I21.9", "I63.9", "I61.9", "N18.5", "Q21.1", "D61.9", "D66", "E10.9", "F20.9", "A15.0",
                  "G12.2", "C71.9")
# 门诊慢性病 (chronic) and 门诊特殊病 (special) outpatient conditions.
CHRONIC = ("E11.9", "I10", "I25.1", "J44.9", "M05.9", "I50.9", "K74.6", "E03.9", "G20", "F32.9")
SPECIAL = ("N18.5", "C34.9", "C50.9", "F20.9", "D61.9", "Z94.0", "C16.9")
INJURIES = ("S72.0", "S06.0", "S32.0", "S82.2", "S42.2", "T07", "S22.4")
DEATH_CAUSES = ("I21.9", "I63.9", "I61.9", "C34.9", "C22.0", "C16.9", "J44.9", "J18.9", "V89.2", "W19",
                "N18.5", "I50.9")
REHAB = {
    "physical": ("rehab_physical", "prosthesis", "wheelchair"),
    "hearing": ("hearing_aid", "cochlear_implant"),
    "visual": ("low_vision_aid", "orientation_training"),
    "speech": ("rehab_speech",),
    "intellectual": ("rehab_training", "day_care"),
    "mental": ("psych_rehab", "day_care"),
    "multiple": ("rehab_physical", "day_care", "wheelchair"),
}
TEMP_REASONS = ("medical", "funeral", "disaster", "unemployment", "education", "accident", "basic_living")
UNEMP_REASONS = ("layoff", "contract_end", "business_closure", "dismissal", "resigned")
NEEDS = ("medical_assistance", "temporary_assistance", "education_aid", "employment_support",
         "housing_support", "care_services", "dibao_review", "rehab_subsidy")
