"""The relay: events made by a process with no bus to the workers reach every worker anyway.

``discord-arch admin`` is such a process. It deletes a guild or revokes a user's tokens in the
shared stores, and every worker must then act at once: dispatch GUILD_DELETE, drop what its
caches hold, close the user's gateway sessions. The bus cannot carry that: the embedded
default's bus is in-process (another process cannot reach it), and Redis pub/sub is
at-most-once (a revocation published during a subscriber's reconnect would be lost, leaving
the sessions open). The metadata store is shared by every worker in every deployment and keeps
what it is given, so the events go through it:

- the writer (:func:`relay`) appends them, encoded, to the store's relay
  (``MetaStore.relay_events``: numbered in commit order, pruned after :data:`RELAY_KEEP_MS`);
- every worker's :class:`EventRelay` reads what is new every :data:`RELAY_POLL_S` (one indexed
  read that finds nothing, nearly always) and delivers it to its own subscribers only
  (``Bus.deliver``), exactly as if its bus had: the hub, the metadata cache, ``TokenAuth``.

So an admin action takes effect on every worker within ``RELAY_POLL_S`` plus one read. A worker
starts at the newest number: nothing it has cached yet is older than what it would replay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson

from core.events import Bus, Event
from core.metrics import Metrics
from core.store.base import MetaStore

__all__ = ["RELAY_BATCH", "RELAY_KEEP_MS", "RELAY_POLL_S", "EventRelay", "decode", "encode",
           "relay"]

logger = logging.getLogger(__name__)

# Seconds between two reads of the relay by a worker: the delay of an admin action. A read
# that finds nothing is an index probe (~20 us on SQLite); 4 a second per worker is nothing.
RELAY_POLL_S = 0.25
# Relayed events are kept this long (ms), for a worker whose reads fail for a while.
RELAY_KEEP_MS = 3_600_000
# Events one read returns at most; a longer backlog is read on the next polls, in order.
RELAY_BATCH = 1000


def encode(event: Event) -> str:
    """One event as the relay stores it (the Redis bus's envelope without its sender)."""
    env: dict[str, Any] = {"n": event.name, "d": event.data}
    if event.guild_id is not None:
        env["g"] = event.guild_id
    if event.channel_id is not None:
        env["c"] = event.channel_id
    if event.user_ids:
        env["u"] = event.user_ids
    return orjson.dumps(env).decode()


def decode(text: str) -> Event:
    """The event :func:`encode` made ``text`` of.

    Raises:
        ValueError: ``text`` is not such an event.
    """
    try:
        env = orjson.loads(text)
        return Event(env["n"], env["d"], env.get("g"), env.get("c"), tuple(env.get("u", ())))
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"not a relayed event: {e}") from None


async def relay(meta: MetaStore, events: Sequence[Event], now_ms: int) -> int:
    """Send ``events`` to every worker (within ``RELAY_POLL_S``); their sequence number."""
    return await meta.relay_events([encode(e) for e in events], now_ms, RELAY_KEEP_MS)


class EventRelay:
    """A worker's reader of the relay.

    Args:
        meta: the metadata store the relay lives in.
        bus: the worker's bus, whose local subscribers get the events (``Bus.deliver``).
        metrics: where failed reads are counted (``backend_errors_total{where="relay"}``).
        poll_s: seconds between reads.
    """

    def __init__(self, meta: MetaStore, bus: Bus, metrics: Metrics | None = None,
                 poll_s: float = RELAY_POLL_S) -> None:
        self._meta = meta
        self._bus = bus
        self._metrics = metrics
        self._poll_s = poll_s
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        """Start after the newest relayed event, and read every ``poll_s`` from then on.

        Raises:
            StoreUnavailable: the store does not answer.
        """
        self._seq = await self._meta.relay_head()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def poll(self) -> int:
        """Deliver what was relayed since the last read; how many events."""
        rows = await self._meta.relayed_after(self._seq, RELAY_BATCH)
        if not rows:
            return 0
        events = []
        for seq, text in rows:
            try:
                events.append(decode(text))
            except ValueError:  # a bug in a writer: skip it rather than stop every later one
                logger.error("relay: event %d does not decode; skipped", seq)
        self._seq = rows[-1][0]
        self._bus.deliver(events)
        return len(events)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.poll()
            except Exception as e:  # the store is down: read again next time, log once
                if self._metrics is not None:
                    self._metrics.backend_error(e, "relay")
                if not self._failing:
                    logger.warning("relay: reading failed (%s); retrying every %.2f s",
                                   e, self._poll_s)
                self._failing = True
                continue
            if self._failing:
                logger.warning("relay: reading again")
                self._failing = False
