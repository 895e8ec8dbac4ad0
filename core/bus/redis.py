"""The bus between worker processes: Redis pub/sub, batched, resubscribed after every loss.

Channels (``prefix`` first, so deployments and tests can share one Redis):

- ``{prefix}g:{guild_id}``: a guild's events. A worker subscribes while it has at least one
  local session in the guild (reference-counted :meth:`RedisBus.interest`/``release``).
- ``{prefix}u:{user_id}``: events for an explicit audience (DMs, ``USER_UPDATE``), subscribed
  while the user has a local session (``interest_user``/``release_user``).
- ``{prefix}all``: every worker, always. It carries ``GUILD_*`` and ``CHANNEL_*`` events,
  because each worker's ``CachedMetaStore`` must drop what they change whether or not it has a
  session in the guild (REST requests land on any worker), and because a user joining a guild
  is on a worker that has no interest in it yet. They are rare next to messages, typing and
  presence, which stay on the guild channels. Events for more than ``USER_FANOUT_MAX`` users go
  here too: one message every worker filters beats hundreds of publishes.

Each event is encoded once with orjson as ``{n, d, g, c, u, s}`` (name, data, guild,
channel, users, the publisher's sequence number ``s``). Publishes made during one loop
iteration leave as one pipeline (and a run of events for the same channel as one PUBLISH,
``{w, e, o, v}``: publishing bus ``w``, the chain ``e`` and first offset ``o`` of its events
on that channel, the envelopes ``v``), one pipeline in flight at a time: under load the
batches grow, as in the router's group commit. Redis delivers one publisher's messages in
order on every channel a subscriber holds, so ``s`` lets a receiver drop the second copy of an
event that reached it on two channels (two recipients of a DM) or was published again after a
failed pipeline, and the offsets, numbered per (publisher, channel), let it prove it missed
none (:mod:`core.bus.continuity`).

Own events are delivered locally right away (the in-process :class:`MemoryBus` path, next loop
iteration) and their copies coming back from Redis are ignored.

Failures. Redis pub/sub is at-most-once; this bus never loses an event silently. When the
subscriber connection is lost it is opened again with backoff, everything of interest is
subscribed again, and the gap is logged with its duration and counted (``gaps``). What was
published meanwhile is not kept anywhere (no log: see docs/architecture.md, "Bus
continuity"), so once resubscribed the bus reports a :class:`~core.events.Gap` for everything
(``watch_gaps``): the hub ends every local session with op 9 and no RESUME, and clients
identify again and refetch. A message whose offset skips some of its chain (``offset_gaps``)
reports a gap for its channel's guild or user only. A silent dead peer is noticed by a PING
every ``PING_INTERVAL_S`` when idle. While publishing fails, events wait in a buffer of
``outbox_max`` events; beyond it the oldest are dropped and counted (``dropped``), and the
next pipeline starts with a loss marker on the broadcast channel, which every worker takes as
a gap for everything (``loss_markers``). Left uncovered: events still in the outbox of a
worker that dies.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from core.bus.continuity import Chains, Continuity, Verdict
from core.bus.memory import MemoryBus
from core.events import Event, EventHandler, Gap, GapHandler
from core.store.base import StoreUnavailable
from core.store.redis import redis_address

__all__ = [
    "BROADCAST_PREFIXES",
    "OUTBOX_MAX",
    "USER_FANOUT_MAX",
    "RedisBus",
    "open_redis_bus",
]

logger = logging.getLogger(__name__)

# Event names every worker receives (see the module docstring). Must cover what
# ``core.store.metacache`` invalidates on; a test checks they agree.
BROADCAST_PREFIXES = ("GUILD_", "CHANNEL_")
# Events for more users than this go to the broadcast channel rather than one per user.
USER_FANOUT_MAX = 16
# Events waiting to be published at most (while Redis is unreachable); the oldest go first.
OUTBOX_MAX = 10_000
# Largest PUBLISH a run of events is grouped into, in bytes: Redis disconnects a subscriber
# whose output buffer passes its pubsub limit (8 MiB for 60 s by default).
GROUP_MAX_BYTES = 64 * 1024
# An idle subscriber connection is pinged this often, in seconds; silence for three
# intervals means the connection is dead.
PING_INTERVAL_S = 5.0
# Reconnect backoff, seconds: doubled after each failed attempt, with jitter.
RECONNECT_MIN_S = 0.05
RECONNECT_MAX_S = 5.0
# aclose gives the last publishes this long, in seconds.
CLOSE_FLUSH_TIMEOUT_S = 2.0
# Publishers whose last sequence number is remembered (one per worker incarnation).
_SEEN_MAX = 1024
# How often, at most, the offsets of publishers gone quiet are forgotten, in seconds.
EXPIRY_INTERVAL_S = 60.0

# channels, the event's (epoch, offset) on each (core.bus.continuity), encoded envelope
_Outgoing = tuple[tuple[bytes, ...], tuple[tuple[int, int], ...], bytes]


class RedisBus:
    """The :class:`~core.events.Bus` of a multi-worker deployment, over Redis pub/sub.

    Args:
        client: a ``redis.asyncio.Redis`` speaking RESP2 (``protocol=2``), so subscriber
            replies are plain arrays; ``open_redis_bus`` makes one. Its pool publishes; the
            subscriber connection is made from the same settings and is the bus's own.
        worker_id: the worker index, part of the publisher id in every envelope (logs).
        prefix: prepended to every channel name.
        owns_client: close ``client`` in :meth:`aclose`.
        outbox_max: events buffered while publishing fails, at most (then oldest dropped).
        ping_interval_s: idle subscriber connection ping interval (dead after three).

    Attributes:
        gaps: times the subscriber connection was lost and then restored.
        dropped: events never published because the buffer was full.
        flushes: pipelines sent (one per loop iteration with publishes, at most).
        malformed: messages on our channels that did not decode.
    """

    def __init__(
        self,
        client: Redis,
        worker_id: int,
        *,
        prefix: str = "da:",
        owns_client: bool = False,
        outbox_max: int = OUTBOX_MAX,
        ping_interval_s: float = PING_INTERVAL_S,
    ) -> None:
        if client.connection_pool.connection_kwargs.get("protocol") not in (2, "2"):
            raise ValueError("RedisBus needs a RESP2 client (Redis(..., protocol=2))")
        self._client = client
        self._owns_client = owns_client
        self._prefix = prefix
        self._all = f"{prefix}all".encode()
        # Unique per incarnation: a restarted worker starts its sequence again.
        self.origin = f"{worker_id}.{secrets.token_hex(4)}"
        self._outbox_max = outbox_max
        self._ping_interval = ping_interval_s
        self._local = MemoryBus()
        self._refs: dict[bytes, int] = {}
        self._seq = 0
        self._seen: dict[str, int] = {}
        self._chains = Chains()
        self._continuity = Continuity()
        self._gap_handlers: list[GapHandler] = []
        self._dropped_announced = 0  # of ``dropped``, how many a loss marker told
        self._next_expiry = 0.0
        self._outbox: deque[_Outgoing] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._pings: dict[bytes, list[asyncio.Future[None]]] = {}
        self._ping_no = 0
        self._restore_ping: bytes | None = None
        self._down_since: float | None = None  # loop time the subscriber was lost
        self._failing_since: float | None = None  # loop time publishing started failing
        self._dropped_at_failure = 0
        # asyncio primitives bind to the loop on first use (3.10+), so these may be made here.
        self._wake_flush = asyncio.Event()
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.gaps = 0
        self.dropped = 0
        self.flushes = 0
        self.malformed = 0
        self.offset_gaps = 0
        self.loss_markers = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the broadcast channel and start publishing.

        Raises:
            StoreUnavailable: the first subscription did not succeed within the socket timeout.
        """
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._subscriber()), loop.create_task(self._flusher())]
        timeout = self._client.connection_pool.connection_kwargs.get("socket_timeout") or 5.0
        try:
            async with asyncio.timeout(timeout):
                await self.subscribed()
        except TimeoutError:
            await self.aclose()
            raise StoreUnavailable(f"Redis bus: no subscription within {timeout} s") from None

    async def aclose(self) -> None:
        """Publish what is buffered (bounded wait), then close the connections. Idempotent."""
        if self._closing:
            return
        self._closing = True
        flusher = self._tasks[1] if self._tasks else None
        if flusher is not None:
            self._wake_flush.set()
            try:
                async with asyncio.timeout(CLOSE_FLUSH_TIMEOUT_S):
                    await asyncio.shield(flusher)
            except TimeoutError:
                logger.warning("redis bus: closed with %d events unpublished", len(self._outbox))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for waiter in self._waiters + [w for ws in self._pings.values() for w in ws]:
            if not waiter.done():  # nothing more will be subscribed: let them go on
                waiter.set_result(None)
        await self._local.aclose()
        if self._owns_client:
            await self._client.aclose()

    # -- the Bus interface ----------------------------------------------------------------------

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        return self._local.subscribe(handler)

    def watch_gaps(self, handler: GapHandler) -> Callable[[], None]:
        """Call ``handler`` with every :class:`~core.events.Gap` (module docstring, Failures)."""
        self._gap_handlers.append(handler)
        return lambda: self._gap_handlers.remove(handler) if handler in self._gap_handlers \
            else None

    def deliver(self, events: Sequence[Event]) -> None:
        """To this worker's subscribers only (:meth:`core.events.Bus.deliver`)."""
        self._local.publish(events)

    def publish(self, events: Sequence[Event]) -> None:
        """Deliver ``events`` locally next iteration and queue them for the other workers."""
        if not events:
            return
        self._local.publish(events)
        if self._closing:
            return
        outbox, chains = self._outbox, self._chains
        for event in events:
            self._seq += 1
            envelope: dict[str, Any] = {"n": event.name, "d": event.data, "s": self._seq}
            if event.guild_id is not None:
                envelope["g"] = event.guild_id
            if event.channel_id is not None:
                envelope["c"] = event.channel_id
            if event.user_ids:
                envelope["u"] = event.user_ids
            try:
                payload = orjson.dumps(envelope)
            except TypeError:  # not JSON: delivered locally only, and a bug to fix
                logger.exception("redis bus: cannot encode %s", event.name)
                continue
            # Positions are given here, not when sent: a retried pipeline repeats them.
            channels = self._channels(event)
            positions = ((chains.next(channels[0], self._seq),) if len(channels) == 1
                         else tuple(chains.next(c, self._seq) for c in channels))
            outbox.append((channels, positions, payload))
        if len(outbox) > self._outbox_max:
            self._drop(len(outbox) - self._outbox_max)
        self._wake_flush.set()

    def interest(self, guild_id: int) -> None:
        """Receive ``guild_id``'s events (reference-counted: one per local need)."""
        self._ref(f"{self._prefix}g:{guild_id}".encode())

    def release(self, guild_id: int) -> None:
        """Drop one :meth:`interest` in ``guild_id``; the last one unsubscribes."""
        self._unref(f"{self._prefix}g:{guild_id}".encode())

    def interest_user(self, user_id: int) -> None:
        """Receive events addressed to ``user_id`` (reference-counted)."""
        self._ref(f"{self._prefix}u:{user_id}".encode())

    def release_user(self, user_id: int) -> None:
        """Drop one :meth:`interest_user` in ``user_id``; the last one unsubscribes."""
        self._unref(f"{self._prefix}u:{user_id}".encode())

    async def subscribed(self) -> None:
        """Wait until every interest registered so far is active in Redis.

        Events published after this returns reach this worker. It waits through an outage
        (until resubscribed): callers bound it with a timeout.
        """
        if self._closing or not self._tasks:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._dirty.set()
        await waiter

    # -- routing and interest -------------------------------------------------------------------

    def _channels(self, event: Event) -> tuple[bytes, ...]:
        users = event.user_ids
        if event.name.startswith(BROADCAST_PREFIXES) or len(users) > USER_FANOUT_MAX:
            return (self._all,)
        if users:
            return tuple(dict.fromkeys(f"{self._prefix}u:{u}".encode() for u in users))
        if event.guild_id is not None:
            return (f"{self._prefix}g:{event.guild_id}".encode(),)
        return (self._all,)

    def _ref(self, channel: bytes) -> None:
        count = self._refs.get(channel, 0)
        self._refs[channel] = count + 1
        if count == 0:
            self._dirty.set()

    def _unref(self, channel: bytes) -> None:
        count = self._refs.get(channel, 0)
        if count <= 0:
            logger.warning("redis bus: release of %r without interest", channel)
        elif count == 1:
            del self._refs[channel]
            self._continuity.forget(channel)  # a new subscription proves nothing of the old
            self._dirty.set()
        else:
            self._refs[channel] = count - 1

    # -- publishing -----------------------------------------------------------------------------

    async def _flusher(self) -> None:
        """Send the outbox as one pipeline at a time; keep it (bounded) while Redis fails."""
        delay = RECONNECT_MIN_S
        while True:
            await self._wake_flush.wait()
            self._wake_flush.clear()
            if not self._outbox:
                if self._closing:
                    return
                continue
            batch, self._outbox = self._outbox, deque()
            try:
                await self._send(batch)
            except (RedisError, OSError) as exc:
                self._publish_failed(batch, exc)
                await asyncio.sleep(_jitter(delay))
                delay = min(delay * 2, RECONNECT_MAX_S)
                self._wake_flush.set()
                continue
            except Exception:  # a bug, not an outage: retrying would fail again
                logger.exception("redis bus: %d events could not be published", len(batch))
                self.dropped += len(batch)  # lost: the next pipeline announces it
                continue
            delay = RECONNECT_MIN_S
            if self._failing_since is not None:
                logger.warning(
                    "redis bus: publishing again after %.2f s; %d events dropped meanwhile",
                    _now() - self._failing_since, self.dropped - self._dropped_at_failure)
                self._failing_since = None
            if self._outbox:
                self._wake_flush.set()  # what was published while this pipeline was out
            elif self._closing:
                return

    async def _send(self, batch: deque[_Outgoing]) -> None:
        """One pipeline; consecutive events for one channel share a PUBLISH.

        A PUBLISH is ``{"w": publisher, "e": epoch, "o": first offset, "v": [envelopes]}``:
        its events hold the offsets ``o``, ``o + 1``... of the chain ``e`` on that channel
        (a run breaks where they would not). When events were dropped since the last
        pipeline, a loss marker ``{"w": publisher, "lost": count}`` on the broadcast channel
        goes first: every worker must hear that it may have missed them.
        """
        pipe = self._client.pipeline(transaction=False)
        origin = self.origin.encode()
        lost = self.dropped - self._dropped_announced
        if lost:
            pipe.publish(self._all, orjson.dumps({"w": self.origin, "lost": lost}))
        channel, size, epoch, offset = b"", 0, 0, 0
        parts: list[bytes] = []
        for channels, positions, payload in batch:
            for target, (chain, at) in zip(channels, positions, strict=False):  # same length
                if (target != channel or chain != epoch or at != offset + len(parts)
                        or size + len(payload) > GROUP_MAX_BYTES):
                    if parts:
                        pipe.publish(channel, _message(origin, epoch, offset, parts))
                    channel, parts, size, epoch, offset = target, [], 0, chain, at
                parts.append(payload)
                size += len(payload) + 1
        if parts:
            pipe.publish(channel, _message(origin, epoch, offset, parts))
        self.flushes += 1
        await pipe.execute()
        self._dropped_announced += lost

    def _publish_failed(self, batch: deque[_Outgoing], exc: BaseException) -> None:
        # Back in front, in order: receivers drop whatever of it already went out (by ``s``).
        batch.extend(self._outbox)
        self._outbox = batch
        if len(batch) > self._outbox_max:
            self._drop(len(batch) - self._outbox_max)
        if self._failing_since is None:
            self._failing_since = _now()
            self._dropped_at_failure = self.dropped
            logger.warning("redis bus: publish failed (%s); buffering up to %d events",
                           _reason(exc), self._outbox_max)

    def _drop(self, count: int) -> None:
        if self.dropped == self._dropped_at_failure:
            logger.error("redis bus: outbox full (%d events): dropping the oldest",
                         self._outbox_max)
        for _ in range(count):
            self._outbox.popleft()
        self.dropped += count

    # -- subscribing ----------------------------------------------------------------------------

    async def _subscriber(self) -> None:
        """Hold a subscriber connection, opened again with backoff after every loss."""
        delay = RECONNECT_MIN_S
        while True:
            pool = self._client.connection_pool
            # Our own connection, outside the pool: it is never handed to another command.
            conn: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                delay = RECONNECT_MIN_S
                await self._session(conn)
            except (RedisError, OSError) as exc:
                self._lost(exc)
            except Exception as exc:  # a bug: log it, and keep the bus alive all the same
                logger.exception("redis bus: subscriber failed")
                self._lost(exc)
            finally:
                await conn.disconnect(nowait=True)
            await asyncio.sleep(_jitter(delay))
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _session(self, conn: AbstractConnection) -> None:
        """Run the reader and the subscription control of one connection until either fails."""
        loop = asyncio.get_running_loop()
        tasks = (loop.create_task(self._read(conn)), loop.create_task(self._control(conn)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Waiters whose PING was lost wait for the next connection's first one.
            for waiters in self._pings.values():
                self._waiters.extend(waiters)
            self._pings.clear()
        for task in done:
            task.result()  # re-raises why the session ended

    async def _control(self, conn: AbstractConnection) -> None:
        """Keep the connection's subscriptions equal to the wanted set; ping when idle.

        A numbered PING follows each change: Redis answers in order, so its PONG proves the
        change is in effect (that is what :meth:`subscribed` waits for).
        """
        loop = asyncio.get_running_loop()
        active: set[bytes] = set()
        restoring = True
        next_ping = loop.time() + self._ping_interval
        while True:
            self._dirty.clear()
            waiters, self._waiters = self._waiters, []
            wanted = {self._all, *self._refs}
            if added := wanted - active:
                await conn.send_command("SUBSCRIBE", *added)
                active |= added
            if removed := active - wanted:
                await conn.send_command("UNSUBSCRIBE", *removed)
                active -= removed
            if waiters or restoring:
                self._ping_no += 1
                token = str(self._ping_no).encode()
                self._pings[token] = waiters
                if restoring:
                    self._restore_ping, restoring = token, False
                await conn.send_command("PING", token)
                next_ping = loop.time() + self._ping_interval
            elif loop.time() >= next_ping:
                await conn.send_command("PING", b"")
                next_ping = loop.time() + self._ping_interval
                if loop.time() >= self._next_expiry:  # publishers gone quiet: forget them
                    self._continuity.expire(loop.time())
                    self._next_expiry = loop.time() + EXPIRY_INTERVAL_S
            try:
                async with asyncio.timeout(max(next_ping - loop.time(), 0.0)):
                    await self._dirty.wait()
            except TimeoutError:
                pass

    async def _read(self, conn: AbstractConnection) -> None:
        """Read replies until the connection fails: messages, and the PONGs of ``_control``."""
        silence = 3 * self._ping_interval
        while True:
            reply = await conn.read_response(timeout=silence, disconnect_on_error=False)
            if reply is None:
                raise RedisConnectionError(f"no reply for {silence:.0f} s")
            kind = reply[0]
            if kind == b"message":
                self._on_message(reply[1], reply[2])
            elif kind == b"pong" and reply[1]:
                self._on_pong(reply[1])

    def _on_pong(self, token: bytes) -> None:
        for waiter in self._pings.pop(token, ()):
            if not waiter.done():
                waiter.set_result(None)
        if token == self._restore_ping and self._down_since is not None:
            self.gaps += 1
            logger.warning(
                "redis bus: subscriptions restored after a %.2f s gap (%d channels); "
                "events published meanwhile may be lost: every local session is told",
                _now() - self._down_since, len(self._refs) + 1)
            self._down_since = None
            self._gap(Gap(None))  # the broadcast channel too: no guild is known to be whole

    def _on_message(self, channel: bytes, data: bytes) -> None:
        events: list[Event] = []
        seen = self._seen
        try:
            message = orjson.loads(data)
            sender = message["w"]
            if sender == self.origin:
                return  # our own: delivered locally already
            if "lost" in message:
                return self._on_loss_marker(sender, message["lost"])
            envelopes = message["v"]
            verdict = self._continuity.heard(channel, sender, message["e"], message["o"],
                                             len(envelopes), _now())
            if verdict is Verdict.GAP:
                self._on_offset_gap(channel, sender)
            for env in envelopes:
                seq = env["s"]
                if seq <= seen.get(sender, 0):
                    continue  # a second copy (two recipients here, or a retried pipeline)
                if sender not in seen and len(seen) >= _SEEN_MAX:
                    del seen[next(iter(seen))]
                seen[sender] = seq
                events.append(Event(env["n"], env["d"], env.get("g"), env.get("c"),
                                    tuple(env.get("u", ()))))
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
            logger.warning("redis bus: malformed message on %r", channel)
        self._local.publish(events)
        return None

    # -- gaps -----------------------------------------------------------------------------------

    def _on_offset_gap(self, channel: bytes, sender: str) -> None:
        self.offset_gaps += 1
        gap = self._gap_of(channel)
        logger.warning("redis bus: offsets of publisher %s skipped on %r: its events there "
                       "were lost; telling the sessions concerned", sender, channel)
        self._gap(gap)

    def _on_loss_marker(self, sender: str, count: int) -> None:
        self.loss_markers += 1
        logger.warning("redis bus: publisher %s dropped %d events; every local session is told",
                       sender, count)
        self._gap(Gap(None))

    def _gap_of(self, channel: bytes) -> Gap:
        """Whose events a gap on ``channel`` may have cost."""
        name = channel[len(self._prefix):]
        kind, _, ident = name.partition(b":")
        if kind == b"g" and ident.isdigit():
            return Gap(frozenset((int(ident),)))
        if kind == b"u" and ident.isdigit():
            return Gap(frozenset(), frozenset((int(ident),)))
        return Gap(None)  # the broadcast channel: any guild

    def _gap(self, gap: Gap) -> None:
        for handler in tuple(self._gap_handlers):
            try:
                handler(gap)
            except Exception:  # one broken handler must not keep the others from hearing
                logger.exception("redis bus: gap handler failed")

    def _lost(self, exc: BaseException) -> None:
        self._continuity.clear()  # the next connection's messages start every chain anew
        if self._down_since is None:
            self._down_since = _now()
            logger.warning("redis bus: subscriber connection lost (%s); reconnecting",
                           _reason(exc))
        else:
            logger.debug("redis bus: reconnect failed: %s", _reason(exc))


async def open_redis_bus(
    url: str, worker_id: int, *, prefix: str = "da:", socket_timeout: float = 5.0
) -> RedisBus:
    """Connect to Redis, check it answers PING, and return a bus that owns the client.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL.
        worker_id: this worker's index.
        prefix: prepended to every channel name.
        socket_timeout: seconds for connecting and for each command.

    Raises:
        StoreUnavailable: the URL is malformed or the server does not answer (one line,
            naming the host, never the credentials).
    """
    try:
        client = Redis.from_url(
            url, protocol=2, socket_connect_timeout=socket_timeout,
            socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 1),
        )  # one immediate retry (a pooled connection that died while idle); then our backoff
    except ValueError:
        # redis-py's message may quote the URL, which may hold a password.
        raise StoreUnavailable(
            "malformed Redis URL (expected redis://, rediss:// or unix://)"
        ) from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise StoreUnavailable(f"Redis unreachable at {redis_address(client)}: {_reason(exc)}") from exc
    return RedisBus(client, worker_id, prefix=prefix, owns_client=True)


def _message(origin: bytes, epoch: int, offset: int, envelopes: list[bytes]) -> bytes:
    """One PUBLISH's payload (``RedisBus._send``); ``origin`` is plain ASCII (no escaping)."""
    return b"".join((b'{"w":"', origin, b'","e":', str(epoch).encode(), b',"o":',
                     str(offset).encode(), b',"v":[', b",".join(envelopes), b"]}"))


def _now() -> float:
    return asyncio.get_running_loop().time()


def _jitter(delay: float) -> float:
    # Spread the reconnects of many workers after a Redis restart.
    return delay * random.uniform(0.5, 1.0)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
