"""Threads: public and private threads of a guild text channel, their members and state.

A thread is a channel row with its parent text channel in ``parent_id`` (``core.store``'s
thread methods), so its messages go through the same router, hub and history as a channel's
(``core.messages``; ``core.access`` gives a thread its parent's permissions). Events are
thread-scoped (``channel_id`` the thread): the hub's guild cache sends a public thread's to
the parent's viewers, a private thread's to its members and MANAGE_THREADS holders among them.

Inactivity archives a thread lazily: the listings count a thread idle past its
``auto_archive_duration`` as archived, and the first access to it through ``core.access``
after that writes the archived state (:func:`settle`). No sweep runs and no THREAD_UPDATE is
sent for it (Discord sends one); the next message unarchives it as Discord does.
"""

from __future__ import annotations

from typing import Any

from core.access import ChannelView, channel_view
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.message_form import HAS_THREAD
from core.models import Channel, ChannelType, ThreadMember, ThreadMeta, User
from core.permissions import Permission
from core.platform import Platform
from core.thread_wire import thread_json, thread_member_json
from core.validate import MISSING, get_bool, get_int, get_str
from core.wire import member_json, message_json

__all__ = [
    "ARCHIVE_DURATIONS",
    "MEMBERS_PAGE_MAX",
    "THREAD_NAME_MAX",
    "add_member",
    "before_send",
    "create_from_message",
    "create_thread",
    "delete_thread",
    "get_member",
    "list_members",
    "message_sent",
    "remove_member",
    "settle",
    "update_thread",
]

Json = dict[str, Any]

THREAD_NAME_MAX = 100
# Minutes of inactivity after which a thread archives itself: Discord's four choices.
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
_SLOWMODE_MAX = 21600
# Members listed per page of GET /channels/{id}/thread-members (Discord's maximum).
MEMBERS_PAGE_MAX = 100
_P = Permission


def _archived() -> ApiError:
    return ApiError.bad_request(ErrorCode.THREAD_ARCHIVED,
                                "Operation is not allowed in an archived thread")


# -- body fields --------------------------------------------------------------------------------

def _duration(body: dict[str, Any]) -> Any:
    value = get_int(body, "auto_archive_duration")
    if value is not MISSING and value not in ARCHIVE_DURATIONS:
        raise invalid_form("auto_archive_duration", "BASE_TYPE_CHOICES",
                           f"Value must be one of {ARCHIVE_DURATIONS}.")
    return value


def _new_thread(p: Platform, parent: Channel, actor: User, body: dict[str, Any],
                kind: ChannelType, thread_id: int) -> Channel:
    name = get_str(body, "name", required=True, min_len=1, max_len=THREAD_NAME_MAX, strip=True)
    duration = _duration(body)
    slowmode = get_int(body, "rate_limit_per_user", lo=0, hi=_SLOWMODE_MAX, default=0)
    invitable = get_bool(body, "invitable", default=True)
    now = p.now_ms()
    meta = ThreadMeta(
        auto_archive_duration=1440 if duration is MISSING else duration,
        archive_timestamp=now, create_timestamp=now, activity_ms=now,
        invitable=invitable if kind == ChannelType.PRIVATE_THREAD else True, member_count=1,
    )
    return Channel(thread_id, kind, parent.guild_id, name, parent_id=parent.id,
                   rate_limit_per_user=slowmode, owner_id=actor.id, thread=meta)


async def _parent_view(p: Platform, actor: User, channel_id: int) -> ChannelView:
    view = await channel_view(p.meta, channel_id, actor.id)
    if view.channel.type != ChannelType.GUILD_TEXT:
        raise ApiError.bad_request(ErrorCode.INVALID_CHANNEL_TYPE,
                                   "Cannot execute action on this channel type")
    return view


# -- creating ------------------------------------------------------------------------------------

