"""Gateway benchmarks, with peer servers measured in the same run.

Usage::

    python -m bench.gateway fanout [--receivers 1000] [--rates 25,50,100] [--duration 5]
                                   [--targets gateway,bare_picows,aiohttp,websockets]
    python -m bench.gateway guilds [--mix 1000x2,100x20,10x200] [--zipf 1.1] [--rates ...]
    python -m bench.gateway idle   [--sessions 10000] [--targets gateway,bare_picows,...]
    python -m bench.gateway storm  [--sessions 5000] [--targets gateway,bare_picows,...]
    python -m bench.gateway report     # RESULTS.md's sections and plots from bench/results/

(``python -m bench SCENARIO ...`` is the same.) The server under test (``python -m gateway.cli
serve`` as ``--deploy`` says, see ``bench.deploy``: ``embedded``, one worker, free ports, a
temporary data directory; ``workers2``, two workers with Redis and PostgreSQL; or a
``bench.peers`` server) runs pinned to ``--server-cpu`` with ``taskset``; the load
(``bench.loadclient``, one process per ``--client-cpus`` entry) and this controller on the
other core. Server CPU% and RSS are read from ``/proc/<pid>`` (the process and its children:
with workers, the supervisor and every worker).

- ``fanout``: ``--receivers`` sessions in one guild channel; the offered rate steps up (the
  ladder of ``--rates``, else ×1.25 from 25 msg/s) until a step saturates: deliveries lag the
  offer by more than 10%, p99 goes over ``--max-p99-ms``, or sessions drop. Then one step at
  half the saturated deliveries gives the latency "at half load". Every target gets the same
  ladder, the same receive path, and messages of the size the gateway's MESSAGE_CREATE had.
- ``guilds`` (its set-up and audit in ``bench.guilds``): guilds of mixed sizes (``--mix``),
  users in several of them, a role-only private channel in each; messages go to a guild
  drawn by Zipf over size rank, 30% to its private channel (``--private-share``): the fanout
  ladder, where a message's deliveries depend on where it went, and every receiver's count is
  checked against what it may see. No peers.
- ``idle``: RSS growth per IDENTIFIED idle session, measured at quarters up to ``--sessions``;
  for each peer of ``--targets``, per idle connection (no IDENTIFY: the peers have no
  protocol), the same way.
- ``storm``: ``--sessions`` READY sessions lose their sockets at once (no close frame), then
  all RESUME at once: time until the last RESUMED, and errors. The peers' connections are
  dropped the same way and all reconnect at once (no session to resume): time until every
  connection is receiving again.

``idle`` and ``storm`` keep the gateway's figures at the top level of their JSON and put the
peers' under ``peers`` (with ``ratios``, the gateway's figure over each peer's); every target
gets a fresh server and load pool, one after the other.

Results go to ``bench/results/<scenario>.json`` (embedded; other deployments
``<scenario>_workers2.json`` and so on); ``report`` (run after each scenario unless
``--no-report``) regenerates the generated sections of ``bench/RESULTS.md`` and the plots
(``bench.report``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bench import deploy, gateway_report, report
from bench.deploy import ProcTree, free_port, stop, tail, wait_ready
from bench.loadclient import LoadPool, raise_nofile
from bench.rest_send import V, _json

__all__ = ["main"]

_REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = _REPO / "bench" / "results"
PEERS = {"bare_picows": "bench.peers.bare_picows", "aiohttp": "bench.peers.aiohttp_broadcast",
         "websockets": "bench.peers.websockets_broadcast"}
_SETUP_CONCURRENCY = 64
_DEFAULT_FRAME_BYTES = 700
T = TypeVar("T")
# Checks a step's per-receiver counts (the load processes' step results) against the plan;
# what it returns updates the step's figures (the second argument).
Audit = Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any]]


def _say(line: str) -> None:
    """The live progress line (stderr, rewritten in place)."""
    sys.stderr.write("\r\033[K" + line)
    sys.stderr.flush()


# -- /proc ----------------------------------------------------------------------------------------


def slab_kib() -> int:
    """The machine's kernel slab memory (sockets live there); noisy, other processes count."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


_NETSTAT = ("ListenOverflows", "ListenDrops", "TCPSynRetrans", "TCPReqQFullDoCookies")


def tcp_counters() -> dict[str, int]:
    """The machine's TcpExt counters of a full accept queue and of SYN retransmissions."""
    with open("/proc/net/netstat") as f:
        lines = [line.split() for line in f if line.startswith("TcpExt:")]
    values = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:]), strict=True))
    return {k: values.get(k, 0) for k in _NETSTAT}


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


