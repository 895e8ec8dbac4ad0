"""discord.py 2.7, unmodified: message components, modals, autocomplete and a command in the
bot's DM, end to end.

The bot sends a message with a ``discord.ui.View``; the user clicks a button or picks from a
select menu with ``POST /interactions`` (type 3, as Discord's web client does) and the view's
callbacks answer: ``response.edit_message`` (callback 7, the message edited for everyone),
``send_message``, ``send_modal`` (9). The modal reaches the user's gateway session as
INTERACTION_MODAL_CREATE and is submitted (type 5); ``Modal.on_submit`` answers. An
``@app_commands.autocomplete`` handler answers a type 4 request with choices (8), which the
user's session gets as APPLICATION_COMMAND_AUTOCOMPLETE_RESPONSE. A global command allowed in
DMs is run in the user's DM with the bot. Views on an ephemeral response and on an ephemeral
follow-up are clicked too (their interaction keeps those messages).
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import discord.ui
from discord import app_commands

from tests.compat.conftest import World
from tests.compat.test_discordpy import TIMEOUT, _client, pointed, running, until
from tests.integration.gateway_client import Server

__all__ = ["pointed"]  # the fixture, used by name

Json = dict[str, Any]


def _components(message: Json) -> dict[str, Json]:
    """A message's components by custom id."""
    return {c["custom_id"]: c for row in message["components"] for c in row["components"]
            if "custom_id" in c}


async def _click(world: World, message: Json, data: Json) -> None:
    r = await world.api.post("/interactions", world.user.token, json={
        "type": 3, "channel_id": message["channel_id"], "message_id": message["id"],
        "guild_id": world.guild["id"], "data": data})
    assert r.status == 204, r.body


async def _invoke(world: World, synced: dict[str, int], name: str) -> None:
    """The user runs the guild command ``name`` (of ``synced``: name -> id) in the channel."""
    r = await world.api.post("/interactions", world.user.token, json={
        "type": 2, "application_id": world.bot.id, "guild_id": world.guild["id"],
        "channel_id": world.channel_id,
        "data": {"id": str(synced[name]), "name": name, "type": 1}})
    assert r.status == 204, r.body


def _confirm_view(clicked: asyncio.Future[int]) -> discord.ui.View:
    """One Confirm button: its callback edits the message to "confirmed" without the view
    (callback 7) and gives ``clicked`` the message's id."""

    class Confirm(discord.ui.View):
        @discord.ui.button(label="Confirm", style=discord.ButtonStyle.success)
        async def confirm(self, interaction: discord.Interaction,
                          button: discord.ui.Button[Any]) -> None:
            await interaction.response.edit_message(content="confirmed", view=None)
            clicked.set_result(interaction.message.id if interaction.message else 0)

    return Confirm()


def _filled(components: list[Json], values: dict[str, str]) -> list[Json]:
    """A modal's submit: its inputs, in its layout, with the values typed."""
    out: list[Json] = []
    for item in components:
        if item["type"] == 1:
            out.append({"type": 1, "components": [
                {"type": c["type"], "custom_id": c["custom_id"], "value": values[c["label"]]}
                for c in item["components"]]})
        elif item["type"] == 18:
            inner = item["component"]
            out.append({"type": 18, "component": {
                "type": inner["type"], "custom_id": inner["custom_id"],
                "value": values[item["label"]]}})
    return out


