"""The small-guilds layout of the ``idle`` scenario: every user in several small guilds.

Where people actually are (issue 16 item 5): most guilds are small, and a user is in many of
them. A guild under ``large_threshold`` sends every member and presence in its GUILD_CREATE,
so what a session costs grows with the number and size of its guilds unless the server lets
go of those payloads once sent. The layout: ``users`` users, each in exactly ``per_user``
guilds of ``size`` members (``per_user`` rounds, each a seeded shuffle of all the users cut
into guilds of ``size``, so no user is twice in one guild), built over REST as the guilds
scenario does: the first member of each guild creates it and an invite, the others join.
"""

from __future__ import annotations

import asyncio
import random

import aiohttp

from bench.harness import SETUP_CONCURRENCY, gather, register_users, say
from bench.rest import V, request_json

__all__ = ["parse_layout", "plan_small_guilds", "setup_small_guilds"]


def parse_layout(text: str) -> tuple[int, int]:
    """``"10x20"``: (guilds per user, members per guild)."""
    per_user, _, size = text.partition("x")
    out = int(per_user), int(size or 0)
    if out[0] < 1 or out[1] < 2:
        raise ValueError(f"bad small-guilds layout {text!r}: GUILDSxSIZE, at least 1x2")
    return out


def plan_small_guilds(users: int, per_user: int, size: int, seed: int = 1) -> list[list[int]]:
    """Each guild's members (user indices, the first one owns it): every user in exactly
    ``per_user`` guilds when ``size`` divides ``users`` (else the last guild of a round is
    smaller)."""
    if users < size:
        raise ValueError(f"{users} users cannot fill a guild of {size}")
    rng = random.Random(seed)
    guilds: list[list[int]] = []
    for _ in range(per_user):
        order = list(range(users))
        rng.shuffle(order)
        guilds += [order[i:i + size] for i in range(0, users, size) if len(order[i:i + size]) > 1]
    return guilds


async def setup_small_guilds(http: str, users: int, per_user: int, size: int) -> list[str]:
    """Register ``users`` users and build the layout over REST: every user's token, in the
    order of ``plan_small_guilds``'s indices."""
    plan = plan_small_guilds(users, per_user, size)
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=SETUP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens = [t for t, _ in await register_users(session, http, users, gate)]

        async def make(g: int, owner: str) -> str:
            async with gate:
                guild = await request_json(session, "POST", f"{http}{V}/guilds", owner,
                                           {"name": f"small {g}"}, 201)
                channels = await request_json(session, "GET",
                                              f"{http}{V}/guilds/{guild['id']}/channels", owner)
                channel = next(c["id"] for c in channels if c["type"] == 0)
                invite = await request_json(session, "POST",
                                            f"{http}{V}/channels/{channel}/invites", owner, {})
            return str(invite["code"])

        codes = await gather("guilds made", [make(g, tokens[m[0]]) for g, m in enumerate(plan)])

        async def join(code: str, token: str) -> None:
            async with gate:
                await request_json(session, "POST", f"{http}{V}/invites/{code}", token)

        await gather("joined", [join(codes[g], tokens[u])
                                for g, m in enumerate(plan) for u in m[1:]])
    say("")
    return tokens
