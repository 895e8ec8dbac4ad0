"""The message router with an in-memory store and bus: batching, ordering, failures (a row the
store refuses fails only its sender), nonces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from core.events import Event
from core.models import Message
from core.router import ISOLATE_MAX_WRITES, MessageRouter, RouterClosed, WriteFailed
from core.store.base import StoreUnavailable
from core.store.cache import MemoryCache

CHANNEL, AUTHOR = 10, 20


class FakeStore:
    """The part of MessageStore the router uses, in memory; each write yields to the loop once,
    so sends made meanwhile queue up as a real round trip would let them.

    Like every real store, a write is atomic: ``fail_next`` fails the next write whole, and a
    batch holding an id of ``refused`` is refused whole (as PostgreSQL refuses a NUL).
    """

    def __init__(self) -> None:
        self.rows: dict[int, Message] = {}
        self.calls: list[list[int]] = []
        self.fail_next: Exception | None = None
        self.refused: set[int] = set()

    async def insert_many(self, messages: Sequence[Message]) -> None:
        self.calls.append([m.id for m in messages])
        await asyncio.sleep(0)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        if self.refused.intersection(m.id for m in messages):
            raise ValueError("invalid byte sequence for encoding UTF8: 0x00")
        self.rows.update((m.id, m) for m in messages)

    async def get_message(self, channel_id: int, message_id: int) -> Message | None:
        m = self.rows.get(message_id)
        return m if m is not None and m.channel_id == channel_id else None

    async def find_by_nonce(
        self, channel_id: int, author_id: int, nonce: str, min_id: int
    ) -> Message | None:
        found = [m for m in self.rows.values() if (m.channel_id, m.author_id, m.nonce)
                 == (channel_id, author_id, nonce) and m.id >= min_id]
        return min(found, key=lambda m: m.id) if found else None


class FakeBus:
    """Records published events and checks each one's message is already in the store."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.events: list[Event] = []
        self.published_before_durable: list[int] = []

    def publish(self, events: Sequence[Event]) -> None:
        for e in events:
            if int(e.data["id"]) not in self.store.rows:
                self.published_before_durable.append(int(e.data["id"]))
        self.events.extend(events)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def subscribe(self, handler: Any) -> Any:
        raise NotImplementedError


class Ids:
    def __init__(self) -> None:
        self.last = 1000

    def message(self, nonce: str | None = None, channel_id: int = CHANNEL) -> Message:
        self.last += 1
        return Message(self.last, channel_id, AUTHOR, f"m{self.last}", nonce=nonce)


def event(m: Message) -> Event:
    return Event("MESSAGE_CREATE", {"id": str(m.id)}, channel_id=m.channel_id)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def bus(store: FakeStore) -> FakeBus:
    return FakeBus(store)


@pytest.fixture
def ids() -> Ids:
    return Ids()


async def make_router(store: FakeStore, bus: FakeBus, **kw: Any) -> MessageRouter:
    router = MessageRouter(store, bus, MemoryCache(), **kw)  # type: ignore[arg-type]
    await router.start()
    return router


@pytest.fixture
async def router(store: FakeStore, bus: FakeBus) -> AsyncIterator[MessageRouter]:
    r = await make_router(store, bus, max_batch=16)
    yield r
    await r.aclose()


async def send_all(router: MessageRouter, msgs: list[Message], **kw: Any) -> list[Any]:
    return await asyncio.gather(
        *(router.submit(m, [event(m)], **kw) for m in msgs), return_exceptions=True
    )


