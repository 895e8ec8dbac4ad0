"""Unit tests for gateway.hub: the fanout driven by fake connections, sans I/O.

No socket is opened. Each connection is a :class:`FakeConn`, the hub's ``Conn`` around a real
:class:`~gateway.session.Session` brought to READY (Identify, then ``on_identified``), whose
``flush`` records the messages the session queued (``frames(session.outgoing())``), as the
listener would write them. The platform is a real one (``Platform.open``: SQLite in
``tmp_path``, the in-process MemoryBus, the cached metadata store, real Metrics); the guilds,
roles, channels, overwrites and members are written to its store, and changed through core's
own services, so the events the hub sees are the ones production publishes. Events go in
through the bus; the hub fans them out on the next loop iteration and flushes at its end.
As in python-websockets' ``test_protocol.py``: drive events in, assert on what each session got.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import erlpack  # type: ignore[import-untyped]
import orjson
import pytest

import core.channels
import core.guilds
import core.members
import core.roles
import gateway.hub
from core.config import Config
from core.events import TOKENS_REVOKED, Event
from core.models import (
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    Overwrite,
    OverwriteType,
    Role,
    User,
)
from core.permissions import DEFAULT_EVERYONE, Permission
from core.platform import Platform
from core.shard import shard_of
from core.wire import message_json
from gateway.audience import Audience, AudienceBuilder
from gateway.codec import Encoding
from gateway.flush_slices import FlushSlices
from gateway.hub import BACKLOG_MAX, Hub
from gateway.protocol import CloseCode, Identify, Intent
from gateway.push_slices import PushSlices
from gateway.session import Session, State, frames
from tests.unit.gateway_client import Client, identify

# -- the world -----------------------------------------------------------------------------------
# Guild ids are chosen for their shard (``(id >> 22) % n``).
G1 = 2 << 22  # shard 0 of 2
G2 = 3 << 22  # shard 1 of 2
G3 = 5 << 22  # shard 1 of 2; nobody but its owner is a member (joins)
GENERAL = G1 + 1  # everyone sees it
SECRET = G1 + 2  # @everyone denied VIEW_CHANNEL, MOD allowed
QUIET = G1 + 3  # a member overwrite denies ERIN VIEW_CHANNEL
MOD = G1 + 10  # a role with no permission of its own
LOUNGE = G2 + 1
HALL = G3 + 1
DM = 900  # a DM channel between ALICE and DAVE

ALICE = User(11, "alice")  # owns G1
BOB = User(12, "bob")  # G1 member, no role
CAROL = User(13, "carol")  # owns G2 and G3
DAVE = User(14, "dave")  # in no guild
ERIN = User(15, "erin")  # G1 member with MOD
BOT = User(20, "bot", bot=True)  # G1 and G2 member
PROBE = User(99, "probe")  # in no guild: receives the settle() markers

VIEW = int(Permission.VIEW_CHANNEL)
# What most sessions ask for: guild and DM messages, not the privileged intents.
BASE = int(Intent.GUILDS | Intent.GUILD_MESSAGES | Intent.DIRECT_MESSAGES)
CONTENT = int(Intent.MESSAGE_CONTENT)

assert (shard_of(G1, 2), shard_of(G2, 2), shard_of(G3, 2)) == (0, 1, 1)


async def seed(p: Platform) -> None:
    meta = p.meta
    for user in (ALICE, BOB, CAROL, DAVE, ERIN, BOT, PROBE):
        await meta.create_user(user, None)
    everyone = Overwrite(G1, OverwriteType.ROLE, deny=VIEW)
    await meta.create_guild(
        Guild(G1, "one", owner_id=ALICE.id),
        [Role(G1, G1, "@everyone", DEFAULT_EVERYONE), Role(MOD, G1, "mod", 0, position=1)],
        [Channel(GENERAL, ChannelType.GUILD_TEXT, G1, "general"),
         Channel(SECRET, ChannelType.GUILD_TEXT, G1, "secret", position=1,
                 overwrites=(everyone, Overwrite(MOD, OverwriteType.ROLE, allow=VIEW))),
         Channel(QUIET, ChannelType.GUILD_TEXT, G1, "quiet", position=2,
                 overwrites=(Overwrite(ERIN.id, OverwriteType.MEMBER, deny=VIEW),))],
        Member(G1, ALICE.id, 0),
    )
    for member in (Member(G1, BOB.id, 0), Member(G1, ERIN.id, 0, roles=(MOD,)),
                   Member(G1, BOT.id, 0)):
        assert await meta.add_member(member)
    await meta.create_guild(
        Guild(G2, "two", owner_id=CAROL.id), [Role(G2, G2, "@everyone", DEFAULT_EVERYONE)],
        [Channel(LOUNGE, ChannelType.GUILD_TEXT, G2, "lounge")], Member(G2, CAROL.id, 0))
    assert await meta.add_member(Member(G2, BOT.id, 0))
    await meta.create_guild(
        Guild(G3, "three", owner_id=CAROL.id), [Role(G3, G3, "@everyone", DEFAULT_EVERYONE)],
        [Channel(HALL, ChannelType.GUILD_TEXT, G3, "hall")], Member(G3, CAROL.id, 0))


# -- events, as core builds them -----------------------------------------------------------------
_message_ids = itertools.count(10_000)
ATTACHMENT = {"id": "1", "filename": "a.txt", "size": 1, "url": "u", "proxy_url": "u"}
COMPONENT = {"type": 1, "components": [{"type": 2, "style": 1, "label": "ok", "custom_id": "c"}]}
POLL = {"question": {"text": "?"}, "answers": [], "allow_multiselect": False}


def message(channel_id: int, content: str, author: User = ALICE, *, guild_id: int | None = G1,
            mentions: Iterable[User] = (), recipients: Iterable[User] = (),
            name: str = "MESSAGE_CREATE") -> Event:
    """A MESSAGE_CREATE (or _UPDATE) as ``core.messages`` publishes it, with every redactable
    field filled (an embed, an attachment, a component and a poll)."""
    mentions = tuple(mentions)
    msg = Message(next(_message_ids), channel_id, author.id, content, guild_id=guild_id,
                  mentions=tuple(u.id for u in mentions), embeds=({"title": content},))
    data = message_json(msg, {u.id: u for u in (author, *mentions)})
    data.update(attachments=[ATTACHMENT], components=[COMPONENT], poll=POLL)
    if guild_id is None:  # core.messages._audience: a DM goes to its recipients
        return Event(name, data, user_ids=tuple(u.id for u in recipients))
    return Event(name, data, guild_id=guild_id, channel_id=channel_id)


def guild_event(name: str, guild_id: int = G1, **data: Any) -> Event:
    """A guild-wide event (no channel): PRESENCE_UPDATE, GUILD_MEMBER_ADD..."""
    return Event(name, {"guild_id": str(guild_id), **data}, guild_id=guild_id)


# -- connections ---------------------------------------------------------------------------------


def decode(encoding: Encoding, frame: bytes) -> Any:
    if encoding is Encoding.ETF:
        return erlpack.ErlangTermDecoder(encoding="utf-8").loads(frame)
    return orjson.loads(frame)


class FakeConn:
    """The hub's ``Conn``: a real session; ``flush`` records the messages it would write.

    Attributes:
        writes: one list per flush, the messages (``bytes``) of that write, in order.
    """

    def __init__(self, session: Session, user: User, label: str) -> None:
        self.session = session
        self.user: User | None = user
        self.guilds: dict[int, None] = {}
        self.connected = True
        self.label = label
        self.writes: list[list[bytes]] = []
        self._read = 0
        self._flushed = asyncio.Event()

    def flush(self) -> None:
        self.writes.append(frames(self.session.outgoing()))
        self._flushed.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, checked after each flush of this connection."""
        async with asyncio.timeout(5):
            while not predicate():
                self._flushed.clear()
                await self._flushed.wait()

    def payloads(self) -> list[dict[str, Any]]:
        """Every payload written so far, decoded."""
        return [decode(self.session.encoding, m) for write in self.writes for m in write]

    def take_payloads(self) -> list[dict[str, Any]]:
        """The payloads written since the last ``take``/``take_payloads``."""
        new = self.payloads()[self._read:]
        self._read += len(new)
        return new

    def take(self, name: str | None = None) -> list[dict[str, Any]]:
        """The dispatches' ``d`` written since the last ``take`` (only ``name``'s if given)."""
        return [p["d"] for p in self.take_payloads() if p["op"] == 0 and name in (None, p["t"])]

    def contents(self) -> list[str]:
        """The ``content`` of the MESSAGE_CREATEs written since the last ``take``."""
        return [d["content"] for d in self.take("MESSAGE_CREATE")]

    def __repr__(self) -> str:
        return f"<FakeConn {self.label}>"


