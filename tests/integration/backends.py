"""Message-store backends for the shared storage contract suite, as async context managers.

Each factory gives a store that no other test sees (its own database or key prefix) and
removes what it wrote on exit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio
from pymongo import AsyncMongoClient

from core.store.base import MessageStore
from core.store.mongo import MongoMessageStore, open_mongo
from core.store.redis import CachedMessageStore

__all__ = ["open_mongo_message_store", "open_redis_cached_message_store"]


@asynccontextmanager
async def open_mongo_message_store(mongo_url: str) -> AsyncIterator[MongoMessageStore]:
    """A MongoMessageStore on a fresh database, dropped at exit."""
    db_name = f"test_{uuid.uuid4().hex[:16]}"
    store = await open_mongo(mongo_url, db_name)
    try:
        yield store
    finally:
        await store.aclose()
        # A client of its own: the test may have closed the store already.
        admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
        try:
            await admin.drop_database(db_name)
        finally:
            await admin.aclose()


@asynccontextmanager
async def open_redis_cached_message_store(
    redis_url: str, inner: MessageStore, per_channel: int = 100, *, cluster: bool = False
) -> AsyncIterator[CachedMessageStore]:
    """``inner`` behind a CachedMessageStore with a key prefix of its own, deleted at exit;
    ``cluster``: ``redis_url`` is a node of a Redis Cluster.

    Closing the returned store (at exit at the latest) closes ``inner`` too, as
    CachedMessageStore owns its inner store; closing a store twice is safe.
    """
    prefix = f"test:{uuid.uuid4().hex}:"
    client = (redis.asyncio.RedisCluster.from_url(redis_url) if cluster
              else redis.asyncio.Redis.from_url(redis_url))
    store = CachedMessageStore(inner, client, per_channel, prefix=prefix)
    try:
        yield store
    finally:
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await store.aclose()
            await client.aclose()
