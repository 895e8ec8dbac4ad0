"""discord.py, unmodified, against a real server: login, READY, messages, typing, reactions,
pins, webhooks, application commands (tree.sync) and their interactions, resume, rate limits,
sharding, member timeouts, bans and the audit log.

The library is pointed at the server only through the three class attributes a user would
set (``Route.BASE``, ``DiscordWebSocket.DEFAULT_GATEWAY``, ``Asset.BASE``; restored after
each test). The client runs in the test's loop beside the server: ``await client.login``,
``create_task(client.connect())``, ``await client.close()``. The user's side is a plain
gateway connection (``tests/integration/gateway_client.py``) and REST. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib.util
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import discord
import discord.asset
import discord.gateway
import discord.http
import discord.utils
import pytest
import yarl
from discord import app_commands

from core.shard import shard_of
from tests.api.conftest import Api
from tests.compat.conftest import World, compat_config, make_world
from tests.integration.gateway_client import GatewayClient, Server, running_server

TIMEOUT = 10.0
# discord.py waits this long after the last GUILD_CREATE before on_ready (default 2 s, for
# guilds trickling in over the internet); on loopback they are all there at once.
GUILD_READY_TIMEOUT = 0.3


# -- pointing discord.py at the server -------------------------------------------------------


def point_at(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's three assignments (``monkeypatch`` undoes them after the test)."""
    cfg = server.config
    monkeypatch.setattr(discord.http.Route, "BASE", f"{cfg.http_url}/api/v10")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        yarl.URL(f"{cfg.gateway_url}/"))
    monkeypatch.setattr(discord.asset.Asset, "BASE", cfg.http_url)


