"""Application commands: an application's global and guild commands, managed by its own bot.

Discord's rules, followed here ("Application Commands"):

- Only the application's own bot token manages its commands (a bot's user id is its
  application's id): any other account is 403 50001 Missing Access, as is the bot for a guild
  it is not in. An unknown command is 404 10063.
- Creating (POST) a command with the name and type of an existing one of the same scope
  replaces that one's definition and keeps its id (200, else 201). Each scope (the
  application's global commands, or those of one guild) holds at most
  :data:`MAX_BY_TYPE` commands of each type (100 chat input, 15 user, 15 message; 30032).
- A bulk overwrite (PUT) makes the given list the scope's whole set, in one store
  transaction: a command keeps its id when one of its name and type existed (what discord.py's
  ``tree.sync()`` and discord.js's ``rest.put(Routes.applicationCommands(...))`` rely on to keep
  permissions and ids stable), the others are deleted. Names must be unique per type.
- Every change makes a new ``version`` (a snowflake).

Definitions are validated by :mod:`core.command_form` (50035 with field paths).

A member's client lists what it can run with ``GET /guilds/{guild_id}/application-command-index``
(Discord's own client route; ``/applications/.../commands`` is the bot's alone):
:func:`guild_index` gives the applications whose bot is in the guild, with their guild and
global commands a member of the guild may use there (``contexts``, when given, include guild;
``default_member_permissions`` held in the guild, as ``core.interactions`` checks them).
"""

from __future__ import annotations

import json
from typing import Any

from core.access import guild_view
from core.command_form import CHAT_INPUT, MESSAGE, USER, at, parse_command
from core.errors import ApiError, invalid_form
from core.models import ApplicationCommand, User
from core.platform import Platform
from core.store.base import Conflict, LimitReached

__all__ = [
    "MAX_BY_TYPE",
    "UNKNOWN_COMMAND",
    "command_json",
    "create",
    "delete",
    "get",
    "guild_index",
    "list_commands",
    "overwrite",
    "unknown_command",
    "update",
]

Json = dict[str, Any]

MAX_BY_TYPE = {CHAT_INPUT: 100, USER: 15, MESSAGE: 15}
# The most commands one scope can hold: every list read is bounded by it.
_SCOPE_MAX = sum(MAX_BY_TYPE.values())
UNKNOWN_COMMAND = 10063
_MAX_COMMANDS = 30032
# The command index finds a guild's bots among its first this many members (by user id), read
# a page at a time: a bound on the work one index costs, whatever the guild's size.
INDEX_MEMBERS_MAX = 10_000
_MEMBERS_PAGE = 1000
# contexts: 0 GUILD (Discord's interaction context types).
_GUILD_CONTEXT = 0


def unknown_command() -> ApiError:
    return ApiError(404, UNKNOWN_COMMAND, "Unknown application command")


def _too_many(kind: int) -> ApiError:
    return ApiError(400, _MAX_COMMANDS,
                    f"Maximum number of application commands reached ({MAX_BY_TYPE[kind]})")


def command_json(c: ApplicationCommand) -> Json:
    """The command object as Discord sends it (ids as strings, ``guild_id`` only for a guild's)."""
    out: Json = {
        "id": str(c.id),
        "application_id": str(c.application_id),
        "version": str(c.version),
        "type": c.type,
        "name": c.name,
        **json.loads(c.definition),
    }
    if c.guild_id is not None:
        out["guild_id"] = str(c.guild_id)
    return out


async def _authorize(p: Platform, user: User, application_id: int, guild_id: int | None) -> None:
    """The caller is the application's bot, and in the guild when one is named.

    Raises:
        ApiError: 403 50001 for anyone else; 404 10004 for an unknown guild.
    """
    if not user.bot or user.id != application_id:
        raise ApiError.missing_access()
    if guild_id is not None:
        await guild_view(p.meta, guild_id, user.id)


def _record(p: Platform, application_id: int, guild_id: int | None, body: Any,
            command_id: int | None = None) -> ApplicationCommand:
    kind, name, definition = parse_command(body)
    version = p.ids.next()
    return ApplicationCommand(
        id=version if command_id is None else command_id, application_id=application_id,
        guild_id=guild_id, type=kind, name=name, version=version,
        definition=json.dumps(definition, separators=(",", ":"), ensure_ascii=False),
    )


async def list_commands(
    p: Platform, user: User, application_id: int, guild_id: int | None
) -> list[Json]:
    """``GET /applications/{app}/commands`` (or a guild's): the scope's commands by id."""
    await _authorize(p, user, application_id, guild_id)
    found = await p.meta.list_commands(application_id, guild_id, _SCOPE_MAX)
    return [command_json(c) for c in found]


async def get(
    p: Platform, user: User, application_id: int, guild_id: int | None, command_id: int
) -> Json:
    await _authorize(p, user, application_id, guild_id)
    found = await p.meta.get_command(application_id, guild_id, command_id)
    if found is None:
        raise unknown_command()
    return command_json(found)


async def create(
    p: Platform, user: User, application_id: int, guild_id: int | None, body: Any
) -> tuple[Json, bool]:
    """``POST``: the command and whether it is new (201) or replaced one by name (200).

    Raises:
        ApiError: as ``_authorize``; 50035; 30032 past the scope's limit for the type.
    """
    await _authorize(p, user, application_id, guild_id)
    command = _record(p, application_id, guild_id, body)
    try:
        stored = await p.meta.upsert_command(command, MAX_BY_TYPE[command.type])
    except LimitReached:
        raise _too_many(command.type) from None
    if stored is None:
        raise ApiError.unknown("guild")
    return command_json(stored[0]), stored[1]


