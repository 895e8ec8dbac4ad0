"""The gateway session state machine, sans-I/O (python-websockets' ``Protocol`` shape).

The adapter feeds a :class:`Session` the client's payloads (``receive``) and the clock (``tick``
at ``next_deadline``), writes ``outgoing()`` (frames encoded and compressed for this
connection; a fanned-out dispatch as the chunks of its frame, see :data:`Outgoing`), fulfils
the commands that need I/O one by one (``next_request()``, answered with ``on_identified`` and
the like) and closes the connection once ``close_code`` is set. A resumable session outlives its connection (DETACHED): it keeps
numbering and buffering dispatches until a RESUME takes it over (``on_resumed``) or it expires.
References are to Discord's "Gateway" and "Gateway Events" pages; docs/gateway.md has the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from enum import IntEnum
from typing import Any

from core.config import Config
from core.models import Application, User
from gateway.codec import Codec, Deflated, DeflateKey, Dispatch, Encoding, Parts, codec_for
from gateway.commands import parse_command
from gateway.compress import SharedZlib, new_compressor
from gateway.limits import SessionLimits
from gateway.params import ConnectParams
from gateway.payloads import SEND_FAILED, ready_payload, resumed_payload, send_failed_payload
from gateway.protocol import (
    PRIVILEGED_INTENTS,
    CloseCode,
    Command,
    GuildSubscriptions,
    Heartbeat,
    Identify,
    Intent,
    Nonce,
    Opcode,
    PresenceUpdate,
    ProtocolError,
    RequestGuildMembers,
    Resume,
    SendMessage,
    session_survives,
)
from gateway.ratelimit import WindowLimiter
from gateway.replay import ReplayBuffer

__all__ = ["ConnectParams", "Outgoing", "Session", "SessionLimits", "State", "frames"]

logger = logging.getLogger(__name__)

# What a session queues for its connection, in order: ``bytes`` is one whole message; a
# dispatch of an uncompressed session is two items, the :data:`Parts` shared by every
# recipient and then this session's ``s``, and its message is ``prefix + s + suffix``.
# So a fanout allocates nothing per recipient that the garbage collector tracks (a tuple per
# recipient, alive until the flush, set off collections: 15% of the gateway's CPU) and
# builds no frame: the adapter copies each one once, into the write of all the messages
# queued for that socket (bench/RESULTS.md).
Outgoing = list[bytes | Parts]


def frames(out: Outgoing) -> list[bytes]:
    """The messages of an :data:`Outgoing` list, each as one ``bytes`` (tests, tools)."""
    whole: list[bytes] = []
    items = iter(out)
    for item in items:
        if isinstance(item, bytes):
            whole.append(item)
        else:
            seq = next(items)
            assert isinstance(seq, bytes)  # a dispatch's parts are followed by its s
            whole.append(item[0] + seq + item[1])
    return whole



class State(IntEnum):
    CONNECTED = 0  # Hello sent; waiting for Identify or Resume
    IDENTIFYING = 1  # Identify requested; waiting for on_identified / on_auth_failed
    RESUMING = 2  # Resume requested; waiting for on_resumed / on_resume_failed
    READY = 3  # authenticated; dispatches flow
    DETACHED = 4  # connection gone, resumable: dispatches are only buffered
    CLOSED = 5  # over; nothing is kept


_READY = State.READY  # module constants: no class attribute lookup per dispatch
_JSON = Encoding.JSON
_AUTH = (Identify, Resume)  # the commands that run before READY


class Session:
    """One gateway connection and, once authenticated, its session.

    Args:
        config: the server config (``heartbeat_interval_ms``).
        now: the current time in seconds (any monotonic clock; the same one for every call).
        params: the URL's parameters (``ConnectParams.parse(query)``); when they are invalid
            the session sends no Hello and asks to close at once.
        limits: the limits of this session.

    Attributes:
        state: where the session is (:class:`State`).
        close_code: set when the session wants the connection closed, with ``close_reason``.
        session_id: the id given in READY (None before).
        user_id: the authenticated user's id (None before).
        identify: the accepted Identify (intents, shard, large_threshold), None before.
        encoding: the payload encoding of this connection.
    """

    __slots__ = ("_codec", "_compressor", "_deflate_key", "_expires_at", "_heartbeat_deadline",
                 "_identify_deadline", "_interval_ms", "_limiter", "_limits", "_out", "_replay",
                 "_requests", "_resume", "close_code", "close_reason", "encoding", "identify",
                 "session_id", "state", "user_id")

    def __init__(
        self,
        config: Config,
        now: float,
        params: ConnectParams = ConnectParams(),  # noqa: B008 - frozen
        limits: SessionLimits = SessionLimits(),  # noqa: B008 - frozen, shared safely
    ) -> None:
        self.state = State.CONNECTED
        self.close_code: int | None = None
        self.close_reason = ""
        self.session_id: str | None = None
        self.user_id: int | None = None
        self.identify: Identify | None = None
        self.encoding = params.encoding
        self._codec: Codec = codec_for(params.encoding)
        self._compressor = None if params.compress is None else new_compressor(
            params.compress, limits.zlib_level, limits.zstd_level, limits.zlib_shared)
        # Set for a SharedZlib stream: its dispatches come deflated once for all (push_deflated).
        self._deflate_key = DeflateKey(self.encoding, limits.zlib_level) \
            if isinstance(self._compressor, SharedZlib) else None
        self._limits = limits
        self._interval_ms = config.heartbeat_interval_ms
        self._out: Outgoing = []
        # The one queue of commands for the adapter (next_request), in the client's order:
        # a list, not a deque (an empty deque is 624 bytes, a list 56, on every idle
        # connection), and short: the rate limit bounds it. Commands sent before READY wait
        # here behind the Identify or Resume until the answer (_admit_waiting).
        self._requests: list[Command] = []
        self._resume: Resume | None = None
        self._replay: ReplayBuffer | None = None
        self._limiter = WindowLimiter(limits.rate_limit_events, limits.rate_limit_window_s)
        self._heartbeat_deadline = now + self._interval_ms / 1000 * limits.first_heartbeat_timeout
        self._identify_deadline = now + limits.identify_timeout_s
        self._expires_at = float("inf")
        if params.error is not None:
            self._close(params.error.code, params.error.reason)
        else:
            self._send(Opcode.HELLO, {"heartbeat_interval": self._interval_ms})

    # -- the adapter's interface: read, feed, answer ----------------------------------------------

    @property
    def binary(self) -> bool:
        """Whether frames go out as binary websocket messages (ETF or compressed), else text."""
        return self._codec.binary or self._compressor is not None

    @property
    def fanout_key(self) -> Encoding | DeflateKey:
        """What the hub asks a :class:`Dispatch` for on this session's behalf (``parts``)
        and hands to :attr:`pusher`: the encoding, or the :class:`DeflateKey` of a
        SharedZlib stream."""
        return self._deflate_key or self.encoding

    @property
    def pusher(self) -> Callable[[Any], bool]:
        """:meth:`push`, or :meth:`push_deflated` for a SharedZlib stream."""
        return self.push if self._deflate_key is None else self.push_deflated

    @property
    def seq(self) -> int:
        """The last sequence number given to a dispatch (0 before READY)."""
        return self._replay.last_seq if self._replay is not None else 0

    @property
    def intents(self) -> int:
        return self.identify.intents if self.identify is not None else 0

    @property
    def shard(self) -> tuple[int, int] | None:
        return self.identify.shard if self.identify is not None else None

    def outgoing(self) -> Outgoing:
        """What to write, in order, since the last call (:func:`frames` makes it messages)."""
        # A copy, and the session's own list kept: a new list left in the session lives
        # until the next flush (a message, a heartbeat: seconds), outlives the young GC
        # generations and counts toward a full collection of the whole heap. A 10,000-member
        # channel made 10,000 of those per message, and one per heartbeat ACK, so full
        # collections came every few dozen messages (bench bigchannel: 1-5 s stalls of the
        # loop; bench/RESULTS.md, "10,000-member channels"). The copy dies young, written.
        out = self._out
        copy = out.copy()
        out.clear()
        return copy

    @property
    def has_requests(self) -> bool:
        """Whether commands wait for the adapter (cheap: checked after every payload)."""
        return bool(self._requests)

    def next_request(self) -> Command | None:
        """The next command the adapter must fulfil, or None (none is ready to run).

        Identify → ``on_identified``/``on_auth_failed``; Resume → ``on_resumed``/
        ``on_resume_failed``; PresenceUpdate → broadcast; RequestGuildMembers →
        GUILD_MEMBERS_CHUNK via ``dispatch_one``; SendMessage → send it or ``on_send_failed``;
        GuildSubscriptions → the hub's index of followed members (``Hub.subscribe``).
        Commands sent after an Identify or Resume come out only once it is answered.
        """
        requests = self._requests
        if not requests:
            return None
        if self.state is not _READY and requests[0].__class__ not in _AUTH:
            return None
        return requests.pop(0)

    def requests(self) -> list[Command]:
        """Every command ready to run now, in order (:meth:`next_request` until None)."""
        return list(iter(self.next_request, None))

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must run next (heartbeat, identify or resume timeout), or None."""
        if self.state is State.DETACHED:
            return self._expires_at
        if self.state is State.CLOSED or self.close_code is not None:
            return None
        if self.state is State.CONNECTED:
            return min(self._heartbeat_deadline, self._identify_deadline)
        return self._heartbeat_deadline

    def receive(self, data: bytes | str, now: float) -> None:
        """Handle one whole message from the client; each counts toward the rate limit."""
        if self.close_code is not None or self.state >= State.DETACHED:
            return
        if not self._limiter.hit(now):
            return self._close(CloseCode.RATE_LIMITED)
        if isinstance(data, str):
            data = data.encode()
        if len(data) > self._limits.max_payload_bytes:
            return self._close(CloseCode.DECODE_ERROR, "Payload too large")
        try:
            command = parse_command(self._codec.decode(data))
        except ProtocolError as e:
            return self._close(e.code, e.reason)
        self._handle(command, now)

    def tick(self, now: float) -> None:
        """Apply the timeouts due at ``now``: 4009 for a missing heartbeat ("zombied
        connection") or identify; a DETACHED session past its resume window is CLOSED."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return
        if self.state is State.DETACHED:
            self._drop()
        elif now >= self._heartbeat_deadline:
            self._close(CloseCode.SESSION_TIMED_OUT)
        else:
            self._close(CloseCode.SESSION_TIMED_OUT, "Identify timed out")

    def connection_lost(self, now: float, code: int | None = None) -> None:
        """The connection is gone; ``code`` is the client's close code (None if abnormal).

        A READY session stays resumable (DETACHED for ``resume_timeout_s``) if
        :func:`~gateway.protocol.session_survives` the close.
        """
        if self.state >= State.DETACHED:
            return
        keep = session_survives(self.close_code, code)
        self._out.clear()
        self._requests.clear()  # nobody is left to answer
        self._compressor = None
        if keep and self._replay is not None and self.state is State.READY:
            self.state = State.DETACHED
            self._expires_at = now + self._limits.resume_timeout_s
        else:
            self._drop()

    def on_identified(
        self,
        user: User,
        application: Application | None,
        guilds: Sequence[dict[str, Any]],
        session_id: str,
        resume_gateway_url: str,
        private_channels: Sequence[dict[str, Any]] = (),
        read_state: dict[str, Any] | None = None,
    ) -> None:
        """The Identify token is ``user``'s: send READY, then one GUILD_CREATE per guild.

        Args:
            user: the authenticated user.
            application: the bot's application (None for user accounts).
            guilds: GUILD_CREATE payloads (``core.guilds.guild_create_payload``); for a sharded
                session only its shard's (``shard_of``). Over ``max_guilds_per_shard``: 4011.
            session_id: a new unguessable id (the key of a later RESUME).
            resume_gateway_url: the URL of the worker that holds this session.
            private_channels: the user's DM channels (``core.wire.channel_json``).
            read_state: READY's ``read_state`` (a user's; None for a bot).
        """
        if self.state is not State.IDENTIFYING or self.close_code is not None:
            return
        if len(guilds) > self._limits.max_guilds_per_shard:
            return self._close(CloseCode.SHARDING_REQUIRED)
        self.state, self.session_id, self.user_id = State.READY, session_id, user.id
        if self.identify is not None:  # kept for its intents, shard and threshold, not the
            # token or properties: ~400 bytes of every session's lifetime (issue 16 item 5)
            self.identify = replace(self.identify, token="", properties={})
        self._replay = ReplayBuffer(self._limits.replay_max_events, self._limits.replay_max_bytes)
        self.dispatch_one("READY", ready_payload(user, application, guilds, session_id,
                                                 resume_gateway_url, self.shard, private_channels,
                                                 read_state))
        for guild in guilds:
            self.dispatch_one("GUILD_CREATE", guild)
        self._admit_waiting()

    def on_auth_failed(self) -> None:
        """The Identify token is invalid: close with 4004."""
        if self.state is State.IDENTIFYING and self.close_code is None:
            self._close(CloseCode.AUTHENTICATION_FAILED)

    def on_resumed(self, old: Session) -> None:
        """Take over ``old`` (named by the Resume; the adapter checked the token's user).

        Replays the dispatches after ``seq`` in order, then RESUMED. A ``seq`` never sent: 4007;
        already dropped, or another encoding: op 9 ``d: false``. ``old`` ends CLOSED (4009 if
        still connected); the adapter puts this session in its place in the hub.
        """
        if self.state is not State.RESUMING or self.close_code is not None:
            return
        resume, replay = self._resume, old._replay
        if (resume is None or replay is None or old.session_id != resume.session_id
                or old.encoding is not self.encoding):
            return self.on_resume_failed()
        if resume.seq > replay.last_seq:
            return self._close(CloseCode.INVALID_SEQ)
        missed = replay.after(resume.seq)
        if missed is None:
            return self.on_resume_failed()
        self.session_id, self.user_id, self.identify = old.session_id, old.user_id, old.identify
        self._replay, self.state = replay, State.READY
        old._superseded()
        for seq, parts in missed:
            self._emit(self._codec.splice(parts, seq))
        self.dispatch_one("RESUMED", resumed_payload())
        self._admit_waiting()

    def on_resume_failed(self) -> None:
        """The session is unknown or expired: op 9 ``d: false``; the client must Identify."""
        if self.state is State.RESUMING and self.close_code is None:
            self._send(Opcode.INVALID_SESSION, False)
            self._reset()

    def on_send_failed(self, nonce: Nonce, code: int, message: str, channel_id: int) -> None:
        """An op 50 send failed: dispatch MESSAGE_SEND_FAILED (``code`` as in REST errors)."""
        self.dispatch_one(SEND_FAILED, send_failed_payload(nonce, code, message, channel_id))

    # -- server-initiated -----------------------------------------------------------------------

    def dispatch(self, event: Dispatch) -> bool:
        """Number ``event``, keep it for RESUME and send it (only ``s`` is per session).

        Returns:
            False when the session has no sequence yet (or any more) and dropped it.
        """
        if self._replay is None:
            return False
        if self._deflate_key is not None:
            self.push_deflated(event.parts(self._deflate_key))
        else:
            self.push(event.parts(self.encoding))
        return True

    def push(self, parts: Parts) -> bool:
        """:meth:`dispatch` for the hub: ``parts`` already in this session's encoding.

        This runs once per recipient of every fanout, so it does the least it can: number the
        dispatch, keep the shared parts for RESUME and queue them with ``s`` (:data:`Outgoing`).

        Returns:
            True when a frame was queued (the adapter must flush), False when the session has
            no sequence (dropped) or no connection to write to (DETACHED: kept for RESUME).
        """
        replay = self._replay
        if replay is None:
            return False
        seq = replay.append(parts)
        if self.state is not _READY or self.close_code is not None:
            return False
        compressor = self._compressor
        if compressor is None:
            out = self._out
            out.append(parts)
            # JsonCodec.seq_bytes inlined: a method call is a third of this function.
            out.append(b"%d" % seq if self.encoding is _JSON else self._codec.seq_bytes(seq))
        else:  # one compression stream per connection: its frames cannot be shared
            self._out.append(compressor.compress(self._codec.splice(parts, seq)))
        return True

    def push_deflated(self, deflated: Deflated) -> bool:
        """:meth:`push` for a SharedZlib stream: ``deflated`` holds the dispatch's parts and
        its suffix already deflated (once for every recipient); only ``s`` and the start go
        out per session, stored (:meth:`SharedZlib.dispatch`)."""
        replay = self._replay
        if replay is None:
            return False
        parts, body = deflated
        seq = replay.append(parts)
        if self.state is not _READY or self.close_code is not None:
            return False
        stream = self._compressor
        assert isinstance(stream, SharedZlib)
        self._out.append(stream.dispatch(
            parts[0], b"%d" % seq if self.encoding is _JSON else self._codec.seq_bytes(seq), body))
        return True

    def dispatch_one(self, name: str, data: Any) -> bool:
        """Dispatch an event for this session only (READY, GUILD_MEMBERS_CHUNK...)."""
        return self.dispatch(Dispatch(name, data))

    def request_heartbeat(self) -> None:
        """Ask the client for a heartbeat now (op 1 from the server)."""
        if self.close_code is None and self.state < State.DETACHED:
            self._send(Opcode.HEARTBEAT, None)

    def reconnect(self) -> None:
        """Tell the client to reconnect and resume (op 7), e.g. when the worker drains."""
        if self.close_code is None and self.state < State.DETACHED:
            self._send(Opcode.RECONNECT, None)

    def invalidate(self, resumable: bool = False) -> None:
        """Send op 9; unless ``resumable``, forget the session (the client must Identify)."""
        if self.close_code is None and self.state < State.DETACHED:
            self._send(Opcode.INVALID_SESSION, resumable)
            if not resumable:
                self._reset()

    def events_lost(self) -> bool:
        """Events meant for this session may have been lost before reaching it (the bus could
        not prove continuity): end it so that the client identifies again and refetches.

        Not op 7: a RESUME would replay this session's buffer, which lacks the lost events
        too, and so hide the loss. Op 9 ``d: false`` (the client must identify), then close
        4009 (reconnect, new session) with the replay buffer dropped, so the session is not
        kept for a RESUME; its id and user stay until the close is handled, for the
        bookkeeping of the adapter. A DETACHED session loses its buffer: a RESUME gets op 9.

        Returns:
            whether the session was READY or DETACHED (it had something to lose).
        """
        if self.close_code is not None or self._replay is None:
            return False
        if self.state is State.READY:
            self._send(Opcode.INVALID_SESSION, False)
            self._replay = None
            self._close(CloseCode.SESSION_TIMED_OUT, "Events were lost: identify again")
            return True
        if self.state is State.DETACHED:
            self._replay = None
            return True
        return False

    def close(self, code: CloseCode, reason: str | None = None) -> None:
        """Close the connection with ``code`` (e.g. :attr:`CloseCode.SLOW_CONSUMER`)."""
        if self.close_code is None and self.state < State.DETACHED:
            self._close(code, reason)

    # -- internals ------------------------------------------------------------------------------

    def _handle(self, command: Command, now: float) -> None:
        match command:
            case Heartbeat(seq=seq):
                timeout = self._interval_ms / 1000 * self._limits.heartbeat_timeout
                self._heartbeat_deadline = now + timeout
                self._emit(self._codec.heartbeat_ack)
                if seq is not None and self._replay is not None and self.state is State.READY:
                    self._replay.ack(seq)  # received: a RESUME will not ask for it again
            case Identify() if self.state is State.CONNECTED:
                self._start_identify(command)
            case Resume() if self.state is State.CONNECTED:
                self.state, self._resume = State.RESUMING, command
                self._requests.append(command)
            case Identify() | Resume():
                self._close(CloseCode.ALREADY_AUTHENTICATED)
            case _ if self.state is State.CONNECTED:
                self._close(CloseCode.NOT_AUTHENTICATED)
            case _ if self.state is State.READY:
                self._handle_ready(command)
            case _:
                # Sent before the adapter answered Identify/Resume (bounded by the rate
                # limit): it waits in the queue, checked once READY (_admit_waiting).
                self._requests.append(command)

    def _handle_ready(self, command: Command) -> None:
        match command:
            case RequestGuildMembers(query="", limit=0) if not self.intents & Intent.GUILD_MEMBERS:
                # "Request Guild Members": the whole member list needs GUILD_MEMBERS.
                self._close(CloseCode.INVALID_INTENTS, "GUILD_MEMBERS intent required")
            case RequestGuildMembers(presences=True) if not self.intents & Intent.GUILD_PRESENCES:
                # Discord: without GUILD_PRESENCES, presences "will always be false".
                self._requests.append(replace(command, presences=False))
            case RequestGuildMembers() | PresenceUpdate() | SendMessage() | GuildSubscriptions():
                self._requests.append(command)
            case _:
                pass  # Ignored: the voice and soundboard opcodes

    def _start_identify(self, command: Identify) -> None:
        if command.intents & PRIVILEGED_INTENTS & ~self._limits.privileged_intents:
            return self._close(CloseCode.DISALLOWED_INTENTS)
        if command.shard is not None and command.shard[1] > self._limits.max_shards:
            return self._close(CloseCode.INVALID_SHARD, "Too many shards")
        self.state, self.identify = State.IDENTIFYING, command
        self._requests.append(command)

    def _admit_waiting(self) -> None:
        """READY: check the commands that waited for it, as if they arrived now."""
        waiting, self._requests = self._requests, []
        for command in waiting:
            if self.close_code is None:
                self._handle_ready(command)

    def _send(self, op: Opcode, d: Any) -> None:
        self._emit(self._codec.encode(op, d))

    def _emit(self, frame: bytes) -> None:
        if self._compressor is not None:
            frame = self._compressor.compress(frame)
        self._out.append(frame)

    def _close(self, code: CloseCode, reason: str | None = None) -> None:
        self.close_code = int(code)
        self.close_reason = reason or code.reason
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("session %s closing: %d %s", self.session_id, code, self.close_reason)

    def _reset(self) -> None:
        # Back to CONNECTED without a session: the client may Identify on this connection.
        self.state, self.identify, self._resume, self._replay = State.CONNECTED, None, None, None
        self.session_id = self.user_id = None
        self._requests.clear()

    def _superseded(self) -> None:
        if self.state is State.READY and self.close_code is None:
            self._close(CloseCode.SESSION_TIMED_OUT, "Session resumed on another connection")
        self._drop()

    def _drop(self) -> None:
        self.state, self._replay = State.CLOSED, None
        self._requests.clear()
