"""The mention index's rows (core.mentions) and the router's after_write hook that writes them:
one row per target as written, never per member reached; once per batch, before publishing,
with the written messages only."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from core.events import Event
from core.mentions import MentionIndex, mention_rows
from core.models import Mention, Message
from core.router import MessageRouter, WriteFailed
from core.store.cache import MemoryCache
from tests.unit.test_router import FakeBus, FakeStore

GUILD, CHANNEL, DM, AUTHOR = 1, 10, 11, 20


def guild_message(message_id: int, **kw: Any) -> Message:
    return Message(message_id, CHANNEL, AUTHOR, "hi", guild_id=GUILD, **kw)


def test_a_message_that_mentions_nobody_adds_no_row() -> None:
    assert mention_rows([guild_message(1)]) == []


def test_everyone_is_one_row_whatever_the_guild_size() -> None:
    # The @everyone role's id is the guild's: one row reaches 10,000 members as well as 2.
    assert mention_rows([guild_message(1, mention_everyone=True)]) == [
        Mention(CHANNEL, 1, AUTHOR, GUILD)]


def test_users_and_roles_are_a_row_each_once() -> None:
    rows = mention_rows([guild_message(1, mentions=(5, 6, 5), mention_roles=(7,),
                                       mention_everyone=True)])
    assert [r.target_id for r in rows] == [5, 6, 7, GUILD]


def test_a_private_message_targets_its_channel_unless_a_system_message() -> None:
    plain = Message(1, DM, AUTHOR, "hi")
    reply = Message(2, DM, AUTHOR, "re", type=19)
    added = Message(3, DM, AUTHOR, "", type=1, mentions=(5,))
    assert mention_rows([plain, reply, added]) == [
        Mention(DM, 1, AUTHOR, DM), Mention(DM, 2, AUTHOR, DM)]


class FakeMeta:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[Mention]] = []
        self.fail = fail

    async def add_mentions(self, rows: Sequence[Mention]) -> None:
        self.calls.append(list(rows))
        if self.fail:
            raise OSError("down")


async def test_mention_index_writes_a_batch_in_one_call_and_never_raises() -> None:
    meta, errors = FakeMeta(), []
    index = MentionIndex(meta, errors.append)  # type: ignore[arg-type]
    await index.record([guild_message(1), guild_message(2, mentions=(5,)),
                        Message(3, DM, AUTHOR, "x")])
    await index.record([guild_message(4)])  # nothing to write: no call
    assert meta.calls == [[Mention(CHANNEL, 2, AUTHOR, 5), Mention(DM, 3, AUTHOR, DM)]]
    failing = FakeMeta(fail=True)
    await MentionIndex(failing, errors.append).record([guild_message(5, mentions=(5,))])  # type: ignore[arg-type]
    assert len(errors) == 1 and isinstance(errors[0], OSError)


async def test_after_write_sees_each_durable_batch_before_its_events() -> None:
    store = FakeStore()
    bus = FakeBus(store)
    seen: list[tuple[list[int], int]] = []

    async def after_write(messages: Sequence[Message]) -> None:
        seen.append(([m.id for m in messages], len(bus.events)))

    router = MessageRouter(store, bus, MemoryCache(), after_write=after_write)  # type: ignore[arg-type]
    await router.start()
    try:
        store.refused = {2}
        results = await asyncio.gather(
            *(router.submit(m, (Event("MESSAGE_CREATE", {"id": str(m.id)}),))
              for m in (guild_message(1), guild_message(2), guild_message(3))),
            return_exceptions=True)
        assert isinstance(results[1], WriteFailed)
        # Once for the batch, with what was written, before anything was published.
        assert seen == [([1, 3], 0)]
        assert [e.data["id"] for e in bus.events] == ["1", "3"]
    finally:
        await router.aclose()
