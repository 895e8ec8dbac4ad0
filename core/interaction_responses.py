"""The bot's answers to an interaction: the initial callback
(``POST /interactions/{id}/{token}/callback``) and the follow-ups and ``@original`` through
``/webhooks/{application_id}/{token}...``, all authorized by the interaction's token alone.

As Discord's ("Receiving and Responding"):

- The initial callback is made once, within :data:`core.interactions.RESPONSE_WINDOW_MS` of the
  invocation (after it, or with a wrong token or an unknown id: 404 10062); a second one is
  400 40060, decided by one conditional store write so two racing answers cannot both win.
  Types, each for the interactions Discord allows it for (else 400 50035): 4 a message
  (CHANNEL_MESSAGE_WITH_SOURCE), 5 deferred (the invoker waits; the first follow-up, or an edit
  of ``@original``, becomes the response) and 9 a modal, for a command or a component; 6
  DEFERRED_UPDATE_MESSAGE and 7 UPDATE_MESSAGE for a component (or a modal submitted from
  one): its message becomes ``@original``, 7 edits it at once (MESSAGE_UPDATE), after 6 an
  edit of ``@original`` does; 4 and 5 also answer a modal submit; 8
  APPLICATION_COMMAND_AUTOCOMPLETE_RESULT (``choices`` of the focused option's type, at most
  25) answers an autocomplete request alone, and reaches the invoker's sessions as Discord's
  client event APPLICATION_COMMAND_AUTOCOMPLETE_RESPONSE (``choices`` and the request's
  ``nonce``).
- A response message is the bot's, of type 20 (CHAT_INPUT_COMMAND), with ``interaction`` and
  ``interaction_metadata`` (a command's full name as ``name`` in both; a follow-up's
  ``original_response_message_id``) in the MESSAGE_CREATE and the callback's answer (history keeps the
  message without them: they are not stored). It goes through the router's durable write like
  any message. With flag 64 (EPHEMERAL) it is neither stored nor sent to the channel: one
  MESSAGE_CREATE (flags 64) to the invoker's sessions only; an ephemeral ``@original`` is kept
  with the interaction (its JSON) so that it can be read, edited (MESSAGE_UPDATE) and deleted
  (MESSAGE_DELETE), again to the invoker only. So are its ephemeral follow-ups, the last
  :data:`MAX_EPHEMERAL_FOLLOWUPS` of them (older ones are forgotten: 10008), for the token's
  15 minutes. Their components may be used: a click names one
  (``core.interactions.ephemeral_message``), and 6/7 and the click's ``@original`` act on
  the JSON its interaction keeps. 6 answering a modal submitted from a command (no message)
  acknowledges it, nothing more.
- A modal (9), checked as :func:`core.components.parse_modal` does, is kept with the
  interaction for its submit, and sent to the invoker's sessions as an
  ``INTERACTION_MODAL_CREATE`` dispatch (Discord's client event: ``id`` the interaction, which
  the submit names as ``data.id``, ``channel_id``, ``custom_id``, ``title``, ``components``,
  ``application``), which the web client or a test reads.
- ``with_response`` (query, true): the answer is Discord's interaction callback response
  (``interaction`` and ``resource``, which discord.py reads), else 204.
- The follow-up routes live as long as the token, 15 minutes; after that, or for a token that
  names no interaction of that application, 401 50027 Invalid Webhook Token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core import messages
from core.access import parse_id
from core.components import autocomplete_choices, parse_modal
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    RESPONSE_WINDOW_MS,
    TOKEN_TTL_MS,
    EphemeralMessage,
    ephemeral_message,
    hash_token,
    keep_ephemeral,
    token_matches,
    unknown_interaction,
)
from core.message_form import parse_edit, parse_send
from core.models import Channel, Interaction, Message, User
from core.platform import Platform
from core.router import RouterClosed, WriteFailed
from core.snowflake import iso_timestamp
from core.wire import message_json, user_json

__all__ = [
    "MAX_EPHEMERAL_FOLLOWUPS",
    "ORIGINAL",
    "callback",
    "delete_message",
    "edit_message",
    "followup",
    "get_message",
]

Json = dict[str, Any]

MESSAGE, DEFERRED, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE_RESULT, MODAL = 4, 5, 6, 7, 8, 9
_ALL_TYPES = (4, 5, 6, 7, 8, 9)
# The callback types each interaction type may be answered with (Discord's "Interaction
# Response Type"); 7 also needs a component's message (a modal submit may have none: 6 then
# only acknowledges it, which discord.py's defer() of a modal submit sends).
_ALLOWED = {
    APPLICATION_COMMAND: (MESSAGE, DEFERRED, MODAL),
    MESSAGE_COMPONENT: (MESSAGE, DEFERRED, DEFERRED_UPDATE, UPDATE, MODAL),
    AUTOCOMPLETE: (AUTOCOMPLETE_RESULT,),
    MODAL_SUBMIT: (MESSAGE, DEFERRED, DEFERRED_UPDATE, UPDATE),
}
_EPHEMERAL = 1 << 6
_CHAT_INPUT_COMMAND = 20
_ALREADY_ACKNOWLEDGED = 40060
_INVALID_WEBHOOK_TOKEN = 50027
_SEND_FIELDS = ("content", "embeds", "allowed_mentions", "tts", "flags", "components")
_UPDATE_FIELDS = ("content", "embeds", "allowed_mentions", "flags", "components",
                  "attachments")
_TRUE = frozenset({"true", "1"})
ORIGINAL = "@original"
# Ephemeral follow-ups kept per interaction (the newest; with the token's 15 minutes this bounds
# what a bot can make the store hold): Discord sets no number, a view on each is rare past a few.
MAX_EPHEMERAL_FOLLOWUPS = 25


async def callback(
    p: Platform, interaction_id: int, token: str, query: Mapping[str, str], body: Any
) -> Json | None:
    """The initial response; the callback response with ``with_response``, else None (204).

    Raises:
        ApiError: 404 10062; 400 40060; 400 50035 for a bad body.
    """
    i = await p.meta.get_interaction(interaction_id)
    now = p.now_ms()
    if i is None or not token_matches(i, token) or now - i.created_ms > TOKEN_TTL_MS:
        raise unknown_interaction()
    if not isinstance(body, dict):
        raise invalid_form("_root", "DICT_TYPE_CONVERT", "Must be an object.")
    kind = body.get("type")
    if kind not in _ALL_TYPES or isinstance(kind, bool):
        raise invalid_form("type", "BASE_TYPE_CHOICES", f"Must be one of {_ALL_TYPES}.")
    if kind not in _ALLOWED.get(i.type, ()) or (
            kind == UPDATE and i.message_id is None):
        raise invalid_form("type", "INTERACTION_RESPONSE_TYPE_INVALID",
                           "This response type is not valid for this interaction.")
    if i.acknowledged:
        raise _already()
    if now - i.created_ms > RESPONSE_WINDOW_MS:
        raise unknown_interaction()
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise invalid_form("data", "DICT_TYPE_CONVERT", "Must be an object.")
    ephemeral = bool(_flags(data) & _EPHEMERAL)
    message: Json | None = None
    if kind == MESSAGE:
        bot, channel = await _bot_and_channel(p, i)
        built, stored = _build(p, i, bot, await _invoker(p, i), channel, data, ephemeral)
        original = json.dumps(built) if ephemeral else None
        if not await p.meta.acknowledge_interaction(i.id, kind, original_id=stored.id,
                                                    ephemeral=ephemeral, original=original):
            raise _already()
        message = await _deliver(p, i, stored, built, ephemeral)
    elif kind in (DEFERRED_UPDATE, UPDATE):
        ephemeral = False  # the component's message stays as it is seen
        message = await _update(p, i, kind, data)
    elif kind == AUTOCOMPLETE_RESULT:
        state = json.loads(i.state or "{}")
        choices = autocomplete_choices(data, state.get("option_type", 3))
        await _acknowledge(p, i, kind)
        p.publish(Event("APPLICATION_COMMAND_AUTOCOMPLETE_RESPONSE",
                        {"choices": choices, "nonce": state.get("nonce")},
                        user_ids=(i.user_id,)))
    else:
        modal = parse_modal(data) if kind == MODAL else None
        await _acknowledge(p, i, kind, ephemeral=ephemeral,
                           state=json.dumps(modal) if modal else None)
        if modal is not None:
            shown = {"id": str(i.id), "channel_id": str(i.channel_id), **modal,
                     "application": {"id": str(i.application_id)}}
            p.publish(Event("INTERACTION_MODAL_CREATE", shown, user_ids=(i.user_id,)))
    if query.get("with_response", "").lower() not in _TRUE:
        return None
    return {
        "interaction": {
            "id": str(i.id), "type": i.type, "activity_instance_id": None,
            "response_message_id": message["id"] if message else None,
            "response_message_loading": kind == DEFERRED,
            "response_message_ephemeral": ephemeral,
        },
        "resource": {"type": kind, **({"message": message} if message else {})},
    }


async def followup(p: Platform, application_id: int, token: str, body: Any) -> Json:
    """``POST /webhooks/{application_id}/{token}``: a follow-up message (always answered with
    it, as Discord does for an interaction's webhook). The first one after a deferred response
    is the response (``@original``), ephemeral if the deferral was.

    Raises:
        ApiError: 401 50027; 404 10015 before the initial response; 400 50035, 50006.
    """
    i = await _by_token(p, application_id, token)
    if not i.acknowledged:
        raise ApiError(404, ErrorCode.UNKNOWN_WEBHOOK, "Unknown Webhook")
    data = body if isinstance(body, dict) else {}
    becomes_original = i.response_type == DEFERRED and i.original_id is None
    ephemeral = bool(_flags(data) & _EPHEMERAL) or (becomes_original and i.ephemeral)
    bot, channel = await _bot_and_channel(p, i)
    built, stored = _build(p, i, bot, await _invoker(p, i), channel, data, ephemeral)
    if becomes_original:
        await p.meta.set_interaction_original(i.id, stored.id,
                                              json.dumps(built) if ephemeral else None)
    else:
        if i.original_id is not None:
            built["interaction_metadata"]["original_response_message_id"] = str(i.original_id)
        if ephemeral:  # in no history: kept so that its components can be used
            await p.meta.add_interaction_followup(i, stored.id, json.dumps(built),
                                                  MAX_EPHEMERAL_FOLLOWUPS)
    return await _deliver(p, i, stored, built, ephemeral)


async def get_message(p: Platform, application_id: int, token: str, message_id: str) -> Json:
    """``GET /webhooks/{application_id}/{token}/messages/{@original or id}``.

    Raises:
        ApiError: 401 50027; 404 10008.
    """
    i = await _by_token(p, application_id, token)
    kept = await _ephemeral_target(p, i, message_id)
    if kept is not None:
        original: Json = json.loads(kept.body)
        return original
    _, message = await _response_message(p, i, message_id)
    bot, _ = await _bot_and_channel(p, i)
    return message_json(message, {bot.id: bot})


async def edit_message(
    p: Platform, application_id: int, token: str, message_id: str, body: Any
) -> Json:
    """``PATCH .../messages/{@original or id}``: as a webhook's message edit; MESSAGE_UPDATE.
    Editing the original of a deferred response that has none yet sends it.

    Raises:
        ApiError: 401 50027; 404 10008; 400 50035, 50006.
    """
    i = await _by_token(p, application_id, token)
    data = body if isinstance(body, dict) else {}
    if message_id == ORIGINAL and i.response_type == DEFERRED and i.original_id is None:
        return await followup(p, application_id, token, data)
    kept = await _ephemeral_target(p, i, message_id)
    if kept is not None:
        return await _edit_ephemeral(p, kept, data)
    channel, message = await _response_message(p, i, message_id)
    return await messages.edit_as_webhook(p, channel, message, data)


async def delete_message(p: Platform, application_id: int, token: str, message_id: str) -> None:
    """``DELETE .../messages/{@original or id}``; MESSAGE_DELETE.

    Raises:
        ApiError: 401 50027; 404 10008.
    """
    i = await _by_token(p, application_id, token)
    kept = await _ephemeral_target(p, i, message_id)
    if kept is not None:
        owner = kept.owner
        await keep_ephemeral(p, kept, None)
        gone = {"id": str(kept.message_id), "channel_id": str(owner.channel_id),
                **({"guild_id": str(owner.guild_id)} if owner.guild_id else {})}
        p.publish(Event("MESSAGE_DELETE", gone, user_ids=(owner.user_id,)))
        return
    channel, message = await _response_message(p, i, message_id)
    await messages.delete_as_webhook(p, channel, message)


# -- helpers -----------------------------------------------------------------------------------


async def _acknowledge(p: Platform, i: Interaction, kind: int, *, ephemeral: bool = False,
                       original_id: int | None = None, state: str | None = None) -> None:
    if not await p.meta.acknowledge_interaction(i.id, kind, original_id=original_id,
                                                ephemeral=ephemeral, original=None, state=state):
        raise _already()


async def _update(p: Platform, i: Interaction, kind: int, data: Json) -> Json | None:
    """Callback 6 or 7: the component's message becomes ``@original``; 7 edits it now (as
    its bot's own edit: ``content``, ``embeds``, ``components``, ``attachments`` kept...). A
    modal submitted from a command has no message: 6 acknowledges it, nothing more."""
    if i.message_id is None:  # 6 for a modal submitted from a command: nothing to update
        await _acknowledge(p, i, kind)
        return None
    channel = await _channel(p, i.channel_id)
    message = await p.messages.get_message(channel.id, i.message_id)
    fields = {k: data[k] for k in _UPDATE_FIELDS if k in data}
    if kind == UPDATE:
        parse_edit(fields, p.config.max_message_length)  # a bad body answers nothing
    if message is None:  # an ephemeral message's components: its interaction keeps it
        kept = await ephemeral_message(p, i.user_id, i.channel_id, i.message_id)
        await _acknowledge(p, i, kind, original_id=i.message_id, ephemeral=True)
        return None if kind == DEFERRED_UPDATE else await _edit_ephemeral(p, kept, fields)
    if message.author_id != i.application_id:
        raise ApiError.unknown("message")
    await _acknowledge(p, i, kind, original_id=message.id)
    if kind == DEFERRED_UPDATE:
        return None
    return await messages.edit_as_webhook(p, channel, message, fields)


def _already() -> ApiError:
    return ApiError(400, _ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")


def _flags(data: Json) -> int:
    flags = data.get("flags", 0)
    return flags if isinstance(flags, int) and not isinstance(flags, bool) else 0


async def _by_token(p: Platform, application_id: int, token: str) -> Interaction:
    """The interaction of this token and application, alive (else 401 50027)."""
    i = await p.meta.interaction_by_token(hash_token(token))
    if (i is None or i.application_id != application_id
            or p.now_ms() - i.created_ms > TOKEN_TTL_MS):
        raise ApiError(401, _INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
    return i


async def _bot_and_channel(p: Platform, i: Interaction) -> tuple[User, Channel]:
    bot = await p.meta.get_user(i.application_id)
    channel = await p.meta.get_channel(i.channel_id)
    if bot is None or channel is None:  # deleted since the invocation
        raise unknown_interaction()
    return bot, channel


async def _invoker(p: Platform, i: Interaction) -> Json:
    """The invoking user's object: a message's ``interaction.user`` and
    ``interaction_metadata.user`` are whole users (discord.py builds a ``User`` from them)."""
    user = await p.meta.get_user(i.user_id)
    if user is None:  # deleted since the invocation
        raise unknown_interaction()
    return user_json(user)


def _build(
    p: Platform, i: Interaction, bot: User, invoker: Json, channel: Channel, data: Json,
    ephemeral: bool,
) -> tuple[Json, Message]:
    """The response message (not yet delivered) and its JSON with the interaction's fields."""
    fields = {k: data[k] for k in _SEND_FIELDS if k in data}
    fields["flags"] = _flags(data) & ~_EPHEMERAL
    form = parse_send(fields, p.config.max_message_length)
    if not form.content and not form.embeds and not form.components:
        raise ApiError.bad_request(ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
    message = Message(
        id=p.ids.next(), channel_id=channel.id, author_id=bot.id, content=form.content,
        guild_id=channel.guild_id, type=_CHAT_INPUT_COMMAND, tts=form.tts,
        flags=form.flags | (_EPHEMERAL if ephemeral else 0), embeds=form.embeds,
        components=form.components,
    )
    out = message_json(message, {bot.id: bot})
    out["interaction_metadata"] = {
        "id": str(i.id), "type": i.type, "user": invoker,
        "authorizing_integration_owners": {"0": str(i.guild_id or 0)},
        # Discord's: the command's full name, "present only on ... application command
        # interactions" (the deprecated ``interaction`` always has a name, "" otherwise here)
        **({"name": i.name} if i.type == APPLICATION_COMMAND else {}),
    }
    out["interaction"] = {"id": str(i.id), "type": i.type, "name": i.name, "user": invoker}
    out["application_id"] = str(i.application_id)
    return out, message


async def _deliver(p: Platform, i: Interaction, message: Message, data: Json,
                   ephemeral: bool) -> Json:
    if ephemeral:  # not stored: for the invoker's eyes only
        p.publish(Event("MESSAGE_CREATE", data, user_ids=(i.user_id,)))
        return data
    event = Event("MESSAGE_CREATE", data, **messages.channel_audience(
        await _channel(p, message.channel_id)))
    try:
        await p.router.submit(message, (event,))
    except WriteFailed:
        raise ApiError(503, ErrorCode.GENERAL, "The message could not be saved; retry.") from None
    except RouterClosed:
        raise ApiError(503, ErrorCode.GENERAL, "The server is restarting; retry.") from None
    return data


async def _channel(p: Platform, channel_id: int) -> Channel:
    channel = await p.meta.get_channel(channel_id)
    if channel is None:
        raise unknown_interaction()
    return channel


def _is_ephemeral_original(i: Interaction, message_id: str) -> bool:
    return i.ephemeral and i.original is not None and (
        message_id == ORIGINAL or message_id == str(i.original_id))


async def _ephemeral_target(p: Platform, i: Interaction,
                            message_id: str) -> EphemeralMessage | None:
    """The kept ephemeral message ``message_id`` names for ``i``: its own ephemeral
    ``@original`` or one of its ephemeral follow-ups; for a component of an ephemeral message
    answered with 6 or 7, that message (kept by the interaction that sent it). None
    otherwise."""
    if _is_ephemeral_original(i, message_id):
        assert i.original_id is not None and i.original is not None
        return EphemeralMessage(i, i.original_id, i.original, False)
    if (i.ephemeral and i.original is None and i.original_id is not None
            and message_id in (ORIGINAL, str(i.original_id))):
        try:
            return await ephemeral_message(p, i.user_id, i.channel_id, i.original_id)
        except ApiError:
            return None  # gone: no message
    try:  # ASCII digits within the stores' signed 64-bit ids ("²" is a digit to isdigit)
        number = parse_id(message_id, "message")
    except ApiError:
        return None
    followup = await p.meta.interaction_followup(number)
    if followup is not None and followup[0].id == i.id:
        return EphemeralMessage(i, number, followup[1], True)
    return None


async def _edit_ephemeral(p: Platform, kept: EphemeralMessage, data: Json) -> Json:
    """Edit a kept ephemeral message (``content``, ``embeds``, ``components``);
    MESSAGE_UPDATE to its user alone."""
    form = parse_edit({k: data[k] for k in ("content", "embeds", "components") if k in data},
                      p.config.max_message_length)
    after: Json = json.loads(kept.body)
    if form.content is not None:
        after["content"] = form.content
    if form.embeds is not None:
        after["embeds"] = list(form.embeds)
    if form.components is not None:
        after["components"] = list(form.components)
    after["edited_timestamp"] = iso_timestamp(p.now_ms())
    await keep_ephemeral(p, kept, json.dumps(after))
    p.publish(Event("MESSAGE_UPDATE", after, user_ids=(kept.owner.user_id,)))
    return after


async def _response_message(p: Platform, i: Interaction, message_id: str) -> tuple[Channel, Message]:
    """A stored message this interaction's bot sent in response (type 20) in its channel, or
    the bot's message whose component made the interaction.

    An id that is no snowflake (out of range too: the stores' ids are signed 64-bit) names
    no message: 404, as :func:`core.access.parse_id` answers it.
    """
    target = i.original_id if message_id == ORIGINAL else parse_id(message_id, "message")
    channel = await _channel(p, i.channel_id)
    message = await p.messages.get_message(channel.id, target) if target else None
    if (message is None or message.author_id != i.application_id
            or (message.type != _CHAT_INPUT_COMMAND and message.id != i.message_id)):
        raise ApiError.unknown("message")
    return channel, message