async def test_concurrent_submits_are_written_in_few_batches(
    router: MessageRouter, store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    msgs = [ids.message() for _ in range(100)]
    results = await send_all(router, msgs)
    assert results == [None] * 100
    assert sorted(store.rows) == [m.id for m in msgs]
    assert len(store.calls) < 100 and router.batches == len(store.calls)
    assert router.messages == 100
    assert [int(e.data["id"]) for e in bus.events] == [m.id for m in msgs]


async def test_batches_never_exceed_max_batch(
    router: MessageRouter, store: FakeStore, ids: Ids
) -> None:
    await send_all(router, [ids.message() for _ in range(100)])
    assert max(len(c) for c in store.calls) <= 16
    assert len(store.calls) == 7  # ceil(100 / 16): every batch but the last is full


async def test_max_batch_one_writes_each_message_alone(
    store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    router = await make_router(store, bus, max_batch=1)
    try:
        await send_all(router, [ids.message() for _ in range(20)])
    finally:
        await router.aclose()
    assert [len(c) for c in store.calls] == [1] * 20


async def test_events_are_published_only_after_their_batch_is_durable(
    router: MessageRouter, store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    msgs = [ids.message() for _ in range(50)]
    await send_all(router, msgs)
    assert bus.published_before_durable == []
    assert len(bus.events) == 50


async def test_submit_returns_only_once_the_message_is_stored(
    router: MessageRouter, store: FakeStore, ids: Ids
) -> None:
    m = ids.message()
    assert await router.submit(m, [event(m)]) is None
    assert m.id in store.rows


async def test_unavailable_store_fails_every_sender_of_the_batch_and_publishes_nothing(
    router: MessageRouter, store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    store.fail_next = StoreUnavailable("down")
    results = await send_all(router, [ids.message() for _ in range(5)])
    assert len(store.calls) == 1  # down: no row is tried again alone
    assert all(isinstance(r, WriteFailed) for r in results)
    assert bus.events == [] and store.rows == {}
    assert router.batches == 0


async def test_next_batch_after_a_failed_one_is_written(
    router: MessageRouter, store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    store.fail_next = StoreUnavailable("down")
    await send_all(router, [ids.message() for _ in range(3)])
    m = ids.message()
    assert await router.submit(m, [event(m)]) is None
    assert list(store.rows) == [m.id]
    assert [e.data["id"] for e in bus.events] == [str(m.id)]


async def test_a_refused_row_fails_only_its_sender(
    store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    router = await make_router(store, bus, max_batch=256)
    msgs = [ids.message() for _ in range(25)]
    bad = msgs[17]
    store.refused.add(bad.id)
    try:
        results = await send_all(router, msgs)
    finally:
        await router.aclose()
    assert isinstance(results[17], WriteFailed)
    assert results[:17] + results[18:] == [None] * 24
    good = [m.id for m in msgs if m is not bad]
    assert sorted(store.rows) == good
    assert bus.published_before_durable == []  # durable before visible, still
    assert [int(e.data["id"]) for e in bus.events] == good  # in id order
    assert router.messages == 24
    # One write held every queued message; bisection then costs 2 writes per level.
    assert store.calls[0] == [m.id for m in msgs]
    assert len(store.calls) <= 1 + 2 * len(msgs).bit_length()


async def test_a_transient_failure_is_retried_in_halves(
    router: MessageRouter, store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    store.fail_next = RuntimeError("serialization failure")
    msgs = [ids.message() for _ in range(8)]
    assert await send_all(router, msgs) == [None] * 8
    assert sorted(store.rows) == [m.id for m in msgs]


async def test_a_store_failing_every_write_spends_a_bounded_number_of_writes(
    store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    router = await make_router(store, bus, max_batch=256)
    msgs = [ids.message() for _ in range(256)]
    store.refused.update(m.id for m in msgs)
    try:
        results = await send_all(router, msgs)
    finally:
        await router.aclose()
    assert all(isinstance(r, WriteFailed) for r in results)
    assert bus.events == []
    assert len(store.calls) <= 256 // len(store.calls[0]) * (1 + ISOLATE_MAX_WRITES)


async def test_aclose_flushes_pending_messages(
    store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    router = await make_router(store, bus, max_batch=4)
    msgs = [ids.message() for _ in range(10)]
    tasks = [asyncio.create_task(router.submit(m, [event(m)])) for m in msgs]
    await asyncio.sleep(0)  # every task has queued its message
    await router.aclose()
    assert all(t.done() and t.result() is None for t in tasks)
    assert sorted(store.rows) == [m.id for m in msgs]
    assert len(bus.events) == 10


async def test_submit_after_aclose_raises_router_closed(
    store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    router = await make_router(store, bus)
    await router.aclose()
    with pytest.raises(RouterClosed):
        await router.submit(ids.message())


async def test_enforce_nonce_retry_returns_the_earlier_message(
    router: MessageRouter, store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    first, retry = ids.message("n-1"), ids.message("n-1")
    assert await router.submit(first, [event(first)], enforce_nonce=True) is None
    earlier = await router.submit(retry, [event(retry)], enforce_nonce=True)
    assert earlier is not None and earlier.id == first.id
    assert list(store.rows) == [first.id]
    assert [e.data["id"] for e in bus.events] == [str(first.id)]


async def test_enforce_nonce_concurrent_sends_write_one_message(
    router: MessageRouter, store: FakeStore, bus: FakeBus, ids: Ids
) -> None:
    msgs = [ids.message("same") for _ in range(5)]
    results = await send_all(router, msgs, enforce_nonce=True)
    assert len(store.rows) == 1
    (kept,) = store.rows
    assert results.count(None) == 1
    assert all(r is None or r.id == kept for r in results)
    assert len(bus.events) == 1


async def test_same_nonce_without_enforce_nonce_makes_two_messages(
    router: MessageRouter, store: FakeStore, ids: Ids
) -> None:
    await router.submit(ids.message("n"))
    await router.submit(ids.message("n"))
    assert len(store.rows) == 2


async def test_enforce_nonce_is_per_channel(
    router: MessageRouter, store: FakeStore, ids: Ids
) -> None:
    await router.submit(ids.message("n"), enforce_nonce=True)
    other = ids.message("n", channel_id=CHANNEL + 1)
    assert await router.submit(other, enforce_nonce=True) is None
    assert len(store.rows) == 2
