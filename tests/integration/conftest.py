"""Store fixtures: the one contract suite runs against every backend (docs/architecture.md, conventions).

``meta_store`` is parametrized over SQLite and PostgreSQL, ``message_store`` over SQLite,
PostgreSQL, MongoDB and the Redis recent-messages cache (in front of an SQLite store). Every
test gets an empty store of its own: a new SQLite file, a new PostgreSQL schema (dropped
after), a new MongoDB database or a new Redis key prefix. A server that cannot be reached
fails the test; nothing is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from core.store.base import MessageStore, MetaStore
from core.store.postgres import PostgresStore
from core.store.sql import SqlStore
from core.store.sqlite import SqliteStore
from tests.api.conftest import Api
from tests.integration.backends import (
    open_mongo_message_store,
    open_redis_cached_message_store,
)
from tests.integration.gateway_client import Server, quick_config, running_server

SQL_BACKENDS = ["sqlite", "postgres"]
# "sqlite-process": SQLite with its message batches written by the writer process
# (Config.sqlite_writer = process); "sqlite" writes them on the store's thread (the default).
MESSAGE_BACKENDS = ["sqlite", "sqlite-process", "postgres", "mongo", "redis"]


@asynccontextmanager
async def postgres_schema(dsn: str) -> AsyncIterator[str]:
    """A new empty schema in the test database, dropped with everything in it at exit."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield name
        finally:
            await admin.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await admin.close()


@asynccontextmanager
async def open_sql_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SqlStore]:
    """A migrated, empty SQL store of ``backend`` ("sqlite", "sqlite-process" or
    "postgres"), closed at exit."""
    if backend.startswith("sqlite"):
        # A real file, so that WAL mode and synchronous=FULL are what the tests exercise.
        writer = "process" if backend == "sqlite-process" else "thread"
        async with await SqliteStore.open(str(tmp_path / "store.sqlite3"), writer=writer) as store:
            yield store
        return
    dsn = request.getfixturevalue("postgres_dsn")
    async with postgres_schema(dsn) as schema:
        store = await PostgresStore.open(
            dsn, min_size=1, max_size=4, server_settings={"search_path": schema}
        )
        async with store:
            yield store


@pytest.fixture
async def postgres_search_path(postgres_dsn: str) -> AsyncIterator[dict[str, str]]:
    """``server_settings`` that put connections in a new empty schema (dropped after)."""
    async with postgres_schema(postgres_dsn) as schema:
        yield {"search_path": schema}


@pytest.fixture(params=SQL_BACKENDS)
async def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    """Both SQL stores of one database, for the tests of the SQL backends themselves."""
    async with open_sql_store(request.param, request, tmp_path) as store:
        yield store


@pytest.fixture(params=SQL_BACKENDS)
async def meta_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetaStore]:
    """An empty :class:`MetaStore` of every backend."""
    async with open_sql_store(request.param, request, tmp_path) as store:
        yield store.meta


@pytest.fixture(params=MESSAGE_BACKENDS)
async def message_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MessageStore]:
    """An empty :class:`MessageStore` of every backend."""
    backend = request.param
    if backend in SQL_BACKENDS or backend == "sqlite-process":
        async with open_sql_store(backend, request, tmp_path) as sql:
            yield sql.messages
    elif backend == "mongo":
        async with open_mongo_message_store(request.getfixturevalue("mongo_url")) as mongo:
            yield mongo
    else:
        redis_url = request.getfixturevalue("redis_url")
        async with (
            open_sql_store("sqlite", request, tmp_path) as inner,
            open_redis_cached_message_store(redis_url, inner.messages) as cached,
        ):
            yield cached


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """A worker on loopback (``quick_config``); a module may define its own."""
    async with running_server(quick_config(tmp_path)) as s:
        yield s


@pytest.fixture
def api(server: Server) -> Api:
    return Api(server.http)

