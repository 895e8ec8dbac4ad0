"""Unit tests for gateway.session after READY: dispatch, replay and RESUME, client commands,
and the whole flow in ETF and through zlib-stream / zstd-stream.

Discord's "Resuming": a client reconnects to ``resume_gateway_url`` with ``{token, session_id,
seq}`` and gets every dispatch after ``seq`` in order, then RESUMED; an unknown session gets
op 9 ``d: false``; a ``seq`` the server never sent is 4007.
"""

from __future__ import annotations

import orjson
import pytest

from gateway.codec import Dispatch, Encoding
from gateway.limits import SessionLimits
from gateway.protocol import (
    CloseCode,
    Intent,
    PresenceUpdate,
    RequestGuildMembers,
    Resume,
    SendMessage,
)
from gateway.session import Session, State, frames
from tests.unit.gateway_client import BOT, TOKEN, Client


def message(i: int) -> Dispatch:
    return Dispatch("MESSAGE_CREATE", {"id": str(1000 + i), "content": f"m{i}"})


def resume(seq: int, session_id: str = "sid-1") -> dict[str, object]:
    return {"op": 6, "d": {"token": TOKEN, "session_id": session_id, "seq": seq}}


def detached(events: int = 5, limits: SessionLimits = SessionLimits()) -> Session:  # noqa: B008
    """A READY session (2 GUILD_CREATEs, so seq 3) with ``events`` more, then disconnected."""
    client = Client(limits=limits)
    client.ready()
    for i in range(events):
        client.session.dispatch(message(i))
    client.session.connection_lost(10.0, 4000)
    assert client.session.state is State.DETACHED
    return client.session


def resuming(seq: int, session_id: str = "sid-1", encoding: str = "json") -> Client:
    client = Client(encoding)
    client.recv()
    client.send(resume(seq, session_id))
    assert client.session.requests() == [Resume(TOKEN, session_id, seq)]
    assert client.session.state is State.RESUMING
    return client


# -- dispatch ----------------------------------------------------------------------------------

def test_dispatch_numbers_and_sends() -> None:
    client = Client()
    client.ready()
    assert client.session.dispatch(message(0)) is True
    assert client.recv() == [{"op": 0, "t": "MESSAGE_CREATE", "s": 4,
                              "d": {"id": "1000", "content": "m0"}}]


def test_dispatch_before_ready_is_dropped() -> None:
    client = Client()
    client.send({"op": 2, "d": {"token": TOKEN, "intents": 0,
                                "properties": {"os": "a", "browser": "b", "device": "c"}}})
    assert client.session.dispatch(message(0)) is False
    assert [p["op"] for p in client.recv()] == [10]


def test_encode_once_two_sessions_share_bytes_only_s_differs() -> None:
    a, b = Client(), Client()
    a.ready(guilds=2)
    b.ready(guilds=5)
    event = message(7)
    a.session.dispatch(event)
    b.session.dispatch(event)
    out_a, out_b = a.session.outgoing(), b.session.outgoing()
    (frame_a,), (frame_b,) = frames(out_a), frames(out_b)
    assert frame_a.replace(b'"s":4,', b'"s":7,') == frame_b
    parts = event.parts(Encoding.JSON)
    # Queued as the shared parts and each session's own s: nothing copied or built per session.
    assert out_a == [parts, b"4"] and out_b == [parts, b"7"]
    assert out_a[0] is out_b[0] is parts
    # Both replay buffers hold the very same parts object: no copy per session.
    assert a.session._replay is not None and b.session._replay is not None
    assert a.session._replay.after(3) == [(4, parts)]
    assert a.session._replay.after(3)[0][1] is b.session._replay.after(6)[0][1] is parts


def test_closing_session_buffers_without_sending() -> None:
    client = Client()
    client.ready()
    client.session.close(CloseCode.SLOW_CONSUMER)
    assert client.session.dispatch(message(0)) is True
    assert client.recv() == [] and client.session.seq == 4


# -- resume ------------------------------------------------------------------------------------

