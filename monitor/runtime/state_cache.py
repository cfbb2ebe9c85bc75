"""The worker's cache of decoded household states: least recently used out first, bounded by encoded size.

A cached state saves the household agent a table read and a msgpack decode (52 µs for a state of 9 KB) on
the household's next event. It also costs: every list, dict and struct of a decoded state is tracked by
Python's garbage collector, whose full collections walk all of them and stop the worker meanwhile. With up
to 20,000 states cached (1.1 million tracked objects), a worker loading a 33,000-household registry ran full
collections of 0.5 to 1.1 s, while alerts waited (BENCHMARKS.md, twelfth session). So the cache is small,
and bounded by the states' encoded size rather than their number: one household of 4,000 events weighs as
much as a few hundred ordinary ones.
"""

from __future__ import annotations

from collections import OrderedDict

from monitor.pipeline.profile import HouseholdState

__all__ = ["STATE_CACHE_BYTES", "StateCache"]

STATE_CACHE_BYTES = 8 << 20  # about 900 states of 9 KB: full collections of the worker stay near 0.1 s


class StateCache:
    """household_id → decoded state, holding at most `max_bytes` of states (by their encoded size)."""

    def __init__(self, max_bytes: int = STATE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._states: OrderedDict[str, tuple[HouseholdState, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, household_id: str) -> HouseholdState | None:
        """The cached state (now the most recently used), or None."""
        entry = self._states.get(household_id)
        if entry is None:
            return None
        self._states.move_to_end(household_id)
        return entry[0]

    def put(self, household_id: str, state: HouseholdState, size: int) -> None:
        """Cache `state`, `size` bytes encoded, dropping the least recently used states beyond the budget.

        A state larger than the whole budget is not kept (nor an older copy of it).
        """
        self.pop(household_id)
        if size > self.max_bytes:
            return
        self._states[household_id] = (state, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self._states.popitem(last=False)
            self.bytes -= dropped

    def pop(self, household_id: str) -> None:
        """Forget one household's state (it may be half-changed: the table has the last good one)."""
        entry = self._states.pop(household_id, None)
        if entry is not None:
            self.bytes -= entry[1]

    def clear(self) -> None:
        """Forget every state (on a partition revocation)."""
        self._states.clear()
        self.bytes = 0
