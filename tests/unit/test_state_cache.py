"""The worker's state cache: least recently used out first, within a budget of encoded bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.pipeline.profile import HouseholdState
from monitor.runtime.state_cache import StateCache

# The cache never looks inside a state: a string stands in for one here.


def _state(name: str) -> HouseholdState:
    return name  # type: ignore[return-value]


def test_the_least_recently_used_go_first_when_over_budget() -> None:
    cache = StateCache(max_bytes=100)
    cache.put("a", _state("a"), 40)
    cache.put("b", _state("b"), 40)
    assert cache.get("a") == "a"  # a is now the most recently used
    cache.put("c", _state("c"), 40)  # 120 > 100: b goes, not a
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), cache.bytes, len(cache)) == ("a", "c", 80, 2)


def test_a_state_larger_than_the_budget_is_not_kept_nor_its_older_copy() -> None:
    cache = StateCache(max_bytes=100)
    cache.put("a", _state("a"), 30)
    cache.put("a", _state("a2"), 101)
    assert (cache.get("a"), cache.bytes, len(cache)) == (None, 0, 0)


def test_putting_again_replaces_the_size_and_pop_and_clear_forget() -> None:
    cache = StateCache(max_bytes=100)
    cache.put("a", _state("a"), 30)
    cache.put("a", _state("a2"), 50)
    assert (cache.get("a"), cache.bytes) == ("a2", 50)
    cache.put("b", _state("b"), 20)
    cache.pop("a")
    cache.pop("missing")
    assert (cache.get("a"), cache.bytes, len(cache)) == (None, 20, 1)
    cache.clear()
    assert (cache.get("b"), cache.bytes, len(cache)) == (None, 0, 0)


@given(st.lists(st.tuples(st.sampled_from(["get", "put", "pop"]), st.sampled_from("abcdef"),
                          st.integers(min_value=0, max_value=60)), max_size=80))
def test_it_behaves_like_a_model_lru_within_its_budget(steps: list[tuple[str, str, int]]) -> None:
    cache = StateCache(max_bytes=100)
    model: list[tuple[str, int]] = []  # least recently used first
    for op, key, size in steps:
        held = dict(model)
        if op == "get":
            assert cache.get(key) == (key if key in held else None)
            if key in held:
                model = [e for e in model if e[0] != key] + [(key, held[key])]
        elif op == "put":
            cache.put(key, _state(key), size)
            model = [e for e in model if e[0] != key] + ([(key, size)] if size <= 100 else [])
            while sum(s for _, s in model) > 100:
                model.pop(0)
        else:
            cache.pop(key)
            model = [e for e in model if e[0] != key]
        assert cache.bytes == sum(s for _, s in model) <= 100
        assert len(cache) == len(model)


@pytest.mark.parametrize("size", [0, 100])
def test_the_budget_is_inclusive(size: int) -> None:
    cache = StateCache(max_bytes=100)
    cache.put("a", _state("a"), size)
    assert cache.get("a") == "a"
