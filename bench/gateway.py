"""Gateway benchmarks, with peer servers measured in the same run.

Usage::

    python -m bench.gateway fanout [--receivers 1000] [--rates 25,50,100] [--duration 5]
                                   [--targets gateway,bare_picows,aiohttp,websockets]
                                   [--fixed-rates 20,40,60,100] [--send-via rest,op50]
                                   [--no-ladder]
    python -m bench.gateway guilds [--mix 1000x2,100x20,10x200] [--zipf 1.1] [--rates ...]
    python -m bench.gateway idle   [--sessions 10000] [--targets gateway,bare_picows,...]
                                   [--layout one-guild|small-guilds] [--small-guilds 10x20]
                                   [--heartbeat-ms 10000]
    python -m bench.gateway storm  [--sessions 5000] [--targets gateway,bare_picows,...]
    python -m bench.gateway report     # RESULTS.md's sections and plots from bench/results/

(``python -m bench SCENARIO ...`` is the same.) The server under test (``python -m gateway.cli
serve`` as ``--deploy`` says, see ``bench.deploy``: ``embedded``, one worker, free ports, a
temporary data directory; ``workers2``, two workers with Redis and PostgreSQL; or a
``bench.peers`` server) runs pinned to ``--server-cpu`` with ``taskset``; the load
(``bench.loadclient``, one process per ``--client-cpus`` entry) and this controller on the
other core. Server CPU% and RSS are read from ``/proc/<pid>`` (the process and its children:
with workers, the supervisor and every worker).

- ``fanout``: ``--receivers`` sessions in one guild channel. First the fixed offered rates
  of ``--fixed-rates`` (everyday load: 20/40/60/100 msg/s, ``--fixed-duration`` s each): the
  gateway once per way in of ``--send-via`` (``rest``: POST by ``--senders`` accounts;
  ``op50``: op 50 from ``--op50-senders`` sessions, which receive nothing), each peer from
  its one sender socket; each step has p50/p99/p99.9, the server's CPU per delivery (user and
  system apart) and, for the gateway, the per-message timeline of the step
  (``/timeline`` on its ops port; ``--trace-every``, ``core.timeline``). Then the ladder
  (unless ``--no-ladder``; the gateway's by REST): the offered rate steps up (``--rates``,
  else ×1.25 from 25 msg/s) until a step saturates: deliveries lag the
  offer by more than 10%, p99 goes over ``--max-p99-ms``, or sessions drop. Then one step at
  half the saturated deliveries gives the latency "at half load". Every target gets the same
  ladder, the same receive path, and messages of the size the gateway's MESSAGE_CREATE had.
  With ``--no-ladder`` the results go to ``fixedrate.json`` instead of ``fanout.json``.
- ``guilds`` (its set-up and audit in ``bench.guilds``): guilds of mixed sizes (``--mix``),
  users in several of them, a role-only private channel in each; messages go to a guild
  drawn by Zipf over size rank, 30% to its private channel (``--private-share``): the fanout
  ladder, where a message's deliveries depend on where it went, and every receiver's count is
  checked against what it may see. No peers.
- ``idle``: RSS growth per IDENTIFIED idle session, measured at quarters up to ``--sessions``;
  for each peer of ``--targets``, per idle connection (no IDENTIFY: the peers have no
  protocol), the same way. ``--layout one-guild`` (the default): every user in one guild
  (over ``large_threshold``: GUILD_CREATE lists almost no members); ``small-guilds``: every
  user in ``--small-guilds`` GUILDSxSIZE guilds (``bench.small_guilds``), whose GUILD_CREATEs
  carry every member and presence. The gateway runs with a ``--heartbeat-ms`` interval and
  each quarter is measured only once every session has had a heartbeat ACKed: a heartbeat's
  ``d`` lets the server drop the READY and GUILD_CREATEs it kept for a RESUME, so what is
  measured is a session's lasting cost, not its first minute's.
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

This module holds the scenarios fanout, idle and storm and the command; what they share with
``bench.guilds`` (the servers under test, set-up, connecting, a step of load and the ladder)
is ``bench.harness``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench import deploy, gateway_report, report
from bench.compressed import fanout_compressed
from bench.guilds import guilds
from bench.harness import (
    PEERS,
    Running,
    climb,
    connect,
    gateway_server,
    load_pool,
    peer_server,
    percentile,
    run_step,
    saturated,
    say,
    setup_guild,
    step_line,
)
from bench.loadclient import LoadPool, raise_nofile
from bench.small_guilds import parse_layout, setup_small_guilds

__all__ = ["main"]

_REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = _REPO / "bench" / "results"
_DEFAULT_FRAME_BYTES = 700


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


# -- fanout -------------------------------------------------------------------------------------


def _timeline(server: Running, since: Sequence[int] = ()) -> list[dict[str, Any]]:
    """Each gateway worker's ``/timeline?since=`` (``core.timeline``): per-stage percentiles
    of the messages it traced after its ``since[i]``-th (``seq``); [] for a peer."""
    import urllib.request

    out = []
    for i, url in enumerate(server.metrics_urls):
        after = since[i] if i < len(since) else 0
        with urllib.request.urlopen(f"{url.rsplit('/', 1)[0]}/timeline?since={after}",
                                    timeout=5) as resp:
            out.append(json.loads(resp.read()))
    return out


async def _fixed_step(args: argparse.Namespace, pool: LoadPool, server: Running, target: str,
                      kind: str, rate: float) -> dict[str, Any]:
    """One fixed offered rate, with the server's timeline of it (the gateway's)."""
    n = args.receivers
    before = [t["seq"] for t in _timeline(server)]
    step = await run_step(pool, server, f"{target} {kind} fixed", rate, n, args.fixed_duration,
                          args.drain)
    step["saturated"] = saturated(step, n, args.max_p99_ms)
    say("")
    print(step_line(f"{target}/{kind}", rate, step), file=sys.stderr)
    if before:
        # The embedded deployment has one worker; with several, each traces what it wrote.
        timelines = _timeline(server, before)
        step["timeline"] = timelines[0]
        if len(timelines) > 1:
            step["timeline_workers"] = timelines
        tl = step["timeline"]
        print("    timeline p50/p99 ms: " + "  ".join(
            f"{name} {v['p50']:.2f}/{v['p99']:.2f}" for name, v in
            [*tl.get("stages", {}).items(), *tl.get("spans", {}).items()]), file=sys.stderr)
    return step


def _variant_env(target: str) -> dict[str, str]:
    """``gateway:GIL_SWITCH_INTERVAL_MS=0.5;...`` as environment variables."""
    _, _, spec = target.partition(":")
    pairs = [item.split("=", 1) for item in spec.split(";") if item]
    if any(len(p) != 2 for p in pairs):
        raise SystemExit(f"--targets {target}: gateway:KEY=VALUE;KEY=VALUE")
    return {f"DISCORD_ARCH_{k.upper()}": v for k, v in pairs}


async def fanout_target(args: argparse.Namespace, target: str, frame_bytes: int
                        ) -> dict[str, Any]:
    """The fixed rates against one target (the gateway: once per ``--send-via``), then
    every step of the ladder and the half-saturation step (unless ``--no-ladder``)."""
    n = args.receivers
    with contextlib.ExitStack() as stack:
        if target.partition(":")[0] == "gateway":
            # gateway:KEY=VALUE,...: the gateway with those DISCORD_ARCH_ settings (a variant
            # measured beside the plain one in the same run).
            env = {"DISCORD_ARCH_TRACE_SAMPLE_EVERY": str(args.trace_every),
                   **_variant_env(target)}
            server = stack.enter_context(gateway_server(args.server_cpu, env, deploy.of(args)))
            accounts = max(args.senders, args.op50_senders if "op50" in args.send_via else 0)
            tokens, senders, messages_url = await setup_guild(server.http, n, accounts)
            kinds = list(args.send_via)
        else:
            server = stack.enter_context(peer_server(target, args.server_cpu))
            tokens, senders, messages_url = [None] * n, [], ""  # type: ignore[list-item]
            kinds = ["ws"]
        ladder_kind = ("rest" if target.startswith("gateway") else "ws") if args.ladder else ""
        out: dict[str, Any] = {"receivers": n, "frame_bytes": frame_bytes}
        async with load_pool(args.client_cpus) as pool:

            async def open_sender(kind: str) -> None:
                if kind == "rest":
                    await pool.call(0, "sender", kind="rest", url=messages_url,
                                    tokens=senders[:args.senders], payload_bytes=0,
                                    concurrency=args.rest_concurrency)
                elif kind == "op50":
                    await pool.call(0, "sender", kind="op50", url=messages_url,
                                    tokens=senders[:args.op50_senders], payload_bytes=0,
                                    concurrency=1)
                else:
                    await pool.call(0, "sender", kind="ws", url=server.send_url, tokens=[],
                                    payload_bytes=frame_bytes, concurrency=1)
                warm = await run_step(pool, server, f"{target} {kind} warm-up", 10, n, 1.0, 5.0)
                out["frame_bytes"] = warm["frame_bytes"] or out["frame_bytes"]

            conn = await connect(pool, server.ws_url, tokens, args.probe_every, args.concurrency)
            if conn["failed"]:
                raise SystemExit(f"{target}: {conn['failed']} receivers failed: {conn['errors']}")
            out["connect"] = conn
            if not args.fixed_rates_list:
                kinds = []
            kinds.sort(key=lambda k: k == ladder_kind)  # the ladder's way in last: kept open
            opened = ""
            for kind in kinds:
                await open_sender(kind)
                opened = kind
                out.setdefault("fixed", {})[kind] = [
                    await _fixed_step(args, pool, server, target, kind, rate)
                    for rate in args.fixed_rates_list]
            if ladder_kind:
                if opened != ladder_kind:
                    await open_sender(ladder_kind)
                out.update(await climb(args, pool, server, target, n, n))
        return out


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    targets = args.targets
    results: dict[str, Any] = {}
    frame_bytes = args.payload_bytes or _DEFAULT_FRAME_BYTES
    for target in targets:
        results[target] = await fanout_target(args, target, frame_bytes)
        if target == "gateway" and not args.payload_bytes:
            frame_bytes = results[target]["frame_bytes"]  # peers send the gateway's frame size
    out: dict[str, Any] = {"targets": results}
    if args.fixed_rates_list:
        out["fixed_rates"] = args.fixed_rates_list
        out["trace_every"] = args.trace_every
    if "gateway" in results and "saturation_events_s" in results["gateway"]:
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
            env = {"DISCORD_ARCH_HEARTBEAT_INTERVAL_MS": str(args.heartbeat_ms)} \
                if args.scenario == "idle" else None
            server = stack.enter_context(gateway_server(args.server_cpu, env, deploy.of(args)))
            if args.scenario == "idle" and args.layout == "small-guilds":
                tokens: list[str | None] = list(await setup_small_guilds(
                    server.http, n, *parse_layout(args.small_guilds)))
            else:
                tokens = list((await setup_guild(server.http, n, 1))[0])
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
                acked = await _acked(pool, hi, args.heartbeat_ms) if target == "gateway" else None
                await asyncio.sleep(args.settle)
                points.append({"sessions": hi, "rss_kib": server.proc.rss_kib(),
                               "slab_kib": slab_kib(), **({"acked": acked} if acked else {})})
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
        small = args.layout == "small-guilds"
        return {**result, "layout": args.layout, "heartbeat_interval_ms": args.heartbeat_ms,
                **({"small_guilds": args.small_guilds} if small else {})}
    result["points"] = [_peer_keys(pt, {"sessions": "connections"}) for pt in points]
    return _peer_keys(result, {"sessions": "connections", "ready": "connected",
                               "kib_per_session": "kib_per_connection",
                               "kib_per_session_second_half": "kib_per_connection_second_half"})


async def _acked(pool: LoadPool, sessions: int, interval_ms: int) -> int:
    """Wait until each of the pool's ``sessions`` has had a heartbeat ACKed (the load client
    sends its last seq in each), at most three intervals and 10 s; how many have."""
    deadline = asyncio.get_running_loop().time() + 3 * interval_ms / 1000 + 10
    while True:
        acked = sum(p["acked"] for p in await pool.all("progress"))
        if acked >= sessions or asyncio.get_running_loop().time() > deadline:
            return int(acked)
        await asyncio.sleep(0.5)


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
        say(f"storm {target}: dropping and {'resuming' if target == 'gateway' else 'reconnecting'}"
            f" {conn['ok']} {'sessions' if target == 'gateway' else 'connections'}")
        parts = await pool.all("storm", url=server.ws_url, concurrency=args.storm_concurrency,
                               retries=args.retries)
        cpu1, rss1, tcp1 = server.proc.cpu_s(), server.proc.rss_kib(), tcp_counters()
        say("")
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
    p.add_argument("--layout", choices=("one-guild", "small-guilds"), default="one-guild",
                   help="idle: every user in one guild, or in --small-guilds small guilds")
    p.add_argument("--small-guilds", default="10x20",
                   help="idle --layout small-guilds: GUILDSxSIZE, the guilds each user is in "
                        "and their members")
    p.add_argument("--heartbeat-ms", type=int, default=10_000,
                   help="idle: the gateway's heartbeat interval (DISCORD_ARCH_HEARTBEAT_"
                        "INTERVAL_MS); each quarter is measured after every session's first ACK")
    p.add_argument("--targets", default="gateway," + ",".join(PEERS),
                   help="fanout, idle, storm: the servers measured, in this order "
                        "(gateway and the peers: " + ", ".join(PEERS) + "); fanout also "
                        "takes gateway:KEY=VALUE;... (the gateway with those DISCORD_ARCH_ "
                        "settings, beside the plain one)")
    p.add_argument("--rates", default="", help="fanout, guilds: offered msg/s, comma-separated")
    p.add_argument("--fixed-rates", default="20,40,60,100",
                   help="fanout: fixed offered msg/s run before the ladder ('' for none)")
    p.add_argument("--fixed-duration", type=float, default=10.0,
                   help="fanout: seconds per fixed rate")
    p.add_argument("--send-via", default="rest,op50",
                   help="fanout: the gateway's ways in at the fixed rates: rest, op50")
    p.add_argument("--op50-senders", type=int, default=40,
                   help="fanout: op 50 sender sessions (120 payloads each per 60 s)")
    p.add_argument("--trace-every", type=int, default=1,
                   help="fanout: the gateway's DISCORD_ARCH_TRACE_SAMPLE_EVERY (0: no timeline)")
    p.add_argument("--no-ladder", dest="ladder", action="store_false",
                   help="fanout: fixed rates only (results in fixedrate.json)")
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
    p.add_argument("--compress", default="",
                   help="fanout: compressed fanout instead (bench.compressed), variants "
                        "none,zlib-stream[:LEVEL],zstd-stream[:LEVEL] at --rates (20,40)")
    p.add_argument("--repeat", type=int, default=1,
                   help="fanout --compress: runs of every variant, interleaved")
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
    args.fixed_rates_list = [float(r) for r in args.fixed_rates.split(",") if r]
    args.send_via = [k for k in args.send_via.split(",") if k]
    if set(args.send_via) - {"rest", "op50"} or not args.send_via:
        raise SystemExit("--send-via: rest, op50 or both")
    if args.scenario in ("fanout", "idle", "storm"):
        args.targets = [t for t in args.targets.split(",") if t]
        unknown = [t for t in args.targets if t.partition(":")[0] != "gateway"
                   and t not in PEERS]
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
    scenario = {"fanout": fanout, "guilds": guilds, "idle": idle, "storm": storm}[args.scenario]
    if args.scenario == "fanout" and args.compress:
        scenario = fanout_compressed  # its own results file: compressed.json
    result = {"scenario": args.scenario, **meta, "deployment": where.describe(),
              "server_cpu": args.server_cpu, "client_cpus": args.client_cpus,
              **uvloop.run(scenario(args))}
    name = where.results_name("compressed" if scenario is fanout_compressed else args.scenario)
    if args.scenario == "fanout" and not args.ladder and scenario is not fanout_compressed:
        # Not fanout*.json: the report takes those for runs of the ladder.
        name = name.replace("fanout", "fixedrate", 1)
    if args.scenario == "idle" and args.layout == "small-guilds":
        # Not idle_*.json: the report takes those for deployments of the one-guild layout.
        name = name.replace("idle", "idle-small-guilds", 1)
    report.save(result, args.json or RESULTS_DIR / name, not args.no_report)
    if scenario is not fanout_compressed:  # its figures were printed per step
        print(gateway_report.summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
