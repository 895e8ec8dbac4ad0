"""A reaction storm: ``--members`` members of one guild react to one message at once.

Issue 12 asks that 1,000 users reacting to one message must not rewrite the message per
reaction, and for the figures: reactions/s accepted and the event fanout they cause (each
reaction is a MESSAGE_REACTION_ADD to every member's session, N² deliveries). Set-up (over
REST, not measured): N accounts in one guild, each with a gateway session IDENTIFIED with
GUILDS | GUILD_MESSAGE_REACTIONS (``bench.gw_sessions``), one message by the owner. Then per
run, on a fresh message, every member PUTs ``.../reactions/{emoji}/@me`` with ``--concurrency``
requests in flight: ``same`` (one emoji) and ``spread`` (one of 20, Discord's most per message).
Measured: reactions/s accepted (first request to last 204), request p50/p99, deliveries/s
(first request to the last event received), delivery latency (a reactor's request sent to
each session's receipt of its event) p50/p99, server CPU over the run. Checked: every session
got exactly N events, and the message read back says N reactions and was not edited.

Rate limits are off on the bench server (``bench.deploy.BENCH_ENV``): Discord's one bucket per
channel for reaction writes would otherwise make this a rate-limit test. The client runs in
this one process (pinned to ``--client-cpu``) and parses every event: at large N it may be
the bottleneck; its CPU is reported beside the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bench import deploy
from bench.gateway_report import machine
from bench.gw_sessions import SessionPool
from bench.harness import SETUP_CONCURRENCY, gather, percentile, register_users, say
from bench.rest import V, request_json

__all__ = ["main", "run"]

_INTENTS = 1 | 1 << 10  # GUILDS | GUILD_MESSAGE_REACTIONS
_EMOJIS = ["👍", "👎", "😀", "😂", "😍", "😮", "😢", "😡", "🎉", "❤️", "🔥", "👀", "✅", "❌",
           "🚀", "💯", "🙏", "🤔", "👏", "⭐"]  # 20: Discord's cap of distinct emojis a message
_RESULTS = Path(__file__).resolve().parent / "results"


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.reactions", description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=1000, help="guild members, each a session")
    p.add_argument("--concurrency", type=int, default=32, help="reaction requests in flight")
    p.add_argument("--runs", default="same,spread", help="same: one emoji; spread: 20 emojis")
    p.add_argument("--drain", type=float, default=60.0,
                   help="seconds to wait for the last events once no new one arrives")
    p.add_argument("--server-cpu", default="0", help="CPU the server is pinned to, or none")
    p.add_argument("--client-cpu", default="1", help="CPU this client is pinned to, or none")
    p.add_argument("--json", default="", help="results file (default bench/results/reactions*.json)")
    deploy.add_arguments(p)
    return p.parse_args(argv)


def _cpu(text: str) -> int | None:
    return None if text == "none" else int(text)


async def _setup(http: aiohttp.ClientSession, base: str, n: int
                 ) -> tuple[list[str], dict[str, str], str]:
    """N accounts in one guild (the first owns it): their tokens, user id by token, and the
    channel id."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    users = await register_users(http, base, n, gate)
    tokens = [t for t, _ in users]
    owner = tokens[0]
    guild = await request_json(http, "POST", f"{base}{V}/guilds", owner,
                               {"name": f"reactions {secrets.token_hex(2)}"}, 201)
    channels = await request_json(http, "GET", f"{base}{V}/guilds/{guild['id']}/channels", owner)
    channel = str(next(c["id"] for c in channels if c["type"] == 0))
    invite = await request_json(http, "POST", f"{base}{V}/channels/{channel}/invites", owner, {})

    async def join(token: str) -> None:
        async with gate:
            await request_json(http, "POST", f"{base}{V}/invites/{invite['code']}", token)

    await gather("joined", [join(t) for t in tokens[1:]])
    say("")
    return tokens, dict(users), channel


async def _storm(http: aiohttp.ClientSession, base: str, channel: str, message: str,
                 tokens: list[str], ids: dict[str, int], emojis: list[str],
                 concurrency: int) -> dict[str, Any]:
    """Every token reacts once (token i with ``emojis[i % len]``), ``concurrency`` in flight.
    Fills ``ids`` with each reactor's send time, keyed by its token (the caller maps it to
    the user id)."""
    url = f"{base}{V}/channels/{channel}/messages/{message}/reactions"
    latencies: list[float] = []
    errors: list[str] = []
    next_i = iter(range(len(tokens)))

    async def worker() -> None:
        for i in next_i:  # shared iterator: each index taken once, the loop ends with it
            token = tokens[i]
            emoji = quote(emojis[i % len(emojis)])
            sent = time.monotonic_ns()
            ids[token] = sent
            async with http.put(f"{url}/{emoji}/@me", headers={"Authorization": token},
                                timeout=aiohttp.ClientTimeout(total=60)) as resp:
                await resp.read()
                if resp.status != 204:
                    errors.append(f"{resp.status}")
            latencies.append((time.monotonic_ns() - sent) / 1e6)

    start = time.monotonic_ns()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    took = (time.monotonic_ns() - start) / 1e9
    latencies.sort()
    return {"start_ns": start, "took_s": took, "accepted": len(tokens) - len(errors),
            "errors": errors[:10], "error_count": len(errors),
            "reactions_s": (len(tokens) - len(errors)) / took,
            "request_p50_ms": percentile(latencies, 0.5), "request_p99_ms": percentile(latencies, 0.99)}


