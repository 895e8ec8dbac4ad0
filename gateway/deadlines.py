"""Every session's next deadline in one heap, swept a few ms at a time.

The gateway checks heartbeat, identify and resume timeouts with one timer for the worker
(``gateway.server``), not one per session: each session sits in a heap at a deadline no later
than its real one (a heartbeat only pushes the real one back), and the sweep pops what is due,
ticks it and pushes it again at its current deadline. With 10,000 sessions heartbeating every
few seconds, thousands come due per sweep, nearly all of them stale (they heartbeated since).
Popped in one callback that was a 17-58 ms stall of the loop once a second in
``bench bigchannel`` (the sweep also wrote every popped socket's pending fanout frames, outside
the flush's slices); so a sweep runs at most ``budget_s`` and the rest waits for the next
slice, after the loop polled its sockets (bench/RESULTS.md, "10,000-member channels").

Sans I/O: the clock is given; what a popped entry means is the caller's ``visit``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["DeadlineSweep"]

T = TypeVar("T")


class DeadlineSweep(Generic[T]):
    """Items due at a deadline, swept in slices of at most ``budget_s``.

    Args:
        budget_s: the longest one :meth:`run` visits (checked after each item, so a slice
            ends at most one visit past it); 0: everything due at once.
        clock: seconds, for the budget (``time.perf_counter``; a test's own).
    """

    __slots__ = ("_budget_s", "_clock", "_heap", "_order")

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self._budget_s = budget_s
        self._clock = clock
        # (deadline, insertion order, item): the order breaks ties, items are never compared.
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, item: T, deadline: float | None) -> None:
        """Visit ``item`` once ``deadline`` has passed (None: never)."""
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._order), item))

    def run(self, now: float, visit: Callable[[T], float | None]) -> bool:
        """Visit the items due at ``now``, oldest deadline first, for at most ``budget_s``.

        ``visit(item)`` returns the item's next deadline (scheduled again) or None (dropped).

        Returns:
            whether items due at ``now`` are left: run again after the loop's other work.
        """
        heap, clock = self._heap, self._clock
        bounded = self._budget_s > 0
        deadline = clock() + self._budget_s if bounded else 0.0
        # Pushed back after the loop: an item whose next deadline is already due is visited
        # by the next run, not again by this one (no endless slice).
        again: list[tuple[float, int, T]] = []
        while heap and heap[0][0] <= now:
            item = heapq.heappop(heap)[2]
            nxt = visit(item)
            if nxt is not None:
                again.append((nxt, next(self._order), item))
            if bounded and clock() >= deadline:
                break
        for entry in again:
            heapq.heappush(heap, entry)
        return bool(heap) and heap[0][0] <= now
