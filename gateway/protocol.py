"""Discord Gateway v10 vocabulary: opcodes, close codes, intents, limits, and command events.

Everything here is a constant, an enum, a frozen event or a pure function; nothing does I/O.
Sources: Discord developer docs, "Opcodes and Status Codes" (Gateway Opcodes, Gateway Close Event
Codes), "Gateway" (Gateway Intents, Sharding, Rate Limiting) and "Gateway Events" (Identify,
Resume, Presence Update, Request Guild Members). Server-specific choices (the send opcode, the
slow-consumer close code) are documented in ``docs/gateway.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any

__all__ = [
    "ALL_INTENTS",
    "GATEWAY_VERSION",
    "MAX_GUILDS_PER_SHARD",
    "MAX_PAYLOAD_BYTES",
    "PRIVILEGED_INTENTS",
    "RATE_LIMIT_EVENTS",
    "RATE_LIMIT_WINDOW_S",
    "STATUSES",
    "CloseCode",
    "Command",
    "GuildSubscription",
    "GuildSubscriptions",
    "Heartbeat",
    "Identify",
    "Ignored",
    "Intent",
    "Nonce",
    "Opcode",
    "PresenceUpdate",
    "ProtocolError",
    "RequestGuildMembers",
    "Resume",
    "SendMessage",
    "event_intent",
    "session_survives",
]

GATEWAY_VERSION = 10
# "Sending Events": payloads larger than 4096 bytes close the connection with 4002.
MAX_PAYLOAD_BYTES = 4096
# "Rate Limiting": 120 gateway events per connection every 60 seconds, heartbeats included.
RATE_LIMIT_EVENTS = 120
RATE_LIMIT_WINDOW_S = 60.0
# "Sharding": a shard may hold at most 2500 guilds; above that, 4011 Sharding required.
MAX_GUILDS_PER_SHARD = 2500
STATUSES = frozenset({"online", "idle", "dnd", "invisible", "offline"})


class Opcode(IntEnum):
    """Gateway opcodes ("Gateway Opcodes" table), plus this server's send opcode."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11
    # Discord's user clients' (not in the public docs; discord.py-self sends them): op 14
    # "Guild Subscriptions" (the lazy guilds' "Lazy Request") for one guild, op 37 "Guild
    # Subscriptions Bulk" for several. Here they say whose presences a user session in a
    # large guild receives (gateway.member_subscriptions); docs/compatibility.md.
    GUILD_SUBSCRIPTIONS = 14
    REQUEST_SOUNDBOARD_SOUNDS = 31
    GUILD_SUBSCRIPTIONS_BULK = 37
    # Ours: send a message over the gateway. Discord's public opcodes stop at 31 and its own
    # client's private ones at 43 (REQUEST_CHANNEL_INFO); 50 leaves room for both to grow.
    SEND_MESSAGE = 50


class CloseCode(IntEnum):
    """Gateway close event codes ("Gateway Close Event Codes"), plus ours in the 49xx range."""

    UNKNOWN_ERROR = 4000
    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    INVALID_SEQ = 4007
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    INVALID_SHARD = 4010
    SHARDING_REQUIRED = 4011
    INVALID_API_VERSION = 4012
    INVALID_INTENTS = 4013
    DISALLOWED_INTENTS = 4014
    # Ours: the client did not read fast enough and its send buffer overflowed. Far from
    # Discord's 40xx so a future Discord code cannot collide; resumable, like 4000.
    SLOW_CONSUMER = 4900

    @property
    def reconnect(self) -> bool:
        """Discord's "Reconnect" column: False for codes a client must not retry."""
        return self not in _FATAL

    @property
    def reason(self) -> str:
        """The close frame's reason text (Discord's description, shortened)."""
        return _REASONS[self]


_FATAL = frozenset({
    CloseCode.AUTHENTICATION_FAILED,
    CloseCode.INVALID_SHARD,
    CloseCode.SHARDING_REQUIRED,
    CloseCode.INVALID_API_VERSION,
    CloseCode.INVALID_INTENTS,
    CloseCode.DISALLOWED_INTENTS,
})

_RECONNECTABLE = frozenset(int(c) for c in CloseCode if c not in _FATAL)

_REASONS = {
    CloseCode.UNKNOWN_ERROR: "Unknown error",
    CloseCode.UNKNOWN_OPCODE: "Unknown opcode",
    CloseCode.DECODE_ERROR: "Decode error",
    CloseCode.NOT_AUTHENTICATED: "Not authenticated",
    CloseCode.AUTHENTICATION_FAILED: "Authentication failed",
    CloseCode.ALREADY_AUTHENTICATED: "Already authenticated",
    CloseCode.INVALID_SEQ: "Invalid seq",
    CloseCode.RATE_LIMITED: "Rate limited",
    CloseCode.SESSION_TIMED_OUT: "Session timed out",
    CloseCode.INVALID_SHARD: "Invalid shard",
    CloseCode.SHARDING_REQUIRED: "Sharding required",
    CloseCode.INVALID_API_VERSION: "Invalid API version",
    CloseCode.INVALID_INTENTS: "Invalid intent(s)",
    CloseCode.DISALLOWED_INTENTS: "Disallowed intent(s)",
    CloseCode.SLOW_CONSUMER: "Slow consumer",
}


