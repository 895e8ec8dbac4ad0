"""The attack matrix (issue 14, item 5), on SQLite and on PostgreSQL.

Every id-taking REST route, enumerated from the app's router when the tests run (a route added
later is attacked too, or the test names it and the fixture it lacks), and every gateway
opcode (``gateway.protocol.Opcode``, likewise) is sent by two attackers against the objects of
a victim's world:

- the *member*: in the victim's guild with @everyone's default permissions, denied
  VIEW_CHANNEL on its private channel and no recipient of its DM;
- the *outsider*: in no guild of the victim's, owner of a guild of their own;
- and on the private channel and the DMs only, the *moderator*: in the guild with every
  management permission but ADMINISTRATOR, and no view of the private channel either.

Each must get 403 or 404 with none of the victim's strings (names, topics, contents, invite
codes) in the body, whether every id of the path is the victim's or only one of them is
(the others the attacker's own: a message of a private channel through a channel the attacker
can read, a role of the victim's guild through the attacker's guild...). Ids in bodies and
query strings are attacked by hand (``body_attacks``, ``query_attacks``: they need the field's
meaning). At the end the victim's world must read back exactly as before.

Then the tokens (forged, truncated, one character changed, revoked by logout, by the operator
and by a password change: 401 on a sample of routes of every group, 4004 on IDENTIFY), bad ids
in every id slot of every route and in the id fields of the bodies (400 or 404), and a seeded
sample of a fuzz corpus on every route (invalid JSON, wrong types, 100 kB strings, NUL and
control characters, huge and negative ids, operator objects: never a status of 500 or more).

The store is shared by the module: an SQLite directory, or a new PostgreSQL schema of the test
database (dropped at the end), as ``tests/integration/conftest.py`` makes them; each test
builds a world of its own in it, under names no other test uses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import random
import re
import urllib.parse
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from api.app import create_app
from api.openapi import OPERATIONS, SCHEMAS
from core import admin
from core.config import Config
from core.events import Event
from core.permissions import Permission
from core.platform import Platform
from gateway.protocol import Opcode
from tests.api.conftest import Account, Api
from tests.integration.gateway_client import GatewayClient, Server, free_port, running_server

V = "/api/v10"
THUMBS = "\N{THUMBS UP SIGN}"
VIEW = str(int(Permission.VIEW_CHANNEL))
# Every management permission but ADMINISTRATOR (which would show every channel).
MODERATOR = str(int(
    Permission.KICK_MEMBERS | Permission.BAN_MEMBERS | Permission.MANAGE_CHANNELS
    | Permission.MANAGE_GUILD | Permission.VIEW_AUDIT_LOG | Permission.MANAGE_MESSAGES
    | Permission.MANAGE_NICKNAMES | Permission.MANAGE_ROLES | Permission.MANAGE_WEBHOOKS
    | Permission.MODERATE_MEMBERS | Permission.PIN_MESSAGES))
_PARAM = re.compile(r"\{(\w+)\}")
MISSING: Any = object()

# -- the store of the module, on each backend ----------------------------------------------------


def _pg(dsn: str, sql: str) -> None:
    """Run ``sql`` on a private loop in a worker thread (the module's fixture is synchronous:
    pytest-asyncio's loops are per test)."""
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[dict[str, str]]:
    """The store settings of this module: an SQLite directory, or a new PostgreSQL schema."""
    data_dir = str(tmp_path_factory.mktemp("attack"))
    if request.param == "sqlite":
        yield {"data_dir": data_dir}
        return
    dsn = request.getfixturevalue("postgres_dsn")
    schema = f"attack_{uuid.uuid4().hex[:16]}"
    _pg(dsn, f'CREATE SCHEMA "{schema}"')
    try:
        joiner = "&" if "?" in dsn else "?"
        yield {"data_dir": data_dir, "postgres_url": f"{dsn}{joiner}search_path={schema}"}
    finally:
        _pg(dsn, f'DROP SCHEMA "{schema}" CASCADE')


def _config(stores: dict[str, str], **changes: Any) -> Config:
    # Rate limits stay on (their middleware sees every attack) but never answer 429 here.
    return Config(**stores, argon2_time_cost=1, argon2_memory_kib=64,
                  ratelimit_route_limit=1_000_000, ratelimit_global_per_s=1_000_000,
                  batch_max_delay_ms=0, **changes)


@pytest.fixture
def config(stores: dict[str, str]) -> Config:
    """The ``platform`` and ``api`` fixtures of tests/api/conftest.py on the module's store."""
    return _config(stores)


# -- requests that never fail the helper itself --------------------------------------------------


@dataclass
class Hit:
    status: int
    text: str


async def hit(api: Api, method: str, path: str, token: str | None = None, *, bot: bool = False,
              body: Any = MISSING, raw: bytes | None = None,
              params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> Hit:
    """One request; ``path`` (after /api/v10) is sent as given, already percent-encoded.
    ``body`` is encoded with the standard library (integers past 64 bits, NaN); ``headers``
    are added last (they may replace the token's)."""
    extra, headers = headers or {}, {}
    if token is not None:
        headers["Authorization"] = f"Bot {token}" if bot else token
    headers.update(extra)
    if body is not MISSING:
        raw = json.dumps(body).encode()
    if raw is not None:
        headers["Content-Type"] = "application/json"
    resp = await api.client.request(method, V + path, data=raw, headers=headers, params=params)
    return Hit(resp.status, (await resp.read()).decode("utf-8", "replace"))


def seg(value: str) -> str:
    """``value`` as one path segment."""
    return urllib.parse.quote(value, safe="@")


# -- the routes, from the router -----------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Route:
    method: str
    template: str  # after /api/v10
    public: bool

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.template)

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.template)

    def path(self, values: dict[str, str]) -> str:
        return _PARAM.sub(lambda m: seg(values[m.group(1)]), self.template)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def routes_of(app: web.Application) -> list[Route]:
    """Every REST route of ``app`` (HEAD, the same handler as GET, left out)."""
    out = set()
    for route in app.router.routes():
        resource = route.resource
        if route.method in ("HEAD", "*") or resource is None:
            continue
        if resource.canonical.startswith(V + "/"):
            public = bool(getattr(route.handler, "public", False))
            out.add(Route(route.method, resource.canonical[len(V):], public))
    return sorted(out)


# The id slots the worlds below fill. A route with another one fails the matrix until the
# object it names is added to ``World`` and to ``victim_slots``/``own_slots``.
KNOWN_SLOTS = {"guild_id", "channel_id", "message_id", "user_id", "role_id", "overwrite_id",
               "code", "emoji", "webhook_id", "webhook_token", "application_id", "command_id",
               "interaction_id", "interaction_token"}
# Slots whose value is not the victim's object but a filter in the attacker's own
# (``user_id``: a user is public; ``emoji``: a name), or a credential the attacker does not
# hold (``webhook_token``, ``interaction_token``: theirs is sent with the victim's webhook or
# interaction): never swapped alone.
NOT_OBJECTS = {"user_id", "emoji", "webhook_token", "interaction_token"}
# A webhook's token routes, and an interaction's follow-up routes, answer a wrong token
# 401 50027 (``core.webhooks``, ``core.interaction_responses``); an interaction's callback
# answers it 404 10062.
CREDENTIAL_SLOTS = {"webhook_token", "interaction_token"}

# What a plain member (@everyone's default permissions) may do with what they can see. The
# member is sent these on the private channel and the DM only (refused there); elsewhere a
# GET is checked for leaks, a write not sent (it would change the world legitimately).
MEMBER_MAY = {
    ("GET", "/guilds/{guild_id}"),
    ("GET", "/guilds/{guild_id}/channels"),
    ("GET", "/guilds/{guild_id}/members"),
    ("GET", "/guilds/{guild_id}/members/{user_id}"),
    ("GET", "/guilds/{guild_id}/roles"),
    ("GET", "/channels/{channel_id}"),
    ("GET", "/channels/{channel_id}/messages"),
    ("GET", "/channels/{channel_id}/messages/{message_id}"),
    ("POST", "/channels/{channel_id}/messages"),
    ("POST", "/channels/{channel_id}/typing"),
    ("POST", "/channels/{channel_id}/invites"),
    ("GET", "/channels/{channel_id}/pins"),
    ("GET", "/channels/{channel_id}/messages/pins"),
    ("GET", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}"),
    ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"),
    ("GET", "/channels/{channel_id}/messages/search"),
    ("GET", "/guilds/{guild_id}/messages/search"),
    ("POST", "/channels/{channel_id}/messages/{message_id}/ack"),
    # Threads: @everyone's defaults hold CREATE_PUBLIC_THREADS and CREATE_PRIVATE_THREADS, as
    # on Discord; the listings show only what the reader may see (the world's private thread
    # in the public channel is the check that they do).
    ("POST", "/channels/{channel_id}/threads"),
    ("POST", "/channels/{channel_id}/messages/{message_id}/threads"),
    ("GET", "/guilds/{guild_id}/threads/active"),
    ("GET", "/channels/{channel_id}/threads/archived/public"),
    ("GET", "/channels/{channel_id}/users/@me/threads/archived/private"),
    # The slash-command picker's list (Discord's own client route): every member may read the
    # commands of the guild's bots that they may run there; an outsider is refused (50001).
    ("GET", "/guilds/{guild_id}/application-command-index"),
}
# Slots of a route that name no object but a position: never swapped alone.
MARKERS = {
    # The caller's read position: "the message need not exist any more" (core.read_states).
    ("POST", "/channels/{channel_id}/messages/{message_id}/ack"): {"message_id"},
}
# Routes for one kind of channel, which answer 400 for a channel of another kind the caller
# can see (its kind is no secret to them): 400 is a refusal there too.
ONE_KIND = {
    ("PUT", "/channels/{channel_id}/recipients/{user_id}"): "group DMs only (50024)",
    ("DELETE", "/channels/{channel_id}/recipients/{user_id}"): "group DMs only (50024)",
    ("PUT", "/channels/{channel_id}/thread-members/{user_id}"): "threads only (50024)",
    ("DELETE", "/channels/{channel_id}/thread-members/{user_id}"): "threads only (50024)",
    ("GET", "/channels/{channel_id}/thread-members/{user_id}"): "threads only (50024)",
    ("GET", "/channels/{channel_id}/thread-members"): "threads only (50024)",
}
# Routes on the caller's own membership: the member is not sent them (leaving would end the
# membership the other attacks need); the outsider is, and must be refused.
SELF = {
    ("DELETE", "/users/@me/guilds/{guild_id}"),
    ("PATCH", "/guilds/{guild_id}/members/@me"),
}
# Open to anyone by design, with why; not attacked for refusal (the leak checks of the other
# routes still hold them to what they show).
OPEN = {
    ("GET", "/users/{user_id}"): "a user's public profile, as on Discord",
    ("GET", "/invites/{code}"): "the code is the capability (public, as on Discord)",
    ("POST", "/invites/{code}"): "the code is the capability: holding it is an invitation",
}
# Never sent by the attackers: what they do is to their own session.
NOT_SENT = {("POST", "/auth/logout"): "revokes the caller's own token"}


