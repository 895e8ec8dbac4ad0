"""Accounts: registration, login, profiles and bot applications."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from core.assets import is_data_uri, store_image
from core.errors import ApiError, ErrorCode, invalid_form
from core.events import Event
from core.instance import Registration, registration_mode
from core.models import Application, User
from core.platform import Platform
from core.store.base import Conflict
from core.wire import user_json

__all__ = [
    "avatar_hash",
    "bot_username",
    "create_application",
    "edit_me",
    "login",
    "register",
    "update_profile",
    "validate_username",
]

# Discord's username rules: 2-32 chars of lowercase letters, digits, "_" and ".", no "..".
_USERNAME = re.compile(r"^(?!.*\.\.)[a-z0-9_.]{2,32}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
# Login attempts per username per minute, shared by all workers.
LOGIN_ATTEMPTS_PER_MIN = 10


def validate_username(value: Any, field: str = "username") -> str:
    if not isinstance(value, str):
        raise invalid_form(field, "BASE_TYPE_REQUIRED", "This field is required")
    name = value.strip().lower()
    if not _USERNAME.match(name):
        raise invalid_form(
            field, "USERNAME_INVALID_CHARACTERS",
            "Username must be 2-32 characters of letters, numbers, '_' and '.' (no '..').",
        )
    return name


def _validate_password(value: Any, field: str = "password") -> str:
    if not isinstance(value, str):
        raise invalid_form(field, "BASE_TYPE_REQUIRED", "This field is required")
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise invalid_form(
            field, "PASSWORD_LENGTH",
            f"Must be between {PASSWORD_MIN} and {PASSWORD_MAX} in length.",
        )
    return value


async def register(
    p: Platform, username: Any, password: Any, registration_code: Any = None
) -> tuple[str, User]:
    """Create a user account and its first token, as the instance's registration mode allows
    (``core.instance``: open, closed, or invite-only with a ``registration_code``).

    Raises:
        ApiError: 403 when registration is closed; 50035 for a bad or taken username, a bad
            password, or (invite-only) a missing, unknown or used-up registration code.
    """
    mode = await registration_mode(p.meta)
    if mode is Registration.CLOSED:
        raise ApiError(403, ErrorCode.GENERAL, "Registration is closed on this instance.")
    name = validate_username(username)
    secret = _validate_password(password)
    if mode is Registration.INVITE_ONLY and (
        not isinstance(registration_code, str) or not registration_code
    ):
        raise invalid_form("registration_code", "BASE_TYPE_REQUIRED",
                           "This instance needs a registration code to register.")
    user = User(id=p.ids.next(), username=name, global_name=None)
    hashed = await p.passwords.hash(secret)
    try:
        if mode is Registration.INVITE_ONLY:
            # The code's use and the account are one transaction: a taken name uses nothing.
            if not await p.meta.create_user_with_code(user, hashed, str(registration_code)):
                raise invalid_form("registration_code", "REGISTRATION_CODE_INVALID",
                                   "Unknown or used up registration code.")
        else:
            await p.meta.create_user(user, hashed)
    except Conflict:
        raise invalid_form(
            "username", "USERNAME_ALREADY_TAKEN", "Username is unavailable. Try another."
        ) from None
    return await p.tokens.issue(user.id), user


async def login(p: Platform, login_name: Any, password: Any) -> tuple[str, int]:
    """Check a username and password and issue a token.

    Raises:
        ApiError: 50035 ``INVALID_LOGIN`` (Discord's answer for a wrong login or password),
            403 20013 for a disabled account (only once the password matched, so it tells
            nothing to a guesser), 429 when the username is being guessed at.
    """
    if not isinstance(login_name, str) or not isinstance(password, str):
        raise invalid_form("login", "BASE_TYPE_REQUIRED", "This field is required")
    name = login_name.strip().lower()
    ok, _, reset_ms = await p.cache.rate_hit(f"login:{name}", LOGIN_ATTEMPTS_PER_MIN, 60_000)
    if not ok:
        raise ApiError(429, 0, f"Too many login attempts; retry in {reset_ms // 1000 + 1} s.")
    found = await p.meta.get_login(name)
    valid = await p.passwords.verify(found[1] if found else None, password[:PASSWORD_MAX])
    if found is None or not valid:
        raise invalid_form("login", "INVALID_LOGIN", "Login or password is invalid.")
    user, stored = found
    account = await p.meta.get_account(user.id)
    if account is not None and account.disabled:
        raise ApiError(403, ErrorCode.ACCOUNT_DISABLED, "This account is disabled")
    if p.passwords.needs_rehash(stored):
        # The config's Argon2 parameters were raised since this hash was made; the password
        # is at hand only now. Compare-and-set: a password changed meanwhile is kept.
        upgraded = await p.passwords.hash(password[:PASSWORD_MAX])
        await p.meta.set_password_hash(user.id, upgraded, expected=stored)
    return await p.tokens.issue(user.id), user.id




def avatar_hash(avatar: Any) -> str | None:
    """``avatar``: null, a hash, or image data as a data URI (Discord's upload format, what
    discord.py's ``ClientUser.edit(avatar=...)`` sends), kept as its MD5 like a guild icon.
    A user's avatar image is also stored (``core.assets``, in :func:`update_profile`), and a
    webhook's (``core.webhooks``)."""
    if avatar is None:
        return None
    if isinstance(avatar, str) and avatar.startswith("data:image/"):
        return hashlib.md5(avatar.encode(), usedforsecurity=False).hexdigest()
    if isinstance(avatar, str) and len(avatar) <= 64:
        return avatar
    raise invalid_form("avatar", "BASE_TYPE_BAD_LENGTH", "Must be an avatar hash or null.")


async def update_profile(p: Platform, user: User, body: dict[str, Any]) -> User:
    """``PATCH /users/@me``: ``username``, ``global_name`` (1-32 chars or null), ``avatar``."""
    fields: dict[str, Any] = {}
    if "username" in body:
        fields["username"] = validate_username(body["username"])
    if "global_name" in body:
        gname = body["global_name"]
        if gname is not None and (not isinstance(gname, str) or not 1 <= len(gname) <= 32):
            raise invalid_form("global_name", "BASE_TYPE_BAD_LENGTH",
                               "Must be between 1 and 32 in length.")
        fields["global_name"] = gname
    if "avatar" in body:
        avatar = body["avatar"]
        fields["avatar"] = (await store_image(p, "avatars", user.id, avatar, "avatar")
                            if is_data_uri(avatar) else avatar_hash(avatar))
    if not fields:
        return user
    try:
        updated = await p.meta.update_user(user.id, fields)
    except Conflict:
        raise invalid_form(
            "username", "USERNAME_ALREADY_TAKEN", "Username is unavailable. Try another."
        ) from None
    if updated is None:
        raise ApiError.unknown("user")
    p.tokens.forget_user(updated.id)
    p.publish(Event("USER_UPDATE", user_json(updated, me=True), user_ids=(updated.id,)))
    return updated


async def edit_me(
    p: Platform, user: User, token: str, body: dict[str, Any]
) -> tuple[User, str | None]:
    """``PATCH /users/@me``: the profile fields and, with ``new_password``, a password change
    (``password`` is the current one: what discord.py's ``ClientUser.edit(password=...,
    new_password=...)`` sends).

    The current password is checked before anything changes and the new one stored only once
    the profile update went through, so a rejected request changes nothing. A change revokes
    every other token of the user; ``token`` (the request's) keeps working and is returned as
    the answer's ``token``, where Discord puts the token to use from now on.

    Returns:
        The user, and ``token`` when the password was changed (else None).

    Raises:
        ApiError: 50035 on ``new_password`` (like registration's rules) or on ``password``
            (``PASSWORD_DOES_NOT_MATCH``), 429 when the password is being guessed at.
    """
    if "new_password" not in body:
        return await update_profile(p, user, body), None
    new_secret = _validate_password(body["new_password"], "new_password")
    stored = await _check_current_password(p, user, body.get("password"))
    updated = await update_profile(p, user, body)
    hashed = await p.passwords.hash(new_secret)
    if not await p.meta.set_password_hash(user.id, hashed, expected=stored):
        # Another request changed the password since it was checked: it wins.
        raise _password_mismatch()
    # At once on this worker, and on every other within the relay's poll (TokenAuth._retire).
    await p.tokens.revoke_others(user.id, keep=token)
    return updated, token


async def _check_current_password(p: Platform, user: User, password: Any) -> str:
    """The stored hash, once ``password`` is shown to match it. Attempts are limited per user
    like logins per name: a stolen token must not become a way to guess the password."""
    if not isinstance(password, str):
        raise invalid_form("password", "BASE_TYPE_REQUIRED", "This field is required")
    ok, _, reset_ms = await p.cache.rate_hit(
        f"password:{user.id}", LOGIN_ATTEMPTS_PER_MIN, 60_000
    )
    if not ok:
        raise ApiError(429, 0, f"Too many password attempts; retry in {reset_ms // 1000 + 1} s.")
    # By the fresh record's name: the request's may be a cached one, stale by a rename.
    fresh = await p.meta.get_user(user.id)
    found = await p.meta.get_login(fresh.username) if fresh is not None else None
    stored = found[1] if found is not None and found[0].id == user.id else None
    if stored is None or not await p.passwords.verify(stored, password[:PASSWORD_MAX]):
        raise _password_mismatch()
    return stored


def _password_mismatch() -> ApiError:
    return invalid_form("password", "PASSWORD_DOES_NOT_MATCH", "Password does not match.")


async def create_application(
    p: Platform, owner: User, name: Any, description: Any = ""
) -> tuple[Application, User, str]:
    """Create an application with its bot user and return the bot's token (shown once).

    The bot's username is :func:`bot_username`'s, which no other account can hold: a name
    the owner did not choose never makes this fail.

    Raises:
        ApiError: 50035 for a bad name; 20001 when a bot tries to create one.
    """
    if owner.bot:
        raise ApiError(403, 20001, "Bots cannot use this endpoint")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 32:
        raise invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    if not isinstance(description, str) or len(description) > 400:
        raise invalid_form("description", "BASE_TYPE_BAD_LENGTH",
                           "Must be between 0 and 400 in length.")
    app_id = p.ids.next()
    app = Application(
        id=app_id, name=name.strip(), owner_id=owner.id, description=description,
        verify_key=secrets.token_hex(32),
    )
    bot = User(id=app_id, username=bot_username(name, app_id), global_name=name.strip(),
               bot=True)
    await p.meta.create_application(app, bot)
    return app, bot, await p.tokens.issue(bot.id)


# 12 + "-" + the 19 digits of the largest snowflake: 32, the longest username.
_BOT_BASE_MAX = 12


def bot_username(name: str, app_id: int) -> str:
    """A bot's username: its application's name in lowercase letters, digits and "_" (at most
    12), "-", then the application id, e.g. ``weatherbot-1234567890123456789``.

    Unique because the id is, and out of reach of every other account: ``-`` is no character
    a registered or edited username may hold (:func:`validate_username`), so no user (or bot
    renaming itself) can take it first. It once ended in the id's last five digits and a
    clash answered 409 "retry" for a name the owner never chose.
    """
    base = re.sub(r"[^a-z0-9_]", "", name.lower())[:_BOT_BASE_MAX] or "bot"
    return f"{base}-{app_id}"
