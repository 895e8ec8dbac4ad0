"""The body of a message send or edit, parsed and checked, and the mentions in its content.

Shared by ``POST``/``PATCH /channels/{id}/messages`` and the gateway's send opcode. Nothing here
touches a store: permission checks and lookups are in :mod:`core.messages`.

Limits (Discord's, see "Message Resource" and "Embed Limits" in Discord's developer docs):
- ``content``: at most ``config.max_message_length`` characters (Discord: 2000);
- ``nonce``: an integer or a string of at most 25 characters; kept as a string;
- ``embeds``: at most 10 rich embeds. Only Discord's embed keys are kept (others are dropped),
  each text field has Discord's length limit, and the text of all embeds together (titles,
  descriptions, field names and values, footer texts, author names) is at most 6000
  characters; anything over is 50035 with the field's path;
- ``allowed_mentions``: at most 100 user ids and 100 role ids;
- ``components``: action rows of buttons and select menus, with Discord's limits
  (:mod:`core.components`);
- ``flags``: only SUPPRESS_EMBEDS and SUPPRESS_NOTIFICATIONS may be set;
- mentions: the first 100 distinct user ids and 100 role ids of the content count;
- no string of the body may hold a C0 control character but tab and line breaks (50035,
  ``core.validate.reject_control_chars``): checked here as well as at the REST boundary,
  because the gateway's op 50 hands its body straight to :func:`parse_send`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.components import parse_components
from core.errors import invalid_form
from core.validate import (
    MISSING,
    get_bool,
    get_int,
    get_str,
    reject_control_chars,
    snowflake_value,
)

__all__ = [
    "HAS_THREAD",
    "SUPPRESS_EMBEDS",
    "SUPPRESS_NOTIFICATIONS",
    "AllowedMentions",
    "EditForm",
    "ReferenceForm",
    "SendForm",
    "find_mentions",
    "parse_edit",
    "parse_send",
]

SUPPRESS_EMBEDS = 1 << 2
# Set by the server on a message a thread was started from (never by a client): readers of
# the message render its ``thread`` (``core.history``), and discord.js's ``hasThread`` reads it.
HAS_THREAD = 1 << 5
SUPPRESS_NOTIFICATIONS = 1 << 12
_SEND_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS

NONCE_MAX = 25
EMBEDS_MAX = 10
EMBED_TEXT_MAX = 6000
EMBED_FIELDS_MAX = 25
MENTIONS_MAX = 100
_URL_MAX = 2048
# Top-level string keys of an embed and their lengths; nested objects have string values only.
_EMBED_STR = {"title": 256, "description": 4096, "url": _URL_MAX, "timestamp": 64, "type": 32}
_EMBED_NESTED = {
    "footer": {"text": 2048, "icon_url": _URL_MAX},
    "image": {"url": _URL_MAX},
    "thumbnail": {"url": _URL_MAX},
    "video": {"url": _URL_MAX},
    "provider": {"name": 256, "url": _URL_MAX},
    "author": {"name": 256, "url": _URL_MAX, "icon_url": _URL_MAX},
}

_USER_MENTION = re.compile(r"<@!?(\d{1,20})>")
_ROLE_MENTION = re.compile(r"<@&(\d{1,20})>")
_EVERYONE_MENTION = re.compile(r"@(?:everyone|here)")
_PARSE_KINDS = frozenset({"users", "roles", "everyone"})


@dataclass(frozen=True, slots=True)
class AllowedMentions:
    """Which mentions of the content count ("Allowed Mentions Object").

    ``replied_user`` is None when ``allowed_mentions`` was not sent: Discord then mentions the
    author of the replied-to message, as its client does by default.
    """

    parse: frozenset[str] = _PARSE_KINDS
    users: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()
    replied_user: bool | None = None

    def allows_user(self, user_id: int) -> bool:
        return "users" in self.parse or user_id in self.users

    def allows_role(self, role_id: int) -> bool:
        return "roles" in self.parse or role_id in self.roles

    @property
    def mentions_replied(self) -> bool:
        return self.replied_user is None or self.replied_user


@dataclass(frozen=True, slots=True)
class ReferenceForm:
    message_id: int
    channel_id: int | None
    guild_id: int | None
    fail_if_not_exists: bool


@dataclass(frozen=True, slots=True)
class SendForm:
    content: str
    nonce: str | None
    enforce_nonce: bool
    tts: bool
    embeds: tuple[dict[str, Any], ...]
    allowed: AllowedMentions
    reference: ReferenceForm | None
    flags: int
    components: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class EditForm:
    """A message edit; ``None`` fields were not sent (``flags`` None: unchanged)."""

    content: str | None
    embeds: tuple[dict[str, Any], ...] | None
    flags: int | None
    allowed: AllowedMentions
    components: tuple[dict[str, Any], ...] | None = None

    @property
    def only_flags(self) -> bool:
        return self.content is None and self.embeds is None and self.components is None


def parse_send(body: dict[str, Any], max_length: int) -> SendForm:
    """A message send body. Raises 50035 naming the first bad field."""
    reject_control_chars(body)
    return SendForm(
        content=get_str(body, "content", max_len=max_length, default=""),
        nonce=_nonce(body.get("nonce")),
        enforce_nonce=get_bool(body, "enforce_nonce", default=False),
        tts=get_bool(body, "tts", default=False),
        embeds=_embeds(body.get("embeds")) or (),
        allowed=_allowed_mentions(body.get("allowed_mentions")),
        reference=_reference(body.get("message_reference")),
        flags=_flags(body, _SEND_FLAGS) or 0,
        components=parse_components(body.get("components")),
    )


def parse_edit(body: dict[str, Any], max_length: int) -> EditForm:
    """A message edit body (``content``, ``embeds``, ``flags``, ``allowed_mentions``,
    ``components``).

    ``content: null`` clears the content, as on Discord (``components: null`` or ``[]`` clears
    them); only SUPPRESS_EMBEDS may be changed.
    """
    reject_control_chars(body)
    content = get_str(body, "content", max_len=max_length, nullable=True, default=MISSING)
    if content is None:
        content = ""
    return EditForm(
        content=None if content is MISSING else content,
        embeds=_embeds(body["embeds"] or []) if body.get("embeds", MISSING) is not MISSING
        else None,
        flags=_flags(body, SUPPRESS_EMBEDS),
        allowed=_allowed_mentions(body.get("allowed_mentions")),
        components=parse_components(body.get("components"))
        if "components" in body else None,
    )


def find_mentions(content: str) -> tuple[list[int], list[int], bool]:
    """The user ids, role ids and whether ``@everyone``/``@here`` appear in ``content``.

    Ids are distinct, in order of appearance, at most :data:`MENTIONS_MAX` of each.
    """
    users = list(dict.fromkeys(int(m) for m in _USER_MENTION.findall(content)))
    roles = list(dict.fromkeys(int(m) for m in _ROLE_MENTION.findall(content)))
    everyone = _EVERYONE_MENTION.search(content) is not None
    return users[:MENTIONS_MAX], roles[:MENTIONS_MAX], everyone


def _nonce(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise invalid_form("nonce", "BASE_TYPE_STRING", "Must be an integer or a string.")
    if len(value) > NONCE_MAX:
        raise invalid_form(
            "nonce", "BASE_TYPE_MAX_LENGTH", f"Must be {NONCE_MAX} or fewer in length."
        )
    return value


def _flags(body: dict[str, Any], settable: int) -> int | None:
    flags: int | None = get_int(body, "flags", lo=0, hi=(1 << 31) - 1, default=None)
    if flags is not None and flags & ~settable:
        raise invalid_form("flags", "MESSAGE_FLAGS_INVALID", "Invalid message flags.")
    return flags


def _reference(value: Any) -> ReferenceForm | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_form(
            "message_reference", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
        )
    if get_int(value, "type", lo=0, hi=1, default=0) != 0:
        # Forwards (type 1) are not supported here.
        raise invalid_form("message_reference.type", "MESSAGE_REFERENCE_INVALID_TYPE",
                           "Only replies (type 0) are supported.")
    if value.get("message_id") is None:
        raise invalid_form("message_reference.message_id", "BASE_TYPE_REQUIRED",
                           "This field is required")
    fail = value.get("fail_if_not_exists", True)
    if not isinstance(fail, bool):
        raise invalid_form("message_reference.fail_if_not_exists", "BOOLEAN_TYPE_COERCE",
                           f"Value \"{fail!r}\" is not bool.")
    return ReferenceForm(
        message_id=snowflake_value(value["message_id"], "message_reference.message_id"),
        channel_id=_optional_id(value, "channel_id"),
        guild_id=_optional_id(value, "guild_id"),
        fail_if_not_exists=fail,
    )


def _optional_id(value: dict[str, Any], key: str) -> int | None:
    raw = value.get(key)
    return None if raw is None else snowflake_value(raw, f"message_reference.{key}")


def _allowed_mentions(value: Any) -> AllowedMentions:
    if value is None:
        return AllowedMentions()
    path = "allowed_mentions"
    if not isinstance(value, dict):
        raise invalid_form(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    parse = value.get("parse", [])
    if not isinstance(parse, list) or not all(p in _PARSE_KINDS for p in parse):
        raise invalid_form(f"{path}.parse", "ENUM_TYPE_COERCE",
                           "Must be a list of \"users\", \"roles\" and \"everyone\".")
    ids = {}
    for kind in ("users", "roles"):
        raw = value.get(kind) or []
        if not isinstance(raw, list) or len(raw) > MENTIONS_MAX:
            raise invalid_form(f"{path}.{kind}", "BASE_TYPE_MAX_LENGTH",
                               f"Must be a list of {MENTIONS_MAX} or fewer ids.")
        if raw and kind in parse:
            raise invalid_form(f"{path}.parse", "SET_TYPE_ALREADY_CONTAINS_VALUE",
                               f"parse \"{kind}\" and a {kind} list are mutually exclusive.")
        ids[kind] = frozenset(snowflake_value(x, f"{path}.{kind}.{i}") for i, x in enumerate(raw))
    replied = value.get("replied_user", False)
    if not isinstance(replied, bool):
        raise invalid_form(f"{path}.replied_user", "BOOLEAN_TYPE_COERCE", "Must be a boolean.")
    return AllowedMentions(frozenset(parse), ids["users"], ids["roles"], replied)


def _embeds(value: Any) -> tuple[dict[str, Any], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > EMBEDS_MAX:
        raise invalid_form("embeds", "BASE_TYPE_MAX_LENGTH",
                           f"Must be a list of {EMBEDS_MAX} or fewer embeds.")
    out = tuple(_embed(e, f"embeds.{i}") for i, e in enumerate(value))
    if sum(_embed_text(e) for e in out) > EMBED_TEXT_MAX:
        raise invalid_form("embeds", "MAX_EMBED_SIZE_EXCEEDED",
                           f"Embed size exceeds maximum size of {EMBED_TEXT_MAX}")
    return out


def _embed(value: Any, path: str) -> dict[str, Any]:
    """One embed with Discord's keys only, each checked; unknown keys are dropped."""
    obj = _object(value, path)
    out: dict[str, Any] = {"type": "rich"}
    for key, limit in _EMBED_STR.items():
        if key in obj and obj[key] is not None:
            out[key] = _text(obj[key], f"{path}.{key}", limit)
    color = obj.get("color")
    if color is not None:
        if isinstance(color, bool) or not isinstance(color, int) or not 0 <= color <= 0xFFFFFF:
            raise invalid_form(f"{path}.color", "NUMBER_TYPE_MAX", "Must be 0 to 16777215.")
        out["color"] = color
    for key, spec in _EMBED_NESTED.items():
        if obj.get(key) is not None:
            nested = _object(obj[key], f"{path}.{key}")
            out[key] = {k: _text(nested[k], f"{path}.{key}.{k}", n)
                        for k, n in spec.items() if nested.get(k) is not None}
    if obj.get("fields") is not None:
        fields = obj["fields"]
        if not isinstance(fields, list) or len(fields) > EMBED_FIELDS_MAX:
            raise invalid_form(f"{path}.fields", "BASE_TYPE_MAX_LENGTH",
                               f"Must be {EMBED_FIELDS_MAX} or fewer in length.")
        out["fields"] = [_embed_field(f, f"{path}.fields.{i}") for i, f in enumerate(fields)]
    return out


def _embed_field(value: Any, path: str) -> dict[str, Any]:
    obj = _object(value, path)
    return {
        "name": _text(obj.get("name"), f"{path}.name", 256, required=True),
        "value": _text(obj.get("value"), f"{path}.value", 1024, required=True),
        "inline": bool(obj.get("inline", False)),
    }


def _embed_text(embed: dict[str, Any]) -> int:
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", ""))
    total += len(embed.get("author", {}).get("name", ""))
    return total + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", ()))


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_form(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    return value


def _text(value: Any, path: str, limit: int, *, required: bool = False) -> str:
    if value is None and required:
        raise invalid_form(path, "BASE_TYPE_REQUIRED", "This field is required")
    if not isinstance(value, str):
        raise invalid_form(path, "BASE_TYPE_STRING", "Must be a string.")
    if len(value) > limit or (required and not value):
        raise invalid_form(path, "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {limit} in length.")
    return value
