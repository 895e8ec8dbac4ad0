"""A revocation made on one worker is effective on every worker within a second (issue 14).

Two platforms on one PostgreSQL database stand in for two workers: each has its own REST app,
its own in-process token cache and its relay reader (``core.relay``), as ``gateway.worker``
gives them; with Redis they share its cache, as workers do. Every token is first resolved on
the other worker, so that it sits in that worker's cache: the case a revocation must beat.
Logout and a password change are made on one worker and checked on the other; the operator's
revoke-tokens (``core.admin``) is tested in test_admin.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from core.config import Config
from core.platform import Platform
from core.relay import EventRelay
from tests.api.conftest import Account, Api
from tests.integration.conftest import postgres_schema

WITHIN_S = 1.0
PASSWORD = "correct horse"


@dataclass
class Workers:
    one: Api
    two: Api

    async def login(self, who: Account, password: str = PASSWORD) -> str:
        r = await self.one.post("/auth/login", json={"login": who.username, "password": password})
        assert r.status == 200, r.body
        token: str = r.body["token"]
        await self.warm(token)
        return token

    async def warm(self, token: str) -> None:
        """Resolve ``token`` on both workers: in both caches from now on."""
        for api in (self.one, self.two):
            assert (await api.get("/users/@me", token)).status == 200

    async def refused_on_two(self, token: str) -> float:
        """Seconds until worker two answers ``token`` 401; fails past WITHIN_S."""
        start = time.monotonic()
        while (await self.two.get("/users/@me", token)).status != 401:
            assert time.monotonic() - start < WITHIN_S, "still accepted on the other worker"
            await asyncio.sleep(0.02)
        return time.monotonic() - start


@pytest.fixture(params=["postgres", "postgres+redis"])
async def workers(request: pytest.FixtureRequest, tmp_path: Path, postgres_dsn: str,
                  aiohttp_client: Any) -> AsyncIterator[Workers]:
    async with postgres_schema(postgres_dsn) as schema:
        joiner = "&" if "?" in postgres_dsn else "?"
        extra = {"redis_url": request.getfixturevalue("redis_url")} if "redis" in request.param \
            else {}
        config = Config(data_dir=str(tmp_path), argon2_time_cost=1, argon2_memory_kib=64,
                        ratelimit_route_limit=1000, ratelimit_global_per_s=1000,
                        batch_max_delay_ms=0,
                        postgres_url=f"{postgres_dsn}{joiner}search_path={schema}", **extra)
        platforms: list[Platform] = []
        relays: list[EventRelay] = []
        try:
            for index in (0, 1):
                p = await Platform.open(config, worker_index=index)
                platforms.append(p)
                relay = EventRelay(p.meta, p.bus, p.metrics)
                await relay.start()
                relays.append(relay)
            one, two = [Api(await aiohttp_client(create_app(p))) for p in platforms]
            yield Workers(one, two)
        finally:
            for relay in relays:
                await relay.aclose()
            for p in platforms:
                await p.aclose()


async def test_logout_on_one_worker_is_refused_on_the_other_within_a_second(
    workers: Workers,
) -> None:
    alice = await workers.one.register()
    token = await workers.login(alice)
    await workers.warm(alice.token)
    assert (await workers.one.post("/auth/logout", token)).status == 204
    assert (await workers.one.get("/users/@me", token)).status == 401
    await workers.refused_on_two(token)
    # The user's other token still works on both.
    await workers.warm(alice.token)


async def test_password_change_on_one_worker_revokes_the_others_everywhere_within_a_second(
    workers: Workers,
) -> None:
    alice = await workers.one.register()
    other = await workers.login(alice)
    await workers.warm(alice.token)
    r = await workers.one.patch("/users/@me", alice.token,
                                json={"password": PASSWORD, "new_password": "battery staple"})
    assert r.status == 200, r.body
    assert r.body["token"] == alice.token
    await workers.refused_on_two(other)
    # The token that changed it is kept, on both workers.
    await workers.warm(alice.token)
    assert (await workers.two.get("/users/@me", other)).status == 401
