"""discord.py 2.7, unmodified, and THREAD_LIST_SYNC (core.thread_sync): the bot, given a
role that opens a hidden channel, learns that channel's active thread (``on_thread_join``,
``guild.get_thread``) without a new GUILD_CREATE."""

from __future__ import annotations

import asyncio

import discord

from core.permissions import Permission
from tests.compat.conftest import World
from tests.compat.test_discordpy import TIMEOUT, _client, pointed, running, waiter
from tests.integration.gateway_client import Server

__all__ = ["pointed"]  # the fixture, used by name

VIEW = int(Permission.VIEW_CHANNEL)


async def test_a_role_opening_a_channel_syncs_its_threads(pointed: Server,
                                                          world: World) -> None:
    api, owner, g = world.api, world.user, world.guild["id"]
    r = await api.post(f"/guilds/{g}/roles", owner.token, json={"name": "insiders"})
    insiders = r.body["id"]
    r = await api.post(f"/guilds/{g}/channels", owner.token, json={
        "name": "secret", "permission_overwrites": [
            {"id": g, "type": 0, "allow": "0", "deny": str(VIEW)},
            {"id": insiders, "type": 0, "allow": str(VIEW), "deny": "0"}]})
    assert r.status == 201, r.body
    secret = r.body["id"]
    r = await api.post(f"/channels/{secret}/threads", owner.token,
                       json={"name": "open talk", "type": 11})
    assert r.status == 201, r.body
    thread_id = int(r.body["id"])
    client = _client()
    async with running(client, world.bot.token):
        guild = client.get_guild(int(g))
        assert guild is not None and guild.get_thread(thread_id) is None
        joined = waiter(client, "thread_join")
        r = await api.put(f"/guilds/{g}/members/{world.bot.id}/roles/{insiders}", owner.token)
        assert r.status == 204, r.body
        thread = await asyncio.wait_for(joined, TIMEOUT)
        assert isinstance(thread, discord.Thread) and thread.id == thread_id
        assert thread.parent_id == int(secret) and thread.name == "open talk"
        assert guild.get_thread(thread_id) is thread
