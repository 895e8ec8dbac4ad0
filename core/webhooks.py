"""Webhooks: a guild text channel's incoming webhooks, managed with MANAGE_WEBHOOKS or with
their own token, and the token check every token route starts with.

Discord's rules, followed here ("Webhook Resource"): creating, listing, reading, editing and
deleting a webhook with a user's or bot's token needs MANAGE_WEBHOOKS in its channel (listing
a guild's, in the guild); a channel holds at most :data:`MAX_PER_CHANNEL` (400 30007); only
guild text channels have webhooks (400 50024). ``name`` is 1..:data:`NAME_MAX` characters and
may not contain "clyde" or "discord" (Discord refuses those, for the execute's ``username``
too); ``avatar`` is image data (a data URI), stored as a user's avatar is (``core.assets``:
the CDN serves it at ``/avatars/{webhook_id}/{hash}.png``, where discord.py's ``Webhook.avatar``
points), or null. An edit may move the webhook to another text channel of its
guild (MANAGE_WEBHOOKS there too). Each change sends WEBHOOKS_UPDATE ``{guild_id,
channel_id}`` to who can view the channel (GUILD_WEBHOOKS intent; a move, for both channels).
Deleting a channel deletes its webhooks (the store's cascade).

The token routes (``/webhooks/{id}/{token}``) need no account: the token is the credential.
An unknown id is 404 10015; a wrong token 401 50027. The token is compared in constant time
(:func:`token_matches`). A token is :data:`TOKEN_BYTES` random bytes, URL-safe base64: 68
characters of ``[A-Za-z0-9_-]``, what discord.py's ``Webhook.from_url`` (60 or more of
``[A-Za-z0-9._-]``) and discord.js's ``WebhookClient`` (68 of ``[\\w-]``) both parse.

The webhook object's ``url`` is this server's own address of the webhook,
``{http_url}/api/v10/webhooks/{id}/{token}``: it works as it is with any HTTP client, and the
token never goes to discord.com. discord.py builds its ``Webhook.url`` itself, as
``https://discord.com/api/webhooks/{id}/{token}``, the one form its ``Webhook.from_url``
accepts, and sends to ``Route.BASE`` (this server, once pointed at it) whatever the URL's
host: so a bot's ``Webhook.from_url(webhook.url)`` reaches this server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Any

from core.access import ChannelView, channel_view, guild_view
from core.accounts import avatar_hash
from core.assets import is_data_uri, store_image
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.models import ChannelType, User, Webhook
from core.permissions import Permission
from core.platform import Platform
from core.store.base import LimitReached
from core.validate import MISSING, get_snowflake, get_str
from core.wire import webhook_json

__all__ = [
    "MAX_PER_CHANNEL",
    "NAME_MAX",
    "TOKEN_BYTES",
    "authorized",
    "create",
    "delete",
    "delete_with_token",
    "get",
    "get_with_token",
    "list_for_channel",
    "list_for_guild",
    "new_token",
    "token_matches",
    "update",
    "update_with_token",
    "webhook_name",
]

Json = dict[str, Any]

# Webhooks one channel may hold (Discord's error 30007 "Maximum number of webhooks reached").
MAX_PER_CHANNEL = 10
NAME_MAX = 80
TOKEN_BYTES = 51  # 68 characters of URL-safe base64 (see the module docstring)
# Words a webhook's name may not contain, in any case (Discord refuses them).
_RESERVED_WORDS = ("clyde", "discord")
_MANAGE = Permission.MANAGE_WEBHOOKS


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(webhook: Webhook, presented: str) -> bool:
    """Whether ``presented`` is the webhook's token, in constant time.

    The SHA-256 digests are compared (``hmac.compare_digest``): equal lengths whatever was
    presented, so the time taken says nothing about the token, not even its length, and any
    text (non-ASCII included) can be compared.
    """
    expected = hashlib.sha256(webhook.token.encode()).digest()
    given = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(expected, given)


async def authorized(p: Platform, webhook_id: int, token: str) -> Webhook:
    """The webhook a token route names, once its token is checked.

    Raises:
        ApiError: 404 10015 Unknown Webhook; 401 50027 Invalid Webhook Token.
    """
    webhook = await p.meta.get_webhook(webhook_id)
    if webhook is None:
        raise ApiError.unknown("webhook")
    if not token_matches(webhook, token):
        raise ApiError(401, ErrorCode.INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
    return webhook


def webhook_name(body: dict[str, Any], key: str, *, required: bool) -> Any:
    """``body[key]`` as a webhook's name (or an execute's ``username``): 1..NAME_MAX
    characters once trimmed, without a reserved word; MISSING when absent and not required.

    Raises:
        ApiError: 50035 for a bad or reserved name.
    """
    name = get_str(body, key, required=required, min_len=1, max_len=NAME_MAX, strip=True)
    if name is not MISSING:
        lowered = name.lower()
        for word in _RESERVED_WORDS:
            if word in lowered:
                raise invalid_form(key, "USERNAME_INVALID_CONTAINS",
                                   f'Username cannot contain "{word}"')
    return name


# -- with a user's or bot's token ---------------------------------------------------------------


async def create(p: Platform, user: User, channel_id: int, body: dict[str, Any]) -> Json:
    """``POST /channels/{id}/webhooks`` ``{name, avatar?}`` (MANAGE_WEBHOOKS): the new
    webhook, with its token; WEBHOOKS_UPDATE.

    Raises:
        ApiError: as :func:`core.access.channel_view`; 403 50013; 400 50024 for a channel
            that is not a guild text channel, 30007 when it has MAX_PER_CHANNEL webhooks,
            50035 for a bad field.
    """
    view = await _webhook_channel(p, channel_id, user)
    name = webhook_name(body, "name", required=True)
    webhook_id = p.ids.next()
    avatar = await _avatar(p, webhook_id, body.get("avatar"))
    channel = view.channel
    assert channel.guild_id is not None  # _webhook_channel: a guild text channel
    webhook = Webhook(
        id=webhook_id, guild_id=channel.guild_id, channel_id=channel.id, creator_id=user.id,
        name=name, token=new_token(), avatar=avatar,
        application_id=user.id if user.bot else None,
    )
    try:
        created = await p.meta.create_webhook(webhook, MAX_PER_CHANNEL)
    except LimitReached:
        raise _too_many() from None
    if not created:  # the channel was deleted meanwhile
        raise ApiError.unknown("channel")
    _announce(p, channel.guild_id, channel.id)
    return _json(p, webhook, user)


async def list_for_channel(p: Platform, user: User, channel_id: int) -> list[Json]:
    """``GET /channels/{id}/webhooks`` (MANAGE_WEBHOOKS): its webhooks, with their tokens."""
    view = await _webhook_channel(p, channel_id, user)
    return await _listing(p, await p.meta.list_channel_webhooks(view.channel.id))


async def list_for_guild(p: Platform, user: User, guild_id: int) -> list[Json]:
    """``GET /guilds/{id}/webhooks`` (MANAGE_WEBHOOKS in the guild): every channel's.

    Raises:
        ApiError: 404 10004; 403 50001 for a non-member, 50013.
    """
    gv = await guild_view(p.meta, guild_id, user.id)
    gv.require(_MANAGE)
    return await _listing(p, await p.meta.list_guild_webhooks(guild_id))


async def get(p: Platform, user: User, webhook_id: int) -> Json:
    """``GET /webhooks/{id}`` (MANAGE_WEBHOOKS in its channel).

    Raises:
        ApiError: 404 10015; as :func:`core.access.channel_view` for its channel; 403 50013.
    """
    webhook, _ = await _managed(p, user, webhook_id)
    return (await _listing(p, [webhook]))[0]


async def update(p: Platform, user: User, webhook_id: int, body: dict[str, Any]) -> Json:
    """``PATCH /webhooks/{id}`` ``{name?, avatar?, channel_id?}`` (MANAGE_WEBHOOKS in its
    channel, and in the one it moves to); WEBHOOKS_UPDATE.

    Raises:
        ApiError: as :func:`get`; 404 10003 for a ``channel_id`` that is no channel of its
            guild; 400 50024 when that is not a text channel, 30007 when it is full; 50035.
    """
    webhook, _ = await _managed(p, user, webhook_id)
    fields = await _fields(p, webhook, body)
    target = get_snowflake(body, "channel_id")
    if target is not MISSING and target != webhook.channel_id:
        moved_to = await p.meta.get_channel(target)
        if moved_to is None or moved_to.guild_id != webhook.guild_id:
            raise ApiError.unknown("channel")
        await _webhook_channel(p, target, user)
        fields["channel_id"] = target
    return await _apply(p, webhook, fields, user)


async def delete(p: Platform, user: User, webhook_id: int) -> None:
    """``DELETE /webhooks/{id}`` (MANAGE_WEBHOOKS in its channel); WEBHOOKS_UPDATE.

    Raises:
        ApiError: as :func:`get`.
    """
    webhook, _ = await _managed(p, user, webhook_id)
    await _remove(p, webhook)


# -- with the webhook's own token ---------------------------------------------------------------


async def get_with_token(p: Platform, webhook_id: int, token: str) -> Json:
    """``GET /webhooks/{id}/{token}``: the webhook without ``user``, as Discord's.

    Raises:
        ApiError: as :func:`authorized`.
    """
    return _json(p, await authorized(p, webhook_id, token), None)


async def update_with_token(
    p: Platform, webhook_id: int, token: str, body: dict[str, Any]
) -> Json:
    """``PATCH /webhooks/{id}/{token}`` ``{name?, avatar?}``; WEBHOOKS_UPDATE. The channel
    cannot change with the token alone (Discord's route takes no ``channel_id``).

    Raises:
        ApiError: as :func:`authorized`; 50035 for a bad field or a ``channel_id``.
    """
    webhook = await authorized(p, webhook_id, token)
    if "channel_id" in body:
        raise invalid_form("channel_id", "WEBHOOK_CHANNEL_NEEDS_AUTHORIZATION",
                           "Moving a webhook needs MANAGE_WEBHOOKS: use PATCH /webhooks/{id}.")
    return await _apply(p, webhook, await _fields(p, webhook, body), None)


async def delete_with_token(p: Platform, webhook_id: int, token: str) -> None:
    """``DELETE /webhooks/{id}/{token}``; WEBHOOKS_UPDATE.

    Raises:
        ApiError: as :func:`authorized`.
    """
    await _remove(p, await authorized(p, webhook_id, token))


# -- helpers -----------------------------------------------------------------------------------


async def _webhook_channel(p: Platform, channel_id: int, user: User) -> ChannelView:
    """The channel as ``user`` sees it: a guild text channel where they have MANAGE_WEBHOOKS."""
    view = await channel_view(p.meta, channel_id, user.id)
    if view.channel.type != ChannelType.GUILD_TEXT:
        raise ApiError.bad_request(ErrorCode.INVALID_CHANNEL_TYPE,
                                   "Cannot execute action on this channel type")
    view.require(_MANAGE)
    return view


async def _managed(p: Platform, user: User, webhook_id: int) -> tuple[Webhook, ChannelView]:
    webhook = await p.meta.get_webhook(webhook_id)
    if webhook is None:
        raise ApiError.unknown("webhook")
    view = await channel_view(p.meta, webhook.channel_id, user.id)
    view.require(_MANAGE)
    return webhook, view


async def _fields(p: Platform, webhook: Webhook, body: dict[str, Any]) -> dict[str, Any]:
    """``name`` and ``avatar`` (null clears it) of an edit, those present."""
    fields: dict[str, Any] = {}
    name = webhook_name(body, "name", required=False)
    if name is not MISSING:
        fields["name"] = name
    if "avatar" in body:
        fields["avatar"] = await _avatar(p, webhook.id, body["avatar"])
    return fields


async def _avatar(p: Platform, webhook_id: int, value: Any) -> str | None:
    """An ``avatar`` given: image data stored under its hash (the CDN's ``avatars/{id}``, as a
    user's), or null; anything else as ``core.accounts.avatar_hash`` takes it (a hash)."""
    if is_data_uri(value):
        return await store_image(p, "avatars", webhook_id, value, "avatar")
    return avatar_hash(value)


async def _apply(
    p: Platform, webhook: Webhook, fields: dict[str, Any], user: User | None
) -> Json:
    """Write an edit and announce it (in both channels for a move); the webhook's JSON, with
    ``user`` when ``user`` (who may manage it) asked."""
    changed = {k: v for k, v in fields.items() if getattr(webhook, k) != v}
    updated = webhook
    if changed:
        try:
            found = await p.meta.update_webhook(webhook.id, changed,
                                                max_per_channel=MAX_PER_CHANNEL)
        except LimitReached:
            raise _too_many() from None
        if found is None:  # deleted meanwhile (or the channel it moves to)
            raise ApiError.unknown("webhook")
        updated = found
        _announce(p, webhook.guild_id, *{webhook.channel_id, updated.channel_id})
    return (await _listing(p, [updated]))[0] if user is not None else _json(p, updated, None)


async def _remove(p: Platform, webhook: Webhook) -> None:
    if not await p.meta.delete_webhook(webhook.id):
        raise ApiError.unknown("webhook")
    _announce(p, webhook.guild_id, webhook.channel_id)


def _announce(p: Platform, guild_id: int, *channel_ids: int) -> None:
    """WEBHOOKS_UPDATE for each channel, to who can view it (GUILD_WEBHOOKS, in the hub)."""
    p.publish(*(
        Event("WEBHOOKS_UPDATE", {"guild_id": str(guild_id), "channel_id": str(c)},
              guild_id=guild_id, channel_id=c)
        for c in channel_ids
    ))


async def _listing(p: Platform, webhooks: Iterable[Webhook]) -> list[Json]:
    """Webhook objects for who may manage them: with ``user`` and the token."""
    hooks = list(webhooks)
    creators = await p.meta.get_users(list({w.creator_id for w in hooks})) if hooks else {}
    return [_json(p, w, creators.get(w.creator_id)) for w in hooks]


def _json(p: Platform, webhook: Webhook, creator: User | None) -> Json:
    return webhook_json(webhook, creator, token_url=f"{p.config.http_url}/api/v10")


def _too_many() -> ApiError:
    return ApiError.bad_request(ErrorCode.MAX_WEBHOOKS,
                                f"Maximum number of webhooks reached ({MAX_PER_CHANNEL})")
