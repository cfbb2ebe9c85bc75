"""The registry mix: assistance categories, household shapes, incomes around the dibao line, assets.

Shares follow the national picture (catalogue §1.1, SRC 3/11) loosely: many 低保, fewer 低边, few 特困.
Incomes are drawn as a per-capita ratio r of the county's dibao standard that fits the category
(低保 r < 1, 低边 1 <= r < edge multiplier, 刚性支出 above the edge line but under the local per-capita
disposable income, ...), then split into pensions and wages.
"""

from __future__ import annotations

import random
from typing import Any

from monitor.fixturegen.clock import AS_OF
from monitor.fixturegen.people import IdAllocator, Person, born_aged, draw_disability
from monitor.fixturegen.regions import Region

__all__ = ["CATEGORY_SHARES", "TEMPLATES", "Household", "build"]

CATEGORY_SHARES: dict[str, float] = {"tekun": 8, "dibao": 40, "dibian": 20, "rigid": 10, "rrm": 7, "none": 15}
_CATEGORIES = tuple(CATEGORY_SHARES)
_CATEGORY_WEIGHTS = tuple(CATEGORY_SHARES.values())
LOW_INCOME = frozenset({"tekun", "dibao", "dibian"})

TEMPLATES = ("single_elder", "elder_couple", "single_adult", "couple_kids", "single_parent", "three_gen",
             "skip_gen", "adult_disabled_child", "siblings")
# Household shape by category (weights in TEMPLATES order).
_SHAPES: dict[str, tuple[int, ...]] = {
    "tekun": (55, 10, 25, 0, 0, 0, 5, 0, 5),
    "dibao": (15, 10, 12, 20, 15, 10, 8, 10, 0),
    "dibian": (10, 15, 0, 30, 10, 20, 7, 8, 0),
    "rigid": (0, 10, 5, 35, 10, 30, 0, 10, 0),
    "rrm": (10, 15, 0, 25, 0, 30, 15, 5, 0),
    "none": (5, 15, 7, 40, 8, 25, 0, 0, 0),
}
_DISABLED = {"tekun": 0.45, "dibao": 0.15, "dibian": 0.10, "rigid": 0.12, "rrm": 0.08, "none": 0.05}
_EMPLOYED = {"tekun": 0.0, "dibao": 0.45, "dibian": 0.7, "rigid": 0.8, "rrm": 0.75, "none": 0.85}
_EMPLOYEE_PENSION = {"tekun": 0.0, "dibao": 0.05, "dibian": 0.15, "rigid": 0.3, "rrm": 0.02, "none": 0.4}


class Household:
    """A generated household: the registry fields plus what stories need to know."""

    __slots__ = ("category", "deaths", "deposits", "financial", "hid", "housing_m2", "joined", "members",
                 "region", "rural", "vehicles")

    def __init__(self, hid: str, region: Region, category: str, members: list[Person]) -> None:
        self.hid, self.region, self.category, self.members = hid, region, category, members
        self.deposits = 0.0
        self.financial = 0.0
        self.housing_m2 = 0.0
        self.vehicles = 0
        self.rural = False
        self.deaths = 0
        self.joined: list[Person] = []          # people who joined after the registry date

    @property
    def head(self) -> Person:
        """The registered head of household."""
        return self.members[0]

    def record(self, as_of: str | None = None, members: list[Person] | None = None) -> dict[str, Any]:
        """The registry record of contract §3.1, keys in contract order."""
        return {
            "household_id": self.hid, "region": self.region.code, "category": self.category,
            "members": [m.to_record() for m in (self.members if members is None else members)],
            "assets": {"deposits": self.deposits, "financial": self.financial,
                       "owned_housing_m2": self.housing_m2, "vehicles": self.vehicles},
            "as_of": as_of or AS_OF.isoformat(),
        }


def _other(sex: str) -> str:
    return "F" if sex == "M" else "M"


def _kids(rng: random.Random, parent_age: int, n: int, relation: str = "child") -> list[tuple[str, int, str]]:
    top = max(0, min(parent_age - 20, 22))
    return [(relation, rng.randint(0, top), rng.choice("MF")) for _ in range(n)]


