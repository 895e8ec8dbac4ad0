"""Helpers shared by the REST API tests: store shortcuts, event waits and error checks."""

from __future__ import annotations

import asyncio
from typing import Any

from core.events import Event
from core.models import Member, Role
from core.platform import Platform
from tests.api.conftest import Account, Api

__all__ = [
    "UNKNOWN", "add_member", "assert_error", "grant", "make_bot", "make_role", "named",
    "set_everyone", "settle", "setup",
]

UNKNOWN = "1234567890123456789"


async def settle() -> None:
    # The MemoryBus delivers on the next loop iteration.
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.name == name]


def assert_error(reply: Any, status: int, code: int) -> None:
    assert reply.status == status, reply.body
    assert reply.body["code"] == code, reply.body


async def add_member(platform: Platform, guild: dict[str, Any], who: Account) -> None:
    await platform.meta.add_member(Member(int(guild["id"]), int(who.id), platform.now_ms()))


async def make_role(
    platform: Platform, guild: dict[str, Any], perms: int = 0, position: int = 1,
    name: str = "role",
) -> int:
    """A role made directly in the store; returns its id."""
    role = Role(platform.ids.next(), int(guild["id"]), name, perms, position=position)
    await platform.meta.create_role(role)
    return role.id


async def grant(
    platform: Platform, guild: dict[str, Any], who: Account, perms: int, position: int = 1
) -> int:
    """Give ``who`` (made a member if needed) a new role with ``perms``; returns its id."""
    gid = int(guild["id"])
    if await platform.meta.get_member(gid, int(who.id)) is None:
        await add_member(platform, guild, who)
    role_id = await make_role(platform, guild, perms, position, "granted")
    await platform.meta.add_member_role(gid, int(who.id), role_id)
    return role_id


async def set_everyone(platform: Platform, guild: dict[str, Any], perms: int) -> None:
    gid = int(guild["id"])
    await platform.meta.update_role(gid, gid, {"permissions": perms})


async def make_bot(api: Api, owner: Account, name: str = "Helper") -> Account:
    r = await api.post("/applications", owner.token, json={"name": name})
    assert r.status == 201, r.body
    return Account(r.body["token"], r.body["id"], r.body["bot"]["username"])


async def setup(api: Api, platform: Platform) -> tuple[Account, dict[str, Any], Account]:
    """An owner, their guild, and a plain member of it."""
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await add_member(platform, guild, member)
    return owner, guild, member
