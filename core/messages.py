"""Messages: send, edit, delete, bulk delete and typing, with their gateway events.

Every send goes through :meth:`core.router.MessageRouter.submit`: it returns once the batch
holding the message is durable, and only then is MESSAGE_CREATE published and the author
answered. Body parsing and limits are in :mod:`core.message_form`; reads (history, one message,
rendering, ``last_message_id``) in :mod:`core.history`.

A webhook's messages take the same path (:func:`send_as_webhook`, :func:`edit_as_webhook`,
:func:`delete_as_webhook`, called by :mod:`core.webhook_messages` once the token is checked):
the same parsing, mentions, router and events, with the webhook as the author. It is no user
and no member: no permission applies to it but the ones Discord gives webhooks (any mention,
as ``allowed_mentions`` permits), no slowmode, no nonce, no reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core import audit, threads
from core.access import ChannelView, channel_view
from core.attachments import StoredFile, attachment_objects, blob_keys, kept_attachments
from core.errors import ApiError, ErrorCode, RetryLater, invalid_form
from core.events import Event
from core.history import find_message, render
from core.message_form import (
    SUPPRESS_EMBEDS,
    AllowedMentions,
    EditForm,
    ReferenceForm,
    find_mentions,
    parse_edit,
    parse_send,
)
from core.models import Channel, ChannelType, Message, MessageReference, Role, User, Webhook
from core.permissions import Permission
from core.platform import Platform
from core.router import RouterClosed, WriteFailed
from core.snowflake import snowflake_time_ms
from core.timeline import VALIDATED, Trace
from core.validate import snowflake_value
from core.wire import member_json, message_json, reaction_json

__all__ = [
    "SlowmodeLimited",
    "bulk_delete",
    "channel_audience",
    "channel_place",
    "delete",
    "delete_as_webhook",
    "delete_many",
    "edit",
    "edit_as_webhook",
    "may_attach",
    "send",
    "send_as_webhook",
    "typing",
]

Json = dict[str, Any]

MESSAGE_DEFAULT, MESSAGE_REPLY = 0, 19
SLOWMODE_CODE = 20016
NON_TEXT_CHANNEL = 50008
BULK_TOO_OLD = 50034
BULK_MIN, BULK_MAX = 2, 100
BULK_MAX_AGE_MS = 14 * 86_400_000
_P = Permission
# Who slowmode does not apply to (Discord: MANAGE_MESSAGES or MANAGE_CHANNELS, and since 2026
# BYPASS_SLOWMODE).
_SLOWMODE_EXEMPT = int(_P.MANAGE_MESSAGES | _P.MANAGE_CHANNELS | _P.BYPASS_SLOWMODE)
# What a webhook's execute body may carry of a send's fields ("Execute Webhook": no nonce, no
# reply); the rest (``username``, ``avatar_url``...) is core.webhook_messages'.
# ``components`` reaches here only when core.webhook_messages let it (``with_components``).
_WEBHOOK_SEND_FIELDS = ("content", "tts", "embeds", "allowed_mentions", "flags", "components")


@dataclass(slots=True)
class SlowmodeLimited(RetryLater):
    """429 20016: the channel's ``rate_limit_per_user`` has not elapsed since the last send."""


@dataclass(frozen=True, slots=True)
class _Mentions:
    users: tuple[int, ...]
    roles: tuple[int, ...]
    everyone: bool


@dataclass(frozen=True, slots=True)
class _MentionScope:
    """What decides which mentions of a message count: its channel, the guild's roles (none
    in a DM), and whether the sender may mention @everyone and any role (MENTION_EVERYONE for
    a user; a webhook always may, as on Discord)."""

    channel: Channel
    roles: Mapping[int, Role]
    may_mention_all: bool


def _scope(view: ChannelView) -> _MentionScope:
    roles = view.guild.roles if view.guild is not None else {}
    return _MentionScope(view.channel, roles, bool(view.permissions & _P.MENTION_EVERYONE))


async def _webhook_scope(p: Platform, channel: Channel) -> _MentionScope:
    # A webhook's channel is a guild text channel; an interaction's answer may be in its
    # bot's DM, which has no roles.
    roles = ({r.id: r for r in await p.meta.list_roles(channel.guild_id)}
             if channel.guild_id is not None else {})
    return _MentionScope(channel, roles, True)


# -- send --------------------------------------------------------------------------------------


