"""Bounded reads on SQLite: a statement deadline, and the read-only connection searches use.

The SQLite executor (``core.store.sqlite``) has one connection on one thread, and every
statement waits its turn there, the message router's write batches included. A search may
read a large part of the database: run there, a slow one would hold up every write behind
it. So bounded reads (:meth:`Executor.fetch_bounded`, the searches) run on a second,
read-only connection with a thread of its own. In WAL mode a reader never blocks the writer
nor waits for it, and sees every transaction committed before its statement began: a message
is searchable once its batch has committed, which is also when its sender is answered.
Searches wait for each other on that one thread, each at most its deadline.

The deadline is a progress handler: SQLite calls it every :data:`_PROGRESS_STEPS` virtual
machine instructions, and a true answer interrupts the statement (``SQLITE_INTERRUPT``), which
becomes :class:`~core.store.searchquery.StoreTimeout`. Nothing outlives the call: the handler
is removed before the thread takes the next statement.

A database that is not a file (``:memory:``, a ``mode=memory`` URI) cannot be opened twice;
there the executor runs bounded reads on its own connection, with the same deadline.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.store.base import StoreUnavailable
from core.store.executor import Row
from core.store.searchquery import StoreTimeout

__all__ = ["SqliteReader", "fetch_bounded", "names_a_file"]

# Virtual machine instructions between two looks at the clock: about a millisecond of work,
# so a deadline is kept to within a millisecond or so at a negligible cost.
_PROGRESS_STEPS = 10_000
_STATEMENT_CACHE = 64


def names_a_file(path: str) -> bool:
    """Whether ``path`` names a database a second connection can open (not in memory)."""
    if path in ("", ":memory:"):
        return False
    return not (path.startswith("file:") and ("mode=memory" in path or path.startswith("file::memory:")))


def fetch_bounded(
    conn: sqlite3.Connection, timeout_ms: int, sql: str, args: Sequence[Any]
) -> list[Row]:
    """Run one query on ``conn`` (on its thread), interrupted once it has run ``timeout_ms``.

    Raises:
        StoreTimeout: the deadline passed and SQLite interrupted the statement.
    """
    deadline = time.monotonic() + timeout_ms / 1000

    def expired() -> bool:
        return time.monotonic() > deadline

    conn.set_progress_handler(expired, _PROGRESS_STEPS)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if expired() and "interrupt" in str(exc):
            raise StoreTimeout(f"SQLite query cancelled after {timeout_ms} ms") from None
        raise
    finally:
        conn.set_progress_handler(None, 0)


def _connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, cached_statements=_STATEMENT_CACHE,
        uri=path.startswith("file:"), check_same_thread=True,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA query_only = ON")  # a reader, whatever a caller sends it
    except sqlite3.Error:
        conn.close()
        raise
    return conn


class SqliteReader:
    """A read-only connection to a SQLite file, opened on first use, on a thread of its own.

    Args:
        path: the database file (or ``file:`` URI) the executor's connection opened.
        busy_timeout_ms: as the executor's (a reader only waits during a WAL reset).
    """

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._thread: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    async def fetch_bounded(self, timeout_ms: int, sql: str, args: Sequence[Any]) -> list[Row]:
        """:func:`fetch_bounded` on the reader's connection (opened if need be)."""
        thread, conn = await self._open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(thread, fetch_bounded, conn, timeout_ms, sql, args)

    async def _open(self) -> tuple[ThreadPoolExecutor, sqlite3.Connection]:
        async with self._opening:
            if self._closed:
                raise StoreUnavailable("SQLite store is closed")
            if self._thread is None or self._conn is None:
                thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
                try:
                    self._conn = await asyncio.get_running_loop().run_in_executor(
                        thread, _connect, self._path, self._busy_timeout_ms)
                except sqlite3.Error as exc:
                    thread.shutdown(wait=False)
                    raise StoreUnavailable(
                        f"SQLite database {self._path} cannot be read: {exc}") from exc
                self._thread = thread
            return self._thread, self._conn

    async def aclose(self) -> None:
        """Close the connection once its running statement ends; safe to call twice."""
        async with self._opening:
            self._closed = True
            thread, conn = self._thread, self._conn
            self._thread = self._conn = None
        if thread is not None and conn is not None:
            await asyncio.get_running_loop().run_in_executor(thread, conn.close)
            thread.shutdown(wait=True)
