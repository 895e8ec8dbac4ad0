"""Three gateway hosts behind HAProxy, as network namespaces (issue 15, items 5 and 6).

The hosts share one Redis and one PostgreSQL in a namespace of their own; HAProxy runs
deploy/haproxy.cfg; every client is in the client namespace and reaches the cluster through
the balancer, as a deployment's clients do (tests/cluster/stack.py). The tests run in file
order on one cluster; the last one cuts a host's cable and plugs it back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from tests.cluster.members import BalancedRest, Member
from tests.cluster.stack import (
    GATEWAY_PORT,
    NODES,
    WORKERS,
    Cluster,
    until,
    worker_port_base,
)
from tests.faults.ledger import TIMEOUT, Rest, Sender, verify

READY_TIMEOUT_S = 30.0
DELIVERY_TIMEOUT_S = 20.0


def run(cluster: Cluster, test: Callable[[aiohttp.ClientSession], Awaitable[None]],
        timeout: float = 150.0) -> None:
    """Run ``test`` in the client namespace with a client session of its own."""
    async def main() -> None:
        # No keep-alive across a fault: a pooled socket to a host that was cut would hang.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as h:
            await test(h)
    cluster.loop.run(main(), timeout)


@asynccontextmanager
async def connected(cluster: Cluster, http: aiohttp.ClientSession, rest: Rest, channel: str,
                    tokens: list[str]) -> AsyncIterator[list[Member]]:
    """Members for ``tokens``, connected through the balancer and READY; stopped at exit."""
    members = [Member(http, t, [], rest, channel, balanced=cluster.gateway_url) for t in tokens]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(m.run(stop)) for m in members]
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await asyncio.gather(*(m.ready.wait() for m in members))
        yield members
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def on_every_host(cluster: Cluster, http: aiohttp.ClientSession, rest: Rest,
                        channel: str, tokens: list[str]) -> AsyncIterator[list[Member]]:
    """Two members per host connected at once, then one more at a time until every host
    holds one (a host the balancer marked up a moment after the others gets the next ones:
    leastconn), from ``tokens`` (four per host is plenty)."""
    async with AsyncExitStack() as stack:
        first = 2 * len(NODES)
        members = list(await stack.enter_async_context(
            connected(cluster, http, rest, channel, tokens[:first])))
        for token in tokens[first:]:
            if {m.node for m in members} == set(NODES):
                break
            members += await stack.enter_async_context(
                connected(cluster, http, rest, channel, [token]))
        assert {m.node for m in members} == set(NODES), [m.resume_url for m in members]
        yield members


async def guild_of(rest: Rest, token: str, channel: str) -> str:
    status, body, _ = await rest.call("GET", f"/channels/{channel}", token)
    assert status == 200, body
    return str(body["guild_id"])


async def send(rest: Rest, token: str, channel: str, content: str) -> str:
    status, body, _ = await rest.call("POST", f"/channels/{channel}/messages", token,
                                      {"content": content})
    assert status == 200, body
    return str(body["id"])


async def delivered(members: list[Member], message_id: str, what: str) -> None:
    async def everyone() -> bool:
        return all(message_id in m.got for m in members)
    await until(everyone, what, DELIVERY_TIMEOUT_S)


async def subscribers(cluster: Cluster, guild_id: str) -> dict[str, int]:
    """Every Redis pub/sub channel naming the guild, with its subscriber count (plain and
    sharded pub/sub both counted: the bus may use either)."""
    client = aioredis.Redis(host=cluster.address("db"), port=6379, protocol=2)
    try:
        counts: dict[str, int] = {}
        for list_cmd, count_cmd in (("PUBSUB CHANNELS", "PUBSUB NUMSUB"),
                                    ("PUBSUB SHARDCHANNELS", "PUBSUB SHARDNUMSUB")):
            names = await client.execute_command(list_cmd, f"*{guild_id}*")
            if names:
                reply = await client.execute_command(count_cmd, *names)
                counts.update(_pairs(reply))
        return counts
    finally:
        await client.aclose()


def _pairs(reply: object) -> dict[str, int]:
    """NUMSUB's reply, flat (RESP2) or paired by the client library, as a dict."""
    if isinstance(reply, dict):
        items = list(reply.items())
    else:
        assert isinstance(reply, list | tuple), reply
        if reply and isinstance(reply[0], list | tuple):
            items = [tuple(x) for x in reply]
        else:
            items = list(zip(reply[::2], reply[1::2], strict=True))
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in items}