@pytest.fixture
def pointed(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The default server, with discord.py pointed at it."""
    point_at(server, monkeypatch)
    return server


def _zlib_context() -> type:
    """discord.py's own zlib-stream decompressor, which it uses when zstandard is missing.

    discord.py picks ``zstd-stream`` at import when ``zstandard`` is importable (it is one of
    our dependencies) and only then defines the zlib class; so ``discord/utils.py`` is loaded
    a second time, as a separate module with zstandard hidden, to get the class a machine
    without zstandard runs.
    """
    origin = importlib.util.find_spec("discord.utils").origin  # type: ignore[union-attr]
    spec = importlib.util.spec_from_file_location("discord._utils_without_zstd", origin)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(sys.modules, {"zstandard": None, "compression.zstd": None}):
        spec.loader.exec_module(module)
    return module._ZlibDecompressionContext  # type: ignore[no-any-return]


@pytest.fixture(params=["zlib-stream", "zstd-stream"])
def compression(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each of discord.py's two transport compressions (it asks for one, never none)."""
    active = discord.utils._ActiveDecompressionContext
    if request.param == "zlib-stream":
        monkeypatch.setattr(discord.utils, "_ActiveDecompressionContext", _zlib_context())
    else:  # the default wherever zstandard is installed, which our dependencies guarantee
        assert active.COMPRESSION_TYPE == "zstd-stream", "zstandard is not importable"
    return str(request.param)


def _intents(message_content: bool = True) -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = message_content
    return intents


def _client(intents: discord.Intents | None = None) -> discord.Client:
    return discord.Client(intents=intents or _intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)


@asynccontextmanager
async def running(client: discord.Client, token: str) -> AsyncIterator[discord.Client]:
    """Log ``client`` in, connect it in a task and wait (bounded) for ``on_ready``; close it
    at exit and check that ``connect()`` ended cleanly."""
    connect: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(client.login(token), TIMEOUT)
        connect = asyncio.create_task(client.connect())
        ready = asyncio.ensure_future(client.wait_until_ready())
        done, _ = await asyncio.wait({connect, ready}, timeout=TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if connect.done():
                connect.result()  # raise why it stopped
            raise AssertionError(f"no on_ready within {TIMEOUT} s")
        yield client
    finally:
        await asyncio.wait_for(client.close(), TIMEOUT)  # also closes its HTTP session
        if connect is not None:
            await asyncio.wait_for(connect, TIMEOUT)


async def until(ws: GatewayClient, name: str,
                check: Callable[[dict[str, Any]], bool] = lambda d: True) -> dict[str, Any]:
    """The ``d`` of the user's next ``name`` dispatch that passes ``check``."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            payload = await ws.recv()
            if payload.get("t") == name and check(payload["d"]):
                return payload["d"]  # type: ignore[no-any-return]


def waiter(client: discord.Client, event: str, check: Callable[..., bool] | None = None
           ) -> asyncio.Future[Any]:
    """``client.wait_for`` started now (before what triggers it), bounded by TIMEOUT."""
    return asyncio.ensure_future(client.wait_for(event, check=check, timeout=TIMEOUT))


# -- tests ------------------------------------------------------------------------------------


async def test_ready_message_reply_edit_delete_and_typing(
    pointed: Server, world: World, compression: str
) -> None:
    guild_id, channel_id = int(world.guild["id"]), int(world.channel_id)
    user_id, bot_id = int(world.user.id), int(world.bot.id)
    client = _client()
    async with pointed.connect() as ws, running(client, world.bot.token):
        await ws.identify(world.user.token)
        assert type(client.ws._decompressor).COMPRESSION_TYPE == compression
        assert client.user is not None and client.user.id == bot_id and client.user.bot
        assert client.application_id == bot_id
        guild = client.get_guild(guild_id)
        assert guild is not None and guild.name == "Compat Guild"
        assert guild.owner_id == user_id and guild.get_member(bot_id) is not None
        channel = guild.get_channel(channel_id)
        assert isinstance(channel, discord.TextChannel)
        assert channel.permissions_for(guild.me).send_messages

        # The user's message reaches on_message with its content (MESSAGE_CONTENT intent).
        got = waiter(client, "message", lambda m: m.author.id == user_id)
        r = await world.api.post(f"/channels/{channel_id}/messages", world.user.token,
                                 json={"content": "hello bot"})
        assert r.status == 200, r.body
        message: discord.Message = await got
        assert message.id == int(r.body["id"]) and message.content == "hello bot"
        assert message.channel.id == channel_id and message.guild == guild
        # A Member (not a bare User): GUILD_CREATE's members and the event's member agree.
        assert isinstance(message.author, discord.Member)

        reply = await asyncio.wait_for(message.reply("pong: hello bot"), TIMEOUT)
        seen = await until(ws, "MESSAGE_CREATE", lambda d: d["id"] == str(reply.id))
        assert seen["author"]["id"] == str(bot_id) and seen["content"] == "pong: hello bot"
        assert seen["message_reference"]["message_id"] == str(message.id)
        assert reply.reference is not None and reply.reference.message_id == message.id

        async with channel.typing():
            typing = await until(ws, "TYPING_START")
        assert typing["user_id"] == str(bot_id) and typing["channel_id"] == str(channel_id)

        edited = await asyncio.wait_for(reply.edit(content="pong, edited"), TIMEOUT)
        assert edited.content == "pong, edited" and edited.edited_at is not None
        seen = await until(ws, "MESSAGE_UPDATE", lambda d: d["id"] == str(reply.id))
        assert seen["content"] == "pong, edited"

        await asyncio.wait_for(reply.delete(), TIMEOUT)
        seen = await until(ws, "MESSAGE_DELETE")
        assert seen == {"id": str(reply.id), "channel_id": str(channel_id),
                        "guild_id": str(guild_id)}

        history = [m async for m in channel.history(limit=10)]
        assert [(m.id, m.content) for m in history] == [(message.id, "hello bot")]


async def test_without_message_content_intent_content_is_empty(
    pointed: Server, world: World
) -> None:
    user_id = int(world.user.id)
    client = _client(_intents(message_content=False))
    async with running(client, world.bot.token):
        got = waiter(client, "message", lambda m: m.author.id == user_id)
        r = await world.api.post(f"/channels/{world.channel_id}/messages", world.user.token,
                                 json={"content": "secret"})
        assert r.status == 200, r.body
        message: discord.Message = await got
        assert message.id == int(r.body["id"]) and message.content == ""


async def test_guild_changes_reach_the_bot_as_events(pointed: Server, world: World) -> None:
    """What the user does in the guild arrives as discord.py events, its cache kept current."""
    api, user, guild_id = world.api, world.user, int(world.guild["id"])
    client = _client(discord.Intents.all())
    async with running(client, world.bot.token):
        guild = client.get_guild(guild_id)
        assert guild is not None and guild.chunked and len(guild.members) == 2

        got = waiter(client, "guild_channel_create")
        r = await api.post(f"/guilds/{guild_id}/channels", user.token, json={"name": "new"})
        assert r.status == 201, r.body
        channel = await got
        assert channel.id == int(r.body["id"]) and guild.get_channel(channel.id) is channel

        got = waiter(client, "typing")
        r = await api.post(f"/channels/{channel.id}/typing", user.token)
        assert r.status == 204, r.body
        where, who, _ = await got
        assert where == channel and who.id == int(user.id)

        got = waiter(client, "message")
        r = await api.post(f"/channels/{channel.id}/messages", user.token, json={"content": "a"})
        message = await got
        got = waiter(client, "message_edit")
        r = await api.patch(f"/channels/{channel.id}/messages/{message.id}", user.token,
                            json={"content": "b"})
        assert r.status == 200, r.body
        before, after = await got
        assert (before.content, after.content) == ("a", "b") and after.edited_at is not None
        got = waiter(client, "message_delete")
        r = await api.delete(f"/channels/{channel.id}/messages/{message.id}", user.token)
        assert r.status == 204, r.body
        assert (await got).id == message.id

        bob = await api.register("bob")
        got = waiter(client, "member_join")
        await api.join(world.guild, user, bob)
        assert (await got).id == int(bob.id) and guild.get_member(int(bob.id)) is not None

        # The bot added to another guild: a join (on_guild_join), then its deletion.
        got = waiter(client, "guild_join")
        second = await api.guild(user, "Second")
        r = await api.put(f"/guilds/{second['id']}/members/{world.bot.id}", user.token)
        assert r.status in (200, 201, 204), r.body
        joined = await got
        assert joined.id == int(second["id"]) and joined.name == "Second"
        assert [c.name for c in joined.text_channels] == ["general"]
        got = waiter(client, "guild_remove")
        r = await api.delete(f"/guilds/{second['id']}", user.token)
        assert r.status == 204, r.body
        assert (await got).id == joined.id and client.get_guild(joined.id) is None


async def test_member_timeout_from_the_bot_holds_until_lifted(pointed: Server, world: World) -> None:
    """``Member.timeout``: the PATCH discord.py sends, its answer and GUILD_MEMBER_UPDATE parse
    into a timed-out member; the member cannot send until ``timeout(None)``."""
    api, user, guild_id = world.api, world.user, int(world.guild["id"])
    r = await api.post(f"/guilds/{guild_id}/roles", user.token,
                       json={"name": "mod", "permissions": str(1 << 40)})  # MODERATE_MEMBERS
    assert r.status in (200, 201), r.body
    assert (await api.put(f"/guilds/{guild_id}/members/{world.bot.id}/roles/{r.body['id']}",
                          user.token)).status == 204
    bob = await api.register("bob")
    await api.join(world.guild, user, bob)
    send = f"/channels/{world.guild['channels'][0]['id']}/messages"
    client = _client(discord.Intents.all())
    async with running(client, world.bot.token):
        guild = client.get_guild(guild_id)
        assert guild is not None
        member = await guild.fetch_member(int(bob.id))
        updated = waiter(client, "member_update", lambda b, a: a.id == int(bob.id))
        await member.timeout(datetime.timedelta(minutes=5), reason="spam")
        _, after = await updated
        assert after.is_timed_out() and after.timed_out_until is not None
        fetched = await guild.fetch_member(int(bob.id))
        assert fetched.timed_out_until == after.timed_out_until
        r = await api.post(send, bob.token, json={"content": "muted?"})
        assert r.status == 403 and r.body["code"] == 50013, r.body
        lifted = await fetched.edit(timed_out_until=None)  # what timeout(None) sends
        assert lifted is not None and not lifted.is_timed_out()
        assert (await api.post(send, bob.token, json={"content": "back"})).status == 200


async def test_avatar_and_icon_edits_give_asset_urls_on_the_server(
    pointed: Server, world: World
) -> None:
    # discord.py sends images as data URIs; the URLs it builds use Asset.BASE.
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    base = pointed.config.http_url
    client = _client()
    client_user_id, guild_id = int(world.bot.id), int(world.guild["id"])
    async with running(client, world.bot.token):
        assert client.user is not None
        me = await asyncio.wait_for(client.user.edit(avatar=png), TIMEOUT)
        assert me.avatar is not None
        assert me.avatar.url.startswith(f"{base}/avatars/{client_user_id}/{me.avatar.key}.png")
        got = waiter(client, "guild_update")
        r = await world.api.patch(f"/guilds/{guild_id}", world.user.token, json={
            "icon": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"})
        assert r.status == 200, r.body
        _, guild = await got
        assert guild.icon is not None and guild.icon.url.startswith(f"{base}/icons/{guild_id}/")


async def test_reactions_from_the_bot_and_the_user(pointed: Server, world: World) -> None:
    """``add_reaction``, ``remove_reaction`` (own, and another's with MANAGE_MESSAGES),
    ``clear_reaction``, ``clear_reactions``, ``Reaction.users()``, ``fetch_message``'s
    ``reactions``, and ``on_raw_reaction_add``/``on_reaction_add`` for the user's reaction."""
    api, user, guild_id = world.api, world.user, int(world.guild["id"])
    user_id, bot_id = int(user.id), int(world.bot.id)
    r = await api.post(f"/guilds/{guild_id}/roles", user.token,
                       json={"name": "mod", "permissions": str(1 << 13)})  # MANAGE_MESSAGES
    assert r.status in (200, 201), r.body
    assert (await api.put(f"/guilds/{guild_id}/members/{bot_id}/roles/{r.body['id']}",
                          user.token)).status == 204
    thumbs, heart = "\N{THUMBS UP SIGN}", "\N{HEAVY BLACK HEART}\ufe0f"
    client = _client()
    async with pointed.connect() as ws, running(client, world.bot.token):
        await ws.identify(user.token)
        got = waiter(client, "message", lambda m: m.author.id == user_id)
        r = await api.post(f"/channels/{world.channel_id}/messages", user.token,
                           json={"content": "react to me"})
        assert r.status == 200, r.body
        message: discord.Message = await got

        await asyncio.wait_for(message.add_reaction(thumbs), TIMEOUT)
        seen = await until(ws, "MESSAGE_REACTION_ADD")
        assert seen["user_id"] == str(bot_id) and seen["emoji"] == {"id": None, "name": thumbs}
        assert seen["message_author_id"] == str(user_id)

        # The user reacts: the raw event (with the member) and the rich one (cached message).
        raw = waiter(client, "raw_reaction_add", lambda p: p.user_id == user_id)
        rich = waiter(client, "reaction_add", lambda rc, u: u.id == user_id)
        path = f"/channels/{world.channel_id}/messages/{message.id}/reactions"
        r = await api.put(f"{path}/%E2%9D%A4%EF%B8%8F/@me", user.token)
        assert r.status == 204, r.body
        payload: discord.RawReactionActionEvent = await raw
        assert payload.message_id == message.id and payload.guild_id == guild_id
        assert payload.emoji.name == heart and payload.emoji.id is None
        assert payload.member is not None and payload.member.id == user_id
        assert payload.message_author_id == user_id and payload.burst is False
        assert payload.type is discord.ReactionType.normal
        reaction, who = await rich
        assert str(reaction.emoji) == heart and reaction.count == 1 and who.id == user_id

        fetched = await asyncio.wait_for(message.channel.fetch_message(message.id), TIMEOUT)
        counts = {str(rc.emoji): (rc.count, rc.me, rc.normal_count) for rc in fetched.reactions}
        assert counts == {thumbs: (1, True, 1), heart: (1, False, 1)}
        users = [u.id async for u in fetched.reactions[1].users()]
        assert users == [user_id]
        more = [u.id async for u in fetched.reactions[0].users(limit=10)]
        assert more == [bot_id]

        # Another user's reaction (MANAGE_MESSAGES), then the bot's own.
        removed = waiter(client, "raw_reaction_remove", lambda p: p.user_id == user_id)
        await asyncio.wait_for(message.remove_reaction(heart, discord.Object(user_id)), TIMEOUT)
        assert (await removed).emoji.name == heart
        await asyncio.wait_for(message.remove_reaction(thumbs, client.user), TIMEOUT)  # type: ignore[arg-type]
        seen = await until(ws, "MESSAGE_REACTION_REMOVE", lambda d: d["user_id"] == str(bot_id))
        fetched = await asyncio.wait_for(message.channel.fetch_message(message.id), TIMEOUT)
        assert fetched.reactions == []

        # Clearing one emoji, then all of them.
        await asyncio.wait_for(message.add_reaction(thumbs), TIMEOUT)
        await asyncio.wait_for(message.add_reaction(heart), TIMEOUT)
        cleared = waiter(client, "raw_reaction_clear_emoji")
        await asyncio.wait_for(message.clear_reaction(thumbs), TIMEOUT)
        assert (await cleared).emoji.name == thumbs
        cleared_all = waiter(client, "raw_reaction_clear")
        await asyncio.wait_for(message.clear_reactions(), TIMEOUT)
        assert (await cleared_all).message_id == message.id
        fetched = await asyncio.wait_for(message.channel.fetch_message(message.id), TIMEOUT)
        assert fetched.reactions == []

        # A custom emoji the guild does not have (it has none): Discord's 10014.
        with pytest.raises(discord.HTTPException) as info:
            await asyncio.wait_for(message.add_reaction("<:blob:123456789012345678>"), TIMEOUT)
        assert info.value.status == 400 and info.value.code == 10014


async def test_pin_unpin_and_pins_from_the_bot(pointed: Server, world: World) -> None:
    """``Message.pin``/``unpin`` and ``channel.pins()`` over Discord's newer routes: the edit,
    the pins update and the type 6 system message arrive as discord.py events."""
    bot_id = int(world.bot.id)
    r = await world.api.post(f"/guilds/{world.guild['id']}/roles", world.user.token,
                             json={"name": "pinner", "permissions": str(1 << 51)})  # PIN_MESSAGES
    assert r.status in (200, 201), r.body
    assert (await world.api.put(f"/guilds/{world.guild['id']}/members/{bot_id}/roles/"
                                f"{r.body['id']}", world.user.token)).status == 204
    client = _client()
    async with pointed.connect() as ws, running(client, world.bot.token):
        await ws.identify(world.user.token)
        channel = client.get_channel(int(world.channel_id))
        assert isinstance(channel, discord.TextChannel)
        first = await asyncio.wait_for(channel.send("pin me"), TIMEOUT)
        second = await asyncio.wait_for(channel.send("and me"), TIMEOUT)

        edited = waiter(client, "message_edit", lambda b, a: a.id == first.id)
        pins_update = waiter(client, "guild_channel_pins_update")
        system = waiter(client, "message", lambda m: m.type is discord.MessageType.pins_add)
        await asyncio.wait_for(first.pin(), TIMEOUT)
        before, after = await edited
        assert before.pinned is False and after.pinned is True
        where, last_pin = await pins_update
        assert where == channel and last_pin is not None
        notice: discord.Message = await system
        assert notice.author.id == bot_id and notice.reference is not None
        assert notice.reference.message_id == first.id
        assert notice.system_content == f"{client.user.name} pinned a message to this channel."  # type: ignore[union-attr]
        seen = await until(ws, "CHANNEL_PINS_UPDATE")
        assert seen["channel_id"] == world.channel_id and seen["guild_id"] == world.guild["id"]

        await asyncio.wait_for(second.pin(), TIMEOUT)
        pins = [m async for m in channel.pins()]
        assert [m.id for m in pins] == [second.id, first.id]
        assert all(m.pinned and m.pinned_at is not None for m in pins)
        assert pins[0].pinned_at > pins[1].pinned_at  # type: ignore[operator]
        oldest = [m.id async for m in channel.pins(oldest_first=True)]
        assert oldest == [first.id, second.id]
        fetched = await asyncio.wait_for(channel.fetch_message(first.id), TIMEOUT)
        assert fetched.pinned

        await asyncio.wait_for(second.unpin(), TIMEOUT)
        await asyncio.wait_for(first.unpin(), TIMEOUT)
        assert [m async for m in channel.pins()] == []
        fetched = await asyncio.wait_for(channel.fetch_message(first.id), TIMEOUT)
        assert not fetched.pinned
        # A system message is no pin: Discord's 50021.
        with pytest.raises(discord.HTTPException) as info:
            await asyncio.wait_for(notice.pin(), TIMEOUT)
        assert info.value.status == 400 and info.value.code == 50021


def _transport_of(client: discord.Client) -> asyncio.Transport:
    """The TCP transport under discord.py's gateway websocket (an aiohttp client socket)."""
    connection = client.ws.socket._response.connection
    assert connection is not None and connection.transport is not None
    return connection.transport  # type: ignore[return-value]


async def test_dropped_connection_resumes_and_replays_missed_messages(
    pointed: Server, world: World
) -> None:
    user_id = int(world.user.id)
    client = _client()
    readies: list[None] = []
    client.event(_appender("on_ready", readies))
    async with running(client, world.bot.token):
        session_id = client.ws.session_id
        # Hold discord.py's reconnection until a message has been sent while it is away.
        gate, reconnecting = asyncio.Event(), asyncio.Event()
        connect = client.http.ws_connect

        async def held_connect(url: str, **kwargs: Any) -> Any:
            reconnecting.set()
            await gate.wait()
            return await connect(url, **kwargs)

        client.http.ws_connect = held_connect  # type: ignore[method-assign]
        resumed = waiter(client, "resumed")
        got = waiter(client, "message", lambda m: m.author.id == user_id)
        _transport_of(client).abort()  # no close frame: the TCP connection just ends
        await asyncio.wait_for(reconnecting.wait(), TIMEOUT)
        r = await world.api.post(f"/channels/{world.channel_id}/messages", world.user.token,
                                 json={"content": "while you were away"})
        assert r.status == 200, r.body
        gate.set()
        await resumed
        message: discord.Message = await got
        assert message.id == int(r.body["id"]) and message.content == "while you were away"
        assert client.ws.session_id == session_id  # the same session: resumed, not a new one
        assert len(readies) == 1

        # And the resumed connection carries new events too.
        got = waiter(client, "message", lambda m: m.author.id == user_id)
        r = await world.api.post(f"/channels/{world.channel_id}/messages", world.user.token,
                                 json={"content": "welcome back"})
        assert (await got).content == "welcome back"


def _appender(name: str, into: list[None]) -> Callable[[], Any]:
    async def handler() -> None:
        into.append(None)

    handler.__name__ = name
    return handler


async def test_server_restart_bot_comes_back_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops (op 7 Reconnect, then close 1012) and starts again on the same ports
    and data: the session is gone, so discord.py's RESUME gets op 9 and it identifies anew."""
    config = compat_config(tmp_path)
    readies: list[None] = []
    client = _client()
    client.event(_appender("on_ready", readies))
    bot: contextlib.AbstractAsyncContextManager[discord.Client] | None = None
    try:
        async with running_server(config) as server:
            point_at(server, monkeypatch)
            world = await make_world(server)
            bot = running(client, world.bot.token)  # outlives this server
            await bot.__aenter__()
            old_session = client.ws.session_id
        async with running_server(config) as server:
            # discord.py waits 5 s before any identify but its first (before_identify_hook).
            await asyncio.wait_for(client.wait_for("ready"), TIMEOUT + 5)
            assert len(readies) == 2 and client.ws.session_id != old_session
            got = waiter(client, "message", lambda m: m.author.id == int(world.user.id))
            r = await Api(server.http).post(f"/channels/{world.channel_id}/messages",
                                            world.user.token, json={"content": "after restart"})
            assert r.status == 200, r.body
            assert (await got).content == "after restart"
            closing, bot = bot, None
            await closing.__aexit__(None, None, None)  # while the server is up
    finally:
        if bot is not None:
            await bot.__aexit__(None, None, None)


async def test_429_on_send_is_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With two sends per second allowed, the bucket is first used up by the same bot token
    from elsewhere, so discord.py, which cannot know it, gets a 429 and must wait and retry."""
    config = compat_config(tmp_path, ratelimit_route_limit=2, ratelimit_route_window_ms=1000)
    async with running_server(config) as server:
        point_at(server, monkeypatch)
        world = await make_world(server)
        client = _client()
        async with running(client, world.bot.token):
            channel = client.get_channel(int(world.channel_id))
            assert isinstance(channel, discord.TextChannel)
            path = f"/channels/{world.channel_id}/messages"
            for i in range(2):
                r = await world.api.post(path, world.bot.token, bot=True,
                                         json={"content": f"elsewhere {i}"})
                assert r.status == 200, r.body
            r = await world.api.post(path, world.bot.token, bot=True, json={"content": "no"})
            assert r.status == 429 and r.headers["Via"], r.body
            with caplog.at_level(logging.WARNING, logger="discord.http"):
                sent = [await asyncio.wait_for(channel.send(f"m{i}"), TIMEOUT) for i in range(4)]
            assert any("responded with 429" in rec.getMessage() for rec in caplog.records)
            history = await world.api.get(path, world.user.token, params={"limit": 10})
            assert history.status == 200, history.body
            contents = [m["content"] for m in reversed(history.body)]
            assert contents == ["elsewhere 0", "elsewhere 1", "m0", "m1", "m2", "m3"]
            assert [str(m.id) for m in sent] == [m["id"] for m in reversed(history.body)][2:]


async def test_auto_sharded_client_gets_each_guild_on_one_shard(
    pointed: Server, world: World
) -> None:
    api, user, bot = world.api, world.user, world.bot
    guild_ids = [int(world.guild["id"])]
    # Guild ids are time-based snowflakes: make guilds until both shards have one.
    while len({shard_of(g, 2) for g in guild_ids}) < 2 or len(guild_ids) < 3:
        assert len(guild_ids) < 20, "every new guild landed on the same shard"
        guild = await api.guild(user, f"Guild {len(guild_ids)}")
        r = await api.put(f"/guilds/{guild['id']}/members/{bot.id}", user.token)
        assert r.status in (200, 201, 204), r.body
        guild_ids.append(int(guild["id"]))
        await asyncio.sleep(0.003)  # another millisecond, another parity

    client = discord.AutoShardedClient(intents=_intents(), shard_count=2,
                                       guild_ready_timeout=GUILD_READY_TIMEOUT)
    # What each shard's READY listed, read as discord.py parses it.
    per_shard: dict[int, list[int]] = {}
    parse_ready = client._connection.parsers["READY"]

    def record_ready(data: dict[str, Any]) -> None:
        per_shard[data["shard"][0]] = [int(g["id"]) for g in data["guilds"]]
        parse_ready(data)

    client._connection.parsers["READY"] = record_ready
    async with running(client, bot.token):
        assert sorted(per_shard) == [0, 1]
        for shard_id, ids in per_shard.items():
            assert ids and all(shard_of(g, 2) == shard_id for g in ids), (shard_id, ids)
        assert sorted(per_shard[0] + per_shard[1]) == sorted(guild_ids)
        assert sorted(g.id for g in client.guilds) == sorted(guild_ids)
        assert all(not g.unavailable for g in client.guilds)
        assert sorted(client.shards) == [0, 1]


async def test_webhooks_from_the_bot_and_through_their_url(pointed: Server, world: World) -> None:
    """``channel.create_webhook``/``webhooks()``, then ``Webhook.from_url`` with the URL as
    discord.py builds it (discord.com's, the one form it parses; ``Route.BASE`` sends it here)
    ``.send(wait=True)``, ``edit_message``, ``delete_message``; ``Webhook.edit`` (the bot's
    token, then the webhook's) and ``delete``; ``on_webhooks_update`` and the message events;
    the bot's webhook's ``send(view=...)`` with a button a user clicks (the view's callback
    answers)."""
    bot_id = int(world.bot.id)
    r = await world.api.post(f"/guilds/{world.guild['id']}/roles", world.user.token,
                             json={"name": "hooks", "permissions": str(1 << 29)})  # MANAGE_WEBHOOKS
    assert r.status in (200, 201), r.body
    assert (await world.api.put(f"/guilds/{world.guild['id']}/members/{bot_id}/roles/"
                                f"{r.body['id']}", world.user.token)).status == 204
    client = _client()
    async with pointed.connect() as ws, running(client, world.bot.token), \
            aiohttp.ClientSession() as session:
        await ws.identify(world.user.token)
        channel = client.get_channel(int(world.channel_id))
        assert isinstance(channel, discord.TextChannel)
        updated = waiter(client, "webhooks_update")
        hook = await asyncio.wait_for(
            channel.create_webhook(name="Deploys", avatar=b"\x89PNG\r\n\x1a\n-image"), TIMEOUT)
        assert await updated == channel
        assert hook.channel_id == channel.id and hook.user is not None and hook.user.id == bot_id
        assert hook.token and hook.avatar is not None and hook.name == "Deploys"
        listed = await asyncio.wait_for(channel.webhooks(), TIMEOUT)
        assert [(h.id, h.token) for h in listed] == [(hook.id, hook.token)]
        assert hook.url == f"https://discord.com/api/webhooks/{hook.id}/{hook.token}"

        remote = discord.Webhook.from_url(hook.url, session=session)
        seen = waiter(client, "message", lambda m: m.webhook_id == hook.id)
        sent = await asyncio.wait_for(remote.send("built", username="CI", wait=True), TIMEOUT)
        assert isinstance(sent, discord.WebhookMessage) and sent.webhook_id == hook.id
        assert sent.author.name == "CI" and sent.author.bot and sent.author.id == hook.id
        message: discord.Message = await seen
        assert message.id == sent.id and message.content == "built"
        assert message.author.name == "CI" and message.webhook_id == hook.id
        got = await until(ws, "MESSAGE_CREATE", lambda d: d.get("webhook_id") == str(hook.id))
        assert got["id"] == str(sent.id) and got["author"]["username"] == "CI"
        assert await remote.send("no wait") is None

        edited = waiter(client, "message_edit", lambda b, a: a.id == sent.id)
        again = await asyncio.wait_for(remote.edit_message(sent.id, content="built again"),
                                       TIMEOUT)
        assert again.content == "built again" and again.edited_at is not None
        _, after = await edited
        assert after.content == "built again"
        deleted = waiter(client, "raw_message_delete", lambda e: e.message_id == sent.id)
        await asyncio.wait_for(remote.delete_message(sent.id), TIMEOUT)
        await deleted

        # The bot's own webhook (application-owned) sends a view with a button; a user's click
        # is an interaction of the bot's application, answered by that view's callback.
        clicked: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        class Deploy(discord.ui.View):
            @discord.ui.button(label="Deploy", custom_id="deploy")
            async def deploy(self, interaction: discord.Interaction,
                             button: discord.ui.Button[Deploy]) -> None:
                await interaction.response.send_message("deploying", ephemeral=True)
                clicked.set_result(str(button.custom_id))

        asking = await asyncio.wait_for(hook.send("Ship it?", view=Deploy(), wait=True), TIMEOUT)
        [row] = asking.components
        assert isinstance(row, discord.ActionRow)
        assert [b.custom_id for b in row.children] == ["deploy"]  # type: ignore[union-attr]
        r = await world.api.post("/interactions", world.user.token, json={
            "type": 3, "channel_id": world.channel_id, "message_id": str(asking.id),
            "guild_id": world.guild["id"], "data": {"component_type": 2, "custom_id": "deploy"}})
        assert r.status == 204, r.body
        assert await asyncio.wait_for(clicked, TIMEOUT) == "deploy"

        renamed = await asyncio.wait_for(hook.edit(name="Builds"), TIMEOUT)  # the bot's token
        assert renamed.name == "Builds"
        by_token = await asyncio.wait_for(remote.edit(name="Artifacts"), TIMEOUT)
        assert by_token.name == "Artifacts" and by_token.user is None
        await asyncio.wait_for(hook.delete(), TIMEOUT)
        assert await asyncio.wait_for(channel.webhooks(), TIMEOUT) == []
        with pytest.raises(discord.NotFound):
            await asyncio.wait_for(remote.send("gone", wait=True), TIMEOUT)
        # A name Discord refuses is refused here too.
        with pytest.raises(discord.HTTPException) as info:
            await asyncio.wait_for(channel.create_webhook(name="discord"), TIMEOUT)
        assert info.value.status == 400 and info.value.code == 50035


async def test_bans_and_the_audit_log_from_the_bot(pointed: Server, world: World) -> None:
    """``Member.ban(delete_message_seconds=..., reason=...)`` with ``on_member_ban`` (the member
    still in the cache) and the raw bulk delete of the member's message; ``guild.fetch_ban``,
    ``guild.bans()``, ``guild.bulk_ban``, ``guild.unban`` with ``on_member_unban``;
    ``guild.audit_logs(action=...)`` with the reasons, ``oldest_first``, and
    ``on_audit_log_entry_create``; the banned user refused at the door (40007)."""
    api, user, guild_id, bot_id = world.api, world.user, int(world.guild["id"]), int(world.bot.id)
    perms = (1 << 2) | (1 << 5) | (1 << 7)  # BAN_MEMBERS, MANAGE_GUILD (bulk), VIEW_AUDIT_LOG
    r = await api.post(f"/guilds/{guild_id}/roles", user.token,
                       json={"name": "mod", "permissions": str(perms)})
    assert r.status in (200, 201), r.body
    assert (await api.put(f"/guilds/{guild_id}/members/{bot_id}/roles/{r.body['id']}",
                          user.token)).status == 204
    bob, carol, dave = [await api.register(name) for name in ("bob", "carol", "dave")]
    await api.join(world.guild, user, bob)
    spam = await api.post(f"/channels/{world.channel_id}/messages", bob.token,
                          json={"content": "buy now"})
    assert spam.status == 200, spam.body
    client = _client(discord.Intents.all())
    async with running(client, world.bot.token):
        guild = client.get_guild(guild_id)
        assert guild is not None
        member = guild.get_member(int(bob.id)) or await guild.fetch_member(int(bob.id))
        banned = waiter(client, "member_ban")
        purged = waiter(client, "raw_bulk_message_delete")
        removed = waiter(client, "member_remove")
        await asyncio.wait_for(member.ban(delete_message_seconds=3600, reason="spam"), TIMEOUT)
        where, who = await banned
        assert where.id == guild_id and isinstance(who, discord.Member) and who.id == int(bob.id)
        assert (await removed).id == int(bob.id) and guild.get_member(int(bob.id)) is None
        assert int(spam.body["id"]) in (await purged).message_ids

        entry = await asyncio.wait_for(guild.fetch_ban(discord.Object(int(bob.id))), TIMEOUT)
        assert entry.user.id == int(bob.id) and entry.reason == "spam"
        result = await asyncio.wait_for(guild.bulk_ban(
            [discord.Object(int(carol.id)), discord.Object(int(dave.id)),
             discord.Object(int(bob.id))], reason="raid", delete_message_seconds=0), TIMEOUT)
        assert sorted(u.id for u in result.banned) == sorted([int(carol.id), int(dave.id)])
        assert [u.id for u in result.failed] == [int(bob.id)]  # banned already
        everyone = sorted(int(u.id) for u in (bob, carol, dave))
        assert [e.user.id async for e in guild.bans()] == everyone
        assert [e.user.id async for e in guild.bans(limit=2)] == everyone[:2]
        assert [e.user.id async for e in guild.bans(after=discord.Object(everyone[0]))] == (
            everyone[1:])

        created = waiter(client, "audit_log_entry_create",
                         lambda e: e.action is discord.AuditLogAction.unban)
        unbanned = waiter(client, "member_unban")
        await asyncio.wait_for(guild.unban(discord.Object(int(bob.id)), reason="appeal"), TIMEOUT)
        _, lifted = await unbanned
        assert lifted.id == int(bob.id)
        assert (await created).reason == "appeal"
        with pytest.raises(discord.NotFound):
            await asyncio.wait_for(guild.fetch_ban(discord.Object(int(bob.id))), TIMEOUT)

        bans = [e async for e in guild.audit_logs(action=discord.AuditLogAction.ban)]
        assert {(e.target.id, e.reason) for e in bans} == {  # type: ignore[union-attr]
            (int(bob.id), "spam"), (int(carol.id), "raid"), (int(dave.id), "raid")}
        assert all(e.user is not None and e.user.id == bot_id for e in bans)
        [unban] = [e async for e in guild.audit_logs(action=discord.AuditLogAction.unban)]
        assert unban.target.id == int(bob.id) and unban.reason == "appeal"  # type: ignore[union-attr]
        oldest = [e.action async for e in guild.audit_logs(oldest_first=True, limit=None)]
        assert oldest[-1] is discord.AuditLogAction.unban
        assert oldest.count(discord.AuditLogAction.ban) == 3

    invite = await api.post(f"/channels/{world.channel_id}/invites", user.token, json={})
    r = await api.post(f"/invites/{invite.body['code']}", carol.token)
    assert r.status == 403 and r.body["code"] == 40007, r.body


async def test_app_command_tree_syncs_globally_and_to_a_guild(
    pointed: Server, world: World
) -> None:
    """``CommandTree.sync()`` (global) and ``sync(guild=...)``: a slash command with options
    (choices, a range, a length), a sub-command group, a user context menu; ``fetch_commands``
    reads them back, a second sync keeps their ids, and a sync of nothing clears them."""
    client = _client()
    tree = app_commands.CommandTree(client)
    guild = discord.Object(id=int(world.guild["id"]))

    @app_commands.command(description="Roll some dice")
    @app_commands.describe(sides="How many sides", label="A label")
    @app_commands.choices(color=[app_commands.Choice(name="Red", value="red"),
                                 app_commands.Choice(name="Blue", value="blue")])
    async def roll(interaction: discord.Interaction, sides: app_commands.Range[int, 2, 100],
                   color: app_commands.Choice[str],
                   label: app_commands.Range[str, 1, 20] | None = None) -> None:
        pass

    settings = app_commands.Group(name="settings", description="Settings")

    @settings.command(description="Show one")
    async def show(interaction: discord.Interaction, key: str) -> None:
        pass

    @app_commands.context_menu(name="Inspect user")
    async def inspect(interaction: discord.Interaction, member: discord.Member) -> None:
        pass

    tree.add_command(roll)
    tree.add_command(settings)
    tree.add_command(inspect, guild=guild)
    async with running(client, world.bot.token):
        synced = await asyncio.wait_for(tree.sync(), TIMEOUT)
        assert sorted(c.name for c in synced) == ["roll", "settings"]
        by_name = {c.name: c for c in synced}
        params = {p.name: p for p in by_name["roll"].options}  # type: ignore[misc]
        assert params["sides"].min_value == 2 and params["sides"].max_value == 100
        assert params["sides"].required and not params["label"].required
        assert [c.value for c in params["color"].choices] == ["red", "blue"]
        group = by_name["settings"].options[0]
        assert isinstance(group, app_commands.AppCommandGroup) and group.name == "show"
        in_guild = await asyncio.wait_for(tree.sync(guild=guild), TIMEOUT)
        assert [(c.name, c.type) for c in in_guild] == [
            ("Inspect user", discord.AppCommandType.user)]
        assert in_guild[0].guild_id == guild.id
        fetched = await asyncio.wait_for(tree.fetch_commands(), TIMEOUT)
        assert {c.id for c in fetched} == {c.id for c in synced}
        one = await asyncio.wait_for(tree.fetch_command(by_name["roll"].id), TIMEOUT)
        assert one.description == "Roll some dice"
        # Syncing again keeps the ids; a guild's sync of nothing removes its commands.
        again = await asyncio.wait_for(tree.sync(), TIMEOUT)
        assert {c.id for c in again} == {c.id for c in synced}
        tree.clear_commands(guild=guild)
        assert await asyncio.wait_for(tree.sync(guild=guild), TIMEOUT) == []
        assert await asyncio.wait_for(tree.fetch_commands(guild=guild), TIMEOUT) == []


async def test_files_sent_and_read_back_and_the_avatar_fetched(
    pointed: Server, world: World
) -> None:
    """``channel.send(file=discord.File(...))`` (multipart: payload_json and files[0]), the
    attachment read back through its ``url`` byte for byte, and ``ClientUser.edit(avatar=...)``
    then ``Asset.read()`` from the server's CDN (docs/compatibility.md)."""
    import io
    import os

    data = os.urandom(300_000)
    image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x05\x00\x00\x00\x03" + bytes(64)
    client = _client()
    async with running(client, world.bot.token):
        channel = client.get_channel(int(world.channel_id))
        assert isinstance(channel, discord.TextChannel)
        files = [discord.File(io.BytesIO(data), "data.bin", description="random"),
                 discord.File(io.BytesIO(image), "pic.png")]
        sent = await asyncio.wait_for(channel.send("files", files=files), TIMEOUT)
        bin_, pic = sent.attachments
        assert (bin_.filename, bin_.size, bin_.description) == ("data.bin", len(data), "random")
        assert bin_.url.startswith(pointed.config.http_url + "/attachments/")
        assert (pic.content_type, pic.width, pic.height) == ("image/png", 5, 3)
        assert await asyncio.wait_for(bin_.read(), TIMEOUT) == data
        assert await asyncio.wait_for(pic.read(), TIMEOUT) == image
        assert client.user is not None
        me = await asyncio.wait_for(client.user.edit(avatar=image), TIMEOUT)
        assert me.avatar is not None
        assert await asyncio.wait_for(me.avatar.read(), TIMEOUT) == image


async def test_slash_commands_invoked_by_a_user_are_answered(
    pointed: Server, world: World
) -> None:
    """``@app_commands.command`` with an option, synced to the guild; the user invokes each
    over REST (``POST /interactions``, as Discord's client does) and the bot answers with
    ``response.send_message``, ``defer()`` then ``followup.send``, and an ephemeral message.
    The user's gateway session sees every answer; another member's sees the ephemeral one
    nowhere, and history does not hold it."""
    client = _client()
    tree = app_commands.CommandTree(client)
    guild = discord.Object(id=int(world.guild["id"]))
    channel_id = world.channel_id
    answered: dict[str, asyncio.Future[Any]] = {
        n: asyncio.get_running_loop().create_future() for n in ("roll", "slow", "secret")}

    @app_commands.command(description="Roll a die")
    async def roll(interaction: discord.Interaction, sides: app_commands.Range[int, 2, 100]
                   ) -> None:
        await interaction.response.send_message(f"rolled a d{sides}")
        answered["roll"].set_result(await interaction.original_response())

    @app_commands.command(description="Think first")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        answered["slow"].set_result(await interaction.followup.send("thought it over"))

    @app_commands.command(description="Only for you")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("for your eyes", ephemeral=True)
        answered["secret"].set_result(interaction.user.id)

    @tree.error
    async def failed(interaction: discord.Interaction, error: Exception) -> None:
        name = interaction.command.name if interaction.command else "?"
        if name in answered and not answered[name].done():
            answered[name].set_exception(error)

    for command in (roll, slow, secret):
        tree.add_command(command, guild=guild)
    other = await world.api.register("bob")
    await world.api.join(world.guild, world.user, other)
    async with (pointed.connect() as ws, pointed.connect() as bystander,
                running(client, world.bot.token)):
        await ws.identify(world.user.token)
        await bystander.identify(other.token)
        synced = {c.name: c.id for c in await asyncio.wait_for(tree.sync(guild=guild), TIMEOUT)}

        async def invoke(name: str, options: list[dict[str, Any]] | None = None) -> None:
            r = await world.api.post("/interactions", world.user.token, json={
                "type": 2, "application_id": world.bot.id, "guild_id": world.guild["id"],
                "channel_id": channel_id,
                "data": {"id": str(synced[name]), "name": name, "type": 1,
                         **({"options": options} if options else {})}})
            assert r.status == 204, r.body

        def from_bot(content: str) -> Callable[[dict[str, Any]], bool]:
            return lambda d: d["author"]["id"] == world.bot.id and d["content"] == content

        await invoke("roll", [{"name": "sides", "type": 4, "value": 20}])
        seen = await until(ws, "MESSAGE_CREATE", from_bot("rolled a d20"))
        original = await asyncio.wait_for(answered["roll"], TIMEOUT)
        assert original.id == int(seen["id"]) and seen["type"] == 20
        assert seen["interaction_metadata"]["user"]["id"] == world.user.id

        await invoke("slow")
        seen = await until(ws, "MESSAGE_CREATE", from_bot("thought it over"))
        followup = await asyncio.wait_for(answered["slow"], TIMEOUT)
        assert followup.id == int(seen["id"])

        await invoke("secret")
        seen = await until(ws, "MESSAGE_CREATE", from_bot("for your eyes"))
        assert seen["flags"] & 64
        assert await asyncio.wait_for(answered["secret"], TIMEOUT) == int(world.user.id)
        # The bystander, a member of the channel, gets the first two and not the ephemeral one
        # (read up to a marker sent after it); history holds the two only.
        r = await world.api.post(f"/channels/{channel_id}/messages", world.user.token,
                                 json={"content": "marker"})
        assert r.status == 200, r.body
        contents = []
        async with asyncio.timeout(TIMEOUT):
            while "marker" not in contents:
                payload = await bystander.recv()
                if payload.get("t") == "MESSAGE_CREATE":
                    contents.append(payload["d"]["content"])
        assert contents == ["rolled a d20", "thought it over", "marker"]
        r = await world.api.get(f"/channels/{channel_id}/messages", world.user.token)
        assert [m["content"] for m in r.body] == ["marker", "thought it over", "rolled a d20"]


async def test_threads_from_the_bot_and_its_events(pointed: Server, world: World) -> None:
    """Threads from discord.py: ``Message.create_thread`` (the thread's id the message's,
    ``on_thread_create``), ``TextChannel.create_thread`` public and private (``invitable``),
    ``on_message`` in a thread and ``Thread.send``; ``add_user``/``remove_user`` with
    ``on_thread_member_join``/``remove``, ``join``/``leave``, ``fetch_members``;
    ``Thread.edit(archived=True)`` with ``on_thread_update``, a lock refused without
    MANAGE_THREADS, a send into a locked archived thread refused (50083) and into an unlocked
    one unarchiving it; ``guild.active_threads()``, ``archived_threads()``; and
    ``guild.threads`` from a new session's GUILD_CREATE."""
    api, user, guild_id = world.api, world.user, int(world.guild["id"])
    user_id, bot_id = int(user.id), int(world.bot.id)
    bob = await api.register("bob")
    await api.join(world.guild, user, bob)
    client = _client(discord.Intents.all())
    async with pointed.connect() as ws, running(client, world.bot.token):
        await ws.identify(user.token)
        guild = client.get_guild(guild_id)
        assert guild is not None and list(guild.threads) == []
        channel = guild.get_channel(int(world.channel_id))
        assert isinstance(channel, discord.TextChannel)

        got = waiter(client, "message", lambda m: m.author.id == user_id)
        r = await api.post(f"/channels/{channel.id}/messages", user.token,
                           json={"content": "let's talk"})
        assert r.status == 200, r.body
        message: discord.Message = await got
        created = waiter(client, "thread_create")
        thread = await asyncio.wait_for(message.create_thread(name="talk"), TIMEOUT)
        assert isinstance(thread, discord.Thread) and thread.id == message.id
        assert thread.parent == channel and thread.owner_id == bot_id
        assert thread.type is discord.ChannelType.public_thread and not thread.archived
        event: discord.Thread = await created
        assert event.id == thread.id and guild.get_thread(thread.id) is not None
        seen = await until(ws, "THREAD_CREATE")
        assert seen["id"] == str(thread.id) and seen["newly_created"] is True

        public = await asyncio.wait_for(channel.create_thread(
            name="open", type=discord.ChannelType.public_thread), TIMEOUT)
        private = await asyncio.wait_for(channel.create_thread(
            name="closed", type=discord.ChannelType.private_thread, invitable=False), TIMEOUT)
        assert public.type is discord.ChannelType.public_thread and public.id != message.id
        assert private.type is discord.ChannelType.private_thread and not private.invitable
        assert private.is_private() and private.me is not None

        # The user writes in the thread: on_message with a Thread as its channel.
        got = waiter(client, "message", lambda m: m.author.id == user_id)
        r = await api.post(f"/channels/{thread.id}/messages", user.token,
                           json={"content": "in the thread"})
        assert r.status == 200, r.body
        inside: discord.Message = await got
        assert isinstance(inside.channel, discord.Thread) and inside.channel.id == thread.id
        assert inside.content == "in the thread"
        sent = await asyncio.wait_for(thread.send("answer"), TIMEOUT)
        assert sent.channel.id == thread.id
        seen = await until(ws, "MESSAGE_CREATE", lambda d: d["id"] == str(sent.id))
        assert seen["channel_id"] == str(thread.id)

        # Members: add/remove another, join/leave oneself, fetch_members.
        joined = waiter(client, "thread_member_join", lambda m: m.id == int(bob.id))
        await asyncio.wait_for(private.add_user(discord.Object(int(bob.id))), TIMEOUT)
        assert (await joined).thread_id == private.id
        members = await asyncio.wait_for(private.fetch_members(), TIMEOUT)
        assert sorted(m.id for m in members) == sorted([bot_id, int(bob.id)])
        left = waiter(client, "thread_member_remove", lambda m: m.id == int(bob.id))
        await asyncio.wait_for(private.remove_user(discord.Object(int(bob.id))), TIMEOUT)
        assert (await left).id == int(bob.id)
        assert [m.id for m in await private.fetch_members()] == [bot_id]

        r = await api.post(f"/channels/{channel.id}/threads", user.token,
                           json={"name": "users", "type": 11})
        assert r.status == 201, r.body
        theirs = guild.get_thread(int(r.body["id"])) or await guild.fetch_channel(int(r.body["id"]))
        assert isinstance(theirs, discord.Thread)
        await asyncio.wait_for(theirs.join(), TIMEOUT)
        assert sorted(m.id for m in await theirs.fetch_members()) == sorted([user_id, bot_id])
        await asyncio.wait_for(theirs.leave(), TIMEOUT)
        assert [m.id for m in await theirs.fetch_members()] == [user_id]

        # Its owner archives it (on_thread_update); locking needs MANAGE_THREADS (50013).
        updated = waiter(client, "thread_update", lambda b, a: a.id == public.id)
        archived = await asyncio.wait_for(public.edit(archived=True), TIMEOUT)
        assert archived.archived
        before, after = await updated
        assert not before.archived and after.archived
        with pytest.raises(discord.Forbidden) as denied:
            await asyncio.wait_for(thread.edit(locked=True), TIMEOUT)
        assert denied.value.code == 50013
        # Archived and locked by the guild's owner: the bot, no MANAGE_THREADS, may not
        # write there (400 50083, Discord's "not allowed in an archived thread").
        updated = waiter(client, "thread_update", lambda b, a: a.id == thread.id)
        r = await api.patch(f"/channels/{thread.id}", user.token,
                            json={"archived": True, "locked": True})
        assert r.status == 200, r.body
        _, after = await updated
        assert after.archived and after.locked
        with pytest.raises(discord.HTTPException) as refused:
            await asyncio.wait_for(thread.send("too late"), TIMEOUT)
        assert refused.value.status == 400 and refused.value.code == 50083

        # A message from the owner unarchives an archived thread that is not locked
        # (discord.py dropped it from its cache when archived: the THREAD_UPDATE is a join).
        rejoined = waiter(client, "thread_join", lambda t: t.id == public.id)
        await asyncio.wait_for(public.send("back"), TIMEOUT)
        assert not (await rejoined).archived and guild.get_thread(public.id) is not None
        r = await api.patch(f"/channels/{public.id}", user.token, json={"archived": True})
        assert r.status == 200, r.body

        active = await asyncio.wait_for(guild.active_threads(), TIMEOUT)
        assert sorted(t.id for t in active) == sorted([private.id, theirs.id])
        old = [t async for t in channel.archived_threads()]
        assert sorted(t.id for t in old) == sorted([thread.id, public.id])
        assert all(t.archived for t in old)
        assert [t async for t in channel.archived_threads(private=True, joined=True)] == []

    # A new session's GUILD_CREATE carries the active threads the bot may see.
    again = _client(discord.Intents.all())
    async with running(again, world.bot.token):
        fresh = again.get_guild(guild_id)
        assert fresh is not None
        assert sorted(t.id for t in fresh.threads) == sorted([private.id, theirs.id])
        assert fresh.get_thread(private.id).is_private()  # type: ignore[union-attr]


async def test_webhook_files_threads_and_avatar_from_discord_py(
    pointed: Server, world: World
) -> None:
    """A webhook's ``send(file=...)`` (multipart) read back through the attachment's ``url``,
    ``send(view=...)`` with a link button, ``send(thread=...)`` into a thread of its channel, ``edit_message(attachments=...)``, and
    ``Webhook.avatar.read()`` from the server's CDN."""
    import io

    image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x05\x00\x00\x00\x03" + bytes(64)
    r = await world.api.post(f"/channels/{world.channel_id}/webhooks", world.user.token,
                             json={"name": "Files"})
    assert r.status == 200, r.body
    client = _client()
    async with running(client, world.bot.token):
        channel = client.get_channel(int(world.channel_id))
        assert isinstance(channel, discord.TextChannel)
        # With the client: a webhook with no state cannot read attachments or assets.
        hook = discord.Webhook.from_url(
            f"https://discord.com/api/webhooks/{r.body['id']}/{r.body['token']}",
            client=client)
        sent = await asyncio.wait_for(hook.send(
            "log", file=discord.File(io.BytesIO(b"line\n" * 50), "build.log"), wait=True),
            TIMEOUT)
        [log] = sent.attachments
        assert log.filename == "build.log" and log.size == 250
        assert await asyncio.wait_for(log.read(), TIMEOUT) == b"line\n" * 50
        kept = await asyncio.wait_for(hook.edit_message(
            sent.id, attachments=[log, discord.File(io.BytesIO(b"more"), "more.txt")]), TIMEOUT)
        assert [a.filename for a in kept.attachments] == ["build.log", "more.txt"]
        # A view of link buttons: discord.py sends it with ?with_components=1, which a
        # webhook no application owns may use for non-interactive components.
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Build", url="https://example.com/build/1"))
        linked = await asyncio.wait_for(hook.send("built", view=view, wait=True), TIMEOUT)
        [row] = linked.components
        assert isinstance(row, discord.ActionRow)
        assert [b.url for b in row.children] == [  # type: ignore[union-attr]
            "https://example.com/build/1"]

        thread = await asyncio.wait_for(channel.create_thread(
            name="deploys", type=discord.ChannelType.public_thread), TIMEOUT)
        in_thread = await asyncio.wait_for(
            hook.send("in the thread", thread=thread, wait=True), TIMEOUT)
        assert in_thread.channel.id == thread.id
        fetched = await asyncio.wait_for(hook.fetch_message(in_thread.id, thread=thread),
                                         TIMEOUT)
        assert fetched.content == "in the thread"

        edited = await asyncio.wait_for(hook.edit(avatar=image), TIMEOUT)
        assert edited.avatar is not None
        assert await asyncio.wait_for(edited.avatar.read(), TIMEOUT) == image


async def test_shared_zlib_stream_decodes_in_discord_py_across_a_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gateway_zlib_shared: every zlib-stream message self-contained, a dispatch's body
    # deflated once for all recipients. discord.py's own zlib decompressor (one inflater per
    # connection, each message decoded at its 00 00 ff ff) gets READY, the guild, every
    # message in order, and the replay of a RESUME on a new connection's stream.
    monkeypatch.setattr(discord.utils, "_ActiveDecompressionContext", _zlib_context())
    async with running_server(compat_config(tmp_path, gateway_zlib_shared=True)) as server:
        point_at(server, monkeypatch)
        world = await make_world(server)
        user_id = int(world.user.id)
        client = _client()
        got: list[str] = []
        done = asyncio.Event()

        async def on_message(message: discord.Message) -> None:
            if message.author.id == user_id:
                got.append(message.content)
                if len(got) == 31:
                    done.set()

        client.event(on_message)
        async with running(client, world.bot.token):
            assert type(client.ws._decompressor).COMPRESSION_TYPE == "zlib-stream"
            assert client.get_guild(int(world.guild["id"])) is not None
            session_id = client.ws.session_id
            for i in range(30):
                r = await world.api.post(f"/channels/{world.channel_id}/messages",
                                         world.user.token, json={"content": f"m{i} " * (i + 1)})
                assert r.status == 200, r.body
            resumed = waiter(client, "resumed")
            _transport_of(client).abort()
            r = await world.api.post(f"/channels/{world.channel_id}/messages", world.user.token,
                                     json={"content": "while you were away"})
            assert r.status == 200, r.body
            await resumed
            await asyncio.wait_for(done.wait(), TIMEOUT)
            assert got == [f"m{i} " * (i + 1) for i in range(30)] + ["while you were away"]
            assert client.ws.session_id == session_id
