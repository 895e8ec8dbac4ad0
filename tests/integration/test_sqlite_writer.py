"""The SQLite writer process (``core.store.sqlitewriter``): the message batches of a file
database written by a child process, and what happens when that child goes away.

The message store contract runs on it too (``sqlite-process`` in ``MESSAGE_BACKENDS``);
these are the parts only a process has: its frames, its life and its death.
"""

from __future__ import annotations

import asyncio
import io
import os
import pickle
import signal
import sqlite3
from pathlib import Path

import pytest

from core.config import Config, ConfigError
from core.store.base import Conflict, StoreUnavailable
from core.store.sqlite import SqliteExecutor, SqliteStore
from core.store.sqliteconn import connect
from core.store.sqlitewriterchild import FRAME_HEADER, serve

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"


def frame(value: object) -> bytes:
    body = pickle.dumps(value)
    return FRAME_HEADER.pack(len(body)) + body


def answers(data: bytes) -> list[object]:
    out, view = [], memoryview(data)
    while view:
        (size,) = FRAME_HEADER.unpack(view[:FRAME_HEADER.size])
        out.append(pickle.loads(view[FRAME_HEADER.size:FRAME_HEADER.size + size]))
        view = view[FRAME_HEADER.size + size:]
    return out


def test_serve_answers_each_request_in_order_and_rolls_back_a_failed_one(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    with connect(path, "FULL", 5000) as conn:
        conn.execute(TABLE)
    insert = "INSERT INTO t (id, v) VALUES (?, ?)"
    requests = (frame((insert, [(1, "a"), (2, "b")]))
                + frame((insert, [(3, "c"), (1, "again")]))  # a duplicate: none of it
                + frame((insert, [(4, None)]))                # NOT NULL
                + frame((insert, [(5, "e")])))
    out = io.BytesIO()
    assert serve(path, "FULL", 5000, io.BytesIO(requests), out) == 0
    got = answers(out.getvalue())
    assert got[0] is None  # open
    assert got[1] is None
    assert got[2] == ("IntegrityError", "SQLITE_CONSTRAINT_PRIMARYKEY",
                      "UNIQUE constraint failed: t.id")
    assert got[3][:2] == ("IntegrityError", "SQLITE_CONSTRAINT_NOTNULL")  # type: ignore[index]
    assert got[4] is None
    assert len(got) == 5
    with connect(path, "FULL", 5000) as conn:
        assert conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,), (5,)]


