"""Message search in MongoDB: the search half of ``MongoMessageStore``.

Each message document carries its content's words, ``kw`` (``core.store.searchwords``: runs of
letters and digits, lower-cased, each at most :data:`KEYWORD_MAX` characters), written with the
document by the router's ``insert_many`` and rewritten with the content by an edit: the words
are kept current by the writes themselves, never by a scan. A multikey index on ``(kw, ch,
_id)`` finds a word's messages in the searched channels; ``$all`` asks for every word of the
query.

Why not a MongoDB text index (``$text``)? It is the same structure (a multikey index over the
words), but its matching cannot be exercised here: SecantusDB, the MongoDB the tests run
against, refuses text indexes, and a search path no test runs is not one to ship. Words split
here also match the way SQLite's FTS5 query is built (the same words), and need no language
(a text index stems by one unless told ``default_language: "none"``). What a text index
would add is a relevance score: here ``sort_by=relevance`` orders by time (docs/compatibility.md).

Messages written before the words existed are given theirs once, when the store opens
(:func:`backfill_keywords`), and a marker in ``store_meta`` says it is done.

Every search command carries ``maxTimeMS``: past it MongoDB stops the command (error 50,
``ExecutionTimeout``) and :class:`~core.store.searchquery.StoreTimeout` is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ExecutionTimeout

from core.models import Message
from core.store.searchquery import SearchPage, SearchQuery, StoreTimeout
from core.store.searchwords import words

__all__ = ["KEYWORD_MAX", "MongoSearchStore", "backfill_keywords", "ensure_search_index",
           "keywords"]

Doc = dict[str, Any]

# Characters kept of a word (longer ones are cut, on both sides alike): bounds index keys.
KEYWORD_MAX = 64
# Documents given their words per write while backfilling.
_BACKFILL_BATCH = 1000
_BACKFILL_MARKER = {"_id": "search_keywords_v1"}
_LINK = {"text": {"$regex": "https?://", "$options": "i"}}
_KINDS: dict[str, Doc] = {"link": _LINK, "embed": {"embeds": {"$exists": True}}}


def keywords(text: str) -> list[str]:
    """The words a document of content ``text`` is found by (``kw``)."""
    return list(dict.fromkeys(w[:KEYWORD_MAX] for w in words(text)))


async def ensure_search_index(messages: AsyncCollection[Doc]) -> None:
    """Create the words index (idempotent)."""
    await messages.create_index(
        [("kw", ASCENDING), ("ch", ASCENDING), ("_id", ASCENDING)], name="search")


async def backfill_keywords(messages: AsyncCollection[Doc], meta: AsyncCollection[Doc]) -> int:
    """Give every message written without ``kw`` its words, once; how many were given.

    Each update names the text it read, so a message edited meanwhile (whose edit wrote its
    own words) is left as the edit made it.
    """
    if await meta.find_one(_BACKFILL_MARKER) is not None:
        return 0
    done = 0
    batch: list[UpdateOne] = []
    cursor = messages.find({"kw": {"$exists": False}, "text": {"$ne": ""}}, {"text": 1})
    async for doc in cursor:
        found = keywords(doc["text"])
        if found:
            batch.append(UpdateOne({"_id": doc["_id"], "text": doc["text"]},
                                   {"$set": {"kw": found}}))
        if len(batch) >= _BACKFILL_BATCH:
            done += (await messages.bulk_write(batch, ordered=False)).modified_count
            batch = []
    if batch:
        done += (await messages.bulk_write(batch, ordered=False)).modified_count
    await meta.update_one(_BACKFILL_MARKER, {"$set": {"done": True}}, upsert=True)
    return done


def _filter(q: SearchQuery) -> Doc:
    """The one filter every match meets (and that the count counts)."""
    conditions: list[Doc] = [{"ch": {"$in": list(q.channel_ids)}}]
    if q.content:
        conditions.append({"kw": {"$all": keywords(q.content)}})
    if q.author_ids:
        conditions.append({"author": {"$in": list(q.author_ids)}})
    if q.mentions:
        conditions.append({"users": {"$in": list(q.mentions)}})
    if q.has:
        conditions.append({"$or": [_KINDS[k] for k in sorted(q.has)]})
    if q.has_not:
        conditions.append({"$nor": [_KINDS[k] for k in sorted(q.has_not)]})
    ids: Doc = {}
    if q.min_id is not None:
        ids["$gt"] = q.min_id
    if q.max_id is not None:
        ids["$lt"] = q.max_id
    if ids:
        conditions.append({"_id": ids})
    # Fields at their default value are left out of the documents (core.store.mongo).
    if q.pinned is not None:
        conditions.append({"pinned": True} if q.pinned else {"pinned": {"$ne": True}})
    if q.mention_everyone is not None:
        conditions.append({"m_all": True} if q.mention_everyone else {"m_all": {"$ne": True}})
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


class MongoSearchStore:
    """The ``search`` method of :class:`core.store.base.MessageStore` on MongoDB.

    Mixed into :class:`core.store.mongo.MongoMessageStore`, which provides the collection,
    ``_errors`` and the document reader.
    """

    _messages: AsyncCollection[Doc]
    _errors: Callable[[], AbstractContextManager[None]]
    _from_doc: Callable[[Doc], Message]

    async def search(self, query: SearchQuery) -> SearchPage:
        if not query.channel_ids:
            return SearchPage(0, ())
        if query.content and not words(query.content):
            raise ValueError("content holds no word")  # core.search drops such a content
        where = _filter(query)
        timeout = query.timeout_ms
        # Relevance has no score here (see the module docstring): time order either way.
        order = ASCENDING if query.ascending else DESCENDING
        try:
            with self._errors():
                total = await self._messages.count_documents(where, maxTimeMS=timeout)
                if total <= query.offset:
                    return SearchPage(total, ())
                cursor = self._messages.find(where, sort=[("_id", order)])
                docs = await (cursor.skip(query.offset).limit(query.limit)
                              .max_time_ms(timeout).to_list())
        except ExecutionTimeout:
            raise StoreTimeout(f"MongoDB search stopped after {timeout} ms") from None
        return SearchPage(total, tuple(self._from_doc(d) for d in docs))
