"""Which stories each household lives through, and the showcase households that guarantee coverage.

A household gets zero to two stories drawn by weight among those that fit it, then routine data up to
its share of events.  Spread evenly through the set are the 24 *showcase* households (in a set of
fewer than 24 households, all of them are showcases): a fixed list of (shape, category, stories) that
together write every one of the 48 categories, each headline story, two headlines within 90 days, the
death of the only earner leaving minors, a large medical bill in a household with tiny savings, and the
three data anomalies.  A showcase takes every optional branch of its stories and starts them early
enough for their follow-ups to fit in the window.  So any set of 24 households or more contains every
category (checked for 40 seeds at 24, 50, 200 and 300 households).

Story -> categories it writes (besides routine data):
  illness / illness_no_cover: hlth_inpatient_admission, hlth_major_disease_dx, med_settlement,
      med_assistance_paid, med_high_cost_list, med_special_outpatient (+ fin_bank_deposit with a tiny
      balance, ca_self_declaration, ca_temporary_assistance for illness_no_cover)
  disability: dis_certificate (new/grade_changed/category_added/revoked), dis_two_subsidies, dis_rehab_service
  unemployment: hr_social_insurance_contrib (paid, then unpaid), hr_wage_arrears, hr_unemployment_registration,
      hr_unemployment_benefit, hs_provident_fund (unpaid), hr_employment_service (assistance, reemployed, post)
  death / death_orphans: ps_death_registration, hlth_death_medical_cert (same person and time),
      ca_temporary_assistance (funeral), ca_child_welfare (orphan), ca_assistance_status
  double_headline: two of the above within 90 days (R2)
  disaster: em_disaster_loss, hs_rural_housing_safety, ca_temporary_assistance, ca_home_visit
  birth: ps_birth_registration, med_enrollment;  marriage: ca_marriage_registration, ps_hukou_migration;
  divorce: ca_divorce_registration;  migration: ps_hukou_migration, ca_home_visit (left behind);
  reregister: ps_household_register;  custody: jus_inmate, ca_child_welfare;  court: court_enforcement,
  re_property_registration;  utility_arrears: ut_utility_arrears;  public_housing: hs_public_housing;
  property: re_property_registration;  business: mkt_business_registration, tax_individual_income;
  students: edu_student_status, edu_student_aid;  elderly_care: ca_elderly_capacity, hr_pension_payment,
  med_special_outpatient;  severe_mental: hlth_severe_mental_registry;  child_welfare: ca_child_welfare;
  rrm: agri_rrm_monitoring, hs_rural_housing_safety;  temporary_assistance: ca_temporary_assistance;
  vehicle: ps_vehicle_registration;  securities: fin_securities_wealth;  work_injury: hr_work_injury,
  hlth_inpatient_admission (injury);  wage_arrears: hr_wage_arrears;  assistance_change: ca_assistance_status
  (start/phasing_out/end, 单人户施保);  anomalies: hr_pension_payment or hr_social_insurance_contrib after
  death, dis_two_subsidies after a revoked certificate.
Routine data (routine.py): pensions, contributions, tax, provident fund, deposits, home visits, self
declarations, economic verification, enrolment, school status and aid, elderly capacity, chronic outpatient,
disability subsidies, rrm monitoring, rural housing safety, assistance status, employment services,
outpatient settlements.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from monitor.fixturegen import headline, life, routine
from monitor.fixturegen.households import Household, build
from monitor.fixturegen.people import IdAllocator
from monitor.fixturegen.regions import Region
from monitor.fixturegen.timeline import Timeline

__all__ = ["SHOWCASES", "STORIES", "Story", "compose", "play", "showcase_slots"]


@dataclass(frozen=True, slots=True)
class Story:
    """A story: how to write it, how often, whom it fits, and how it shapes the baseline if chosen."""

    name: str
    write: Callable[[Timeline], int | None]
    weight: float
    fits: Callable[[Household], bool] = lambda h: True
    prepare: Callable[[Household, random.Random], None] | None = None


def _any(h: Household, test: Callable[..., bool]) -> bool:
    return any(test(m) for m in h.members)


def _tiny_savings(h: Household, rng: random.Random) -> None:
    h.deposits, h.financial = float(round(rng.uniform(0, 600))), 0.0


def _no_home(h: Household, rng: random.Random) -> None:
    h.housing_m2 = 0.0


def _make_rural(h: Household, rng: random.Random) -> None:
    h.rural = True


def _only_earner(h: Household) -> bool:
    adults = [m for m in h.members if m.age >= 18]
    return len(adults) == 1 and adults[0].work_capable and any(m.age < 18 for m in h.members)


def _employ_only_adult(h: Household, rng: random.Random) -> None:
    adult = next(m for m in h.members if m.age >= 18)
    adult.employed = True
    adult.income = max(adult.income, float(round(h.region.dibao * len(h.members) * rng.uniform(0.6, 0.9), -1)))


def _single_adult(h: Household) -> bool:
    has_spouse = any(m.relation == "spouse" for m in h.members)
    return any((m.relation == "child" and 22 <= m.age <= 40) or (m.relation == "head" and not has_spouse
                                                                 and 22 <= m.age <= 60) for m in h.members)


def _routine_all(tl: Timeline) -> int | None:
    routine.every_kind(tl)
    return 0


STORIES: dict[str, Story] = {s.name: s for s in (
    Story("illness", headline.illness, 14),
    Story("illness_no_cover", lambda tl: headline.illness(tl, severe=True), 2, prepare=_tiny_savings),
    Story("disability", headline.disability, 8),
    Story("unemployment", headline.unemployment, 9,
          lambda h: _any(h, lambda m: m.employed and 18 <= m.age <= 58)),
    Story("death", headline.death, 6),
    Story("death_orphans", headline.death, 1, _only_earner, _employ_only_adult),
    Story("double_headline", headline.double_headline, 3, lambda h: len(h.members) >= 2),
    Story("disaster", life.disaster, 3),
    Story("birth", life.birth, 4,
          lambda h: _any(h, lambda m: m.sex == "F" and 20 <= m.age <= 40 and m.relation in ("head", "spouse",
                                                                                              "child"))),
    Story("marriage", life.marriage, 3, _single_adult),
    Story("divorce", life.divorce, 2, lambda h: _any(h, lambda m: m.relation == "spouse")
          and h.members[0].age < 70),
    Story("migration", life.migration, 3),
    Story("reregister", life.reregister, 0.5),
    Story("custody", life.custody, 1.5, lambda h: _any(h, lambda m: 18 <= m.age <= 60)),
    Story("court", life.court, 2, lambda h: _any(h, lambda m: 25 <= m.age <= 70)),
    Story("utility_arrears", life.utility_arrears, 4),
    Story("public_housing", life.public_housing, 3, lambda h: not h.rural, _no_home),
    Story("property", life.property, 2),
    Story("business", life.business, 3, lambda h: _any(h, lambda m: 22 <= m.age <= 59 and m.work_capable)),
    Story("students", life.students, 5,
          lambda h: _any(h, lambda m: m.relation in ("child", "grandchild") and 6 <= m.age <= 21
                         and not m.employed)),
    Story("elderly_care", life.elderly_care, 5, lambda h: _any(h, lambda m: m.age >= 65)),
    Story("severe_mental", life.severe_mental, 1.5, lambda h: _any(h, lambda m: 18 <= m.age <= 75)),
    Story("child_welfare", life.child_welfare, 1.5, lambda h: _any(h, lambda m: m.age < 17)),
    Story("rrm", life.rrm, 4, lambda h: h.category == "rrm", _make_rural),
    Story("temporary_assistance", life.temporary_assistance, 4),
    Story("vehicle", life.vehicle, 2, lambda h: _any(h, lambda m: 20 <= m.age <= 70)),
    Story("securities", life.securities, 2),
    Story("work_injury", life.work_injury, 2, lambda h: _any(h, lambda m: m.employed and 18 <= m.age <= 59)),
    Story("wage_arrears", life.wage_arrears, 2.5, lambda h: _any(h, lambda m: m.employed)),
    Story("assistance_change", life.assistance_change, 4),
    Story("pension_after_death", life.pension_after_death, 0.3,
          lambda h: _any(h, lambda m: m.pension_scheme is not None)),
    Story("contrib_after_death", life.contrib_after_death, 0.3, lambda h: _any(h, lambda m: m.employed)),
    Story("subsidy_after_revoked", life.subsidy_after_revoked, 0.4,
          lambda h: _any(h, lambda m: m.disability is not None)),
    Story("routine_all", _routine_all, 0),
)}
_DRAWN = tuple(s for s in STORIES.values() if s.weight > 0)

# (household shape, assistance category, stories): see the module docstring.
SHOWCASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("three_gen", "rrm", ("routine_all",)),
    ("couple_kids", "dibian", ("illness",)),
    ("couple_kids", "dibao", ("illness_no_cover",)),
    ("three_gen", "dibian", ("disability",)),
    ("couple_kids", "none", ("unemployment",)),
    ("couple_kids", "dibian", ("death",)),
    ("single_parent", "dibao", ("death_orphans",)),
    ("three_gen", "rigid", ("double_headline",)),
    ("three_gen", "rrm", ("disaster",)),
    ("couple_kids", "none", ("birth",)),
    ("single_adult", "dibian", ("marriage",)),
    ("couple_kids", "dibian", ("divorce", "public_housing")),
    ("three_gen", "dibao", ("migration", "child_welfare")),
    ("couple_kids", "none", ("custody", "court")),
    ("couple_kids", "rigid", ("utility_arrears", "property")),
    ("couple_kids", "dibian", ("business", "students")),
    ("elder_couple", "dibao", ("elderly_care", "temporary_assistance")),
    ("single_adult", "dibao", ("severe_mental",)),
    ("three_gen", "rrm", ("rrm", "vehicle")),
    ("couple_kids", "none", ("securities", "work_injury", "wage_arrears")),
    ("couple_kids", "dibian", ("assistance_change", "reregister")),
    ("single_elder", "tekun", ("pension_after_death",)),
    ("couple_kids", "dibian", ("contrib_after_death",)),
    ("adult_disabled_child", "dibao", ("subsidy_after_revoked",)),
)
_ROUTINE_ALL_NEEDS: tuple[Callable[[Household], bool], ...] = (
    lambda h: _any(h, lambda m: m.pension_scheme is not None and m.age >= 65 and m.chronic),
    lambda h: _any(h, lambda m: m.employed),
    lambda h: _any(h, lambda m: m.disability is not None),
    lambda h: _any(h, lambda m: m.relation == "child" and 6 <= m.age <= 21 and not m.employed),
    lambda h: h.rural,
)


def showcase_slots(households: int) -> dict[int, int]:
    """Global household ordinal -> showcase index, spread evenly through the set."""
    n = min(households, len(SHOWCASES))
    return {j * households // n: j for j in range(n)} if n else {}


def _showcase_fits(h: Household, names: tuple[str, ...]) -> bool:
    if "routine_all" in names:
        return all(test(h) for test in _ROUTINE_ALL_NEEDS)
    return all(STORIES[n].fits(h) for n in names)


def compose(rng: random.Random, region: Region, n: int, ids: IdAllocator,
            showcase: int | None = None) -> tuple[Household, list[Story]]:
    """Build the household and choose its stories; a showcase is rebuilt until its stories fit."""
    if showcase is not None:
        shape, category, names = SHOWCASES[showcase]
        h = build(rng, region, n, ids, template=shape, category=category)
        for _ in range(200):
            if _showcase_fits(h, names):
                break
            h = build(rng, region, n, ids, template=shape, category=category)
        stories = [STORIES[name] for name in names]
    else:
        h = build(rng, region, n, ids)
        stories = []
        draw = rng.random()
        wanted = 0 if draw < 0.3 else 1 if draw < 0.8 else 2
        fitting = [s for s in _DRAWN if s.fits(h)] if wanted else []
        for _ in range(wanted):
            story = rng.choices(fitting, [s.weight for s in fitting])[0]
            stories.append(story)
            fitting.remove(story)
    for story in stories:
        if story.prepare is not None:
            story.prepare(h, rng)
    return h, stories


def play(h: Household, rng: random.Random, ids: IdAllocator, stories: list[Story], *, showcase: bool,
         events_per_household: float) -> Timeline:
    """Write the stories, then routine data up to the household's share of events."""
    tl = Timeline(h, rng, ids, showcase=showcase)
    for story in stories:
        story.write(tl)
    # The household's share of events: a uniform spread around the mean; routine data tops the stories up
    # to it (an episode that overshoots is cut).  Story-heavy households stay above their share.
    stories_written = len(tl.events)
    target = round(rng.uniform(0.13, 1.73) * events_per_household)
    wanted = max(1 if events_per_household >= 1 else 0, target - stories_written)
    routine.fill(tl, wanted)
    del tl.events[stories_written + wanted:]
    return tl