async def create_from_message(
    p: Platform, actor: User, channel_id: int, message_id: int, body: dict[str, Any]
) -> Json:
    """``POST /channels/{c}/messages/{m}/threads``: a public thread whose id is the message's
    (CREATE_PUBLIC_THREADS and READ_MESSAGE_HISTORY). The message gains the HAS_THREAD flag
    and ``thread`` (in a MESSAGE_UPDATE, and wherever it is read: ``core.history``).

    Raises:
        ApiError: 404 Unknown Channel/Message; 403; 400 50024 for a channel not text, 160004
            when the message has a thread already; 50035.
    """
    view = await _parent_view(p, actor, channel_id)
    view.require(_P.CREATE_PUBLIC_THREADS | _P.READ_MESSAGE_HISTORY)
    message = await p.messages.get_message(channel_id, message_id)
    if message is None:
        raise ApiError.unknown("message")
    thread = _new_thread(p, view.channel, actor, body, ChannelType.PUBLIC_THREAD, message.id)
    if await p.meta.get_channel(message.id) is not None:
        raise ApiError.bad_request(ErrorCode.THREAD_ALREADY_CREATED,
                                   "A thread has already been created for this message")
    out = await _create(p, actor, thread)
    flagged = await p.messages.update_message(channel_id, message.id,
                                              {"flags": message.flags | HAS_THREAD})
    users = await p.meta.get_users([message.author_id])
    updated = message_json(flagged or message, users)
    updated["thread"] = thread_json(thread)
    p.publish(Event("MESSAGE_UPDATE", updated, guild_id=thread.guild_id, channel_id=channel_id))
    return out


async def create_thread(p: Platform, actor: User, channel_id: int, body: dict[str, Any]) -> Json:
    """``POST /channels/{c}/threads`` without a message: ``type`` 11 (CREATE_PUBLIC_THREADS)
    or 12 (CREATE_PRIVATE_THREADS; the default, as API v9 had it), ``invitable`` for a
    private one.

    Raises:
        ApiError: 404; 403; 400 50024 for a channel not text; 50035.
    """
    view = await _parent_view(p, actor, channel_id)
    kind = get_int(body, "type", default=int(ChannelType.PRIVATE_THREAD))
    if kind not in (ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD):
        raise invalid_form("type", "BASE_TYPE_CHOICES", "Value must be one of (11, 12).")
    kind = ChannelType(kind)
    view.require(_P.CREATE_PUBLIC_THREADS if kind == ChannelType.PUBLIC_THREAD
                 else _P.CREATE_PRIVATE_THREADS)
    thread = _new_thread(p, view.channel, actor, body, kind, p.ids.next())
    return await _create(p, actor, thread)


async def _create(p: Platform, actor: User, thread: Channel) -> Json:
    assert thread.thread is not None
    member = ThreadMember(thread.id, actor.id, thread.thread.create_timestamp)
    if not await p.meta.create_thread(thread, [member]):
        raise ApiError.unknown("channel")
    created = thread_json(thread)
    p.publish(
        Event("THREAD_CREATE", {**created, "newly_created": True},
              guild_id=thread.guild_id, channel_id=thread.id),
        Event("THREAD_MEMBER_UPDATE", thread_member_json(member, guild_id=thread.guild_id),
              guild_id=thread.guild_id, user_ids=(actor.id,)),
    )
    return thread_json(thread, member)


# -- state -----------------------------------------------------------------------------------

async def settle(p: Platform, thread: Channel) -> Channel:
    """The thread with its inactivity archive written if it is due (see the module's doc)."""
    meta = thread.thread
    if meta is None or meta.archived or meta.archived_at(p.now_ms()) is None:
        return thread
    after = await p.meta.update_thread(thread.id, {"archived": True,
                                                   "archive_ts": meta.idle_until()})
    return after or thread


async def update_thread(p: Platform, actor: User, view: ChannelView, body: dict[str, Any]) -> Json:
    """``PATCH /channels/{thread}``: ``name``, ``archived``, ``auto_archive_duration``,
    ``locked``, ``invitable``, ``rate_limit_per_user``. Its owner may rename it and archive or
    unarchive it (unless locked) and set the duration; everything else, and anything in a
    locked thread, needs MANAGE_THREADS. Publishes THREAD_UPDATE.

    Raises:
        ApiError: 403 50013; 400 50083 to change an archived thread other than unarchiving;
            50035.
    """
    thread = await settle(p, view.channel)
    state = thread.thread
    assert state is not None
    manager = bool(view.permissions & _P.MANAGE_THREADS)
    fields: dict[str, Any] = {}
    name = get_str(body, "name", min_len=1, max_len=THREAD_NAME_MAX, strip=True)
    if name is not MISSING:
        fields["name"] = name
    duration = _duration(body)
    if duration is not MISSING:
        fields["auto_archive_duration"] = duration
    slowmode = get_int(body, "rate_limit_per_user", lo=0, hi=_SLOWMODE_MAX)
    for key, value in (("rate_limit_per_user", slowmode),
                       ("archived", get_bool(body, "archived")),
                       ("locked", get_bool(body, "locked")),
                       ("invitable", get_bool(body, "invitable"))):
        if value is not MISSING:
            fields[key] = value
    fields = {k: v for k, v in fields.items() if _current(thread, k) != v}
    owner = thread.owner_id == actor.id
    mine = {"name", "archived", "auto_archive_duration"}
    if not manager and (not owner or fields.keys() - mine or state.locked):
        if fields:
            raise ApiError.missing_permissions()
    if state.archived and fields and fields.get("archived") is not False:
        raise _archived()
    if not fields:
        return thread_json(thread)
    now = p.now_ms()
    if "archived" in fields:
        fields["archive_ts"] = now
        if not fields["archived"]:
            fields["activity_ts"] = now
    after = await p.meta.update_thread(thread.id, fields)
    if after is None:
        raise ApiError.unknown("channel")
    data = thread_json(after)
    p.publish(Event("THREAD_UPDATE", data, guild_id=after.guild_id, channel_id=after.id))
    return data


