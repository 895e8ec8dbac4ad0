"""Send and history benchmarks: REST and gateway sends with durable acks, REST history reads.

Usage::

    python -m bench.rest_send send    [--deploy embedded|workers2] [--senders 64] [--messages 5000]
    python -m bench.rest_send history [--deploy embedded|workers2] [--readers 16] [--reads 100]
    python -m bench.rest_send --backend postgres --senders 64 --messages 5000 --batching both

(``python -m bench send ...`` and ``python -m bench history ...`` are the first two.) For each
variant (batched: the configured router; unbatched: ``DISCORD_ARCH_BATCH_MAX_MESSAGES=1``) a
fresh server is started as ``--deploy`` says (``bench.deploy``: ``embedded``, one worker and
SQLite in a temporary directory; ``workers2``, two workers, Redis and a fresh PostgreSQL
database, dropped afterwards), pinned to ``--server-cpu`` with ``taskset``; this process, the
load client, pins itself to ``--client-cpu``. Rate limits are off on the server and each sender
is its own user anyway. Argon2 runs with cheap parameters: registration is set-up, not measured.

Every phase is a closed loop (each client awaits its answer before its next request); measured:
requests/s over the phase, per-request latency p50/p99, non-2xx answers, and the server's CPU
(all its processes) as a share of one core.

- ``send``: ``--senders`` accounts in one guild post ``--messages`` ~100-byte messages in all to
  its channel over REST (after one unmeasured warm-up send each): a 200 means the message's
  write batch is durable. Then the gateway: ``--ws-senders`` concurrent senders (default
  ``--senders``) send ``--messages`` messages in all with op 50 (docs/gateway.md), each acked
  by its own MESSAGE_CREATE echo carrying its nonce (published only once the write is
  durable). The gateway allows 120 payloads per connection per 60 s (IDENTIFY and heartbeats
  count, 4008 beyond), so each sender has several READY sessions and moves to the next after
  100 messages; each session is the only member of a guild of its own, so the echo is the
  message's one delivery.
- ``history``: ``--messages`` are posted over REST first (``fill``), then ``--readers`` clients
  make ``--reads`` requests each of the newest page (``limit=50``), then of a deep page
  (``before=`` the id of a message 10% into the run).
- no scenario (the original command): REST sends then history reads, both batching variants by
  default; a table on stdout and, with ``--json FILE``, one JSON line per variant appended.

``send`` and ``history`` write ``bench/results/<scenario>[_<deployment>].json`` (or ``--json``)
with the machine, date, commit and exact command, then regenerate RESULTS.md's generated
sections unless ``--no-report``. MongoDB holds messages only if ``--mongo-url`` is given (a
throwaway mongod: the store always uses its ``discord_arch`` database; never SecantusDB).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench import deploy
from bench.deploy import Server, fresh_postgres_database
from bench.loadclient import INTENTS
from bench.rest import V, request_json

__all__ = ["Latencies", "fresh_postgres_database", "main", "run_load"]

_REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = _REPO / "bench" / "results"
_REGISTER_CONCURRENCY = 8
_CONNECT_CONCURRENCY = 32
_PAD = "x" * 80  # ~100-byte messages, as in docs/architecture.md's measured facts
# The gateway's limit is 120 payloads per connection per 60 s (IDENTIFY and heartbeats
# included, close 4008 beyond): a sender session sends at most this many messages.
WS_PER_SESSION = 100
_ECHO_TIMEOUT_S = 10.0
_TEXT, _CLOSE = WSMsgType.TEXT, WSMsgType.CLOSE
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Latencies:
    count: int
    per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_pct: float = 0.0  # the server's CPU over the phase, % of one core

    @classmethod
    def of(cls, samples: list[float], elapsed: float, errors: int) -> Latencies:
        ordered = sorted(samples)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0

        return cls(len(samples), len(samples) / elapsed, pct(0.50), pct(0.99), errors)


# Phases, in the order tables show them.
PHASES = ("rest_send", "gateway_send", "fill", "newest_page", "deep_page")


@dataclass(frozen=True, slots=True)
class Result:
    variant: str
    deployment: str
    phases: dict[str, Latencies]


# -- set-up -------------------------------------------------------------------------------------


async def _setup(session: aiohttp.ClientSession, base: str, users: int) -> tuple[list[str], str]:
    """Register ``users`` accounts, a guild and join them to it; the tokens and the channel."""
    gate = asyncio.Semaphore(_REGISTER_CONCURRENCY)
    run = secrets.token_hex(3)

    async def register(i: int) -> str:
        async with gate:
            body = {"username": f"bench_{run}_{i}", "password": "correct horse"}
            data = await request_json(session, "POST", f"{base}{V}/auth/register", None, body,
                                      201)
            return str(data["token"])

    tokens = list(await asyncio.gather(*(register(i) for i in range(users))))
    owner = tokens[0]
    guild = await request_json(session, "POST", f"{base}{V}/guilds", owner, {"name": "bench"},
                               201)
    channels = await request_json(session, "GET", f"{base}{V}/guilds/{guild['id']}/channels",
                                  owner)
    channel = next(c["id"] for c in channels if c["type"] == 0)
    invite = await request_json(session, "POST", f"{base}{V}/channels/{channel}/invites", owner,
                                {})

    async def join(token: str) -> None:
        async with gate:
            await request_json(session, "POST", f"{base}{V}/invites/{invite['code']}", token)

    await asyncio.gather(*(join(t) for t in tokens[1:]))
    return tokens, channel


async def _own_channels(session: aiohttp.ClientSession, base: str, tokens: Sequence[str]
                        ) -> list[str]:
    """A guild of its own for each account: its text channel's id."""
    gate = asyncio.Semaphore(_REGISTER_CONCURRENCY)

    async def make(token: str) -> str:
        async with gate:
            guild = await request_json(session, "POST", f"{base}{V}/guilds", token,
                                       {"name": "own"}, 201)
            channels = await request_json(session, "GET",
                                          f"{base}{V}/guilds/{guild['id']}/channels", token)
        return str(next(c["id"] for c in channels if c["type"] == 0))

    return list(await asyncio.gather(*(make(t) for t in tokens)))


