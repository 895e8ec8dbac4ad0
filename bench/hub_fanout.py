"""The hub's Python cost per delivery, without sockets: ``Hub`` fanout plus the flush.

Usage::

    python -m bench.hub_fanout [--receivers 1000] [--batches 1,8,32] [--rounds 15] [--cpu 1]
                               [--cold 64]

Everything on the fanout path is the real code — :class:`~gateway.hub.Hub` with its
:class:`~gateway.cache.GuildCache` (loaded from a stand-in store), one
:class:`~gateway.listener.Connection` and :class:`~gateway.session.Session` per receiver,
IDENTIFIED as a user with GUILDS | GUILD_MESSAGES, and a MESSAGE_CREATE built by ``core.wire`` —
except the picows transport, which only counts what it is given. A round is one bus delivery of
``batch`` MESSAGE_CREATE events (the router publishes a batch at once), then the flush that
writes each connection's frames (one ``transport.send``, or one coalesced write). The minimum
over ``--rounds`` is reported, in ns per delivery: CPU time of the hot path itself, steady
when other processes share the machine (which ``bench.gateway``'s figures are not).

With ``--cold MIB``, each round starts with the CPU caches evicted (that many MiB written
over, a byte per 64-byte line), as in the server, where the socket writes of a whole fanout
(the kernel's TCP path) and the other sessions run between two messages to a connection: the
same code with its objects out of cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from core.bus.memory import MemoryBus
from core.config import Config
from core.events import Event
from core.metrics import Metrics
from core.models import Channel, ChannelType, Guild, Member, Message, Role, User
from core.timeline import Timeline
from core.wire import message_json
from gateway.hub import Hub
from gateway.limits import SessionLimits
from gateway.listener import Connection
from gateway.params import ConnectParams
from gateway.protocol import Intent

__all__ = ["main", "measure"]

GUILD, CHANNEL, AUTHOR = 1 << 40, (1 << 40) + 1, 7
_INTENTS = int(Intent.GUILDS | Intent.GUILD_MESSAGES)


class _Transport:
    """The picows transport as the listener uses it: it counts writes and bytes."""

    def __init__(self) -> None:
        self.underlying_transport = self
        self.writes = 0
        self.is_close_frame_sent = False  # the listener writes nothing after a close

    def send(self, msg_type: Any, data: bytes) -> None:
        self.writes += 1

    def write(self, data: bytes) -> None:
        self.writes += 1

    def get_write_buffer_size(self) -> int:
        return 0


class _Meta:
    """The reads behind a GuildCache load, for one guild and one text channel (no threads)."""

    async def get_guild(self, guild_id: int) -> Guild:
        return Guild(GUILD, "bench", AUTHOR)

    async def list_roles(self, guild_id: int) -> list[Role]:
        return [Role(GUILD, GUILD, "@everyone", permissions=(1 << 10) | (1 << 11))]

    async def list_channels(self, guild_id: int) -> list[Channel]:
        return [Channel(CHANNEL, ChannelType.GUILD_TEXT, GUILD, "general")]

    async def get_member(self, guild_id: int, user_id: int) -> Member:
        return Member(GUILD, user_id, joined_at=0)

    async def list_active_threads(self, guild_id: int, now_ms: int, limit: int) -> list[Channel]:
        return []  # no threads: the cache's fifth read


class _Platform:
    def __init__(self) -> None:
        self.meta = _Meta()
        self.metrics = Metrics()
        # The hub takes bus interest per guild and user it indexes: no-ops on a MemoryBus.
        self.bus = MemoryBus()
        self.timeline = Timeline()  # off: what the hub reads of it
        self.config = Config()  # the hub's flush slice (gateway_flush_slice_ms)


class _Server:
    """What ``Connection`` asks of the gateway server."""

    def __init__(self, metrics: Metrics, limits: SessionLimits = SessionLimits()) -> None:  # noqa: B008
        self.config, self.limits, self.metrics = Config(), limits, metrics
        self.send_buffer_limit = 1 << 20

    def now(self) -> float:
        return 0.0


def _identified(server: _Server, user: User, query: str = "v=10&encoding=json") -> Connection:
    conn = Connection(server, ConnectParams.parse(query))  # type: ignore[arg-type]
    conn.transport, conn.connected = _Transport(), True  # type: ignore[assignment]
    session = conn.session
    session.receive(json.dumps({"op": 2, "d": {
        "token": "t", "intents": _INTENTS,
        "properties": {"os": "linux", "browser": "bench", "device": "bench"}}}), 0.0)
    session.requests()
    session.on_identified(user, None, [], f"session-{user.id}", "ws://127.0.0.1")
    session.outgoing()  # Hello and READY: not measured
    conn.user = user
    return conn


def _event(i: int) -> Event:
    author = User(AUTHOR, "sender")
    message = Message(id=(1 << 50) + i, channel_id=CHANNEL, author_id=AUTHOR, guild_id=GUILD,
                      content=f"message {i} " + "x" * 80, nonce=str(time.monotonic_ns()))
    data = message_json(message, {AUTHOR: author}, Member(GUILD, AUTHOR, joined_at=0))
    return Event("MESSAGE_CREATE", data, guild_id=GUILD, channel_id=CHANNEL)


def compress_variant(text: str) -> tuple[str, SessionLimits]:
    """``zlib-stream:6``, ``zlib-stream:shared``, ``zstd-stream:3``, ``none``: the connect
    query and the session limits of that variant."""
    kind, *options = text.split(":")
    limits = SessionLimits()
    for option in options:
        if option == "shared":
            limits = replace(limits, zlib_shared=True)
        else:
            level = "zlib_level" if kind == "zlib-stream" else "zstd_level"
            limits = replace(limits, **{level: int(option)})
    return "v=10&encoding=json" + ("" if kind == "none" else f"&compress={kind}"), limits


async def measure(receivers: int, batches: Sequence[int], rounds: int, compress: str = "none",
                  cold_mib: int = 0) -> list[dict[str, Any]]:
    """ns per delivery of the fanout (``publish``) and of the flush, per batch size, with
    every receiver connected as ``compress`` says (:func:`compress_variant`); ``cold_mib``:
    that much memory written over before each round (the caches evicted)."""
    evict = bytearray(cold_mib << 20)
    lines = bytes(len(evict) // 64)
    query, limits = compress_variant(compress)
    platform = _Platform()
    hub, server = Hub(platform), _Server(platform.metrics, limits)  # type: ignore[arg-type]
    conns = [_identified(server, User(1000 + i, f"u{i}"), query) for i in range(receivers)]
    await hub.prepare([GUILD], conns[0].session.user_id or 0)
    for conn in conns:
        hub.attach(conn, [GUILD])
    await hub.prepare([GUILD], conns[-1].session.user_id or 0)  # loads the members attached
    out = []
    for batch in batches:
        best_publish = best_flush = float("inf")
        for r in range(rounds + 2):  # two rounds to warm the memo of who views the channel
            events = [_event(r * batch + i) for i in range(batch)]
            if evict:
                evict[::64] = lines
            t0 = time.perf_counter()
            hub._on_bus(events)  # noqa: SLF001 - the bus handler, as the bus calls it
            t1 = time.perf_counter()
            if hub._flush_handle is not None:  # noqa: SLF001
                hub._flush_handle.cancel()  # noqa: SLF001
            # What the loop runs at the iteration's end, every slice of it at once: the CPU
            # of the whole round is measured (the slices only spread it over iterations).
            hub._flush(whole=True)  # noqa: SLF001
            t2 = time.perf_counter()
            if r >= 2:
                best_publish, best_flush = min(best_publish, t1 - t0), min(best_flush, t2 - t1)
        deliveries = batch * receivers
        writes = sum(c.transport.writes for c in conns) / (rounds + 2) / receivers  # type: ignore[union-attr]
        out.append({"compress": compress, "receivers": receivers, "batch": batch,
                    "cold_mib": cold_mib,
                    "writes_per_conn": writes,
                    "publish_ns": 1e9 * best_publish / deliveries,
                    "flush_ns": 1e9 * best_flush / deliveries,
                    "total_ns": 1e9 * (best_publish + best_flush) / deliveries})
        for c in conns:
            c.transport.writes = 0  # type: ignore[union-attr]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hub_fanout", description=__doc__.split("\n")[0])
    p.add_argument("--receivers", type=int, default=1000)
    p.add_argument("--batches", default="1,8,32", help="events per bus delivery")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--cold", type=int, default=0, metavar="MIB",
                   help="evict the CPU caches before each round by writing over this many MiB "
                        "(0: warm, the default)")
    p.add_argument("--compress", default="none",
                   help="receivers' transport compression, comma-separated variants measured "
                        "one after the other: none, zlib-stream[:LEVEL][:shared], "
                        "zstd-stream[:LEVEL]")
    args = p.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    rows = [row for variant in args.compress.split(",") for row in asyncio.run(
        measure(args.receivers, [int(b) for b in args.batches.split(",")], args.rounds,
                variant, args.cold))]
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| compress | receivers | events per delivery | publish ns | flush ns | "
          "total ns per delivery |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['compress']} | {r['receivers']} | {r['batch']} | {r['publish_ns']:.0f} "
              f"| {r['flush_ns']:.0f} | {r['total_ns']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
