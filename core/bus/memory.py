"""The in-process bus of the single-worker embedded default."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from core.events import Event, EventHandler, GapHandler

__all__ = ["MemoryBus"]

logger = logging.getLogger(__name__)


class MemoryBus:
    """Delivers published events to local subscribers on the next loop iteration.

    Delivery is deferred with ``call_soon`` (not done inside ``publish``) so a publisher never
    runs subscriber code in the middle of its own work, and events published within one
    iteration reach subscribers as one batch, in order.
    """

    def __init__(self) -> None:
        self._handlers: list[EventHandler] = []
        self._pending: list[Event] = []
        self._scheduled = False

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        self._handlers.clear()
        self._pending.clear()

    def publish(self, events: Sequence[Event]) -> None:
        if not events or not self._handlers:
            return
        self._pending.extend(events)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._deliver)

    def deliver(self, events: Sequence[Event]) -> None:
        self.publish(events)  # one process: publishing is delivering locally

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler) if handler in self._handlers else None

    def watch_gaps(self, handler: GapHandler) -> Callable[[], None]:
        return lambda: None  # within one process nothing is lost on the way

    # One process sees every event: interest is for buses that connect workers.
    def interest(self, guild_id: int) -> None:
        return None

    def release(self, guild_id: int) -> None:
        return None

    def interest_user(self, user_id: int) -> None:
        return None

    def release_user(self, user_id: int) -> None:
        return None

    async def subscribed(self) -> None:
        return None

    def _deliver(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        for handler in tuple(self._handlers):
            try:
                handler(batch)
            except Exception:  # a broken subscriber must not starve the others
                logger.exception("bus subscriber failed")
