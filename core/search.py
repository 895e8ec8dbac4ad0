"""Message search: ``GET /guilds/{id}/messages/search`` and ``GET /channels/{id}/messages/search``.

Only what the searcher may read is searched. The channels are decided first, each once: every
channel of the guild (of the request's ``channel_id`` list, if any) where the searcher has
VIEW_CHANNEL and READ_MESSAGE_HISTORY (``core.permissions``, over the roles and overwrites
loaded once by ``core.access``), age-restricted ones only with ``include_nsfw=true``. The store
is then asked for matches in those channels alone (``core.store.searchquery.SearchQuery``), so
a channel the searcher cannot read adds nothing to a page or to ``total_results``, and no page
is cut short by a filter applied after the store's ``LIMIT``. A ``channel_id`` the searcher
cannot read (or of another guild) is not an error: it matches nothing, as it would if it were
empty, and says nothing about what it holds.

The guild route is open to bots: Discord documents it for them (READ_MESSAGE_HISTORY, and the
MESSAGE_CONTENT intent, which every application here may use). The channel route is Discord's
search of a DM, which only users have: a bot gets 403 20001. For a guild channel it searches
that channel, which must be readable (403 50001 or 50013, as reading its history would be).

``has`` asks for things a message may have; this server stores links (in the content) and
embeds only, so a search for only files, images, videos, sounds, stickers, polls or forwards
matches nothing, and negating one of those (``-file``) excludes nothing.

Every statement of a search runs at most :data:`SEARCH_TIMEOUT_MS`; one that runs longer is
cancelled by the database and the request answered 503 with Discord's general code 0 and a
message asking for a narrower search. A 503, not a 400: the same search may well pass on a
less busy server. Results are at most 25 a page and never past the 10,000th match.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Any

from core.access import channel_view, guild_view
from core.errors import ApiError, ErrorCode
from core.history import render
from core.models import Channel, ChannelType, User
from core.permissions import Permission
from core.platform import Platform
from core.search_form import SearchForm, parse_search
from core.store.searchquery import HAS_KINDS, SearchPage, SearchQuery, StoreTimeout
from core.store.searchwords import words

__all__ = ["SEARCH_TIMEOUT_MS", "search_channel", "search_guild"]

Json = dict[str, Any]

# How long each statement of a search may run (a count, then a page).
SEARCH_TIMEOUT_MS = 2000
_READ = int(Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)


async def search_guild(
    p: Platform, user: User, guild_id: int, params: Sequence[tuple[str, str]]
) -> Json:
    """``GET /guilds/{id}/messages/search``: the guild's messages the user may read.

    Raises:
        ApiError: 400 50035 for a bad parameter; 404 10004; 403 50001 when not a member;
            503 when the search ran past its time.
    """
    form = parse_search(params)
    view = await guild_view(p.meta, guild_id, user.id)
    readable = []
    for channel in await p.meta.list_channels(guild_id):
        if channel.type == ChannelType.GUILD_CATEGORY or (channel.nsfw and not form.include_nsfw):
            continue
        if form.channel_ids is not None and channel.id not in form.channel_ids:
            continue
        if view.channel_permissions(channel) & _READ == _READ:
            readable.append(channel)
    return await _search(p, form, readable)


async def search_channel(
    p: Platform, user: User, channel_id: int, params: Sequence[tuple[str, str]]
) -> Json:
    """``GET /channels/{id}/messages/search``: one channel (a DM, or a guild channel).

    Raises:
        ApiError: 403 20001 for a bot; 400 50035 for a bad parameter; as
            :func:`core.access.channel_view`; 403 50013 without READ_MESSAGE_HISTORY; 503 when
            the search ran past its time.
    """
    if user.bot:
        raise ApiError(403, ErrorCode.BOTS_CANNOT_USE, "Bots cannot use this endpoint")
    form = parse_search(params)
    view = await channel_view(p.meta, channel_id, user.id)
    view.require(Permission.READ_MESSAGE_HISTORY)
    asked = form.channel_ids
    return await _search(p, form, [view.channel] if asked is None or channel_id in asked else [])


async def _search(p: Platform, form: SearchForm, channels: Sequence[Channel]) -> Json:
    """Search ``channels`` (all readable) and answer in Discord's shape."""
    if not channels or (form.has and not form.has & HAS_KINDS):
        return _answer(SearchPage(0, ()), [])  # nothing readable, or only what nothing has
    query = SearchQuery(
        channel_ids=tuple(c.id for c in channels),
        # A content of punctuation alone has no word to look for: no condition, everywhere.
        content=form.content if words(form.content) else "",
        author_ids=form.author_ids,
        mentions=form.mentions,
        has=form.has & HAS_KINDS,
        has_not=form.has_not & HAS_KINDS,
        min_id=form.min_id,
        max_id=form.max_id,
        pinned=form.pinned,
        mention_everyone=form.mention_everyone,
        relevance=form.relevance,
        ascending=form.ascending,
        offset=form.offset,
        limit=form.limit,
        timeout_ms=SEARCH_TIMEOUT_MS,
    )
    try:
        page = await p.messages.search(query)
    except StoreTimeout:
        raise ApiError(503, ErrorCode.GENERAL, "The search took too long: narrow it (words, "
                                               "channels, authors, dates) and retry.") from None
    by_id = {c.id: c for c in channels}
    groups: dict[int, list[Any]] = {}
    for message in page.messages:
        groups.setdefault(message.channel_id, []).append(message)
    # Rendered per channel (render's unit), without reactions: Discord's results have none.
    rendered = await asyncio.gather(*(render(p, by_id[c], ms) for c, ms in groups.items()))
    objects = {int(m["id"]): m for batch in rendered for m in batch}
    return _answer(page, [objects[m.id] for m in page.messages])


def _answer(page: SearchPage, messages: list[Json]) -> Json:
    """Discord's body: each hit alone in an array (once the hit and its context), ``hit``."""
    return {
        "total_results": page.total,
        "messages": [[{**m, "hit": True}] for m in messages],
        "analytics_id": secrets.token_hex(16),
        "doing_deep_historical_index": False,
        "threads": [],
        "members": [],
    }