@pytest.mark.timeout(480)  # the first test also builds the cluster
def test_a_message_sent_through_each_host_reaches_members_on_every_host(
    cluster: Cluster,
) -> None:
    async def test(http: aiohttp.ClientSession) -> None:
        rest = BalancedRest(http, cluster.rest_url)
        tokens, channel = await rest.guild(1 + 4 * len(NODES))
        async with on_every_host(cluster, http, rest, channel, tokens[1:]) as members:
            for node in NODES:  # REST straight to one host; the bus carries it to the others
                direct = BalancedRest(http, cluster.host_rest_url(node))
                message_id = await send(direct, tokens[0], channel, f"via gw{node}")
                await delivered(members, message_id, f"a message sent via gw{node}")
            # One subscription per guild per worker holding one of its sessions, whatever
            # the number of those sessions there.
            guild_id = await guild_of(rest, tokens[0], channel)
            counts = await subscribers(cluster, guild_id)
            assert len(counts) == 1, counts
            assert list(counts.values()) == [len({m.worker for m in members})], (
                counts, sorted(m.worker for m in members))
    run(cluster, test)


@pytest.mark.timeout(120)
def test_resume_gateway_url_names_the_host_on_the_balancer_and_resumes_there(
    cluster: Cluster,
) -> None:
    async def test(http: aiohttp.ClientSession) -> None:
        rest = BalancedRest(http, cluster.rest_url)
        tokens, channel = await rest.guild(2)
        status, gateway, _ = await rest.call("GET", "/gateway")
        assert (status, gateway) == (200, {"url": f"ws://{cluster.lb}:{GATEWAY_PORT}"})
        resume_urls = {f"ws://{cluster.lb}:{worker_port_base(n) + i}"
                       for n in NODES for i in range(WORKERS)}
        # A session on each host: connect until each has one (leastconn sends each new
        # websocket to the emptiest host), then drop them all and send while they are away.
        sessions: dict[int, tuple[str, str]] = {}  # node: (resume_gateway_url, session_id)
        for _ in range(3 * len(NODES)):
            if len(sessions) == len(NODES):
                break
            async with http.ws_connect(cluster.gateway_url, params={"v": "10"}) as ws:
                assert (await next_payload(ws))["op"] == 10
                await ws.send_json({"op": 2, "d": {
                    "token": tokens[1], "intents": 1 << 9 | 1 << 15,
                    "properties": {"os": "linux", "browser": "t", "device": "t"}}})
                ready = await next_dispatch(ws, "READY")
                url = ready["resume_gateway_url"]
                assert url in resume_urls, url
                sessions.setdefault(cluster.node_of(url), (url, ready["session_id"]))
                await ws.close(code=4000)  # not 1000: the session stays resumable
        assert sorted(sessions) == list(NODES), sessions
        sent = [await send(rest, tokens[0], channel, f"while away {i}") for i in range(2)]
        for url, session_id in sessions.values():  # each through its host's listener
            async with http.ws_connect(url.replace("ws://", "http://"),
                                       params={"v": "10"}) as ws:
                assert (await next_payload(ws))["op"] == 10
                await ws.send_json({"op": 6, "d": {"token": tokens[1], "session_id": session_id,
                                                   "seq": 1}})  # READY's
                replayed = []
                while (event := await next_dispatch(ws, None))["t"] != "RESUMED":
                    if event["t"] == "MESSAGE_CREATE":
                        replayed.append(event["d"]["id"])
                assert replayed == sent, (url, replayed, sent)
        # The hosts read the client's address from the balancer's X-Forwarded-For.
        logs = "".join(cluster.log(f"gw{n}") for n in NODES)
        assert f"gateway connect from {cluster.address('clients')}" in logs
        assert f"gateway connect from {cluster.lb}" not in logs
    run(cluster, test)


