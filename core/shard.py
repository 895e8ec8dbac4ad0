"""Sharding, sans-I/O: which shard gets a guild, how many shards a bot should run, and the
identify buckets that pace session starts.

Discord's "Sharding" page: a bot splits its guilds over ``num_shards`` gateway sessions, guild
``g`` going to shard ``(g >> 22) % num_shards`` and DMs to shard 0. ``GET /gateway/bot``
recommends a shard count (Discord: one per 1,000 guilds, at least 1; discord.py and discord.js
start that many when told to auto-shard) and a ``max_concurrency``: how many identify buckets
the bot has, bucket ``shard_id % max_concurrency`` starting one session per 5 s ("Session
Start Limit"). It lives in core because both the REST API (what ``/gateway/bot`` recommends)
and the gateway (routing and pacing) use it; docs/architecture.md has the map.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = [
    "GUILDS_PER_SHARD",
    "IDENTIFY_INTERVAL_S",
    "IdentifyBuckets",
    "IdentifyLimiter",
    "on_shard",
    "recommended_shards",
    "shard_of",
]

# Discord recommends one shard per 1,000 guilds ("Sharding": "each shard can only support a
# maximum of 2500 guilds", and /gateway/bot answers guilds / 1000 rounded up).
GUILDS_PER_SHARD = 1000
# "Session Start Limit": each bucket may start one session every 5 seconds.
IDENTIFY_INTERVAL_S = 5.0
# Bots whose buckets are remembered (least recently identified out first): a bound, so a
# flood of new bot accounts cannot grow the table without end.
BOTS_MAX = 10_000


def shard_of(guild_id: int, num_shards: int) -> int:
    """The shard that receives ``guild_id``'s events ("Sharding Formula"). DMs go to shard 0."""
    return (guild_id >> 22) % num_shards


def on_shard(shard: tuple[int, int] | None, guild_id: int | None) -> bool:
    """Whether a session identified with ``shard`` (``[shard_id, num_shards]``, None: not
    sharded) receives the events of ``guild_id`` (None: a DM or the user's own events)."""
    if shard is None:
        return True
    if guild_id is None:
        return shard[0] == 0
    return shard_of(guild_id, shard[1]) == shard[0]


def recommended_shards(guild_count: int) -> int:
    """The ``shards`` of ``GET /gateway/bot``: one per 1,000 guilds, at least 1."""
    return max(1, -(-guild_count // GUILDS_PER_SHARD))


class IdentifyLimiter:
    """Identify buckets of one application: ``max_concurrency`` sessions per 5 s.

    Args:
        max_concurrency: number of buckets (``session_start_limit.max_concurrency``).
        interval: seconds between two session starts in one bucket.
    """

    __slots__ = ("_interval", "_max", "_next")

    def __init__(self, max_concurrency: int = 1, interval: float = IDENTIFY_INTERVAL_S) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._max = max_concurrency
        self._interval = interval
        self._next: dict[int, float] = {}

    def acquire(self, shard_id: int, now: float) -> float:
        """Take the bucket of ``shard_id`` if it is free.

        Returns:
            0.0 when the identify may proceed (the bucket is now taken until ``now +
            interval``), else the seconds to wait before asking again.
        """
        key = shard_id % self._max
        ready_at = self._next.get(key, now)
        if ready_at > now:
            return ready_at - now
        self._next[key] = now + self._interval
        return 0.0


class IdentifyBuckets:
    """The identify buckets of every bot that identified on this worker (an LRU of
    :class:`IdentifyLimiter`, at most ``BOTS_MAX``). Users' sessions (browser tabs) are not
    paced: Discord's limit is per bot.

    Args:
        max_concurrency: buckets per bot (``config.identify_max_concurrency``).
        interval: seconds between two session starts in one bucket.
    """

    __slots__ = ("_interval", "_limiters", "_max")

    def __init__(self, max_concurrency: int = 1, interval: float = IDENTIFY_INTERVAL_S) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._max = max_concurrency
        self._interval = interval
        self._limiters: OrderedDict[int, IdentifyLimiter] = OrderedDict()

    def acquire(self, bot_id: int, shard_id: int, now: float) -> float:
        """Take ``bot_id``'s bucket of ``shard_id`` if free: 0.0, else the seconds to wait."""
        limiter = self._limiters.pop(bot_id, None) or IdentifyLimiter(self._max, self._interval)
        self._limiters[bot_id] = limiter  # most recent last
        if len(self._limiters) > BOTS_MAX:
            self._limiters.popitem(last=False)
        return limiter.acquire(shard_id, now)
