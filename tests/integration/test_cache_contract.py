"""The :class:`core.store.cache.Cache` contract, run against MemoryCache and RedisCache (on one
Redis, and on a 3-master Redis Cluster: its multi-key scripts keep their keys in one slot)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from core.store.base import StoreUnavailable
from core.store.cache import Cache, MemoryCache
from core.store.redis import RedisCache, open_redis_cache

# Time unit for windows and TTLs (ms); raise it on a slow machine.
MS = 20


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        memory = MemoryCache()
        yield memory
        await memory.aclose()
        return
    prefix = f"test:{uuid.uuid4().hex}:"
    cluster = request.param == "redis-cluster"
    shared = await open_redis_cache(
        request.getfixturevalue("redis_cluster_url" if cluster else "redis_url"), prefix=prefix,
        cluster=cluster)
    try:
        yield shared
    finally:
        keys = [key async for key in shared.client.scan_iter(match=f"{prefix}*")]
        if keys:
            await shared.client.delete(*keys)
        await shared.aclose()


async def test_rate_hit_allows_up_to_limit_then_denies(cache: Cache) -> None:
    hits = [await cache.rate_hit("route:1", 3, 100 * MS) for _ in range(4)]
    assert [(allowed, remaining) for allowed, remaining, _ in hits] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    assert all(0 < reset <= 100 * MS for _, _, reset in hits)


async def test_rate_hit_window_resets_after_it_ends(cache: Cache) -> None:
    assert (await cache.rate_hit("route:1", 1, 2 * MS))[0] is True
    assert (await cache.rate_hit("route:1", 1, 2 * MS))[0] is False
    await asyncio.sleep(4 * MS / 1000)
    assert await cache.rate_hit("route:1", 1, 2 * MS) == (True, 0, 2 * MS)


async def test_rate_hit_keys_are_independent(cache: Cache) -> None:
    await cache.rate_hit("a", 1, 100 * MS)
    assert (await cache.rate_hit("a", 1, 100 * MS))[0] is False
    assert (await cache.rate_hit("b", 1, 100 * MS))[0] is True


async def test_token_set_get_delete(cache: Cache) -> None:
    token = b"\x01" * 32
    assert await cache.token_get(token) is None
    await cache.token_set(token, 1 << 60, 100 * MS)
    assert await cache.token_get(token) == 1 << 60
    assert await cache.token_get(b"\x02" * 32) is None
    await cache.token_delete(token)
    assert await cache.token_get(token) is None
    await cache.token_delete(token)  # deleting again is not an error


async def test_token_expires_after_ttl(cache: Cache) -> None:
    await cache.token_set(b"t", 7, 2 * MS)
    await asyncio.sleep(4 * MS / 1000)
    assert await cache.token_get(b"t") is None


async def test_claim_nonce_first_claim_wins(cache: Cache) -> None:
    assert await cache.claim_nonce("nonce:1:2:abc", 100, 100 * MS) is None
    assert await cache.claim_nonce("nonce:1:2:abc", 101, 100 * MS) == 100
    assert await cache.claim_nonce("nonce:1:2:other", 102, 100 * MS) is None


async def test_claim_nonce_concurrent_claims_have_one_winner(cache: Cache) -> None:
    results = await asyncio.gather(
        *(cache.claim_nonce("nonce:race", i, 100 * MS) for i in range(1, 21))
    )
    winners = [r for r in results if r is None]
    assert len(winners) == 1
    first = results.index(None) + 1
    assert {r for r in results if r is not None} == {first}


async def test_claim_nonce_expires_after_ttl(cache: Cache) -> None:
    assert await cache.claim_nonce("nonce:x", 1, 2 * MS) is None
    await asyncio.sleep(4 * MS / 1000)
    assert await cache.claim_nonce("nonce:x", 2, 100 * MS) is None


async def test_presence_first_worker_in_and_last_out_see_the_change(cache: Cache) -> None:
    for worker in ("1", "2"):
        await cache.presence_alive(worker, 60_000)
    assert await cache.presence_set(7, "1", "online") == ("offline", "online")
    assert await cache.presence_set(7, "2", "online") == ("online", "online")  # already online
    assert await cache.presence_get([7, 8]) == {7: "online"}
    assert await cache.presence_set(7, "1", None) == ("online", "online")  # still on worker 2
    assert await cache.presence_set(7, "2", None) == ("online", "offline")
    assert await cache.presence_get([7]) == {}
    assert await cache.presence_set(7, "2", None) == ("offline", "offline")  # idempotent


async def test_presence_is_the_status_reported_last(cache: Cache) -> None:
    for worker in ("1", "2"):
        await cache.presence_alive(worker, 60_000)
    await cache.presence_set(5, "1", "online")
    assert await cache.presence_set(5, "2", "dnd") == ("online", "dnd")  # op 3 on worker 2
    assert await cache.presence_get([5]) == {5: "dnd"}
    assert await cache.presence_set(5, "1", "offline") == ("dnd", "offline")  # invisible
    assert await cache.presence_get([5]) == {}  # offline users are not listed
    assert await cache.presence_set(5, "1", None) == ("offline", "dnd")  # back to worker 2's


async def test_presence_concurrent_reports_see_each_change_once(cache: Cache) -> None:
    workers = [str(w) for w in range(8)]
    for worker in workers:
        await cache.presence_alive(worker, 60_000)
    came = await asyncio.gather(*(cache.presence_set(3, w, "online") for w in workers))
    assert [c for c in came if c[0] != c[1]] == [("offline", "online")]
    went = await asyncio.gather(*(cache.presence_set(3, w, None) for w in workers))
    assert [c for c in went if c[0] != c[1]] == [("online", "offline")]


async def test_aclose_twice_is_safe(cache: Cache) -> None:
    await cache.aclose()
    await cache.aclose()


# -- implementation specifics -------------------------------------------------------------------


async def test_memory_cache_evicts_oldest_past_cap() -> None:
    now = [0]
    memory = MemoryCache(max_entries=2, clock=lambda: now[0])
    for i in range(3):
        await memory.token_set(bytes([i]), i, 1000)
    assert [await memory.token_get(bytes([i])) for i in range(3)] == [None, 1, 2]


async def test_memory_cache_rate_window_uses_clock() -> None:
    now = [1000]
    memory = MemoryCache(clock=lambda: now[0])
    assert await memory.rate_hit("k", 1, 50) == (True, 0, 50)
    now[0] += 30
    assert await memory.rate_hit("k", 1, 50) == (False, 0, 20)
    now[0] += 20
    assert await memory.rate_hit("k", 1, 50) == (True, 0, 50)


async def test_redis_cache_shares_state_between_clients(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    first = await open_redis_cache(redis_url, prefix=prefix)
    second = RedisCache(redis.asyncio.Redis.from_url(redis_url), prefix=prefix, owns_client=True)
    try:
        assert await first.claim_nonce("n", 1, 1000) is None
        assert await second.claim_nonce("n", 2, 1000) == 1
        await first.rate_hit("k", 2, 1000)
        assert (await second.rate_hit("k", 2, 1000))[:2] == (True, 0)
    finally:
        await first.client.delete(f"{prefix}nonce:n", f"{prefix}rl:k")
        await first.aclose()
        await second.aclose()


async def test_redis_cache_bursts_past_its_pool_wait_instead_of_failing(redis_url: str) -> None:
    from core.store.redis import POOL_MAX

    shared = await open_redis_cache(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    try:  # every call at once: more commands in flight than connections in the pool
        got = await asyncio.gather(*(shared.token_get(b"%d" % i) for i in range(5 * POOL_MAX)))
        assert got == [None] * (5 * POOL_MAX)
    finally:
        await shared.aclose()


async def test_redis_presence_of_a_dead_worker_is_ignored(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    first = await open_redis_cache(redis_url, prefix=prefix)
    second = await open_redis_cache(redis_url, prefix=prefix)
    try:
        await first.presence_alive("1", 5 * MS)  # worker 1 stops refreshing: killed
        await second.presence_alive("2", 60_000)
        assert await first.presence_set(9, "1", "online") == ("offline", "online")
        assert await second.presence_get([9]) == {9: "online"}
        await asyncio.sleep(10 * MS / 1000)
        assert await second.presence_get([9]) == {}
        assert await second.presence_set(9, "2", "idle") == ("offline", "idle")
        await second.presence_alive("2", 0)  # a clean stop: gone at once
        assert await first.presence_get([9]) == {}
    finally:
        keys = [key async for key in first.client.scan_iter(match=f"{prefix}*")]
        if keys:
            await first.client.delete(*keys)
        await first.aclose()
        await second.aclose()


async def test_open_redis_cache_unreachable_raises_one_line() -> None:
    with pytest.raises(StoreUnavailable) as info:
        await open_redis_cache("redis://user:s3cret@127.0.0.1:1/0", socket_timeout=1)
    message = str(info.value)
    assert "127.0.0.1:1" in message
    assert "s3cret" not in message
    assert "\n" not in message


async def test_open_redis_cache_malformed_url_raises() -> None:
    with pytest.raises(StoreUnavailable, match="malformed"):
        await open_redis_cache("http://user:s3cret@example/0")
