"""discord.js v14, unmodified, against a real server: a Node bot (``tests/compat/js/bot.mjs``)
logs in, gets READY with the guild, answers a user's message with a reply and reacts to it
(``message.react``); ``WebhookClient.send`` through a webhook's URL
(``tests/compat/js/webhook.mjs``); ``guild.members.ban`` (``tests/compat/js/ban.mjs``); and
command registration with ``rest.put`` (``tests/compat/js/commands.mjs``);
``channel.send({ files })`` with the attachment downloaded back (``tests/compat/js/files.mjs``);
a bot answering interactions (``tests/compat/js/interactions.mjs``): ``reply``,
``deferReply``/``editReply``/``followUp``, ephemeral, buttons and a select menu (``update``),
``showModal`` and its submit, autocomplete (``respond``); and threads
(``tests/compat/js/threads.mjs``): ``channel.threads.create``, ``message.startThread``,
``thread.send``, ``thread.members.add``, ``thread.setArchived`` and ``threadCreate``.

The bot is given only the API base (``rest: {api}``); discord.js finds the gateway itself
(``GET /gateway/bot``). Its dependencies are those of the committed ``package-lock.json``:
``npm ci`` runs here when ``node_modules`` is missing or does not match the lock, so a clean
clone needs no manual step. Without Node.js the test fails and says what to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import World
from tests.integration.gateway_client import Server

JS_DIR = Path(__file__).resolve().parent / "js"
TIMEOUT = 20.0
NPM_TIMEOUT_S = 300
# discord.js 14's HTTP client (undici) needs Node.js 18.17.
NODE_MIN = (18, 17)
INSTALL_HINT = ("Node.js 18.17+ and npm are needed for the discord.js tests: "
                "apt-get install nodejs npm")


def _installed_matches_lock() -> bool:
    """Whether ``node_modules`` holds every package of the lock at its locked version."""
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    for path, entry in lock["packages"].items():
        if not path:
            continue  # the root project itself
        manifest = JS_DIR / path / "package.json"
        if not manifest.is_file():
            return False
        if json.loads(manifest.read_text()).get("version") != entry.get("version"):
            return False
    return True


@pytest.fixture(scope="session")
def node() -> Iterator[str]:
    """The ``node`` binary, with ``tests/compat/js`` installed from its lock (``npm ci``)."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    version = subprocess.run([node_bin, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    if tuple(int(n) for n in version.lstrip("v").split(".")[:2]) < NODE_MIN:
        pytest.fail(f"node {version} is too old. {INSTALL_HINT}", pytrace=False)
    if not _installed_matches_lock():
        done = subprocess.run(
            [npm_bin, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR,
            capture_output=True, text=True, timeout=NPM_TIMEOUT_S,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {JS_DIR} failed:\n{done.stdout}\n{done.stderr}",
                        pytrace=False)
    yield node_bin


@dataclass
class NodeBot:
    """``node bot.mjs`` running: its JSON lines read one at a time, its stderr kept."""

    process: asyncio.subprocess.Process
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def report(self) -> str:
        """What the bot printed, for a failure message."""
        return "stdout:\n" + "".join(self.stdout) + "stderr:\n" + "".join(self.stderr)

    async def event(self, name: str) -> dict[str, Any]:
        """The bot's next ``{"event": name}`` line (other lines skipped), bounded."""
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    line = await self.process.stdout.readline()
                    if not line:
                        await self.process.wait()
                        raise AssertionError(
                            f"bot exited ({self.process.returncode}) before {name!r}:\n"
                            + self.report())
                    self.stdout.append(line.decode(errors="replace"))
                    out = json.loads(line)
                    assert out["event"] != "error", (out, self.report())
                    if out["event"] == name:
                        return out  # type: ignore[no-any-return]
        except TimeoutError:
            raise AssertionError(f"no {name!r} from the bot within {TIMEOUT} s:\n"
                                 + self.report()) from None

    async def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.stderr.append(line.decode(errors="replace"))


@contextlib.asynccontextmanager
async def node_bot(node: str, server: Server, token: str, script: str = "bot.mjs",
                   *args: str) -> AsyncIterator[NodeBot]:
    """Spawn the bot (``script`` with the API base and ``args``) against ``server``; SIGTERM it
    at exit (SIGKILL if it lingers)."""
    api = f"{server.config.http_url}/api"
    process = await asyncio.create_subprocess_exec(
        node, str(JS_DIR / script), api, *args, cwd=JS_DIR,
        env={**os.environ, "DISCORD_TOKEN": token, "DISCORD_DEBUG": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    bot = NodeBot(process)
    drain = asyncio.create_task(bot._drain_stderr())
    try:
        yield bot
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        await asyncio.wait_for(drain, TIMEOUT)


async def test_discordjs_bot_gets_ready_and_replies(
    node: str, server: Server, world: World
) -> None:
    channel_id, guild_id = world.channel_id, str(world.guild["id"])
    async with node_bot(node, server, world.bot.token) as bot:
        ready = await bot.event("ready")
        assert ready["user"] == {"id": world.bot.id, "username": world.bot.username,
                                 "bot": True}
        assert [g["id"] for g in ready["guilds"]] == [guild_id]
        assert ready["guilds"][0]["name"] == "Compat Guild"
        assert channel_id in ready["guilds"][0]["channels"]

        path = f"/channels/{channel_id}/messages"
        sent = await world.api.post(path, world.user.token, json={"content": "ping"})
        assert sent.status == 200, sent.body
        replied = await bot.event("reply")
        assert replied["to"] == sent.body["id"] and replied["content"] == "ping"
        assert replied["author"] == world.user.id and replied["guild_id"] == guild_id
        assert replied["member"] is True
        reacted = await bot.event("reacted")
        assert reacted == {"event": "reacted", "message": sent.body["id"],
                           "emoji": "\N{THUMBS UP SIGN}", "count": 1, "me": True}

    history = await world.api.get(path, world.user.token)
    assert history.status == 200, history.body
    reply, original = history.body
    assert [(r["emoji"]["name"], r["count"], r["me"]) for r in original["reactions"]] == [
        ("\N{THUMBS UP SIGN}", 1, False)]
    assert original["id"] == sent.body["id"]
    assert reply["id"] == replied["id"] and reply["content"] == "pong: ping"
    assert reply["author"]["id"] == world.bot.id
    assert reply["message_reference"]["message_id"] == sent.body["id"]


async def test_discordjs_webhook_client_sends(node: str, server: Server, world: World) -> None:
    """``WebhookClient({url}, {rest: {api}}).send`` (``tests/compat/js/webhook.mjs``): the URL
    in the discord.com form WebhookClient parses, the request to the server."""
    r = await world.api.post(f"/channels/{world.channel_id}/webhooks", world.user.token,
                             json={"name": "Deploys"})
    assert r.status == 200, r.body
    hook = r.body
    url = f"https://discord.com/api/webhooks/{hook['id']}/{hook['token']}"
    done = await asyncio.wait_for(asyncio.create_subprocess_exec(
        node, str(JS_DIR / "webhook.mjs"), f"{server.config.http_url}/api", url, cwd=JS_DIR,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ), TIMEOUT)
    stdout, stderr = await asyncio.wait_for(done.communicate(), TIMEOUT)
    assert done.returncode == 0, (stdout, stderr)
    sent = json.loads(stdout.decode().splitlines()[-1])
    assert sent["event"] == "sent" and sent["webhook_id"] == hook["id"], sent
    assert sent["author"] == {"id": hook["id"], "username": "JS Hook", "bot": True}
    history = await world.api.get(f"/channels/{world.channel_id}/messages", world.user.token)
    assert history.body[0]["id"] == sent["id"]
    assert history.body[0]["content"] == "from discord.js"


async def test_discordjs_guild_members_ban(node: str, server: Server, world: World) -> None:
    """``guild.members.ban(user, {deleteMessageSeconds, reason})`` and ``guild.bans.fetch``
    (``tests/compat/js/ban.mjs``): the member is gone, their recent message too, and the
    reason discord.js sends as ``X-Audit-Log-Reason`` is the ban's and the audit entry's."""
    api, user, guild_id = world.api, world.user, str(world.guild["id"])
    r = await api.post(f"/guilds/{guild_id}/roles", user.token,
                       json={"name": "mod", "permissions": str((1 << 2) | (1 << 7))})
    assert r.status in (200, 201), r.body  # BAN_MEMBERS, VIEW_AUDIT_LOG
    assert (await api.put(f"/guilds/{guild_id}/members/{world.bot.id}/roles/{r.body['id']}",
                          user.token)).status == 204
    spammer = await api.register("spammer")
    await api.join(world.guild, user, spammer)
    spam = await api.post(f"/channels/{world.channel_id}/messages", spammer.token,
                          json={"content": "buy now"})
    assert spam.status == 200, spam.body
    done = await asyncio.wait_for(asyncio.create_subprocess_exec(
        node, str(JS_DIR / "ban.mjs"), f"{server.config.http_url}/api", guild_id, spammer.id,
        cwd=JS_DIR, env={**os.environ, "DISCORD_TOKEN": world.bot.token},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ), TIMEOUT)
    stdout, stderr = await asyncio.wait_for(done.communicate(), TIMEOUT)
    assert done.returncode == 0, (stdout, stderr)
    banned = json.loads(stdout.decode().splitlines()[-1])
    assert banned == {"event": "banned", "user": spammer.id, "reason": "from discord.js",
                      "guild": guild_id}, (banned, stderr)
    member = await api.get(f"/guilds/{guild_id}/members/{spammer.id}", user.token)
    assert member.status == 404, member.body
    history = await api.get(f"/channels/{world.channel_id}/messages", user.token)
    assert spam.body["id"] not in [m["id"] for m in history.body]
    log = await api.get(f"/guilds/{guild_id}/audit-logs", user.token, params={"action_type": "22"})
    [entry] = log.body["audit_log_entries"]
    assert (entry["user_id"], entry["target_id"], entry["reason"]) == (
        world.bot.id, spammer.id, "from discord.js")


async def test_discordjs_registers_commands_with_rest_put(
    node: str, server: Server, world: World
) -> None:
    """``rest.put(Routes.applicationCommands(...))`` and ``applicationGuildCommands`` with
    ``SlashCommandBuilder`` (options with a range and choices, a sub-command) and
    ``ContextMenuCommandBuilder`` (``tests/compat/js/commands.mjs``), as a deploy script does."""
    done = await asyncio.wait_for(asyncio.create_subprocess_exec(
        node, str(JS_DIR / "commands.mjs"), f"{server.config.http_url}/api", world.bot.token,
        world.bot.id, str(world.guild["id"]), cwd=JS_DIR,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ), TIMEOUT)
    stdout, stderr = await asyncio.wait_for(done.communicate(), TIMEOUT)
    assert done.returncode == 0, (stdout, stderr)
    out = json.loads(stdout.decode().splitlines()[-1])
    assert out["event"] == "registered", out
    ping, config = out["global"]
    assert ping["name"] == "ping" and ping["application_id"] == world.bot.id
    assert ping["options"][0]["min_value"] == 1 and ping["options"][0]["required"] is True
    assert [c["value"] for c in ping["options"][1]["choices"]] == ["loud", "soft"]
    assert config["options"][0]["type"] == 1
    [menu] = out["guild"]
    assert menu["type"] == 2 and menu["guild_id"] == str(world.guild["id"])
    listed = await world.api.get(f"/applications/{world.bot.id}/commands", world.bot.token,
                                 bot=True)
    assert sorted(c["id"] for c in listed.body) == sorted(c["id"] for c in out["global"])


async def test_discordjs_channel_send_files_and_download_them_back(
    node: str, server: Server, world: World, tmp_path: Path
) -> None:
    """``channel.send({ files: [path] })`` (``tests/compat/js/files.mjs``), then the attachment
    fetched from its ``url``: the same bytes, and the message in history with the attachment."""
    data = os.urandom(300_000)
    path = tmp_path / "report.bin"
    path.write_bytes(data)
    done = await asyncio.wait_for(asyncio.create_subprocess_exec(
        node, str(JS_DIR / "files.mjs"), f"{server.config.http_url}/api", str(world.channel_id),
        str(path), cwd=JS_DIR, env={**os.environ, "DISCORD_TOKEN": world.bot.token},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ), TIMEOUT)
    stdout, stderr = await asyncio.wait_for(done.communicate(), TIMEOUT)
    assert done.returncode == 0, (stdout, stderr)
    sent = json.loads(stdout.decode().splitlines()[-1])
    assert sent["event"] == "sent", (sent, stderr)
    assert (sent["name"], sent["size"], sent["status"]) == ("report.bin", len(data), 200)
    assert sent["sha256"] == hashlib.sha256(data).hexdigest()
    history = await world.api.get(f"/channels/{world.channel_id}/messages", world.user.token)
    [attachment] = history.body[0]["attachments"]
    assert history.body[0]["id"] == sent["message"] and attachment["url"] == sent["url"]


async def test_discordjs_bot_answers_interactions(
    node: str, server: Server, world: World
) -> None:
    """A discord.js bot registers its guild commands, then answers what the user does over
    ``POST /interactions``: ``reply``, ``deferReply`` + ``editReply`` + ``followUp``, an
    ephemeral reply, a reply with a button row and a select menu, ``update`` on a click,
    ``showModal`` and a reply to its submit, a reply to a selection, and ``respond`` to an
    autocomplete request. The user's gateway session sees each answer."""
    api, user, channel_id = world.api, world.user, world.channel_id
    guild_id = str(world.guild["id"])
    async with (server.connect() as ws,
                node_bot(node, server, world.bot.token, "interactions.mjs", guild_id) as bot):
        await ws.identify(user.token)
        registered = await bot.event("registered")
        ids = {c["name"]: c["id"] for c in registered["commands"]}

        async def recv(name: str, check: Any = lambda d: True) -> dict[str, Any]:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    payload = await ws.recv()
                    if payload.get("t") == name and check(payload["d"]):
                        return payload["d"]  # type: ignore[no-any-return]

        async def interact(body: dict[str, Any], what: str) -> None:
            r = await api.post("/interactions", user.token, json={
                "channel_id": channel_id, "guild_id": guild_id, **body})
            assert r.status == 204, r.body
            answered = await bot.event("answered")
            assert answered["what"] == what, (answered, bot.report())
            assert answered["user"] == user.id and answered["guild"] == guild_id

        def command(name: str, kind: int = 2, options: Any = None) -> dict[str, Any]:
            return {"type": kind, "application_id": world.bot.id,
                    "data": {"id": ids[name], "name": name, "type": 1,
                             **({"options": options} if options else {})}}

        def content(text: str) -> Any:
            return lambda d: d["content"] == text

        await interact(command("ping"), "ping")
        assert (await recv("MESSAGE_CREATE", content("pong")))["type"] == 20
        await interact(command("slow"), "slow")
        await recv("MESSAGE_CREATE", content("thought it over"))
        await recv("MESSAGE_CREATE", content("and one more thing"))
        await interact(command("secret"), "secret")
        assert (await recv("MESSAGE_CREATE", content("for your eyes")))["flags"] & 64

        await interact(command("fruit", 4, [{"name": "name", "type": 3, "value": "ap",
                                              "focused": True}]), "autocomplete ap")
        choices = await recv("APPLICATION_COMMAND_AUTOCOMPLETE_RESPONSE")
        assert [c["value"] for c in choices["choices"]] == ["apple", "apricot"]

        await interact(command("menu"), "menu")
        menu = await recv("MESSAGE_CREATE", content("Choose"))
        assert [[c["custom_id"] for c in row["components"]] for row in menu["components"]] == [
            ["go", "ask"], ["color"]]

        def click(custom_id: str, kind: int, **data: Any) -> dict[str, Any]:
            return {"type": 3, "message_id": menu["id"],
                    "data": {"custom_id": custom_id, "component_type": kind, **data}}

        await interact(click("color", 3, values=["red", "blue"]), "color")
        await recv("MESSAGE_CREATE", content("picked red blue"))
        await interact(click("ask", 2), "ask")
        modal = await recv("INTERACTION_MODAL_CREATE")
        assert modal["custom_id"] == "fb" and modal["title"] == "Feedback"
        text_input = modal["components"][0]["components"][0]
        await interact({"type": 5, "application_id": world.bot.id, "data": {
            "id": modal["id"], "custom_id": "fb", "components": [{"type": 1, "components": [
                {"type": 4, "custom_id": text_input["custom_id"], "value": "Ada"}]}]}}, "fb")
        await recv("MESSAGE_CREATE", content("thanks Ada"))
        await interact(click("go", 2), "go")
        updated = await recv("MESSAGE_UPDATE", lambda d: d["id"] == menu["id"])
        assert updated["content"] == "clicked" and updated["components"] == []
    history = await api.get(f"/channels/{channel_id}/messages", user.token)
    assert "for your eyes" not in [m["content"] for m in history.body]
    assert next(m for m in history.body if m["id"] == menu["id"])["content"] == "clicked"


async def test_discordjs_bot_creates_and_uses_threads(
    node: str, server: Server, world: World
) -> None:
    """A discord.js bot (``tests/compat/js/threads.mjs``) creates a public thread with
    ``channel.threads.create({ name, autoArchiveDuration })``, sends into it, adds a member
    (``thread.members.add``), archives it (``thread.setArchived(true)``) and starts a thread
    from a message (``message.startThread``); each checked over REST and on the user's
    gateway session. A thread the user creates reaches the bot as ``threadCreate``."""
    api, user, channel_id = world.api, world.user, world.channel_id
    bob = await api.register("bob")
    await api.join(world.guild, user, bob)
    topic = await api.post(f"/channels/{channel_id}/messages", user.token,
                           json={"content": "a topic"})
    assert topic.status == 200, topic.body
    async with (server.connect() as ws,
                node_bot(node, server, world.bot.token, "threads.mjs", channel_id,
                         topic.body["id"], bob.id) as bot):
        await ws.identify(user.token)
        done = await bot.event("done")
        made, started = done["thread"], done["started"]
        assert made == {"id": made["id"], "name": "js talk", "type": 11, "parent": channel_id,
                        "auto_archive_duration": 60, "owner": world.bot.id}, done
        assert done["sent"] == {"id": done["sent"]["id"], "channel": made["id"],
                                "content": "hello from discord.js"}
        assert done["added"] == bob.id
        assert done["archived"] == {"id": made["id"], "archived": True}
        assert started == {"id": topic.body["id"], "name": "about that", "type": 11,
                           "parent": channel_id}

        async def recv(name: str, check: Any = lambda d: True) -> dict[str, Any]:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    payload = await ws.recv()
                    if payload.get("t") == name and check(payload["d"]):
                        return payload["d"]  # type: ignore[no-any-return]

        def about(thread_id: str) -> Any:
            return lambda d: d["id"] == thread_id

        created = await recv("THREAD_CREATE", about(made["id"]))
        assert created["newly_created"] is True and created["owner_id"] == world.bot.id
        in_thread = await recv("MESSAGE_CREATE", about(done["sent"]["id"]))
        assert in_thread["channel_id"] == made["id"]
        members = await recv("THREAD_MEMBERS_UPDATE", about(made["id"]))
        assert [m["user_id"] for m in members["added_members"]] == [bob.id]
        archived = await recv("THREAD_UPDATE", about(made["id"]))
        assert archived["thread_metadata"]["archived"] is True
        assert (await recv("THREAD_CREATE", about(started["id"])))["name"] == "about that"

        # A thread the user makes reaches the bot over the gateway: threadCreate, new.
        r = await api.post(f"/channels/{channel_id}/threads", user.token,
                           json={"name": "from alice", "type": 11})
        assert r.status == 201, r.body
        while (heard := await bot.event("threadCreate"))["id"] != r.body["id"]:
            pass
        assert heard == {"event": "threadCreate", "id": r.body["id"], "name": "from alice",
                         "parent": channel_id, "newly_created": True}

    thread = await api.get(f"/channels/{made['id']}", user.token)
    assert thread.status == 200, thread.body
    assert (thread.body["type"], thread.body["parent_id"], thread.body["owner_id"]) == (
        11, channel_id, world.bot.id)
    assert thread.body["thread_metadata"]["auto_archive_duration"] == 60
    assert thread.body["thread_metadata"]["archived"] is True
    history = await api.get(f"/channels/{made['id']}/messages", user.token)
    assert [(m["id"], m["author"]["id"]) for m in history.body] == [
        (done["sent"]["id"], world.bot.id)]
    listed = await api.get(f"/channels/{made['id']}/thread-members", user.token)
    assert sorted(m["user_id"] for m in listed.body) == sorted([world.bot.id, bob.id])
    old = await api.get(f"/channels/{channel_id}/threads/archived/public", user.token)
    assert [t["id"] for t in old.body["threads"]] == [made["id"]]
    from_message = await api.get(f"/channels/{topic.body['id']}", user.token)
    assert from_message.status == 200, from_message.body
    assert (from_message.body["type"], from_message.body["name"]) == (11, "about that")
    message = await api.get(f"/channels/{channel_id}/messages/{topic.body['id']}", user.token)
    assert message.status == 200, message.body
    assert message.body["flags"] & 32  # HAS_THREAD, what discord.js's hasThread reads
    assert message.body["thread"]["id"] == topic.body["id"], message.body
