"""A webhook's messages: execute it (``POST /webhooks/{id}/{token}``) and read, edit or delete
what it sent (``/webhooks/{id}/{token}/messages/{message_id}``), with its token alone.

The token is checked first (:func:`core.webhooks.authorized`: 404 10015, 401 50027); then the
message goes the way of every message (:func:`core.messages.send_as_webhook`: the router's
durable write, then MESSAGE_CREATE with ``webhook_id``, its author the webhook).

Execute, as Discord's ("Execute Webhook"):

- ``wait`` (query, boolean): true answers 200 with the message; false (the default) 204. The
  message is durable before either answer: the router answers only after its write.
- ``username`` (1..80, no "clyde" or "discord") and ``avatar_url`` (an http(s) URL) change the
  author shown for this message only. The avatar URL is kept as its MD5, the author's avatar
  hash, like an uploaded avatar: the image is not fetched (no CDN here yet; fetching a URL the
  caller chose would also let anyone make this server send requests).
- ``thread_id`` (query) and ``thread_name`` (body) are refused with 400 50035: there are no
  threads (or forums) here yet, and a message meant for a thread must not land in the channel.
- ``content``, ``embeds``, ``allowed_mentions``, ``tts``, ``flags`` as a user's send; files
  (multipart) are refused as they are for users (400 50109) until attachments exist.
- At most :data:`CHANNEL_LIMIT` executions per channel per minute, whatever the webhook
  (Discord's), answered with 429 :class:`ChannelRateLimited`. The per-webhook limit (5 per
  2 s) is the API's rate limiter's (``api.routes.webhooks``), before the token is read. Both
  are off, as every rate limit, with ``ratelimit_route_limit`` 0.

The message routes find only messages this webhook sent (else 404 10008), in its current
channel: after a move, the ones it sent in the channel before are out of their reach.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import messages
from core.errors import ApiError, invalid_form
from core.history import render
from core.models import Channel, Message, Webhook
from core.platform import Platform
from core.validate import MISSING, get_str
from core.webhooks import authorized, webhook_name

__all__ = [
    "CHANNEL_LIMIT",
    "CHANNEL_WINDOW_MS",
    "ChannelRateLimited",
    "delete_message",
    "edit_message",
    "execute",
    "get_message",
]

Json = dict[str, Any]

# Executions one channel takes per window, all its webhooks together (Discord: 30 a minute).
CHANNEL_LIMIT, CHANNEL_WINDOW_MS = 30, 60_000
_AVATAR_URL_MAX = 2048
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


@dataclass(slots=True)
class ChannelRateLimited(ApiError):
    """429: the channel took :data:`CHANNEL_LIMIT` executions this minute."""

    retry_after: float = 0.0

    def body(self) -> dict[str, Any]:
        out = ApiError.body(self)  # zero-argument super() does not work in slots dataclasses
        out.update(retry_after=self.retry_after, **{"global": False})
        return out


async def execute(
    p: Platform, webhook_id: int, token: str, query: Mapping[str, str], body: dict[str, Any]
) -> Json | None:
    """``POST /webhooks/{id}/{token}``: the message (with ``wait``) or None (204).

    Raises:
        ApiError: as :func:`core.webhooks.authorized`; 400 50035 for a bad field or query
            value, a thread, 50006 for an empty message; 429 :class:`ChannelRateLimited`;
            503 as :func:`core.messages.send`.
    """
    webhook = await authorized(p, webhook_id, token)
    wait = _boolean(query, "wait")
    _refuse_threads(query, body)
    username = webhook_name(body, "username", required=False)
    avatar = _avatar_url_hash(body)
    channel = await _channel_of(p, webhook)
    await _channel_limit(p, channel.id)
    data = await messages.send_as_webhook(
        p, webhook, channel, body,
        username=webhook.name if username is MISSING else username,
        avatar=webhook.avatar if avatar is MISSING else avatar,
    )
    return data if wait else None


async def get_message(
    p: Platform, webhook_id: int, token: str, message_id: int, query: Mapping[str, str]
) -> Json:
    """``GET /webhooks/{id}/{token}/messages/{message_id}``.

    Raises:
        ApiError: as :func:`core.webhooks.authorized`; 404 10008; 400 50035 for a thread.
    """
    channel, message = await _own_message(p, webhook_id, token, message_id, query)
    return (await render(p, channel, [message]))[0]


async def edit_message(
    p: Platform, webhook_id: int, token: str, message_id: int, query: Mapping[str, str],
    body: dict[str, Any],
) -> Json:
    """``PATCH /webhooks/{id}/{token}/messages/{message_id}``: ``content``, ``embeds``,
    ``flags``, ``allowed_mentions``; MESSAGE_UPDATE.

    Raises:
        ApiError: as :func:`get_message`; 400 50006 if nothing would be left, 50035.
    """
    channel, message = await _own_message(p, webhook_id, token, message_id, query)
    return await messages.edit_as_webhook(p, channel, message, body)


async def delete_message(
    p: Platform, webhook_id: int, token: str, message_id: int, query: Mapping[str, str]
) -> None:
    """``DELETE /webhooks/{id}/{token}/messages/{message_id}``; MESSAGE_DELETE.

    Raises:
        ApiError: as :func:`get_message`.
    """
    channel, message = await _own_message(p, webhook_id, token, message_id, query)
    await messages.delete_as_webhook(p, channel, message)


# -- helpers -----------------------------------------------------------------------------------


async def _own_message(
    p: Platform, webhook_id: int, token: str, message_id: int, query: Mapping[str, str]
) -> tuple[Channel, Message]:
    webhook = await authorized(p, webhook_id, token)
    _refuse_threads(query, {})
    channel = await _channel_of(p, webhook)
    message = await p.messages.get_message(channel.id, message_id)
    if message is None or message.webhook_id != webhook.id:
        raise ApiError.unknown("message")
    return channel, message


async def _channel_of(p: Platform, webhook: Webhook) -> Channel:
    channel = await p.meta.get_channel(webhook.channel_id)
    if channel is None:  # deleted with its webhooks since the token was checked
        raise ApiError.unknown("webhook")
    return channel


async def _channel_limit(p: Platform, channel_id: int) -> None:
    if not p.config.ratelimit_route_limit:  # rate limits are off
        return
    ok, _, reset_ms = await p.cache.rate_hit(
        f"webhook-channel:{channel_id}", CHANNEL_LIMIT, CHANNEL_WINDOW_MS
    )
    if not ok:
        raise ChannelRateLimited(429, 0, "You are being rate limited.",
                                 retry_after=max(reset_ms, 1) / 1000)


def _boolean(query: Mapping[str, str], key: str) -> bool:
    raw = query.get(key)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise invalid_form(key, "BOOLEAN_TYPE_COERCE", f'Value "{raw}" is not bool.')


def _refuse_threads(query: Mapping[str, str], body: dict[str, Any]) -> None:
    for key, present in (("thread_id", "thread_id" in query),
                         ("thread_name", body.get("thread_name") is not None)):
        if present:
            raise invalid_form(key, "THREADS_UNSUPPORTED",
                               "Threads are not supported by this server.")


def _avatar_url_hash(body: dict[str, Any]) -> Any:
    """``avatar_url`` as the author's avatar hash (its MD5); MISSING when absent."""
    url = get_str(body, "avatar_url", min_len=1, max_len=_AVATAR_URL_MAX)
    if url is MISSING:
        return MISSING
    if not url.startswith(("https://", "http://")):
        raise invalid_form("avatar_url", "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    return hashlib.md5(url.encode(), usedforsecurity=False).hexdigest()
