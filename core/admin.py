"""The operator's actions (``discord-arch admin``): accounts, tokens, guilds, registration.

Each runs on a :class:`Platform` of the admin process itself, against the configured stores,
while the server may be running. What the workers must learn at once goes to them through the
relay (``core.relay``, within ``RELAY_POLL_S``): a revocation or a disabled account as
``TOKENS_REVOKED`` (every worker forgets the user's cached tokens and closes the user's gateway
sessions with 4004 Authentication failed), a deleted guild as GUILD_DELETE to its members.
Flags and settings need no message: the server reads them where it uses them (a login reads
``disabled``, every token lookup that reaches the store checks it, registration reads its
mode).

Each action logs one line (logger ``core.admin``, message ``admin ACTION``, the subject in
``extra``), never a password, a token or a registration code. Errors are :class:`AdminError`:
one line for the operator.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from core.accounts import PASSWORD_MAX, PASSWORD_MIN, validate_username
from core.errors import ApiError
from core.events import TOKENS_REVOKED, Event
from core.guilds import remove_guild
from core.instance import Registration, registration_mode, set_registration_mode
from core.models import Account, Guild, RegistrationCode, User
from core.platform import Platform
from core.relay import relay
from core.store.base import Conflict

__all__ = [
    "LIST_MAX",
    "AdminError",
    "create_registration_code",
    "create_user",
    "delete_guild",
    "find_account",
    "list_guilds",
    "list_registration_codes",
    "list_users",
    "registration",
    "reset_bot_token",
    "reset_password",
    "revoke_registration_code",
    "revoke_tokens",
    "set_disabled",
    "set_instance_admin",
    "set_registration",
]

logger = logging.getLogger(__name__)

# Rows one list command prints at most.
LIST_MAX = 1000
# Random bytes of a generated password (24 url-safe characters) and a registration code (16).
_PASSWORD_BYTES = 18
_CODE_BYTES = 12


class AdminError(Exception):
    """An action that cannot be done; the message is one line for the operator."""


# -- accounts ------------------------------------------------------------------------------------

async def find_account(p: Platform, name: str) -> Account:
    """The account named ``name`` (case-insensitive), or with that id when no account has
    that name and ``name`` is all digits (a bot's id is its application's).

    Raises:
        AdminError: no such account.
    """
    name = name.strip()
    account = await p.meta.find_account(name)
    # ASCII digits only: str.isdigit takes "²", which int() refuses (a traceback here).
    if account is None and name.isascii() and name.isdigit() and len(name) <= 20:
        account = await p.meta.get_account(int(name))
    if account is None:
        raise AdminError(f"no account named {name!r}")
    return account


async def create_user(
    p: Platform, name: str, password: str | None, *, admin: bool = False
) -> tuple[Account, str | None]:
    """Create a user account (whatever the registration mode).

    Args:
        password: the password; None to generate one.
        admin: mark it an instance administrator.

    Returns:
        The account, and the generated password (None when one was given): shown once,
        only its hash is kept.
    """
    username = _valid(validate_username, name)
    generated = None if password is not None else secrets.token_urlsafe(_PASSWORD_BYTES)
    secret = _password(password if password is not None else generated)
    user = User(id=p.ids.next(), username=username)
    try:
        await p.meta.create_user(user, await p.passwords.hash(secret))
    except Conflict:
        raise AdminError(f"the username {username!r} is taken") from None
    account = Account(user)
    if admin:
        account = await p.meta.set_account_flags(user.id, instance_admin=True) or account
    _log("create-user", account, instance_admin=account.instance_admin)
    return account, generated


async def reset_password(
    p: Platform, name: str, password: str | None
) -> tuple[Account, str | None, int]:
    """Give a user a new password and revoke every token of theirs.

    Returns:
        The account, the generated password (None when one was given), the tokens revoked.
    """
    account = await find_account(p, name)
    if account.user.bot:
        raise AdminError(f"{account.user.username!r} is a bot, which has no password: "
                         "use reset-bot-token")
    generated = None if password is not None else secrets.token_urlsafe(_PASSWORD_BYTES)
    hashed = await p.passwords.hash(_password(password if password is not None else generated))
    found = await p.meta.get_login(account.user.username)
    if found is None or found[0].id != account.user.id or not await p.meta.set_password_hash(
        account.user.id, hashed, expected=found[1]
    ):
        raise AdminError(f"the password of {account.user.username!r} changed meanwhile; "
                         "run the command again")
    revoked = await _revoke(p, account.user.id)
    _log("reset-password", account, tokens_revoked=revoked)
    return account, generated, revoked


async def set_disabled(p: Platform, name: str, disabled: bool) -> tuple[Account, int]:
    """Disable an account (no login; its tokens revoked, its sessions closed) or enable it
    again (it logs in anew: revoked tokens stay revoked).

    Returns:
        The account after, and the tokens revoked (0 when enabling).
    """
    account = await find_account(p, name)
    updated = await p.meta.set_account_flags(account.user.id, disabled=disabled)
    if updated is None:
        raise AdminError(f"no account named {name!r}")
    # Revoked after the flag is set: a login that read the flag before gets a token that
    # the store no longer resolves (MetaStore.resolve_token checks the flag).
    revoked = await _revoke(p, account.user.id) if disabled else 0
    _log("disable" if disabled else "enable", updated, tokens_revoked=revoked)
    return updated, revoked


async def revoke_tokens(p: Platform, name: str) -> tuple[Account, int]:
    """Revoke every token of a user or a bot, and close their gateway sessions."""
    account = await find_account(p, name)
    revoked = await _revoke(p, account.user.id)
    _log("revoke-tokens", account, tokens_revoked=revoked)
    return account, revoked


async def reset_bot_token(p: Platform, app_or_bot: str) -> tuple[Account, str, int]:
    """Revoke every token of a bot (by its application id or its username) and issue one.

    Returns:
        The bot's account, its new token (shown once: only its hash is kept), the tokens
        revoked.
    """
    account = await find_account(p, app_or_bot)
    if not account.user.bot:
        raise AdminError(f"{account.user.username!r} is not a bot: use revoke-tokens or "
                         "reset-password")
    revoked = await _revoke(p, account.user.id)
    token = await p.tokens.issue(account.user.id)
    _log("reset-bot-token", account, tokens_revoked=revoked)
    return account, token, revoked


async def set_instance_admin(p: Platform, name: str, admin: bool) -> Account:
    """Mark an account an instance administrator, or no longer."""
    account = await find_account(p, name)
    updated = await p.meta.set_account_flags(account.user.id, instance_admin=admin)
    if updated is None:
        raise AdminError(f"no account named {name!r}")
    _log("grant-admin" if admin else "revoke-admin", updated)
    return updated


async def list_users(p: Platform, after: int = 0, limit: int = 100) -> list[Account]:
    """Accounts (bots included) with id > ``after``, by id, at most ``limit``."""
    return await p.meta.list_accounts(after, _limit(limit))


async def _revoke(p: Platform, user_id: int) -> int:
    """Revoke ``user_id``'s tokens here and tell every worker (even with none revoked: a
    session outlives the token it identified with, e.g. after a logout)."""
    revoked = await p.tokens.revoke_user(user_id)
    await relay(p.meta, [Event(TOKENS_REVOKED, {"user_id": str(user_id)})], p.now_ms())
    return revoked


# -- guilds --------------------------------------------------------------------------------------

async def list_guilds(
    p: Platform, after: int = 0, limit: int = 100
) -> list[tuple[Guild, int]]:
    """Guilds with id > ``after``, by id, at most ``limit``, each with its member count."""
    guilds = await p.meta.list_guilds(after, _limit(limit))
    return [(g, await p.meta.count_members(g.id)) for g in guilds]


async def delete_guild(p: Platform, guild_id: int) -> Guild:
    """Delete a guild as its owner's ``DELETE /guilds/{id}`` does: its channels, roles,
    members, invites and history; its members' clients get GUILD_DELETE."""
    guild = await p.meta.get_guild(guild_id)
    if guild is None:
        raise AdminError(f"no guild with id {guild_id}")
    # GUILD_DELETE is relayed while the history is deleted (as the REST path publishes it
    # before), not after: clients should not wait for a large history to go.
    sent: list[asyncio.Task[int]] = []
    now = p.now_ms()
    if not await remove_guild(
        p, guild_id, lambda e: sent.append(asyncio.create_task(relay(p.meta, [e], now)))
    ):
        raise AdminError(f"no guild with id {guild_id}")
    await asyncio.gather(*sent)
    _log("delete-guild", None, guild_id=guild_id, guild_name=guild.name,
         owner_id=guild.owner_id)
    return guild


