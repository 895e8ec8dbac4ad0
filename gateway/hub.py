"""The per-worker fanout: bus events in, the same encoded bytes out to every allowed session.

The hub subscribes once to ``platform.bus`` and keeps two indexes of local connections: by
guild (a :class:`~gateway.cache.GuildCache` each, holding what the VIEW_CHANNEL check needs)
and by user (DMs and targeted events). It alone takes and releases the bus's interest (with
several workers, the Redis channels this worker listens to), which follows these indexes
exactly: a guild's while its cache exists, a user's while the user has a local connection,
and both while an identify reads its snapshot (:meth:`Hub.holding`). For each event it picks the audience (explicit
``user_ids``, else the guild's sessions), filters by intent, shard and VIEW_CHANNEL, builds one
:class:`~gateway.codec.Dispatch` per variant (two when MESSAGE_CONTENT redaction applies) and
calls ``session.push`` per recipient: no await, no task, no serialization per recipient. The
filtered audience of a guild event is memoized per (channel, intent) in the guild's cache
until something it depends on changes, so a message costs each recipient one call, not a
permission, intent and shard check (bench/RESULTS.md; the audience types are in
:mod:`gateway.audience`). A PRESENCE_UPDATE in a large guild goes to a user account's session
only if it follows the member there (op 14/37, :mod:`gateway.member_subscriptions`). Touched connections are flushed once at the end of the loop
iteration (``call_soon``), so the frames queued for one socket during an iteration go out in
one write (docs/architecture.md, "Encode once, write once"); a large round is written in
slices of ``gateway_flush_slice_ms`` with the loop's other work in between
(:mod:`gateway.flush_slices`).

Events are handled in bus order. When one needs data the cache does not hold (a guild changed,
a user joined one), it and every later event wait in a bounded backlog while one drain task
reads the store; the common case never awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Protocol

from core.events import TOKENS_REVOKED, Event, Gap
from core.models import ChannelType
from core.permissions import Permission
from core.platform import Platform
from core.shard import on_shard
from core.timeline import FANNED, WRITTEN, Trace
from gateway.audience import MESSAGE_EVENTS, Audience, AudienceBuilder, Conn, ContentGate, guild_of
from gateway.cache import RELOAD_EVENTS, GuildCache
from gateway.codec import Dispatch
from gateway.flush_slices import FlushSlices
from gateway.member_subscriptions import MemberSubscriptions
from gateway.protocol import CloseCode, GuildSubscriptions, Intent, event_intent
from gateway.push_slices import CHUNK, Group, PushSlices

__all__ = ["BACKLOG_MAX", "Conn", "Hub"]

logger = logging.getLogger(__name__)

# Events waiting behind a store read, at most; beyond, the oldest are dropped (and logged).
BACKLOG_MAX = 10_000
# Intents most sessions lack (privileged): an event that needs one goes to an index of the
# guild's sessions that have it instead of filtering the whole guild. Without it every
# connect and disconnect (PRESENCE_UPDATE) cost one check per member: a 5,000-session resume
# storm spent 75% of its CPU there (bench.gateway storm).
_INDEXED = (int(Intent.GUILD_PRESENCES), int(Intent.GUILD_MEMBERS))
_PRESENCES = int(Intent.GUILD_PRESENCES)
# Guild events only members holding a permission receive ("only sent to bots with the
# VIEW_AUDIT_LOG permission"), in the event's channel when it names one: an invite's events
# go to those who may manage the channel's invites (MANAGE_CHANNELS there), never to every
# viewer (its code would reach members meant to see none). Rare (moderation, invites), so
# they are filtered per event, unmemoized.
_PERMISSION_GATED = {"GUILD_AUDIT_LOG_ENTRY_CREATE": int(Permission.VIEW_AUDIT_LOG),
                     "INVITE_CREATE": int(Permission.MANAGE_CHANNELS),
                     "INVITE_DELETE": int(Permission.MANAGE_CHANNELS)}
_MANAGE_THREADS = int(Permission.MANAGE_THREADS)
# A guild with more local connections than this has a dropped audience memo made again in
# slices (gateway.push_slices), a chunk of candidates at a time: over 10,000 connections it
# is 10-20 ms of one core, and it is dropped whenever a member comes or goes.
BUILD_IN_SLICES_OVER = 1024
_BUILDING = object()  # in a guild's audience memo: being made (kept if nothing dropped it)
# How long an identify waits for the bus to confirm its new subscriptions before it reads the
# READY snapshot (seconds). Past it the session starts anyway: an event published meanwhile
# may be missed, which is what the bus's at-most-once delivery allows for.
SUBSCRIBE_TIMEOUT_S = 2.0


class PresenceSource(Protocol):
    """Who is online, for a joiner's GUILD_CREATE (``gateway.presence.Presence``)."""

    async def presences(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The ``presences`` entries of those of ``members`` online."""
        ...


class Hub:
    """Local fanout of one worker.

    Args:
        platform: the worker's platform (``bus`` to subscribe to, ``meta`` for cache loads).
        presence: who is online (the worker's :class:`~gateway.presence.Presence`). A
            joiner's GUILD_CREATE is built in core, which does not know who is online: the hub
            fills its ``presences`` in, in the same wait as the guild cache's load for the
            joiner, before it encodes the event. None: no presences added.
    """

    def __init__(self, platform: Platform, presence: PresenceSource | None = None) -> None:
        self._platform = platform
        self._presence = presence
        # The loop, looked up once: asyncio.get_running_loop() makes a getpid() system call
        # each time (CPython 3.11 checks for a fork); getpid was 1.2% of the main thread in
        # bench guilds (py-spy), this per-event lookup among its callers.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # made outside a loop: looked up at start
            self._loop = None
        self._guilds: dict[int, GuildCache] = {}
        # user -> the user's local connections, a tuple: one is the common case, and a tuple
        # of one is 48 bytes where a set is 216 (per idle session, issue 16); a user has a
        # handful at most, so adding or removing one copies a few pointers.
        self._users: dict[int, tuple[Conn, ...]] = {}
        # (guild_id, intent in _INDEXED) -> the guild's connections with that intent. A user
        # account's connection in a large guild is not in the GUILD_PRESENCES one: it gets
        # the presences of the members it follows (op 14/37), from this index instead.
        self._by_intent: dict[tuple[int, int], set[Conn]] = {}
        self._follows: MemberSubscriptions[Conn] = MemberSubscriptions()
        # The touched connections, written a slice of gateway_flush_slice_ms at a time, so
        # that a fanout to 10,000 sockets does not hold heartbeats, reads and the next
        # durable message behind it (gateway.flush_slices).
        self._slices = FlushSlices(platform.config.gateway_flush_slice_ms / 1000)
        self._flush_handle: asyncio.Handle | None = None
        # The per-recipient pushes, a slice of the same budget at a time (gateway.push_slices):
        # while a fanout is unfinished, later events wait in the backlog (bus order per session).
        self._pushes = PushSlices(platform.config.gateway_flush_slice_ms / 1000)
        self._push_handle: asyncio.Handle | None = None
        self._pushed: asyncio.Future[None] | None = None  # the drainer waits for the pushes
        self._backlog: deque[Event] = deque()
        self._drainer: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._unwatch_gaps: Callable[[], None] | None = None
        self._gaps = 0  # gaps heard so far: an identify that saw one meanwhile is suspect
        self._metrics = platform.metrics
        # perf_counter() of the oldest bus delivery whose frames are not written yet.
        self._delivered: float | None = None
        self._timeline = platform.timeline  # sampled messages' stamps (core.timeline)
        self._traced: list[Trace] = []  # fanned out, finished by the next _flush
        # What the round being written carries (taken from the two above when it began):
        # timed and finished when its last slice is written.
        self._round_delivered: float | None = None
        self._round_traced: list[Trace] = []

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self._platform.bus.subscribe(self._on_bus)
        self._unwatch_gaps = self._platform.bus.watch_gaps(self.on_gap)

    async def aclose(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._unwatch_gaps is not None:
            self._unwatch_gaps()
            self._unwatch_gaps = None
        if self._drainer is not None:
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)
        if self._push_handle is not None:
            self._push_handle.cancel()
            self._push_handle = None
            self._pushes.run(self._slices.touched, whole=True)
        if self._flush_handle is not None or self._slices.pending:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush(whole=True)

    # -- subscriptions --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def holding(self, user_id: int, guild_ids: Sequence[int]) -> AsyncIterator[None]:
        """Hold the bus's interest in ``user_id`` and ``guild_ids`` for an identify.

        Subscribes (and waits, at most ``SUBSCRIBE_TIMEOUT_S``, for the bus to confirm) before
        the caller reads its READY snapshot, so what changes after the read reaches this
        worker from any worker. The references are temporary: ``attach`` takes the lasting
        ones before they are released on exit, so the subscriptions stay; caches that
        :meth:`prepare` loaded for a session that did not attach are dropped.
        """
        bus = self._platform.bus
        bus.interest_user(user_id)
        for guild_id in guild_ids:
            bus.interest(guild_id)
        gaps = self._gaps
        try:
            try:
                async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                    await bus.subscribed()
            except TimeoutError:
                logger.warning("identify: the bus did not confirm the subscriptions within "
                               "%.0f s; going on", SUBSCRIBE_TIMEOUT_S)
            yield
        finally:
            if self._gaps != gaps:  # its READY may predate events lost meanwhile
                self._end_sessions(tuple(self._users.get(user_id, ())), "identify during a gap")
            self._prune(guild_ids)
            for guild_id in guild_ids:
                bus.release(guild_id)
            bus.release_user(user_id)

    async def prepare(self, guild_ids: Iterable[int], user_id: int) -> None:
        """Load the caches of ``guild_ids`` (with ``user_id``'s membership) before ``attach``."""
        for guild_id in guild_ids:
            cache = self._cache(guild_id)
            if cache.missing((user_id,)):
                await cache.load(self._platform.meta, (user_id,))

    def _prune(self, guild_ids: Iterable[int]) -> None:
        """Drop the caches of ``guild_ids`` that no connection uses (after a failed identify)."""
        for guild_id in guild_ids:
            cache = self._guilds.get(guild_id)
            if cache is not None and not cache.conns:
                self._drop(guild_id)

    def attach(self, conn: Conn, guild_ids: Iterable[int], large: Iterable[int] = ()) -> None:
        """Subscribe an identified connection to its user's events and ``guild_ids``.

        ``large``: those of ``guild_ids`` whose GUILD_CREATE said ``large``; there a user
        account's connection gets only the presences of the members it follows (op 14/37).
        """
        user_id = conn.session.user_id
        assert user_id is not None
        conns = self._users.get(user_id)
        if conns is None:
            self._users[user_id] = (conn,)
            self._platform.bus.interest_user(user_id)
        elif conn not in conns:
            self._users[user_id] = (*conns, conn)
        large = frozenset(large)
        for guild_id in guild_ids:
            self._join(conn, guild_id, guild_id in large)

    def replace(self, old: Conn, new: Conn) -> None:
        """``new`` resumed ``old``'s session: it takes every subscription of ``old``, the
        members it followed (op 14/37) among them."""
        # The pushes of an unfinished fanout go to ``old``'s session, which this resume
        # ends: pushed now, they are in the replay buffer ``new`` took over.
        if self._pushes.pending:
            self._push(whole=True)
        # Attach first: detaching ``old`` alone could drop a cache ``new`` still needs.
        new.user = old.user
        follows = self._follows
        lazy = follows.lazy_guilds(old)
        self.attach(new, tuple(old.guilds), lazy)
        for guild_id in lazy:
            follows.set_members(new, guild_id, follows.followed(old, guild_id))
        self.detach(old)

    def subscribe(self, conn: Conn, command: GuildSubscriptions) -> None:
        """Op 14/37: the members ``conn`` follows in each guild named, where it is lazy (a
        user account in a large guild); elsewhere it receives every presence anyway."""
        for sub in command.guilds:
            if sub.members is not None:
                self._follows.set_members(conn, sub.guild_id, sub.members)

    def detach(self, conn: Conn) -> None:
        """Forget a connection whose session is over."""
        user_id = conn.session.user_id
        conns = self._users.get(user_id) if user_id is not None else None
        if conns is not None and conn in conns:
            rest = tuple(c for c in conns if c is not conn)
            if rest:
                self._users[user_id] = rest  # type: ignore[index]
            else:
                del self._users[user_id]  # type: ignore[arg-type]
                self._platform.bus.release_user(user_id)  # type: ignore[arg-type]
        for guild_id in tuple(conn.guilds):
            self._leave(conn, guild_id)
        self._follows.drop(conn)

    def user_conns(self, user_id: int) -> tuple[Conn, ...]:
        """The local connections of ``user_id`` (READY or DETACHED)."""
        return self._users.get(user_id, ())

    def _join(self, conn: Conn, guild_id: int, large: bool = False) -> None:
        # A cache dropped meanwhile (its last local session left during a prepare) is made
        # again: the next fanout that needs it loads it first (GuildCache.missing).
        cache = self._cache(guild_id)
        assert conn.session.user_id is not None
        cache.subscribe(conn, conn.session.user_id)
        conn.guilds[cache.guild_id] = None  # the cache's int: one per guild, not per session
        intents = conn.session.intents
        lazy = bool(large and intents & _PRESENCES and conn.user is not None and not conn.user.bot)
        if lazy:  # Discord's lazy guilds: the presences it follows (op 14/37) and its own
            self._follows.lazy(conn, guild_id, conn.session.user_id)
        for intent in _INDEXED:
            if intents & intent and not (lazy and intent == _PRESENCES):
                self._by_intent.setdefault((guild_id, intent), set()).add(conn)

    def _leave(self, conn: Conn, guild_id: int) -> None:
        conn.guilds.pop(guild_id, None)
        self._follows.leave(conn, guild_id)
        for intent in _INDEXED:
            indexed = self._by_intent.get((guild_id, intent))
            if indexed is not None:
                indexed.discard(conn)
                if not indexed:
                    del self._by_intent[guild_id, intent]
        cache = self._guilds.get(guild_id)
        if cache is None:
            return
        if conn.session.user_id is not None:
            cache.unsubscribe(conn, conn.session.user_id)
        if not cache.conns:
            self._drop(guild_id)

    def _cache(self, guild_id: int) -> GuildCache:
        """``guild_id``'s cache, made (and the bus's interest in the guild taken) if absent."""
        cache = self._guilds.get(guild_id)
        if cache is None:
            cache = self._guilds[guild_id] = GuildCache(guild_id)
            self._platform.bus.interest(guild_id)
        return cache

    def _drop(self, guild_id: int) -> None:
        """Forget ``guild_id``'s cache and release the interest its creation took."""
        if self._guilds.pop(guild_id, None) is not None:
            self._platform.bus.release(guild_id)

    # -- gaps on the bus -------------------------------------------------------------------------

    def on_gap(self, gap: Gap) -> None:
        """The bus may have lost events for ``gap``'s guilds and users (or everyone): end the
        local sessions concerned so their clients identify again (``Session.events_lost``),
        and reload the guild caches concerned (their changes may be among the lost). Rare, so
        it walks the indexes; the per-event path does nothing for it."""
        self._gaps += 1
        if gap.guild_ids is None:
            conns: set[Conn] = {c for cs in self._users.values() for c in cs}
            caches: Iterable[GuildCache] = tuple(self._guilds.values())
        else:
            caches = [c for g in gap.guild_ids if (c := self._guilds.get(g)) is not None]
            conns = {c for cache in caches for c in cache.conns}
            conns.update(c for u in gap.user_ids for c in self._users.get(u, ()))
        for cache in caches:
            cache.invalidate()
        self._end_sessions(conns, "all guilds" if gap.guild_ids is None else
                           f"guilds {sorted(gap.guild_ids)} users {sorted(gap.user_ids)}")

    def _end_sessions(self, conns: Iterable[Conn], what: str) -> None:
        ended = 0
        for conn in conns:
            if conn.session.events_lost():
                ended += 1
                self.touch(conn)  # op 9 and the close written at the end of the iteration
        self._metrics.bus_gap_sessions += ended
        logger.warning("bus gap (%s): %d sessions told to identify again", what, ended)

    # -- events ---------------------------------------------------------------------------------

    def _on_bus(self, events: Sequence[Event]) -> None:
        """The bus handler: count and time the batch (per batch, not per event), publish it."""
        self._metrics.hub_events += len(events)
        if self._delivered is None:
            self._delivered = time.perf_counter()
        traced = self._timeline.arrived(events) if self._timeline.in_flight else None
        self._on_events(events)
        if traced:
            for trace in traced:
                trace.stamp(FANNED)
            self._traced += traced
        if self._flush_handle is None and self._drainer is None and self._push_handle is None:
            self._delivered = None  # nothing to write for these: no fanout to time

    def _on_events(self, events: Sequence[Event]) -> None:
        """The bus handler: publish in order; from the first event needing a read, queue."""
        if self._backlog or self._pushes.pending:
            return self._queue(events)
        for i, event in enumerate(events):
            if self._needs_load(event) is not None:
                return self._queue(events[i:])
            self._publish_one(event)
            if self._pushes.pending:  # a big fanout goes on in slices: the rest after it
                return self._queue(events[i + 1:]) if i + 1 < len(events) else None
        return None

    def _publish_one(self, event: Event) -> None:
        try:
            self.publish(event)
        except Exception:  # a malformed event must not cost the rest of the batch
            logger.exception("fanout of %s failed", event.name)

    def publish(self, event: Event) -> None:
        """Fan ``event`` out to the local sessions allowed to receive it; never awaits."""
        guild_id = guild_of(event)
        cache = self._guilds.get(guild_id) if guild_id is not None else None
        need = event_intent(event.name, guild_id is None) or 0
        plain = Dispatch(event.name, event.data)
        gate = ContentGate(event) if event.name in MESSAGE_EVENTS and guild_id else None
        touched = self._slices.touched
        # One call per recipient, a slice at a time (gateway.push_slices), the first now;
        # flushed once per round. A big guild's audience not memoized is made in slices too.
        build = self._build_in_slices(event, cache, need, guild_id, plain, gate)
        if build is not None:
            self._pushes.add_build(build)
        else:
            audience = self._audience(event, cache, need, guild_id)
            self._pushes.add([(plain.parts(encoding), members)
                              for encoding, members in audience.groups])
        if self._push_handle is None:
            self._push()
        if build is None:
            self._push_gated(audience, plain, gate, touched)
        if need == _PRESENCES and guild_id is not None:
            # The lazy connections following this user here (op 14/37), and the user's
            # own: a dictionary lookup, a few recipients; none of them is in ``audience``.
            followers = self._follows.followers(guild_id, int(event.data["user"]["id"]))
            if followers:
                for encoding, members in Audience(followers, need, guild_id).groups:
                    parts = plain.parts(encoding)
                    for conn, push in members:
                        if push(parts):
                            touched[conn] = None
        if touched and self._flush_handle is None:
            self._flush_handle = (self._loop or asyncio.get_running_loop()).call_soon(self._flush)
        self._apply(event, guild_id, cache)

    def _push(self, whole: bool = False) -> None:
        """Push one slice of the unfinished fanouts (``whole``: all); if some are left, the
        rest after the loop's other ready work; else wake the drainer waiting for them."""
        if self._push_handle is not None:
            self._push_handle.cancel()
            self._push_handle = None
        loop = self._loop or asyncio.get_running_loop()
        if self._pushes.run(self._slices.touched, whole):
            self._push_handle = loop.call_soon(self._push)
        elif self._pushed is not None:
            if not self._pushed.done():
                self._pushed.set_result(None)
            self._pushed = None
        if self._slices.touched and self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._flush)

    async def _pushes_done(self) -> None:
        """Wait until every fanout is pushed (a later event must not overtake one)."""
        while self._pushes.pending:
            if self._pushed is None:
                self._pushed = (self._loop or asyncio.get_running_loop()).create_future()
            await self._pushed

    def touch(self, conn: Conn) -> None:
        """Flush ``conn`` at the end of this loop iteration (once, however many frames)."""
        self._slices.touched[conn] = None
        if self._flush_handle is None:
            self._flush_handle = (self._loop or asyncio.get_running_loop()).call_soon(self._flush)

    @property
    def flushing(self) -> bool:
        """Whether frames of a fanout may still be unqueued or unwritten (a push or a flush
        is scheduled)."""
        return self._flush_handle is not None or self._push_handle is not None

    def _flush(self, whole: bool = False) -> None:
        """Write one slice of the touched connections (``whole``: all of them); if some are
        left, the rest after the loop's other ready work (``call_soon``: the loop polls its
        sockets first)."""
        self._flush_handle = None
        slices = self._slices
        if not slices.in_round:
            self._take_round()
        more = slices.run(whole)
        if not slices.in_round:
            self._round_written()
            if not more:  # what arrived during that round is written too (its sockets were ahead)
                self._take_round()
                self._round_written()
        if more:
            self._flush_handle = (self._loop or asyncio.get_running_loop()).call_soon(self._flush)

    def _take_round(self) -> None:
        """A round begins: it carries the deliveries and traces that arrived until now."""
        self._round_delivered, self._delivered = self._delivered, None
        self._round_traced, self._traced = self._traced, []

    def _round_written(self) -> None:
        if self._round_traced:
            self._finish_traces()
        if self._round_delivered is not None:
            self._metrics.fanout_seconds.observe(time.perf_counter() - self._round_delivered)
            self._round_delivered = None

    def _finish_traces(self) -> None:
        traced, self._round_traced = self._round_traced, []
        for trace in traced:
            trace.stamp(WRITTEN)
            self._timeline.finish(trace)

    def _push_gated(self, audience: Audience, plain: Dispatch, gate: ContentGate | None,
                    touched: dict[Conn, None]) -> None:
        """The bots without MESSAGE_CONTENT: each its variant of the event."""
        for conn in audience.gated:
            session = conn.session
            dispatch = gate.variant(conn, plain) if gate is not None else plain
            if session.pusher(dispatch.parts(session.fanout_key)):
                touched[conn] = None

    def _build_in_slices(self, event: Event, cache: GuildCache | None, need: int,
                         guild_id: int | None, plain: Dispatch, gate: ContentGate | None
                         ) -> Callable[[], Sequence[Group] | None] | None:
        """For a guild event to a channel's viewers in a guild of more than
        ``BUILD_IN_SLICES_OVER`` local connections whose audience is not memoized: a step
        that makes it a chunk of candidates at a time (VIEW_CHANNEL checked as it goes) and,
        with the last one, memoizes it (unless something dropped the memo meanwhile), pushes
        the gated bots their variant and returns the groups. None: made at once (or memoized)."""
        if (cache is None or event.user_ids or event.name in _PERMISSION_GATED
                or event.name in ("CHANNEL_DELETE", "THREAD_DELETE") or need in _INDEXED
                or len(cache.conns) <= BUILD_IN_SLICES_OVER):
            return None
        key = (event.channel_id, need)
        if cache.audiences.get(key) is not None:
            return None
        cache.audiences[key] = _BUILDING
        conns, channel_id = tuple(cache.conns), event.channel_id
        builder = AudienceBuilder(need, guild_id)
        at = 0

        def step() -> Sequence[Group] | None:
            nonlocal at
            chunk, at = conns[at:at + CHUNK], at + CHUNK
            builder.add(chunk if channel_id is None else [
                c for c in chunk if cache.can_view(c.session.user_id, channel_id)])
            if at < len(conns):
                return None
            audience = builder.done()
            if cache.audiences.get(key) is _BUILDING:
                cache.audiences[key] = audience
            self._push_gated(audience, plain, gate, self._slices.touched)
            return [(plain.parts(encoding), members) for encoding, members in audience.groups]

        return step

    def _audience(self, event: Event, cache: GuildCache | None, need: int,
                  guild_id: int | None) -> Audience:
        """Who receives ``event``: memoized per (channel, intent) for a guild's events."""
        if event.user_ids or cache is None or event.name in _PERMISSION_GATED:
            return Audience(self._candidates(event, cache, need), need, guild_id)
        key = (event.channel_id, need)
        audience = cache.audiences.get(key)
        if audience is None or audience is _BUILDING:
            audience = Audience(self._candidates(event, cache, need), need, guild_id)
            if event.name != "CHANNEL_DELETE":  # its audience is not the channel's viewers
                cache.audiences[key] = audience
        return audience

    def _candidates(self, event: Event, cache: GuildCache | None, need: int) -> Iterable[Conn]:
        """The connections that may receive ``event`` as far as VIEW_CHANNEL is concerned."""
        if event.user_ids:
            users = self._users
            conns: Iterable[Conn] = [c for u in event.user_ids for c in users.get(u, ())]
        elif cache is not None:
            conns = tuple(self._by_intent.get((cache.guild_id, need), ()) if need in _INDEXED
                          else cache.conns)
        else:
            return ()
        gate = _PERMISSION_GATED.get(event.name)
        if gate is not None and cache is not None:
            channel = event.channel_id
            return [c for c in conns
                    if cache.holds(c.session.user_id, gate, channel)]  # type: ignore[arg-type]
        channel_id = event.channel_id
        if channel_id is None or cache is None:
            return conns
        if event.name == "CHANNEL_DELETE" and not cache.has_channel(channel_id):
            return conns  # already gone from a reloaded cache: tell everyone
        if event.name == "THREAD_DELETE" and not cache.has_channel(channel_id):
            # An archived thread, gone from the store before the cache could read it: those
            # who may see its parent, and for a private one (its members are gone too) those
            # of them who manage threads there.
            parent = int(event.data["parent_id"])
            private = event.data.get("type") == ChannelType.PRIVATE_THREAD
            return [c for c in conns if cache.can_view(c.session.user_id, parent)  # type: ignore[arg-type]
                    and not (private and not cache.holds(c.session.user_id,  # type: ignore[arg-type]
                                                         _MANAGE_THREADS, parent))]
        return [c for c in conns if cache.can_view(c.session.user_id, channel_id)]  # type: ignore[arg-type]

    def _apply(self, event: Event, guild_id: int | None, cache: GuildCache | None) -> None:
        """Update caches and subscriptions from an event already fanned out."""
        name = event.name
        if name == "GUILD_CREATE" and guild_id is not None:
            large = bool(event.data.get("large"))
            for conn in self._targets(event.user_ids, guild_id):
                self._join(conn, guild_id, large)
            if cache is not None and not cache.conns:  # loaded for sessions gone meanwhile
                self._drop(guild_id)
        elif name == "GUILD_DELETE" and guild_id is not None:
            conns = self._targets(event.user_ids, guild_id) if event.user_ids else (
                tuple(cache.conns) if cache is not None else ())
            for conn in conns:
                self._leave(conn, guild_id)
        elif name == TOKENS_REVOKED:
            self._close_user(int(event.data["user_id"]))
        elif cache is None:
            return
        elif name in RELOAD_EVENTS:
            cache.invalidate()
        elif name == "GUILD_MEMBER_UPDATE":
            cache.update_member(event.data)
        elif name == "GUILD_MEMBER_REMOVE":
            cache.forget_member(int(event.data["user"]["id"]))

    def _close_user(self, user_id: int) -> None:
        """Close the user's local sessions with 4004 Authentication failed, what Discord sends
        for a token no longer valid: the user's tokens were revoked or the account disabled
        (``TOKENS_REVOKED``, from ``discord-arch admin``). 4004 cannot be resumed; a session
        already DETACHED needs a token that resolves to be resumed, and none of the old ones
        does."""
        for conn in tuple(self._users.get(user_id, ())):
            conn.session.close(CloseCode.AUTHENTICATION_FAILED)
            self.touch(conn)  # flushed (the close frame written) at the end of the iteration

    def _targets(self, user_ids: Sequence[int], guild_id: int) -> list[Conn]:
        return [c for u in user_ids for c in self._users.get(u, ())
                if on_shard(c.session.shard, guild_id)]

    # -- events that wait for a store read ------------------------------------------------------

    def _needs_load(self, event: Event) -> tuple[int, tuple[int, ...]] | None:
        """``(guild_id, user_ids)`` to load before ``event`` can be fanned out, or None."""
        if event.name == "GUILD_CREATE":
            guild_id = guild_of(event)
            users = tuple(u for u in event.user_ids if u in self._users)
            if guild_id is None or not users:
                return None
            if self._presence is not None and "members" in event.data:
                return guild_id, users  # its presences are read first (_drain)
            cache = self._guilds.get(guild_id)
            return (guild_id, users) if cache is None or cache.missing(users) else None
        if event.guild_id is None or (event.channel_id is None
                                      and event.name not in _PERMISSION_GATED):
            return None  # no permission check: nothing to load
        cache = self._guilds.get(event.guild_id)
        if cache is None:
            return None  # no local session in this guild
        if cache.missing():
            if event.channel_id is not None:
                cache.want(event.channel_id)
            return event.guild_id, ()
        if event.channel_id is None:
            return None
        if event.name != "CHANNEL_DELETE" and not cache.has_channel(event.channel_id):
            # A channel made since the last load (CHANNEL_CREATE is fanned out before it
            # invalidates the cache), or an archived thread: a load must read the channels
            # again, not just members, and that thread on its own.
            cache.want(event.channel_id)
            cache.invalidate()
            return event.guild_id, ()
        return None

    def _queue(self, events: Iterable[Event]) -> None:
        self._backlog.extend(events)
        overflow = len(self._backlog) - BACKLOG_MAX
        if overflow > 0:
            logger.error("hub backlog full: dropping %d events", overflow)
            for _ in range(overflow):
                self._backlog.popleft()
        if self._drainer is None:
            self._drainer = (self._loop or asyncio.get_running_loop()).create_task(self._drain())

    async def _drain(self) -> None:
        try:
            backlog = self._backlog
            while backlog:
                if self._pushes.pending:  # a fanout in slices: no later event overtakes it
                    await self._pushes_done()
                    continue
                head = event = backlog[0]
                need = self._needs_load(event)
                if need is not None:
                    await self._load(*need)
                    if event.name == "GUILD_CREATE":
                        event = await self._with_presences(event)
                # The backlog may have overflowed during the read (its oldest dropped, this
                # event among them) or been cleared by aclose: publish only what is still first.
                if backlog and backlog[0] is head:
                    backlog.popleft()
                    self._publish_one(event)
        finally:
            self._drainer = None
            if self._flush_handle is None:
                self._delivered = None

    async def _with_presences(self, event: Event) -> Event:
        """``event`` (a GUILD_CREATE) with the presences of its listed members."""
        if self._presence is None or "members" not in event.data:
            return event
        try:
            presences = await self._presence.presences(event.data["members"])
        except Exception:  # the guild matters more than who in it is online
            logger.exception("reading the presences of guild %s failed", event.data.get("id"))
            return event
        return dataclasses.replace(event, data={**event.data, "presences": presences})

    async def _load(self, guild_id: int, user_ids: tuple[int, ...]) -> None:
        cache = self._cache(guild_id)
        try:
            await cache.load(self._platform.meta, user_ids)
        except Exception:  # a store error must not stop the fanout: go on with what we have
            logger.exception("loading guild %d for the hub failed", guild_id)
