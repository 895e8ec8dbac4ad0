"""Guilds: creation, settings, deletion, the user's guild list and the GUILD_CREATE payload.

Every function takes the acting :class:`~core.models.User`, checks what Discord checks, writes
through ``p.meta`` and publishes the gateway event of the change after the write. Results are
Discord's JSON objects (``core.wire``), the same dicts the events carry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import thread_listings
from core.access import GuildView, guild_view
from core.assets import image_hash, is_data_uri, store_image
from core.attachments import delete_channel_files
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.models import Channel, ChannelType, Guild, Member, Role, User
from core.permissions import DEFAULT_EVERYONE, Permission, compute_permissions
from core.platform import Platform
from core.snowflake import iso_timestamp
from core.thread_wire import thread_json
from core.validate import MISSING, get_snowflake, get_str
from core.wire import channel_json, guild_json, member_json, partial_guild_json

__all__ = [
    "BOT_GUILDS_MAX",
    "GUILD_NAME_MAX",
    "GUILD_NAME_MIN",
    "LARGE_THRESHOLD",
    "create_guild",
    "delete_guild",
    "get_guild",
    "guild_create_payload",
    "list_user_guilds",
    "member_ids",
    "remove_guild",
    "update_guild",
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
    user's own, with ``large`` true), ``member_count``, the user's ``joined_at``, the active
    ``threads`` the user may see (with their ``member`` when joined), and empty lists for the
    features this server does not have (presences, voice states...).
    It has no ``unavailable`` key: that is a join, and discord.py takes ``unavailable: false``
    for a guild coming back from an outage (``on_guild_available``, never ``on_guild_join``).
    The gateway adds ``unavailable: false`` itself to the GUILD_CREATEs that follow READY.

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
    threads, joined = await thread_listings.visible_active(p, gv, channels)
    out = guild_json(gv.guild, sorted(gv.roles.values(), key=lambda r: (r.position, r.id)))
    out.update(
        channels=[channel_json(c) for c in channels],
        members=[member_json(m, users[m.user_id]) for m in members if m.user_id in users],
        member_count=count,
        joined_at=iso_timestamp(gv.member.joined_at),
        large=large,
        lazy=True,
        threads=[thread_json(t, joined.get(t.id)) for t in threads],
        presences=[],
        voice_states=[],
        stage_instances=[],
        guild_scheduled_events=[],
        soundboard_sounds=[],
        embedded_activities=[],
    )
    return out


async def member_ids(p: Platform, guild_id: int) -> tuple[int, ...]:
    """Every member's user id, read page by page (the audience of GUILD_DELETE)."""
    ids: list[int] = []
    after = 0
    while True:
        page = await p.meta.list_members(guild_id, after=after, limit=_MEMBER_PAGE)
        ids.extend(m.user_id for m in page)
        if len(page) < _MEMBER_PAGE:
            return tuple(ids)
        after = page[-1].user_id


def _sorted_roles(gv: GuildView) -> list[Role]:
    return sorted(gv.roles.values(), key=lambda r: (r.position, r.id))


# -- create, read, update, delete ---------------------------------------------------------------

def _guild_name(body: dict[str, Any]) -> str:
    name = get_str(body, "name", required=True, min_len=GUILD_NAME_MIN, max_len=GUILD_NAME_MAX,
                   strip=True)
    return str(name)


async def create_guild(p: Platform, actor: User, body: dict[str, Any]) -> Json:
    """``POST /guilds``: a guild with @everyone, a "general" text channel and its owner.

    Only ``name`` (2-100 characters, stripped) is read; Discord's optional ``roles`` and
    ``channels`` templates are ignored. Everything is written in one ``meta.create_guild``.
    Publishes GUILD_CREATE to the owner.

    Raises:
        ApiError: 50035 for a bad name; 400 30001 when the user is already in
            ``config.max_guilds_per_user`` guilds (a bot: :data:`BOT_GUILDS_MAX`, as Discord).
    """
    name = _guild_name(body)
    limit = min(BOT_GUILDS_MAX, p.config.max_guilds_per_user) if actor.bot \
        else p.config.max_guilds_per_user
    if await p.meta.count_user_guilds(actor.id) >= limit:
        raise ApiError.bad_request(
            ErrorCode.MAX_GUILDS, f"Maximum number of guilds reached ({limit})"
        )
    guild_id, channel_id = p.ids.next(), p.ids.next()
    guild = Guild(guild_id, name, actor.id, system_channel_id=channel_id)
    # @everyone has the guild's id and position 0, as on Discord.
    everyone = Role(guild_id, guild_id, "@everyone", DEFAULT_EVERYONE, position=0)
    general = Channel(channel_id, ChannelType.GUILD_TEXT, guild_id, "general", position=0)
    owner = Member(guild_id, actor.id, p.now_ms())
    await p.meta.create_guild(guild, [everyone], [general], owner)
    payload = await guild_create_payload(p, guild_id, actor.id)
    p.publish(Event("GUILD_CREATE", payload, guild_id=guild_id, user_ids=(actor.id,)))
    return guild_json(guild, [everyone])


