"""Whose presences a user session in a large guild receives: the members it subscribed to.

Discord's user clients do not get every member's PRESENCE_UPDATE in a large guild: they say
which members they display (op 14 "Guild Subscriptions", op 37 its bulk form: the lazy
guilds), and get the presences of those, plus their own. Without it, N members of one large
guild connecting with GUILD_PRESENCES cost N(N+1)/2 deliveries (bench/RESULTS.md, "The
connect storm and presences"). Bots keep getting all of them, as on Discord.

:class:`MemberSubscriptions` is the hub's index for that, pure (no I/O, no event loop): per
(guild, user) the connections that follow the user there, so a PRESENCE_UPDATE costs one
dictionary lookup, never a scan of the guild's sessions; and per connection what it follows,
so that a subscription replaced, a guild left or a session ended is undone exactly. A
connection is "lazy" in a guild (:meth:`MemberSubscriptions.lazy`) when the hub joins it to
a large guild as a user account with GUILD_PRESENCES; only then do its subscriptions count.

Bounds: one guild's subscription names at most ``MAX_SUBSCRIBED_MEMBERS`` members (checked
by ``gateway.commands``); a connection keeps member subscriptions in at most ``max_guilds``
guilds, and a subscription in one more drops the members of the guild whose subscription is
the oldest (a client follows the guilds it shows, and shows one at a time), so a session's
index entries stay under ``max_guilds * MAX_SUBSCRIBED_MEMBERS`` plus one per lazy guild.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["MAX_FOLLOWED_GUILDS", "MemberSubscriptions"]

# Guilds in which one connection keeps member subscriptions; the oldest beyond are dropped.
MAX_FOLLOWED_GUILDS = 25

C = TypeVar("C")
_NONE: frozenset[int] = frozenset()


class _Follows:
    """What one connection follows: its own user id, and the members per lazy guild (a dict
    ordered by the time of the guild's last subscription, the oldest first)."""

    __slots__ = ("guilds", "own")

    def __init__(self, own: int) -> None:
        self.own = own
        self.guilds: dict[int, frozenset[int]] = {}


class MemberSubscriptions(Generic[C]):
    """The followed members of every lazy connection, indexed by (guild, member).

    Args:
        max_guilds: guilds in which one connection keeps member subscriptions.
    """

    __slots__ = ("_by_conn", "_index", "_max_guilds")

    def __init__(self, max_guilds: int = MAX_FOLLOWED_GUILDS) -> None:
        self._max_guilds = max_guilds
        # (guild_id, user_id) -> the connections that receive the user's presence there.
        # Dicts as ordered sets: a fanout's order follows subscription order.
        self._index: dict[tuple[int, int], dict[C, None]] = {}
        self._by_conn: dict[C, _Follows] = {}

    def lazy(self, conn: C, guild_id: int, own_id: int) -> None:
        """``conn`` (user ``own_id``) gets in ``guild_id`` only the presences it follows, and
        its own; it follows no one else yet."""
        follows = self._by_conn.get(conn)
        if follows is None:
            follows = self._by_conn[conn] = _Follows(own_id)
        if guild_id in follows.guilds:
            return
        follows.guilds[guild_id] = _NONE
        self._add(guild_id, own_id, conn)

    def is_lazy(self, conn: C, guild_id: int) -> bool:
        follows = self._by_conn.get(conn)
        return follows is not None and guild_id in follows.guilds

    def lazy_guilds(self, conn: C) -> tuple[int, ...]:
        """The guilds in which ``conn`` is lazy."""
        follows = self._by_conn.get(conn)
        return tuple(follows.guilds) if follows is not None else ()

    def followed(self, conn: C, guild_id: int) -> frozenset[int]:
        """The members ``conn`` follows in ``guild_id`` (besides its own user)."""
        follows = self._by_conn.get(conn)
        return follows.guilds.get(guild_id, _NONE) if follows is not None else _NONE

    def set_members(self, conn: C, guild_id: int, user_ids: Iterable[int]) -> bool:
        """``conn`` now follows exactly ``user_ids`` in ``guild_id``.

        Returns False (and changes nothing) unless ``conn`` is lazy there: in a small guild,
        or as a bot, it receives every presence anyway. Over ``max_guilds`` guilds with
        members followed, the oldest subscription's members are dropped (the guild stays
        lazy: its own presence still comes).
        """
        follows = self._by_conn.get(conn)
        if follows is None or guild_id not in follows.guilds:
            return False
        old = follows.guilds.pop(guild_id)
        new = frozenset(user_ids) - {follows.own}
        for user_id in old - new:
            self._remove(guild_id, user_id, conn)
        for user_id in new - old:
            self._add(guild_id, user_id, conn)
        follows.guilds[guild_id] = new  # to the end: the newest subscription
        if new:
            self._evict(conn, follows)
        return True

    def leave(self, conn: C, guild_id: int) -> None:
        """``conn`` left ``guild_id``: forget what it followed there."""
        follows = self._by_conn.get(conn)
        if follows is None:
            return
        members = follows.guilds.pop(guild_id, None)
        if members is None:
            return
        for user_id in members:
            self._remove(guild_id, user_id, conn)
        self._remove(guild_id, follows.own, conn)
        if not follows.guilds:
            del self._by_conn[conn]

    def drop(self, conn: C) -> None:
        """``conn``'s session is over: forget everything it followed."""
        follows = self._by_conn.get(conn)
        if follows is not None:
            for guild_id in tuple(follows.guilds):
                self.leave(conn, guild_id)

    def followers(self, guild_id: int, user_id: int) -> Iterable[C]:
        """The connections that receive ``user_id``'s presence in ``guild_id`` because they
        follow the user (or are the user's own)."""
        return self._index.get((guild_id, user_id), ())

    def __len__(self) -> int:
        """Index entries (connection, guild, member) in all: what the bounds bound."""
        return sum(len(conns) for conns in self._index.values())

    def _evict(self, conn: C, follows: _Follows) -> None:
        with_members = [g for g, members in follows.guilds.items() if members]
        for guild_id in with_members[:max(0, len(with_members) - self._max_guilds)]:
            for user_id in follows.guilds[guild_id]:
                self._remove(guild_id, user_id, conn)
            follows.guilds[guild_id] = _NONE

    def _add(self, guild_id: int, user_id: int, conn: C) -> None:
        key = (guild_id, user_id)
        conns = self._index.get(key)
        if conns is None:
            conns = self._index[key] = {}
        conns[conn] = None

    def _remove(self, guild_id: int, user_id: int, conn: C) -> None:
        key = (guild_id, user_id)
        conns = self._index.get(key)
        if conns is not None:
            conns.pop(conn, None)
            if not conns:
                del self._index[key]
