"""The message write path alone: N concurrent submitters through the router into a real store.

Usage::

    python -m bench.router_write --backend sqlite --senders 64 --messages 20000

No HTTP, no auth, no permission checks: each sender builds a :class:`core.models.Message` and
awaits :meth:`core.router.MessageRouter.submit`, which returns once its batch is durable. The
same run is made with the router as configured by default (``batch_max_messages=256``,
``batch_max_delay_ms=2``) and with batching off (``max_batch=1``), on a fresh store each: a
SQLite file in a temporary directory (``synchronous=FULL``, as served) or a fresh PostgreSQL
database. This isolates what batching buys on the write path; ``bench.rest_send`` measures the
whole REST request, where other per-request costs dominate (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bench.rest_send import Latencies, fresh_postgres_database
from core.bus.memory import MemoryBus
from core.config import Config
from core.events import Event
from core.models import Message
from core.router import MessageRouter
from core.snowflake import SnowflakeGenerator
from core.store.base import MessageStore
from core.store.cache import MemoryCache

__all__ = ["main"]

_PAD = "x" * 80


@contextlib.asynccontextmanager
async def _store(backend: str, dsn: str | None) -> AsyncIterator[MessageStore]:
    if backend == "postgres":
        from core.store.postgres import open_postgres

        assert dsn is not None
        pg = await open_postgres(dsn)
        try:
            yield pg.messages
        finally:
            await pg.aclose()
        return
    from core.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="discord-arch-router-") as d:
        lite = await SqliteStore.open(os.path.join(d, "db.sqlite3"), synchronous="FULL")
        try:
            yield lite.messages
        finally:
            await lite.aclose()


async def run(
    store: MessageStore, senders: int, total: int, max_batch: int, delay_ms: float
) -> tuple[Latencies, int]:
    """Send ``total`` messages from ``senders`` tasks; latencies and the number of batches."""
    bus = MemoryBus()
    bus.subscribe(lambda events: None)  # a subscriber, so events are really delivered
    router = MessageRouter(store, bus, MemoryCache(), max_batch=max_batch,
                           max_delay_ms=delay_ms)
    await router.start()
    ids = SnowflakeGenerator(1, 1)
    numbers = iter(range(total))
    samples: list[float] = []

    async def sender(author: int) -> None:
        for i in numbers:
            m = Message(ids.next(), 1, author, f"message {i} {_PAD}", guild_id=2)
            event = Event("MESSAGE_CREATE", {"id": str(m.id)}, guild_id=2, channel_id=1)
            t0 = time.perf_counter()
            await router.submit(m, (event,))
            samples.append(time.perf_counter() - t0)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(sender(a) for a in range(100, 100 + senders)))
    finally:
        await router.aclose()
    return Latencies.of(samples, time.perf_counter() - start, 0), router.batches


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.router_write",
                                description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--senders", type=int, default=64)
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--delay-ms", type=float, default=Config().batch_max_delay_ms,
                   help="batched variant's batch_max_delay_ms (default: the config default)")
    p.add_argument("--cpu", type=int, default=0, help="CPU to pin this process to")
    return p


async def _variant(args: argparse.Namespace, dsn: str | None, max_batch: int) -> Any:
    delay = args.delay_ms if max_batch > 1 else 0.0
    async with _store(args.backend, dsn) as store:
        lat, batches = await run(store, args.senders, args.messages, max_batch, delay)
    return lat, batches


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    rows = ["| variant | backend | senders | msgs | msg/s | p50 ms | p99 ms | batches | avg batch |",
            "|---|---|---|---|---|---|---|---|---|"]
    rates = []
    for name, max_batch in (("batched", Config().batch_max_messages), ("unbatched", 1)):
        with contextlib.ExitStack() as stack:
            dsn = (stack.enter_context(fresh_postgres_database(args.postgres_url))
                   if args.backend == "postgres" else None)
            lat, batches = asyncio.run(_variant(args, dsn, max_batch))
        rates.append(lat.per_s)
        rows.append(f"| {name} | {args.backend} | {args.senders} | {lat.count} | "
                    f"{lat.per_s:,.0f} | {lat.p50_ms:.2f} | {lat.p99_ms:.2f} | {batches} | "
                    f"{lat.count / max(batches, 1):.1f} |")
    print("\n".join(rows))
    print(f"\nbatched / unbatched: {rates[0] / rates[1]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
