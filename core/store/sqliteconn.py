"""Opening a SQLite connection the way every part of the SQLite backend needs it, and the
one-transaction batch write.

Kept apart from ``core.store.sqlite`` so that the writer process (``core.store.sqlitewriterchild``)
imports nothing but this and the standard library: it starts in tens of milliseconds and
holds a few MiB.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = ["SYNCHRONOUS", "commit", "connect", "executemany_atomic"]

SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
# Distinct statement texts are few (fixed SQL, padded IN lists), so all of them stay prepared.
_STATEMENT_CACHE = 512


def connect(path: str, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with ``synchronous`` and foreign keys on, no implicit BEGIN."""
    # isolation_level=None: no implicit BEGIN; transactions are explicit (BEGIN IMMEDIATE).
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        cached_statements=_STATEMENT_CACHE,
        uri=path.startswith("file:"),
    )
    try:
        # busy_timeout first: switching to WAL may itself wait for another process.
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")  # ":memory:" keeps "memory"; harmless
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")  # off by default; the cascades rely on it
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def commit(conn: sqlite3.Connection) -> None:
    """COMMIT; a failed COMMIT leaves the transaction open, so roll it back before raising."""
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def executemany_atomic(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``sql`` for every row in one ``BEGIN IMMEDIATE`` ... ``COMMIT``: all rows or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, rows)
    except Exception:
        conn.execute("ROLLBACK")  # e.g. a unique violation, or a value sqlite3 cannot bind
        raise
    commit(conn)
