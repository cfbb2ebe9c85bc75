"""rules.yaml → a validated, frozen `RuleSet`: regions, scoring, levels, indicator settings, alert rules.

Every mistake is a `RuleConfigError` naming the file, the place and the field, found when the file is
loaded (at start-up and by `monitor check`), never while an event is being processed.
"""

from __future__ import annotations

import hashlib
import json
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property, update_wrapper
from pathlib import Path
from typing import Any

import yaml

from indicators import REGISTRY
from indicators.base import Dimension, Indicator, IndicatorFn, Level, Region
from monitor.categories import Family
from monitor.errors import RuleConfigError

__all__ = ["AlertRule", "Condition", "IndicatorSetting", "LevelBand", "PlanStep", "RuleSet", "load_rules"]

ALERT_LEVELS = ("red", "orange", "yellow")
LEVEL_RANK = {"none": 0, "watch": 1, "yellow": 2, "orange": 3, "red": 4}
_ORDINAL = {"H": 3.0, "M": 2.0, "L": 1.0}
_FACTS = ("r", "earners", "category", "household_size", "score")
_OPS = ("lt", "lte", "gt", "gte", "eq", "in", "not_in")


@dataclass(frozen=True, slots=True)
class IndicatorSetting:
    """Weight, thresholds and parameters of one indicator for one region."""

    weight: float
    below: bool
    h: float
    m: float
    l: float  # noqa: E741 - the catalogue's level names
    params: Mapping[str, Any]

    def level(self, value: float) -> Level:
        """Grade a value against the thresholds."""
        if self.below:
            return _H if value < self.h else _M if value < self.m else _L if value < self.l else _NONE
        return _H if value >= self.h else _M if value >= self.m else _L if value >= self.l else _NONE


# The levels as module constants: `Level.H` is an attribute lookup on the enum class (about 0.07 us in
# Python 3.11), and `level` above runs for every finding of every scoring.
_H, _M, _L, _NONE = Level.H, Level.M, Level.L, Level.NONE


# One indicator of a region's scoring plan, with everything scoring needs from it looked up once:
# (indicator id, its dimension's value as a plain str, `Indicator.fn` with the setting's parameters bound,
# the setting).  A plain tuple rather than a NamedTuple: CPython unpacks an exact tuple in a `for` target
# with a specialised instruction, a subclass through the generic iterator protocol (about 2 % of scoring).
PlanStep = tuple[str, str, IndicatorFn, IndicatorSetting]


@dataclass(frozen=True, slots=True)
class Condition:
    """One clause of a rule's `when` list; `kind` says which fields are used."""

    kind: str  # indicator | headline_indicator | fact | score | dimension | trigger_headline | headline_streams
    target: str = ""
    op: str = "gte"
    value: Any = None
    level: Level = Level.NONE
    fed_by_trigger: bool = False
    within_days: int = 0
    rising: bool = False
    hysteresis: float = 0.0


@dataclass(frozen=True, slots=True)
class AlertRule:
    """An alert rule: when every condition holds, the household gets an alert of this level."""

    id: str
    level: str
    family: str
    summary: str
    when: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class LevelBand:
    """A score band and its verification time limit."""

    name: str
    min_score: float
    verify_within_days: int | None


