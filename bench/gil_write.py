"""The SQLite writer thread against a loop busy in Python: how long a durable write takes.

Usage::

    python -m bench.gil_write [--writes 200] [--busy-ms 10] [--intervals 5,0.5]

The gateway's store writes on a thread of its own (``core.store.sqlite``) while the event loop
fans out in Python. The thread releases the GIL inside each SQLite call (the fsync of the
COMMIT among them) and must take it back after each, and again to hand the result to the
loop; while the loop's thread runs Python, each of those waits up to the interpreter's switch
interval (``sys.setswitchinterval``, 5 ms by default). This measures exactly that path, with
no socket: one single-row write (``BEGIN IMMEDIATE``, ``INSERT``, ``COMMIT``, on a WAL
database with ``synchronous=FULL``, as the store does) every few ms through
``run_in_executor``, awaited by a uvloop loop that meanwhile spends ``--busy-ms`` at a time in
pure Python (a fanout round's stand-in), for each switch interval of ``--intervals``; and the
same writes with the loop idle, the floor. Prints, in ms, submit → the write done in its
thread (the GIL waits inside it) and → the result seen by the loop (which also waits for the
busy round to end: the "callbacks behind a whole fanout round" of issue 16). Pin it (``taskset -c 0``) to see it on one core, as the server runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["main", "measure"]


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, body TEXT)")
    return conn


def _write(conn: sqlite3.Connection, row: tuple[int, str]) -> float:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO m (id, body) VALUES (?, ?)", row)
    conn.execute("COMMIT")
    return time.perf_counter()  # done, in the thread (the GIL held again)


def _write_one(conn: sqlite3.Connection, row: tuple[int, str]) -> float:
    # One statement in autocommit: atomic on its own (its triggers too), one SQLite call
    # instead of three, so a third of the GIL hand-backs.
    conn.execute("INSERT INTO m (id, body) VALUES (?, ?)", row)
    return time.perf_counter()


def _busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += 1  # Python bytecode: the GIL is held, released only when the interval forces it


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(q * len(values) + 0.5) - 1))]


async def measure(writes: int, busy_ms: float, interval_ms: float, path: str,
                  one_statement: bool = False) -> dict[str, Any]:
    """``writes`` writes, each awaited while the loop keeps busy (``busy_ms`` 0: idle);
    ``one_statement``: the INSERT alone in autocommit instead of BEGIN, INSERT, COMMIT."""
    sys.setswitchinterval(interval_ms / 1000)
    loop = asyncio.get_running_loop()
    conn = _connect(path)
    times: list[float] = []
    in_thread: list[float] = []
    with ThreadPoolExecutor(1) as thread:
        for i in range(writes):
            start = time.perf_counter()
            fut = loop.run_in_executor(thread, _write_one if one_statement else _write, conn,
                                       (i + int(start * 1e6), "x" * 900))
            while busy_ms and not fut.done():
                _busy(busy_ms)  # a fanout round: the result waits for it to end
                await asyncio.sleep(0)
            await fut  # idle: the loop waits in epoll, the GIL free
            times.append((time.perf_counter() - start) * 1000)
            in_thread.append((fut.result() - start) * 1000)
            await asyncio.sleep(0.002)  # everyday load: a write now and then
    conn.close()
    return {"switch_interval_ms": interval_ms, "busy_ms": busy_ms,
            "p50_ms": _pct(times, 0.5), "p99_ms": _pct(times, 0.99), "max_ms": max(times),
            "thread_p50_ms": _pct(in_thread, 0.5), "thread_p99_ms": _pct(in_thread, 0.99)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gil_write", description=__doc__.split("\n")[0])
    p.add_argument("--writes", type=int, default=200)
    p.add_argument("--busy-ms", type=float, default=10.0)
    p.add_argument("--intervals", default="5,0.5")
    args = p.parse_args(argv)
    import uvloop

    with tempfile.TemporaryDirectory(prefix="gil-write-") as tmp:
        for interval in (float(x) for x in args.intervals.split(",")):
            for busy, one in ((0.0, False), (args.busy_ms, False), (args.busy_ms, True)):
                path = os.path.join(tmp, f"w{interval}-{busy}-{one}.db")
                r = uvloop.run(measure(args.writes, busy, interval, path, one))
                print(f"switch interval {interval:g} ms, "
                      f"{'INSERT alone' if one else 'BEGIN/INSERT/COMMIT'}, loop "
                      f"{'busy ' + format(busy, 'g') + ' ms rounds' if busy else 'idle'}: "
                      f"written in the thread p50 {r['thread_p50_ms']:.2f} p99 "
                      f"{r['thread_p99_ms']:.2f}; seen by the loop p50 {r['p50_ms']:.2f} "
                      f"p99 {r['p99_ms']:.2f} max {r['max_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
