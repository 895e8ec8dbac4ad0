"""Redis adapters: the shared :class:`RedisCache` and the recent-messages :class:`CachedMessageStore`.

Both use redis-py's asyncio client with bytes replies. Every key starts with a caller-given
``prefix`` so that several deployments (or tests) can share one Redis. Keys that one script
touches together share a hash tag (``{...}``), so the scripts also run on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from core.models import Message, MessageReference, ReactionCount
from core.store.base import (
    HISTORY_MAX,
    MessageStore,
    PinOutcome,
    ReactionOutcome,
    StoreUnavailable,
)
from core.store.cache import latest_status
from core.store.searchquery import SearchPage, SearchQuery

__all__ = ["CLUSTER_POOL_MAX", "POOL_MAX", "CachedMessageStore", "RedisCache", "open_redis_cache", "redis_address"]

logger = logging.getLogger(__name__)

# Connections a worker's cache client opens to Redis at most (commands in flight); more wait.
POOL_MAX = 64
# The same per master of a Redis Cluster; past it a command fails (no blocking pool there).
CLUSTER_POOL_MAX = 1024

# One round trip, atomic: count the hit, and start the window on the first one. A key that
# somehow lost its expiry gets one again rather than limiting forever.
_RATE_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


# Presence: one hash per user, ``{presence}:u:<id>``, field = the worker's id, value = when (a
# counter, ``{presence}:w:order``) and which status that worker last reported,
# ``"<order>:<status>"``; and one key
# per live worker, ``{presence}:w:<id>``, with a TTL the worker keeps refreshing. A field
# whose worker key is gone (the worker was killed) is ignored and deleted on the way, so a
# killed worker's users read offline within the TTL; the hash of one who never comes back
# keeps its dead field (tens of bytes) until read. Every presence key shares the hash tag
# ``{presence}`` because the scripts read worker keys not given in KEYS (one Cluster slot).
_PRESENCE_LIVE = """
local function live(key)
  local flat = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #flat, 2 do
    if redis.call('EXISTS', ARGV[1] .. flat[i]) == 1 then
      out[#out + 1] = flat[i + 1]
    else
      redis.call('HDEL', key, flat[i])
    end
  end
  return out
end
"""
# KEYS[1]: the user's hash; ARGV: worker key prefix, worker, status ('' to remove).
_PRESENCE_SET = _PRESENCE_LIVE + """
local before = live(KEYS[1])
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  local order = redis.call('INCR', ARGV[1] .. 'order')
  redis.call('HSET', KEYS[1], ARGV[2], order .. ':' .. ARGV[3])
end
return {before, live(KEYS[1])}
"""
# KEYS: the users' hashes; ARGV[1]: worker key prefix.
_PRESENCE_GET = _PRESENCE_LIVE + """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = live(key)
end
return out
"""
# One script call reads at most this many users (a guild's GUILD_CREATE lists up to 250
# members, op 8 chunks 1000): the script blocks Redis while it runs.
_PRESENCE_GET_MAX = 1000


def _report(raw: bytes) -> tuple[int, str]:
    """A presence field's ``b"<order>:<status>"`` as ``(order, status)``."""
    when, _, status = raw.decode().partition(":")
    return int(when), status


def redis_address(client: Redis | RedisCluster) -> str:
    """Where a client connects, for messages: host and port (or socket path), no credentials;
    a Cluster's node given in the URL.

    The bus (``core.bus.redis``) names its Redis the same way."""
    if isinstance(client, RedisCluster):
        node = client.get_default_node() or next(
            iter(client.nodes_manager.startup_nodes.values()), None)
        return "a Redis Cluster" if node is None else f"{node.host}:{node.port} (Redis Cluster)"
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


class RedisCache:
    """The :class:`core.store.cache.Cache` shared by every worker, in Redis.

    Each method is one round trip. Rate windows are fixed windows that start at their first
    hit (``INCR`` + ``PEXPIRE`` in one Lua script); nonce claims are ``SET NX PX`` then
    ``GET`` in one ``MULTI``, so exactly one claimant wins while the claim lives.

    Args:
        client: a ``redis.asyncio.Redis`` with bytes replies (``decode_responses=False``).
        prefix: prepended to every key.
        owns_client: close ``client`` in :meth:`aclose` (``open_redis_cache`` sets it).
    """

    def __init__(self, client: Redis | RedisCluster, *, prefix: str = "", owns_client: bool = False) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client
        self._rate_hit = client.register_script(_RATE_HIT)
        self._presence_set = client.register_script(_PRESENCE_SET)
        self._presence_get = client.register_script(_PRESENCE_GET)

    @property
    def client(self) -> Redis | RedisCluster:
        """The underlying client, to share its connection pool (e.g. with CachedMessageStore)."""
        return self._client

    async def rate_hit(self, key: str, limit: int, window_ms: int) -> tuple[bool, int, int]:
        count, ttl = await self._rate_hit(keys=[f"{self._prefix}rl:{key}"], args=[window_ms])
        return count <= limit, max(limit - count, 0), int(ttl)

    async def token_get(self, token_hash: bytes) -> int | None:
        value = await self._client.get(self._token_key(token_hash))
        return None if value is None else int(value)

    async def token_set(self, token_hash: bytes, user_id: int, ttl_ms: int) -> None:
        await self._client.set(self._token_key(token_hash), user_id, px=ttl_ms)

    async def token_delete(self, token_hash: bytes) -> None:
        await self._client.delete(self._token_key(token_hash))

    async def claim_nonce(self, key: str, message_id: int, ttl_ms: int) -> int | None:
        full_key = f"{self._prefix}nonce:{key}"
        # MULTI rather than SET NX GET, which needs Redis 7.
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(full_key, message_id, nx=True, px=ttl_ms)
            pipe.get(full_key)
            claimed_now, holder = await pipe.execute()
        return None if claimed_now or holder is None else int(holder)

    async def presence_set(self, user_id: int, worker: str, status: str | None
                           ) -> tuple[str, str]:
        before, after = await self._presence_set(
            keys=[f"{self._prefix}{{presence}}:u:{user_id}"],
            args=[f"{self._prefix}{{presence}}:w:", worker, status or ""])
        return latest_status(map(_report, before)), latest_status(map(_report, after))

    async def presence_get(self, user_ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        ids = list(user_ids)
        for start in range(0, len(ids), _PRESENCE_GET_MAX):
            part = ids[start:start + _PRESENCE_GET_MAX]
            rows = await self._presence_get(
                keys=[f"{self._prefix}{{presence}}:u:{u}" for u in part],
                args=[f"{self._prefix}{{presence}}:w:"])
            for user_id, row in zip(part, rows, strict=True):
                status = latest_status(map(_report, row))
                if status != "offline":
                    out[user_id] = status
        return out

    async def presence_alive(self, worker: str, ttl_ms: int) -> None:
        key = f"{self._prefix}{{presence}}:w:{worker}"
        if ttl_ms > 0:
            await self._client.set(key, 1, px=ttl_ms)
        else:
            await self._client.delete(key)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _token_key(self, token_hash: bytes) -> str:
        return f"{self._prefix}tok:{token_hash.hex()}"


async def open_redis_cache(
    url: str, *, prefix: str = "", socket_timeout: float = 5.0, cluster: bool = False
) -> RedisCache:
    """Connect to Redis and check it answers PING.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL (with ``cluster``: one node).
        prefix: prepended to every key.
        socket_timeout: seconds for connecting and for each command.
        cluster: ``url`` is a node of a Redis Cluster; the others are found from it. Keys
            that a script or a MULTI touches together share a hash tag (one slot).

    Raises:
        StoreUnavailable: the URL is malformed or the server does not answer (one line,
            naming the host, never the credentials).
    """
    client: Redis | RedisCluster
    try:
        if cluster:
            # Per master, as many connections as commands in flight there, up to
            # CLUSTER_POOL_MAX (redis-py's cluster client has no blocking pool: past it a
            # command fails with MaxConnectionsError rather than wait).
            client = RedisCluster.from_url(
                url, max_connections=CLUSTER_POOL_MAX, socket_connect_timeout=socket_timeout,
                socket_timeout=socket_timeout)
        else:
            # A blocking pool: past POOL_MAX commands in flight, the next waits for a
            # connection (up to socket_timeout) instead of failing. redis-py's default pool
            # raises "Too many connections" at 100, which a reconnect burst reached (bench
            # idle, 10,000 sessions identifying on two workers: IDENTIFYs closed with 4000).
            client = Redis.from_pool(BlockingConnectionPool.from_url(
                url, max_connections=POOL_MAX, timeout=socket_timeout,
                socket_connect_timeout=socket_timeout, socket_timeout=socket_timeout))
    except (ValueError, RedisClusterException):
        # redis-py's message may quote the URL, which may hold a password.
        raise StoreUnavailable(
            "malformed Redis URL (expected redis://, rediss:// or unix://)"
        ) from None
    try:
        await client.ping()
    except (RedisError, RedisClusterException, OSError) as exc:
        await client.aclose()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreUnavailable(f"Redis unreachable at {redis_address(client)}: {reason}") from exc
    return RedisCache(client, prefix=prefix, owns_client=True)


# -- the recent-messages cache -----------------------------------------------------------------
#
# Per channel, three keys with one hash tag: ``list`` (encoded messages, newest first), ``ok``
# (the marker: present iff the list is COMPLETE, i.e. holds the channel's newest
# min(per_channel, total) messages; its value is the newest id, "0" for an empty channel) and
# ``ver`` (a counter bumped by every write to the channel).
#
# Race between a read-through fill and writes: a reader reads ``ver`` before reading the
# inner store, and the fill script writes only if ``ver`` is unchanged, so a fill can never
# hide a write that happened after its read. A write whose script runs after the fill finds
# the marker and either pushes on top (its first id is newer than the head) or, if its ids
# are not all newer (another worker's batch overtook it, or a retry), drops the list and
# the marker: the next read fills again. Every insert therefore keeps the list sorted by id.

# KEYS: list, ok, ver. ARGV: per_channel, ver_ttl_ms, then id, payload pairs in ascending id.
_INSERT = """
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
local head = redis.call('GET', KEYS[2])
if not head then return 0 end
if not newer(ARGV[3], head) or (head ~= '0' and redis.call('EXISTS', KEYS[1]) == 0) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return -1
end
for i = 3, #ARGV, 2 do redis.call('LPUSH', KEYS[1], ARGV[i + 1]) end
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[#ARGV - 1], 'PX', ttl)
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('SET', KEYS[2], ARGV[#ARGV - 1])
end
return 1
"""

# KEYS: list, ok, ver. ARGV: ver read before the inner read ("" if none), ttl_ms, newest id
# ("0" if none), then payloads newest first.
_FILL = """
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
if #ARGV > 3 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


def _encode(message: Message) -> bytes:
    return orjson.dumps(message)


def _decode(raw: bytes) -> Message:
    fields: dict[str, Any] = orjson.loads(raw)
    reference = fields.pop("reference", None)
    for name in ("mentions", "mention_roles", "embeds", "attachments", "components"):
        fields[name] = tuple(fields.get(name, ()))
    if reference is not None:
        fields["reference"] = MessageReference(**reference)
    return Message(**fields)


class CachedMessageStore:
    """A :class:`MessageStore` that keeps each channel's newest messages in a Redis list.

    Writes go to ``inner`` first (the durable copy), then to Redis. ``history`` with no
    ``before``/``after`` and ``limit <= per_channel`` is served from Redis alone when the
    channel's list is known complete; otherwise it reads ``inner`` and fills the list from
    that read. Edits, pins and deletes drop the channel's list. See the comment above
    ``_INSERT`` for why a concurrent fill and insert cannot leave a stale list.

    Reactions are not cached: they are not part of the cached message bodies (the stores keep
    them apart), and every reaction call, counts included, goes to ``inner``. A page served
    from Redis gets its counts from one aggregate read of ``inner`` (``core.history``), so
    they are never stale and a reaction never touches the list.

    Redis is only a cache here: a Redis error never fails a call whose ``inner`` write
    succeeded (it is logged). A list missed by such an error can be stale until its
    marker expires, which happens ``ttl_ms`` after the fill whatever the traffic: that is
    the bound on staleness when Redis misbehaves.

    Args:
        inner: the durable store; closed by :meth:`aclose`.
        redis_client: a ``redis.asyncio.Redis`` with bytes replies.
        per_channel: messages kept per channel, 1..HISTORY_MAX.
        prefix: prepended to every key.
        ttl_ms: lifetime of a filled list (refills at least this often).
        owns_client: close ``redis_client`` in :meth:`aclose`.
    """

    def __init__(
        self,
        inner: MessageStore,
        redis_client: Redis | RedisCluster,
        per_channel: int = 100,
        *,
        prefix: str = "",
        ttl_ms: int = 300_000,
        owns_client: bool = False,
    ) -> None:
        if not 1 <= per_channel <= HISTORY_MAX:
            raise ValueError(f"per_channel must be within 1..{HISTORY_MAX}")
        self._inner = inner
        self._redis = redis_client
        self._per_channel = per_channel
        self._prefix = prefix
        self._ttl_ms = ttl_ms
        self._owns_client = owns_client
        self._insert = redis_client.register_script(_INSERT)
        self._fill = redis_client.register_script(_FILL)

    async def aclose(self) -> None:
        await self._inner.aclose()
        if self._owns_client:
            await self._redis.aclose()

    async def insert_many(self, messages: Sequence[Message]) -> None:
        await self._inner.insert_many(messages)
        by_channel: defaultdict[int, dict[int, Message]] = defaultdict(dict)
        for message in messages:
            by_channel[message.channel_id][message.id] = message  # a retried id counts once
        if by_channel:
            try:
                await self._push(by_channel)
            except RedisError:
                logger.warning("recent-messages cache not updated", exc_info=True)

    async def get_message(self, channel_id: int, message_id: int) -> Message | None:
        return await self._inner.get_message(channel_id, message_id)

    async def history(
        self,
        channel_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        if before is not None or after is not None or not 1 <= limit <= self._per_channel:
            return await self._inner.history(channel_id, before=before, after=after, limit=limit)
        try:
            cached, version = await self._read(channel_id, limit)
        except RedisError:
            logger.warning("recent-messages cache unreadable", exc_info=True)
            return await self._inner.history(channel_id, limit=limit)
        if cached is not None:
            return cached
        page = await self._inner.history(channel_id, limit=self._per_channel)
        args: list[Any] = [version, self._ttl_ms, page[0].id if page else 0]
        try:
            await self._fill(keys=self._keys(channel_id), args=args + [_encode(m) for m in page])
        except RedisError:
            logger.warning("recent-messages cache not filled", exc_info=True)
        return page[:limit]

    async def find_by_nonce(
        self, channel_id: int, author_id: int, nonce: str, min_id: int
    ) -> Message | None:
        return await self._inner.find_by_nonce(channel_id, author_id, nonce, min_id)

    async def update_message(
        self, channel_id: int, message_id: int, fields: dict[str, Any]
    ) -> Message | None:
        try:
            return await self._inner.update_message(channel_id, message_id, fields)
        finally:
            # Also after a failure: the inner write may have happened anyway.
            await self._invalidate(channel_id)

    async def delete_message(self, channel_id: int, message_id: int) -> bool:
        try:
            return await self._inner.delete_message(channel_id, message_id)
        finally:
            await self._invalidate(channel_id)

    async def delete_channel_messages(self, channel_id: int) -> int:
        try:
            return await self._inner.delete_channel_messages(channel_id)
        finally:
            await self._invalidate(channel_id)

    async def pin_message(
        self, channel_id: int, message_id: int, now_ms: int, max_pins: int
    ) -> tuple[PinOutcome, Message | None]:
        try:
            return await self._inner.pin_message(channel_id, message_id, now_ms, max_pins)
        finally:
            await self._invalidate(channel_id)  # ``pinned`` is part of the cached body

    async def unpin_message(self, channel_id: int, message_id: int) -> Message | None:
        try:
            return await self._inner.unpin_message(channel_id, message_id)
        finally:
            await self._invalidate(channel_id)

    async def list_pins(
        self, channel_id: int, *, before_ms: int | None = None, limit: int = 50
    ) -> list[Message]:
        return await self._inner.list_pins(channel_id, before_ms=before_ms, limit=limit)

    # Reactions: straight to ``inner`` (see the class docstring).

    async def add_reaction(
        self, channel_id: int, message_id: int, emoji: str, user_id: int, now_ms: int,
        *, max_emojis: int,
    ) -> ReactionOutcome:
        return await self._inner.add_reaction(
            channel_id, message_id, emoji, user_id, now_ms, max_emojis=max_emojis)

    async def remove_reaction(
        self, channel_id: int, message_id: int, emoji: str, user_id: int
    ) -> bool:
        return await self._inner.remove_reaction(channel_id, message_id, emoji, user_id)

    async def remove_reactions(
        self, channel_id: int, message_id: int, emoji: str | None = None
    ) -> int:
        return await self._inner.remove_reactions(channel_id, message_id, emoji)

    async def reaction_users(
        self, channel_id: int, message_id: int, emoji: str, *, after: int = 0, limit: int = 25
    ) -> list[int]:
        return await self._inner.reaction_users(
            channel_id, message_id, emoji, after=after, limit=limit)

    async def reaction_counts(
        self, channel_id: int, message_ids: Sequence[int], viewer_id: int | None = None
    ) -> dict[int, list[ReactionCount]]:
        return await self._inner.reaction_counts(channel_id, message_ids, viewer_id)

    async def search(self, query: SearchQuery) -> SearchPage:
        # Straight to ``inner``: its engine indexes all of history, the lists only its end.
        return await self._inner.search(query)

    def _keys(self, channel_id: int) -> list[str]:
        base = f"{self._prefix}recent:v1:{{{channel_id}}}"
        return [base, f"{base}:ok", f"{base}:ver"]

    async def _push(self, by_channel: dict[int, dict[int, Message]]) -> None:
        """One pipeline: the insert script once per channel (EVALSHA, loaded on NOSCRIPT)."""
        calls = []
        for channel_id, batch in by_channel.items():
            args: list[Any] = [self._per_channel, self._ttl_ms]
            for message_id in sorted(batch):
                args += (message_id, _encode(batch[message_id]))
            calls.append((self._keys(channel_id), args))
        if isinstance(self._redis, RedisCluster):
            # redis-py's cluster pipeline refuses EVALSHA: one call per channel, concurrently
            # (each runs on its channel's master; the script object reloads on NOSCRIPT).
            await asyncio.gather(*(self._insert(keys=keys, args=args) for keys, args in calls))
            return
        for attempt in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    pipe.evalsha(self._insert.sha, len(keys), *keys, *args)
                try:
                    await pipe.execute()
                    return
                except NoScriptError:
                    # Redis restarted or flushed its scripts; no call ran, so retrying is safe.
                    if attempt:
                        raise
            await self._redis.script_load(_INSERT)

    async def _read(self, channel_id: int, limit: int) -> tuple[list[Message] | None, bytes]:
        """The cached newest ``limit`` messages (None unless complete), and ``ver``."""
        list_key, ok_key, ver_key = self._keys(channel_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(ok_key)
            pipe.lrange(list_key, 0, limit - 1)
            pipe.get(ver_key)
            head, raw, version = await pipe.execute()
        version = version or b""
        if head is None:
            return None, version
        messages = [_decode(item) for item in raw]
        # The list and its marker expire at the same moment, but check: a list that expired
        # alone would read as empty.
        if (messages[0].id if messages else 0) != int(head):
            return None, version
        return messages, version

    async def _invalidate(self, channel_id: int) -> None:
        list_key, ok_key, ver_key = self._keys(channel_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(ver_key)
                pipe.pexpire(ver_key, self._ttl_ms)
                pipe.delete(list_key, ok_key)
                await pipe.execute()
        except RedisError:
            logger.warning("recent-messages cache not invalidated", exc_info=True)