class Gateway:
    """A hub on a real platform, the sessions connected to it, and the means to wait for it."""

    def __init__(self, platform: Platform, hub: Hub) -> None:
        self.platform = platform
        self.hub = hub
        self._sessions = itertools.count(1)
        self._marks = itertools.count(1)
        self.probe: FakeConn | None = None

    async def connect(self, user: User, *, intents: int = BASE,
                      shard: tuple[int, int] | None = None, guild_ids: Iterable[int] | None = None,
                      encoding: str = "json", label: str | None = None) -> FakeConn:
        """Identify ``user`` and attach the connection as ``gateway.server`` does.

        ``guild_ids`` default to the user's guilds on the session's shard (the server's
        choice); the READY and GUILD_CREATE frames of the identify are not recorded.
        """
        client = Client(encoding)
        client.send(identify(intents=intents, **({"shard": list(shard)} if shard else {})))
        (request,) = client.session.requests()
        assert isinstance(request, Identify)
        if guild_ids is None:
            n = shard or (0, 1)
            guild_ids = [g.id for g in await self.platform.meta.list_user_guilds(user.id)
                         if shard_of(g.id, n[1]) == n[0]]
        guild_ids = list(guild_ids)
        await self.hub.prepare(guild_ids, user.id)
        session = client.session
        session.on_identified(user, None, [], f"sid-{next(self._sessions)}", "ws://127.0.0.1:1")
        assert session.state is State.READY
        session.outgoing()  # Hello, READY
        conn = FakeConn(session, user, label or user.username)
        self.hub.attach(conn, guild_ids)
        return conn

    def publish(self, *events: Event) -> None:
        self.platform.publish(*events)

    async def settle(self) -> None:
        """Wait until everything published so far is fanned out and flushed.

        A marker goes to the probe's user after them: events are handled in bus order (a
        backlog keeps it), so once the probe's flush has the marker, the earlier events were
        pushed and flushed too (in that flush or before).
        """
        assert self.probe is not None
        mark = next(self._marks)
        self.publish(Event("USER_UPDATE", {"id": str(PROBE.id), "mark": mark},
                           user_ids=(PROBE.id,)))
        probe = self.probe
        await probe.wait_for(lambda: any(d.get("mark") == mark for d in probe.take("USER_UPDATE")))
        # A round may go out in slices (gateway.flush_slices): the probe's may come first.
        async with asyncio.timeout(5):
            while self.hub.flushing:  # noqa: ASYNC110 - the hub has no event for it
                await asyncio.sleep(0.001)

    async def iterations(self, n: int = 20) -> None:
        """Let the loop run ``n`` times, and the store's thread some time (no marker)."""
        for _ in range(n):
            await asyncio.sleep(0.001)


def resume_on_new_conn(gw: Gateway, old: FakeConn, user: User) -> FakeConn:
    """``old``'s socket is gone; its client RESUMEs on a new connection, which the hub takes
    ``old``'s subscriptions over to (what gateway.server._resume does)."""
    old.connected = False
    old.session.connection_lost(1.0)
    client = Client()
    client.send({"op": 6, "d": {"token": "t", "session_id": old.session.session_id,
                                "seq": old.session.seq}})
    client.session.requests()
    client.session.on_resumed(old.session)
    new = FakeConn(client.session, user, "new")
    gw.hub.replace(old, new)
    return new


