"""The one small interface both SQL backends implement, and the helpers their SQL is built with.

:class:`Executor` is what the SQL stores (``core.store.sql``, ``core.store.sqlmeta``) and the
migrations (``core.store.migrations``) run over; ``core.store.sqlite`` and
``core.store.postgres`` each provide one. It is a leaf: it imports no store, so the stores, the
migrations and the backends all depend on it and never on each other for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

__all__ = ["Executor", "Row", "assignments", "in_chunks", "serialize"]

Row = Sequence[Any]


class Executor(Protocol):
    """The few database operations the SQL stores need, over one database.

    Statements use ``?`` placeholders. A unique-key violation raises
    :class:`core.store.base.Conflict`; a closed executor raises
    :class:`core.store.base.StoreUnavailable`. Outside :meth:`transaction`, each call is its
    own transaction, and ``executemany`` is atomic (all rows or none).
    """

    dialect: str  # "sqlite" or "postgres"

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it changed."""

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None: ...

    async def fetch_bounded(self, timeout_ms: int, sql: str, *args: Any) -> list[Row]:
        """``fetch``, cancelled by the database once it has run ``timeout_ms``.

        For the reads whose cost the caller cannot bound by their shape (a search): the
        statement is cut, never left running, and :class:`core.store.searchquery.StoreTimeout`
        is raised. SQLite interrupts it from a progress handler; PostgreSQL applies a
        transaction-local ``statement_timeout``.
        """

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` into ``table`` atomically, by the fastest bulk path there is
        (``COPY`` on PostgreSQL, ``executemany`` on SQLite)."""

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """An executor whose calls all run in one transaction, committed on a clean exit
        and rolled back on an exception. Nested calls join the outer transaction."""

    async def aclose(self) -> None:
        """Release every connection and thread; safe to call twice."""


# -- helpers ---------------------------------------------------------------------------------

# IN-list sizes: short lists are padded up to one of these, so that few distinct statements
# exist (PostgreSQL prepares and caches each text) and no list exceeds SQLite's limits.
_IN_SIZES = (1, 4, 16, 64, 256)


def in_chunks(ids: Iterable[int]) -> Iterator[tuple[str, list[int]]]:
    """Split ``ids`` (deduplicated) into ``("?,?,...", values)`` chunks for ``IN (...)``."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _IN_SIZES[-1]):
        chunk = unique[start : start + _IN_SIZES[-1]]
        size = next(s for s in _IN_SIZES if s >= len(chunk))
        chunk += chunk[:1] * (size - len(chunk))  # repeating an id in IN () is harmless
        yield ",".join("?" * size), chunk


def assignments(
    fields: Mapping[str, Any], allowed: Mapping[str, Callable[[Any], Any]]
) -> tuple[str, list[Any]]:
    """``"a = ?, b = ?"`` and the coerced values for an UPDATE of ``fields``.

    Raises:
        ValueError: a field is not in ``allowed`` (its names are the only ones that ever
            reach the SQL text).
    """
    unknown = fields.keys() - allowed.keys()
    if unknown:
        raise ValueError(f"fields cannot be updated: {sorted(unknown)}")
    names = sorted(fields)  # a stable text per set of fields, for the statement caches
    values = [None if fields[n] is None else allowed[n](fields[n]) for n in names]
    return ", ".join(f"{n} = ?" for n in names), values


# PostgreSQL's two-key advisory locks take int4 keys.
_INT4_MAX = (1 << 31) - 1


async def serialize(tx: Executor, namespace: int, key: int) -> None:
    """Make the rest of transaction ``tx`` run alone among those serializing on ``key``.

    For the checks that count rows before adding one (50 pins a channel, 20 emojis a
    message): two concurrent READ COMMITTED transactions on PostgreSQL would both see room
    for the last one. There, a transaction-scoped advisory lock on (``namespace``, ``key``
    folded into int4) is taken; unrelated keys that fold together only wait for each other.
    SQLite needs nothing: its write transactions already run one at a time (BEGIN
    IMMEDIATE).
    """
    if tx.dialect == "postgres":
        await tx.fetchval("SELECT pg_advisory_xact_lock(?, ?)", namespace, key % _INT4_MAX)
