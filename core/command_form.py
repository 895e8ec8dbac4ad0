"""An application command's definition, validated as Discord does (50035 with field paths).

Discord's limits ("Application Commands", "Application Command Object"), followed here:

- ``type`` 1 CHAT_INPUT (the default), 2 USER, 3 MESSAGE.
- A chat-input command's and every option's ``name`` matches ``^[-_\\p{L}\\p{N}]{1,32}$`` and is
  lowercase (a character with a lowercase form must be in it); a context menu's name is any
  1..32 characters. ``description`` is 1..100 characters for chat input, empty for menus.
- At most :data:`MAX_OPTIONS` options per level and :data:`MAX_CHOICES` choices per option;
  option names unique per level; required options before optional ones; sub-commands and
  groups never mixed with plain options; a group holds sub-commands only, a sub-command plain
  options only (so the nesting is at most three deep, what Discord allows).
- ``choices`` only for STRING, INTEGER and NUMBER, never with ``autocomplete``; a choice's
  value of its option's type (a string at most 100 characters). ``min_value``/``max_value``
  for INTEGER and NUMBER, ``min_length`` 0..6000 and ``max_length`` 1..6000 for STRING, each
  minimum not above its maximum; ``channel_types`` for CHANNEL.
- The names, descriptions and choice names and values of one command together at most
  :data:`MAX_TOTAL_TEXT` characters (Discord's 8000).

The result is the definition as Discord returns it (defaults filled in), without ``id``,
``application_id``, ``guild_id``, ``version``, ``type`` and ``name``, which the command record
holds (``core.models.ApplicationCommand``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import ApiError, ErrorCode, invalid_form
from core.validate import MISSING, get_bool, get_permissions, get_str, require_object

__all__ = [
    "CHAT_INPUT",
    "MAX_CHOICES",
    "MAX_OPTIONS",
    "MAX_TOTAL_TEXT",
    "MESSAGE",
    "NUMBER_LIMIT",
    "OptionType",
    "STRING_LENGTH_MAX",
    "USER",
    "at",
    "parse_command",
]

CHAT_INPUT, USER, MESSAGE = 1, 2, 3
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_TOTAL_TEXT = 8000
NAME_MAX = 32
DESCRIPTION_MAX = 100
STRING_LENGTH_MAX = 6000
# A number option's bounds and values: what a JSON double holds exactly (Discord's range).
NUMBER_LIMIT = 2**53
# Locales of a *_localizations map: Discord has about 30; anything beyond is refused.
LOCALIZATIONS_MAX = 40
# contexts: 0 GUILD, 1 BOT_DM, 2 PRIVATE_CHANNEL; integration_types: 0 GUILD, 1 USER.
CONTEXTS = frozenset({0, 1, 2})
INTEGRATION_TYPES = frozenset({0, 1})


class OptionType:
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


_NESTING = (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP)
_WITH_CHOICES = (OptionType.STRING, OptionType.INTEGER, OptionType.NUMBER)


@contextmanager
def at(prefix: str) -> Iterator[None]:
    """Report a 50035 raised inside under ``prefix`` (``options.0`` + ``name``)."""
    try:
        yield
    except ApiError as e:
        if e.code != ErrorCode.INVALID_FORM_BODY or e.errors is None:
            raise
        node: dict[str, Any] = e.errors
        for part in reversed(prefix.split(".")):
            node = {part: node}
        raise ApiError(e.status, e.code, e.message, node) from None


def parse_command(body: Any) -> tuple[int, str, dict[str, Any]]:
    """A command's ``(type, name, definition)`` from a request body.

    Raises:
        ApiError: 50035 naming the first bad field.
    """
    body = require_object(body)
    kind = _int_in(body, "type", (CHAT_INPUT, USER, MESSAGE), default=CHAT_INPUT)
    chat = kind == CHAT_INPUT
    name = _name(body, "name", chat)
    if chat:
        description = get_str(body, "description", required=True, min_len=1,
                              max_len=DESCRIPTION_MAX)
    else:
        description = get_str(body, "description", max_len=0, default="")
    out: dict[str, Any] = {
        "description": description,
        "name_localizations": _localizations(body, "name_localizations", NAME_MAX),
        "description_localizations": _localizations(body, "description_localizations",
                                                    DESCRIPTION_MAX),
        "default_member_permissions": _permissions(body),
        "dm_permission": get_bool(body, "dm_permission", default=True),
        "contexts": _int_set(body, "contexts", CONTEXTS),
        "integration_types": _int_set(body, "integration_types", INTEGRATION_TYPES),
        "nsfw": get_bool(body, "nsfw", default=False),
    }
    options = body.get("options")
    if options not in (None, []):
        if not chat:
            raise invalid_form("options", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                               "Only chat input commands may have options.")
        out["options"] = _options(options, "options", depth=0)
    else:
        out["options"] = []
    total = len(name) + _text_length(out)
    if total > MAX_TOTAL_TEXT:
        raise invalid_form("_root", "APPLICATION_COMMAND_TOO_LARGE",
                           f"Command exceeds maximum size ({MAX_TOTAL_TEXT})")
    return kind, name, out


def _name(body: dict[str, Any], key: str, chat: bool) -> str:
    name: str = get_str(body, key, required=True, min_len=1, max_len=NAME_MAX)
    if chat and not _chat_name_ok(name):
        raise invalid_form(key, "APPLICATION_COMMAND_INVALID_NAME",
                           "Command name is invalid")
    return name


def _chat_name_ok(name: str) -> bool:
    """``^[-_\\p{L}\\p{N}]{1,32}$`` and lowercase (Python's ``re`` has no ``\\p``)."""
    for ch in name:
        if ch not in "-_" and unicodedata.category(ch)[0] not in "LN":
            return False
        if ch.lower() != ch:
            return False
    return True


def _int_in(body: dict[str, Any], key: str, allowed: tuple[int, ...], *, default: Any) -> Any:
    value = body.get(key)
    if value is None:
        if default is MISSING:
            raise invalid_form(key, "BASE_TYPE_REQUIRED", "This field is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise invalid_form(key, "BASE_TYPE_CHOICES",
                           f"Value must be one of {set(allowed)}.")
    return value


def _int_set(body: dict[str, Any], key: str, allowed: frozenset[int]) -> list[int] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > len(allowed):
        raise invalid_form(key, "BASE_TYPE_BAD_LENGTH", f"Must be at most {len(allowed)} long.")
    for i, item in enumerate(value):
        if isinstance(item, bool) or item not in allowed:
            raise invalid_form(f"{key}.{i}", "BASE_TYPE_CHOICES",
                               f"Value must be one of {set(allowed)}.")
    return sorted(set(value))


def _permissions(body: dict[str, Any]) -> str | None:
    value = get_permissions(body, "default_member_permissions", default=None)
    return None if value is None else str(value)


def _localizations(body: dict[str, Any], key: str, max_len: int) -> dict[str, str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > LOCALIZATIONS_MAX:
        raise invalid_form(key, "DICT_TYPE_CONVERT",
                           f"Must be an object of at most {LOCALIZATIONS_MAX} locales.")
    for locale, text in value.items():
        if not isinstance(text, str) or not 1 <= len(text) <= max_len or len(locale) > 16:
            raise invalid_form(f"{key}.{locale[:16]}", "BASE_TYPE_BAD_LENGTH",
                               f"Must be between 1 and {max_len} in length.")
    return dict(value)


def _options(value: Any, path: str, *, depth: int, parent: int | None = None) -> list[dict[str, Any]]:
    """One level of options: at most MAX_OPTIONS, unique names, required first, nesting kinds
    as the parent allows (top: all nesting or none; group: sub-commands; sub-command: plain)."""
    if not isinstance(value, list):
        raise invalid_form(path, "BASE_TYPE_LIST", "Must be a list.")
    if len(value) > MAX_OPTIONS:
        raise invalid_form(path, "BASE_TYPE_MAX_LENGTH",
                           f"Must be {MAX_OPTIONS} or fewer in length.")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    seen_optional = False
    for i, raw in enumerate(value):
        with at(f"{path}.{i}"):
            option = _option(raw, depth)
        kind = option["type"]
        here = f"{path}.{i}"
        nesting = kind in _NESTING
        if parent == OptionType.SUB_COMMAND_GROUP and kind != OptionType.SUB_COMMAND:
            raise invalid_form(f"{here}.type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                               "A sub-command group holds sub-commands only.")
        if parent == OptionType.SUB_COMMAND and nesting:
            raise invalid_form(f"{here}.type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                               "A sub-command holds no sub-commands or groups.")
        if out and (out[0]["type"] in _NESTING) != nesting:
            raise invalid_form(f"{here}.type", "APPLICATION_COMMAND_OPTIONS_TYPE_MIXED",
                               "Sub-command and sub-command group option types are mutually"
                               " exclusive to all other types")
        if option["name"] in names:
            raise invalid_form(f"{here}.name", "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                               "Option names must be unique")
        names.add(option["name"])
        if option.get("required"):
            if seen_optional:
                raise invalid_form(f"{here}.required",
                                   "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                   "Required options must be placed before non-required"
                                   " options")
        elif not nesting:
            seen_optional = True
        out.append(option)
    return out


def _option(raw: Any, depth: int) -> dict[str, Any]:
    body = require_object(raw)
    kind = _int_in(body, "type", tuple(range(1, 12)), default=MISSING)
    name = _name(body, "name", True)
    option: dict[str, Any] = {
        "type": kind,
        "name": name,
        "description": get_str(body, "description", required=True, min_len=1,
                               max_len=DESCRIPTION_MAX),
        "name_localizations": _localizations(body, "name_localizations", NAME_MAX),
        "description_localizations": _localizations(body, "description_localizations",
                                                    DESCRIPTION_MAX),
    }
    if kind in _NESTING:
        # A group at the top only, a sub-command at the top or in a group: depth bounds it.
        if depth > (0 if kind == OptionType.SUB_COMMAND_GROUP else 1):
            raise invalid_form("type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                               "Sub-commands nest at most two levels deep.")
        for key in ("required", "choices", "autocomplete"):
            if body.get(key):
                raise invalid_form(key, "APPLICATION_COMMAND_OPTION_INVALID",
                                   f"{key} is not allowed on a sub-command or group.")
        option["options"] = _options(body.get("options") or [], "options", depth=depth + 1,
                                     parent=kind)
        return option
    if body.get("options"):
        raise invalid_form("options", "APPLICATION_COMMAND_OPTION_INVALID",
                           "Only sub-commands and groups have options.")
    option["required"] = get_bool(body, "required", default=False)
    autocomplete = get_bool(body, "autocomplete", default=False)
    choices = body.get("choices")
    if choices not in (None, []):
        if kind not in _WITH_CHOICES:
            raise invalid_form("choices", "APPLICATION_COMMAND_OPTION_INVALID",
                               "Only string, integer and number options have choices.")
        if autocomplete:
            raise invalid_form("autocomplete", "APPLICATION_COMMAND_OPTION_INVALID",
                               "Autocomplete and choices are mutually exclusive.")
        option["choices"] = _choices(choices, kind)
    if autocomplete:
        if kind not in _WITH_CHOICES:
            raise invalid_form("autocomplete", "APPLICATION_COMMAND_OPTION_INVALID",
                               "Only string, integer and number options autocomplete.")
        option["autocomplete"] = True
    if kind in (OptionType.INTEGER, OptionType.NUMBER):
        _bounds(body, option, "min_value", "max_value", kind, -NUMBER_LIMIT, NUMBER_LIMIT)
    elif kind == OptionType.STRING:
        _bounds(body, option, "min_length", "max_length", OptionType.INTEGER, 0,
                STRING_LENGTH_MAX)
        if option.get("max_length") == 0:
            raise invalid_form("max_length", "NUMBER_TYPE_MIN", "int value should be >= 1.")
    if kind == OptionType.CHANNEL and body.get("channel_types") is not None:
        types = body["channel_types"]
        if (not isinstance(types, list) or len(types) > 32
                or not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 64
                           for t in types)):
            raise invalid_form("channel_types", "BASE_TYPE_CHOICES",
                               "Must be a list of channel types.")
        option["channel_types"] = sorted(set(types))
    return option


def _number(value: Any, kind: int, key: str, lo: float, hi: float) -> int | float:
    if kind == OptionType.INTEGER:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value
    if not ok:
        raise invalid_form(key, "NUMBER_TYPE_COERCE", f'Value "{value!r}" is not a number.')
    if not lo <= value <= hi:
        raise invalid_form(key, "NUMBER_TYPE_MAX" if value > hi else "NUMBER_TYPE_MIN",
                           f"Value should be between {lo} and {hi}.")
    return value  # type: ignore[no-any-return]


def _bounds(body: dict[str, Any], option: dict[str, Any], low_key: str, high_key: str,
            kind: int, lo: float, hi: float) -> None:
    low, high = body.get(low_key), body.get(high_key)
    if low is not None:
        option[low_key] = _number(low, kind, low_key, lo, hi)
    if high is not None:
        option[high_key] = _number(high, kind, high_key, lo, hi)
    if low is not None and high is not None and option[low_key] > option[high_key]:
        raise invalid_form(low_key, "NUMBER_TYPE_MAX",
                           f"{low_key} must not be greater than {high_key}.")


def _choices(value: Any, kind: int) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid_form("choices", "BASE_TYPE_LIST", "Must be a list.")
    if len(value) > MAX_CHOICES:
        raise invalid_form("choices", "BASE_TYPE_MAX_LENGTH",
                           f"Must be {MAX_CHOICES} or fewer in length.")
    out = []
    for i, raw in enumerate(value):
        with at(f"choices.{i}"):
            choice = require_object(raw)
            name = get_str(choice, "name", required=True, min_len=1, max_len=DESCRIPTION_MAX)
            if kind == OptionType.STRING:
                got = get_str(choice, "value", required=True, max_len=DESCRIPTION_MAX)
            else:
                if "value" not in choice:
                    raise invalid_form("value", "BASE_TYPE_REQUIRED", "This field is required")
                got = _number(choice["value"], kind, "value", -NUMBER_LIMIT, NUMBER_LIMIT)
            out.append({"name": name, "value": got,
                        "name_localizations": _localizations(choice, "name_localizations",
                                                             DESCRIPTION_MAX)})
    return out


def _text_length(node: Any) -> int:
    """Characters of the names, descriptions and choice values under ``node`` (Discord's
    combined size), without recursion past the bounded nesting ``_options`` allows."""
    total = 0
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("name", "description"):
                if isinstance(item.get(key), str):
                    total += len(item[key])
            if isinstance(item.get("value"), str):
                total += len(item["value"])
            stack.extend(item.get("options") or ())
            stack.extend(item.get("choices") or ())
    return total
