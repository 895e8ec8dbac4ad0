"""The ``guilds`` scenario of ``bench.gateway``: many guilds of mixed sizes, Zipf traffic.

``--mix`` guilds (a few large, many small) over ``--users`` receivers, each in several of them;
every guild has a public channel and a private one that denies VIEW_CHANNEL to @everyone and
allows it to a role held by half its members. Messages go to a guild drawn by Zipf over its rank
by size (``--zipf``), then to its private channel with probability ``--private-share``, posted
over REST by a member who may. The fanout ladder (``bench.harness.climb``) runs over it; a
message's deliveries depend on where it went, and every receiver's count is checked against
what it may see (``guild_audit``). No peers: they have no guilds or permissions.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench import deploy
from bench.harness import (
    SETUP_CONCURRENCY,
    Audit,
    climb,
    connect,
    gateway_server,
    gather,
    load_pool,
    register_users,
    run_step,
    say,
)
from bench.loadclient import Target
from bench.rest import V, request_json

__all__ = ["guilds", "parse_mix", "plan_guilds"]


_VIEW_CHANNEL = 1 << 10
_SENDERS_PER_TARGET = 8  # accounts posting to one channel (the REST sender's posters rotate)


def parse_mix(text: str) -> list[int]:
    """``"1000x2,100x20"`` (size × count): the guild sizes, largest first."""
    sizes: list[int] = []
    for part in text.split(","):
        size, _, count = part.strip().partition("x")
        sizes += [int(size)] * int(count or 1)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"bad guild mix {text!r}")
    return sorted(sizes, reverse=True)


@dataclass(frozen=True, slots=True)
class GuildPlan:
    """Who is in which guild and where the traffic goes, drawn before any request is made.

    Targets are two per guild, public then private: ``audiences[2g]`` is guild g's members,
    ``audiences[2g + 1]`` the holders of its role (the only ones who may see its private
    channel), ``weights`` each target's share of the messages.
    """

    users: int
    members: list[list[int]]  # per guild, largest first: user indices, [0] owns it
    audiences: list[list[int]]
    senders: list[list[int]]  # per target: the users posting there
    weights: list[float]

    def per_msg(self) -> float:
        """Deliveries a message makes on average: Σ weight × audience."""
        return sum(w * len(a) for w, a in zip(self.weights, self.audiences, strict=True)) \
            / sum(self.weights)


def plan_guilds(sizes: Sequence[int], users: int, zipf: float, private_share: float,
                rng: random.Random) -> GuildPlan:
    """Draw the memberships, role holders, senders and traffic weights.

    Users in no guild yet are taken first, so everyone is somewhere (the large guilds share
    them out); the rest are drawn among everyone, so a member of a large guild is also in some
    small ones. Half of each guild's members (the owner among them) hold its role. A guild's
    share of the messages is Zipf over its rank by size, ``1 / rank**zipf``, split
    ``1 - private_share`` / ``private_share`` between its public and private channel.
    """
    fresh = list(range(users))
    rng.shuffle(fresh)
    members: list[list[int]] = []
    for size in sizes:
        mine, fresh = fresh[:size], fresh[size:]
        if len(mine) < size:
            taken = set(mine)
            mine += rng.sample([u for u in range(users) if u not in taken], size - len(mine))
            rng.shuffle(mine)  # the owner and role holders: not only users new to guilds
        members.append(mine)
    audiences: list[list[int]] = []
    weights: list[float] = []
    for rank, mine in enumerate(members, 1):
        share = rank ** -zipf
        audiences += [mine, mine[:max(1, len(mine) // 2)]]
        weights += [share * (1 - private_share), share * private_share]
    senders = [rng.sample(a, min(_SENDERS_PER_TARGET, len(a))) for a in audiences]
    return GuildPlan(users, members, audiences, senders, weights)


async def setup_guilds(http: str, plan: GuildPlan) -> tuple[list[str], list[Target]]:
    """Create ``plan`` over REST: every user's token, and the sender's targets (messages URL,
    sender tokens, weight). Each guild is made by its owner: a role with no permissions, a
    private channel that denies VIEW_CHANNEL to @everyone and allows it to the role, an invite
    to the public one; then the members join and the holders get the role."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=SETUP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        users = await register_users(session, http, plan.users, gate)

        async def make(g: int, owner: str) -> tuple[str, str, str, str, str]:
            async with gate:
                guild = await request_json(session, "POST", f"{http}{V}/guilds", owner,
                                           {"name": f"bench {g}"}, 201)
                gid = guild["id"]
                channels = await request_json(session, "GET", f"{http}{V}/guilds/{gid}/channels",
                                              owner)
                public = next(c["id"] for c in channels if c["type"] == 0)
                role = await request_json(session, "POST", f"{http}{V}/guilds/{gid}/roles", owner,
                                          {"name": "insiders", "permissions": "0"})
                private = await request_json(session, "POST", f"{http}{V}/guilds/{gid}/channels",
                                             owner, {"name": "private", "type": 0}, 201)
                for target, bits in ((gid, {"deny": str(_VIEW_CHANNEL)}),
                                     (role["id"], {"allow": str(_VIEW_CHANNEL)})):
                    await request_json(session, "PUT",
                                       f"{http}{V}/channels/{private['id']}/permissions/{target}",
                                       owner, {"type": 0, **bits}, 204)
                invite = await request_json(session, "POST", f"{http}{V}/channels/{public}/invites",
                                            owner, {})
            return gid, public, private["id"], role["id"], invite["code"]

        made = await gather("guilds made", [make(g, users[m[0]][0])
                                            for g, m in enumerate(plan.members)])

        async def call(method: str, path: str, token: str, expect: int) -> None:
            async with gate:
                await request_json(session, method, f"{http}{V}{path}", token, None, expect)

        await gather("joined", [call("POST", f"/invites/{made[g][4]}", users[u][0], 200)
                                for g, m in enumerate(plan.members) for u in m[1:]])
        await gather("roles given", [
            call("PUT", f"/guilds/{made[g][0]}/members/{users[u][1]}/roles/{made[g][3]}",
                 users[m[0]][0], 204)
            for g, m in enumerate(plan.members) for u in plan.audiences[2 * g + 1]])
    say("")
    targets = []
    for t, (senders, weight) in enumerate(zip(plan.senders, plan.weights, strict=True)):
        channel = made[t // 2][1 + t % 2]
        targets.append((f"{http}{V}/channels/{channel}/messages",
                        [users[u][0] for u in senders], weight))
    return [token for token, _ in users], targets


def guild_audit(plan: GuildPlan, processes: int) -> Audit:
    """A ``run_step`` audit: what each receiver should have got, from the messages sent to each
    target, against what it got. A receiver with more than its due got a message it may not
    see (or one from the step before, when a step's drain was cut short).

    The offered events/s become the offered msg/s times the deliveries due per message *sent
    in this step*: a few hundred Zipf draws stray ~10% from the plan's mean (one message to a
    1,000-member guild weighs a hundred to a 10-member one), which would fake a lag.
    """
    import array

    def audit(parts: list[dict[str, Any]], step: dict[str, Any]) -> dict[str, Any]:
        sent = parts[0]["sent_by_target"]  # the sender lives in load process 0
        due = [0] * plan.users
        for n, audience in zip(sent, plan.audiences, strict=True):
            for u in audience:
                due[u] += n
        got = [0] * plan.users
        for i, part in enumerate(parts):  # receiver k of process i is user k * processes + i
            for k, n in enumerate(array.array("q", part["counts"])):
                got[k * processes + i] = n
        expected = sum(due)
        return {"expected_events": expected, "sent_private": sum(sent[1::2]),
                "mean_events_s": step["offered_events_s"],
                "offered_events_s": (step["offered_msg_s"] * expected / sum(sent) if sum(sent)
                                     else step["offered_events_s"]),
                "completion": sum(got) / expected if expected else 0.0,
                "receivers_over": sum(g > d for g, d in zip(got, due, strict=True)),
                "receivers_under": sum(g < d for g, d in zip(got, due, strict=True)),
                "events_over": sum(max(0, g - d) for g, d in zip(got, due, strict=True))}

    return audit


def _classes(plan: GuildPlan, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Per guild size: how many guilds, their share of the messages and of the deliveries."""
    total_w = sum(plan.weights)
    total_ev = plan.per_msg() * total_w
    out = []
    for size in sorted(set(sizes), reverse=True):
        ts = [t for t in range(len(plan.weights)) if sizes[t // 2] == size]
        out.append({"size": size, "guilds": sizes.count(size),
                    "msg_share": sum(plan.weights[t] for t in ts) / total_w,
                    "events_share": sum(plan.weights[t] * len(plan.audiences[t]) for t in ts)
                    / total_ev})
    return out


async def guilds(args: argparse.Namespace) -> dict[str, Any]:
    """Many guilds of mixed sizes, Zipf traffic, a private channel in each: the ladder."""
    sizes = parse_mix(args.mix)
    users = args.users or max(sizes[0], sum(sizes) // 3)
    if not sizes[0] <= users <= sum(sizes):
        raise SystemExit(f"--users {users}: from the largest guild ({sizes[0]}) to the "
                         f"memberships ({sum(sizes)}), so that everyone is in some guild")
    plan = plan_guilds(sizes, users, args.zipf, args.private_share, random.Random(args.seed))
    per_msg = plan.per_msg()
    with gateway_server(args.server_cpu, where=deploy.of(args)) as server:
        start = time.monotonic()
        tokens, targets = await setup_guilds(server.http, plan)
        setup_s = time.monotonic() - start
        print(f"guilds: {len(sizes)} guilds, {users} users, {sum(sizes)} memberships, "
              f"{per_msg:,.1f} deliveries per message; set-up {setup_s:.0f} s", file=sys.stderr)
        async with load_pool(args.client_cpus) as pool:
            audit = guild_audit(plan, pool.size)
            conn = await connect(pool, server.ws_url, tokens, args.probe_every, args.concurrency)
            if conn["failed"]:
                raise SystemExit(f"guilds: {conn['failed']} receivers failed: {conn['errors']}")
            await pool.call(0, "sender", kind="rest", url="", tokens=[], payload_bytes=0,
                            concurrency=args.rest_concurrency, targets=targets)
            warm = await run_step(pool, server, "guilds warm-up", 10, per_msg, 1.0, 5.0, audit)
            climbed = await climb(args, pool, server, "guilds", per_msg, users, audit)
    return {"users": users, "mix": args.mix, "guilds": len(sizes), "memberships": sum(sizes),
            "zipf": args.zipf, "private_share": args.private_share, "role_share": 0.5,
            "senders_per_channel": _SENDERS_PER_TARGET, "seed": args.seed,
            "events_per_msg": per_msg, "classes": _classes(plan, sizes), "setup_s": setup_s,
            "connect": conn, "frame_bytes": warm["frame_bytes"],
            "peers": "none: the peer servers have no guilds or permissions", **climbed}
