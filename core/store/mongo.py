"""Message history in MongoDB, with pymongo's asyncio client (``AsyncMongoClient``).

One collection, ``messages``; one document per message. ``_id`` is the snowflake (int64),
so ids are unique and ordered by time without another index. Field names are short because
they are stored in every document:

========== ====================== ========== ======================
document   ``Message``            document   ``Message``
========== ====================== ========== ======================
``_id``    ``id``                 ``pinned`` ``pinned``
``ch``     ``channel_id``         ``m_all``  ``mention_everyone``
``author`` ``author_id``          ``users``  ``mentions``
``guild``  ``guild_id``           ``roles``  ``mention_roles``
``text``   ``content``            ``ref``    ``reference`` ({id, ch, guild})
``type``   ``type``               ``flags``  ``flags``
``tts``    ``tts``                ``embeds`` ``embeds``
``nonce``  ``nonce``              ``edited`` ``edited_at``
``pin_t``  ``pinned_at``          ``hook``   ``webhook_id``
``a_name`` ``author_name``        ``a_av``   ``author_avatar``
``att``    ``attachments``        ``comp``   ``components``
========== ====================== ========== ======================

A field at its default value (None, False, 0, empty) is left out of the document; ``text``,
``ch`` and ``author`` are always there. Indexes: ``(ch, _id)`` for history pages,
``(ch, author, nonce, _id)`` for nonce lookups, partial on documents that have a nonce, and
``(ch, pin_t)`` for a channel's pins, partial on pinned documents.

Reactions live in their own collection (``core.store.mongoreactions``), never in the message
document. Search (``core.store.mongosearch``) finds messages by ``kw``, their content's words,
written with the document and with every edit of its content. The limit of pins per channel is checked optimistically, as the one of emojis per
message is there: a pin that finds the channel over the limit after its write undoes itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    InvalidOperation,
    PyMongoError,
)
from pymongo.write_concern import WriteConcern

from core.models import Message, MessageReference
from core.store.base import HISTORY_MAX, Conflict, PinOutcome, StoreUnavailable
from core.store.mongoreactions import MongoReactionStore, ensure_reaction_indexes
from core.store.mongosearch import (
    MongoSearchStore,
    backfill_keywords,
    ensure_search_index,
    keywords,
)

__all__ = ["DURABLE", "MongoMessageStore", "open_mongo"]

logger = logging.getLogger(__name__)

Doc = dict[str, Any]

# Acknowledged by a majority of the replica set, each having written it to its on-disk
# journal: such a write survives the primary crashing and a failover (a ``w=1`` write can
# be rolled back by one). On a standalone server, the majority is that one server.
DURABLE = WriteConcern(w="majority", j=True)

_DUPLICATE_KEY = 11000
# Kept in every document even at a "default" value (an empty text, a channel id 0).
_ALWAYS = frozenset(("_id", "ch", "author", "text"))
# Fields ``update_message`` may set, with their document keys.
_UPDATABLE = {
    "content": "text",
    "edited_at": "edited",
    "mentions": "users",
    "mention_roles": "roles",
    "mention_everyone": "m_all",
    "pinned": "pinned",
    "flags": "flags",
    "embeds": "embeds",
    "attachments": "att",
    "components": "comp",
}


def _doc(message: Message) -> Doc:
    """A message's document, without the fields at their default value."""
    ref = message.reference
    doc: Doc = {
        "_id": message.id,
        "ch": message.channel_id,
        "author": message.author_id,
        "text": message.content,
        "guild": message.guild_id,
        "type": message.type,
        "tts": message.tts,
        "nonce": message.nonce,
        "edited": message.edited_at,
        "pinned": message.pinned,
        "m_all": message.mention_everyone,
        "users": list(message.mentions),
        "roles": list(message.mention_roles),
        "ref": None if ref is None else _ref_doc(ref),
        "flags": message.flags,
        "embeds": list(message.embeds),
        "pin_t": message.pinned_at,
        "kw": keywords(message.content),  # never read back: what search finds it by
        "hook": message.webhook_id,
        "a_name": message.author_name,
        "a_av": message.author_avatar,
        "att": list(message.attachments),
        "comp": list(message.components),
    }
    return {k: v for k, v in doc.items() if k in _ALWAYS or _present(v)}


def _ref_doc(ref: MessageReference) -> Doc:
    doc: Doc = {"id": ref.message_id, "ch": ref.channel_id}
    if ref.guild_id is not None:
        doc["guild"] = ref.guild_id
    return doc


