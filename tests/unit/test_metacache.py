"""CachedMetaStore: hits, invalidation by writes and by events, in-flight reads, expiry."""

from __future__ import annotations

import asyncio
from typing import Any

from core.events import Event
from core.models import Channel, ChannelType, Guild, Member, Role
from core.store.metacache import CachedMetaStore

G, C, U = 100, 200, 300


class FakeMeta:
    """A metadata store holding one guild, counting reads; ``gate`` pauses get_guild."""

    def __init__(self) -> None:
        self.reads = 0
        self.guild = Guild(G, "g", owner_id=U)
        self.gate: asyncio.Event | None = None

    async def get_guild(self, guild_id: int) -> Guild | None:
        self.reads += 1
        value = self.guild
        if self.gate is not None:
            await self.gate.wait()
        return value

    async def list_roles(self, guild_id: int) -> list[Role]:
        self.reads += 1
        return [Role(G, G, "@everyone", 1)]

    async def get_member(self, guild_id: int, user_id: int) -> Member | None:
        self.reads += 1
        return Member(G, user_id, 0)

    async def get_channel(self, channel_id: int) -> Channel | None:
        self.reads += 1
        return Channel(channel_id, ChannelType.GUILD_TEXT, guild_id=G, name="c")

    async def update_guild(self, guild_id: int, fields: dict[str, Any]) -> Guild | None:
        self.guild = Guild(G, fields["name"], owner_id=U)
        return self.guild

    async def update_channel(self, channel_id: int, fields: dict[str, Any]) -> Channel | None:
        return None

    async def count_members(self, guild_id: int) -> int:
        return 7


async def test_repeated_reads_hit_the_cache() -> None:
    inner = FakeMeta()
    cache = CachedMetaStore(inner)  # type: ignore[arg-type]
    for _ in range(3):
        assert (await cache.get_guild(G)).name == "g"  # type: ignore[union-attr]
        assert len(await cache.list_roles(G)) == 1
        assert (await cache.get_member(G, U)) is not None
        assert (await cache.get_channel(C)) is not None
    assert inner.reads == 4 and cache.hits == 8


async def test_write_through_the_cache_drops_the_guild() -> None:
    inner = FakeMeta()
    cache = CachedMetaStore(inner)  # type: ignore[arg-type]
    await cache.get_guild(G)
    await cache.update_guild(G, {"name": "renamed"})
    assert (await cache.get_guild(G)).name == "renamed"  # type: ignore[union-attr]


async def test_channel_write_drops_its_guild_entries() -> None:
    inner = FakeMeta()
    cache = CachedMetaStore(inner)  # type: ignore[arg-type]
    await cache.get_channel(C)
    await cache.get_member(G, U)
    reads = inner.reads
    await cache.update_channel(C, {"name": "x"})
    await cache.get_channel(C)
    await cache.get_member(G, U)
    assert inner.reads == reads + 2


async def test_events_from_other_workers_invalidate() -> None:
    inner = FakeMeta()
    cache = CachedMetaStore(inner)  # type: ignore[arg-type]
    await cache.get_guild(G)
    inner.guild = Guild(G, "changed elsewhere", owner_id=U)
    cache.on_events([Event("MESSAGE_CREATE", {}, guild_id=G, channel_id=C)])
    assert (await cache.get_guild(G)).name == "g"  # type: ignore[union-attr]  # not a change
    cache.on_events([Event("GUILD_ROLE_UPDATE", {"guild_id": str(G), "role": {}}, guild_id=G)])
    assert (await cache.get_guild(G)).name == "changed elsewhere"  # type: ignore[union-attr]
    inner.guild = Guild(G, "deleted", owner_id=U)
    cache.on_events([Event("GUILD_DELETE", {"id": str(G)}, user_ids=(U,))])
    assert (await cache.get_guild(G)).name == "deleted"  # type: ignore[union-attr]


async def test_read_in_flight_during_invalidation_is_not_cached() -> None:
    inner = FakeMeta()
    cache = CachedMetaStore(inner)  # type: ignore[arg-type]
    inner.gate = asyncio.Event()
    slow = asyncio.create_task(cache.get_guild(G))
    await asyncio.sleep(0)
    inner.guild = Guild(G, "new", owner_id=U)  # read above already took the old value
    cache.invalidate_guild(G)
    inner.gate.set()
    assert (await slow).name == "g"  # type: ignore[union-attr]
    inner.gate = None
    assert (await cache.get_guild(G)).name == "new"  # type: ignore[union-attr]


async def test_entries_expire_after_ttl() -> None:
    now = [0.0]
    inner = FakeMeta()
    cache = CachedMetaStore(inner, ttl_s=10, clock=lambda: now[0])  # type: ignore[arg-type]
    await cache.get_guild(G)
    now[0] = 11
    await cache.get_guild(G)
    assert inner.reads == 2


async def test_guild_count_is_bounded_and_other_calls_delegate() -> None:
    inner = FakeMeta()
    cache = CachedMetaStore(inner, max_guilds=2)  # type: ignore[arg-type]
    for gid in (1, 2, 3):
        await cache.get_member(gid, U)
    assert len(cache._guilds) == 2
    assert await cache.count_members(G) == 7


async def test_a_guilds_entries_expire_together_ttl_after_its_first() -> None:
    now = [0.0]
    inner = FakeMeta()
    cache = CachedMetaStore(inner, ttl_s=10, clock=lambda: now[0])  # type: ignore[arg-type]
    await cache.get_guild(G)
    now[0] = 6
    await cache.get_member(G, U)  # stored later, in the same guild
    reads = inner.reads
    await cache.get_member(G, U)
    assert inner.reads == reads  # a hit
    now[0] = 11  # past the guild's first entry's ttl, not the member's
    await cache.get_member(G, U)
    await cache.get_guild(G)
    assert inner.reads == reads + 2  # both read again, and cached anew from here
    now[0] = 20
    await cache.get_member(G, U)
    await cache.get_guild(G)
    assert inner.reads == reads + 2


async def test_expired_guilds_are_forgotten_when_new_ones_are_stored() -> None:
    # Not only when read again: an idle worker would otherwise keep every guild its sessions'
    # identifies read (their members) for good (issue 16, idle memory).
    now = [0.0]
    inner = FakeMeta()
    cache = CachedMetaStore(inner, ttl_s=10, clock=lambda: now[0])  # type: ignore[arg-type]
    for gid in range(1, 7):
        await cache.get_member(gid, U)
    now[0] = 5
    await cache.get_member(7, U)  # nothing expired yet
    assert len(cache._guilds) == 7
    now[0] = 11  # guilds 1-6 expired, 7 not
    await cache.get_member(8, U)  # forgets four of them (bounded work per store)
    assert list(cache._guilds) == [5, 6, 7, 8]
    await cache.get_member(9, U)
    assert list(cache._guilds) == [7, 8, 9] and list(cache._expires) == [7, 8, 9]
