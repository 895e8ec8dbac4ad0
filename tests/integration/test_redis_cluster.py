"""The Redis bus on a 3-master Redis Cluster (sharded pub/sub), and the server on it.

Started from the installed redis-server (``tests/services.py``), never skipped. The bus
contract, the cache contract and the recent-messages tests also run on it (their fixtures
take ``redis-cluster``); here is what is particular to the cluster: channels spread over the
masters, one shard subscription per guild per worker, a master's subscriber connection cut
while messages flow (only its guilds' sessions are told, and none misses a message
silently), the node claim, and ``serve --workers 2 --redis-cluster`` end to end.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from redis.cluster import key_slot

from core.bus.redis import RedisBus
from core.events import Event, Gap
from core.store.nodeclaim import NodeClaim, NodeIdInUse
from tests.integration.buses import Collector, kill_connections, new_prefix, open_bus
from tests.integration.test_bus_gaps import (
    Workers,
    assert_all_received,
    assert_none_silent,
    ended,
    message,
    open_workers,
    publish_with_cut,
)
from tests.integration.test_workers import (
    Cluster,
    Rest,
    gateway,
    guild_of_two,
    serve_two_workers,
    wait_open,
)
from tests.unit.test_hub import ALICE, BOB, CAROL, G1, G2, G3, GENERAL, LOUNGE

GUILDS = [(i + 1) << 40 for i in range(24)]


async def ask(url: str, *command: Any) -> Any:
    """``command``'s reply from the one node at ``url`` (not through the cluster client)."""
    admin = redis.asyncio.Redis.from_url(url)
    try:
        return await admin.execute_command(*command)
    finally:
        await admin.aclose()


async def masters(url: str) -> dict[range, str]:
    """The cluster's slot ranges and the master (``host:port``) serving each."""
    return {range(int(start), int(end) + 1): f"{master[0].decode()}:{int(master[1])}"
            for start, end, master, *_ in await ask(url, "CLUSTER", "SLOTS")}


def master_of(channel: bytes, slots: dict[range, str]) -> str:
    slot = key_slot(channel)
    return next(node for span, node in slots.items() if slot in span)


async def shard_numsub(url: str, channel: bytes, slots: dict[range, str]) -> int:
    """Subscribers of a shard channel, asked of the master that owns it (SHARDNUMSUB)."""
    reply = await ask(f"redis://{master_of(channel, slots)}", "PUBSUB", "SHARDNUMSUB", channel)
    return int(reply[1])


