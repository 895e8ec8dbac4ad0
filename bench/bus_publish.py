"""The Redis bus's publish path on one Redis against a Redis Cluster (sharded pub/sub).

``python -m bench.bus_publish --redis-url redis://127.0.0.1:6379/0 --cluster-url redis://NODE``
publishes ``--events`` ~100-byte MESSAGE_CREATEs from one :class:`~core.bus.redis.RedisBus`
(``--batch`` per loop iteration, as a busy worker's publishes of one iteration) and a second
bus in the same process receives them (it subscribes every guild); each without and with a
recovery log of 1,000 messages per channel (``bus_recovery_log``: an XADD and a PEXPIRE per
PUBLISH). Two layouts: every event
to one guild (runs share a PUBLISH), and ``--guilds`` guilds round-robin (one PUBLISH each,
spread over the masters on a cluster). Per target and layout, best of ``--repeat``: events/s
until the last one is received, and the process's CPU time per event (publisher and
receiver together: both run in this process, as two workers of one host would on two).

Starts no server: give it a Redis and one node of a cluster (``tests/services.py`` can start
a throwaway 3-master one). Keys and channels are under a prefix of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio

from core.bus.redis import RedisBus
from core.events import Event

__all__ = ["measure", "main"]


def _bus(url: str, cluster: bool, worker: int, prefix: str, log_max: int) -> RedisBus:
    options: dict[str, Any] = {"protocol": 2, "socket_timeout": 10.0}
    client = (redis.asyncio.RedisCluster.from_url(url, **options) if cluster
              else redis.asyncio.Redis.from_url(url, **options))
    return RedisBus(client, worker, prefix=prefix, owns_client=True, log_max=log_max)


async def _run(url: str, cluster: bool, log_max: int, events: int, batch: int, guilds: int
               ) -> dict[str, float]:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    sender = _bus(url, cluster, 0, prefix, log_max)
    receiver = _bus(url, cluster, 1, prefix, log_max)
    await sender.start()
    await receiver.start()
    try:
        ids = [(i + 1) << 22 for i in range(guilds)]
        for guild in ids:
            receiver.interest(guild)
        await receiver.subscribed()
        got = 0
        done = asyncio.Event()

        def count(batch_: Sequence[Event]) -> None:
            nonlocal got
            got += len(batch_)
            if got >= events:
                done.set()

        receiver.subscribe(count)
        body = {"content": "x" * 60, "author": {"id": "1", "username": "bench"}}
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, events, batch):
            sender.publish([Event("MESSAGE_CREATE", {**body, "i": i}, guild_id=ids[i % guilds],
                                  channel_id=7) for i in range(start, min(start + batch, events))])
            await asyncio.sleep(0)
        async with asyncio.timeout(120):
            await done.wait()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {"events_per_s": events / wall, "cpu_us_per_event": cpu / events * 1e6,
                "flushes": sender.flushes}
    finally:
        await sender.aclose()
        await receiver.aclose()


def measure(redis_url: str, cluster_url: str, *, events: int = 100_000, batch: int = 100,
            guilds: int = 50, repeat: int = 3) -> list[dict[str, Any]]:
    """Rows of (target, layout, best events/s, its CPU µs per event)."""
    rows = []
    for target, url, cluster, log_max in (
            ("one Redis", redis_url, False, 0),
            ("one Redis, recovery log 1000", redis_url, False, 1000),
            ("Redis Cluster, 3 masters", cluster_url, True, 0),
            ("Redis Cluster, 3 masters, recovery log 1000", cluster_url, True, 1000)):
        for layout, count in (("one guild", 1), (f"{guilds} guilds round-robin", guilds)):
            runs = [asyncio.run(_run(url, cluster, log_max, events, batch, count))
                    for _ in range(repeat)]
            best = max(runs, key=lambda r: r["events_per_s"])
            rows.append({"target": target, "layout": layout, **best})
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bus_publish", description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--cluster-url", required=True, help="one node of a Redis Cluster")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--guilds", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = measure(args.redis_url, args.cluster_url, events=args.events, batch=args.batch,
                   guilds=args.guilds, repeat=args.repeat)
    print("| target | layout | events/s | CPU µs/event (both buses) | pipelines |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['target']} | {r['layout']} | {r['events_per_s']:,.0f} | "
              f"{r['cpu_us_per_event']:.1f} | {r['flushes']:,} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
