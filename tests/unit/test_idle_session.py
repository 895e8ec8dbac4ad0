"""What an idle session keeps once READY and acknowledged (issue 16 item 5), sans-I/O.

Not the Identify's token or properties (its intents, shard and threshold stay), and no replay
``deque`` once a heartbeat acknowledged everything; a RESUME from there still works.
"""

from __future__ import annotations

from gateway.protocol import Intent
from gateway.session import State
from tests.unit.gateway_client import TOKEN, Client


def test_a_ready_session_keeps_its_intents_and_shard_not_the_token_or_properties() -> None:
    client = Client()
    client.ready(intents=int(Intent.GUILDS), shard=[1, 2], large_threshold=100)
    kept = client.session.identify
    assert kept is not None and kept.token == "" and kept.properties == {}
    assert (kept.intents, kept.shard, kept.large_threshold) == (int(Intent.GUILDS), (1, 2), 100)
    assert client.session.intents == int(Intent.GUILDS) and client.session.shard == (1, 2)


def test_an_acknowledged_idle_session_holds_no_replay_deque_and_still_resumes() -> None:
    client = Client()
    client.ready()  # READY and two GUILD_CREATEs: seq 1-3
    client.send({"op": 1, "d": 3})
    replay = client.session._replay  # noqa: SLF001 - the memory this test is about
    assert replay is not None and replay._entries is None  # noqa: SLF001
    client.session.connection_lost(10.0, 4000)
    assert client.session.state is State.DETACHED
    new = Client()
    new.recv()
    new.send({"op": 6, "d": {"token": TOKEN, "session_id": "sid-1", "seq": 3}})
    new.session.requests()
    new.session.on_resumed(client.session)
    assert [(f["t"], f["s"]) for f in new.recv()] == [("RESUMED", 4)]
