"""The options a user gives when invoking a chat-input command, checked against its definition.

Pure (no store): what an invocation's ``data.options`` may hold, as Discord checks it before
anything reaches the bot (``POST /interactions``, issue 13 item 2):

- A command whose options are sub-commands or groups is invoked through exactly one of them
  (a group through exactly one of its sub-commands); the given level mirrors the definition.
- Every given option is declared at its level, once, with its declared ``type``; every
  required one is given. At most :data:`core.command_form.MAX_OPTIONS` a level.
- Values of their type: STRING a string within ``min_length``/``max_length`` (6000 at most),
  INTEGER an integer and NUMBER a number within ``min_value``/``max_value`` (and what a JSON
  double holds), BOOLEAN a boolean, USER/CHANNEL/ROLE/MENTIONABLE/ATTACHMENT a snowflake; with
  ``choices``, one of their values. The option being typed in an autocomplete request
  (``focused``) may be partial: only its type is checked (a number's may be the string typed).

The ids of USER, CHANNEL, ROLE and MENTIONABLE options are collected (:class:`Targets`) for the
caller to resolve into ``data.resolved`` (and to refuse what the invoker may not see). Errors
are 50035 with the path of the field (``data.options.0.options.1.value``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.command_form import MAX_OPTIONS, NUMBER_LIMIT, STRING_LENGTH_MAX, OptionType, at
from core.errors import invalid_form
from core.validate import snowflake_value

__all__ = ["Targets", "check_options"]

Json = dict[str, Any]

_NESTING = (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP)
_SNOWFLAKE_TYPES = (OptionType.USER, OptionType.CHANNEL, OptionType.ROLE,
                    OptionType.MENTIONABLE, OptionType.ATTACHMENT)


@dataclass(slots=True)
class Targets:
    """The ids an invocation names, to resolve into ``data.resolved``.

    ``mentionables`` may be a user or a role: the resolver decides which. ``channel_types``
    holds, per channel id, the types its option allows (empty: any).
    """

    users: set[int] = field(default_factory=set)
    roles: set[int] = field(default_factory=set)
    mentionables: set[int] = field(default_factory=set)
    channels: dict[int, frozenset[int]] = field(default_factory=dict)
    attachments: set[int] = field(default_factory=set)


def check_options(declared: list[Json], given: Any) -> tuple[list[Json], Targets]:
    """The invocation's options, normalized (``{name, type, value}`` or ``{name, type,
    options}``, ``focused`` kept), and the ids they name.

    Args:
        declared: the command's ``options`` as ``core.command_form`` stored them.
        given: the request's ``data.options`` (None or absent: none).

    Raises:
        ApiError: 50035 at ``data.options...`` for anything the definition does not allow.
    """
    targets = Targets()
    with at("data"):
        out = _level(declared, [] if given is None else given, "options", targets)
    return out, targets


def _level(declared: list[Json], given: Any, path: str, targets: Targets) -> list[Json]:
    if not isinstance(given, list) or len(given) > MAX_OPTIONS:
        raise invalid_form(path, "BASE_TYPE_MAX_LENGTH",
                           f"Must be a list of {MAX_OPTIONS} or fewer options.")
    by_name = {o["name"]: o for o in declared}
    nesting = bool(declared) and declared[0]["type"] in _NESTING
    if nesting and len(given) != 1:
        raise invalid_form(path, "APPLICATION_COMMAND_OPTIONS_INVALID",
                           "Exactly one sub-command must be chosen.")
    out: list[Json] = []
    seen: set[str] = set()
    for i, raw in enumerate(given):
        here = f"{path}.{i}"
        if not isinstance(raw, dict):
            raise invalid_form(here, "DICT_TYPE_CONVERT", "Must be an object.")
        name = raw.get("name")
        spec = by_name.get(name) if isinstance(name, str) else None
        if spec is None:
            raise invalid_form(f"{here}.name", "APPLICATION_COMMAND_OPTION_UNKNOWN",
                               "This option is not part of the command.")
        if name in seen:
            raise invalid_form(f"{here}.name", "APPLICATION_COMMAND_OPTION_DUPLICATE",
                               "An option may be given once.")
        seen.add(spec["name"])
        if raw.get("type") != spec["type"]:
            raise invalid_form(f"{here}.type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                               f"This option's type is {spec['type']}.")
        if spec["type"] in _NESTING:
            inner = _level(spec.get("options") or [], raw.get("options") or [],
                           f"{here}.options", targets)
            out.append({"name": spec["name"], "type": spec["type"], "options": inner})
            continue
        focused = raw.get("focused") is True
        value = _value(spec, raw.get("value"), f"{here}.value", focused, targets)
        option: Json = {"name": spec["name"], "type": spec["type"], "value": value}
        if focused:
            option["focused"] = True
        out.append(option)
    for spec in declared:
        if spec.get("required") and spec["name"] not in seen:
            raise invalid_form(path, "APPLICATION_COMMAND_OPTION_REQUIRED",
                               f"The option {spec['name']!r} is required.")
    return out


def _value(spec: Json, value: Any, path: str, focused: bool, targets: Targets) -> Any:
    kind = spec["type"]
    if kind == OptionType.STRING:
        if not isinstance(value, str):
            raise invalid_form(path, "BASE_TYPE_STRING", "Must be a string.")
        if not focused:
            lo, hi = spec.get("min_length", 0), spec.get("max_length", STRING_LENGTH_MAX)
            if not lo <= len(value) <= hi:
                raise invalid_form(path, "BASE_TYPE_BAD_LENGTH",
                                   f"Must be between {lo} and {hi} in length.")
    elif kind in (OptionType.INTEGER, OptionType.NUMBER) and focused and isinstance(value, str):
        # What the user is typing, sent as typed (Discord sends a focused number as a string).
        if len(value) > STRING_LENGTH_MAX:
            raise invalid_form(path, "BASE_TYPE_BAD_LENGTH", "Too long.")
    elif kind in (OptionType.INTEGER, OptionType.NUMBER):
        numeric = isinstance(value, int) if kind == OptionType.INTEGER else (
            isinstance(value, int | float) and value == value)
        if isinstance(value, bool) or not numeric:
            raise invalid_form(path, "NUMBER_TYPE_COERCE", "Must be a number of its type.")
        if not focused:
            lo = spec.get("min_value", -NUMBER_LIMIT)
            hi = spec.get("max_value", NUMBER_LIMIT)
            if not lo <= value <= hi:
                raise invalid_form(path, "NUMBER_TYPE_MAX" if value > hi else "NUMBER_TYPE_MIN",
                                   f"Must be between {lo} and {hi}.")
    elif kind == OptionType.BOOLEAN:
        if not isinstance(value, bool):
            raise invalid_form(path, "BOOLEAN_TYPE_COERCE", "Must be a boolean.")
    elif kind in _SNOWFLAKE_TYPES:
        number = snowflake_value(value, path)
        value = str(number)
        if kind == OptionType.USER:
            targets.users.add(number)
        elif kind == OptionType.ROLE:
            targets.roles.add(number)
        elif kind == OptionType.MENTIONABLE:
            targets.mentionables.add(number)
        elif kind == OptionType.CHANNEL:
            targets.channels[number] = frozenset(spec.get("channel_types") or ())
        else:
            targets.attachments.add(number)
    choices = spec.get("choices")
    if choices and not focused and all(c["value"] != value for c in choices):
        raise invalid_form(path, "APPLICATION_COMMAND_OPTION_CHOICE_INVALID",
                           "Must be one of the option's choices.")
    return value