def unclassified(routes: list[Route], known: set[str] = KNOWN_SLOTS) -> list[str]:
    """What the matrix cannot attack yet, one line per route, saying what it needs."""
    out = []
    for r in routes:
        unknown = [p for p in r.params if p not in known]
        if unknown and r.key not in OPEN:
            slots = ", ".join("{" + p + "}" for p in unknown)
            out.append(f"{r}: no fixture for {slots}: add the object to build_world, to "
                       "World.victim_slots/own_slots and to KNOWN_SLOTS in "
                       "tests/api/test_attack_matrix.py, or the route to OPEN with the reason "
                       "anyone may use it")
    return out


# -- the worlds ----------------------------------------------------------------------------------


@dataclass
class World:
    """The victim's world and the attackers', by name; ``ids`` holds every object id."""

    tag: str
    owner: Account  # the victim: owns the guild, the application, opened the DM
    friend: Account  # a member with the role that sees the private channel; the DM's other end
    member: Account  # attacker: in the guild, cannot view the private channel
    outsider: Account  # attacker: in none of the victim's guilds; owns a guild of their own
    bot: Account  # the victim's application's bot, in the guild
    moderator: Account  # attacker: manages the guild (not ADMINISTRATOR), cannot view priv
    ids: dict[str, str] = field(default_factory=dict)
    # What each attacker must never read, by the attacker's id.
    secrets: dict[str, list[str]] = field(default_factory=dict)

    def victim_slots(self) -> dict[str, dict[str, str]]:
        """The victim's objects per scenario, by slot."""
        i = self.ids
        base = {"guild_id": i["guild"], "user_id": self.friend.id, "role_id": i["role"],
                "overwrite_id": i["role"], "emoji": THUMBS}
        out = {
            "private": {**base, "channel_id": i["priv"], "message_id": i["priv_msg"],
                        "code": i["priv_code"]},
            "public": {**base, "channel_id": i["pub"], "message_id": i["pub_msg"],
                       "code": i["pub_code"]},
            "dm": {**base, "channel_id": i["dm"], "message_id": i["dm_msg"],
                   "overwrite_id": self.friend.id, "code": i["join_code"]},
        }
        if "gdm" in i:
            out["group"] = {**base, "channel_id": i["gdm"], "message_id": i["gdm_msg"],
                            "overwrite_id": self.friend.id, "code": i["join_code"]}
        if "pthread" in i:
            # A private thread of the public channel: the member sees its parent, not it.
            out["thread"] = {**base, "channel_id": i["pthread"], "message_id": i["pthread_msg"],
                             "code": i["pub_code"]}
        if "cmd" in i:
            # The victim's application and its global command (only its bot may manage them).
            for values in out.values():
                values["application_id"], values["command_id"] = self.bot.id, i["cmd"]
        if "priv_hook" in i:
            # The attackers do not hold the victim's webhook tokens: they send the outsider's.
            out["webhook"] = {**out["private"], "message_id": i["hook_msg"]}
            for name, values in out.items():
                values["webhook_id"] = i["pub_hook" if name == "public" else "priv_hook"]
                values["webhook_token"] = i["x_hook_token"]
        if "int" in i:
            # The victim's interaction (the owner invoked the bot's guild command in the
            # private channel; the bot answered). The attackers do not hold its token: they
            # send the outsider's own interaction's. Its response message is a scenario.
            out["interaction"] = {**out["private"], "message_id": i["int_msg"]}
            for values in out.values():
                values["interaction_id"], values["interaction_token"] = i["int"], i["x_int_token"]
        return out

    def own_slots(self, who: Account) -> dict[str, str]:
        """What ``who`` may use: the ids the swapped one is put among."""
        i = self.ids
        if who is self.outsider:
            out = {"guild_id": i["x_guild"], "channel_id": i["x_chan"], "message_id": i["x_msg"],
                   "user_id": who.id, "role_id": i["x_role"], "overwrite_id": i["x_role"],
                   "code": i["x_code"], "emoji": THUMBS}
        else:
            # The member: the public channel and their own message there, in the victim's guild.
            out = {"guild_id": i["guild"], "channel_id": i["pub"], "message_id": i["m_msg"],
                   "user_id": who.id, "role_id": i["role"], "overwrite_id": i["role"],
                   "code": i["join_code"], "emoji": THUMBS}
        if "x_cmd" in i:
            # The outsider's own application and command (the member has none: the victim's).
            mine = who is self.outsider
            out["application_id"] = i["x_app"] if mine else self.bot.id
            out["command_id"] = i["x_cmd"] if mine else i["cmd"]
        if "x_hook" in i:
            out["webhook_id"] = i["x_hook" if who is self.outsider else "priv_hook"]
            out["webhook_token"] = i["x_hook_token"]
        if "x_int" in i:
            # The outsider's own interaction (of its own application, in its own channel); the
            # member has none: the victim's, with the outsider's token.
            mine = who is self.outsider
            out["interaction_id"] = i["x_int" if mine else "int"]
            out["interaction_token"] = i["x_int_token"]
        return out

    def slots(self) -> set[str]:
        """The slots this world can fill."""
        return set(self.own_slots(self.outsider))

    def owner_slots(self, route: Route | None = None) -> dict[str, str]:
        """Valid ids the owner may use everywhere (the private channel's; for a webhook's
        token routes, its token and the message it sent; for an interaction's, its token,
        which the owner's bot holds, and its response)."""
        out = self.victim_slots()["private"]
        if "priv_hook" in self.ids:
            out["webhook_token"] = self.ids["priv_hook_token"]
            if route is not None and "webhook_token" in route.params:
                out["message_id"] = self.ids["hook_msg"]
        if "int" in self.ids:
            out["interaction_token"] = self.ids["int_token"]
            if route is not None and "interaction_token" in route.params:
                out["message_id"] = self.ids["int_msg"]
        return out


async def _ok(api: Api, method: str, path: str, token: str, body: Any = MISSING,
              bot: bool = False) -> Any:
    r = await hit(api, method, path, token, body=body, bot=bot)
    assert r.status < 300, f"{method} {path}: {r.status} {r.text}"
    return json.loads(r.text) if r.text else None


async def _invoke(api: Api, platform: Platform, who: Account, body: Any) -> tuple[str, str]:
    """``POST /interactions`` as ``who``; the id and token of the INTERACTION_CREATE its bot
    would hear (caught on the platform's bus: the tests here hold no bot session)."""
    created: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

    def catch(events: Sequence[Event]) -> None:
        for e in events:
            if e.name == "INTERACTION_CREATE" and not created.done():
                created.set_result(e)

    unsubscribe = platform.bus.subscribe(catch)
    try:
        await _ok(api, "POST", "/interactions", who.token, body)
        async with asyncio.timeout(5):  # delivered a loop turn later
            event = await created
    finally:
        unsubscribe()
    return event.data["id"], event.data["token"]


