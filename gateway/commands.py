"""Validation of decoded client payloads into :mod:`gateway.protocol` commands.

The edge of the gateway: everything a client sends passes through :func:`parse_command`, which
either returns a typed command or raises :class:`~gateway.protocol.ProtocolError` with the close
code Discord uses for the fault. Field rules follow Discord's "Gateway Events" page (Identify,
Resume, Update Presence, Request Guild Members). Checks that depend on the session (privileged
intents, shard limit, intents of op 8) are the session's.
"""

from __future__ import annotations

from typing import Any

from gateway.protocol import (
    ALL_INTENTS,
    STATUSES,
    CloseCode,
    Command,
    GuildSubscription,
    GuildSubscriptions,
    Heartbeat,
    Identify,
    Ignored,
    Opcode,
    PresenceUpdate,
    ProtocolError,
    RequestGuildMembers,
    Resume,
    SendMessage,
)

__all__ = [
    "MAX_SUBSCRIBED_CHANNELS",
    "MAX_SUBSCRIBED_MEMBERS",
    "MAX_SUBSCRIPTION_GUILDS",
    "MAX_SUBSCRIPTION_RANGES",
    "MAX_SUBSCRIPTION_THREADS",
    "RANGE_SPAN_MAX",
    "parse_command",
]

_MAX_SNOWFLAKE = (1 << 63) - 1
_LARGE_THRESHOLD = (50, 250)
# "Request Guild Members": at most 100 user_ids; a nonce over 32 bytes is ignored.
_MAX_USER_IDS = 100
_MAX_NONCE_BYTES = 32
_MAX_ACTIVITIES = 10
_MAX_SESSION_ID = 128
# Guild subscriptions (op 14 and 37), each limit explicit (docs/compatibility.md). Over one,
# the payload closes with 4002, as any malformed one; the 4096-byte payload limit bounds
# them too (100 ids as strings are ~2.2 KB).
# Members one guild's subscription may name (op 8's user_ids limit: the ids of one page of a
# member list).
MAX_SUBSCRIBED_MEMBERS = 100
# Guilds in one op 37 (Discord's most guilds a user may be in): discord.py-self subscribes to
# every guild it is in at startup, in one op 37.
MAX_SUBSCRIPTION_GUILDS = 200
# Channels whose member-list ranges one guild's subscription may name, ranges per channel,
# and the widest range ([0, 99]: Discord's client asks in pages of 100 rows).
MAX_SUBSCRIBED_CHANNELS = 5
MAX_SUBSCRIPTION_RANGES = 5
RANGE_SPAN_MAX = 100
# Threads whose member lists one guild's subscription may name.
MAX_SUBSCRIPTION_THREADS = 10
_SUBSCRIPTION_FLAGS = ("typing", "activities", "threads", "member_updates")
_INF = float("inf")  # ETF's NEW_FLOAT_EXT carries infinities and NaN; JSON cannot


def parse_command(payload: object) -> Command:
    """The command in a decoded payload ``{op, d}``.

    Args:
        payload: what the codec decoded (any JSON or ETF value).

    Raises:
        ProtocolError: 4002 for a malformed payload, 4001 for an opcode a client may not send,
            4010 for a bad ``shard``, 4013 for bad ``intents``.
    """
    if not isinstance(payload, dict):
        raise ProtocolError(CloseCode.DECODE_ERROR, "Payload is not an object")
    op = payload.get("op")
    if type(op) is not int:
        raise ProtocolError(CloseCode.DECODE_ERROR, "op must be an integer")
    d = payload.get("d")
    match op:
        case Opcode.HEARTBEAT:
            return Heartbeat(_optional_int(d, "d"))
        case Opcode.IDENTIFY:
            return _identify(_object(d, "d"))
        case Opcode.PRESENCE_UPDATE:
            return _presence(_object(d, "d"))
        case Opcode.RESUME:
            return _resume(_object(d, "d"))
        case Opcode.REQUEST_GUILD_MEMBERS:
            return _request_members(_object(d, "d"))
        case Opcode.SEND_MESSAGE:
            return _send(_object(d, "d"))
        case Opcode.GUILD_SUBSCRIPTIONS:
            d = _object(d, "d")
            return GuildSubscriptions((_subscription(_snowflake(d.get("guild_id"), "guild_id"),
                                                     d),))
        case Opcode.GUILD_SUBSCRIPTIONS_BULK:
            return _bulk_subscriptions(_object(d, "d"))
        case Opcode.VOICE_STATE_UPDATE | Opcode.REQUEST_SOUNDBOARD_SOUNDS:
            return Ignored(op)
        case _:
            raise ProtocolError(CloseCode.UNKNOWN_OPCODE, f"Unknown opcode {op}")