def test_serve_stops_at_a_frame_cut_short(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    with connect(path, "FULL", 5000) as conn:
        conn.execute(TABLE)
    whole = frame(("INSERT INTO t (id, v) VALUES (?, ?)", [(1, "a")]))
    out = io.BytesIO()
    assert serve(path, "FULL", 5000, io.BytesIO(whole + whole[:-3]), out) == 0
    assert answers(out.getvalue()) == [None, None]


def test_serve_reports_a_database_it_cannot_open(tmp_path: Path) -> None:
    out = io.BytesIO()
    assert serve(str(tmp_path / "no-dir" / "db"), "FULL", 5000, io.BytesIO(), out) == 1
    [(kind, _, message)] = answers(out.getvalue())  # type: ignore[misc]
    assert kind == "OperationalError" and "unable to open" in message


async def open_executor(tmp_path: Path) -> SqliteExecutor:
    executor = await SqliteExecutor.open(str(tmp_path / "db"), writer="process")
    await executor.execute(TABLE)
    return executor


async def count(executor: SqliteExecutor) -> int:
    return int(await executor.fetchval("SELECT count(*) FROM t"))


async def test_batches_are_written_by_a_child_and_readable_when_written(tmp_path: Path) -> None:
    executor = await open_executor(tmp_path)
    try:
        await executor.insert_rows("t", ["id", "v"], [(1, "a"), (2, "b")])
        assert await count(executor) == 2  # visible to the worker's own connection at once
        child = executor._writer.pid  # type: ignore[union-attr]
        assert child is not None and child != os.getpid()
        # Concurrent batches are pipelined to the one child and all land.
        await asyncio.gather(*(
            executor.insert_rows("t", ["id", "v"], [(10 + i, "x")]) for i in range(50)))
        assert await count(executor) == 52
        with pytest.raises(Conflict):
            await executor.insert_rows("t", ["id", "v"], [(100, "new"), (1, "dup")])
        with pytest.raises(sqlite3.IntegrityError):
            await executor.insert_rows("t", ["id", "v"], [(101, None)])
        assert await count(executor) == 52  # neither failed batch left a row
        assert executor._writer.pid == child  # type: ignore[union-attr]  # errors kept it
    finally:
        await executor.aclose()


async def test_a_child_that_dies_fails_its_writes_and_the_next_write_starts_another(
    tmp_path: Path,
) -> None:
    executor = await open_executor(tmp_path)
    writer = executor._writer
    assert writer is not None
    try:
        await executor.insert_rows("t", ["id", "v"], [(1, "a")])
        first = writer.pid
        assert first is not None
        # Stopped, the child cannot answer: a batch is in flight when it is killed.
        os.kill(first, signal.SIGSTOP)
        in_flight = asyncio.create_task(executor.insert_rows("t", ["id", "v"], [(2, "b")]))
        await asyncio.sleep(0.1)
        assert not in_flight.done()
        os.kill(first, signal.SIGKILL)
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(in_flight, 10)
        assert writer.pid is None
        await executor.insert_rows("t", ["id", "v"], [(1000, "c")])
        assert writer.pid not in (None, first)
        assert await executor.fetchval("SELECT v FROM t WHERE id = 1000") == "c"
    finally:
        await executor.aclose()


async def test_the_child_outlives_sigterm_and_exits_when_the_store_closes(tmp_path: Path) -> None:
    executor = await open_executor(tmp_path)
    writer = executor._writer
    assert writer is not None
    await executor.insert_rows("t", ["id", "v"], [(1, "a")])
    child = writer.pid
    assert child is not None
    # A service manager's stop signals the whole group: the worker, not the signal, ends it.
    os.kill(child, signal.SIGTERM)
    await asyncio.sleep(0.2)
    await executor.insert_rows("t", ["id", "v"], [(2, "b")])
    assert writer.pid == child
    await executor.aclose()
    assert writer.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # exited and reaped
    with pytest.raises(StoreUnavailable):
        await executor.insert_rows("t", ["id", "v"], [(3, "c")])


async def test_a_write_while_the_writer_closes_is_refused(tmp_path: Path) -> None:
    executor = await open_executor(tmp_path)
    writer = executor._writer
    assert writer is not None
    await executor.insert_rows("t", ["id", "v"], [(1, "a")])
    closing = asyncio.create_task(writer.aclose())
    await asyncio.sleep(0)  # aclose has closed the child's input; the child has not exited yet
    with pytest.raises(StoreUnavailable, match="closed"):
        await writer.write("INSERT INTO t (id, v) VALUES (?, ?)", [(2, "b")])
    await closing
    try:
        assert await count(executor) == 1  # the refused batch wrote nothing
    finally:
        await executor.aclose()


async def test_a_database_in_memory_keeps_the_thread() -> None:
    executor = await SqliteExecutor.open(":memory:", writer="process")
    try:
        assert executor._writer is None
        await executor.execute(TABLE)
        await executor.insert_rows("t", ["id", "v"], [(1, "a")])
        assert await count(executor) == 1
    finally:
        await executor.aclose()


async def test_messages_written_through_the_store_are_durable_after_close(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    async with await SqliteStore.open(path, writer="process") as store:
        await store.executor.execute(TABLE)
        await store.executor.insert_rows("t", ["id", "v"], [(7, "kept")])
    async with await SqliteStore.open(path, writer="thread") as store:
        assert await store.executor.fetchval("SELECT v FROM t WHERE id = 7") == "kept"


async def test_a_writer_that_is_neither_thread_nor_process_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await SqliteExecutor.open(str(tmp_path / "db"), writer="fork")
    with pytest.raises(ConfigError):
        Config(sqlite_writer="fork")
    assert Config().sqlite_writer == "thread"
