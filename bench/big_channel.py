"""10,000-member channels: one channel, every member connected, the loop never stalled.

Usage::

    python -m bench bigchannel [--members 10000] [--deploy embedded|workers2]
                               [--slices 0,3] [--rates 1,2,5,10] [--duration 10]
                               [--heartbeat-ms 5000] [--lag-ms 2] [--intents N] [--subscribe]

(``python -m bench.big_channel`` is the same.) For each value of ``--slices`` (the server's
``gateway_flush_slice_ms``: 0 writes a fanout round at once, as before slicing; 3 is the
default), in turn and in the same run: a fresh server (``bench.deploy``: one worker, or two
with ``workers2``, pinned to ``--server-cpu``) with ``--members`` users in one guild, all of
them connected (IDENTIFY with GUILDS | GUILD_MESSAGES, as the fanout bench), then messages
to its channel at each of ``--rates`` msg/s for ``--duration`` s (every message is
``--members`` deliveries). The server probes its own loop lag (``loop_lag_interval_ms`` =
``--lag-ms``, read from each worker's ``/metrics``) and heartbeats at ``--heartbeat-ms``; every
receiver heartbeats at that interval (``bench.loadclient``) and times each ACK.

Per phase (the connect storm, then each rate):

- loop lag per worker: samples, p99 and max (the histogram's bucket bounds; the max exact
  when it was set during the phase), and samples over 10 ms (the target: none);
- heartbeats: ACK round trips (p50/p99/max), heartbeats sent while the previous one was
  unanswered (a client's zombie check), connections closed with 4009 or otherwise;
- the connect storm: seconds until all READY, what every session received after READY
  besides MESSAGE_CREATE (by event name), bus events the hubs handled (presence updates:
  one per user and guild) and frames the server wrote per session; with ``--intents 48899``
  (the web client's, GUILD_PRESENCES among them) and ``--subscribe`` (the web client's op 8
  then op 14 in a large guild) it measures the presence storm of user clients;
- each rate: deliveries/s, 100% delivered (completion), p50/p99/max send → receive
  latency of the probe receivers, server CPU.

Results: ``bench/results/bigchannel[_workers2].json`` and a summary on stdout; RESULTS.md's
"10,000-member channels" section quotes them (written by hand).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import deploy, gateway_report
from bench.harness import (
    connect,
    gateway_server,
    load_pool,
    percentile,
    run_step,
    say,
    setup_guild,
)
from bench.loadclient import LoadPool, raise_nofile

__all__ = ["lag_summary", "main"]

_REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = _REPO / "bench" / "results"
_LAG = "discord_arch_loop_lag"
_LAG_MAX = "discord_arch_loop_lag_max_seconds"
_GC_FULL = "discord_arch_gc_full_collections_total"
_GC_FULL_S = "discord_arch_gc_full_seconds_total"
_GC_FULL_MAX = "discord_arch_gc_full_max_seconds"
_COUNTERS = ("discord_arch_hub_events_total", "discord_arch_gateway_frames_out_total",
             "discord_arch_gateway_frames_in_total")
STALL_S = 0.010  # issue 16's target: no loop stall over 10 ms


def scrape_all(url: str) -> dict[str, float]:
    """Every sample of one worker's ``/metrics`` (name with its labels -> value)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def lag_summary(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """One worker's loop lag between two scrapes: samples, p99 and max as bucket bounds (the
    max exact when the all-time max rose meanwhile), samples over ``STALL_S``; the same of
    the lag in the loop thread's CPU time (``cpu``: without the time another process had the
    core), and the full garbage collections."""
    out = _lag(before, after, _LAG, _LAG_MAX)
    if out.get("samples"):
        out["cpu"] = _lag(before, after, _LAG + "_cpu", "discord_arch_loop_lag_cpu_max_seconds")
    return out


def _lag(before: dict[str, float], after: dict[str, float], name_: str, max_name: str
         ) -> dict[str, Any]:
    buckets = []
    for name, value in after.items():
        if name.startswith(name_ + "_seconds_bucket{"):
            le = name.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets.append((bound, value - before.get(name, 0.0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    if not total:
        return {"samples": 0}
    p99 = next(b for b, c in buckets if c >= 0.99 * total)
    top = next(b for b, c in buckets if c >= total)  # the bucket holding the largest sample
    at_10ms = next((c for b, c in buckets if b >= STALL_S), total)
    max_before, max_after = before.get(max_name, 0.0), after.get(max_name, 0.0)
    gc_max_before, gc_max_after = before.get(_GC_FULL_MAX, 0.0), after.get(_GC_FULL_MAX, 0.0)
    gc = {"gc_full": int(after.get(_GC_FULL, 0.0) - before.get(_GC_FULL, 0.0)),
          "gc_full_ms": 1000 * (after.get(_GC_FULL_S, 0.0) - before.get(_GC_FULL_S, 0.0)),
          "gc_full_max_ms": gc_max_after * 1000 if gc_max_after > gc_max_before else None}
    return {**gc, "samples": int(total), "p99_le_ms": p99 * 1000, "max_le_ms": top * 1000,
            "max_ms": max_after * 1000 if max_after > max_before else None,
            "over_10ms": int(total - at_10ms),
            "mean_ms": 1000 * (after.get(name_ + "_seconds_sum", 0.0)
                               - before.get(name_ + "_seconds_sum", 0.0)) / total}


def _counters(before: list[dict[str, float]], after: list[dict[str, float]]) -> dict[str, float]:
    return {name.removeprefix("discord_arch_").removesuffix("_total"):
            sum(a.get(name, 0.0) - b.get(name, 0.0) for b, a in zip(before, after, strict=True))
            for name in _COUNTERS}


async def _beats(pool: LoadPool) -> dict[str, Any]:
    """The heartbeats and dispatches since the last call, merged over the pool."""
    parts = await pool.all("beats")
    rtts = array.array("q")
    dispatches: dict[str, int] = {}
    ended: dict[str, int] = {}
    for p in parts:
        rtts.frombytes(p["rtt_ns"])
        for k, v in p["dispatches"].items():
            dispatches[k] = dispatches.get(k, 0) + v
        for k, v in p["ended"].items():
            ended[k] = ended.get(k, 0) + v
    ms = sorted(x / 1e6 for x in rtts)
    return {"acks": len(ms), "ack_p50_ms": percentile(ms, 0.5), "ack_p99_ms": percentile(ms, 0.99),
            "ack_max_ms": ms[-1] if ms else 0.0, "missed": sum(p["missed"] for p in parts),
            "closed_4009": ended.get("close 4009", 0), "ended": ended,
            "connected": sum(p["connected"] for p in parts), "dispatches": dispatches}


class Phase:
    """Scrapes of every worker and the server's CPU at the start of a phase."""

    def __init__(self, urls: Sequence[str], server: Any) -> None:
        self.urls, self.server = urls, server
        self.metrics = [scrape_all(u) for u in urls]
        self.cpu, self.wall = sum(server.proc.cpu_split()), time.monotonic()

    def end(self) -> dict[str, Any]:
        after = [scrape_all(u) for u in self.urls]
        cpu, wall = sum(self.server.proc.cpu_split()), time.monotonic()
        return {"loop_lag": [lag_summary(b, a) for b, a in zip(self.metrics, after, strict=True)],
                "server": _counters(self.metrics, after),
                "server_cpu_s": cpu - self.cpu, "seconds": wall - self.wall}


