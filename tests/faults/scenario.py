"""One scenario's traffic: senders and receivers around a fault, then the ledger's checks.

A scenario is: a guild of users on a started server; receivers connected and READY; senders
sending for ``seconds``; ``fault`` (a coroutine) run ``fault_at`` seconds in; then the
receivers get time to catch up and :func:`tests.faults.ledger.verify` compares the sets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp

from tests.faults.harness import Server
from tests.faults.ledger import Receiver, Rest, Result, Sender, verify


async def run_traffic(name: str, server: Server, http: aiohttp.ClientSession, *,
                      fault: Callable[[], Awaitable[None]], seconds: float = 8.0,
                      fault_at: float = 2.0, senders: int = 2, receivers: int = 2,
                      receiver_ports: list[int] | None = None) -> Result:
    """Run it; the table row. The time to recover is the longest stall of acks any sender
    saw after the fault began."""
    rest = Rest(http, server.http_url)
    tokens, channel = await rest.guild(senders + receivers)
    ports = receiver_ports or list(server.worker_ports) or [server.gateway_port]
    readers = [Receiver(http, t, [ports[i % len(ports)]], rest, channel)
               for i, t in enumerate(tokens[senders:])]
    stop = asyncio.Event()
    reading = [asyncio.create_task(r.run(stop)) for r in readers]
    try:
        async with asyncio.timeout(10):
            await asyncio.gather(*(r.ready.wait() for r in readers))
        writers = [Sender(rest, t, channel) for t in tokens[:senders]]
        sending = [asyncio.create_task(w.run(seconds)) for w in writers]
        await asyncio.sleep(fault_at)
        began = time.monotonic()
        async with asyncio.timeout(seconds + 20):
            await fault()
            await asyncio.gather(*sending)
        recover = max(w.longest_gap(began) for w in writers)
        return await verify(name, rest, tokens[0], channel, writers, readers, recover)
    finally:
        stop.set()
        async with asyncio.timeout(5):
            await asyncio.gather(*reading, return_exceptions=True)
