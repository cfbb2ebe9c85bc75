"""Real GB/T 2260 county codes the fixtures live in, with the region parameters they need.

Mostly Zhejiang (Hangzhou, Wenzhou, Jiaxing, Shaoxing, Jinhua, Taizhou), plus a few counties elsewhere
so that the `default` and Beijing blocks of rules.yaml are exercised too.  The dibao, edge multiplier
and PCDI figures mirror what rules.yaml resolves for each code (default <- province <- city prefix);
the generator only uses them to place incomes realistically around the dibao line, so a later change
of rules.yaml does not have to be copied here (tests/test_fixturegen.py reports a drift).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REGIONS", "Region", "allocate"]


@dataclass(frozen=True, slots=True)
class Region:
    """One county: its code, a share of the households, and the figures incomes are drawn around."""

    index: int
    code: str
    name: str
    weight: float
    dibao: float
    edge_mult: float
    pcdi_prev: float
    rural_share: float


_HZ = (1245.0, 2.0, 77043.0)   # Hangzhou: rules.yaml "3301"
_WZ = (1060.0, 1.5, 63830.0)   # Wenzhou: "3303" over "33"
_ZJ = (886.0, 1.5, 63830.0)    # rest of Zhejiang: "33" over default
_BJ = (1450.0, 1.5, 85415.0)   # Beijing: "11"
_DF = (886.0, 1.5, 40000.0)    # default block

_TABLE: tuple[tuple[str, str, float, tuple[float, float, float], float], ...] = (
    ("110105", "北京市朝阳区", 2.0, _BJ, 0.02),
    ("310115", "上海市浦东新区", 1.5, _DF, 0.05),
    ("330102", "杭州市上城区", 6.0, _HZ, 0.02),
    ("330105", "杭州市拱墅区", 7.0, _HZ, 0.02),
    ("330106", "杭州市西湖区", 7.0, _HZ, 0.08),
    ("330108", "杭州市滨江区", 3.0, _HZ, 0.03),
    ("330109", "杭州市萧山区", 10.0, _HZ, 0.30),
    ("330110", "杭州市余杭区", 9.0, _HZ, 0.30),
    ("330302", "温州市鹿城区", 8.0, _WZ, 0.10),
    ("330326", "温州市平阳县", 9.0, _WZ, 0.70),
    ("330329", "温州市泰顺县", 6.0, _WZ, 0.85),
    ("330402", "嘉兴市南湖区", 6.0, _ZJ, 0.25),
    ("330602", "绍兴市越城区", 7.0, _ZJ, 0.25),
    ("330702", "金华市婺城区", 7.0, _ZJ, 0.40),
    ("331002", "台州市椒江区", 6.0, _ZJ, 0.20),
    ("440305", "深圳市南山区", 1.5, _DF, 0.00),
)

# In code order, so households written region by region come out in household_id order.
REGIONS: tuple[Region, ...] = tuple(
    Region(i, code, name, weight, *figures, rural)
    for i, (code, name, weight, figures, rural) in enumerate(sorted(_TABLE))
)


def allocate(households: int) -> list[tuple[Region, int]]:
    """How many households each region gets: proportional to weight, largest remainder, in code order."""
    total = sum(r.weight for r in REGIONS)
    exact = [households * r.weight / total for r in REGIONS]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(REGIONS)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: households - sum(counts)]:
        counts[i] += 1
    return list(zip(REGIONS, counts, strict=True))
