"""A webhook's messages: execute it (``POST /webhooks/{id}/{token}``) and read, edit or delete
what it sent (``/webhooks/{id}/{token}/messages/{message_id}``), with its token alone.

Every route starts with :func:`target`: the token checked (:func:`core.webhooks.authorized`:
404 10015, 401 50027) and the channel the request is about, the webhook's or, with
``thread_id``, a thread of it. Only then is a multipart body read (``api.routes.webhooks``), so
a wrong token stores no file. The message goes the way of every message
(:func:`core.messages.send_as_webhook`: the router's durable write, then MESSAGE_CREATE with
``webhook_id``, its author the webhook).

Execute, as Discord's ("Execute Webhook"):

- ``wait`` (query, boolean): true answers 200 with the message; false (the default) 204. The
  message is durable before either answer: the router answers only after its write.
- ``thread_id`` (query): into that thread of the webhook's channel (10003 for any other
  channel), which the message unarchives unless it is locked (50083). ``thread_name`` (body,
  a forum post) is refused with 400 50035: there are no forum channels here.
- ``username`` (1..80, no "clyde" or "discord") and ``avatar_url`` (an http(s) URL) change the
  author shown for this message only. The avatar URL is kept as its MD5, the author's avatar
  hash: the image is never fetched (a URL the caller chose would let anyone make this server
  send requests), so the CDN has no image under that hash.
- ``content``, ``embeds``, ``allowed_mentions``, ``tts``, ``flags``, and files as a user's
  send (``multipart/form-data``: ``payload_json`` and ``files[n]``, ``attachments``).
- ``components``, as Discord's Execute Webhook says: an application-owned webhook (one a
  bot made: ``application_id``) can always send them, any kind, validated as its bot's
  message would be, and a click on them reaches that application (``core.interactions``).
  Any other webhook's are ignored unless ``with_components`` (query, boolean) is true, and
  then may be non-interactive ones only (link buttons): an interactive one is refused with
  400 50035 ``COMPONENT_NOT_ALLOWED``. Executes and message edits alike; discord.py's
  ``Webhook.send(view=...)`` and ``edit_message(view=...)`` send the flag.
- At most :data:`CHANNEL_LIMIT` executions per channel per minute, whatever the webhook
  (Discord's), answered with 429 :class:`ChannelRateLimited`. The per-webhook limit (5 per
  2 s) is the API's rate limiter's (``api.routes.webhooks``), before the token is read. Both
  are off, as every rate limit, with ``ratelimit_route_limit`` 0.

The message routes find only messages this webhook sent (else 404 10008), in its current
channel or the thread ``thread_id`` names: after a move, the ones it sent in the channel before
are out of their reach.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core import messages
from core.attachments import StoredFile
from core.errors import ApiError, RetryLater, invalid_form
from core.history import render
from core.models import Channel, Message, Webhook
from core.platform import Platform
from core.validate import MISSING, get_snowflake, get_str
from core.webhooks import authorized, webhook_name

__all__ = [
    "CHANNEL_LIMIT",
    "CHANNEL_WINDOW_MS",
    "ChannelRateLimited",
    "Target",
    "delete_message",
    "edit_message",
    "execute",
    "get_message",
    "target",
]

Json = dict[str, Any]

# Executions one channel takes per window, all its webhooks together (Discord: 30 a minute).
CHANNEL_LIMIT, CHANNEL_WINDOW_MS = 30, 60_000
_AVATAR_URL_MAX = 2048
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


@dataclass(slots=True)
class ChannelRateLimited(RetryLater):
    """429: the channel took :data:`CHANNEL_LIMIT` executions this minute."""


@dataclass(frozen=True, slots=True)
class Target:
    """A token route's webhook, once its token is checked, and the channel the request is
    about: the webhook's, or the thread of it that ``thread_id`` names."""

    webhook: Webhook
    channel: Channel


async def target(
    p: Platform, webhook_id: int, token: str, query: Mapping[str, str]
) -> Target:
    """The webhook (token checked) and its channel, or the thread ``thread_id`` names.

    Raises:
        ApiError: as :func:`core.webhooks.authorized`; 400 50035 for a bad ``thread_id``;
            404 10003 when it is no thread of the webhook's channel.
    """
    webhook = await authorized(p, webhook_id, token)
    channel = await p.meta.get_channel(webhook.channel_id)
    if channel is None:  # deleted with its webhooks since the token was checked
        raise ApiError.unknown("webhook")
    thread_id = get_snowflake(dict(query), "thread_id")
    if thread_id is MISSING:
        return Target(webhook, channel)
    thread = await p.meta.get_channel(thread_id)
    if thread is None or thread.thread is None or thread.parent_id != channel.id:
        raise ApiError.unknown("channel")
    return Target(webhook, thread)


