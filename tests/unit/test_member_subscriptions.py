"""Guild subscriptions (op 14 and op 37) and the presences of large guilds, sans I/O.

Three levels: ``parse_command`` (the payloads and their limits), the session (op 14 is a
request for the adapter, queued until READY like the others) and the hub (who receives a
PRESENCE_UPDATE in a large guild: a user account only the members it follows and its own, a
bot or a small guild's session every one), with :class:`MemberSubscriptions`' index checked
to follow subscriptions, guild leaves, detaches and resumes exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.events import Event
from core.models import User
from gateway.commands import (
    MAX_SUBSCRIBED_CHANNELS,
    MAX_SUBSCRIBED_MEMBERS,
    MAX_SUBSCRIPTION_GUILDS,
    parse_command,
)
from gateway.member_subscriptions import MemberSubscriptions
from gateway.protocol import (
    CloseCode,
    GuildSubscription,
    GuildSubscriptions,
    Intent,
    ProtocolError,
)
from gateway.session import State
from tests.unit import test_hub
from tests.unit.gateway_client import Client, identify
from tests.unit.test_hub import ALICE, BASE, BOB, BOT, CAROL, ERIN, G1, G2, FakeConn, Gateway

# test_hub's world: its platform (a seeded store) and gateway (a hub with a probe session).
platform = test_hub.platform
gw = test_hub.gw

# -- parsing -------------------------------------------------------------------------------------


def test_op14_parses_every_documented_field() -> None:
    command = parse_command({"op": 14, "d": {
        "guild_id": "5", "typing": True, "activities": False, "threads": True,
        "member_updates": False, "members": ["7", 8, "7"], "channels": {"9": [[0, 99], [100, 199]]},
        "thread_member_lists": ["10"]}})
    assert command == GuildSubscriptions((GuildSubscription(
        5, members=(7, 8), channels=((9, ((0, 99), (100, 199))),), typing=True,
        activities=False, threads=True, member_updates=False, thread_member_lists=(10,)),))


def test_op14_fields_left_out_are_none() -> None:
    assert parse_command({"op": 14, "d": {"guild_id": 5}}) == GuildSubscriptions(
        (GuildSubscription(5),))


def test_op37_one_subscription_per_guild() -> None:
    command = parse_command({"op": 37, "d": {"subscriptions": {
        "5": {"members": ["1"]}, "6": {"typing": True}}}})
    assert command == GuildSubscriptions((GuildSubscription(5, members=(1,)),
                                          GuildSubscription(6, typing=True)))


def _ids(n: int) -> list[str]:
    return [str(1000 + i) for i in range(n)]


@pytest.mark.parametrize("payload", [
    {"op": 14, "d": None},
    {"op": 14, "d": {}},  # no guild_id
    {"op": 14, "d": {"guild_id": "x"}},
    {"op": 14, "d": {"guild_id": "5", "members": "1"}},
    {"op": 14, "d": {"guild_id": "5", "members": ["0"]}},
    {"op": 14, "d": {"guild_id": "5", "members": _ids(MAX_SUBSCRIBED_MEMBERS + 1)}},
    {"op": 14, "d": {"guild_id": "5", "typing": "yes"}},
    {"op": 14, "d": {"guild_id": "5", "channels": [[0, 99]]}},
    {"op": 14, "d": {"guild_id": "5", "channels": {"9": [[5, 1]]}}},
    {"op": 14, "d": {"guild_id": "5", "channels": {"9": [[0, 100]]}}},  # 101 rows
    {"op": 14, "d": {"guild_id": "5", "channels": {"9": [[0, 99, 1]]}}},
    {"op": 14, "d": {"guild_id": "5", "channels": {"9": [[-1, 9]]}}},
    {"op": 14, "d": {"guild_id": "5", "channels": {
        str(i): [[0, 99]] for i in range(1, MAX_SUBSCRIBED_CHANNELS + 2)}}},
    {"op": 14, "d": {"guild_id": "5", "thread_member_lists": _ids(11)}},
    {"op": 37, "d": {"subscriptions": []}},
    {"op": 37, "d": {}},
    {"op": 37, "d": {"subscriptions": {"x": {}}}},
    {"op": 37, "d": {"subscriptions": {"5": []}}},
    {"op": 37, "d": {"subscriptions": {str(i): {}
                                       for i in range(1, MAX_SUBSCRIPTION_GUILDS + 2)}}},
], ids=lambda p: str(p)[:60])
def test_malformed_subscriptions_close_with_4002(payload: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as e:
        parse_command(payload)
    assert e.value.code is CloseCode.DECODE_ERROR


def test_limits_themselves_are_accepted() -> None:
    command = parse_command({"op": 14, "d": {"guild_id": "5",
                                             "members": _ids(MAX_SUBSCRIBED_MEMBERS)}})
    assert isinstance(command, GuildSubscriptions)
    assert len(command.guilds[0].members or ()) == MAX_SUBSCRIBED_MEMBERS
    bulk = parse_command({"op": 37, "d": {"subscriptions": {
        str(i): {} for i in range(1, MAX_SUBSCRIPTION_GUILDS + 1)}}})
    assert isinstance(bulk, GuildSubscriptions) and len(bulk.guilds) == MAX_SUBSCRIPTION_GUILDS


# -- the session ---------------------------------------------------------------------------------


def test_session_hands_op14_to_the_adapter_once_ready() -> None:
    client = Client()
    client.send(identify(intents=BASE | int(Intent.GUILD_PRESENCES)))
    client.send({"op": 14, "d": {"guild_id": "5", "members": ["7"]}})
    (request,) = client.session.requests()  # the Identify; op 14 waits for READY
    client.session.on_identified(ALICE, None, [], "sid", "ws://x")
    assert client.session.state is State.READY
    assert client.session.requests() == [GuildSubscriptions((GuildSubscription(5, (7,)),))]
    client.send({"op": 37, "d": {"subscriptions": {"5": {"members": []}}}})
    assert client.session.requests() == [GuildSubscriptions((GuildSubscription(5, ()),))]
    assert client.session.close_code is None


def test_session_closes_on_a_bad_op37() -> None:
    client = Client()
    client.send(identify())
    client.session.requests()
    client.session.on_identified(ALICE, None, [], "sid", "ws://x")
    client.send({"op": 37, "d": {"subscriptions": {"5": {"members": ["nope"]}}}})
    assert client.session.close_code == CloseCode.DECODE_ERROR


# -- the index -----------------------------------------------------------------------------------


def test_index_follows_subscriptions_leaves_and_drops() -> None:
    subs: MemberSubscriptions[str] = MemberSubscriptions(max_guilds=2)
    assert not subs.set_members("a", 1, [5])  # not lazy there: nothing kept
    subs.lazy("a", 1, own_id=100)
    assert list(subs.followers(1, 100)) == ["a"]  # its own presence
    assert subs.set_members("a", 1, [5, 6, 100])
    assert subs.followed("a", 1) == {5, 6}  # its own is not counted
    subs.set_members("a", 1, [6, 7])
    assert list(subs.followers(1, 5)) == [] and list(subs.followers(1, 7)) == ["a"]
    subs.lazy("b", 1, own_id=101)
    subs.set_members("b", 1, [7])
    assert sorted(subs.followers(1, 7)) == ["a", "b"]
    subs.leave("a", 1)
    assert list(subs.followers(1, 7)) == ["b"] and list(subs.followers(1, 100)) == []
    subs.drop("b")
    assert len(subs) == 0


def test_index_keeps_members_in_at_most_max_guilds_the_oldest_dropped() -> None:
    subs: MemberSubscriptions[str] = MemberSubscriptions(max_guilds=2)
    for guild in (1, 2, 3):
        subs.lazy("a", guild, own_id=100)
    subs.set_members("a", 1, [5])
    subs.set_members("a", 2, [5])
    subs.set_members("a", 1, [6])  # guild 1 is now the newest
    subs.set_members("a", 3, [7])  # a third: guild 2's members go
    assert (subs.followed("a", 1), subs.followed("a", 2), subs.followed("a", 3)) == (
        {6}, set(), {7})
    assert list(subs.followers(2, 5)) == [] and list(subs.followers(2, 100)) == ["a"]
    assert len(subs) == 2 + 3  # two members, and its own in three guilds


# -- the hub: who receives a PRESENCE_UPDATE -----------------------------------------------------

PRESENCES = BASE | int(Intent.GUILD_PRESENCES)


async def lazy_conn(gw: Gateway, user: User, *, intents: int = PRESENCES,
                    label: str | None = None) -> FakeConn:
    """A session attached to G1 as the handler does when G1's GUILD_CREATE said large."""
    conn = await gw.connect(user, intents=intents, guild_ids=[], label=label)
    await gw.hub.prepare([G1], user.id)
    gw.hub.attach(conn, [G1], large=[G1])
    return conn


