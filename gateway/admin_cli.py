"""``discord-arch admin ACTION``: the operator's command line over ``core.admin``.

It opens the configured stores as the server does (the same ``--config``, ``--data-dir``,
``--postgres-url``, ``--mongo-url``, ``--redis-url`` and ``DISCORD_ARCH_*`` environment), runs
one action and prints its result for people, or as JSON with ``--json``. It is another
process than the server's: what the workers must learn at once reaches them through the relay
(``core.relay``), so it works while the server runs, whatever the deployment. Every failure is
one line ``discord-arch: error: ...`` on stderr and status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from core import admin
from core.config import Config
from core.models import Account, Guild, RegistrationCode
from core.platform import Platform
from core.snowflake import SnowflakeGenerator
from core.store.base import StoreUnavailable

__all__ = ["ARGUMENTS", "COMMAND", "add_commands", "admin_ids", "run"]

COMMAND = "admin"
# The parsed arguments of ``admin`` that are not config settings.
ARGUMENTS = ("action", "name", "password_stdin", "instance_admin", "json", "limit", "after",
             "guild_id", "mode", "uses", "code_action", "code")
_STORE_OPTIONS = (
    ("--data-dir", "embedded SQLite directory (default ./data)"),
    ("--postgres-url", "PostgreSQL DSN for metadata"),
    ("--mongo-url", "MongoDB URL for message history"),
    ("--redis-url", "Redis URL (the shared token cache)"),
)

_Action = Callable[[Platform, argparse.Namespace], Coroutine[Any, Any, "Result"]]


def add_commands(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                 config_help: str) -> None:
    """Add ``admin`` and its actions to the CLI's sub-commands."""
    parser = sub.add_parser(
        COMMAND, help="operate the instance: accounts, tokens, guilds, registration",
        description="Operate the instance while it runs (docs/operations.md, 'The admin "
                    "command'). Each action is logged as one line on stderr.")
    _options(parser, config_help, argparse.SUPPRESS, None)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str,
               positional: tuple[str, str, str] | None = None) -> argparse.ArgumentParser:
        """An action; ``positional``: its one argument's (dest, metavar, help)."""
        p: argparse.ArgumentParser = actions.add_parser(name, help=help_text,
                                                        description=help_text)
        if positional is not None:
            p.add_argument(positional[0], metavar=positional[1], help=positional[2])
        # Accepted after the action too (where people put them); SUPPRESS: not given there,
        # they leave what was given before the action alone.
        _options(p, config_help, argparse.SUPPRESS, argparse.SUPPRESS)
        return p

    user = ("name", "NAME", "the username (or, if no account has that name, the id)")

    stdin_help = "read the password from the first line of stdin (default: generate one, " \
                 "printed once)"
    create = action("create-user", "create a user account (whatever the registration mode)",
                    user)
    create.add_argument("--password-stdin", action="store_true", help=stdin_help)
    create.add_argument("--admin", dest="instance_admin", action="store_true",
                        help="mark it an instance administrator")
    reset = action("reset-password", "set a new password; revokes the user's tokens", user)
    reset.add_argument("--password-stdin", action="store_true", help=stdin_help)
    action("disable", "no login, tokens revoked, gateway sessions closed (4004)", user)
    action("enable", "allow a disabled account to log in again", user)
    action("revoke-tokens", "revoke every token of a user or a bot; closes its sessions",
           user)
    action("reset-bot-token", "revoke a bot's tokens and print a new one (shown once)",
           ("name", "APP_OR_BOT", "the application id, or the bot's username"))
    action("grant-admin", "mark an account an instance administrator", user)
    action("revoke-admin", "no longer an instance administrator", user)
    action("show-user", "an account and its flags", user)
    for name, what in (("list-users", "accounts (bots included)"), ("list-guilds", "guilds")):
        lister = action(name, f"list the {what}, by id")
        lister.add_argument("--limit", type=int, default=100,
                            help=f"at most this many (1-{admin.LIST_MAX}, default 100)")
        lister.add_argument("--after", type=int, default=0, help="only ids above this one")
    action("delete-guild", "delete a guild, its channels, members and messages",
           ("guild_id", "ID", "the guild's id"))
    mode = action("registration", "show, or set, who may register (POST /auth/register)")
    mode.add_argument("mode", nargs="?", choices=("open", "closed", "invite-only"),
                      help="open (default), closed, or invite-only (a registration code)")
    codes = action("registration-code", "the codes invite-only registration asks for")
    code_actions = codes.add_subparsers(dest="code_action", required=True,
                                        metavar="create|list|revoke")
    made = code_actions.add_parser("create", help="a new code (printed)")
    made.add_argument("--uses", type=int, default=1,
                      help="registrations it allows (default 1; 0: no limit)")
    code_actions.add_parser("list", help="every code and its uses")
    revoke = code_actions.add_parser("revoke", help="delete a code")
    revoke.add_argument("code", metavar="CODE")
    for p in (made, revoke, code_actions.choices["list"]):
        _options(p, config_help, argparse.SUPPRESS, argparse.SUPPRESS)


