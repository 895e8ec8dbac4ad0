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

On a Redis Cluster (``redis_cluster``) the channels are shard channels: ``SPUBLISH`` (the
cluster client's pipeline sends each to the master owning the channel's slot) and
``SSUBSCRIBE`` on one subscriber connection per master that owns a wanted channel
(:class:`_Link`; one connection, plain ``SUBSCRIBE``, with one Redis). Redis keeps order per
connection only, so ``s`` dedupes per (publisher, master), and an event sent to channels on
several masters carries ``m`` and is deduped by its ``s`` in a bounded set. A master's lost
connection is a gap for its channels only (the cluster's slots are read again before it is
opened again); a channel Redis unsubscribes because its slot moved (a resharding) is
subscribed on its new master once the slots are read again, a gap for that channel alone.

Own events are delivered locally right away (the in-process :class:`MemoryBus` path, next loop
iteration) and their copies coming back from Redis are ignored.

Failures. Redis pub/sub is at-most-once; this bus never loses an event silently. When the
subscriber connection is lost it is opened again with backoff, everything of interest is
subscribed again, and the gap is logged with its duration and counted (``gaps``). Without a
recovery log, what was published meanwhile is not kept anywhere, so once resubscribed the bus
reports a :class:`~core.events.Gap` for everything (``watch_gaps``): the hub ends every local
session with op 9 and no RESUME, and clients identify again and refetch. With one
(``log_max``: each PUBLISH also appended to its channel's capped stream, ``LOG_SUFFIX``), the
missed messages are read from the logs and delivered (``recovered``), and only a channel
whose log was trimmed past what was missed is a gap (docs/architecture.md, "Bus
continuity"). A message whose offset skips some of its chain (``offset_gaps``)
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
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

from core.bus.continuity import Chains, Continuity, Verdict
from core.bus.memory import MemoryBus
from core.events import Event, EventHandler, Gap, GapHandler
from core.store.base import StoreUnavailable
from core.store.redis import redis_address

__all__ = [
    "BROADCAST_PREFIXES",
    "OUTBOX_MAX",
    "LOG_SUFFIX",
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
# Events sent to channels on several masters of a Cluster remembered (their second copy).
_COPIES_MAX = 65_536
# The recovery log (``log_max``): its key is the channel's name with this suffix, and it
# lives this long after the channel's last publish, in ms (a capped stream per channel).
LOG_SUFFIX = b":log"
LOG_TTL_MS = 300_000
# Messages of one channel held, at most, while its missed range is read from the log; past
# it the channel's gap is reported and what was held is delivered.
HOLD_MAX = 10_000
# How often, at most, the offsets of publishers gone quiet are forgotten, in seconds.
EXPIRY_INTERVAL_S = 60.0

# What an unreachable Redis or Cluster raises (redis-py's cluster errors are not all RedisError).
_FAILURES = (RedisError, RedisClusterException, OSError)

# channels, the event's (epoch, offset) on each (core.bus.continuity), encoded envelope
_Outgoing = tuple[tuple[bytes, ...], tuple[tuple[int, int], ...], bytes]


class _Link:
    """One subscriber connection: of the single Redis, or of one master of a Cluster.

    Attributes:
        name: the master's node name (``host:port``); "" for a single Redis.
        wanted: the channels it must subscribe (``RedisBus._assign`` places each channel).
        active: the channels its connection subscribes now.
        unproven: channels subscribed anew after they may have missed events (the
            connection was lost, or the channel moved here from another master): their gap
            is reported when the PING sent after their subscription is answered.
        unsubscribing: channels unsubscribed whose confirmation has not come yet.
        waiters: :meth:`RedisBus.subscribed` calls waiting for the next PING's answer.
        pings: numbered PINGs in flight: who waits for each, and the channels it proves.
        down_since: loop time the connection was lost; None while it holds.
    """

    __slots__ = ("active", "anchors", "down_since", "dirty", "generation", "held", "name",
                 "pings", "retired", "task", "unanchored", "unproven", "unsubscribing",
                 "waiters", "wanted")

    def __init__(self, name: str) -> None:
        self.name = name
        self.wanted: set[bytes] = set()
        self.active: set[bytes] = set()
        self.unproven: set[bytes] = set()
        self.unsubscribing: set[bytes] = set()
        self.waiters: list[asyncio.Future[None]] = []
        self.pings: dict[bytes, tuple[list[asyncio.Future[None]], set[bytes], set[bytes]]] = {}
        # The recovery log (RedisBus ``log_max``): the log's last entry id when each channel's
        # subscription was proven, channels subscribed whose anchor is still to read, and the
        # live messages of each channel held while its missed range is read from the log.
        self.anchors: dict[bytes, tuple[int, int]] = {}
        self.unanchored: set[bytes] = set()
        self.held: dict[bytes, list[bytes]] = {}
        self.generation = 0  # connections lost so far: a log read of an older one is stale
        self.down_since: float | None = None
        self.dirty = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.retired = False

    def release_waiters(self) -> None:
        for waiter in self.waiters + [w for ws, _, _ in self.pings.values() for w in ws]:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters = []

    def drop(self, channel: bytes) -> None:
        """``channel`` left this link: forget what the recovery log kept of it here."""
        self.anchors.pop(channel, None)
        self.unanchored.discard(channel)
        self.held.pop(channel, None)


class RedisBus:
    """The :class:`~core.events.Bus` of a multi-worker deployment, over Redis pub/sub.

    Args:
        client: a ``redis.asyncio.Redis`` or ``RedisCluster`` speaking RESP2
            (``protocol=2``), so subscriber replies are plain arrays; ``open_redis_bus`` makes
            one. Its pool publishes; the subscriber connections are made from the same
            settings and are the bus's own.
        worker_id: the worker index, part of the publisher id in every envelope (logs).
        prefix: prepended to every channel name.
        owns_client: close ``client`` in :meth:`aclose`.
        outbox_max: events buffered while publishing fails, at most (then oldest dropped).
        ping_interval_s: idle subscriber connection ping interval (dead after three).
        log_max: with > 0, every PUBLISH is also added to its channel's recovery log (a
            stream capped at about this many messages, ``LOG_SUFFIX``), and a resubscribed
            channel's missed messages are read from it; a gap is reported only when the
            log no longer holds them. 0: no log, every lost subscription is a gap.

    Attributes:
        gaps: times a subscriber connection was lost and then restored.
        dropped: events never published because the buffer was full.
        flushes: pipelines sent (one per loop iteration with publishes, at most).
        malformed: messages on our channels that did not decode.
    """

    def __init__(
        self,
        client: Redis | RedisCluster,
        worker_id: int,
        *,
        prefix: str = "da:",
        owns_client: bool = False,
        outbox_max: int = OUTBOX_MAX,
        ping_interval_s: float = PING_INTERVAL_S,
        log_max: int = 0,
    ) -> None:
        if _connection_kwargs(client).get("protocol") not in (2, "2"):
            raise ValueError("RedisBus needs a RESP2 client (Redis(..., protocol=2))")
        self._client = client
        # Redis Cluster: sharded pub/sub (SPUBLISH, SSUBSCRIBE), one subscriber connection
        # per master, each channel on the master that owns its slot.
        self._sharded = isinstance(client, RedisCluster)
        self._owns_client = owns_client
        self._prefix = prefix
        self._all = f"{prefix}all".encode()
        # Unique per incarnation: a restarted worker starts its sequence again.
        self.origin = f"{worker_id}.{secrets.token_hex(4)}"
        self._outbox_max = outbox_max
        self._ping_interval = ping_interval_s
        self._local = MemoryBus()
        self._refs: dict[bytes, int] = {}
        # Subscriber connections by node name ("" for a single Redis), and each channel's.
        self._links: dict[str, _Link] = {}
        self._link_of: dict[bytes, _Link] = {}
        self._topology_version = 0
        self._topology_lock = asyncio.Lock()
        self._refresh_task: asyncio.Task[None] | None = None
        self._log_max = log_max
        self._side_tasks: set[asyncio.Task[None]] = set()  # log reads (anchors, recoveries)
        self._seq = 0
        self._seen: dict[str, int] = {}  # publisher (@ master, on a Cluster) -> last seq
        self._copies: dict[tuple[str, int], None] = {}  # see _copy_heard
        self._chains = Chains()
        self._continuity = Continuity()
        self._gap_handlers: list[GapHandler] = []
        self._dropped_announced = 0  # of ``dropped``, how many a loss marker told
        self._next_expiry = 0.0
        self._outbox: deque[_Outgoing] = deque()
        self._ping_no = 0
        self._failing_since: float | None = None  # loop time publishing started failing
        self._dropped_at_failure = 0
        # asyncio primitives bind to the loop on first use (3.10+), so these may be made here.
        self._wake_flush = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.gaps = 0
        self.dropped = 0
        self.flushes = 0
        self.malformed = 0
        self.offset_gaps = 0
        self.loss_markers = 0
        self.recovered = 0  # channels whose missed messages the log gave back

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the broadcast channel and start publishing.

        Raises:
            StoreUnavailable: the first subscription did not succeed within the socket timeout.
        """
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._flusher())]
        timeout = _connection_kwargs(self._client).get("socket_timeout") or 5.0
        try:
            async with asyncio.timeout(timeout):
                if isinstance(self._client, RedisCluster):
                    await self._client.initialize()
                self._assign()
                await self.subscribed()
        except TimeoutError:
            await self.aclose()
            raise StoreUnavailable(f"Redis bus: no subscription within {timeout} s") from None
        except _FAILURES as exc:
            await self.aclose()
            raise StoreUnavailable(f"Redis bus: cluster topology unreadable: {_reason(exc)}"
                                   ) from exc

    async def aclose(self) -> None:
        """Publish what is buffered (bounded wait), then close the connections. Idempotent."""
        if self._closing:
            return
        self._closing = True
        flusher = self._tasks[0] if self._tasks else None
        if flusher is not None:
            self._wake_flush.set()
            try:
                async with asyncio.timeout(CLOSE_FLUSH_TIMEOUT_S):
                    await asyncio.shield(flusher)
            except TimeoutError:
                logger.warning("redis bus: closed with %d events unpublished", len(self._outbox))
        links = list(self._links.values())
        for link in links:
            link.retired = True
        tasks = self._tasks + [link.task for link in links if link.task is not None]
        if self._refresh_task is not None:
            tasks.append(self._refresh_task)
        tasks += self._side_tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in links:
            link.release_waiters()  # nothing more will be subscribed: let them go on
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
            channels = self._channels(event)
            if self._sharded and len(channels) > 1:
                # Its copies may reach one worker through two masters, in either order.
                envelope["m"] = 1
            try:
                payload = orjson.dumps(envelope)
            except TypeError:  # not JSON: delivered locally only, and a bug to fix
                logger.exception("redis bus: cannot encode %s", event.name)
                continue
            # Positions are given here, not when sent: a retried pipeline repeats them.
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
        loop = asyncio.get_running_loop()
        while not self._closing and self._links:
            version = self._topology_version
            waiters = []
            for link in self._links.values():
                waiter = loop.create_future()
                link.waiters.append(waiter)
                link.dirty.set()
                waiters.append(waiter)
            await asyncio.gather(*waiters)
            if version == self._topology_version:
                return  # else a channel may have moved to a link not asked: again

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
        if count == 0 and self._links:
            self._place(channel)

    def _unref(self, channel: bytes) -> None:
        count = self._refs.get(channel, 0)
        if count <= 0:
            logger.warning("redis bus: release of %r without interest", channel)
        elif count == 1:
            del self._refs[channel]
            self._continuity.forget(channel)  # a new subscription proves nothing of the old
            link = self._link_of.pop(channel, None)
            if link is not None:
                link.wanted.discard(channel)
                link.drop(channel)
                link.dirty.set()
        else:
            self._refs[channel] = count - 1

    # -- subscriber connections and the cluster's topology ---------------------------------------

    def _link_name(self, channel: bytes) -> str:
        """The node whose connection subscribes ``channel``: its slot's master, or ""."""
        if not isinstance(self._client, RedisCluster):
            return ""
        node = self._client.nodes_manager.get_node_from_slot(self._client.keyslot(channel))
        return str(node.name)

    def _place(self, channel: bytes) -> None:
        """Subscribe ``channel`` on its link (made, with its task, if it is new)."""
        name = self._link_name(channel)
        link = self._links.get(name)
        if link is None:
            link = self._links[name] = _Link(name)
            link.task = asyncio.get_running_loop().create_task(self._subscriber(link))
        self._link_of[channel] = link
        link.wanted.add(channel)
        link.dirty.set()

    def _assign(self) -> None:
        """Place every wanted channel by the topology now known; retire links left empty.

        A channel that moves to another node's link is subscribed there anew: it may have
        missed events in between, so its gap is reported once the new subscription is
        proven (``_Link.unproven``).
        """
        before = dict(self._link_of)
        self._link_of.clear()
        for link in self._links.values():
            link.wanted.clear()
        for channel in (self._all, *self._refs):
            self._place(channel)
        for channel, old in before.items():
            new = self._link_of.get(channel)
            if new is not None and new is not old:
                self._continuity.forget(channel)
                old.drop(channel)  # what it missed meanwhile is its new link's gap
                old.unproven.discard(channel)  # proven by its new link's PING, not the old's
                new.unproven.add(channel)
        for name, link in list(self._links.items()):
            if not link.wanted:  # never the broadcast channel's: it is always wanted
                link.retired = True
                del self._links[name]
                if link.task is not None:
                    link.task.cancel()
                link.release_waiters()  # subscribed() sees the new version and asks again
        self._topology_version += 1

    def _moved(self, link: _Link, channel: bytes) -> None:
        """Redis unsubscribed ``channel`` unasked: its slot moved to another master (a
        resharding). Read the slots again: ``_assign`` subscribes it on its new master, and its
        gap is reported once that subscription is proven; the link's other channels go on."""
        link.active.discard(channel)
        self._continuity.forget(channel)
        link.drop(channel)
        if channel in link.wanted:
            link.unproven.add(channel)
        logger.warning("redis bus: shard channel %r moved away from %s; reading the cluster's "
                       "slots again", channel, link.name)
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_moved())

    async def _refresh_moved(self) -> None:
        try:
            await self._refresh_topology()
        except _FAILURES as exc:
            # The channel stays wanted on its old link: re-subscribing it there fails with
            # MOVED, which ends that connection, and its reconnect reads the slots again.
            logger.warning("redis bus: cluster slots unreadable (%s)", _reason(exc))
            for link in self._links.values():
                link.dirty.set()

    async def _refresh_topology(self) -> None:
        """Read the cluster's slots again (after a node was lost) and re-place the channels."""
        if not isinstance(self._client, RedisCluster):
            return
        version = self._topology_version
        async with self._topology_lock:
            if version != self._topology_version:
                return  # another link refreshed it meanwhile
            await self._client.nodes_manager.initialize()
            self._assign()

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
            except _FAILURES as exc:
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
        send = pipe.spublish if self._sharded else pipe.publish
        if lost:
            send(self._all, orjson.dumps({"w": self.origin, "lost": lost}))
        log_max = self._log_max

        def publish(channel: bytes, message: bytes) -> None:
            if log_max:  # logged first: what a subscriber hears is in the log already
                key = channel + LOG_SUFFIX
                pipe.xadd(key, {b"m": message}, maxlen=log_max, approximate=True)
                pipe.pexpire(key, LOG_TTL_MS)
            send(channel, message)

        channel, size, epoch, offset = b"", 0, 0, 0
        parts: list[bytes] = []
        for channels, positions, payload in batch:
            for target, (chain, at) in zip(channels, positions, strict=False):  # same length
                if (target != channel or chain != epoch or at != offset + len(parts)
                        or size + len(payload) > GROUP_MAX_BYTES):
                    if parts:
                        publish(channel, _message(origin, epoch, offset, parts))
                    channel, parts, size, epoch, offset = target, [], 0, chain, at
                parts.append(payload)
                size += len(payload) + 1
        if parts:
            publish(channel, _message(origin, epoch, offset, parts))
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

    async def _subscriber(self, link: _Link) -> None:
        """Hold ``link``'s connection, opened again with backoff after every loss."""
        delay = RECONNECT_MIN_S
        while not link.retired:
            conn: AbstractConnection | None = None
            try:
                if self._sharded and link.down_since is not None:
                    await self._refresh_topology()  # the lost node may have handed its slots on
                    if link.retired:
                        return
                conn = self._connection(link)
                await conn.connect()  # type: ignore[no-untyped-call]
                delay = RECONNECT_MIN_S
                await self._session(link, conn)
            except _FAILURES as exc:
                self._lost(link, exc)
            except Exception as exc:  # a bug: log it, and keep the bus alive all the same
                logger.exception("redis bus: subscriber failed")
                self._lost(link, exc)
            finally:
                if conn is not None:
                    await conn.disconnect(nowait=True)
            await asyncio.sleep(_jitter(delay))
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _connection(self, link: _Link) -> AbstractConnection:
        """A connection of the bus's own, outside every pool: never handed to a command."""
        if isinstance(self._client, RedisCluster):
            node = self._client.get_node(node_name=link.name)
            if node is None:
                raise RedisConnectionError(f"cluster node {link.name} is gone")
            connection: AbstractConnection = node.connection_class(**node.connection_kwargs)
            return connection
        made: AbstractConnection = self._client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        return made

    async def _session(self, link: _Link, conn: AbstractConnection) -> None:
        """Run the reader and the subscription control of one connection until either fails."""
        loop = asyncio.get_running_loop()
        tasks = (loop.create_task(self._read(link, conn)),
                 loop.create_task(self._control(link, conn)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Waiters whose PING was lost wait for the next connection's first one.
            # Their channels are still unproven.
            for waiters, unproven, unanchored in link.pings.values():
                link.waiters.extend(waiters)
                link.unproven |= unproven
                link.unanchored |= unanchored
            link.pings.clear()
        for task in done:
            task.result()  # re-raises why the session ended

    async def _control(self, link: _Link, conn: AbstractConnection) -> None:
        """Keep the connection's subscriptions equal to the link's wanted set; ping when idle.

        A numbered PING follows each change: Redis answers in order, so its PONG proves the
        change is in effect (that is what :meth:`subscribed` waits for), and that the
        channels subscribed anew since a loss hear everything from now on (their gap is
        reported then, ``_on_pong``).
        """
        loop = asyncio.get_running_loop()
        active = link.active = set()  # what this connection subscribes
        subscribe, unsubscribe = (("SSUBSCRIBE", "SUNSUBSCRIBE") if self._sharded
                                  else ("SUBSCRIBE", "UNSUBSCRIBE"))
        next_ping = loop.time() + self._ping_interval
        link.unsubscribing.clear()
        while True:
            link.dirty.clear()
            waiters, link.waiters = link.waiters, []
            wanted = link.wanted
            commands: list[tuple[Any, ...]] = []
            if added := wanted - active:
                # Sharded: one SSUBSCRIBE per channel (the channels of one must share a slot).
                commands += ([(subscribe, c) for c in added] if self._sharded
                             else [(subscribe, *added)])
                active |= added
                if self._log_max:  # a held channel keeps its anchor from before the loss
                    link.unanchored |= {c for c in added if c not in link.held}
            if removed := active - wanted:
                commands += ([(unsubscribe, c) for c in removed] if self._sharded
                             else [(unsubscribe, *removed)])
                link.unsubscribing |= removed
                active -= removed
            if waiters or link.unproven or link.unanchored:
                self._ping_no += 1
                token = str(self._ping_no).encode()
                link.pings[token] = (waiters, link.unproven, link.unanchored)
                link.unproven, link.unanchored = set(), set()
                commands.append(("PING", token))
                next_ping = loop.time() + self._ping_interval
            elif loop.time() >= next_ping:
                commands.append(("PING", b""))
                next_ping = loop.time() + self._ping_interval
                if loop.time() >= self._next_expiry:  # publishers gone quiet: forget them
                    self._continuity.expire(loop.time())
                    self._next_expiry = loop.time() + EXPIRY_INTERVAL_S
            if commands:
                await conn.send_packed_command(conn.pack_commands(commands))
            try:
                async with asyncio.timeout(max(next_ping - loop.time(), 0.0)):
                    await link.dirty.wait()
            except TimeoutError:
                pass

    async def _read(self, link: _Link, conn: AbstractConnection) -> None:
        """Read replies until the connection fails: messages, and the PONGs of ``_control``."""
        silence = 3 * self._ping_interval
        while True:
            reply = await conn.read_response(timeout=silence, disconnect_on_error=False)
            if reply is None:
                raise RedisConnectionError(f"no reply for {silence:.0f} s")
            if isinstance(reply, bytes):
                # A PING's answer on a connection that subscribes nothing at the moment (a
                # master none of whose channels are wanted now): the bare argument.
                if reply:
                    self._on_pong(link, reply)
                continue
            kind = reply[0]
            if kind == b"message" or kind == b"smessage":
                held = link.held.get(reply[1]) if link.held else None
                if held is None:
                    self._on_message(reply[1], reply[2], link.name)
                elif len(held) < HOLD_MAX:
                    held.append(reply[2])  # after what the log gives back
                else:
                    self._give_up(link, reply[1])
                    self._on_message(reply[1], reply[2], link.name)
            elif kind == b"pong" and reply[1]:
                self._on_pong(link, reply[1])
            elif kind == b"sunsubscribe" and reply[1] not in link.unsubscribing:
                self._moved(link, reply[1])
            elif kind == b"sunsubscribe" or kind == b"unsubscribe":
                link.unsubscribing.discard(reply[1])

    def _on_pong(self, link: _Link, token: bytes) -> None:
        waiters, unproven, unanchored = link.pings.pop(token, ((), set(), set()))
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if link.down_since is not None and _now() - link.down_since > LOG_TTL_MS / 1000:
            for channel in list(link.held):  # the logs of channels gone quiet meanwhile expired
                link.held.pop(channel)
                self._continuity.forget(channel)
        if link.down_since is not None:
            self.gaps += 1
            logger.warning(
                "redis bus: subscriptions restored after a %.2f s gap (%s, %d channels); "
                "events published meanwhile may be lost: their sessions are told",
                _now() - link.down_since, link.name or "redis", len(link.wanted))
            link.down_since = None
        if unanchored:
            self._side_task(self._anchor(link, unanchored))
        if recover := {c for c in unproven if c in link.held}:
            self._side_task(self._recover(link, recover))
            unproven -= recover
        if unproven:
            self._gap(self._gap_of_channels(unproven))

    def _on_message(self, channel: bytes, data: bytes, link: str = "") -> None:
        events: list[Event] = []
        try:
            message = orjson.loads(data)
            sender = message["w"]
            if sender == self.origin:
                return  # our own: delivered locally already
            # Order holds per connection only: on a Cluster, a publisher's sequence numbers
            # are increasing per master we hear it through, not across masters.
            stream = f"{sender}@{link}" if link else sender
            if "lost" in message:
                return self._on_loss_marker(sender, message["lost"])
            envelopes = message["v"]
            verdict = self._continuity.heard(channel, sender, message["e"], message["o"],
                                             len(envelopes), _now())
            if verdict is Verdict.GAP:
                self._on_offset_gap(channel, sender)
            self._events(sender, stream, envelopes, events)
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
            logger.warning("redis bus: malformed message on %r", channel)
        self._local.publish(events)
        return None

    def _events(self, sender: str, stream: str, envelopes: list[dict[str, Any]],
                events: list[Event]) -> None:
        """Append to ``events`` those of ``envelopes`` not heard already (by ``s``)."""
        seen = self._seen
        for env in envelopes:
            seq = env["s"]
            if seq <= seen.get(stream, 0):
                continue  # a second copy (two recipients here, or a retried pipeline)
            if ("m" in env or len(env.get("u", ())) > 1) and self._copy_heard(sender, seq):
                continue  # its copy on another channel came first (another master's, or
                # one read from a recovery log)
            if stream not in seen and len(seen) >= _SEEN_MAX:
                del seen[next(iter(seen))]
            seen[stream] = seq
            events.append(Event(env["n"], env["d"], env.get("g"), env.get("c"),
                                tuple(env.get("u", ()))))

    # -- the recovery log -----------------------------------------------------------------------

    def _side_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _anchor(self, link: _Link, channels: set[bytes]) -> None:
        """Note where each newly subscribed channel's log ends: its entries up to there are
        older than the subscription, so a publisher this worker never heard on the channel
        is, in the log, a lost message only past that point (``_replay``)."""
        generation, names = link.generation, list(channels)
        try:
            pipe = self._client.pipeline(transaction=False)
            for channel in names:
                pipe.xrevrange(channel + LOG_SUFFIX, count=1)
            replies = await pipe.execute()
        except _FAILURES as exc:  # no anchor: a loss of these channels is a gap
            logger.warning("redis bus: recovery log unreadable (%s)", _reason(exc))
            return
        if link.generation != generation:
            return  # lost meanwhile: what this read says predates the loss's own gap
        for channel, reply in zip(names, replies, strict=True):
            if channel in link.active and channel not in link.held:
                link.anchors[channel] = _entry_id(reply[0][0]) if reply else (0, 0)

    async def _recover(self, link: _Link, channels: set[bytes]) -> None:
        """Read what the held channels missed from their logs, deliver it, then what was held;
        a channel whose log no longer proves continuity is a gap."""
        generation, names = link.generation, list(channels)
        logs: list[Any]
        try:
            pipe = self._client.pipeline(transaction=False)
            for channel in names:
                pipe.xrange(channel + LOG_SUFFIX)
            logs = await pipe.execute()
        except _FAILURES as exc:
            logger.warning("redis bus: recovery log unreadable (%s)", _reason(exc))
            logs = [None] * len(names)
        if link.generation != generation:
            return  # lost again: the next connection's recovery reads the logs anew
        unrecovered = []
        for channel, entries in zip(names, logs, strict=True):
            held = link.held.pop(channel, None)
            if held is None:
                continue  # released, moved or given up meanwhile
            if entries is not None and self._replay(link, channel, entries):
                self.recovered += 1
            else:
                self._continuity.forget(channel)
                unrecovered.append(channel)
            self._release_held(channel, held)
        logger.warning("redis bus: %d channels recovered from the log, %d not (%s)",
                       len(names) - len(unrecovered), len(unrecovered), link.name or "redis")
        if unrecovered:
            self._gap(self._gap_of_channels(unrecovered))

    def _replay(self, link: _Link, channel: bytes, entries: list[Any]) -> bool:
        """Deliver the messages of ``channel``'s log this worker missed; False if the log
        cannot prove it missed nothing (trimmed past a publisher's last heard offset)."""
        anchor = link.anchors.get(channel)
        events: list[Event] = []
        if anchor is not None and entries and _entry_id(entries[0][0]) > anchor \
                and len(entries) >= self._log_max:
            return False  # trimmed past the subscription's start: who knows what went
        try:
            for entry_id, fields in entries:
                message = orjson.loads(fields[b"m"])
                sender = message["w"]
                if sender == self.origin:
                    continue
                known = self._continuity.position(channel, sender)
                if known is None:
                    if anchor is None:
                        return False
                    if _entry_id(entry_id) <= anchor:
                        continue  # older than this worker's subscription
                elif message["e"] > known[0] and message["o"] != 1:
                    return False  # a new chain whose start the log no longer holds
                if self._proven(channel, message, events) is Verdict.GAP:
                    return False
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
            return False
        finally:
            self._local.publish(events)
        return True

    def _proven(self, channel: bytes, message: dict[str, Any], events: list[Event]) -> Verdict:
        """Append to ``events`` what of a logged or held ``message`` was not heard yet.

        Not by sequence numbers, as live messages are: these arrive out of the connection's
        order. By offsets on the channel (a retried pipeline's message may repeat some), and
        an event sent to several channels by its copies heard (``_copy_heard``)."""
        sender, envelopes = message["w"], message["v"]
        before = self._continuity.position(channel, sender)
        verdict = self._continuity.heard(channel, sender, message["e"], message["o"],
                                         len(envelopes), _now())
        if verdict is Verdict.DUPLICATE:
            if before is None or before[0] != message["e"]:
                return verdict  # an older chain's
            envelopes = envelopes[max(before[1] - message["o"] + 1, 0):]
        for env in envelopes:
            seq = env["s"]
            if ("m" in env or len(env.get("u", ())) > 1) and self._copy_heard(sender, seq):
                continue
            events.append(Event(env["n"], env["d"], env.get("g"), env.get("c"),
                                tuple(env.get("u", ()))))
        return verdict

    def _release_held(self, channel: bytes, held: list[bytes]) -> None:
        """Deliver the live messages held while ``channel``'s log was read."""
        events: list[Event] = []
        for data in held:
            try:
                message = orjson.loads(data)
                if message["w"] == self.origin:
                    continue
                if "lost" in message:
                    self._on_loss_marker(message["w"], message["lost"])
                    continue
                if self._proven(channel, message, events) is Verdict.GAP:
                    self._on_offset_gap(channel, message["w"])
            except (ValueError, KeyError, TypeError):
                self.malformed += 1
        self._local.publish(events)

    def _give_up(self, link: _Link, channel: bytes) -> None:
        """Too much held for ``channel``: its gap is reported, and what was held delivered."""
        held = link.held.pop(channel, [])
        self._continuity.forget(channel)
        logger.warning("redis bus: %d messages held for %r while its log is read: giving up",
                       len(held), channel)
        self._gap(self._gap_of(channel))
        self._release_held(channel, held)

    def _copy_heard(self, sender: str, seq: int) -> bool:
        """Whether an event published on channels of several masters (``"m"``) was heard
        already; remembers it. Bounded: its copies leave in one pipeline, so they arrive
        within moments of each other, long before ``_COPIES_MAX`` later ones."""
        key = (sender, seq)
        if key in self._copies:
            return True
        if len(self._copies) >= _COPIES_MAX:
            del self._copies[next(iter(self._copies))]
        self._copies[key] = None
        return False

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
        return self._gap_of_channels((channel,))

    def _gap_of_channels(self, channels: Iterable[bytes]) -> Gap:
        """Whose events a gap on every one of ``channels`` may have cost."""
        guilds: set[int] = set()
        users: set[int] = set()
        for channel in channels:
            kind, _, ident = channel[len(self._prefix):].partition(b":")
            if kind == b"g" and ident.isdigit():
                guilds.add(int(ident))
            elif kind == b"u" and ident.isdigit():
                users.add(int(ident))
            else:
                return Gap(None)  # the broadcast channel: any guild
        return Gap(frozenset(guilds), frozenset(users))

    def _gap(self, gap: Gap) -> None:
        for handler in tuple(self._gap_handlers):
            try:
                handler(gap)
            except Exception:  # one broken handler must not keep the others from hearing
                logger.exception("redis bus: gap handler failed")

    def _lost(self, link: _Link, exc: BaseException) -> None:
        # The next connection's messages start the link's chains anew, and each of its
        # channels may have missed events: reported once subscribed again.
        link.generation += 1
        for channel in link.wanted:
            if self._log_max and channel in link.anchors:
                # What it missed may be in the log: keep where each publisher was, and hold
                # the next connection's messages until the log is read (_recover).
                link.held.setdefault(channel, [])
            else:
                self._continuity.forget(channel)
        link.unproven |= link.wanted
        if link.down_since is None:
            link.down_since = _now()
            logger.warning("redis bus: subscriber connection lost (%s%s); reconnecting",
                           f"{link.name}: " if link.name else "", _reason(exc))
        else:
            logger.debug("redis bus: reconnect failed: %s", _reason(exc))


async def open_redis_bus(
    url: str, worker_id: int, *, prefix: str = "da:", socket_timeout: float = 5.0,
    cluster: bool = False, log_max: int = 0,
) -> RedisBus:
    """Connect to Redis, check it answers PING, and return a bus that owns the client.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL (with ``cluster``: one node).
        worker_id: this worker's index.
        prefix: prepended to every channel name.
        socket_timeout: seconds for connecting and for each command.
        cluster: ``url`` is a node of a Redis Cluster: sharded pub/sub over its masters.
        log_max: the recovery log's length per channel (:class:`RedisBus`); 0: none.

    Raises:
        StoreUnavailable: the URL is malformed or the server does not answer (one line,
            naming the host, never the credentials).
    """
    client: Redis | RedisCluster
    try:
        # One immediate retry (a pooled connection that died while idle); then our backoff.
        if cluster:
            client = RedisCluster.from_url(
                url, protocol=2, socket_connect_timeout=socket_timeout,
                socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 1))
        else:
            client = Redis.from_url(
                url, protocol=2, socket_connect_timeout=socket_timeout,
                socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 1))
    except (ValueError, RedisClusterException):
        # redis-py's message may quote the URL, which may hold a password.
        raise StoreUnavailable(
            "malformed Redis URL (expected redis://, rediss:// or unix://)"
        ) from None
    try:
        await client.ping()
    except _FAILURES as exc:
        await client.aclose()
        raise StoreUnavailable(f"Redis unreachable at {redis_address(client)}: {_reason(exc)}") from exc
    return RedisBus(client, worker_id, prefix=prefix, owns_client=True, log_max=log_max)


def _entry_id(raw: bytes) -> tuple[int, int]:
    """A stream entry id (``b"<ms>-<n>"``) as a comparable pair."""
    ms, _, n = raw.partition(b"-")
    return int(ms), int(n or 0)


def _connection_kwargs(client: Redis | RedisCluster) -> Mapping[str, Any]:
    """The settings of the client's connections (a Cluster's: those of each node's)."""
    if isinstance(client, RedisCluster):
        return client.get_connection_kwargs()
    return client.connection_pool.connection_kwargs


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
