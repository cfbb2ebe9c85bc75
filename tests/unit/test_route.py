"""Stage 2: time-aware membership routing."""

from __future__ import annotations

from monitor.pipeline.route import Directory


def test_a_person_is_routed_to_the_household_they_belonged_to_at_the_time() -> None:
    d = Directory()
    d.add("p1", "H1")
    d.add("p1", "H2", since=1000)
    assert d.resolve("p1", 999) == "H1"
    assert d.resolve("p1", 1000) == "H2"
    assert d.resolve("p1", 5000) == "H2"
    assert d.resolve("nobody", 5) is None


def test_a_newborn_known_only_from_a_later_time_resolves_to_that_household_earlier_too() -> None:
    d = Directory()
    d.add("baby", "H9", since=500)
    assert d.resolve("baby", 100) == "H9"


def test_the_store_is_reassigned_so_changelogged_tables_see_the_write() -> None:
    writes = []

    class Recording(dict):  # type: ignore[type-arg]
        def __setitem__(self, key, value):  # type: ignore[no-untyped-def]
            writes.append(key)
            super().__setitem__(key, value)

    d = Directory(Recording())
    d.add("p1", "H1")
    d.add("p1", "H2", since=10)
    assert writes == ["p1", "p1"]
