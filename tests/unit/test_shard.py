"""Unit tests for core.shard: Discord's sharding formula, the shard count /gateway/bot
recommends and the identify buckets ("Sharding", "Session Start Limit")."""

from __future__ import annotations

import pytest

from core.shard import (
    BOTS_MAX,
    IdentifyBuckets,
    IdentifyLimiter,
    on_shard,
    recommended_shards,
    shard_of,
)


def test_shard_of_follows_discord_formula() -> None:
    guild_id = 197038439483310086  # Discord's example snowflake
    assert shard_of(guild_id, 1) == 0
    assert shard_of(guild_id, 16) == (guild_id >> 22) % 16
    assert {shard_of(g << 22, 4) for g in range(8)} == {0, 1, 2, 3}


def test_on_shard_routes_guilds_by_formula_and_dms_to_shard_zero() -> None:
    guild_id = 5 << 22
    assert on_shard(None, guild_id) and on_shard(None, None)
    assert on_shard((1, 4), guild_id) and not on_shard((0, 4), guild_id)
    assert on_shard((0, 4), None) and not on_shard((1, 4), None)


@pytest.mark.parametrize(("guilds", "shards"),
                         [(0, 1), (1, 1), (1000, 1), (1001, 2), (2500, 3), (10_000, 10)])
def test_recommended_shards_one_per_thousand_guilds(guilds: int, shards: int) -> None:
    assert recommended_shards(guilds) == shards


def test_identify_limiter_buckets() -> None:
    limiter = IdentifyLimiter(max_concurrency=2, interval=5.0)
    assert limiter.acquire(0, 0.0) == 0.0
    assert limiter.acquire(1, 0.0) == 0.0  # another bucket
    assert limiter.acquire(2, 1.0) == 4.0  # bucket 0 again: wait
    assert limiter.acquire(2, 5.0) == 0.0
    with pytest.raises(ValueError):
        IdentifyLimiter(0)


def test_identify_buckets_are_per_bot() -> None:
    buckets = IdentifyBuckets(max_concurrency=1, interval=5.0)
    assert buckets.acquire(1, 0, 0.0) == 0.0
    assert buckets.acquire(2, 0, 0.0) == 0.0  # another bot: its own bucket
    assert buckets.acquire(1, 3, 1.0) == 4.0  # one bucket: every shard of bot 1 waits


def test_identify_buckets_forget_the_least_recent_bot_past_the_bound() -> None:
    buckets = IdentifyBuckets(max_concurrency=1, interval=5.0)
    for bot in range(BOTS_MAX + 1):
        assert buckets.acquire(bot, 0, 0.0) == 0.0
    assert buckets.acquire(0, 0, 0.0) == 0.0  # bot 0 was forgotten: a fresh bucket
    assert buckets.acquire(BOTS_MAX, 0, 0.0) == 5.0  # the newest is remembered
