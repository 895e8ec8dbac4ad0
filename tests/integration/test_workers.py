"""``discord-arch serve --workers 2`` with Redis: fanout across workers, and a worker killed.

The server runs as the real binary in a subprocess (its supervisor and two spawned workers);
clients reach each worker through its own port (``worker_port_base + slot``), the port READY
names as ``resume_gateway_url``. Both workers use one embedded SQLite file (WAL, a 5 s
``busy_timeout``, ``BEGIN IMMEDIATE``): it works, and PostgreSQL is still what the README
recommends with several workers, since their writes then serialize on one file lock.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.bus.redis import RedisBus
from core.config import Config
from gateway.worker import open_platform
from tests.integration.gateway_client import TIMEOUT, GatewayClient

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "gateway.cli"]


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports that were free a moment ago.

    Drawn below the kernel's ephemeral range (``ip_local_port_range``): a range inside it
    loses ports to the outgoing connections the servers under test open meanwhile (Linux's
    connect() takes the even ports there, bind(0) the odd ones, so the second port of a range
    probed with bind(0) went to a worker's Redis connection now and then: "address already
    in use")."""
    low = _ephemeral_low()
    pick = random.SystemRandom()
    for _ in range(200):
        base = pick.randrange(10_000, low - count) if low - count > 10_000 else None
        if base is None:  # no room below the range: any free range, as before
            with closing(socket.socket()) as probe:
                probe.bind(("127.0.0.1", 0))
                base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with closing(socket.socket()) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


def _ephemeral_low() -> int:
    """The lowest port of the kernel's ephemeral range (32768 when it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


@dataclass
class Cluster:
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    http_url: str
    worker_ports: tuple[int, int]

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def worker_pid(self, slot: int) -> int:
        """The pid of the newest ``slot`` worker, from the supervisor's log."""
        pids = re.findall(rf"worker {slot} started \(pid (\d+)\)", self.stderr)
        return int(pids[-1])

    async def replaced(self, slot: int, old_pid: int) -> int:
        """Wait (up to 30 s) until a worker other than ``old_pid`` reports ``slot`` ready.

        Not a port probe: the killed worker's listening socket may accept for a moment
        while the process is torn down.
        """
        for _ in range(600):
            pids = re.findall(rf"worker {slot} ready \(pid (\d+)\)", self.stderr)
            if pids and int(pids[-1]) != old_pid:
                return int(pids[-1])
            await asyncio.sleep(0.05)
        raise TimeoutError(f"worker {slot} was not replaced")


def port_open(port: int) -> bool:
    with closing(socket.socket()) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def wait_open(*ports: int) -> None:
    """Poll until ``ports`` accept, up to 30 s (another process: there is nothing to await)."""
    for _ in range(600):
        if all(port_open(p) for p in ports):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"ports {ports} not open")


@contextmanager
def serve_two_workers(tmp_path: Path, redis_url: str, *args: str,
                      env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """``discord-arch serve --workers 2`` (the real binary) on ``redis_url``, with ``args`` and
    ``env`` added; SIGTERM (then SIGKILL if stuck) at the end, its stderr printed."""
    base = free_ports(4)  # http, shared gateway, worker 0, worker 1
    full_env = {**os.environ, "PYTHONPATH": str(ROOT),
                "DISCORD_ARCH_WORKER_PORT_BASE": str(base + 2),
                # The test sends faster than a person would.
                "DISCORD_ARCH_RATELIMIT_ROUTE_LIMIT": "0",
                "DISCORD_ARCH_RATELIMIT_GLOBAL_PER_S": "0",
                "DISCORD_ARCH_DRAIN_TIMEOUT_S": "5",
                # No ops ports: the default 9090 + slot may be taken by another test or server.
                "DISCORD_ARCH_METRICS_PORT": "0", "DISCORD_ARCH_LOG_FORMAT": "text",
                **(env or {})}
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            CLI + ["serve", "--workers", "2", "--redis-url", redis_url, *args,
                   "--data-dir", str(tmp_path / "data"), "--http-port", str(base),
                   "--gateway-port", str(base + 1)],
            cwd=ROOT, env=full_env, stderr=stderr,
        )
    cluster = Cluster(proc, stderr_path, f"http://127.0.0.1:{base}", (base + 2, base + 3))
    try:
        yield cluster
    finally:
        print(cluster.stderr)  # pytest shows it when the test fails
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    with serve_two_workers(tmp_path, redis_url) as served:
        yield served