def make_hub(platform: Platform) -> Hub:
    """The one place a hub is made (its constructor is being reshaped)."""
    return Hub(platform)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform.open(Config(data_dir=str(tmp_path), sqlite_synchronous="OFF"))
    try:
        await seed(p)
        yield p
    finally:
        await p.aclose()


@pytest.fixture
async def gw(platform: Platform) -> AsyncIterator[Gateway]:
    hub = make_hub(platform)
    await hub.start()
    gateway = Gateway(platform, hub)
    try:
        gateway.probe = await gateway.connect(PROBE)
        yield gateway
    finally:
        await hub.aclose()


def who_got(event: Event, *conns: FakeConn) -> set[str]:
    """The labels of the connections whose new dispatches include ``event`` (by ``d.id``)."""
    return {c.label for c in conns if event.data["id"] in [d.get("id") for d in c.take(event.name)]}


async def say(gw: Gateway, channel_id: int, content: str, *conns: FakeConn,
              guild_id: int = G1) -> set[str]:
    """Publish a message in ``channel_id``; who of ``conns`` got it."""
    event = message(channel_id, content, guild_id=guild_id)
    gw.publish(event)
    await gw.settle()
    return who_got(event, *conns)


# -- audiences -----------------------------------------------------------------------------------


async def test_guild_message_reaches_every_session_of_the_guild_only(gw: Gateway) -> None:
    alice = await gw.connect(ALICE)
    bob = await gw.connect(BOB, encoding="etf")
    bob2 = await gw.connect(BOB, label="bob2")
    carol = await gw.connect(CAROL)
    dave = await gw.connect(DAVE)
    gw.publish(message(GENERAL, "hello"))
    await gw.settle()
    for conn in (alice, bob, bob2):
        (d,) = conn.take("MESSAGE_CREATE")
        assert (d["content"], d["channel_id"], d["guild_id"]) == ("hello", str(GENERAL), str(G1))
        assert d["author"]["id"] == str(ALICE.id)
    assert carol.take() == [] and dave.take() == []
    assert carol.writes == [] and dave.writes == []
    # Both encodings carry the same dispatch: JSON as text, ETF as an Erlang term.
    assert bob.writes[0][0][:1] == b"\x83" and alice.writes[0][0][:1] == b"{"


async def test_dm_reaches_only_its_recipients_explicit_user_ids(gw: Gateway) -> None:
    alice = await gw.connect(ALICE)
    alice2 = await gw.connect(ALICE, label="alice2")
    dave = await gw.connect(DAVE)
    bob = await gw.connect(BOB)
    carol = await gw.connect(CAROL)
    event = message(DM, "psst", guild_id=None, recipients=(ALICE, DAVE))
    gw.publish(event)
    await gw.settle()
    assert who_got(event, alice, alice2, dave, bob, carol) == {"alice", "alice2", "dave"}
    assert bob.writes == [] and carol.writes == []


# -- intents -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "intent"), [
    ("MESSAGE_CREATE", Intent.GUILD_MESSAGES),
    ("TYPING_START", Intent.GUILD_MESSAGE_TYPING),
    ("MESSAGE_REACTION_ADD", Intent.GUILD_MESSAGE_REACTIONS),
], ids=["MESSAGE_CREATE", "TYPING_START", "MESSAGE_REACTION_ADD"])
async def test_guild_event_skipped_without_its_intent(gw: Gateway, name: str,
                                                      intent: Intent) -> None:
    everything = int(Intent.GUILDS | Intent.GUILD_MESSAGES | Intent.GUILD_MESSAGE_TYPING
                     | Intent.GUILD_MESSAGE_REACTIONS)
    alice = await gw.connect(ALICE, intents=everything)
    bob = await gw.connect(BOB, intents=everything & ~int(intent))
    data = {"channel_id": str(GENERAL), "guild_id": str(G1), "user_id": str(ALICE.id)}
    gw.publish(Event(name, data, guild_id=G1, channel_id=GENERAL))
    await gw.settle()
    assert alice.take(name) == [data]
    assert bob.take() == []


async def test_dm_skipped_without_direct_messages_intent(gw: Gateway) -> None:
    alice = await gw.connect(ALICE, intents=int(Intent.GUILDS | Intent.GUILD_MESSAGES))
    dave = await gw.connect(DAVE)
    event = message(DM, "psst", guild_id=None, recipients=(ALICE, DAVE))
    gw.publish(event)
    await gw.settle()
    assert who_got(event, alice, dave) == {"dave"}


@pytest.mark.parametrize(("name", "intent"), [
    ("PRESENCE_UPDATE", Intent.GUILD_PRESENCES),
    ("GUILD_MEMBER_ADD", Intent.GUILD_MEMBERS),
], ids=["PRESENCE_UPDATE", "GUILD_MEMBER_ADD"])
async def test_indexed_event_only_to_sessions_with_its_intent(gw: Gateway, name: str,
                                                              intent: Intent) -> None:
    alice = await gw.connect(ALICE, intents=BASE | int(intent))
    bob = await gw.connect(BOB)  # neither privileged intent
    erin = await gw.connect(ERIN, intents=BASE | int(Intent.GUILD_PRESENCES | Intent.GUILD_MEMBERS))
    carol = await gw.connect(CAROL, intents=BASE | int(intent))  # another guild
    event = guild_event(name, user={"id": str(DAVE.id)})
    gw.publish(event)
    await gw.settle()
    assert alice.take(name) == [event.data]
    assert erin.take(name) == [event.data]
    assert bob.take() == [] and carol.take() == []


# -- VIEW_CHANNEL --------------------------------------------------------------------------------


async def test_channel_message_skipped_when_roles_deny_view_channel(gw: Gateway) -> None:
    alice, bob, erin = [await gw.connect(u) for u in (ALICE, BOB, ERIN)]
    # @everyone is denied, MOD allowed, the owner sees everything.
    assert await say(gw, SECRET, "s", alice, bob, erin) == {"alice", "erin"}
    assert await say(gw, GENERAL, "g", alice, bob, erin) == {"alice", "bob", "erin"}


