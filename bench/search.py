"""Message search latency over N stored messages, on SQLite (FTS5) or PostgreSQL (GIN).

Usage::

    python -m bench.search --messages 1000000 --backend sqlite
    python -m bench.search --messages 1000000 --backend postgres [--postgres-url URL]

A fresh store (a SQLite file in a temporary directory, or a fresh PostgreSQL database) is filled
through ``MessageStore.insert_many``, the router's write path, so the search index is built the
way it is in service: by the write batches (FTS5 triggers, GIN index maintenance), not by a
bulk rebuild. The messages are one guild's: 20 channels, 1,000 authors, 4 to 20 words each drawn
from a 50,000-word vocabulary with Zipf's law (the commonest word is in about half of the
messages, a word of rank 40,000 in a few dozen), 5% with a link, 2% with an embed, 3% mentioning
someone. Seeded: the same messages every run.

Then each query below runs once untimed, then ``--repeat`` times, through
``MessageStore.search`` (the store alone: no HTTP, no permission checks, whose cost does not
grow with the history) over all 20 channels unless it says otherwise. Each line gives the
median, the 95th percentile and the slowest time, and ``total_results``. ``--timeout-ms``
(default one minute) is long so that the true cost shows: a line slower than the server's
2 s (``core.search.SEARCH_TIMEOUT_MS``) is one the server answers 503.

MongoDB is not measured: its only server here is SecantusDB, the tests' in-process stand-in,
which is no performance target (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.deploy import fresh_postgres_database
from core.models import Message
from core.search import SEARCH_TIMEOUT_MS
from core.store.searchquery import SearchQuery, StoreTimeout
from core.store.sql import SqlStore

__all__ = ["main"]

GUILD = 1
CHANNELS = tuple(range(100, 120))
AUTHORS = 1000
VOCABULARY = 50_000
_BATCH = 5000
# Snowflakes 10 ms apart from 2020-09-13 on: increasing, like a channel's history.
_FIRST_ID = (1_600_000_000_000 - 1_420_070_400_000) << 22
_STEP = 10 << 22


def _word(rank: int) -> str:
    return f"w{rank}"


def generate(count: int, seed: int = 1) -> Iterator[list[Message]]:
    """``count`` messages in batches of :data:`_BATCH`, the same for the same ``seed``."""
    rng = random.Random(seed)
    ranks = range(1, VOCABULARY + 1)
    cumulative = list(itertools.accumulate(1 / r for r in ranks))
    for start in range(0, count, _BATCH):
        batch = []
        for i in range(start, min(start + _BATCH, count)):
            words = rng.choices(ranks, cum_weights=cumulative, k=rng.randint(4, 20))
            text = " ".join(_word(r) for r in words)
            roll = rng.random()
            if roll < 0.05:
                text += f" https://example.com/{i}"
            channel = CHANNELS[rng.randrange(len(CHANNELS))]
            batch.append(Message(
                _FIRST_ID + i * _STEP, channel, 1000 + rng.randrange(AUTHORS), text,
                guild_id=GUILD,
                embeds=({"title": f"card {i}"},) if 0.05 <= roll < 0.07 else (),
                mentions=(1000 + rng.randrange(AUTHORS),) if 0.07 <= roll < 0.10 else (),
            ))
        yield batch


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    query: SearchQuery


def cases(timeout_ms: int) -> list[Case]:
    """The measured queries (see the module docstring)."""
    base = SearchQuery(CHANNELS, timeout_ms=timeout_ms)
    return [
        Case("rare word (rank 40,000)", replace(base, content=_word(40_000))),
        Case("mid word (rank 100)", replace(base, content=_word(100))),
        Case("commonest word (rank 1)", replace(base, content=_word(1))),
        Case("two words (ranks 10 and 50)", replace(base, content=f"{_word(10)} {_word(50)}")),
        Case("mid word, one channel", replace(base, channel_ids=CHANNELS[:1],
                                              content=_word(100))),
        Case("mid word by relevance", replace(base, content=_word(100), relevance=True)),
        Case("commonest word, offset 9,975", replace(base, content=_word(1), offset=9975)),
        Case("one author, no words", replace(base, author_ids=(1000,))),
        Case("has:link, no words", replace(base, has=frozenset({"link"}))),
        Case("no condition (every message)", base),
    ]


@dataclass(frozen=True, slots=True)
class Timing:
    case: str
    total_results: int | None
    p50_ms: float
    p95_ms: float
    max_ms: float
    timeouts: int


async def measure(store: SqlStore, case: Case, repeat: int) -> Timing:
    samples: list[float] = []
    total: int | None = None
    timeouts = 0
    for i in range(repeat + 1):  # the first run warms the caches, untimed
        started = time.perf_counter()
        try:
            page = await store.messages.search(case.query)
            total = page.total
        except StoreTimeout:
            timeouts += 1
        if i:
            samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return Timing(case.name, total, statistics.median(ordered), p95, ordered[-1], timeouts)


@contextlib.asynccontextmanager
async def _store(backend: str, dsn: str | None) -> AsyncIterator[SqlStore]:
    if backend == "postgres":
        from core.store.postgres import PostgresStore

        assert dsn is not None
        async with await PostgresStore.open(dsn, 1, 4) as pg:
            yield pg
        return
    from core.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="discord-arch-search-") as d:
        path = os.path.join(d, "db.sqlite3")
        # NORMAL: the fill's durability is not what is measured (searches only read).
        async with await SqliteStore.open(path, synchronous="NORMAL") as lite:
            yield lite


async def _size(store: SqlStore) -> dict[str, int]:
    """Bytes of the messages and of the search index (SQLite: the whole database)."""
    db = store.executor
    if db.dialect == "postgres":
        row = await db.fetchrow(
            "SELECT pg_total_relation_size('messages'), pg_relation_size('messages_fts')")
        assert row is not None
        return {"messages_bytes": int(row[0]), "search_index_bytes": int(row[1])}
    pages, page_size = await db.fetchval("PRAGMA page_count"), await db.fetchval("PRAGMA page_size")
    out = {"database_bytes": int(pages) * int(page_size)}
    with contextlib.suppress(Exception):  # dbstat is a compile-time option of SQLite
        out["search_index_bytes"] = int(await db.fetchval(
            "SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'messages_fts%'"))
    return out


async def run(args: argparse.Namespace, dsn: str | None) -> dict[str, Any]:
    async with _store(args.backend, dsn) as store:
        started = time.perf_counter()
        written = 0
        for batch in generate(args.messages, args.seed):
            await store.messages.insert_many(batch)
            written += len(batch)
            if args.progress and written % 100_000 == 0:
                print(f"  {written:,} messages, {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
        fill_s = time.perf_counter() - started
        await store.executor.execute("ANALYZE")  # as autovacuum (or PRAGMA optimize) would
        sizes = await _size(store)
        timings = [await measure(store, case, args.repeat) for case in cases(args.timeout_ms)]
    return {
        "backend": args.backend, "messages": args.messages, "repeat": args.repeat,
        "fill_s": round(fill_s, 1), "fill_msg_s": round(args.messages / fill_s),
        **sizes, "timings": [asdict(t) for t in timings],
        "command": " ".join([".venv/bin/python -m bench.search", *sys.argv[1:]]),
    }


def table(result: dict[str, Any]) -> str:
    rows = [f"| query ({result['backend']}, {result['messages']:,} messages) | total_results "
            "| p50 ms | p95 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for t in result["timings"]:
        total = "timeout" if t["timeouts"] else f"{t['total_results']:,}"
        slow = " (over 2 s: 503)" if t["p50_ms"] > SEARCH_TIMEOUT_MS else ""
        rows.append(f"| {t['case']}{slow} | {total} | {t['p50_ms']:.1f} | {t['p95_ms']:.1f} | "
                    f"{t['max_ms']:.1f} |")
    return "\n".join(rows)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=1_000_000, help="messages stored")
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test",
                   help="the server on which a fresh database is made (and dropped)")
    p.add_argument("--repeat", type=int, default=20, help="timed runs of each query")
    p.add_argument("--timeout-ms", type=int, default=60_000, help="each statement's deadline")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the result to this file")
    p.add_argument("--progress", action="store_true", help="report the fill on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with contextlib.ExitStack() as stack:
        dsn = (stack.enter_context(fresh_postgres_database(args.postgres_url))
               if args.backend == "postgres" else None)
        result = asyncio.run(run(args, dsn))
    print(table(result))
    size = result.get("search_index_bytes")
    print(f"\nfill: {result['fill_s']} s ({result['fill_msg_s']:,} msg/s through insert_many)"
          + (f"; search index {size / 2**20:,.0f} MiB" if size else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