class Rest:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self._n = 0

    async def call(self, method: str, path: str, token: str | None = None,
                   json: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": token} if token else {}
        async with self.http.request(method, "/api/v10" + path, json=json,
                                     headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def register(self) -> tuple[str, str]:
        self._n += 1
        status, body = await self.call("POST", "/auth/register", json={
            "username": f"u{os.getpid()}x{self._n}", "password": "correct horse"})
        assert status == 201, body
        return body["token"], body["user"]["id"]


@asynccontextmanager
async def gateway(http: aiohttp.ClientSession, port: int) -> AsyncIterator[GatewayClient]:
    ws = await asyncio.wait_for(http.ws_connect(
        f"http://127.0.0.1:{port}/", params={"v": "10", "encoding": "json"}, autoclose=False),
        TIMEOUT)
    try:
        yield GatewayClient(ws, "json", None)
    finally:
        await ws.close()


async def guild_of_two(rest: Rest) -> tuple[str, str, str]:
    """Two users in one guild: (owner token, member token, channel id)."""
    (owner, _), (member, _) = await rest.register(), await rest.register()
    status, guild = await rest.call("POST", "/guilds", owner, {"name": "Guild"})
    assert status == 201, guild
    _, channels = await rest.call("GET", f"/guilds/{guild['id']}/channels", owner)
    channel = channels[0]["id"]
    status, invite = await rest.call("POST", f"/channels/{channel}/invites", owner, {})
    assert status == 200, invite
    status, body = await rest.call("POST", f"/invites/{invite['code']}", member)
    assert status == 200, body
    return owner, member, channel


async def test_message_reaches_a_client_of_the_other_worker(cluster: Cluster) -> None:
    await wait_open(*cluster.worker_ports)
    async with aiohttp.ClientSession(base_url=cluster.http_url) as http:
        rest = Rest(http)
        owner, member, channel = await guild_of_two(rest)
        async with gateway(http, cluster.worker_ports[0]) as w0, \
                gateway(http, cluster.worker_ports[1]) as w1:
            ready0 = await w0.identify(owner)
            ready1 = await w1.identify(member)
            assert ready0["resume_gateway_url"].endswith(f":{cluster.worker_ports[0]}")
            assert ready1["resume_gateway_url"].endswith(f":{cluster.worker_ports[1]}")
            await w0.send({"op": 50, "d": {"channel_id": channel, "content": "across",
                                           "nonce": "n1"}})
            echo = await w0.recv_until("MESSAGE_CREATE")
            got = await w1.recv_until("MESSAGE_CREATE")
            assert got["d"]["id"] == echo["d"]["id"] and got["d"]["content"] == "across"


async def presence_of(client: GatewayClient, user_id: str) -> str:
    """The status in the next PRESENCE_UPDATE about ``user_id``."""
    while (got := await client.recv_until("PRESENCE_UPDATE"))["d"]["user"]["id"] != user_id:
        pass
    return str(got["d"]["status"])


async def reported_by(redis_url: str, user_id: str, workers: int) -> None:
    """Wait (up to 10 s) until exactly ``workers`` workers hold a report of ``user_id`` in the
    shared presence (its Redis hash, core/store/redis.py). A worker reports a user after it
    sent READY, or after the socket closed (gateway.presence), so neither a READY nor a
    finished close says the other workers know yet."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        for _ in range(200):
            if await client.hlen(f"{{presence}}:u:{user_id}") == workers:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{workers} workers did not report user {user_id}")
    finally:
        await client.aclose()


async def test_presence_is_shared_between_the_workers(cluster: Cluster, redis_url: str) -> None:
    await wait_open(*cluster.worker_ports)
    async with aiohttp.ClientSession(base_url=cluster.http_url) as http:
        rest = Rest(http)
        owner, member, _ = await guild_of_two(rest)
        owner_id = (await rest.call("GET", "/users/@me", owner))[1]["id"]
        async with gateway(http, cluster.worker_ports[0]) as first:
            await first.identify(owner)
            async with gateway(http, cluster.worker_ports[1]) as watcher:
                # Online on worker 0 only: worker 1's READY knows it (the shared presence).
                await watcher.identify(member)
                created = await watcher.recv_until("GUILD_CREATE")
                online = {p["user"]["id"]: p["status"] for p in created["d"]["presences"]}
                assert online.get(owner_id) == "online"
                async with gateway(http, cluster.worker_ports[1]) as second:
                    await second.identify(owner)  # now on both workers
                    # Each report in before the next step: otherwise worker 0's "gone" could
                    # land after worker 1's, a brief flicker that eventual presence allows and
                    # this test is not about.
                    await reported_by(redis_url, owner_id, 2)
                    await first.ws.close()  # worker 0's last session of the owner ends...
                    await reported_by(redis_url, owner_id, 1)
                    await second.send({"op": 3, "d": {"status": "dnd", "since": None,
                                                      "activities": [], "afk": False}})
                    # ... with no offline in between: the owner was still on worker 1.
                    assert await presence_of(watcher, owner_id) == "dnd"
                assert await presence_of(watcher, owner_id) == "offline"  # the last one ended


async def send_until_dead(client: GatewayClient, channel: str) -> list[str]:
    """Send op 50 messages one after the other until the connection dies; the acked ids."""
    acked: list[str] = []
    try:
        for i in range(100):  # under the gateway's 120 commands per minute
            await client.send({"op": 50, "d": {"channel_id": channel, "content": f"m{i}",
                                               "nonce": f"n{i}"}})
            echo = await client.recv_until("MESSAGE_CREATE")
            assert echo["d"]["nonce"] == f"n{i}"
            acked.append(echo["d"]["id"])
            await asyncio.sleep(0.01)  # so the kill lands mid-stream
    except (ConnectionError, aiohttp.ClientError, TimeoutError):
        pass
    return acked


async def test_killed_worker_is_replaced_and_no_acked_message_is_lost(
    cluster: Cluster,
) -> None:
    await wait_open(*cluster.worker_ports)
    async with aiohttp.ClientSession(base_url=cluster.http_url) as http:
        rest = Rest(http)
        owner, member, channel = await guild_of_two(rest)
        async with gateway(http, cluster.worker_ports[0]) as w0:
            await w0.identify(owner)
            async with gateway(http, cluster.worker_ports[1]) as w1:
                ready = await w1.identify(member)
                sender = asyncio.create_task(send_until_dead(w1, channel))
                await asyncio.sleep(0.3)
                killed = cluster.worker_pid(1)
                os.kill(killed, signal.SIGKILL)
                acked = await asyncio.wait_for(sender, 3 * TIMEOUT)
            assert acked, "nothing was sent before the kill"
            # The client comes back to the worker's own port: the session died with the
            # worker, so RESUME is refused (op 9) and the client identifies again.
            await cluster.replaced(1, killed)
            async with gateway(http, cluster.worker_ports[1]) as again:
                assert (await again.recv())["op"] == 10
                await again.send({"op": 6, "d": {"token": member, "seq": 1,
                                                 "session_id": ready["session_id"]}})
                invalid = await again.recv()
                assert invalid["op"] == 9 and invalid["d"] is False
            async with gateway(http, cluster.worker_ports[1]) as w1:
                await w1.identify(member)
                status, _ = await rest.call("POST", f"/channels/{channel}/messages", owner,
                                            {"content": "after"})
                assert status == 200
                assert (await w1.recv_until("MESSAGE_CREATE"))["d"]["content"] == "after"
        status, history = await rest.call("GET", f"/channels/{channel}/messages?limit=100",
                                          owner)
        assert status == 200
        stored = {m["id"] for m in history}
        assert set(acked) <= stored
        assert "worker 1" in cluster.stderr and "SIGKILL" in cluster.stderr
    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(20) == 0


async def test_a_worker_with_redis_uses_the_redis_bus_even_alone(
    tmp_path: Path, redis_url: str,
) -> None:
    platform = await open_platform(Config(redis_url=redis_url, data_dir=str(tmp_path)), 0)
    try:
        assert isinstance(platform.bus, RedisBus)
    finally:
        await platform.aclose()
