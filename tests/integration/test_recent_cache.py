"""CachedMessageStore over a real Redis, with a dict-backed inner store that counts calls."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import redis.asyncio

from core.models import Message, MessageReference
from core.store.redis import CachedMessageStore
from tests.integration.backends import open_redis_cached_message_store

CHANNEL = 1 << 45
PER_CHANNEL = 5


class DictStore:
    """A minimal in-memory MessageStore; ``calls`` counts each method, ``on_history`` runs
    after a history page is read and before it is returned (to interleave other work)."""

    def __init__(self) -> None:
        self.messages: dict[int, Message] = {}
        self.calls: Counter[str] = Counter()
        self.on_history: Callable[[], Awaitable[None]] | None = None

    async def aclose(self) -> None:
        self.calls["aclose"] += 1

    async def insert_many(self, messages: Sequence[Message]) -> None:
        self.calls["insert_many"] += 1
        for m in messages:
            self.messages.setdefault(m.id, m)

    async def get_message(self, channel_id: int, message_id: int) -> Message | None:
        m = self.messages.get(message_id)
        return m if m is not None and m.channel_id == channel_id else None

    async def history(
        self,
        channel_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        self.calls["history"] += 1
        ids = sorted(
            i
            for i, m in self.messages.items()
            if m.channel_id == channel_id
            and (before is None or i < before)
            and (after is None or i > after)
        )
        chosen = ids[:limit] if after is not None and before is None else ids[-limit:]
        page = [self.messages[i] for i in reversed(chosen)]
        if self.on_history is not None:
            hook, self.on_history = self.on_history, None
            await hook()
        return page

    async def find_by_nonce(
        self, channel_id: int, author_id: int, nonce: str, min_id: int
    ) -> Message | None:
        return None

    async def update_message(
        self, channel_id: int, message_id: int, fields: dict[str, Any]
    ) -> Message | None:
        m = await self.get_message(channel_id, message_id)
        if m is None:
            return None
        self.messages[message_id] = updated = Message(
            **{**{f: getattr(m, f) for f in m.__slots__}, **fields}
        )
        return updated

    async def delete_message(self, channel_id: int, message_id: int) -> bool:
        return self.messages.pop(message_id, None) is not None

    async def delete_channel_messages(self, channel_id: int) -> int:
        doomed = [i for i, m in self.messages.items() if m.channel_id == channel_id]
        for i in doomed:
            del self.messages[i]
        return len(doomed)


def _msg(message_id: int, channel_id: int = CHANNEL, **fields: Any) -> Message:
    fields.setdefault("content", f"m{message_id}")
    return Message(id=message_id, channel_id=channel_id, author_id=3, **fields)


def _ids(page: list[Message]) -> list[int]:
    return [m.id for m in page]


@pytest.fixture
def inner() -> DictStore:
    return DictStore()


@pytest.fixture(params=["redis", "redis-cluster"])
def target(request: pytest.FixtureRequest) -> tuple[str, bool]:
    """A Redis URL, and whether it is a node of a Redis Cluster (the list's three keys share
    a hash tag, so its scripts and MULTIs run there too)."""
    cluster = request.param == "redis-cluster"
    return request.getfixturevalue("redis_cluster_url" if cluster else "redis_url"), cluster


@pytest.fixture
async def store(target: tuple[str, bool], inner: DictStore
                ) -> AsyncIterator[CachedMessageStore]:
    url, cluster = target
    async with open_redis_cached_message_store(url, inner, PER_CHANNEL,
                                               cluster=cluster) as cached:
        yield cached


async def test_history_served_from_cache_once_filled(
    store: CachedMessageStore, inner: DictStore
) -> None:
    await store.insert_many([_msg(i) for i in (1, 2, 3)])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [
        3,
        2,
        1,
    ]  # miss: read-through fill
    assert inner.calls["history"] == 1
    assert _ids(await store.history(CHANNEL, limit=2)) == [3, 2]
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [3, 2, 1]
    assert inner.calls["history"] == 1


async def test_inserts_after_fill_are_served_from_cache(
    store: CachedMessageStore, inner: DictStore
) -> None:
    await store.insert_many([_msg(1)])
    await store.history(CHANNEL, limit=PER_CHANNEL)
    await store.insert_many([_msg(2), _msg(3)])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [3, 2, 1]
    assert inner.calls["history"] == 1


async def test_empty_channel_is_cached_then_grows(
    store: CachedMessageStore, inner: DictStore
) -> None:
    assert await store.history(CHANNEL, limit=PER_CHANNEL) == []
    assert await store.history(CHANNEL, limit=PER_CHANNEL) == []
    await store.insert_many([_msg(1)])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [1]
    assert inner.calls["history"] == 1


async def test_history_falls_back_to_inner_when_not_complete(
    store: CachedMessageStore, inner: DictStore
) -> None:
    # Inserted but never filled: the list holds nothing known complete.
    await store.insert_many([_msg(i) for i in range(1, 4)])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [3, 2, 1]
    assert inner.calls["history"] == 1
    # Pages the list cannot answer always go to the inner store.
    assert _ids(await store.history(CHANNEL, before=3)) == [2, 1]
    assert _ids(await store.history(CHANNEL, after=1, limit=1)) == [2]
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL + 1)) == [3, 2, 1]
    assert inner.calls["history"] == 4


async def test_edit_and_deletes_invalidate(store: CachedMessageStore, inner: DictStore) -> None:
    await store.insert_many([_msg(i) for i in (1, 2, 3)])
    await store.history(CHANNEL, limit=PER_CHANNEL)
    await store.update_message(CHANNEL, 2, {"content": "edited", "edited_at": 5})
    assert [m.content for m in await store.history(CHANNEL, limit=PER_CHANNEL)] == [
        "m3",
        "edited",
        "m1",
    ]
    assert inner.calls["history"] == 2
    await store.delete_message(CHANNEL, 3)
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [2, 1]
    assert inner.calls["history"] == 3
    assert await store.delete_channel_messages(CHANNEL) == 2
    assert await store.history(CHANNEL, limit=PER_CHANNEL) == []
    assert inner.calls["history"] == 4


async def test_list_is_capped_at_per_channel(
    store: CachedMessageStore, inner: DictStore
) -> None:
    await store.insert_many([_msg(1)])
    await store.history(CHANNEL, limit=PER_CHANNEL)
    for start in range(2, 14, 4):
        await store.insert_many([_msg(i) for i in range(start, start + 4)])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [13, 12, 11, 10, 9]
    assert inner.calls["history"] == 1
    assert await store._redis.llen(store._keys(CHANNEL)[0]) == PER_CHANNEL


async def test_batch_order_and_retried_ids(store: CachedMessageStore, inner: DictStore) -> None:
    await store.history(CHANNEL, limit=PER_CHANNEL)
    batch = [_msg(i) for i in range(1, 5)]
    random.Random(4).shuffle(batch)
    await store.insert_many([*batch, _msg(2)])  # id 2 twice in one batch counts once
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [4, 3, 2, 1]
    assert inner.calls["history"] == 1


async def test_older_id_than_head_drops_the_list(
    store: CachedMessageStore, inner: DictStore
) -> None:
    # Another worker's batch with a smaller id lands after ours: the list cannot place it
    # by pushing, so it is dropped and the next read refills in id order.
    await store.insert_many([_msg(10), _msg(20)])
    await store.history(CHANNEL, limit=PER_CHANNEL)
    await store.insert_many([_msg(15)])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [20, 15, 10]
    assert inner.calls["history"] == 2
    await store.insert_many([_msg(20)])  # a retry of an id already in the list
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [20, 15, 10]
    assert inner.calls["history"] == 3


async def test_fill_racing_an_insert_does_not_hide_it(
    store: CachedMessageStore, inner: DictStore
) -> None:
    await store.insert_many([_msg(1)])

    async def insert_during_fill() -> None:
        # Runs after the inner read of the miss, before its fill reaches Redis.
        await store.insert_many([_msg(2)])

    inner.on_history = insert_during_fill
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [1]  # the page as of its read
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [2, 1]  # not a stale fill
    assert inner.calls["history"] == 2


async def test_fill_racing_an_edit_does_not_keep_old_content(
    store: CachedMessageStore, inner: DictStore
) -> None:
    await store.insert_many([_msg(1)])

    async def edit_during_fill() -> None:
        await store.update_message(CHANNEL, 1, {"content": "new"})

    inner.on_history = edit_during_fill
    await store.history(CHANNEL, limit=PER_CHANNEL)
    assert [m.content for m in await store.history(CHANNEL, limit=PER_CHANNEL)] == ["new"]


async def test_list_expired_without_marker_is_a_miss(
    store: CachedMessageStore, inner: DictStore
) -> None:
    await store.insert_many([_msg(1)])
    await store.history(CHANNEL, limit=PER_CHANNEL)
    await store._redis.delete(store._keys(CHANNEL)[0])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [1]
    assert inner.calls["history"] == 2


async def test_messages_round_trip_through_the_list(
    store: CachedMessageStore, inner: DictStore
) -> None:
    full = _msg(
        (1 << 62) + 1,
        guild_id=9,
        nonce="n",
        edited_at=7,
        mentions=(1, 2),
        mention_roles=(3,),
        reference=MessageReference(5, CHANNEL, 9),
        embeds=({"title": "t", "fields": [{"name": "a", "value": "b"}]},),
        pinned=True,
    )
    await store.history(CHANNEL, limit=PER_CHANNEL)
    await store.insert_many([full])
    assert await store.history(CHANNEL, limit=PER_CHANNEL) == [full]
    assert inner.calls["history"] == 1


async def test_channels_are_independent(store: CachedMessageStore, inner: DictStore) -> None:
    await store.insert_many([_msg(1), _msg(2, channel_id=CHANNEL + 1)])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [1]
    assert _ids(await store.history(CHANNEL + 1, limit=PER_CHANNEL)) == [2]
    await store.update_message(CHANNEL + 1, 2, {"content": "x"})
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [1]
    assert inner.calls["history"] == 2


async def test_scripts_reload_after_script_flush(
    store: CachedMessageStore, inner: DictStore, target: tuple[str, bool]
) -> None:
    await store.history(CHANNEL, limit=PER_CHANNEL)
    url, cluster = target
    client = (redis.asyncio.RedisCluster.from_url(url) if cluster  # every master's scripts
              else redis.asyncio.Redis.from_url(url))
    try:
        await client.script_flush()
    finally:
        await client.aclose()
    await store.insert_many([_msg(1)])
    assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [1]
    assert inner.calls["history"] == 1


async def test_redis_down_falls_back_to_inner(inner: DictStore) -> None:
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    store = CachedMessageStore(inner, client, PER_CHANNEL, owns_client=True)
    try:
        await store.insert_many([_msg(1)])
        assert _ids(await store.history(CHANNEL, limit=PER_CHANNEL)) == [1]
        assert await store.update_message(CHANNEL, 1, {"content": "x"}) is not None
    finally:
        await store.aclose()
    assert inner.calls["aclose"] == 1


def test_per_channel_is_bounded(inner: DictStore) -> None:
    client = redis.asyncio.Redis()
    with pytest.raises(ValueError):
        CachedMessageStore(inner, client, per_channel=101)
