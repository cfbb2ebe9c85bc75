"""rules.yaml validation: each mistake is one line naming the file, the place and the field."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from indicators.base import Context, Dimension, Finding, Indicator, Registry, declarer
from monitor.errors import RuleConfigError
from monitor.pipeline.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules.yaml"


def _doc() -> dict[str, Any]:
    return yaml.safe_load(RULES.read_text(encoding="utf-8"))


def _edit(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    doc = _doc()
    change(doc)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_the_bundled_rules_load_and_have_a_stable_version() -> None:
    first, second = load_rules(RULES), load_rules(RULES)
    assert first.version == second.version and len(first.version) == 12
    assert {r.id for r in first.rules} >= {"R1_eligible_not_covered", "R2_two_headline_streams",
                                           "R3_minor_without_guardian", "R4_last_earner_died",
                                           "R5_medical_cost_no_cover"}


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return change


MISTAKES = [
    ("unknown top-level key", _set(["secrets"], {"hmac_key": "x"}), "top level.secrets"),
    ("unknown indicator id", _set(["indicators", "inc_made_up"], {"weight": 0.1, "ordinal": True}),
     "indicators.inc_made_up"),
    ("missing indicator", _delete(["indicators", "hd_care_dependency"]), "indicators.hd_care_dependency"),
    ("weights do not sum to one", _set(["indicators", "inc_income_drop", "weight"], 0.5), "(income)"),
    ("thresholds out of order", _set(["indicators", "inc_income_drop", "at_least"], {"H": 0.1, "M": 0.3, "L": 0.5}),
     "indicators.inc_income_drop.at_least"),
    ("missing default region", _delete(["regions", "default"]), "regions.default"),
    ("unknown param", _set(["indicators", "inc_income_drop", "params"], {"recent_months": 3, "baseline_months": 12,
                                                                          "extra": 1}),
     "indicators.inc_income_drop.params.extra"),
    ("unknown rule fact", lambda d: d["rules"][0]["when"].append({"fact": "wealth", "lt": 1}),
     "rule 'R1_eligible_not_covered'.when[3].fact"),
    ("bad rule level", lambda d: d["rules"][1].__setitem__("level", "purple"), "rule 'R2_two_headline_streams'.level"),
    ("rule on unknown indicator", lambda d: d["rules"][2]["when"][0].__setitem__("indicator", "fam_nope"),
     "rule 'R3_minor_without_guardian'.when[0].indicator"),
    ("region override on unknown indicator", _set(["regions", "3301", "indicators"], {"x_y": {"weight": 1}}),
     "regions.3301.indicators.x_y"),
    ("a count of months that is not whole", _set(["indicators", "inc_income_drop", "params"],
                                                  {"recent_months": 2.5, "baseline_months": 12}),
     "indicators.inc_income_drop.params.recent_months"),
    ("a working age that is not whole", _set(["regions", "default", "working_age_max"], 59.5),
     "regions.default.working_age_max"),
    ("a switch that is not true or false", _set(["regions", "default", "severe_includes_grade3_mental"], "no"),
     "regions.default.severe_includes_grade3_mental"),
]


@pytest.mark.parametrize(("name", "change", "where"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_names_file_and_field(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None],
                                           where: str) -> None:
    path = _edit(tmp_path, change)
    with pytest.raises(RuleConfigError) as info:
        load_rules(path)
    assert str(path) in str(info.value)
    assert where in str(info.value), str(info.value)


def test_monitor_check_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    path = _edit(tmp_path, _set(["levels", "red", "min_score"], "high"))
    proc = subprocess.run([sys.executable, "-m", "monitor", "check", "--rules", str(path)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "levels.red.min_score" in lines[0]


def test_a_missing_rules_file_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "monitor", "check", "--rules", str(tmp_path / "none.yaml")],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_region_override_layers_over_the_default() -> None:
    rules = load_rules(RULES)
    assert rules.region("330102").edge_mult == 2.0
    assert rules.region("330302").dibao == 1060.0
    assert rules.region("620102").dibao == rules.region("999999").dibao


def test_whole_numbers_arrive_as_ints_and_the_rest_as_floats() -> None:
    # The indicators count months and compare ages with these: a float there would be truncated or compared
    # silently, so the loader gives each parameter the type its annotation names.
    rules = load_rules(RULES)
    region = rules.region("330102")
    assert type(region.working_age_min) is int and type(region.working_age_max) is int
    assert type(region.severe_includes_grade3_mental) is bool and type(region.dibao) is float
    drop = rules.settings_for("330102")["inc_income_drop"].params
    assert drop == {"recent_months": 3, "baseline_months": 12}
    assert all(type(v) is int for v in drop.values())
    assert type(rules.settings_for("330102")["inc_volatility"].params["months"]) is float


def test_the_registry_refuses_a_parameter_that_is_neither_int_nor_float() -> None:
    def odd(ctx: Context, *, label: str) -> Finding | None:
        return None

    declared: list[Indicator] = []
    declarer(declared, Dimension.INCOME)(id="inc_odd", name_zh="x", name_en="x", inputs=(), summary="x")(odd)
    assert declared[0].params == ("label",) and declared[0].whole_params == frozenset()
    with pytest.raises(ValueError, match="annotated int or float"):
        Registry().add(declared[0])
