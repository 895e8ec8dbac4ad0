"""Reading messages: history pages, one message, and rendering them as Discord JSON.

A page is rendered with one ``get_users`` call for every author, mention and replied-to author;
replied-to messages that are not on the page are fetched concurrently, one lookup per distinct
reference (the message store has no batch lookup), at most 100. A page read for a user also
carries the messages' ``reactions`` (``me`` is that user's): one ``reaction_counts`` call for
the whole page, always from the durable store (reactions are never in the Redis copy of a
message, so a cached page never shows stale counts). Gateway events carry no ``reactions``:
their one payload goes to every recipient, and ``me`` is per reader; clients keep counts from
the MESSAGE_REACTION_* events. Message objects read over REST
carry no ``member``, as on Discord (it is an extra field of the gateway's MESSAGE_CREATE and
MESSAGE_UPDATE): leaving it out spares one member lookup per distinct author and page, which
cost more than half of a history request (bench/RESULTS.md).

``last_message_id``: a channel's newest message id is *not* written on the send path (that
would be a second, unbatched write per message, on another store when messages live in
MongoDB). It is derived when a channel object is read over REST (``GET /channels/{id}``,
``GET /guilds/{id}/channels``, ``GET /users/@me/channels``): :func:`with_last_message_ids` reads
the newest id of each channel from the message store (an index seek, or the Redis recent list)
and falls back to the stored column. It is exact, costs nothing per send, and needs no router
change. The gateway's READY, GUILD_CREATE and CHANNEL_* events carry the stored column (null):
one read per channel on every IDENTIFY would cost the storm benchmark what it saves on sends. Deleting the newest message moves it back, where Discord's keeps pointing at the
deleted id; Discord documents it as possibly not pointing to an existing message anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from core.access import ChannelView, channel_view
from core.errors import ApiError
from core.message_form import HAS_THREAD
from core.models import Channel, ChannelType, Member, Message, ReactionCount, User
from core.permissions import Permission
from core.platform import Platform
from core.store.base import HISTORY_MAX
from core.thread_wire import thread_json
from core.validate import get_int, get_snowflake
from core.wire import message_json

__all__ = ["HISTORY_DEFAULT", "find_message", "get", "history", "render", "with_last_message_ids"]

Json = dict[str, Any]

HISTORY_DEFAULT = 50
# Replies are the messages whose reference is rendered as the whole ``referenced_message``.
MESSAGE_REPLY = 19


async def history(p: Platform, user: User, channel_id: int, query: Mapping[str, str]) -> list[Json]:
    """``GET /channels/{id}/messages``: a page, newest first.

    Query: ``limit`` 1..100 (default 50); one of ``around``, ``before``, ``after`` (if several
    are given, the first of that order wins). ``around`` returns ``limit // 2`` messages older
    than the id, then the message itself and the newer ones up to ``limit`` in all.

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013 without READ_MESSAGE_HISTORY;
            400 50035 for a bad ``limit`` or id.
    """
    view = await _readable(p, channel_id, user.id)
    q = dict(query)
    limit = get_int(q, "limit", lo=1, hi=HISTORY_MAX, default=HISTORY_DEFAULT)
    around, before, after = (get_snowflake(q, k, default=None) for k in ("around", "before", "after"))
    store, cid = p.messages, view.channel.id
    if around is not None:
        older_n = limit // 2
        newer, older = await asyncio.gather(
            store.history(cid, after=around - 1, limit=limit - older_n),
            store.history(cid, before=around, limit=older_n) if older_n else _empty(),
        )
        page = newer + older
    elif before is not None:
        page = await store.history(cid, before=before, limit=limit)
    elif after is not None:
        page = await store.history(cid, after=after, limit=limit)
    else:
        page = await store.history(cid, limit=limit)
    return await render(p, view.channel, page, viewer=user.id)


async def _empty() -> list[Message]:
    return []


async def get(p: Platform, user: User, channel_id: int, message_id: int) -> Json:
    """``GET /channels/{id}/messages/{id}`` (VIEW_CHANNEL and READ_MESSAGE_HISTORY).

    Raises:
        ApiError: as :func:`history`; 404 10008 when the message is not in this channel.
    """
    view = await _readable(p, channel_id, user.id)
    message = await find_message(p, view.channel, message_id)
    return (await render(p, view.channel, [message], viewer=user.id))[0]


async def render(
    p: Platform, channel: Channel, messages: Sequence[Message], *, members: bool = False,
    viewer: int | None = None,
) -> list[Json]:
    """Message objects for ``messages`` of ``channel``, in the order given.

    Adds ``thread`` to a message a thread was started from, ``referenced_message`` to
    replies, with ``members`` the author's ``member`` in guild channels (when still a
    member), as gateway events and the send response carry it, and with ``viewer`` (a REST
    read by that user) the ``reactions``.
    """
    by_id = {m.id: m for m in messages}
    ref_ids = {m.reference.message_id for m in messages
               if m.reference and m.type == MESSAGE_REPLY} - by_id.keys()
    fetched, reactions = await asyncio.gather(
        asyncio.gather(*(p.messages.get_message(channel.id, i) for i in ref_ids)),
        p.messages.reaction_counts(channel.id, list(by_id), viewer)
        if viewer is not None else _no_reactions(),
    )
    refs = {**by_id, **{m.id: m for m in fetched if m is not None}}
    user_ids = {u for m in refs.values() for u in (m.author_id, *m.mentions)}
    users = await p.meta.get_users(list(user_ids)) if user_ids else {}
    by_author = (
        await _members(p, channel.guild_id, {m.author_id for m in messages}) if members else {}
    )
    # A thread started from a message has the message's id; only flagged messages are looked
    # up, so a page of plain messages costs no query.
    started = [m.id for m in messages if m.flags & HAS_THREAD]
    threads = dict(zip(started, await asyncio.gather(*(p.meta.get_channel(i) for i in started)),
                       strict=True))
    out = []
    for m in messages:
        ref_json = None
        if m.reference is not None and (r := refs.get(m.reference.message_id)) is not None:
            ref_json = message_json(r, users)
        data = message_json(m, users, by_author.get(m.author_id), ref_json,
                            reactions.get(m.id, ()))
        if (thread := threads.get(m.id)) is not None and thread.thread is not None:
            data["thread"] = thread_json(thread)
        out.append(data)
    return out


async def _no_reactions() -> dict[int, list[ReactionCount]]:
    return {}


async def _members(p: Platform, guild_id: int | None, user_ids: set[int]) -> dict[int, Member]:
    if guild_id is None or not user_ids:
        return {}
    ids = list(user_ids)
    found = await asyncio.gather(*(p.meta.get_member(guild_id, u) for u in ids))
    return {u: m for u, m in zip(ids, found, strict=True) if m is not None}


async def with_last_message_ids(p: Platform, channels: Sequence[Channel]) -> list[Channel]:
    """``channels`` with ``last_message_id`` set to their newest stored message's id.

    For building channel objects (see the module docstring); categories are left as they are.
    """
    text = [c for c in channels if c.type != ChannelType.GUILD_CATEGORY]
    pages = await asyncio.gather(*(p.messages.history(c.id, limit=1) for c in text))
    newest = {c.id: page[0].id for c, page in zip(text, pages, strict=True) if page}
    return [replace(c, last_message_id=newest[c.id]) if c.id in newest else c for c in channels]


async def _readable(p: Platform, channel_id: int, user_id: int) -> ChannelView:
    view = await channel_view(p.meta, channel_id, user_id)
    view.require(Permission.READ_MESSAGE_HISTORY)
    return view


async def find_message(p: Platform, channel: Channel, message_id: int) -> Message:
    """The message, which must be in ``channel`` (an id from elsewhere is unknown here)."""
    message = await p.messages.get_message(channel.id, message_id)
    if message is None or message.channel_id != channel.id:
        raise ApiError.unknown("message")
    return message