@dataclass(frozen=True)
class RuleSet:
    """Everything rules.yaml says, validated."""

    path: str
    version: str
    regions: Mapping[str, Mapping[str, Any]]
    points: Mapping[Level, float]
    corroboration: float
    multi_dimension_bonus: float
    multi_dimension_floor: float
    dimension_weights: Mapping[Dimension, float]
    bands: tuple[LevelBand, ...]
    open_alert_days: int
    reasons: int
    rules: tuple[AlertRule, ...]
    needs: Mapping[str, tuple[str, ...]]
    indicators: Mapping[str, IndicatorSetting]
    region_indicators: Mapping[str, Mapping[str, IndicatorSetting]]
    _regions_resolved: dict[str, Region] = field(default_factory=dict, compare=False, repr=False)
    _plans: dict[str, tuple[PlanStep, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def region_key(self, region: str) -> str:
        """The most specific region block for a 6-digit code: county, city, province, then default."""
        for key in (region, region[:4], region[:2]):
            if key in self.regions:
                return key
        return "default"

    def region(self, code: str) -> Region:
        """Region parameters, the blocks from province to county layered over the default (memoised)."""
        resolved = self._regions_resolved.get(code)
        if resolved is None:
            resolved = self._regions_resolved[code] = self._resolve_region(code)
        return resolved

    def _resolve_region(self, code: str) -> Region:
        merged: dict[str, Any] = dict(self.regions["default"])
        for key in (code[:2], code[:4], code):
            merged.update({k: v for k, v in self.regions.get(key, {}).items() if k != "indicators"})
        return Region(code=code, **{f.name: merged[f.name] for f in fields(Region) if f.name != "code"})

    def settings_for(self, code: str) -> Mapping[str, IndicatorSetting]:
        """Indicator settings with the region's overrides applied."""
        for key in (code, code[:4], code[:2]):
            if key in self.region_indicators:
                return self.region_indicators[key]
        return self.indicators

    def indicator_plan(self, code: str) -> tuple[PlanStep, ...]:
        """Each indicator in registry order, with its setting for the region and `fn` bound to its params.

        Scoring walks this for every event, so the per-indicator lookups are done once per region (memoised).
        """
        plan = self._plans.get(code)
        if plan is None:
            settings = self.settings_for(code)
            plan = self._plans[code] = tuple(_plan_step(ind, settings[ind.id]) for ind in REGISTRY)
        return plan

    @cached_property
    def points_by_level(self) -> tuple[float, ...]:
        """`points` as a tuple indexed by the level's number (NONE, L, M, H).

        Scoring reads it for every reading: a Level key hashes through the enum's Python-level __hash__.
        """
        return tuple(self.points[level] for level in Level)

    @cached_property
    def dimension_weights_by_id(self) -> tuple[tuple[str, float], ...]:
        """(dimension id, weight) in `Dimension` declaration order, the order scoring sums them in."""
        return tuple((dim.value, self.dimension_weights[dim]) for dim in Dimension)

    def band(self, score: float) -> str:
        """The level name of a score: red, orange, yellow, watch or none."""
        for band in self.bands:
            if score >= band.min_score:
                return band.name
        return "none"

    def verify_days(self, level: str) -> int:
        """Days within which an alert of this level must be verified."""
        for band in self.bands:
            if band.name == level and band.verify_within_days is not None:
                return band.verify_within_days
        return 30


def _plan_step(ind: Indicator, setting: IndicatorSetting) -> PlanStep:
    evaluate = _bind_params(ind.fn, setting.params) if ind.params else ind.fn
    return ind.id, ind.dimension.value, evaluate, setting


def _bind_params(fn: IndicatorFn, params: Mapping[str, Any]) -> IndicatorFn:
    """`fn` with its keyword-only parameters bound: `bound(ctx)` is `fn(ctx, **params)`.

    Not functools.partial: a partial with keywords builds a fresh kwargs dict on every call (0.16 us
    against 0.04 us, and scoring makes about 35 such calls per event).  This is a copy of the function,
    same code and globals, whose keyword-only defaults are the parameters, so CPython fills them in itself.
    """
    assert isinstance(fn, types.FunctionType), "indicator functions are plain functions"
    bound = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    bound.__kwdefaults__ = dict(params)
    return update_wrapper(bound, fn)


class _Reader:
    """Small helpers that raise RuleConfigError with the file and a dotted location."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> RuleConfigError:
        return RuleConfigError(self.path, where, problem)

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...] | None = None,
                required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {type(value).__name__}")
        if allowed is not None:
            unknown = sorted(set(map(str, value)) - set(allowed))
            if unknown:
                raise self.fail(f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                raise self.fail(f"{where}.{key}", "is required")
        return {str(k): v for k, v in value.items()}

    def number(self, value: Any, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.fail(where, f"must be a number in [{lo}, {hi}]")
        return float(value)

    def whole(self, value: Any, where: str, lo: float = -math.inf) -> int:
        number = self.number(value, where, lo)
        if not number.is_integer():
            raise self.fail(where, f"must be a whole number, got {value}")
        return int(number)

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {value!r}")
        return value

    def typed(self, kind: str, value: Any, where: str) -> Any:
        """A region or indicator parameter as its annotation says: whole, true/false or a non-negative number."""
        if kind == "int":
            return self.whole(value, where, 0)
        if kind == "bool":
            return self.boolean(value, where)
        return self.number(value, where, 0)


# Region parameter -> its annotation ("float", "int" or "bool"; a string under `from __future__ import annotations`).
_REGION_KINDS = {f.name: str(f.type) for f in fields(Region) if f.name != "code"}
_REGION_KEYS = tuple(_REGION_KINDS)


def _indicator_setting(rd: _Reader, raw: Any, where: str, base: IndicatorSetting | None,
                       indicator: Indicator) -> IndicatorSetting:
    spec = rd.mapping(raw, where, ("weight", "at_least", "below", "ordinal", "params"))
    modes = [k for k in ("at_least", "below", "ordinal") if k in spec]
    if len(modes) > 1:
        raise rd.fail(f"{where}.{modes[1]}", f"conflicts with {modes[0]}: give exactly one")
    if base is None and not modes:
        raise rd.fail(f"{where}", "needs one of at_least, below or ordinal")
    weight = rd.number(spec["weight"], f"{where}.weight", 0, 1) if "weight" in spec else None
    if weight is None:
        if base is None:
            raise rd.fail(f"{where}.weight", "is required")
        weight = base.weight
    if modes and modes[0] == "ordinal":
        if spec["ordinal"] is not True:
            raise rd.fail(f"{where}.ordinal", "must be true")
        below, thresholds = False, dict(_ORDINAL)
    elif modes:
        below = modes[0] == "below"
        th = rd.mapping(spec[modes[0]], f"{where}.{modes[0]}", ("H", "M", "L"), ("H", "M", "L"))
        thresholds = {k: rd.number(v, f"{where}.{modes[0]}.{k}") for k, v in th.items()}
        ordered = thresholds["H"] <= thresholds["M"] <= thresholds["L"] if below else \
            thresholds["H"] >= thresholds["M"] >= thresholds["L"]
        if not ordered:
            raise rd.fail(f"{where}.{modes[0]}", "thresholds out of order (H, M, L must "
                          + ("rise" if below else "fall") + ")")
    else:
        assert base is not None
        below, thresholds = base.below, {"H": base.h, "M": base.m, "L": base.l}
    params = dict(base.params) if base else {}
    if "params" in spec:
        given = rd.mapping(spec["params"], f"{where}.params", indicator.params)
        for key, value in given.items():
            params[key] = rd.typed("int" if key in indicator.whole_params else "float", value,
                                   f"{where}.params.{key}")
    missing = [p for p in indicator.params if p not in params]
    if missing:
        raise rd.fail(f"{where}.params.{missing[0]}", "is required by the indicator's function")
    return IndicatorSetting(weight, below, thresholds["H"], thresholds["M"], thresholds["L"], params)


def _condition(rd: _Reader, raw: Any, where: str) -> Condition:
    spec = rd.mapping(raw, where)
    if "indicator" in spec:
        spec = rd.mapping(raw, where, ("indicator", "level"), ("indicator", "level"))
        if spec["indicator"] not in REGISTRY:
            raise rd.fail(f"{where}.indicator", f"unknown indicator id '{spec['indicator']}'")
        return Condition("indicator", target=spec["indicator"], level=_level(rd, spec["level"], where))
    if "headline_indicator" in spec:
        spec = rd.mapping(raw, where, ("headline_indicator",))
        inner = rd.mapping(spec["headline_indicator"], f"{where}.headline_indicator",
                           ("level", "fed_by_trigger"), ("level",))
        return Condition("headline_indicator", level=_level(rd, inner["level"], where),
                         fed_by_trigger=bool(inner.get("fed_by_trigger", False)))
    if "fact" in spec:
        spec = rd.mapping(raw, where, ("fact", *_OPS), ("fact",))
        if spec["fact"] not in _FACTS:
            raise rd.fail(f"{where}.fact", f"unknown fact '{spec['fact']}' (known: {', '.join(_FACTS)})")
        ops = [k for k in spec if k in _OPS]
        if len(ops) != 1:
            raise rd.fail(where, "needs exactly one comparison (" + ", ".join(_OPS) + ")")
        return Condition("fact", target=spec["fact"], op=ops[0], value=spec[ops[0]])
    if "score" in spec:
        spec = rd.mapping(raw, where, ("score",))
        inner = rd.mapping(spec["score"], f"{where}.score", ("gte", "rising", "hysteresis"), ("gte",))
        return Condition("score", op="gte", value=rd.number(inner["gte"], f"{where}.score.gte", 0, 200),
                         rising=bool(inner.get("rising", False)),
                         hysteresis=rd.number(inner.get("hysteresis", 0), f"{where}.score.hysteresis", 0, 100))
    if "dimension" in spec:
        spec = rd.mapping(raw, where, ("dimension", "gte"), ("dimension", "gte"))
        if spec["dimension"] not in {d.value for d in Dimension}:
            raise rd.fail(f"{where}.dimension", f"unknown dimension '{spec['dimension']}'")
        return Condition("dimension", target=spec["dimension"], value=rd.number(spec["gte"], f"{where}.gte"))
    if "trigger_headline" in spec:
        rd.mapping(raw, where, ("trigger_headline",))
        return Condition("trigger_headline", value=bool(spec["trigger_headline"]))
    if "headline_streams" in spec:
        rd.mapping(raw, where, ("headline_streams",))
        inner = rd.mapping(spec["headline_streams"], f"{where}.headline_streams", ("within_days", "gte"),
                           ("within_days", "gte"))
        return Condition("headline_streams", value=rd.number(inner["gte"], f"{where}.gte", 1, 4),
                         within_days=int(rd.number(inner["within_days"], f"{where}.within_days", 1)))
    raise rd.fail(where, "unknown condition (indicator, headline_indicator, fact, score, dimension, "
                  "trigger_headline, headline_streams)")


def _level(rd: _Reader, raw: Any, where: str) -> Level:
    if raw not in ("H", "M", "L"):
        raise rd.fail(f"{where}.level", "must be H, M or L")
    return Level[raw]


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate rules.yaml.  Raises RuleConfigError naming file, rule and field."""
    name = str(path)
    rd = _Reader(name)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise rd.fail("file", f"cannot be read ({exc.strerror})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        raise rd.fail(where, "is not valid YAML") from None
    top = rd.mapping(doc, "top level", ("version", "regions", "scoring", "dimensions", "levels", "alerts",
                                        "rules", "needs", "indicators"),
                     ("regions", "scoring", "dimensions", "levels", "rules", "indicators"))
    # regions
    regions_raw = rd.mapping(top["regions"], "regions")
    if "default" not in regions_raw:
        raise rd.fail("regions.default", "is required (the fallback for unknown regions)")
    regions: dict[str, dict[str, Any]] = {}
    for code, block in regions_raw.items():
        where = f"regions.{code}"
        if code != "default" and not (code.isdigit() and len(code) in (2, 4, 6)):
            raise rd.fail(where, "region keys are 'default' or a 2, 4 or 6-digit code")
        spec = rd.mapping(block, where, (*_REGION_KEYS, "indicators"),
                          _REGION_KEYS if code == "default" else ())
        regions[code] = {k: (v if k == "indicators" else rd.typed(_REGION_KINDS[k], v, f"{where}.{k}"))
                         for k, v in spec.items()}
    # scoring and dimensions
    scoring = rd.mapping(top["scoring"], "scoring", ("points", "corroboration", "multi_dimension_bonus",
                                                     "multi_dimension_floor"),
                         ("points", "corroboration", "multi_dimension_bonus", "multi_dimension_floor"))
    pts = rd.mapping(scoring["points"], "scoring.points", ("L", "M", "H"), ("L", "M", "H"))
    points = {Level.NONE: 0.0, **{Level[k]: rd.number(v, f"scoring.points.{k}", 0, 100) for k, v in pts.items()}}
    dims = rd.mapping(top["dimensions"], "dimensions", tuple(d.value for d in Dimension),
                      tuple(d.value for d in Dimension))
    dim_weights = {Dimension(k): rd.number(rd.mapping(v, f"dimensions.{k}", ("weight",), ("weight",))["weight"],
                                           f"dimensions.{k}.weight", 0, 1) for k, v in dims.items()}
    if abs(sum(dim_weights.values()) - 1.0) > 1e-6:
        raise rd.fail("dimensions", f"weights sum to {sum(dim_weights.values()):.4f}, not 1")
    # levels
    levels = rd.mapping(top["levels"], "levels", ("red", "orange", "yellow", "watch"),
                        ("red", "orange", "yellow", "watch"))
    bands = []
    for band in ("red", "orange", "yellow", "watch"):
        spec = rd.mapping(levels[band], f"levels.{band}", ("min_score", "verify_within_days"), ("min_score",))
        days = spec.get("verify_within_days")
        bands.append(LevelBand(band, rd.number(spec["min_score"], f"levels.{band}.min_score", 0, 100),
                               int(rd.number(days, f"levels.{band}.verify_within_days", 0)) if days is not None
                               else None))
    if [b.min_score for b in bands] != sorted((b.min_score for b in bands), reverse=True):
        raise rd.fail("levels", "min_score must fall from red to watch")
    alerts = rd.mapping(top.get("alerts", {}), "alerts", ("open_alert_days", "reasons"))
    # indicators
    ind_raw = rd.mapping(top["indicators"], "indicators")
    for ind_id in ind_raw:
        if ind_id not in REGISTRY:
            raise rd.fail(f"indicators.{ind_id}", "unknown indicator id")
    missing = [i for i in REGISTRY.ids() if i not in ind_raw]
    if missing:
        raise rd.fail(f"indicators.{missing[0]}", "is missing (every registered indicator needs settings)")
    settings = {i: _indicator_setting(rd, ind_raw[i], f"indicators.{i}", None, REGISTRY[i])
                for i in REGISTRY.ids()}
    _check_weights(rd, settings, "indicators")
    region_settings: dict[str, dict[str, IndicatorSetting]] = {}
    for code, block in regions.items():
        if "indicators" not in block:
            continue
        overrides = rd.mapping(block["indicators"], f"regions.{code}.indicators")
        merged = dict(settings)
        for ind_id, raw in overrides.items():
            if ind_id not in REGISTRY:
                raise rd.fail(f"regions.{code}.indicators.{ind_id}", "unknown indicator id")
            merged[ind_id] = _indicator_setting(rd, raw, f"regions.{code}.indicators.{ind_id}", settings[ind_id],
                                                REGISTRY[ind_id])
        _check_weights(rd, merged, f"regions.{code}.indicators")
        region_settings[code] = merged
    # rules
    if not isinstance(top["rules"], list) or not top["rules"]:
        raise rd.fail("rules", "must be a non-empty list")
    rules, seen = [], set()
    for i, raw in enumerate(top["rules"]):
        spec = rd.mapping(raw, f"rules[{i}]", ("id", "level", "family", "summary", "when"),
                          ("id", "level", "family", "when"))
        rid = str(spec["id"])
        where = f"rule '{rid}'"
        if rid in seen:
            raise rd.fail(f"{where}.id", "duplicate rule id")
        seen.add(rid)
        if spec["level"] not in ALERT_LEVELS:
            raise rd.fail(f"{where}.level", f"must be one of {', '.join(ALERT_LEVELS)}")
        if spec["family"] not in ("trigger", "indicator", *(f.value for f in Family)):
            raise rd.fail(f"{where}.family", "must be trigger, indicator or a trigger family")
        if not isinstance(spec["when"], list) or not spec["when"]:
            raise rd.fail(f"{where}.when", "must be a non-empty list of conditions")
        when = tuple(_condition(rd, c, f"{where}.when[{j}]") for j, c in enumerate(spec["when"]))
        if spec["family"] == "indicator" and not any(c.kind == "headline_indicator" for c in when):
            raise rd.fail(f"{where}.family", "'indicator' needs a headline_indicator condition")
        rules.append(AlertRule(rid, spec["level"], spec["family"], str(spec.get("summary", rid)), when))
    needs_raw = rd.mapping(top.get("needs", {}), "needs")
    needs = {}
    for ind_id, items in needs_raw.items():
        if ind_id not in REGISTRY:
            raise rd.fail(f"needs.{ind_id}", "unknown indicator id")
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise rd.fail(f"needs.{ind_id}", "must be a list of need codes")
        needs[ind_id] = tuple(items)
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str).encode()
    return RuleSet(
        path=name, version=hashlib.sha256(canonical).hexdigest()[:12], regions=regions, points=points,
        corroboration=rd.number(scoring["corroboration"], "scoring.corroboration", 0, 1),
        multi_dimension_bonus=rd.number(scoring["multi_dimension_bonus"], "scoring.multi_dimension_bonus", 0),
        multi_dimension_floor=rd.number(scoring["multi_dimension_floor"], "scoring.multi_dimension_floor", 0),
        dimension_weights=dim_weights, bands=tuple(bands),
        open_alert_days=int(rd.number(alerts.get("open_alert_days", 90), "alerts.open_alert_days", 0)),
        reasons=int(rd.number(alerts.get("reasons", 5), "alerts.reasons", 1, 67)),
        rules=tuple(rules), needs=needs, indicators=settings, region_indicators=region_settings,
    )


def _check_weights(rd: _Reader, settings: Mapping[str, IndicatorSetting], where: str) -> None:
    for dim in Dimension:
        total = sum(s.weight for i, s in settings.items() if REGISTRY[i].dimension is dim)
        if abs(total - 1.0) > 1e-6:
            raise rd.fail(f"{where} ({dim.value})", f"weights sum to {total:.4f}, not 1")


def indicator_setting(path: str | Path, indicator_id: str, region: str | None = None) -> IndicatorSetting:
    """One indicator's settings read straight from a rules file (used by the per-indicator YAML cases).

    A region's `indicators` override, when given, is layered over the global setting.
    """
    rd = _Reader(str(path))
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    base = _indicator_setting(rd, doc["indicators"][indicator_id], f"indicators.{indicator_id}", None,
                              REGISTRY[indicator_id])
    for key in ((region, region[:4], region[:2]) if region else ()):
        override = doc["regions"].get(key, {}).get("indicators", {}).get(indicator_id)
        if override is not None:
            return _indicator_setting(rd, override, f"regions.{key}.indicators.{indicator_id}", base,
                                      REGISTRY[indicator_id])
    return base


def region_params(path: str | Path, code: str) -> Region:
    """Region parameters read straight from a rules file, without validating the rest of it."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    merged: dict[str, Any] = dict(doc["regions"]["default"])
    for key in (code[:2], code[:4], code):
        merged.update({k: v for k, v in doc["regions"].get(key, {}).items() if k != "indicators"})
    return Region(code=code, **{f.name: merged[f.name] for f in fields(Region) if f.name != "code"})
