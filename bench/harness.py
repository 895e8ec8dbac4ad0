"""The harness the gateway benchmarks share: servers under test, set-up, load, the ladder.

``bench.gateway`` (fanout, idle, storm and the command) and ``bench.guilds`` are scenarios
over it: each starts a server here (``gateway_server`` as ``--deploy`` says, or one of
``bench.peers``), sets it up over REST, connects receivers through a ``bench.loadclient``
pool, and measures steps of offered load (``run_step``), up the ladder to saturation and
back to half of it (``climb``). It imports no scenario, so the scenarios never import each
other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bench import deploy
from bench.deploy import ProcTree, free_port, stop, tail, wait_ready
from bench.loadclient import LoadPool
from bench.rest import V, request_json

__all__ = [
    "PEERS",
    "SETUP_CONCURRENCY",
    "Audit",
    "Running",
    "climb",
    "connect",
    "gateway_server",
    "gather",
    "ladder",
    "load_pool",
    "peer_server",
    "percentile",
    "register_users",
    "run_step",
    "saturated",
    "say",
    "scrape",
    "setup_guild",
    "step_line",
]

_REPO = Path(__file__).resolve().parent.parent
PEERS = {"bare_picows": "bench.peers.bare_picows", "aiohttp": "bench.peers.aiohttp_broadcast",
         "websockets": "bench.peers.websockets_broadcast"}
# REST requests (and connections) in flight while setting a server up.
SETUP_CONCURRENCY = 64
T = TypeVar("T")
# Checks a step's per-receiver counts (the load processes' step results) against the plan;
# what it returns updates the step's figures (the second argument).
Audit = Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any]]


def say(line: str) -> None:
    """The live progress line (stderr, rewritten in place)."""
    sys.stderr.write("\r\033[K" + line)
    sys.stderr.flush()


# -- servers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Running:
    """A server under test: its process tree and its URLs."""

    proc: ProcTree
    ws_url: str  # receivers connect here
    send_url: str  # REST messages URL base (gateway) or the peer's /send
    http: str = ""
    metrics_urls: tuple[str, ...] = ()  # each gateway worker's Prometheus /metrics


def scrape(urls: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """Unlabelled samples ``names`` from Prometheus text pages, summed over ``urls`` (the
    workers); empty without any."""
    import urllib.request

    out: dict[str, float] = {}
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in names:
                out[name] = out.get(name, 0.0) + float(value)
    return out


_BATCH_SUM = "discord_arch_router_batch_messages_sum"
_BATCH_COUNT = "discord_arch_router_batch_messages_count"


def _pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


@contextlib.contextmanager
def gateway_server(cpu: int | None, env_extra: dict[str, str] | None = None,
                   where: deploy.Deploy | None = None) -> Iterator[Running]:
    """``discord-arch serve`` as ``where`` says (default embedded: one worker, SQLite in a
    temporary directory), pinned to ``cpu``."""
    with deploy.serve(where or deploy.Deploy(), cpu, env_extra, prefix="discord-arch-gw-") as s:
        yield Running(s.proc, s.ws_url, "", s.http, s.metrics_urls)


@contextlib.contextmanager
def peer_server(name: str, cpu: int | None) -> Iterator[Running]:
    """One of ``bench.peers``, pinned."""
    with contextlib.ExitStack() as stack:
        port = free_port()
        log = stack.enter_context(tempfile.TemporaryFile("w+"))
        proc = subprocess.Popen(_pinned([sys.executable, "-m", PEERS[name], "--port", str(port)],
                                        cpu), stdout=log, stderr=log, cwd=_REPO)
        stack.callback(stop, proc)
        wait_ready(proc, port, log)
        yield Running(ProcTree(proc.pid), f"ws://127.0.0.1:{port}/recv",
                      f"ws://127.0.0.1:{port}/send")
        tail(log)


async def gather(label: str, coros: Sequence[Awaitable[T]]) -> list[T]:
    """Await ``coros`` (each bounded by the caller's gate), with a progress line every 500."""
    done = 0

    async def one(coro: Awaitable[T]) -> T:
        nonlocal done
        out = await coro
        done += 1
        if done % 500 == 0:
            say(f"set-up: {done}/{len(coros)} {label}")
        return out

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def register_users(session: aiohttp.ClientSession, http: str, n: int,
                         gate: asyncio.Semaphore) -> list[tuple[str, str]]:
    """Register ``n`` users: their (token, user id)."""
    run = secrets.token_hex(3)

    async def register(i: int) -> tuple[str, str]:
        async with gate:
            body = {"username": f"gw_{run}_{i}", "password": "correct horse"}
            data = await request_json(session, "POST", f"{http}{V}/auth/register", None, body, 201)
        return str(data["token"]), str(data["user"]["id"])

    return await gather("registered", [register(i) for i in range(n)])


async def setup_guild(http: str, receivers: int, senders: int
                      ) -> tuple[list[str], list[str], str]:
    """Register users, one guild, everyone joined by invite: receiver and sender tokens and
    the channel's messages URL. Argon2 is cheap on the bench server: this is set-up."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=SETUP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens = [t for t, _ in await register_users(session, http, receivers + senders, gate)]
        owner = tokens[0]
        guild = await request_json(session, "POST", f"{http}{V}/guilds", owner,
                                   {"name": "bench"}, 201)
        channels = await request_json(session, "GET",
                                      f"{http}{V}/guilds/{guild['id']}/channels", owner)
        channel = next(c["id"] for c in channels if c["type"] == 0)
        invite = await request_json(session, "POST", f"{http}{V}/channels/{channel}/invites",
                                    owner, {})

        async def join(token: str) -> None:
            async with gate:
                await request_json(session, "POST", f"{http}{V}/invites/{invite['code']}", token)

        await gather("joined", [join(t) for t in tokens[1:]])
    say("")
    return tokens[senders:], tokens[:senders], f"{http}{V}/channels/{channel}/messages"


@contextlib.asynccontextmanager
async def load_pool(cpus: Sequence[int | None]) -> AsyncIterator[LoadPool]:
    pool = LoadPool(cpus)
    try:
        yield pool
    finally:
        await pool.aclose()


async def connect(pool: LoadPool, url: str, tokens: Sequence[str | None], probe_every: int,
                  concurrency: int) -> dict[str, Any]:
    """Split ``tokens`` over the pool's processes and connect them all; totals."""
    n = pool.size
    shares = [list(tokens[i::n]) for i in range(n)]
    # Receiver k of process i is receiver k*n + i of the pool: probes stay every probe_every-th.
    extra = [{"tokens": s, "offset": i} for i, s in enumerate(shares)]
    task = asyncio.ensure_future(pool.all("connect", url=url, probe_every=probe_every * n,
                                          concurrency=max(1, concurrency // n), per_process=extra))
    while not task.done():
        await asyncio.wait([task], timeout=0.5)
        if not task.done():
            ready = sum(p["ready"] for p in await pool.all("progress", limit_s=10))
            say(f"connecting: {ready}/{len(tokens)} ready")
    results = task.result()
    say("")
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {"ok": sum(r["ok"] for r in results), "failed": sum(r["failed"] for r in results),
            "seconds": max(r["seconds"] for r in results), "errors": errors}


# -- the ladder ---------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


async def run_step(pool: LoadPool, running: Running, label: str, rate: float, receivers: float,
                   duration: float, drain_s: float,
                   audit: Audit | None = None
                   ) -> dict[str, Any]:
    """One offered rate: the figures of ``step`` merged over the pool, plus the server's.

    ``receivers`` is the deliveries each message should make (fanout: every receiver; guilds:
    the traffic's mean). With ``audit``, the load processes also return per-receiver counts
    and sends per target, and ``audit(parts, step)`` adds to (or corrects) the step's figures.
    """
    import array

    server = running.proc
    t0 = time.monotonic() + 0.3
    task = asyncio.ensure_future(pool.all("step", rate=rate, t0=t0, duration=duration,
                                          drain_s=drain_s, limit_s=duration + drain_s + 60,
                                          counts=audit is not None))
    await asyncio.sleep(max(0.0, t0 - time.monotonic()))
    batches0 = scrape(running.metrics_urls, (_BATCH_SUM, _BATCH_COUNT))
    (user0, sys0), wait0, wall0 = server.cpu_split(), server.wait_s(), time.monotonic()
    cpu0 = user0 + sys0
    last = (0, wall0)
    while time.monotonic() < t0 + duration:
        await asyncio.sleep(min(0.5, max(0.01, t0 + duration - time.monotonic())))
        progress = await pool.all("progress", limit_s=10)
        count, now = sum(p["count"] for p in progress), time.monotonic()
        if last[0]:
            say(f"{label}: offered {rate:,.0f} msg/s ({rate * receivers:,.0f} ev/s) | delivered "
                f"{(count - last[0]) / (now - last[1]):,.0f} ev/s | sent {sum(p['sent'] for p in progress)}"
                f" | errors {sum(p['errors'] for p in progress)}")
        last = (count, now)
    (user1, sys1), wait1, wall1 = server.cpu_split(), server.wait_s(), time.monotonic()
    cpu1, rss = user1 + sys1, server.rss_kib()
    batches1 = scrape(running.metrics_urls, (_BATCH_SUM, _BATCH_COUNT))
    say(f"{label}: draining")
    parts = await task
    lat = array.array("q")
    for p in parts:
        lat.frombytes(p["lat_ns"])
    ordered = sorted(x / 1e6 for x in lat)
    connected = sum(p["connected"] for p in parts)
    sent, sent_total = sum(p["sent"] for p in parts), sum(p["sent_total"] for p in parts)
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    delivered = sum(p["window"] for p in parts) / duration
    written = batches1.get(_BATCH_COUNT, 0) - batches0.get(_BATCH_COUNT, 0)
    reads = sum(p["reads"] for p in parts)
    total = sum(p["total"] for p in parts)
    step = {
        "offered_msg_s": rate, "offered_events_s": rate * receivers,
        "sent_msg_s": sent / duration, "delivered_events_s": delivered,
        "completion": total / (sent_total * receivers) if sent_total else 0.0,
        "p50_ms": percentile(ordered, 0.50), "p99_ms": percentile(ordered, 0.99),
        "p999_ms": percentile(ordered, 0.999), "max_ms": ordered[-1] if ordered else 0.0,
        "samples": len(ordered), "server_cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "server_sys_pct": 100 * (sys1 - sys0) / (wall1 - wall0),
        # Server CPU per delivery of the window, user and system apart (µs).
        "server_user_us_per_delivery": (user1 - user0) * 1e6 / (delivered * (wall1 - wall0))
        if delivered else 0.0,
        "server_sys_us_per_delivery": (sys1 - sys0) * 1e6 / (delivered * (wall1 - wall0))
        if delivered else 0.0,
        # Deliveries per second of server CPU: what the server would do on a core of its
        # own; steadier than deliveries/s when other processes share the machine.
        "events_per_cpu_s": delivered * (wall1 - wall0) / (cpu1 - cpu0) if cpu1 > cpu0 else 0.0,
        "server_rss_kib": rss,
        # Time the server was runnable but another process had its core: >5% means the
        # figures of this step are disturbed by whatever else runs on the machine.
        "server_wait_pct": 100 * (wait1 - wait0) / (wall1 - wall0),
        "client_cpu_pct": 100 * sum(p["client_cpu_s"] for p in parts) / duration,
        "connected": connected, "shed": sum(p["shed"] for p in parts),
        "unsent": sum(p["unsent"] for p in parts), "errors": errors,
        "frame_bytes": max(p["frame_bytes"] for p in parts),
        # Coalescing as the receivers see it: message frames per socket read (the kernel may
        # merge writes too); and the router's mean write batch (gateway only).
        "frames_per_read": sum(p["window"] for p in parts) / reads if reads else 0.0,
        "router_batch": ((batches1.get(_BATCH_SUM, 0) - batches0.get(_BATCH_SUM, 0)) / written
                         if written else None),
    }
    return {**step, **audit(parts, step)} if audit is not None else step


def step_line(target: str, rate: float, step: dict[str, Any]) -> str:
    return (f"{target:>12} {rate:>7,.0f} msg/s: delivered {step['delivered_events_s']:>9,.0f}"
            f" ev/s  p50 {step['p50_ms']:7.2f}  p99 {step['p99_ms']:8.2f} ms  server "
            f"{step['server_cpu_pct']:3.0f}% (sys {step['server_sys_pct']:.0f}%, waited "
            f"{step['server_wait_pct']:.0f}%, {step['events_per_cpu_s']:,.0f} ev/cpu-s)  "
            f"client {step['client_cpu_pct']:3.0f}%  {step['frames_per_read']:.1f} frames/read"
            f"{'  SATURATED: ' + step['saturated'] if step['saturated'] else ''}")


def saturated(step: dict[str, Any], receivers: int, max_p99_ms: float) -> str | None:
    """Why this step is past saturation, or None."""
    if step["connected"] < receivers:
        return f"{receivers - step['connected']} sessions dropped"
    if step["delivered_events_s"] < 0.9 * step["offered_events_s"]:
        return "deliveries lag the offer by >10%"
    if step["p99_ms"] > max_p99_ms:
        return f"p99 over {max_p99_ms:g} ms"
    return None


def ladder(args: argparse.Namespace) -> list[float]:
    if args.rates:
        return [float(r) for r in args.rates.split(",")]
    rates, rate = [], 25.0
    while len(rates) < args.max_steps:
        rates.append(round(rate))
        rate *= 1.25
    return rates


async def climb(args: argparse.Namespace, pool: LoadPool, server: Running, target: str,
                per_msg: float, sessions: int,
                audit: Audit | None = None
                ) -> dict[str, Any]:
    """The ladder until a step saturates, then the half-saturation step: ``steps``,
    ``saturation_events_s``, ``saturated_at_msg_s`` and ``half``. ``per_msg`` is the
    deliveries a message should make, ``sessions`` how many should stay connected."""
    steps: list[dict[str, Any]] = []
    retries = args.confirm
    for i, rate in enumerate(ladder(args)):
        while True:
            step = await run_step(pool, server, f"{target} step {i + 1}", rate, per_msg,
                                  args.duration, args.drain, audit)
            step["saturated"] = saturated(step, sessions, args.max_p99_ms)
            say("")
            print(step_line(target, rate, step), file=sys.stderr)
            # A co-tenant's burst can fake a saturation: the same rate once more.
            if not step["saturated"] or retries <= 0 or step["connected"] < sessions:
                break
            retries -= 1
            step["retried"], step["saturated"] = step["saturated"], None
            steps.append(step)
        steps.append(step)
        if step["saturated"]:
            break
    best = max(s["delivered_events_s"] for s in steps)
    half_rate = best / per_msg / 2
    half = await run_step(pool, server, f"{target} half load", half_rate, per_msg,
                          args.duration * 2, args.drain, audit)
    say("")
    print(f"{target:>12} half load {half_rate:,.0f} msg/s: p50 {half['p50_ms']:.2f} "
          f"p99 {half['p99_ms']:.2f} p99.9 {half['p999_ms']:.2f} ms", file=sys.stderr)
    return {"steps": steps, "saturation_events_s": best,
            "saturated_at_msg_s": next((s["offered_msg_s"] for s in steps if s["saturated"]),
                                       None), "half": half}

