"""Snowflake ids exactly as Discord makes them.

Layout (64 bits): 42-bit milliseconds since the Discord epoch (2015-01-01T00:00:00Z),
5-bit internal worker id, 5-bit internal process id, 12-bit increment. Workers take their
worker/process bits from the worker index, so no coordination is needed between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = [
    "DISCORD_EPOCH_MS",
    "SnowflakeGenerator",
    "iso_timestamp",
    "snowflake_from_ms",
    "snowflake_time_ms",
]

DISCORD_EPOCH_MS = 1_420_070_400_000
_MAX_WORKER = 31
_MAX_INCREMENT = 0xFFF


def snowflake_time_ms(snowflake: int) -> int:
    """Unix milliseconds at which ``snowflake`` was made."""
    return (snowflake >> 22) + DISCORD_EPOCH_MS


def snowflake_from_ms(unix_ms: int) -> int:
    """The smallest snowflake made at ``unix_ms`` (for ``before``/``after`` bounds)."""
    return max(unix_ms - DISCORD_EPOCH_MS, 0) << 22


def iso_timestamp(unix_ms: int) -> str:
    """ISO 8601 with microseconds and ``+00:00``, the form Discord sends."""
    return datetime.fromtimestamp(unix_ms / 1000, tz=UTC).isoformat(timespec="microseconds")


class SnowflakeGenerator:
    """Makes unique, time-ordered ids for one process.

    Args:
        worker_id: 0–31, the internal worker id bits.
        process_id: 0–31, the internal process id bits.

    Ids are strictly increasing within a generator. If more than 4096 ids are asked for
    within one millisecond, or the clock steps back, the timestamp part is advanced
    logically instead of waiting, which keeps ids unique and ordered.
    """

    __slots__ = ("_bits", "_last_ms", "_increment", "_clock")

    def __init__(
        self, worker_id: int = 0, process_id: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        if not (0 <= worker_id <= _MAX_WORKER and 0 <= process_id <= _MAX_WORKER):
            raise ValueError("worker_id and process_id must be within 0..31")
        self._bits = (worker_id << 17) | (process_id << 12)
        self._last_ms = 0
        self._increment = 0
        self._clock = clock

    def next(self) -> int:
        """A new snowflake."""
        now = int(self._clock() * 1000) - DISCORD_EPOCH_MS
        if now > self._last_ms:
            self._last_ms = now
            self._increment = 0
        else:
            self._increment += 1
            if self._increment > _MAX_INCREMENT:
                self._last_ms += 1
                self._increment = 0
        return (self._last_ms << 22) | self._bits | self._increment
