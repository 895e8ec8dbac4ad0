"""The gateway commands that need I/O: identify (and READY), resume, send, member requests
(and guild subscriptions, which need the hub).

A :class:`~gateway.session.Session` decides what a payload means and hands out the commands
it cannot answer alone (``next_request``); the command handler runs them for every connection
of a worker, with one task per connection at most, started when a command arrives and ended when
the session's queue is empty, never one per frame. Each answer goes back into the session
(``on_identified``, ``on_resumed``, ``dispatch_one``...), and the connection is flushed.

Identify reads the READY snapshot under the hub's hold on the bus (:meth:`Hub.holding`), so
nothing published after the read is missed; a bot's identifies wait for its bucket
(:class:`core.shard.IdentifyBuckets`). Each identify, resume and close is one INFO line; a
token is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from core import messages
from core.errors import ApiError
from core.guilds import guild_create_payload
from core.models import Member, User
from core.platform import Platform
from core.read_states import ready_read_state
from core.shard import IDENTIFY_INTERVAL_S, IdentifyBuckets, shard_of
from core.timeline import HANDLED
from core.wire import channel_json, member_json
from gateway.hub import Hub
from gateway.listener import Connection
from gateway.presence import Presence
from gateway.protocol import (
    CloseCode,
    GuildSubscriptions,
    Identify,
    PresenceUpdate,
    RequestGuildMembers,
    Resume,
    SendMessage,
)
from gateway.registry import Registry
from gateway.session import State

__all__ = ["CommandHandler"]

logger = logging.getLogger(__name__)

# Identifies of one account queued behind each other that still wait for a slot (then: go).
_IDENTIFY_WAITS_MAX = 16
# Identifies whose READY snapshot is read at once, at most; the others wait their turn, in
# order. The store answers one read at a time anyway, so more in flight only interleaves
# them: each finishes later, and each holds its guilds' payloads meanwhile (a user in 10
# guilds of 20 members: the dicts of 200 members with presences until READY is encoded),
# so that all of a worker's users identifying at once (a restart; bench.gateway idle, 200
# in flight) left the allocator's high-water mark at the payloads of all of them.
IDENTIFY_READS_MAX = 8
# GUILD_MEMBERS_CHUNK size (Discord: up to 1000 members per chunk).
_CHUNK = 1000
_QUERY_LIMIT_MAX = 100


class CommandHandler:
    """Runs the commands of one worker's gateway sessions.

    Args:
        platform: the worker's platform (tokens, stores, the message router).
        hub: the worker's fanout; READY sessions are attached to it.
        presence: the worker's presence; READY sessions are reported to it.
        registry: where READY sessions are bound by id (and RESUME finds them).
        identify_interval_s: seconds between two identifies in one bucket of a bot.

    Attributes:
        resume_url: the ``resume_gateway_url`` READY names (the server sets it once bound).
    """

    def __init__(self, platform: Platform, hub: Hub, presence: Presence, registry: Registry,
                 identify_interval_s: float = IDENTIFY_INTERVAL_S) -> None:
        self._platform = platform
        self._metrics = platform.metrics
        self._hub = hub
        self._presence = presence
        self._registry = registry
        self._buckets = IdentifyBuckets(platform.config.identify_max_concurrency,
                                        identify_interval_s)
        self._loop = asyncio.get_running_loop()
        self._tasks: dict[Connection, asyncio.Task[None]] = {}
        self._reads = asyncio.Semaphore(IDENTIFY_READS_MAX)
        self._timeline = platform.timeline
        # With the timeline on: when a connection's oldest unhandled command was decoded
        # (perf_counter_ns), the received stamp of a sampled op 50.
        self._arrived: dict[Connection, int] = {}
        self.resume_url = platform.config.gateway_url

    def submit(self, conn: Connection) -> None:
        """Run ``conn``'s waiting commands, in order, in its task (started if none runs)."""
        if self._timeline.every and conn not in self._arrived:
            self._arrived[conn] = self._timeline.clock()
        if conn not in self._tasks:
            self._tasks[conn] = self._loop.create_task(self._run(conn))

    def cancel(self, conn: Connection) -> None:
        """Stop ``conn``'s commands (its socket is gone)."""
        task = self._tasks.pop(conn, None)
        self._arrived.pop(conn, None)
        if task is not None:
            task.cancel()

    async def aclose(self) -> None:
        tasks = tuple(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, conn: Connection) -> None:
        session = conn.session
        try:
            while conn.connected and (command := session.next_request()) is not None:
                match command:
                    case Identify():
                        await self._identify(conn, command)
                    case Resume():
                        await self._resume(conn, command)
                    case SendMessage():
                        await self._send(conn, command)
                    case RequestGuildMembers():
                        await self._members(conn, command)
                    case PresenceUpdate():
                        self._presence.set_status(conn, command.status)
                    case GuildSubscriptions():
                        self._hub.subscribe(conn, command)
                conn.flush()
        except Exception as e:  # a task boundary: log, and close this connection only
            logger.exception("gateway command failed")
            self._metrics.backend_error(e, "gateway")
            if session.state is State.IDENTIFYING:
                self._metrics.identifies.labels("error").inc()
            elif session.state is State.RESUMING:
                self._metrics.resumes.labels("error").inc()
            session.close(CloseCode.UNKNOWN_ERROR)
            conn.flush()
        finally:
            if self._tasks.get(conn) is asyncio.current_task():
                del self._tasks[conn]
                self._arrived.pop(conn, None)  # a command other than op 50's

    # -- identify and READY ---------------------------------------------------------------------

    async def _identify(self, conn: Connection, command: Identify) -> None:
        p, session = self._platform, conn.session
        resolved_at = time.monotonic()
        user_id = await p.tokens.resolve(command.token.removeprefix("Bot "))
        user = await p.meta.get_user(user_id) if user_id is not None else None
        if user is None:
            self._metrics.identifies.labels("auth_failed").inc()
            logger.info("identify failed: invalid token", extra={"peer": conn.peer()})
            return session.on_auth_failed()
        shard_id, shards = command.shard or (0, 1)
        if user.bot:  # Discord's session start limit is per bot; a user's tabs never wait
            await self._identify_slot(user.id, shard_id)
        async with self._reads:
            await self._ready(conn, command, user, shard_id, shards, resolved_at)

    async def _ready(self, conn: Connection, command: Identify, user: User, shard_id: int,
                     shards: int, resolved_at: float) -> None:
        """Read ``user``'s READY snapshot under the hub's hold and send READY."""
        p, session = self._platform, conn.session
        guild_ids = [g.id for g in await p.meta.list_user_guilds(user.id)
                     if shard_of(g.id, shards) == shard_id]
        async with self._hub.holding(user.id, guild_ids):
            payloads = await self._guild_payloads(guild_ids, user.id)
            await self._presence.fill(payloads)
            private = await self._dm_channels(user) if shard_id == 0 else []
            # A user's read states (a bot has none): one store read for all of them, listing
            # the channels this READY tells of.
            read_state = None if user.bot else await ready_read_state(p, user.id, {
                int(c["id"]) for c in (*private, *(c for g in payloads for c in g["channels"]))
            })
            app = await p.meta.get_application(user.id) if user.bot else None
            await self._hub.prepare([int(g["id"]) for g in payloads], user.id)
            if session.state is not State.IDENTIFYING or not conn.connected:
                return None
            conn.user = user
            conn.status = command.presence.status if command.presence is not None else "online"
            session.on_identified(user, app, payloads, secrets.token_hex(16), self.resume_url,
                                  private, read_state)
            if session.session_id is not None:  # READY (not closed with 4011)
                self._registry.bind(conn)
                self._hub.attach(conn, [int(g["id"]) for g in payloads],
                                 [int(g["id"]) for g in payloads if g.get("large")])
                self._presence.connected(conn)
                if p.tokens.revoked_since(user.id, resolved_at):
                    # The user's tokens were revoked while READY was read: the hub closed
                    # the user's sessions then, before this one was among them.
                    session.close(CloseCode.AUTHENTICATION_FAILED)
            self._log_identify(conn, user, (shard_id, shards), len(payloads))
        return None

    async def _identify_slot(self, user_id: int, shard_id: int) -> None:
        """Wait for a free identify bucket of this bot (``core.shard.IdentifyBuckets``)."""
        # A deadline, not a condition to poll: the bucket frees itself after ``wait``.
        for _ in range(_IDENTIFY_WAITS_MAX):
            wait = self._buckets.acquire(user_id, shard_id, self._loop.time())
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _guild_payloads(self, guild_ids: list[int], user_id: int) -> list[dict[str, Any]]:
        out = []
        for guild_id in guild_ids:
            try:
                payload = await guild_create_payload(self._platform, guild_id, user_id)
            except ApiError:  # left or deleted since the list was read
                continue
            # READY listed it as unavailable: this GUILD_CREATE is the guild becoming available
            # (a join's GUILD_CREATE has no ``unavailable``, see guild_create_payload).
            payload["unavailable"] = False
            out.append(payload)
        return out

    async def _dm_channels(self, user: User) -> list[dict[str, Any]]:
        meta = self._platform.meta
        dms = await meta.list_dms(user.id)
        others = await meta.get_users(
            list({r for c in dms for r in c.recipients if r != user.id}))
        return [channel_json(c, [others[r] for r in c.recipients if r in others]) for c in dms]

    def _log_identify(
        self, conn: Connection, user: User, shard: tuple[int, int], guilds: int
    ) -> None:
        session = conn.session
        if session.session_id is None:  # closed by the session (4010, 4011, 4013, 4014)
            self._metrics.identifies.labels("rejected").inc()
            logger.info("identify rejected with %s", session.close_code,
                        extra={"peer": conn.peer(), "user_id": user.id})
            return
        self._metrics.identifies.labels("ok").inc()
        logger.info("identified user %d", user.id, extra={
            "peer": conn.peer(), "session_id": session.session_id, "user_id": user.id,
            "shard": list(shard), "guilds": guilds, "bot": user.bot,
        })

    # -- resume ---------------------------------------------------------------------------------

    async def _resume(self, conn: Connection, command: Resume) -> None:
        old = self._registry.find(command.session_id)
        user_id = await self._platform.tokens.resolve(command.token.removeprefix("Bot "))
        session = conn.session
        extra = {"peer": conn.peer(), "session_id": command.session_id[:64]}
        if old is None or old is conn or user_id is None or old.session.user_id != user_id:
            self._metrics.resumes.labels("failed").inc()
            logger.info("resume failed: unknown session or token", extra=extra)
            return session.on_resume_failed()
        if session.state is not State.RESUMING or not conn.connected:
            return None
        session.on_resumed(old.session)
        if session.session_id is None:  # 4007 (a seq never sent), or op 9 (replay expired)
            self._metrics.resumes.labels("failed").inc()
            logger.info("resume failed: %s", session.close_code or "replay expired", extra=extra)
            return None
        self._registry.bind(conn)
        conn.status = old.status
        self._hub.replace(old, conn)
        old.flush()  # its close (4009) if it was still connected
        self._presence.connected(conn)
        self._metrics.resumes.labels("ok").inc()
        logger.info("resumed", extra=extra)
        return None

    # -- op 50 and op 8 -------------------------------------------------------------------------

    async def _send(self, conn: Connection, command: SendMessage) -> None:
        """Op 50: the REST send path; success is the MESSAGE_CREATE echo with the nonce."""
        assert conn.user is not None
        trace = None
        if self._timeline.every:  # sampled (core.timeline): received is when it was decoded
            trace = self._timeline.start(self._arrived.pop(conn, None))
            if trace is not None:
                trace.stamp(HANDLED)
        try:
            await messages.send(self._platform, conn.user, command.channel_id, command.body,
                                trace=trace)
        except ApiError as e:
            conn.session.on_send_failed(command.nonce, e.code, e.message, command.channel_id)

    async def _members(self, conn: Connection, command: RequestGuildMembers) -> None:
        """Op 8: GUILD_MEMBERS_CHUNK dispatches (ignored for a guild the session is not in)."""
        guild_id, meta = command.guild_id, self._platform.meta
        if guild_id not in conn.guilds:
            return
        not_found: list[int] = []
        if command.user_ids:
            found = [await meta.get_member(guild_id, u) for u in command.user_ids]
            members = [m for m in found if m is not None]
            not_found = [u for u, m in zip(command.user_ids, found, strict=True) if m is None]
        else:
            members = await self._search(guild_id, command.query or "", command.limit)
        users = await meta.get_users([m.user_id for m in members])
        listed = [member_json(m, users[m.user_id]) for m in members if m.user_id in users]
        count = max(1, -(-len(listed) // _CHUNK))
        for index in range(count):
            data: dict[str, Any] = {
                "guild_id": str(guild_id), "members": listed[index * _CHUNK:(index + 1) * _CHUNK],
                "chunk_index": index, "chunk_count": count,
            }
            if index == 0 and not_found:
                data["not_found"] = [str(u) for u in not_found]
            if command.presences:
                data["presences"] = await self._presence.presences(data["members"])
            if command.nonce is not None:
                data["nonce"] = command.nonce
            conn.session.dispatch_one("GUILD_MEMBERS_CHUNK", data)

    async def _search(self, guild_id: int, query: str, limit: int) -> list[Member]:
        """Members whose username starts with ``query`` (case-insensitive), at most ``limit``
        (every member for an empty query and limit 0; a query returns at most 100)."""
        if query or limit:
            limit = min(limit or _QUERY_LIMIT_MAX, _QUERY_LIMIT_MAX)
        prefix, out, after, meta = query.casefold(), [], 0, self._platform.meta
        # Without a query, the first ``limit`` members are the answer: read no more (a web
        # client in a large guild asks for a page of 100 on connect; it read 1,000 rows).
        page_size = min(limit, _CHUNK) if limit and not prefix else _CHUNK
        while True:
            page = await meta.list_members(guild_id, after=after, limit=page_size)
            users = await meta.get_users([m.user_id for m in page]) if prefix else {}
            for m in page:
                if not prefix or (m.user_id in users
                                  and users[m.user_id].username.casefold().startswith(prefix)):
                    out.append(m)
                    if limit and len(out) >= limit:
                        return out
            if len(page) < page_size:
                return out
            after = page[-1].user_id
