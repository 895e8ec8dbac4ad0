"""The gateway of one worker: the listening sockets, the registry of sessions and the sweep.

:class:`GatewayServer` owns what a worker's websocket sessions share: the picows servers (one
:class:`~gateway.listener.Connection` per socket; the upgrade and its ``Origin`` check), the
:class:`~gateway.registry.Registry` (DETACHED sessions wait there for a RESUME), and one
sweep timer for every session's deadlines. It composes the parts that do the rest, each in
its own module: the :class:`~gateway.hub.Hub` (fanout), :class:`~gateway.presence.Presence`
(who is online) and the :class:`~gateway.handler.CommandHandler` (the commands that need I/O:
identify, resume, send, member requests). docs/architecture.md draws the whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from picows import (
    WSCloseCode,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from core.logs import ClientFaultsAtDebug
from core.platform import Platform
from core.proxies import TrustedProxies
from core.shard import IDENTIFY_INTERVAL_S
from gateway.deadlines import DeadlineSweep
from gateway.handler import CommandHandler
from gateway.hub import Hub
from gateway.limits import SessionLimits
from gateway.listener import Connection
from gateway.params import ConnectParams
from gateway.presence import Presence
from gateway.registry import Registry
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
# picows logs a client's malformed or oversized frame ("WS parser error: ...") at ERROR; it
# is the client's fault, so it goes out at DEBUG (core.logs: untrusted input never makes an
# ERROR line). picows' own failures ("WS parser failure") and ours stay at ERROR.
_PICOWS_CLIENT_FAULTS = ("WS parser error",)
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


class GatewayServer:
    """The websocket gateway of one worker.

    Args:
        platform: the worker's platform, shared with the REST API.
        limits: every session's limits (default: ``SessionLimits.from_config``).
        send_buffer_limit: bytes queued in a transport before 4900 Slow consumer (default:
            ``config.gateway_send_buffer_bytes``).
        identify_interval_s: seconds between two identifies in one bucket of a bot.
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
        self.metrics = platform.metrics
        self.presence = Presence(platform)
        self.hub = Hub(platform, self.presence)
        self.registry = Registry()
        self.handler = CommandHandler(platform, self.hub, self.presence, self.registry,
                                 identify_interval_s)
        self.port = 0
        self._sweep_interval = sweep_interval_s
        self._loop = asyncio.get_running_loop()
        # One sweep of every session's timeouts, a flush slice's budget at a time.
        self._deadlines: DeadlineSweep[Connection] = DeadlineSweep(
            self.config.gateway_flush_slice_ms / 1000)
        self._origins = self.config.origins
        # Whose X-Forwarded-For / Forwarded is believed for a connection's peer (empty: none).
        self._proxies = TrustedProxies.parse(self.config.trusted_proxies)
        # One logger-like object for every connection (picows then makes no child logger each).
        self._picows_logger = ClientFaultsAtDebug(
            logging.getLogger("picows.gateway"),
            lambda message, exc: message.startswith(_PICOWS_CLIENT_FAULTS),
        )
        self._server: asyncio.Server | None = None
        self._own_server: asyncio.Server | None = None  # this worker's own port
        self._sweeper: asyncio.Handle | None = None

    @property
    def resume_url(self) -> str:
        """The ``resume_gateway_url`` this worker's sessions are given."""
        return self.handler.resume_url

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
        registry = self.registry
        self.metrics.bind_gateway(lambda: len(registry.conns), lambda: len(registry.sessions))
        if own_port is not None:
            self._own_server = await self._listen(host, own_port)
            bound = int(self._own_server.sockets[0].getsockname()[1])
            self.handler.resume_url = self.config.gateway_url_at(bound)
        elif port == 0 and not self.config.public_gateway_url:
            self.handler.resume_url = self.config.replace(gateway_port=self.port).gateway_url
        self._sweeper = self._loop.call_later(self._sweep_interval, self._sweep)
        await self.presence.start()
        return self.port

    async def _listen(self, host: str, port: int) -> asyncio.Server:
        return await ws_create_server(
            self._listener_for, host, port, reuse_port=True,
            max_frame_size=MAX_FRAME_BYTES, read_buffer_init_size=READ_BUFFER_BYTES,
            # PINGs are answered by the listener, after its reserved-bits check (RFC 6455 §5.2).
            enable_auto_pong=False, logger_name=self._picows_logger, backlog=LISTEN_BACKLOG,
            use_aiofastnet=USE_AIOFASTNET,
        )

    def drain(self) -> None:
        """Ask every connected session to reconnect and resume elsewhere (op 7), and flush."""
        for conn in tuple(self.registry.conns):
            conn.session.reconnect()
            conn.flush()

    async def aclose(self) -> None:
        """Stop listening, close every connection (1012), then the sweep, the commands, the
        hub and the presence (which says last that this worker's users are gone)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        servers = [s for s in (self._server, self._own_server) if s is not None]
        for server in servers:
            server.close()
        for conn in tuple(self.registry.conns):
            transport = conn.transport
            if transport is not None and not transport.is_close_frame_sent:
                transport.send_close(WSCloseCode.SERVICE_RESTART, b"Service restart")
            if transport is not None:
                transport.disconnect()
        await self.handler.aclose()
        for server in servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT_S)
        await self.hub.aclose()
        await self.presence.aclose()  # after the disconnects above queued their reports

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
        self.registry.conns.add(conn)
        self._schedule(conn)
        if self._proxies:  # once per connection, never per frame
            conn.forwarded_for = self._forwarded_for(conn)
        peer = conn.peer()
        logger.info("gateway connect from %s", peer,
                    extra={"peer": peer, "encoding": str(conn.session.encoding)})

    def _forwarded_for(self, conn: Connection) -> str | None:
        """The client a trusted proxy named in ``conn``'s upgrade request (its headers, and
        the socket's peer, which picows gives only once connected); None: the peer is it."""
        transport = conn.transport
        if transport is None:
            return None
        peername = transport.underlying_transport.get_extra_info("peername")
        if not isinstance(peername, tuple) or not peername:
            return None  # not an IP socket
        host = str(peername[0])
        client = self._proxies.client(host, transport.request.headers)
        return client if client != host else None

    def submit(self, conn: Connection) -> None:
        """``conn``'s session has commands: the command handler runs them in order."""
        self.handler.submit(conn)

    def disconnected(self, conn: Connection) -> None:
        self.registry.conns.discard(conn)
        self._log_close(conn)
        guilds = set(conn.guilds)
        self.handler.cancel(conn)
        conn.session.connection_lost(self.now(), conn.client_close)
        if conn.session.state is State.DETACHED:
            self._schedule(conn)  # for its resume window
        else:
            self._forget(conn)
        self.presence.disconnected(conn, guilds)

    # -- timers: one sweep for every session ----------------------------------------------------

    def _schedule(self, conn: Connection) -> None:
        self._deadlines.schedule(conn, conn.session.next_deadline())

    def _sweep(self) -> None:
        """Tick the sessions whose deadline passed, a slice at a time (gateway.deadlines):
        if some are left, the rest after the loop's other ready work, else in a period."""
        if self._deadlines.run(self.now(), self._tick):
            self._sweeper = self._loop.call_soon(self._sweep)
        else:
            self._sweeper = self._loop.call_later(self._sweep_interval, self._sweep)

    def _tick(self, conn: Connection) -> float | None:
        """One popped session: its timeouts applied; its next deadline (None: forgotten).
        Most are not due (they heartbeated since they were pushed) and only go back in."""
        session = conn.session
        session.tick(self.now())
        if session.state is State.CLOSED and not conn.connected:
            self._forget(conn)
            return None
        if session.close_code is not None:
            # tick's 4009 (or a close not written yet): written now. Nothing else: the
            # frames a fanout queued are the hub's to write, in its slices.
            conn.flush()
        return session.next_deadline()

    def _forget(self, conn: Connection) -> None:
        self.registry.unbind(conn)
        self.hub.detach(conn)

    # -- lifecycle logs: one INFO line per connect and close (identifies: gateway.handler) ---

    def _log_close(self, conn: Connection) -> None:
        code, by = conn.session.close_code, "server"
        if code is None:
            code = conn.client_close
            by = "client" if code is not None else "lost"
        self.metrics.closed(by, code)
        logger.info("gateway close %s by %s", code if code is not None else "-", by, extra={
            "peer": conn.peer(), "session_id": conn.session.session_id,
            "user_id": conn.session.user_id, "code": code, "by": by,
        })