async def variant(args: argparse.Namespace, slice_ms: float) -> dict[str, Any]:
    """One server with ``gateway_flush_slice_ms`` = ``slice_ms``: connect, then each rate."""
    n = args.members
    env = {"DISCORD_ARCH_GATEWAY_FLUSH_SLICE_MS": str(slice_ms),
           "DISCORD_ARCH_LOOP_LAG_INTERVAL_MS": str(args.lag_ms),
           "DISCORD_ARCH_HEARTBEAT_INTERVAL_MS": str(args.heartbeat_ms)}
    out: dict[str, Any] = {"flush_slice_ms": slice_ms, "members": n}
    with gateway_server(args.server_cpu, env, deploy.of(args)) as server:
        tokens, senders, messages_url = await setup_guild(server.http, n, args.senders)
        urls = server.metrics_urls
        async with load_pool(args.client_cpus) as pool:
            if args.intents is not None:
                await pool.all("intents", intents=args.intents)
            if args.subscribe:
                await pool.all("lazy", lazy=True)
            phase = Phase(urls, server)
            conn = await connect(pool, server.ws_url, tokens, args.probe_every, args.concurrency)
            await asyncio.sleep(args.settle)
            out["connect"] = {**conn, **phase.end(), **await _beats(pool)}
            if conn["failed"]:
                raise SystemExit(f"bigchannel: {conn['failed']} receivers failed: "
                                 f"{conn['errors']}")
            _print_phase(f"slice {slice_ms:g} ms connect", out["connect"])
            await pool.call(0, "sender", kind="rest", url=messages_url, tokens=senders,
                            payload_bytes=0, concurrency=args.rest_concurrency)
            await run_step(pool, server, "warm-up", 1, n, 2.0, args.drain)
            await _beats(pool)
            out["rates"] = []
            for rate in (float(r) for r in args.rates.split(",")):
                phase = Phase(urls, server)
                step = await run_step(pool, server, f"slice {slice_ms:g} ms, {rate:g} msg/s",
                                      rate, n, args.duration, args.drain)
                say("")
                out["rates"].append({**step, **phase.end(), **await _beats(pool)})
                _print_phase(f"slice {slice_ms:g} ms {rate:g} msg/s", out["rates"][-1])
    return out


