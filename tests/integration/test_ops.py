"""The ops port of a worker: /metrics after real traffic, /healthz, /readyz (ready, draining,
a closed store, Redis cut off), and the lifecycle log lines (never a token)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.ops import create_ops_app
from core.bus.redis import open_redis_bus
from core.config import Config
from core.health import readiness
from core.logs import JsonFormatter, TextFormatter
from core.platform import Platform
from tests.api.conftest import Api
from tests.integration.gateway_client import TIMEOUT, Server, free_port, running_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _config(tmp_path: Path, **changes: Any) -> Config:
    base: dict[str, Any] = dict(
        data_dir=str(tmp_path), http_port=free_port(), gateway_port=free_port(),
        metrics_port=free_port(), argon2_time_cost=1, argon2_memory_kib=64,
        ratelimit_route_limit=1000, ratelimit_global_per_s=1000,
    )
    return Config(**{**base, **changes})


async def _ops_up(server: Server) -> str:
    """The ops base URL, once it answers (it starts after the gateway)."""
    base = f"http://127.0.0.1:{server.config.metrics_port}"
    async with asyncio.timeout(TIMEOUT):
        while True:
            try:
                async with server.http.get(base + "/healthz") as r:
                    if r.status == 200:
                        return base
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.02)


async def _scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    async with http.get(base + "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = await r.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running_server(_config(tmp_path)) as s:
        yield s


async def test_metrics_count_rest_requests_identifies_and_fanout(server: Server) -> None:
    base = await _ops_up(server)
    api = Api(server.http)
    a = await api.register()
    guild = await api.guild(a)
    channel_id = guild["channels"][0]["id"]
    async with server.connect() as ws:
        await ws.identify(a.token)
        connected = await _scrape(server.http, base)
        r = await api.post(f"/channels/{channel_id}/messages", a.token, json={"content": "hi"})
        assert r.status == 200, r.body
        await ws.recv_until("MESSAGE_CREATE")
    async with server.connect() as bad:
        await bad.recv()  # Hello
        await bad.send({"op": 2, "d": {"token": "not-a-token", "intents": 0,
                                       "properties": {"os": "l", "browser": "t", "device": "t"}}})
        assert await bad.closed() == 4004
    await asyncio.sleep(0.1)  # the server's side of the close
    got = await _scrape(server.http, base)

    assert _value(connected, "discord_arch_gateway_connections") == 1
    assert _value(connected, "discord_arch_gateway_sessions") == 1
    assert _value(got, "discord_arch_gateway_identifies_total", result="ok") == 1
    assert _value(got, "discord_arch_gateway_identifies_total", result="auth_failed") == 1
    assert _value(got, "discord_arch_gateway_closes_total", by="server", code="4004") == 1
    assert _value(got, "discord_arch_gateway_frames_in_total") >= 2
    assert _value(got, "discord_arch_gateway_frames_out_total") >= 4  # 2 hellos, READY, ...
    assert _value(got, "discord_arch_hub_events_total") >= 1
    assert _value(got, "discord_arch_hub_fanout_seconds_count") >= 1
    assert _value(got, "discord_arch_router_batch_messages_count") >= 1
    assert _value(got, "discord_arch_router_flush_seconds_count") >= 1
    register = dict(route="/api/v10/auth/register", method="POST", status="2xx")
    assert _value(got, "discord_arch_http_request_seconds_count", **register) == 1
    send = dict(route="/api/v10/channels/{channel_id}/messages", method="POST", status="2xx")
    assert _value(got, "discord_arch_http_request_seconds_count", **send) == 1

    await api.register()
    again = await _scrape(server.http, base)
    assert _value(again, "discord_arch_http_request_seconds_count", **register) == 2


async def test_unmatched_paths_share_one_route_label(server: Server) -> None:
    base = await _ops_up(server)
    for path in ("/api/v10/nope/1", "/api/v10/nope/2"):
        async with server.http.get(path) as r:
            assert r.status == 404
    got = await _scrape(server.http, base)
    assert _value(got, "discord_arch_http_request_seconds_count",
                  route="unmatched", method="GET", status="4xx") == 2


async def test_healthz_and_readyz_answer(server: Server) -> None:
    base = await _ops_up(server)
    async with server.http.get(base + "/readyz") as r:
        assert r.status == 200 and await r.json() == {"ready": True}
    async with server.http.get(base + "/healthz") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"


async def test_ratelimited_requests_are_counted(tmp_path: Path, aiohttp_client: Any) -> None:
    platform = await Platform.open(_config(tmp_path, ratelimit_route_limit=1))
    try:
        api = Api(await aiohttp_client(create_app(platform)))
        a = await api.register()
        statuses = [(await api.post("/guilds", a.token, json={"name": "g"})).status
                    for _ in range(3)]
        assert 429 in statuses
        samples = {(s.name, frozenset(s.labels.items())): s.value for f in
                   text_string_to_metric_families(platform.metrics.render().decode())
                   for s in f.samples}
        assert _value(samples, "discord_arch_http_ratelimited_total",
                      route="/api/v10/guilds", scope="user") == statuses.count(429)
    finally:
        await platform.aclose()


async def test_readyz_is_503_while_draining(tmp_path: Path, aiohttp_client: Any) -> None:
    platform = await Platform.open(_config(tmp_path))
    try:
        client = await aiohttp_client(create_ops_app(platform, draining=lambda: True))
        r = await client.get("/readyz")
        assert r.status == 503
        assert await r.json() == {"ready": False, "failed": {"worker": "draining"}}
        assert (await client.get("/healthz")).status == 200  # alive all the same
    finally:
        await platform.aclose()


async def test_readyz_is_503_naming_a_closed_store(tmp_path: Path, aiohttp_client: Any) -> None:
    platform = await Platform.open(_config(tmp_path))
    try:
        client = await aiohttp_client(create_ops_app(platform))
        assert (await client.get("/readyz")).status == 200
        await platform.meta.aclose()  # the SQLite connection behind meta and messages
        r = await client.get("/readyz")
        assert r.status == 503
        body = await r.json()
        assert body["ready"] is False and set(body["failed"]) == {"meta", "messages"}
        assert (await client.get("/healthz")).status == 200
        text = platform.metrics.render().decode()
        assert 'discord_arch_backend_errors_total{backend="' in text and 'where="ready"' in text
    finally:
        await platform.aclose()


class _Proxy:
    """A TCP (or Unix socket) forwarder to Redis that a test can cut, as a network would."""

    def __init__(self, url: str) -> None:
        self._target = urlsplit(url)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        """Listen; returns the Redis URL that goes through the proxy."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        path = self._target.path if self._target.scheme != "unix" else "/0"
        return urlunsplit(("redis", f"127.0.0.1:{port}", path, "", ""))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        t = self._target
        if t.scheme == "unix":
            up_r, up_w = await asyncio.open_unix_connection(t.path)
        else:
            up_r, up_w = await asyncio.open_connection(t.hostname, t.port or 6379)
        self._writers |= {writer, up_w}
        for src, dst in ((reader, up_w), (up_r, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


async def test_readiness_names_redis_when_it_is_cut_off(tmp_path: Path, redis_url: str) -> None:
    proxy = _Proxy(redis_url)
    url = await proxy.start()
    bus = await open_redis_bus(url, 0, prefix=f"ops-test-{free_port()}:")
    platform = await Platform.open(_config(tmp_path, redis_url=url), bus=bus)
    try:
        assert await readiness(platform, timeout_s=2) == {}
        await proxy.cut()
        failed = await readiness(platform, timeout_s=0.5)
        assert set(failed) == {"cache", "bus"}, failed
        assert failed["bus"] == "no answer within 0.5 s"
        assert "Error" in failed["cache"]
    finally:
        await platform.aclose()


async def test_lifecycle_is_logged_once_each_and_never_the_token(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api(server.http)
    a = await api.register()
    caplog.set_level(logging.DEBUG)
    async with server.connect() as ws:
        ready = await ws.identify(a.token)
        await ws.send({"op": 1, "d": 1})  # frames are never logged
        await ws.recv()
        await ws.ws.close(code=4000)  # not 1000, which would end the session
    async with server.connect() as again:
        await again.recv()
        await again.send({"op": 6, "d": {"token": a.token, "session_id": ready["session_id"],
                                         "seq": 1}})
        await again.recv_until("RESUMED")
    await asyncio.sleep(0.1)
    records = [r for r in caplog.records if r.name in ("gateway.server", "gateway.handler")]
    lines = [f.format(r) for r in records for f in (JsonFormatter(), TextFormatter())]
    assert lines and not any(a.token in line for line in lines)
    assert not any(a.token.split(".")[-1] in line for line in lines)
    messages = [r.getMessage() for r in records]
    assert messages.count(f"identified user {a.id}") == 1
    assert sum(m.startswith("gateway connect from 127.0.0.1:") for m in messages) == 2
    assert messages.count("resumed") == 1
    assert sum(m.startswith("gateway close ") for m in messages) == 2
    identified = next(r for r in records if r.getMessage().startswith("identified"))
    assert identified.session_id == ready["session_id"]  # type: ignore[attr-defined]
    assert identified.shard == [0, 1]  # type: ignore[attr-defined]
    assert all(r.levelno == logging.INFO for r in records)


async def test_timeline_stamps_sampled_sends_from_receipt_to_the_write(tmp_path: Path) -> None:
    """trace_sample_every=2: of four sends (two over REST, two by op 50) two are traced, each
    through every stage it has (op 50: handled too); /timeline?since= reads only newer ones."""
    async with running_server(_config(tmp_path, trace_sample_every=2)) as server:
        base = await _ops_up(server)
        async with server.http.get(base + "/timeline") as r:
            assert r.status == 200
            empty = await r.json()
        assert empty == {"every": 2, "seq": 0, "traces": 0, "stages": {}, "spans": {}}
        api = Api(server.http)
        a = await api.register()
        channel_id = (await api.guild(a))["channels"][0]["id"]
        async with server.connect() as ws:
            await ws.identify(a.token)
            for i in range(2):  # the second is sampled
                r = await api.post(f"/channels/{channel_id}/messages", a.token,
                                   json={"content": f"rest {i}"})
                assert r.status == 200, r.body
                await ws.recv_until("MESSAGE_CREATE")
            async with server.http.get(base + "/timeline") as r:
                rest = await r.json()
            for i in range(2):  # the second is sampled
                await ws.send({"op": 50, "d": {"channel_id": channel_id, "content": f"gw {i}",
                                               "nonce": f"n{i}"}})
                await ws.recv_until("MESSAGE_CREATE")
            await asyncio.sleep(0.05)  # the flush after the echo's write has ended
            async with server.http.get(base + "/timeline?since=1") as r:
                op50 = await r.json()
            async with server.http.get(base + "/timeline?since=x") as r:
                assert r.status == 400
    assert rest["seq"] == 1 and rest["traces"] == 1
    assert set(rest["stages"]) == {"validated", "queued", "writing", "durable", "published",
                                   "hub", "fanned", "written"}  # REST: no handled stage
    assert op50["seq"] == 2 and op50["traces"] == 1
    assert "handled" in op50["stages"]
    for report in (rest, op50):
        assert set(report["spans"]) == {"receive_to_durable", "receive_to_written",
                                        "durable_to_written"}
        assert all(s["p50"] >= 0 for s in report["stages"].values())
