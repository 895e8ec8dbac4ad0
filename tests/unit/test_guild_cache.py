"""Unit tests for gateway.cache.GuildCache's subscriber bookkeeping (sans-I/O: no load).

Its connections and pending users are kept in dicts rather than sets (a third of the memory
per guild: issue 16's users in many small guilds); what they mean must not change: a
membership goes with the user's last connection, a connection counts once, order is kept.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gateway.cache
from core.models import Channel, ChannelType, Guild, Member, Overwrite, OverwriteType, Role
from core.permissions import Permission, compute_permissions
from gateway.cache import GuildCache

GUILD = 7


def test_subscribers_count_once_in_order_and_the_member_goes_with_the_last() -> None:
    cache = GuildCache(GUILD)
    a, b, c = object(), object(), object()
    cache.subscribe(a, 1)
    cache.subscribe(b, 1)  # a second connection of user 1
    cache.subscribe(c, 2)
    cache.subscribe(a, 1)  # again: nothing changes
    assert list(cache.conns) == [a, b, c]
    assert cache.missing() and set(cache.unloaded) == {1, 2}
    cache.members[1] = Member(GUILD, 1, 0)
    cache.unloaded.pop(1)
    cache.unsubscribe(a, 1)
    assert 1 in cache.members  # user 1 still has b here
    cache.unsubscribe(a, 1)  # not subscribed any more: ignored
    assert list(cache.conns) == [b, c] and 1 in cache.members
    cache.unsubscribe(b, 1)
    assert 1 not in cache.members and list(cache.conns) == [c]
    cache.unsubscribe(c, 2)
    assert not cache.conns and not cache.unloaded  # 2 was never read: forgotten too


def test_subscribing_a_known_member_needs_no_read_of_it() -> None:
    cache = GuildCache(GUILD)
    cache.members[3] = Member(GUILD, 3, 0)
    cache.stale = False
    cache.subscribe(object(), 3)
    assert not cache.unloaded and not cache.missing((3,))
    assert cache.missing((4,))  # another user's membership is not known
    cache.forget_member(3)
    assert cache.missing((3,)) and not cache.unloaded


def test_a_subscriber_change_empties_the_audience_memo() -> None:
    cache = GuildCache(GUILD)
    conn = object()
    cache.audiences["k"] = "memo"
    cache.subscribe(conn, 1)
    assert not cache.audiences
    cache.audiences["k"] = "memo"
    cache.unsubscribe(conn, 1)
    assert not cache.audiences


def _loaded(member_ids: range) -> GuildCache:
    """A cache as a load leaves it: @everyone may view, a "muted" role denies VIEW_CHANNEL
    in channel 50."""
    cache = GuildCache(GUILD)
    cache._guild = Guild(GUILD, "g", owner_id=999)
    cache._roles = {GUILD: Role(GUILD, GUILD, "@everyone", int(Permission.VIEW_CHANNEL)),
                    60: Role(60, GUILD, "muted", 0)}
    cache._channels = {50: Channel(50, ChannelType.GUILD_TEXT, GUILD, overwrites=(
        Overwrite(60, OverwriteType.ROLE, deny=int(Permission.VIEW_CHANNEL)),))}
    cache.stale = False
    for user_id in member_ids:
        cache.members[user_id] = Member(GUILD, user_id, 0)
    return cache


def test_a_member_change_drops_only_that_members_view_memo() -> None:
    # One member leaving or changing roles in a big guild must not make the next message
    # recompute every member's permissions (a 0.5 s stall at 10,000: bench bigchannel).
    cache = _loaded(range(1, 6))
    assert all(cache.can_view(u, 50) for u in range(1, 6))
    cache.audiences["k"] = "memo"
    cache.update_member({"user": {"id": "2"}, "roles": ["60"]})
    assert not cache.audiences
    assert not cache.can_view(2, 50)  # its own memo was dropped: recomputed
    assert set(cache._view[50]) == {1, 2, 3, 4, 5}  # the others' were kept
    cache.audiences["k"] = "memo"
    cache.forget_member(3)
    assert not cache.audiences
    assert set(cache._view[50]) == {1, 2, 4, 5}
    assert not cache.can_view(3, 50)  # no longer a member
    cache.update_member({"user": {"id": "2"}, "roles": []})
    assert cache.can_view(2, 50)


def test_members_with_the_same_roles_share_one_computation(monkeypatch: Any) -> None:
    # After a connect storm the first message asks about every member: one
    # compute_permissions per role set and channel, not per member.
    calls: list[int] = []

    def counting(guild: Any, roles: Any, member: Member, channel: Any) -> int:
        calls.append(member.user_id)
        return compute_permissions(guild, roles, member, channel)

    monkeypatch.setattr(gateway.cache, "compute_permissions", counting)
    cache = _loaded(range(1, 101))
    cache.members[7] = Member(GUILD, 7, 0, roles=(60,))  # muted
    assert sum(cache.can_view(u, 50) for u in range(1, 101)) == 99
    assert len(calls) == 2  # @everyone only, and muted
    # Their own overwrite, or being the owner, is theirs alone: computed apart.
    cache._channels[50] = dataclasses.replace(cache._channels[50], overwrites=(
        *cache._channels[50].overwrites,
        Overwrite(8, OverwriteType.MEMBER, deny=int(Permission.VIEW_CHANNEL))))
    cache.invalidate()  # a channel change drops every memo
    cache.stale = False
    cache.members[999] = Member(GUILD, 999, 0, roles=(60,))  # the owner, muted or not
    calls.clear()
    assert not cache.can_view(8, 50) and cache.can_view(9, 50) and cache.can_view(999, 50)
    assert not cache.can_view(7, 50)
    assert sorted(calls) == [7, 8, 9, 999]
class _Meta:
    """The reads GuildCache.load makes: one guild (owner 1), @everyone may VIEW, a role MOD
    may also VIEW_AUDIT_LOG; member 4 has MOD and is timed out until FAR."""

    FAR = 10**15

    def __init__(self) -> None:
        self.members = {2: Member(GUILD, 2, 111, roles=(MOD,)), 3: Member(GUILD, 3, 222, roles=(MOD,)),
                        5: Member(GUILD, 5, 333),
                        4: Member(GUILD, 4, 0, roles=(MOD,), communication_disabled_until=self.FAR)}

    async def get_guild(self, guild_id: int) -> Guild:
        return Guild(GUILD, "g", owner_id=1)

    async def list_roles(self, guild_id: int) -> list[Role]:
        return [Role(GUILD, GUILD, "@everyone", int(Permission.VIEW_CHANNEL)),
                Role(MOD, GUILD, "mod", int(Permission.VIEW_AUDIT_LOG))]

    async def list_channels(self, guild_id: int) -> list[Channel]:
        return [Channel(CHANNEL, ChannelType.GUILD_TEXT, guild_id=GUILD, name="c")]

    async def list_active_threads(self, guild_id: int, now_ms: int, limit: int) -> list[Channel]:
        return []

    async def get_member(self, guild_id: int, user_id: int) -> Member | None:
        return self.members.get(user_id)


MOD, CHANNEL = 70, 71
_AUDIT = int(Permission.VIEW_AUDIT_LOG)


async def test_members_are_kept_as_shared_roles_and_checks_read_them_the_same() -> None:
    # Per idle session (issue 16): a member's roles, one tuple per distinct set in the guild
    # (the empty one for most), not a Member per user and guild; a timeout keeps the Member.
    cache = GuildCache(GUILD)
    for user_id in (2, 3, 4, 5):
        cache.subscribe(object(), user_id)
    await cache.load(_Meta())  # type: ignore[arg-type]
    assert cache.members[2] == (MOD,) and cache.members[2] is cache.members[3]
    assert cache.members[5] == () and isinstance(cache.members[4], Member)
    assert all(cache.can_view(u, CHANNEL) for u in (2, 3, 4, 5))
    assert cache.holds(2, _AUDIT) and cache.holds(3, _AUDIT, CHANNEL)
    assert not cache.holds(5, _AUDIT)
    assert not cache.holds(4, _AUDIT)  # timed out: its Member's timeout still applies
    assert cache.member(2) == Member(GUILD, 2, 0, roles=(MOD,)) and cache.member(9) is None
    cache.update_member({"user": {"id": "5"}, "roles": [str(MOD)]})
    assert cache.members[5] is cache.members[2] and cache.holds(5, _AUDIT)
    cache.update_member({"user": {"id": "4"}, "roles": []})
    assert isinstance(cache.members[4], Member) and cache.members[4].roles == ()