async def send(
    p: Platform, author: User, channel_id: int, body: dict[str, Any],
    files: Sequence[StoredFile] = (), *, trace: Trace | None = None,
) -> Json:
    """``POST /channels/{id}/messages``: write a message durably, then publish MESSAGE_CREATE.

    Needs VIEW_CHANNEL and SEND_MESSAGES; READ_MESSAGE_HISTORY for a reply; ATTACH_FILES with
    ``files`` (already stored by the caller, ``core.attachments``); ``tts`` is kept
    only with SEND_TTS_MESSAGES. With ``enforce_nonce``, a retry with the nonce of a recent
    send returns that message and publishes nothing.

    Returns:
        The message object (with ``member`` in guild channels).

    Raises:
        ApiError: 404/403 as :func:`core.access.channel_view`; 403 50013; 400 50006 for an
            empty message, 50008 for a category, 50035 for a bad field; 429 20016
            (:class:`SlowmodeLimited`); 503 when the write failed or the worker is draining.
    """
    view = await channel_view(p.meta, channel_id, author.id)
    _require_text(view.channel)
    view.require(_P.SEND_MESSAGES)
    if files:
        view.require(_P.ATTACH_FILES)
    form = parse_send(body, p.config.max_message_length)
    if form.components and not author.bot:
        # Discord's: components are an application's (its bot's messages and responses).
        raise invalid_form("components", "COMPONENT_NOT_ALLOWED",
                           "Only an application's messages may hold components.")
    attachments = attachment_objects(files, body, channel_id, p.config.http_url) if files else ()
    if not form.content and not form.embeds and not attachments and not form.components:
        raise ApiError.bad_request(ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
    referenced = await _referenced(p, view, form.reference)
    replied = referenced.author_id if referenced and form.allowed.mentions_replied else None
    mentioned = await _mentions(p, _scope(view), form.content, form.allowed, replied)
    users = await _users_for(p, author, mentioned.users, referenced)
    await threads.before_send(p, view)  # an archived thread: unarchived, or 50083
    await _slowmode(p, view, author.id)
    channel = view.channel
    message = Message(
        id=p.ids.next(), channel_id=channel.id, author_id=author.id, content=form.content,
        guild_id=channel.guild_id, type=MESSAGE_REPLY if referenced else MESSAGE_DEFAULT,
        tts=form.tts and bool(view.permissions & _P.SEND_TTS_MESSAGES), nonce=form.nonce,
        mention_everyone=mentioned.everyone, mentions=mentioned.users,
        mention_roles=mentioned.roles, flags=form.flags, embeds=form.embeds,
        reference=MessageReference(referenced.id, channel.id, channel.guild_id)
        if referenced else None, attachments=attachments, components=form.components,
    )
    ref_json = message_json(referenced, users) if referenced else None
    member = view.guild.member if view.guild else None
    data = message_json(message, users, member, ref_json)
    event = Event("MESSAGE_CREATE", data, **channel_audience(channel))
    if trace is not None:  # a sampled message (core.timeline)
        trace.stamp(VALIDATED)
    earlier = await _submit(p, message, event, form.enforce_nonce, trace)
    if earlier is not None:
        return (await render(p, channel, [earlier], members=True))[0]
    await threads.message_sent(p, channel)
    return data


async def may_attach(p: Platform, author: User, channel_id: int) -> None:
    """Refuse a send with files before any byte of them is stored: what :func:`send` checks
    first (the channel, SEND_MESSAGES and ATTACH_FILES), checked again there.

    Raises:
        ApiError: as :func:`send`'s permission checks.
    """
    view = await channel_view(p.meta, channel_id, author.id)
    _require_text(view.channel)
    view.require(_P.SEND_MESSAGES | _P.ATTACH_FILES)


async def _submit(p: Platform, message: Message, event: Event, enforce: bool,
                  trace: Trace | None = None) -> Message | None:
    try:
        return await p.router.submit(message, (event,), enforce_nonce=enforce, trace=trace)
    except WriteFailed:
        raise ApiError(503, ErrorCode.GENERAL, "The message could not be saved; retry.") from None
    except RouterClosed:
        raise ApiError(503, ErrorCode.GENERAL, "The server is restarting; retry.") from None


async def _referenced(p: Platform, view: ChannelView, ref: ReferenceForm | None) -> Message | None:
    """The replied-to message, which must be in this channel (else it is unknown)."""
    if ref is None:
        return None
    view.require(_P.READ_MESSAGE_HISTORY)
    channel = view.channel
    found = None
    if ref.channel_id in (None, channel.id) and ref.guild_id in (None, channel.guild_id):
        found = await p.messages.get_message(channel.id, ref.message_id)
    if found is None and ref.fail_if_not_exists:
        raise invalid_form(
            "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
        )
    return found


async def _mentions(
    p: Platform, scope: _MentionScope, content: str, allowed: AllowedMentions,
    replied: int | None,
) -> _Mentions:
    """The mentions that count: members (or DM recipients), roles of this guild that are
    mentionable (or the author has MENTION_EVERYONE), and @everyone/@here with MENTION_EVERYONE;
    each also as ``allowed_mentions`` permits. ``replied`` is added as a user mention."""
    user_ids, role_ids, everyone = find_mentions(content)
    wanted = [u for u in user_ids if allowed.allows_user(u)]
    if replied is not None and replied not in wanted:
        wanted.append(replied)
    guild_id = scope.channel.guild_id
    if guild_id is None:
        recipients = scope.channel.recipients
        return _Mentions(tuple(u for u in wanted if u in recipients), (), False)
    found = await asyncio.gather(*(p.meta.get_member(guild_id, u) for u in wanted))
    may_all = scope.may_mention_all
    roles = tuple(
        r for r in role_ids
        if r != guild_id and (role := scope.roles.get(r)) is not None
        and (role.mentionable or may_all) and allowed.allows_role(r)
    )
    return _Mentions(
        tuple(u for u, m in zip(wanted, found, strict=True) if m is not None),
        roles,
        everyone and may_all and "everyone" in allowed.parse,
    )


async def _users_for(
    p: Platform, author: User, mentioned: Sequence[int], referenced: Message | None
) -> dict[int, User]:
    need = set(mentioned)
    if referenced is not None:
        need.update((referenced.author_id, *referenced.mentions))
    need.discard(author.id)
    users = await p.meta.get_users(list(need)) if need else {}
    users[author.id] = author
    return users


async def _slowmode(p: Platform, view: ChannelView, user_id: int) -> None:
    seconds = view.channel.rate_limit_per_user
    if not seconds or view.guild is None or view.permissions & _SLOWMODE_EXEMPT:
        return
    ok, _, reset_ms = await p.cache.rate_hit(
        f"slowmode:{view.channel.id}:{user_id}", 1, seconds * 1000
    )
    if not ok:
        raise SlowmodeLimited(
            429, SLOWMODE_CODE, "This action cannot be performed due to slowmode rate limit.",
            retry_after=max(reset_ms, 1) / 1000,
        )


# -- changes -----------------------------------------------------------------------------------


async def edit(
    p: Platform, user: User, channel_id: int, message_id: int, body: dict[str, Any],
    files: Sequence[StoredFile] = (),
) -> Json:
    """``PATCH /channels/{id}/messages/{id}``: ``content``, ``embeds``, ``flags``,
    ``attachments`` (the existing ones to keep, by id, and new ``files``: ATTACH_FILES);
    MESSAGE_UPDATE. The files of attachments no longer kept are deleted.

    Only the author may change content or embeds; with MANAGE_MESSAGES, anyone may change
    ``flags`` (SUPPRESS_EMBEDS) of a guild message. ``edited_timestamp`` is set when content or
    embeds change. Mentions are parsed again (the replied-to author stays mentioned if it was).

    Raises:
        ApiError: as :func:`core.access.channel_view`; 404 10008; 403 50005 for another user's
            message; 400 50006 if nothing would be left, 50035 for a bad field.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    message = await find_message(p, view.channel, message_id)
    form = parse_edit(body, p.config.max_message_length)
    if form.components and not user.bot:
        raise invalid_form("components", "COMPONENT_NOT_ALLOWED",
                           "Only an application's messages may hold components.")
    if message.author_id != user.id and not (
        form.only_flags and view.guild is not None and view.permissions & _P.MANAGE_MESSAGES
    ):
        raise ApiError(403, ErrorCode.CANNOT_EDIT_OTHERS_MESSAGE,
                       "Cannot edit a message authored by another user")
    if files:
        view.require(_P.ATTACH_FILES)
    attachments = _edited_attachments(p, message, body, files)
    data, updated = await _apply_edit(p, _scope(view), message, form, attachments)
    if attachments is not None:
        kept = {a["id"] for a in updated.attachments}
        gone = [a for a in message.attachments if a["id"] not in kept]
        await p.blobs.delete(blob_keys(channel_id, gone))
    # The answer is a read by the editor: with the reactions as they see them (the event,
    # for everyone, has none; core.history).
    counts = await p.messages.reaction_counts(view.channel.id, [updated.id], user.id)
    if updated.id in counts:
        return {**data, "reactions": [reaction_json(r) for r in counts[updated.id]]}
    return data


def _edited_attachments(
    p: Platform, message: Message, body: dict[str, Any], files: Sequence[StoredFile]
) -> tuple[dict[str, Any], ...] | None:
    """The attachments after an edit (the kept ones, then the new files), None when the edit
    leaves them as they are."""
    kept = kept_attachments(message, body)
    if kept is None and not files:
        return None
    new = attachment_objects(files, body, message.channel_id, p.config.http_url) if files else ()
    return (message.attachments if kept is None else kept) + new


async def _apply_edit(
    p: Platform, scope: _MentionScope, message: Message, form: EditForm,
    attachments: tuple[dict[str, Any], ...] | None = None,
) -> tuple[Json, Message]:
    """Write an edit (if it changes anything) and publish MESSAGE_UPDATE; the message's JSON
    (with ``member``, as the event's) and the message as stored after it."""
    fields = await _edit_fields(p, scope, message, form, attachments)
    updated = message
    if fields:
        found = await p.messages.update_message(scope.channel.id, message.id, fields)
        if found is None:  # deleted meanwhile
            raise ApiError.unknown("message")
        updated = found
    data = (await render(p, scope.channel, [updated], members=True))[0]
    if fields:
        p.publish(Event("MESSAGE_UPDATE", data, **channel_audience(scope.channel)))
    return data, updated


async def _edit_fields(
    p: Platform, scope: _MentionScope, message: Message, form: EditForm,
    attachments: tuple[dict[str, Any], ...] | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if form.flags is not None:
        fields["flags"] = (message.flags & ~SUPPRESS_EMBEDS) | form.flags
    content = message.content if form.content is None else form.content
    embeds = message.embeds if form.embeds is None else form.embeds
    files = message.attachments if attachments is None else attachments
    components = message.components if form.components is None else form.components
    if not content and not embeds and not files and not components:
        raise ApiError.bad_request(ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
    if form.components is not None and form.components != message.components:
        fields["components"] = form.components
    if attachments is not None and attachments != message.attachments:
        fields["attachments"] = attachments
    if form.embeds is not None:
        fields.update(embeds=form.embeds, edited_at=p.now_ms())
    if form.content is not None:
        replied = None
        if message.reference is not None:
            ref = await p.messages.get_message(scope.channel.id, message.reference.message_id)
            if ref is not None and ref.author_id in message.mentions:
                replied = ref.author_id
        m = await _mentions(p, scope, content, form.allowed, replied)
        fields.update(content=content, mentions=m.users, mention_roles=m.roles,
                      mention_everyone=m.everyone, edited_at=p.now_ms())
    return fields


async def delete(
    p: Platform, user: User, channel_id: int, message_id: int, *, reason: str | None = None
) -> None:
    """``DELETE /channels/{id}/messages/{id}``: by the author, or with MANAGE_MESSAGES in a
    guild channel; MESSAGE_DELETE ``{id, channel_id, guild_id}``. A moderator's delete is in
    the audit log with ``reason``.

    Raises:
        ApiError: as :func:`core.access.channel_view`; 404 10008; 403 50013, or 50003 for
            another user's message in a DM.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    message = await find_message(p, view.channel, message_id)
    if message.author_id != user.id:
        if view.guild is None:
            raise ApiError(403, ErrorCode.CANNOT_EXECUTE_ON_DM,
                           "Cannot execute action on a DM channel")
        view.require(_P.MANAGE_MESSAGES)
    await _remove(p, view.channel, message)
    if message.author_id != user.id:
        await audit.message_deleted(p, user.id, view.channel, message.author_id, reason=reason)


async def _remove(p: Platform, channel: Channel, message: Message) -> None:
    if not await p.messages.delete_message(channel.id, message.id):
        raise ApiError.unknown("message")
    await p.blobs.delete(blob_keys(channel.id, message.attachments))
    data = {"id": str(message.id), **channel_place(channel)}
    p.publish(Event("MESSAGE_DELETE", data, **channel_audience(channel)))


async def bulk_delete(
    p: Platform, user: User, channel_id: int, body: dict[str, Any], *, reason: str | None = None
) -> None:
    """``POST /channels/{id}/messages/bulk-delete``: ``messages``, 2..100 ids, none older than
    14 days (MANAGE_MESSAGES, guild channels only). Ids that are not messages of this channel
    are skipped. MESSAGE_DELETE_BULK ``{ids, channel_id, guild_id}`` lists what was deleted;
    the audit log gets it with ``reason``.

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013, or 50003 in a DM; 400 50035
            for a bad list, 50034 for a message older than 14 days.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    if view.guild is None:
        raise ApiError(403, ErrorCode.CANNOT_EXECUTE_ON_DM, "Cannot execute action on a DM channel")
    view.require(_P.MANAGE_MESSAGES)
    raw = body.get("messages")
    if not isinstance(raw, list) or not BULK_MIN <= len(raw) <= BULK_MAX:
        raise invalid_form("messages", "BASE_TYPE_BAD_LENGTH",
                           f"Must be between {BULK_MIN} and {BULK_MAX} in length.")
    ids = list(dict.fromkeys(snowflake_value(x, f"messages.{i}") for i, x in enumerate(raw)))
    cutoff = p.now_ms() - BULK_MAX_AGE_MS
    if any(snowflake_time_ms(i) < cutoff for i in ids):
        raise ApiError.bad_request(
            BULK_TOO_OLD, "You can only bulk delete messages that are under 14 days old."
        )
    deleted = await delete_many(p, view.channel, ids)
    if deleted:
        await audit.messages_bulk_deleted(p, user.id, view.channel, len(deleted), reason=reason)


async def delete_many(p: Platform, channel: Channel, ids: Sequence[int]) -> list[int]:
    """Delete messages of a guild channel by id, BULK_MAX at a time, each batch announced by
    one MESSAGE_DELETE_BULK listing what it deleted (ids not in the channel are skipped);
    the ids deleted. Also a ban's purge of the banned user's messages (``core.purge``)."""
    deleted: list[int] = []
    for start in range(0, len(ids), BULK_MAX):
        batch = ids[start:start + BULK_MAX]
        # Read first for their files (the store's delete says only whether it deleted).
        found = await asyncio.gather(*(p.messages.get_message(channel.id, i) for i in batch))
        done = await asyncio.gather(*(p.messages.delete_message(channel.id, i) for i in batch))
        gone = [i for i, ok in zip(batch, done, strict=True) if ok]
        files = [a for m in found if m is not None and m.id in gone for a in m.attachments]
        await p.blobs.delete(blob_keys(channel.id, files))
        if gone:
            data = {"ids": [str(i) for i in gone], **channel_place(channel)}
            p.publish(Event("MESSAGE_DELETE_BULK", data, **channel_audience(channel)))
        deleted += gone
    return deleted


async def typing(p: Platform, user: User, channel_id: int) -> None:
    """``POST /channels/{id}/typing`` (SEND_MESSAGES): TYPING_START
    ``{channel_id, guild_id, user_id, timestamp (Unix seconds), member}``.

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013; 400 50008 for a category.
    """
    view = await channel_view(p.meta, channel_id, user.id)
    _require_text(view.channel)
    view.require(_P.SEND_MESSAGES)
    data: Json = {**channel_place(view.channel), "user_id": str(user.id),
                  "timestamp": p.now_ms() // 1000}
    if view.guild is not None:
        data["member"] = member_json(view.guild.member, user)
    p.publish(Event("TYPING_START", data, **channel_audience(view.channel)))


# -- a webhook's messages (core.webhook_messages checks the token and the message first) -------


async def send_as_webhook(
    p: Platform, webhook: Webhook, channel: Channel, body: dict[str, Any], *,
    username: str, avatar: str | None, files: Sequence[StoredFile] = (),
) -> Json:
    """A webhook's message in its ``channel`` (or a thread of it): ``content``, ``embeds``,
    ``allowed_mentions``, ``tts``, ``flags``, ``components`` (as
    :func:`core.webhook_messages.execute` lets them through) and ``files`` (with the ``attachments`` array
    describing them) as a user's send; written through the router, then MESSAGE_CREATE.

    Args:
        username: the author's name shown (the webhook's, or the execute's override).
        avatar: the author's avatar hash shown (likewise).
        files: the multipart body's files, stored already (``api.multipart``).

    Returns:
        The message object (no ``member``: the author is the webhook).

    Raises:
        ApiError: 400 50006 for an empty message, 50035 for a bad field, 50083 for a locked
            archived thread; 503 when the write failed or the worker is draining.
    """
    _require_text(channel)
    fields = {k: body[k] for k in _WEBHOOK_SEND_FIELDS if k in body}
    form = parse_send(fields, p.config.max_message_length)
    attachments = attachment_objects(files, body, channel.id, p.config.http_url) if files else ()
    if not form.content and not form.embeds and not attachments and not form.components:
        raise ApiError.bad_request(ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
    mentioned = await _mentions(p, await _webhook_scope(p, channel), form.content, form.allowed,
                                None)
    users = await p.meta.get_users(list(mentioned.users)) if mentioned.users else {}
    # An archived thread is unarchived by the message, as Discord's; a webhook has no member
    # view and no permission, so a locked one refuses it (50083) as it refuses a member.
    await threads.before_send(p, ChannelView(channel, None, 0))
    message = Message(
        id=p.ids.next(), channel_id=channel.id, author_id=webhook.id, content=form.content,
        guild_id=channel.guild_id, type=MESSAGE_DEFAULT, tts=form.tts,
        mention_everyone=mentioned.everyone, mentions=mentioned.users,
        mention_roles=mentioned.roles, flags=form.flags, embeds=form.embeds,
        attachments=attachments, webhook_id=webhook.id, author_name=username,
        author_avatar=avatar, components=form.components,
    )
    data = message_json(message, users)
    await _submit(p, message, Event("MESSAGE_CREATE", data, **channel_audience(channel)), False)
    await threads.message_sent(p, channel)
    return data


async def edit_as_webhook(
    p: Platform, channel: Channel, message: Message, body: dict[str, Any],
    files: Sequence[StoredFile] = (),
) -> Json:
    """Edit a webhook's ``message`` (``content``, ``embeds``, ``flags``, ``allowed_mentions``,
    ``attachments`` and new ``files``, as :func:`edit`); MESSAGE_UPDATE when something
    changed. The files an edit drops are deleted.

    Raises:
        ApiError: 400 50006 if nothing would be left, 50035 for a bad field; 404 10008 when
            it was deleted meanwhile.
    """
    form = parse_edit(body, p.config.max_message_length)
    attachments = _edited_attachments(p, message, body, files)
    data, updated = await _apply_edit(p, await _webhook_scope(p, channel), message, form,
                                      attachments)
    if attachments is not None:
        kept = {a["id"] for a in updated.attachments}
        gone = [a for a in message.attachments if a["id"] not in kept]
        await p.blobs.delete(blob_keys(channel.id, gone))
    return data


async def delete_as_webhook(p: Platform, channel: Channel, message: Message) -> None:
    """Delete a webhook's ``message``; MESSAGE_DELETE.

    Raises:
        ApiError: 404 10008 when it was deleted meanwhile.
    """
    await _remove(p, channel, message)


# -- helpers -----------------------------------------------------------------------------------


# Where messages may be sent: a thread is a text channel of its own (``core.threads``).
_TEXT_TYPES = (ChannelType.GUILD_TEXT, ChannelType.DM, ChannelType.GROUP_DM,
               ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD)


def _require_text(channel: Channel) -> None:
    if channel.type not in _TEXT_TYPES:
        raise ApiError.bad_request(NON_TEXT_CHANNEL, "Cannot send messages in a non-text channel")


def channel_audience(channel: Channel) -> dict[str, Any]:
    """The ``Event`` audience of something that happens in ``channel``: for a guild channel
    who can view it, for a DM its recipients (also for reactions and pins)."""
    if channel.guild_id is None:
        return {"user_ids": tuple(channel.recipients)}
    return {"guild_id": channel.guild_id, "channel_id": channel.id}


def channel_place(channel: Channel) -> Json:
    """``channel_id`` and (in a guild) ``guild_id``, as most channel events carry them."""
    out: Json = {"channel_id": str(channel.id)}
    if channel.guild_id is not None:
        out["guild_id"] = str(channel.guild_id)
    return out