async def build_world(api: Api, routes: list[Route], platform: Platform | None = None) -> World:
    """The victim's guild (public and private channels, a category, a role, messages with
    reactions and pins, invites, overwrites), a DM, an application with its bot in the guild,
    and where the app has them, webhooks and a group DM; the member and the outsider with a
    message, a role, an invite and a webhook of their own. With ``platform`` (the app's, whose
    bus shows the interaction tokens), an interaction of the victim's answered by its bot, and
    one of the outsider's own."""
    tag = uuid.uuid4().hex[:8]
    has = {r.key for r in routes}

    async def account(name: str) -> Account:
        r = await hit(api, "POST", "/auth/register",
                      body={"username": f"{name}{tag}", "password": "correct horse"})
        assert r.status == 201, r.text
        body = json.loads(r.text)
        return Account(body["token"], body["user"]["id"], f"{name}{tag}")

    owner, friend, member, outsider, pal, moderator = [
        await account(n) for n in ("own", "fri", "mem", "out", "pal", "mod")]
    s = {k: f"zq-{k}-{tag}" for k in (
        "guild", "role", "cat", "pub", "pubtopic", "priv", "privtopic", "pubmsg", "privmsg",
        "privmsgf", "dmmsg", "app", "xguild", "xchan", "xmsg", "xrole", "mmsg", "privhook",
        "pubhook", "hookmsg", "xhook", "gdm", "gdmmsg", "cmd", "gcmd", "xapp", "pthread",
        "pthreadmsg", "intmsg")}
    o, ids = owner.token, {}

    async def post(path: str, body: Any, token: str = o) -> Any:
        return await _ok(api, "POST", path, token, body)

    g = ids["guild"] = (await post("/guilds", {"name": s["guild"]}))["id"]
    ids["role"] = (await post(f"/guilds/{g}/roles", {"name": s["role"], "permissions": "0"}))["id"]
    ids["cat"] = (await post(f"/guilds/{g}/channels", {"name": s["cat"], "type": 4}))["id"]
    ids["pub"] = (await post(f"/guilds/{g}/channels",
                             {"name": s["pub"], "topic": s["pubtopic"]}))["id"]
    ids["priv"] = (await post(f"/guilds/{g}/channels", {
        "name": s["priv"], "topic": s["privtopic"], "parent_id": ids["cat"],
        "permission_overwrites": [{"id": g, "type": 0, "deny": VIEW},
                                  {"id": ids["role"], "type": 0, "allow": VIEW}],
    }))["id"]
    ids["join_code"] = (await post(f"/channels/{ids['pub']}/invites", {}))["code"]
    for who in (friend, member, moderator):
        await post(f"/invites/{ids['join_code']}", None, who.token)
    ids["mod_role"] = (await post(f"/guilds/{g}/roles",
                                  {"name": "moderators", "permissions": MODERATOR}))["id"]
    await _ok(api, "PUT", f"/guilds/{g}/members/{moderator.id}/roles/{ids['mod_role']}", o)
    await _ok(api, "PUT", f"/guilds/{g}/members/{friend.id}/roles/{ids['role']}", o)
    await _ok(api, "PUT", f"/channels/{ids['pub']}/permissions/{ids['role']}", o,
              {"type": 0, "allow": "0", "deny": "0"})
    app = await _ok(api, "POST", "/applications", o, {"name": s["app"]})
    bot = Account(app["token"], app["id"], app["bot"]["username"])
    await _ok(api, "PUT", f"/guilds/{g}/members/{bot.id}", o, {})
    ids["dm"] = (await post("/users/@me/channels", {"recipient_id": friend.id}))["id"]
    for chan, key, text, token in (("pub", "pub_msg", s["pubmsg"], o),
                                   ("priv", "priv_msg", s["privmsg"], o),
                                   ("priv", "priv_msg_f", s["privmsgf"], friend.token),
                                   ("dm", "dm_msg", s["dmmsg"], o),
                                   ("pub", "m_msg", s["mmsg"], member.token)):
        ids[key] = (await post(f"/channels/{ids[chan]}/messages", {"content": text}, token))["id"]
    for chan, msg in (("pub", "pub_msg"), ("priv", "priv_msg"), ("dm", "dm_msg")):
        for token in (o, friend.token):
            await _ok(api, "PUT",
                      f"/channels/{ids[chan]}/messages/{ids[msg]}/reactions/{seg(THUMBS)}/@me",
                      token)
        await _ok(api, "PUT", f"/channels/{ids[chan]}/pins/{ids[msg]}", o)
    ids["pub_code"] = (await post(f"/channels/{ids['pub']}/invites", {"max_uses": 5}))["code"]
    ids["priv_code"] = (await post(f"/channels/{ids['priv']}/invites", {"max_uses": 5}))["code"]

    x = outsider.token
    ids["x_guild"] = xg = (await post("/guilds", {"name": s["xguild"]}, x))["id"]
    ids["x_chan"] = (await post(f"/guilds/{xg}/channels", {"name": s["xchan"]}, x))["id"]
    ids["x_role"] = (await post(f"/guilds/{xg}/roles", {"name": s["xrole"]}, x))["id"]
    ids["x_msg"] = (await post(f"/channels/{ids['x_chan']}/messages", {"content": s["xmsg"]},
                               x))["id"]
    await _ok(api, "PUT", f"/channels/{ids['x_chan']}/messages/{ids['x_msg']}/reactions/"
              f"{seg(THUMBS)}/@me", x)
    await _ok(api, "PUT", f"/channels/{ids['x_chan']}/pins/{ids['x_msg']}", x)
    ids["x_code"] = (await post(f"/channels/{ids['x_chan']}/invites", {}, x))["code"]

    if ("POST", "/channels/{channel_id}/webhooks") in has:
        # Webhooks: the private and the public channel's (the private one sent a message),
        # the outsider's own.
        for key, chan, name, token in (("priv_hook", ids["priv"], s["privhook"], o),
                                       ("pub_hook", ids["pub"], s["pubhook"], o),
                                       ("x_hook", ids["x_chan"], s["xhook"], x)):
            hook = await post(f"/channels/{chan}/webhooks", {"name": name}, token)
            ids[key], ids[f"{key}_token"] = hook["id"], hook["token"]
        ids["hook_msg"] = (await post(
            f"/webhooks/{ids['priv_hook']}/{ids['priv_hook_token']}?wait=true",
            {"content": s["hookmsg"]}))["id"]
    if ("POST", "/applications/{application_id}/commands") in has:
        # The victim's application's global and guild commands (its bot made them), and the
        # outsider's own application with a command.
        ids["cmd"] = (await _ok(api, "POST", f"/applications/{bot.id}/commands", bot.token,
                                {"name": s["cmd"], "description": "d"}, bot=True))["id"]
        ids["gcmd"] = (await _ok(api, "POST", f"/applications/{bot.id}/guilds/{g}/commands",
                                 bot.token, {"name": s["gcmd"], "description": "d"},
                                 bot=True))["id"]
        x_app = await _ok(api, "POST", "/applications", outsider.token, {"name": s["xapp"]})
        ids["x_app"] = x_app["id"]
        ids["x_cmd"] = (await _ok(api, "POST", f"/applications/{x_app['id']}/commands",
                                  x_app["token"], {"name": "x", "description": "d"},
                                  bot=True))["id"]
    if platform is not None and ("POST", "/interactions") in has and "gcmd" in ids:
        # The owner runs the bot's guild command in the private channel; the bot answers it
        # (a message in that channel, type 20). The outsider runs its own application's
        # command in its own channel, unanswered: its token is the wrong one the attackers
        # send, valid but for another interaction and application.
        ids["int"], ids["int_token"] = await _invoke(api, platform, owner, {
            "type": 2, "application_id": bot.id, "guild_id": g, "channel_id": ids["priv"],
            "data": {"id": ids["gcmd"], "name": s["gcmd"], "type": 1}})
        answer = await _ok(api, "POST", f"/interactions/{ids['int']}/{ids['int_token']}/"
                           "callback?with_response=1", bot.token,
                           {"type": 4, "data": {"content": s["intmsg"]}}, bot=True)
        ids["int_msg"] = answer["resource"]["message"]["id"]
        await _ok(api, "PUT", f"/guilds/{xg}/members/{ids['x_app']}", x, {})
        ids["x_int"], ids["x_int_token"] = await _invoke(api, platform, outsider, {
            "type": 2, "application_id": ids["x_app"], "guild_id": xg,
            "channel_id": ids["x_chan"], "data": {"id": ids["x_cmd"], "name": "x", "type": 1}})
    if ("PUT", "/channels/{channel_id}/recipients/{user_id}") in has:
        # A group DM of the owner's with the friend and a third user, named, with a message.
        ids["gdm"] = (await post("/users/@me/channels", {"recipients": [friend.id, pal.id]}))["id"]
        await _ok(api, "PATCH", f"/channels/{ids['gdm']}", o, {"name": s["gdm"]})
        ids["gdm_msg"] = (await post(f"/channels/{ids['gdm']}/messages",
                                     {"content": s["gdmmsg"]}))["id"]

    if ("POST", "/channels/{channel_id}/threads") in has:
        # A private thread of the owner's in the public channel, with the friend in it and a
        # message: the member and the moderator see the parent, but neither joined it nor
        # holds MANAGE_THREADS.
        ids["pthread"] = (await post(f"/channels/{ids['pub']}/threads",
                                     {"name": s["pthread"], "type": 12}))["id"]
        await _ok(api, "PUT", f"/channels/{ids['pthread']}/thread-members/{friend.id}", o)
        ids["pthread_msg"] = (await post(f"/channels/{ids['pthread']}/messages",
                                         {"content": s["pthreadmsg"]}))["id"]

    # The member sees the guild, its role names, the public channel and the application's bot
    # (a member) with the commands it offers there (the picker's application-command-index,
    # as on Discord); never the private channel, the DM, the invites or the outsider's guild.
    hidden_from_member = [s[k] for k in ("priv", "privtopic", "privmsg", "privmsgf", "dmmsg",
                                         "xguild", "xchan", "xmsg", "xrole", "privhook",
                                         "pubhook", "hookmsg", "xhook", "gdm", "gdmmsg",
                                         "pthread", "pthreadmsg", "intmsg")]
    hidden_from_member += [ids[k] for k in ("pub_code", "priv_code", "x_code", "priv_hook_token",
                                            "pub_hook_token", "x_hook_token", "int_token",
                                            "x_int_token") if k in ids]
    hidden_from_outsider = [s[k] for k in ("guild", "role", "cat", "pub", "pubtopic", "priv",
                                           "privtopic", "pubmsg", "privmsg", "privmsgf",
                                           "dmmsg", "app", "mmsg", "privhook", "pubhook",
                                           "hookmsg", "gdm", "gdmmsg", "cmd", "gcmd",
                                           "pthread", "pthreadmsg", "intmsg")]
    hidden_from_outsider += [ids[k] for k in ("join_code", "pub_code", "priv_code",
                                              "priv_hook_token", "pub_hook_token",
                                              "int_token") if k in ids]
    # The moderator may read invites, webhooks and the audit log (names, codes, tokens): of
    # the private channel and the DMs, their contents stay hidden.
    hidden_from_moderator = [s[k] for k in ("privmsg", "privmsgf", "dmmsg", "gdm", "gdmmsg",
                                            "hookmsg", "pthread", "pthreadmsg", "intmsg")]
    hidden_from_moderator += [ids[k] for k in ("int_token",) if k in ids]
    world = World(tag, owner, friend, member, outsider, bot, moderator, ids,
                  {member.id: hidden_from_member, outsider.id: hidden_from_outsider,
                   moderator.id: hidden_from_moderator})
    return world


