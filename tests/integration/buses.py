"""Helpers for the bus tests: started buses on a real Redis, and a subscriber that records.

Every bus gets a channel prefix of its own (no other test sees its messages) and a client
name, so a test can find and kill exactly its connections with ``CLIENT KILL ID``.
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

__all__ = ["MS", "Collector", "kill_connections", "new_prefix", "open_bus"]

# The unit of every wait in the bus tests, in seconds.
MS = 0.001
# The longest a test waits for an event to cross Redis.
WAIT = 2000 * MS


def new_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:"


@asynccontextmanager
async def open_bus(
    redis_url: str, worker_id: int, prefix: str, **kwargs: Any
) -> AsyncIterator[RedisBus]:
    """A started :class:`RedisBus` named ``{prefix}w{worker_id}``, closed at exit."""
    client = redis.asyncio.Redis.from_url(
        redis_url, protocol=2, socket_timeout=2.0, socket_connect_timeout=2.0,
        client_name=f"{prefix}w{worker_id}",
    )
    bus = RedisBus(client, worker_id, prefix=prefix, owns_client=True, **kwargs)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.aclose()


async def kill_connections(redis_url: str, name: str, *, subscriber: bool) -> int:
    """Kill the connections named ``name``: the subscriber's, or the others; returns how many."""
    admin = redis.asyncio.Redis.from_url(redis_url, protocol=2)
    try:
        killed = 0
        for client in await admin.client_list():
            if client.get("name") != name or (int(client["sub"]) > 0) != subscriber:
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