async def test_channel_message_skipped_when_member_overwrite_denies_view_channel(
        gw: Gateway) -> None:
    alice, bob, erin = [await gw.connect(u) for u in (ALICE, BOB, ERIN)]
    assert await say(gw, QUIET, "q", alice, bob, erin) == {"alice", "bob"}


async def test_invite_events_only_to_who_may_manage_the_channel(gw: Gateway) -> None:
    # Discord sends INVITE_CREATE/DELETE only to those with MANAGE_CHANNELS on the channel:
    # the code is not for every member who can see the channel (found by the attack matrix).
    intents = BASE | int(Intent.GUILD_INVITES)
    alice, bob, erin = [await gw.connect(u, intents=intents) for u in (ALICE, BOB, ERIN)]
    for name in ("INVITE_CREATE", "INVITE_DELETE"):
        for channel in (GENERAL, SECRET):
            code = f"{name}-{channel}"
            gw.publish(Event(name, {"code": code, "channel_id": str(channel),
                                    "guild_id": str(G1)}, guild_id=G1, channel_id=channel))
            await gw.settle()
            got = {c.label for c in (alice, bob, erin)
                   if code in [d["code"] for d in c.take(name)]}
            assert got == {"alice"}, (name, channel, got)


# -- the memoized audience follows every change --------------------------------------------------


async def test_audience_includes_session_after_attach(gw: Gateway) -> None:
    alice = await gw.connect(ALICE)
    assert await say(gw, GENERAL, "1", alice) == {"alice"}  # memoized for (GENERAL, intent)
    bob = await gw.connect(BOB)  # a new member: its membership is read (prepare)
    assert gw.hub.user_conns(BOB.id) == (bob,)
    assert await say(gw, GENERAL, "2", alice, bob) == {"alice", "bob"}
    # A second session of a known member: nothing to read, only the attach changes.
    bob2 = await gw.connect(BOB, label="bob2")
    assert set(gw.hub.user_conns(BOB.id)) == {bob, bob2}
    assert await say(gw, GENERAL, "3", alice, bob, bob2) == {"alice", "bob", "bob2"}


async def test_audience_excludes_session_after_detach(gw: Gateway) -> None:
    presences = BASE | int(Intent.GUILD_PRESENCES)
    alice = await gw.connect(ALICE, intents=presences)
    bob = await gw.connect(BOB, intents=presences)
    bob2 = await gw.connect(BOB, intents=presences, label="bob2")
    assert await say(gw, GENERAL, "1", alice, bob, bob2) == {"alice", "bob", "bob2"}
    gw.hub.detach(bob)
    assert gw.hub.user_conns(BOB.id) == (bob2,)
    assert await say(gw, GENERAL, "2", alice, bob, bob2) == {"alice", "bob2"}
    gw.hub.detach(bob2)
    assert gw.hub.user_conns(BOB.id) == ()
    assert await say(gw, GENERAL, "3", alice, bob, bob2) == {"alice"}
    # The index of the sessions with GUILD_PRESENCES follows too.
    gw.publish(guild_event("PRESENCE_UPDATE", user={"id": str(ALICE.id)}, status="idle"))
    await gw.settle()
    assert len(alice.take("PRESENCE_UPDATE")) == 1
    assert bob.take() == [] and bob2.take() == []
    # And so do a user's targeted events.
    gw.publish(message(DM, "dm", guild_id=None, recipients=(BOB,)))
    await gw.settle()
    assert bob.take() == [] and bob2.take() == []


async def test_audience_moves_to_new_connection_on_replace(gw: Gateway) -> None:
    alice = await gw.connect(ALICE)
    old = await gw.connect(BOB, label="old")
    assert await say(gw, GENERAL, "1", alice, old) == {"alice", "old"}
    # The client comes back on a new connection and resumes (gateway.server._resume).
    new = resume_on_new_conn(gw, old, BOB)
    assert new.session.state is State.READY
    assert set(new.guilds) == {G1} and gw.hub.user_conns(BOB.id) == (new,)
    assert await say(gw, GENERAL, "2", alice, old, new) == {"alice", "new"}


async def test_audience_follows_role_change_on_guild_member_update(gw: Gateway) -> None:
    alice, bob = await gw.connect(ALICE), await gw.connect(BOB)
    assert await say(gw, SECRET, "1", alice, bob) == {"alice"}
    await core.members.update_member(gw.platform, ALICE, G1, BOB.id, {"roles": [str(MOD)]})
    assert await say(gw, SECRET, "2", alice, bob) == {"alice", "bob"}
    await core.members.update_member(gw.platform, ALICE, G1, BOB.id, {"roles": []})
    assert await say(gw, SECRET, "3", alice, bob) == {"alice"}


async def test_audience_excludes_member_on_guild_member_remove(gw: Gateway) -> None:
    alice, bob = await gw.connect(ALICE), await gw.connect(BOB)
    assert await say(gw, GENERAL, "1", alice, bob) == {"alice", "bob"}
    # The membership alone (core.members._remove also sends Bob a GUILD_DELETE, see below):
    # the hub forgets it, and Bob's connection, still subscribed, may view nothing.
    assert await gw.platform.meta.remove_member(G1, BOB.id)
    gw.publish(guild_event("GUILD_MEMBER_REMOVE", user={"id": str(BOB.id), "username": "bob"}))
    assert await say(gw, GENERAL, "2", alice, bob) == {"alice"}


