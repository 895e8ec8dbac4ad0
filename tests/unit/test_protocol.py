"""Unit tests for the gateway's pure pieces: intents, close codes, the rate limiter and
the replay buffer (Discord's "Gateway" page: List of Intents, Sharding, Rate Limiting;
"Opcodes and Status Codes": Gateway Close Event Codes)."""

from __future__ import annotations

import pytest

from gateway.codec import Dispatch, Encoding
from gateway.commands import parse_command
from gateway.protocol import (
    ALL_INTENTS,
    PRIVILEGED_INTENTS,
    CloseCode,
    Intent,
    ProtocolError,
    event_intent,
    session_survives,
)
from gateway.ratelimit import WindowLimiter
from gateway.replay import ReplayBuffer


@pytest.mark.parametrize(
    ("name", "is_dm", "intent"),
    [
        ("MESSAGE_CREATE", False, Intent.GUILD_MESSAGES),
        ("MESSAGE_CREATE", True, Intent.DIRECT_MESSAGES),
        ("MESSAGE_UPDATE", True, Intent.DIRECT_MESSAGES),
        ("MESSAGE_DELETE_BULK", False, Intent.GUILD_MESSAGES),
        ("TYPING_START", False, Intent.GUILD_MESSAGE_TYPING),
        ("TYPING_START", True, Intent.DIRECT_MESSAGE_TYPING),
        ("GUILD_CREATE", False, Intent.GUILDS),
        ("GUILD_ROLE_UPDATE", False, Intent.GUILDS),
        ("CHANNEL_CREATE", False, Intent.GUILDS),
        ("CHANNEL_PINS_UPDATE", True, Intent.DIRECT_MESSAGES),
        ("GUILD_MEMBER_ADD", False, Intent.GUILD_MEMBERS),
        ("GUILD_MEMBER_REMOVE", False, Intent.GUILD_MEMBERS),
        ("PRESENCE_UPDATE", False, Intent.GUILD_PRESENCES),
        ("MESSAGE_REACTION_ADD", True, Intent.DIRECT_MESSAGE_REACTIONS),
        ("INVITE_CREATE", False, Intent.GUILD_INVITES),
        ("GUILD_BAN_ADD", False, Intent.GUILD_MODERATION),
    ],
)
def test_event_intent(name: str, is_dm: bool, intent: Intent) -> None:
    assert event_intent(name, is_dm) == int(intent)


@pytest.mark.parametrize("name", ["READY", "RESUMED", "USER_UPDATE", "GUILD_MEMBERS_CHUNK",
                                  "MESSAGE_SEND_FAILED", "INTERACTION_CREATE"])
def test_events_without_intent_are_always_sent(name: str) -> None:
    assert event_intent(name, False) is None and event_intent(name, True) is None


def test_intent_masks() -> None:
    assert PRIVILEGED_INTENTS == (1 << 1) | (1 << 8) | (1 << 15)
    assert ALL_INTENTS == 0b11_0011_0001_1111_1111_1111_1111
    assert ALL_INTENTS & PRIVILEGED_INTENTS == PRIVILEGED_INTENTS


def test_close_code_reconnect_column() -> None:
    fatal = {c for c in CloseCode if not c.reconnect}
    assert fatal == {CloseCode(c) for c in (4004, 4010, 4011, 4012, 4013, 4014)}
    assert CloseCode.SLOW_CONSUMER.reconnect and CloseCode.SESSION_TIMED_OUT.reconnect
    assert all(len(c.reason.encode()) <= 123 for c in CloseCode)  # RFC 6455 §5.5


@pytest.mark.parametrize(
    ("sent", "received", "survives"),
    [(4009, None, True), (4900, 1000, True), (4004, None, False), (4014, None, False),
     (None, None, True), (None, 4000, True), (None, 1006, True), (None, 1000, False),
     (None, 1001, False)],
)
def test_session_survives(sent: int | None, received: int | None, survives: bool) -> None:
    assert session_survives(sent, received) is survives


