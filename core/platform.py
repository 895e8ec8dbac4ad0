"""The per-worker composition of core: stores, cache, bus, ids, auth and the message router.

``Platform.open`` picks the backends from the config (embedded SQLite by default; PostgreSQL,
MongoDB and Redis when their URLs are given), checks each is reachable, and starts the router.
One instance per worker process, owned by the worker (or a test); nothing here is global.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import cast

from core.auth import Passwords, TokenAuth
from core.blobs import BLOBS_DIR, BlobStore, LocalBlobStore
from core.bus.memory import MemoryBus
from core.config import Config
from core.events import Bus, Event
from core.mentions import MentionIndex
from core.metrics import Metrics
from core.router import MessageRouter
from core.snowflake import SnowflakeGenerator
from core.store.base import MessageStore, MetaStore, StoreUnavailable
from core.store.cache import Cache, MemoryCache
from core.store.metacache import CachedMetaStore
from core.timeline import Timeline

__all__ = ["Platform"]


@dataclass(slots=True)
class Platform:
    """Everything a worker's API handlers and gateway sessions share.

    Attributes:
        config: the frozen config.
        meta: users, guilds, channels, members, roles, invites (behind the per-worker
            ``CachedMetaStore`` of what permission checks read).
        messages: message history (behind the Redis recent cache when Redis is configured).
        cache: rate limits, token cache and nonce claims (Redis or in-process).
        bus: where events go once durable.
        ids: this worker's snowflake generator.
        tokens: token issue/resolve/revoke.
        passwords: Argon2id hashing off the loop.
        router: the batched message write path.
        blobs: uploaded files (attachments, avatars, icons): ``DATA_DIR/blobs``, or the S3
            bucket of ``s3_bucket``.
        metrics: this worker's Prometheus metrics (its own registry).
        timeline: the sampled per-message timeline (``trace_sample_every``; off by default).
    """

    config: Config
    meta: MetaStore
    messages: MessageStore
    cache: Cache
    bus: Bus
    ids: SnowflakeGenerator
    tokens: TokenAuth
    passwords: Passwords
    router: MessageRouter
    blobs: BlobStore
    metrics: Metrics = field(default_factory=Metrics)
    timeline: Timeline = field(default_factory=Timeline)
    _closers: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    def publish(self, *events: Event) -> None:
        """Publish events of a change that is already durable."""
        self.bus.publish(events)

    @classmethod
    async def open(
        cls, config: Config, worker_index: int = 0, bus: Bus | None = None,
        metrics: Metrics | None = None, ids: SnowflakeGenerator | None = None,
    ) -> Platform:
        """Open every backend the config names and start the router.

        Args:
            config: the frozen config.
            worker_index: the worker's index (its metrics' label).
            bus: the bus between workers (default: in-process).
            metrics: where to record (default: a new instance, owned by this platform).
            ids: this process's snowflake generator, whose bits no other live process of the
                cluster has (``core.snowflake``: the worker's chooses them from the node id,
                slot and lane, the admin CLI's from the node id). Default: worker slot 0,
                lane 0 of ``config.node_id``, the one-worker server's.

        Raises:
            StoreUnavailable: a backend is unreachable or its URL is wrong (one-line message).
        """
        stack = contextlib.AsyncExitStack()
        metrics = metrics or Metrics(worker_index)
        try:
            store_meta, messages, cache = await _open_backends(config, stack)
            if bus is None:
                bus = MemoryBus()
            meta_cache = CachedMetaStore(store_meta)
            # Events from every worker drop what they changed from this worker's cache.
            stack.callback(bus.subscribe(meta_cache.on_events))
            meta = cast(MetaStore, meta_cache)
            await bus.start()
            stack.push_async_callback(bus.aclose)
            metrics.bind_bus(bus)
            passwords = Passwords(config.argon2_time_cost, config.argon2_memory_kib)
            stack.callback(passwords.close)
            timeline = Timeline(config.trace_sample_every)
            router = MessageRouter(
                messages, bus, cache,
                max_batch=config.batch_max_messages, max_delay_ms=config.batch_max_delay_ms,
                on_batch=metrics.batch,
                # The mention rows of each durable batch (counts of read states).
                after_write=MentionIndex(
                    meta, lambda e: metrics.backend_error(e, "mentions")).record,
                timeline=timeline,
            )
            await router.start()
            stack.push_async_callback(router.aclose)  # closed first: flushes pending writes
            blobs = await _open_blobs(config)
            stack.push_async_callback(blobs.aclose)
            tokens = TokenAuth(meta, cache, config.token_cache_ttl_ms)
            # Revocations made by another process (TOKENS_REVOKED, core.relay).
            stack.callback(bus.subscribe(tokens.on_events))
        except BaseException:
            await stack.aclose()
            raise
        return cls(
            config=config, meta=meta, messages=messages, cache=cache, bus=bus,
            ids=ids or SnowflakeGenerator.for_worker(config.node_id, 0, 0),
            tokens=tokens, passwords=passwords, router=router, metrics=metrics,
            timeline=timeline,
            blobs=blobs,
            _closers=stack,
        )

    async def aclose(self) -> None:
        await self._closers.aclose()


async def _open_blobs(config: Config) -> BlobStore:
    """The store of uploaded files: the S3 bucket when ``s3_bucket`` is set (every host of a
    cluster sees the same files), else ``DATA_DIR/blobs``."""
    if not config.s3_bucket:
        return LocalBlobStore(os.path.join(config.data_dir, BLOBS_DIR))
    from core.blobs_s3 import S3BlobStore

    try:
        return await S3BlobStore.open(
            bucket=config.s3_bucket, endpoint_url=config.s3_endpoint_url,
            region=config.s3_region, access_key_id=config.s3_access_key_id,
            secret_access_key=config.s3_secret_access_key, path_style=config.s3_path_style)
    except (OSError, RuntimeError) as e:
        raise StoreUnavailable(str(e)) from None


async def _open_backends(
    config: Config, stack: contextlib.AsyncExitStack
) -> tuple[MetaStore, MessageStore, Cache]:
    # Imports are local so the embedded default needs none of the production drivers.
    meta: MetaStore
    messages: MessageStore
    cache: Cache
    if config.postgres_url:
        from core.store.postgres import open_postgres

        pg = await open_postgres(config.postgres_url)
        stack.push_async_callback(pg.aclose)
        meta, messages = pg.meta, pg.messages
    else:
        from core.store import datadir
        from core.store.sqlite import SqliteStore

        # Held while the database is open, so that a restore is refused meanwhile (and a
        # server does not open a database that a restore is replacing): core.store.datadir.
        try:
            stack.enter_context(datadir.shared(config.data_dir))
        except datadir.DataDirBusy as e:
            raise StoreUnavailable(str(e)) from None
        path = datadir.database_path(config.data_dir)
        lite = await SqliteStore.open(
            path, synchronous=config.sqlite_synchronous, writer=config.sqlite_writer)
        stack.push_async_callback(lite.aclose)
        meta, messages = lite.meta, lite.messages
    if config.mongo_url:
        from core.store.mongo import open_mongo

        messages = await open_mongo(config.mongo_url)
        stack.push_async_callback(messages.aclose)
    if config.redis_url:
        from core.store.redis import CachedMessageStore, open_redis_cache

        redis_cache = await open_redis_cache(config.redis_url, cluster=config.redis_cluster)
        stack.push_async_callback(redis_cache.aclose)
        cache = redis_cache
        messages = CachedMessageStore(
            messages, redis_cache.client, per_channel=config.recent_messages_per_channel
        )
    else:
        cache = MemoryCache()
        stack.push_async_callback(cache.aclose)
    return meta, messages, cache
