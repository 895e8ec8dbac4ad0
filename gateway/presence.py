"""Who is online: this worker's users in the shared presence, and the PRESENCE_UPDATEs.

:class:`Presence` tracks the users with a connected session on this worker and reports each
change of what others see of them (first session up, last one gone, op 3) to the shared
presence (``platform.cache``: every worker's reports), which answers with the user's status
across workers before and after. A PRESENCE_UPDATE goes out only when that changed, so a user
on two workers goes offline when the last session on either ends, not the first.

Reports go out from one task, oldest first; a user's newer change replaces one not sent yet
(only where the user ends up matters), so the queue holds at most one entry per local user
however long Redis is away. This worker stays alive in the shared presence by a key it
refreshes (``PRESENCE_ALIVE_MS``); after a failed refresh it reports every local user again,
since the others may have dropped its statuses as a dead worker's. docs/architecture.md places
it among the gateway's parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from core.events import Event
from core.models import User
from core.platform import Platform

__all__ = ["PRESENCE_ALIVE_MS", "Presence", "presence_list"]

logger = logging.getLogger(__name__)

# How long this worker's users count as online in the shared presence (Cache.presence_alive)
# if it stops saying it is alive (killed); it says so every third of this.
PRESENCE_ALIVE_MS = 15_000


class Member(Protocol):
    """What presence needs of a connection (``gateway.listener.Connection``)."""

    user: User | None
    guilds: dict[int, None]
    status: str


class Presence:
    """The presence of one worker's users.

    Args:
        platform: ``cache`` (the shared presence), ``bus`` (joins to announce), ``publish``
            (PRESENCE_UPDATE) and ``metrics`` (failures, as ``where="presence"``).
    """

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._metrics = platform.metrics
        # This process's id in the shared presence: new per process, so a restarted worker
        # does not revive what its killed predecessor reported.
        self._id = secrets.token_hex(8)
        # user -> connected sessions here: a tuple, one being the common case (48 bytes, a
        # set 216, per idle session: issue 16).
        self._conns: dict[int, tuple[Member, ...]] = {}
        self._online: dict[int, str] = {}  # user -> the status others see
        self._reports: dict[int, tuple[str | None, frozenset[int]]] = {}  # oldest first
        self._sender: asyncio.Task[None] | None = None
        self._alive: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        await self._platform.cache.presence_alive(self._id, PRESENCE_ALIVE_MS)
        self._alive = asyncio.get_running_loop().create_task(self._keep_alive())
        self._unsubscribe = self._platform.bus.subscribe(self._on_events)

    async def aclose(self) -> None:
        """Send what is queued, then say this worker's users are gone (at once)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._alive is not None:
            self._alive.cancel()
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        with contextlib.suppress(Exception):  # a stopping worker: Redis may be gone already
            await self._platform.cache.presence_alive(self._id, 0)

    # -- the gateway's calls --------------------------------------------------------------------

    def connected(self, conn: Member) -> None:
        """``conn`` is READY (identified or resumed) with ``conn.status``."""
        assert conn.user is not None
        user_id = conn.user.id
        conns = self._conns.get(user_id, ())
        if conn not in conns:
            self._conns[user_id] = (*conns, conn)
        if user_id not in self._online:
            self._online[user_id] = _visible(conn.status)
            self._report(user_id, _visible(conn.status), conn.guilds)

    def disconnected(self, conn: Member, guild_ids: Iterable[int]) -> None:
        """``conn``'s socket is gone; ``guild_ids``: the guilds it was in."""
        user_id = conn.user.id if conn.user is not None else None
        conns = self._conns.get(user_id) if user_id is not None else None
        if conns is None or conn not in conns:
            return
        rest = tuple(c for c in conns if c is not conn)
        if rest:
            self._conns[user_id] = rest  # type: ignore[index]
        else:
            del self._conns[user_id]  # type: ignore[arg-type]
            self._online.pop(user_id, None)  # type: ignore[arg-type]
            self._report(user_id, None, guild_ids)  # type: ignore[arg-type]

    def set_status(self, conn: Member, status: str) -> None:
        """Op 3: ``conn``'s status; reported when it changes what others see."""
        conn.status = status
        user = conn.user
        if user is not None and user.id in self._online:
            self._online[user.id] = _visible(status)
            self._report(user.id, _visible(status), conn.guilds)

    async def online_of(self, user_ids: list[int]) -> dict[int, str]:
        """The status of those of ``user_ids`` online on any worker (the shared presence)."""
        try:
            return await self._platform.cache.presence_get(user_ids)
        except Exception as e:  # Redis down: what this worker knows is better than nothing
            logger.exception("reading the shared presence failed")
            self._metrics.backend_error(e, "presence")
            return {u: s for u in user_ids if (s := self._online.get(u)) not in (None, "offline")}

    async def presences(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """GUILD_CREATE's (or a chunk's) ``presences`` for ``members``."""
        return presence_list(members, await self.online_of([_member_id(m) for m in members]))

    async def fill(self, guilds: Sequence[dict[str, Any]]) -> None:
        """Set the ``presences`` of READY's GUILD_CREATEs, with one read for all of them."""
        online = await self.online_of([_member_id(m) for g in guilds for m in g["members"]])
        for guild in guilds:
            guild["presences"] = presence_list(guild["members"], online)

    # -- reports --------------------------------------------------------------------------------

    def _report(self, user_id: int, status: str | None, guild_ids: Iterable[int]) -> None:
        """Queue what this worker now says of ``user_id`` (None: no connected session here)."""
        self._reports.pop(user_id, None)  # a newer change goes to the back
        self._reports[user_id] = (status, frozenset(guild_ids))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_reports())

    async def _send_reports(self) -> None:
        try:
            while self._reports:
                user_id = next(iter(self._reports))
                status, guild_ids = self._reports.pop(user_id)
                try:
                    before, after = await self._platform.cache.presence_set(
                        user_id, self._id, status)
                except Exception as e:  # Redis down: this change is not seen by the others
                    logger.exception("presence report for user %d failed", user_id)
                    self._metrics.backend_error(e, "presence")
                    continue
                if before != after:
                    self._platform.publish(*(_event(user_id, after, g) for g in guild_ids))
        finally:
            self._sender = None

    async def _keep_alive(self) -> None:
        lapsed = False
        while True:
            await asyncio.sleep(PRESENCE_ALIVE_MS / 3000)
            try:
                await self._platform.cache.presence_alive(self._id, PRESENCE_ALIVE_MS)
            except Exception as e:  # Redis down: others may see our users offline meanwhile
                logger.exception("presence keep-alive failed")
                self._metrics.backend_error(e, "presence")
                lapsed = True
                continue
            if lapsed:  # our statuses may have been dropped as a dead worker's: say them again
                lapsed = False
                for user_id, status in tuple(self._online.items()):
                    guilds = {g for c in self._conns.get(user_id, ()) for g in c.guilds}
                    self._report(user_id, status, guilds)

    def _on_events(self, events: Sequence[Event]) -> None:
        """A user online here who joins a guild is announced to it (bus subscriber)."""
        for event in events:
            if event.name != "GUILD_MEMBER_ADD" or event.guild_id is None:
                continue
            user_id = int(event.data["user"]["id"])
            status = self._online.get(user_id)
            if status is not None and status != "offline":
                self._platform.publish(_event(user_id, status, event.guild_id))


def presence_list(members: list[dict[str, Any]], online: dict[int, str]) -> list[dict[str, Any]]:
    """The ``presences`` of GUILD_CREATE (or GUILD_MEMBERS_CHUNK): the members online."""
    return [{"user": {"id": m["user"]["id"]}, "status": s, "activities": [],
             "client_status": {"web": s}}
            for m in members if (s := online.get(_member_id(m))) is not None]


def _member_id(member: dict[str, Any]) -> int:
    return int(member["user"]["id"])


def _event(user_id: int, status: str, guild_id: int) -> Event:
    return Event("PRESENCE_UPDATE", {"user": {"id": str(user_id)}, "guild_id": str(guild_id),
                                     "status": status, "activities": [],
                                     "client_status": {"web": status}}, guild_id=guild_id)


def _visible(status: str) -> str:
    """What others see: invisible users appear offline."""
    return "offline" if status == "invisible" else status