Change = Callable[[Platform], Awaitable[Any]]
RELOADS: list[tuple[str, int, Change, set[str], set[str]]] = [
    ("GUILD_ROLE_UPDATE-everyone", GENERAL,
     lambda p: core.roles.update_role(p, ALICE, G1, G1,
                                      {"permissions": str(DEFAULT_EVERYONE & ~VIEW)}),
     {"alice", "bob", "erin"}, {"alice"}),
    ("GUILD_ROLE_UPDATE-mod", QUIET,
     lambda p: core.roles.update_role(p, ALICE, G1, MOD,
                                      {"permissions": str(int(Permission.ADMINISTRATOR))}),
     {"alice", "bob"}, {"alice", "bob", "erin"}),
    ("GUILD_ROLE_DELETE", SECRET,
     lambda p: core.roles.delete_role(p, ALICE, G1, MOD),
     {"alice", "erin"}, {"alice"}),
    ("CHANNEL_UPDATE-overwrite-put", GENERAL,
     lambda p: core.roles.put_overwrite(p, ALICE, GENERAL, BOB.id, {"type": 1, "deny": str(VIEW)}),
     {"alice", "bob", "erin"}, {"alice", "erin"}),
    ("CHANNEL_UPDATE-overwrite-delete", SECRET,
     lambda p: core.roles.delete_overwrite(p, ALICE, SECRET, G1),
     {"alice", "erin"}, {"alice", "bob", "erin"}),
    ("CHANNEL_UPDATE-body", QUIET,
     lambda p: core.channels.update_channel(p, ALICE, QUIET, {"permission_overwrites": []}),
     {"alice", "bob"}, {"alice", "bob", "erin"}),
    ("GUILD_UPDATE-owner", SECRET,
     lambda p: core.guilds.update_guild(p, ALICE, G1, {"owner_id": str(BOB.id)}),
     {"alice", "erin"}, {"bob", "erin"}),
]


@pytest.mark.parametrize(("channel_id", "change", "before", "after"),
                         [r[1:] for r in RELOADS], ids=[r[0] for r in RELOADS])
async def test_audience_follows_reload_event(gw: Gateway, channel_id: int, change: Change,
                                             before: set[str], after: set[str]) -> None:
    conns = [await gw.connect(u) for u in (ALICE, BOB, ERIN)]
    assert await say(gw, channel_id, "before", *conns) == before
    await change(gw.platform)
    assert await say(gw, channel_id, "after", *conns) == after


async def test_audience_of_new_channel_after_channel_create(gw: Gateway) -> None:
    alice, bob, erin = [await gw.connect(u) for u in (ALICE, BOB, ERIN)]
    assert await say(gw, GENERAL, "1", alice, bob, erin) == {"alice", "bob", "erin"}
    out = await core.channels.create_channel(gw.platform, ALICE, G1, {
        "name": "mods", "permission_overwrites": [
            {"id": str(G1), "type": 0, "deny": str(VIEW)},
            {"id": str(MOD), "type": 0, "allow": str(VIEW)}]})
    await gw.settle()
    assert [d["id"] for d in alice.take("CHANNEL_CREATE")] == [out["id"]]
    assert await say(gw, int(out["id"]), "2", alice, bob, erin) == {"alice", "erin"}
    assert await say(gw, GENERAL, "3", alice, bob, erin) == {"alice", "bob", "erin"}


async def test_audience_includes_joiner_on_guild_create(gw: Gateway) -> None:
    alice = await gw.connect(ALICE)
    dave = await gw.connect(DAVE)
    assert not dave.guilds
    assert await say(gw, GENERAL, "1", alice, dave) == {"alice"}
    assert await core.members.admit(gw.platform, Member(G1, DAVE.id, 0), DAVE)
    await gw.settle()
    (created,) = dave.take("GUILD_CREATE")
    assert created["id"] == str(G1)
    assert set(dave.guilds) == {G1}
    assert await say(gw, GENERAL, "2", alice, dave) == {"alice", "dave"}
    assert await say(gw, SECRET, "3", alice, dave) == {"alice"}


async def test_audience_excludes_leaver_on_guild_delete(gw: Gateway) -> None:
    alice, bob = await gw.connect(ALICE), await gw.connect(BOB)
    bob2 = await gw.connect(BOB, label="bob2")
    assert await say(gw, GENERAL, "1", alice, bob, bob2) == {"alice", "bob", "bob2"}
    await core.members.kick(gw.platform, ALICE, G1, BOB.id)
    await gw.settle()
    assert bob.take("GUILD_DELETE") == [{"id": str(G1)}] == bob2.take("GUILD_DELETE")
    assert not bob.guilds and not bob2.guilds
    assert await say(gw, GENERAL, "2", alice, bob, bob2) == {"alice"}


async def test_audience_empty_after_guild_deleted(gw: Gateway) -> None:
    alice, bob, bot = [await gw.connect(u) for u in (ALICE, BOB, BOT)]
    assert await say(gw, GENERAL, "1", alice, bob, bot) == {"alice", "bob", "bot"}
    await core.guilds.delete_guild(gw.platform, ALICE, G1)
    await gw.settle()
    for conn in (alice, bob, bot):
        assert conn.take("GUILD_DELETE") == [{"id": str(G1), "unavailable": False}]
    assert (set(alice.guilds), set(bob.guilds), set(bot.guilds)) == (set(), set(), {G2})
    assert await say(gw, GENERAL, "2", alice, bob, bot) == set()
    assert await say(gw, LOUNGE, "3", alice, bob, bot, guild_id=G2) == {"bot"}


# -- MESSAGE_CONTENT -----------------------------------------------------------------------------

REDACTED = {"content": "", "embeds": [], "attachments": [], "components": []}


def redactable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d.get(k) for k in ("content", "embeds", "attachments", "components", "poll")}


@pytest.mark.parametrize("name", ["MESSAGE_CREATE", "MESSAGE_UPDATE"])
async def test_content_redacted_for_bot_without_message_content(gw: Gateway, name: str) -> None:
    bot = await gw.connect(BOT)
    bot_content = await gw.connect(BOT, intents=BASE | CONTENT, label="bot+content")
    alice = await gw.connect(ALICE)  # a user: never redacted, intent or not
    alice_content = await gw.connect(ALICE, intents=BASE | CONTENT, label="alice+content")
    event = message(GENERAL, "secret plans", name=name)
    gw.publish(event)
    await gw.settle()
    (d,) = bot.take(name)
    assert redactable(d) == {**REDACTED, "poll": None}
    assert {**d, **redactable(event.data)} == event.data  # nothing else changed
    for conn in (bot_content, alice, alice_content):
        (d,) = conn.take(name)
        assert d == event.data
        assert redactable(d) == {"content": "secret plans", "embeds": [{"title": "secret plans"}],
                                 "attachments": [ATTACHMENT], "components": [COMPONENT],
                                 "poll": POLL}


