"""A fast websocket load client on picows: thousands of sessions per process, one process per core.

One :class:`LoadWorker` per process holds receivers (one :class:`Receiver` each, a picows
listener) and, in the first process, the sender. :class:`LoadPool` spawns the processes (each
pinned to a CPU), and drives them over pipes with small commands: ``connect``, ``sender``,
``step``, ``storm``, ``progress``, ``close``. ``bench.gateway`` is its user.

Targets:

- ``gateway``: receivers connect to ``?v=10&encoding=json``, IDENTIFY with a token (intents
  GUILDS | GUILD_MESSAGES: no presence or member events), heartbeat, and count MESSAGE_CREATE.
  The sender posts over REST (``POST /channels/{id}/messages``) with a ``nonce`` that is the
  send time (``time.monotonic_ns()``: one clock for every process of the machine), to one
  channel or, per message, to one of weighted targets (channel, its sender accounts).
- ``peer`` (``bench.peers``): receivers connect to ``/recv``; the sender writes text frames to
  ``/send`` that carry the send time themselves, shaped like a MESSAGE_CREATE dispatch so the
  receive path is the very same. No IDENTIFY (the peers have no protocol): a receiver counts
  from the handshake on; in a ``storm`` it reconnects instead of resuming.

Receiving is the hot path of the client: after READY a frame costs a copy, one ``startswith``
and a counter; only "probe" receivers (every ``probe_every``-th, spread over the fanout order)
also find the nonce in the bytes and record a latency. JSON is decoded only until READY.
A URL with ``compress=zlib-stream`` or ``zstd-stream`` makes every receiver inflate each
binary message first, as discord.py does (zlib: buffered until the ``00 00 ff ff`` suffix,
then one ``decompressobj`` call; zstd: one ``decompressobj`` call per message), so the
latency of a compressed fanout includes the client's decompression, as it does for a bot.
"""

from __future__ import annotations

import array
import asyncio
import bisect
import contextlib
import itertools
import logging
import multiprocessing
import os
import random
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection as Pipe
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = ["INTENTS", "LoadPool", "LoadWorker", "Receiver", "peer_payload", "raise_nofile"]

logger = logging.getLogger(__name__)

# A REST sender's target: (messages URL, tokens of accounts that may post there, weight).
Target = tuple[str, Sequence[str], float]
INTENTS = 1 | 1 << 9  # GUILDS | GUILD_MESSAGES: no presence, typing or member events
_TEXT, _CLOSE, _BINARY = WSMsgType.TEXT, WSMsgType.CLOSE, WSMsgType.BINARY
_ZLIB_SUFFIX = b"\x00\x00\xff\xff"
_MC = b"MESSAGE_CREATE"  # at offset 13 of b'{"op":0,"t":"MESSAGE_CREATE","s":...' (gateway/codec.py)
_NONCE = b'"nonce":"'
_CONNECT_TIMEOUT_S = 30.0
_CALL_TIMEOUT_S = 600.0
_TICK_S = 0.001  # sender pacing granularity
_QUIET_S = 0.5  # a step has drained when nothing arrived for this long
_BEAT_SPREAD = 50  # heartbeats checked for a 50th of the receivers every 20 ms (_heartbeats)


def monotonic_ns() -> int:
    return time.monotonic_ns()


def peer_payload(send_ns: int, size: int) -> bytes:
    """A peer's message: shaped like a gateway MESSAGE_CREATE, ``size`` bytes, stamped."""
    head = b'{"op":0,"t":"MESSAGE_CREATE","s":0,"d":{"nonce":"%d","content":"' % send_ns
    return head + b"x" * max(0, size - len(head) - 3) + b'"}}'


