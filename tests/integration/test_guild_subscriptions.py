"""Op 14 and op 37 through a real server: presences in a large guild follow subscriptions.

The guild counts as large above ``core.guilds.LARGE_THRESHOLD`` members; the test lowers it to
2 (read at each GUILD_CREATE) so three members make a large guild without 251 accounts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import core.guilds
from tests.api.conftest import Account, Api
from tests.integration.gateway_client import GatewayClient, Server, running_server
from tests.integration.test_gateway import _config


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    monkeypatch.setattr(core.guilds, "LARGE_THRESHOLD", 2)
    async with running_server(_config(tmp_path)) as s:
        yield s


async def _presences_until(ws: GatewayClient, who: Account, status: str) -> list[tuple[str, str]]:
    """The (user id, status) of every PRESENCE_UPDATE until ``who``'s with ``status``."""
    seen: list[tuple[str, str]] = []
    while True:
        d: dict[str, Any] = (await ws.recv_until("PRESENCE_UPDATE"))["d"]
        seen.append((d["user"]["id"], d["status"]))
        if seen[-1] == (who.id, status):
            return seen


@pytest.mark.parametrize("op", [14, 37])
async def test_user_session_in_a_large_guild_gets_the_presences_it_follows(
        server: Server, op: int) -> None:
    api = Api(server.http)
    a, b, c = await api.register(), await api.register(), await api.register()
    guild = await api.guild(a)
    await api.join(guild, a, b)
    await api.join(guild, a, c)
    async with server.connect() as wb:
        await wb.identify(b.token)
        created = await wb.recv_until("GUILD_CREATE")
        assert created["d"]["large"] is True
        members = {"members": [a.id]}
        await wb.send({"op": 14, "d": {"guild_id": guild["id"], **members}} if op == 14 else
                      {"op": 37, "d": {"subscriptions": {guild["id"]: members}}})
        async with server.connect() as wc, server.connect() as wa:
            await wc.identify(c.token)  # not followed: B does not hear of it
            await wa.identify(a.token)  # followed
            assert await _presences_until(wb, a, "online") == [(b.id, "online"), (a.id, "online")]
            await wa.send({"op": 3, "d": {"status": "dnd", "since": None, "activities": [],
                                          "afk": False}})
            assert await _presences_until(wb, a, "dnd") == [(a.id, "dnd")]
            # C, with every presence? No: a user account too. It follows no one yet.
            await wc.send({"op": 14, "d": {"guild_id": guild["id"], "members": [b.id]}})
            await wb.send({"op": 3, "d": {"status": "idle", "since": None, "activities": [],
                                          "afk": False}})
            assert await _presences_until(wc, b, "idle") == [(c.id, "online"), (b.id, "idle")]


async def test_bad_subscription_closes_with_4002(server: Server) -> None:
    api = Api(server.http)
    a = await api.register()
    async with server.connect() as ws:
        await ws.identify(a.token)
        await ws.send({"op": 14, "d": {"guild_id": "1", "members": ["x"]}})
        assert await ws.closed() == 4002
