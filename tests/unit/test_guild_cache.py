"""Unit tests for gateway.cache.GuildCache's subscriber bookkeeping (sans-I/O: no load).

Its connections and pending users are kept in dicts rather than sets (a third of the memory
per guild: issue 16's users in many small guilds); what they mean must not change: a
membership goes with the user's last connection, a connection counts once, order is kept.
"""

from __future__ import annotations

from core.models import Member
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
