"""Unit tests for SharedZlib (``gateway_zlib_shared``): zlib-stream connections whose messages
are each self-contained, so a dispatch is deflated once for all its recipients.

Every stream is decoded as clients decode it: discord.py's buffer-until-``00 00 ff ff`` and one
``zlib.decompressobj()`` per connection (``tests.unit.gateway_client.Client``), and one fresh
decompressobj fed the whole stream at once. No sockets.
"""

from __future__ import annotations

import random
import zlib

import pytest

from core.events import Event
from gateway.audience import Audience, ContentGate
from gateway.codec import DeflateKey, Dispatch, Encoding
from gateway.compress import ZLIB_HEADER, SharedZlib, ZlibStream, deflate_alone
from gateway.limits import SessionLimits
from tests.unit.gateway_client import BOT, Client
from tests.unit.test_compress import ZLIB_SUFFIX, ZlibClient, chat_stream


def shared_client(encoding: str = "json", level: int = 1) -> Client:
    return Client(encoding, "zlib-stream", limits=SessionLimits(zlib_shared=True,
                                                                  zlib_level=level))


def message(i: int) -> Dispatch:
    return Dispatch("MESSAGE_CREATE", {"id": str(1000 + i), "content": f"message {i} " * (i % 9)})


def test_deflate_alone_is_a_piece_that_follows_any_message_of_any_stream() -> None:
    # The same piece after different histories (another stream's messages) decodes the same:
    # it refers to nothing before it, and starts and ends on a byte boundary.
    piece = deflate_alone(chat_stream(40)[-1], 6)
    assert piece.endswith(ZLIB_SUFFIX)
    for history in (chat_stream(1), chat_stream(3), chat_stream(300)):
        stream, client = ZlibStream(), ZlibClient()
        for msg in history:
            assert client.feed(stream.compress(msg)) == msg
        assert client.feed(piece) == chat_stream(40)[-1]
    assert ZlibClient().feed(ZLIB_HEADER + piece) == chat_stream(40)[-1]  # or first of all


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_shared_zlib_long_stream_decodes_with_a_fresh_decompressor(level: int) -> None:
    # 3,000 messages: private ones (compress) and dispatches whose body was deflated once
    # (dispatch), interleaved at random, as one stream from its header on.
    rng = random.Random(level)
    stream, client = SharedZlib(level), ZlibClient()
    msgs = chat_stream(3000)
    out = []
    for i, msg in enumerate(msgs):
        if rng.random() < 0.2:
            out.append(stream.compress(msg))
        else:
            cut = msg.index(b',"d":')
            start, seq = msg[:cut - 1], msg[cut - 1:cut]  # any split works: start + seq stored
            out.append(stream.dispatch(start, seq, deflate_alone(msg[cut:], level)))
        assert out[-1].endswith(ZLIB_SUFFIX)
        assert client.feed(out[-1]) == msg, i
    assert out[0].startswith(ZLIB_HEADER) and not out[1].startswith(ZLIB_HEADER)
    assert zlib.decompressobj().decompress(b"".join(out)) == b"".join(msgs)


def test_two_sessions_share_one_deflated_body_and_decode_their_own_s() -> None:
    a, b = shared_client(), shared_client()
    a.ready(guilds=2)
    b.ready(guilds=5)
    assert a.session.fanout_key == DeflateKey(Encoding.JSON, 1)
    event = message(7)
    deflated = event.parts(a.session.fanout_key)
    assert event.parts(b.session.fanout_key) is deflated  # deflated once per event
    for client in (a, b):
        assert client.session.pusher(deflated) is True
    (frame_a,), (frame_b,) = a.recv(), b.recv()
    assert (frame_a["s"], frame_b["s"]) == (4, 7)
    assert frame_a["d"] == frame_b["d"] == event.data
    # Each delivery carries the shared body verbatim: nothing compressed per session.
    body = deflated[1]
    assert a.raw[-1].endswith(body) and b.raw[-1].endswith(body)
    # The replay buffer keeps the plain parts, so a RESUME on any connection replays them.
    assert a.session._replay is not None
    assert a.session._replay.after(3) == [(4, event.parts(Encoding.JSON))]