def test_resume_replays_missed_dispatches_in_order_then_resumed() -> None:
    old = detached(events=5)  # seq 1 READY, 2-3 GUILD_CREATE, 4-8 messages
    old.dispatch(message(5))  # while disconnected: buffered, numbered 9
    assert old.outgoing() == []
    new = resuming(seq=6)
    new.session.on_resumed(old)
    frames = new.recv()
    assert [(f["t"], f["s"]) for f in frames] == [
        ("MESSAGE_CREATE", 7), ("MESSAGE_CREATE", 8), ("MESSAGE_CREATE", 9), ("RESUMED", 10)]
    assert [f["d"]["content"] for f in frames[:3]] == ["m3", "m4", "m5"]
    assert frames[3]["d"] == {"_trace": ["discord-arch-gateway"]}
    assert new.session.state is State.READY and new.session.session_id == "sid-1"
    assert new.session.user_id == 10 and new.session.intents == 513
    assert old.state is State.CLOSED and old.dispatch(message(9)) is False
    new.session.dispatch(message(6))
    assert new.recv()[0]["s"] == 11


def test_heartbeat_seq_frees_the_replay_and_resume_after_it_still_replays() -> None:
    client = Client()
    client.ready()  # READY and two GUILD_CREATEs: seq 1-3
    for i in range(3):
        client.session.dispatch(message(i))  # seq 4-6
    client.send({"op": 1, "d": 4})  # the client received up to 4
    assert client.session._replay is not None and len(client.session._replay) == 2  # noqa: SLF001
    client.session.connection_lost(10.0, 4000)
    new = resuming(4)
    new.session.on_resumed(client.session)
    assert [m["s"] for m in new.recv()] == [5, 6, 7]  # the missed two, then RESUMED
    again = resuming(3)
    again.session.on_resumed(new.session)  # before what was acknowledged: gone, re-identify
    assert again.recv()[-1] == {"op": 9, "d": False, "s": None, "t": None}


def test_resume_at_last_seq_replays_nothing() -> None:
    old = detached(events=2)
    new = resuming(seq=5)
    new.session.on_resumed(old)
    assert [(f["t"], f["s"]) for f in new.recv()] == [("RESUMED", 6)]


def test_resume_unknown_session_is_op9_false_then_identify_works() -> None:
    new = resuming(seq=3, session_id="nope")
    new.session.on_resume_failed()
    assert new.recv() == [{"op": 9, "d": False, "s": None, "t": None}]
    assert new.session.state is State.CONNECTED and new.session.close_code is None
    assert new.ready()[0]["t"] == "READY"


def test_resume_seq_beyond_last_is_4007() -> None:
    old = detached(events=1)  # last seq 4
    new = resuming(seq=5)
    new.session.on_resumed(old)
    assert new.close == (4007, "Invalid seq")
    assert old.state is State.DETACHED  # untouched: the client may still resume properly


def test_resume_after_replay_dropped_is_op9_false() -> None:
    old = detached(events=10, limits=SessionLimits(replay_max_events=4))  # keeps 10..13
    new = resuming(seq=8)
    new.session.on_resumed(old)
    assert new.recv() == [{"op": 9, "d": False, "s": None, "t": None}]
    covered = resuming(seq=9)
    covered.session.on_resumed(old)
    assert [f["s"] for f in covered.recv()] == [10, 11, 12, 13, 14]


def test_resume_with_another_encoding_is_op9_false() -> None:
    old = detached()
    new = resuming(seq=3, encoding="etf")
    new.session.on_resumed(old)
    assert new.recv() == [{"op": 9, "d": False, "s": None, "t": None}]


def test_resume_takes_over_a_still_connected_session() -> None:
    first = Client()
    first.ready()
    new = resuming(seq=3)
    new.session.on_resumed(first.session)
    assert first.close == (4009, "Session resumed on another connection")
    assert first.session.state is State.CLOSED
    assert [f["t"] for f in new.recv()] == ["RESUMED"]


def test_detached_session_expires() -> None:
    old = detached(limits=SessionLimits(resume_timeout_s=30.0))
    assert old.next_deadline() == 40.0
    old.tick(39.9)
    assert old.state is State.DETACHED
    old.tick(40.0)
    assert old.state is State.CLOSED and old.next_deadline() is None
    assert old.dispatch(message(0)) is False


@pytest.mark.parametrize(("code", "state"), [(1000, State.CLOSED), (1001, State.CLOSED),
                                             (4000, State.DETACHED), (None, State.DETACHED)])
def test_client_close_code_decides_resumability(code: int | None, state: State) -> None:
    client = Client()
    client.ready()
    client.session.connection_lost(1.0, code)
    assert client.session.state is state


def test_unauthenticated_connection_lost_is_closed() -> None:
    client = Client()
    client.session.connection_lost(1.0, None)
    assert client.session.state is State.CLOSED


# -- commands after READY ----------------------------------------------------------------------