def _current(thread: Channel, key: str) -> Any:
    if key in ("name", "rate_limit_per_user"):
        return getattr(thread, key)
    return getattr(thread.thread, key)


async def before_send(p: Platform, view: ChannelView) -> None:
    """A message into an archived thread unarchives it when the sender may (THREAD_UPDATE);
    a locked one takes messages only from MANAGE_THREADS holders (else 400 50083)."""
    thread = await settle(p, view.channel)
    state = thread.thread
    if state is None or not state.archived:
        return
    if state.locked and not view.permissions & _P.MANAGE_THREADS:
        raise _archived()
    now = p.now_ms()
    after = await p.meta.update_thread(thread.id, {"archived": False, "archive_ts": now,
                                                   "activity_ts": now})
    if after is not None:
        p.publish(Event("THREAD_UPDATE", thread_json(after), guild_id=after.guild_id,
                        channel_id=after.id))


async def message_sent(p: Platform, channel: Channel) -> None:
    """Count a message written into ``channel`` when it is a thread (its counts, its activity)."""
    if channel.thread is not None:
        await p.meta.count_thread_message(channel.id, p.now_ms())


# -- members ---------------------------------------------------------------------------------

async def _thread_view(p: Platform, actor: User, thread_id: int) -> ChannelView:
    view = await channel_view(p.meta, thread_id, actor.id)
    if view.channel.thread is None:
        raise ApiError.bad_request(ErrorCode.INVALID_CHANNEL_TYPE,
                                   "Cannot execute action on this channel type")
    return view


async def add_member(p: Platform, actor: User, thread_id: int, user_id: int | None) -> None:
    """``PUT /channels/{t}/thread-members/@me`` (``user_id`` None) or ``/{user}``: adding
    someone else needs SEND_MESSAGES_IN_THREADS and, in a private thread, to be its member
    with ``invitable`` or MANAGE_THREADS. The user must be a guild member who can view the
    parent. Publishes THREAD_MEMBER_UPDATE (to the user) and THREAD_MEMBERS_UPDATE.

    Raises:
        ApiError: 404 Unknown Member; 403; 400 50083 in an archived thread.
    """
    view = await _thread_view(p, actor, thread_id)
    thread = await settle(p, view.channel)
    assert thread.thread is not None and thread.guild_id is not None
    if thread.thread.archived:
        raise _archived()
    target = actor.id if user_id is None else user_id
    if target != actor.id:
        view.require(_P.SEND_MESSAGES)  # SEND_MESSAGES_IN_THREADS in a thread (core.access)
        if (thread.type == ChannelType.PRIVATE_THREAD
                and not view.permissions & _P.MANAGE_THREADS
                and not (thread.thread.invitable or thread.owner_id == actor.id)):
            raise ApiError.missing_permissions()
        if await p.meta.get_member(thread.guild_id, target) is None:
            raise ApiError.unknown("member")
        await channel_view(p.meta, thread.parent_id or 0, target)  # they must see the parent
    member = ThreadMember(thread.id, target, p.now_ms())
    if not await p.meta.add_thread_member(member):
        return
    await _members_changed(p, thread, added=member)


