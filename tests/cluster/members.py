"""Gateway clients of the cluster: the fault ledger's receiver, connecting as a real client
does behind a balancer.

A member IDENTIFYs at the balanced address (``GET /gateway``'s URL), and when its socket drops
it RESUMEs at the ``resume_gateway_url`` READY gave it: the balancer's listener for the
session's host and worker. When that fails (the host is gone: HAProxy answers 503) it RESUMEs
through the balanced address instead, where another host answers op 9 (it does not hold the
session): the member identifies again and refetches the channel's history (the ledger's
receiver does both), so what it missed while it moved is still counted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from tests.faults.ledger import TIMEOUT, Receiver, Rest

# Balancer errors a REST call retries, as discord.py does (a host marked down mid-request).
BALANCER_ERRORS = frozenset({502, 503, 504})
REST_TRIES = 5
# RESUME attempts at resume_gateway_url before going through the balanced address.
RESUME_TRIES = 2


class BalancedRest(Rest):
    """The ledger's REST client, retrying what the balancer answers for a host it just lost
    (its error pages are HTML, not Discord's JSON)."""

    async def call(self, method: str, path: str, token: str | None = None,
                   json: Any = None) -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": token} if token else {}
        for attempt in range(REST_TRIES):
            async with asyncio.timeout(TIMEOUT):
                async with self.http.request(method, self.base_url + "/api/v10" + path,
                                             json=json, headers=headers) as r:
                    status, body, got = r.status, await r.read(), dict(r.headers)
            if status not in BALANCER_ERRORS or attempt == REST_TRIES - 1:
                break
            await asyncio.sleep(0.2 * (attempt + 1))
        return status, orjson.loads(body) if body and status not in BALANCER_ERRORS else None, got


@dataclass
class Member(Receiver):
    balanced: str = ""  # the balanced gateway address (http:// for aiohttp)

    @property
    def node(self) -> int:
        """The host holding the session now (its resume port is 8N00 + worker)."""
        assert self.resume_url, "not READY yet"
        return (int(self.resume_url.rsplit(":", 1)[1].strip("/")) - 8000) // 100

    @property
    def worker(self) -> str:
        """The (host, worker) holding the session: its resume URL."""
        assert self.resume_url, "not READY yet"
        return self.resume_url

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` (at most 200 connections)."""
        failed = 0
        for _ in range(200):
            if stop.is_set():
                return
            resume_here = self.session_id and self.resume_url and failed < RESUME_TRIES
            url = self.resume_url if resume_here else self.balanced
            try:
                await self._connection(url or self.balanced, stop)
                failed = 0
            except (aiohttp.ClientError, TimeoutError, OSError, ConnectionError):
                failed += 1
                await asyncio.sleep(0.2)
        raise AssertionError("member reconnected 200 times")
