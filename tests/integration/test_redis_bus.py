"""RedisBus against a real Redis: two buses in one loop stand for two workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from core.bus.redis import BROADCAST_PREFIXES, RedisBus, open_redis_bus
from core.events import Event
from core.store.base import StoreUnavailable
from core.store.metacache import _INVALIDATING_PREFIXES
from tests.integration.buses import MS, Collector, kill_connections, new_prefix, open_bus

G1, G2 = 1 << 40, 2 << 40


def message(guild_id: int, i: int = 0) -> Event:
    return Event("MESSAGE_CREATE", {"i": i, "content": "hi"}, guild_id=guild_id, channel_id=7)


@pytest.fixture
def prefix() -> str:
    return new_prefix()


@pytest.fixture
async def a(redis_url: str, prefix: str) -> AsyncIterator[RedisBus]:
    async with open_bus(redis_url, 0, prefix) as bus:
        yield bus


@pytest.fixture
async def b(redis_url: str, prefix: str) -> AsyncIterator[RedisBus]:
    async with open_bus(redis_url, 1, prefix) as bus:
        yield bus


async def numsub(redis_url: str, channel: str) -> int:
    admin = redis.asyncio.Redis.from_url(redis_url, protocol=2)
    try:
        return int((await admin.pubsub_numsub(channel))[0][1])
    finally:
        await admin.aclose()


async def test_event_reaches_other_worker_iff_it_has_interest(a: RedisBus, b: RedisBus) -> None:
    got = Collector()
    b.subscribe(got)
    b.interest(G1)
    await b.subscribed()
    a.publish([message(G2, 1), message(G1, 2)])
    # Redis keeps one publisher's order, so G2's event would have come first.
    events = await got.wait(1)
    await asyncio.sleep(50 * MS)
    assert [(e.guild_id, e.data["i"]) for e in events] == [(G1, 2)]
    assert events[0] == Event("MESSAGE_CREATE", {"i": 2, "content": "hi"}, guild_id=G1,
                              channel_id=7)


async def test_order_is_kept_per_publisher_across_iterations(a: RedisBus, b: RedisBus) -> None:
    got = Collector()
    b.subscribe(got)
    b.interest(G1)
    b.interest(G2)
    await b.subscribed()
    for i in range(300):
        a.publish([message(G1 if i % 3 else G2, i)])
        if i % 7 == 0:
            await asyncio.sleep(0)
    events = await got.wait(300)
    assert [e.data["i"] for e in events] == list(range(300))


async def test_publishes_of_one_iteration_leave_in_one_pipeline(
    a: RedisBus, b: RedisBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[list[tuple[Any, ...]]] = []
    make_pipeline = a._client.pipeline

    def spy(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        execute = pipe.execute

        async def recording_execute(*eargs: Any, **ekwargs: Any) -> Any:
            sent.append([cmd[0] for cmd in pipe.command_stack])
            return await execute(*eargs, **ekwargs)

        pipe.execute = recording_execute  # type: ignore[method-assign]
        return pipe

    monkeypatch.setattr(a._client, "pipeline", spy)
    got = Collector()
    b.subscribe(got)
    b.interest(G1)
    b.interest(G2)
    await b.subscribed()
    for i in range(40):  # 40 publish calls in one iteration
        a.publish([message(G1, i)])
    a.publish([message(G2, 40), message(G1, 41)])
    await got.wait(42)
    assert [e.data["i"] for e in got.events] == list(range(42))
    assert len(sent) == 1 and a.flushes == 1
    # Runs for one channel share a PUBLISH: G1 x40, G2, G1.
    assert [args[1] for args in sent[0]] == [f"{a._prefix}g:{g}".encode() for g in (G1, G2, G1)]


async def test_interest_is_reference_counted(redis_url: str, b: RedisBus, prefix: str) -> None:
    channel = f"{prefix}g:{G1}"
    b.interest(G1)
    b.interest(G1)
    b.release(G1)
    await b.subscribed()
    assert await numsub(redis_url, channel) == 1
    b.release(G1)
    await b.subscribed()
    assert await numsub(redis_url, channel) == 0


async def test_interest_then_release_in_one_iteration_subscribes_nothing(
    redis_url: str, b: RedisBus, prefix: str
) -> None:
    b.interest(G1)
    b.release(G1)
    await b.subscribed()
    assert await numsub(redis_url, f"{prefix}g:{G1}") == 0


async def test_own_events_are_delivered_locally_once(a: RedisBus, b: RedisBus) -> None:
    mine, theirs = Collector(), Collector()
    a.subscribe(mine)
    b.subscribe(theirs)
    for bus in (a, b):
        bus.interest(G1)
        await bus.subscribed()
    a.publish([message(G1, 1)])
    await asyncio.sleep(0)
    assert [e.data["i"] for e in mine.events] == [1]  # locally, on the next iteration
    await theirs.wait(1)  # Redis has handled the PUBLISH ...
    await a.subscribed()  # ... so A's copy was read before the PONG of this barrier
    assert [e.data["i"] for e in mine.events] == [1]


async def test_event_for_two_users_on_one_worker_arrives_once(a: RedisBus, b: RedisBus) -> None:
    got = Collector()
    b.subscribe(got)
    b.interest_user(11)
    b.interest_user(12)
    await b.subscribed()
    a.publish([Event("MESSAGE_CREATE", {"i": 1}, channel_id=5, user_ids=(11, 12))])
    a.publish([Event("MESSAGE_CREATE", {"i": 2}, channel_id=5, user_ids=(12,))])
    events = await got.wait(2)
    await asyncio.sleep(50 * MS)
    assert [e.data["i"] for e in got.events] == [1, 2]
    assert events[0].user_ids == (11, 12)


async def test_guild_and_channel_events_reach_every_worker(a: RedisBus, b: RedisBus) -> None:
    got = Collector()
    b.subscribe(got)  # no interest at all: metadata changes still arrive
    a.publish([
        Event("GUILD_ROLE_UPDATE", {"guild_id": str(G1)}, guild_id=G1),
        Event("GUILD_CREATE", {"id": str(G2)}, user_ids=(3,)),
        Event("CHANNEL_CREATE", {"id": "9"}, user_ids=(3, 4)),
    ])
    events = await got.wait(3)
    assert [e.name for e in events] == ["GUILD_ROLE_UPDATE", "GUILD_CREATE", "CHANNEL_CREATE"]


def test_broadcast_covers_what_the_metadata_cache_invalidates_on() -> None:
    assert set(_INVALIDATING_PREFIXES) <= set(BROADCAST_PREFIXES)


async def test_lost_subscriber_connection_is_restored_and_the_gap_counted(
    redis_url: str, a: RedisBus, b: RedisBus, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    got = Collector()
    b.subscribe(got)
    b.interest(G1)
    b.interest_user(5)
    await b.subscribed()
    caplog.set_level(logging.WARNING, logger="core.bus.redis")
    assert await kill_connections(redis_url, f"{prefix}w1", subscriber=True) == 1
    async with asyncio.timeout(3):
        await b.subscribed()  # waits through the reconnect
    a.publish([message(G1, 1), Event("TYPING_START", {"i": 2}, user_ids=(5,))])
    events = await got.wait(2)
    assert [e.data["i"] for e in events] == [1, 2]
    assert b.gaps == 1 and a.gaps == 0
    assert await numsub(redis_url, f"{prefix}g:{G1}") == 1  # one subscription, not two
    assert any("gap" in r.getMessage() for r in caplog.records)


async def test_lost_publisher_connection_is_retried(
    redis_url: str, a: RedisBus, b: RedisBus, prefix: str
) -> None:
    got = Collector()
    b.subscribe(got)
    b.interest(G1)
    await b.subscribed()
    a.publish([message(G1, 1)])
    await got.wait(1)
    assert await kill_connections(redis_url, f"{prefix}w0", subscriber=False) >= 1
    a.publish([message(G1, 2)])
    await got.wait(2)
    assert [e.data["i"] for e in got.events] == [1, 2]
    assert a.dropped == 0


async def test_outbox_is_bounded_while_publishing_fails(
    a: RedisBus, b: RedisBus, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    got = Collector()
    b.subscribe(got)
    b.interest(G1)
    await b.subscribed()
    a._outbox_max = 10
    failing = True
    make_pipeline = a._client.pipeline

    def flaky(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        if failing:
            async def refuse(*_: Any, **__: Any) -> Any:
                raise RedisConnectionError("Redis is down (test)")

            pipe.execute = refuse  # type: ignore[method-assign]
        return pipe

    monkeypatch.setattr(a._client, "pipeline", flaky)
    for i in range(25):
        a.publish([message(G1, i)])
        await asyncio.sleep(0)
    await asyncio.sleep(20 * MS)
    assert a.dropped == 15
    failing = False
    events = await got.wait(10)
    await asyncio.sleep(50 * MS)
    assert [e.data["i"] for e in events] == list(range(15, 25))  # the newest, in order
    assert any("dropped" in r.getMessage() for r in caplog.records)


async def test_malformed_messages_are_counted_and_skipped(
    redis_url: str, a: RedisBus, b: RedisBus, prefix: str
) -> None:
    got = Collector()
    b.subscribe(got)
    admin = redis.asyncio.Redis.from_url(redis_url, protocol=2)
    try:
        await admin.publish(f"{prefix}all", b"not json")
        await admin.publish(f"{prefix}all", b'[{"n": "X"}]')
    finally:
        await admin.aclose()
    a.publish([Event("GUILD_UPDATE", {}, guild_id=G1)])
    assert [e.name for e in await got.wait(1)] == ["GUILD_UPDATE"]
    assert b.malformed == 2


async def test_aclose_publishes_what_is_buffered(redis_url: str, b: RedisBus, prefix: str) -> None:
    got = Collector()
    b.subscribe(got)
    b.interest(G1)
    await b.subscribed()
    async with open_bus(redis_url, 0, prefix) as a:
        a.publish([message(G1, 1)])
    await got.wait(1)


async def test_open_redis_bus_fails_in_one_line_when_unreachable() -> None:
    with pytest.raises(StoreUnavailable) as info:
        await open_redis_bus("redis://:secret@127.0.0.1:1/0", 0, socket_timeout=0.5)
    assert "127.0.0.1:1" in str(info.value) and "secret" not in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(StoreUnavailable):
        await open_redis_bus("redis://host:notaport", 0)


async def test_open_redis_bus_starts_and_closes(redis_url: str) -> None:
    bus = await open_redis_bus(redis_url, 3, prefix=new_prefix())
    await bus.start()
    assert bus.origin.startswith("3.")
    await bus.aclose()
    await bus.aclose()


def test_a_resp3_client_is_refused() -> None:
    client = redis.asyncio.Redis(protocol=3)
    with pytest.raises(ValueError, match="RESP2"):
        RedisBus(client, 0)


async def test_idle_connection_is_kept_alive_by_pings(redis_url: str, prefix: str) -> None:
    # Silence for three ping intervals counts as a dead connection: the PONGs prevent it.
    async with open_bus(redis_url, 0, prefix, ping_interval_s=20 * MS) as bus:
        await asyncio.sleep(300 * MS)
        assert bus.gaps == 0 and all(link.down_since is None for link in bus._links.values())


async def test_subscribed_returns_when_the_bus_closes(redis_url: str, prefix: str) -> None:
    async with open_bus(redis_url, 0, prefix) as bus:
        assert await kill_connections(redis_url, f"{prefix}w0", subscriber=True) == 1
        bus.interest(G1)
        waiting = asyncio.ensure_future(bus.subscribed())
        await asyncio.sleep(0)
    async with asyncio.timeout(1):
        await waiting  # resolved (not cancelled) by aclose, or by the reconnect before it
