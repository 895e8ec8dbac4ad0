"""The gateway of one worker: listener, hub, session registry, timers and the commands' I/O.

:class:`GatewayServer` owns everything a worker's websocket sessions share: the picows server
(one :class:`~gateway.listener.Connection` per socket), the :class:`~gateway.hub.Hub`, the
registry of sessions by id (DETACHED ones wait there for a RESUME), one sweep timer for every
session's deadlines, and the work that awaits (identify, resume, send, member requests): one
task per connection at most, started when a command arrives and ended when its queue is empty,
never one per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from picows import (
    WSCloseCode,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from core import messages
from core.errors import ApiError
from core.events import Event
from core.guilds import guild_create_payload
from core.models import Member, User
from core.platform import Platform
from core.shard import IDENTIFY_INTERVAL_S, IdentifyBuckets, shard_of
from core.wire import channel_json, member_json
from gateway.hub import Hub
from gateway.limits import SessionLimits
from gateway.listener import Connection
from gateway.params import ConnectParams
from gateway.protocol import (
    CloseCode,
    Identify,
    PresenceUpdate,
    RequestGuildMembers,
    Resume,
    SendMessage,
)
from gateway.session import State

__all__ = ["GatewayServer"]

logger = logging.getLogger(__name__)

# picows' read buffer starts at 16 KiB and grows on demand (never shrinks). Clients send
# little (heartbeats, commands; the HTTP upgrade), so start at picows' minimum, 2 KiB: ~2 KiB
# less per idle connection than 4 KiB (bench.gateway idle), and a payload up to the 4096-byte
# limit grows it once to what 4 KiB was.
READ_BUFFER_BYTES = 2048
# Frames up to twice the payload limit reach the session, which closes with Discord's 4002;
# only larger ones get picows' 1009 before being buffered whole.
MAX_FRAME_BYTES = 2 * 4096
SWEEP_INTERVAL_S = 1.0
# Connections the kernel may hold unaccepted (capped by net.core.somaxconn). asyncio's default
# of 100 overflows when thousands of clients reconnect at once (a worker restart, a network
# blip): SYNs are dropped and clients wait 1, 3, 7... s to retry. bench.gateway storm, 2,000
# sessions resuming at once: 31 s and 150 connect timeouts with 100; 1.0 s and none with this.
LISTEN_BACKLOG = 4096
# picows runs on aiofastnet's transports when that package is installed (picows requires it);
# on the gateway they cost ~5 KiB more per idle connection than uvloop's (bench.gateway idle,
# 10,000 sessions: 20.4 KiB per session with them, 15.1 without) and deliver no more in a
# fanout (1,000 receivers: 394k/424k deliveries/s with, 403k/385k without, two runs each).
USE_AIOFASTNET = False
# How long ``aclose`` waits for the listening socket and its connections to close.
CLOSE_TIMEOUT_S = 5.0
# Identifies of one account queued behind each other that still wait for a slot (then: go).
_IDENTIFY_WAITS_MAX = 16
# How long an identify waits for the bus to confirm its new subscriptions before it reads the
# READY snapshot (seconds). Past it the session starts anyway: an event published meanwhile
# may be missed, which is what the bus's at-most-once delivery allows for.
SUBSCRIBE_TIMEOUT_S = 2.0
# How long this worker's users count as online in the shared presence (Cache.presence_alive)
# if it stops saying it is alive (killed); it says so every third of this.
PRESENCE_ALIVE_MS = 15_000
# GUILD_MEMBERS_CHUNK size (Discord: up to 1000 members per chunk).
_CHUNK = 1000
_QUERY_LIMIT_MAX = 100


class GatewayServer:
    """The websocket gateway of one worker.

    Args:
        platform: the worker's platform, shared with the REST API.
        limits: every session's limits (default: ``SessionLimits.from_config``).
        send_buffer_limit: bytes queued in a transport before 4900 Slow consumer (default:
            ``config.gateway_send_buffer_bytes``).
        identify_interval_s: seconds between two identifies of one bot (and shard bucket).
        sweep_interval_s: period of the deadline sweep; timeouts fire up to this late.
    """

    def __init__(
        self, platform: Platform, limits: SessionLimits | None = None,
        send_buffer_limit: int | None = None,
        identify_interval_s: float = IDENTIFY_INTERVAL_S, sweep_interval_s: float = SWEEP_INTERVAL_S,
    ) -> None:
        self.platform = platform
        self.config = platform.config
        self.limits = limits or SessionLimits.from_config(self.config)
        self.send_buffer_limit = send_buffer_limit or self.config.gateway_send_buffer_bytes
        self.hub = Hub(platform, self._presences)
        # This process's id in the shared presence: new per process, so a restarted worker
        # does not revive what its killed predecessor reported.
        self._presence_id = secrets.token_hex(8)
        # What this worker has yet to report of its users to the shared presence, by user: one
        # task sends them, oldest first. A user's newer change replaces the one not sent yet
        # (only where the user ends up matters), so this holds at most one entry per local
        # user, however long Redis is away.
        self._presence_reports: dict[int, tuple[str | None, frozenset[int]]] = {}
        self._presence_sender: asyncio.Task[None] | None = None
        self._presence_alive: asyncio.Task[None] | None = None
        self.metrics = platform.metrics
        self.resume_url = self.config.gateway_url
        self.port = 0
        self._sweep_interval = sweep_interval_s
        self._loop = asyncio.get_running_loop()
        self._conns: set[Connection] = set()  # connected sockets
        self._sessions: dict[str, Connection] = {}  # READY or DETACHED sessions by id
        self._heap: list[tuple[float, int, Connection]] = []
        self._order = itertools.count()
        self._tasks: dict[Connection, asyncio.Task[None]] = {}
        self._identify_buckets = IdentifyBuckets(
            self.config.identify_max_concurrency, identify_interval_s)
        # Users with a connected session on this worker, and the status others see (the shared
        # presence, platform.cache, holds every worker's).
        self._online: dict[int, str] = {}
        self._origins = self.config.origins
        self._unsubscribe: Callable[[], None] | None = None
        self._server: asyncio.Server | None = None
        self._own_server: asyncio.Server | None = None  # this worker's own port
        self._sweeper: asyncio.TimerHandle | None = None

    def now(self) -> float:
        """The sessions' clock (the loop's monotonic time)."""
        return self._loop.time()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str, port: int, own_port: int | None = None) -> int:
        """Listen on ``host:port`` (SO_REUSEPORT); returns the bound port.

        Args:
            own_port: with several workers, this worker's own port (``config.worker_port``):
                listened on as well, and named in READY as ``resume_gateway_url``, so a RESUME
                reaches the worker holding the session. SO_REUSEPORT there too: a SIGHUP
                replacement binds it while this worker drains.
        """
        await self.hub.start()
        self._server = await self._listen(host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self.metrics.bind_gateway(lambda: len(self._conns), lambda: len(self._sessions))
        if own_port is not None:
            self._own_server = await self._listen(host, own_port)
            bound = int(self._own_server.sockets[0].getsockname()[1])
            self.resume_url = self.config.gateway_url_at(bound)
        elif port == 0 and not self.config.public_gateway_url:
            self.resume_url = self.config.replace(gateway_port=self.port).gateway_url
        self._sweeper = self._loop.call_later(self._sweep_interval, self._sweep)
        self._unsubscribe = self.platform.bus.subscribe(self._on_events)
        await self.platform.cache.presence_alive(self._presence_id, PRESENCE_ALIVE_MS)
        self._presence_alive = self._loop.create_task(self._keep_presence_alive())
        return self.port

    async def _listen(self, host: str, port: int) -> asyncio.Server:
        return await ws_create_server(
            self._listener_for, host, port, reuse_port=True,
            max_frame_size=MAX_FRAME_BYTES, read_buffer_init_size=READ_BUFFER_BYTES,
            enable_auto_pong=True, logger_name="gateway", backlog=LISTEN_BACKLOG,
            use_aiofastnet=USE_AIOFASTNET,
        )

    def drain(self) -> None:
        """Ask every connected session to reconnect and resume elsewhere (op 7), and flush."""
        for conn in tuple(self._conns):
            conn.session.reconnect()
            conn.flush()

    async def aclose(self) -> None:
        """Stop listening, close every connection (1012) and stop the sweep and the hub."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
        servers = [s for s in (self._server, self._own_server) if s is not None]
        for server in servers:
            server.close()
        for conn in tuple(self._conns):
            transport = conn.transport
            if transport is not None and not transport.is_close_frame_sent:
                transport.send_close(WSCloseCode.SERVICE_RESTART, b"Service restart")
            if transport is not None:
                transport.disconnect()
        tasks = tuple(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT_S)
        await self.hub.aclose()
        if self._presence_alive is not None:
            self._presence_alive.cancel()
        if self._presence_sender is not None:  # the disconnects above queued their reports
            await asyncio.gather(self._presence_sender, return_exceptions=True)
        with contextlib.suppress(Exception):  # this worker's users are gone at once
            await self.platform.cache.presence_alive(self._presence_id, 0)

    # -- the listener's calls -------------------------------------------------------------------

    def _listener_for(
        self, request: WSUpgradeRequest
    ) -> Connection | WSUpgradeResponseWithListener | None:
        path, _, query = request.path.decode("latin-1").partition("?")
        if path != "/":
            return None  # 404
        origin = request.headers.get("Origin")
        # Browsers always send Origin; a page of another site must not open a session with the
        # user's token (cross-site websocket hijacking). Bots send none and are not affected.
        if origin is not None and origin.rstrip("/") not in self._origins:
            logger.info("gateway upgrade refused: origin %s not allowed", origin)
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(403, b"Origin not allowed"), None)
        return Connection(self, ConnectParams.parse(query))

    def connected(self, conn: Connection) -> None:
        self._conns.add(conn)
        self._schedule(conn)
        peer = _peer(conn)
        logger.info("gateway connect from %s", peer,
                    extra={"peer": peer, "encoding": str(conn.session.encoding)})

    def submit(self, conn: Connection) -> None:
        """Queue ``conn``'s new requests; one task per connection runs them in order."""
        conn.commands.extend(conn.session.requests())
        if conn not in self._tasks and conn.commands:
            self._tasks[conn] = self._loop.create_task(self._run(conn))

    def disconnected(self, conn: Connection) -> None:
        self._conns.discard(conn)
        self._log_close(conn)
        guilds = set(conn.guilds)
        task = self._tasks.pop(conn, None)
        if task is not None:
            task.cancel()
        conn.commands.clear()
        conn.session.connection_lost(self.now(), conn.client_close)
        if conn.session.state is State.DETACHED:
            self._schedule(conn)  # for its resume window
        else:
            self._forget(conn)
        if conn.user is not None:
            self._presence_changed(conn.user, conn.status, guilds)

    # -- timers: one sweep for every session ----------------------------------------------------

    def _schedule(self, conn: Connection) -> None:
        deadline = conn.session.next_deadline()
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._order), conn))

    def _sweep(self) -> None:
        """Tick the sessions whose deadline passed. Each is in the heap once, at a deadline no
        later than its real one (heartbeats only push deadlines back): a popped session not
        yet due is pushed again at its current deadline."""
        now, heap = self.now(), self._heap
        while heap and heap[0][0] <= now:
            conn = heapq.heappop(heap)[2]
            conn.session.tick(now)
            if conn.session.state is State.CLOSED and not conn.connected:
                self._forget(conn)
                continue
            conn.flush()
            self._schedule(conn)
        self._sweeper = self._loop.call_later(self._sweep_interval, self._sweep)

    def _forget(self, conn: Connection) -> None:
        session_id = conn.session.session_id
        if session_id is not None and self._sessions.get(session_id) is conn:
            del self._sessions[session_id]
        self.hub.detach(conn)

    # -- commands -------------------------------------------------------------------------------

    async def _run(self, conn: Connection) -> None:
        try:
            while conn.commands and conn.connected:
                match conn.commands.pop(0):  # a short list (rate-limited commands)
                    case Identify() as command:
                        await self._identify(conn, command)
                    case Resume() as command:
                        await self._resume(conn, command)
                    case SendMessage() as command:
                        await self._send(conn, command)
                    case RequestGuildMembers() as command:
                        await self._members(conn, command)
                    case PresenceUpdate() as command:
                        self._set_status(conn, command.status)
                # Commands the session held until READY/RESUMED are released by the answer.
                conn.commands.extend(conn.session.requests())
                conn.flush()
        except Exception as e:  # a task boundary: log, and close this connection only
            logger.exception("gateway command failed")
            self.metrics.backend_error(e, "gateway")
            if conn.session.state is State.IDENTIFYING:
                self.metrics.identifies.labels("error").inc()
            elif conn.session.state is State.RESUMING:
                self.metrics.resumes.labels("error").inc()
            conn.session.close(CloseCode.UNKNOWN_ERROR)
            conn.flush()
        finally:
            if self._tasks.get(conn) is asyncio.current_task():
                del self._tasks[conn]

    async def _identify(self, conn: Connection, command: Identify) -> None:
        p, session = self.platform, conn.session
        user_id = await p.tokens.resolve(command.token.removeprefix("Bot "))
        user = await p.meta.get_user(user_id) if user_id is not None else None
        if user is None:
            self.metrics.identifies.labels("auth_failed").inc()
            logger.info("identify failed: invalid token", extra={"peer": _peer(conn)})
            return session.on_auth_failed()
        shard_id, shards = command.shard or (0, 1)
        if user.bot:  # Discord's session start limit is per bot; a user's tabs never wait
            await self._identify_slot(user.id, shard_id)
        guild_ids = [g.id for g in await p.meta.list_user_guilds(user.id)
                     if shard_of(g.id, shards) == shard_id]
        # Subscribe before the snapshot is read, so what changes after the read reaches this
        # worker (from any worker). These references are temporary: the hub's own (attach)
        # are taken before they are released below, so the subscriptions stay.
        bus = p.bus
        bus.interest_user(user.id)
        for guild_id in guild_ids:
            bus.interest(guild_id)
        try:
            try:
                async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                    await bus.subscribed()
            except TimeoutError:
                logger.warning("identify: the bus did not confirm the subscriptions within "
                               "%.0f s; going on", SUBSCRIBE_TIMEOUT_S)
            payloads = await self._guild_payloads(guild_ids, user.id)
            online = await self._online_of(
                [_member_id(m) for payload in payloads for m in payload["members"]])
            for payload in payloads:
                payload["presences"] = _presence_list(payload["members"], online)
            private = await self._dm_channels(user) if shard_id == 0 else []
            app = await p.meta.get_application(user.id) if user.bot else None
            await self.hub.prepare([int(g["id"]) for g in payloads], user.id)
            if session.state is not State.IDENTIFYING or not conn.connected:
                return None
            session_id = secrets.token_hex(16)
            conn.user, conn.status = user, _status(command.presence)
            session.on_identified(user, app, payloads, session_id, self.resume_url, private)
            if session.session_id is not None:  # READY (not closed with 4011)
                self._sessions[session_id] = conn
                self.hub.attach(conn, [int(g["id"]) for g in payloads])
                self._presence_changed(user, conn.status, conn.guilds)
            self._log_identify(conn, user, (shard_id, shards), len(payloads))
        finally:
            self.hub.prune(guild_ids)
            for guild_id in guild_ids:
                bus.release(guild_id)
            bus.release_user(user.id)
        return None

    async def _identify_slot(self, user_id: int, shard_id: int) -> None:
        """Wait for a free identify bucket of this bot (``core.shard.IdentifyBuckets``)."""
        # A deadline, not a condition to poll: the bucket frees itself after ``wait``.
        for _ in range(_IDENTIFY_WAITS_MAX):
            wait = self._identify_buckets.acquire(user_id, shard_id, self.now())
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _guild_payloads(self, guild_ids: list[int], user_id: int) -> list[dict[str, Any]]:
        out = []
        for guild_id in guild_ids:
            try:
                payload = await guild_create_payload(self.platform, guild_id, user_id)
            except ApiError:  # left or deleted since the list was read
                continue
            # READY listed it as unavailable: this GUILD_CREATE is the guild becoming available
            # (a join's GUILD_CREATE has no ``unavailable``, see guild_create_payload).
            payload["unavailable"] = False
            out.append(payload)
        return out

    async def _dm_channels(self, user: User) -> list[dict[str, Any]]:
        dms = await self.platform.meta.list_dms(user.id)
        others = await self.platform.meta.get_users(
            list({r for c in dms for r in c.recipients if r != user.id}))
        return [channel_json(c, [others[r] for r in c.recipients if r in others]) for c in dms]

    async def _resume(self, conn: Connection, command: Resume) -> None:
        old = self._sessions.get(command.session_id)
        user_id = await self.platform.tokens.resolve(command.token.removeprefix("Bot "))
        session = conn.session
        if old is None or old is conn or user_id is None or old.session.user_id != user_id:
            self.metrics.resumes.labels("failed").inc()
            logger.info("resume failed: unknown session or token",
                        extra={"peer": _peer(conn), "session_id": command.session_id[:64]})
            return session.on_resume_failed()
        if session.state is not State.RESUMING or not conn.connected:
            return None
        session.on_resumed(old.session)
        if session.session_id is not None:  # READY: resumed (not 4007 nor op 9)
            self._sessions[session.session_id] = conn
            conn.status = old.status
            self.hub.replace(old, conn)
            old.flush()  # its close (4009) if it was still connected
            assert conn.user is not None
            self._presence_changed(conn.user, conn.status, conn.guilds)
        extra = {"peer": _peer(conn), "session_id": command.session_id[:64]}
        if session.session_id is not None:
            self.metrics.resumes.labels("ok").inc()
            logger.info("resumed", extra=extra)
        else:  # 4007 (a seq never sent), or op 9 (replay expired, another encoding)
            self.metrics.resumes.labels("failed").inc()
            logger.info("resume failed: %s", session.close_code or "replay expired", extra=extra)
        return None

    async def _send(self, conn: Connection, command: SendMessage) -> None:
        """Op 50: the REST send path; success is the MESSAGE_CREATE echo with the nonce."""
        assert conn.user is not None
        try:
            await messages.send(self.platform, conn.user, command.channel_id, command.body)
        except ApiError as e:
            conn.session.on_send_failed(command.nonce, e.code, e.message, command.channel_id)

    async def _members(self, conn: Connection, command: RequestGuildMembers) -> None:
        """Op 8: GUILD_MEMBERS_CHUNK dispatches (ignored for a guild the session is not in)."""
        guild_id, meta = command.guild_id, self.platform.meta
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
                data["presences"] = await self._presences(data["members"])
            if command.nonce is not None:
                data["nonce"] = command.nonce
            conn.session.dispatch_one("GUILD_MEMBERS_CHUNK", data)

    async def _search(self, guild_id: int, query: str, limit: int) -> list[Member]:
        """Members whose username starts with ``query`` (case-insensitive), at most ``limit``
        (every member for an empty query and limit 0; a query returns at most 100)."""
        if query or limit:
            limit = min(limit or _QUERY_LIMIT_MAX, _QUERY_LIMIT_MAX)
        prefix, out, after, meta = query.casefold(), [], 0, self.platform.meta
        while True:
            page = await meta.list_members(guild_id, after=after, limit=_CHUNK)
            users = await meta.get_users([m.user_id for m in page]) if prefix else {}
            for m in page:
                if not prefix or (m.user_id in users
                                  and users[m.user_id].username.casefold().startswith(prefix)):
                    out.append(m)
                    if limit and len(out) >= limit:
                        return out
            if len(page) < _CHUNK:
                return out
            after = page[-1].user_id

    # -- lifecycle logs: one INFO line per connect, identify, resume, close; never a token ------

    def _log_identify(
        self, conn: Connection, user: User, shard: tuple[int, int], guilds: int
    ) -> None:
        session = conn.session
        if session.session_id is None:  # closed by the session (4010, 4011, 4013, 4014)
            self.metrics.identifies.labels("rejected").inc()
            logger.info("identify rejected with %s", session.close_code,
                        extra={"peer": _peer(conn), "user_id": user.id})
            return
        self.metrics.identifies.labels("ok").inc()
        logger.info("identified user %d", user.id, extra={
            "peer": _peer(conn), "session_id": session.session_id, "user_id": user.id,
            "shard": list(shard), "guilds": guilds, "bot": user.bot,
        })

    def _log_close(self, conn: Connection) -> None:
        code, by = conn.session.close_code, "server"
        if code is None:
            code = conn.client_close
            by = "client" if code is not None else "lost"
        self.metrics.closed(by, code)
        logger.info("gateway close %s by %s", code if code is not None else "-", by, extra={
            "peer": _peer(conn), "session_id": conn.session.session_id,
            "user_id": conn.session.user_id, "code": code, "by": by,
        })

    # -- presence -------------------------------------------------------------------------------

    def _set_status(self, conn: Connection, status: str) -> None:
        """Op 3: this connection's status; broadcast when it changes what others see."""
        conn.status = status
        if conn.user is not None and conn.user.id in self._online:
            self._online[conn.user.id] = _visible(status)
            self._report_presence(conn.user.id, _visible(status), conn.guilds)

    def _presence_changed(self, user: User, status: str, guild_ids: set[int]) -> None:
        """Report a user's first connected session here, or its last one gone."""
        online = any(c.connected for c in self.hub.user_conns(user.id))
        if online == (user.id in self._online):
            return
        if online:
            self._online[user.id] = _visible(status)
        else:
            self._online.pop(user.id, None)
        self._report_presence(user.id, _visible(status) if online else None, guild_ids)

    def _report_presence(self, user_id: int, status: str | None, guild_ids: set[int]) -> None:
        """Queue what this worker now says of ``user`` (None: no connected session here).

        The shared presence (``platform.cache``) answers with the user's status across
        workers before and after; a PRESENCE_UPDATE goes out only when it changed, so a user
        on two workers goes offline when the last session on either ends, not the first.
        """
        self._presence_reports.pop(user_id, None)  # a newer change goes to the back
        self._presence_reports[user_id] = (status, frozenset(guild_ids))
        if self._presence_sender is None:
            self._presence_sender = self._loop.create_task(self._send_presence_reports())

    async def _send_presence_reports(self) -> None:
        try:
            while self._presence_reports:
                user_id = next(iter(self._presence_reports))
                status, guild_ids = self._presence_reports.pop(user_id)
                try:
                    before, after = await self.platform.cache.presence_set(
                        user_id, self._presence_id, status)
                except Exception as e:  # Redis down: this change is not seen by the others
                    logger.exception("presence report for user %d failed", user_id)
                    self.metrics.backend_error(e, "presence")
                    continue
                if before != after:
                    self._publish_presence(user_id, after, guild_ids)
        finally:
            self._presence_sender = None

    async def _keep_presence_alive(self) -> None:
        lapsed = False
        while True:
            await asyncio.sleep(PRESENCE_ALIVE_MS / 3000)
            try:
                await self.platform.cache.presence_alive(self._presence_id, PRESENCE_ALIVE_MS)
            except Exception as e:  # Redis down: others may see our users offline meanwhile
                logger.exception("presence keep-alive failed")
                self.metrics.backend_error(e, "presence")
                lapsed = True
                continue
            if lapsed:  # our statuses may have been dropped as a dead worker's: say them again
                lapsed = False
                for user_id, status in tuple(self._online.items()):
                    guilds = {g for c in self.hub.user_conns(user_id) for g in c.guilds}
                    self._report_presence(user_id, status, guilds)

    async def _online_of(self, user_ids: list[int]) -> dict[int, str]:
        """The status of those of ``user_ids`` online on any worker (the shared presence)."""
        try:
            return await self.platform.cache.presence_get(user_ids)
        except Exception as e:  # Redis down: what this worker knows is better than nothing
            logger.exception("reading the shared presence failed")
            self.metrics.backend_error(e, "presence")
            return {u: s for u in user_ids if (s := self._online.get(u)) not in (None, "offline")}

    async def _presences(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """GUILD_CREATE's (or a chunk's) ``presences`` for ``members``."""
        return _presence_list(members, await self._online_of([_member_id(m) for m in members]))

    def _on_events(self, events: Sequence[Event]) -> None:
        """A user online here who joins a guild is announced to it (bus subscriber)."""
        for event in events:
            if event.name != "GUILD_MEMBER_ADD" or event.guild_id is None:
                continue
            user_id = int(event.data["user"]["id"])
            status = self._online.get(user_id)
            if status is not None and status != "offline":
                self.platform.publish(_presence_event(user_id, status, event.guild_id))

    def _publish_presence(self, user_id: int, status: str, guild_ids: frozenset[int]) -> None:
        self.platform.publish(*(_presence_event(user_id, status, g) for g in guild_ids))


def _member_id(member: dict[str, Any]) -> int:
    return int(member["user"]["id"])


def _presence_list(members: list[dict[str, Any]], online: dict[int, str]) -> list[dict[str, Any]]:
    """The ``presences`` of GUILD_CREATE (or GUILD_MEMBERS_CHUNK): the members online."""
    return [{"user": {"id": m["user"]["id"]}, "status": s, "activities": [],
             "client_status": {"web": s}}
            for m in members if (s := online.get(_member_id(m))) is not None]


def _presence_event(user_id: int, status: str, guild_id: int) -> Event:
    return Event("PRESENCE_UPDATE", {"user": {"id": str(user_id)}, "guild_id": str(guild_id),
                                     "status": status, "activities": [],
                                     "client_status": {"web": status}}, guild_id=guild_id)


def _peer(conn: Connection) -> str:
    """The client's address as ``host:port`` (a load balancer's, behind one), or ``-``."""
    transport = conn.transport
    peer = transport.underlying_transport.get_extra_info("peername") if transport else None
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "-"


def _status(presence: PresenceUpdate | None) -> str:
    return presence.status if presence is not None else "online"


def _visible(status: str) -> str:
    """What others see: invisible users appear offline."""
    return "offline" if status == "invisible" else status