async def get_guild(p: Platform, actor: User, guild_id: int, with_counts: bool = False) -> Json:
    """``GET /guilds/{id}`` for a member; ``with_counts`` adds the approximate counts.

    ``approximate_presence_count`` is 0: presence lives in the gateway, not in core.

    Raises:
        ApiError: 404 Unknown Guild; 403 Missing Access for a non-member.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    out = guild_json(gv.guild, _sorted_roles(gv))
    if with_counts:
        out["approximate_member_count"] = await p.meta.count_members(guild_id)
        out["approximate_presence_count"] = 0
    return out


async def _system_channel(p: Platform, guild_id: int, body: dict[str, Any]) -> int | None:
    channel_id = get_snowflake(body, "system_channel_id", nullable=True)
    if channel_id is None:
        return None
    channel = await p.meta.get_channel(channel_id)
    if channel is None or channel.guild_id != guild_id:
        raise ApiError.unknown("channel")
    if channel.type != ChannelType.GUILD_TEXT:
        raise invalid_form("system_channel_id", "CHANNEL_TYPE_INVALID",
                           "The channel must be a text channel.")
    return int(channel_id)


async def _guild_fields(p: Platform, gv: GuildView, body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = _guild_name(body)
    if "icon" in body:
        icon = body["icon"]
        fields["icon"] = (await store_image(p, "icons", gv.guild.id, icon, "icon")
                          if is_data_uri(icon) else image_hash(icon, "icon"))
    if "description" in body:
        fields["description"] = get_str(body, "description", nullable=True,
                                        max_len=DESCRIPTION_MAX)
    if "system_channel_id" in body:
        fields["system_channel_id"] = await _system_channel(p, gv.guild.id, body)
    owner_id = get_snowflake(body, "owner_id")
    if owner_id is not MISSING and owner_id != gv.guild.owner_id:
        if not gv.is_owner:
            raise ApiError.missing_permissions()
        if await p.meta.get_member(gv.guild.id, owner_id) is None:
            raise ApiError.unknown("member")
        fields["owner_id"] = owner_id
    return fields


async def update_guild(p: Platform, actor: User, guild_id: int, body: dict[str, Any]) -> Json:
    """``PATCH /guilds/{id}`` (MANAGE_GUILD): ``name``, ``icon``, ``description`` (0-120
    characters or null), ``system_channel_id`` (a text channel of this guild, or null) and
    ``owner_id`` (the owner only, to another member). Publishes GUILD_UPDATE to the guild.

    Raises:
        ApiError: 404/403 as :func:`get_guild`; 50013 without MANAGE_GUILD (or for an
            ownership transfer by a non-owner); 50035 for a bad field; 404 Unknown Channel or
            Unknown Member for an id that is not of this guild.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    gv.require(Permission.MANAGE_GUILD)
    fields = await _guild_fields(p, gv, body)
    if not fields:
        return guild_json(gv.guild, _sorted_roles(gv))
    guild = await p.meta.update_guild(guild_id, fields)
    if guild is None:  # deleted concurrently
        raise ApiError.unknown("guild")
    out = guild_json(guild, _sorted_roles(gv))
    p.publish(Event("GUILD_UPDATE", out, guild_id=guild_id))
    return out


async def delete_guild(p: Platform, actor: User, guild_id: int) -> None:
    """``DELETE /guilds/{id}`` (owner only): the guild, everything in it and its history.

    Publishes GUILD_DELETE ``{id, unavailable: false}`` to every member (collected before the
    delete, since the memberships go with the guild).

    Raises:
        ApiError: 404/403 as :func:`get_guild`; 403 50013 for anyone but the owner.
    """
    gv = await guild_view(p.meta, guild_id, actor.id)
    if not gv.is_owner:
        raise ApiError.missing_permissions()
    if not await remove_guild(p, guild_id, p.publish):
        raise ApiError.unknown("guild")


async def remove_guild(p: Platform, guild_id: int, publish: Callable[[Event], None]) -> bool:
    """Delete a guild, everything in it and its history, with no permission check: the
    owner's ``DELETE`` and the operator's ``discord-arch admin delete-guild`` share it.

    ``publish`` gets the GUILD_DELETE ``{id, unavailable: false}`` to every member (collected
    before the delete, since the memberships go with the guild): ``p.publish``, or what the
    admin CLI relays (``core.relay``). False if there was no such guild.
    """
    audience = await member_ids(p, guild_id)
    channels = await p.meta.list_channels(guild_id)
    if not await p.meta.delete_guild(guild_id):
        return False
    publish(Event("GUILD_DELETE", {"id": str(guild_id), "unavailable": False},
                  guild_id=guild_id, user_ids=audience))
    for channel in channels:
        await p.messages.delete_channel_messages(channel.id)
        await delete_channel_files(p.blobs, channel.id)
    return True


async def list_user_guilds(
    p: Platform, actor: User, *, limit: int = USER_GUILDS_PAGE_MAX,
    before: int | None = None, after: int | None = None,
) -> list[Json]:
    """``GET /users/@me/guilds``: partial guilds ordered by id, with ``owner`` and the user's
    guild-level ``permissions``.

    Args:
        limit: 1-200 guilds (the caller validates it).
        before: only guilds with a smaller id (the ``limit`` closest to it).
        after: only guilds with a greater id (the ``limit`` first after it).
    """
    guilds = await p.meta.list_user_guilds(actor.id)
    if after is not None:
        guilds = [g for g in guilds if g.id > after]
    if before is not None:
        guilds = [g for g in guilds if g.id < before][-limit:]
    out = []
    for guild in guilds[:limit]:
        member = await p.meta.get_member(guild.id, actor.id)
        if member is None:  # left between the two reads
            continue
        roles = await p.meta.list_roles(guild.id)
        perms = compute_permissions(guild, roles, member, None)
        out.append(partial_guild_json(guild, user_id=actor.id, permissions=perms))
    return out