def _print_phase(label: str, p: dict[str, Any]) -> None:
    lags = ", ".join(
        f"p99 <= {lag['p99_le_ms']:g} ms, max {_max(lag)}, over 10 ms: {lag['over_10ms']}, "
        f"full GCs {lag['gc_full']} ({lag['gc_full_ms']:.0f} ms); in CPU time: p99 <= "
        f"{lag['cpu']['p99_le_ms']:g} ms, max {_max(lag['cpu'])}, over 10 ms: "
        f"{lag['cpu']['over_10ms']}"
        if lag.get("samples") else "no samples" for lag in p["loop_lag"])
    extra = (f"delivered {p['delivered_events_s']:,.0f}/s ({100 * p['completion']:.2f}%), "
             f"p50 {p['p50_ms']:.1f} p99 {p['p99_ms']:.1f} max {p['max_ms']:.1f} ms, "
             if "delivered_events_s" in p else f"{p['seconds']:.1f} s, ")
    print(f"{label}: {extra}loop lag [{lags}]; heartbeats {p['acks']} ACKs p99 "
          f"{p['ack_p99_ms']:.1f} max {p['ack_max_ms']:.1f} ms, missed {p['missed']}, 4009 "
          f"{p['closed_4009']}, connected {p['connected']}", file=sys.stderr)


def _max(lag: dict[str, Any]) -> str:
    return f"{lag['max_ms']:.1f} ms" if lag.get("max_ms") else f"<= {lag['max_le_ms']:g} ms"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench bigchannel",
                                description=__doc__.split("\n")[0])
    deploy.add_arguments(p)
    p.add_argument("--members", type=int, default=10_000, help="members, all connected")
    p.add_argument("--slices", default="0,3",
                   help="gateway_flush_slice_ms of each server in turn (0: rounds at once)")
    p.add_argument("--rates", default="1,2,5,10", help="msg/s, each for --duration s")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--drain", type=float, default=15.0)
    p.add_argument("--heartbeat-ms", type=int, default=5000,
                   help="the server's heartbeat interval: every receiver heartbeats at it")
    p.add_argument("--lag-ms", type=float, default=2.0, help="the server's loop-lag probe period")
    p.add_argument("--intents", type=int, default=None,
                   help="the receivers' IDENTIFY intents (default GUILDS | GUILD_MESSAGES, 513; "
                        "the web client's: 48,899, with GUILD_PRESENCES and GUILD_MEMBERS)")
    p.add_argument("--subscribe", action="store_true",
                   help="receivers act as the web client in a large guild: after READY, op 8 "
                        "for the first 100 members with presences, then op 14 following them")
    p.add_argument("--senders", type=int, default=4, help="REST sender accounts")
    p.add_argument("--rest-concurrency", type=int, default=16, help="REST requests in flight")
    p.add_argument("--probe-every", type=int, default=50, help="time 1 receiver in N")
    p.add_argument("--concurrency", type=int, default=200, help="connects in flight")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the last READY")
    p.add_argument("--server-cpu", type=lambda s: None if s == "none" else int(s), default=0)
    p.add_argument("--client-cpus", type=lambda s: [None if c in ("", "none") else int(c)
                                                    for c in s.split(",")], default=[1])
    p.add_argument("--json", type=Path, default=None,
                   help="results file (default bench/results/bigchannel[_<deployment>].json)")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "bench.big_channel") -> int:
    args = _parser().parse_args(argv)
    client_cpu = args.client_cpus[0]
    if client_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {client_cpu})
    raise_nofile()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    meta = gateway_report.machine(argv if argv is not None else sys.argv[1:], prog)
    import uvloop

    where = deploy.of(args)

    async def run() -> list[dict[str, Any]]:
        return [await variant(args, float(s)) for s in args.slices.split(",")]

    result = {"scenario": "bigchannel", **meta, "deployment": where.describe(),
              "server_cpu": args.server_cpu, "client_cpus": args.client_cpus,
              "heartbeat_ms": args.heartbeat_ms, "lag_ms": args.lag_ms,
              "variants": uvloop.run(run())}
    path = args.json or RESULTS_DIR / where.results_name("bigchannel")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
