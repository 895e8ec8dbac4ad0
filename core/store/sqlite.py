"""SQLite backend: an :class:`~core.store.executor.Executor` on one connection in one thread.

Every ``sqlite3`` call runs off the event loop, on a single dedicated thread that owns the
connection (it is created there; sqlite3 objects stay on the thread that made them). One
thread is enough: SQLite has one writer at a time anyway, and a single FIFO queue keeps the
statements of a transaction in order.

Because calls from different tasks share the one connection, an ``asyncio.Lock`` serializes
them at transaction granularity: a transaction holds it from ``BEGIN IMMEDIATE`` to ``COMMIT``,
so no other task's statement can run inside it (and see, or join, uncommitted writes).
``BEGIN IMMEDIATE`` takes the database write lock up front, so a transaction never fails
half-way to upgrade a read lock when another process writes the same file.

Durability: the database runs in WAL mode with ``synchronous=FULL`` by default, which syncs
the WAL at every commit, so a committed transaction survives a power cut. ``NORMAL`` would
only sync at checkpoints, and the last commits could vanish after a crash: that breaks
"durable before visible" (docs/architecture.md), since a message may be acked as soon as its batch
commits. The cost is one fsync per commit, which the batched message writes amortize.

Bounded reads (``fetch_bounded``: message searches) run on a second, read-only connection
with a thread of its own (``core.store.sqlitereader``), so a long search never holds up the
writes queued on this one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from core.store.base import Conflict, StoreUnavailable
from core.store.executor import Row
from core.store.sql import SqlMessageStore, SqlStore, prepare
from core.store.sqliteconn import SYNCHRONOUS, commit, connect, executemany_atomic
from core.store.sqlitereader import SqliteReader, fetch_bounded, names_a_file
from core.store.sqlitewriter import SqliteWriter
from core.store.sqlmeta import SqlMetaStore

__all__ = ["SqliteExecutor", "SqliteStore", "open_sqlite"]

_UNIQUE_ERRORS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


class SqliteStore(SqlStore):
    """A SQLite database: ``meta`` and ``messages`` over one connection and one thread."""

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5000,
        apply_migrations: bool = True,
        writer: str = "thread",
    ) -> SqliteStore:
        """Open (creating if needed) a SQLite database, migrated to the current schema.

        Args:
            path: a file path, ``":memory:"`` (private to this store), or a ``file:`` URI.
            synchronous: ``PRAGMA synchronous``; ``FULL`` (default) is durable at commit.
            busy_timeout_ms: how long a statement waits for another process's write lock.
            apply_migrations: apply pending schema migrations before returning.
            writer: where the message batches (``insert_rows``) are written: ``"thread"``,
                the connection's own thread, or ``"process"``, a child process with its own
                connection (``core.store.sqlitewriter``; a database in memory keeps the thread).

        Raises:
            StoreUnavailable: the file cannot be opened or is not a SQLite database.
            ValueError: ``synchronous`` is not OFF, NORMAL, FULL or EXTRA, or ``writer`` is
                neither ``"thread"`` nor ``"process"``.
        """
        executor = await SqliteExecutor.open(
            path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms, writer=writer
        )
        await prepare(executor, apply_migrations=apply_migrations)
        return cls(executor, SqlMetaStore(executor), SqlMessageStore(executor))


async def open_sqlite(
    path: str,
    *,
    synchronous: str = "FULL",
    busy_timeout_ms: int = 5000,
    apply_migrations: bool = True,
    writer: str = "thread",
) -> SqliteStore:
    """Same as :meth:`SqliteStore.open`."""
    return await SqliteStore.open(
        path,
        synchronous=synchronous,
        busy_timeout_ms=busy_timeout_ms,
        apply_migrations=apply_migrations,
        writer=writer,
    )


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _fetch(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    return conn.execute(sql, args).fetchall()


def _execute(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    return max(conn.execute(sql, args).rowcount, 0)  # -1 for statements that change no row


def _executemany(conn: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    conn.executemany(sql, rows)


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class SqliteExecutor:
    """The :class:`~core.store.executor.Executor` of one SQLite connection on its own thread.

    Build it with :meth:`open`. Outside :meth:`transaction`, each call is its own
    (auto-committed) transaction; ``executemany`` runs in one transaction, in one thread hop.
    """

    dialect = "sqlite"

    def __init__(
        self, thread: ThreadPoolExecutor, conn: sqlite3.Connection, path: str = ":memory:",
        busy_timeout_ms: int = 5000, writer: SqliteWriter | None = None,
    ) -> None:
        self._thread = thread
        self._conn: sqlite3.Connection | None = conn
        self._lock = asyncio.Lock()
        self._closing = False
        # Bounded reads' own connection; a database in memory has only this one.
        self._reader = SqliteReader(path, busy_timeout_ms) if names_a_file(path) else None
        # The message batches' child process (Config.sqlite_writer), if any.
        self._writer = writer

    @classmethod
    async def open(
        cls, path: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000,
        writer: str = "thread",
    ) -> SqliteExecutor:
        """Start the thread and open the connection on it (see :func:`open_sqlite`); the
        writer process, if any, starts with the first batch."""
        synchronous = synchronous.upper()
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS)}")
        if writer not in ("thread", "process"):
            raise ValueError(f"writer must be 'thread' or 'process', got {writer!r}")
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(
                thread, connect, path, synchronous, busy_timeout_ms
            )
        except sqlite3.Error as exc:
            thread.shutdown(wait=False)
            raise StoreUnavailable(f"SQLite database {path} cannot be opened: {exc}") from exc
        child = None
        if writer == "process" and names_a_file(path):
            child = SqliteWriter(path, synchronous, busy_timeout_ms)
        return cls(thread, conn, path, busy_timeout_ms, child)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(connection, *args)`` on the connection's thread, without the lock.

        Only for callers that hold it (a transaction); unique violations become Conflict.
        """
        conn = self._conn
        if conn is None:
            raise StoreUnavailable("SQLite store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, fn, conn, *args)
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname in _UNIQUE_ERRORS:
                raise Conflict(str(exc)) from exc
            raise

    async def _locked(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closing:
            raise StoreUnavailable("SQLite store is closed")
        async with self._lock:
            return await self.call(fn, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._locked(_fetch, sql, args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self._locked(_fetch, sql, args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = await self._locked(_fetch, sql, args)
        return rows[0][0] if rows else None

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._locked(_execute, sql, args)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        await self._locked(executemany_atomic, sql, list(args))

    async def fetch_bounded(self, timeout_ms: int, sql: str, *args: Any) -> list[Row]:
        if self._closing:
            raise StoreUnavailable("SQLite store is closed")
        if self._reader is not None:
            return await self._reader.fetch_bounded(timeout_ms, sql, args)
        return await self._locked(  # type: ignore[no-any-return]
            fetch_bounded, timeout_ms, sql, args)

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if self._writer is None:
            await self.executemany(_insert_sql(table, columns), rows)
            return
        if self._closing:
            raise StoreUnavailable("SQLite store is closed")
        # Outside the lock: the child's connection takes the file's write lock itself.
        await self._writer.write(_insert_sql(table, columns), list(rows))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTransaction]:
        """Hold the connection for one ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction."""
        if self._closing:
            raise StoreUnavailable("SQLite store is closed")
        async with self._lock:
            try:
                await self.call(_begin)
                yield _SqliteTransaction(self)
            except (Exception, asyncio.CancelledError):
                # Queued on the one thread before the lock is released, so even if this
                # await is cancelled, the ROLLBACK runs before anyone else's statement
                # (the same holds for a BEGIN whose await was cancelled).
                await self.call(_rollback)
                raise
            await self.call(commit)

    async def aclose(self) -> None:
        """Wait for the running transaction, close the connection, stop the thread (and the
        writer process, after the batches it has been given)."""
        if self._closing:
            return
        self._closing = True
        if self._writer is not None:
            await self._writer.aclose()
        if self._reader is not None:
            await self._reader.aclose()
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=True)  # idle by now: returns at once


class _SqliteTransaction:
    """The executor handed out inside :meth:`SqliteExecutor.transaction` (lock held)."""

    dialect = "sqlite"

    def __init__(self, owner: SqliteExecutor) -> None:
        self._owner = owner

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._owner.call(_fetch, sql, args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self._owner.call(_fetch, sql, args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = await self._owner.call(_fetch, sql, args)
        return rows[0][0] if rows else None

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._owner.call(_execute, sql, args)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        await self._owner.call(_executemany, sql, list(args))

    async def fetch_bounded(self, timeout_ms: int, sql: str, *args: Any) -> list[Row]:
        # In a transaction: on its connection, which alone sees what it wrote.
        return await self._owner.call(  # type: ignore[no-any-return]
            fetch_bounded, timeout_ms, sql, args)

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        await self.executemany(_insert_sql(table, columns), rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTransaction]:
        yield self  # nested: join the outer transaction

    async def aclose(self) -> None:
        """Nothing to release: the owner holds the connection (closing it here would wait
        for the lock this transaction holds)."""
