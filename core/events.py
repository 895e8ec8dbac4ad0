"""Dispatch events produced by core for the gateway, and the bus interface they travel on.

Core publishes an :class:`Event` after the change it describes is durable. The gateway's hub
decides which sessions receive it (intents, shard, VIEW_CHANNEL) and encodes it once per
encoding. The in-process :class:`~core.bus.memory.MemoryBus` serves the single-worker default;
Redis pub/sub connects workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "TOKENS_REVOKED",
    "TOKEN_HASHES_REVOKED",
    "Bus",
    "Event",
    "EventHandler",
    "Gap",
    "GapHandler",
]

# An internal event, never dispatched to a client: every token of the user ``data["user_id"]``
# (a string, like every id on the wire) was revoked, or the account disabled, by another
# process (``discord-arch admin``, through ``core.relay``). Each worker's ``TokenAuth`` stops
# trusting what it cached for the user, and its gateway closes the user's sessions (4004).
# It names no guild and no user audience, so no session is its recipient.
TOKENS_REVOKED = "TOKENS_REVOKED"
# An internal event, never dispatched: the tokens whose SHA-256 hashes (hex) are in
# ``data["hashes"]`` were revoked on one worker (a logout, a password change revoking the
# user's other tokens), relayed to every worker (``core.relay``). Each worker's ``TokenAuth``
# stops trusting what it cached of those tokens; the user's sessions stay open (the account
# and its other tokens are fine). No audience either.
TOKEN_HASHES_REVOKED = "TOKEN_HASHES_REVOKED"


@dataclass(frozen=True, slots=True)
class Event:
    """One gateway dispatch and its audience.

    Attributes:
        name: the dispatch name (``t``), e.g. ``"MESSAGE_CREATE"``.
        data: the payload (``d``), Discord's JSON shape, already built with ``core.wire``.
        guild_id: the guild it concerns; its members' sessions are the audience.
        channel_id: when set, only sessions that can VIEW this channel receive it.
        user_ids: an explicit audience (DM recipients, a removed member, the user themself);
            with ``guild_id`` None these are the only recipients.
    """

    name: str
    data: dict[str, Any]
    guild_id: int | None = None
    channel_id: int | None = None
    user_ids: tuple[int, ...] = field(default=())


EventHandler = Callable[[Sequence[Event]], None]


@dataclass(frozen=True, slots=True)
class Gap:
    """Events may have been lost on the way to this worker: whom they were for.

    A bus that cannot prove it delivered everything (a lost subscription, a skipped offset, a
    publisher that dropped events) says so with a Gap rather than going on silently; the hub
    ends the sessions concerned so their clients identify again and refetch.

    Attributes:
        guild_ids: the guilds whose events may be missing; None: every guild and user
            (the broadcast channel or the whole subscription was affected).
        user_ids: the users whose targeted events (DMs, ``USER_UPDATE``) may be missing.
    """

    guild_ids: frozenset[int] | None
    user_ids: frozenset[int] = frozenset()


GapHandler = Callable[[Gap], None]


class Bus(Protocol):
    """Carries events from the worker that made them to every worker's hub."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def publish(self, events: Sequence[Event]) -> None:
        """Queue events for delivery, in order. Never blocks; batching is the bus's job."""

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler`` with each delivered batch; returns the unsubscribe function."""

    def watch_gaps(self, handler: GapHandler) -> Callable[[], None]:
        """Call ``handler`` with each :class:`Gap` the bus detects (a bus within one process
        has none); returns the unsubscribe function."""

    def deliver(self, events: Sequence[Event]) -> None:
        """Hand events to this process's subscribers only, like a delivery from the bus
        (next loop iteration, in order), never to other workers: for events each worker
        receives by itself (``core.relay``), which publishing would deliver N times."""

    # Interest: which other workers' events this worker receives. A hub calls ``interest``
    # when its first local session in a guild appears and ``release`` when the last one
    # leaves (reference-counted), and the same per user for targeted events. Events
    # published by this worker are always delivered locally, whatever the interest.

    def interest(self, guild_id: int) -> None:
        """Receive other workers' events about ``guild_id`` (one reference more)."""

    def release(self, guild_id: int) -> None:
        """Drop one reference taken by :meth:`interest`."""

    def interest_user(self, user_id: int) -> None:
        """Receive other workers' events addressed to ``user_id`` (one reference more)."""

    def release_user(self, user_id: int) -> None:
        """Drop one reference taken by :meth:`interest_user`."""

    async def subscribed(self) -> None:
        """Wait until the interests taken so far are in effect (callers add a timeout)."""
