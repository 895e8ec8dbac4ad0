"""Smoke tests: each service fixture gives a server that answers a real query."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import redis.asyncio
from pymongo import AsyncMongoClient


async def test_postgres_dsn_answers_select(postgres_dsn: str) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


async def test_redis_url_answers_ping(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()


async def test_mongo_url_answers_ping(mongo_url: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_url, serverSelectionTimeoutMS=5000
    )
    try:
        reply = await client.admin.command("ping")
        assert reply["ok"] == 1
    finally:
        await client.aclose()


async def test_loop_exception_guard_records_handler_calls(
    _loop_exception_guard: list[dict[str, Any]],
) -> None:
    loop = asyncio.get_running_loop()
    loop.call_exception_handler({"message": "deliberate", "exception": ValueError("x")})
    assert [c["message"] for c in _loop_exception_guard] == ["deliberate"]
    # Recorded as expected; clear it so the guard does not fail this test at teardown.
    _loop_exception_guard.clear()
