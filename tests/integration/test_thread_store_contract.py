"""The storage contract's thread half (``MetaStore``'s thread methods), on every SQL backend.

Apart from test_storage_contract.py only to keep that file's edits apart; the same fixtures
(``meta_store``, parametrized over SQLite and PostgreSQL) and the same guild.
"""

from __future__ import annotations

from dataclasses import replace

from core.models import Channel, ChannelType, ThreadMember, ThreadMeta
from core.store.base import MetaStore
from tests.integration.test_storage_contract import GENERAL, GUILD, NOW, OWNER, make_guild

HOUR = 3_600_000


def thread(thread_id: int, kind: ChannelType = ChannelType.PUBLIC_THREAD, *,
           at: int = NOW, **meta: object) -> Channel:
    state = ThreadMeta(auto_archive_duration=60, archive_timestamp=at, create_timestamp=at,
                       activity_ms=at)
    return Channel(thread_id, kind, GUILD, f"t{thread_id}", parent_id=GENERAL, owner_id=OWNER,
                   rate_limit_per_user=5, thread=replace(state, **meta))  # type: ignore[arg-type]


async def test_a_thread_is_a_channel_with_its_state_and_members(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    made = thread(300)
    assert await meta_store.create_thread(made, [ThreadMember(300, OWNER, NOW)]) is True
    got = await meta_store.get_channel(300)
    assert got == replace(made, thread=replace(made.thread, member_count=1))  # type: ignore[arg-type]
    # Not among the guild's channels; a parent that is not there adds nothing.
    assert 300 not in [c.id for c in await meta_store.list_channels(GUILD)]
    assert await meta_store.create_thread(replace(made, id=301, parent_id=404), []) is False
    assert await meta_store.get_channel(301) is None
    # A plain channel has no thread state.
    assert (await meta_store.get_channel(GENERAL)).thread is None  # type: ignore[union-attr]


async def test_update_thread_and_counting_messages(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_thread(thread(300), [])
    after = await meta_store.update_thread(
        300, {"name": "renamed", "archived": True, "locked": True, "archive_ts": NOW + 5,
              "invitable": False, "auto_archive_duration": 10080, "rate_limit_per_user": 0})
    assert after is not None and after.name == "renamed" and after.rate_limit_per_user == 0
    assert after.thread == replace(thread(300).thread, archived=True, locked=True,  # type: ignore[arg-type]
                                   archive_timestamp=NOW + 5, invitable=False,
                                   auto_archive_duration=10080)
    await meta_store.count_thread_message(300, NOW + 9)
    await meta_store.count_thread_message(300, NOW + 10)
    state = (await meta_store.get_channel(300)).thread  # type: ignore[union-attr]
    assert (state.message_count, state.total_message_sent, state.activity_ms) == (2, 2, NOW + 10)
    assert await meta_store.update_thread(404, {"archived": True}) is None


async def test_thread_members_join_once_leave_and_page(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_thread(thread(300), [])
    for user_id in (7, 5, 9):
        assert await meta_store.add_thread_member(ThreadMember(300, user_id, NOW + user_id))
    assert await meta_store.add_thread_member(ThreadMember(300, 5, NOW)) is False
    assert await meta_store.add_thread_member(ThreadMember(404, 5, NOW)) is False
    assert await meta_store.get_thread_member(300, 5) == ThreadMember(300, 5, NOW + 5)
    assert [m.user_id for m in await meta_store.list_thread_members(300)] == [5, 7, 9]
    assert [m.user_id for m in await meta_store.list_thread_members(300, 5, 1)] == [7]
    assert set(await meta_store.joined_threads(7, [300, 404])) == {300}
    assert await meta_store.thread_member_ids([300, 404], 100) == {300: [5, 7, 9], 404: []}
    assert await meta_store.remove_thread_member(300, 7) is True
    assert await meta_store.remove_thread_member(300, 7) is False
    assert (await meta_store.get_channel(300)).thread.member_count == 2  # type: ignore[union-attr]


async def test_active_and_archived_listings_archive_idle_threads_when_read(
    meta_store: MetaStore,
) -> None:
    await make_guild(meta_store)
    await meta_store.create_thread(thread(300), [])  # idle after NOW + 1 h
    await meta_store.create_thread(thread(301, at=NOW + HOUR), [])
    await meta_store.create_thread(thread(302, archived=True, archive_timestamp=NOW + 10), [])
    await meta_store.create_thread(thread(303, ChannelType.PRIVATE_THREAD, archived=True), [
        ThreadMember(303, 8, NOW)])
    await meta_store.create_thread(thread(304, ChannelType.PRIVATE_THREAD, archived=True), [])
    active = await meta_store.list_active_threads(GUILD, NOW + HOUR + 1, 10)
    assert [c.id for c in active] == [301]
    assert [c.id for c in await meta_store.list_active_threads(GUILD, NOW, 1)] == [300]
    public = await meta_store.list_archived_threads(
        GENERAL, ChannelType.PUBLIC_THREAD, NOW + HOUR + 1, before_ms=1 << 62, limit=10)
    assert [c.id for c in public] == [300, 302]  # archived at NOW + 1 h, then NOW + 10
    older = await meta_store.list_archived_threads(
        GENERAL, ChannelType.PUBLIC_THREAD, NOW + HOUR + 1, before_ms=NOW + HOUR, limit=10)
    assert [c.id for c in older] == [302]
    private = await meta_store.list_archived_threads(
        GENERAL, ChannelType.PRIVATE_THREAD, NOW, before_ms=1 << 62, limit=10)
    assert {c.id for c in private} == {303, 304}
    mine = await meta_store.list_archived_threads(
        GENERAL, ChannelType.PRIVATE_THREAD, NOW, before_ms=1 << 62, limit=10, member_id=8)
    assert [c.id for c in mine] == [303]


async def test_deleting_the_parent_deletes_its_threads(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_thread(thread(300), [ThreadMember(300, OWNER, NOW)])
    assert await meta_store.delete_channel(GENERAL) is True
    assert await meta_store.get_channel(300) is None
    assert await meta_store.get_thread_member(300, OWNER) is None