# -- REST ---------------------------------------------------------------------------------------


async def _send_phase(
    session: aiohttp.ClientSession, url: str, tokens: Sequence[str], total: int
) -> tuple[Latencies, list[int]]:
    samples: list[float] = []
    ids: list[int] = []
    errors = 0
    numbers = iter(range(total))

    async def sender(token: str) -> None:
        nonlocal errors
        headers = {"Authorization": token}
        for i in numbers:  # shared: senders take the next number until M are sent
            body = {"content": f"message {i} {_PAD}"}
            t0 = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as resp:
                data = await resp.read()
            samples.append(time.perf_counter() - t0)
            if resp.status == 200:
                ids.append(int(json.loads(data)["id"]))
            else:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(sender(t) for t in tokens))
    return Latencies.of(samples, time.perf_counter() - start, errors), ids


async def _read_phase(
    session: aiohttp.ClientSession, url: str, tokens: Sequence[str], reads: int,
    params: dict[str, str],
) -> Latencies:
    samples: list[float] = []
    errors = 0

    async def reader(token: str) -> None:
        nonlocal errors
        for _ in range(reads):
            t0 = time.perf_counter()
            async with session.get(url, params=params, headers={"Authorization": token}) as resp:
                await resp.read()
            samples.append(time.perf_counter() - t0)
            errors += resp.status != 200

    start = time.perf_counter()
    await asyncio.gather(*(reader(t) for t in tokens))
    return Latencies.of(samples, time.perf_counter() - start, errors)


# -- the gateway --------------------------------------------------------------------------------