async def remove_member(p: Platform, actor: User, thread_id: int, user_id: int | None) -> None:
    """``DELETE /channels/{t}/thread-members/@me`` or ``/{user}``: removing someone else needs
    MANAGE_THREADS, or to own a private thread. Publishes THREAD_MEMBERS_UPDATE.

    Raises:
        ApiError: 404 Unknown Member; 403 50013; 400 50083 in an archived thread.
    """
    view = await _thread_view(p, actor, thread_id)
    thread = await settle(p, view.channel)
    assert thread.thread is not None
    if thread.thread.archived:
        raise _archived()
    target = actor.id if user_id is None else user_id
    if target != actor.id and not view.permissions & _P.MANAGE_THREADS and not (
            thread.type == ChannelType.PRIVATE_THREAD and thread.owner_id == actor.id):
        raise ApiError.missing_permissions()
    if not await p.meta.remove_thread_member(thread.id, target):
        if target != actor.id:
            raise ApiError.unknown("member")
        return
    await _members_changed(p, thread, removed=target)


async def _members_changed(p: Platform, thread: Channel, *, added: ThreadMember | None = None,
                           removed: int | None = None) -> None:
    after = await p.meta.get_channel(thread.id)
    count = after.thread.member_count if after and after.thread else 0
    data: Json = {"id": str(thread.id), "guild_id": str(thread.guild_id), "member_count": count}
    events = []
    if added is not None:
        data["added_members"] = [thread_member_json(added, guild_id=thread.guild_id)]
        # Discord sends THREAD_CREATE (with the member, without newly_created) to the user
        # added: one added to a private thread has heard nothing of it, and discord.py
        # ignores THREAD_MEMBER(S)_UPDATE of a thread it does not know.
        events.append(Event("THREAD_CREATE", thread_json(after or thread, added),
                            guild_id=thread.guild_id, user_ids=(added.user_id,)))
        events.append(Event("THREAD_MEMBER_UPDATE",
                            thread_member_json(added, guild_id=thread.guild_id),
                            guild_id=thread.guild_id, user_ids=(added.user_id,)))
    if removed is not None:
        data["removed_member_ids"] = [str(removed)]
        # The one removed from a private thread sees it no longer: told on its own.
        if thread.type == ChannelType.PRIVATE_THREAD:
            events.append(Event("THREAD_MEMBERS_UPDATE", data, guild_id=thread.guild_id,
                                user_ids=(removed,)))
    events.append(Event("THREAD_MEMBERS_UPDATE", data, guild_id=thread.guild_id,
                        channel_id=thread.id))
    p.publish(*events)


async def get_member(p: Platform, actor: User, thread_id: int, user_id: int,
                     with_member: bool) -> Json:
    """``GET /channels/{t}/thread-members/{user}`` (``with_member``: the guild member too)."""
    view = await _thread_view(p, actor, thread_id)
    member = await p.meta.get_thread_member(view.channel.id, user_id)
    if member is None:
        raise ApiError.unknown("member")
    return (await _members_out(p, view.channel, [member], with_member))[0]


async def list_members(p: Platform, actor: User, thread_id: int, *, after: int, limit: int,
                       with_member: bool) -> list[Json]:
    """``GET /channels/{t}/thread-members``: by user id after ``after``, ``limit`` <= 100."""
    view = await _thread_view(p, actor, thread_id)
    members = await p.meta.list_thread_members(view.channel.id, after, limit)
    return await _members_out(p, view.channel, members, with_member)


async def _members_out(p: Platform, thread: Channel, members: list[ThreadMember],
                       with_member: bool) -> list[Json]:
    out = [thread_member_json(m) for m in members]
    if not with_member or thread.guild_id is None:
        return out
    users = await p.meta.get_users([m.user_id for m in members])
    for item, m in zip(out, members, strict=True):
        gm = await p.meta.get_member(thread.guild_id, m.user_id)
        user = users.get(m.user_id)
        if gm is not None and user is not None:
            item["member"] = member_json(gm, user)
    return out


async def delete_thread(p: Platform, view: ChannelView) -> Json:
    """``DELETE /channels/{thread}`` (MANAGE_THREADS): the thread, its members and messages;
    THREAD_DELETE to those who saw it."""
    view.require(_P.MANAGE_THREADS)
    thread = view.channel
    if not await p.meta.delete_channel(thread.id):
        raise ApiError.unknown("channel")
    out = thread_json(thread)
    p.publish(Event("THREAD_DELETE", {"id": str(thread.id), "guild_id": str(thread.guild_id),
                                      "parent_id": str(thread.parent_id),
                                      "type": int(thread.type)},
                    guild_id=thread.guild_id, channel_id=thread.id))
    await p.messages.delete_channel_messages(thread.id)
    return out
