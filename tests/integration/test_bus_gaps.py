"""No silent gaps on the Redis bus: two workers (platforms, buses) in one loop on a real Redis.

Worker A publishes messages while worker B's subscriber connection is cut (CLIENT KILL): every
session on B must either receive every message or be told to identify again (op 9, 4009).
Also the two other ways a gap is found: a publisher that dropped events (loss marker) and
offsets that skip (a message lost between publisher and receiver).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from core.bus.redis import RedisBus
from core.config import Config
from core.events import Event, Gap
from core.platform import Platform
from gateway.hub import Hub
from gateway.protocol import CloseCode, Opcode
from tests.integration.buses import MS, Collector, kill_connections, new_prefix, unstarted_bus
from tests.unit.test_hub import ALICE, BOB, CAROL, G1, G2, GENERAL, LOUNGE, FakeConn, Gateway, seed

MESSAGES = 400


def ended(conn: FakeConn) -> bool:
    """Told to identify again: op 9 ``d: false``, then 4009, and nothing left to RESUME."""
    return (any(p["op"] == Opcode.INVALID_SESSION and p["d"] is False for p in conn.payloads())
            and conn.session.close_code == CloseCode.SESSION_TIMED_OUT and conn.session.seq == 0)


def message(guild_id: int, channel_id: int, i: int) -> Event:
    return Event("MESSAGE_CREATE", {
        "id": str(1_000_000 + i), "channel_id": str(channel_id), "guild_id": str(guild_id),
        "content": f"m{i}", "author": {"id": str(ALICE.id), "username": "alice"},
        "type": 0, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
        "timestamp": "2024-01-01T00:00:00+00:00", "tts": False, "mention_everyone": False,
        "pinned": False}, guild_id=guild_id, channel_id=channel_id)


class Workers:
    def __init__(self, a: Platform, b: Platform, hub: Hub, gateway: Gateway) -> None:
        self.a, self.b, self.hub, self.gateway = a, b, hub, gateway
        assert isinstance(a.bus, RedisBus) and isinstance(b.bus, RedisBus)
        self.bus_a: RedisBus = a.bus
        self.bus_b: RedisBus = b.bus


@pytest.fixture
def log_max() -> int:
    """The buses' recovery log (``RedisBus(log_max=...)``); none unless a test says."""
    return 0



async def publish_with_cut(workers: Workers, cut: Callable[[], Awaitable[int]]
                           ) -> dict[int, list[str]]:
    """Publish MESSAGES from A, alternately to G1's #general and G2's #lounge, and a third of
    the way through ``cut`` the receiver's subscription (it must kill one connection): the
    contents sent to each guild, in order."""
    sent: dict[int, list[str]] = {G1: [], G2: []}
    for i in range(MESSAGES):
        guild, channel = (G1, GENERAL) if i % 2 else (G2, LOUNGE)
        workers.a.publish(message(guild, channel, i))
        sent[guild].append(f"m{i}")
        if i == MESSAGES // 3:  # mid-flow
            assert await cut() == 1
        await asyncio.sleep(0.5 * MS)
    return sent


def assert_none_silent(sessions: list[FakeConn], sent: dict[int, list[str]]) -> None:
    """Each of ALICE's, BOB's and CAROL's sessions (G1, G1, G2) received every message sent
    to its guild, in order, or was told to identify again: none missed any silently."""
    silent = []
    for conn, guild in zip(sessions, (G1, G1, G2), strict=True):
        got = [d["content"] for d in conn.take("MESSAGE_CREATE")]
        if got != sent[guild] and not ended(conn):
            silent.append((conn.label, len(sent[guild]) - len(got)))
    assert silent == [], f"sessions that missed messages without being told: {silent}"


def assert_all_received(sessions: list[FakeConn], sent: dict[int, list[str]]) -> None:
    """Each of ALICE's, BOB's and CAROL's sessions (G1, G1, G2) received every message sent
    to its guild, in order, and none was told to identify again."""
    for conn, guild in zip(sessions, (G1, G1, G2), strict=True):
        assert [d["content"] for d in conn.take("MESSAGE_CREATE")] == sent[guild]
        assert not ended(conn)


@asynccontextmanager
async def open_workers(data_dir: Path, redis_url: str, prefix: str, *, cluster: bool = False,
                       log_max: int = 0) -> AsyncIterator[Workers]:
    """Two platforms on buses ``{prefix}w0`` and ``{prefix}w1`` (``cluster``: a Redis Cluster),
    seeded, with a hub and sessions on the second. Each platform starts and closes its bus
    (as a worker's does)."""
    config = Config(data_dir=str(data_dir), sqlite_synchronous="OFF")
    a = await Platform.open(config, 0, bus=unstarted_bus(redis_url, 0, prefix, cluster=cluster,
                                                         log_max=log_max))
    try:
        await seed(a)
        b = await Platform.open(config, 1, bus=unstarted_bus(redis_url, 1, prefix,
                                                             cluster=cluster, log_max=log_max))
        try:
            hub = Hub(b)
            await hub.start()
            try:
                yield Workers(a, b, hub, Gateway(b, hub))
            finally:
                await hub.aclose()
        finally:
            await b.aclose()
    finally:
        await a.aclose()


