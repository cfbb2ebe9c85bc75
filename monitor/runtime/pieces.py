"""Independent pieces of work, here or in a pool of forked processes, their results taken back in order.

Households are independent of each other once their events are known, so `monitor run` applies them,
and `monitor snapshot` evaluates their portraits, in pieces spread over processes.  The caller keeps the
order: results come back in the order the pieces were given, so the output is the same, row for row,
whatever the number of processes.  With one job the work runs in the caller's process, piece by piece,
and nothing is encoded.

The processes are forked, so the work function reaches them as it is (a closure over the rules, the
pseudonymiser, ...: nothing of it is pickled, only each piece), and each sends its result back
msgpack-encoded (decoding a portrait that way costs 31 us, unpickling one 53 us, and the caller is the
one that also builds the columns).  They are forked when the pool is made: make it before the caller
starts any thread of its own (a fork copies no thread, and a lock another thread held stays locked in
the child).  `ProcessPoolExecutor`, not `multiprocessing.Pool`: a process that dies fails the caller
with BrokenProcessPool instead of hanging it.
"""

from __future__ import annotations

import collections
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["PiecePool"]

P = TypeVar("P")
R = TypeVar("R")
_work: Callable[[Any], bytes] | None = None  # in a pool process: the (encoding) work it was forked with
_encoder = msgspec.msgpack.Encoder()


class PiecePool(Generic[P, R]):
    """`work(piece) -> R` over pieces, here (`jobs` 1) or in `jobs` forked processes; `in_order` yields in order.

    `result` is R's type, for decoding what a process sends back (a msgspec Struct).
    """

    def __init__(self, work: Callable[[P], R], result: type[R], jobs: int) -> None:
        self.work = work
        self.pool: ProcessPoolExecutor | None = None
        if jobs > 1:
            self._decoder = msgspec.msgpack.Decoder(result)
            self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_install, initargs=(self._work_encoded,))
            # A few pieces per process in flight: the processes never wait for the caller, and the caller
            # takes each result, in order, as soon as it is there.
            self.ahead = 4 * jobs
            self.pool.submit(int).result()  # with fork, the first submit starts every process: now, not later

    def __enter__(self) -> PiecePool[P, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def _work_encoded(self, piece: P) -> bytes:
        return _encoder.encode(self.work(piece))

    def in_order(self, pieces: Iterable[P]) -> Iterator[R]:
        """Each piece's result, in the order of `pieces` (which are taken only as the work needs them)."""
        if self.pool is None:
            for piece in pieces:
                yield self.work(piece)
            return
        in_flight: collections.deque[Future[bytes]] = collections.deque()
        for piece in pieces:
            in_flight.append(self.pool.submit(_run, piece))
            if len(in_flight) > self.ahead:
                yield self._decoder.decode(in_flight.popleft().result())
        while in_flight:
            yield self._decoder.decode(in_flight.popleft().result())


def _install(work: Callable[[Any], bytes]) -> None:
    global _work  # noqa: PLW0603 - a pool process's one job, set once when it starts
    _work = work


def _run(piece: Any) -> bytes:
    assert _work is not None
    return _work(piece)
