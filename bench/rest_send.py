"""REST send and history benchmark: N concurrent senders post M messages to one channel.

Usage::

    python -m bench.rest_send --backend sqlite --senders 64 --messages 5000
    python -m bench.rest_send --backend postgres --senders 64 --messages 5000 --batching both

For each variant (batched: the configured router; unbatched: ``DISCORD_ARCH_BATCH_MAX_MESSAGES=1``)
a fresh server is started as a subprocess (``python -m gateway.cli serve``, one worker, free
ports, a temporary data directory; for PostgreSQL a fresh database, dropped afterwards), pinned
to ``--server-cpu`` with ``taskset``; this process, the load client, pins itself to
``--client-cpu``. Rate limits are turned off on the server (``ratelimit_route_limit=0``) and
each sender is its own user anyway. Argon2 runs with cheap parameters: registration is set-up,
not measured.

Measured: messages/s over the whole send phase and per-request latency (p50/p99), after one
unmeasured warm-up send per sender; then history reads, ``--readers`` concurrent clients doing
``--reads`` requests each of the newest page (``limit=50``) and of a deep page (``before=`` the
id of a message 10% into the run). Output: a table on stdout and, with ``--json``, one JSON
object per variant appended to a file. MongoDB is used for messages only if ``--mongo-url`` is
given (point it at a throwaway server: the store always uses its ``discord_arch`` database).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

__all__ = ["Latencies", "fresh_postgres_database", "main", "running_server", "run_load"]

V = "/api/v10"
_REPO = Path(__file__).resolve().parent.parent
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0
_REGISTER_CONCURRENCY = 8
_PAD = "x" * 80  # ~100-byte messages, as in DESIGN.md's measurements


@dataclass(frozen=True, slots=True)
class Latencies:
    count: int
    per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    @classmethod
    def of(cls, samples: list[float], elapsed: float, errors: int) -> Latencies:
        ordered = sorted(samples)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0

        return cls(len(samples), len(samples) / elapsed, pct(0.50), pct(0.99), errors)


@dataclass(frozen=True, slots=True)
class Result:
    variant: str
    backend: str
    senders: int
    messages: int
    send: Latencies
    newest_page: Latencies
    deep_page: Latencies


# -- the server ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fresh_postgres_database(base_dsn: str) -> Iterator[str]:
    """A fresh database on the server of ``base_dsn``, dropped on exit; yields its DSN."""
    import asyncpg  # only the postgres variant needs it

    name = f"discord_arch_bench_{os.getpid()}_{secrets.token_hex(3)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(base_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(base_dsn)._replace(path=f"/{name}"))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def running_server(args: argparse.Namespace, batched: bool) -> Iterator[str]:
    """Start ``discord-arch serve`` as a pinned subprocess; yields its base URL."""
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="discord-arch-bench-"))
        http_port = _free_port()
        env = {**os.environ, "DISCORD_ARCH_RATELIMIT_ROUTE_LIMIT": "0",
               "DISCORD_ARCH_ARGON2_TIME_COST": "1", "DISCORD_ARCH_ARGON2_MEMORY_KIB": "64",
               "DISCORD_ARCH_LOG_LEVEL": "WARNING"}
        if not batched:
            env["DISCORD_ARCH_BATCH_MAX_MESSAGES"] = "1"
        elif args.batch_delay_ms is not None:
            env["DISCORD_ARCH_BATCH_MAX_DELAY_MS"] = str(args.batch_delay_ms)
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(http_port),
               "--gateway-port", str(_free_port()), "--data-dir", data_dir]
        if args.backend == "postgres":
            cmd += ["--postgres-url", stack.enter_context(fresh_postgres_database(args.postgres_url))]
        if args.mongo_url:
            cmd += ["--mongo-url", args.mongo_url]
        if args.server_cpu is not None:
            cmd = ["taskset", "-c", str(args.server_cpu), *cmd]
        # A file, not a pipe: a pipe nobody reads would block a chatty server.
        log = stack.enter_context(open(os.path.join(data_dir, "server.log"), "w+"))
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=_REPO)
        stack.callback(_stop, proc)
        _wait_ready(proc, http_port, log)
        yield f"http://127.0.0.1:{http_port}"


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: IO[str]) -> None:
    """Wait until the server listens (it binds only once its stores are open)."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server exited with {proc.returncode}: {log.read()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise SystemExit("server did not start listening in time")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the load -----------------------------------------------------------------------------------