class Intent(IntFlag):
    """Gateway intents ("List of Intents")."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25


ALL_INTENTS = sum(map(int, Intent))  # distinct bits: the sum is the union
# "Privileged Intents". Discord requires them to be enabled per application; this server
# allows them to every account by default (see docs/gateway.md).
PRIVILEGED_INTENTS = int(Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT)

_I = Intent
# Events whose intent does not depend on where they happen.
_GUILD_ONLY: dict[str, int] = {
    **dict.fromkeys(("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE", "GUILD_ROLE_CREATE",
                     "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE", "THREAD_CREATE", "THREAD_UPDATE",
                     "THREAD_DELETE", "THREAD_LIST_SYNC", "THREAD_MEMBER_UPDATE",
                     "STAGE_INSTANCE_CREATE", "STAGE_INSTANCE_UPDATE", "STAGE_INSTANCE_DELETE"),
                    int(_I.GUILDS)),
    **dict.fromkeys(("GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE",
                     "THREAD_MEMBERS_UPDATE"), int(_I.GUILD_MEMBERS)),
    **dict.fromkeys(("GUILD_AUDIT_LOG_ENTRY_CREATE", "GUILD_BAN_ADD", "GUILD_BAN_REMOVE"),
                    int(_I.GUILD_MODERATION)),
    **dict.fromkeys(("GUILD_EMOJIS_UPDATE", "GUILD_STICKERS_UPDATE",
                     "GUILD_SOUNDBOARD_SOUND_CREATE", "GUILD_SOUNDBOARD_SOUND_UPDATE",
                     "GUILD_SOUNDBOARD_SOUND_DELETE", "GUILD_SOUNDBOARD_SOUNDS_UPDATE"),
                    int(_I.GUILD_EXPRESSIONS)),
    **dict.fromkeys(("GUILD_INTEGRATIONS_UPDATE", "INTEGRATION_CREATE", "INTEGRATION_UPDATE",
                     "INTEGRATION_DELETE"), int(_I.GUILD_INTEGRATIONS)),
    "WEBHOOKS_UPDATE": int(_I.GUILD_WEBHOOKS),
    **dict.fromkeys(("INVITE_CREATE", "INVITE_DELETE"), int(_I.GUILD_INVITES)),
    **dict.fromkeys(("VOICE_STATE_UPDATE", "VOICE_CHANNEL_EFFECT_SEND"),
                    int(_I.GUILD_VOICE_STATES)),
    "PRESENCE_UPDATE": int(_I.GUILD_PRESENCES),
    **dict.fromkeys(("GUILD_SCHEDULED_EVENT_CREATE", "GUILD_SCHEDULED_EVENT_UPDATE",
                     "GUILD_SCHEDULED_EVENT_DELETE", "GUILD_SCHEDULED_EVENT_USER_ADD",
                     "GUILD_SCHEDULED_EVENT_USER_REMOVE"), int(_I.GUILD_SCHEDULED_EVENTS)),
    **dict.fromkeys(("AUTO_MODERATION_RULE_CREATE", "AUTO_MODERATION_RULE_UPDATE",
                     "AUTO_MODERATION_RULE_DELETE"), int(_I.AUTO_MODERATION_CONFIGURATION)),
    "AUTO_MODERATION_ACTION_EXECUTION": int(_I.AUTO_MODERATION_EXECUTION),
}
# Events whose intent is (guild intent, DM intent).
_BY_PLACE: dict[str, tuple[int, int]] = {
    **dict.fromkeys(("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"),
                    (int(_I.GUILD_MESSAGES), int(_I.DIRECT_MESSAGES))),
    "MESSAGE_DELETE_BULK": (int(_I.GUILD_MESSAGES), int(_I.DIRECT_MESSAGES)),
    **dict.fromkeys(("CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE", "CHANNEL_PINS_UPDATE"),
                    (int(_I.GUILDS), int(_I.DIRECT_MESSAGES))),
    **dict.fromkeys(("MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE",
                     "MESSAGE_REACTION_REMOVE_ALL", "MESSAGE_REACTION_REMOVE_EMOJI"),
                    (int(_I.GUILD_MESSAGE_REACTIONS), int(_I.DIRECT_MESSAGE_REACTIONS))),
    "TYPING_START": (int(_I.GUILD_MESSAGE_TYPING), int(_I.DIRECT_MESSAGE_TYPING)),
    **dict.fromkeys(("MESSAGE_POLL_VOTE_ADD", "MESSAGE_POLL_VOTE_REMOVE"),
                    (int(_I.GUILD_MESSAGE_POLLS), int(_I.DIRECT_MESSAGE_POLLS))),
}


def event_intent(name: str, is_dm: bool) -> int | None:
    """The intent a session needs to receive dispatch ``name``; None if it needs none.

    Follows Discord's "List of Intents". Events not listed there (READY, RESUMED, USER_UPDATE,
    GUILD_MEMBERS_CHUNK, MESSAGE_SEND_FAILED...) are always delivered. MESSAGE_CONTENT gates
    fields, not events, so it is never returned here: the hub redacts ``content``, ``embeds``,
    ``attachments``, ``components`` and ``poll`` for sessions without it (except in DMs,
    messages that mention the user, and the user's own messages).

    Args:
        name: the dispatch name (``t``).
        is_dm: whether the event happens in a DM channel rather than in a guild.
    """
    pair = _BY_PLACE.get(name)
    if pair is not None:
        return pair[1] if is_dm else pair[0]
    return _GUILD_ONLY.get(name)


def session_survives(sent: int | None, received: int | None) -> bool:
    """Whether a session may be resumed after its connection closed.

    Args:
        sent: the close code the server sent, if the server closed.
        received: the client's close code, None for an abnormal closure. Discord invalidates
            a session whose client closed with 1000 or 1001 ("Resuming").
    """
    if sent is not None:
        return sent in _RECONNECTABLE
    return received not in (1000, 1001)


class ProtocolError(Exception):
    """A client broke the protocol; the connection closes with ``code``.

    Args:
        code: the close code to send.
        reason: the close reason (at most 123 bytes, RFC 6455 §5.5); default: the code's.
    """

    def __init__(self, code: CloseCode, reason: str | None = None) -> None:
        super().__init__(reason or code.reason)
        self.code = code
        self.reason = reason or code.reason


# A message nonce as clients send it: an integer or a string (Discord: at most 25 characters).
Nonce = str | int | None


# -- commands: what a client sends, validated (gateway/commands.py builds them) --------------

@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Op 1: the client's last sequence number (None before any dispatch)."""

    seq: int | None


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    """Op 3 (also the ``presence`` of Identify). The adapter broadcasts PRESENCE_UPDATE."""

    status: str
    activities: tuple[dict[str, Any], ...] = ()
    since: int | None = None
    afk: bool = False


@dataclass(frozen=True, slots=True)
class Identify:
    """Op 2. As a request: authenticate ``token``, then call ``Session.on_identified``.

    Attributes:
        token: the account token, as sent (a leading ``Bot `` is the adapter's to strip).
        properties: ``os``, ``browser`` and ``device``.
        intents: the requested intents (only known bits).
        shard: ``(shard_id, num_shards)``, or None when unsharded.
        presence: the initial presence, if given.
        large_threshold: 50-250; guilds above it send only online members.
        compress: the payload-compression flag; always ignored (see docs/gateway.md).
    """

    token: str
    properties: dict[str, str]
    intents: int
    shard: tuple[int, int] | None = None
    presence: PresenceUpdate | None = None
    large_threshold: int = 50
    compress: bool = False


@dataclass(frozen=True, slots=True)
class Resume:
    """Op 6. As a request: find session ``session_id``, check ``token``, call ``on_resumed``."""

    token: str
    session_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class RequestGuildMembers:
    """Op 8. The adapter answers with GUILD_MEMBERS_CHUNK dispatches (``Session.dispatch_one``).

    Exactly one of ``query`` and ``user_ids`` is set. ``presences`` is already False when the
    session lacks GUILD_PRESENCES, as Discord documents.
    """

    guild_id: int
    query: str | None
    limit: int
    presences: bool = False
    user_ids: tuple[int, ...] = ()
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Op 50 (ours): send a message. ``body`` is the REST body (``core.message_form``).

    The adapter creates the message as ``POST /channels/{id}/messages`` would; success is the
    MESSAGE_CREATE echo carrying ``nonce``, failure ``Session.on_send_failed``.
    """

    channel_id: int
    nonce: Nonce
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ignored:
    """A Discord opcode this server accepts and does nothing for (voice, soundboard)."""

    op: int


@dataclass(frozen=True, slots=True)
class GuildSubscription:
    """One guild's part of op 14 (or of op 37's ``subscriptions``), validated.

    A field the client left out is None: it leaves that part of the subscription as it was
    (Discord's subscriptions are updated field by field). ``members`` is the whole set of
    members the client follows there (discord.py-self keeps the set and sends all of it), so
    an empty list unsubscribes from all of them. ``channels`` (member-list ranges per
    channel), ``typing``, ``activities``, ``threads``, ``member_updates`` and
    ``thread_member_lists`` are validated and then ignored: this server sends no
    GUILD_MEMBER_LIST_UPDATE and filters typing by intent only (docs/compatibility.md).
    """

    guild_id: int
    members: tuple[int, ...] | None = None
    channels: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] | None = None
    typing: bool | None = None
    activities: bool | None = None
    threads: bool | None = None
    member_updates: bool | None = None
    thread_member_lists: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class GuildSubscriptions:
    """Op 14 (one guild) or op 37 (several). The adapter updates the hub's index of who
    follows whom (``Hub.subscribe``); nothing is sent back."""

    guilds: tuple[GuildSubscription, ...]


# Everything parse_command returns; the adapter's requests are the ones that need I/O.
Command = (
    Heartbeat | Identify | Resume | PresenceUpdate | RequestGuildMembers | SendMessage
    | GuildSubscriptions | Ignored
)
