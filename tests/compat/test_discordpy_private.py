"""discord.py, unmodified, and what a bot sees of group DMs and read states.

discord.py is a bot library: read states and group DMs belong to user accounts, and a bot
gets Discord's refusals. What can be checked from the bot's side: it cannot create a group DM
or acknowledge a message (403 20001, raised as ``discord.Forbidden``), it cannot be added to
one (50033), and the group DM object this server sends a user is one discord.py's
``GroupChannel`` reads (owner, name, icon, recipients), as a user-account fork of it would.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import discord
import discord.http
import pytest

from tests.api.test_attachments import png
from tests.compat.conftest import World
from tests.compat.test_discordpy import _client, point_at, running
from tests.integration.gateway_client import Server


@pytest.fixture
async def bot(server: Server, world: World,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[discord.Client]:
    point_at(server, monkeypatch)
    async with running(_client(), world.bot.token) as client:
        yield client


async def test_a_bot_cannot_create_a_group_dm_or_ack(bot: discord.Client, world: World) -> None:
    friend = await world.api.register("bob")
    route = discord.http.Route("POST", "/users/@me/channels")
    with pytest.raises(discord.Forbidden) as refused:
        await bot.http.request(route, json={"recipients": [world.user.id, friend.id]})
    assert refused.value.code == 20001
    channel = bot.get_channel(int(world.channel_id))
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("hello")
    ack = discord.http.Route("POST", "/channels/{channel_id}/messages/{message_id}/ack",
                             channel_id=channel.id, message_id=message.id)
    with pytest.raises(discord.Forbidden) as refused:
        await bot.http.request(ack, json={"token": None})
    assert refused.value.code == 20001


async def test_a_bot_is_no_group_dm_recipient(bot: discord.Client, world: World) -> None:
    api = world.api
    group = await api.post("/users/@me/channels", world.user.token, json={"recipients": []})
    r = await api.put(f"/channels/{group.body['id']}/recipients/{world.bot.id}",
                      world.user.token)
    assert r.status == 400 and r.body["code"] == 50033
    with pytest.raises(discord.Forbidden):
        await bot.fetch_channel(int(group.body["id"]))


async def test_discordpy_reads_a_group_dm_as_this_server_sends_it(
    bot: discord.Client, world: World
) -> None:
    api = world.api
    bob, carol = await api.register("bob"), await api.register("carol")
    created = await api.post("/users/@me/channels", world.user.token,
                             json={"recipients": [bob.id, carol.id]})
    group_id = created.body["id"]
    image = png(3, 3)
    r = await api.patch(f"/channels/{group_id}", bob.token, json={
        "name": "trip", "icon": "data:image/png;base64," + base64.b64encode(image).decode()})
    assert r.status == 200, r.body
    seen = (await api.get(f"/channels/{group_id}", world.user.token)).body
    assert bot.user is not None
    # As the user's own client would hold it (discord.py's ``me`` is the user then).
    me = discord.ClientUser(state=bot._connection, data={
        **(await api.get("/users/@me", world.user.token)).body})
    group = discord.GroupChannel(me=me, state=bot._connection, data=seen)
    assert group.id == int(group_id) and group.type is discord.ChannelType.group
    assert group.name == "trip" and group.icon is not None
    # Its Asset URL is /channel-icons/{id}/{hash}.png on this server: the image read back.
    assert group.icon.url.startswith(f"{discord.Asset.BASE}/channel-icons/{group_id}/")
    assert await asyncio.wait_for(group.icon.read(), 10) == image
    assert group.owner_id == int(world.user.id) and group.owner == me
    assert sorted(u.name for u in group.recipients) == ["bob", "carol"]
    assert str(group) == "trip"
