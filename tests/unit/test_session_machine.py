"""gateway.session.Session as a hypothesis state machine: random interleavings of a client's
life (connect, identify, heartbeat, dispatches pushed by the hub, server closes, lost
connections, timeouts, RESUME on a new connection with any ``seq``) against a model.

The machine plays the adapter and a Discord client (``tests.unit.gateway_client.Client``
decodes and decompresses the frames), keeps a model of the logical session (its id, every
dispatch numbered for it, the last ``s`` the client saw and acknowledged) and checks:

- at most one READY per session id, ever;
- on each connection, ``s`` is strictly increasing (by one) and only dispatches carry one;
- a RESUME replays exactly the dispatches after its ``seq`` (the same ``t`` and ``d``, in
  order) then RESUMED, or is refused as Discord refuses it: 4007 for a ``seq`` never sent,
  op 9 for a session that is unknown or whose buffer no longer holds ``seq + 1``, and then
  only what the client acknowledged or the buffer's bound let go;
- nothing is written after the session set ``close_code``.

The replay buffer is made small (8 dispatches) so that its bound is part of the game.
"""

from __future__ import annotations

from collections import Counter
from itertools import count
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gateway.codec import Dispatch
from gateway.limits import SessionLimits
from gateway.protocol import CloseCode, Identify, Resume, session_survives
from gateway.session import Session, State
from tests.unit.gateway_client import APP, BOT, TOKEN, Client, guild, identify

REPLAY_MAX = 8
LIMITS = SessionLimits(replay_max_events=REPLAY_MAX)
KEPT_AFTER_TRIM = REPLAY_MAX - REPLAY_MAX // 8  # gateway.replay: trimmed down to 7/8
URL = "ws://127.0.0.1:9001"
CLIENT_CLOSES = [None, 1000, 1001, 3000, 4000]  # None: the TCP connection just ended
SERVER_CLOSES = [CloseCode.SLOW_CONSUMER, CloseCode.RATE_LIMITED, CloseCode.DECODE_ERROR]


