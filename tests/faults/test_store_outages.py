"""The shared stores go away under load and come back (``--workers 2``): Redis killed for a
few seconds (the bus, rate limits, the token cache), then PostgreSQL stopped (immediate
shutdown, the server's connections cut). Sends may fail while a store is down (503), but
every acked message is in history and reached every receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.faults.harness import fresh_database, postgres_cluster, redis_server, serve
from tests.faults.scenario import run_traffic

OUTAGE_S = 3.0


@pytest.mark.timeout(60)
async def test_redis_stopped_and_restarted(
    tmp_path: Path, postgres_dsn: str, http: aiohttp.ClientSession,
) -> None:
    with redis_server() as redis:
        async with fresh_database(postgres_dsn) as dsn, \
                serve(tmp_path, workers=2, redis_url=redis.url, postgres_url=dsn) as server:
            async def outage() -> None:
                redis.stop()
                await asyncio.sleep(OUTAGE_S)
                redis.start()

            result = await run_traffic(f"Redis down {OUTAGE_S:.0f} s (2 workers)", server,
                                       http, fault=outage, seconds=10)
            assert result.lost == 0


@pytest.mark.timeout(60)
async def test_postgres_stopped_and_restarted(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    with redis_server() as redis, postgres_cluster() as pg:
        async with serve(tmp_path, workers=2, redis_url=redis.url, postgres_url=pg.url) as server:
            async def outage() -> None:
                await asyncio.to_thread(pg.stop)
                await asyncio.sleep(OUTAGE_S)
                await asyncio.to_thread(pg.start)

            result = await run_traffic(f"PostgreSQL down {OUTAGE_S:.0f} s (2 workers)", server,
                                       http, fault=outage, seconds=10)
            assert result.lost == 0
