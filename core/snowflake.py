"""Snowflake ids exactly as Discord makes them, unique across every host of a cluster.

Layout (64 bits): 42-bit milliseconds since the Discord epoch (2015-01-01T00:00:00Z),
5-bit internal worker id, 5-bit internal process id, 12-bit increment. The 10 middle bits
name the process that made the id, so two processes never make the same id, even in the same
millisecond, without talking to each other:

    bits 21..17  internal worker id   the host: its ``node_id`` (0..30, ``NODE_ID_MAX``);
                                      31 (``TOOLS_NODE``): a tool, not a server
    bits 16..12  internal process id  a server worker: ``2 * slot + lane`` (slot 0..15, the
                                      worker's number on its host; lane 0 or 1, which
                                      alternates between a slot's consecutive processes);
                                      a tool: the ``node_id`` of the host it runs on

Hence the limits: 31 hosts (node ids 0..30, each given to one host: ``core.store.nodeclaim``
refuses a second live claim when Redis is configured), ``WORKER_SLOTS`` (16) workers per host,
two live processes per slot (a SIGHUP replacement beside the old one draining: the supervisor
never starts a third), and one tool (``discord-arch admin``) at a time per host: two admin
commands running at once on one host may make the same id in the same millisecond. The
single-host default is node 0, whose one worker is slot 0, lane 0: bits (0, 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = [
    "DISCORD_EPOCH_MS",
    "LANES",
    "NODE_ID_MAX",
    "TOOLS_NODE",
    "WORKER_SLOTS",
    "SnowflakeGenerator",
    "iso_timestamp",
    "snowflake_from_ms",
    "snowflake_time_ms",
]

DISCORD_EPOCH_MS = 1_420_070_400_000
_MAX_WORKER = 31
_MAX_INCREMENT = 0xFFF
# The internal worker id of a process that is no server worker (the admin CLI): no host has it.
TOOLS_NODE = _MAX_WORKER
# The highest node id a host may have (every other value of the worker bits but TOOLS_NODE).
NODE_ID_MAX = TOOLS_NODE - 1
# A server worker's process bits are 2 * slot + lane: 32 values, so 16 slots of 2 lanes.
LANES = 2
WORKER_SLOTS = (_MAX_WORKER + 1) // LANES


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

    @classmethod
    def for_worker(
        cls, node_id: int, slot: int, lane: int, clock: Callable[[], float] = time.time
    ) -> SnowflakeGenerator:
        """The generator of server worker ``slot`` (lane ``lane``) on host ``node_id``.

        Raises:
            ValueError: ``node_id`` is not 0..NODE_ID_MAX, ``slot`` not 0..WORKER_SLOTS-1, or
                ``lane`` not 0..LANES-1 (the config refuses such values before this).
        """
        if not (0 <= node_id <= NODE_ID_MAX and 0 <= slot < WORKER_SLOTS and 0 <= lane < LANES):
            raise ValueError(f"no snowflake bits for node {node_id}, slot {slot}, lane {lane}")
        return cls(node_id, slot * LANES + lane, clock)

    @classmethod
    def for_tool(cls, node_id: int, clock: Callable[[], float] = time.time) -> SnowflakeGenerator:
        """The generator of a tool process (``discord-arch admin``) run on host ``node_id``:
        worker bits ``TOOLS_NODE``, which no server has, and the host's node id as process
        bits, so tools on different hosts differ too."""
        if not 0 <= node_id <= NODE_ID_MAX:
            raise ValueError(f"node id must be 0..{NODE_ID_MAX}, got {node_id}")
        return cls(TOOLS_NODE, node_id, clock)

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
