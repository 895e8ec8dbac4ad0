"""PostgreSQL backend: an :class:`~core.store.executor.Executor` over an asyncpg pool.

The SQL is the shared ``?``-placeholder SQL of :mod:`core.store.sql` and
:mod:`core.store.sqlmeta`, rewritten to asyncpg's ``$1..$n`` once per statement text (an LRU
cache owned by the executor; asyncpg then prepares and caches each text per connection).
Outside a transaction, each call borrows a pooled connection for one statement; a
transaction holds one connection from ``BEGIN`` to ``COMMIT``. ``executemany`` is atomic (asyncpg wraps it in a
transaction and pipelines the rows); ``insert_rows``, the message batch path, is one ``COPY`` (or ``executemany`` when small).

Durability: a commit returns once the WAL record is flushed on the server
(``synchronous_commit=on``, PostgreSQL's default, which this module never lowers).

Bounded reads (``fetch_bounded``: message searches) run in a read-only transaction of their
own whose ``statement_timeout`` is set with ``set_config(..., true)`` (``SET LOCAL``): it ends
with the transaction, so the pooled connection goes back with the server's default.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from core.store.base import Conflict, StoreUnavailable
from core.store.executor import Row
from core.store.searchquery import StoreTimeout
from core.store.sql import SqlMessageStore, SqlStore, prepare
from core.store.sqlmeta import SqlMetaStore

__all__ = ["PostgresExecutor", "PostgresStore", "open_postgres", "to_dollar_placeholders"]

logger = logging.getLogger(__name__)

# What a failed connect raises when the server is down, unknown, refusing us, or the URL is
# wrong: all mean "this store cannot be used", and become StoreUnavailable.
_CONNECT_ERRORS = (
    OSError,  # refused, unreachable, DNS failure
    TimeoutError,
    ValueError,  # a malformed URL (bad port, bad IPv6 literal)
    asyncpg.ClientConfigurationError,
    asyncpg.InvalidAuthorizationSpecificationError,  # unknown role, wrong password
    asyncpg.InvalidCatalogNameError,  # no such database
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
)
# Errors that may embed the URL (and its password) in their text: never chained or quoted.
_URL_ERRORS = (ValueError, asyncpg.ClientConfigurationError)
# Below this many rows a pipelined executemany beats COPY (its extra protocol round trip);
# above it COPY wins, by 1.5-1.7x at 100-1000 rows (measured on the message batch path).
_COPY_MIN_ROWS = 8
# ``SET LOCAL statement_timeout``, with the value as a parameter.
_SET_TIMEOUT = "SELECT set_config('statement_timeout', $1, true)"
# A connection lost mid-call.
_LOST_ERRORS = (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.CannotConnectNowError)


def to_dollar_placeholders(sql: str) -> str:
    """``sql`` with each ``?`` outside quotes replaced by ``$1``, ``$2``... in order."""
    out: list[str] = []
    n = 0
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""  # a doubled '' closes and reopens: still right for scanning
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


def describe_dsn(dsn: str) -> str:
    """``host:port/database`` of a PostgreSQL URL, without user or password."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "an unparsable URL"
    if parts.scheme not in ("postgres", "postgresql"):
        return "a URL that is not postgresql://"
    host = parts.netloc.rpartition("@")[2] or "localhost"
    return f"{host}{parts.path}"


def _rowcount(status: str) -> int:
    # asyncpg returns the command tag: "UPDATE 3", "DELETE 0", "INSERT 0 1", "CREATE TABLE".
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


