"""Attachment throughput: multipart uploads of a large file, downloads through the CDN.

Issue 12 asks for upload and download throughput of a 10 MiB file, and says uploads are
streamed to storage, never held whole in memory: so beside MiB/s this reports the server's RSS
before, after and at its peak (sampled every 20 ms), which must stay flat however many files
go through. On the embedded deployment (files in the data directory), one account in one
guild, rate limits off (``bench.deploy.BENCH_ENV``). Phases, each over ``--count`` files of
``--size-mib`` random bytes:

- ``upload`` sequential, then ``upload_concurrent`` with ``--concurrency`` in flight: a message
  send as discord.py and discord.js make it (``payload_json`` and ``files[0]``);
- ``download`` of each file's ``url`` whole, sequential and concurrent, compared by SHA-256
  with what was sent; ``download_range``: each file in 1 MiB ``Range`` requests (206).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bench import deploy
from bench.gateway_report import machine
from bench.harness import percentile, register_users
from bench.rest import V, request_json

__all__ = ["main", "run"]

_MIB = 1 << 20
_RESULTS = Path(__file__).resolve().parent / "results"


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.files", description=__doc__.split("\n")[0])
    p.add_argument("--size-mib", type=float, default=10.0, help="size of each file, MiB")
    p.add_argument("--count", type=int, default=20, help="files per phase")
    p.add_argument("--concurrency", type=int, default=4, help="transfers in flight, concurrent phases")
    p.add_argument("--server-cpu", default="0", help="CPU the server is pinned to, or none")
    p.add_argument("--client-cpu", default="1", help="CPU this client is pinned to, or none")
    p.add_argument("--json", default="", help="results file (default bench/results/files.json)")
    return p.parse_args(argv)


def _cpu(text: str) -> int | None:
    return None if text == "none" else int(text)


@contextlib.asynccontextmanager
async def _rss_peak(proc: deploy.ProcTree) -> AsyncIterator[list[int]]:
    """Sample the server's RSS (KiB) every 20 ms while inside; yields [peak], kept updated."""
    peak = [proc.rss_kib()]

    async def sample() -> None:
        while True:  # ends when cancelled on exit
            peak[0] = max(peak[0], proc.rss_kib())
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _phase(name: str, server: deploy.Server, jobs: list[Callable[[], Awaitable[int]]],
                 concurrency: int) -> dict[str, Any]:
    """Run ``jobs`` (each returns the bytes it moved) ``concurrency`` at a time: MiB/s, per
    transfer p50/p99, server CPU and RSS before, peak and after."""
    times: list[float] = []
    moved = 0
    queue = iter(jobs)
    rss0, cpu0 = server.proc.rss_kib(), server.proc.cpu_s()

    async def worker() -> None:
        nonlocal moved
        for job in queue:  # shared iterator: each job once
            t = time.monotonic()
            done = await job()  # not ``moved += await``: that reads moved before awaiting
            moved += done
            times.append(time.monotonic() - t)

    async with _rss_peak(server.proc) as peak:
        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.monotonic() - t0
    times.sort()
    return {"phase": name, "transfers": len(jobs), "concurrency": concurrency,
            "mib": moved / _MIB, "took_s": took, "mib_s": moved / _MIB / took,
            "p50_ms": 1000 * percentile(times, 0.5), "p99_ms": 1000 * percentile(times, 0.99),
            "server_cpu_pct": 100 * (server.proc.cpu_s() - cpu0) / took,
            "rss_before_kib": rss0, "rss_peak_kib": peak[0], "rss_after_kib": server.proc.rss_kib()}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start an embedded server, upload and download: the results."""
    size = int(args.size_mib * _MIB)
    timeout = aiohttp.ClientTimeout(total=300)
    with deploy.serve(deploy.Deploy(), _cpu(args.server_cpu), prefix="discord-arch-files-") as server:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            base = server.http
            (token, _), = await register_users(http, base, 1, asyncio.Semaphore(1))
            auth = {"Authorization": token}
            guild = await request_json(http, "POST", f"{base}{V}/guilds", token, {"name": "files"}, 201)
            channels = await request_json(http, "GET", f"{base}{V}/guilds/{guild['id']}/channels", token)
            send_url = f"{base}{V}/channels/{next(c['id'] for c in channels if c['type'] == 0)}/messages"
            blobs = [os.urandom(size) for _ in range(2)]  # two distinct files, alternated
            digests = [hashlib.sha256(b).hexdigest() for b in blobs]
            urls: list[tuple[str, int]] = []  # (CDN path on this server, which blob)
            rss_start = server.proc.rss_kib()

            def upload(i: int) -> Callable[[], Awaitable[int]]:
                async def go() -> int:
                    form = aiohttp.FormData()
                    form.add_field("payload_json", json.dumps({"content": f"file {i}"}),
                                   content_type="application/json")
                    form.add_field("files[0]", blobs[i % 2], filename=f"bench{i}.bin",
                                   content_type="application/octet-stream")
                    async with http.post(send_url, data=form, headers=auth) as resp:
                        body = await resp.json()
                        if resp.status != 200:
                            raise SystemExit(f"upload: {resp.status} {body}")
                    att = body["attachments"][0]
                    if att["size"] != size:
                        raise SystemExit(f"upload: size {att['size']} != {size}")
                    urls.append((urlsplit(att["url"]).path, i % 2))
                    return size
                return go

            def download(path: str, which: int, step: int = 0) -> Callable[[], Awaitable[int]]:
                async def go() -> int:
                    h = hashlib.sha256()
                    for lo in range(0, size, step or size):  # one request, or one per range
                        hi = min(size, lo + (step or size)) - 1
                        headers = {"Range": f"bytes={lo}-{hi}"} if step else {}
                        async with http.get(base + path, headers=headers) as resp:
                            if resp.status != (206 if step else 200):
                                raise SystemExit(f"download {path}: {resp.status}")
                            async for chunk in resp.content.iter_chunked(256 << 10):
                                h.update(chunk)
                    if h.hexdigest() != digests[which]:
                        raise SystemExit(f"download {path}: bytes differ from the upload")
                    return size
                return go

            n, c = args.count, args.concurrency
            phases = [await _phase("upload", server, [upload(i) for i in range(n)], 1),
                      await _phase("upload_concurrent", server,
                                   [upload(n + i) for i in range(n)], c)]
            got = list(urls)
            phases += [
                await _phase("download", server, [download(p, w) for p, w in got[:n]], 1),
                await _phase("download_concurrent", server, [download(p, w) for p, w in got], c),
                await _phase("download_range", server,
                             [download(p, w, _MIB) for p, w in got[:n]], 1),
            ]
            rss_end = server.proc.rss_kib()
    return {"scenario": "files", **machine(sys.argv[1:], "bench.files"),
            "deployment": deploy.Deploy().describe(), "size_mib": args.size_mib,
            "count": args.count, "rss_start_kib": rss_start, "rss_end_kib": rss_end,
            "rss_peak_kib": max(p["rss_peak_kib"] for p in phases), "phases": phases}


def _table(result: dict[str, Any]) -> str:
    lines = ["| phase | transfers × in flight | MiB/s | p50 / p99 ms | server CPU "
             "| server RSS before → peak → after (MiB) |", "|---|---|---|---|---|---|"]
    for p in result["phases"]:
        lines.append(f"| {p['phase']} | {p['transfers']} × {p['concurrency']} | {p['mib_s']:,.0f} | "
                     f"{p['p50_ms']:.0f} / {p['p99_ms']:.0f} | {p['server_cpu_pct']:.0f}% | "
                     f"{p['rss_before_kib'] / 1024:.0f} → {p['rss_peak_kib'] / 1024:.0f} → "
                     f"{p['rss_after_kib'] / 1024:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _args(sys.argv[1:] if argv is None else argv)
    if _cpu(args.client_cpu) is not None:
        os.sched_setaffinity(0, {int(args.client_cpu)})
    result = asyncio.run(run(args))
    out = Path(args.json) if args.json else _RESULTS / "files.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
