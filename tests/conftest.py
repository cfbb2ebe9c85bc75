"""Test tiers (style.md G9): unmarked tests are `unit`; `soak` runs only with --run-soak."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.pipeline.rules import RuleSet, load_rules

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    """The project's rules.yaml, loaded once for every test that asks for it."""
    return load_rules(ROOT / "rules.yaml")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-soak", action="store_true", default=False, help="run the long soak tier")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_soak = config.getoption("--run-soak")
    for item in items:
        if not any(item.iter_markers(name) for name in ("kafka", "soak", "e2e")):
            item.add_marker(pytest.mark.unit)
        if item.get_closest_marker("soak") and not run_soak:
            item.add_marker(pytest.mark.skip(reason="soak tier: run with `make soak`"))
