"""What the hub knows of one guild to choose an event's audience without a query per recipient.

A :class:`GuildCache` exists while the worker holds at least one session in the guild. It keeps
the guild, its roles and channels (reloaded lazily after an event that changes them) and the
memberships of the *local* users only (updated from GUILD_MEMBER_UPDATE itself), plus a memo
of who may VIEW which channel. A message's fanout is then dictionary lookups; the permission
computation runs once per (user, channel) until the next change in the guild.

There is one per guild a local session is in, so its own size counts where people are: users
in many small guilds (issue 16). Its sets of connections and users are dicts (a ``set`` of 20
takes 2,264 bytes, a ``dict`` 632; an empty one 216, a dict 64). A member is kept as what the
VIEW check reads of it: its roles, a tuple shared by the guild's members with the same roles
(the empty one for most), not a ``Member`` (~100 bytes, and its row's ints) per user and guild;
only a member with a timeout keeps its ``Member``, whose end the check compares with the clock.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from core.models import Channel, ChannelType, Guild, Member, OverwriteType, Role
from core.permissions import Permission, compute_permissions
from core.store.base import MetaStore

__all__ = ["RELOAD_EVENTS", "GuildCache"]

_VIEW = int(Permission.VIEW_CHANNEL)
# Events after which the guild, roles or channels must be read again before the next fanout.
RELOAD_EVENTS = frozenset({
    "GUILD_UPDATE", "GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE",
    "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE",
    # A thread made, archived, deleted, or a private thread's members changed.
    "THREAD_CREATE", "THREAD_UPDATE", "THREAD_DELETE", "THREAD_MEMBERS_UPDATE",
})
_MANAGE_THREADS = int(Permission.MANAGE_THREADS)
# Active threads read per guild (Discord's limit of active threads), and private threads'
# members read in all per load.
_THREADS_MAX = 1000
_THREAD_MEMBERS_MAX = 100_000


class GuildCache:
    """One guild as the hub sees it.

    Attributes:
        guild_id: the guild.
        conns: the local connections subscribed to it (any object; the hub's), as the keys
            of a dict (an ordered set, and a third of a ``set``'s size).
        stale: True until loaded, and again after an event in :data:`RELOAD_EVENTS`.
        members: memberships of the local users, by user id: the member's roles (a tuple
            interned per guild), or its ``Member`` while it has a timeout (:meth:`member`
            rebuilds one from either).
        audiences: the hub's memo of who receives which kind of event here, emptied whenever
            that may have changed (a subscriber, a membership, a role, a channel).
    """

    __slots__ = ("_by_roles", "_channels", "_guild", "_role_sets", "_roles", "_threads", "_users",
                 "_version", "_view", "_wanted", "audiences", "conns", "guild_id", "members",
                 "stale", "unloaded")

    def __init__(self, guild_id: int) -> None:
        self.guild_id = guild_id
        self.conns: dict[Any, None] = {}
        self.stale = True
        self.members: dict[int, tuple[int, ...] | Member] = {}
        # Each distinct roles tuple once: ten members with the same two roles share one.
        self._role_sets: dict[tuple[int, ...], tuple[int, ...]] = {}
        # Subscribed users whose membership is not read yet (joined before a load finished).
        self.unloaded: dict[int, None] = {}
        self._users: dict[int, int] = {}  # subscribed connections per user
        self._guild: Guild | None = None
        self._roles: dict[int, Role] = {}
        self._channels: dict[int, Channel] = {}
        # Active threads: parent id, and the members of a private one (None: public).
        self._threads: dict[int, tuple[int, frozenset[int] | None]] = {}
        # Channels an event named that the last load did not know: read one by one by the
        # next load (an archived thread is not among the active ones it reads).
        self._wanted: dict[int, None] = {}
        self._view: dict[int, dict[int, bool]] = {}
        # (channel, a member's roles) -> the permissions there of any member with those roles
        # and nothing of its own (not the owner, no timeout, no member overwrite): most of a
        # big guild's members share a few role sets, so after a connect storm the first
        # message computes a few permissions, not one per member (10,000 of them were a
        # 0.5 s stall: bench bigchannel, bench/RESULTS.md "10,000-member channels").
        self._by_roles: dict[tuple[int, tuple[int, ...]], int] = {}
        self.audiences: dict[Any, Any] = {}
        self._version = 0

    def missing(self, user_ids: tuple[int, ...] = ()) -> bool:
        """Whether :meth:`load` must run before a fanout to the subscribers and ``user_ids``."""
        return self.stale or bool(self.unloaded) or any(u not in self.members for u in user_ids)

    def subscribe(self, conn: Any, user_id: int) -> None:
        """Add a subscriber; its membership is read by the next :meth:`load` if unknown."""
        if conn in self.conns:
            return
        self.conns[conn] = None
        self.audiences.clear()
        self._users[user_id] = self._users.get(user_id, 0) + 1
        if user_id not in self.members:
            self.unloaded[user_id] = None

    def unsubscribe(self, conn: Any, user_id: int) -> None:
        """Remove a subscriber; the membership goes with the user's last connection."""
        if conn not in self.conns:
            return
        del self.conns[conn]
        self.audiences.clear()
        left = self._users.get(user_id, 1) - 1
        if left > 0:
            self._users[user_id] = left
        else:
            self._users.pop(user_id, None)
            self.forget_member(user_id)

    async def load(self, meta: MetaStore, user_ids: tuple[int, ...] = ()) -> None:
        """Read what is stale, and the memberships of ``user_ids`` not known yet.

        An invalidation that arrives while reading keeps the cache stale (``_version``), so
        a change is never hidden by a read that started before it.
        """
        version = self._version
        if self.stale:
            guild = await meta.get_guild(self.guild_id)
            roles = await meta.list_roles(self.guild_id)
            channels = await meta.list_channels(self.guild_id)
            self._guild = guild
            self._roles = {r.id: r for r in roles}
            self._channels = {c.id: c for c in channels}
            self._threads = await _threads(meta, self.guild_id)
            self._changed()
        wanted, self._wanted = self._wanted, {}
        for channel_id in wanted.keys() - self._channels.keys() - self._threads.keys():
            await self._learn_thread(meta, channel_id)
        for user_id in {*user_ids, *self.unloaded}:
            if user_id not in self.members:
                member = await meta.get_member(self.guild_id, user_id)
                if member is not None:
                    self.members[user_id] = self._compact(member)
                    self._member_changed(user_id)
            self.unloaded.pop(user_id, None)
        if version == self._version:
            self.stale = False

    def invalidate(self) -> None:
        """The guild, a role or a channel changed: read them again before the next fanout."""
        self.stale = True
        self._version += 1
        self._changed()

    def want(self, channel_id: int) -> None:
        """An event about to wait for :meth:`load` names ``channel_id``: the load reads it on
        its own if the guild's channels and active threads do not bring it. An archived
        thread is not among those, and the THREAD_UPDATE that archives it, or THREAD_DELETE
        of one, must still reach its viewers."""
        self._wanted[channel_id] = None

    async def _learn_thread(self, meta: MetaStore, channel_id: int) -> None:
        channel = await meta.get_channel(channel_id)
        if channel is None or channel.thread is None or channel.guild_id != self.guild_id:
            return
        self._threads.update(await _entries(meta, [channel]))
        self._changed()

    def can_view(self, user_id: int, channel_id: int) -> bool:
        """Whether ``user_id`` may VIEW ``channel_id`` (False for an unknown member/channel)."""
        seen = self._view.get(channel_id)
        if seen is None:
            seen = self._view[channel_id] = {}
        allowed = seen.get(user_id)
        if allowed is None:
            allowed = seen[user_id] = self._compute(user_id, channel_id)
        return allowed

    def has_channel(self, channel_id: int) -> bool:
        return channel_id in self._channels or channel_id in self._threads

    def holds(self, user_id: int, permission: int, channel_id: int | None = None) -> bool:
        """Whether ``user_id`` holds ``permission`` guild-wide, or in ``channel_id`` when given
        and known (False for an unknown member). Not memoized: only rare events (the audit
        log's, invites') ask."""
        member = self.member(user_id)
        if member is None or self._guild is None:
            return False
        if channel_id in self._threads:  # a thread: its parent's permissions
            channel_id = self._threads[channel_id][0]
        channel = self._channels.get(channel_id) if channel_id is not None else None
        perms = compute_permissions(self._guild, self._roles, member, channel)
        return perms & permission == permission

    def _compute(self, user_id: int, channel_id: int) -> bool:
        thread = self._threads.get(channel_id)
        if thread is not None:  # a thread: its parent's viewers; a private one's members
            parent, joined = thread
            channel_id = parent
        member = self.member(user_id)
        channel = self._channels.get(channel_id)
        if member is None or channel is None or self._guild is None:
            return False
        perms = self._permissions(self._guild, member, channel)
        if thread is not None and joined is not None and user_id not in joined:
            return bool(perms & _VIEW) and bool(perms & _MANAGE_THREADS)
        return bool(perms & _VIEW)

    def _permissions(self, guild: Guild, member: Member, channel: Channel) -> int:
        """``compute_permissions``, shared by the members with the same roles when nothing
        else of theirs counts (see ``_by_roles``)."""
        user_id = member.user_id
        if (user_id == guild.owner_id or member.communication_disabled_until is not None
                or any(o.id == user_id and o.type == OverwriteType.MEMBER
                       for o in channel.overwrites)):
            return compute_permissions(guild, self._roles, member, channel)
        key = (channel.id, member.roles)
        perms = self._by_roles.get(key)
        if perms is None:
            perms = self._by_roles[key] = compute_permissions(guild, self._roles, member, channel)
        return perms

    def update_member(self, data: dict[str, Any]) -> None:
        """Apply a GUILD_MEMBER_UPDATE ``d`` (roles, nick) to a local member."""
        user_id = int(data["user"]["id"])
        member = self.member(user_id)
        if member is not None:
            roles = tuple(int(r) for r in data.get("roles", ()))
            self.members[user_id] = self._compact(dataclasses.replace(
                member, roles=roles, nick=data.get("nick")))
            self._member_changed(user_id)

    def member(self, user_id: int) -> Member | None:
        """``user_id``'s membership as the permission check reads it (roles and timeout; its
        other fields are not kept), or None when not known here."""
        kept = self.members.get(user_id)
        if kept is None or isinstance(kept, Member):
            return kept
        return Member(self.guild_id, user_id, 0, roles=kept)

    def _compact(self, member: Member) -> tuple[int, ...] | Member:
        if member.communication_disabled_until is not None:
            return member  # its timeout's end: rare, kept whole
        roles = member.roles
        return self._role_sets.setdefault(roles, roles) if roles else ()

    def forget_member(self, user_id: int) -> None:
        self.unloaded.pop(user_id, None)
        if self.members.pop(user_id, None) is not None:
            self._member_changed(user_id)

    def _changed(self) -> None:
        """Who may view what may have changed: drop the memos built on it."""
        self._view.clear()
        self._by_roles.clear()
        self.audiences.clear()

    def _member_changed(self, user_id: int) -> None:
        """One member joined, left or changed roles: what others may view is unchanged, so
        only that user's view memos go (and the audiences, which list who may view). Clearing
        all of them made the next message recompute the permissions of every member: in a
        10,000-member guild, one member leaving cost the next message a 0.5 s stall of the
        loop (bench bigchannel: bench/RESULTS.md, "10,000-member channels")."""
        for seen in self._view.values():
            seen.pop(user_id, None)
        self.audiences.clear()


async def _threads(meta: MetaStore, guild_id: int) -> dict[int, tuple[int, frozenset[int] | None]]:
    """The guild's active threads for :class:`GuildCache`: parent, and a private one's members.

    An archived thread is not among them: its next message unarchives it first (THREAD_UPDATE,
    which reloads the cache before that message's fanout); an event of an archived thread is
    read on its own (:meth:`GuildCache.want`)."""
    threads = await meta.list_active_threads(guild_id, int(time.time() * 1000), _THREADS_MAX)
    return await _entries(meta, threads)


async def _entries(meta: MetaStore, threads: list[Channel]
                   ) -> dict[int, tuple[int, frozenset[int] | None]]:
    private = [t.id for t in threads if t.type == ChannelType.PRIVATE_THREAD]
    members = await meta.thread_member_ids(private, _THREAD_MEMBERS_MAX) if private else {}
    # By the thread's type, not by whether members were found: a private thread everyone
    # left has none, and must stay hidden rather than become public.
    return {
        t.id: (t.parent_id or 0,
               frozenset(members.get(t.id, ())) if t.type == ChannelType.PRIVATE_THREAD else None)
        for t in threads
    }