def inflater(compress: str | None) -> Callable[[bytes], bytes | None] | None:
    """A receiver's decompression of its stream, as discord.py's, or None (uncompressed).

    The callable takes each binary message and returns the payload once it is whole (zlib:
    None until a message ends with the sync-flush suffix)."""
    if compress is None:
        return None
    if compress == "zstd-stream":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress
    if compress != "zlib-stream":
        raise ValueError(f"compress={compress}")
    import zlib

    z, buffer = zlib.decompressobj(), bytearray()

    def inflate(data: bytes) -> bytes | None:
        buffer.extend(data)
        if data[-4:] != _ZLIB_SUFFIX:
            return None
        out = z.decompress(buffer)
        buffer.clear()
        return out

    return inflate


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (10k sockets need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Receiver(WSListener):
    """One receiving session; counts MESSAGE_CREATE frames, probes time some of them.

    Args:
        worker: the owning worker (its latency arrays are shared by its probes).
        token: the gateway token (None for a peer: counting starts at once).
        probe: whether to record each frame's latency.
    """

    def __init__(self, worker: LoadWorker, token: str | None, probe: bool,
                 compress: str | None = None) -> None:
        super().__init__()
        self.inflate = inflater(compress)
        self.count = 0
        self.reads = 0
        self.probe = probe
        self.sends, self.recvs = worker.sends, worker.recvs
        self.token = token
        self.fast = token is None  # counting mode; the gateway's starts after READY
        self.resume_from: tuple[str, int] | None = None  # (session_id, seq): RESUME, not IDENTIFY
        self.session_id: str | None = None
        self.resume_url = ""  # READY's resume_gateway_url: the worker holding the session
        self.seq = 0
        # Heartbeat ACKs (op 11) of heartbeats whose ``s`` covered READY and every
        # GUILD_CREATE (``ready_seq``: READY lists the guilds), so the server may have dropped
        # them: idle measures after every session has one (an earlier heartbeat, sent while
        # the identify was read, frees nothing).
        self.acks = 0
        self.ready_seq = 1 << 62
        self.beat_seq = 0
        # When the heartbeat not yet ACKed was sent (0: none), the ACKs' round trips (shared
        # by the process's receivers) and heartbeats sent while the previous one was still
        # unanswered: a Discord client takes that for a zombied connection and reconnects.
        self.beat_ns = 0
        self.beat_rtts = worker.beat_rtts
        self.missed = 0
        # Dispatches other than MESSAGE_CREATE after READY, by name (shared by the process's
        # receivers): what a connect storm or a presence change costs everyone.
        self.dispatches = worker.dispatches
        self.intents = worker.intents  # IDENTIFY's
        # As the web client in a large guild (cmd_lazy): after READY, the first page of
        # members with their statuses (op 8), then op 14 following them.
        self.lazy = worker.lazy
        self.frame_bytes = 0
        self.interval_s = 0.0
        self.next_beat = float("inf")
        self.transport: WSTransport | None = None
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.resumed_ns = 0  # when RESUMED arrived (a peer's: when the connection was made)
        self.ended: str | None = None  # why the connection ended ("close 4900", ...)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if self.fast and not self.done.done():
            self.resumed_ns = monotonic_ns()  # a peer's: receiving from now on
            self.done.set_result("connected")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        payload: bytes | None = None
        if self.inflate is not None and frame.msg_type is _BINARY:
            payload = self.inflate(frame.get_payload_as_bytes())
            if payload is None:
                return  # a part of a message: more follows
        if self.fast:
            # The frame's buffer is reused after return: copied.
            data = payload if payload is not None else frame.get_payload_as_bytes()
            if data.startswith(_MC, 13):
                self.count += 1
                if frame.last_in_buffer:  # coalescing as seen here: frames per socket read
                    self.reads += 1
                if self.probe:
                    i = data.find(_NONCE) + 9
                    self.recvs.append(monotonic_ns())
                    self.sends.append(int(data[i:data.index(b'"', i)]))
                    self.frame_bytes = len(data)
                return
        self._control(transport, frame, payload)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.fast = False
        self.ended = self.ended or "disconnected"
        self._finish("disconnected")

    def _control(self, transport: WSTransport, frame: WSFrame, payload: bytes | None = None
                 ) -> None:
        """Everything but a counted MESSAGE_CREATE: the handshake, acks, closes (``payload``:
        the inflated message of a compressed stream)."""
        if frame.msg_type is _CLOSE:
            code = frame.get_close_code().value if frame.payload_size >= 2 else 1005
            self.ended = f"close {code}"
            self._finish(self.ended)
            transport.disconnect()
            return
        if self.token is None or (payload is None and frame.msg_type is not _TEXT):
            return
        msg = orjson.loads(payload if payload is not None else frame.get_payload_as_bytes())
        op = msg.get("op")
        if op == 0:
            self.seq = msg.get("s") or self.seq
            if self.fast:
                self.dispatches[msg["t"]] = self.dispatches.get(msg["t"], 0) + 1
            if msg["t"] == "READY":
                self.ready_seq = msg["s"] + len(msg["d"].get("guilds", ()))
                self.session_id = msg["d"]["session_id"]
                self.resume_url = msg["d"].get("resume_gateway_url") or ""
                self.fast = True
                if self.lazy and msg["d"].get("guilds"):
                    transport.send(_TEXT, orjson.dumps({"op": 8, "d": {
                        "guild_id": msg["d"]["guilds"][0]["id"], "query": "", "limit": 100,
                        "presences": True}}))
                self._finish("ready")
            elif msg["t"] == "GUILD_MEMBERS_CHUNK" and self.lazy:
                d = msg["d"]
                transport.send(_TEXT, orjson.dumps({"op": 14, "d": {
                    "guild_id": d["guild_id"], "members": [m["user"]["id"] for m in d["members"]]}}))
            elif msg["t"] == "RESUMED":
                self.resumed_ns = monotonic_ns()
                self.fast = True
                self._finish("resumed")
        elif op == 10:
            self.interval_s = msg["d"]["heartbeat_interval"] / 1000
            self.next_beat = time.monotonic() + self.interval_s * random.random()
            transport.send(_TEXT, self._hello_answer())
        elif op == 11:
            if self.beat_seq >= self.ready_seq:
                self.acks += 1
            if self.beat_ns:
                self.beat_rtts.append(monotonic_ns() - self.beat_ns)
                self.beat_ns = 0
        elif op == 9:
            self._finish("invalid session")
        elif op == 7:
            self._finish("reconnect")

    def _hello_answer(self) -> bytes:
        if self.resume_from is not None:
            session_id, seq = self.resume_from
            d: dict[str, Any] = {"token": self.token, "session_id": session_id, "seq": seq}
            return orjson.dumps({"op": 6, "d": d})
        d = {"token": self.token, "intents": self.intents,
             "properties": {"os": "linux", "browser": "bench", "device": "bench"}}
        return orjson.dumps({"op": 2, "d": d})

    def _finish(self, outcome: str) -> None:
        if not self.done.done():
            self.done.set_result(outcome)

    def heartbeat(self, now: float, ahead: float = 0.0) -> None:
        """Heartbeat if one is due by ``now + ahead``: a caller that looks again only ``ahead``
        seconds later beats early rather than late (early is allowed; late past the server's
        1.5 intervals is 4009)."""
        if self.transport is not None and now + ahead >= self.next_beat:
            self.transport.send(_TEXT, b'{"op":1,"d":%d}' % self.seq)
            self.beat_seq = self.seq
            self.missed += self.beat_ns != 0
            self.beat_ns = monotonic_ns()
            self.next_beat = now + self.interval_s


class LoadWorker:
    """The receivers and (in process 0) the sender of one load process.

    Every command is a coroutine method named ``cmd_<name>``; :func:`_worker_main` runs them.
    """

    def __init__(self) -> None:
        self.receivers: list[Receiver] = []
        self.sends: array.array[int] = array.array("q")
        self.recvs: array.array[int] = array.array("q")
        self.beat_rtts: array.array[int] = array.array("q")
        self.dispatches: dict[str, int] = {}
        self.intents = INTENTS  # of the receivers connected from now on (cmd_intents)
        self.lazy = False  # ... and whether they subscribe as the web client does (cmd_lazy)
        self.errors: dict[str, int] = {}
        self.sent = 0
        self.shed = 0
        self._sender: _Sender | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._beating = False

    def count(self) -> int:
        return sum(r.count for r in self.receivers)

    def reads(self) -> int:
        return sum(r.reads for r in self.receivers)

    def _error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    # -- connecting -------------------------------------------------------------------------------

    async def cmd_connect(self, url: str, tokens: Sequence[str | None], probe_every: int,
                          offset: int, concurrency: int) -> dict[str, Any]:
        """Connect one receiver per token (None: a peer receiver), ``concurrency`` at a time.

        ``offset`` is the index of the first one in the whole pool, so that probes are every
        ``probe_every``-th receiver of the pool, not of each process.
        """
        start = time.monotonic()
        gate = asyncio.Semaphore(concurrency)
        compress = parse_qs(urlsplit(url).query).get("compress", [None])[-1]
        new = [Receiver(self, t, (offset + i) % probe_every == 0, compress)
               for i, t in enumerate(tokens)]

        async def one(receiver: Receiver) -> bool:
            async with gate:
                return await self._open(url, receiver) in ("ready", "connected")

        # Heartbeats from each receiver's Hello on, as a client's, not from the end of its
        # batch: a batch slower than two intervals (10,000 identifies of users in 10 small
        # guilds each) had its first sessions closed 4009 before the rest were READY.
        self.receivers.extend(new)
        if not self._beating and any(r.token for r in new):
            self._beating = True
            self._spawn(self._heartbeats())
        ok = sum(await asyncio.gather(*(one(r) for r in new)))
        return {"ok": ok, "failed": len(new) - ok, "seconds": time.monotonic() - start,
                "errors": dict(self.errors)}

    async def _open(self, url: str, receiver: Receiver) -> str:
        """Connect ``receiver`` and wait for READY/RESUMED (or the connection, for a peer)."""
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                await ws_connect(lambda: receiver, url, websocket_handshake_timeout=_CONNECT_TIMEOUT_S)
                outcome = await receiver.done
        except (OSError, TimeoutError) as e:
            outcome = type(e).__name__
        except Exception as e:  # picows raises its own handshake errors: count, go on
            outcome = type(e).__name__
        if outcome not in ("ready", "connected", "resumed"):
            self._error(outcome)
        return outcome

    async def _heartbeats(self) -> None:
        """Op 1 for each session once per interval (the first at a random point of it).

        Each receiver is looked at once a second, but a ``_BEAT_SPREAD``th of them every
        ``1 / _BEAT_SPREAD`` s, so the heartbeats due go out spread over the second, as
        clients' own timers send them. All at once (as before) 10,000 receivers sent their
        2,000 heartbeats of the second in one burst, which the server read in one poll of its
        loop: a 30-100 ms stall every second that no client population makes (bench/RESULTS.md,
        "10,000-member channels"). The slices due are counted on the clock, not by ticks:
        when this process is busy (50,000 frames/s to read at 5 msg/s) and a 20 ms sleep
        takes 100, the slices missed meanwhile are visited at once, so each receiver is still
        looked at once a second. Counted by ticks, a slow loop stretched that second to
        several: the likely cause of 974 sessions closed with 4009 in one run at 5 msg/s
        (none had a heartbeat unanswered; the server's loop lagged 50 ms at most)."""
        start, visited = time.monotonic(), 0  # slices visited so far
        while True:
            await asyncio.sleep(1.0 / _BEAT_SPREAD)
            now = time.monotonic()
            due = int((now - start) * _BEAT_SPREAD) + 1  # slices due by now
            for tick in range(max(visited, due - _BEAT_SPREAD), due):  # a round at most
                for receiver in self.receivers[tick % _BEAT_SPREAD::_BEAT_SPREAD]:
                    receiver.heartbeat(now, 1.0)  # the next look at it: a round (1 s) later
            visited = due

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending ----------------------------------------------------------------------------------

    async def cmd_sender(self, kind: str, url: str, tokens: Sequence[str], payload_bytes: int,
                         concurrency: int, targets: Sequence[Target] | None = None
                         ) -> dict[str, Any]:
        """Open the sender: ``rest`` (gateway: POST ``url`` as ``tokens`` in turn, or to
        ``targets`` drawn by weight per message), ``op50`` (gateway: ``url`` is the messages
        URL, whose channel ``tokens``' sessions send to with op 50, one after the other) or
        ``ws``. A sender open already is closed first."""
        if self._sender is not None:
            await self._sender.aclose()
        if kind == "rest":
            self._sender = _RestSender(self, url, tokens, concurrency, targets)
        elif kind == "op50":
            self._sender = _Op50Sender(self, url, tokens)
        else:
            self._sender = _WsSender(self, url, payload_bytes)
        await self._sender.start()
        return {"ok": True}

    async def cmd_step(self, rate: float, t0: float, duration: float, drain_s: float,
                       counts: bool = False) -> dict[str, Any]:
        """Send at ``rate`` msg/s from monotonic ``t0`` for ``duration`` s; count and time what
        arrives, in the window and until quiet (at most ``drain_s`` more).

        With ``counts``, also each receiver's deliveries of the step (in connect order) and the
        messages sent to each target: enough to tell who got more or less than their share.
        """
        self.sends, self.recvs = array.array("q"), array.array("q")
        for r in self.receivers:
            r.sends, r.recvs = self.sends, self.recvs
        self.sent = self.shed = 0
        if self._sender is not None:
            self._sender.by_target = [0] * len(self._sender.by_target)
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        c0, cpu0, r0 = self.count(), time.process_time(), self.reads()
        base = [r.count for r in self.receivers] if counts else []
        if self._sender is not None and rate > 0:
            self._spawn(self._sender.run(rate, t0, duration))
        await asyncio.sleep(max(0.0, t0 + duration - time.monotonic()))
        c1, cpu1, sent, r1 = self.count(), time.process_time(), self.sent, self.reads()
        if self._sender is not None:
            self._sender.stop()
        last, deadline = c1, time.monotonic() + drain_s
        while time.monotonic() < deadline:
            await asyncio.sleep(_QUIET_S)
            now_count = self.count()
            if now_count == last and (self._sender is None or self._sender.idle()):
                break
            last = now_count
        unsent = self._sender.drop() if self._sender is not None else 0
        lo, hi = int(t0 * 1e9), int((t0 + duration) * 1e9)
        lat = array.array("q", (r - s for s, r in zip(self.sends, self.recvs, strict=True)
                                if lo <= s < hi))
        extra: dict[str, Any] = {}
        if counts:
            got = array.array("q", (r.count - b for r, b in zip(self.receivers, base, strict=True)))
            extra = {"counts": got.tobytes(),
                     "sent_by_target": list(self._sender.by_target) if self._sender else []}
        return {**extra,
                "window": c1 - c0, "reads": r1 - r0, "total": self.count() - c0, "sent": sent,
                "sent_total": self.sent, "shed": self.shed, "unsent": unsent, "client_cpu_s": cpu1 - cpu0,
                "lat_ns": lat.tobytes(), "frame_bytes": max((r.frame_bytes for r in self.receivers),
                                                            default=0),
                "connected": sum(r.transport is not None and r.fast for r in self.receivers),
                "errors": {**self.errors, **self._ended()}}

    def _ended(self) -> dict[str, int]:
        """Receivers whose connection ended, by why (a 4900 is a slow consumer: us)."""
        out: dict[str, int] = {}
        for r in self.receivers:
            if r.ended is not None:
                out[r.ended] = out.get(r.ended, 0) + 1
        return out

    # -- storm ----------------------------------------------------------------------------------

    async def cmd_storm(self, url: str, concurrency: int, retries: int) -> dict[str, Any]:
        """Drop every session (abort: no close frame), then bring them all back at once.

        Gateway sessions RESUME, each at its READY's ``resume_gateway_url`` (with several
        workers, the one holding it; else ``url``), with ``url``'s query. Peer receivers (no
        token: no protocol, no session to resume) just connect to ``url`` again: back when
        the websocket handshake is done, since a peer sends to every connected ``/recv``.
        ``resumed``, ``last_ns`` and ``ms`` count and time those back (RESUMED or connected)."""
        olds = [r for r in self.receivers if r.transport is not None
                and (r.token is None or r.session_id is not None)]
        for r in olds:
            assert r.transport is not None
            r.transport.underlying_transport.abort()
        start_ns = monotonic_ns()
        gate = asyncio.Semaphore(concurrency) if concurrency > 0 else contextlib.nullcontext()
        self.errors.clear()

        query = url[url.index("?"):] if "?" in url else ""

        async def resume(old: Receiver) -> Receiver | None:
            if old.token is None:
                where, want = url, "connected"
            else:
                where = f"{old.resume_url.rstrip('/')}/{query}" if old.resume_url else url
                want = "resumed"
            for _ in range(1 + retries):
                new = Receiver(self, old.token, old.probe)
                if old.token is not None:
                    new.resume_from = (old.session_id, old.seq)  # type: ignore[assignment]
                async with gate:  # type: ignore[attr-defined]
                    outcome = await self._open(where, new)
                if outcome == want:
                    return new
                if outcome in ("invalid session", "reconnect") or outcome.startswith("close"):
                    return None  # the server said no: a real client would IDENTIFY again
            return None

        news = await asyncio.gather(*(resume(r) for r in olds))
        done = [n for n in news if n is not None]
        self.receivers = done
        times = sorted((n.resumed_ns - start_ns) / 1e6 for n in done)
        return {"sessions": len(olds), "resumed": len(done), "start_ns": start_ns,
                "last_ns": max((n.resumed_ns for n in done), default=start_ns),
                "ms": times, "errors": dict(self.errors)}

    async def cmd_intents(self, intents: int) -> dict[str, Any]:
        """IDENTIFY the receivers connected from now on with ``intents``."""
        self.intents = intents
        return {"ok": True}

    async def cmd_lazy(self, lazy: bool) -> dict[str, Any]:
        """Whether the receivers connected from now on act as the web client in a large
        guild: after READY, op 8 for the first 100 members with their statuses, then op 14
        subscribing to them (web/member_subscriptions.js)."""
        self.lazy = lazy
        return {"ok": True}

    async def cmd_beats(self) -> dict[str, Any]:
        """Heartbeats since the last call: ACK round trips (ns, as bytes), heartbeats sent
        while the previous one was unanswered, dispatches after READY by name, and the
        connections that ended, by why (a 4009 is a heartbeat the server missed)."""
        rtts, self.beat_rtts = self.beat_rtts, array.array("q")
        dispatches, self.dispatches = self.dispatches, {}
        missed = 0
        for r in self.receivers:
            r.beat_rtts, r.dispatches = self.beat_rtts, self.dispatches
            missed, r.missed = missed + r.missed, 0
        return {"rtt_ns": rtts.tobytes(), "missed": missed, "dispatches": dispatches,
                "unanswered": sum(r.beat_ns != 0 for r in self.receivers),
                "ended": self._ended(), "connected": sum(r.transport is not None and r.fast
                                                         for r in self.receivers)}

    async def cmd_progress(self) -> dict[str, Any]:
        return {"count": self.count(), "sent": self.sent, "receivers": len(self.receivers),
                "ready": sum(r.fast for r in self.receivers), "errors": sum(self.errors.values()),
                "acked": sum(r.acks > 0 for r in self.receivers)}

    async def cmd_close(self) -> dict[str, Any]:
        if self._sender is not None:
            await self._sender.aclose()
        for task in tuple(self._tasks):
            task.cancel()
        for r in self.receivers:
            if r.transport is not None:
                r.transport.disconnect(graceful=False)
        return {"ok": True}


class _Sender:
    """Open-loop pacing: every tick, as many messages as ``rate`` says are due by now."""

    def __init__(self, worker: LoadWorker) -> None:
        self.worker = worker
        self._running = False
        self.by_target: list[int] = []  # messages sent (answered 200) per target, this step

    async def start(self) -> None:
        pass

    async def run(self, rate: float, t0: float, duration: float) -> None:
        self._running, issued, end = True, 0, t0 + duration
        while self._running:
            now = time.monotonic()
            if now >= end:
                break
            due = int((now - t0) * rate) - issued
            for _ in range(due):
                self.offer(monotonic_ns())
            issued += max(0, due)
            await asyncio.sleep(_TICK_S)
        self._running = False

    def offer(self, send_ns: int) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._running = False

    def idle(self) -> bool:
        return True

    def drop(self) -> int:
        """Forget what was offered and not sent yet (after a step's drain); how many."""
        return 0

    async def aclose(self) -> None:
        self._running = False


class _WsSender(_Sender):
    """The peers' sender: one websocket, one text frame per message."""

    def __init__(self, worker: LoadWorker, url: str, payload_bytes: int) -> None:
        super().__init__(worker)
        self.url, self.size = url, payload_bytes
        self.transport: WSTransport | None = None

    async def start(self) -> None:
        self.transport, _ = await ws_connect(WSListener, self.url)

    def offer(self, send_ns: int) -> None:
        assert self.transport is not None
        self.transport.send(_TEXT, peer_payload(send_ns, self.size))
        self.worker.sent += 1

    async def aclose(self) -> None:
        if self.transport is not None:
            self.transport.disconnect()


class _SenderSession(Receiver):
    """An op 50 sender's gateway session: IDENTIFYed with no intents (no MESSAGE_CREATE
    reaches it: it is not one of the receivers), heartbeating; it only sends."""

    def _hello_answer(self) -> bytes:
        d = {"token": self.token, "intents": 0,
             "properties": {"os": "linux", "browser": "bench", "device": "bench"}}
        return orjson.dumps({"op": 2, "d": d})


class _Op50Sender(_Sender):
    """The gateway's sender by op 50 (Discord Arch's send over the websocket): one session
    per token, each message from the next session in turn, its ``nonce`` the send time (the
    receivers find it in MESSAGE_CREATE as with REST). The gateway allows 120 payloads per
    session per 60 s: offer at most ``len(tokens)`` × 2 msg/s for long.

    ``url`` is the channel's REST messages URL (``.../channels/{id}/messages``): the channel
    and, with ``/api/v10`` cut, the gateway's HTTP origin, whose ``GET /gateway`` says where
    to connect.
    """

    def __init__(self, worker: LoadWorker, url: str, tokens: Sequence[str]) -> None:
        super().__init__(worker)
        self.messages_url, self.tokens = url, list(tokens)
        self.channel_id = url.rstrip("/").split("/")[-2]
        self.sessions: list[_SenderSession] = []
        self._next = 0
        self._pad = b"x" * 80  # ~100-byte messages, as the REST sender's
        self._beats: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import aiohttp

        origin = self.messages_url.split("/api/")[0]
        async with aiohttp.ClientSession() as http, http.get(f"{origin}/api/v10/gateway") as r:
            ws_url = (await r.json())["url"].rstrip("/") + "/?v=10&encoding=json"
        for token in self.tokens:
            session = _SenderSession(self.worker, token, False)
            outcome = await self.worker._open(ws_url, session)
            if outcome != "ready":
                raise RuntimeError(f"op 50 sender session: {outcome}")
            self.sessions.append(session)
        self._beats = asyncio.get_running_loop().create_task(self._heartbeats())

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for session in self.sessions:
                session.heartbeat(now, 1.0)  # looked at again a second later

    def offer(self, send_ns: int) -> None:
        session = self.sessions[self._next % len(self.sessions)]
        self._next += 1
        if session.transport is None or session.ended is not None:
            self.worker._error(f"op 50 sender {session.ended or 'gone'}")
            return
        session.transport.send(_TEXT, b'{"op":50,"d":{"channel_id":"%s","content":"%d %s",'
                               b'"nonce":"%d"}}' % (self.channel_id.encode(), send_ns,
                                                    self._pad, send_ns))
        self.worker.sent += 1

    async def aclose(self) -> None:
        self._running = False
        if self._beats is not None:
            self._beats.cancel()
        for session in self.sessions:
            if session.transport is not None:
                session.transport.disconnect()


class _RestSender(_Sender):
    """The gateway's sender: ``concurrency`` aiohttp requests in flight, fed by a queue whose
    items are stamped when offered (a slow server shows as latency, not as a slower offer).

    One channel (``url``, poster k posts as ``tokens[k % len]``), or ``targets``: each message
    goes to a target drawn by weight, as that target's ``tokens[k % len]`` (accounts that may
    post there), and is counted in ``by_target`` so the caller knows who should receive what.
    """

    _QUEUE_MAX = 100_000

    def __init__(self, worker: LoadWorker, url: str, tokens: Sequence[str], concurrency: int,
                 targets: Sequence[Target] | None = None) -> None:
        super().__init__(worker)
        self.targets = [(u, list(t), float(w)) for u, t, w in targets or [(url, tokens, 1.0)]]
        self.concurrency = concurrency
        self.by_target = [0] * len(self.targets)
        self._cum = list(itertools.accumulate(w for _, _, w in self.targets))
        self._rng = random.Random()
        self.queue: asyncio.Queue[int] = asyncio.Queue(self._QUEUE_MAX)
        self.inflight = 0
        self._posters: list[asyncio.Task[None]] = []
        self._session: Any = None

    async def start(self) -> None:
        import aiohttp  # only the gateway's sender needs it

        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        loop = asyncio.get_running_loop()
        self._posters = [loop.create_task(self._post(k)) for k in range(self.concurrency)]

    def _pick(self) -> int:
        """A target index, drawn by weight (always 0 for one channel)."""
        if len(self._cum) == 1:
            return 0
        return bisect.bisect_right(self._cum, self._rng.random() * self._cum[-1])

    def offer(self, send_ns: int) -> None:
        try:
            self.queue.put_nowait(send_ns)
        except asyncio.QueueFull:
            self.worker.shed += 1

    def idle(self) -> bool:
        return self.queue.empty() and self.inflight == 0

    async def _post(self, k: int) -> None:
        """Poster ``k``: takes stamped messages off the queue, one request at a time."""
        # Per target: its URL and the headers of the account poster k posts as there.
        plan = [(url, {"Authorization": tokens[k % len(tokens)],
                       "Content-Type": "application/json"}) for url, tokens, _ in self.targets]
        pad = "x" * 80  # ~100-byte messages, as in docs/architecture.md's measured facts and bench.rest_send
        while True:
            send_ns = await self.queue.get()
            self.inflight += 1
            body = b'{"content":"%d %s","nonce":"%d"}' % (send_ns, pad.encode(), send_ns)
            target = self._pick()
            url, headers = plan[target]
            try:
                async with self._session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        self.worker.sent += 1
                        self.by_target[target] += 1
                    else:
                        self.worker._error(f"http {resp.status}")
            except OSError as e:
                self.worker._error(type(e).__name__)
            finally:
                self.inflight -= 1

    def drop(self) -> int:
        n = self.queue.qsize()
        while not self.queue.empty():
            self.queue.get_nowait()
        return n

    async def aclose(self) -> None:
        for task in self._posters:
            task.cancel()
        await asyncio.gather(*self._posters, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


# -- processes ------------------------------------------------------------------------------------


def _worker_main(pipe: Pipe, cpu: int | None) -> None:
    """A load process: pin to ``cpu``, then run commands from ``pipe`` until ``close``/EOF."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    raise_nofile()
    logging.getLogger("picows").setLevel(logging.WARNING)  # an INFO line per connection
    import uvloop

    uvloop.run(_serve(pipe, LoadWorker()))


async def _serve(pipe: Pipe, worker: LoadWorker) -> None:
    """Run commands as they come; replies may be out of order (``progress`` during ``step``)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    # A thread does the blocking reads: the loop's add_reader would make the pipe
    # non-blocking, and multiprocessing's framing cannot cope with partial writes.
    with ThreadPoolExecutor(1, thread_name_prefix="pipe") as reader:
        while True:
            try:
                call_id, name, kwargs = await loop.run_in_executor(reader, pipe.recv)
            except (EOFError, OSError):  # the controller is gone
                break
            task = loop.create_task(_run(pipe, worker, call_id, name, kwargs))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if name == "close":
                await task
                break


async def _run(pipe: Pipe, worker: LoadWorker, call_id: int, name: str,
               kwargs: dict[str, Any]) -> None:
    try:
        result: Any = await getattr(worker, f"cmd_{name}")(**kwargs)
    except Exception as e:  # a command boundary: report it to the controller
        logger.exception("load command %s failed", name)
        result = {"exception": repr(e)}
    pipe.send((call_id, result))


class LoadPool:
    """Load processes, one per CPU of ``cpus``, driven from the caller's event loop.

    Args:
        cpus: one process per entry, pinned to it (None: not pinned).
    """

    def __init__(self, cpus: Sequence[int | None]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipes: list[Pipe] = []
        self._procs: list[Any] = []
        for cpu in cpus:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, cpu), daemon=True)
            proc.start()
            child.close()
            self._pipes.append(parent)
            self._procs.append(proc)
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._readers = ThreadPoolExecutor(len(self._pipes), thread_name_prefix="pipe")
        loop = asyncio.get_running_loop()
        self._reading = [loop.create_task(self._read(pipe)) for pipe in self._pipes]

    @property
    def size(self) -> int:
        return len(self._pipes)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    async def _read(self, pipe: Pipe) -> None:
        """Hand each reply to its caller (blocking reads in a thread, as in ``_serve``)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                call_id, result = await loop.run_in_executor(self._readers, pipe.recv)
            except (EOFError, OSError):
                for fut in self._waiting.values():
                    if not fut.done():
                        fut.set_exception(ConnectionError("a load process died"))
                return
            fut = self._waiting.pop(call_id, None)
            if fut is not None and not fut.done():
                fut.set_result(result)

    async def call(self, index: int, name: str, limit_s: float = _CALL_TIMEOUT_S,
                   **kwargs: Any) -> Any:
        """Run ``cmd_<name>(**kwargs)`` in process ``index``; its result."""
        call_id = next(self._ids)
        fut = self._waiting[call_id] = asyncio.get_running_loop().create_future()
        self._pipes[index].send((call_id, name, kwargs))
        result = await asyncio.wait_for(fut, limit_s)
        if isinstance(result, dict) and "exception" in result:
            raise RuntimeError(f"load process {index}: {name}: {result['exception']}")
        return result

    async def all(self, name: str, limit_s: float = _CALL_TIMEOUT_S,
                  per_process: Sequence[dict[str, Any]] | None = None, **kwargs: Any
                  ) -> list[Any]:
        """``call`` in every process at once (``per_process`` adds arguments to each)."""
        extra = per_process or [{}] * self.size
        return list(await asyncio.gather(*(
            self.call(i, name, limit_s, **kwargs, **extra[i]) for i in range(self.size))))

    async def aclose(self) -> None:
        """Close every process's connections, then stop the processes (bounded)."""
        with contextlib.suppress(Exception):
            await self.all("close", limit_s=10)
        loop = asyncio.get_running_loop()
        for proc in self._procs:
            await loop.run_in_executor(None, proc.join, 5)
            if proc.is_alive():
                proc.kill()
                await loop.run_in_executor(None, proc.join, 5)
        for pipe in self._pipes:
            pipe.close()  # ends the reader threads (EOF)
        await asyncio.gather(*self._reading, return_exceptions=True)
        self._readers.shutdown(wait=False)
