"""The REST calls the benchmarks set themselves up with (accounts, guilds, invites, roles).

Shared by ``bench.rest_send``, ``bench.harness`` and ``bench.guilds``: a leaf, so that no
benchmark imports another one for it. Set-up is not measured, so a call that answers
anything but what it expects ends the run with the answer.
"""

from __future__ import annotations

from typing import Any

import aiohttp

__all__ = ["V", "request_json"]

V = "/api/v10"


async def request_json(session: aiohttp.ClientSession, method: str, url: str,
                       token: str | None = None, body: Any = None, expect: int = 200) -> Any:
    """``method url`` with ``body`` as JSON and ``token`` as Authorization: the JSON answer.

    Raises:
        SystemExit: the status is not ``expect`` (the message names the call and the answer).
    """
    headers = {"Authorization": token} if token else {}
    async with session.request(method, url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status != expect:
            raise SystemExit(f"{method} {url}: {resp.status} {data}")
        return data
