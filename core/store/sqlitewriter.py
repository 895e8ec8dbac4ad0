"""The message router's SQLite writes in a process of their own (``Config.sqlite_writer``).

The SQLite executor (``core.store.sqlite``) runs every statement on one thread of the
worker, which takes the GIL back after each statement (BEGIN, each row, COMMIT) and to hand
its result to the loop; while the loop fans out in Python each of those waits up to the
interpreter's switch interval. :class:`SqliteWriter` moves exactly the message batches to a
child process (``core.store.sqlitewriterchild``) with its own connection to the same file:
the loop writes one frame to a pipe and reads one back, and never waits for a GIL. Measured
against the thread at 20-60 msg/s to 1,000 receivers it gained nothing (the same CPU per
delivery and receive → durable latency) and had rare stalls of 0.3-0.45 s, so the thread is
the default (bench/RESULTS.md, "The SQLite writer process").

Correctness rests on SQLite itself: two connections to one WAL database serialize their
write transactions on the file's lock (``BEGIN IMMEDIATE``, each waiting up to
``busy_timeout_ms``), and a read that starts after the child's COMMIT sees the rows, so a
message is readable (and searchable) when ``insert_many`` returns, as before. The child's
connection has the same ``synchronous`` pragma: FULL syncs the WAL at its COMMIT.

A database in memory cannot be opened twice; there the executor keeps its thread. If the
child exits, the writes in flight fail with :class:`StoreUnavailable` (their outcome is
unknown, which the router's retries by nonce tolerate) and the next write starts a new one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import sqlite3
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any

import core
from core.store.base import Conflict, StoreUnavailable
from core.store.sqlitewriterchild import FRAME_HEADER, MAX_FRAME_BYTES

__all__ = ["SqliteWriter"]

log = logging.getLogger(__name__)

_UNIQUE_ERRORS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
# The sqlite3 errors a failed request comes back as, by class name (anything else the child
# raised becomes StoreUnavailable).
_SQLITE_ERRORS: dict[str, type[sqlite3.Error]] = {
    cls.__name__: cls
    for cls in (sqlite3.IntegrityError, sqlite3.OperationalError, sqlite3.ProgrammingError,
                sqlite3.InterfaceError, sqlite3.DataError, sqlite3.DatabaseError,
                sqlite3.NotSupportedError, sqlite3.InternalError)
}
# How long aclose waits for the child to finish its last batch and exit before killing it.
_EXIT_TIMEOUT_S = 30.0
# The directory holding the ``core`` package, put first on the child's PYTHONPATH: the child
# imports the same code as the worker even when the worker runs from a checkout.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(core.__file__)))


class SqliteWriter:
    """One child process writing batches to one SQLite file, started at the first write.

    :meth:`write` may be called by several tasks at once: requests are pipelined and the
    child answers them in order.
    """

    def __init__(self, path: str, synchronous: str, busy_timeout_ms: int) -> None:
        self._args = (path, synchronous, str(int(busy_timeout_ms)))
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._starting = asyncio.Lock()
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (tests and diagnostics)."""
        return None if self._proc is None else self._proc.pid

    async def write(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``sql`` for every row in one transaction in the child; return once committed.

        Raises:
            Conflict: a row broke a unique constraint (nothing of the batch was written).
            sqlite3.Error: another SQLite error (nothing written).
            StoreUnavailable: the writer is closed, or the child could not start or exited.
        """
        if self._closed:  # its input is closed, or about to be: nothing more may be queued
            raise StoreUnavailable("SQLite store is closed")
        proc = self._proc
        if proc is None:
            proc = await self._started()
        body = pickle.dumps((sql, rows), protocol=pickle.HIGHEST_PROTOCOL)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(answer)
        assert proc.stdin is not None
        proc.stdin.write(FRAME_HEADER.pack(len(body)) + body)
        try:
            await proc.stdin.drain()  # waits only above the pipe's high-water mark
        except ConnectionError as exc:
            raise StoreUnavailable("the SQLite writer process exited") from exc
        _raise_for(await answer)

    async def _started(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._closed:
                raise StoreUnavailable("SQLite store is closed")
            if self._proc is not None:
                return self._proc
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "core.store.sqlitewriterchild", *self._args,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
            except OSError as exc:
                raise StoreUnavailable(f"the SQLite writer process cannot start: {exc}") from exc
            assert proc.stdout is not None
            try:
                ready = await _read_answer(proc.stdout)
            except (asyncio.IncompleteReadError, ValueError):
                ready = ("", "", f"it exited with status {await proc.wait()}")
            if ready is not None:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                raise StoreUnavailable(
                    f"the SQLite writer process cannot open {self._args[0]}: {ready[2]}")
            self._proc = proc
            self._reader = asyncio.create_task(self._read_answers(proc))
            return proc

    async def _read_answers(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                answer = await _read_answer(proc.stdout)
                waiter = self._waiting.popleft()
                if not waiter.done():  # its writer may have been cancelled
                    waiter.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass  # the child exited (or its stream is out of step: it is killed below)
        finally:
            if self._proc is proc:
                self._proc = None
            waiting, self._waiting = self._waiting, deque()
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(("", "", "the SQLite writer process exited"))
            if proc.returncode is None and not self._closed:
                proc.kill()
            status = await proc.wait()
            if not self._closed:
                log.error("the SQLite writer process exited (status %s); the next write "
                          "starts another", status)

    async def aclose(self) -> None:
        """Close the child's input after the writes in flight and wait for it to exit."""
        self._closed = True
        async with self._starting:
            proc, reader = self._proc, self._reader
        if proc is None or reader is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()  # the child finishes what it has read, then sees the end
        try:
            await asyncio.wait_for(asyncio.shield(reader), _EXIT_TIMEOUT_S)
        except TimeoutError:
            log.error("the SQLite writer process did not exit in %s s: killed", _EXIT_TIMEOUT_S)
            proc.kill()
            await reader


async def _read_answer(stream: asyncio.StreamReader) -> Any:
    (size,) = FRAME_HEADER.unpack(await stream.readexactly(FRAME_HEADER.size))
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"an answer frame of {size} bytes")
    return pickle.loads(await stream.readexactly(size))


def _raise_for(answer: tuple[str, str, str] | None) -> None:
    if answer is None:
        return
    kind, errorname, message = answer
    if errorname in _UNIQUE_ERRORS:
        raise Conflict(message)
    cls = _SQLITE_ERRORS.get(kind)
    if cls is None:
        raise StoreUnavailable(f"SQLite writer process: {message}")
    raise cls(message)