def _identify(d: dict[str, Any]) -> Identify:
    token = d.get("token")
    if not isinstance(token, str):
        raise _decode("token must be a string")
    presence = d.get("presence")
    threshold = d.get("large_threshold", _LARGE_THRESHOLD[0])
    if type(threshold) is not int or not _LARGE_THRESHOLD[0] <= threshold <= _LARGE_THRESHOLD[1]:
        raise _decode("large_threshold must be an integer from 50 to 250")
    compress = d.get("compress")
    if compress is not None and not isinstance(compress, bool):
        raise _decode("compress must be a boolean")
    return Identify(
        token=str(token),  # ETF atoms are str subclasses; keep plain str from here on
        properties=_properties(d.get("properties")),
        intents=_intents(d.get("intents")),
        shard=_shard(d.get("shard")),
        presence=None if presence is None else _presence(_object(presence, "presence")),
        large_threshold=threshold,
        compress=bool(compress),
    )


def _properties(value: object) -> dict[str, str]:
    props = _object(value, "properties")
    out: dict[str, str] = {}
    for key in ("os", "browser", "device"):
        item = props.get(key)
        if not isinstance(item, str):
            raise _decode(f"properties.{key} must be a string")
        out[key] = item
    return out


def _intents(value: object) -> int:
    # v10 requires intents ("Gateway Intents"); a missing value, a non-integer or an unknown
    # bit is 4013 Invalid intent(s).
    if type(value) is not int or value < 0 or value & ~ALL_INTENTS:
        raise ProtocolError(CloseCode.INVALID_INTENTS)
    return value