async def _gather(label: str, coros: Sequence[Awaitable[T]]) -> list[T]:
    """Await ``coros`` (each bounded by the caller's gate), with a progress line every 500."""
    done = 0

    async def one(coro: Awaitable[T]) -> T:
        nonlocal done
        out = await coro
        done += 1
        if done % 500 == 0:
            _say(f"set-up: {done}/{len(coros)} {label}")
        return out

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def register_users(session: aiohttp.ClientSession, http: str, n: int,
                         gate: asyncio.Semaphore) -> list[tuple[str, str]]:
    """Register ``n`` users: their (token, user id)."""
    run = secrets.token_hex(3)

    async def register(i: int) -> tuple[str, str]:
        async with gate:
            body = {"username": f"gw_{run}_{i}", "password": "correct horse"}
            data = await _json(session, "POST", f"{http}{V}/auth/register", None, body, 201)
        return str(data["token"]), str(data["user"]["id"])

    return await _gather("registered", [register(i) for i in range(n)])


async def setup_guild(http: str, receivers: int, senders: int
                      ) -> tuple[list[str], list[str], str]:
    """Register users, one guild, everyone joined by invite: receiver and sender tokens and
    the channel's messages URL. Argon2 is cheap on the bench server: this is set-up."""
    gate = asyncio.Semaphore(_SETUP_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=_SETUP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens = [t for t, _ in await register_users(session, http, receivers + senders, gate)]
        owner = tokens[0]
        guild = await _json(session, "POST", f"{http}{V}/guilds", owner, {"name": "bench"}, 201)
        channels = await _json(session, "GET", f"{http}{V}/guilds/{guild['id']}/channels", owner)
        channel = next(c["id"] for c in channels if c["type"] == 0)
        invite = await _json(session, "POST", f"{http}{V}/channels/{channel}/invites", owner, {})

        async def join(token: str) -> None:
            async with gate:
                await _json(session, "POST", f"{http}{V}/invites/{invite['code']}", token)

        await _gather("joined", [join(t) for t in tokens[1:]])
    _say("")
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
            _say(f"connecting: {ready}/{len(tokens)} ready")
    results = task.result()
    _say("")
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {"ok": sum(r["ok"] for r in results), "failed": sum(r["failed"] for r in results),
            "seconds": max(r["seconds"] for r in results), "errors": errors}


# -- fanout -------------------------------------------------------------------------------------


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
            _say(f"{label}: offered {rate:,.0f} msg/s ({rate * receivers:,.0f} ev/s) | delivered "
                 f"{(count - last[0]) / (now - last[1]):,.0f} ev/s | sent {sum(p['sent'] for p in progress)}"
                 f" | errors {sum(p['errors'] for p in progress)}")
        last = (count, now)
    (user1, sys1), wait1, wall1 = server.cpu_split(), server.wait_s(), time.monotonic()
    cpu1, rss = user1 + sys1, server.rss_kib()
    batches1 = scrape(running.metrics_urls, (_BATCH_SUM, _BATCH_COUNT))
    _say(f"{label}: draining")
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


def _step_line(target: str, rate: float, step: dict[str, Any]) -> str:
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


async def fanout_target(args: argparse.Namespace, target: str, frame_bytes: int
                        ) -> dict[str, Any]:
    """Every step of the ladder against one target, then the half-saturation step."""
    n = args.receivers
    with contextlib.ExitStack() as stack:
        if target == "gateway":
            server = stack.enter_context(gateway_server(args.server_cpu, where=deploy.of(args)))
            tokens, senders, messages_url = await setup_guild(server.http, n, args.senders)
        else:
            server = stack.enter_context(peer_server(target, args.server_cpu))
            tokens, senders, messages_url = [None] * n, [], ""  # type: ignore[list-item]
        async with load_pool(args.client_cpus) as pool:
            conn = await connect(pool, server.ws_url, tokens, args.probe_every, args.concurrency)
            if conn["failed"]:
                raise SystemExit(f"{target}: {conn['failed']} receivers failed: {conn['errors']}")
            if target == "gateway":
                await pool.call(0, "sender", kind="rest", url=messages_url, tokens=senders,
                                payload_bytes=0, concurrency=args.rest_concurrency)
            else:
                await pool.call(0, "sender", kind="ws", url=server.send_url, tokens=[],
                                payload_bytes=frame_bytes, concurrency=1)
            warm = await run_step(pool, server, f"{target} warm-up", 10, n, 1.0, 5.0)
            climbed = await climb(args, pool, server, target, n, n)
        return {"receivers": n, "connect": conn, "frame_bytes": warm["frame_bytes"] or frame_bytes,
                **climbed}


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
            _say("")
            print(_step_line(target, rate, step), file=sys.stderr)
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
    _say("")
    print(f"{target:>12} half load {half_rate:,.0f} msg/s: p50 {half['p50_ms']:.2f} "
          f"p99 {half['p99_ms']:.2f} p99.9 {half['p999_ms']:.2f} ms", file=sys.stderr)
    return {"steps": steps, "saturation_events_s": best,
            "saturated_at_msg_s": next((s["offered_msg_s"] for s in steps if s["saturated"]),
                                       None), "half": half}


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    targets = args.targets
    results: dict[str, Any] = {}
    frame_bytes = args.payload_bytes or _DEFAULT_FRAME_BYTES
    for target in targets:
        results[target] = await fanout_target(args, target, frame_bytes)
        if target == "gateway" and not args.payload_bytes:
            frame_bytes = results[target]["frame_bytes"]  # peers send the gateway's frame size
    out: dict[str, Any] = {"targets": results}
    if "gateway" in results:
        g = results["gateway"]["saturation_events_s"]
        out["ratios"] = {t: g / r["saturation_events_s"] for t, r in results.items()
                         if t != "gateway" and r["saturation_events_s"]}
    return out


# -- idle and storm -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _target(args: argparse.Namespace, target: str, n: int
                  ) -> AsyncIterator[tuple[Running, list[str | None]]]:
    """The server of ``target`` and its ``n`` receivers' tokens: the gateway (as ``--deploy``
    says) with ``n`` users registered and joined to one guild, or a peer and ``n`` Nones
    (a peer receiver connects to ``/recv`` and is receiving: no IDENTIFY, no protocol)."""
    with contextlib.ExitStack() as stack:
        if target == "gateway":
            server = stack.enter_context(gateway_server(args.server_cpu, where=deploy.of(args)))
            tokens: list[str | None] = list((await setup_guild(server.http, n, 1))[0])
        else:
            server = stack.enter_context(peer_server(target, args.server_cpu))
            tokens = [None] * n
        yield server, tokens


