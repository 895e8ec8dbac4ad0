"""Process faults beyond a plain SIGKILL: the embedded server killed right after acks and
started again (SQLite: acked means on disk), a worker drained with SIGTERM under load (op 7,
its clients resume or identify again), and a frozen worker (SIGSTOP: the supervisor's
liveness check, ``worker_heartbeat_timeout_s``, SIGKILLs and replaces it)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.faults.harness import fresh_database, redis_server, serve
from tests.faults.scenario import run_traffic


@pytest.mark.timeout(60)
async def test_embedded_sigkill_right_after_acks_then_restart(
    tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    async with serve(tmp_path) as server:
        async def kill_and_restart() -> None:
            assert server.proc is not None
            server.proc.kill()
            server.proc.wait(10)
            await server.start()

        result = await run_traffic("SIGKILL + restart (embedded SQLite)", server, http,
                                   fault=kill_and_restart, seconds=6)
        assert result.lost == 0


@pytest.mark.timeout(60)
async def test_worker_sigterm_drain_under_load(
    tmp_path: Path, postgres_dsn: str, http: aiohttp.ClientSession,
) -> None:
    with redis_server() as redis:
        async with fresh_database(postgres_dsn) as dsn, \
                serve(tmp_path, workers=2, redis_url=redis.url, postgres_url=dsn) as server:
            async def drain() -> None:
                pid = server.worker_pid(1)
                os.kill(pid, signal.SIGTERM)
                await server.replaced(1, pid)

            result = await run_traffic("worker SIGTERM drain (2 workers)", server, http,
                                       fault=drain)
            assert result.lost == 0
            assert "worker 1" in server.log and "shutting down" in server.log


@pytest.mark.timeout(60)
async def test_frozen_worker_is_replaced(
    tmp_path: Path, postgres_dsn: str, http: aiohttp.ClientSession,
) -> None:
    with redis_server() as redis:
        async with fresh_database(postgres_dsn) as dsn, \
                serve(tmp_path, workers=2, redis_url=redis.url, postgres_url=dsn) as server:
            async def freeze() -> None:
                pid = server.worker_pid(1)
                os.kill(pid, signal.SIGSTOP)
                await server.replaced(1, pid, within=15)

            result = await run_traffic("worker SIGSTOP (liveness kill)", server, http,
                                       fault=freeze, seconds=10)
            assert result.lost == 0
            assert "SIGKILL" in server.log
