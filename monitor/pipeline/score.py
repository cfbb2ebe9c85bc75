"""Stage 3: indicators → dimension scores → household score (catalogue §4.1).

Points: none 0, L 30, M 60, H 100.  A dimension is its strongest indicator plus half the weighted
points of the others (so one trigger is never diluted by quiet indicators), capped at 100; the
household score is the weighted sum of dimensions plus a bonus for each further dimension at 60+.
"""

from __future__ import annotations

from operator import attrgetter

from msgspec import Struct

from indicators.base import Context, Dimension, Level
from monitor.pipeline.rules import RuleSet

__all__ = ["EMPTY_SCORES", "Reading", "Scores", "score_household"]


class Reading(Struct, frozen=True, array_like=True):
    """One indicator at L or above: its level, value, points, and the member and event behind it."""

    indicator_id: str
    dimension: str
    level: int
    value: float
    points: float
    weight: float
    subject: str | None
    evidence: str | None


class Scores(Struct, frozen=True):
    """The household's risk at one moment: score, dimension scores and the indicators behind them."""

    score: float
    dimensions: dict[str, float]
    readings: dict[str, Reading]

    def level_of(self, indicator_id: str) -> Level:
        """The indicator's level (NONE when it is not among the readings)."""
        reading = self.readings.get(indicator_id)
        return Level(reading.level) if reading else Level.NONE


def score_household(ctx: Context, rules: RuleSet) -> Scores:
    """Evaluate all 67 indicators on the context and combine them into scores."""
    readings: dict[str, Reading] = {}
    by_dimension: dict[str, list[Reading]] = {d: [] for d in _DIMENSION_IDS.values()}
    points = rules.points_by_level
    # The plan carries, per indicator, its id and dimension as plain strings, its function with the
    # region's parameters bound (`evaluate(ctx)` is `Indicator.evaluate(ctx, setting.params)`) and its
    # setting, so the loop below does no per-indicator lookups of its own.
    for indicator_id, dimension, evaluate, setting in rules.indicator_plan(ctx.facts.region):
        finding = evaluate(ctx)
        if finding is None:
            continue
        level = setting.level(finding.value)
        if not level:
            continue
        rank = int(level)
        reading = Reading(indicator_id, dimension, rank, round(float(finding.value), 4), points[rank],
                          setting.weight, finding.subject, finding.evidence)
        readings[indicator_id] = reading
        by_dimension[dimension].append(reading)
    dimensions = {dim: _dimension_score(found, rules.corroboration) for dim, found in by_dimension.items()}
    weighted = sum(weight * dimensions[dim_id] for dim_id, weight in rules.dimension_weights_by_id)
    strong = sum(1 for value in dimensions.values() if value >= rules.multi_dimension_floor)
    score = min(100.0, weighted + rules.multi_dimension_bonus * max(0, strong - 1))
    return Scores(round(score, 2), dimensions, readings)


_rank = attrgetter("points", "weight", "indicator_id")
# Dimension -> its id as a plain str, in declaration order (`.value` of an enum member is a slow property).
_DIMENSION_IDS: dict[Dimension, str] = {d: d.value for d in Dimension}


EMPTY_SCORES = Scores(0.0, {d.value: 0.0 for d in Dimension}, {})


def _dimension_score(found: list[Reading], corroboration: float) -> float:
    if not found:
        return 0.0
    top = max(found, key=_rank)
    rest = sum(r.weight * r.points for r in found if r is not top)
    return round(min(100.0, top.points + corroboration * rest), 2)