def _shard(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ProtocolError(CloseCode.INVALID_SHARD, "shard must be [shard_id, num_shards]")
    shard_id, num = value
    if type(shard_id) is not int or type(num) is not int or not 0 <= shard_id < num:
        raise ProtocolError(CloseCode.INVALID_SHARD)
    return shard_id, num


def _presence(d: dict[str, Any]) -> PresenceUpdate:
    # Lenient where discord.py is loose: its IDENTIFY may carry ``status: null``, a legacy
    # ``game`` instead of ``activities`` and a float ``since``.
    status = d.get("status")
    if status is None:
        status = "online"
    elif not isinstance(status, str) or status not in STATUSES:  # a list is unhashable
        raise _decode("status must be online, idle, dnd, invisible or offline")
    activities = d.get("activities")
    if activities is None:
        game = d.get("game")
        activities = [] if game is None else [game]
    if not isinstance(activities, list) or len(activities) > _MAX_ACTIVITIES:
        raise _decode(f"activities must be a list of at most {_MAX_ACTIVITIES}")
    for activity in activities:
        if not isinstance(activity, dict) or not isinstance(activity.get("name"), str) \
                or type(activity.get("type")) is not int:
            raise _decode("an activity needs a string name and an integer type")
    since = d.get("since")
    # NaN (since != since) and infinities come only from ETF; int() of them would raise.
    if since is not None and (isinstance(since, bool) or not isinstance(since, int | float)
                              or since != since or since in (_INF, -_INF)):
        raise _decode("since must be a number or null")
    afk = d.get("afk")
    if afk is not None and not isinstance(afk, bool):
        raise _decode("afk must be a boolean")
    return PresenceUpdate(
        status=str(status),
        activities=tuple(activities),
        since=None if since is None else int(since),
        afk=bool(afk),
    )


def _resume(d: dict[str, Any]) -> Resume:
    token, session_id = d.get("token"), d.get("session_id")
    if not isinstance(token, str):
        raise _decode("token must be a string")
    if not isinstance(session_id, str) or not 0 < len(session_id) <= _MAX_SESSION_ID:
        raise _decode("session_id must be a string")
    seq = _optional_int(d.get("seq"), "seq")
    if seq is not None and seq < 0:
        raise _decode("seq must not be negative")
    return Resume(token=str(token), session_id=str(session_id), seq=seq or 0)


def _request_members(d: dict[str, Any]) -> RequestGuildMembers:
    guild_id = _snowflake(d.get("guild_id"), "guild_id")
    query, user_ids = d.get("query"), d.get("user_ids")
    if user_ids is not None:
        ids = user_ids if isinstance(user_ids, list) else [user_ids]
        if len(ids) > _MAX_USER_IDS:
            raise _decode(f"user_ids may hold at most {_MAX_USER_IDS} ids")
        users = tuple(_snowflake(i, "user_ids") for i in ids)
        query = None
    elif isinstance(query, str):
        users = ()
    else:
        raise _decode("query or user_ids is required")
    limit = d.get("limit", 0)
    if type(limit) is not int or limit < 0:
        raise _decode("limit must be a non-negative integer")
    presences = d.get("presences")
    if presences is not None and not isinstance(presences, bool):
        raise _decode("presences must be a boolean")
    nonce = d.get("nonce")
    # Discord ignores an invalid nonce instead of failing the request.
    if not isinstance(nonce, str) or len(nonce.encode()) > _MAX_NONCE_BYTES:
        nonce = None
    return RequestGuildMembers(guild_id, query, limit, bool(presences), users, nonce)


def _send(d: dict[str, Any]) -> SendMessage:
    channel_id = _snowflake(d.get("channel_id"), "channel_id")
    nonce = d.get("nonce")
    if isinstance(nonce, bool) or not isinstance(nonce, str | int):
        nonce = None  # the body check (core.message_form) reports a bad nonce
    body = {k: v for k, v in d.items() if k != "channel_id"}
    return SendMessage(channel_id=channel_id, nonce=nonce, body=body)


def _bulk_subscriptions(d: dict[str, Any]) -> GuildSubscriptions:
    subscriptions = _object(d.get("subscriptions"), "subscriptions")
    if len(subscriptions) > MAX_SUBSCRIPTION_GUILDS:
        raise _decode(f"subscriptions may name at most {MAX_SUBSCRIPTION_GUILDS} guilds")
    return GuildSubscriptions(tuple(
        _subscription(_snowflake(guild_id, "subscriptions key"),
                      _object(value, "a guild's subscription"))
        for guild_id, value in subscriptions.items()))


def _subscription(guild_id: int, d: dict[str, Any]) -> GuildSubscription:
    flags: dict[str, bool | None] = {}
    for name in _SUBSCRIPTION_FLAGS:
        value = d.get(name)
        if value is not None and not isinstance(value, bool):
            raise _decode(f"{name} must be a boolean")
        flags[name] = value
    members = d.get("members")
    if members is not None:
        members = _snowflakes(members, "members", MAX_SUBSCRIBED_MEMBERS)
    lists = d.get("thread_member_lists")
    if lists is not None:
        lists = _snowflakes(lists, "thread_member_lists", MAX_SUBSCRIPTION_THREADS)
    channels = d.get("channels")
    if channels is not None:
        channels = _channel_ranges(_object(channels, "channels"))
    return GuildSubscription(guild_id, members, channels, thread_member_lists=lists, **flags)


def _snowflakes(value: object, what: str, most: int) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > most:
        raise _decode(f"{what} must be a list of at most {most} ids")
    # dict.fromkeys: a repeated id counts once, in the client's order.
    return tuple(dict.fromkeys(_snowflake(i, what) for i in value))


def _channel_ranges(
    channels: dict[Any, Any],
) -> tuple[tuple[int, tuple[tuple[int, int], ...]], ...]:
    if len(channels) > MAX_SUBSCRIBED_CHANNELS:
        raise _decode(f"channels may name at most {MAX_SUBSCRIBED_CHANNELS} channels")
    out = []
    for channel_id, ranges in channels.items():
        if not isinstance(ranges, list) or len(ranges) > MAX_SUBSCRIPTION_RANGES:
            raise _decode(f"a channel's ranges: a list of at most {MAX_SUBSCRIPTION_RANGES}")
        pairs = []
        for pair in ranges:
            if not isinstance(pair, list | tuple) or len(pair) != 2 \
                    or type(pair[0]) is not int or type(pair[1]) is not int \
                    or not 0 <= pair[0] <= pair[1] < pair[0] + RANGE_SPAN_MAX:
                raise _decode(f"a range is [start, end], 0 <= start <= end, at most "
                              f"{RANGE_SPAN_MAX} rows")
            pairs.append((pair[0], pair[1]))
        out.append((_snowflake(channel_id, "channels key"), tuple(pairs)))
    return tuple(out)


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _decode(f"{what} must be an object")
    return value


def _optional_int(value: object, what: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int:
        raise _decode(f"{what} must be an integer or null")
    return value


def _snowflake(value: object, what: str) -> int:
    # Snowflakes arrive as strings in JSON and as integers from discord.py and ETF clients.
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)
    else:
        raise _decode(f"{what} must be a snowflake")
    if not 0 < number <= _MAX_SNOWFLAKE:
        raise _decode(f"{what} must be a snowflake")
    return number


def _decode(reason: str) -> ProtocolError:
    return ProtocolError(CloseCode.DECODE_ERROR, reason)