def _shape(rng: random.Random, template: str) -> list[tuple[str, int, str]]:
    """(relation, age on the registry date, sex) of each member; the head first."""
    r = rng.randint
    if template == "single_elder":
        return [("head", r(60, 92), rng.choice("MFF"))]
    if template == "elder_couple":
        age, sex = r(60, 88), rng.choice("MF")
        return [("head", age, sex), ("spouse", max(55, age + r(-5, 5)), _other(sex))]
    if template == "single_adult":
        return [("head", r(25, 59), rng.choice("MMF"))]
    if template == "couple_kids":
        age, sex = r(26, 50), rng.choice("MMMF")
        spouse = max(22, age + r(-4, 4))
        return [("head", age, sex), ("spouse", spouse, _other(sex)), *_kids(rng, min(age, spouse), r(1, 3))]
    if template == "single_parent":
        age = r(26, 50)
        return [("head", age, rng.choice("MFF")), *_kids(rng, age, r(1, 3))]
    if template == "three_gen":
        age, sex = r(30, 55), rng.choice("MMMF")
        spouse = max(24, age + r(-4, 4))
        members = [("head", age, sex), ("spouse", spouse, _other(sex))]
        parents = "MF" if rng.random() < 0.45 else rng.choice("MF")
        members += [("parent", min(96, age + r(22, 34)), s) for s in parents]
        return (members + _kids(rng, min(age, spouse), r(1, 2)))[:6]
    if template == "skip_gen":
        age, sex = r(55, 80), rng.choice("MF")
        members = [("head", age, sex)]
        if rng.random() < 0.5:
            members.append(("spouse", max(50, age + r(-4, 4)), _other(sex)))
        return members + [("grandchild", r(0, 17), rng.choice("MF")) for _ in range(r(1, 2))]
    if template == "adult_disabled_child":
        age, sex = r(55, 80), rng.choice("MF")
        members = [("head", age, sex)]
        if rng.random() < 0.6:
            members.append(("spouse", max(50, age + r(-4, 4)), _other(sex)))
        return [*members, ("child", r(20, min(50, age - 20)), rng.choice("MMF"))]
    age = r(40, 75)                                     # siblings
    return [("head", age, rng.choice("MF")), ("sibling", max(30, age + r(-8, 8)), rng.choice("MF"))]


def _ratio(rng: random.Random, category: str, region: Region) -> float:
    """Per-capita income as a multiple of the dibao standard, fitting the category."""
    edge = region.edge_mult
    if category == "dibao":
        return rng.uniform(0.1, 0.95)
    if category == "dibian":
        return rng.uniform(1.02, edge * 0.97)
    if category == "rigid":
        ceiling = min(3.8, region.pcdi_prev / 12 / region.dibao * 0.9)
        return rng.uniform(edge * 1.02, max(edge * 1.1, ceiling))
    if category == "rrm":
        return rng.uniform(0.9, 2.4)
    if category == "none":
        return rng.uniform(1.3, 5.0)
    return 0.0                                          # tekun: pensions only


def build(rng: random.Random, region: Region, n: int, ids: IdAllocator, *,
          template: str | None = None, category: str | None = None) -> Household:
    """One household of a region; template and category are drawn unless forced (showcases)."""
    category = category or rng.choices(_CATEGORIES, _CATEGORY_WEIGHTS)[0]
    template = template or rng.choices(TEMPLATES, _SHAPES[category])[0]
    members: list[Person] = []
    for relation, age, sex in _shape(rng, template):
        members.append(ids.person(region, born_aged(rng, age), sex, relation))
    h = Household(f"H{region.code}{n:07d}", region, category, members)
    h.rural = rng.random() < (0.9 if category == "rrm" else region.rural_share)
    _health(rng, h, template)
    _work_and_income(rng, h)
    _assets(rng, h)
    return h


