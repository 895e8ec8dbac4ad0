"""Rate limits with Discord's headers, shared through the cache."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from core.config import Config
from core.platform import Platform
from tests.api.conftest import Api


@pytest.fixture
def config(tmp_path: Any) -> Config:
    return Config(data_dir=str(tmp_path), argon2_time_cost=1, argon2_memory_kib=64,
                  ratelimit_route_limit=2, ratelimit_route_window_ms=60_000,
                  ratelimit_global_per_s=1000)


async def test_route_bucket_headers_and_429_shape(api: Api) -> None:
    acct = await api.register()
    first = await api.patch("/users/@me", acct.token, json={})
    assert first.status == 200
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert float(first.headers["X-RateLimit-Reset-After"]) > 0
    assert float(first.headers["X-RateLimit-Reset"]) > 1e9
    assert first.headers["X-RateLimit-Bucket"]
    await api.patch("/users/@me", acct.token, json={})
    limited = await api.patch("/users/@me", acct.token, json={})
    assert limited.status == 429
    assert limited.body["global"] is False and limited.body["retry_after"] > 0
    assert limited.headers["Via"]  # discord.py retries only with a Via header
    assert limited.headers["X-RateLimit-Scope"] == "user"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another user has a bucket of their own.
    other = await api.register()
    assert (await api.patch("/users/@me", other.token, json={})).status == 200


async def test_global_limit_applies_across_routes(tmp_path: Any, aiohttp_client: Any) -> None:
    config = Config(data_dir=str(tmp_path), argon2_time_cost=1, argon2_memory_kib=64,
                    ratelimit_global_per_s=3, ratelimit_route_limit=100)
    platform = await Platform.open(config)
    try:
        api = Api(await aiohttp_client(create_app(platform)))
        acct = await api.register()
        statuses = [(await api.get("/users/@me", acct.token)).status for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
        limited = await api.get("/users/@me", acct.token)
        assert limited.body["global"] is True and limited.headers["X-RateLimit-Global"] == "true"
    finally:
        await platform.aclose()