# -- registration --------------------------------------------------------------------------------

async def registration(p: Platform) -> Registration:
    return await registration_mode(p.meta)


async def set_registration(p: Platform, mode: str) -> Registration:
    """Set who may register: ``open``, ``closed`` or ``invite-only``."""
    try:
        chosen = Registration(mode)
    except ValueError:
        raise AdminError(f"unknown registration mode {mode!r} (open, closed, invite-only)"
                         ) from None
    await set_registration_mode(p.meta, chosen)
    _log("registration", None, mode=chosen.value)
    return chosen


async def create_registration_code(p: Platform, uses: int = 1) -> RegistrationCode:
    """A new registration code allowing ``uses`` registrations (0: any number)."""
    if uses < 0:
        raise AdminError("--uses must be 0 (no limit) or more")
    code = RegistrationCode(secrets.token_urlsafe(_CODE_BYTES), p.now_ms(), max_uses=uses)
    await p.meta.create_registration_code(code)
    _log("registration-code-create", None, max_uses=uses)
    return code


async def list_registration_codes(p: Platform) -> list[RegistrationCode]:
    return await p.meta.list_registration_codes()


async def revoke_registration_code(p: Platform, code: str) -> None:
    if not await p.meta.delete_registration_code(code):
        raise AdminError("no such registration code")
    _log("registration-code-revoke", None)


# -- helpers -------------------------------------------------------------------------------------

def _valid(check: Any, value: str) -> str:
    """``check(value)``, its 50035 error turned into the operator's one line."""
    try:
        return str(check(value))
    except ApiError as e:
        raise AdminError(_form_message(e)) from None


def _password(value: str | None) -> str:
    if value is None or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise AdminError(f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return value


def _form_message(e: ApiError) -> str:
    """The first field error of a 50035 as ``field: message``."""
    node: Any = e.errors or {}
    path = []
    while isinstance(node, dict) and "_errors" not in node and node:
        key = next(iter(node))
        path.append(key)
        node = node[key]
    if isinstance(node, dict) and node.get("_errors"):
        return f"{'.'.join(path)}: {node['_errors'][0]['message']}"
    return e.message


def _limit(limit: int) -> int:
    if not 1 <= limit <= LIST_MAX:
        raise AdminError(f"--limit must be 1 to {LIST_MAX}")
    return limit


def _log(action: str, account: Account | None, **fields: Any) -> None:
    subject: dict[str, Any] = {}
    if account is not None:
        subject = {"user_id": account.user.id, "username": account.user.username,
                   "bot": account.user.bot}
    logger.info("admin %s", action, extra={"action": action, **subject, **fields})