async def presences(gw: Gateway, *users: User, conns: tuple[FakeConn, ...]) -> dict[str, set[int]]:
    """Publish a PRESENCE_UPDATE in G1 for each of ``users``; whose each connection got."""
    for user in users:
        gw.publish(Event("PRESENCE_UPDATE", {"user": {"id": str(user.id)}, "guild_id": str(G1),
                                             "status": "online"}, guild_id=G1))
    await gw.settle()
    return {c.label: {int(d["user"]["id"]) for d in c.take("PRESENCE_UPDATE")} for c in conns}


def follow(gw: Gateway, conn: FakeConn, *users: User, guild_id: int = G1) -> None:
    gw.hub.subscribe(conn, GuildSubscriptions(
        (GuildSubscription(guild_id, tuple(u.id for u in users)),)))


async def test_large_guild_user_gets_only_followed_presences_and_its_own(gw: Gateway) -> None:
    alice = await lazy_conn(gw, ALICE)
    erin = await lazy_conn(gw, ERIN)
    bot = await lazy_conn(gw, BOT)  # a bot: every presence, as on Discord
    small = await gw.connect(BOB, intents=PRESENCES)  # attached without large: every presence
    conns = (alice, erin, bot, small)
    everyone = {ALICE.id, BOB.id, ERIN.id, BOT.id}
    assert await presences(gw, ALICE, BOB, ERIN, BOT, conns=conns) == {
        "alice": {ALICE.id}, "erin": {ERIN.id}, "bot": everyone, "bob": everyone}
    follow(gw, alice, BOB, BOT)
    assert await presences(gw, ALICE, BOB, ERIN, BOT, conns=conns) == {
        "alice": {ALICE.id, BOB.id, BOT.id}, "erin": {ERIN.id}, "bot": everyone,
        "bob": everyone}
    # A new subscription replaces the last one: BOB and BOT are no longer followed.
    follow(gw, alice, ERIN)
    assert (await presences(gw, BOB, ERIN, BOT, conns=conns))["alice"] == {ERIN.id}
    # Only where the session is lazy: a guild it is not in (or a small one) changes nothing.
    follow(gw, small, ALICE)
    follow(gw, alice, CAROL, guild_id=G2)
    assert len(gw.hub._follows) == 3  # alice: ERIN and herself; erin: herself


