"""Gateway rate limits, sans-I/O: the clock is passed in as float seconds.

- :class:`WindowLimiter`: Discord's per-connection limit, 120 gateway events every 60 s
  ("Rate Limiting" in Discord's Gateway docs); exceeding it closes with 4008.
- :class:`IdentifyLimiter`: the ``max_concurrency`` identify buckets ("Session Start Limit"):
  a shard may identify when its bucket ``shard_id % max_concurrency`` has not started a
  session in the last 5 s. The worker holds one per process; across workers the same rule
  needs a shared store (Redis), which is the worker's business.
"""

from __future__ import annotations

from gateway.protocol import RATE_LIMIT_EVENTS, RATE_LIMIT_WINDOW_S

__all__ = ["IDENTIFY_INTERVAL_S", "IdentifyLimiter", "WindowLimiter"]

# "Session Start Limit": each bucket may start one session every 5 seconds.
IDENTIFY_INTERVAL_S = 5.0


class WindowLimiter:
    """At most ``limit`` hits per fixed window of ``window`` seconds.

    A fixed window (it opens at the first hit after the previous one expired) needs two
    numbers per connection instead of a log of 120 timestamps. Like discord.py's client-side
    limiter, it may let up to twice ``limit`` through across a window boundary, never more
    than ``limit`` within one window.

    Args:
        limit: hits allowed per window.
        window: window length in seconds.
    """

    __slots__ = ("_count", "_limit", "_opened", "_window")

    def __init__(self, limit: int = RATE_LIMIT_EVENTS, window: float = RATE_LIMIT_WINDOW_S) -> None:
        self._limit = limit
        self._window = window
        self._opened = float("-inf")
        self._count = 0

    def hit(self, now: float) -> bool:
        """Count one event at ``now``; False when it is over the limit."""
        if now - self._opened >= self._window:
            self._opened = now
            self._count = 0
        self._count += 1
        return self._count <= self._limit


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