async def execute(
    p: Platform, to: Target, query: Mapping[str, str], body: dict[str, Any],
    files: Sequence[StoredFile] = (),
) -> Json | None:
    """``POST /webhooks/{id}/{token}``: the message (with ``wait``) or None (204).

    Raises:
        ApiError: 400 50035 for a bad field or query value, a ``thread_name``, 50006 for an
            empty message, 50083 for a locked thread; 429 :class:`ChannelRateLimited`; 503 as
            :func:`core.messages.send`.
    """
    wait = _boolean(query, "wait")
    if body.get("thread_name") is not None:
        raise invalid_form("thread_name", "FORUMS_UNSUPPORTED",
                           "Forum channels do not exist on this server.")
    body = _components(to.webhook, query, body)
    username = webhook_name(body, "username", required=False)
    avatar = _avatar_url_hash(body)
    await _channel_limit(p, to.webhook.channel_id)
    webhook = to.webhook
    data = await messages.send_as_webhook(
        p, webhook, to.channel, body,
        username=webhook.name if username is MISSING else username,
        avatar=webhook.avatar if avatar is MISSING else avatar, files=files,
    )
    return data if wait else None


async def get_message(p: Platform, to: Target, message_id: int) -> Json:
    """``GET /webhooks/{id}/{token}/messages/{message_id}``.

    Raises:
        ApiError: 404 10008 for a message this webhook did not send there.
    """
    message = await _own_message(p, to, message_id)
    return (await render(p, to.channel, [message]))[0]


async def edit_message(
    p: Platform, to: Target, message_id: int, body: dict[str, Any],
    files: Sequence[StoredFile] = (), query: Mapping[str, str] | None = None,
) -> Json:
    """``PATCH /webhooks/{id}/{token}/messages/{message_id}``: ``content``, ``embeds``,
    ``flags``, ``allowed_mentions``, ``attachments``, new files and ``components`` (as an
    execute's, with ``with_components``); MESSAGE_UPDATE.

    Raises:
        ApiError: as :func:`get_message`; 400 50006 if nothing would be left, 50035.
    """
    body = _components(to.webhook, query, body)
    message = await _own_message(p, to, message_id)
    return await messages.edit_as_webhook(p, to.channel, message, body, files)


async def delete_message(p: Platform, to: Target, message_id: int) -> None:
    """``DELETE /webhooks/{id}/{token}/messages/{message_id}``; MESSAGE_DELETE.

    Raises:
        ApiError: as :func:`get_message`.
    """
    message = await _own_message(p, to, message_id)
    await messages.delete_as_webhook(p, to.channel, message)


# -- helpers -----------------------------------------------------------------------------------


async def _own_message(p: Platform, to: Target, message_id: int) -> Message:
    message = await p.messages.get_message(to.channel.id, message_id)
    if message is None or message.webhook_id != to.webhook.id:
        raise ApiError.unknown("message")
    return message


async def _channel_limit(p: Platform, channel_id: int) -> None:
    if not p.config.ratelimit_route_limit:  # rate limits are off
        return
    ok, _, reset_ms = await p.cache.rate_hit(
        f"webhook-channel:{channel_id}", CHANNEL_LIMIT, CHANNEL_WINDOW_MS
    )
    if not ok:
        raise ChannelRateLimited(429, 0, "You are being rate limited.",
                                 retry_after=max(reset_ms, 1) / 1000)


def _components(
    webhook: Webhook, query: Mapping[str, str] | None, body: dict[str, Any]
) -> dict[str, Any]:
    """``body`` as the webhook may send it: an application's webhook, whole; another's without
    ``components`` unless ``with_components`` is true, and then link buttons only (400 50035
    otherwise)."""
    if "components" not in body or webhook.application_id is not None:
        return body
    if not _boolean(query or {}, "with_components"):
        return {k: v for k, v in body.items() if k != "components"}
    if _interactive(body["components"]):
        raise invalid_form("components", "COMPONENT_NOT_ALLOWED",
                           "A webhook not owned by an application may only send "
                           "non-interactive components.")
    return body


def _interactive(components: Any) -> bool:
    """Whether ``components`` (as sent, before validation) holds anything but link buttons
    in action rows (a shape error is left to the validation that follows)."""
    if not isinstance(components, list):
        return False
    for row in components:
        inner = row.get("components") if isinstance(row, dict) else None
        for c in inner if isinstance(inner, list) else ():
            if not (isinstance(c, dict) and c.get("type") == 2 and c.get("style") in (5, 6)):
                return True
    return False


def _boolean(query: Mapping[str, str], key: str) -> bool:
    raw = query.get(key)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise invalid_form(key, "BOOLEAN_TYPE_COERCE", f'Value "{raw}" is not bool.')


def _avatar_url_hash(body: dict[str, Any]) -> Any:
    """``avatar_url`` as the author's avatar hash (its MD5); MISSING when absent."""
    url = get_str(body, "avatar_url", min_len=1, max_len=_AVATAR_URL_MAX)
    if url is MISSING:
        return MISSING
    if not url.startswith(("https://", "http://")):
        raise invalid_form("avatar_url", "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    return hashlib.md5(url.encode(), usedforsecurity=False).hexdigest()