def _present(value: Any) -> bool:
    return value is not None and value is not False and value != 0 and value != []


def _message(doc: Doc) -> Message:
    ref = doc.get("ref")
    return Message(
        id=doc["_id"],
        channel_id=doc["ch"],
        author_id=doc["author"],
        content=doc.get("text", ""),
        guild_id=doc.get("guild"),
        type=doc.get("type", 0),
        tts=doc.get("tts", False),
        nonce=doc.get("nonce"),
        edited_at=doc.get("edited"),
        pinned=doc.get("pinned", False),
        mention_everyone=doc.get("m_all", False),
        mentions=tuple(doc.get("users", ())),
        mention_roles=tuple(doc.get("roles", ())),
        reference=None if ref is None else MessageReference(ref["id"], ref["ch"], ref.get("guild")),
        flags=doc.get("flags", 0),
        embeds=tuple(doc.get("embeds", ())),
        pinned_at=doc.get("pin_t"),
        webhook_id=doc.get("hook"),
        author_name=doc.get("a_name"),
        author_avatar=doc.get("a_av"),
        attachments=tuple(doc.get("att", ())),
        components=tuple(doc.get("comp", ())),
    )


def _hosts(url: str) -> str:
    """The host list of a MongoDB URL, without scheme, credentials, database or options."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]


class MongoMessageStore(MongoReactionStore, MongoSearchStore):
    """The :class:`core.store.base.MessageStore` on MongoDB.

    ``insert_many`` is one unordered bulk insert: a message that fails does not stop the
    others. A duplicate ``_id`` is not an error when the stored document is the same message
    (a retried batch is idempotent); a different message under that id raises
    :class:`Conflict` once the rest of the batch is written. ``insert_many`` returns when
    the write concern is satisfied: :data:`DURABLE` unless the URL sets ``w`` or
    ``journal``, which then win (``w=1`` trades failover safety for latency).

    Network failures and a closed store raise :class:`StoreUnavailable`.

    Args:
        client: the client; closed by :meth:`aclose`.
        collection: the ``messages`` collection, with its write concern set.
        where: the hosts, for error messages (no credentials).
        reactions: the ``reactions`` collection, with the same write concern.
    """

    _from_doc = staticmethod(_message)  # how MongoSearchStore reads a document

    def __init__(
        self, client: AsyncMongoClient[Doc], collection: AsyncCollection[Doc], where: str,
        reactions: AsyncCollection[Doc],
    ) -> None:
        self._client = client
        self._messages = collection
        self._reactions = reactions
        self._where = where
        self._closed = False

    async def ensure_indexes(self) -> None:
        """Create the indexes (idempotent; ``open_mongo`` calls it)."""
        with self._errors():
            await self._messages.create_index([("ch", ASCENDING), ("_id", ASCENDING)], name="ch_id")
            await self._messages.create_index(
                [
                    ("ch", ASCENDING),
                    ("author", ASCENDING),
                    ("nonce", ASCENDING),
                    ("_id", ASCENDING),
                ],
                name="nonce",
                partialFilterExpression={"nonce": {"$exists": True}},
            )
            await self._messages.create_index(
                [("ch", ASCENDING), ("pin_t", ASCENDING)],
                name="pins",
                partialFilterExpression={"pin_t": {"$exists": True}},
            )
            await ensure_reaction_indexes(self._reactions)
            await ensure_search_index(self._messages)

    async def backfill_search(self) -> int:
        """Give the messages stored before search their words (once; ``open_mongo`` calls it)."""
        with self._errors():
            meta = self._messages.database.get_collection("store_meta")
            return await backfill_keywords(self._messages, meta)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    async def insert_many(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        with self._errors():
            try:
                await self._messages.insert_many([_doc(m) for m in messages], ordered=False)
            except BulkWriteError as exc:
                await self._accept_retried(exc, messages)

    async def get_message(self, channel_id: int, message_id: int) -> Message | None:
        with self._errors():
            doc = await self._messages.find_one({"_id": message_id, "ch": channel_id})
        return None if doc is None else _message(doc)

    async def history(
        self,
        channel_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        if not 1 <= limit <= HISTORY_MAX:
            raise ValueError(f"limit must be within 1..{HISTORY_MAX}")
        bounds: Doc = {}
        if before is not None:
            bounds["$lt"] = before
        if after is not None:
            bounds["$gt"] = after
        query: Doc = {"ch": channel_id, "_id": bounds} if bounds else {"ch": channel_id}
        # With only ``after``: the oldest ``limit`` after it, then reversed to newest first.
        oldest_first = after is not None and before is None
        cursor = self._messages.find(
            query, sort=[("_id", ASCENDING if oldest_first else DESCENDING)]
        )
        with self._errors():
            docs = await cursor.limit(limit).to_list()
        page = [_message(doc) for doc in docs]
        if oldest_first:
            page.reverse()
        return page

    async def find_by_nonce(
        self, channel_id: int, author_id: int, nonce: str, min_id: int
    ) -> Message | None:
        query = {"ch": channel_id, "author": author_id, "nonce": nonce, "_id": {"$gte": min_id}}
        with self._errors():
            doc = await self._messages.find_one(query, sort=[("_id", ASCENDING)])
        return None if doc is None else _message(doc)

    async def update_message(
        self, channel_id: int, message_id: int, fields: dict[str, Any]
    ) -> Message | None:
        unknown = fields.keys() - _UPDATABLE.keys()
        if unknown:
            raise ValueError(f"cannot update message fields {sorted(unknown)}")
        if not fields:
            return await self.get_message(channel_id, message_id)
        to_set: Doc = {}
        to_unset: Doc = {}
        for name, value in fields.items():
            key = _UPDATABLE[name]
            stored = list(value) if isinstance(value, tuple) else value
            if key == "text" or _present(stored):
                to_set[key] = stored
            else:
                to_unset[key] = ""
        if "content" in fields:  # the words go with the text (core.store.mongosearch)
            found = keywords(str(fields["content"]))
            if found:
                to_set["kw"] = found
            else:
                to_unset["kw"] = ""
        update = {op: keys for op, keys in (("$set", to_set), ("$unset", to_unset)) if keys}
        with self._errors():
            doc = await self._messages.find_one_and_update(
                {"_id": message_id, "ch": channel_id},
                update,
                return_document=ReturnDocument.AFTER,
            )
        return None if doc is None else _message(doc)

    async def delete_message(self, channel_id: int, message_id: int) -> bool:
        with self._errors():
            result = await self._messages.delete_one({"_id": message_id, "ch": channel_id})
            # After the message: a reaction added meanwhile is removed too, or refused.
            await self._reactions.delete_many({"m": message_id, "ch": channel_id})
        return result.deleted_count == 1

    async def delete_channel_messages(self, channel_id: int) -> int:
        with self._errors():
            result = await self._messages.delete_many({"ch": channel_id})
            await self._reactions.delete_many({"ch": channel_id})
        return result.deleted_count

    # -- pins ----------------------------------------------------------------------------

    async def pin_message(
        self, channel_id: int, message_id: int, now_ms: int, max_pins: int
    ) -> tuple[PinOutcome, Message | None]:
        where = {"_id": message_id, "ch": channel_id}
        pinned = {"ch": channel_id, "pin_t": {"$exists": True}}
        with self._errors():
            doc = await self._messages.find_one(where)
            if doc is None:
                return PinOutcome.UNKNOWN_MESSAGE, None
            if "pin_t" in doc:
                return PinOutcome.ALREADY_PINNED, _message(doc)
            if await self._messages.count_documents(pinned) >= max_pins:
                return PinOutcome.LIMIT_REACHED, _message(doc)
            newest = await self._messages.find_one(pinned, {"pin_t": 1},
                                                   sort=[("pin_t", DESCENDING)])
            pinned_at = max(now_ms, newest["pin_t"] + 1 if newest else 0)  # distinct times
            after = await self._messages.find_one_and_update(
                {**where, "pin_t": {"$exists": False}},
                {"$set": {"pinned": True, "pin_t": pinned_at}},
                return_document=ReturnDocument.AFTER,
            )
            if after is None:  # pinned (or deleted) by someone else meanwhile
                doc = await self._messages.find_one(where)
                if doc is None:
                    return PinOutcome.UNKNOWN_MESSAGE, None
                return PinOutcome.ALREADY_PINNED, _message(doc)
            if await self._messages.count_documents(pinned) > max_pins:
                # Another pin took the last place at the same time: undo this one.
                await self._messages.update_one({**where, "pin_t": pinned_at},
                                                {"$unset": {"pinned": "", "pin_t": ""}})
                return PinOutcome.LIMIT_REACHED, _message(doc)
        return PinOutcome.PINNED, _message(after)

    async def unpin_message(self, channel_id: int, message_id: int) -> Message | None:
        query = {"_id": message_id, "ch": channel_id,
                 "$or": [{"pin_t": {"$exists": True}}, {"pinned": True}]}
        with self._errors():
            doc = await self._messages.find_one_and_update(
                query, {"$unset": {"pinned": "", "pin_t": ""}},
                return_document=ReturnDocument.AFTER,
            )
        return None if doc is None else _message(doc)

    async def list_pins(
        self, channel_id: int, *, before_ms: int | None = None, limit: int = 50
    ) -> list[Message]:
        limit = max(1, min(limit, HISTORY_MAX))
        bound: Doc = {"$exists": True} if before_ms is None else {"$lt": before_ms}
        cursor = self._messages.find({"ch": channel_id, "pin_t": bound},
                                     sort=[("pin_t", DESCENDING), ("_id", DESCENDING)])
        with self._errors():
            docs = await cursor.limit(limit).to_list()
        return [_message(d) for d in docs]

    async def _accept_retried(self, exc: BulkWriteError, messages: Sequence[Message]) -> None:
        """Swallow duplicate-key errors for ids already holding the same message.

        Raises:
            BulkWriteError: any other write error or a write concern error.
            Conflict: an id already holds a different message.
        """
        details = exc.details
        errors = details.get("writeErrors", [])
        if details.get("writeConcernErrors") or any(
            e.get("code") != _DUPLICATE_KEY for e in errors
        ):
            raise exc
        retried = [messages[e["index"]] for e in errors]
        stored = {
            doc["_id"]: _message(doc)
            async for doc in self._messages.find({"_id": {"$in": [m.id for m in retried]}})
        }
        clashes = sorted({m.id for m in retried if stored.get(m.id) != m})
        if clashes:
            raise Conflict(f"message ids already hold different messages: {clashes}")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Raise StoreUnavailable for a closed store or a failed connection."""
        if self._closed:
            raise StoreUnavailable("the MongoDB message store is closed")
        try:
            yield
        except ConnectionFailure as exc:
            raise StoreUnavailable(
                f"MongoDB unreachable at {self._where}: {type(exc).__name__}"
            ) from exc
        except InvalidOperation as exc:
            if self._closed:  # closed while the call was waiting
                raise StoreUnavailable("the MongoDB message store is closed") from exc
            raise


