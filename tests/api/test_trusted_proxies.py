"""Anonymous rate limits behind a reverse proxy: one bucket per client, not one per proxy.

The test client connects from 127.0.0.1. With ``trusted_proxies`` naming it, it plays the
proxy and names clients in ``X-Forwarded-For``; without, it is any client forging the header.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from core.config import Config
from core.platform import Platform

LOGIN = "/api/v10/auth/login"
LIMIT = 2  # writes per window and bucket


@pytest.fixture
async def client_for(
    tmp_path: Path, aiohttp_client: Any
) -> AsyncIterator[Callable[[str], Any]]:
    platforms: list[Platform] = []

    async def make(trusted_proxies: str) -> Any:
        config = Config(data_dir=str(tmp_path / str(len(platforms))), argon2_time_cost=1,
                        argon2_memory_kib=64, ratelimit_route_limit=LIMIT,
                        ratelimit_route_window_ms=60_000, ratelimit_global_per_s=1000,
                        trusted_proxies=trusted_proxies)
        platforms.append(await Platform.open(config))
        return await aiohttp_client(create_app(platforms[-1]))

    yield make
    for platform in platforms:
        await platform.aclose()


async def _logins(client: Any, count: int, forwarded_for: str | None = None) -> list[int]:
    """The statuses of ``count`` anonymous logins (a bad password: the bucket counts them)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    out = []
    for _ in range(count):
        async with client.post(LOGIN, json={"login": "nobody", "password": "x" * 8},
                               headers=headers) as r:
            out.append(r.status)
    return out


async def test_two_clients_behind_a_trusted_proxy_get_separate_buckets(
    client_for: Callable[[str], Any], caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = await client_for("127.0.0.1")
    caplog.set_level(logging.DEBUG, logger="api.ops")
    first = await _logins(proxy, LIMIT + 1, "203.0.113.1")
    assert 429 not in first[:LIMIT] and first[LIMIT] == 429
    # Another client behind the same proxy: its own bucket, untouched by the first's burst.
    assert 429 not in await _logins(proxy, LIMIT, "203.0.113.2")
    # The first client forging an entry of its own is still itself (the walk never reads it).
    assert await _logins(proxy, 1, "198.51.100.9, 203.0.113.1") == [429]
    # The logs name the client, not the proxy.
    peers = {getattr(r, "peer", None) for r in caplog.records if r.name == "api.ops"}
    assert {"203.0.113.1", "203.0.113.2"} <= peers and "127.0.0.1" not in peers


async def test_a_forged_header_from_an_untrusted_address_changes_nothing(
    client_for: Callable[[str], Any],
) -> None:
    for trusted in ("10.0.0.0/8", ""):  # 127.0.0.1 is no proxy of ours; or none is
        direct = await client_for(trusted)
        statuses = [*await _logins(direct, 1, "203.0.113.1"),
                    *await _logins(direct, 1, "203.0.113.2"),
                    *await _logins(direct, 1)]
        # One bucket, its own address's, whatever it claims to be.
        assert 429 not in statuses[:LIMIT] and statuses[LIMIT] == 429, (trusted, statuses)
