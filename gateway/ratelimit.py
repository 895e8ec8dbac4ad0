"""Gateway rate limits, sans-I/O: the clock is passed in as float seconds.

- :class:`WindowLimiter`: Discord's per-connection limit, 120 gateway events every 60 s
  ("Rate Limiting" in Discord's Gateway docs); exceeding it closes with 4008.

The identify buckets ("Session Start Limit") are shard business: :mod:`core.shard`.
"""

from __future__ import annotations

from gateway.protocol import RATE_LIMIT_EVENTS, RATE_LIMIT_WINDOW_S

__all__ = ["WindowLimiter"]


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