async def _json(session: aiohttp.ClientSession, method: str, url: str, token: str | None = None,
                body: Any = None, expect: int = 200) -> Any:
    headers = {"Authorization": token} if token else {}
    async with session.request(method, url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status != expect:
            raise SystemExit(f"{method} {url}: {resp.status} {data}")
        return data


async def _setup(session: aiohttp.ClientSession, base: str, users: int) -> tuple[list[str], str]:
    """Register ``users`` accounts, a guild and join them to it; the tokens and the channel."""
    gate = asyncio.Semaphore(_REGISTER_CONCURRENCY)
    run = secrets.token_hex(3)

    async def register(i: int) -> str:
        async with gate:
            body = {"username": f"bench_{run}_{i}", "password": "correct horse"}
            return str((await _json(session, "POST", f"{base}{V}/auth/register", None, body,
                                    201))["token"])

    tokens = list(await asyncio.gather(*(register(i) for i in range(users))))
    guild = await _json(session, "POST", f"{base}{V}/guilds", tokens[0], {"name": "bench"}, 201)
    channels = await _json(session, "GET", f"{base}{V}/guilds/{guild['id']}/channels", tokens[0])
    channel = channels[0]["id"]
    invite = await _json(session, "POST", f"{base}{V}/channels/{channel}/invites", tokens[0], {})

    async def join(token: str) -> None:
        async with gate:
            await _json(session, "POST", f"{base}{V}/invites/{invite['code']}", token)

    await asyncio.gather(*(join(t) for t in tokens[1:]))
    return tokens, channel


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


async def run_load(base: str, args: argparse.Namespace, variant: str) -> Result:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens, channel = await _setup(session, base, max(args.senders, args.readers))
        url = f"{base}{V}/channels/{channel}/messages"
        senders = tokens[: args.senders]
        await _send_phase(session, url, senders, len(senders))  # warm-up: one each
        send, ids = await _send_phase(session, url, senders, args.messages)
        ids.sort()
        deep = {"limit": "50", "before": str(ids[len(ids) // 10])} if ids else {"limit": "50"}
        readers = tokens[: args.readers]
        newest = await _read_phase(session, url, readers, args.reads, {"limit": "50"})
        deep_page = await _read_phase(session, url, readers, args.reads, deep)
    return Result(variant, args.backend + ("+mongo" if args.mongo_url else ""), args.senders,
                  args.messages, send, newest, deep_page)


# -- the command --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.rest_send", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--senders", type=int, default=64, help="concurrent senders (one user each)")
    p.add_argument("--messages", type=int, default=5000, help="messages in all")
    p.add_argument("--readers", type=int, default=16, help="concurrent history readers")
    p.add_argument("--reads", type=int, default=100, help="history requests per reader and page")
    p.add_argument("--batching", choices=("on", "off", "both"), default="both")
    p.add_argument("--batch-delay-ms", type=float, default=None,
                   help="batched variant's batch_max_delay_ms (default: the server's)")
    p.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test",
                   help="a database on the server where a fresh one may be created")
    p.add_argument("--mongo-url", default="", help="MongoDB for messages (throwaway server)")
    p.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (taskset)")
    p.add_argument("--client-cpu", type=int, default=1, help="CPU for this load client")
    p.add_argument("--json", help="append one JSON object per variant to this file")
    return p


def _table(results: Sequence[Result]) -> str:
    head = ("| variant | backend | senders | msgs | send msg/s | p50 ms | p99 ms | err "
            "| newest page/s | p50 | p99 | deep page/s | p50 | p99 |")
    rows = [head, "|" + "---|" * 14]
    for r in results:
        s, n, d = r.send, r.newest_page, r.deep_page
        rows.append(
            f"| {r.variant} | {r.backend} | {r.senders} | {r.messages} | {s.per_s:,.0f} | "
            f"{s.p50_ms:.1f} | {s.p99_ms:.1f} | {s.errors + n.errors + d.errors} | "
            f"{n.per_s:,.0f} | {n.p50_ms:.1f} | {n.p99_ms:.1f} | "
            f"{d.per_s:,.0f} | {d.p50_ms:.1f} | {d.p99_ms:.1f} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.client_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.client_cpu})
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    variants = {"on": [True], "off": [False], "both": [True, False]}[args.batching]
    results = []
    for batched in variants:
        name = "batched" if batched else "unbatched"
        with running_server(args, batched) as base:
            results.append(runner(run_load(base, args, name)))
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(asdict(results[-1])) + "\n")
    print(_table(results))
    if len(results) == 2 and results[1].send.per_s:
        print(f"\nbatched / unbatched send throughput: "
              f"{results[0].send.per_s / results[1].send.per_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
