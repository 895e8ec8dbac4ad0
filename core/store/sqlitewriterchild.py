"""The SQLite writer process: the message router's batches written outside the worker.

Run as ``python -m core.store.sqlitewriterchild PATH SYNCHRONOUS BUSY_TIMEOUT_MS`` by
:class:`core.store.sqlitewriter.SqliteWriter`, which feeds it over its standard input and
reads its answers from its standard output, in order. Each frame is a 4-byte big-endian
length and a pickle (both ends are this package, so nothing untrusted is unpickled):

- requests: ``(sql, rows)``, run as one ``BEGIN IMMEDIATE`` ... ``COMMIT``
  (:func:`core.store.sqliteconn.executemany_atomic`);
- answers: ``None`` once the connection is open and after each committed request, or
  ``(error class name, SQLite error name, message)`` for a request (or an open) that failed,
  its transaction rolled back.

Why a process: a write on a thread of the worker takes the GIL back after each statement it
runs, and while the loop fans out in Python each of those waits up to the interpreter's
switch interval; here the statements and the fsync run under this process's own GIL (an
option, ``Config.sqlite_writer``: it measured no gain over the thread end to end).

It ends when its input does (the worker closed it, or exited or was killed). It ignores
SIGINT and SIGTERM, which a terminal or a service manager sends to the whole process group:
the worker decides when the writes are over, by closing the pipe after its last batch.
"""

from __future__ import annotations

import pickle
import signal
import sqlite3
import struct
import sys
from typing import IO, Any

from core.store.sqliteconn import SYNCHRONOUS, connect, executemany_atomic

__all__ = ["FRAME_HEADER", "MAX_FRAME_BYTES", "main", "serve"]

FRAME_HEADER = struct.Struct(">I")
# A batch is at most Config.batch_max_messages rows of at most a few KiB each; a frame this
# large means the stream is out of step, and the process stops rather than allocate it.
MAX_FRAME_BYTES = 1 << 30


def serve(path: str, synchronous: str, busy_timeout_ms: int, inp: IO[bytes], out: IO[bytes]) -> int:
    """Answer requests from ``inp`` on ``out`` until ``inp`` ends; the exit status."""
    try:
        conn = connect(path, synchronous, busy_timeout_ms)
    except sqlite3.Error as exc:
        _answer(out, _error(exc))
        return 1
    _answer(out, None)
    try:
        while True:
            body = _read_frame(inp)
            if body is None:
                return 0
            sql, rows = pickle.loads(body)
            try:
                executemany_atomic(conn, sql, rows)
            except Exception as exc:  # the request fails, the writer goes on
                _answer(out, _error(exc))
            else:
                _answer(out, None)
    finally:
        conn.close()


def _error(exc: BaseException) -> tuple[str, str, str]:
    return type(exc).__name__, getattr(exc, "sqlite_errorname", None) or "", str(exc)


def _answer(out: IO[bytes], answer: Any) -> None:
    body = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(FRAME_HEADER.pack(len(body)) + body)
    out.flush()


def _read_frame(inp: IO[bytes]) -> bytes | None:
    header = _read_exactly(inp, FRAME_HEADER.size)
    if header is None:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"a request frame of {size} bytes: the stream is out of step")
    return _read_exactly(inp, size)


def _read_exactly(inp: IO[bytes], size: int) -> bytes | None:
    parts, left = [], size
    while left:
        part = inp.read(left)
        if not part:
            return None  # the worker closed the pipe (mid-frame only if it died)
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def main(argv: list[str] | None = None) -> int:
    path, synchronous, busy_timeout_ms = argv if argv is not None else sys.argv[1:]
    if synchronous not in SYNCHRONOUS:
        raise SystemExit(f"synchronous must be one of {sorted(SYNCHRONOUS)}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return serve(path, synchronous, int(busy_timeout_ms), sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
