"""One message to 1,000 receivers spread over 1, 2 and 3 hosts, the same workers in total.

Usage (root: the hosts are network namespaces, ``bench.netns``)::

    python -m bench.cross_hosts [--receivers 1000] [--workers 6] [--hosts 1,2,3]
                                [--rate 5] [--duration 10] [--client-cpus none]

One lab for the run: a store host (its own Redis and PostgreSQL), three gateway hosts and a
client host on a private bridge; this process joins the client host, so its load processes
(``bench.loadclient``) do too. Then for each host count H, in turn: H hosts run
``discord-arch serve --workers W/H --node-id N`` (W = ``--workers``) on that PostgreSQL and
Redis; a new guild of ``--receivers`` users, receiver i connected straight to host i % H's
gateway port (no balancer: its hop would share the 2 cores and blur what the hosts do); one
REST sender posts to host 1 at ``--rate`` msg/s for ``--duration`` s, each message delivered to
every receiver, so every event crosses Redis to the workers of every host. Per host count:
deliveries/s, completion, p50/p99 send → receive (the probe receivers), and Redis's CPU
(``INFO CPU``, user + system) over the step, per delivered event and per message published.

Results: ``bench/results/cross_hosts.json`` and a table on stdout; RESULTS.md's "Across
hosts" section quotes them (written by hand).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis import Redis

from bench.harness import connect, load_pool, percentile, say, setup_guild
from bench.loadclient import LoadPool, raise_nofile
from bench.netns import Lab, join, preflight, start_stores, stop_all

ROOT = Path(__file__).resolve().parent.parent
HTTP_PORT, GATEWAY_PORT, OPS_PORT = 8080, 8081, 9090
START_TIMEOUT_S = 180.0
SETTINGS = {
    "ratelimit_route_limit": 0, "ratelimit_global_per_s": 0, "argon2_time_cost": 1,
    "argon2_memory_kib": 1024, "log_format": "text", "log_level": "WARNING",
    "drain_timeout_s": 3,
}


def _redis_cpu(client: Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _ready(address: str, workers: int) -> bool:
    for i in range(workers):
        try:
            with urllib.request.urlopen(f"http://{address}:{OPS_PORT + i}/readyz", timeout=2) as r:
                if r.status != 200:
                    return False
        except (urllib.error.URLError, OSError):
            return False
    return True


def _start_hosts(lab: Lab, workdir: Path, hosts: int, workers: int, redis_url: str,
                 postgres_url: str) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_ARCH_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update({f"DISCORD_ARCH_{k.upper()}": str(v) for k, v in SETTINGS.items()})
    procs = []
    for node in range(1, hosts + 1):
        data = workdir / f"h{hosts}-gw{node}"
        data.mkdir()
        procs.append(lab.spawn(f"gw{node}", [
            sys.executable, "-m", "gateway.cli", "serve", "--workers", str(workers),
            "--node-id", str(node), "--host", "0.0.0.0", "--metrics-host", "0.0.0.0",
            "--redis-url", redis_url, "--postgres-url", postgres_url, "--data-dir", str(data),
        ], log=workdir / f"h{hosts}-gw{node}.log", env=env, cwd=ROOT))
    deadline = time.monotonic() + START_TIMEOUT_S
    for node, proc in enumerate(procs, 1):
        while not _ready(lab.hosts[f"gw{node}"].address, workers):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (workdir / f"h{hosts}-gw{node}.log").read_text(errors="replace")
                raise SystemExit(f"cross_hosts: gw{node} did not start:\n{log[-3000:]}")
            time.sleep(0.2)
    return procs


async def _step(pool: LoadPool, rate: float, duration: float, drain_s: float
                ) -> list[dict[str, Any]]:
    t0 = time.monotonic() + 0.3
    return list(await pool.all("step", rate=rate, t0=t0, duration=duration, drain_s=drain_s,
                               limit_s=duration + drain_s + 60))


async def _measure(lab: Lab, hosts: int, args: argparse.Namespace, redis: Redis
                   ) -> dict[str, Any]:
    first = lab.hosts["gw1"].address
    receivers, senders, messages_url = await setup_guild(f"http://{first}:{HTTP_PORT}",
                                                         args.receivers, 1)
    async with load_pool(args.client_cpus) as pool:
        for node in range(1, hosts + 1):
            address = lab.hosts[f"gw{node}"].address
            conn = await connect(pool, f"ws://{address}:{GATEWAY_PORT}/?v=10&encoding=json",
                                 receivers[node - 1::hosts], args.probe_every, 100)
            if conn["failed"]:
                raise SystemExit(f"cross_hosts: {conn['failed']} receivers of gw{node} "
                                 f"failed: {conn['errors']}")
        await asyncio.sleep(args.settle)
        await pool.call(0, "sender", kind="rest", url=messages_url, tokens=senders,
                        payload_bytes=0, concurrency=4)
        await _step(pool, 1, 2.0, args.drain)  # warm-up: guild caches, connections
        cpu0, wall0 = _redis_cpu(redis), time.monotonic()
        parts = await _step(pool, args.rate, args.duration, args.drain)
        cpu1, wall1 = _redis_cpu(redis), time.monotonic()
    lat = array.array("q")
    for p in parts:
        lat.frombytes(p["lat_ns"])
    ordered = sorted(x / 1e6 for x in lat)
    total = sum(p["total"] for p in parts)
    sent = sum(p["sent_total"] for p in parts)
    window = sum(p["window"] for p in parts)
    return {
        "hosts": hosts, "workers_per_host": args.workers // hosts,
        "receivers": args.receivers, "offered_msg_s": args.rate, "sent": sent,
        "delivered_events_s": window / args.duration,
        "completion": total / (sent * args.receivers) if sent else 0.0,
        "p50_ms": percentile(ordered, 0.50), "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1] if ordered else 0.0, "samples": len(ordered),
        "redis_cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "redis_us_per_delivery": (cpu1 - cpu0) * 1e6 / total if total else 0.0,
        "redis_us_per_message": (cpu1 - cpu0) * 1e6 / sent if sent else 0.0,
        "errors": {k: v for p in parts for k, v in p["errors"].items()},
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    preflight()
    raise_nofile()
    counts = [int(h) for h in args.hosts.split(",")]
    assert all(1 <= h <= 3 and args.workers % h == 0 for h in counts), (
        "--hosts: 1..3, each dividing --workers")
    lab = Lab()
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="discord-arch-cross-hosts-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # PostgreSQL runs as its own user under it
        try:
            lab.open()
            for role, octet in (("db", 2), ("clients", 4), *((f"gw{n}", 10 + n) for n in (1, 2, 3))):
                lab.add_host(role, octet)
            redis_url, postgres_url = start_stores(lab, "db", workdir)
            join(lab.hosts["clients"].netns)  # this thread, and the load processes it starts
            redis = Redis.from_url(redis_url)
            for hosts in counts:
                say(f"{hosts} host(s) x {args.workers // hosts} workers: starting")
                procs = _start_hosts(lab, workdir, hosts, args.workers // hosts, redis_url,
                                     postgres_url)
                try:
                    result = asyncio.run(_measure(lab, hosts, args, redis))
                finally:
                    stop_all(procs)
                say("")
                print(_line(result), file=sys.stderr)
                out.append(result)
        finally:
            lab.close()
    return out


def _line(r: dict[str, Any]) -> str:
    return (f"{r['hosts']} host(s) x {r['workers_per_host']} workers: delivered "
            f"{r['delivered_events_s']:,.0f} ev/s ({100 * r['completion']:.2f}%), p50 "
            f"{r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms; Redis {r['redis_cpu_pct']:.1f}% CPU, "
            f"{r['redis_us_per_delivery']:.2f} us per delivery, "
            f"{r['redis_us_per_message']:.0f} us per message")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.cross_hosts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--receivers", type=int, default=1000)
    p.add_argument("--workers", type=int, default=6, help="in total, split over the hosts")
    p.add_argument("--hosts", default="1,2,3", help="host counts to run, in turn")
    p.add_argument("--rate", type=float, default=5.0, help="messages/s, each to every receiver")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--drain", type=float, default=5.0, help="seconds to wait for stragglers")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the last READY")
    p.add_argument("--probe-every", type=int, default=10, help="time 1 receiver in N")
    p.add_argument("--client-cpus", type=lambda s: [None if c in ("", "none") else int(c)
                                                    for c in s.split(",")], default=[None])
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "cross_hosts.json")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    results = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"args": {k: v for k, v in vars(args).items()
                                              if k != "json"}, "results": results}, indent=2))
    for r in results:
        print(_line(r))


if __name__ == "__main__":
    main()
