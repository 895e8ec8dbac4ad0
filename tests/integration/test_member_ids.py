"""A member read by its ids holds the caller's id objects, not the row's copies (SQL stores).

The hub's guild caches and the metadata cache keep one Member per guild of each user with a
session: their ids would otherwise be two ints of their own each (bench/RESULTS.md, idle).
"""

from __future__ import annotations

from core.models import Member
from core.store.base import MetaStore
from tests.integration.test_storage_contract import GUILD, NOW, make_guild

BIG = 1_234_567_890_123_456_789  # a snowflake-sized id: never one of CPython's cached ints


async def test_get_member_keeps_the_callers_id_objects(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.add_member(Member(GUILD, BIG, NOW, nick="n"))
    guild_id, user_id = int(str(GUILD)), int(str(BIG))  # equal, and objects of their own
    member = await meta_store.get_member(guild_id, user_id)
    assert member == Member(GUILD, BIG, NOW, nick="n")
    assert member is not None and member.user_id is user_id and member.guild_id is guild_id