async def next_payload(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next gateway payload (AssertionError saying what came instead)."""
    msg = await ws.receive(timeout=TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, ws.close_code)
    return dict(orjson.loads(msg.data))


async def next_dispatch(ws: aiohttp.ClientWebSocketResponse, name: str | None) -> dict[str, Any]:
    """The next dispatch named ``name``: its ``d``; ``name`` None: the next dispatch, whole."""
    while True:
        payload = await next_payload(ws)
        if payload["op"] == 0 and name is None:
            return payload
        if payload["op"] == 0 and payload["t"] == name:
            return dict(payload["d"])


@pytest.mark.timeout(180)
def test_a_host_cut_off_loses_no_acked_message_and_rejoins(cluster: Cluster) -> None:
    async def test(http: aiohttp.ClientSession) -> None:
        rest = BalancedRest(http, cluster.rest_url)
        tokens, channel = await rest.guild(2 + 4 * len(NODES))
        async with on_every_host(cluster, http, rest, channel, tokens[2:]) as members:
            cut = members[0].node
            moving = [m for m in members if m.node == cut]
            senders = [Sender(rest, t, channel) for t in tokens[:2]]
            sending = [asyncio.create_task(s.run(120)) for s in senders]
            try:
                await until(acked_some(senders, 5), "nothing acked before the cut", 20)
                began = time.monotonic()
                cluster.lab.link(f"gw{cut}", up=False)
                try:
                    # HAProxy marks the host down and closes its sessions; their clients fail
                    # to resume there and identify again through the balanced address.
                    async def moved() -> bool:
                        return all(m.ready.is_set() and m.resume_url and m.node != cut
                                   for m in moving)
                    await until(moved, f"gw{cut}'s members did not move", 45)
                    await until(acked_after(senders, began, 5), "no ack after the cut", 30)
                finally:
                    cluster.lab.link(f"gw{cut}", up=True)
                # Back: ready again (its stores answer) and routed to again.
                await until(lambda: cluster.host_ready(cut), f"gw{cut} not ready again", 60)
                await until(lambda: cluster.balanced_to(cut), f"gw{cut} not routed to", 60)
                await until(acked_after(senders, time.monotonic(), 5), "no ack after", 30)
            finally:
                for task in sending:
                    task.cancel()
                await asyncio.gather(*sending, return_exceptions=True)
            for m in moving:  # they resumed elsewhere, got op 9, and identified again
                assert m.identifies >= 2, (m.closes, m.resumes, m.identifies)
            recover = max(s.longest_gap(began) for s in senders)
            await verify("host cut off (3 hosts, HAProxy; tests/cluster)", rest, tokens[0],
                         channel, senders, members, recover)
            # The host rejoined: a new connection lands there (leastconn: it holds none),
            # and a message sent through it reaches every host, and one sent elsewhere it.
            async with rejoined_member(cluster, http, rest, channel, tokens[1], cut) as back:
                for node in NODES:
                    direct = BalancedRest(http, cluster.host_rest_url(node))
                    message_id = await send(direct, tokens[0], channel, f"after, via gw{node}")
                    await delivered([*members, back], message_id,
                                    f"after the cut, a message sent via gw{node}")
    run(cluster, test)


def acked_some(senders: list[Sender], count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sum(len(s.acked) for s in senders) >= count
    return check


def acked_after(senders: list[Sender], since: float, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sum(1 for s in senders for t in s.ack_times if t > since) >= count
    return check


@asynccontextmanager
async def rejoined_member(cluster: Cluster, http: aiohttp.ClientSession, rest: Rest,
                          channel: str, token: str, node: int) -> AsyncIterator[Member]:
    """A member connected through the balancer that landed on ``node``."""
    deadline = time.monotonic() + 30
    while True:
        async with connected(cluster, http, rest, channel, [token]) as (member,):
            if member.node == node:
                yield member
                return
        assert time.monotonic() < deadline, f"no new connection reached gw{node}"
        await asyncio.sleep(0.2)