async def test_a_button_view_a_select_and_a_modal(pointed: Server, world: World) -> None:
    client = _client()
    loop = asyncio.get_running_loop()
    clicked: asyncio.Future[discord.Interaction] = loop.create_future()
    picked: asyncio.Future[list[str]] = loop.create_future()
    submitted: asyncio.Future[str] = loop.create_future()

    class Feedback(discord.ui.Modal, title="Feedback"):
        name: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Name", max_length=20)

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"thanks {self.name.value}")
            submitted.set_result(self.name.value)

    class Menu(discord.ui.View):
        @discord.ui.button(label="Go", style=discord.ButtonStyle.primary)
        async def go(self, interaction: discord.Interaction, button: discord.ui.Button[Any]
                     ) -> None:
            button.disabled = True
            await interaction.response.edit_message(content="clicked", view=self)
            clicked.set_result(interaction)

        @discord.ui.button(label="Tell us", style=discord.ButtonStyle.secondary)
        async def ask(self, interaction: discord.Interaction, button: discord.ui.Button[Any]
                      ) -> None:
            await interaction.response.send_modal(Feedback())

        @discord.ui.select(placeholder="Color", max_values=2, options=[
            discord.SelectOption(label="Red", value="red"),
            discord.SelectOption(label="Blue", value="blue"),
            discord.SelectOption(label="Green", value="green")])
        async def color(self, interaction: discord.Interaction,
                        select: discord.ui.Select[Any]) -> None:
            await interaction.response.send_message(f"picked {' '.join(select.values)}")
            picked.set_result(list(select.values))

    async with pointed.connect() as ws, running(client, world.bot.token):
        await ws.identify(world.user.token)
        channel = client.get_channel(int(world.channel_id))
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("Choose", view=Menu())
        message = await until(ws, "MESSAGE_CREATE", lambda d: d["id"] == str(sent.id))
        by_label = {c.get("label") or c.get("placeholder"): c
                    for c in _components(message).values()}
        assert by_label["Go"]["style"] == 1 and by_label["Color"]["type"] == 3

        # A button: the view's callback edits the message (callback 7) for everyone.
        await _click(world, message, {"custom_id": by_label["Go"]["custom_id"],
                                      "component_type": 2})
        update = await until(ws, "MESSAGE_UPDATE", lambda d: d["id"] == message["id"])
        assert update["content"] == "clicked"
        assert _components(update)[by_label["Go"]["custom_id"]]["disabled"] is True
        interaction = await asyncio.wait_for(clicked, TIMEOUT)
        assert interaction.message is not None and interaction.message.id == sent.id
        assert interaction.user.id == int(world.user.id)
        r = await world.api.get(f"/channels/{world.channel_id}/messages/{sent.id}",
                                world.user.token)
        assert r.body["content"] == "clicked"

        # A select menu: its values reach the callback.
        await _click(world, message, {"custom_id": by_label["Color"]["custom_id"],
                                      "component_type": 3, "values": ["blue", "red"]})
        await until(ws, "MESSAGE_CREATE", lambda d: d["content"] == "picked blue red")
        assert await asyncio.wait_for(picked, TIMEOUT) == ["blue", "red"]

        # A modal: shown to the user, submitted, answered by on_submit.
        await _click(world, message, {"custom_id": by_label["Tell us"]["custom_id"],
                                      "component_type": 2})
        modal = await until(ws, "INTERACTION_MODAL_CREATE")
        assert modal["title"] == "Feedback"
        r = await world.api.post("/interactions", world.user.token, json={
            "type": 5, "application_id": world.bot.id, "channel_id": world.channel_id,
            "guild_id": world.guild["id"],
            "data": {"id": modal["id"], "custom_id": modal["custom_id"],
                     "components": _filled(modal["components"], {"Name": "Ada"})}})
        assert r.status == 204, r.body
        await until(ws, "MESSAGE_CREATE", lambda d: d["content"] == "thanks Ada")
        assert await asyncio.wait_for(submitted, TIMEOUT) == "Ada"


async def test_autocomplete_and_a_command_in_the_bots_dm(pointed: Server,
                                                         world: World) -> None:
    client = _client()
    tree = app_commands.CommandTree(client)
    guild = discord.Object(id=int(world.guild["id"]))
    asked: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    fruits = ["apple", "apricot", "banana", "cherry"]

    @app_commands.command(description="Pick a fruit")
    async def fruit(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"you picked {name}")

    @fruit.autocomplete("name")
    async def fruit_names(interaction: discord.Interaction, current: str
                          ) -> list[app_commands.Choice[str]]:
        asked.set_result(current)
        return [app_commands.Choice(name=f.title(), value=f) for f in fruits
                if f.startswith(current)]

    @app_commands.command(description="Say hi anywhere")
    @app_commands.allowed_contexts(guilds=True, dms=True)
    async def hello(interaction: discord.Interaction) -> None:
        where = "dm" if interaction.guild_id is None else "guild"
        await interaction.response.send_message(f"hi in a {where}")

    tree.add_command(fruit, guild=guild)
    tree.add_command(hello)
    async with pointed.connect() as ws, running(client, world.bot.token):
        await ws.identify(world.user.token)
        synced = {c.name: c.id for c in await asyncio.wait_for(tree.sync(guild=guild), TIMEOUT)}
        synced.update({c.name: c.id for c in await asyncio.wait_for(tree.sync(), TIMEOUT)})

        r = await world.api.post("/interactions", world.user.token, json={
            "type": 4, "application_id": world.bot.id, "guild_id": world.guild["id"],
            "channel_id": world.channel_id, "nonce": "typing-1",
            "data": {"id": str(synced["fruit"]), "name": "fruit", "type": 1, "options": [
                {"name": "name", "type": 3, "value": "ap", "focused": True}]}})
        assert r.status == 204, r.body
        choices = await until(ws, "APPLICATION_COMMAND_AUTOCOMPLETE_RESPONSE")
        assert choices["nonce"] == "typing-1"
        assert choices["choices"] == [{"name": "Apple", "value": "apple"},
                                      {"name": "Apricot", "value": "apricot"}]
        assert await asyncio.wait_for(asked, TIMEOUT) == "ap"

        dm = await world.api.post("/users/@me/channels", world.user.token,
                                  json={"recipient_id": world.bot.id})
        assert dm.status == 200, dm.body
        r = await world.api.post("/interactions", world.user.token, json={
            "type": 2, "application_id": world.bot.id, "channel_id": dm.body["id"],
            "data": {"id": str(synced["hello"]), "name": "hello", "type": 1}})
        assert r.status == 204, r.body
        seen = await until(ws, "MESSAGE_CREATE", lambda d: d["content"].startswith("hi in"))
        assert seen["content"] == "hi in a dm" and seen["channel_id"] == dm.body["id"]


