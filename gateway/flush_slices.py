"""The hub's flush in slices: the sockets a fanout touched are written a few ms at a time.

A fanout queues frames on every recipient's session and flushes each touched connection
once, at the end of the loop iteration (one write per socket: docs/architecture.md, "Encode
once, write once"). To 10,000 sockets that round is ~50-100 ms of one core's writes (the
measured facts), during which the loop does nothing else: no heartbeat is ACKed, no read
handled, and the router's next durable write waits to be published. So a round is written in
slices of at most ``budget_s``; between two slices the loop polls its sockets and runs what
became ready. A connection touched again meanwhile (the next message) is written with the
rest of the round if it is still ahead, else in the next round: per socket, frames keep
their order (they are queued in its session), and one write still carries every frame
queued for it by then, so coalescing is unchanged.

Sans I/O: the clock is given, and a connection is anything with ``flush()``
(:class:`~gateway.audience.Conn`); the hub schedules the next slice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.audience import Conn

__all__ = ["FlushSlices"]

logger = logging.getLogger(__name__)


class FlushSlices:
    """Connections to flush, oldest touch first, written ``budget_s`` at a time.

    Args:
        budget_s: the longest one :meth:`run` writes (checked after each socket, so a slice
            ends at most one write past it); 0: every pending connection at once.
        clock: seconds (``time.perf_counter``; a test's own).

    Attributes:
        touched: connections touched since the current round was taken (an ordered set:
            the hub adds to it on every push, so it is a dict and the hub's hot loop does one
            store per recipient).
    """

    __slots__ = ("_budget_s", "_clock", "_next", "_round", "touched")

    def __init__(self, budget_s: float,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._budget_s = budget_s
        self._clock = clock
        self.touched: dict[Conn, None] = {}
        # The round being written and the index of its next connection. A list with an index,
        # not pops from the front of a dict: those rescan the deleted slots, O(n²) per round.
        self._round: list[Conn] = []
        self._next = 0

    @property
    def in_round(self) -> bool:
        """Whether a round is partly written (the next :meth:`run` goes on with it)."""
        return self._next < len(self._round)

    @property
    def pending(self) -> bool:
        """Whether some connection waits to be flushed."""
        return self._next < len(self._round) or bool(self.touched)

    def run(self, whole: bool = False) -> bool:
        """Flush one slice (``whole``: everything pending, e.g. on close).

        Returns:
            whether connections are left: call again after the loop did its other work.
        """
        if whole:
            while self._slice(True):
                pass
            return False
        return self._slice(False)

    def _slice(self, unbounded: bool) -> bool:
        if self._next >= len(self._round):
            if not self.touched:
                return False
            self._round, self.touched, self._next = list(self.touched), {}, 0
        batch, i, end = self._round, self._next, len(self._round)
        unbounded = unbounded or self._budget_s <= 0
        clock = self._clock
        deadline = 0.0 if unbounded else clock() + self._budget_s
        while i < end:
            conn = batch[i]
            i += 1
            try:
                conn.flush()
            except Exception:  # one broken socket must not starve the others
                logger.exception("flushing a gateway connection failed")
            if not unbounded and clock() >= deadline:
                break
        if i >= end:
            self._round, self._next = [], 0
        else:
            self._next = i
        return self.pending
