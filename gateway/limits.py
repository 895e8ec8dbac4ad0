"""The per-session limits of the gateway, in one frozen (picklable) object.

Discord's fixed numbers are the defaults where Discord has one (payload size, rate limit,
guilds per shard); the rest are this server's choices. They are candidates for ``Config``
fields; the ones an operator sizes (the RESUME window and buffer) are, and
:meth:`SessionLimits.from_config` takes them from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Config
from gateway.protocol import (
    MAX_GUILDS_PER_SHARD,
    MAX_PAYLOAD_BYTES,
    PRIVILEGED_INTENTS,
    RATE_LIMIT_EVENTS,
    RATE_LIMIT_WINDOW_S,
)

__all__ = ["SessionLimits"]


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Limits of one gateway session.

    Attributes:
        replay_max_events: dispatches kept for RESUME.
        replay_max_bytes: encoded bytes kept for RESUME (shared bytes counted in full).
        resume_timeout_s: seconds a disconnected session waits for a RESUME.
        identify_timeout_s: seconds a connection may stay unauthenticated (then 4009).
        heartbeat_timeout: a heartbeat must arrive within this many intervals of the last
            one (then 4009, "zombied" connection).
        first_heartbeat_timeout: the same for the first heartbeat, which clients delay by
            a random fraction of one interval ("Sending Heartbeats").
        max_shards: largest ``num_shards`` accepted in Identify (then 4010).
        max_guilds_per_shard: guilds one session may hold (then 4011).
        privileged_intents: the privileged intents clients may ask for (then 4014); all of
            them by default.
        max_payload_bytes: largest payload a client may send (then 4002).
        rate_limit_events: payloads a client may send per window (then 4008).
        rate_limit_window_s: that window, in seconds.
        slow_close_timeout_s: seconds a slow consumer closed with 4900 gets to read its
            backlog and the close frame before its socket is aborted (it may never read).
        zlib_level: zlib level of a ``zlib-stream`` connection (``gateway_zlib_level``).
        zstd_level: Zstandard level of a ``zstd-stream`` connection (``gateway_zstd_level``).
        zlib_shared: ``zlib-stream`` connections send self-contained messages, each
            dispatch deflated once for every recipient (``gateway_zlib_shared``,
            :class:`~gateway.compress.SharedZlib`).
    """

    replay_max_events: int = 1000
    replay_max_bytes: int = 1 << 20
    resume_timeout_s: float = 180.0
    identify_timeout_s: float = 60.0
    heartbeat_timeout: float = 1.5
    first_heartbeat_timeout: float = 2.0
    max_shards: int = 1024
    max_guilds_per_shard: int = MAX_GUILDS_PER_SHARD
    privileged_intents: int = PRIVILEGED_INTENTS
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    rate_limit_events: int = RATE_LIMIT_EVENTS
    rate_limit_window_s: float = RATE_LIMIT_WINDOW_S
    slow_close_timeout_s: float = 5.0
    zlib_level: int = 1
    zstd_level: int = 3
    zlib_shared: bool = False

    @classmethod
    def from_config(cls, config: Config) -> SessionLimits:
        """The defaults, with the RESUME window, replay buffer and compression levels of
        ``config``."""
        return cls(replay_max_events=config.gateway_replay_max_events,
                   replay_max_bytes=config.gateway_replay_max_bytes,
                   resume_timeout_s=config.gateway_resume_timeout_s,
                   zlib_level=config.gateway_zlib_level,
                   zstd_level=config.gateway_zstd_level,
                   zlib_shared=config.gateway_zlib_shared)
