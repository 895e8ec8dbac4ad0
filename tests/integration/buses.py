"""Helpers for the bus tests: started buses on a real Redis (or Redis Cluster), and a
subscriber that records.

Every bus gets a channel prefix of its own (no other test sees its messages) and a client
name, so a test can find and kill exactly its connections with ``CLIENT KILL ID`` (on every
node of a cluster).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio

from core.bus.redis import RedisBus
from core.events import Event

__all__ = ["MS", "Collector", "kill_connections", "new_prefix", "open_bus", "unstarted_bus"]

# The unit of every wait in the bus tests, in seconds.
MS = 0.001
# The longest a test waits for an event to cross Redis.
WAIT = 2000 * MS


def new_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:"


def unstarted_bus(redis_url: str, worker_id: int, prefix: str, *, cluster: bool = False,
                  **kwargs: Any) -> RedisBus:
    """A :class:`RedisBus` named ``{prefix}w{worker_id}``, not started yet; ``cluster``:
    ``redis_url`` is a node of a Redis Cluster (sharded pub/sub)."""
    options: dict[str, Any] = {"protocol": 2, "socket_timeout": 2.0,
                               "socket_connect_timeout": 2.0,
                               "client_name": f"{prefix}w{worker_id}"}
    client = (redis.asyncio.RedisCluster.from_url(redis_url, **options) if cluster
              else redis.asyncio.Redis.from_url(redis_url, **options))
    return RedisBus(client, worker_id, prefix=prefix, owns_client=True, **kwargs)


@asynccontextmanager
async def open_bus(
    redis_url: str, worker_id: int, prefix: str, *, cluster: bool = False, **kwargs: Any
) -> AsyncIterator[RedisBus]:
    """A started :class:`RedisBus` named ``{prefix}w{worker_id}``, closed at exit."""
    bus = unstarted_bus(redis_url, worker_id, prefix, cluster=cluster, **kwargs)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.aclose()


async def kill_connections(redis_url: str, name: str, *, subscriber: bool,
                           node: str | None = None) -> int:
    """Kill the connections named ``name``: the subscriber's, or the others; returns how many.

    ``node`` (``host:port``): on that node of a cluster rather than at ``redis_url``.
    """
    url = f"redis://{node}" if node is not None else redis_url
    admin = redis.asyncio.Redis.from_url(url, protocol=2)
    try:
        killed = 0
        for client in await admin.client_list():
            if client.get("name") != name or (int(client["sub"]) + int(client.get("ssub", 0))
                                              > 0) != subscriber:
                continue
            killed += await admin.client_kill_filter(_id=client["id"])
        return killed
    finally:
        await admin.aclose()


class Collector:
    """A bus subscriber that records each batch and lets a test wait for events."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self._changed = asyncio.Event()

    def __call__(self, events: Sequence[Event]) -> None:
        self.batches.append(list(events))
        self._changed.set()

    @property
    def events(self) -> list[Event]:
        return [e for batch in self.batches for e in batch]

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    async def wait(self, count: int) -> list[Event]:
        """Wait (at most ``WAIT``) until ``count`` events arrived; returns them all."""
        async with asyncio.timeout(WAIT):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events
