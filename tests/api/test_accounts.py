"""Accounts, tokens, applications and gateway discovery over REST."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from core import accounts
from core.config import Config
from core.errors import ApiError
from core.platform import Platform
from tests.api.conftest import Api


async def test_register_returns_token_and_user(api: Api) -> None:
    r = await api.post("/auth/register", json={"username": "Alice", "password": "correct horse"})
    assert r.status == 201
    assert r.body["user"]["username"] == "alice"
    assert r.body["user"]["discriminator"] == "0"
    assert isinstance(r.body["user"]["id"], str)
    me = await api.get("/users/@me", r.body["token"])
    assert me.status == 200 and me.body["id"] == r.body["user"]["id"]


async def test_register_rejects_taken_username_case_insensitively(api: Api) -> None:
    await api.register("bob")
    r = await api.post("/auth/register", json={"username": "BOB", "password": "correct horse"})
    assert r.status == 400 and r.body["code"] == 50035
    assert r.body["errors"]["username"]["_errors"][0]["code"] == "USERNAME_ALREADY_TAKEN"


async def test_register_rejects_bad_fields(api: Api) -> None:
    for body in ({"username": "a", "password": "correct horse"},
                 {"username": "good_name", "password": "short"},
                 {"username": 5, "password": "correct horse"},
                 {"password": "correct horse"}):
        r = await api.post("/auth/register", json=body)
        assert r.status == 400 and r.body["code"] == 50035, body


async def test_malformed_json_is_400_50109(api: Api) -> None:
    r = await api.post("/auth/register", data=b"{not json")
    assert r.status == 400 and r.body["code"] == 50109
    r = await api.post("/auth/register", json=[1, 2])
    assert r.status == 400 and r.body["code"] == 50035


async def test_login_issues_a_new_token(api: Api) -> None:
    acct = await api.register("carol")
    r = await api.post("/auth/login", json={"login": "Carol", "password": "correct horse"})
    assert r.status == 200 and r.body["user_id"] == acct.id
    assert r.body["token"] != acct.token
    assert (await api.get("/users/@me", r.body["token"])).status == 200


async def test_login_rejects_wrong_password_and_unknown_user_alike(api: Api) -> None:
    await api.register("dave")
    wrong = await api.post("/auth/login", json={"login": "dave", "password": "wrong password"})
    unknown = await api.post("/auth/login", json={"login": "nobody", "password": "whatever1"})
    assert wrong.status == unknown.status == 400
    assert wrong.body == unknown.body
    assert wrong.body["errors"]["login"]["_errors"][0]["code"] == "INVALID_LOGIN"


async def test_requests_without_valid_token_get_401(api: Api) -> None:
    for token in (None, "", "garbage", "Zm9v.bar"):
        r = await api.get("/users/@me", token)
        assert r.status == 401 and r.body["code"] == 40001, token


async def test_logout_revokes_the_token(api: Api) -> None:
    acct = await api.register()
    assert (await api.post("/auth/logout", acct.token)).status == 204
    assert (await api.get("/users/@me", acct.token)).status == 401


async def test_logout_with_a_bearer_token_revokes_it(api: Api) -> None:
    # The auth middleware takes "Bearer <token>"; logout revoked "Bearer <token>", no token.
    acct = await api.register()
    assert (await api.get("/users/@me", f"Bearer {acct.token}")).status == 200
    assert (await api.post("/auth/logout", f"Bearer {acct.token}")).status == 204
    assert (await api.get("/users/@me", acct.token)).status == 401


async def test_user_token_with_bot_prefix_is_rejected(api: Api) -> None:
    acct = await api.register()
    assert (await api.get("/users/@me", acct.token, bot=True)).status == 401


async def test_patch_me_updates_profile_and_checks_fields(api: Api) -> None:
    acct = await api.register("erin")
    assert (await api.get("/users/@me", acct.token)).body["global_name"] is None  # now cached
    r = await api.patch("/users/@me", acct.token, json={"global_name": "Erin E."})
    assert r.status == 200 and r.body["global_name"] == "Erin E."
    # The worker's cached user record is dropped on change, not served stale.
    assert (await api.get("/users/@me", acct.token)).body["global_name"] == "Erin E."
    other = await api.register("frank")
    r = await api.patch("/users/@me", other.token, json={"username": "ERIN"})
    assert r.status == 400 and r.body["code"] == 50035
    r = await api.patch("/users/@me", acct.token, json={"global_name": "x" * 33})
    assert r.status == 400


async def test_patch_me_avatar_takes_image_data_as_its_hash(api: Api) -> None:
    # discord.py's ClientUser.edit(avatar=bytes) sends a data URI, as Discord's API expects.
    acct = await api.register("gina")
    # The image is checked by its first bytes (a PNG here) and stored (tests/api/test_attachments).
    image = "data:image/png;base64,iVBORw0KGgo" + "A" * 209
    r = await api.patch("/users/@me", acct.token, json={"avatar": image})
    assert r.status == 200, r.body
    assert len(r.body["avatar"]) == 32 and int(r.body["avatar"], 16) >= 0
    r = await api.patch("/users/@me", acct.token, json={"avatar": "x" * 65})
    assert r.status == 400 and r.body["code"] == 50035
    r = await api.patch("/users/@me", acct.token, json={"avatar": None})
    assert r.status == 200 and r.body["avatar"] is None


async def test_get_user_by_id(api: Api) -> None:
    a, b = await api.register(), await api.register()
    r = await api.get(f"/users/{b.id}", a.token)
    assert r.status == 200 and r.body["username"] == b.username and "email" not in r.body
    assert (await api.get("/users/123456789012345678", a.token)).body["code"] == 10013
    assert (await api.get("/users/notanid", a.token)).status == 404
    assert (await api.get(f"/users/{b.id}")).status == 401


async def test_application_gives_a_working_bot_token(api: Api) -> None:
    owner = await api.register()
    r = await api.post("/applications", owner.token, json={"name": "Helper Bot"})
    assert r.status == 201
    token = r.body["token"]
    me = await api.get("/users/@me", token, bot=True)
    assert me.status == 200 and me.body["bot"] is True and me.body["id"] == r.body["id"]
    app = await api.get("/oauth2/applications/@me", token, bot=True)
    assert app.status == 200
    for key in ("id", "name", "description", "icon", "bot_public", "bot_require_code_grant",
                "owner", "verify_key", "flags"):
        assert key in app.body, key
    assert app.body["owner"]["id"] == owner.id
    # A bot token without the "Bot " prefix is not accepted.
    assert (await api.get("/users/@me", token)).status == 401


async def test_application_rejects_bad_name_and_bots(api: Api) -> None:
    owner = await api.register()
    assert (await api.post("/applications", owner.token, json={"name": ""})).status == 400
    bot = await api.post("/applications", owner.token, json={"name": "b"})
    r = await api.post("/applications", bot.body["token"], bot=True, json={"name": "c"})
    assert r.status == 403 and r.body["code"] == 20001
    # A user (not a bot) has no application of its own.
    r = await api.get("/oauth2/applications/@me", owner.token)
    assert r.status == 404 and r.body["code"] == 10002


async def test_gateway_discovery(api: Api, config: Config) -> None:
    r = await api.get("/gateway")
    assert r.status == 200 and r.body["url"].startswith("ws://")
    acct = await api.register()
    owner_app = await api.post("/applications", acct.token, json={"name": "bot"})
    r = await api.get("/gateway/bot", owner_app.body["token"], bot=True)
    # core.shard.recommended_shards of the bot's 0 guilds; the config's identify buckets.
    assert r.status == 200 and r.body["shards"] == 1
    assert r.body["session_start_limit"]["max_concurrency"] == config.identify_max_concurrency


async def test_unknown_route_is_json_404(api: Api) -> None:
    r = await api.get("/nope")
    assert r.status == 404 and r.body == {"message": "404: Not Found", "code": 0}


async def test_concurrent_registrations_of_one_name_create_one_user(api: Api) -> None:
    body = {"username": "race", "password": "correct horse"}
    replies = await asyncio.gather(*(api.post("/auth/register", json=body) for _ in range(5)))
    assert sorted(r.status for r in replies) == [201, 400, 400, 400, 400]


def _form_error(body: dict[str, Any], field: str) -> str:
    assert body["code"] == 50035, body
    code: str = body["errors"][field]["_errors"][0]["code"]
    return code


async def test_password_change_revokes_the_other_tokens_at_once(api: Api) -> None:
    acct = await api.register("hana")
    other = (await api.post("/auth/login", json={"login": "hana", "password": "correct horse"}))
    other_token = other.body["token"]
    assert (await api.get("/users/@me", other_token)).status == 200  # now in the token cache
    r = await api.patch("/users/@me", acct.token,
                        json={"password": "correct horse", "new_password": "battery staple"})
    assert r.status == 200, r.body
    # Discord answers with the user and the token to use: here the request's own, still valid.
    assert r.body["id"] == acct.id and r.body["token"] == acct.token
    assert (await api.get("/users/@me", acct.token)).status == 200
    assert (await api.get("/users/@me", other_token)).status == 401
    old = await api.post("/auth/login", json={"login": "hana", "password": "correct horse"})
    assert old.status == 400 and _form_error(old.body, "login") == "INVALID_LOGIN"
    new = await api.post("/auth/login", json={"login": "hana", "password": "battery staple"})
    assert new.status == 200


async def test_password_change_with_a_wrong_password_changes_nothing(api: Api) -> None:
    acct = await api.register("ines")
    other = await api.post("/auth/login", json={"login": "ines", "password": "correct horse"})
    r = await api.patch("/users/@me", acct.token, json={
        "password": "not my password", "new_password": "battery staple", "global_name": "I"})
    assert r.status == 400 and _form_error(r.body, "password") == "PASSWORD_DOES_NOT_MATCH"
    assert (await api.get("/users/@me", acct.token)).body["global_name"] is None
    assert (await api.get("/users/@me", other.body["token"])).status == 200
    ok = await api.post("/auth/login", json={"login": "ines", "password": "correct horse"})
    assert ok.status == 200


async def test_password_change_checks_its_fields_like_registration(api: Api) -> None:
    acct = await api.register("jo")
    for body, field, code in (
        ({"new_password": "battery staple"}, "password", "BASE_TYPE_REQUIRED"),
        ({"password": "correct horse", "new_password": "short"}, "new_password",
         "PASSWORD_LENGTH"),
        ({"password": "correct horse", "new_password": "x" * 129}, "new_password",
         "PASSWORD_LENGTH"),
        ({"password": "correct horse", "new_password": None}, "new_password",
         "BASE_TYPE_REQUIRED"),
    ):
        r = await api.patch("/users/@me", acct.token, json=body)
        assert r.status == 400 and _form_error(r.body, field) == code, body
    # Without new_password, PATCH /users/@me is a profile edit and answers no token.
    r = await api.patch("/users/@me", acct.token, json={"global_name": "Jo"})
    assert r.status == 200 and "token" not in r.body


async def test_a_bot_has_no_password_to_change(api: Api) -> None:
    owner = await api.register()
    app = await api.post("/applications", owner.token, json={"name": "pwbot"})
    r = await api.patch("/users/@me", app.body["token"], bot=True,
                        json={"password": "anything at all", "new_password": "battery staple"})
    assert r.status == 400 and _form_error(r.body, "password") == "PASSWORD_DOES_NOT_MATCH"


async def test_login_upgrades_a_hash_to_raised_argon2_parameters(config: Config) -> None:
    raised = replace(config, argon2_time_cost=config.argon2_time_cost + 1,
                     argon2_memory_kib=config.argon2_memory_kib * 2)
    wanted = f"m={raised.argon2_memory_kib},t={raised.argon2_time_cost},"
    p = await Platform.open(config)
    try:
        await accounts.register(p, "kim", "correct horse")
        before = await p.meta.get_login("kim")
        assert before is not None and wanted not in before[1]
    finally:
        await p.aclose()
    p = await Platform.open(raised)  # the operator raised the parameters and restarted
    try:
        await accounts.login(p, "kim", "correct horse")
        after = await p.meta.get_login("kim")
        assert after is not None and wanted in after[1]
        await accounts.login(p, "kim", "correct horse")  # the upgraded hash verifies
        again = await p.meta.get_login("kim")
        assert again is not None and again[1] == after[1]  # and is left alone from now on
        with pytest.raises(ApiError):
            await accounts.login(p, "kim", "wrong password")
    finally:
        await p.aclose()


async def test_password_change_hashes_with_the_configured_parameters(
    api: Api, platform: Platform, config: Config,
) -> None:
    acct = await api.register("lee")
    r = await api.patch("/users/@me", acct.token,
                        json={"password": "correct horse", "new_password": "battery staple"})
    assert r.status == 200
    found = await platform.meta.get_login("lee")
    assert found is not None
    assert f"m={config.argon2_memory_kib},t={config.argon2_time_cost}," in found[1]
