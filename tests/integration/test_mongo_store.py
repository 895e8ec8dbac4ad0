"""MongoMessageStore specifics (the storage contract suite covers the common behaviour)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from core.models import Message, MessageReference
from core.store.base import Conflict, StoreUnavailable
from core.store.mongo import DURABLE, MongoMessageStore, open_mongo
from core.store.searchquery import SearchQuery, StoreTimeout
from tests.integration.backends import open_mongo_message_store

CHANNEL = 1 << 50


@pytest.fixture
async def store(mongo_url: str) -> AsyncIterator[MongoMessageStore]:
    async with open_mongo_message_store(mongo_url) as opened:
        yield opened


def _msg(message_id: int, **fields: Any) -> Message:
    fields.setdefault("content", f"m{message_id}")
    return Message(id=message_id, channel_id=CHANNEL, author_id=7, **fields)


async def test_message_round_trips_with_every_field(store: MongoMessageStore) -> None:
    full = _msg(
        (1 << 62) + 5,
        guild_id=3,
        type=19,
        tts=True,
        nonce="n-1",
        edited_at=1_700_000_000_123,
        pinned=True,
        mention_everyone=True,
        mentions=(8, 9),
        mention_roles=(10,),
        reference=MessageReference(message_id=11, channel_id=CHANNEL, guild_id=3),
        flags=4,
        embeds=({"title": "t", "fields": [{"name": "a", "value": "b"}]},),
    )
    bare = _msg(6, content="")
    await store.insert_many([full, bare])
    assert await store.get_message(CHANNEL, full.id) == full
    assert await store.get_message(CHANNEL, bare.id) == bare
    assert await store.get_message(CHANNEL + 1, bare.id) is None


async def test_history_pages_newest_first(store: MongoMessageStore) -> None:
    await store.insert_many([_msg(i) for i in range(1, 11)])

    def ids(page: list[Message]) -> list[int]:
        return [m.id for m in page]

    assert ids(await store.history(CHANNEL, limit=3)) == [10, 9, 8]
    assert ids(await store.history(CHANNEL, before=5, limit=3)) == [4, 3, 2]
    # With ``after`` only: the oldest ``limit`` after it, still newest first.
    assert ids(await store.history(CHANNEL, after=2, limit=3)) == [5, 4, 3]
    assert ids(await store.history(CHANNEL, after=2, before=6, limit=10)) == [5, 4, 3]
    assert await store.history(CHANNEL + 1) == []


async def test_retried_batch_is_idempotent_and_keeps_new_messages(
    store: MongoMessageStore,
) -> None:
    await store.insert_many([_msg(1), _msg(2)])
    await store.insert_many([_msg(1), _msg(3), _msg(2), _msg(4)])
    assert [m.id for m in await store.history(CHANNEL)] == [4, 3, 2, 1]


async def test_duplicate_id_with_other_content_conflicts_but_writes_the_rest(
    store: MongoMessageStore,
) -> None:
    await store.insert_many([_msg(1)])
    with pytest.raises(Conflict, match=r"\[1\]"):
        await store.insert_many([_msg(1, content="other"), _msg(2)])
    assert await store.get_message(CHANNEL, 1) == _msg(1)
    assert await store.get_message(CHANNEL, 2) == _msg(2)


async def test_find_by_nonce_respects_author_and_min_id(store: MongoMessageStore) -> None:
    await store.insert_many([_msg(5, nonce="a"), _msg(6), _msg(9, nonce="a")])
    assert (await store.find_by_nonce(CHANNEL, 7, "a", 0)) == _msg(5, nonce="a")
    assert (await store.find_by_nonce(CHANNEL, 7, "a", 6)) == _msg(9, nonce="a")
    assert await store.find_by_nonce(CHANNEL, 8, "a", 0) is None
    assert await store.find_by_nonce(CHANNEL, 7, "b", 0) is None


async def test_update_sets_and_clears_fields(store: MongoMessageStore) -> None:
    await store.insert_many([_msg(1, pinned=True, mentions=(3,))])
    updated = await store.update_message(
        CHANNEL, 1, {"content": "new", "edited_at": 99, "pinned": False, "mentions": ()}
    )
    assert updated == _msg(1, content="new", edited_at=99)
    assert await store.get_message(CHANNEL, 1) == updated
    assert await store.update_message(CHANNEL, 2, {"content": "x"}) is None
    with pytest.raises(ValueError):
        await store.update_message(CHANNEL, 1, {"author_id": 1})


async def test_deletes(store: MongoMessageStore) -> None:
    await store.insert_many([_msg(1), _msg(2), _msg(3)])
    assert await store.delete_message(CHANNEL, 1) is True
    assert await store.delete_message(CHANNEL, 1) is False
    assert await store.delete_channel_messages(CHANNEL) == 2
    assert await store.history(CHANNEL) == []


async def test_indexes_and_default_write_concern(mongo_url: str) -> None:
    async with open_mongo_message_store(mongo_url) as store:
        collection = store._messages
        info = await collection.index_information()
        assert info["ch_id"]["key"] == [("ch", 1), ("_id", 1)]
        assert info["nonce"]["partialFilterExpression"] == {"nonce": {"$exists": True}}
        assert collection.write_concern == DURABLE


async def test_write_concern_from_url_wins(mongo_url: str) -> None:
    separator = "&" if "?" in mongo_url else "?"
    store = await open_mongo(f"{mongo_url}{separator}w=1", "test_wc_url")
    try:
        assert store._messages.write_concern.document == {"w": 1}
    finally:
        await store.aclose()


async def test_open_unreachable_raises_one_line_without_credentials() -> None:
    with pytest.raises(StoreUnavailable) as info:
        await open_mongo("mongodb://user:s3cret@127.0.0.1:1/", ping_timeout=0.5)
    message = str(info.value)
    assert "127.0.0.1:1" in message
    assert "s3cret" not in message
    assert "\n" not in message


async def test_open_malformed_url_raises() -> None:
    with pytest.raises(StoreUnavailable, match="malformed"):
        await open_mongo("http://user:s3cret@example/")


async def test_closed_store_raises_unavailable(mongo_url: str) -> None:
    async with open_mongo_message_store(mongo_url) as store:
        await store.aclose()
        await store.aclose()
        with pytest.raises(StoreUnavailable, match="closed"):
            await store.get_message(CHANNEL, 1)


async def test_documents_use_short_fields_and_omit_defaults(mongo_url: str) -> None:
    async with open_mongo_message_store(mongo_url) as store:
        await store.insert_many([_msg(1)])
        doc = await store._messages.find_one({"_id": 1})
        # kw: the content's words, what a search finds it by (core.store.mongosearch).
        assert doc == {"_id": 1, "ch": CHANNEL, "author": 7, "text": "m1", "kw": ["m1"]}


async def test_messages_stored_before_search_get_their_words_once(
    store: MongoMessageStore,
) -> None:
    # Documents as an older version wrote them: no kw. The store was opened before they
    # existed, so its own backfill found nothing; a marker reset stands for an upgrade.
    await store._messages.insert_many([
        {"_id": 1, "ch": CHANNEL, "author": 7, "text": "Older Words"},
        {"_id": 2, "ch": CHANNEL, "author": 7, "text": ""},
    ])
    await store._messages.database.get_collection("store_meta").delete_many({})
    assert await store.backfill_search() == 1
    page = await store.search(SearchQuery((CHANNEL,), content="older"))
    assert [m.id for m in page.messages] == [1]
    assert await store.backfill_search() == 0  # done once


async def test_a_search_past_its_max_time_is_stopped(store: MongoMessageStore) -> None:
    # A link is looked for by a regular expression over every document of the channels: a
    # thousand of them take SecantusDB (or mongod) longer than a millisecond.
    await store.insert_many([_msg(i, content="plain words " * 20) for i in range(1, 1001)])
    with pytest.raises(StoreTimeout):
        await store.search(SearchQuery((CHANNEL,), has=frozenset({"link"}), timeout_ms=1))
    page = await store.search(SearchQuery((CHANNEL,), content="plain", limit=1))
    assert page.total == 1000 and len(page.messages) == 1


async def test_secantus_or_mongod_accepts_durable_writes(mongo_url: str) -> None:
    # Guards the default: a server that rejects w=majority+j would fail every insert.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        collection = client["test_durable"].get_collection("c", write_concern=DURABLE)
        await collection.insert_one({"_id": 1})
    finally:
        await client.drop_database("test_durable")
        await client.aclose()
