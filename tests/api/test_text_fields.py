"""Text fields refuse C0 control characters (NUL above all) with 50035, on every backend.

PostgreSQL cannot store U+0000 in TEXT (a 500 before the rule), SQLite can: the rule at the
request boundary makes both answer the same (docs/compatibility.md, "Text fields").
:func:`every_text_field_refuses_controls` is shared with the PostgreSQL run in
``tests/integration/test_text_fields_postgres.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.platform import Platform
from tests.api.conftest import Api, Reply

NUL = "bad\u0000name"
CODE = "STRING_TYPE_INVALID_CHARACTERS"

__all__ = ["assert_refused", "every_text_field_refuses_controls"]


def assert_refused(reply: Reply, path: str) -> None:
    """50035 naming ``path`` (dotted) with the control-character code."""
    assert reply.status == 400, reply.body
    assert reply.body["code"] == 50035, reply.body
    node = reply.body["errors"]
    for part in path.split("."):
        node = node[part]
    assert node["_errors"][0]["code"] == CODE, reply.body


async def every_text_field_refuses_controls(api: Api) -> None:
    """Every text field of the REST API, one request each; nothing reaches the store."""
    owner = await api.register()
    guild = await api.guild(owner)
    gid, channel = guild["id"], guild["channels"][0]["id"]
    t = owner.token
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/guilds", {"name": NUL}, "name"),
        ("PATCH", f"/guilds/{gid}", {"name": NUL}, "name"),
        ("PATCH", f"/guilds/{gid}", {"description": NUL}, "description"),
        ("POST", f"/guilds/{gid}/channels", {"name": NUL}, "name"),
        ("POST", f"/guilds/{gid}/channels", {"name": "ok", "topic": NUL}, "topic"),
        ("PATCH", f"/channels/{channel}", {"name": NUL}, "name"),
        ("PATCH", f"/channels/{channel}", {"topic": NUL}, "topic"),
        ("POST", f"/guilds/{gid}/roles", {"name": NUL}, "name"),
        ("PATCH", f"/guilds/{gid}/members/@me", {"nick": NUL}, "nick"),
        ("PATCH", "/users/@me", {"global_name": NUL}, "global_name"),
        ("POST", "/applications", {"name": NUL}, "name"),
        ("POST", "/applications", {"name": "ok", "description": NUL}, "description"),
        ("POST", f"/channels/{channel}/messages", {"content": NUL}, "content"),
        ("POST", f"/channels/{channel}/messages", {"content": "a", "nonce": NUL}, "nonce"),
        ("POST", f"/channels/{channel}/messages",
         {"embeds": [{"title": "t", "fields": [{"name": "n", "value": NUL}]}]},
         "embeds.0.fields.0.value"),
        # Every C0 control but tab, line feed and carriage return.
        ("POST", f"/channels/{channel}/messages", {"content": "a\u0008b"}, "content"),
        ("POST", f"/channels/{channel}/messages", {"content": "a\u001fb"}, "content"),
    ]
    for method, path, body, field in cases:
        assert_refused(await api.call(method, path, t, json=body), field)
    role = await api.post(f"/guilds/{gid}/roles", t, json={"name": "r"})
    assert role.status == 200, role.body
    assert_refused(await api.patch(f"/guilds/{gid}/roles/{role.body['id']}", t,
                                   json={"name": NUL}), "name")
    sent = await api.post(f"/channels/{channel}/messages", t,
                          json={"content": "tab\tline\nreturn\r kept"})
    assert sent.status == 200, sent.body
    assert sent.body["content"] == "tab\tline\nreturn\r kept"
    edit = await api.patch(f"/channels/{channel}/messages/{sent.body['id']}", t,
                           json={"content": NUL})
    assert_refused(edit, "content")
    # Unauthenticated: a login is refused like any other field.
    assert_refused(await api.post("/auth/login", json={"login": NUL, "password": "x" * 8}),
                   "login")
    history = await api.get(f"/channels/{channel}/messages", t)
    assert [m["content"] for m in history.body] == ["tab\tline\nreturn\r kept"]


async def test_every_text_field_refuses_control_characters(api: Api) -> None:
    await every_text_field_refuses_controls(api)


async def test_login_with_a_control_character_touches_no_store(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def untouchable(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the login reached the store")

    rate_hit = platform.cache.rate_hit

    async def no_login_limit(key: str, *args: Any) -> Any:
        assert not key.startswith("login:"), "the login reached the login limiter"
        return await rate_hit(key, *args)

    monkeypatch.setattr(platform.meta, "get_login", untouchable)
    monkeypatch.setattr(platform.cache, "rate_hit", no_login_limit)
    r = await api.post("/auth/login", json={"login": "some\u0000one", "password": "whatever1"})
    assert_refused(r, "login")


async def test_a_bad_key_is_refused_at_its_object(api: Api) -> None:
    owner = await api.register()
    r = await api.post("/guilds", owner.token, json={"name": "g", "x\u0000": 1})
    assert_refused(r, "_root")
