"""Discord's JSON objects, built from ``core.models`` records.

One function per object type, shared by the REST API and the gateway so both send exactly the
same shapes. Snowflakes and permission bitfields are strings, as Discord sends them; fields this
server has no feature for carry Discord's neutral value (``null``, ``[]``, ``0``) because client
libraries read them unconditionally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.emoji import emoji_from_key, emoji_json
from core.models import (
    Application,
    Channel,
    ChannelType,
    Guild,
    Invite,
    Member,
    Message,
    Overwrite,
    ReactionCount,
    Role,
    User,
    Webhook,
)
from core.snowflake import iso_timestamp, snowflake_time_ms
from core.thread_wire import thread_json

__all__ = [
    "application_json",
    "channel_json",
    "guild_json",
    "invite_json",
    "member_json",
    "message_json",
    "overwrite_json",
    "partial_guild_json",
    "reaction_json",
    "role_json",
    "user_json",
    "webhook_json",
]

Json = dict[str, Any]

# The message types whose ``message_reference`` comes with the ``referenced_message`` itself
# (REPLY, THREAD_STARTER_MESSAGE; "Message Object": only for these). A pin's system message
# (CHANNEL_PINNED_MESSAGE, 6) names the pinned message by reference only.
_RESOLVED_REFERENCE_TYPES = frozenset({19, 21})


def user_json(user: User, *, me: bool = False) -> Json:
    """A user object; ``me`` adds the private fields of ``GET /users/@me``."""
    out: Json = {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": user.avatar,
        "bot": user.bot,
        "system": False,
        "public_flags": user.flags,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }
    if me:
        out.update(flags=user.flags, mfa_enabled=False, locale="en-US", verified=True, email=None)
    return out


def role_json(role: Role) -> Json:
    return {
        "id": str(role.id),
        "name": role.name,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": role.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": role.mentionable,
        "flags": 0,
    }


def overwrite_json(ow: Overwrite) -> Json:
    return {"id": str(ow.id), "type": int(ow.type), "allow": str(ow.allow), "deny": str(ow.deny)}


def channel_json(channel: Channel, recipients: Iterable[User] = ()) -> Json:
    """A channel object; DMs and group DMs need their ``recipients`` (the others than the
    reader, as Discord sends them)."""
    if channel.thread is not None:
        return thread_json(channel)
    last = str(channel.last_message_id) if channel.last_message_id else None
    if channel.type == ChannelType.GROUP_DM:
        return {
            "id": str(channel.id),
            "type": int(channel.type),
            "last_message_id": last,
            "recipients": [user_json(u) for u in recipients],
            "name": channel.name,
            "icon": channel.icon,
            "owner_id": str(channel.owner_id) if channel.owner_id else None,
            "flags": 0,
        }
    if channel.type == ChannelType.DM:
        return {
            "id": str(channel.id),
            "type": int(channel.type),
            "last_message_id": last,
            "recipients": [user_json(u) for u in recipients],
            "flags": 0,
        }
    out: Json = {
        "id": str(channel.id),
        "type": int(channel.type),
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": [overwrite_json(o) for o in channel.overwrites],
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "nsfw": channel.nsfw,
        "flags": 0,
    }
    if channel.type == ChannelType.GUILD_TEXT:
        out.update(topic=channel.topic, last_message_id=last,
                   rate_limit_per_user=channel.rate_limit_per_user)
    return out


def guild_json(guild: Guild, roles: Iterable[Role]) -> Json:
    """The full guild object of ``GET /guilds/{id}`` (and the base of GUILD_CREATE)."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": guild.icon,
        "icon_hash": guild.icon,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role_json(r) for r in roles],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": str(guild.system_channel_id) if guild.system_channel_id else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_presences": None,
        "max_members": 500_000,
        "vanity_url_code": None,
        "description": guild.description,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "nsfw": False,
    }