class Connection:
    """One connection: the client's decoder and what it saw."""

    def __init__(self, encoding: str, compress: str | None, now: float) -> None:
        self.client = Client(encoding, compress, now, LIMITS)
        self.session: Session = self.client.session
        self.seqs: list[int] = []  # the s of every dispatch read here
        self.close_seen = False  # close_code was set when the adapter last flushed
        self.resume_seq: int | None = None  # the seq of the RESUME sent here


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.encoding, self.compress = "json", None
        self.conn: Connection | None = None
        self.old: Session | None = None  # a DETACHED session the client may resume
        self.sid: str | None = None  # the logical session the client knows
        self.log: dict[int, tuple[str, Any]] = {}  # s -> (t, d), everything numbered for sid
        self.last_seq = 0
        self.client_seq = 0  # the last s the client received for sid
        self.client_acked = 0  # the highest s it sent in a heartbeat
        self.readies: Counter[str] = Counter()
        self.sids = count(1)
        self.resume_known = True  # whether the last RESUME named the session the client knows

    # -- the adapter's side ----------------------------------------------------------------------

    def _drain(self) -> list[dict[str, Any]]:
        """Write what the session queued (as the adapter's flush does) and check the wire."""
        conn = self.conn
        assert conn is not None
        out: list[dict[str, Any]] = conn.client.recv()
        assert not (conn.close_seen and out), f"written after close_code: {out}"
        for payload in out:
            if payload["op"] != 0:
                assert payload["s"] is None, payload
                continue
            s = payload["s"]
            if conn.seqs:
                assert s == conn.seqs[-1] + 1, (conn.seqs[-1], payload)
            elif conn.resume_seq is not None:
                assert s == conn.resume_seq + 1, (conn.resume_seq, payload)
            else:
                assert s == 1, payload
            conn.seqs.append(s)
            self.client_seq = s
            if payload["t"] == "READY":
                self.readies[payload["d"]["session_id"]] += 1
        conn.close_seen = conn.session.close_code is not None
        return out

    def _open(self) -> bool:
        return self.conn is not None and self.conn.session.close_code is None

    def _state(self, state: State) -> bool:
        return self._open() and self.conn is not None and self.conn.session.state is state

    def _send(self, payload: dict[str, Any]) -> None:
        assert self.conn is not None
        self.now += 0.01
        self.conn.client.send(payload, self.now)

    # -- rules ------------------------------------------------------------------------------------

    @initialize(encoding=st.sampled_from(["json", "etf"]),
                compress=st.sampled_from([None, "zlib-stream", "zstd-stream"]))
    def start(self, encoding: str, compress: str | None) -> None:
        self.encoding, self.compress = encoding, compress
        self.connect()

    @precondition(lambda self: self.conn is None)
    @rule()
    def connect(self) -> None:
        self.conn = Connection(self.encoding, self.compress, self.now)
        assert [p["op"] for p in self._drain()] == [10]  # Hello

    @precondition(lambda self: self._state(State.CONNECTED))
    @rule(guilds=st.integers(0, 3))
    def identify(self, guilds: int) -> None:
        """Identify, answered at once (the common path; send_identify waits for an answer)."""
        self.send_identify()
        self.answer_identify(True, guilds)

    @precondition(lambda self: self._state(State.CONNECTED))
    @rule()
    def send_identify(self) -> None:
        self._send(identify())
        assert self.conn is not None
        assert [type(c) for c in self.conn.session.requests()] == [Identify]
        assert self._drain() == []

    @precondition(lambda self: self._state(State.IDENTIFYING))
    @rule(ok=st.booleans(), guilds=st.integers(0, 3))
    def answer_identify(self, ok: bool, guilds: int) -> None:
        assert self.conn is not None
        session = self.conn.session
        if not ok:
            session.on_auth_failed()
            assert self._drain() == [] and session.close_code == CloseCode.AUTHENTICATION_FAILED
            return
        sid = f"sid-{next(self.sids)}"
        session.on_identified(BOT, APP, [guild(100 + i) for i in range(guilds)], sid, URL)
        out = self._drain()
        assert [p["t"] for p in out] == ["READY"] + ["GUILD_CREATE"] * guilds
        # A new logical session: the client forgets any other it could have resumed.
        self.sid, self.old, self.client_acked = sid, None, 0
        self.log = {p["s"]: (p["t"], p["d"]) for p in out}
        self.last_seq = len(out)

    @precondition(lambda self: self._open())
    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        """With the last s received, or none, or an older one (its timer fired before the
        latest dispatches were read)."""
        d = data.draw(st.none() | st.integers(1, self.client_seq) if self.client_seq
                      else st.none(), label="d")
        self._send({"op": 1, "d": d})
        assert [p["op"] for p in self._drain()] == [11]
        if d is not None:
            self.client_acked = max(self.client_acked, d)

    def _holder(self) -> Session | None:
        """The session the hub would push the logical session's events to."""
        if self.conn is not None and self.sid is not None \
                and self.conn.session.session_id == self.sid:
            return self.conn.session
        return self.old

    @precondition(lambda self: self._holder() is not None)
    @rule(n=st.integers(0, 10**6), text=st.text(max_size=20))
    def push(self, n: int, text: str) -> None:
        target = self._holder()
        assert target is not None
        numbered = target.state in (State.READY, State.DETACHED)
        data = {"n": n, "text": text}
        target.push(Dispatch("MESSAGE_CREATE", data).parts(target.encoding))
        if numbered:
            self.last_seq += 1
            self.log[self.last_seq] = ("MESSAGE_CREATE", data)
        assert target.seq == (self.last_seq if numbered else 0)
        if self.conn is not None:
            out = self._drain()
            live = target is self.conn.session and target.state is State.READY \
                and target.close_code is None
            assert [(p["s"], p["d"]) for p in out] == ([(self.last_seq, data)] if live else [])

    @precondition(lambda self: self._open())
    @rule(code=st.sampled_from(SERVER_CLOSES))
    def server_closes(self, code: CloseCode) -> None:
        assert self.conn is not None
        self.conn.session.close(code)
        assert self._drain() == []

    @precondition(lambda self: self._open())
    @rule()
    def garbage(self) -> None:
        assert self.conn is not None
        self.now += 0.01
        self.conn.session.receive(b"\x83\x00 not a payload {", self.now)
        assert self._drain() == [] and self.conn.session.close_code == CloseCode.DECODE_ERROR

    @precondition(lambda self: self.conn is not None)
    @rule(code=st.sampled_from(CLIENT_CLOSES))
    def connection_lost(self, code: int | None) -> None:
        assert self.conn is not None
        session = self.conn.session
        self._drain()  # the last flush before the socket went
        held = self.sid is not None and session.session_id == self.sid
        was_ready = session.state is State.READY
        session.connection_lost(self.now, code)
        survives = was_ready and session_survives(session.close_code, code)
        assert (session.state is State.DETACHED) is survives
        if held:
            self.old = session if survives else None
            if not survives:
                self.sid = None
        self.conn = None

    @precondition(lambda self: self.conn is not None)
    @rule()
    def time_passes(self) -> None:
        """Past every timeout but the resume window (4009), then past that too."""
        assert self.conn is not None
        before = self.conn.session.close_code
        for step in (100.0, LIMITS.resume_timeout_s):
            self.now += step
            self.conn.session.tick(self.now)
            if self.old is not None:
                self.old.tick(self.now)
                if self.old.state is State.CLOSED:  # expired: the adapter forgets it
                    self.old, self.sid = None, None
        assert self._drain() == []
        assert self.conn.session.close_code == (before or CloseCode.SESSION_TIMED_OUT)

    @precondition(lambda self: self.sid is not None
                  and (self.conn is None or self._state(State.CONNECTED)))
    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        """On a new connection if the last one is gone: RESUME, answered at once."""
        if self.conn is None:
            self.connect()
        self.send_resume(data, known=True)
        self.answer_resume()

    @precondition(lambda self: self._state(State.CONNECTED) and self.sid is not None)
    @rule(data=st.data(), known=st.booleans())
    def send_resume(self, data: st.DataObject, known: bool) -> None:
        assert self.conn is not None
        # From 1: a client knows the session id only from READY, which is s=1 (seq 0 would
        # have READY replayed, a second READY for the id on the wire).
        seq = data.draw(st.sampled_from(sorted({max(self.client_seq, 1), self.last_seq}))
                        | st.integers(1, self.last_seq + 2), label="seq")
        sid = self.sid if known else "sid-unknown"
        self._send({"op": 6, "d": {"token": TOKEN, "session_id": sid, "seq": seq}})
        assert [type(c) for c in self.conn.session.requests()] == [Resume]
        assert self._drain() == []
        self.conn.resume_seq = seq
        self.resume_known = known

    @precondition(lambda self: self._state(State.RESUMING))
    @rule()
    def answer_resume(self) -> None:
        assert self.conn is not None and self.conn.resume_seq is not None
        session, seq, old = self.conn.session, self.conn.resume_seq, self.old
        if old is None or not self.resume_known:  # the adapter finds no such session
            event("resume: unknown session")
            session.on_resume_failed()
            assert [(p["op"], p["d"]) for p in self._drain()] == [(9, False)]
            assert session.state is State.CONNECTED
            self.conn.resume_seq = None
            return
        replay = old._replay
        assert replay is not None
        floor = replay.first_seq - 1  # the lowest seq it can still resume from
        # Only what the client acknowledged, or the buffer's bound, may have been let go.
        assert floor <= max(self.client_acked, self.last_seq - KEPT_AFTER_TRIM)
        assert replay.last_seq == self.last_seq
        session.on_resumed(old)
        out = self._drain()
        if seq > self.last_seq:
            event("resume: seq never sent (4007)")
            assert out == [] and session.close_code == CloseCode.INVALID_SEQ
            return
        if seq < floor:
            event("resume: seq no longer held (op 9)")
            assert [(p["op"], p["d"]) for p in out] == [(9, False)]
            self.conn.resume_seq = None
            return
        missed = list(range(seq + 1, self.last_seq + 1))
        event(f"resume: replayed {min(len(missed), 3)}{'+' if len(missed) > 3 else ''}")
        assert [p["s"] for p in out] == [*missed, self.last_seq + 1]
        assert [(p["t"], p["d"]) for p in out[:-1]] == [self.log[s] for s in missed]
        assert out[-1]["t"] == "RESUMED"
        self.last_seq += 1
        self.log[self.last_seq] = ("RESUMED", out[-1]["d"])
        assert old.state is State.CLOSED and session.session_id == self.sid
        self.old = None

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def one_ready_per_session_id(self) -> None:
        assert all(n == 1 for n in self.readies.values()), self.readies

    @invariant()
    def nothing_left_unwritten_or_written_after_close(self) -> None:
        if self.conn is not None:
            assert self._drain() == []


SessionMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_session_machine = SessionMachine.TestCase
