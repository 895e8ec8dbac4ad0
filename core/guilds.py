"""Guilds: creation, settings, deletion, the user's guild list and the GUILD_CREATE payload.

Every function takes the acting :class:`~core.models.User`, checks what Discord checks, writes
through ``p.meta`` and publishes the gateway event of the change after the write. Results are
Discord's JSON objects (``core.wire``), the same dicts the events carry.
"""

from __future__ import annotations

from typing import Any

from core.access import guild_view
from core.models import Channel, Guild, Member, Role
from core.permissions import Permission, compute_permissions
from core.platform import Platform
from core.snowflake import iso_timestamp
from core.wire import channel_json, guild_json, member_json

__all__ = [
    "BOT_GUILDS_MAX",
    "GUILD_NAME_MAX",
    "GUILD_NAME_MIN",
    "LARGE_THRESHOLD",
    "guild_create_payload",
    "visible_channels",
]

Json = dict[str, Any]

GUILD_NAME_MIN, GUILD_NAME_MAX = 2, 100
# Discord's limit on a server description (Community settings), in characters.
DESCRIPTION_MAX = 120
# Discord lets a bot create guilds only while it is in fewer than 10.
BOT_GUILDS_MAX = 10
# Above this many members GUILD_CREATE carries only the receiving member ("large": true) and
# clients ask for the rest with Request Guild Members; 250 is the highest large_threshold.
LARGE_THRESHOLD = 250
# ``GET /users/@me/guilds`` page size bounds (Discord: 1-200, default 200).
USER_GUILDS_PAGE_MAX = 200
# Members are read in pages of this many when every member id is needed.
_MEMBER_PAGE = 1000


# -- the GUILD_CREATE payload ------------------------------------------------------------------

def visible_channels(
    guild: Guild, roles: dict[int, Role], member: Member, channels: list[Channel]
) -> list[Channel]:
    """The channels of ``guild`` that ``member`` can VIEW, in the given order."""
    view = int(Permission.VIEW_CHANNEL)
    return [c for c in channels if compute_permissions(guild, roles, member, c) & view]


async def guild_create_payload(p: Platform, guild_id: int, user_id: int) -> Json:
    """The ``d`` of a GUILD_CREATE dispatch for one member (also READY's guilds, on join).

    It is the full guild object plus what Discord adds for the gateway: the channels the user
    can VIEW, ``members`` (every member up to :data:`LARGE_THRESHOLD` members, else only the
    user's own, with ``large`` true), ``member_count``, the user's ``joined_at``, and empty
    lists for the features this server does not have (threads, presences, voice states...).

    Args:
        p: the platform.
        guild_id: the guild.
        user_id: the member the payload is for (channel visibility depends on them).

    Raises:
        ApiError: 404 Unknown Guild, or 403 Missing Access when ``user_id`` is not a member.
    """
    gv = await guild_view(p.meta, guild_id, user_id)
    channels = visible_channels(gv.guild, gv.roles, gv.member, await p.meta.list_channels(guild_id))
    count = await p.meta.count_members(guild_id)
    large = count > LARGE_THRESHOLD
    members = [gv.member] if large else await p.meta.list_members(guild_id, limit=LARGE_THRESHOLD)
    users = await p.meta.get_users([m.user_id for m in members])
    out = guild_json(gv.guild, sorted(gv.roles.values(), key=lambda r: (r.position, r.id)))
    out.update(
        channels=[channel_json(c) for c in channels],
        members=[member_json(m, users[m.user_id]) for m in members if m.user_id in users],
        member_count=count,
        joined_at=iso_timestamp(gv.member.joined_at),
        large=large,
        unavailable=False,
        lazy=True,
        threads=[],
        presences=[],
        voice_states=[],
        stage_instances=[],
        guild_scheduled_events=[],
        soundboard_sounds=[],
        embedded_activities=[],
    )
    return out