class GatewaySender(WSListener):
    """One session sending with op 50; :meth:`send` returns once the MESSAGE_CREATE echo with
    its nonce arrives (True) or a MESSAGE_SEND_FAILED does (False)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.transport: WSTransport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.pending: dict[str, asyncio.Future[bool]] = {}
        self.seq = 0
        self.interval_s = 0.0
        self.ended = ""
        self._beats: asyncio.Task[None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is _CLOSE:
            code = frame.get_close_code().value if frame.payload_size >= 2 else 1005
            self._end(f"close {code}")
            transport.disconnect()
            return
        if frame.msg_type is not _TEXT:
            return
        msg = orjson.loads(frame.get_payload_as_bytes())
        op, d = msg.get("op"), msg.get("d")
        if op == 0:
            self.seq = msg.get("s") or self.seq
            name = msg.get("t")
            if name in ("MESSAGE_CREATE", "MESSAGE_SEND_FAILED"):
                fut = self.pending.pop(str(d.get("nonce")), None)
                if fut is not None and not fut.done():
                    fut.set_result(name == "MESSAGE_CREATE")
            elif name == "READY" and not self.ready.done():
                self.ready.set_result(None)
                self._beats = asyncio.get_running_loop().create_task(self._heartbeats())
        elif op == 10:
            self.interval_s = d["heartbeat_interval"] / 1000
            identify = {"token": self.token, "intents": INTENTS,
                        "properties": {"os": "linux", "browser": "bench", "device": "bench"}}
            transport.send(_TEXT, orjson.dumps({"op": 2, "d": identify}))
        elif op in (7, 9):
            self._end(f"op {op}")

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._end("disconnected")

    def _end(self, why: str) -> None:
        self.ended = self.ended or why
        for fut in [self.ready, *self.pending.values()]:
            if not fut.done():
                fut.set_exception(ConnectionError(self.ended))
        self.pending.clear()

    async def _heartbeats(self) -> None:
        """Op 1 once per interval, the first at a random point of it (as clients do)."""
        await asyncio.sleep(self.interval_s * random.random())
        while self.transport is not None and not self.ended:
            self.transport.send(_TEXT, b'{"op":1,"d":%d}' % self.seq)
            await asyncio.sleep(self.interval_s)

    async def send(self, channel_id: str, content: str, nonce: str) -> bool:
        if self.ended or self.transport is None:
            raise ConnectionError(self.ended or "not connected")
        fut = self.pending[nonce] = asyncio.get_running_loop().create_future()
        payload = {"channel_id": channel_id, "content": content, "nonce": nonce}
        self.transport.send(_TEXT, orjson.dumps({"op": 50, "d": payload}))
        return await asyncio.wait_for(fut, _ECHO_TIMEOUT_S)

    async def aclose(self) -> None:
        if self._beats is not None:
            self._beats.cancel()
        if self.transport is not None:
            self.transport.disconnect()


async def _gateway_senders(url: str, tokens: Sequence[str]) -> list[GatewaySender]:
    """A READY session per token."""
    gate = asyncio.Semaphore(_CONNECT_CONCURRENCY)

    async def one(token: str) -> GatewaySender:
        sender = GatewaySender(token)
        async with gate, asyncio.timeout(30):
            await ws_connect(lambda: sender, url)
            await sender.ready
        return sender

    return list(await asyncio.gather(*(one(t) for t in tokens)))


async def _gateway_phase(sessions: Sequence[GatewaySender], channels: Sequence[str], total: int,
                         concurrency: int, per_session: int, tag: str) -> Latencies:
    """``concurrency`` senders, sender k using sessions k, k + concurrency, ... in turn, each
    for at most ``per_session`` messages (the gateway's payload limit), until ``total``."""
    samples: list[float] = []
    errors = 0
    numbers = iter(range(total))

    async def run(k: int) -> None:
        nonlocal errors
        for session, channel in zip(sessions[k::concurrency], channels[k::concurrency],
                                    strict=True):
            for i in itertools.islice(numbers, per_session):  # shared, as in REST
                t0 = time.perf_counter()
                try:
                    ok = await session.send(channel, f"message {i} {_PAD}", f"{tag}{i}")
                except (ConnectionError, TimeoutError):
                    ok = False
                samples.append(time.perf_counter() - t0)
                errors += not ok

    start = time.perf_counter()
    await asyncio.gather(*(run(k) for k in range(concurrency)))
    return Latencies.of(samples, time.perf_counter() - start, errors)


# -- a run --------------------------------------------------------------------------------------


async def _measured(server: Server, work: Awaitable[T]) -> tuple[T, float]:
    """``work``'s result and the server's CPU during it, as a share of one core (%)."""
    cpu0, t0 = server.proc.cpu_s(), time.monotonic()
    out = await work
    return out, 100 * (server.proc.cpu_s() - cpu0) / max(1e-9, time.monotonic() - t0)


def ws_senders(args: argparse.Namespace) -> tuple[int, int]:
    """Gateway senders in flight (``--ws-senders``, default ``--senders``) and the sessions
    they need: as many per sender as its share of the messages takes at WS_PER_SESSION each."""
    c = args.ws_senders or args.senders
    return c, c * math.ceil(args.messages / (c * WS_PER_SESSION))


async def run_load(server: Server, args: argparse.Namespace, variant: str) -> Result:
    """The phases of ``args.scenario`` (None: REST sends, then history reads)."""
    scenario = args.scenario
    base = server.http
    c_ws, n_ws = ws_senders(args) if scenario == "send" else (0, 0)
    phases: dict[str, Latencies] = {}
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens, channel = await _setup(session, base, max(args.senders, args.readers, n_ws))
        url = f"{base}{V}/channels/{channel}/messages"
        senders = tokens[: args.senders]
        await _send_phase(session, url, senders, len(senders))  # warm-up: one each
        (send, ids), cpu = await _measured(server, _send_phase(session, url, senders,
                                                               args.messages))
        phases["fill" if scenario == "history" else "rest_send"] = replace(send,
                                                                           server_cpu_pct=cpu)
        if scenario in (None, "history"):
            ids.sort()
            deep = {"limit": "50", "before": str(ids[len(ids) // 10])} if ids else {"limit": "50"}
            readers = tokens[: args.readers]
            for name, params in (("newest_page", {"limit": "50"}), ("deep_page", deep)):
                lat, cpu = await _measured(server, _read_phase(session, url, readers, args.reads,
                                                               params))
                phases[name] = replace(lat, server_cpu_pct=cpu)
        if scenario == "send":
            own = await _own_channels(session, base, tokens[:n_ws])
            gw = await _gateway_senders(server.ws_url, tokens[:n_ws])
            try:
                await _gateway_phase(gw, own, n_ws, n_ws, 1, "w")  # warm-up: one each
                lat, cpu = await _measured(server, _gateway_phase(
                    gw, own, args.messages, c_ws, WS_PER_SESSION, "m"))
                phases["gateway_send"] = replace(lat, server_cpu_pct=cpu)
            finally:
                for s in gw:
                    await s.aclose()
    return Result(variant, server.deploy.label, phases)


# -- the command --------------------------------------------------------------------------------


def _cpu(text: str) -> int | None:
    return None if text in ("", "none") else int(text)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.rest_send", description=__doc__.split("\n")[0])
    p.add_argument("scenario", nargs="?", choices=("send", "history"), default=None,
                   help="send: REST and gateway sends; history: reads (none: REST sends and "
                        "reads, the original table)")
    deploy.add_arguments(p)
    p.add_argument("--senders", type=int, default=64, help="concurrent REST senders (one user each)")
    p.add_argument("--ws-senders", type=int, default=0,
                   help="send: concurrent gateway senders (default --senders), each moving to "
                        f"a fresh session every {WS_PER_SESSION} messages")
    p.add_argument("--messages", type=int, default=20_000, help="messages in all (per phase)")
    p.add_argument("--readers", type=int, default=16, help="concurrent history readers")
    p.add_argument("--reads", type=int, default=300, help="history requests per reader and page")
    p.add_argument("--batching", choices=("on", "off", "both"), default=None,
                   help="variants: the batched router, unbatched, or both (default: on for send "
                        "and history, both without a scenario)")
    p.add_argument("--batch-delay-ms", type=float, default=None,
                   help="batched variant's batch_max_delay_ms (default: the server's)")
    p.add_argument("--server-cpu", type=_cpu, default=0, help="CPU for the server (taskset; none)")
    p.add_argument("--client-cpu", type=_cpu, default=1, help="CPU for this load client (none)")
    p.add_argument("--json", type=Path, default=None,
                   help="send/history: the results file (default bench/results/<scenario>"
                        "[_<deployment>].json); no scenario: append one JSON line per variant")
    p.add_argument("--no-report", action="store_true",
                   help="send/history: do not regenerate RESULTS.md and the plots")
    return p


def _table(results: Sequence[Result]) -> str:
    phases = [p for p in PHASES if any(p in r.phases for r in results)]
    head = "| variant | deployment | " + " | ".join(f"{p} /s | p50 ms | p99 ms | CPU"
                                                for p in phases) + " | errors |"
    rows = [head, "|" + "---|" * (3 + 4 * len(phases))]
    for r in results:
        cells = []
        for p in phases:
            lat = r.phases.get(p)
            cells.append(f"{lat.per_s:,.0f} | {lat.p50_ms:.1f} | {lat.p99_ms:.1f} | "
                         f"{lat.server_cpu_pct:.0f}%" if lat else " | | | ")
        errors = sum(lat.errors for lat in r.phases.values())
        rows.append(f"| {r.variant} | {r.deployment} | " + " | ".join(cells) + f" | {errors} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None, prog: str = "bench.rest_send") -> int:
    """``prog`` is what the exact command in the results says was run (``python -m prog``)."""
    from bench import gateway_report, report

    args = _parser().parse_args(argv)
    meta = gateway_report.machine(argv if argv is not None else sys.argv[1:], prog)
    if args.client_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.client_cpu})
    # SIGTERM unwinds like ^C, so the server is stopped (and its database dropped).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    where = deploy.of(args)
    batching = args.batching or ("both" if args.scenario is None else "on")
    results = []
    for batched in {"on": [True], "off": [False], "both": [True, False]}[batching]:
        env = {}
        if not batched:
            env["DISCORD_ARCH_BATCH_MAX_MESSAGES"] = "1"
        elif args.batch_delay_ms is not None:
            env["DISCORD_ARCH_BATCH_MAX_DELAY_MS"] = str(args.batch_delay_ms)
        with deploy.serve(where, args.server_cpu, env) as server:
            results.append(runner(run_load(server, args, "batched" if batched else "unbatched")))
        if args.json and args.scenario is None:
            with open(args.json, "a") as f:
                f.write(json.dumps(asdict(results[-1])) + "\n")
    print(_table(results))
    if len(results) == 2 and "rest_send" in results[1].phases:
        a, b = results[0].phases["rest_send"], results[1].phases["rest_send"]
        if b.per_s:
            print(f"\nbatched / unbatched REST send throughput: {a.per_s / b.per_s:.1f}x")
    if args.scenario is not None:
        out = {"scenario": args.scenario, **meta, "deployment": where.describe(),
               "server_cpu": args.server_cpu, "client_cpu": args.client_cpu,
               "senders": args.senders,
               "ws_senders": ws_senders(args)[0] if args.scenario == "send" else 0,
               "ws_sessions": ws_senders(args)[1] if args.scenario == "send" else 0,
               "ws_per_session": WS_PER_SESSION, "messages": args.messages,
               "readers": args.readers, "reads": args.reads,
               "batch_delay_ms": args.batch_delay_ms,
               "variants": [{"variant": r.variant, **{k: asdict(v) for k, v in r.phases.items()}}
                            for r in results]}
        report.save(out, args.json or RESULTS_DIR / where.results_name(args.scenario),
                    not args.no_report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
