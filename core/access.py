"""Who may do what: loads what a permission check needs and applies ``core.permissions``.

Discord's answers, followed here: an id that does not exist is 404 with its "Unknown …" code;
a guild or channel that exists but the user is not in (or cannot VIEW) is 403 Missing Access
(50001); a missing permission is 403 Missing Permissions (50013).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ApiError
from core.models import Channel, ChannelType, Guild, Member, Role
from core.permissions import Permission, compute_permissions, dm_permissions
from core.store.base import MetaStore

__all__ = ["ChannelView", "GuildView", "channel_view", "guild_view", "parse_id"]

_MAX_SNOWFLAKE = (1 << 63) - 1


def parse_id(value: object, what: str) -> int:
    """A snowflake from a path segment, query value or JSON value (string or integer).

    An id that is not a snowflake cannot name anything, so it is reported as unknown (404),
    the way Discord answers ``/channels/abc``. Only ASCII digits are one: ``str.isdigit``
    also takes "²" (which ``int`` refuses) and "١٢٣" (which ``int`` reads as 123).
    """
    if isinstance(value, bool):
        raise ApiError.unknown(what)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)
    else:
        raise ApiError.unknown(what)
    if not 0 < number <= _MAX_SNOWFLAKE:
        raise ApiError.unknown(what)
    return number


@dataclass(frozen=True, slots=True)
class GuildView:
    """A guild as one member sees it: the guild, its roles and the member's permissions."""

    guild: Guild
    roles: dict[int, Role]
    member: Member
    permissions: int

    def require(self, needed: Permission) -> None:
        if self.permissions & needed != needed:
            raise ApiError.missing_permissions()

    def channel_permissions(self, channel: Channel) -> int:
        return compute_permissions(self.guild, self.roles, self.member, channel)

    @property
    def is_owner(self) -> bool:
        return self.guild.owner_id == self.member.user_id


@dataclass(frozen=True, slots=True)
class ChannelView:
    """A channel as one user sees it; ``guild`` is None for DMs."""

    channel: Channel
    guild: GuildView | None
    permissions: int

    def require(self, needed: Permission) -> None:
        if self.permissions & needed != needed:
            raise ApiError.missing_permissions()


async def guild_view(meta: MetaStore, guild_id: int, user_id: int) -> GuildView:
    """The guild as ``user_id`` sees it.

    Raises:
        ApiError: 404 Unknown Guild, or 403 Missing Access when not a member.
    """
    guild = await meta.get_guild(guild_id)
    if guild is None:
        raise ApiError.unknown("guild")
    member = await meta.get_member(guild_id, user_id)
    if member is None:
        raise ApiError.missing_access()
    roles = {r.id: r for r in await meta.list_roles(guild_id)}
    perms = compute_permissions(guild, roles, member, None)
    return GuildView(guild, roles, member, perms)


async def channel_view(meta: MetaStore, channel_id: int, user_id: int) -> ChannelView:
    """The channel as ``user_id`` sees it, requiring VIEW_CHANNEL.

    Raises:
        ApiError: 404 Unknown Channel; 403 Missing Access when not in its guild or DM, or
            without VIEW_CHANNEL.
    """
    channel = await meta.get_channel(channel_id)
    if channel is None:
        raise ApiError.unknown("channel")
    if channel.type.private:  # a DM or group DM: its recipients, and nobody else
        if user_id not in channel.recipients:
            raise ApiError.missing_access()
        return ChannelView(channel, None, dm_permissions())
    assert channel.guild_id is not None
    try:
        gv = await guild_view(meta, channel.guild_id, user_id)
    except ApiError as e:
        raise ApiError.missing_access() if e.status == 404 else e from None
    if channel.thread is not None:
        return await _thread_view(meta, channel, gv, user_id)
    perms = gv.channel_permissions(channel)
    if not perms & Permission.VIEW_CHANNEL:
        raise ApiError.missing_access()
    return ChannelView(channel, gv, perms)


async def _thread_view(
    meta: MetaStore, thread: Channel, gv: GuildView, user_id: int
) -> ChannelView:
    """A thread has its parent's permissions, SEND_MESSAGES_IN_THREADS standing for
    SEND_MESSAGES (so a send checks the one Discord checks in threads); a private thread is
    seen only by its members and by MANAGE_THREADS holders."""
    parent = await meta.get_channel(thread.parent_id) if thread.parent_id else None
    if parent is None:
        raise ApiError.unknown("channel")
    perms = gv.channel_permissions(parent)
    if not perms & Permission.VIEW_CHANNEL:
        raise ApiError.missing_access()
    if (thread.type == ChannelType.PRIVATE_THREAD and not perms & Permission.MANAGE_THREADS
            and await meta.get_thread_member(thread.id, user_id) is None):
        raise ApiError.missing_access()
    send = Permission.SEND_MESSAGES
    perms &= ~send
    if perms & Permission.SEND_MESSAGES_IN_THREADS:
        perms |= send
    return ChannelView(thread, gv, perms)