async def open_mongo(
    url: str, db_name: str = "discord_arch", *, ping_timeout: float = 5.0
) -> MongoMessageStore:
    """Connect to MongoDB, check it answers ``ping``, and create the indexes.

    Args:
        url: a ``mongodb://`` or ``mongodb+srv://`` URL; its options (``w``, ``journal``,
            ``timeoutMS``, TLS, credentials...) apply.
        db_name: the database holding the ``messages`` collection.
        ping_timeout: seconds the first ``ping`` may take, server selection included.

    Raises:
        StoreUnavailable: the URL is malformed or no server answered in time (one line,
            naming the hosts, never the credentials).
    """
    try:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(url)
    except (ConfigurationError, ValueError, TypeError):
        # pymongo's messages may quote the URL, which may hold a password.
        raise StoreUnavailable(f"malformed MongoDB URL for {_hosts(url)}") from None
    # The URL's write concern wins; without one, DURABLE (see the class docstring).
    concern = client.write_concern if client.write_concern.document else DURABLE
    db = client[db_name]
    collection = db.get_collection("messages", write_concern=concern)
    reactions = db.get_collection("reactions", write_concern=concern)
    store = MongoMessageStore(client, collection, _hosts(url), reactions)
    try:
        # The client's own timeouts are for a server that went away later: the first
        # contact gets a short one, so a wrong URL fails the start quickly.
        with pymongo.timeout(ping_timeout):
            await client.admin.command("ping")
            await store.ensure_indexes()
        # Outside the first contact's short timeout: after an upgrade it reads every message.
        await store.backfill_search()
    except (PyMongoError, StoreUnavailable) as exc:
        await store.aclose()
        if isinstance(exc, (ConnectionFailure, StoreUnavailable)):
            reason = f"no answer within {ping_timeout:g} s"
        else:  # e.g. authentication failed; pymongo's message names no credentials
            reason = str(exc)
        raise StoreUnavailable(
            f"MongoDB unreachable at {_hosts(url)}: {reason.splitlines()[0][:200]}"
        ) from exc
    return store
