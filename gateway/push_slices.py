"""The hub's per-recipient pushes in slices: a fanout to 10,000 sessions is queued a few ms
at a time.

A fanout calls ``session.push`` once per recipient (number the dispatch, keep it for RESUME,
queue it), ~1-2 µs each: to 10,000 recipients 15-20 ms of one callback on the bench machine
(``bench bigchannel``, a sampler of the loop thread during its stalls: bench/RESULTS.md,
"10,000-member channels"), and a bus batch of several messages that many times over. The
writes were already sliced (:mod:`gateway.flush_slices`); this slices the pushes: a fanout's
recipients are pushed ``budget_s`` at a time, and the loop polls its sockets and runs what is
ready in between (heartbeat ACKs, reads, the flush of the recipients already pushed).

Order: fanouts are pushed oldest first, each to its recipients in its audience's order, and
the hub publishes no later event while one is unfinished (it waits in the hub's backlog, like
an event behind a store read), so every session gets its dispatches in bus order, with
consecutive ``s``. Durable before delivered is untouched: an event reaches the hub once its
write committed; slicing only spreads when its frames are queued.

Sans I/O: the clock is given; a member is ``(conn, push)`` as :class:`~gateway.audience.Audience`
groups them, and ``push(parts)`` says whether ``conn`` must be flushed.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from gateway.audience import Conn

__all__ = ["CHUNK", "Group", "PushSlices"]

logger = logging.getLogger(__name__)

# Recipients pushed between two clock reads: the budget is checked per chunk, not per
# recipient (a clock read is ~5% of a push). 256 pushes are ~0.3-0.5 ms here, the
# granularity by which a slice may overrun its budget.
CHUNK = 256

Member = tuple[Conn, Callable[[Any], bool]]
# (the parts every member of the group is pushed, the members)
Group = tuple[Any, Sequence[Member]]


class _Build:
    """A fanout whose audience is still being made: ``step()`` adds a chunk of candidates and
    returns None, or, with the last one, the groups to push (``Hub._built``)."""

    __slots__ = ("step",)

    def __init__(self, step: Callable[[], Sequence[Group] | None]) -> None:
        self.step = step


class _Fanout:
    """One event's pushes not done yet: its groups, the current one and where in it."""

    __slots__ = ("groups", "i", "members", "parts")

    def __init__(self, groups: Sequence[Group]) -> None:
        self.groups: deque[Group] = deque(groups)
        self.parts, self.members = self.groups.popleft()  # not empty: PushSlices.add
        self.i = 0


class PushSlices:
    """Fanouts whose pushes are not all done, oldest first, pushed ``budget_s`` at a time.

    Args:
        budget_s: the longest one :meth:`run` pushes (checked every ``chunk`` recipients);
            0: everything pending at once.
        clock: seconds (``time.perf_counter``; a test's own).
        chunk: recipients between two clock reads.
    """

    __slots__ = ("_budget_s", "_chunk", "_clock", "_queue")

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.perf_counter,
                 chunk: int = CHUNK) -> None:
        self._budget_s = budget_s
        self._clock = clock
        self._chunk = chunk
        self._queue: deque[_Fanout | _Build] = deque()

    @property
    def pending(self) -> bool:
        """Whether some fanout is not fully pushed (the hub holds later events back)."""
        return bool(self._queue)

    def add(self, groups: Sequence[Group]) -> None:
        """Queue one event's pushes: ``groups`` of ``(parts, members)``, pushed in order."""
        if groups:
            self._queue.append(_Fanout(groups))

    def add_build(self, step: Callable[[], Sequence[Group] | None]) -> None:
        """Queue a fanout whose audience is made by ``step`` a chunk at a time (an audience
        of 10,000 is 10-20 ms to make): called until it returns the groups, then pushed."""
        self._queue.append(_Build(step))

    def run(self, touched: dict[Conn, None], whole: bool = False) -> bool:
        """Push for at most ``budget_s`` (``whole``: everything pending), oldest fanout first;
        each member whose push returns True goes into ``touched`` (the hub's connections to
        flush, ``FlushSlices.touched``).

        Returns:
            whether pushes are left: call again after the loop did its other work.
        """
        queue, chunk, clock = self._queue, self._chunk, self._clock
        bounded = not whole and self._budget_s > 0
        deadline = clock() + self._budget_s if bounded else 0.0
        while queue:
            fanout = queue[0]
            try:
                if isinstance(fanout, _Build):
                    groups = fanout.step()
                    if groups is not None:  # made: its pushes take its place, first in line
                        if groups:
                            queue[0] = _Fanout(groups)
                        else:
                            queue.popleft()
                else:
                    i, members = fanout.i, fanout.members
                    parts, end = fanout.parts, i + chunk
                    for conn, push in members[i:end]:  # the hot loop: one call per recipient
                        if push(parts):
                            touched[conn] = None
                    fanout.i = end
                    if end >= len(members):  # this group done: the next, or the next fanout
                        if fanout.groups:
                            fanout.parts, fanout.members = fanout.groups.popleft()
                            fanout.i = 0
                        else:
                            queue.popleft()
            except Exception:
                # Dropped, as an event whose publish raised was: left first in line, it would
                # fail again at every run and hold every later event back.
                logger.exception("a fanout failed: the rest of its recipients are skipped")
                if queue and queue[0] is fanout:
                    queue.popleft()
            if bounded and clock() >= deadline:
                return bool(queue)
        return False
