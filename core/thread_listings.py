"""Thread listings: a guild's active threads, a channel's archived ones, and those in
GUILD_CREATE, each only as far as the reader may see them.

Who sees a thread (as ``core.access`` decides for one): whoever may VIEW its parent, and for a
private thread only its members and MANAGE_THREADS holders. Visibility is computed once per
parent, memberships read in one query per page. Every listing is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.access import GuildView, channel_view, guild_view
from core.errors import ApiError, ErrorCode, invalid_form
from core.models import Channel, ChannelType, ThreadMember, User
from core.permissions import Permission
from core.platform import Platform
from core.snowflake import snowflake_time_ms
from core.thread_wire import thread_json, thread_member_json
from core.validate import get_int

__all__ = [
    "ACTIVE_MAX",
    "ARCHIVED_PAGE_MAX",
    "list_active",
    "list_archived",
    "list_joined_private_archived",
    "visible_active",
]

Json = dict[str, Any]

# Active threads read per guild at most (Discord's limit of active threads a guild may have).
ACTIVE_MAX = 1000
# Archived threads per page (Discord names no maximum; its clients ask for 50 or 100).
ARCHIVED_PAGE_MAX = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_LIMIT = 1 << 62
_VIEW = int(Permission.VIEW_CHANNEL)
_MANAGE = int(Permission.MANAGE_THREADS)


async def visible_active(p: Platform, gv: GuildView, parents: Sequence[Channel]
                         ) -> tuple[list[Channel], dict[int, ThreadMember]]:
    """The guild's active threads ``gv``'s member may see (``parents``: the channels they may
    VIEW), with their memberships among them."""
    threads = await p.meta.list_active_threads(gv.guild.id, p.now_ms(), ACTIVE_MAX)
    return await _visible(p, gv, {c.id: c for c in parents}, threads)


async def _visible(p: Platform, gv: GuildView, parents: Mapping[int, Channel],
                   threads: Sequence[Channel]) -> tuple[list[Channel], dict[int, ThreadMember]]:
    threads = [t for t in threads if t.parent_id in parents]
    joined = (await p.meta.joined_threads(gv.member.user_id, [t.id for t in threads])
              if threads else {})
    manage: dict[int, bool] = {}
    out = []
    for t in threads:
        if t.type == ChannelType.PRIVATE_THREAD and t.id not in joined:
            pid = t.parent_id or 0
            if pid not in manage:
                manage[pid] = bool(gv.channel_permissions(parents[pid]) & _MANAGE)
            if not manage[pid]:
                continue
        out.append(t)
    return out, joined


def _page(threads: list[Channel], joined: Mapping[int, ThreadMember], *,
          has_more: bool | None = None) -> Json:
    out: Json = {
        "threads": [thread_json(t) for t in threads],
        "members": [thread_member_json(joined[t.id]) for t in threads if t.id in joined],
    }
    if has_more is not None:
        out["has_more"] = has_more
    return out


async def list_active(p: Platform, actor: User, guild_id: int) -> Json:
    """``GET /guilds/{id}/threads/active``: ``threads`` and the reader's ``members``."""
    gv = await guild_view(p.meta, guild_id, actor.id)
    parents = [c for c in await p.meta.list_channels(guild_id)
               if gv.channel_permissions(c) & _VIEW]
    threads, joined = await visible_active(p, gv, parents)
    return _page(threads, joined)


def _before_ms(query: Mapping[str, str], *, snowflake: bool) -> int:
    """``before``: an ISO 8601 time (Discord's for the channel listings) or, for the
    joined-private listing, a thread id; none is no bound."""
    value = query.get("before")
    if value is None or value == "":
        return _NO_LIMIT
    if snowflake and value.isascii() and value.isdigit() and len(value) <= 20:
        return snowflake_time_ms(int(value))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid_form("before", "DATE_TIME_TYPE_COERCE",
                           "Could not interpret the value as a date and time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _limit(query: Mapping[str, str]) -> int:
    limit: int = get_int(dict(query), "limit", lo=1, hi=ARCHIVED_PAGE_MAX, default=50)
    return limit


async def _archived_view(p: Platform, actor: User, channel_id: int) -> GuildView:
    view = await channel_view(p.meta, channel_id, actor.id)
    if view.channel.type != ChannelType.GUILD_TEXT or view.guild is None:
        raise ApiError.bad_request(ErrorCode.INVALID_CHANNEL_TYPE,
                                   "Cannot execute action on this channel type")
    view.require(Permission.READ_MESSAGE_HISTORY)
    return view.guild


async def list_archived(p: Platform, actor: User, channel_id: int, *, private: bool,
                        query: Mapping[str, str]) -> Json:
    """``GET /channels/{id}/threads/archived/public|private``: newest archived first
    (READ_MESSAGE_HISTORY; MANAGE_THREADS for the private ones); ``before``, ``limit``."""
    gv = await _archived_view(p, actor, channel_id)
    if private:
        parent = await p.meta.get_channel(channel_id)
        if parent is None or not gv.channel_permissions(parent) & _MANAGE:
            raise ApiError.missing_permissions()
    kind = ChannelType.PRIVATE_THREAD if private else ChannelType.PUBLIC_THREAD
    return await _archived_page(p, gv, channel_id, kind, query, member_id=None)


async def list_joined_private_archived(p: Platform, actor: User, channel_id: int,
                                       query: Mapping[str, str]) -> Json:
    """``GET /channels/{id}/users/@me/threads/archived/private``: the reader's own."""
    gv = await _archived_view(p, actor, channel_id)
    return await _archived_page(p, gv, channel_id, ChannelType.PRIVATE_THREAD, query,
                                member_id=actor.id, snowflake=True)


async def _archived_page(p: Platform, gv: GuildView, channel_id: int, kind: ChannelType,
                         query: Mapping[str, str], *, member_id: int | None,
                         snowflake: bool = False) -> Json:
    limit = _limit(query)
    threads = await p.meta.list_archived_threads(
        channel_id, kind, p.now_ms(), before_ms=_before_ms(query, snowflake=snowflake),
        limit=limit + 1, member_id=member_id,
    )
    has_more = len(threads) > limit
    threads = threads[:limit]
    joined = (await p.meta.joined_threads(gv.member.user_id, [t.id for t in threads])
              if threads else {})
    return _page(threads, joined, has_more=has_more)
