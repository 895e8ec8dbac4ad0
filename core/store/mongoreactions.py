"""Reactions in MongoDB: the reaction half of ``MongoMessageStore``.

A ``reactions`` collection beside ``messages``, one small document per (message, emoji,
user), never a field of the message: a storm of reactions on one message inserts documents
and never rewrites the message. Fields (short, as in every document):

======== ============================ ======== ==========================
``m``    message id                   ``ch``   channel id
``e``    emoji key (``core.emoji``)   ``t``    when (Unix ms)
``u``    user id
======== ============================ ======== ==========================

Indexes: ``(m, e, u)`` unique (a user reacts once per emoji; it also serves a message's
users of an emoji, in id order, and a page's counts) and ``(ch, m)`` for dropping a
channel's history. Counts are one ``$group`` aggregation for a whole page.

The limit of distinct emojis per message is checked optimistically (MongoDB has no
transaction without a replica set): a new emoji is counted before and after its insert, and
one that finds the message over the limit afterwards removes itself. Two new emojis racing
for the last place can thus both be refused; the limit itself always holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from core.models import ReactionCount
from core.store.base import HISTORY_MAX, ReactionOutcome

__all__ = ["MongoReactionStore", "ensure_reaction_indexes"]

Doc = dict[str, Any]


async def ensure_reaction_indexes(reactions: AsyncCollection[Doc]) -> None:
    """Create the ``reactions`` indexes (idempotent)."""
    await reactions.create_index(
        [("m", ASCENDING), ("e", ASCENDING), ("u", ASCENDING)], name="m_e_u", unique=True
    )
    await reactions.create_index([("ch", ASCENDING), ("m", ASCENDING)], name="ch_m")


class MongoReactionStore:
    """The reaction methods of :class:`core.store.base.MessageStore` on MongoDB.

    Mixed into :class:`core.store.mongo.MongoMessageStore`, which provides the collections
    and ``_errors`` (closed store and lost connections become StoreUnavailable).
    """

    _messages: AsyncCollection[Doc]
    _reactions: AsyncCollection[Doc]
    _errors: Callable[[], AbstractContextManager[None]]

    async def add_reaction(
        self, channel_id: int, message_id: int, emoji: str, user_id: int, now_ms: int,
        *, max_emojis: int,
    ) -> ReactionOutcome:
        where = {"m": message_id, "ch": channel_id}
        with self._errors():
            new = await self._reactions.find_one({**where, "e": emoji}, {"_id": 1}) is None
            if new:
                found = await self._messages.find_one({"_id": message_id, "ch": channel_id},
                                                      {"_id": 1})
                if found is None:
                    return ReactionOutcome.UNKNOWN_MESSAGE
                if len(await self._reactions.distinct("e", {"m": message_id})) >= max_emojis:
                    return ReactionOutcome.LIMIT_REACHED
            mine = {**where, "e": emoji, "u": user_id}
            try:
                await self._reactions.insert_one({**mine, "t": now_ms})
            except DuplicateKeyError:
                return ReactionOutcome.ALREADY_REACTED
            if new and len(await self._reactions.distinct("e", {"m": message_id})) > max_emojis:
                await self._reactions.delete_one(mine)  # lost a race for the last place
                return ReactionOutcome.LIMIT_REACHED
        return ReactionOutcome.ADDED

    async def remove_reaction(
        self, channel_id: int, message_id: int, emoji: str, user_id: int
    ) -> bool:
        with self._errors():
            result = await self._reactions.delete_one(
                {"m": message_id, "e": emoji, "u": user_id, "ch": channel_id})
        return result.deleted_count == 1

    async def remove_reactions(
        self, channel_id: int, message_id: int, emoji: str | None = None
    ) -> int:
        query: Doc = {"m": message_id, "ch": channel_id}
        if emoji is not None:
            query["e"] = emoji
        with self._errors():
            result = await self._reactions.delete_many(query)
        return result.deleted_count

    async def reaction_users(
        self, channel_id: int, message_id: int, emoji: str, *, after: int = 0, limit: int = 25
    ) -> list[int]:
        limit = max(1, min(limit, HISTORY_MAX))
        query = {"m": message_id, "e": emoji, "ch": channel_id, "u": {"$gt": after}}
        cursor = self._reactions.find(query, {"u": 1}, sort=[("u", ASCENDING)])
        with self._errors():
            docs = await cursor.limit(limit).to_list()
        return [d["u"] for d in docs]

    async def reaction_counts(
        self, channel_id: int, message_ids: Sequence[int], viewer_id: int | None = None
    ) -> dict[int, list[ReactionCount]]:
        if not message_ids:
            return {}
        viewer = 0 if viewer_id is None else viewer_id  # no user has id 0
        pipeline: list[Doc] = [
            {"$match": {"m": {"$in": list(dict.fromkeys(message_ids))}, "ch": channel_id}},
            {"$group": {
                "_id": {"m": "$m", "e": "$e"},
                "n": {"$sum": 1},
                "me": {"$max": {"$cond": [{"$eq": ["$u", viewer]}, 1, 0]}},
                "t": {"$min": "$t"},
            }},
        ]
        found: dict[int, list[tuple[int, str, ReactionCount]]] = {}
        with self._errors():
            cursor = await self._reactions.aggregate(pipeline)
            async for doc in cursor:
                key = doc["_id"]
                entry = (doc["t"], key["e"], ReactionCount(key["e"], doc["n"], bool(doc["me"])))
                found.setdefault(key["m"], []).append(entry)
        # Discord lists a message's reactions in the order each emoji was first used.
        return {m: [e[2] for e in sorted(entries)] for m, entries in found.items()}