async def test_content_kept_for_bot_without_message_content_own_or_mentioned(
        gw: Gateway) -> None:
    bot = await gw.connect(BOT)
    other = User(21, "other", bot=True)  # a bot of another session: not this one's message
    gw.publish(message(GENERAL, "a"),
               message(GENERAL, "mine", author=BOT),
               message(GENERAL, "hey @bot", mentions=(BOT,)),
               message(GENERAL, "hey @bob", mentions=(BOB,)),
               message(GENERAL, "other", author=other))
    await gw.settle()
    assert bot.contents() == ["", "mine", "hey @bot", "", ""]


async def test_content_kept_for_bot_without_message_content_in_dm(gw: Gateway) -> None:
    bot = await gw.connect(BOT)
    gw.publish(message(DM + 1, "direct", guild_id=None, recipients=(ALICE, BOT)))
    await gw.settle()
    (d,) = bot.take("MESSAGE_CREATE")
    assert d["content"] == "direct" and d["attachments"] == [ATTACHMENT]


# -- sharding ------------------------------------------------------------------------------------


async def test_shard_gets_only_its_guilds_when_sharded(gw: Gateway) -> None:
    s0 = await gw.connect(BOT, shard=(0, 2), label="shard0")
    s1 = await gw.connect(BOT, shard=(1, 2), label="shard1")
    whole = await gw.connect(BOT, label="unsharded")
    assert (set(s0.guilds), set(s1.guilds), set(whole.guilds)) == ({G1}, {G2}, {G1, G2})
    assert await say(gw, GENERAL, "1", s0, s1, whole) == {"shard0", "unsharded"}
    assert await say(gw, LOUNGE, "2", s0, s1, whole, guild_id=G2) == {"shard1", "unsharded"}


async def test_shard_gets_only_its_guilds_when_attached_to_every_guild(gw: Gateway) -> None:
    # The hub filters by shard itself, not only through what the server attaches.
    s0 = await gw.connect(BOT, shard=(0, 2), guild_ids=[G1, G2], label="shard0")
    s1 = await gw.connect(BOT, shard=(1, 2), guild_ids=[G1, G2], label="shard1")
    assert await say(gw, GENERAL, "1", s0, s1) == {"shard0"}
    assert await say(gw, LOUNGE, "2", s0, s1, guild_id=G2) == {"shard1"}
    gw.publish(guild_event("GUILD_MEMBER_ADD", G2, user={"id": str(DAVE.id)}))
    await gw.settle()
    assert s0.take() == [] and s1.take() == []  # no GUILD_MEMBERS, either shard
    gw.publish(Event("GUILD_UPDATE", {"id": str(G2), "name": "two"}, guild_id=G2))
    await gw.settle()
    assert s0.take() == [] and len(s1.take("GUILD_UPDATE")) == 1


async def test_shard_0_only_gets_dms_when_sharded(gw: Gateway) -> None:
    s0 = await gw.connect(BOT, shard=(0, 2), label="shard0")
    s1 = await gw.connect(BOT, shard=(1, 2), label="shard1")
    whole = await gw.connect(BOT, label="unsharded")
    event = message(DM + 1, "direct", guild_id=None, recipients=(ALICE, BOT))
    gw.publish(event)
    await gw.settle()
    assert who_got(event, s0, s1, whole) == {"shard0", "unsharded"}


async def test_shard_joins_only_its_guilds_on_guild_create(gw: Gateway) -> None:
    s0 = await gw.connect(BOT, shard=(0, 2), label="shard0")
    s1 = await gw.connect(BOT, shard=(1, 2), label="shard1")
    assert await core.members.admit(gw.platform, Member(G3, BOT.id, 0), BOT)  # shard 1
    await gw.settle()
    assert s0.take() == []
    assert [d["id"] for d in s1.take("GUILD_CREATE")] == [str(G3)]
    assert (set(s0.guilds), set(s1.guilds)) == ({G1}, {G2, G3})
    assert await say(gw, HALL, "1", s0, s1, guild_id=G3) == {"shard1"}


# -- the backlog while a guild loads -------------------------------------------------------------


def gate_guild_reads(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event,
                                                                                  list[int]]:
    """Make the store's ``get_guild`` (the first read of a cache load) wait for the event."""
    gate, reads = asyncio.Event(), []
    real = platform.meta.get_guild

    async def get_guild(guild_id: int) -> Guild | None:
        reads.append(guild_id)
        await gate.wait()
        return await real(guild_id)

    monkeypatch.setattr(platform.meta, "get_guild", get_guild)
    return gate, reads