@pytest.mark.parametrize("encoding", ["json", "etf"])
def test_shared_zlib_whole_session_decodes_like_a_client(encoding: str) -> None:
    client = shared_client(encoding)
    assert client.recv()[0]["d"] == {"heartbeat_interval": 1000}
    got = client.ready(guilds=2)
    client.send({"op": 1, "d": 3}, 0.5)
    for i in range(300):  # through the hub's path and through dispatch()
        event = message(i)
        if i % 3:
            client.session.pusher(event.parts(client.session.fanout_key))
        else:
            client.session.dispatch(event)
    got += client.recv()
    assert [(f["op"], f["t"], f["s"]) for f in got[:4]] == [
        (0, "READY", 1), (0, "GUILD_CREATE", 2), (0, "GUILD_CREATE", 3), (11, None, None)]
    assert [f["s"] for f in got[4:]] == list(range(4, 304))
    assert [f["d"]["content"] for f in got[4:]] == [message(i).data["content"] for i in range(300)]
    assert all(raw.endswith(ZLIB_SUFFIX) for raw in client.raw)


def test_resume_onto_a_shared_zlib_connection_replays_decodably() -> None:
    old = shared_client()
    old.ready()
    for i in range(5):
        old.session.pusher(message(i).parts(old.session.fanout_key))
    old.recv()
    old.session.connection_lost(10.0, 4000)
    new = shared_client()
    new.recv()
    new.send({"op": 6, "d": {"token": "t", "session_id": "sid-1", "seq": 5}})
    new.session.requests()
    new.session.on_resumed(old.session)
    assert [(f["t"], f["s"]) for f in new.recv()] == [
        ("MESSAGE_CREATE", 6), ("MESSAGE_CREATE", 7), ("MESSAGE_CREATE", 8), ("RESUMED", 9)]


class _Conn:
    def __init__(self, client: Client) -> None:
        self.session = client.session
        self.user = BOT
        self.guilds: set[int] = set()
        self.connected = True

    def flush(self) -> None:
        pass


def test_audience_groups_shared_zlib_sessions_apart_with_their_pusher() -> None:
    plain, stream, shared = Client(), Client("json", "zlib-stream"), shared_client()
    for c in (plain, stream, shared):
        c.ready(intents=1 << 9 | 1 << 15)
    audience = Audience([_Conn(c) for c in (plain, stream, shared)], 0, None)
    keys = [key for key, _ in audience.groups]
    assert keys == [Encoding.JSON, DeflateKey(Encoding.JSON, 1)]
    event = message(1)
    for key, members in audience.groups:  # the hub's loop
        parts = event.parts(key)
        for _, push in members:
            assert push(parts)
    for c in (plain, stream, shared):
        (frame,) = c.recv()
        assert (frame["s"], frame["d"]) == (4, event.data)


def test_gated_bots_share_the_redacted_variants_deflated_body() -> None:
    # Bots without MESSAGE_CONTENT get the redacted variant (the hub's gated loop:
    # session.pusher(variant.parts(session.fanout_key))): deflated once for all of them too.
    bots = [shared_client() for _ in range(2)]
    for b in bots:
        b.ready()  # intents 513: GUILDS | GUILD_MESSAGES, no MESSAGE_CONTENT
    event = Event("MESSAGE_CREATE", {"id": "5", "channel_id": "9", "guild_id": "8",
                                     "content": "secret", "author": {"id": "77"},
                                     "embeds": [], "attachments": [], "components": []},
                  guild_id=8, channel_id=9)
    gate, plain = ContentGate(event), Dispatch("MESSAGE_CREATE", event.data)
    bodies = []
    for b in bots:
        conn = _Conn(b)
        variant = gate.variant(conn, plain)
        deflated = variant.parts(b.session.fanout_key)
        assert b.session.pusher(deflated)
        bodies.append(deflated[1])
        (frame,) = b.recv()
        assert frame["d"]["content"] == "" and frame["s"] == 4
    assert bodies[0] is bodies[1]
