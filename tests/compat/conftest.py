"""Fixtures for the compatibility tests: a real server and an account that owns a bot.

The server is :func:`gateway.worker.serve` in the test's own loop on free ports, as in the
gateway integration tests, so a client library can run in the same loop (``await
client.login``, ``create_task(client.connect())``). ``world`` is what every test starts from:
a user who registered over REST, their guild, and a bot application added to that guild.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from tests.api.conftest import Account, Api
from tests.integration.gateway_client import Server, free_port, running_server

__all__ = ["World", "compat_config", "make_world"]

with warnings.catch_warnings():
    # discord.py imports the standard library's audioop (voice), deprecated since Python 3.11;
    # imported here once, so its import-time warning does not end up in every report.
    warnings.simplefilter("ignore", DeprecationWarning)
    import discord  # noqa: F401


def compat_config(tmp_path: Path, **changes: Any) -> Config:
    """A server config on free ports with cheap hashing and (by default) loose rate limits."""
    settings: dict[str, Any] = {
        "data_dir": str(tmp_path), "http_port": free_port(), "gateway_port": free_port(),
        "argon2_time_cost": 1, "argon2_memory_kib": 64, "ratelimit_route_limit": 1000,
        "ratelimit_global_per_s": 1000, "batch_max_delay_ms": 0,
    }
    settings.update(changes)
    return Config(**settings)


@dataclass
class World:
    """A user, their guild (with its channels) and their bot, a member of the guild."""

    api: Api
    user: Account
    guild: dict[str, Any]
    bot: Account

    @property
    def channel_id(self) -> str:
        """The guild's first text channel (every new guild has one)."""
        return str(self.guild["channels"][0]["id"])


async def make_world(server: Server) -> World:
    """Register a user over REST, create a guild and a bot application, add the bot."""
    api = Api(server.http)
    user = await api.register("alice")
    guild = await api.guild(user, "Compat Guild")
    r = await api.post("/applications", user.token, json={"name": "Compat Bot"})
    assert r.status == 201, r.body
    bot = Account(r.body["token"], r.body["bot"]["id"], r.body["bot"]["username"])
    r = await api.put(f"/guilds/{guild['id']}/members/{bot.id}", user.token)
    assert r.status in (200, 201, 204), r.body
    return World(api, user, guild, bot)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """A server with the default (loose) test limits."""
    async with running_server(compat_config(tmp_path)) as s:
        yield s


@pytest.fixture
async def world(server: Server) -> World:
    return await make_world(server)