def _options(p: argparse.ArgumentParser, config_help: str, config_default: Any,
             default: Any) -> None:
    p.add_argument("--config", default=config_default, help=config_help)
    for flag, help_text in _STORE_OPTIONS:
        p.add_argument(flag, default=default, help=help_text)
    p.add_argument("--json", action="store_true",
                   default=argparse.SUPPRESS if default is argparse.SUPPRESS else False,
                   help="print JSON (for scripts) instead of text")


def run(args: argparse.Namespace, config: Config) -> int:
    """Run the parsed ``admin`` action; its exit status."""
    try:
        # Read before any store is opened: a script piping it in is not kept waiting.
        args.password = _password() if getattr(args, "password_stdin", False) else None
        result = asyncio.run(_run(_ACTIONS[args.action], args, config))
    except (admin.AdminError, StoreUnavailable) as e:
        print(f"discord-arch: error: {e}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(result.data, indent=2))
    else:
        print("\n".join(result.lines))
    return 0


async def _run(act: _Action, args: argparse.Namespace, config: Config) -> Result:
    platform = await Platform.open(config, ids=admin_ids(config))
    try:
        return await act(platform, args)
    finally:
        await platform.aclose()


def admin_ids(config: Config) -> SnowflakeGenerator:
    """The admin process's snowflakes: the tools' worker bits, which no server worker has,
    and this host's node id, so an id made here never equals one a running worker (or an
    admin command on another host) makes in the same millisecond (core.snowflake)."""
    return SnowflakeGenerator.for_tool(config.node_id)


def _password() -> str:
    line = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not line:
        raise admin.AdminError("--password-stdin: no password on stdin")
    return line


# -- the actions: each returns a Result -------------------------------------------------------

class Result:
    """What an action prints: ``lines`` for people, ``data`` for ``--json``."""

    def __init__(self, lines: list[str], data: Any) -> None:
        self.lines = lines
        self.data = data


def account_json(a: Account) -> dict[str, Any]:
    return {"id": str(a.user.id), "username": a.user.username, "bot": a.user.bot,
            "disabled": a.disabled, "instance_admin": a.instance_admin}


def _flags(a: Account) -> str:
    flags = [f for f, on in (("bot", a.user.bot), ("admin", a.instance_admin),
                             ("disabled", a.disabled)) if on]
    return ",".join(flags) or "-"


def _who(a: Account) -> str:
    return f"{a.user.username} (id {a.user.id})"


async def _create_user(p: Platform, args: argparse.Namespace) -> Result:
    account, generated = await admin.create_user(p, args.name, args.password,
                                                 admin=args.instance_admin)
    lines = [f"created {_who(account)}" + (", instance admin" if account.instance_admin else "")]
    data = account_json(account)
    if generated is not None:
        lines.append(f"password: {generated}  (shown once: only its hash is kept)")
        data["password"] = generated
    return Result(lines, data)


async def _reset_password(p: Platform, args: argparse.Namespace) -> Result:
    account, generated, revoked = await admin.reset_password(p, args.name, args.password)
    lines = [f"new password for {_who(account)}; {revoked} token(s) revoked, "
             "gateway sessions closed"]
    data: dict[str, Any] = {**account_json(account), "tokens_revoked": revoked}
    if generated is not None:
        lines.append(f"password: {generated}  (shown once: only its hash is kept)")
        data["password"] = generated
    return Result(lines, data)


async def _disable(p: Platform, args: argparse.Namespace) -> Result:
    account, revoked = await admin.set_disabled(p, args.name, True)
    return Result([f"disabled {_who(account)}; {revoked} token(s) revoked, gateway sessions "
                   "closed"], {**account_json(account), "tokens_revoked": revoked})


async def _enable(p: Platform, args: argparse.Namespace) -> Result:
    account, _ = await admin.set_disabled(p, args.name, False)
    return Result([f"enabled {_who(account)}: it may log in again"], account_json(account))


async def _revoke_tokens(p: Platform, args: argparse.Namespace) -> Result:
    account, revoked = await admin.revoke_tokens(p, args.name)
    return Result([f"{revoked} token(s) of {_who(account)} revoked, gateway sessions closed"],
                  {**account_json(account), "tokens_revoked": revoked})


async def _reset_bot_token(p: Platform, args: argparse.Namespace) -> Result:
    account, token, revoked = await admin.reset_bot_token(p, args.name)
    return Result([f"{revoked} token(s) of bot {_who(account)} revoked, gateway sessions "
                   "closed; its new token (shown once):", token],
                  {**account_json(account), "tokens_revoked": revoked, "token": token})


async def _grant_admin(p: Platform, args: argparse.Namespace) -> Result:
    account = await admin.set_instance_admin(p, args.name, True)
    return Result([f"{_who(account)} is an instance admin"], account_json(account))


async def _revoke_admin(p: Platform, args: argparse.Namespace) -> Result:
    account = await admin.set_instance_admin(p, args.name, False)
    return Result([f"{_who(account)} is no longer an instance admin"], account_json(account))


async def _show_user(p: Platform, args: argparse.Namespace) -> Result:
    account = await admin.find_account(p, args.name)
    return Result([f"{_who(account)}  flags: {_flags(account)}"], account_json(account))


async def _list_users(p: Platform, args: argparse.Namespace) -> Result:
    accounts = await admin.list_users(p, args.after, args.limit)
    lines = [f"{'ID':<20} {'FLAGS':<18} USERNAME"]
    lines += [f"{a.user.id:<20} {_flags(a):<18} {a.user.username}" for a in accounts]
    return Result(lines, [account_json(a) for a in accounts])


def guild_json(g: Guild, members: int) -> dict[str, Any]:
    return {"id": str(g.id), "name": g.name, "owner_id": str(g.owner_id), "members": members}


async def _list_guilds(p: Platform, args: argparse.Namespace) -> Result:
    guilds = await admin.list_guilds(p, args.after, args.limit)
    lines = [f"{'ID':<20} {'OWNER':<20} {'MEMBERS':>7}  NAME"]
    lines += [f"{g.id:<20} {g.owner_id:<20} {n:>7}  {g.name}" for g, n in guilds]
    return Result(lines, [guild_json(g, n) for g, n in guilds])


async def _delete_guild(p: Platform, args: argparse.Namespace) -> Result:
    try:
        guild_id = int(args.guild_id)
    except ValueError:
        raise admin.AdminError(f"not a guild id: {args.guild_id!r}") from None
    guild = await admin.delete_guild(p, guild_id)
    return Result([f"deleted guild {guild.name!r} (id {guild.id}) with its channels, members "
                   "and messages"], {"id": str(guild.id), "name": guild.name, "deleted": True})


async def _registration(p: Platform, args: argparse.Namespace) -> Result:
    if args.mode is None:
        mode = await admin.registration(p)
        return Result([f"registration: {mode.value}"], {"registration": mode.value})
    mode = await admin.set_registration(p, args.mode)
    return Result([f"registration is now {mode.value}"], {"registration": mode.value})


def code_json(c: RegistrationCode) -> dict[str, Any]:
    return {"code": c.code, "created_at": c.created_at, "max_uses": c.max_uses, "uses": c.uses}


async def _registration_code(p: Platform, args: argparse.Namespace) -> Result:
    if args.code_action == "create":
        code = await admin.create_registration_code(p, args.uses)
        limit = "no limit" if code.max_uses == 0 else f"{code.max_uses} use(s)"
        return Result([f"registration code ({limit}):", code.code], code_json(code))
    if args.code_action == "list":
        codes = await admin.list_registration_codes(p)
        lines = [f"{'CODE':<24} USES"]
        lines += [f"{c.code:<24} {c.uses}/{c.max_uses or 'unlimited'}" for c in codes]
        return Result(lines, [code_json(c) for c in codes])
    await admin.revoke_registration_code(p, args.code)
    return Result(["registration code revoked"], {"code": args.code, "revoked": True})


_ACTIONS: dict[str, _Action] = {
    "create-user": _create_user,
    "reset-password": _reset_password,
    "disable": _disable,
    "enable": _enable,
    "revoke-tokens": _revoke_tokens,
    "reset-bot-token": _reset_bot_token,
    "grant-admin": _grant_admin,
    "revoke-admin": _revoke_admin,
    "show-user": _show_user,
    "list-users": _list_users,
    "list-guilds": _list_guilds,
    "delete-guild": _delete_guild,
    "registration": _registration,
    "registration-code": _registration_code,
}
