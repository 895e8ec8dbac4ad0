"""Helpers of the ban and audit log tests: requests with an ``X-Audit-Log-Reason``, and a
guild with a moderator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from core.platform import Platform
from tests.api.conftest import Account, Api, Reply
from tests.api.helpers import add_member, grant

__all__ = ["Mod", "call", "mod_world"]


async def call(
    api: Api, method: str, path: str, token: str, *, reason: str | None = None,
    raw_reason: str | None = None, json: Any = None, params: dict[str, Any] | None = None,
) -> Reply:
    """A request with the reason URL-encoded as discord.py sends it (or ``raw_reason`` as is)."""
    headers = {"Authorization": token}
    if reason is not None:
        headers["X-Audit-Log-Reason"] = quote(reason, safe="/ ")
    if raw_reason is not None:
        headers["X-Audit-Log-Reason"] = raw_reason
    resp = await api.client.request(method, "/api/v10" + path, json=json, headers=headers,
                                    params=params)
    raw = await resp.read()
    return Reply(resp.status, orjson.loads(raw) if raw else None, resp.headers)


@dataclass
class Mod:
    """An owner's guild with a moderator (a role at ``mod_position`` with ``perms``) and two
    plain members."""

    owner: Account
    mod: Account
    alice: Account
    bob: Account
    guild: dict[str, Any]
    mod_role: int

    @property
    def gid(self) -> str:
        return str(self.guild["id"])

    @property
    def channel(self) -> str:
        return str(self.guild["channels"][0]["id"])


async def mod_world(api: Api, platform: Platform, perms: int, mod_position: int = 5) -> Mod:
    accounts = [await api.register() for _ in range(4)]
    guild = await api.guild(accounts[0])
    for who in accounts[1:]:  # through the store: no invite in the audit log
        await add_member(platform, guild, who)
    role = await grant(platform, guild, accounts[1], perms, mod_position)
    return Mod(*accounts, guild, role)