@pytest.fixture
async def workers(tmp_path: Path, redis_url: str, log_max: int) -> AsyncIterator[Workers]:
    async with open_workers(tmp_path, redis_url, new_prefix(), log_max=log_max) as opened:
        yield opened


async def test_cut_subscriber_every_session_receives_all_or_is_told(
    workers: Workers, redis_url: str
) -> None:
    gw = workers.gateway
    sessions = [await gw.connect(user) for user in (ALICE, BOB, CAROL)]
    await workers.bus_b.subscribed()
    reported = asyncio.Event()
    workers.bus_b.watch_gaps(lambda gap: reported.set())
    sent = await publish_with_cut(workers, lambda: kill_connections(
        redis_url, f"{workers.bus_b._prefix}w1", subscriber=True))
    async with asyncio.timeout(5):
        await reported.wait()  # resubscribed, and the gap reported
    await gw.iterations(20)
    assert_none_silent(sessions, sent)
    assert workers.b.metrics.bus_gap_sessions == 3  # the lost subscription covers everyone


async def test_publisher_that_dropped_events_makes_every_worker_tell_its_sessions(
    workers: Workers,
) -> None:
    gw = workers.gateway
    alice, carol = await gw.connect(ALICE), await gw.connect(CAROL)
    await workers.bus_b.subscribed()
    workers.bus_a.dropped += 3  # as _drop counts what the outbox could not hold
    workers.a.publish(message(G1, GENERAL, 1))
    async with asyncio.timeout(2):
        while not (ended(alice) and ended(carol)):
            await gw.iterations(2)
    assert workers.bus_b.loss_markers == 1


async def test_skipped_offset_tells_that_guilds_sessions_only(workers: Workers) -> None:
    gw = workers.gateway
    alice, carol = await gw.connect(ALICE), await gw.connect(CAROL)
    await workers.bus_b.subscribed()
    gaps = Collector()
    workers.bus_b.watch_gaps(lambda gap: gaps([Event("gap", {"gap": gap})]))
    workers.a.publish(message(G1, GENERAL, 1))
    await alice.wait_for(lambda: bool(alice.payloads()) and "m1" in str(alice.payloads()))
    channel = f"{workers.bus_a._prefix}g:{G1}".encode()
    workers.bus_a._chains.next(channel, 0)  # an offset given to a message that never left
    workers.a.publish(message(G1, GENERAL, 2), message(G2, LOUNGE, 3))
    (event,) = await gaps.wait(1)
    assert event.data["gap"] == Gap(frozenset({G1}))
    await gw.iterations(5)
    assert ended(alice) and not ended(carol)
    assert "m3" in [d["content"] for d in carol.take("MESSAGE_CREATE")]
    assert workers.bus_b.offset_gaps == 1


@pytest.mark.parametrize("log_max", [1000])
async def test_cut_subscriber_with_the_recovery_log_every_session_receives_all(
    workers: Workers, redis_url: str
) -> None:
    """The same cut as above, with a log that holds what was missed: every session gets
    every message, in order, and none is told to identify again."""
    gw = workers.gateway
    sessions = [await gw.connect(user) for user in (ALICE, BOB, CAROL)]
    await workers.bus_b.subscribed()
    await asyncio.sleep(50 * MS)  # the subscriptions' anchors in the logs are read
    sent = await publish_with_cut(workers, lambda: kill_connections(
        redis_url, f"{workers.bus_b._prefix}w1", subscriber=True))
    link = workers.bus_b._links[""]
    async with asyncio.timeout(5):  # resubscribed, and every channel's log read
        while not (workers.bus_b.gaps == 1 and workers.bus_b.recovered and not link.held):
            await gw.iterations(5)
    await gw.iterations(20)
    assert_all_received(sessions, sent)
    assert workers.bus_b.gaps == 1 and workers.b.metrics.bus_gap_sessions == 0


@pytest.mark.parametrize("log_max", [1])
async def test_a_log_trimmed_past_what_was_missed_tells_the_sessions(
    workers: Workers, redis_url: str
) -> None:
    """Cut, then more is published than the log keeps: it cannot prove continuity, so the
    sessions are told (op 9), and none misses a message silently."""
    gw = workers.gateway
    sessions = [await gw.connect(user) for user in (ALICE, BOB, CAROL)]
    await workers.bus_b.subscribed()
    await asyncio.sleep(50 * MS)
    workers.a.publish(message(G1, GENERAL, 0))
    await sessions[0].wait_for(lambda: "m0" in str(sessions[0].payloads()))
    assert await kill_connections(redis_url, f"{workers.bus_b._prefix}w1", subscriber=True) == 1
    # At once, before the subscriber is back: the log keeps about a hundred of these.
    workers.a.publish(*(message(G1, GENERAL, i) for i in range(1, 1001)))
    async with asyncio.timeout(5):
        while not all(ended(c) for c in sessions[:2]):
            await gw.iterations(5)
    # G2's channel, the broadcast and the users' channels missed nothing: recovered.
    assert workers.bus_b.recovered >= 2
    assert not ended(sessions[2])
