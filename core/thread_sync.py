"""THREAD_LIST_SYNC: a member who gains access to channels is sent their active threads.

Discord sends THREAD_LIST_SYNC "when the current user gains access to a channel" (Gateway
Events, Thread List Sync): ``guild_id``, ``channel_ids`` (the parent channels synced: those
newly viewable, some perhaps without any active thread, so that the client clears what it
held of them), ``threads`` (their active threads the user may see: a private one only as
its member or a MANAGE_THREADS holder, as ``core.thread_listings`` decides) and ``members``
(the user's memberships of those threads). discord.py replaces its threads of those channels
with these (``on_thread_join`` for each new one); discord.js likewise.

Sent here when a member's roles change (a role given or taken, or a member edit setting them)
and a guild text channel becomes viewable to them; to that member's sessions alone, after
their GUILD_MEMBER_UPDATE. Computed from the guild, roles and member records the caller
already holds, with one read of the channels (and of the active threads when something was
gained): nothing is read for a role change that gains nothing. A permission change of a role
or of a channel's overwrites, which may open channels to many members at once, sends none:
those clients find the threads in the listings (``GET /guilds/{id}/threads/active``) or
their next GUILD_CREATE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.access import GuildView
from core.events import Event
from core.models import ChannelType, Guild, Member, Role
from core.permissions import Permission, compute_permissions
from core.platform import Platform
from core.thread_listings import visible_active
from core.thread_wire import thread_json, thread_member_json

__all__ = ["after_roles_change"]

_VIEW = int(Permission.VIEW_CHANNEL)


async def after_roles_change(p: Platform, guild: Guild, roles: Mapping[int, Role],
                             before: Member, after: Member) -> None:
    """Publish THREAD_LIST_SYNC to ``after``'s member if their new roles (``roles``: the
    guild's) let them view text channels they could not view before."""
    if set(before.roles) == set(after.roles):
        return
    role_map = dict(roles)
    parents = [c for c in await p.meta.list_channels(guild.id)
               if c.type == ChannelType.GUILD_TEXT]

    def viewable(member: Member) -> set[int]:
        return {c.id for c in parents if compute_permissions(guild, role_map, member, c) & _VIEW}

    gained = viewable(after) - viewable(before)
    if not gained:
        return
    view = GuildView(guild, role_map, after, compute_permissions(guild, role_map, after, None))
    threads, joined = await visible_active(p, view, [c for c in parents if c.id in gained])
    payload: dict[str, Any] = {
        "guild_id": str(guild.id),
        "channel_ids": [str(c.id) for c in parents if c.id in gained],
        "threads": [thread_json(t) for t in threads],
        "members": [thread_member_json(joined[t.id]) for t in threads if t.id in joined],
    }
    p.publish(Event("THREAD_LIST_SYNC", payload, guild_id=guild.id, user_ids=(after.user_id,)))