def _peer_keys(result: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """A peer's result under its own words (connections, not sessions)."""
    return {renames.get(k, k): v for k, v in result.items()}


def _ratio(gateway: float | None, peer: float | None) -> float | None:
    return gateway / peer if gateway is not None and peer is not None and peer > 0 else None


async def idle_target(args: argparse.Namespace, target: str) -> dict[str, Any]:
    """RSS per idle session (gateway: IDENTIFIED) or connection (peer), measured at each
    quarter of ``--sessions``."""
    n = args.sessions
    async with _target(args, target, n) as (server, tokens):
        await asyncio.sleep(args.settle)
        points = [{"sessions": 0, "rss_kib": server.proc.rss_kib(), "slab_kib": slab_kib()}]
        async with load_pool(args.client_cpus) as pool:
            connects = []
            for q in range(1, 5):
                lo, hi = (q - 1) * n // 4, q * n // 4
                connects.append(await connect(pool, server.ws_url, tokens[lo:hi], 10**9,
                                              args.concurrency))
                if connects[-1]["failed"]:
                    raise SystemExit(f"idle {target}: {connects[-1]['failed']} connections "
                                     f"failed: {connects[-1]['errors']}")
                await asyncio.sleep(args.settle)
                points.append({"sessions": hi, "rss_kib": server.proc.rss_kib(),
                               "slab_kib": slab_kib()})
                print(f"idle {target}: {hi} {'sessions' if target == 'gateway' else 'connections'}"
                      f", server RSS {points[-1]['rss_kib']:,} KiB", file=sys.stderr)
            ready = sum(p["ready"] for p in await pool.all("progress"))
    first, last, mid = points[0], points[-1], points[2]
    result = {"sessions": n, "ready": ready, "points": points, "connects": connects,
              "kib_per_session": (last["rss_kib"] - first["rss_kib"]) / n,
              "kib_per_session_second_half":
                  (last["rss_kib"] - mid["rss_kib"]) / (n - mid["sessions"]),
              "slab_kib_per_socket": (last["slab_kib"] - first["slab_kib"]) / (2 * n)}
    if target == "gateway":
        return result
    result["points"] = [_peer_keys(pt, {"sessions": "connections"}) for pt in points]
    return _peer_keys(result, {"sessions": "connections", "ready": "connected",
                               "kib_per_session": "kib_per_connection",
                               "kib_per_session_second_half": "kib_per_connection_second_half"})


async def _each_target(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace, str], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``run`` for each of ``--targets`` in turn: the gateway's result (the top level of the
    scenario's JSON, as before the peers were measured) with the peers' under ``peers``."""
    out: dict[str, Any] = {}
    peers: dict[str, Any] = {}
    for target in args.targets:
        result = await run(args, target)
        if target == "gateway":
            out.update(result)
        else:
            peers[target] = result
    if peers:
        out["peers"] = peers
    return out, peers


async def idle(args: argparse.Namespace) -> dict[str, Any]:
    """Each target in turn (a fresh server and load pool each): the gateway's figures at the
    top level, as before the peers were measured; the peers' under ``peers``, and ``ratios``:
    the gateway's KiB per session over each peer's KiB per connection."""
    out, peers = await _each_target(args, idle_target)
    if peers:
        out["peers_note"] = ("no IDENTIFY: the peers have no protocol; a connection is a "
                             "websocket handshake to /recv")
        if "gateway" in args.targets:
            out["ratios"] = {t: _ratio(out["kib_per_session"], r["kib_per_connection"])
                             for t, r in peers.items()}
    return out


async def storm_target(args: argparse.Namespace, target: str) -> dict[str, Any]:
    """``--sessions`` connections dropped at once (socket aborted, no close frame), then all
    back at once: gateway sessions RESUME, peer receivers reconnect (no session to resume)."""
    n = args.sessions
    async with _target(args, target, n) as (server, tokens), \
            load_pool(args.client_cpus) as pool:
        conn = await connect(pool, server.ws_url, tokens, 10**9, args.concurrency)
        if conn["failed"]:
            raise SystemExit(f"storm {target}: {conn['failed']} connections failed: "
                             f"{conn['errors']}")
        await asyncio.sleep(args.settle)
        cpu0, rss0, tcp0 = server.proc.cpu_s(), server.proc.rss_kib(), tcp_counters()
        _say(f"storm {target}: dropping and {'resuming' if target == 'gateway' else 'reconnecting'}"
             f" {conn['ok']} {'sessions' if target == 'gateway' else 'connections'}")
        parts = await pool.all("storm", url=server.ws_url, concurrency=args.storm_concurrency,
                               retries=args.retries)
        cpu1, rss1, tcp1 = server.proc.cpu_s(), server.proc.rss_kib(), tcp_counters()
        _say("")
    start = min(p["start_ns"] for p in parts)
    last = max(p["last_ns"] for p in parts)
    times = sorted(t for p in parts for t in p["ms"])
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    result = {"sessions": sum(p["sessions"] for p in parts), "connect": conn,
              "resumed": sum(p["resumed"] for p in parts), "all_resumed_s": (last - start) / 1e9,
              "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99),
              "errors": errors, "storm_concurrency": args.storm_concurrency,
              "server_cpu_s": cpu1 - cpu0, "server_rss_kib": [rss0, rss1],
              "tcp_counters": {k: tcp1[k] - tcp0[k] for k in tcp0}}
    print(f"storm {target}: {result['resumed']}/{result['sessions']} back after "
          f"{result['all_resumed_s']:.2f} s, server CPU {result['server_cpu_s']:.1f} s, "
          f"errors {errors or 'none'}", file=sys.stderr)
    if target == "gateway":
        return result
    return _peer_keys(result, {"sessions": "connections", "resumed": "reconnected",
                               "all_resumed_s": "all_back_s"})


async def storm(args: argparse.Namespace) -> dict[str, Any]:
    """Each target in turn, as ``idle`` does: the gateway's figures at the top level, the
    peers' under ``peers``; ``ratios``: the gateway's time until all resumed over each peer's
    until all reconnected; ``cpu_ratios``: the same of the server CPU seconds."""
    out, peers = await _each_target(args, storm_target)
    if peers:
        out["peers_note"] = ("the peers only reconnect (no protocol, no session to resume): "
                             "the comparison is the time until every connection is receiving "
                             "again")
        if "gateway" in args.targets:
            out["ratios"] = {t: _ratio(out["all_resumed_s"], r["all_back_s"])
                             for t, r in peers.items()}
            out["cpu_ratios"] = {t: _ratio(out["server_cpu_s"], r["server_cpu_s"])
                                 for t, r in peers.items()}
    return out


# -- the command ----------------------------------------------------------------------------------


def _cpus(text: str) -> list[int | None]:
    return [None if c in ("", "none") else int(c) for c in text.split(",")]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n")[0])
    deploy.add_arguments(p)
    p.add_argument("scenario", choices=("fanout", "guilds", "idle", "storm", "report"))
    p.add_argument("--receivers", type=int, default=1000, help="fanout: sessions in the channel")
    p.add_argument("--mix", default="1000x2,100x20,10x200",
                   help="guilds: guild sizes, SIZExCOUNT comma-separated")
    p.add_argument("--users", type=int, default=0,
                   help="guilds: receiver accounts (default: a third of the memberships, at "
                        "least the largest guild: 2,000 for the default mix)")
    p.add_argument("--zipf", type=float, default=1.1,
                   help="guilds: a guild's share of messages is 1/rank**ZIPF (rank by size)")
    p.add_argument("--private-share", type=float, default=0.3,
                   help="guilds: share of messages to the private (role-only) channels")
    p.add_argument("--seed", type=int, default=1, help="guilds: seed of the memberships drawn")
    p.add_argument("--sessions", type=int, default=None, help="idle (10000) / storm (5000)")
    p.add_argument("--targets", default="gateway," + ",".join(PEERS),
                   help="fanout, idle, storm: the servers measured, in this order "
                        "(gateway and the peers: " + ", ".join(PEERS) + ")")
    p.add_argument("--rates", default="", help="fanout, guilds: offered msg/s, comma-separated")
    p.add_argument("--max-steps", type=int, default=20,
                   help="fanout, guilds: steps of the ×1.25 ladder")
    p.add_argument("--duration", type=float, default=5.0, help="fanout, guilds: seconds per step")
    p.add_argument("--drain", type=float, default=15.0,
                   help="fanout, guilds: max seconds to drain a step")
    p.add_argument("--max-p99-ms", type=float, default=500.0, help="fanout, guilds: saturation p99")
    p.add_argument("--confirm", type=int, default=1,
                   help="fanout, guilds: saturated steps re-run once to confirm (this many in all)")
    p.add_argument("--probe-every", type=int, default=10,
                   help="fanout, guilds: time 1 receiver in N")
    p.add_argument("--senders", type=int, default=8, help="fanout: REST sender accounts")
    p.add_argument("--rest-concurrency", type=int, default=64, help="REST requests in flight")
    p.add_argument("--payload-bytes", type=int, default=0,
                   help="peers' message size (default: the gateway's MESSAGE_CREATE frame)")
    p.add_argument("--concurrency", type=int, default=200, help="connects in flight")
    p.add_argument("--storm-concurrency", type=int, default=0, help="storm: resumes in flight (0: all)")
    p.add_argument("--retries", type=int, default=2, help="storm: reconnects after a socket error")
    p.add_argument("--settle", type=float, default=2.0, help="idle/storm: seconds before measuring")
    p.add_argument("--server-cpu", type=lambda s: None if s == "none" else int(s), default=0)
    p.add_argument("--client-cpus", type=_cpus, default=[1], help="one load process per CPU")
    p.add_argument("--json", type=Path, default=None,
                   help="results file (default bench/results/<scenario>[_<deployment>].json)")
    p.add_argument("--no-report", action="store_true", help="do not touch RESULTS.md and the plot")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "bench.gateway") -> int:
    """``prog`` is what the exact command in the results says was run (``python -m prog``)."""
    args = _parser().parse_args(argv)
    if args.scenario == "report":
        report.write(RESULTS_DIR, report.RESULTS_MD)
        return 0
    args.sessions = args.sessions or (10_000 if args.scenario == "idle" else 5_000)
    if args.scenario in ("fanout", "idle", "storm"):
        args.targets = [t for t in args.targets.split(",") if t]
        unknown = [t for t in args.targets if t != "gateway" and t not in PEERS]
        if unknown or not args.targets:
            raise SystemExit(f"--targets {','.join(args.targets)}: each one of gateway, "
                             f"{', '.join(PEERS)}")
    client_cpu = args.client_cpus[0]
    if client_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {client_cpu})  # this controller shares the load's core
    raise_nofile()  # inherited by the server and the load processes
    # SIGTERM unwinds like ^C, so the server and load processes are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    meta = gateway_report.machine(argv if argv is not None else sys.argv[1:], prog)
    import uvloop

    where = deploy.of(args)
    from bench.guilds import guilds  # it builds on this module's helpers

    scenario = {"fanout": fanout, "guilds": guilds, "idle": idle, "storm": storm}[args.scenario]
    result = {"scenario": args.scenario, **meta, "deployment": where.describe(),
              "server_cpu": args.server_cpu, "client_cpus": args.client_cpus,
              **uvloop.run(scenario(args))}
    report.save(result, args.json or RESULTS_DIR / where.results_name(args.scenario),
                not args.no_report)
    print(gateway_report.summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