def test_parse_rejects_unicode_digit_snowflakes() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_command({"op": 50, "d": {"channel_id": "١٢٣", "content": "x"}})
    assert info.value.code is CloseCode.DECODE_ERROR


def test_parse_resume_null_seq_is_zero() -> None:
    command = parse_command({"op": 6, "d": {"token": "t", "session_id": "s", "seq": None}})
    assert getattr(command, "seq", None) == 0


# -- limiters ----------------------------------------------------------------------------------

def test_window_limiter_counts_per_window() -> None:
    limiter = WindowLimiter(3, 10.0)
    assert [limiter.hit(t) for t in (0.0, 1.0, 2.0, 9.9)] == [True, True, True, False]
    assert limiter.hit(10.0) is True  # a new window opens at the first hit after expiry


# -- replay buffer -----------------------------------------------------------------------------

def parts(i: int, size: int = 10) -> tuple[bytes, bytes]:
    return Dispatch("X", {"i": i, "pad": "x" * size}).parts(Encoding.JSON)


def test_replay_bounded_by_count() -> None:
    buf = ReplayBuffer(max_events=3, max_bytes=1 << 20)
    for i in range(5):
        assert buf.append(parts(i)) == i + 1
    assert (len(buf), buf.first_seq, buf.last_seq) == (3, 3, 5)
    assert [s for s, _ in buf.after(2) or []] == [3, 4, 5]
    assert buf.after(1) is None and buf.after(6) is None and buf.after(5) == []


def test_replay_full_drops_an_eighth_at_a_time() -> None:
    buf = ReplayBuffer(max_events=16, max_bytes=1 << 20)
    for i in range(16):
        buf.append(parts(i))
    assert (len(buf), buf.first_seq) == (16, 1)  # at the bound: nothing dropped yet
    assert buf.append(parts(16)) == 17
    assert (len(buf), buf.first_seq, buf.last_seq) == (14, 4, 17)  # down to 16 - 16 // 8
    assert buf.after(2) is None and [s for s, _ in buf.after(3) or []] == list(range(4, 18))
    for i in range(17, 19):
        buf.append(parts(i))
    assert (len(buf), buf.first_seq) == (16, 4)  # grows back to the bound before the next drop


def test_replay_bounded_by_bytes() -> None:
    one = sum(map(len, parts(0, 100)))
    buf = ReplayBuffer(max_events=100, max_bytes=one * 2 + 1)
    for i in range(4):
        buf.append(parts(i, 100))
    assert len(buf) == 2 and buf.size <= one * 2 + 1 and buf.first_seq == 3
    buf.append(parts(9, 10_000))  # larger than the whole budget: nothing is kept
    assert len(buf) == 0 and buf.size == 0 and buf.last_seq == 5 and buf.after(5) == []


def test_replay_ack_drops_what_the_client_received() -> None:
    buf = ReplayBuffer(max_events=100, max_bytes=1 << 20)
    for i in range(5):
        buf.append(parts(i))
    one = sum(map(len, parts(0)))
    buf.ack(0)  # nothing received yet: nothing dropped
    assert (len(buf), buf.first_seq, buf.size) == (5, 1, 5 * one)
    buf.ack(3)
    assert (len(buf), buf.first_seq, buf.size) == (2, 4, 2 * one)
    assert buf.after(2) is None and [s for s, _ in buf.after(3) or []] == [4, 5]
    buf.ack(2)  # below what is held: nothing changes
    assert (len(buf), buf.first_seq) == (2, 4)
    buf.ack(99)  # beyond the last given (a buggy client): up to the last only
    assert (len(buf), buf.first_seq, buf.last_seq, buf.size) == (0, 6, 5, 0)
    assert buf.after(5) == [] and buf.append(parts(5)) == 6


def test_replay_shares_the_parts_objects() -> None:
    shared = parts(0)
    a, b = ReplayBuffer(10, 1 << 20), ReplayBuffer(10, 1 << 20)
    a.append(shared)
    b.append(parts(1))
    b.append(shared)
    assert (a.after(0) or [])[0][1] is shared
    assert (b.after(1) or [])[0][1] is shared
