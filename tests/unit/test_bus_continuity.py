"""Bus continuity without I/O: offsets per (publisher, channel), and what a gap does to sessions.

The tracker (``core.bus.continuity``) is pure; the hub's ``on_gap`` runs on a real platform
with the fake connections of ``tests.unit.test_hub``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.bus.continuity import Chains, Continuity, Verdict
from core.config import Config
from core.events import Gap
from core.platform import Platform
from gateway.hub import Hub
from gateway.protocol import CloseCode, Opcode
from gateway.session import State
from tests.unit.test_hub import ALICE, BOB, CAROL, DAVE, G1, G2, PROBE, Gateway, seed

A, B = b"da:g:1", b"da:g:2"
NEXT, DUP, GAP = Verdict.NEXT, Verdict.DUPLICATE, Verdict.GAP


def test_chains_number_each_channel_on_its_own() -> None:
    chains = Chains()
    assert [chains.next(A, 1), chains.next(B, 2), chains.next(A, 3)] == [(1, 1), (2, 1), (1, 2)]


def test_chains_forget_the_oldest_past_their_bound_and_start_a_later_chain() -> None:
    chains = Chains(max_chains=2)
    chains.next(A, 1)
    chains.next(B, 2)
    chains.next(b"c", 3)  # A forgotten
    assert len(chains) == 2
    assert chains.next(A, 4) == (4, 1)  # a new chain, with a larger epoch


def test_contiguous_offsets_are_next_and_a_skip_is_a_gap() -> None:
    c = Continuity()
    assert c.heard(A, "w", 1, 1, 3, 0.0) is NEXT  # the first heard sets the start
    assert c.heard(A, "w", 1, 4, 1, 0.0) is NEXT
    assert c.heard(A, "w", 1, 7, 1, 0.0) is GAP  # 5 and 6 lost
    assert c.heard(A, "w", 1, 8, 2, 0.0) is NEXT  # and on from there


def test_offsets_are_per_channel_and_per_publisher() -> None:
    c = Continuity()
    assert c.heard(A, "w", 1, 1, 1, 0.0) is NEXT
    assert c.heard(B, "w", 5, 1, 1, 0.0) is NEXT  # another channel: its own chain
    assert c.heard(A, "v", 3, 9, 1, 0.0) is NEXT  # another publisher: first heard
    assert c.heard(A, "w", 1, 2, 1, 0.0) is NEXT
    assert c.heard(A, "v", 3, 10, 1, 0.0) is NEXT
    assert c.heard(B, "w", 5, 3, 1, 0.0) is GAP


def test_first_message_heard_anywhere_in_a_chain_is_not_a_gap() -> None:
    # Subscribed after the chain began: what came before was never promised.
    assert Continuity().heard(A, "w", 1, 500, 1, 0.0) is NEXT


def test_a_retried_pipeline_is_a_duplicate_not_a_gap() -> None:
    c = Continuity()
    c.heard(A, "w", 1, 1, 3, 0.0)
    assert c.heard(A, "w", 1, 2, 4, 0.0) is DUP  # 2..5 again, 4 and 5 new: no gap
    assert c.heard(A, "w", 1, 6, 1, 0.0) is NEXT


def test_a_new_chain_starts_anew_and_an_older_one_is_stale() -> None:
    c = Continuity()
    c.heard(A, "w", 1, 1, 5, 0.0)
    assert c.heard(A, "w", 9, 1, 1, 0.0) is NEXT  # the publisher forgot A's chain
    assert c.heard(A, "w", 1, 6, 1, 0.0) is DUP  # a late retry of the old chain
    assert c.heard(A, "w", 9, 3, 1, 0.0) is GAP


def test_forget_and_clear_start_chains_anew() -> None:
    c = Continuity()
    c.heard(A, "w", 1, 1, 1, 0.0)
    c.heard(B, "w", 2, 1, 1, 0.0)
    c.forget(A)  # unsubscribed
    assert c.heard(A, "w", 1, 9, 1, 0.0) is NEXT
    c.clear()  # the connection was lost (the bus reports that gap itself)
    assert len(c) == 0
    assert c.heard(B, "w", 2, 9, 1, 0.0) is NEXT


def test_receiver_state_is_bounded_and_expires() -> None:
    c = Continuity(idle_s=10.0, publishers_max=2)
    for i, publisher in enumerate("xyz"):
        c.heard(A, publisher, 1, 1, 1, float(i))
    assert len(c) == 2  # x forgotten
    c.heard(B, "x", 1, 1, 1, 20.0)
    assert c.expire(15.0) == 2 and len(c) == 1  # y, z quiet since 1 and 2
    assert c.expire(31.0) == 1 and len(c) == 0


# -- what the hub does with a gap -----------------------------------------------------------------


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    platform = await Platform.open(Config(data_dir=str(tmp_path), sqlite_synchronous="OFF"))
    hub = Hub(platform)
    try:
        await seed(platform)
        await hub.start()
        gateway = Gateway(platform, hub)
        gateway.probe = await gateway.connect(PROBE)
        yield gateway
    finally:
        await hub.aclose()
        await platform.aclose()


def ended(conn: object) -> bool:
    """The connection got op 9 (not resumable) and a 4009 close, and cannot RESUME."""
    payloads = conn.payloads()  # type: ignore[attr-defined]
    session = conn.session  # type: ignore[attr-defined]
    return (any(p["op"] == Opcode.INVALID_SESSION and p["d"] is False for p in payloads)
            and session.close_code == CloseCode.SESSION_TIMED_OUT
            and session.seq == 0)  # no replay buffer left


async def test_gap_for_a_guild_ends_only_that_guilds_sessions(gw: Gateway) -> None:
    alice, bob, carol = [await gw.connect(u) for u in (ALICE, BOB, CAROL)]
    gw.hub.on_gap(Gap(frozenset({G1})))
    await gw.iterations(3)
    assert ended(alice) and ended(bob)
    assert not ended(carol) and carol.session.state is State.READY
    assert gw.platform.metrics.bus_gap_sessions == 2


async def test_gap_for_a_user_ends_that_users_sessions(gw: Gateway) -> None:
    dave, carol = await gw.connect(DAVE), await gw.connect(CAROL)
    gw.hub.on_gap(Gap(frozenset(), frozenset({DAVE.id})))
    await gw.iterations(3)
    assert ended(dave) and not ended(carol)


async def test_gap_for_everything_ends_every_session_and_reloads_caches(gw: Gateway) -> None:
    alice, carol = await gw.connect(ALICE), await gw.connect(CAROL)
    gw.hub.on_gap(Gap(None))
    await gw.iterations(3)
    assert ended(alice) and ended(carol) and ended(gw.probe)
    assert all(cache.missing() for cache in gw.hub._guilds.values())


async def test_a_detached_session_loses_its_replay_buffer(gw: Gateway) -> None:
    alice = await gw.connect(ALICE)
    alice.session.connection_lost(0.0, None)  # abnormal close: kept for RESUME
    assert alice.session.state is State.DETACHED
    gw.hub.on_gap(Gap(frozenset({G1})))
    assert alice.session._replay is None  # a RESUME gets op 9


@pytest.mark.parametrize("guilds", [frozenset({G2}), frozenset()])
async def test_gap_elsewhere_leaves_sessions_alone(gw: Gateway, guilds: frozenset[int]) -> None:
    alice = await gw.connect(ALICE)
    gw.hub.on_gap(Gap(guilds))
    await gw.iterations(3)
    assert not ended(alice) and alice.session.state is State.READY


def test_position_is_the_last_offset_heard_of_a_publisher_on_a_channel() -> None:
    c = Continuity()
    assert c.position(b"g:1", "w") is None
    c.heard(b"g:1", "w", 7, 1, 3, 0.0)
    assert c.position(b"g:1", "w") == (7, 3) and c.position(b"g:2", "w") is None
    c.forget(b"g:1")
    assert c.position(b"g:1", "w") is None