async def snapshot(api: Api, w: World) -> dict[str, Any]:
    """Everything the owner reads of their world."""
    i, o = w.ids, w.owner.token
    paths = [f"/guilds/{i['guild']}", f"/guilds/{i['guild']}/channels",
             f"/guilds/{i['guild']}/roles", f"/guilds/{i['guild']}/members?limit=1000",
             f"/guilds/{i['guild']}/invites", "/users/@me/channels", "/applications"]
    if "priv_hook" in i:
        paths += [f"/guilds/{i['guild']}/webhooks",
                  f"/webhooks/{i['priv_hook']}/{i['priv_hook_token']}/messages/{i['hook_msg']}"]
    chats = [("pub", "pub_msg"), ("priv", "priv_msg"), ("dm", "dm_msg")]
    chats += [("gdm", "gdm_msg")] if "gdm" in i else []
    chats += [("pthread", "pthread_msg")] if "pthread" in i else []
    if "pthread" in i:
        paths += [f"/channels/{i['pthread']}/thread-members"]
    for chan, msg in chats:
        c = i[chan]
        paths += [f"/channels/{c}", f"/channels/{c}/messages?limit=100", f"/channels/{c}/pins",
                  f"/channels/{c}/messages/{i[msg]}/reactions/{seg(THUMBS)}"]
    out = {}
    for path in paths:
        r = await hit(api, "GET", path, o)
        out[path] = (r.status, json.loads(r.text) if r.text else None)
    return out


def leaked(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


# -- the access matrix ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    who: str  # "member" or "outsider"
    route: Route
    path: str
    why: str
    refused: bool  # 403/404 expected; else only no leak (a member's legitimate read)
    body: Any
    visible: bool  # the attacker may see the channel (the member, the public channel)

    @property
    def statuses(self) -> tuple[int, ...]:
        """What refuses: 403 or 404; 401 on a route whose path holds a credential; 400 from a
        route for another kind of channel than one the attacker sees."""
        wrong_credential = (401,) if set(self.route.params) & CREDENTIAL_SLOTS else ()
        wrong_kind = (400,) if self.visible and self.route.key in ONE_KIND else ()
        return (403, 404, *wrong_credential, *wrong_kind)


def plan_attacks(routes: list[Route], w: World) -> list[Attack]:
    """Every attack of the matrix, deduplicated by (attacker, method, path)."""
    out: dict[tuple[str, str, str], Attack] = {}

    def add(who: str, r: Route, values: dict[str, str], why: str, refused: bool) -> None:
        path = r.path(values)
        visible = who == "member" and values["channel_id"] == w.ids["pub"]
        attack = Attack(who, r, path, why, refused, attack_body(r, values), visible)
        out.setdefault((who, r.method, path), attack)

    victims = w.victim_slots()
    for r in routes:
        if not r.params or r.key in OPEN or r.key in NOT_SENT:
            continue
        params = set(r.params)
        # Routes whose objects differ by scenario; the others are attacked once.
        per_scenario = bool(params & {"channel_id", "message_id", "webhook_id"})
        for scenario, values in victims.items():
            if not per_scenario and scenario != "private":
                continue
            add("outsider", r, values, f"the victim's objects ({scenario})", True)
            if r.key in SELF:
                continue
            # Every scenario but "public" is in the private channel or the DM.
            if per_scenario and scenario != "public":
                add("member", r, values, f"a channel it cannot view ({scenario})", True)
                add("moderator", r, values, f"a channel it cannot view ({scenario})", True)
            elif r.key not in MEMBER_MAY:
                add("member", r, values, WITHOUT_PERMISSION, True)
            elif r.method == "GET":
                add("member", r, values, "a read it may make: no leak", False)
        # One slot the victim's, the others the attacker's own.
        for who, acc in (("outsider", w.outsider), ("member", w.member)):
            if who == "member" and (r.key in SELF or "channel_id" not in params):
                continue
            own = w.own_slots(acc)
            swappable = [p for p in r.params
                         if p not in NOT_OBJECTS and p not in MARKERS.get(r.key, ())]
            if who == "member":
                swappable = [p for p in swappable if p in ("channel_id", "message_id")]
            for slot in swappable:
                for scenario, values in victims.items():
                    if values[slot] == own[slot]:
                        continue
                    if who == "member" and scenario in ("public", "webhook"):
                        continue
                    add(who, r, {**own, slot: values[slot]},
                        f"its own ids but the victim's {slot} ({scenario})", True)
    return list(out.values())


def body_attacks(w: World) -> list[tuple[Account, str, str, Any, tuple[int, ...]]]:
    """Victim ids in the id fields of bodies sent within the attacker's own objects:
    (attacker, method, path, body, the statuses allowed)."""
    i, m, x = w.ids, w.member, w.outsider
    refused = (400, 403, 404)
    xg, xc = i["x_guild"], i["x_chan"]
    joins = [(who, "PUT", f"/channels/{i['gdm']}/recipients/{who.id}", None, refused)
             for who in (m, x) if "gdm" in i]  # adding oneself to the victim's group DM
    # The moderator grants itself the private channel, or more than it has.
    d, priv = w.moderator, f"/channels/{i['priv']}"
    escalations = [
        (d, "PUT", f"{priv}/permissions/{i['mod_role']}", {"type": 0, "allow": VIEW}, refused),
        (d, "PUT", f"{priv}/permissions/{d.id}", {"type": 1, "allow": VIEW}, refused),
        (d, "PATCH", priv, {"permission_overwrites": []}, refused),
        (d, "PATCH", f"/guilds/{i['guild']}/roles/{i['mod_role']}",
         {"permissions": str(int(Permission.ADMINISTRATOR))}, refused),
        (d, "PATCH", f"/guilds/{i['guild']}/roles/{i['guild']}",
         {"permissions": str(int(Permission.ADMINISTRATOR))}, refused),
    ]
    # Moving one's own webhook into the victim's channel.
    moves = [(x, "PATCH", f"/webhooks/{i['x_hook']}", {"channel_id": i[c]}, refused)
             for c in ("pub", "priv") if "x_hook" in i]
    return [*joins, *moves, *escalations,
        (m, "POST", f"/channels/{i['pub']}/messages",
         {"content": "re", "message_reference": {"message_id": i["priv_msg"]}}, refused),
        (m, "POST", f"/channels/{i['pub']}/messages",
         {"content": "re", "message_reference": {"message_id": i["priv_msg"],
                                                 "channel_id": i["priv"]}}, refused),
        (m, "POST", f"/channels/{i['pub']}/messages",
         {"content": "re", "message_reference": {"message_id": i["dm_msg"],
                                                 "channel_id": i["dm"]}}, refused),
        (x, "POST", f"/channels/{xc}/messages",
         {"content": "re", "message_reference": {"message_id": i["pub_msg"],
                                                 "channel_id": i["pub"],
                                                 "guild_id": i["guild"]}}, refused),
        (x, "POST", f"/channels/{xc}/messages",
         {"content": "re", "message_reference": {"message_id": i["priv_msg"],
                                                 "channel_id": i["priv"],
                                                 "fail_if_not_exists": False}},
         (200, *refused)),
        # Mentions of the victim's channels, role and user in the outsider's own channel.
        (x, "POST", f"/channels/{xc}/messages",
         {"content": f"<#{i['pub']}> <#{i['priv']}> <#{i['dm']}> <@&{i['role']}> "
                     f"<@{w.friend.id}> <@!{w.owner.id}>",
          "allowed_mentions": {"parse": ["users", "roles", "everyone"]}}, (200,)),
        (x, "PATCH", f"/guilds/{xg}", {"system_channel_id": i["pub"]}, refused),
        (x, "PATCH", f"/guilds/{xg}", {"owner_id": w.owner.id}, refused),
        (x, "POST", f"/guilds/{xg}/channels", {"name": "x", "parent_id": i["cat"]}, refused),
        (x, "PATCH", f"/guilds/{xg}/channels", [{"id": i["pub"], "position": 3}], refused),
        (x, "PATCH", f"/guilds/{xg}/channels", [{"id": xc, "parent_id": i["cat"]}], refused),
        (x, "PATCH", f"/guilds/{xg}/roles", [{"id": i["role"], "position": 1}], refused),
        (x, "PATCH", f"/guilds/{xg}/members/{x.id}", {"roles": [i["role"]]}, refused),
        (x, "PUT", f"/guilds/{xg}/members/{x.id}/roles/{i['role']}", None, refused),
        (x, "POST", f"/guilds/{xg}/channels",
         {"name": "x", "permission_overwrites": [{"id": i["role"], "type": 0}]},
         (201, 400, 403, 404)),
        (x, "POST", f"/channels/{xc}/messages/bulk-delete",
         {"messages": [i["pub_msg"], i["priv_msg"]]}, (204, 400, 403, 404)),
    ]


PWNED = "pwned"
WITHOUT_PERMISSION = "without the route's permission"
# Bodies that attempt what the route does, where the schema's fields do not say enough.
ATTACK_BODIES: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
    ("PATCH", "/guilds/{guild_id}/channels"):
        lambda v: [{"id": v["channel_id"], "position": 0}],
    ("PATCH", "/guilds/{guild_id}/roles"): lambda v: [{"id": v["role_id"], "position": 1}],
    ("POST", "/channels/{channel_id}/messages/bulk-delete"):
        lambda v: {"messages": [v["message_id"], str(int(v["message_id"]) - 1)]},
    ("PATCH", "/guilds/{guild_id}/members/{user_id}"): lambda v: {"nick": PWNED, "roles": []},
}