async def _drain(pool: SessionPool, expected: int, quiet_s: float) -> None:
    """Wait until every session has ``expected`` events, or none arrived for ``quiet_s``."""
    last, seen = time.monotonic(), -1
    while True:
        total = sum(len(s.got) for s in pool.sessions)
        if total >= expected * len(pool.sessions):
            return
        if total != seen:
            last, seen = time.monotonic(), total
        elif time.monotonic() - last > quiet_s:
            return
        say(f"events {total:,}/{expected * len(pool.sessions):,}")
        await asyncio.sleep(0.2)


async def _one_run(http: aiohttp.ClientSession, server: deploy.Server, pool: SessionPool,
                   tokens: list[str], user_of: dict[str, str], channel: str, name: str,
                   args: argparse.Namespace) -> dict[str, Any]:
    base, n = server.http, len(tokens)
    emojis = _EMOJIS[:1] if name == "same" else _EMOJIS
    msg = await request_json(http, "POST", f"{base}{V}/channels/{channel}/messages", tokens[0],
                             {"content": f"react to me ({name})"})
    pool.watch(str(msg["id"]))
    sent: dict[str, int] = {}
    cpu0, wall0, client0 = server.proc.cpu_s(), time.monotonic(), time.process_time()
    storm = await _storm(http, base, channel, str(msg["id"]), tokens, sent, emojis,
                         args.concurrency)
    await _drain(pool, n, args.drain)
    wall, client_cpu = time.monotonic() - wall0, time.process_time() - client0
    server_cpu = server.proc.cpu_s() - cpu0
    say("")
    sent_by_user = {user_of[t]: at for t, at in sent.items()}
    lat: list[float] = []
    last = storm["start_ns"]
    for s in pool.sessions:
        for user, at in s.got:
            lat.append((at - sent_by_user.get(user, at)) / 1e6)
            last = max(last, at)
    lat.sort()
    delivered = len(lat)
    back = await request_json(http, "GET", f"{base}{V}/channels/{channel}/messages/{msg['id']}",
                              tokens[0])
    counts = {r["emoji"]["name"]: r["count"] for r in back.get("reactions") or []}
    fanout_s = (last - storm["start_ns"]) / 1e9 or 1e-9
    counts_by_session = [len(s.got) for s in pool.sessions]
    return {
        "run": name, "emojis": len(emojis), "members": n,
        **{k: v for k, v in storm.items() if k != "start_ns"},
        "expected_events": n * n, "delivered_events": delivered,
        "sessions_complete": sum(c == n for c in counts_by_session),
        "sessions_short": sum(c < n for c in counts_by_session),
        "sessions_over": sum(c > n for c in counts_by_session),
        "fanout_s": fanout_s, "deliveries_s": delivered / fanout_s,
        "delivery_p50_ms": percentile(lat, 0.5), "delivery_p99_ms": percentile(lat, 0.99),
        "delivery_max_ms": lat[-1] if lat else 0.0,
        "server_cpu_pct": 100 * server_cpu / wall, "client_cpu_pct": 100 * client_cpu / wall,
        "server_rss_kib": server.proc.rss_kib(),
        "count_read_back": sum(counts.values()), "emojis_read_back": len(counts),
        "message_edited": back.get("edited_timestamp") is not None,
        "message_unchanged": back.get("content") == msg["content"],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server as ``--deploy`` says, set up, run each of ``--runs``: the results."""
    where = deploy.of(args)
    with deploy.serve(where, _cpu(args.server_cpu), prefix="discord-arch-react-") as server:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            tokens, user_of, channel = await _setup(http, server.http, args.members)
            pool = SessionPool(http, server.ws_url, _INTENTS, "MESSAGE_REACTION_ADD")
            try:
                t0 = time.monotonic()
                ready = await pool.connect(tokens)
                connect_s = time.monotonic() - t0
                if ready < len(tokens):
                    raise SystemExit(f"only {ready}/{len(tokens)} sessions reached READY")
                await asyncio.sleep(1.0)  # GUILD_CREATEs settle before the storm
                runs = [await _one_run(http, server, pool, tokens, user_of, channel, name, args)
                        for name in args.runs.split(",")]
            finally:
                await pool.aclose()
    return {"scenario": "reactions", **machine(sys.argv[1:], "bench.reactions"),
            "deployment": where.describe(), "members": args.members,
            "concurrency": args.concurrency, "connect_s": connect_s, "runs": runs}


def _table(result: dict[str, Any]) -> str:
    lines = ["| run | emojis | reactions/s | req p50/p99 ms | deliveries/s | delivery p50/p99 ms "
             "| server CPU | client CPU | sessions complete | count read back |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(
            f"| {r['run']} | {r['emojis']} | {r['reactions_s']:,.0f} | "
            f"{r['request_p50_ms']:.1f} / {r['request_p99_ms']:.1f} | {r['deliveries_s']:,.0f} | "
            f"{r['delivery_p50_ms']:.0f} / {r['delivery_p99_ms']:.0f} | {r['server_cpu_pct']:.0f}% | "
            f"{r['client_cpu_pct']:.0f}% | {r['sessions_complete']}/{r['members']} | "
            f"{r['count_read_back']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _args(sys.argv[1:] if argv is None else argv)
    if _cpu(args.client_cpu) is not None:
        os.sched_setaffinity(0, {int(args.client_cpu)})
    result = asyncio.run(run(args))
    out = Path(args.json) if args.json else _RESULTS / deploy.of(args).results_name("reactions")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(_table(result))
    ok = all(r["sessions_complete"] == r["members"] and r["count_read_back"] == r["members"]
             and not r["message_edited"] and r["error_count"] == 0 for r in result["runs"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
