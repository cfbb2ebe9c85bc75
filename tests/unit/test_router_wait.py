"""The router waiting for its directory: how long it keeps an unknown person, and how it waits.

`hold_unknown_person`, `Progress` and `SentFacts` need no broker; the merger's wait is driven here by hand through a
stand-in for the few faust attributes it reads (the Kafka tests run the same code inside real workers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from faust.types import TP

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.runtime.engine import REFERENCE_SETTLE_S, Progress, hold_unknown_person
from monitor.runtime.merger import InputMerger
from monitor.runtime.offsets import OffsetLedger
from monitor.runtime.sent_facts import SentFacts

pytestmark = pytest.mark.unit


WAIT_S = Settings.from_env({}).person_wait_s


def test_an_unknown_person_waits_only_while_registry_data_is_pending() -> None:
    assert hold_unknown_person(True, taken=100.0, moved_at=0.0, now=101.0, wait_s=WAIT_S)
    assert not hold_unknown_person(False, taken=100.0, moved_at=0.0, now=101.0, wait_s=WAIT_S)


def test_the_wait_runs_from_the_later_of_arrival_and_the_last_progress() -> None:
    taken = 100.0
    late = taken + WAIT_S + 30.0  # long past the arrival's own wait
    assert not hold_unknown_person(True, taken, moved_at=taken, now=late, wait_s=WAIT_S)
    assert hold_unknown_person(True, taken, moved_at=late - 1.0, now=late, wait_s=WAIT_S)  # the directory fills
    assert not hold_unknown_person(True, taken, moved_at=late - WAIT_S, now=late, wait_s=WAIT_S)  # ... then stalls


def test_data_that_just_moved_may_have_more_on_its_way() -> None:
    # the consumer's partition ends lag behind facts just written: caught up is not yet done
    now = 100.0
    assert hold_unknown_person(False, taken=90.0, moved_at=now - REFERENCE_SETTLE_S / 2, now=now, wait_s=WAIT_S)
    assert not hold_unknown_person(False, taken=90.0, moved_at=now - REFERENCE_SETTLE_S, now=now, wait_s=WAIT_S)


def test_person_wait_setting() -> None:
    assert WAIT_S == 10.0
    assert Settings.from_env({"MONITOR_PERSON_WAIT_MS": "1500"}).person_wait_s == 1.5
    for bad in ("-1", "1.5", "ten", "600001"):
        with pytest.raises(ConfigError, match="MONITOR_PERSON_WAIT_MS"):
            Settings.from_env({"MONITOR_PERSON_WAIT_MS": bad})


def test_progress_remembers_when_the_count_last_changed() -> None:
    progress = Progress()
    assert progress.note(5, now=1.0) == 1.0
    for now in (1.1, 1.2, 1.3):  # looked at every 0.1 s, as the worker's timer does
        assert progress.note(5, now) == 1.0
    assert progress.note(9, now=1.4) == 1.4
    assert progress.note(9, now=1.5) == 1.4


def test_time_the_worker_stood_still_is_not_time_the_data_failed_to_move() -> None:
    progress = Progress()
    progress.note(5, now=10.0)
    progress.note(5, now=10.4)  # looking: 0.4 s without a change
    moved_at = progress.note(5, now=13.4)  # then 3 s without a look (the process stopped)
    assert moved_at == 13.0 and 13.4 - moved_at == pytest.approx(0.4)
    assert not hold_unknown_person(True, taken=9.0, moved_at=10.0, now=13.4, wait_s=1.5)  # what the gap did before
    assert hold_unknown_person(True, taken=9.0, moved_at=moved_at, now=13.4, wait_s=1.5)
    assert progress.note(5, now=13.5) == moved_at  # looking again: the wait runs on
    assert progress.note(6, now=13.6) == 13.6


def test_a_fact_this_worker_sent_is_pending_until_its_offset_is_applied() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        facts = SentFacts()
        first, second, lost = loop.create_future(), loop.create_future(), loop.create_future()
        for delivery in (first, second, lost):
            facts.track(delivery)
        assert facts.unacknowledged == 3
        first.set_result(_Metadata(partition=2, offset=7))
        second.set_result(_Metadata(partition=2, offset=5))  # acknowledgements may come in any order
        lost.set_exception(RuntimeError("not written"))
        await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
        assert facts.unacknowledged == 0
        assert facts.pending(2, handled=7)  # the fact at offset 7 is not applied yet
        assert not facts.pending(2, handled=8)
        assert not facts.pending(3, handled=0)  # nothing sent there

    asyncio.run(scenario())


@dataclass
class _Metadata:
    partition: int
    offset: int


@dataclass
class _Message:
    tp: TP
    offset: int


@dataclass(eq=False)
class _Event:
    message: _Message


class _Consumer:
    def __init__(self, tps: list[TP]) -> None:
        self.tps = tps

    def assignment(self) -> set[TP]:
        return set(self.tps)

    def highwater(self, tp: TP) -> int:
        return 0


class _FlowControl:
    def is_active(self) -> bool:
        return True


@dataclass
class _App:
    consumer: _Consumer
    flow_control: _FlowControl = field(default_factory=_FlowControl)


class _Stream:
    async def ack(self, ev: Any) -> bool:
        return True


def _router(tp: TP, answers: list[bool]) -> tuple[InputMerger, OffsetLedger, list[int]]:
    """A router merger on one partition whose handler answers `answers` in turn (then ready), and what it handled."""
    ledger = OffsetLedger()
    ledger.seed(ledger.generation, {tp: 0})
    handled: list[int] = []

    async def handle(_item: Any, ev: _Event) -> bool:
        ready = answers.pop(0) if answers else True
        if ready:
            handled.append(ev.message.offset)
        return ready

    merger = InputMerger(_App(_Consumer([tp])), ledger, ["inputs"], 1, name="router",
                         prepare=lambda ev: (ev.message.offset, None), handle=handle)
    merger.stream = _Stream()
    return merger, ledger, handled


def test_a_merger_told_not_yet_tries_again_at_its_tick_not_at_every_message() -> None:
    tp = TP("inputs", 0)
    answers = [False, True, True, True]  # the first try of the first message: "not yet" (directory pending)
    merger, ledger, handled = _router(tp, answers)

    async def scenario() -> None:
        for offset in range(3):
            await merger.add(_Event(_Message(tp, offset)))
        assert handled == [] and len(answers) == 3  # asked once, then left alone while messages arrive
        assert merger.buffered == 3
        await merger.tick()

    asyncio.run(scenario())
    assert handled == [0, 1, 2]
    assert answers == []  # asked four times: once before the tick, then once per message
    assert ledger.handled[tp] == 3
    assert merger.buffered == 0


def test_a_dropped_buffer_takes_its_not_yet_with_it() -> None:
    """After a rebalance drops the buffer, a message read again is released at once, not at the next tick."""
    tp = TP("inputs", 0)
    merger, ledger, handled = _router(tp, [False])  # the first try: "not yet"; every later one: ready

    async def scenario() -> None:
        await merger.add(_Event(_Message(tp, 0)))
        assert handled == [] and merger.waiting
        merger.drop()  # a rebalance: the ledger expects offset 0 again
        await merger.add(_Event(_Message(tp, 0)))

    asyncio.run(scenario())
    assert handled == [0]
    assert ledger.handled[tp] == 1
    assert merger.buffered == 0
