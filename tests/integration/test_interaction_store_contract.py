"""The storage contract's interaction half (``MetaStore``'s interaction methods), on every SQL
backend.

Apart from test_storage_contract.py only to keep that file's edits apart; the same fixtures
(``meta_store``, parametrized over SQLite and PostgreSQL) and the same guild.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from core.models import Interaction
from core.store.base import MetaStore
from tests.integration.test_storage_contract import GENERAL, GUILD, NOW, OWNER

APP = 900


def interaction(interaction_id: int, token_hash: str = "h1", *, at: int = NOW) -> Interaction:
    return Interaction(interaction_id, APP, 2, token_hash, OWNER, GENERAL, GUILD, at)


async def test_stored_found_by_id_and_by_token_hash(meta_store: MetaStore) -> None:
    made = interaction(500)
    await meta_store.create_interaction(made, NOW - 1)
    assert await meta_store.get_interaction(500) == made
    assert await meta_store.interaction_by_token("h1") == made
    assert await meta_store.get_interaction(501) is None
    assert await meta_store.interaction_by_token("nope") is None
    dm = replace(interaction(502, "h2"), guild_id=None, type=3, message_id=77)
    await meta_store.create_interaction(dm, NOW - 1)
    assert await meta_store.get_interaction(502) == dm


async def test_acknowledged_once_even_when_answers_race(meta_store: MetaStore) -> None:
    await meta_store.create_interaction(interaction(500), NOW - 1)
    results = await asyncio.gather(*(
        meta_store.acknowledge_interaction(500, 4, original_id=600 + i, ephemeral=False,
                                           original=None) for i in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    got = await meta_store.get_interaction(500)
    assert got is not None and got.acknowledged and got.response_type == 4
    assert got.original_id is not None and 600 <= got.original_id < 605
    assert await meta_store.acknowledge_interaction(
        404, 4, original_id=None, ephemeral=False, original=None) is False


async def test_ephemeral_original_kept_and_replaced(meta_store: MetaStore) -> None:
    await meta_store.create_interaction(interaction(500), NOW - 1)
    assert await meta_store.acknowledge_interaction(500, 5, original_id=None, ephemeral=True,
                                                    original=None)
    assert await meta_store.set_interaction_original(500, 610, '{"id": "610"}')
    got = await meta_store.get_interaction(500)
    assert got is not None and (got.ephemeral, got.response_type) == (True, 5)
    assert (got.original_id, got.original) == (610, '{"id": "610"}')
    assert await meta_store.set_interaction_original(404, 1, None) is False


async def test_expired_ones_pruned_by_later_inserts(meta_store: MetaStore) -> None:
    await meta_store.create_interaction(interaction(500, "old", at=NOW - 1000), NOW - 2000)
    await meta_store.create_interaction(interaction(501, "kept", at=NOW - 10), NOW - 2000)
    await meta_store.create_interaction(interaction(502, "new", at=NOW), NOW - 500)
    assert await meta_store.get_interaction(500) is None
    assert await meta_store.interaction_by_token("old") is None
    assert await meta_store.get_interaction(501) is not None
    assert await meta_store.get_interaction(502) is not None


async def test_state_kept_set_by_the_answer_and_taken_once(meta_store: MetaStore) -> None:
    """An autocomplete's state is stored with it; a modal's is set by the answer (callback 9)
    and taken by exactly one of racing submits."""
    typed = replace(interaction(500), type=4, state='{"option_type": 3}')
    await meta_store.create_interaction(typed, NOW - 1)
    assert await meta_store.get_interaction(500) == typed
    await meta_store.create_interaction(interaction(501, "h2"), NOW - 1)
    assert await meta_store.acknowledge_interaction(501, 9, original_id=None, ephemeral=False,
                                                    original=None, state='{"m": 1}')
    got = await meta_store.get_interaction(501)
    assert got is not None and got.state == '{"m": 1}'
    taken = await asyncio.gather(*(meta_store.take_interaction_state(501, '{"m": 1}')
                                   for _ in range(4)))
    assert sorted(taken) == [False] * 3 + [True]
    got = await meta_store.get_interaction(501)
    assert got is not None and got.state is None
    assert await meta_store.take_interaction_state(501, '{"m": 1}') is False


async def test_found_by_its_ephemeral_original(meta_store: MetaStore) -> None:
    """An ephemeral response's message (kept on its interaction) is found by its id; a
    stored (not ephemeral) one is not, nor an unknown id."""
    await meta_store.create_interaction(interaction(500), NOW - 1)
    assert await meta_store.acknowledge_interaction(500, 4, original_id=700, ephemeral=True,
                                                    original='{"id": "700"}')
    await meta_store.create_interaction(interaction(501, "h2"), NOW - 1)
    assert await meta_store.acknowledge_interaction(501, 4, original_id=701, ephemeral=False,
                                                    original=None)
    got = await meta_store.interaction_by_original(700)
    assert got is not None and got.id == 500 and got.original == '{"id": "700"}'
    assert await meta_store.interaction_by_original(701) is None
    assert await meta_store.interaction_by_original(702) is None


async def test_command_name_kept(meta_store: MetaStore) -> None:
    named = replace(interaction(500), name="admin role give")
    await meta_store.create_interaction(named, NOW - 1)
    assert await meta_store.get_interaction(500) == named
    assert (await meta_store.interaction_by_token("h1") or interaction(0)).name == (
        "admin role give")
    await meta_store.create_interaction(interaction(501, "h2"), NOW - 1)
    assert (await meta_store.get_interaction(501) or named).name == ""


async def test_ephemeral_followups_kept_bounded_edited_and_pruned(meta_store: MetaStore) -> None:
    """An interaction's ephemeral follow-ups: found by message id with their interaction, the
    newest ``keep`` of each interaction only, replaced and forgotten, and pruned with the
    interaction by a later insert."""
    owner = interaction(500)
    await meta_store.create_interaction(owner, NOW - 1)
    other = interaction(501, "h2")
    await meta_store.create_interaction(other, NOW - 1)
    await meta_store.add_interaction_followup(other, 900, '{"id": "900"}', 2)
    for message_id in (701, 702, 703):
        await meta_store.add_interaction_followup(owner, message_id, f'{{"id": "{message_id}"}}',
                                                  2)
    assert await meta_store.interaction_followup(701) is None  # the oldest beyond 2
    assert await meta_store.interaction_followup(702) == (owner, '{"id": "702"}')
    assert await meta_store.interaction_followup(703) == (owner, '{"id": "703"}')
    assert await meta_store.interaction_followup(900) == (other, '{"id": "900"}')
    assert await meta_store.set_interaction_followup(702, '{"id": "702", "content": "x"}')
    assert await meta_store.interaction_followup(702) == (
        owner, '{"id": "702", "content": "x"}')
    assert await meta_store.set_interaction_followup(703, None)
    assert await meta_store.interaction_followup(703) is None
    assert await meta_store.set_interaction_followup(703, "{}") is False
    assert await meta_store.set_interaction_followup(703, None) is False
    # Not an original: interaction_by_original does not find a follow-up.
    assert await meta_store.interaction_by_original(702) is None
    # A later insert prunes expired interactions and their follow-ups alike.
    await meta_store.create_interaction(interaction(502, "h3", at=NOW + 10), NOW + 1)
    assert await meta_store.interaction_followup(702) is None
    assert await meta_store.interaction_followup(900) is None
