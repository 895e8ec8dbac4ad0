"""Compressed fanout: the ``fanout`` scenario with receivers on ``zlib-stream`` or ``zstd-stream``.

Real clients compress: discord.py asks for ``zstd-stream`` when ``zstandard`` is importable and
``zlib-stream`` otherwise, discord.js for ``zlib-stream`` when configured to, and each delivery
then pays its own compression on the server (one stream per connection). This runs the fanout
of ``bench.gateway`` (``--receivers`` sessions in one channel, REST sends with the send time as
nonce) at fixed offered rates once per variant of ``--compress``, each against a fresh server,
in one run, so their ratios hold on a shared machine::

    python -m bench fanout --compress none,zlib-stream,zstd-stream --rates 20,40

A variant is ``none`` (uncompressed JSON), ``zlib-stream`` or ``zstd-stream``, optionally with
``:LEVEL``, the server's ``gateway_zlib_level`` / ``gateway_zstd_level`` for that run (so one run
compares levels, e.g. ``zlib-stream:6,zlib-stream:1``), and for zlib ``:shared``, the server's
``gateway_zlib_shared`` (self-contained messages, each dispatch deflated once for all). Receivers decompress every message as
discord.py does (``bench.loadclient.inflater``), so latency includes the client's inflate.
Per step: delivered deliveries/s, p50/p99/p99.9, server CPU µs per delivery (and its system
share), and the CPU per delivery over the uncompressed variant's at the same rate when
``none`` ran. Results: ``bench/results/compressed.json`` (``--json`` elsewhere).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench import deploy
from bench.harness import (
    connect,
    gateway_server,
    load_pool,
    run_step,
    say,
    setup_guild,
)

__all__ = ["fanout_compressed", "parse_variants"]

_LEVEL_ENV = {"zlib-stream": "DISCORD_ARCH_GATEWAY_ZLIB_LEVEL",
              "zstd-stream": "DISCORD_ARCH_GATEWAY_ZSTD_LEVEL"}


def parse_variants(text: str) -> list[tuple[str, str | None, dict[str, str]]]:
    """``none,zlib-stream:6,zlib-stream:shared,...`` as ``(label, compress or None, the
    server's environment for it)``."""
    out: list[tuple[str, str | None, dict[str, str]]] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        kind, *options = item.split(":")
        env: dict[str, str] = {}
        for option in options:
            if kind in _LEVEL_ENV and option.lstrip("-").isdigit():
                env[_LEVEL_ENV[kind]] = option
            elif kind == "zlib-stream" and option == "shared":
                env["DISCORD_ARCH_GATEWAY_ZLIB_SHARED"] = "true"
            else:
                kind = ""
        if kind not in ("none", *_LEVEL_ENV) or (kind == "none" and options):
            raise SystemExit(f"--compress {item}: none, zlib-stream[:LEVEL][:shared] or "
                             "zstd-stream[:LEVEL]")
        out.append((item, None if kind == "none" else kind, env))
    return out


async def _variant(args: argparse.Namespace, compress: str | None, env: dict[str, str],
                   label: str) -> dict[str, Any]:
    n = args.receivers
    with gateway_server(args.server_cpu, env or None, deploy.of(args)) as server:
        tokens, senders, messages_url = await setup_guild(server.http, n, args.senders)
        url = server.ws_url + (f"&compress={compress}" if compress else "")
        async with load_pool(args.client_cpus) as pool:
            conn = await connect(pool, url, tokens, args.probe_every, args.concurrency)
            if conn["failed"]:
                raise SystemExit(f"{label}: {conn['failed']} receivers failed: {conn['errors']}")
            await pool.call(0, "sender", kind="rest", url=messages_url, tokens=senders,
                            payload_bytes=0, concurrency=args.rest_concurrency)
            await run_step(pool, server, f"{label} warm-up", 10, n, 1.0, 5.0)
            steps = []
            for rate in (float(r) for r in args.rates.split(",")):
                step = await run_step(pool, server, f"{label} {rate:g} msg/s", rate, n,
                                      args.duration, args.drain)
                cpu_s = step["delivered_events_s"] / step["events_per_cpu_s"] \
                    if step["events_per_cpu_s"] else 0.0
                step["server_us_per_delivery"] = 1e6 / step["events_per_cpu_s"] \
                    if step["events_per_cpu_s"] else None
                # The system share of that CPU (sys% over all of it), per delivery.
                step["server_sys_us_per_delivery"] = (
                    step["server_us_per_delivery"] * step["server_sys_pct"]
                    / step["server_cpu_pct"] if step["server_cpu_pct"] and cpu_s else None)
                say("")
                print(f"{label:>16} {rate:>5g} msg/s: delivered {step['delivered_events_s']:>8,.0f}"
                      f"/s  p50 {step['p50_ms']:6.2f}  p99 {step['p99_ms']:7.2f} ms  "
                      f"{step['server_us_per_delivery'] or 0:5.1f} us/delivery (sys "
                      f"{step['server_sys_us_per_delivery'] or 0:4.1f})  server "
                      f"{step['server_cpu_pct']:3.0f}% waited {step['server_wait_pct']:.0f}%  "
                      f"completion {step['completion']:.3f}", file=sys.stderr)
                steps.append(step)
    return {"label": label, "compress": compress, "server_env": env, "receivers": n,
            "connect": conn, "steps": steps}


async def fanout_compressed(args: argparse.Namespace) -> dict[str, Any]:
    """Each variant of ``--compress`` at each of ``--rates`` (default 20,40), in order,
    ``--repeat`` times over (variants interleaved, so drift on the machine hits all)."""
    args.rates = args.rates or "20,40"
    variants = parse_variants(args.compress)
    runs: list[dict[str, Any]] = []
    for _ in range(max(1, args.repeat)):
        for label, compress, env in variants:
            runs.append(await _variant(args, compress, env, label))
    ratios: dict[str, dict[str, float]] = {}
    base = [r for r in runs if r["compress"] is None]
    for run in runs:
        if run["compress"] is None or not base:
            continue
        for step in run["steps"]:
            rate = step["offered_msg_s"]
            plain = [s["server_us_per_delivery"] for b in base for s in b["steps"]
                     if s["offered_msg_s"] == rate and s["server_us_per_delivery"]]
            if plain and step["server_us_per_delivery"]:
                ratios.setdefault(run["label"], {})[f"{rate:g}"] = (
                    step["server_us_per_delivery"] / (sum(plain) / len(plain)))
    for label, by_rate in ratios.items():
        print(f"{label:>16}: server CPU per delivery over uncompressed "
              + ", ".join(f"{r} msg/s {x:.2f}x" for r, x in by_rate.items()), file=sys.stderr)
    return {"variants": runs, "cpu_ratio_to_uncompressed": ratios}
