"""Fixtures for REST API tests: a platform on a throwaway SQLite directory and a client.

``api`` is an :class:`Api` around aiohttp's test client; ``register`` makes accounts.
Argon2 runs with small parameters here (the production defaults cost ~30 ms a hash).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from api.app import create_app
from core.config import Config
from core.events import Event
from core.platform import Platform


@pytest.fixture
def config(tmp_path: Any) -> Config:
    return Config(
        data_dir=str(tmp_path), argon2_time_cost=1, argon2_memory_kib=64,
        ratelimit_route_limit=1000, ratelimit_global_per_s=1000, batch_max_delay_ms=0,
    )


@pytest.fixture
async def platform(config: Config) -> AsyncIterator[Platform]:
    p = await Platform.open(config)
    try:
        yield p
    finally:
        await p.aclose()


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


@dataclass
class Account:
    token: str
    id: str
    username: str


class Api:
    """Small JSON client: ``await api.post("/guilds", token, json={...})`` → Reply."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._names = itertools.count(1)

    async def call(
        self, method: str, path: str, token: str | None = None, *, json: Any = None,
        data: bytes | None = None, bot: bool = False, params: dict[str, Any] | None = None,
    ) -> Reply:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bot {token}" if bot else token
        resp = await self.client.request(
            method, "/api/v10" + path, json=json, data=data, headers=headers, params=params
        )
        raw = await resp.read()
        if raw:
            assert resp.headers["Content-Type"] == "application/json", resp.headers
            body = await resp.json(content_type=None)
        else:
            body = None
        return Reply(resp.status, body, resp.headers)

    async def get(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return await self.call("GET", path, token, **kw)

    async def post(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return await self.call("POST", path, token, **kw)

    async def patch(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return await self.call("PATCH", path, token, **kw)

    async def put(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return await self.call("PUT", path, token, **kw)

    async def delete(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return await self.call("DELETE", path, token, **kw)

    async def register(self, username: str | None = None) -> Account:
        name = username or f"user{next(self._names)}"
        r = await self.post("/auth/register", json={"username": name, "password": "correct horse"})
        assert r.status == 201, r.body
        return Account(r.body["token"], r.body["user"]["id"], name)

    async def guild(self, owner: Account, name: str = "Guild") -> dict[str, Any]:
        """Create a guild and return its JSON (with ``channels`` fetched)."""
        r = await self.post("/guilds", owner.token, json={"name": name})
        assert r.status == 201, r.body
        chans = await self.get(f"/guilds/{r.body['id']}/channels", owner.token)
        assert chans.status == 200, chans.body
        return {**r.body, "channels": chans.body}

    async def join(self, guild: dict[str, Any], owner: Account, who: Account) -> None:
        """Make ``who`` a member of ``guild`` through an invite made by ``owner``."""
        channel_id = guild["channels"][0]["id"]
        inv = await self.post(f"/channels/{channel_id}/invites", owner.token, json={})
        assert inv.status == 200, inv.body
        r = await self.post(f"/invites/{inv.body['code']}", who.token)
        assert r.status == 200, r.body


@pytest.fixture
def events(platform: Platform) -> list[Event]:
    """Every event the platform publishes during the test (delivered a loop turn later)."""
    got: list[Event] = []
    platform.bus.subscribe(got.extend)
    return got


@pytest.fixture
async def api(platform: Platform, aiohttp_client: Any) -> Api:
    return Api(await aiohttp_client(create_app(platform)))