async def update(
    p: Platform, user: User, application_id: int, guild_id: int | None, command_id: int,
    body: Any,
) -> Json:
    """``PATCH``: the fields given replace the command's; the type never changes.

    Raises:
        ApiError: as ``_authorize``; 404 10063; 50035 (a name taken by another of its type:
            ``name`` APPLICATION_COMMAND_ALREADY_EXISTS).
    """
    await _authorize(p, user, application_id, guild_id)
    if not isinstance(body, dict):
        raise invalid_form("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used")
    current = await p.meta.get_command(application_id, guild_id, command_id)
    if current is None:
        raise unknown_command()
    merged = {"name": current.name, **json.loads(current.definition), **body,
              "type": current.type}
    command = _record(p, application_id, guild_id, merged, command_id)
    try:
        stored = await p.meta.update_command(command)
    except Conflict:
        raise invalid_form("name", "APPLICATION_COMMAND_ALREADY_EXISTS",
                           "Application command with that name already exists") from None
    if stored is None:
        raise unknown_command()
    return command_json(stored)


async def delete(
    p: Platform, user: User, application_id: int, guild_id: int | None, command_id: int
) -> None:
    await _authorize(p, user, application_id, guild_id)
    if not await p.meta.delete_command(application_id, guild_id, command_id):
        raise unknown_command()


async def overwrite(
    p: Platform, user: User, application_id: int, guild_id: int | None, body: Any
) -> list[Json]:
    """``PUT``: the list becomes the scope's whole set (see the module docstring).

    Raises:
        ApiError: as ``_authorize``; 50035 (a bad definition at ``{i}.field``, a name twice
            for one type); 30032 with more than the scope's limit of a type.
    """
    await _authorize(p, user, application_id, guild_id)
    if not isinstance(body, list):
        raise invalid_form("_root", "BASE_TYPE_LIST", "Must be a list.")
    if len(body) > _SCOPE_MAX:
        raise invalid_form("_root", "BASE_TYPE_MAX_LENGTH",
                           f"Must be {_SCOPE_MAX} or fewer in length.")
    commands: list[ApplicationCommand] = []
    seen: set[tuple[int, str]] = set()
    counts = dict.fromkeys(MAX_BY_TYPE, 0)
    for i, item in enumerate(body):
        with at(str(i)):
            command = _record(p, application_id, guild_id, item)
            if (command.type, command.name) in seen:
                raise invalid_form("name", "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                   "Application command names must be unique")
        seen.add((command.type, command.name))
        counts[command.type] += 1
        if counts[command.type] > MAX_BY_TYPE[command.type]:
            raise _too_many(command.type)
        commands.append(command)
    stored = await p.meta.replace_commands(application_id, guild_id, commands)
    if stored is None:
        raise ApiError.unknown("guild")
    return [command_json(c) for c in stored]



async def guild_index(p: Platform, user: User, guild_id: int) -> Json:
    """``GET /guilds/{guild_id}/application-command-index``: ``applications`` (those with a
    command the caller may use here), ``application_commands`` and ``version`` (the newest
    command version among them, "0" with none).

    Raises:
        ApiError: 404 Unknown Guild; 403 Missing Access when the caller is not a member.
    """
    view = await guild_view(p.meta, guild_id, user.id)
    applications: list[Json] = []
    commands: list[ApplicationCommand] = []
    for bot in await _guild_bots(p, guild_id):
        app = await p.meta.get_application(bot.id)
        if app is None:
            continue
        found = [*await p.meta.list_commands(app.id, guild_id, _SCOPE_MAX),
                 *await p.meta.list_commands(app.id, None, _SCOPE_MAX)]
        usable = [c for c in found if _usable(json.loads(c.definition), view.permissions)]
        if not usable:
            continue
        applications.append({"id": str(app.id), "name": app.name, "icon": app.icon,
                             "description": app.description, "bot_id": str(bot.id)})
        commands.extend(usable)
    version = max((c.version for c in commands), default=0)
    return {"applications": applications,
            "application_commands": [command_json(c) for c in commands],
            "version": str(version)}


async def _guild_bots(p: Platform, guild_id: int) -> list[User]:
    """The bot accounts among the guild's first :data:`INDEX_MEMBERS_MAX` members."""
    bots: list[User] = []
    after = 0
    for _ in range(INDEX_MEMBERS_MAX // _MEMBERS_PAGE):
        members = await p.meta.list_members(guild_id, after=after, limit=_MEMBERS_PAGE)
        if not members:
            break
        users = await p.meta.get_users([m.user_id for m in members])
        bots.extend(u for u in users.values() if u.bot)
        if len(members) < _MEMBERS_PAGE:
            break
        after = members[-1].user_id
    return sorted(bots, key=lambda u: u.id)


def _usable(definition: Json, permissions: int) -> bool:
    """Whether a member holding ``permissions`` in the guild may run a command there."""
    contexts = definition.get("contexts")
    if contexts is not None and _GUILD_CONTEXT not in contexts:
        return False
    needed = definition.get("default_member_permissions")
    return needed is None or int(needed) & permissions == int(needed)