def attack_body(r: Route, values: dict[str, str]) -> Any:
    """A body that tries the route's change: the route's own (``ATTACK_BODIES``), else its
    schema's text fields set to "pwned" and its required fields filled; none for a read."""
    if r.method not in ("POST", "PUT", "PATCH"):
        return MISSING
    if (make := ATTACK_BODIES.get(r.key)) is not None:
        return make(values)
    op = OPERATIONS.get((r.method, V + r.template))
    schema = SCHEMAS.get(op.body) if op is not None and op.body else None
    if schema is None or schema.get("type") == "array":
        return {}
    props = schema.get("properties", {})
    body: dict[str, Any] = {k: PWNED for k in ("name", "content", "nick", "topic") if k in props}
    for name in schema.get("required", []):
        kinds = props[name].get("type", "string")
        kind = kinds[0] if isinstance(kinds, list) else kinds
        body.setdefault(name, {"integer": 0, "boolean": False, "array": [],
                               "object": {}}.get(kind, PWNED))
    return body


def query_attacks(w: World, has: set[tuple[str, str]]) -> list[tuple[Account, str, dict[str, str]]]:
    """Victim ids in the query string of reads the attacker may make: (attacker, path, query).
    Whatever the status, nothing of the victim's may come back."""
    i, m, x = w.ids, w.member, w.outsider
    out = [
        (m, f"/channels/{i['pub']}/messages", {"around": i["priv_msg"]}),
        (m, f"/channels/{i['pub']}/messages", {"after": "0", "limit": "100"}),
        (m, f"/channels/{i['pub']}/messages/pins", {"before": "2100-01-01T00:00:00+00:00"}),
        (x, f"/channels/{i['x_chan']}/messages", {"around": i["pub_msg"]}),
        (m, f"/guilds/{i['guild']}/members", {"limit": "1000", "after": "0"}),
    ]
    if ("GET", "/guilds/{guild_id}/messages/search") in has:
        for chan in ("priv", "dm", "pub"):
            out.append((x, f"/guilds/{i['x_guild']}/messages/search", {"channel_id": i[chan]}))
        for chan in ("priv", "dm") + (("gdm",) if "gdm" in i else ()):
            out.append((m, f"/guilds/{i['guild']}/messages/search", {"channel_id": i[chan]}))
            out.append((m, f"/channels/{i['pub']}/messages/search", {"channel_id": i[chan]}))
        out.append((m, f"/guilds/{i['guild']}/messages/search", {"author_id": w.owner.id}))
        out.append((m, f"/guilds/{i['guild']}/messages/search", {"content": "zq"}))
        out.append((x, f"/guilds/{i['x_guild']}/messages/search", {"author_id": w.owner.id}))
    return out


async def run_matrix(api: Api, w: World, routes: list[Route]) -> list[str]:
    failures = []
    who = {"member": w.member, "outsider": w.outsider, "moderator": w.moderator}
    attacks = plan_attacks(routes, w)
    assert len(attacks) > 5 * len(routes), len(attacks)  # the plan itself is not empty
    for a in attacks:
        acc = who[a.who]
        r = await hit(api, a.route.method, a.path, acc.token, body=a.body)
        bad = leaked(r.text, w.secrets[acc.id])
        if (a.refused and r.status not in a.statuses) or bad or r.status >= 500:
            hint = ""
            if r.status < 300 and a.why == WITHOUT_PERMISSION:
                hint = " (if a plain member may do this, add the route to MEMBER_MAY)"
            failures.append(f"{a.who} {a.route.method} {a.path} [{a.route.template}: {a.why}]"
                            f" -> {r.status}{' leaks ' + str(bad) if bad else ''}{hint}: "
                            f"{r.text[:200]}")
    for acc, path, query in query_attacks(w, {r.key for r in routes}):
        r = await hit(api, "GET", path, acc.token, params=query)
        if (bad := leaked(r.text, w.secrets[acc.id])) or r.status >= 500:
            failures.append(f"{acc.username} GET {path}?{query} -> {r.status} leaks {bad}: "
                            f"{r.text[:200]}")
    for acc, method, path, body, allowed in body_attacks(w):
        r = await hit(api, method, path, acc.token, body=body)
        bad = leaked(r.text, w.secrets[acc.id])
        if r.status not in allowed or bad:
            failures.append(f"{acc.username} {method} {path} {body} -> {r.status}"
                            f"{' leaks ' + str(bad) if bad else ''}: {r.text[:200]}")
    return failures


async def test_every_route_and_op_is_classified(platform: Platform) -> None:
    """A route the matrix cannot fill, or an opcode it does not attack, fails here first,
    with what to add."""
    problems = unclassified(routes_of(create_app(platform)))
    problems += [f"gateway op {op.name} ({op.value}): no attack in GATEWAY_ATTACKS"
                 for op in Opcode if op not in GATEWAY_ATTACKS]
    assert not problems, "\n".join(problems)


async def test_access_matrix(api: Api, platform: Platform) -> None:
    routes = routes_of(create_app(platform))
    w = await build_world(api, routes, platform)
    assert not (missing := unclassified(routes, w.slots())), "\n".join(missing)
    before = await snapshot(api, w)
    failures = await run_matrix(api, w, routes)
    # The routes without ids, as each attacker: nothing of the victim's either.
    for r in routes:
        if r.params or r.key in NOT_SENT:
            continue
        for acc in (w.member, w.outsider):
            body = {} if r.method in ("POST", "PUT", "PATCH") else MISSING
            got = await hit(api, r.method, r.path({}), acc.token, body=body)
            if bad := leaked(got.text, w.secrets[acc.id]):
                failures.append(f"{acc.username} {r} leaks {bad}")
    after = await snapshot(api, w)
    changed = [p for p in before if before[p] != after[p]]
    failures += [f"the victim's {p} changed: {before[p]} -> {after[p]}" for p in changed]
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)


# -- tokens --------------------------------------------------------------------------------------


def _flip(token: str, index: int) -> str:
    ch = token[index]
    return token[:index] + ("B" if ch != "B" else "C") + token[index + 1:]


