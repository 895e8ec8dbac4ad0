"""Unit tests for gateway.session: the handshake, heartbeats, Identify and every close code.

Bytes in, decoded payloads out, with a fake clock; no socket, no loop (python-websockets'
``test_protocol.py`` style). Expected behaviour is Discord's "Gateway" and "Gateway Events"
pages and the "Gateway Close Event Codes" table; our additions are in docs/gateway.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.codec import Encoding
from gateway.limits import SessionLimits
from gateway.params import ConnectParams
from gateway.protocol import (
    PRIVILEGED_INTENTS,
    CloseCode,
    Identify,
    Intent,
    PresenceUpdate,
)
from gateway.session import State
from tests.unit.gateway_client import APP, BOT, PROPERTIES, TOKEN, Client, guild, identify

INTERVAL = 1.0  # seconds; tests/unit/gateway_client.CONFIG


# -- connecting and Hello ----------------------------------------------------------------------

def test_hello_first_with_heartbeat_interval() -> None:
    client = Client()
    assert client.recv() == [{"op": 10, "d": {"heartbeat_interval": 1000}, "s": None, "t": None}]
    assert client.session.binary is False
    assert client.session.close_code is None


@pytest.mark.parametrize(
    ("query", "code"),
    [("v=9", 4012), ("encoding=json", 4012), ("v=ten", 4012),
     ("v=10&encoding=xml", 4002), ("v=10&compress=gzip", 4002)],
)
def test_bad_query_closes_without_hello(query: str, code: int) -> None:
    client = Client(query=query)
    assert client.recv() == []
    assert client.session.close_code == code
    assert client.session.next_deadline() is None


def test_connect_params_defaults_to_json_without_compression() -> None:
    params = ConnectParams.parse("v=10")
    assert (params.encoding, params.compress, params.error) == (Encoding.JSON, None, None)


@pytest.mark.parametrize(("encoding", "binary"), [("json", False), ("etf", True)])
def test_frame_type_follows_encoding(encoding: str, binary: bool) -> None:
    assert Client(encoding).session.binary is binary
    assert Client(encoding, compress="zlib-stream").session.binary is True


# -- heartbeats -------------------------------------------------------------------------------

@pytest.mark.parametrize("seq", [None, 0, 42])
def test_heartbeat_is_acked_at_once_before_identify(seq: int | None) -> None:
    client = Client()
    client.recv()
    client.send({"op": 1, "d": seq}, 0.5)
    assert client.recv() == [{"op": 11, "d": None, "s": None, "t": None}]


def test_heartbeat_is_acked_after_ready() -> None:
    client = Client()
    client.ready()
    client.send({"op": 1, "d": 3}, 0.5)
    assert client.recv() == [{"op": 11, "d": None, "s": None, "t": None}]


def test_heartbeat_with_bad_seq_is_4002() -> None:
    client = Client()
    client.send({"op": 1, "d": "3"})
    assert client.session.close_code == 4002


def test_first_heartbeat_gets_a_jitter_grace() -> None:
    # Clients wait interval * random() before the first heartbeat ("Sending Heartbeats").
    client = Client(now=100.0)
    assert client.session.next_deadline() == 100.0 + 2 * INTERVAL
    client.session.tick(100.0 + 2 * INTERVAL - 0.001)
    assert client.session.close_code is None
    client.session.tick(100.0 + 2 * INTERVAL)
    assert client.close == (4009, "Session timed out")


def test_zombie_connection_times_out_after_one_and_a_half_intervals() -> None:
    client = Client()
    client.ready()
    client.send({"op": 1, "d": 2}, 1.0)
    assert client.session.next_deadline() == 1.0 + 1.5 * INTERVAL
    client.send({"op": 1, "d": 2}, 2.4)  # a heartbeat pushes the deadline
    client.session.tick(2.5)
    assert client.session.close_code is None
    client.session.tick(2.4 + 1.5 * INTERVAL)
    assert client.session.close_code == CloseCode.SESSION_TIMED_OUT
    assert client.session.next_deadline() is None
    client.session.connection_lost(5.0)
    assert client.session.state is State.DETACHED  # 4009 keeps the session resumable


def test_unauthenticated_connection_times_out_even_with_heartbeats() -> None:
    client = Client(limits=SessionLimits(identify_timeout_s=10.0))
    for t in range(10):
        client.send({"op": 1, "d": None}, float(t))
        client.session.tick(float(t))
    assert client.session.next_deadline() == 10.0
    client.session.tick(10.0)
    assert client.close == (4009, "Identify timed out")


def test_server_heartbeat_request_reconnect_and_invalidate() -> None:
    client = Client()
    client.ready()
    client.session.request_heartbeat()
    client.session.reconnect()
    client.session.invalidate(resumable=True)
    assert client.recv() == [
        {"op": 1, "d": None, "s": None, "t": None},
        {"op": 7, "d": None, "s": None, "t": None},
        {"op": 9, "d": True, "s": None, "t": None},
    ]
    assert client.session.state is State.READY


def test_invalidate_not_resumable_forgets_the_session() -> None:
    client = Client()
    client.ready()
    client.session.invalidate()
    assert client.recv() == [{"op": 9, "d": False, "s": None, "t": None}]
    assert client.session.state is State.CONNECTED and client.session.session_id is None
    assert client.ready(session_id="sid-2")[0]["d"]["session_id"] == "sid-2"


# -- Identify and READY ------------------------------------------------------------------------

def test_identify_becomes_a_request_with_validated_fields() -> None:
    client = Client()
    client.send(identify(shard=[1, 4], presence={"status": "idle", "activities": [],
                                                "since": 0, "afk": False}))
    (request,) = client.session.requests()
    assert request == Identify(
        token=TOKEN, properties=PROPERTIES, intents=513, shard=(1, 4),
        presence=PresenceUpdate("idle", (), 0, False), large_threshold=250, compress=True,
    )
    assert client.session.state is State.IDENTIFYING
    assert client.session.intents == 513 and client.session.shard == (1, 4)


def test_ready_payload_has_what_discord_py_reads() -> None:
    client = Client()
    ready, *creates = client.ready(guilds=2)
    assert ready["op"] == 0 and ready["t"] == "READY" and ready["s"] == 1
    d = ready["d"]
    assert set(d) == {
        "v", "user", "guilds", "session_id", "resume_gateway_url", "application",
        "private_channels", "relationships", "user_settings", "presences",
        "guild_join_requests", "geo_ordered_rtc_regions", "session_type", "auth", "_trace",
    }
    assert d["v"] == 10
    assert d["user"]["id"] == "10" and d["user"]["bot"] is True
    assert d["guilds"] == [{"id": "100", "unavailable": True}, {"id": "101", "unavailable": True}]
    assert d["session_id"] == "sid-1"
    assert d["resume_gateway_url"] == "ws://127.0.0.1:9001"
    assert d["application"] == {"id": str(APP.id), "flags": APP.flags}
    assert d["session_type"] == "normal" and d["auth"] == {} and d["user_settings"] == {}
    assert [(c["t"], c["s"], c["d"]) for c in creates] == [
        ("GUILD_CREATE", 2, guild(100)), ("GUILD_CREATE", 3, guild(101))]
    assert client.session.state is State.READY and client.session.seq == 3


def test_ready_with_shard_and_without_application() -> None:
    client = Client()
    ready = client.ready(guilds=0, application=None, shard=[0, 2])[0]["d"]
    assert ready["shard"] == [0, 2]
    assert "application" not in ready and ready["guilds"] == []


def test_identify_with_discord_py_presence_is_accepted() -> None:
    # discord.py sends status null (no status set) and a legacy "game".
    client = Client()
    game = {"name": "chess", "type": 0}
    client.send(identify(presence={"status": None, "game": game, "since": 0.0, "afk": False}))
    (request,) = client.session.requests()
    assert isinstance(request, Identify)
    assert request.presence == PresenceUpdate("online", (game,), 0, False)


def test_privileged_intents_are_allowed_by_default() -> None:
    client = Client()
    assert client.ready(intents=PRIVILEGED_INTENTS | int(Intent.GUILDS))[0]["t"] == "READY"


def test_auth_failed_is_4004_and_not_resumable() -> None:
    client = Client()
    client.send(identify(token="bad"))
    client.session.requests()
    client.session.on_auth_failed()
    assert client.close == (4004, "Authentication failed")
    client.session.connection_lost(1.0, None)
    assert client.session.state is State.CLOSED


def test_too_many_guilds_is_4011() -> None:
    client = Client(limits=SessionLimits(max_guilds_per_shard=2))
    client.send(identify())
    client.session.on_identified(BOT, APP, [guild(1), guild(2), guild(3)], "s", "ws://x")
    assert client.close == (4011, "Sharding required")
    assert [p["op"] for p in client.recv()] == [10]  # no READY


# -- close codes -------------------------------------------------------------------------------

PRE_AUTH_OPS = [
    {"op": 3, "d": {"status": "online", "activities": [], "since": None, "afk": False}},
    {"op": 8, "d": {"guild_id": "1", "query": "", "limit": 0}},
    {"op": 50, "d": {"channel_id": "1", "content": "hi", "nonce": "n"}},
    {"op": 4, "d": {"guild_id": "1", "channel_id": None}},
]


@pytest.mark.parametrize("payload", PRE_AUTH_OPS, ids=["presence", "members", "send", "voice"])
def test_commands_before_identify_are_4003(payload: dict[str, Any]) -> None:
    client = Client()
    client.send(payload)
    assert client.close == (4003, "Not authenticated")


@pytest.mark.parametrize("second", [identify(), {"op": 6, "d": {"token": TOKEN,
                                    "session_id": "sid-1", "seq": 1}}], ids=["identify", "resume"])
def test_second_identify_or_resume_is_4005(second: dict[str, Any]) -> None:
    client = Client()
    client.ready()
    client.send(second)
    assert client.close == (4005, "Already authenticated")


def test_identify_while_identifying_is_4005() -> None:
    client = Client()
    client.send(identify())
    client.send(identify())
    assert client.session.close_code == 4005


@pytest.mark.parametrize("op", [0, 5, 7, 9, 10, 11, 12, 99, -1])
def test_opcodes_a_client_may_not_send_are_4001(op: int) -> None:
    client = Client()
    client.ready()
    client.send({"op": op, "d": None})
    assert client.session.close_code == 4001


DECODE_ERRORS: list[Any] = [
    [1, 2], "x", 3, {"d": None}, {"op": "1"}, {"op": True}, {"op": 2.0},
    identify(token=...), identify(token=5), identify(properties=...),
    identify(properties={"os": "linux"}), identify(properties="linux"),
    identify(large_threshold=49), identify(large_threshold=251), identify(compress="yes"),
    {"op": 2, "d": "token"}, {"op": 2, "d": None},
    identify(presence={"status": "away"}), identify(presence={"activities": [{"name": 1}]}),
    identify(presence={"status": "online", "afk": "no"}), identify(presence={"since": "x"}),
]


@pytest.mark.parametrize("payload", DECODE_ERRORS)
def test_malformed_payloads_are_4002(payload: Any) -> None:
    client = Client()
    client.send(payload)
    assert client.session.close_code == 4002
    assert client.session.requests() == []


def test_undecodable_bytes_are_4002() -> None:
    client = Client()
    client.session.receive(b"\xff{not json", 0.0)
    assert client.close == (4002, "Invalid JSON")


def test_payload_over_4096_bytes_is_4002() -> None:
    client = Client()
    pad = "x" * (4096 - len(b'{"op":1,"d":null,"pad":""}'))
    client.send({"op": 1, "d": None, "pad": pad})
    assert client.session.close_code is None  # exactly 4096 bytes
    client.send({"op": 1, "d": None, "pad": pad + "x"})
    assert client.close == (4002, "Payload too large")


@pytest.mark.parametrize("intents", [..., "513", 1.5, -1, 1 << 30, 1 << 17, True])
def test_invalid_intents_are_4013(intents: Any) -> None:
    client = Client()
    client.send(identify(intents=intents))
    assert client.close == (4013, "Invalid intent(s)")


def test_privileged_intents_can_be_disallowed_4014() -> None:
    client = Client(limits=SessionLimits(privileged_intents=0))
    client.send(identify(intents=int(Intent.GUILDS | Intent.MESSAGE_CONTENT)))
    assert client.close == (4014, "Disallowed intent(s)")


@pytest.mark.parametrize("shard", [[1, 1], [0, 0], [2, 1], [-1, 2], "0,1", [0], [0, 1, 2],
                                   [0, "2"], [0, 1025]])
def test_invalid_shard_is_4010(shard: Any) -> None:
    client = Client()
    client.send(identify(shard=shard))
    assert client.session.close_code == 4010


def test_121st_payload_in_60_s_is_4008() -> None:
    client = Client()
    client.ready()  # the Identify is payload 1: every payload counts, heartbeats too
    for i in range(119):
        client.send({"op": 1, "d": None}, i * 0.4)
    assert client.session.close_code is None
    client.send({"op": 1, "d": None}, 59.9)
    assert client.close == (4008, "Rate limited")


def test_rate_limit_window_resets_after_60_s() -> None:
    client = Client()
    for _ in range(120):
        client.send({"op": 1, "d": None}, 0.0)
    for _ in range(120):
        client.send({"op": 1, "d": None}, 60.0)
    assert client.session.close_code is None


def test_closed_session_ignores_input() -> None:
    client = Client()
    client.send({"op": 99})
    client.send({"op": 1, "d": None})
    assert client.recv()[-1]["op"] == 10  # no ACK after the close
    assert client.session.close_code == 4001


def test_slow_consumer_close_is_resumable() -> None:
    client = Client()
    client.ready()
    client.session.close(CloseCode.SLOW_CONSUMER)
    assert client.close == (4900, "Slow consumer")
    client.session.connection_lost(1.0, None)
    assert client.session.state is State.DETACHED


@pytest.mark.parametrize("compress", ["zlib-stream", "zstd-stream"])
def test_session_compression_level_comes_from_its_limits(compress: str) -> None:
    # gateway_zlib_level / gateway_zstd_level reach the connection's stream: level 0 of
    # zlib stores, so its frames are larger than the default level's; both decode.
    stored = Client("json", compress, limits=SessionLimits(zlib_level=0, zstd_level=-7))
    default = Client("json", compress)
    for client in (stored, default):
        client.ready(guilds=1)
        for i in range(50):
            client.session.dispatch_one("MESSAGE_CREATE", {"id": str(i), "content": "same " * 20})
        assert [f["s"] for f in client.recv()] == list(range(3, 53))
    if compress == "zlib-stream":
        assert sum(map(len, stored.raw)) > 2 * sum(map(len, default.raw))