async def test_followed_presences_still_need_the_intent(gw: Gateway) -> None:
    alice = await lazy_conn(gw, ALICE, intents=BASE)  # no GUILD_PRESENCES: not lazy at all
    follow(gw, alice, BOB)
    assert await presences(gw, ALICE, BOB, conns=(alice,)) == {"alice": set()}
    assert len(gw.hub._follows) == 0


async def test_subscriptions_die_with_the_session_and_the_guild(gw: Gateway) -> None:
    alice = await lazy_conn(gw, ALICE)
    erin = await lazy_conn(gw, ERIN)
    follow(gw, alice, BOB)
    follow(gw, erin, BOB)
    gw.hub.detach(alice)
    assert await presences(gw, BOB, conns=(alice, erin)) == {"alice": set(), "erin": {BOB.id}}
    # ERIN leaves G1 (GUILD_DELETE to her): what she followed there goes with it.
    gw.publish(Event("GUILD_DELETE", {"id": str(G1)}, user_ids=(ERIN.id,)))
    await gw.settle()
    assert G1 not in erin.guilds and len(gw.hub._follows) == 0
    assert await presences(gw, BOB, conns=(erin,)) == {"erin": set()}


async def test_join_of_a_large_guild_makes_the_session_lazy(gw: Gateway) -> None:
    alice = await gw.connect(ALICE, intents=PRESENCES, guild_ids=[])
    bob = await gw.connect(BOB, intents=PRESENCES, guild_ids=[])
    gw.publish(Event("GUILD_CREATE", {"id": str(G1), "large": True}, user_ids=(ALICE.id,)),
               Event("GUILD_CREATE", {"id": str(G1), "large": False}, user_ids=(BOB.id,)))
    await gw.settle()
    assert G1 in alice.guilds and G1 in bob.guilds
    assert await presences(gw, ERIN, conns=(alice, bob)) == {"alice": set(), "bob": {ERIN.id}}
    follow(gw, alice, ERIN)
    assert await presences(gw, ERIN, conns=(alice, bob)) == {"alice": {ERIN.id},
                                                             "bob": {ERIN.id}}


async def test_resume_carries_the_subscriptions_over(gw: Gateway) -> None:
    old = await lazy_conn(gw, ALICE, label="old")
    follow(gw, old, BOB)
    new = test_hub.resume_on_new_conn(gw, old, ALICE)
    assert await presences(gw, ALICE, BOB, ERIN, conns=(old, new)) == {
        "old": set(), "new": {ALICE.id, BOB.id}}
    assert len(gw.hub._follows) == 2
