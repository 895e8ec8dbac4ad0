"""Per-message timeline: where a sampled message's time goes on its way from socket to sockets.

One message in ``trace_sample_every`` (``Config``; 0, the default, is off) gets a
:class:`Trace`: a monotonic stamp (``time.perf_counter_ns``) at each stage of its path,
docs/architecture.md's "A message, from socket to sockets":

=============  ============================================================================
``received``   its op 50 frame decoded (``gateway.handler``), or its REST request handled
               (``api.routes.messages``, after the middleware's auth and rate limits)
``handled``    the command's task runs it (op 50 only: the submission hop; REST: = received)
``validated``  ``core.messages.send`` checked and built it (access, body, mentions)
``queued``     handed to ``core.router.MessageRouter.submit``'s queue
``writing``    the router's writer took its batch and called ``insert_many``
``durable``    ``insert_many`` returned (group commit done; the writer thread's result seen
               by the loop)
``published``  its events given to the bus (after the batch's mention rows)
``hub``        the worker's hub got it from the bus (``gateway.hub``)
``fanned``     the hub pushed it to every recipient's session (frames queued)
``written``    the flush that wrote those frames to the sockets ended
=============  ============================================================================

The trace travels with the message (an argument down to the router, then a side table keyed
by the message id, bounded, that the hub reads). Finished traces are kept in a bounded ring
with a sequence number, and :func:`summarize` turns them into per-stage percentiles: the
ops app serves them at ``/timeline?since=SEQ`` (``api.ops``), which is what ``python -m bench
fanout`` reads around each step. Off, the cost is one integer test per message where a trace
could start; on, a few ``perf_counter_ns`` calls per sampled message.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["STAGES", "Timeline", "Trace", "summarize"]

STAGES = ("received", "handled", "validated", "queued", "writing", "durable", "published",
          "hub", "fanned", "written")
RECEIVED, HANDLED, VALIDATED, QUEUED, WRITING, DURABLE, PUBLISHED, HUB, FANNED, WRITTEN = range(
    len(STAGES))
# Spans worth their own line besides each stage's step from the one before.
SPANS = {"receive_to_durable": (RECEIVED, DURABLE), "receive_to_written": (RECEIVED, WRITTEN),
         "durable_to_written": (DURABLE, WRITTEN)}
# Finished traces kept for /timeline; messages published but not yet seen by the hub. Both
# bounded: the oldest goes first.
KEEP_FINISHED = 8192
IN_FLIGHT_MAX = 1024
_QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p999", 0.999))


class Trace:
    """The stamps of one sampled message, in ns (0: that stage was not stamped)."""

    __slots__ = ("_clock", "stamps")

    def __init__(self, received_ns: int, clock: Callable[[], int] = time.perf_counter_ns
                 ) -> None:
        self._clock = clock
        self.stamps = [0] * len(STAGES)
        self.stamps[RECEIVED] = received_ns

    def stamp(self, stage: int) -> None:
        self.stamps[stage] = self._clock()


class Timeline:
    """One worker's sampler and the traces it finished.

    Args:
        every: sample one message in ``every``; 0: off (:meth:`start` is never called then:
            callers test ``timeline.every`` first, the one check a message costs).
        keep: finished traces kept (a ring).
        in_flight_max: traces published and waiting for the hub, at most (a message whose
            event no local session receives is never finished: it ages out here).
        clock: the monotonic clock in ns (a test's own).
    """

    def __init__(self, every: int = 0, keep: int = KEEP_FINISHED,
                 in_flight_max: int = IN_FLIGHT_MAX,
                 clock: Callable[[], int] = time.perf_counter_ns) -> None:
        if every < 0:
            raise ValueError("every must be >= 0")
        self.every = every
        self.clock = clock
        self._countdown = every
        self._in_flight_max = in_flight_max
        # Message id (as on the wire, a string) -> its trace, from the router to the hub.
        self.in_flight: dict[str, Trace] = {}
        self._finished: deque[tuple[int, list[int]]] = deque(maxlen=keep)
        self.seq = 0  # traces finished so far

    def start(self, received_ns: int | None = None) -> Trace | None:
        """A trace for this message if it is the one in ``every`` sampled, else None."""
        self._countdown -= 1
        if self._countdown > 0:
            return None
        self._countdown = self.every
        return Trace(self.clock() if received_ns is None else received_ns, self.clock)

    def published(self, trace: Trace, message_id: int) -> None:
        """``trace``'s message went to the bus: the hub finds it by id (:meth:`arrived`)."""
        trace.stamp(PUBLISHED)
        in_flight = self.in_flight
        if len(in_flight) >= self._in_flight_max:
            del in_flight[next(iter(in_flight))]  # the oldest: its event reached no one here
        in_flight[str(message_id)] = trace

    def arrived(self, events: Iterable[Any]) -> list[Trace]:
        """The traces of ``events`` (``core.events.Event``s) the hub just got, stamped
        ``hub`` and no longer in flight. Called only while :attr:`in_flight` is not empty."""
        found = []
        pop = self.in_flight.pop
        for event in events:
            if event.name == "MESSAGE_CREATE":
                trace = pop(event.data.get("id"), None)
                if trace is not None:
                    trace.stamp(HUB)
                    found.append(trace)
        return found

    def finish(self, trace: Trace) -> None:
        self.seq += 1
        self._finished.append((self.seq, trace.stamps))

    def since(self, seq: int) -> list[list[int]]:
        """The stamps of the traces finished after the ``seq``-th (those the ring still has)."""
        return [stamps for n, stamps in self._finished if n > seq]

    def report(self, since: int = 0) -> dict[str, Any]:
        """What ``/timeline`` serves: the sampling, the sequence number, the percentiles of
        the traces finished after ``since``."""
        return {"every": self.every, "seq": self.seq, **summarize(self.since(since))}


def _percentiles(values: list[float]) -> dict[str, float]:
    values.sort()
    n = len(values)
    out = {name: values[min(n - 1, max(0, int(q * n + 0.5) - 1))] for name, q in _QUANTILES}
    out["max"] = values[-1]
    out["mean"] = sum(values) / n
    return out


def summarize(traces: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Per-stage percentiles (ms) of ``traces`` (each the stamps of one, as :attr:`Trace.stamps`).

    ``stages``: for each stage after ``received``, the time from the last earlier stage that
    was stamped (a REST message has no ``handled``: its ``validated`` counts from
    ``received``), over the traces that stamped it; ``spans``: :data:`SPANS`. Each entry has
    ``n`` and p50/p90/p99/p999/max/mean; an entry no trace stamped is left out.
    """
    steps: dict[str, list[float]] = {name: [] for name in STAGES[1:]}
    spans: dict[str, list[float]] = {name: [] for name in SPANS}
    for stamps in traces:
        last = stamps[RECEIVED]
        for stage in range(1, len(STAGES)):
            now = stamps[stage]
            if now:
                steps[STAGES[stage]].append((now - last) / 1e6)
                last = now
        for name, (a, b) in SPANS.items():
            if stamps[a] and stamps[b]:
                spans[name].append((stamps[b] - stamps[a]) / 1e6)
    return {
        "traces": len(traces),
        "stages": {k: {"n": len(v), **_percentiles(v)} for k, v in steps.items() if v},
        "spans": {k: {"n": len(v), **_percentiles(v)} for k, v in spans.items() if v},
    }
