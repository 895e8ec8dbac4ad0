"""The event loop's lag, measured: a timer due every few ms and how late the loop ran it.

Everything a worker does runs on one loop, so any callback that runs long (a fanout round
to 10,000 sockets, a big READY) delays every other: heartbeat ACKs, reads, the next durable
message. The lateness of a timer due every ``interval_s`` is the delay any of them saw then
(up to the interval's granularity), which is what issue 16's "no stall over 10 ms" is
measured by. It lands in the worker's :class:`~core.metrics.LagTally`
(``discord_arch_loop_lag_seconds`` and ``_max_seconds`` on the ops port).

Full garbage collections are timed too (a ``gc.callbacks`` hook, two clock reads per
collection): with tens of thousands of sessions the heap is millions of objects, and a full
collection is the one stall no callback of ours shows.

Cheap on purpose: one callback per interval, a clock read and a few integer operations.
The clock is ``time.monotonic`` and not ``loop.time()``: uvloop's is libuv's time, cached
when the iteration began, so a callback that runs long would not be seen late by it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

from core.metrics import LagTally

__all__ = ["LoopLagProbe"]


class LoopLagProbe:
    """A timer every ``interval_s`` that records in ``tally`` how late each one ran.

    Args:
        interval_s: the period (> 0); the smaller, the finer the stalls it sees.
        tally: where the lags go.
        clock: seconds, monotonic (a test's own).
        cpu_clock: the loop thread's CPU seconds (``time.thread_time``): the part of a lag
            the loop ran for, apart from the time another process had the CPU.
    """

    def __init__(self, interval_s: float, tally: LagTally,
                 clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.thread_time) -> None:
        self.interval_s = interval_s
        self.tally = tally
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._cpu_armed = 0.0
        self._due = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._gc_start = 0.0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._arm()
        gc.callbacks.append(self.on_gc)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.on_gc in gc.callbacks:
            gc.callbacks.remove(self.on_gc)

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        """``gc.callbacks``: time the collections of the oldest generation."""
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._gc_start = self._clock()
        elif self._gc_start:
            self.tally.full_collection(self._clock() - self._gc_start)
            self._gc_start = 0.0

    def wake(self) -> None:
        """The timer ran: record its lateness and arm the next one (from now, not from the
        missed due time, so one stall is counted once)."""
        lag = max(0.0, self._clock() - self._due)
        self.tally.observe(lag)
        # CPU time the thread ran past the interval: a callback's own stall, not the machine's.
        ran = self._cpu_clock() - self._cpu_armed - self.interval_s
        self.tally.observe_cpu(min(lag, max(0.0, ran)))
        if self._loop is not None:
            self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        self._due = self._clock() + self.interval_s
        self._cpu_armed = self._cpu_clock()
        self._handle = self._loop.call_later(self.interval_s, self.wake)
