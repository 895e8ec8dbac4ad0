"""On PostgreSQL, which cannot store U+0000: text fields refuse control characters as on
SQLite, and a row the store refuses fails only its own sender, never its batch's others.

Before, a NUL in a name was a 500 here (and stored on SQLite), and one member's NUL message
failed the concurrent sends of every other member batched with it (503 "The message could
not be saved; retry."). The boundary now refuses a NUL (``core.validate``); the router's
isolation (``core.router``) is checked with a row made bad behind the boundary, so the real
PostgreSQL refuses the real batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from core.config import Config
from core.models import Message
from core.platform import Platform
from tests.api.conftest import Api
from tests.api.test_text_fields import NUL, assert_refused, every_text_field_refuses_controls
from tests.integration.conftest import postgres_schema
from tests.integration.gateway_client import free_port, running_server

SENDS = 24
POISON = "poison"


def _config(tmp_path: Path, dsn: str, schema: str, **changes: Any) -> Config:
    joiner = "&" if "?" in dsn else "?"
    return Config(
        data_dir=str(tmp_path), postgres_url=f"{dsn}{joiner}search_path={schema}",
        argon2_time_cost=1, argon2_memory_kib=64, ratelimit_route_limit=1000,
        ratelimit_global_per_s=1000, **changes,
    )


@pytest.fixture
async def platform(tmp_path: Path, postgres_dsn: str) -> AsyncIterator[Platform]:
    # A short linger, so the concurrent sends below share batches.
    async with postgres_schema(postgres_dsn) as schema:
        p = await Platform.open(_config(tmp_path, postgres_dsn, schema, batch_max_delay_ms=20))
        try:
            yield p
        finally:
            await p.aclose()


@pytest.fixture
async def api(platform: Platform, aiohttp_client: Any) -> Api:
    return Api(await aiohttp_client(create_app(platform)))


async def test_every_text_field_refuses_controls_on_postgres(api: Api) -> None:
    await every_text_field_refuses_controls(api)


async def _two_senders(api: Api) -> tuple[Any, Any, str]:
    a, b = await api.register(), await api.register()
    guild = await api.guild(a)
    await api.join(guild, a, b)
    return a, b, guild["channels"][0]["id"]


async def test_a_nul_message_fails_only_its_sender(api: Api) -> None:
    a, b, channel = await _two_senders(api)
    path = f"/channels/{channel}/messages"
    sends = [api.post(path, b.token, json={"content": f"b{i}"}) for i in range(SENDS)]
    bad = [api.post(path, a.token, json={"content": NUL}),
           api.post(path, a.token, json={"content": "a", "nonce": "n\u0000"})]
    replies = await asyncio.gather(*sends[:12], *bad, *sends[12:])
    assert_refused(replies[12], "content")
    assert_refused(replies[13], "nonce")
    ok = replies[:12] + replies[14:]
    assert [r.status for r in ok] == [200] * SENDS, [r.body for r in ok if r.status != 200]


async def test_a_row_the_store_refuses_fails_only_its_sender(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message made bad behind the boundary: PostgreSQL refuses its whole batch, the router
    writes the others again without it."""
    a, b, channel = await _two_senders(api)
    store = platform.messages
    insert_many = store.insert_many
    batches: list[int] = []

    async def poisoned(messages: Sequence[Message]) -> None:
        batches.append(len(messages))
        await insert_many([dataclasses.replace(m, content=NUL) if m.content == POISON else m
                           for m in messages])

    monkeypatch.setattr(store, "insert_many", poisoned)
    path = f"/channels/{channel}/messages"
    sends = [api.post(path, b.token, json={"content": f"b{i}"}) for i in range(SENDS)]
    replies = await asyncio.gather(*sends[:12], api.post(path, a.token, json={"content": POISON}),
                                   *sends[12:])
    poison = replies[12]
    assert poison.status == 503 and poison.body["code"] == 0, poison.body
    ok = replies[:12] + replies[13:]
    assert [r.status for r in ok] == [200] * SENDS, [r.body for r in ok if r.status != 200]
    assert max(batches) > 1  # the bad row did share a batch with others
    history = await api.get(path, b.token, params={"limit": 100})
    assert sorted(m["content"] for m in history.body) == sorted(f"b{i}" for i in range(SENDS))


async def test_op50_with_a_nul_fails_with_50035_and_the_socket_stays(
    tmp_path: Path, postgres_dsn: str
) -> None:
    async with postgres_schema(postgres_dsn) as schema:
        config = _config(tmp_path, postgres_dsn, schema, http_port=free_port(),
                         gateway_port=free_port(), batch_max_delay_ms=0)
        async with running_server(config) as server:
            api = Api(server.http)
            a, _, channel = await _two_senders(api)
            async with server.connect() as ws:
                await ws.identify(a.token)
                await ws.send({"op": 50, "d": {"channel_id": channel, "content": NUL,
                                               "nonce": "x1"}})
                failed = await ws.recv_until("MESSAGE_SEND_FAILED")
                assert failed["d"]["code"] == 50035 and failed["d"]["nonce"] == "x1", failed
                await ws.send({"op": 50, "d": {"channel_id": channel, "content": "fine",
                                               "nonce": "x2"}})
                echo = await ws.recv_until("MESSAGE_CREATE")
                assert echo["d"]["content"] == "fine"