def _health(rng: random.Random, h: Household, template: str) -> None:
    p_dis = _DISABLED[h.category]
    for m in h.members:
        age = m.age
        if (template == "adult_disabled_child" and m.relation == "child") or rng.random() < p_dis * (
                1.5 if age >= 60 else 1.0):
            m.disability = draw_disability(rng)
        p_chronic = 0.04 if age < 40 else 0.15 if age < 60 else 0.35
        if h.category in ("tekun", "dibao", "rigid"):
            p_chronic *= 1.5
        m.chronic = rng.random() < p_chronic


def _work_and_income(rng: random.Random, h: Household) -> None:
    category, region = h.category, h.region
    employed: list[Person] = []
    pensions = 0.0
    for m in h.members:
        age = m.age
        severe = m.disability is not None and m.disability[1] <= 2
        student = age < 23 and m.relation in ("child", "grandchild") and age < 19 + rng.randint(0, 3)
        m.work_capable = (category != "tekun" and 16 <= age <= 59 and not severe and not student
                          and not (m.chronic and rng.random() < 0.3))
        if m.work_capable and rng.random() < _EMPLOYED[category]:
            m.employed = True
            employed.append(m)
        if age >= 60:
            if rng.random() < _EMPLOYEE_PENSION[category]:
                m.pension_scheme, m.income = "employee", float(round(rng.uniform(2200, 4800)))
            else:
                m.pension_scheme, m.income = "basic_resident", float(round(rng.uniform(190, 420)))
            pensions += m.income
    target = _ratio(rng, category, region) * region.dibao * len(h.members)
    if pensions > target and category in ("dibao", "dibian"):
        for m in h.members:                             # an employee pension would not fit the category
            if m.pension_scheme == "employee":
                m.pension_scheme, m.income = "basic_resident", float(round(rng.uniform(190, 420)))
        pensions = sum(m.income for m in h.members if m.pension_scheme)
    wages = max(0.0, target - pensions)
    if not employed and wages > 0 and category in ("dibian", "rigid", "rrm", "none"):
        # The category needs income it cannot get from pensions alone: someone works, pensions are
        # employee pensions, or (nobody can work) relatives support the household (a transfer).
        capable = [m for m in h.members if m.work_capable]
        pensioners = [m for m in h.members if m.pension_scheme]
        if capable:
            capable[0].employed = True
            employed.append(capable[0])
        elif pensioners:
            for m in pensioners:
                m.pension_scheme = "employee"
                m.income = float(round(m.income + wages / len(pensioners), -1))
            wages = 0.0
        else:
            h.members[0].income = float(round(wages, -1))
            wages = 0.0
    if employed:
        shares = [rng.uniform(1.0, 2.0) * (1.6 if m.relation == "head" else 1.0) for m in employed]
        total = sum(shares)
        floor = 100 if category in ("dibao", "dibian") else 600     # part-time work; keep the category's line
        for m, share in zip(employed, shares, strict=True):
            m.income = float(max(floor, round(wages * share / total, -1)))


def _assets(rng: random.Random, h: Household) -> None:
    category, size, dibao = h.category, len(h.members), h.region.dibao
    months = {"tekun": (0, 4), "dibao": (0, 4), "dibian": (1, 12), "rigid": (2, 20), "rrm": (0, 10),
              "none": (4, 40)}[category]
    h.deposits = float(round(rng.uniform(*months) * dibao * size, -1))
    if rng.random() < 0.15:
        h.deposits = float(round(rng.uniform(0, 500)))  # tiny savings: the red-line cases
    if category in ("rigid", "none") and rng.random() < 0.2:
        h.financial = float(round(rng.uniform(5000, 80000), -2))
    if rng.random() < (0.6 if category == "tekun" else 0.1 if h.rural else 0.25):
        h.housing_m2 = 0.0
    elif h.rural:
        h.housing_m2 = float(round(rng.uniform(70, 220)))
    else:
        h.housing_m2 = float(round(rng.uniform(25, 120)))
    p_car = {"none": 0.3, "rigid": 0.15, "dibian": 0.08}.get(category, 0.02)
    h.vehicles = int(rng.random() < p_car)
