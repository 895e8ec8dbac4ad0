"""A per-worker cache of what permission checks read, in front of the metadata store.

Every REST call that touches a channel or guild first loads the channel, the guild, its roles
and the caller's membership (``core.access``): four queries, measured as most of the cost of a
message send (bench/RESULTS.md). ``CachedMetaStore`` keeps those four reads in memory and
delegates everything else to the store it wraps.

Staleness is bounded three ways:
- writes made through this wrapper drop what they change before returning (same worker: no
  staleness at all);
- ``on_events`` drops a guild's entries when an event about it arrives on the bus, which is how
  changes made on other workers reach this one (as fast as the bus);
- every entry expires after ``ttl_s`` anyway, a safety net for a lost bus message: a guild's
  entries all expire ``ttl_s`` after its first was stored (one expiry per guild, so none is
  trusted longer and an entry costs no timestamp of its own).
A read that was in flight while its guild was invalidated is not cached (a per-guild epoch is
compared before storing), so an old read can never overwrite a newer invalidation.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from core.events import Event
from core.models import Channel, Guild, Member, Overwrite, Role
from core.store.base import MetaStore, RecipientOutcome

__all__ = ["CachedMetaStore"]

# Events that change what a permission check reads. Message, typing and presence events do not.
_INVALIDATING_PREFIXES = ("GUILD_", "CHANNEL_")
_DM_GUILD = 0  # the "guild" DM channels are filed under
# Expired guilds forgotten per guild entry made: more than one, so they go faster than they come.
_EXPIRED_PER_STORE = 4
T = TypeVar("T")


class CachedMetaStore:
    """``MetaStore`` with cached ``get_guild``, ``list_roles``, ``get_member``, ``get_channel``.

    Args:
        inner: the real metadata store (all other methods go straight to it).
        max_guilds: guilds with cached entries at most (least recently used dropped first).
        max_entries_per_guild: members plus channels cached per guild at most.
        ttl_s: the longest an entry is trusted.
        clock: monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        inner: MetaStore,
        *,
        max_guilds: int = 10_000,
        max_entries_per_guild: int = 5_000,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._max_guilds = max_guilds
        self._max_entries = max_entries_per_guild
        self._ttl = ttl_s
        self._clock = clock
        # guild id -> {key: value}; keys: "guild", "roles", a member's user id, ("c", cid).
        # One expiry per guild (``_expires``: its first entry's), not one per entry: a member
        # entry is then a dict slot, where an (expires, value) tuple and a ("m", uid) key cost
        # ~190 bytes more, ten times over for a user in ten guilds (bench/RESULTS.md, idle).
        self._guilds: OrderedDict[int, dict[Any, Any]] = OrderedDict()
        # In expiry order (an entry is made once per guild, with the same ttl): the front is
        # the next to expire, so :meth:`_store` drops expired guilds without a scan. Without
        # it an expired guild stayed until read again: an idle worker kept every guild its
        # sessions' identifies had read (their Member objects among them) for good.
        self._expires: OrderedDict[int, float] = OrderedDict()
        self._channel_guild: dict[int, int] = {}
        self._epochs: dict[int, int] = {}
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        # Everything not cached or invalidating below is the inner store's, unchanged.
        return getattr(self._inner, name)

    # -- invalidation ------------------------------------------------------------------------
    def invalidate_guild(self, guild_id: int) -> None:
        self._forget(guild_id)
        self._epochs[guild_id] = self._epochs.get(guild_id, 0) + 1
        if len(self._epochs) > 4 * self._max_guilds:  # epochs only matter for reads in flight
            self._epochs.clear()

    def _forget(self, guild_id: int) -> None:
        """Drop ``guild_id``'s entries (invalidated, evicted or expired)."""
        entries = self._guilds.pop(guild_id, None)
        self._expires.pop(guild_id, None)
        if entries:
            for key in entries:
                if isinstance(key, tuple) and key[0] == "c":
                    self._channel_guild.pop(key[1], None)

    def on_events(self, events: Sequence[Event]) -> None:
        """Bus subscriber: drop the guilds that events report a change in."""
        for event in events:
            if not event.name.startswith(_INVALIDATING_PREFIXES):
                continue
            guild_id = event.guild_id or _int(event.data.get("guild_id")) or (
                _int(event.data.get("id")) if event.name.startswith("GUILD_") else None)
            if guild_id:
                self.invalidate_guild(guild_id)
            elif event.channel_id or event.name.startswith("CHANNEL_"):
                self._invalidate_channel(event.channel_id or _int(event.data.get("id")))

    def _invalidate_channel(self, channel_id: int | None) -> None:
        if channel_id is not None:
            self.invalidate_guild(self._channel_guild.get(channel_id, _DM_GUILD))

    # -- cached reads ------------------------------------------------------------------------
    async def get_guild(self, guild_id: int) -> Guild | None:
        return await self._cached(guild_id, "guild", lambda: self._inner.get_guild(guild_id))

    async def list_roles(self, guild_id: int) -> list[Role]:
        async def load() -> tuple[Role, ...]:
            # Cached as a tuple, and each caller gets a list of its own: none can mutate it.
            return tuple(await self._inner.list_roles(guild_id))

        return list(await self._cached(guild_id, "roles", load))

    async def get_member(self, guild_id: int, user_id: int) -> Member | None:
        return await self._cached(
            guild_id, user_id, lambda: self._inner.get_member(guild_id, user_id)
        )

    async def get_channel(self, channel_id: int) -> Channel | None:
        guild_id = self._channel_guild.get(channel_id)
        if guild_id is not None:
            hit = self._lookup(guild_id, ("c", channel_id))
            if hit is not _MISS:
                return hit  # type: ignore[no-any-return]
        self.misses += 1
        channel = await self._inner.get_channel(channel_id)
        # A thread is never cached: its state (archived, counts, members) changes without a
        # GUILD_/CHANNEL_ event, and its writes bypass this wrapper.
        if channel is not None and channel.thread is None:
            owner = channel.guild_id or _DM_GUILD
            # The channel's guild was unknown before the read: no epoch to compare, so only
            # store when no invalidation of that guild happened meanwhile is the best check.
            self._store(owner, ("c", channel_id), channel, self._epochs.get(owner, 0))
            self._channel_guild[channel_id] = owner
        return channel

    async def _cached(self, guild_id: int, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        hit = self._lookup(guild_id, key)
        if hit is not _MISS:
            return cast(T, hit)  # stored under this key by the same kind of load
        self.misses += 1
        epoch = self._epochs.get(guild_id, 0)
        value = await load()
        if value is not None:
            self._store(guild_id, key, value, epoch)
        return value

    def _lookup(self, guild_id: int, key: Any) -> Any:
        entries = self._guilds.get(guild_id)
        if entries is None:
            return _MISS
        if self._expires[guild_id] < self._clock():
            self._forget(guild_id)  # its oldest entry is past the ttl: all are read again
            return _MISS
        value = entries.get(key, _MISS)
        if value is _MISS:
            return _MISS
        self._guilds.move_to_end(guild_id)
        self.hits += 1
        return value

    def _store(self, guild_id: int, key: Any, value: Any, epoch: int) -> None:
        if self._epochs.get(guild_id, 0) != epoch:
            return  # invalidated while this read was in flight
        entries = self._guilds.get(guild_id)
        if entries is None:
            now = self._clock()
            self._drop_expired(now)
            entries = self._guilds[guild_id] = {}
            self._expires[guild_id] = now + self._ttl
        else:
            self._guilds.move_to_end(guild_id)
        if len(entries) >= self._max_entries:
            entries.clear()
        entries[key] = value
        while len(self._guilds) > self._max_guilds:
            self.invalidate_guild(next(iter(self._guilds)))

    def _drop_expired(self, now: float) -> None:
        """Forget a few guilds whose entries expired (a few per new guild: bounded work)."""
        expires = self._expires
        for _ in range(_EXPIRED_PER_STORE):
            if not expires:
                return
            guild_id, at = next(iter(expires.items()))
            if at >= now:
                return
            self._forget(guild_id)

    # -- writes that change cached reads: write, then drop -----------------------------------
    async def create_guild(self, guild: Guild, roles: Sequence[Role],
                           channels: Sequence[Channel], owner: Member) -> None:
        try:
            await self._inner.create_guild(guild, roles, channels, owner)
        finally:
            self.invalidate_guild(guild.id)

    async def update_guild(self, guild_id: int, fields: dict[str, Any]) -> Guild | None:
        return await self._then_drop(guild_id, self._inner.update_guild(guild_id, fields))

    async def delete_guild(self, guild_id: int) -> bool:
        return await self._then_drop(guild_id, self._inner.delete_guild(guild_id))

    async def create_role(self, role: Role) -> None:
        await self._then_drop(role.guild_id, self._inner.create_role(role))

    async def update_role(self, guild_id: int, role_id: int, fields: dict[str, Any]) -> Role | None:
        return await self._then_drop(guild_id, self._inner.update_role(guild_id, role_id, fields))

    async def delete_role(self, guild_id: int, role_id: int) -> bool:
        return await self._then_drop(guild_id, self._inner.delete_role(guild_id, role_id))

    async def create_channel(self, channel: Channel) -> None:
        await self._then_drop(channel.guild_id or _DM_GUILD, self._inner.create_channel(channel))

    async def update_channel(self, channel_id: int, fields: dict[str, Any]) -> Channel | None:
        return await self._channel_then_drop(channel_id,
                                             self._inner.update_channel(channel_id, fields))

    async def delete_channel(self, channel_id: int) -> bool:
        return await self._channel_then_drop(channel_id, self._inner.delete_channel(channel_id))

    # A group DM's recipients are what its permission check reads (``core.access``).
    async def create_group_dm(self, channel: Channel, now_ms: int) -> None:
        await self._then_drop(_DM_GUILD, self._inner.create_group_dm(channel, now_ms))

    async def add_recipient(self, channel_id: int, user_id: int, now_ms: int, *,
                            max_recipients: int) -> RecipientOutcome:
        return await self._then_drop(_DM_GUILD, self._inner.add_recipient(
            channel_id, user_id, now_ms, max_recipients=max_recipients))

    async def remove_recipient(self, channel_id: int, user_id: int) -> Channel | None:
        return await self._then_drop(_DM_GUILD, self._inner.remove_recipient(channel_id, user_id))

    async def put_overwrite(self, channel_id: int, overwrite: Overwrite) -> None:
        await self._channel_then_drop(channel_id, self._inner.put_overwrite(channel_id, overwrite))

    async def delete_overwrite(self, channel_id: int, target_id: int) -> bool:
        return await self._channel_then_drop(
            channel_id, self._inner.delete_overwrite(channel_id, target_id))

    async def add_member(self, member: Member) -> bool:
        return await self._then_drop(member.guild_id, self._inner.add_member(member))

    async def update_member(self, guild_id: int, user_id: int,
                            fields: dict[str, Any]) -> Member | None:
        return await self._then_drop(guild_id,
                                     self._inner.update_member(guild_id, user_id, fields))

    async def remove_member(self, guild_id: int, user_id: int) -> bool:
        return await self._then_drop(guild_id, self._inner.remove_member(guild_id, user_id))

    async def add_member_role(self, guild_id: int, user_id: int, role_id: int) -> bool:
        return await self._then_drop(
            guild_id, self._inner.add_member_role(guild_id, user_id, role_id))

    async def remove_member_role(self, guild_id: int, user_id: int, role_id: int) -> bool:
        return await self._then_drop(
            guild_id, self._inner.remove_member_role(guild_id, user_id, role_id))

    async def _then_drop(self, guild_id: int, write: Awaitable[T]) -> T:
        try:
            return await write
        finally:
            self.invalidate_guild(guild_id)

    async def _channel_then_drop(self, channel_id: int, write: Awaitable[T]) -> T:
        guild_id = self._channel_guild.get(channel_id)
        if guild_id is None:  # not cached here: look it up so the right guild is dropped
            channel = await self._inner.get_channel(channel_id)
            guild_id = (channel.guild_id or _DM_GUILD) if channel else _DM_GUILD
        return await self._then_drop(guild_id, write)


_MISS = object()


def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
