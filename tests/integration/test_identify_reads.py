"""Identifies read their READY snapshots at most ``IDENTIFY_READS_MAX`` at a time.

Every user of a worker identifying at once (a restart) must not have every snapshot in flight:
each holds its guilds' payloads until READY is encoded, and the store serves them one read at
a time anyway (gateway.handler; bench/RESULTS.md, idle memory). The rest wait their turn and
all get READY.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

import gateway.handler
from tests.api.conftest import Api
from tests.integration.gateway_client import TIMEOUT, Server


async def test_identifies_at_once_read_at_most_the_bound_and_all_get_ready(
    server: Server, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = gateway.handler.IDENTIFY_READS_MAX + 4
    accounts = [await api.register() for _ in range(users)]
    for account in accounts:
        await api.guild(account)
    reading = peak = arrived = 0
    everyone = asyncio.Event()  # every Identify has reached the handler
    real_identify = gateway.handler.CommandHandler._identify  # noqa: SLF001
    real = gateway.handler.guild_create_payload

    async def counted_identify(self: Any, *args: Any) -> Any:
        nonlocal arrived
        arrived += 1
        if arrived == users:
            everyone.set()
        return await real_identify(self, *args)

    async def held_payload(*args: Any) -> Any:
        nonlocal reading, peak
        reading += 1
        peak = max(peak, reading)
        try:
            # Held until every identify has arrived: unbounded, all of them would be here.
            await asyncio.wait_for(everyone.wait(), TIMEOUT)
            return await real(*args)
        finally:
            reading -= 1

    monkeypatch.setattr(gateway.handler.CommandHandler, "_identify", counted_identify)
    monkeypatch.setattr(gateway.handler, "guild_create_payload", held_payload)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(server.connect()) for _ in accounts]
        readies = await asyncio.gather(*(ws.identify(a.token) for ws, a in zip(sockets, accounts,
                                                                               strict=True)))
    assert [r["user"]["id"] for r in readies] == [a.id for a in accounts]
    assert peak == gateway.handler.IDENTIFY_READS_MAX