def bad_tokens(valid: str) -> dict[str, str]:
    """Forged, truncated and one-character-changed variants of ``valid``."""
    prefix, _, secret = valid.partition(".")
    rnd = random.Random(zlib.crc32(valid.encode()))
    forged_secret = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_")
                            for _ in secret)
    return {
        "forged (the user's id, a random secret)": f"{prefix}.{forged_secret}",
        "forged (random)": uuid.uuid4().hex + "." + uuid.uuid4().hex,
        "truncated by one": valid[:-1],
        "truncated to the id": prefix,
        "truncated to half": valid[: len(valid) // 2],
        "one character of the secret changed": _flip(valid, len(valid) - 5),
        "one character of the id changed": _flip(valid, 2),
        "with a character appended": valid + "A",
    }


def token_sample(routes: list[Route]) -> list[Route]:
    """Two routes of every group (first path segment), the ones that need a token."""
    groups: dict[str, list[Route]] = {}
    for r in routes:
        if not r.public and r.key not in NOT_SENT:
            groups.setdefault(r.template.split("/")[1], []).append(r)
    out = []
    for name, members in sorted(groups.items()):
        rnd = random.Random(zlib.crc32(name.encode()))
        out += rnd.sample(members, min(2, len(members)))
    return out


async def _refused_everywhere(api: Api, w: World, token: str, sample: list[Route],
                              what: str, bot: bool = False) -> list[str]:
    out = []
    for r in sample:
        body = {} if r.method in ("POST", "PUT", "PATCH") else MISSING
        got = await hit(api, r.method, r.path(w.owner_slots(r)), token, body=body, bot=bot)
        bad = leaked(got.text, w.secrets[w.outsider.id])
        if got.status != 401 or bad:
            out.append(f"{what}: {r} -> {got.status} {bad or ''} {got.text[:120]}")
    return out


async def test_bad_and_revoked_tokens_get_401(api: Api, platform: Platform) -> None:
    routes = routes_of(create_app(platform))
    w = await build_world(api, routes, platform)
    sample = token_sample(routes)
    groups = {r.template.split("/")[1] for r in sample}
    assert {"guilds", "channels", "users", "invites", "applications"} <= groups, groups
    # The owner's token opens every sampled route (so a 401 below is the token's doing).
    for r in sample:
        if r.method == "GET":
            got = await hit(api, r.method, r.path(w.owner_slots(r)), w.owner.token)
            assert got.status != 401, (str(r), got.text)
    failures = []
    for what, token in bad_tokens(w.owner.token).items():
        failures += await _refused_everywhere(api, w, token, sample, what)
    for what, token in bad_tokens(w.bot.token).items():
        failures += await _refused_everywhere(api, w, token, sample, f"bot: {what}", bot=True)
    failures += await _refused_everywhere(api, w, w.owner.token, sample, "user token as Bot",
                                          bot=True)

    # Revoked: by logout, by the operator, by a password change (the other tokens).
    async def login() -> str:
        got = await hit(api, "POST", "/auth/login",
                        body={"login": w.owner.username, "password": "correct horse"})
        assert got.status == 200, got.text
        token: str = json.loads(got.text)["token"]
        assert (await hit(api, "GET", "/users/@me", token)).status == 200  # cached now
        return token

    token = await login()
    assert (await hit(api, "POST", "/auth/logout", token)).status == 204
    failures += await _refused_everywhere(api, w, token, sample, "after logout")
    token = await login()
    await admin.revoke_tokens(platform, w.owner.username)
    failures += await _refused_everywhere(api, w, token, sample, "after admin revoke-tokens")
    failures += await _refused_everywhere(api, w, w.owner.token, sample,
                                          "the first token after admin revoke-tokens")
    token, other = await login(), await login()
    got = await hit(api, "PATCH", "/users/@me", token,
                    body={"password": "correct horse", "new_password": "battery staple"})
    assert got.status == 200, got.text
    failures += await _refused_everywhere(api, w, other, sample, "after a password change")
    assert (await hit(api, "GET", "/users/@me", token)).status == 200  # the one that changed it
    assert not failures, "\n".join(failures)


# -- bad ids -------------------------------------------------------------------------------------

# Out-of-range and malformed ids for a path segment (sent percent-encoded).
BAD_PATH_IDS = [
    "-1", "0", str(2**63), str(2**64), "9" * 20, "1" * 25, "abc", "1.5", "true", "\u00b2",
    "\u0661\u0662\u0663", "\x00", '{"$gt": ""}',
]
# More of them, a seeded sample per slot (the runtime stays bounded).
MORE_PATH_IDS = [
    str(2**63 - 1) + "0", "1e3", "false", "null", "0x10", " 1", "+1", "1_000", "\uff11",
    "1\x00", "\x1b[2J", "[]", "%", "a" * 300, "-0", "00000000000000000000001", "\u202e1",
]
MORE_PER_SLOT = 4
# The same as JSON values in a body's id field.
BAD_BODY_IDS: list[Any] = [
    -1, 0, 2**63, 2**64, -(2**63), "-1", "0", str(2**64), "9" * 25, "abc", "1.5", 1.5, True,
    False, [], {}, {"$gt": ""}, {"$ne": None}, "\u00b2", "\u0661", "1\u0000", "",
]


# Fields a route's schema shares with another route but the route ignores, as documented.
IGNORED_FIELDS = {("PATCH", "/guilds/{guild_id}/members/@me"): {"roles"}}
# Fields of one kind of object only, with the scenario whose object has them (``owner_id``
# of PATCH /channels/{channel_id}: a group DM's; a guild channel ignores it).
FIELD_SCENARIOS = {("PATCH", "/channels/{channel_id}"): {"owner_id": "group"}}


def body_id_fields(route: Route) -> list[tuple[str, Callable[[Any], Any]]]:
    """The id fields of ``route``'s body (from its OpenAPI schema): (name, value -> body)."""
    op = OPERATIONS.get((route.method, V + route.template))
    if op is None or op.body is None:
        return []
    schema = SCHEMAS[op.body]
    array = schema.get("type") == "array"
    item = schema["items"] if array else schema
    props: dict[str, Any] = item.get("properties", {})
    required = {k: props[k] for k in item.get("required", [])}
    out: list[tuple[str, Callable[[Any], Any]]] = []

    def filler(spec: dict[str, Any]) -> Any:
        kinds = spec.get("type", "string")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        return {"integer": 0, "boolean": False, "array": [], "object": {}}.get(kinds[0], "zz")

    def is_id(name: str) -> bool:
        return name == "id" or name.endswith("_id") or name in ("roles", "messages", "user_ids")

    base = {k: filler(v) for k, v in required.items() if not is_id(k)}
    for name, spec in props.items():
        if name in ("message_reference",):
            out.append((f"{name}.message_id",
                        lambda v, n=name: {**base, "content": "x", n: {"message_id": v}}))
            continue
        if not is_id(name) or name in IGNORED_FIELDS.get(route.key, ()):
            continue
        many = spec.get("type") == "array" or name in ("roles", "messages", "user_ids")

        def make(v: Any, n: str = name, many: bool = many) -> Any:
            one = {**base, n: [v, v] if many else v}
            return [one] if array else one
        out.append((name, make))
    return out


async def test_bad_ids_in_every_slot_are_400_or_404(api: Api, platform: Platform) -> None:
    routes = routes_of(create_app(platform))
    w = await build_world(api, routes, platform)
    assert not (missing := unclassified(routes, w.slots())), "\n".join(missing)
    failures = []
    for r in routes:
        if r.key in NOT_SENT:
            continue
        for slot in r.params:
            allowed = (400, 404, 401) if slot in CREDENTIAL_SLOTS else (400, 404)
            rnd = random.Random(zlib.crc32(f"{r} {slot}".encode()))
            for bad in BAD_PATH_IDS + rnd.sample(MORE_PATH_IDS, MORE_PER_SLOT):
                path = r.path({**w.owner_slots(r), slot: bad})
                got = await hit(api, r.method, path, w.owner.token)
                if got.status not in allowed:
                    failures.append(f"{r} with {slot}={bad!r}: {got.status} {got.text[:150]}")
        for name, make in body_id_fields(r):
            scenario = FIELD_SCENARIOS.get(r.key, {}).get(name)
            if scenario is not None and scenario not in w.victim_slots():
                continue  # this world has no such object (a feature the app lacks)
            values = w.victim_slots()[scenario] if scenario else w.owner_slots(r)
            for bad in BAD_BODY_IDS:
                got = await hit(api, r.method, r.path(values), w.owner.token, body=make(bad))
                if got.status not in (400, 404):
                    failures.append(f"{r} body {name}={bad!r}: {got.status} {got.text[:150]}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)


# -- the fuzz corpus -----------------------------------------------------------------------------

BIG = "x" * 100_000
# Whole bodies: invalid JSON and JSON that is no object.
RAW_BODIES = [
    b"{", b"[1,", b"nul", b'{"a":}', b"\xff\xfe\x00", b'{"name": "\\ud800"}', b"[" * 5000,
    b'{"a": NaN}', b'{"a": 1e999}', b'{"id": 18446744073709551616}', b"\x00",
    b"[]", b"1", b'"s"', b"null", b"true", b"{}", b'{"$gt": ""}',
]
# Values put in one field of the route's body (or any of the generic fields).
FIELD_VALUES: list[Any] = [
    None, True, 1, -1, 1.5, 2**53 + 1, 2**63, 2**64, -(2**63), "", "s", [], [1, "2"], {},
    BIG, [BIG], {"a": BIG}, "a\u0000b", "\u0000", "\u001b[2J", "a\u0007\u0008\u000c",
    "\u202egnp.exe", "\u00b2", "-1", str(2**64), "9" * 30, {"$gt": ""}, {"$ne": None},
    {"$where": "1"}, [{"$gt": ""}], {"id": {"$gt": ""}}, [{"id": -1}], [None],
]
GENERIC_FIELDS = ["name", "content", "id", "type", "position", "permissions", "roles", "nick",
                  "topic", "parent_id", "recipient_id", "owner_id", "messages", "max_age",
                  "message_reference", "permission_overwrites", "allow", "deny", "username",
                  "password", "embeds", "nonce", "communication_disabled_until", "color"]
# Every query parameter a route reads (paging, counts, search, audit log, webhooks...).
QUERY_KEYS = ["limit", "after", "before", "around", "with_counts", "type", "query", "content",
              "author_id", "mentions", "channel_id", "has", "min_id", "max_id", "pinned",
              "mention_everyone", "include_nsfw", "sort_by", "sort_order", "offset", "user_id",
              "action_type", "wait", "thread_id", "delete_message_seconds",
              "delete_message_days"]
QUERY_VALUES = ["-1", "0", "abc", str(2**64), "\u00b2", "1.5", "", "\x00", "9" * 300,
                '{"$gt": ""}', "true", "a\x00b", "x" * 2000, "%", "-"]
# Query strings sent as they are: escapes of bytes that are no UTF-8, repeated keys.
RAW_QUERIES = ["content=%FF%FE", "limit=%00", "after=%ED%A0%80", "content=%C0%80&has=%FF",
               "channel_id=1&channel_id=abc&channel_id=%00", "author_id[]=1", "&&=&"]
SAMPLES_PER_ROUTE = 14
QUERY_SAMPLES = 12
# Header values: the audit log reason (URL-encoded by clients) and mangled Authorization.
HEADER_CASES: list[tuple[str, str]] = [
    ("X-Audit-Log-Reason", "%00"), ("X-Audit-Log-Reason", "%FF%FE%C0"),
    ("X-Audit-Log-Reason", "a" * 4000), ("X-Audit-Log-Reason", "%E2%80%AE%1B[2J"),
    ("X-Audit-Log-Reason", "%"), ("Authorization", "Bot "), ("Authorization", "Bearer "),
    ("Authorization", "Bot Bot x"), ("Authorization", "x" * 4000),
    ("Authorization", "\u00e9\u00e8.\u00ff"),
]
HEADER_SAMPLES = 3


def fields_of(route: Route) -> tuple[list[str], bool]:
    op = OPERATIONS.get((route.method, V + route.template))
    if op is None or op.body is None:
        return GENERIC_FIELDS, False
    schema = SCHEMAS[op.body]
    array = schema.get("type") == "array"
    props = (schema["items"] if array else schema).get("properties", {})
    return list(props) + GENERIC_FIELDS[:6], array


def fuzz_cases(route: Route) -> list[tuple[str, dict[str, Any]]]:
    """The corpus sampled for ``route``, the same on every run."""
    rnd = random.Random(zlib.crc32(str(route).encode()))
    cases: list[tuple[str, dict[str, Any]]] = [(f"raw {b[:20]!r}", {"raw": b}) for b in RAW_BODIES]
    queries = [(k, v) for k in QUERY_KEYS for v in QUERY_VALUES]
    for key, value in rnd.sample(queries, QUERY_SAMPLES * (3 if route.method == "GET" else 1)):
        cases.append((f"?{key}={value[:20]!r}", {"params": {key: value}}))
    for name, value in rnd.sample(HEADER_CASES, HEADER_SAMPLES):
        cases.append((f"{name}: {value[:20]!r}", {"headers": {name: value}}))
    for query in rnd.sample(RAW_QUERIES, 2):
        cases.append((f"?{query}", {"query": query}))
    if route.method == "GET":
        return cases
    names, array = fields_of(route)
    pairs = [(n, v) for n in names for v in FIELD_VALUES]
    for name, value in rnd.sample(pairs, min(SAMPLES_PER_ROUTE, len(pairs))):
        body = {name: value}
        cases.append((f"{name}={str(value)[:30]!r}", {"body": [body] if array else body}))
    for name in names[:4]:  # the route's own first fields always get these
        for value, what in ((BIG, "100 kB"), ("a\u0000b", "NUL"), ("\u001b[2J", "ESC")):
            body = {name: value}
            cases.append((f"{name}={what}", {"body": [body] if array else body}))
    return cases


def destructive_last(routes: list[Route]) -> list[Route]:
    """Deletions after everything else, the deepest object first (the guild last)."""
    return sorted(routes, key=lambda r: (r.method == "DELETE", -len(r.params), r.template))


async def test_fuzz_corpus_gets_no_server_error(api: Api, platform: Platform) -> None:
    routes = routes_of(create_app(platform))
    w = await build_world(api, routes, platform)
    assert not (missing := unclassified(routes, w.slots())), "\n".join(missing)
    failures, sent = [], 0
    for r in destructive_last([r for r in routes if r.key not in NOT_SENT]):
        for what, how in fuzz_cases(r):
            query = how.pop("query", None)
            path = r.path(w.owner_slots(r)) + (f"?{query}" if query else "")
            got = await hit(api, r.method, path, w.owner.token, **how)
            sent += 1
            if got.status >= 500:
                failures.append(f"{r} {what}: {got.status} {got.text[:150]}")
    for r in [r for r in routes if r.key in NOT_SENT]:  # logout: the owner's token goes last
        for what, how in fuzz_cases(r)[:3]:
            got = await hit(api, r.method, r.path(w.owner_slots(r)), w.owner.token, **how)
            if got.status >= 500:
                failures.append(f"{r} {what}: {got.status} {got.text[:150]}")
    assert sent > 500
    assert not failures, f"{len(failures)} of {sent} failed:\n" + "\n".join(failures)


# -- the gateway ---------------------------------------------------------------------------------

GatewayAttack = Callable[["GatewayWorld"], Awaitable[list[str]]]


@dataclass
class GatewayWorld:
    server: Server
    api: Api
    world: World
    clients: dict[str, GatewayClient] = field(default_factory=dict)
    # Every payload each attacker's connection received, for the leak check.
    seen: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    owner_session: str = ""

    async def until_marker(self, who: str, nonce: str) -> list[dict[str, Any]]:
        """Send a Request Guild Members on the attacker's own guild and read up to its chunk:
        commands run in order per connection, so whatever an earlier one caused came first."""
        w, c = self.world, self.clients[who]
        guild = w.ids["guild"] if who == "member" else w.ids["x_guild"]
        await c.send({"op": 8, "d": {"guild_id": guild, "query": "", "limit": 1,
                                     "nonce": nonce}})
        got = []
        async with asyncio.timeout(5):
            while True:
                payload = await c.recv()
                got.append(payload)
                d = payload.get("d")
                if payload.get("t") == "GUILD_MEMBERS_CHUNK" and isinstance(d, dict) \
                        and d.get("nonce") == nonce:
                    break
        self.seen[who] += got
        return got


def _names(payloads: list[dict[str, Any]]) -> list[str]:
    return [str(p.get("t") or p.get("op")) for p in payloads]


async def _op_send_message(g: GatewayWorld) -> list[str]:
    """Op 50 into the private channel and the DM (member), the public channel (outsider)."""
    i, out = g.world.ids, []
    for who, channel in (("member", i["priv"]), ("member", i["dm"]), ("outsider", i["pub"]),
                         ("outsider", i["dm"])):
        await g.clients[who].send({"op": 50, "d": {"channel_id": channel, "content": "attack",
                                                   "nonce": "n1"}})
        got = await g.until_marker(who, f"after-50-{channel}")
        failed = [p for p in got if p.get("t") == "MESSAGE_SEND_FAILED"]
        if not failed or failed[0]["d"].get("code") not in (50001, 50013, 10003):
            out.append(f"op 50 by the {who} into {channel}: {_names(got)} {failed}")
    return out


async def _op_request_members(g: GatewayWorld) -> list[str]:
    """Op 8 for a guild the attacker is not in: no chunk."""
    i, out = g.world.ids, []
    for who, guild in (("member", i["x_guild"]), ("outsider", i["guild"])):
        for d in ({"query": "", "limit": 0}, {"user_ids": [g.world.owner.id]}):
            await g.clients[who].send({"op": 8, "d": {"guild_id": guild, **d, "nonce": "x"}})
            got = await g.until_marker(who, f"after-8-{guild}")
            chunks = [p for p in got if p.get("t") == "GUILD_MEMBERS_CHUNK"
                      and p["d"].get("guild_id") == guild]
            if chunks:
                out.append(f"op 8 by the {who} for {guild}: {chunks}")
    return out


async def _op_guild_subscriptions(g: GatewayWorld) -> list[str]:
    """Ops 14 and 37 follow the victim's members in a guild the attacker is not in: accepted
    (Discord ignores them too), nothing comes back, and the connection stays open (the
    marker's chunk arrives). The leak check then covers what the victim does later."""
    i, out = g.world.ids, []
    for who, guild in (("member", i["x_guild"]), ("outsider", i["guild"])):
        follow = {"typing": True, "activities": True, "threads": True,
                  "members": [g.world.owner.id], "channels": {i["priv"]: [[0, 99]]}}
        await g.clients[who].send({"op": 14, "d": {"guild_id": guild, **follow}})
        await g.clients[who].send({"op": 37, "d": {"subscriptions": {guild: follow}}})
        got = await g.until_marker(who, f"after-14-37-{guild}")
        if len(got) != 1:
            out.append(f"ops 14/37 by the {who} for {guild}: {_names(got)}")
    return out


async def _op_voice_and_soundboard(g: GatewayWorld) -> list[str]:
    """Ops 4 and 31 name the victim's guild and channel: ignored, nothing comes back."""
    i, out = g.world.ids, []
    for who in ("member", "outsider"):
        await g.clients[who].send({"op": 4, "d": {"guild_id": i["guild"], "channel_id": i["priv"],
                                                  "self_mute": False, "self_deaf": False}})
        await g.clients[who].send({"op": 31, "d": {"guild_ids": [i["guild"]]}})
        got = await g.until_marker(who, "after-4-31")
        if len(got) != 1:
            out.append(f"ops 4/31 by the {who}: {_names(got)}")
    return out


async def _op_presence(g: GatewayWorld) -> list[str]:
    """Op 3 names no object; sent to check it reveals nothing either."""
    for who in ("member", "outsider"):
        await g.clients[who].send({"op": 3, "d": {"status": "idle", "since": None,
                                                  "activities": [], "afk": False}})
        await g.until_marker(who, "after-3")
    return []


async def _op_heartbeat(g: GatewayWorld) -> list[str]:
    """Op 1 names no object: an ACK and nothing else."""
    out = []
    for who in ("member", "outsider"):
        await g.clients[who].send({"op": 1, "d": None})
        got = await g.until_marker(who, "after-1")
        if 11 not in [p.get("op") for p in got]:
            out.append(f"op 1 by the {who}: no ACK in {_names(got)}")
    return out


async def _op_identify(g: GatewayWorld) -> list[str]:
    """Op 2 names no object: its attacks are bad and revoked tokens (4004,
    test_gateway_tokens_get_4004). Here an identified session sends another IDENTIFY, with a
    token of someone else's: 4005, never a switch to that user."""
    out = []
    async with g.server.connect() as c:
        await c.identify(g.world.outsider.token)
        await c.send({"op": 2, "d": {"token": g.world.owner.token, "intents": 0,
                                     "properties": {"os": "x", "browser": "x", "device": "x"}}})
        code = await c.closed()
        if code != 4005:
            out.append(f"a second IDENTIFY: closed {code}")
    return out


async def _op_resume(g: GatewayWorld) -> list[str]:
    """Op 6 naming the owner's session with the attacker's token: op 9, no replay."""
    out = []
    for who in ("member", "outsider"):
        acc = g.world.member if who == "member" else g.world.outsider
        async with g.server.connect() as c:
            hello = await c.recv()
            assert hello["op"] == 10
            await c.send({"op": 6, "d": {"token": acc.token, "session_id": g.owner_session,
                                         "seq": 0}})
            got = [await c.recv()]
            if got[0].get("op") != 9 or got[0].get("d") is not False:
                out.append(f"RESUME of the owner's session by the {who}: {got}")
            if bad := leaked(json.dumps(got), g.world.secrets[acc.id]):
                out.append(f"RESUME by the {who} leaks {bad}")
    return out


async def _server_only(g: GatewayWorld, op: int) -> list[str]:
    async with g.server.connect() as c:
        await c.identify(g.world.outsider.token)
        await c.send({"op": op, "d": {"guild_id": g.world.ids["guild"]}})
        code = await c.closed()
    return [] if code == 4001 else [f"op {op} from a client: closed {code}, not 4001"]


def _server_only_attack(op: int) -> GatewayAttack:
    async def attack(g: GatewayWorld) -> list[str]:
        return await _server_only(g, op)
    return attack


# Every opcode: what the attackers try with it. A new one fails the classification test.
GATEWAY_ATTACKS: dict[Opcode, GatewayAttack] = {
    Opcode.HEARTBEAT: _op_heartbeat,
    Opcode.IDENTIFY: _op_identify,
    Opcode.PRESENCE_UPDATE: _op_presence,
    Opcode.VOICE_STATE_UPDATE: _op_voice_and_soundboard,
    Opcode.REQUEST_SOUNDBOARD_SOUNDS: _op_voice_and_soundboard,
    Opcode.RESUME: _op_resume,
    Opcode.REQUEST_GUILD_MEMBERS: _op_request_members,
    Opcode.SEND_MESSAGE: _op_send_message,
    Opcode.GUILD_SUBSCRIPTIONS: _op_guild_subscriptions,
    Opcode.GUILD_SUBSCRIPTIONS_BULK: _op_guild_subscriptions,
    # Sent by the server only: a client sending one is closed with 4001.
    Opcode.DISPATCH: _server_only_attack(0),
    Opcode.RECONNECT: _server_only_attack(7),
    Opcode.INVALID_SESSION: _server_only_attack(9),
    Opcode.HELLO: _server_only_attack(10),
    Opcode.HEARTBEAT_ACK: _server_only_attack(11),
}


async def victim_acts(api: Api, w: World) -> list[str]:
    """The victim (and the friend) change the private channel, the DM and the group DM, and
    make invites (the public channel's too: its INVITE_CREATE is for those who may manage
    it); the new strings, which must reach neither attacker."""
    i, o, tag = w.ids, w.owner.token, w.tag
    new = [f"zq-late{n}-{tag}" for n in range(10)]
    priv = f"/channels/{i['priv']}"
    msg = (await _ok(api, "POST", f"{priv}/messages", o, {"content": new[0]}))["id"]
    await _ok(api, "PATCH", f"{priv}/messages/{msg}", o, {"content": new[1]})
    await _ok(api, "PUT", f"{priv}/messages/{msg}/reactions/{seg(THUMBS)}/@me", o)
    await _ok(api, "PUT", f"{priv}/pins/{msg}", o)
    await _ok(api, "DELETE", f"{priv}/pins/{msg}", o)
    await _ok(api, "POST", f"{priv}/typing", o)
    await _ok(api, "PATCH", priv, o, {"topic": new[2]})
    await _ok(api, "PUT", f"{priv}/permissions/{w.friend.id}", o,
              {"type": 1, "allow": VIEW, "deny": "0"})
    await _ok(api, "POST", f"{priv}/messages", w.friend.token, {"content": new[3]})
    await _ok(api, "POST", f"/guilds/{i['guild']}/channels", o, {
        "name": new[4], "permission_overwrites": [{"id": i["guild"], "type": 0, "deny": VIEW}]})
    codes = [(await _ok(api, "POST", f"/channels/{i[c]}/invites", o, {"max_uses": 1}))["code"]
             for c in ("priv", "pub")]
    await _ok(api, "POST", f"/channels/{i['dm']}/messages", o, {"content": new[5]})
    if "gdm" in i:
        await _ok(api, "PATCH", f"/channels/{i['gdm']}", o, {"name": new[6]})
        await _ok(api, "POST", f"/channels/{i['gdm']}/messages", o, {"content": new[7]})
    if "priv_hook" in i:
        await _ok(api, "POST", f"{priv}/webhooks", o, {"name": new[8]})
        await _ok(api, "POST", f"/webhooks/{i['priv_hook']}/{i['priv_hook_token']}",
                  o, {"content": new[9]})
    await _ok(api, "DELETE", f"{priv}/messages/{msg}", o)
    return new + codes


@pytest.fixture
async def gateway(stores: dict[str, str]) -> AsyncIterator[Server]:
    config = _config(stores, http_port=free_port(), gateway_port=free_port())
    async with running_server(config) as server:
        yield server


async def test_gateway_ops_matrix(gateway: Server, platform: Platform) -> None:
    api = Api(gateway.http)
    w = await build_world(api, routes_of(create_app(platform)))
    before = await snapshot(api, w)
    g = GatewayWorld(gateway, api, w)
    async with (gateway.connect() as owner, gateway.connect() as member,
                gateway.connect() as outsider):
        g.owner_session = (await owner.identify(w.owner.token))["session_id"]
        for who, client, acc in (("member", member, w.member),
                                 ("outsider", outsider, w.outsider)):
            g.clients[who] = client
            g.seen[who] = [{"d": await client.identify(acc.token)}]
            await g.until_marker(who, "ready")
        failures = []
        for op in sorted(set(GATEWAY_ATTACKS.values()), key=lambda f: f.__name__):
            failures += await op(g)
        after = await snapshot(api, w)
        failures += [f"the victim's {p} changed" for p in before if before[p] != after[p]]
        # The victim acts where the attackers cannot see: none of it reaches them.
        late = await victim_acts(api, w)
        for who in ("member", "outsider"):
            await g.until_marker(who, "late")
        for who, acc in (("member", w.member), ("outsider", w.outsider)):
            if bad := leaked(json.dumps(g.seen[who]), [*w.secrets[acc.id], *late]):
                failures.append(f"the {who}'s gateway connection received {bad}")
    assert not failures, "\n".join(failures)


async def test_gateway_tokens_get_4004(gateway: Server, platform: Platform,
                                       stores: dict[str, str]) -> None:
    api = Api(gateway.http)
    w = await build_world(api, routes_of(create_app(platform)))

    async def identify(token: str) -> int | None:
        async with gateway.connect() as c:
            hello = await c.recv()
            assert hello["op"] == 10
            await c.send({"op": 2, "d": {"token": token, "intents": 513,
                                         "properties": {"os": "x", "browser": "x",
                                                        "device": "x"}}})
            return await c.closed()

    async def login() -> str:
        got = await hit(api, "POST", "/auth/login",
                        body={"login": w.owner.username, "password": "correct horse"})
        token: str = json.loads(got.text)["token"]
        async with gateway.connect() as c:  # resolved once: in the worker's caches now
            await c.identify(token)
        return token

    failures = []
    cases = {**bad_tokens(w.owner.token),
             **{f"Bot {k}": f"Bot {v}" for k, v in bad_tokens(w.bot.token).items()}}
    token = await login()
    assert (await hit(api, "POST", "/auth/logout", token)).status == 204
    cases["after logout"] = token
    token, other = await login(), await login()
    got = await hit(api, "PATCH", "/users/@me", token,
                    body={"password": "correct horse", "new_password": "battery staple"})
    assert got.status == 200, got.text
    cases["after a password change"] = other
    for what, bad in cases.items():
        if (code := await identify(bad)) != 4004:
            failures.append(f"IDENTIFY {what}: closed {code}")
    # The operator's revoke-tokens, from a process of its own (the relay tells the worker).
    operator = await Platform.open(_config(stores), worker_index=1023)
    try:
        await admin.revoke_tokens(operator, w.owner.username)
    finally:
        await operator.aclose()
    deadline = asyncio.get_running_loop().time() + 1.0
    while (await hit(api, "GET", "/users/@me", token)).status != 401:
        assert asyncio.get_running_loop().time() < deadline, "revoke-tokens not seen in 1 s"
        await asyncio.sleep(0.02)
    if (code := await identify(token)) != 4004:
        failures.append(f"IDENTIFY after admin revoke-tokens: closed {code}")
    assert not failures, "\n".join(failures)