def partial_guild_json(guild: Guild, *, user_id: int, permissions: int) -> Json:
    """An entry of ``GET /users/@me/guilds``."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": guild.icon,
        "banner": None,
        "owner": guild.owner_id == user_id,
        "permissions": str(permissions),
        "features": [],
    }


def member_json(member: Member, user: User | None) -> Json:
    """A guild member; ``user`` None gives the partial member of MESSAGE_CREATE."""
    out: Json = {
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in member.roles],
        "joined_at": iso_timestamp(member.joined_at),
        "premium_since": None,
        "deaf": member.deaf,
        "mute": member.mute,
        # discord.py turns authors into plain users when `flags` is missing (docs/compatibility.md).
        "flags": member.flags,
        "pending": False,
        "communication_disabled_until": None if member.communication_disabled_until is None
        else iso_timestamp(member.communication_disabled_until),
    }
    if user is not None:
        out["user"] = user_json(user)
    return out


def message_json(
    message: Message,
    users: Mapping[int, User],
    member: Member | None = None,
    referenced: Json | None = None,
    reactions: Sequence[ReactionCount] = (),
) -> Json:
    """A message object.

    Args:
        message: the stored message.
        users: at least the author and the mentioned users, by id (missing ones are left out,
            a deleted author becomes Discord's "Deleted User").
        member: the author's membership in a guild channel (partial member, no ``user``).
        referenced: the already-built ``referenced_message`` for a reply.
        reactions: its reactions as the reader sees them (``me``); Discord leaves the key
            out when there are none, and so do gateway events, whose one payload has no
            reader (``core.history``).
    """
    out: Json = {
        "id": str(message.id),
        "type": message.type,
        "channel_id": str(message.channel_id),
        "author": _author_json(message, users),
        "content": message.content,
        "timestamp": iso_timestamp(snowflake_time_ms(message.id)),
        "edited_timestamp": iso_timestamp(message.edited_at) if message.edited_at else None,
        "tts": message.tts,
        "mention_everyone": message.mention_everyone,
        "mentions": [user_json(users[i]) for i in message.mentions if i in users],
        "mention_roles": [str(r) for r in message.mention_roles],
        "attachments": list(message.attachments),
        "embeds": list(message.embeds),
        "components": list(message.components),
        "pinned": message.pinned,
        "flags": message.flags,
    }
    if reactions:
        out["reactions"] = [reaction_json(r) for r in reactions]
    if message.nonce is not None:
        out["nonce"] = message.nonce
    if message.webhook_id is not None:
        out["webhook_id"] = str(message.webhook_id)
    if message.guild_id is not None:
        out["guild_id"] = str(message.guild_id)
        if member is not None:
            out["member"] = member_json(member, None)
    ref = message.reference
    if ref is not None:
        out["message_reference"] = {
            "type": 0,
            "message_id": str(ref.message_id),
            "channel_id": str(ref.channel_id),
            **({"guild_id": str(ref.guild_id)} if ref.guild_id else {}),
        }
        if message.type in _RESOLVED_REFERENCE_TYPES:
            out["referenced_message"] = referenced
    return out


def _author_json(message: Message, users: Mapping[int, User]) -> Json:
    """A message's ``author``: its user, or for a webhook's message the webhook as Discord
    shows it (``id`` the webhook's, the name and avatar the message was sent with, ``bot``,
    discriminator ``"0000"``), which is no user and no member."""
    if message.webhook_id is None:
        author = users.get(message.author_id) or User(message.author_id, "Deleted User")
        return user_json(author)
    shown = User(message.author_id, message.author_name or "", avatar=message.author_avatar,
                  bot=True)
    return {**user_json(shown), "discriminator": "0000"}


def webhook_json(webhook: Webhook, creator: User | None, *, token_url: str | None) -> Json:
    """A webhook object (Discord's incoming webhook, type 1).

    Args:
        creator: its ``user``, for those who may manage it; None leaves ``user`` out (the
            token routes, as Discord's).
        token_url: the base of its ``url`` (``{http_url}/api/v10``) for those who may see
            its ``token`` (who may manage it, and the token routes); None leaves out both.
    """
    out: Json = {
        "id": str(webhook.id),
        "type": 1,
        "guild_id": str(webhook.guild_id),
        "channel_id": str(webhook.channel_id),
        "name": webhook.name,
        "avatar": webhook.avatar,
        "application_id": None if webhook.application_id is None
        else str(webhook.application_id),
    }
    if creator is not None:
        out["user"] = user_json(creator)
    if token_url is not None:
        out["token"] = webhook.token
        out["url"] = f"{token_url}/webhooks/{webhook.id}/{webhook.token}"
    return out


def reaction_json(reaction: ReactionCount) -> Json:
    """A reaction object of a message. Super reactions (burst) need Nitro and do not exist
    here: their counts are 0, ``me_burst`` false and ``burst_colors`` empty."""
    return {
        "count": reaction.count,
        "count_details": {"burst": 0, "normal": reaction.count},
        "me": reaction.me,
        "me_burst": False,
        "burst_colors": [],
        "emoji": emoji_json(emoji_from_key(reaction.emoji)),
    }


def invite_json(
    invite: Invite, guild: Guild, channel: Channel, inviter: User | None, member_count: int
) -> Json:
    expires = (
        iso_timestamp(invite.created_at + invite.max_age * 1000) if invite.max_age else None
    )
    return {
        "type": 0,
        "code": invite.code,
        "guild": {
            "id": str(guild.id),
            "name": guild.name,
            "icon": guild.icon,
            "splash": None,
            "banner": None,
            "description": guild.description,
            "features": [],
            "verification_level": 0,
            "vanity_url_code": None,
            "nsfw_level": 0,
            "premium_subscription_count": 0,
        },
        "channel": {"id": str(channel.id), "name": channel.name, "type": int(channel.type)},
        "inviter": user_json(inviter) if inviter else None,
        "approximate_member_count": member_count,
        "expires_at": expires,
        "uses": invite.uses,
        "max_uses": invite.max_uses,
        "max_age": invite.max_age,
        "temporary": invite.temporary,
        "created_at": iso_timestamp(invite.created_at),
    }


def application_json(app: Application, owner: User, bot: User | None = None) -> Json:
    """The application object of ``GET /oauth2/applications/@me``."""
    out: Json = {
        "id": str(app.id),
        "name": app.name,
        "icon": app.icon,
        "description": app.description,
        "summary": "",
        "type": None,
        "bot_public": app.bot_public,
        "bot_require_code_grant": False,
        "owner": user_json(owner),
        "verify_key": app.verify_key,
        "flags": app.flags,
        "team": None,
        "rpc_origins": [],
        "tags": [],
    }
    if bot is not None:
        out["bot"] = user_json(bot)
    return out