async def test_events_wait_in_order_while_guild_loads(gw: Gateway,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await gw.connect(ALICE)
    carol = await gw.connect(CAROL)
    assert await say(gw, GENERAL, "warm", alice) == {"alice"}
    gate, reads = gate_guild_reads(gw.platform, monkeypatch)
    # A channel change: fanned out at once, then the guild must be read again.
    gw.publish(Event("CHANNEL_UPDATE", {"id": str(GENERAL), "guild_id": str(G1), "name": "g"},
                     guild_id=G1, channel_id=GENERAL))
    await gw.iterations()
    assert [d["id"] for d in alice.take("CHANNEL_UPDATE")] == [str(GENERAL)]
    seq = alice.session.seq
    gw.publish(message(GENERAL, "1"), message(DM, "2", guild_id=None, recipients=(ALICE,)))
    await gw.iterations()
    gw.publish(message(LOUNGE, "3", CAROL, guild_id=G2), message(GENERAL, "4"))
    await gw.iterations()
    assert reads == [G1]  # loading, once
    # Everything after the first event that needs the load waits, even what does not need it.
    assert alice.take() == [] and carol.take() == []
    gate.set()
    await gw.settle()
    assert [(p["t"], p["d"]["content"], p["s"]) for p in alice.take_payloads()] == [
        ("MESSAGE_CREATE", "1", seq + 1), ("MESSAGE_CREATE", "2", seq + 2),
        ("MESSAGE_CREATE", "4", seq + 3)]
    assert carol.contents() == ["3"]


def collect(conn: FakeConn, got: list[str]) -> list[str]:
    """``got`` with the contents ``conn`` received since the last call."""
    got.extend(conn.contents())
    return got


async def test_backlog_overflow_drops_oldest_events(gw: Gateway,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await gw.connect(ALICE)
    gate, reads = gate_guild_reads(gw.platform, monkeypatch)
    gw.publish(Event("CHANNEL_UPDATE", {"id": str(GENERAL), "guild_id": str(G1), "name": "g"},
                     guild_id=G1, channel_id=GENERAL))
    await gw.iterations(2)
    alice.take()
    extra = 3
    gw.publish(*(message(GENERAL, str(i)) for i in range(BACKLOG_MAX + extra)))
    await gw.iterations(2)
    assert reads == [G1] and alice.take() == []
    gate.set()
    got: list[str] = []
    # No settle() marker: it would overflow the backlog itself.
    await alice.wait_for(lambda: len(collect(alice, got)) >= BACKLOG_MAX)
    assert got == [str(i) for i in range(extra, BACKLOG_MAX + extra)]
    await gw.settle()
    assert alice.take() == []


async def test_backlog_overflow_drops_oldest_events_arriving_during_load(
        gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await gw.connect(ALICE)
    gate, reads = gate_guild_reads(gw.platform, monkeypatch)
    gw.publish(Event("CHANNEL_UPDATE", {"id": str(GENERAL), "guild_id": str(G1), "name": "g"},
                     guild_id=G1, channel_id=GENERAL))
    await gw.iterations(2)
    alice.take()
    gw.publish(message(GENERAL, "0"))  # waits for the load, which starts
    await gw.iterations(2)
    assert reads == [G1]
    extra = 3  # the rest arrive while the load is pending: "0", "1" and "2" are the oldest
    gw.publish(*(message(GENERAL, str(i)) for i in range(1, BACKLOG_MAX + extra)))
    await gw.iterations(2)
    gate.set()
    got: list[str] = []
    await alice.wait_for(lambda: len(collect(alice, got)) >= BACKLOG_MAX)
    assert got == [str(i) for i in range(extra, BACKLOG_MAX + extra)]


# -- one flush per loop iteration ----------------------------------------------------------------


async def test_events_of_one_iteration_flushed_once_in_order(gw: Gateway) -> None:
    typing = int(Intent.GUILD_MESSAGE_TYPING)
    alice = await gw.connect(ALICE, intents=BASE | typing)
    bob = await gw.connect(BOB, intents=BASE | typing)
    seq = alice.session.seq
    gw.publish(message(GENERAL, "1"))
    gw.publish(Event("TYPING_START", {"channel_id": str(GENERAL), "user_id": str(BOB.id)},
                     guild_id=G1, channel_id=GENERAL),
               message(DM, "2", guild_id=None, recipients=(ALICE,)),
               message(GENERAL, "3"))
    await gw.settle()
    (write,) = alice.writes  # one flush, all four frames
    payloads = [orjson.loads(m) for m in write]
    assert [(p["t"], p["d"].get("content")) for p in payloads] == [
        ("MESSAGE_CREATE", "1"), ("TYPING_START", None), ("MESSAGE_CREATE", "2"),
        ("MESSAGE_CREATE", "3")]
    assert [p["s"] for p in payloads] == [seq + 1, seq + 2, seq + 3, seq + 4]
    (write,) = bob.writes
    assert [orjson.loads(m)["s"] for m in write] == [2, 3, 4]
    # The next iteration's events: another flush, the numbering goes on.
    gw.publish(message(GENERAL, "4"))
    await gw.settle()
    assert len(alice.writes) == 2
    assert [orjson.loads(m)["s"] for m in alice.writes[1]] == [seq + 5]


class CountingClock:
    """A clock that advances 1 ms each time it is read: a flush slice of 2.5 ms then holds
    the sockets written before the third read past its start (exact, never timed)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


async def test_a_message_durable_during_a_sliced_round_is_not_held_behind_it(
        gw: Gateway) -> None:
    conns = [await gw.connect(BOB, label=f"bob-{i}") for i in range(8)]
    gw.hub._slices = FlushSlices(0.0025, CountingClock())
    gw.publish(message(GENERAL, "1"))
    async with asyncio.timeout(5):
        while not any(c.writes for c in conns):  # noqa: ASYNC110 - the first slice
            await asyncio.sleep(0)
    early = [c for c in conns if c.writes]
    assert 0 < len(early) < len(conns) and gw.hub.flushing  # the round is not over
    gw.publish(message(GENERAL, "2"))  # the next message, while the round goes on
    await gw.settle()
    got = {c.label: [[orjson.loads(m)["d"]["content"] for m in w] for w in c.writes if w]
           for c in conns}
    # Sockets written before the hub had "2" get it in the next round; the rest of the round
    # carries both in one write (the next round then finds nothing left for them: the
    # listener writes nothing). Both kinds, in order and once each.
    split = {label for label, writes in got.items() if writes == [["1"], ["2"]]}
    assert {label for label, writes in got.items() if writes == [["1", "2"]]} == \
        set(got) - split
    assert {c.label for c in early} <= split < set(got)


async def test_a_fanout_pushed_in_slices_is_not_overtaken_by_the_next_message(
        gw: Gateway) -> None:
    # The pushes of a fanout go a slice at a time (gateway.push_slices); a message arriving
    # meanwhile waits: each session gets "1" then "2", with consecutive sequence numbers.
    conns = [await gw.connect(BOB, label=f"bob-{i}") for i in range(8)]
    first = conns[0].session.seq
    runs: list[bool] = []

    class Counted(PushSlices):
        def run(self, touched: Any, whole: bool = False) -> bool:
            runs.append(more := super().run(touched, whole))
            return more

    gw.hub._pushes = Counted(0.0025, CountingClock(), chunk=1)
    gw.publish(message(GENERAL, "1"))
    gw.publish(message(GENERAL, "2"))
    await gw.settle()
    assert runs.count(True) >= 2, runs  # pushed over several loop iterations
    for conn in conns:
        got = [orjson.loads(m) for w in conn.writes for m in w]
        dispatches = [(p["d"]["content"], p["s"]) for p in got if p.get("t") == "MESSAGE_CREATE"]
        assert dispatches == [("1", first + 1), ("2", first + 2)], conn.label


async def test_the_event_after_a_sliced_fanout_is_handled_once_it_is_pushed(
        gw: Gateway) -> None:
    # A revocation published right after a message: while the message's pushes go on in
    # slices the revocation waits (in the backlog), so every session gets the message, then
    # its 4004; handled at once, it would close the sessions not yet pushed to.
    conns = [await gw.connect(BOB, label=f"bob-{i}") for i in range(8)]
    gw.hub._pushes = PushSlices(0.0025, CountingClock(), chunk=1)
    gw.publish(message(GENERAL, "1"), Event(TOKENS_REVOKED, {"user_id": str(BOB.id)}))
    async with asyncio.timeout(5):
        while gw.hub.flushing or any(c.session.close_code is None for c in conns):  # noqa: ASYNC110
            await asyncio.sleep(0)
    for conn in conns:
        assert conn.contents() == ["1"], conn.label
        assert conn.session.close_code == CloseCode.AUTHENTICATION_FAILED


async def test_a_big_guilds_audience_is_made_in_slices_then_memoized(
        gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Over BUILD_IN_SLICES_OVER connections a dropped audience memo is made a chunk at a time
    # (VIEW_CHANNEL checked as it goes, the gated bot's variant pushed at the end), then kept.
    monkeypatch.setattr(gateway.hub, "BUILD_IN_SLICES_OVER", 2)
    monkeypatch.setattr(gateway.hub, "CHUNK", 1)
    added: list[int] = []

    class Counted(AudienceBuilder):
        def add(self, conns: Iterable[Any]) -> None:
            conns = list(conns)
            added.append(len(conns))
            super().add(conns)

    monkeypatch.setattr(gateway.hub, "AudienceBuilder", Counted)
    bobs = [await gw.connect(BOB, label=f"bob-{i}") for i in range(4)]
    erins = [await gw.connect(ERIN, label=f"erin-{i}") for i in range(2)]
    alice = await gw.connect(ALICE)
    bot = await gw.connect(BOT)  # no MESSAGE_CONTENT: the redacted variant
    gw.hub._pushes = PushSlices(0.0025, CountingClock(), chunk=1)
    gw.publish(message(SECRET, "secret"), message(GENERAL, "hi", author=BOB))
    await gw.settle()
    assert len(added) == 16  # 8 candidates, one at a time, for each channel
    for conn in erins + [alice]:
        assert conn.contents() == ["secret", "hi"], conn.label
    for conn in bobs:
        assert conn.contents() == ["hi"], conn.label
    assert [d["content"] for d in bot.take("MESSAGE_CREATE")] == [""]  # redacted
    cache = gw.hub._guilds[G1]
    assert isinstance(cache.audiences[(GENERAL, int(Intent.GUILD_MESSAGES))], Audience)
    gw.publish(message(GENERAL, "again"))
    await gw.settle()
    assert len(added) == 16  # memoized: not made again
    assert all(c.contents() == ["again"] for c in bobs + erins + [alice])


async def test_an_audience_memo_dropped_while_made_in_slices_is_not_kept(
        gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.hub, "BUILD_IN_SLICES_OVER", 2)
    monkeypatch.setattr(gateway.hub, "CHUNK", 1)
    bobs = [await gw.connect(BOB, label=f"bob-{i}") for i in range(4)]
    gw.hub._pushes = PushSlices(0.0025, CountingClock(), chunk=1)
    gw.publish(message(GENERAL, "hi"))
    cache = gw.hub._guilds[G1]
    async with asyncio.timeout(5):
        while (GENERAL, int(Intent.GUILD_MESSAGES)) not in cache.audiences:  # noqa: ASYNC110
            await asyncio.sleep(0)
    late = await gw.connect(BOB, label="late")  # a subscriber: the memo is dropped
    await gw.settle()
    assert all(c.contents() == ["hi"] for c in bobs)
    assert (GENERAL, int(Intent.GUILD_MESSAGES)) not in cache.audiences  # not the stale one
    gw.publish(message(GENERAL, "next"))
    await gw.settle()
    assert all(c.contents() == ["next"] for c in [*bobs, late])


# -- revocations (discord-arch admin) ------------------------------------------------------------


async def test_tokens_revoked_closes_every_session_of_the_user_with_4004(gw: Gateway) -> None:
    alice, alice_bot_tab = await gw.connect(ALICE), await gw.connect(ALICE, label="alice-2")
    bob = await gw.connect(BOB)
    gw.publish(Event(TOKENS_REVOKED, {"user_id": str(ALICE.id)}))
    await gw.settle()
    for conn in (alice, alice_bot_tab):
        # The listener writes the close frame in the flush (tests/integration/test_admin*).
        assert conn.session.close_code == CloseCode.AUTHENTICATION_FAILED
        assert conn.writes, "flushed"
    assert bob.session.close_code is None and bob.session.state is State.READY
    assert not bob.take(), "an internal event is never dispatched"
    assert await say(gw, GENERAL, "still here", bob) == {"bob"}


async def test_tokens_revoked_of_a_user_with_no_session_here_closes_nothing(gw: Gateway) -> None:
    bob = await gw.connect(BOB)
    gw.publish(Event(TOKENS_REVOKED, {"user_id": str(DAVE.id)}))
    await gw.settle()
    assert bob.session.state is State.READY and not bob.take()
