"""Unit tests for gateway.cache.GuildCache's subscriber bookkeeping (sans-I/O: no load).

Its connections and pending users are kept in dicts rather than sets (a third of the memory
per guild: issue 16's users in many small guilds); what they mean must not change: a
membership goes with the user's last connection, a connection counts once, order is kept.
"""

from __future__ import annotations

from core.models import Channel, ChannelType, Guild, Member, Overwrite, OverwriteType, Role
from core.permissions import Permission
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
