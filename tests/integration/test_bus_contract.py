"""What every bus does for the subscribers of its own worker: one suite, run on each bus.

The MemoryBus is the single-worker default and RedisBus connects workers (over one Redis, or
a Redis Cluster's sharded pub/sub); a hub or a cache subscribed to any of them must see the
same thing for events published in its own process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from core.bus.memory import MemoryBus
from core.events import Bus, Event
from tests.integration.buses import MS, Collector, new_prefix, open_bus

BUSES = ["memory", "redis", "redis-cluster"]


@pytest.fixture(params=BUSES)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "memory":
        memory = MemoryBus()
        await memory.start()
        yield memory
        await memory.aclose()
        return
    cluster = request.param == "redis-cluster"
    redis_url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
    async with open_bus(redis_url, 0, new_prefix(), cluster=cluster) as redis_bus:
        yield redis_bus


def event(i: int, guild_id: int | None = 1) -> Event:
    return Event("MESSAGE_CREATE", {"i": i}, guild_id=guild_id, channel_id=2)


async def test_events_of_one_iteration_arrive_as_one_batch_in_order(bus: Bus) -> None:
    got = Collector()
    bus.subscribe(got)
    bus.publish([event(1), event(2)])
    bus.publish([event(3)])
    assert got.batches == []  # never inside publish
    await asyncio.sleep(0)
    assert [[e.data["i"] for e in batch] for batch in got.batches] == [[1, 2, 3]]


async def test_own_events_arrive_whatever_the_interest(bus: Bus) -> None:
    got = Collector()
    bus.subscribe(got)
    bus.publish([event(1, guild_id=99), Event("TYPING_START", {"i": 2}, user_ids=(5,))])
    await asyncio.sleep(0)
    assert [e.data["i"] for e in got.events] == [1, 2]
    await asyncio.sleep(50 * MS)
    assert len(got.events) == 2  # and only once


async def test_every_subscriber_gets_every_batch(bus: Bus) -> None:
    first, second = Collector(), Collector()
    bus.subscribe(first)
    bus.subscribe(second)
    bus.publish([event(1)])
    await asyncio.sleep(0)
    assert first.events == second.events == [event(1)]


async def test_unsubscribed_handler_gets_nothing(bus: Bus) -> None:
    got = Collector()
    unsubscribe = bus.subscribe(got)
    unsubscribe()
    unsubscribe()  # twice is harmless
    bus.publish([event(1)])
    await asyncio.sleep(10 * MS)
    assert got.events == []


async def test_a_failing_subscriber_does_not_starve_the_others(bus: Bus) -> None:
    got = Collector()

    def broken(events: Sequence[Event]) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(got)
    bus.publish([event(1)])
    await asyncio.sleep(0)
    assert got.events == [event(1)]


async def test_interest_calls_are_accepted_and_settle(bus: Bus) -> None:
    bus.interest(1)
    bus.interest_user(2)
    async with asyncio.timeout(1):
        await bus.subscribed()
    bus.release(1)
    bus.release_user(2)
    async with asyncio.timeout(1):
        await bus.subscribed()


async def test_empty_publish_is_a_no_op(bus: Bus) -> None:
    got = Collector()
    bus.subscribe(got)
    bus.publish([])
    await asyncio.sleep(10 * MS)
    assert got.batches == []