async def test_guilds_spread_over_the_masters_and_events_cross_them(
    redis_cluster_url: str,
) -> None:
    prefix = new_prefix()
    slots = await masters(redis_cluster_url)
    async with open_bus(redis_cluster_url, 0, prefix, cluster=True) as a, \
            open_bus(redis_cluster_url, 1, prefix, cluster=True) as b:
        got = Collector()
        b.subscribe(got)
        for guild in GUILDS[::2]:
            b.interest(guild)
        await b.subscribed()
        channels = [f"{prefix}g:{g}".encode() for g in GUILDS[::2]]
        # Each channel on its slot's master: more than one of the three carries them.
        assert {b._link_of[c].name for c in channels} == {master_of(c, slots) for c in channels}
        assert len({master_of(c, slots) for c in channels}) > 1
        for channel in channels:
            assert await shard_numsub(redis_cluster_url, channel, slots) == 1
        a.publish([Event("MESSAGE_CREATE", {"i": i}, guild_id=g, channel_id=7)
                   for i, g in enumerate(GUILDS)])
        events = await got.wait(len(GUILDS) // 2)
        await asyncio.sleep(0.05)
        # Only the guilds of interest, each once; per guild in order (channels on different
        # masters are not ordered against each other).
        assert sorted(e.data["i"] for e in got.events) == list(range(0, len(GUILDS), 2))
        assert all(e.guild_id == GUILDS[e.data["i"]] for e in events)
        a.publish([Event("GUILD_UPDATE", {"i": 99}, guild_id=GUILDS[1])])  # the broadcast
        await got.wait(len(GUILDS) // 2 + 1)
        for guild in GUILDS[::2]:
            b.release(guild)
        await b.subscribed()
        assert await shard_numsub(redis_cluster_url, channels[0], slots) == 0


async def test_an_event_for_users_on_two_masters_arrives_once(redis_cluster_url: str) -> None:
    prefix = new_prefix()
    slots = await masters(redis_cluster_url)
    users = list(range(100, 200))
    first = users[0]
    other = next(u for u in users if master_of(f"{prefix}u:{u}".encode(), slots)
                 != master_of(f"{prefix}u:{first}".encode(), slots))
    async with open_bus(redis_cluster_url, 0, prefix, cluster=True) as a, \
            open_bus(redis_cluster_url, 1, prefix, cluster=True) as b:
        got = Collector()
        b.subscribe(got)
        b.interest_user(first)
        b.interest_user(other)
        await b.subscribed()
        for i in range(50):  # copies race each other over the two masters' connections
            a.publish([Event("TYPING_START", {"i": i}, user_ids=(first, other))])
            if i % 10 == 0:
                await asyncio.sleep(0)
        await got.wait(50)
        await asyncio.sleep(0.05)
        assert sorted(e.data["i"] for e in got.events) == list(range(50))


async def test_several_interests_in_one_guild_are_one_shard_subscription(
    redis_cluster_url: str,
) -> None:
    prefix = new_prefix()
    slots = await masters(redis_cluster_url)
    async with open_bus(redis_cluster_url, 0, prefix, cluster=True) as bus:
        for _ in range(3):
            bus.interest(G1)
        await bus.subscribed()
        channel = f"{prefix}g:{G1}".encode()
        assert await shard_numsub(redis_cluster_url, channel, slots) == 1
        bus.release(G1)
        bus.release(G1)
        await bus.subscribed()
        assert await shard_numsub(redis_cluster_url, channel, slots) == 1
        bus.release(G1)
        await bus.subscribed()
        assert await shard_numsub(redis_cluster_url, channel, slots) == 0


def split_prefix(slots: dict[range, str]) -> str:
    """A channel prefix that puts G1's channel on a master that holds none of CAROL's
    channels (her guilds G2 and G3, her own) nor the broadcast channel: losing that master
    must not concern her."""
    for _ in range(1000):
        prefix = new_prefix()
        g1, *others = (master_of(f"{prefix}{name}".encode(), slots)
                       for name in (f"g:{G1}", f"g:{G2}", f"g:{G3}", f"u:{CAROL.id}", "all"))
        if g1 not in others:
            return prefix
    raise AssertionError("no prefix splits the guilds over the masters")


@pytest.fixture
def log_max() -> int:
    """The buses' recovery log; none unless a test says."""
    return 0


@pytest.fixture
async def cluster_workers(tmp_path: Path, redis_cluster_url: str, log_max: int
                          ) -> AsyncIterator[Workers]:
    """Two platforms on the cluster bus (as test_bus_gaps' ``workers``), G1 apart from G2."""
    prefix = split_prefix(await masters(redis_cluster_url))
    async with open_workers(tmp_path, redis_cluster_url, prefix, cluster=True,
                            log_max=log_max) as opened:
        yield opened


async def test_a_master_cut_tells_its_guilds_sessions_only_and_none_misses_silently(
    cluster_workers: Workers, redis_cluster_url: str
) -> None:
    workers = cluster_workers
    gw = workers.gateway
    sessions = [await gw.connect(user) for user in (ALICE, BOB, CAROL)]  # G1, G1, G2
    await workers.bus_b.subscribed()
    prefix = workers.bus_b._prefix
    g1_master = workers.bus_b._link_of[f"{prefix}g:{G1}".encode()].name
    gaps: list[Gap] = []
    reported = asyncio.Event()

    def on_gap(gap: Gap) -> None:
        gaps.append(gap)
        reported.set()

    workers.bus_b.watch_gaps(on_gap)
    # Mid-flow, B's subscription on G1's master is cut.
    sent = await publish_with_cut(workers, lambda: kill_connections(
        redis_cluster_url, f"{prefix}w1", subscriber=True, node=g1_master))
    async with asyncio.timeout(5):
        await reported.wait()  # resubscribed on that master, and the gap reported
    await gw.iterations(20)
    # The channels of that master only: never the broadcast's, nor CAROL's.
    (gap,) = gaps
    assert gap.guild_ids is not None and G1 in gap.guild_ids
    assert not gap.guild_ids & {G2, G3} and CAROL.id not in gap.user_ids
    assert_none_silent(sessions, sent)
    carol = sessions[2]
    assert not ended(carol)  # her channels' masters were never cut: her session goes on
    assert workers.b.metrics.bus_gap_sessions == 2 and workers.bus_b.gaps == 1


@pytest.mark.parametrize("log_max", [1000])
async def test_a_master_cut_with_the_recovery_log_loses_nothing_and_tells_no_one(
    cluster_workers: Workers, redis_cluster_url: str
) -> None:
    workers = cluster_workers
    gw = workers.gateway
    sessions = [await gw.connect(user) for user in (ALICE, BOB, CAROL)]  # G1, G1, G2
    await workers.bus_b.subscribed()
    await asyncio.sleep(0.05)  # the subscriptions' anchors in the logs are read
    prefix = workers.bus_b._prefix
    link = workers.bus_b._link_of[f"{prefix}g:{G1}".encode()]
    sent = await publish_with_cut(workers, lambda: kill_connections(
        redis_cluster_url, f"{prefix}w1", subscriber=True, node=link.name))
    async with asyncio.timeout(5):
        while not (workers.bus_b.gaps == 1 and workers.bus_b.recovered and not link.held):
            await gw.iterations(5)
    await gw.iterations(20)
    assert_all_received(sessions, sent)
    assert workers.b.metrics.bus_gap_sessions == 0


async def test_a_skipped_offset_on_a_shard_channel_is_that_guilds_gap(
    cluster_workers: Workers,
) -> None:
    workers = cluster_workers
    gw = workers.gateway
    alice, carol = await gw.connect(ALICE), await gw.connect(CAROL)
    await workers.bus_b.subscribed()
    gaps = Collector()
    workers.bus_b.watch_gaps(lambda gap: gaps([Event("gap", {"gap": gap})]))
    workers.a.publish(message(G1, GENERAL, 1))
    await alice.wait_for(lambda: "m1" in str(alice.payloads()))
    workers.bus_a._chains.next(f"{workers.bus_a._prefix}g:{G1}".encode(), 0)  # never sent
    workers.a.publish(message(G1, GENERAL, 2), message(G2, LOUNGE, 3))
    (event,) = await gaps.wait(1)
    assert event.data["gap"] == Gap(frozenset({G1}))
    await gw.iterations(5)
    assert ended(alice) and not ended(carol)


def test_the_node_claim_holds_on_the_cluster(redis_cluster_url: str) -> None:
    node = 7 + os.getpid() % 20  # runs that share a cluster (DISCORD_ARCH_TEST_...) differ
    first = NodeClaim.take(redis_cluster_url, node, ttl_s=5, cluster=True)
    try:
        with pytest.raises(NodeIdInUse, match=f"node id {node} is in use"):
            NodeClaim.take(redis_cluster_url, node, ttl_s=5, cluster=True)
    finally:
        first.release()
    NodeClaim.take(redis_cluster_url, node, ttl_s=5, cluster=True).release()


async def test_open_redis_bus_on_a_cluster_uses_sharded_pubsub(redis_cluster_url: str) -> None:
    from core.bus.redis import open_redis_bus

    bus = await open_redis_bus(redis_cluster_url, 0, prefix=new_prefix(), cluster=True)
    try:
        assert isinstance(bus, RedisBus) and bus._sharded
    finally:
        await bus.aclose()


@pytest.fixture
def served(tmp_path: Path, redis_cluster_url: str) -> Iterator[Cluster]:
    """``discord-arch serve --workers 2 --redis-cluster``, the real binary, on the cluster."""
    # Its own node id: a test run sharing the cluster must not collide with this one.
    with serve_two_workers(tmp_path, redis_cluster_url, "--redis-cluster",
                           env={"DISCORD_ARCH_NODE_ID": str(1 + os.getpid() % 6)}) as running:
        yield running


async def test_a_message_sent_on_one_worker_reaches_a_session_on_the_other(
    served: Cluster,
) -> None:
    await wait_open(*served.worker_ports)
    async with aiohttp.ClientSession(base_url=served.http_url) as http:
        rest = Rest(http)
        owner, member, channel = await guild_of_two(rest)
        async with gateway(http, served.worker_ports[0]) as w0, \
                gateway(http, served.worker_ports[1]) as w1:
            await w0.identify(owner)
            await w1.identify(member)
            status, sent = await rest.call("POST", f"/channels/{channel}/messages", owner,
                                           {"content": "through the cluster"})
            assert status == 200, sent
            got = await w1.recv_until("MESSAGE_CREATE")
            assert got["d"]["id"] == sent["id"] and got["d"]["content"] == "through the cluster"
            await w1.send({"op": 50, "d": {"channel_id": channel, "content": "and back",
                                           "nonce": "n1"}})
            while (back := await w0.recv_until("MESSAGE_CREATE"))["d"].get("nonce") != "n1":
                pass  # the owner's own message first
            assert back["d"]["content"] == "and back"
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(20) == 0


async def node_ids(url: str) -> dict[str, str]:
    """Each master's ``host:port`` and its cluster node id."""
    out = {}
    for line in (await ask(url, "CLUSTER", "NODES")).decode().splitlines():
        node_id, address, flags, *_ = line.split()
        if "master" in flags:
            out[address.split("@")[0]] = node_id
    return out


async def test_a_channel_whose_slot_moves_is_subscribed_on_its_new_master(
    redis_cluster_url: str,
) -> None:
    prefix = new_prefix()
    slots = await masters(redis_cluster_url)
    channel = f"{prefix}g:{G1}".encode()
    source = master_of(channel, slots)
    async with open_bus(redis_cluster_url, 0, prefix, cluster=True) as a, \
            open_bus(redis_cluster_url, 1, prefix, cluster=True) as b:
        got = Collector()
        b.subscribe(got)
        gaps: list[Gap] = []
        reported = asyncio.Event()
        b.watch_gaps(lambda gap: (gaps.append(gap), reported.set()))
        b.interest(G1)
        await b.subscribed()
        a.publish([Event("MESSAGE_CREATE", {"i": 1}, guild_id=G1, channel_id=7)])
        await got.wait(1)
        # Hand the channel's (keyless) slot to another master, as a resharding does.
        ids = await node_ids(redis_cluster_url)
        target = next(node for node in ids if node != source)
        slot = key_slot(channel)
        for node in [target, source, *(n for n in ids if n not in (source, target))]:
            await ask(f"redis://{node}", "CLUSTER", "SETSLOT", slot, "NODE", ids[target])
        # Redis unsubscribes the channel on its old master: the bus reads the slots again,
        # subscribes it on the new one and reports the gap for that guild.
        async with asyncio.timeout(10):
            await reported.wait()
        await asyncio.sleep(0.05)
        # That guild alone: the master's other channels (maybe the broadcast) went on.
        assert gaps == [Gap(frozenset({G1}), frozenset())] and b.gaps == 0
        assert b._link_of[channel].name == target
        await b.subscribed()
        assert await shard_numsub(redis_cluster_url, channel, await masters(redis_cluster_url)) \
            == 1
        for i in range(2, 20):  # the publisher learns of the move from MOVED
            a.publish([Event("MESSAGE_CREATE", {"i": i}, guild_id=G1, channel_id=7)])
            await asyncio.sleep(0)
        await got.wait(19)
        assert [e.data["i"] for e in got.events] == list(range(1, 20))


def test_the_publish_benchmark_runs(redis_url: str, redis_cluster_url: str) -> None:
    """``bench.bus_publish`` (bench/RESULTS.md, "Redis Cluster"), small, so it cannot rot;
    nothing timed is asserted, only that every event arrived (it waits for all)."""
    from bench import bus_publish

    rows = bus_publish.measure(redis_url, redis_cluster_url, events=200, batch=50, guilds=5,
                               repeat=1)
    assert len(rows) == 8 and all(r["events_per_s"] > 0 for r in rows)
