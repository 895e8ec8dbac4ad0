"""A worker SIGKILLed under steady sends (``--workers 2``, Redis, PostgreSQL): the supervisor
replaces it; its receivers' sessions died with it, so RESUME gets op 9, they identify again and
refetch history; nothing acked is lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.faults.harness import fresh_database, redis_server, serve
from tests.faults.scenario import run_traffic


@pytest.mark.timeout(60)
async def test_worker_sigkill_under_steady_sends(
    tmp_path: Path, postgres_dsn: str, http: aiohttp.ClientSession,
) -> None:
    with redis_server() as redis:
        async with fresh_database(postgres_dsn) as dsn, \
                serve(tmp_path, workers=2, redis_url=redis.url, postgres_url=dsn) as server:
            async def kill() -> None:
                pid = server.worker_pid(1)
                os.kill(pid, signal.SIGKILL)
                await server.replaced(1, pid)

            result = await run_traffic("worker SIGKILL (2 workers, PostgreSQL)", server, http,
                                       fault=kill)
            assert result.lost == 0
