"""The 就高原则 (catalogue §3.1): per member and income type, the highest of declared, surveyed and verified
figures of the trailing 12 months; a job loss hides earlier wages only for times after it."""

from __future__ import annotations

from monitor.household import IncomeSource, MemberState
from monitor.model import DAY

T = 1_700_000_000


def member() -> MemberState:
    return MemberState(person_id="p", relation="head", birth_day=720_000, sex="M", work_capable=True,
                       employed=True)


def test_the_highest_figure_of_the_three_kinds_wins() -> None:
    m = member()
    m.incomes["wage"] = [IncomeSource(T - 100 * DAY, "declared", 1200.0),
                         IncomeSource(T - 50 * DAY, "surveyed", 2100.0),
                         IncomeSource(T - 10 * DAY, "verified", 1800.0)]
    assert m.income_of("wage", T) == 2100.0


def test_figures_older_than_twelve_months_no_longer_count() -> None:
    m = member()
    m.incomes["wage"] = [IncomeSource(T - 400 * DAY, "verified", 5000.0),
                         IncomeSource(T - 30 * DAY, "declared", 900.0)]
    assert m.income_of("wage", T) == 900.0
    assert m.income_of("wage", T - 300 * DAY) == 5000.0


def test_a_job_loss_hides_earlier_wages_only_after_it() -> None:
    m = member()
    m.incomes["wage"] = [IncomeSource(T - 60 * DAY, "verified", 3000.0)]
    m.income_reset["wage"] = [T - 20 * DAY]
    assert m.income_of("wage", T) == 0.0
    assert m.income_of("wage", T - 30 * DAY) == 3000.0
