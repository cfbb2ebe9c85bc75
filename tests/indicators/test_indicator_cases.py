"""Run every per-indicator YAML case in fixtures/indicators/*.yaml (style.md G7).

Each case builds a household and its events, evaluates ONE indicator at the evaluation time with its
settings from rules.yaml, and checks the level (and the value, when the case gives one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from indicators import REGISTRY
from indicators.base import Level
from monitor.pipeline.context import context_at
from monitor.pipeline.rules import indicator_setting, region_params
from tests import casebook

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules.yaml"


def _cases() -> list[Any]:
    found = []
    for path in sorted((ROOT / "fixtures" / "indicators").glob("*.yaml")):
        for indicator_id, cases in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            for case in cases:
                found.append(pytest.param(indicator_id, case, id=f"{indicator_id}: {case['case']}"))
    return found


CASES = _cases()


def evaluate_case(indicator_id: str, case: dict[str, Any]) -> tuple[Level, float | None]:
    record = casebook.household(case["household"])
    evs = casebook.events(record, case.get("events", []))
    t = casebook.AS_OF_T - int(float(case.get("at_days_ago", 0)) * 86400)
    ctx = context_at(record, evs, t, region_params(RULES, record.region))
    setting = indicator_setting(RULES, indicator_id, record.region)
    finding = REGISTRY[indicator_id].evaluate(ctx, setting.params)
    if finding is None:
        return Level.NONE, None
    return setting.level(finding.value), finding.value


@pytest.mark.parametrize(("indicator_id", "case"), CASES)
def test_indicator_case(indicator_id: str, case: dict[str, Any]) -> None:
    level, value = evaluate_case(indicator_id, case)
    expect = case["expect"]
    assert level.name == expect["level"], f"value was {value}"
    if "value" in expect:
        assert value == pytest.approx(expect["value"], rel=1e-3, abs=1e-6)


def test_every_registered_indicator_has_a_firing_and_a_quiet_case() -> None:
    levels: dict[str, set[str]] = {}
    for param in CASES:
        indicator_id, case = param.values
        levels.setdefault(indicator_id, set()).add(case["expect"]["level"])
    for indicator_id in REGISTRY.ids():
        seen = levels.get(indicator_id, set())
        assert "NONE" in seen, f"{indicator_id} has no case where it stays quiet"
        assert seen - {"NONE"}, f"{indicator_id} has no case where it fires"