def test_presence_update_is_a_request() -> None:
    client = Client()
    client.ready()
    act = {"name": "chess", "type": 0}
    client.send({"op": 3, "d": {"status": "dnd", "activities": [act], "since": 5, "afk": True}})
    assert client.session.requests() == [PresenceUpdate("dnd", (act,), 5, True)]


def test_request_guild_members_is_a_request() -> None:
    client = Client()
    client.ready(intents=int(Intent.GUILDS | Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES))
    client.send({"op": 8, "d": {"guild_id": 100, "query": "", "limit": 0, "presences": True,
                                "nonce": "abc"}})
    client.send({"op": 8, "d": {"guild_id": "100", "user_ids": ["1", 2], "nonce": "n" * 33}})
    assert client.session.requests() == [
        RequestGuildMembers(100, "", 0, True, (), "abc"),
        RequestGuildMembers(100, None, 0, False, (1, 2), None),
    ]


def test_request_members_without_intents() -> None:
    client = Client()
    client.ready(intents=int(Intent.GUILDS))
    client.send({"op": 8, "d": {"guild_id": "100", "query": "a", "limit": 5, "presences": True}})
    assert client.session.requests() == [RequestGuildMembers(100, "a", 5, False, (), None)]
    client.send({"op": 8, "d": {"guild_id": "100", "query": "", "limit": 0}})
    assert client.close == (4013, "GUILD_MEMBERS intent required")


@pytest.mark.parametrize("d", [{"guild_id": "1"}, {"guild_id": "x", "query": ""},
                               {"guild_id": "1", "user_ids": list(range(1, 102))},
                               {"guild_id": "1", "query": "", "limit": -1}])
def test_bad_request_guild_members_is_4002(d: dict[str, object]) -> None:
    client = Client()
    client.ready()
    client.send({"op": 8, "d": d})
    assert client.session.close_code == 4002


def test_send_opcode_and_send_failed_dispatch() -> None:
    client = Client()
    client.ready()
    body = {"content": "hi", "nonce": "n1", "message_reference": {"message_id": "5"}}
    client.send({"op": 50, "d": {"channel_id": "200", **body}})
    assert client.session.requests() == [SendMessage(200, "n1", body)]
    client.session.on_send_failed("n1", 50013, "Missing Permissions", 200)
    (event,) = client.recv()
    assert event["t"] == "MESSAGE_SEND_FAILED" and event["s"] == 4
    assert event["d"] == {"nonce": "n1", "code": 50013, "message": "Missing Permissions",
                          "channel_id": "200"}


def test_voice_state_update_is_ignored() -> None:
    client = Client()
    client.ready()
    client.send({"op": 4, "d": {"guild_id": "1", "channel_id": None}})
    assert client.session.requests() == [] and client.session.close_code is None


def test_commands_sent_before_ready_run_after_it() -> None:
    client = Client()
    client.recv()
    client.send({"op": 2, "d": {"token": TOKEN, "intents": 513,
                                "properties": {"os": "a", "browser": "b", "device": "c"}}})
    client.send({"op": 3, "d": {"status": "idle"}})
    assert len(client.session.requests()) == 1  # only the Identify so far
    client.session.on_identified(BOT, None, [], "sid", "ws://x")
    assert client.session.requests() == [PresenceUpdate("idle")]


# -- encodings and compression end to end -----------------------------------------------------

@pytest.mark.parametrize("compress", [None, "zlib-stream", "zstd-stream"])
@pytest.mark.parametrize("encoding", ["json", "etf"])
def test_full_flow_decodes_like_a_client(encoding: str, compress: str | None) -> None:
    client = Client(encoding, compress)
    assert client.recv()[0]["d"] == {"heartbeat_interval": 1000}
    frames = client.ready(guilds=2)
    client.send({"op": 1, "d": 3}, 0.5)
    for i in range(3):
        client.session.dispatch(message(i))
    frames += client.recv()
    assert [(f["op"], f["t"], f["s"]) for f in frames] == [
        (0, "READY", 1), (0, "GUILD_CREATE", 2), (0, "GUILD_CREATE", 3), (11, None, None),
        (0, "MESSAGE_CREATE", 4), (0, "MESSAGE_CREATE", 5), (0, "MESSAGE_CREATE", 6)]
    assert frames[0]["d"]["session_id"] == "sid-1"
    if compress == "zlib-stream":
        assert all(raw.endswith(b"\x00\x00\xff\xff") for raw in client.raw)
    if compress is None and encoding == "json":
        assert orjson.loads(client.raw[-1])["d"]["content"] == "m2"
