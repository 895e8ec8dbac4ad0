"""``core.admin``, the operator's actions, on SQLite and PostgreSQL, as the CLI runs them.

Two platforms share one store, as two processes would: ``server`` is a worker (its REST app,
its relay reader, its own in-process token caches) and ``admin`` is the admin CLI's (opened as
``gateway.admin_cli`` does). What the admin does must show on the server within a second
(``core.relay``): a warmed token cache is the case that matters, so every revocation test
first makes the server resolve the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from core import admin
from core.config import Config
from core.events import TOKENS_REVOKED, Event
from core.platform import Platform
from core.relay import EventRelay
from gateway.admin_cli import admin_ids
from tests.api.conftest import Account, Api, Reply
from tests.integration.conftest import postgres_schema

# What "at once" means for an admin action seen from a worker (the relay reads every 0.25 s).
WITHIN_S = 1.0
PASSWORD = "correct horse"


def _config(**stores: Any) -> Config:
    return Config(argon2_time_cost=1, argon2_memory_kib=64, ratelimit_route_limit=1000,
                  ratelimit_global_per_s=1000, batch_max_delay_ms=0, **stores)


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Config]:
    if request.param == "sqlite":
        yield _config(data_dir=str(tmp_path))
        return
    dsn = request.getfixturevalue("postgres_dsn")
    async with postgres_schema(dsn) as schema:
        joiner = "&" if "?" in dsn else "?"
        yield _config(data_dir=str(tmp_path), postgres_url=f"{dsn}{joiner}search_path={schema}")


@dataclass
class World:
    server: Platform
    admin: Platform
    api: Api
    events: list[Event]  # what the server's bus subscribers got

    async def sees(self, check: Callable[[], Awaitable[bool]]) -> float:
        """Seconds until ``check()`` holds on the server; fails past ``WITHIN_S``."""
        start = time.monotonic()
        while not await check():
            assert time.monotonic() - start < WITHIN_S, "not effective within a second"
            await asyncio.sleep(0.02)
        return time.monotonic() - start

    async def refused(self, token: str, bot: bool = False) -> float:
        async def check() -> bool:
            return (await self.api.get("/users/@me", token, bot=bot)).status == 401
        return await self.sees(check)

    async def accepted(self, token: str, bot: bool = False) -> bool:
        return (await self.api.get("/users/@me", token, bot=bot)).status == 200

    async def login(self, name: str, password: str) -> Reply:
        return await self.api.post("/auth/login", json={"login": name, "password": password})


@pytest.fixture
async def world(stores: Config, aiohttp_client: Any) -> AsyncIterator[World]:
    server = await Platform.open(stores)
    relay = EventRelay(server.meta, server.bus, server.metrics)
    operator = None
    try:
        await relay.start()
        events: list[Event] = []
        server.bus.subscribe(events.extend)
        operator = await Platform.open(stores, ids=admin_ids(stores))
        api = Api(await aiohttp_client(create_app(server)))
        yield World(server, operator, api, events)
    finally:
        await relay.aclose()
        if operator is not None:
            await operator.aclose()
        await server.aclose()


async def _warm(w: World, *accounts: Account) -> None:
    """The server resolves each token once: they are in its caches from now on."""
    for a in accounts:
        assert await w.accepted(a.token)


# -- accounts ------------------------------------------------------------------------------------


async def test_create_user_with_a_generated_password_logs_in(world: World) -> None:
    account, password = await admin.create_user(world.admin, "Alice", None)
    assert password is not None and len(password) >= 20
    assert account.user.username == "alice" and not account.instance_admin
    r = await world.login("alice", password)
    assert r.status == 200, r.body
    assert r.body["user_id"] == str(account.user.id)
    assert await world.accepted(r.body["token"])


async def test_create_user_with_a_given_password_and_the_admin_flag(world: World) -> None:
    account, password = await admin.create_user(world.admin, "root", PASSWORD, admin=True)
    assert password is None and account.instance_admin
    assert (await world.login("root", PASSWORD)).status == 200
    assert (await admin.find_account(world.admin, "ROOT")) == account


@pytest.mark.parametrize(("name", "password", "error"), [
    ("taken", PASSWORD, "the username 'taken' is taken"),
    ("a", PASSWORD, "username: Username must be 2-32 characters"),
    ("bob", "short", "a password is 8 to 128 characters"),
])
async def test_create_user_refuses_in_one_line(world: World, name: str, password: str,
                                               error: str) -> None:
    await admin.create_user(world.admin, "taken", PASSWORD)
    with pytest.raises(admin.AdminError, match="^" + error):
        await admin.create_user(world.admin, name, password)


async def test_reset_password_revokes_every_token_on_the_server_within_a_second(
    world: World,
) -> None:
    alice = await world.api.register("alice")
    second = (await world.login("alice", PASSWORD)).body["token"]
    await _warm(world, alice, Account(second, alice.id, "alice"))
    account, password, revoked = await admin.reset_password(world.admin, "alice", None)
    assert revoked == 2 and password is not None
    await world.refused(alice.token)
    await world.refused(second)
    assert (await world.login("alice", PASSWORD)).status == 400
    r = await world.login("alice", password)
    assert r.status == 200 and await world.accepted(r.body["token"])


async def test_reset_password_refuses_a_bot(world: World) -> None:
    owner = await world.api.register("owner")
    app = (await world.api.post("/applications", owner.token, json={"name": "helper"})).body
    with pytest.raises(admin.AdminError, match="is a bot"):
        await admin.reset_password(world.admin, app["id"], PASSWORD)


async def test_disable_refuses_the_login_and_the_tokens_until_enabled(world: World) -> None:
    alice = await world.api.register("alice")
    await _warm(world, alice)
    account, revoked = await admin.set_disabled(world.admin, "alice", True)
    assert account.disabled and revoked == 1
    await world.refused(alice.token)
    r = await world.login("alice", PASSWORD)
    assert (r.status, r.body) == (403, {"code": 20013, "message": "This account is disabled"})
    # A wrong password says nothing of the account.
    assert (await world.login("alice", "wrong password")).status == 400
    account, _ = await admin.set_disabled(world.admin, "alice", False)
    assert not account.disabled
    r = await world.login("alice", PASSWORD)
    assert r.status == 200 and await world.accepted(r.body["token"])
    assert not await world.accepted(alice.token)  # revoked stays revoked


async def test_revoke_tokens_of_a_user_reaches_the_server_as_tokens_revoked(
    world: World,
) -> None:
    alice, bob = await world.api.register("alice"), await world.api.register("bob")
    await _warm(world, alice, bob)
    account, revoked = await admin.revoke_tokens(world.admin, "alice")
    assert revoked == 1
    await world.refused(alice.token)
    assert await world.accepted(bob.token)
    assert [e.data for e in world.events if e.name == TOKENS_REVOKED] == [
        {"user_id": str(account.user.id)}]


async def test_reset_bot_token_by_application_id_or_bot_name(world: World) -> None:
    owner = await world.api.register("owner")
    app = (await world.api.post("/applications", owner.token, json={"name": "helper"})).body
    old = app["token"]
    assert await world.accepted(old, bot=True)
    bot, token, revoked = await admin.reset_bot_token(world.admin, app["id"])
    assert (bot.user.id, revoked) == (int(app["id"]), 1)
    await world.refused(old, bot=True)
    assert await world.accepted(token, bot=True)
    _, newer, _ = await admin.reset_bot_token(world.admin, app["bot"]["username"])
    await world.refused(token, bot=True)
    assert await world.accepted(newer, bot=True)
    with pytest.raises(admin.AdminError, match="is not a bot"):
        await admin.reset_bot_token(world.admin, "owner")


async def test_revoke_tokens_of_a_bot(world: World) -> None:
    owner = await world.api.register("owner")
    app = (await world.api.post("/applications", owner.token, json={"name": "helper"})).body
    assert await world.accepted(app["token"], bot=True)
    _, revoked = await admin.revoke_tokens(world.admin, app["bot"]["username"])
    assert revoked == 1
    await world.refused(app["token"], bot=True)
    assert await world.accepted(owner.token)


async def test_instance_admin_is_granted_and_revoked_and_never_in_the_user_object(
    world: World,
) -> None:
    alice = await world.api.register("alice")
    assert (await admin.set_instance_admin(world.admin, "alice", True)).instance_admin
    me = (await world.api.get("/users/@me", alice.token)).body
    assert "instance_admin" not in me and "disabled" not in me
    assert not (await admin.set_instance_admin(world.admin, alice.id, False)).instance_admin


async def test_an_unknown_account_is_an_error(world: World) -> None:
    for act in (admin.revoke_tokens(world.admin, "nobody"),
                admin.set_disabled(world.admin, "12345", True),
                admin.revoke_tokens(world.admin, "²"),  # a digit to isdigit, not to int()
                admin.revoke_tokens(world.admin, "9" * 40)):
        with pytest.raises(admin.AdminError, match="^no account named"):
            await act


async def test_list_users_pages_by_id_with_bots(world: World) -> None:
    names = ["u1", "u2", "u3"]
    for name in names:
        await world.api.register(name)
    owner = await world.api.register("owner")
    await world.api.post("/applications", owner.token, json={"name": "helper"})
    everyone = await admin.list_users(world.admin)
    assert [a.user.username for a in everyone][:4] == [*names, "owner"]
    assert everyone[-1].user.bot
    page = await admin.list_users(world.admin, after=everyone[0].user.id, limit=2)
    assert [a.user.username for a in page] == ["u2", "u3"]
    with pytest.raises(admin.AdminError, match="--limit"):
        await admin.list_users(world.admin, limit=0)


# -- guilds --------------------------------------------------------------------------------------


async def test_list_guilds_with_member_counts(world: World) -> None:
    alice, bob = await world.api.register("alice"), await world.api.register("bob")
    one = await world.api.guild(alice, "one")
    two = await world.api.guild(bob, "two")
    await world.api.join(one, alice, bob)
    listed = await admin.list_guilds(world.admin)
    assert [(g.name, n) for g, n in listed] == [("one", 2), ("two", 1)]
    after = await admin.list_guilds(world.admin, after=int(one["id"]))
    assert [g.id for g, _ in after] == [int(two["id"])]


async def test_delete_guild_removes_its_history_and_tells_its_members(world: World) -> None:
    alice, bob = await world.api.register("alice"), await world.api.register("bob")
    guild = await world.api.guild(alice, "doomed")
    await world.api.join(guild, alice, bob)
    channel = guild["channels"][0]["id"]
    sent = await world.api.post(f"/channels/{channel}/messages", bob.token,
                                json={"content": "hi"})
    assert sent.status == 200, sent.body
    deleted = await admin.delete_guild(world.admin, int(guild["id"]))
    assert deleted.name == "doomed"

    async def told() -> bool:
        return any(e.name == "GUILD_DELETE" and e.data["id"] == guild["id"]
                   for e in world.events)
    await world.sees(told)
    (event,) = [e for e in world.events if e.name == "GUILD_DELETE"]
    assert sorted(event.user_ids) == sorted([int(alice.id), int(bob.id)])
    assert (await world.api.get(f"/guilds/{guild['id']}", alice.token)).status == 404
    assert await world.admin.messages.history(int(channel)) == []
    with pytest.raises(admin.AdminError, match="no guild with id"):
        await admin.delete_guild(world.admin, int(guild["id"]))


# -- registration --------------------------------------------------------------------------------


async def _register(w: World, name: str, **extra: Any) -> Reply:
    return await w.api.post("/auth/register",
                            json={"username": name, "password": PASSWORD, **extra})


async def test_registration_closed_is_a_403(world: World) -> None:
    assert await admin.registration(world.admin) == "open"
    await admin.set_registration(world.admin, "closed")
    r = await _register(world, "alice")
    assert (r.status, r.body) == (403, {"code": 0,
                                        "message": "Registration is closed on this instance."})
    await admin.create_user(world.admin, "alice", PASSWORD)  # the operator still can
    await admin.set_registration(world.admin, "open")
    assert (await _register(world, "bob")).status == 201
    with pytest.raises(admin.AdminError, match="unknown registration mode"):
        await admin.set_registration(world.admin, "sometimes")


async def test_registration_invite_only_takes_a_code_until_used_up(world: World) -> None:
    await admin.set_registration(world.admin, "invite-only")
    r = await _register(world, "alice")
    assert r.status == 400
    assert r.body["errors"]["registration_code"]["_errors"][0]["code"] == "BASE_TYPE_REQUIRED"
    code = await admin.create_registration_code(world.admin, uses=1)
    r = await _register(world, "alice", registration_code="not-a-code")
    assert r.body["errors"]["registration_code"]["_errors"][0]["code"] == \
        "REGISTRATION_CODE_INVALID"
    # A taken name uses nothing of the code.
    await admin.create_user(world.admin, "taken", PASSWORD)
    r = await _register(world, "taken", registration_code=code.code)
    assert r.body["errors"]["username"]["_errors"][0]["code"] == "USERNAME_ALREADY_TAKEN"
    assert (await _register(world, "alice", registration_code=code.code)).status == 201
    r = await _register(world, "bob", registration_code=code.code)
    assert r.body["errors"]["registration_code"]["_errors"][0]["code"] == \
        "REGISTRATION_CODE_INVALID"
    (listed,) = await admin.list_registration_codes(world.admin)
    assert (listed.code, listed.uses, listed.max_uses) == (code.code, 1, 1)


async def test_registration_code_revoked_or_unlimited(world: World) -> None:
    await admin.set_registration(world.admin, "invite-only")
    many = await admin.create_registration_code(world.admin, uses=0)
    for name in ("a1", "a2", "a3"):
        assert (await _register(world, name, registration_code=many.code)).status == 201
    await admin.revoke_registration_code(world.admin, many.code)
    assert (await _register(world, "a4", registration_code=many.code)).status == 400
    with pytest.raises(admin.AdminError, match="no such registration code"):
        await admin.revoke_registration_code(world.admin, many.code)
    with pytest.raises(admin.AdminError, match="--uses"):
        await admin.create_registration_code(world.admin, uses=-1)


# -- the log -------------------------------------------------------------------------------------


async def test_each_action_logs_one_line_without_secrets(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    owner = await world.api.register("owner")
    app = (await world.api.post("/applications", owner.token, json={"name": "helper"})).body
    secrets: list[str] = [owner.token, app["token"], PASSWORD]
    with caplog.at_level(logging.INFO, logger="core.admin"):
        _, password = await admin.create_user(world.admin, "alice", None)
        _, reset, _ = await admin.reset_password(world.admin, "alice", None)
        _, token, _ = await admin.reset_bot_token(world.admin, app["id"])
        await admin.set_disabled(world.admin, "owner", True)
        code = await admin.create_registration_code(world.admin)
        await admin.revoke_registration_code(world.admin, code.code)
    secrets += [p for p in (password, reset, token, code.code) if p]
    records = [r for r in caplog.records if r.name == "core.admin"]
    assert [r.__dict__["action"] for r in records] == [
        "create-user", "reset-password", "reset-bot-token", "disable",
        "registration-code-create", "registration-code-revoke"]
    assert records[3].__dict__["tokens_revoked"] == 1
    assert records[3].__dict__["username"] == "owner"
    for record in records:
        text = record.getMessage() + repr(record.__dict__)
        assert not [s for s in secrets if s in text], record.__dict__
