"""Independent pieces of work in a pool of forked processes, their results taken back in order.

Households are independent of each other once their events are known, so `monitor run` applies them,
and `monitor snapshot` evaluates their portraits, in pieces spread over processes.  The caller keeps the
order: results come back in the order the pieces were given, so the output is the same, row for row,
whatever the number of processes.

The processes are forked, so the work function reaches them as it is (a closure over the rules, the
pseudonymiser, ...: nothing of it is pickled, only each piece and its result), and they are forked when
the pool is made: make it before the caller starts any thread of its own (a fork copies no thread, and
a lock another thread held stays locked in the child).  `ProcessPoolExecutor`, not `multiprocessing.Pool`:
a process that dies fails the caller with BrokenProcessPool instead of hanging it.
"""

from __future__ import annotations

import collections
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

__all__ = ["PiecePool"]

Work = Callable[[Any], bytes]
_work: Work | None = None  # in a pool process: the work it was forked with


class PiecePool:
    """`jobs` forked processes that run `work(piece) -> bytes`; `in_order` yields the results in piece order."""

    def __init__(self, work: Work, jobs: int) -> None:
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                        initializer=_install, initargs=(work,))
        # A few pieces per process in flight: the processes never wait for the caller, and the caller
        # takes each result, in order, as soon as it is there.
        self.ahead = 4 * jobs
        self.pool.submit(int).result()  # with fork, the first submit starts every process: now, not later

    def __enter__(self) -> PiecePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(cancel_futures=True)

    def in_order(self, pieces: Iterable[Any]) -> Iterator[bytes]:
        """Each piece's result, in the order of `pieces` (which are taken only as processes need them)."""
        in_flight: collections.deque[Future[bytes]] = collections.deque()
        for piece in pieces:
            in_flight.append(self.pool.submit(_run, piece))
            if len(in_flight) > self.ahead:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def _install(work: Work) -> None:
    global _work  # noqa: PLW0603 - a pool process's one job, set once when it starts
    _work = work


def _run(piece: Any) -> bytes:
    assert _work is not None
    return _work(piece)