class _PgOps:
    """The executor operations over an asyncpg pool or one of its connections."""

    dialect = "postgres"

    def __init__(
        self, target: asyncpg.Pool | asyncpg.Connection, sql: Callable[[str], str], where: str
    ) -> None:
        self._target = target
        self._sql = sql
        self._where = where

    async def _call(self, method: Callable[..., Awaitable[Any]], sql: str, *args: Any) -> Any:
        return await self._run(method, self._sql(sql), *args)

    async def _run(self, method: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
        try:
            return await method(*args, **kw)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(exc.detail or str(exc)) from exc
        except _LOST_ERRORS as exc:
            raise StoreUnavailable(f"PostgreSQL at {self._where} is unavailable: {exc}") from exc

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._call(self._target.fetch, sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._call(self._target.fetchrow, sql, *args)  # type: ignore[no-any-return]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._call(self._target.fetchval, sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._call(self._target.execute, sql, *args))

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        await self._call(self._target.executemany, sql, list(args))

    async def fetch_bounded(self, timeout_ms: int, sql: str, *args: Any) -> list[Row]:
        try:
            return await self._run(  # type: ignore[no-any-return]
                self._bounded, timeout_ms, self._sql(sql), args)
        except asyncpg.QueryCanceledError:
            raise StoreTimeout(f"PostgreSQL query cancelled after {timeout_ms} ms") from None

    async def _bounded(self, timeout_ms: int, sql: str, args: Sequence[Any]) -> list[Row]:
        limit = f"{int(timeout_ms)}ms"
        if isinstance(self._target, asyncpg.Pool):
            async with self._target.acquire() as conn, conn.transaction(readonly=True):
                await conn.execute(_SET_TIMEOUT, limit)
                return await conn.fetch(sql, *args)  # type: ignore[no-any-return]
        # Inside a transaction: SET LOCAL would last until its end, so the previous value
        # is put back (a cancelled statement aborts the transaction, and that with it).
        conn = self._target
        before = await conn.fetchval("SELECT current_setting('statement_timeout')")
        await conn.execute(_SET_TIMEOUT, limit)
        rows = await conn.fetch(sql, *args)
        await conn.execute(_SET_TIMEOUT, before)
        return rows  # type: ignore[no-any-return]

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if len(rows) < _COPY_MIN_ROWS:
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            await self.executemany(sql, rows)
            return
        # COPY is one statement, hence atomic; in binary format, values must have the
        # columns' exact types (bool for BOOLEAN, str for TEXT).
        copy = self._target.copy_records_to_table
        await self._run(copy, table, records=rows, columns=list(columns))


class PostgresExecutor(_PgOps):
    """The :class:`~core.store.executor.Executor` of an asyncpg pool (see :func:`open_postgres`).

    Args:
        pool: an open asyncpg pool; the executor owns and closes it.
        where: ``host:port/database``, for error messages.
        close_timeout: seconds :meth:`aclose` waits for connections to be released before
            terminating them.
    """

    def __init__(self, pool: asyncpg.Pool, where: str, close_timeout: float = 10.0) -> None:
        super().__init__(pool, lru_cache(maxsize=1024)(to_dollar_placeholders), where)
        self._pool = pool
        self._close_timeout = close_timeout
        self._closing = False

    async def _run(self, method: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
        if self._closing:
            raise StoreUnavailable(f"PostgreSQL store for {self._where} is closed")
        return await super()._run(method, *args, **kw)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTransaction]:
        """One pooled connection in one transaction, committed on a clean exit."""
        if self._closing:
            raise StoreUnavailable(f"PostgreSQL store for {self._where} is closed")
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield _PgTransaction(conn, self._sql, self._where)
        except _LOST_ERRORS as exc:
            raise StoreUnavailable(f"PostgreSQL at {self._where} is unavailable: {exc}") from exc

    async def aclose(self) -> None:
        """Close the pool gracefully; terminate what is still busy after the timeout."""
        if self._closing:
            return
        self._closing = True
        try:
            await asyncio.wait_for(self._pool.close(), self._close_timeout)
        except TimeoutError:
            logger.warning("PostgreSQL pool did not close in %ss: terminating", self._close_timeout)
            self._pool.terminate()


class _PgTransaction(_PgOps):
    """The executor handed out inside :meth:`PostgresExecutor.transaction`."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTransaction]:
        yield self  # nested: join the outer transaction

    async def aclose(self) -> None:
        """Nothing to release: the connection goes back to the pool with the transaction."""


class PostgresStore(SqlStore):
    """A PostgreSQL database: ``meta`` and ``messages`` over one asyncpg pool."""

    @classmethod
    async def open(
        cls,
        dsn: str,
        min_size: int = 2,
        max_size: int = 10,
        *,
        connect_timeout: float = 10.0,
        server_settings: Mapping[str, str] | None = None,
        apply_migrations: bool = True,
    ) -> PostgresStore:
        """Connect a pool to ``dsn`` and migrate the schema to the current version.

        Args:
            dsn: ``postgresql://user:password@host:port/database``.
            min_size: connections opened up front (and kept).
            max_size: most connections the pool opens.
            connect_timeout: seconds to wait for each connection.
            server_settings: session settings for every connection (e.g. ``search_path``).
            apply_migrations: apply pending schema migrations before returning.

        Raises:
            StoreUnavailable: the server cannot be reached or refuses the connection, or the
                URL is malformed. The message names the host, never the password.
        """
        where = describe_dsn(dsn)
        settings = {"application_name": "discord-arch", **(server_settings or {})}
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, timeout=connect_timeout,
                server_settings=settings, statement_cache_size=256,
            )
        except _URL_ERRORS:
            # Their text may quote the URL, password included: neither shown nor chained.
            raise StoreUnavailable(f"PostgreSQL URL for {where} is malformed") from None
        except _CONNECT_ERRORS as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise StoreUnavailable(f"PostgreSQL at {where} is unavailable: {reason}") from exc
        executor = PostgresExecutor(pool, where)
        await prepare(executor, apply_migrations=apply_migrations)
        return cls(executor, SqlMetaStore(executor), SqlMessageStore(executor))


async def open_postgres(
    dsn: str,
    min_size: int = 2,
    max_size: int = 10,
    *,
    connect_timeout: float = 10.0,
    server_settings: Mapping[str, str] | None = None,
    apply_migrations: bool = True,
) -> PostgresStore:
    """Same as :meth:`PostgresStore.open`."""
    return await PostgresStore.open(
        dsn, min_size, max_size, connect_timeout=connect_timeout,
        server_settings=server_settings, apply_migrations=apply_migrations,
    )