async def test_a_view_on_an_ephemeral_response(pointed: Server, world: World) -> None:
    """``response.send_message(view=..., ephemeral=True)``: the user clicks its button (the
    message is in no history: its interaction keeps it) and the view's callback edits it
    (``edit_message``, callback 7), seen by the user alone."""
    client = _client()
    tree = app_commands.CommandTree(client)
    guild = discord.Object(id=int(world.guild["id"]))
    clicked: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @app_commands.command(description="A private panel")
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Sure?", view=_confirm_view(clicked),
                                                ephemeral=True)

    tree.add_command(panel, guild=guild)
    async with pointed.connect() as ws, running(client, world.bot.token):
        await ws.identify(world.user.token)
        synced = {c.name: c.id for c in await asyncio.wait_for(tree.sync(guild=guild), TIMEOUT)}
        await _invoke(world, synced, "panel")
        message = await until(ws, "MESSAGE_CREATE", lambda d: d["content"] == "Sure?")
        assert message["flags"] & 64
        (button,) = _components(message).values()
        await _click(world, message, {"custom_id": button["custom_id"], "component_type": 2})
        update = await until(ws, "MESSAGE_UPDATE", lambda d: d["id"] == message["id"])
        assert update["content"] == "confirmed" and update["components"] == []
        assert await asyncio.wait_for(clicked, TIMEOUT) == int(message["id"])


async def test_a_view_on_an_ephemeral_follow_up(pointed: Server, world: World) -> None:
    """``followup.send(view=..., ephemeral=True)`` after an ephemeral response: the user
    clicks the follow-up's button (its interaction keeps it, as the response) and the view's
    callback edits it, seen by the user alone. The messages name the command invoked."""
    client = _client()
    tree = app_commands.CommandTree(client)
    guild = discord.Object(id=int(world.guild["id"]))
    clicked: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    sent: asyncio.Future[discord.WebhookMessage] = asyncio.get_running_loop().create_future()

    @app_commands.command(description="A private panel, later")
    async def later(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("One moment", ephemeral=True)
        sent.set_result(await interaction.followup.send("Sure?", view=_confirm_view(clicked),
                                                        ephemeral=True, wait=True))

    tree.add_command(later, guild=guild)
    async with pointed.connect() as ws, running(client, world.bot.token):
        await ws.identify(world.user.token)
        synced = {c.name: c.id for c in await asyncio.wait_for(tree.sync(guild=guild), TIMEOUT)}
        await _invoke(world, synced, "later")
        first = await until(ws, "MESSAGE_CREATE", lambda d: d["content"] == "One moment")
        message = await until(ws, "MESSAGE_CREATE", lambda d: d["content"] == "Sure?")
        assert message["flags"] & 64
        assert message["interaction"]["name"] == "later"
        assert message["interaction_metadata"]["name"] == "later"
        followup = await asyncio.wait_for(sent, TIMEOUT)
        assert followup.id == int(message["id"]) and followup.interaction_metadata is not None
        assert followup.interaction_metadata.original_response_message_id == int(first["id"])
        (button,) = _components(message).values()
        await _click(world, message, {"custom_id": button["custom_id"], "component_type": 2})
        update = await until(ws, "MESSAGE_UPDATE", lambda d: d["id"] == message["id"])
        assert update["content"] == "confirmed" and update["components"] == []
        assert await asyncio.wait_for(clicked, TIMEOUT) == int(message["id"])
