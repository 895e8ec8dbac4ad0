"""The storage contract (``core.store.base``), run against every backend.

``meta_store`` and ``message_store`` (tests/integration/conftest.py) are parametrized over
the backends, so each test here runs once per backend. The tests at the end, on
``sql_store`` and the ``open_*`` factories, cover what only the SQL backends have:
migrations, transactions and connection errors.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.models import (
    Account,
    Application,
    ApplicationCommand,
    AuditEntry,
    Ban,
    Channel,
    ChannelType,
    Guild,
    Invite,
    Member,
    Mention,
    Message,
    MessageReference,
    Overwrite,
    OverwriteType,
    ReactionCount,
    ReadState,
    RegistrationCode,
    Role,
    User,
    Webhook,
)
from core.snowflake import snowflake_from_ms
from core.store.base import (
    AUDIT_PRUNE_MAX,
    HISTORY_MAX,
    Conflict,
    LimitReached,
    MessageStore,
    MetaStore,
    PinOutcome,
    ReactionOutcome,
    RecipientOutcome,
    StoreUnavailable,
)
from core.store.migrations import MIGRATIONS, migrate
from core.store.mongo import MongoMessageStore
from core.store.postgres import PostgresStore
from core.store.searchquery import SearchQuery, StoreTimeout
from core.store.sql import SqlStore
from core.store.sqlite import SqliteStore

GUILD = 100  # also the id of its @everyone role
MOD = 101
HELPER = 102
CATEGORY = 200
GENERAL = 201
OWNER = 1
NOW = 1_700_000_000_000


def text_channel(channel_id: int, position: int = 0, **kw: Any) -> Channel:
    return Channel(channel_id, ChannelType.GUILD_TEXT, GUILD, f"c{channel_id}", position=position, **kw)


async def make_guild(meta: MetaStore, members: tuple[int, ...] = ()) -> None:
    """Guild GUILD: @everyone, MOD, HELPER; CATEGORY and GENERAL in it; the owner; ``members``."""
    roles = [
        Role(GUILD, GUILD, "@everyone", 0x400),
        Role(MOD, GUILD, "mod", 0x8, position=2, hoist=True),
        Role(HELPER, GUILD, "helper", 0x2000, position=1, mentionable=True),
    ]
    channels = [
        Channel(CATEGORY, ChannelType.GUILD_CATEGORY, GUILD, "text", position=0),
        text_channel(
            GENERAL, 1, parent_id=CATEGORY, topic="hi",
            overwrites=(Overwrite(MOD, OverwriteType.ROLE, 0x800, 0),
                        Overwrite(OWNER, OverwriteType.MEMBER, 0, 0x40)),
        ),
    ]
    owner = Member(GUILD, OWNER, NOW, roles=(MOD,))
    await meta.create_guild(Guild(GUILD, "guild", OWNER, system_channel_id=GENERAL), roles, channels, owner)
    for user_id in members:
        assert await meta.add_member(Member(GUILD, user_id, NOW + user_id))


def invite(code: str = "abc", **kw: Any) -> Invite:
    return Invite(code, GUILD, GENERAL, OWNER, kw.pop("created_at", NOW), **kw)


# -- users and auth ------------------------------------------------------------------------


async def test_create_user_round_trips_every_field(meta_store: MetaStore) -> None:
    user = User(7, "Seven", global_name="Se7en", avatar="a_1f", bot=True, flags=1 << 40)
    await meta_store.create_user(user, "argon2$hash")
    assert await meta_store.get_user(7) == user


async def test_create_user_conflicts_on_username_in_any_case(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "Alice"), None)
    with pytest.raises(Conflict):
        await meta_store.create_user(User(2, "aLICE"), None)
    assert await meta_store.get_user(2) is None


async def test_get_user_returns_none_when_missing(meta_store: MetaStore) -> None:
    assert await meta_store.get_user(404) is None


async def test_get_users_returns_only_existing_ids(meta_store: MetaStore) -> None:
    for user_id in range(1, 21):
        await meta_store.create_user(User(user_id, f"u{user_id}"), None)
    # More ids than one IN-list chunk, with duplicates and unknown ids mixed in.
    asked = [*range(0, 300), 5, 5]
    found = await meta_store.get_users(asked)
    assert sorted(found) == list(range(1, 21))
    assert found[5] == User(5, "u5")
    assert await meta_store.get_users([]) == {}


async def test_get_login_matches_username_in_any_case(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "Alice"), "h1")
    assert await meta_store.get_login("ALICE") == (User(1, "Alice"), "h1")
    assert await meta_store.get_login("bob") is None


async def test_get_login_returns_none_without_password(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "botty", bot=True), None)
    assert await meta_store.get_login("botty") is None


async def test_update_user_sets_fields(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "alice"), "h")
    updated = await meta_store.update_user(1, {"username": "Alicia", "global_name": "A", "avatar": "x"})
    assert updated == User(1, "Alicia", "A", "x")
    assert await meta_store.get_user(1) == updated
    assert await meta_store.get_login("alicia") == (updated, "h")
    assert await meta_store.get_login("alice") is None


async def test_update_user_allows_changing_the_case_of_its_own_name(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "alice"), None)
    assert (await meta_store.update_user(1, {"username": "ALICE"})) == User(1, "ALICE")


async def test_update_user_conflicts_on_taken_username(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "alice"), None)
    await meta_store.create_user(User(2, "bob"), None)
    with pytest.raises(Conflict):
        await meta_store.update_user(2, {"username": "Alice"})
    assert await meta_store.get_user(2) == User(2, "bob")


async def test_update_user_returns_none_when_missing(meta_store: MetaStore) -> None:
    assert await meta_store.update_user(404, {"global_name": "x"}) is None


async def test_resolve_token_returns_user_until_revoked(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "alice"), None)
    await meta_store.add_token(b"\x00hash-1", 1, NOW)
    await meta_store.add_token(b"\x00hash-2", 1, NOW)
    assert await meta_store.resolve_token(b"\x00hash-1") == 1
    assert await meta_store.revoke_token(b"\x00hash-1") is True
    assert await meta_store.resolve_token(b"\x00hash-1") is None
    assert await meta_store.resolve_token(b"\x00hash-2") == 1


async def test_revoke_token_returns_false_when_unknown(meta_store: MetaStore) -> None:
    assert await meta_store.resolve_token(b"nope") is None
    assert await meta_store.revoke_token(b"nope") is False


async def test_set_password_hash_replaces_only_the_expected_hash(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "alice"), "h1")
    assert await meta_store.set_password_hash(1, "h2", expected="h1") is True
    assert await meta_store.get_login("alice") == (User(1, "alice"), "h2")
    # A writer that read "h1" before the change loses: the newer hash stays.
    assert await meta_store.set_password_hash(1, "h-stale", expected="h1") is False
    assert await meta_store.get_login("alice") == (User(1, "alice"), "h2")
    assert await meta_store.set_password_hash(404, "h", expected="h2") is False


async def test_set_password_hash_never_gives_a_password_to_a_user_without_one(
    meta_store: MetaStore,
) -> None:
    await meta_store.create_user(User(1, "botty", bot=True), None)
    assert await meta_store.set_password_hash(1, "h", expected="") is False
    assert await meta_store.get_login("botty") is None


async def test_revoke_user_tokens_keeps_one_and_spares_other_users(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "alice"), None)
    await meta_store.create_user(User(2, "bob"), None)
    for token_hash, user_id in ((b"\x00a1", 1), (b"\x00a2", 1), (b"\x00a3", 1), (b"\x00b1", 2)):
        await meta_store.add_token(token_hash, user_id, NOW)
    assert sorted(await meta_store.revoke_user_tokens(1, keep=b"\x00a2")) == [b"\x00a1", b"\x00a3"]
    assert await meta_store.resolve_token(b"\x00a1") is None
    assert await meta_store.resolve_token(b"\x00a3") is None
    assert await meta_store.resolve_token(b"\x00a2") == 1
    assert await meta_store.resolve_token(b"\x00b1") == 2
    assert await meta_store.revoke_user_tokens(1) == [b"\x00a2"]
    assert await meta_store.revoke_user_tokens(1) == []


# -- instance administration (core.admin, core.instance, core.relay) ---------------------------


async def test_accounts_carry_their_flags_and_are_found_by_name_or_listed(
    meta_store: MetaStore,
) -> None:
    await meta_store.create_user(User(3, "Carol"), "h")
    await meta_store.create_user(User(1, "alice"), "h")
    await meta_store.create_user(User(2, "botty", bot=True), None)
    assert await meta_store.get_account(1) == Account(User(1, "alice"))
    assert await meta_store.find_account("CAROL") == Account(User(3, "Carol"))
    assert await meta_store.find_account("nobody") is None
    assert await meta_store.get_account(404) is None
    assert [a.user.id for a in await meta_store.list_accounts()] == [1, 2, 3]
    assert [a.user.id for a in await meta_store.list_accounts(after=1, limit=1)] == [2]
    assert (await meta_store.list_accounts(after=1))[0] == Account(User(2, "botty", bot=True))


async def test_set_account_flags_sets_only_what_is_given(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "alice"), "h")
    alice = User(1, "alice")
    assert await meta_store.set_account_flags(1, instance_admin=True) == Account(alice, False, True)
    assert await meta_store.set_account_flags(1, disabled=True) == Account(alice, True, True)
    assert await meta_store.set_account_flags(1) == Account(alice, True, True)
    assert await meta_store.set_account_flags(1, disabled=False, instance_admin=False) == \
        Account(alice)
    assert await meta_store.set_account_flags(404, disabled=True) is None
    # The flags are no part of the user (Discord's user object has no such fields).
    assert await meta_store.get_user(1) == alice


async def test_a_disabled_users_tokens_do_not_resolve_until_enabled(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "alice"), "h")
    await meta_store.create_user(User(2, "bob"), "h")
    await meta_store.add_token(b"\x00a", 1, NOW)
    await meta_store.add_token(b"\x00b", 2, NOW)
    await meta_store.set_account_flags(1, disabled=True)
    assert await meta_store.resolve_token(b"\x00a") is None
    assert await meta_store.resolve_token(b"\x00b") == 2
    await meta_store.set_account_flags(1, disabled=False)
    assert await meta_store.resolve_token(b"\x00a") == 1
    # A token whose user row is gone resolves as it always did.
    await meta_store.add_token(b"\x00c", 404, NOW)
    assert await meta_store.resolve_token(b"\x00c") == 404


async def test_list_guilds_pages_every_guild_by_id(meta_store: MetaStore) -> None:
    for guild_id in (300, 100, 200):
        await meta_store.create_guild(Guild(guild_id, f"g{guild_id}", OWNER), [], [],
                                      Member(guild_id, OWNER, NOW))
    assert [g.id for g in await meta_store.list_guilds()] == [100, 200, 300]
    assert await meta_store.list_guilds(after=100, limit=1) == [Guild(200, "g200", OWNER)]
    assert await meta_store.list_guilds(after=300) == []


async def test_settings_are_none_until_set_and_set_again(meta_store: MetaStore) -> None:
    assert await meta_store.get_setting("registration") is None
    await meta_store.set_setting("registration", "closed")
    await meta_store.set_setting("registration", "invite-only")
    assert await meta_store.get_setting("registration") == "invite-only"


async def test_registration_codes_are_created_listed_and_deleted(meta_store: MetaStore) -> None:
    later, first = RegistrationCode("b", NOW + 1, max_uses=0), RegistrationCode("a", NOW)
    await meta_store.create_registration_code(later)
    await meta_store.create_registration_code(first)
    with pytest.raises(Conflict):
        await meta_store.create_registration_code(RegistrationCode("a", NOW + 2))
    assert await meta_store.list_registration_codes() == [first, later]
    assert await meta_store.delete_registration_code("a") is True
    assert await meta_store.delete_registration_code("a") is False
    assert await meta_store.list_registration_codes() == [later]


async def test_create_user_with_code_counts_uses_up_to_the_limit(meta_store: MetaStore) -> None:
    await meta_store.create_registration_code(RegistrationCode("two", NOW, max_uses=2))
    assert await meta_store.create_user_with_code(User(1, "a1"), "h", "two") is True
    assert await meta_store.create_user_with_code(User(2, "a2"), "h", "two") is True
    assert await meta_store.create_user_with_code(User(3, "a3"), "h", "two") is False
    assert await meta_store.create_user_with_code(User(4, "a4"), "h", "unknown") is False
    assert await meta_store.get_user(3) is None and await meta_store.get_user(4) is None
    assert await meta_store.get_login("a2") == (User(2, "a2"), "h")
    assert (await meta_store.list_registration_codes())[0].uses == 2


async def test_create_user_with_code_uses_nothing_when_the_name_is_taken(
    meta_store: MetaStore,
) -> None:
    await meta_store.create_user(User(1, "alice"), "h")
    await meta_store.create_registration_code(RegistrationCode("one", NOW, max_uses=1))
    with pytest.raises(Conflict):
        await meta_store.create_user_with_code(User(2, "ALICE"), "h", "one")
    assert (await meta_store.list_registration_codes())[0].uses == 0
    assert await meta_store.create_user_with_code(User(2, "bob"), "h", "one") is True


async def test_create_user_with_code_is_atomic_under_concurrent_uses(
    meta_store: MetaStore,
) -> None:
    await meta_store.create_registration_code(RegistrationCode("three", NOW, max_uses=3))
    made = await asyncio.gather(*(
        meta_store.create_user_with_code(User(i, f"u{i}"), "h", "three") for i in range(1, 11)))
    assert made.count(True) == 3
    assert len(await meta_store.list_accounts()) == 3


async def test_relay_numbers_events_in_order_and_reads_after_a_number(
    meta_store: MetaStore,
) -> None:
    assert await meta_store.relay_head() == 0
    assert await meta_store.relay_events(["a", "b"], NOW, 60_000) == 2
    assert await meta_store.relay_events([], NOW, 60_000) == 2
    assert await meta_store.relay_events(["c"], NOW + 1, 60_000) == 3
    assert await meta_store.relayed_after(0, 10) == [(1, "a"), (2, "b"), (3, "c")]
    assert await meta_store.relayed_after(1, 1) == [(2, "b")]
    assert await meta_store.relayed_after(3, 10) == []
    assert await meta_store.relay_head() == 3


async def test_relay_prunes_old_events_but_never_goes_back(meta_store: MetaStore) -> None:
    await meta_store.relay_events(["old1", "old2"], NOW, 1_000)
    # Written past the old ones' age: they go, the numbering goes on.
    assert await meta_store.relay_events(["new"], NOW + 5_000, 1_000) == 3
    assert await meta_store.relayed_after(0, 10) == [(3, "new")]
    assert await meta_store.relay_events(["newer"], NOW + 10_000, 1_000) == 4
    assert await meta_store.relay_head() == 4


async def test_relay_gives_concurrent_writers_distinct_numbers(meta_store: MetaStore) -> None:
    heads = await asyncio.gather(*(
        meta_store.relay_events([f"e{i}a", f"e{i}b"], NOW, 60_000) for i in range(8)))
    assert sorted(heads) == list(range(2, 17, 2))
    rows = await meta_store.relayed_after(0, 100)
    assert [seq for seq, _ in rows] == list(range(1, 17))
    # Each writer's events are consecutive, in the order given.
    by_seq = dict(rows)
    for head in heads:
        assert by_seq[head - 1][:-1] == by_seq[head][:-1]
        assert (by_seq[head - 1][-1], by_seq[head][-1]) == ("a", "b")


# -- applications --------------------------------------------------------------------------


async def test_create_application_inserts_its_bot_user(meta_store: MetaStore) -> None:
    app = Application(50, "Bot App", OWNER, "desc", verify_key="ab12", bot_public=False, flags=8)
    bot = User(50, "botapp", bot=True)
    await meta_store.create_application(app, bot)
    assert await meta_store.get_application(50) == app
    assert await meta_store.get_user(50) == bot


async def test_create_application_is_atomic_when_bot_name_taken(meta_store: MetaStore) -> None:
    await meta_store.create_user(User(1, "taken"), None)
    with pytest.raises(Conflict):
        await meta_store.create_application(Application(50, "x", 1), User(50, "TAKEN", bot=True))
    assert await meta_store.get_application(50) is None
    assert await meta_store.get_user(50) is None


async def test_list_applications_returns_the_owners_only(meta_store: MetaStore) -> None:
    for app_id, owner in ((52, 1), (51, 1), (53, 2)):
        await meta_store.create_application(
            Application(app_id, f"a{app_id}", owner), User(app_id, f"b{app_id}", bot=True)
        )
    assert [a.id for a in await meta_store.list_applications(1)] == [51, 52]
    assert await meta_store.list_applications(3) == []


# -- guilds --------------------------------------------------------------------------------


async def test_create_guild_inserts_roles_channels_and_owner(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.get_guild(GUILD) == Guild(GUILD, "guild", OWNER, system_channel_id=GENERAL)
    assert [r.id for r in await meta_store.list_roles(GUILD)] == [GUILD, HELPER, MOD]
    general = await meta_store.get_channel(GENERAL)
    assert general is not None and general.parent_id == CATEGORY and general.topic == "hi"
    assert await meta_store.get_member(GUILD, OWNER) == Member(GUILD, OWNER, NOW, roles=(MOD,))


async def test_create_guild_is_atomic_on_conflict(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    clash = Channel(GENERAL, ChannelType.GUILD_TEXT, 900, "dup")  # GENERAL's id is taken
    with pytest.raises(Conflict):
        await meta_store.create_guild(
            Guild(900, "other", 2), [Role(900, 900, "@everyone", 0)], [clash], Member(900, 2, NOW)
        )
    assert await meta_store.get_guild(900) is None
    assert await meta_store.list_roles(900) == []
    assert await meta_store.get_member(900, 2) is None
    assert await meta_store.list_user_guilds(2) == []


async def test_get_guild_returns_none_when_missing(meta_store: MetaStore) -> None:
    assert await meta_store.get_guild(404) is None


async def test_update_guild_sets_fields(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    fields = {"name": "renamed", "icon": "ic", "description": "d", "owner_id": 2, "system_channel_id": None}
    updated = await meta_store.update_guild(GUILD, fields)
    assert updated == Guild(GUILD, "renamed", 2, "ic", "d", None)
    assert await meta_store.get_guild(GUILD) == updated
    assert await meta_store.update_guild(404, {"name": "x"}) is None


async def test_delete_guild_cascades_to_everything_in_it(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2, 3))
    assert await meta_store.add_member_role(GUILD, 2, HELPER)
    await meta_store.create_invite(invite("gone"))
    assert await meta_store.delete_guild(GUILD) is True
    assert await meta_store.get_guild(GUILD) is None
    assert await meta_store.list_roles(GUILD) == []
    assert await meta_store.list_channels(GUILD) == []
    assert await meta_store.get_channel(GENERAL) is None
    assert await meta_store.list_members(GUILD) == []
    assert await meta_store.count_members(GUILD) == 0
    assert await meta_store.get_invite("gone") is None
    assert await meta_store.list_user_guilds(2) == []
    # Nothing is left behind that would clash with the same ids again.
    await make_guild(meta_store, members=(2,))
    assert await meta_store.get_member(GUILD, 2) == Member(GUILD, 2, NOW + 2)


async def test_delete_guild_returns_false_when_missing(meta_store: MetaStore) -> None:
    assert await meta_store.delete_guild(404) is False


async def test_list_user_guilds_orders_by_id_and_counts(meta_store: MetaStore) -> None:
    for guild_id in (30, 10, 20):
        await meta_store.create_guild(Guild(guild_id, f"g{guild_id}", 9), [], [], Member(guild_id, 9, NOW))
    await meta_store.add_member(Member(20, 5, NOW))
    assert [g.id for g in await meta_store.list_user_guilds(9)] == [10, 20, 30]
    assert await meta_store.count_user_guilds(9) == 3
    assert [g.id for g in await meta_store.list_user_guilds(5)] == [20]
    assert await meta_store.count_user_guilds(404) == 0


# -- roles ---------------------------------------------------------------------------------


async def test_list_roles_orders_by_position_then_id(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_role(Role(99, GUILD, "same-pos-lower-id", 0, position=1))
    await meta_store.create_role(Role(150, GUILD, "top", 0, position=5, color=0xFF0000))
    roles = await meta_store.list_roles(GUILD)
    assert [(r.position, r.id) for r in roles] == [(0, GUILD), (1, 99), (1, HELPER), (2, MOD), (5, 150)]
    assert roles[-1] == Role(150, GUILD, "top", 0, position=5, color=0xFF0000)


async def test_get_role_requires_the_matching_guild(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.get_role(GUILD, MOD) == Role(MOD, GUILD, "mod", 0x8, position=2, hoist=True)
    assert await meta_store.get_role(999, MOD) is None


async def test_update_role_sets_fields(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    fields = {"name": "admin", "permissions": 1 << 45, "position": 7, "color": 3, "hoist": False, "mentionable": True}
    updated = await meta_store.update_role(GUILD, MOD, fields)
    assert updated == Role(MOD, GUILD, "admin", 1 << 45, 7, 3, False, True, False)
    assert await meta_store.get_role(GUILD, MOD) == updated


async def test_update_role_returns_none_for_another_guild(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.update_role(999, MOD, {"name": "x"}) is None
    assert (await meta_store.get_role(GUILD, MOD)).name == "mod"  # type: ignore[union-attr]


async def test_delete_role_removes_it_from_members_and_overwrites(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2,))
    assert await meta_store.add_member_role(GUILD, 2, MOD)
    assert await meta_store.add_member_role(GUILD, 2, HELPER)
    assert await meta_store.delete_role(GUILD, MOD) is True
    assert await meta_store.get_role(GUILD, MOD) is None
    assert (await meta_store.get_member(GUILD, 2)).roles == (HELPER,)  # type: ignore[union-attr]
    assert (await meta_store.get_member(GUILD, OWNER)).roles == ()  # type: ignore[union-attr]
    general = await meta_store.get_channel(GENERAL)
    assert general is not None and [o.id for o in general.overwrites] == [OWNER]
    assert await meta_store.delete_role(GUILD, MOD) is False


# -- channels ------------------------------------------------------------------------------


async def test_list_channels_orders_by_position_then_id(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_channel(text_channel(150, 1, nsfw=True, rate_limit_per_user=5))
    await meta_store.create_channel(
        text_channel(300, 0, overwrites=(Overwrite(HELPER, OverwriteType.ROLE, 1, 2),))
    )
    channels = await meta_store.list_channels(GUILD)
    assert [(c.position, c.id) for c in channels] == [(0, CATEGORY), (0, 300), (1, 150), (1, GENERAL)]
    by_id = {c.id: c for c in channels}
    assert by_id[150] == text_channel(150, 1, nsfw=True, rate_limit_per_user=5)
    assert by_id[300].overwrites == (Overwrite(HELPER, OverwriteType.ROLE, 1, 2),)
    assert by_id[GENERAL].overwrites == (
        Overwrite(OWNER, OverwriteType.MEMBER, 0, 0x40),
        Overwrite(MOD, OverwriteType.ROLE, 0x800, 0),
    )


async def test_get_channel_returns_none_when_missing(meta_store: MetaStore) -> None:
    assert await meta_store.get_channel(404) is None


async def test_update_channel_sets_fields_and_replaces_overwrites(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    new_overwrites = (Overwrite(HELPER, OverwriteType.ROLE, 4, 8),)
    fields = {"name": "renamed", "topic": None, "position": 9, "parent_id": None, "nsfw": True,
              "rate_limit_per_user": 30, "last_message_id": 5000, "overwrites": new_overwrites}
    updated = await meta_store.update_channel(GENERAL, fields)
    expected = Channel(GENERAL, ChannelType.GUILD_TEXT, GUILD, "renamed", None, 9, None, True, 30,
                       new_overwrites, (), 5000)
    assert updated == expected
    assert await meta_store.get_channel(GENERAL) == expected


async def test_update_channel_clears_overwrites_with_empty_list(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    updated = await meta_store.update_channel(GENERAL, {"overwrites": []})
    assert updated is not None and updated.overwrites == () and updated.topic == "hi"


async def test_update_channel_returns_none_when_missing(meta_store: MetaStore) -> None:
    assert await meta_store.update_channel(404, {"name": "x"}) is None
    overwrites = [Overwrite(MOD, OverwriteType.ROLE, 1, 0)]
    assert await meta_store.update_channel(404, {"overwrites": overwrites}) is None


async def test_put_overwrite_creates_then_replaces(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.put_overwrite(GENERAL, Overwrite(HELPER, OverwriteType.ROLE, 1, 0))
    await meta_store.put_overwrite(GENERAL, Overwrite(MOD, OverwriteType.ROLE, 0, 16))
    channel = await meta_store.get_channel(GENERAL)
    assert channel is not None
    assert {o.id: o for o in channel.overwrites} == {
        OWNER: Overwrite(OWNER, OverwriteType.MEMBER, 0, 0x40),
        MOD: Overwrite(MOD, OverwriteType.ROLE, 0, 16),
        HELPER: Overwrite(HELPER, OverwriteType.ROLE, 1, 0),
    }


async def test_put_overwrite_does_nothing_when_the_channel_is_gone(meta_store: MetaStore) -> None:
    await meta_store.put_overwrite(404, Overwrite(MOD, OverwriteType.ROLE, 1, 0))
    assert await meta_store.get_channel(404) is None


async def test_delete_overwrite_returns_false_when_missing(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.delete_overwrite(GENERAL, MOD) is True
    assert await meta_store.delete_overwrite(GENERAL, MOD) is False
    channel = await meta_store.get_channel(GENERAL)
    assert channel is not None and [o.id for o in channel.overwrites] == [OWNER]


async def test_delete_channel_removes_overwrites_invites_and_parent_links(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_invite(invite("inv"))
    assert await meta_store.delete_channel(CATEGORY) is True
    assert (await meta_store.get_channel(GENERAL)).parent_id is None  # type: ignore[union-attr]
    assert await meta_store.delete_channel(GENERAL) is True
    assert await meta_store.get_channel(GENERAL) is None
    assert (await meta_store.get_guild(GUILD)).system_channel_id is None  # type: ignore[union-attr]
    assert await meta_store.get_invite("inv") is None
    assert await meta_store.list_channels(GUILD) == []
    assert await meta_store.delete_channel(GENERAL) is False
    # A channel with the same id comes back without the old overwrites.
    await meta_store.create_channel(text_channel(GENERAL))
    assert (await meta_store.get_channel(GENERAL)).overwrites == ()  # type: ignore[union-attr]


# -- webhooks ------------------------------------------------------------------------------

OTHER_GENERAL = 202  # a second text channel of GUILD


def webhook(webhook_id: int, channel_id: int = GENERAL, **kw: Any) -> Webhook:
    return Webhook(webhook_id, kw.pop("guild_id", GUILD), channel_id, OWNER,
                   kw.pop("name", f"hook{webhook_id}"), kw.pop("token", f"t{webhook_id}" * 9),
                   **kw)


async def test_create_webhook_round_trips_and_lists_by_channel_and_guild(
    meta_store: MetaStore,
) -> None:
    await make_guild(meta_store)
    await meta_store.create_channel(text_channel(OTHER_GENERAL))
    full = webhook(1002, avatar="a" * 32, application_id=77)
    for hook in (full, webhook(1001), webhook(1003, OTHER_GENERAL)):
        assert await meta_store.create_webhook(hook, 10) is True
    assert await meta_store.get_webhook(1002) == full
    assert await meta_store.get_webhook(404) is None
    assert [w.id for w in await meta_store.list_channel_webhooks(GENERAL)] == [1001, 1002]
    assert [w.id for w in await meta_store.list_guild_webhooks(GUILD)] == [1001, 1002, 1003]
    assert await meta_store.list_guild_webhooks(404) == []


async def test_create_webhook_refuses_past_the_limit_even_racing(meta_store: MetaStore) -> None:
    await make_guild(meta_store)

    async def one(webhook_id: int) -> bool:
        try:
            return await meta_store.create_webhook(webhook(webhook_id), 3)
        except LimitReached:
            return False

    made = await asyncio.gather(*(one(2000 + i) for i in range(8)))
    assert sum(made) == 3 and len(await meta_store.list_channel_webhooks(GENERAL)) == 3
    with pytest.raises(LimitReached):
        await meta_store.create_webhook(webhook(2100), 3)


async def test_create_webhook_returns_false_when_the_channel_is_gone(
    meta_store: MetaStore,
) -> None:
    await make_guild(meta_store)
    assert await meta_store.create_webhook(webhook(1, channel_id=404), 10) is False
    # A channel of another guild is none of this guild's.
    assert await meta_store.create_webhook(webhook(2, guild_id=404), 10) is False
    assert await meta_store.get_webhook(1) is None and await meta_store.get_webhook(2) is None


async def test_update_webhook_sets_fields_and_moves_within_its_guild(
    meta_store: MetaStore,
) -> None:
    await make_guild(meta_store)
    await meta_store.create_channel(text_channel(OTHER_GENERAL))
    await meta_store.create_webhook(webhook(1, avatar="old"), 10)
    got = await meta_store.update_webhook(1, {"name": "new", "avatar": None}, max_per_channel=10)
    assert got == webhook(1, name="new")
    moved = await meta_store.update_webhook(1, {"channel_id": OTHER_GENERAL}, max_per_channel=10)
    assert moved == webhook(1, OTHER_GENERAL, name="new")
    assert await meta_store.get_webhook(1) == moved
    # Into a full channel: refused; staying where it is never counts against it.
    await meta_store.create_webhook(webhook(2), 10)
    with pytest.raises(LimitReached):
        await meta_store.update_webhook(1, {"channel_id": GENERAL}, max_per_channel=1)
    again = await meta_store.update_webhook(2, {"channel_id": GENERAL, "name": "same place"},
                                            max_per_channel=1)
    assert again is not None and again.name == "same place"
    # Never to a channel that is gone or of another guild; nothing for an unknown webhook.
    other_guild = Guild(900, "other", OWNER)
    await meta_store.create_guild(other_guild, [], [Channel(901, ChannelType.GUILD_TEXT, 900)],
                                  Member(900, OWNER, NOW))
    for target in (404, 901):
        assert await meta_store.update_webhook(1, {"channel_id": target},
                                               max_per_channel=10) is None
    assert await meta_store.get_webhook(1) == moved
    assert await meta_store.update_webhook(404, {"name": "x"}, max_per_channel=10) is None
    with pytest.raises(ValueError):
        await meta_store.update_webhook(1, {"token": "stolen"}, max_per_channel=10)


async def test_webhooks_go_with_their_channel_or_guild(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_channel(text_channel(OTHER_GENERAL))
    for hook in (webhook(1), webhook(2, OTHER_GENERAL)):
        await meta_store.create_webhook(hook, 10)
    assert await meta_store.delete_webhook(1) is True
    assert await meta_store.delete_webhook(1) is False
    await meta_store.create_webhook(webhook(3), 10)
    assert await meta_store.delete_channel(GENERAL) is True
    assert await meta_store.get_webhook(3) is None
    assert await meta_store.delete_guild(GUILD) is True
    assert await meta_store.get_webhook(2) is None


# -- application commands ------------------------------------------------------------------

APP = 77


def command(command_id: int, name: str, guild_id: int | None = None, **kw: Any) -> ApplicationCommand:
    return ApplicationCommand(command_id, kw.pop("application_id", APP), guild_id,
                              kw.pop("type", 1), name, kw.pop("version", command_id),
                              kw.pop("definition", '{"description": "d"}'))


async def test_commands_are_scoped_by_application_and_guild(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.upsert_command(command(1, "ping"), 100) == (command(1, "ping"), True)
    assert (await meta_store.upsert_command(command(2, "ping", GUILD), 100)
            == (command(2, "ping", GUILD), True))
    # The same name as a USER command, and another application's: other commands.
    await meta_store.upsert_command(command(3, "ping", type=2), 100)
    await meta_store.upsert_command(command(4, "ping", application_id=78), 100)
    assert [c.id for c in await meta_store.list_commands(APP, None, 100)] == [1, 3]
    assert [c.id for c in await meta_store.list_commands(APP, GUILD, 100)] == [2]
    assert [c.id for c in await meta_store.list_commands(APP, None, 1)] == [1]
    assert await meta_store.get_command(APP, None, 1) == command(1, "ping")
    # Never through another scope.
    assert await meta_store.get_command(APP, GUILD, 1) is None
    assert await meta_store.get_command(78, None, 1) is None
    assert await meta_store.delete_command(78, None, 1) is False
    assert await meta_store.delete_command(APP, None, 1) is True
    assert await meta_store.get_command(APP, None, 1) is None


async def test_upsert_command_replaces_by_name_and_counts_per_type(meta_store: MetaStore) -> None:
    await meta_store.upsert_command(command(1, "ping"), 2)
    again = await meta_store.upsert_command(command(9, "ping", version=5, definition="{}"), 2)
    assert again == (command(1, "ping", version=5, definition="{}"), False)
    await meta_store.upsert_command(command(2, "pong"), 2)
    with pytest.raises(LimitReached):
        await meta_store.upsert_command(command(3, "third"), 2)
    # Replacing one at the limit is no new one; another type has its own count.
    assert (await meta_store.upsert_command(command(4, "pong"), 2))[1] is False  # type: ignore[index]
    assert (await meta_store.upsert_command(command(5, "menu", type=3), 2))[1] is True  # type: ignore[index]


async def test_upsert_command_racing_for_the_last_place_gets_one(meta_store: MetaStore) -> None:
    async def one(i: int) -> bool:
        try:
            return (await meta_store.upsert_command(command(100 + i, f"c{i}"), 3)) is not None
        except LimitReached:
            return False

    made = await asyncio.gather(*(one(i) for i in range(8)))
    assert sum(made) == 3 and len(await meta_store.list_commands(APP, None, 100)) == 3


async def test_update_command_renames_and_refuses_a_taken_name(meta_store: MetaStore) -> None:
    await meta_store.upsert_command(command(1, "ping"), 100)
    await meta_store.upsert_command(command(2, "pong"), 100)
    renamed = command(1, "pang", version=7)
    assert await meta_store.update_command(renamed) == renamed
    assert await meta_store.get_command(APP, None, 1) == renamed
    with pytest.raises(Conflict):
        await meta_store.update_command(command(1, "pong"))
    assert await meta_store.update_command(command(404, "x")) is None
    assert await meta_store.update_command(command(1, "x", application_id=78)) is None


async def test_replace_commands_keeps_ids_by_name_and_drops_the_rest(
    meta_store: MetaStore,
) -> None:
    await make_guild(meta_store)
    await meta_store.upsert_command(command(1, "ping", GUILD), 100)
    await meta_store.upsert_command(command(2, "gone", GUILD), 100)
    await meta_store.upsert_command(command(3, "global"), 100)
    out = await meta_store.replace_commands(
        APP, GUILD, [command(10, "new", GUILD), command(11, "ping", GUILD, version=11)])
    assert out == [command(10, "new", GUILD), command(1, "ping", GUILD, version=11)]
    assert [c.id for c in await meta_store.list_commands(APP, GUILD, 100)] == [1, 10]
    assert [c.id for c in await meta_store.list_commands(APP, None, 100)] == [3]
    assert await meta_store.replace_commands(APP, GUILD, []) == []
    assert await meta_store.list_commands(APP, GUILD, 100) == []
    assert await meta_store.replace_commands(APP, 404, [command(12, "x", 404)]) is None


async def test_guild_commands_go_with_their_guild(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.upsert_command(command(1, "ping", GUILD), 100)
    assert await meta_store.upsert_command(command(2, "ping", 404), 100) is None
    assert await meta_store.delete_guild(GUILD) is True
    assert await meta_store.get_command(APP, GUILD, 1) is None


# -- DMs -----------------------------------------------------------------------------------


def dm(channel_id: int, a: int, b: int) -> Channel:
    return Channel(channel_id, ChannelType.DM, recipients=(a, b))


async def test_get_or_create_dm_returns_one_channel_whatever_the_order(meta_store: MetaStore) -> None:
    first = await meta_store.get_or_create_dm(dm(500, 2, 1))
    again = await meta_store.get_or_create_dm(dm(501, 1, 2))
    assert first.id == again.id == 500
    assert first.type is ChannelType.DM and first.guild_id is None
    assert sorted(first.recipients) == [1, 2] and again == first
    assert await meta_store.get_channel(501) is None
    assert await meta_store.get_channel(500) == first


async def test_get_or_create_dm_is_unique_under_concurrent_calls(meta_store: MetaStore) -> None:
    calls = [meta_store.get_or_create_dm(dm(600 + i, *((3, 4) if i % 2 else (4, 3)))) for i in range(12)]
    channels = await asyncio.gather(*calls)
    assert len({c.id for c in channels}) == 1
    assert [c.id for c in await meta_store.list_dms(3)] == [channels[0].id]
    assert [c.id for c in await meta_store.list_dms(4)] == [channels[0].id]


async def test_list_dms_lists_the_channels_of_either_recipient(meta_store: MetaStore) -> None:
    await meta_store.get_or_create_dm(dm(702, 5, 1))
    await meta_store.get_or_create_dm(dm(701, 1, 9))
    await meta_store.get_or_create_dm(dm(703, 5, 9))
    assert [c.id for c in await meta_store.list_dms(1)] == [701, 702]
    assert [c.id for c in await meta_store.list_dms(9)] == [701, 703]
    assert await meta_store.list_dms(404) == []


async def test_delete_channel_frees_the_dm_pair(meta_store: MetaStore) -> None:
    await meta_store.get_or_create_dm(dm(800, 1, 2))
    assert await meta_store.delete_channel(800) is True
    assert (await meta_store.get_or_create_dm(dm(801, 2, 1))).id == 801


# -- group DMs -----------------------------------------------------------------------------


def group(channel_id: int, owner: int, *others: int, **kw: Any) -> Channel:
    return Channel(channel_id, ChannelType.GROUP_DM, name=kw.pop("name", None),
                   recipients=(owner, *others), owner_id=owner, **kw)


async def test_create_group_dm_round_trips_owner_name_icon_and_recipients(
    meta_store: MetaStore,
) -> None:
    await meta_store.create_group_dm(group(900, 3, 1, 2, name="trip", icon="abc"), NOW)
    got = await meta_store.get_channel(900)
    assert got == Channel(900, ChannelType.GROUP_DM, name="trip", recipients=(1, 2, 3),
                          owner_id=3, icon="abc")
    await meta_store.get_or_create_dm(dm(899, 1, 5))
    assert [c.id for c in await meta_store.list_dms(1)] == [899, 900]
    assert [c.id for c in await meta_store.list_dms(3)] == [900]
    assert await meta_store.list_dms(5) == [await meta_store.get_channel(899)]


async def test_add_recipient_once_up_to_the_limit(meta_store: MetaStore) -> None:
    await meta_store.create_group_dm(group(900, 1, 2), NOW)
    assert await meta_store.add_recipient(900, 3, NOW, max_recipients=3) is RecipientOutcome.ADDED
    assert await meta_store.add_recipient(
        900, 3, NOW, max_recipients=3) is RecipientOutcome.ALREADY_RECIPIENT
    assert await meta_store.add_recipient(
        900, 4, NOW, max_recipients=3) is RecipientOutcome.LIMIT_REACHED
    got = await meta_store.get_channel(900)
    assert got is not None and got.recipients == (1, 2, 3)
    await meta_store.get_or_create_dm(dm(901, 1, 2))
    await make_guild(meta_store)
    for not_a_group in (901, GENERAL, 404):
        outcome = await meta_store.add_recipient(not_a_group, 7, NOW, max_recipients=10)
        assert outcome is RecipientOutcome.UNKNOWN_CHANNEL


async def test_adds_racing_for_the_last_place_get_one(meta_store: MetaStore) -> None:
    await meta_store.create_group_dm(group(900, 1, 2), NOW)
    outcomes = await asyncio.gather(
        *(meta_store.add_recipient(900, u, NOW, max_recipients=3) for u in range(10, 20)))
    assert outcomes.count(RecipientOutcome.ADDED) == 1
    got = await meta_store.get_channel(900)
    assert got is not None and len(got.recipients) == 3


async def test_remove_recipient_hands_the_group_to_the_longest_there(
    meta_store: MetaStore,
) -> None:
    await meta_store.create_group_dm(group(900, 5, 9), NOW)
    await meta_store.add_recipient(900, 2, NOW + 1, max_recipients=10)
    assert await meta_store.remove_recipient(900, 7) is None
    after = await meta_store.remove_recipient(900, 9)
    assert after is not None and after.owner_id == 5 and after.recipients == (2, 5)
    after = await meta_store.remove_recipient(900, 5)  # the owner: to 2, the one left
    assert after is not None and after.owner_id == 2 and after.recipients == (2,)
    assert await meta_store.list_dms(5) == []
    after = await meta_store.remove_recipient(900, 2)
    assert after is not None and after.owner_id is None and after.recipients == ()


async def test_update_channel_sets_a_group_dms_name_icon_and_owner(meta_store: MetaStore) -> None:
    await meta_store.create_group_dm(group(900, 1, 2), NOW)
    updated = await meta_store.update_channel(900, {"name": "n", "icon": "i", "owner_id": 2})
    assert updated is not None and (updated.name, updated.icon, updated.owner_id) == ("n", "i", 2)
    cleared = await meta_store.update_channel(900, {"name": None, "icon": None})
    assert cleared is not None and (cleared.name, cleared.icon) == (None, None)


async def test_delete_channel_deletes_a_group_dms_recipients(meta_store: MetaStore) -> None:
    await meta_store.create_group_dm(group(900, 1, 2), NOW)
    assert await meta_store.delete_channel(900) is True
    assert await meta_store.list_dms(1) == [] and await meta_store.get_channel(900) is None


# -- read states and the mention index ---------------------------------------------------------


def at(ms_after_now: int, seq: int = 0) -> int:
    """A message id made ``ms_after_now`` ms after NOW (members of make_guild join at NOW +
    their user id)."""
    return snowflake_from_ms(NOW + ms_after_now) + seq


async def test_ack_channel_moves_forward_unless_manual(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2,))
    first = await meta_store.ack_channel(2, GENERAL, at(50), NOW)
    assert first == ReadState(GENERAL, at(50), 0, NOW)
    older = await meta_store.ack_channel(2, GENERAL, at(40), NOW)
    assert older is not None and older.last_message_id == at(50) and older.version == NOW + 1
    back = await meta_store.ack_channel(2, GENERAL, at(40), NOW + 10, manual=True)
    assert back == ReadState(GENERAL, at(40), 0, NOW + 10)
    assert await meta_store.ack_channel(2, 404, at(50), NOW) is None
    assert await meta_store.read_states(2) == [back]
    assert await meta_store.read_states(3) == []


async def test_mentions_count_after_the_ack_and_never_ones_own(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2, 3))
    await meta_store.add_mentions([
        Mention(GENERAL, at(10), 3, 2),  # 3 mentions 2
        Mention(GENERAL, at(20), 3, 2),
        Mention(GENERAL, at(30), 2, 2),  # 2 mentions themself: not counted
        Mention(GENERAL, at(30, 1), 3, GUILD),  # @everyone, also counted once
        Mention(GENERAL, at(30, 1), 3, 2),
    ])
    assert await meta_store.read_states(2) == [ReadState(GENERAL, 0, 3, 0)]
    acked = await meta_store.ack_channel(2, GENERAL, at(10), NOW)
    assert acked == ReadState(GENERAL, at(10), 2, NOW)
    assert await meta_store.read_states(2) == [acked]
    # 3 is reached by the @everyone only (1), not by their own messages' rows.
    assert await meta_store.read_states(3) == []
    await meta_store.add_mentions([Mention(GENERAL, at(40), 2, GUILD)])
    assert await meta_store.read_states(3) == [ReadState(GENERAL, 0, 1, 0)]


async def test_everyone_and_roles_count_from_when_the_member_joined(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2, 50))  # 2 joins at NOW + 2, 50 at NOW + 50
    assert await meta_store.add_member_role(GUILD, 50, HELPER)
    await meta_store.add_mentions([
        Mention(GENERAL, at(10), 2, GUILD),  # before 50 joined
        Mention(GENERAL, at(10, 1), 2, HELPER),
        Mention(GENERAL, at(60), 2, GUILD),  # after
        Mention(GENERAL, at(70), 2, HELPER),
        Mention(GENERAL, at(80), 2, MOD),  # a role 50 does not have
    ])
    assert await meta_store.read_states(50) == [ReadState(GENERAL, 0, 2, 0)]
    assert await meta_store.read_states(OWNER) == [ReadState(GENERAL, 0, 3, 0)]


async def test_private_channels_count_every_message_of_the_others(meta_store: MetaStore) -> None:
    await meta_store.get_or_create_dm(dm(800, 1, 2))
    await meta_store.create_group_dm(group(900, 1, 2), NOW)
    await meta_store.add_recipient(900, 3, NOW + 100, max_recipients=10)
    await meta_store.add_mentions([
        Mention(800, at(10), 1, 800), Mention(800, at(20), 1, 800), Mention(800, at(30), 2, 800),
        Mention(900, at(10), 1, 900), Mention(900, at(200), 2, 900),
    ])
    assert sorted(await meta_store.read_states(2), key=lambda r: r.channel_id) == [
        ReadState(800, 0, 2, 0), ReadState(900, 0, 1, 0)]
    # 3 was added at NOW + 100: the message before it is not theirs to read.
    assert await meta_store.read_states(3) == [ReadState(900, 0, 1, 0)]
    await meta_store.remove_recipient(900, 3)
    assert await meta_store.read_states(3) == []


async def test_a_mention_row_is_kept_once_and_skipped_for_a_gone_channel(
    meta_store: MetaStore,
) -> None:
    await make_guild(meta_store, members=(2,))
    row = Mention(GENERAL, at(10), OWNER, 2)
    await meta_store.add_mentions([row, row, Mention(404, at(10), OWNER, 2)])
    await meta_store.add_mentions([row])
    await meta_store.add_mentions([])
    assert await meta_store.read_states(2) == [ReadState(GENERAL, 0, 1, 0)]


async def test_deleting_a_channel_deletes_its_read_states_and_mentions(
    meta_store: MetaStore,
) -> None:
    await make_guild(meta_store, members=(2,))
    await meta_store.add_mentions([Mention(GENERAL, at(10), OWNER, 2)])
    await meta_store.ack_channel(2, CATEGORY, at(10), NOW)
    assert len(await meta_store.read_states(2)) == 2
    assert await meta_store.delete_guild(GUILD)
    assert await meta_store.read_states(2) == []


async def test_read_states_are_bounded_newest_first(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2,))
    channels = [text_channel(300 + i, i + 2) for i in range(5)]
    for c in channels:
        await meta_store.create_channel(c)
        await meta_store.ack_channel(2, c.id, at(c.id), NOW)
        await meta_store.add_mentions([Mention(c.id, at(1000 + c.id), OWNER, 2)])
    got = await meta_store.read_states(2, limit=2)
    assert [r.channel_id for r in got] == [304, 303]
    assert all(r.mention_count == 1 for r in got)


# -- members -------------------------------------------------------------------------------


async def test_add_member_returns_false_when_already_a_member(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.add_member(Member(GUILD, 2, NOW, nick="n", roles=(HELPER,), flags=1, deaf=True))
    assert await meta_store.add_member(Member(GUILD, 2, NOW + 1, nick="other", roles=(MOD,))) is False
    assert await meta_store.get_member(GUILD, 2) == Member(GUILD, 2, NOW, "n", (HELPER,), 1, True, False)
    assert await meta_store.count_members(GUILD) == 2


async def test_add_member_returns_false_when_the_guild_is_gone(meta_store: MetaStore) -> None:
    assert await meta_store.add_member(Member(404, 2, NOW, roles=(MOD,))) is False
    assert await meta_store.get_member(404, 2) is None


async def test_get_member_returns_none_when_missing(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.get_member(GUILD, 404) is None
    assert await meta_store.get_member(404, OWNER) is None


async def test_list_members_pages_with_after_and_limit(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(5, 3, 9, 7))
    for user_id in (3, 5, 7):  # roles must not eat into the page size
        await meta_store.update_member(GUILD, user_id, {"roles": [MOD, HELPER]})
    page = await meta_store.list_members(GUILD, after=0, limit=3)
    assert [m.user_id for m in page] == [OWNER, 3, 5]
    assert page[1].roles == (MOD, HELPER) or page[1].roles == (HELPER, MOD)
    page = await meta_store.list_members(GUILD, after=5, limit=3)
    assert [m.user_id for m in page] == [7, 9]
    assert await meta_store.list_members(GUILD, after=9) == []
    assert [m.user_id for m in await meta_store.list_members(GUILD)] == [OWNER, 3, 5, 7, 9]


async def test_count_members_counts_the_guild_only(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2, 3))
    await meta_store.create_guild(Guild(900, "other", 2), [], [], Member(900, 2, NOW))
    assert await meta_store.count_members(GUILD) == 3
    assert await meta_store.count_members(900) == 1


async def test_update_member_sets_fields_and_replaces_roles(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2,))
    await meta_store.add_member_role(GUILD, 2, MOD)
    fields = {"nick": "nick", "flags": 2, "deaf": True, "mute": True, "roles": [HELPER]}
    updated = await meta_store.update_member(GUILD, 2, fields)
    assert updated == Member(GUILD, 2, NOW + 2, "nick", (HELPER,), 2, True, True)
    assert await meta_store.get_member(GUILD, 2) == updated
    only_roles = await meta_store.update_member(GUILD, 2, {"roles": []})
    assert only_roles == Member(GUILD, 2, NOW + 2, "nick", (), 2, True, True)


async def test_member_timeout_is_stored_set_and_lifted(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    timed_out = Member(GUILD, 2, NOW, communication_disabled_until=NOW + 60_000)
    assert await meta_store.add_member(timed_out) is True
    assert await meta_store.get_member(GUILD, 2) == timed_out
    later = NOW + 28 * 24 * 3600 * 1000  # Discord's longest: still a BIGINT's business
    updated = await meta_store.update_member(GUILD, 2, {"communication_disabled_until": later})
    assert updated is not None and updated.communication_disabled_until == later
    [listed] = [m for m in await meta_store.list_members(GUILD) if m.user_id == 2]
    assert listed.communication_disabled_until == later
    lifted = await meta_store.update_member(GUILD, 2, {"communication_disabled_until": None})
    assert lifted == Member(GUILD, 2, NOW)


async def test_update_member_returns_none_when_missing(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.update_member(GUILD, 404, {"nick": "x"}) is None
    assert await meta_store.update_member(GUILD, 404, {"roles": [MOD]}) is None


async def test_remove_member_drops_its_roles(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2,))
    await meta_store.add_member_role(GUILD, 2, MOD)
    assert await meta_store.remove_member(GUILD, 2) is True
    assert await meta_store.get_member(GUILD, 2) is None
    assert await meta_store.remove_member(GUILD, 2) is False
    assert await meta_store.add_member(Member(GUILD, 2, NOW))
    assert (await meta_store.get_member(GUILD, 2)).roles == ()  # type: ignore[union-attr]


async def test_add_member_role_is_idempotent(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2,))
    assert await meta_store.add_member_role(GUILD, 2, HELPER) is True
    assert await meta_store.add_member_role(GUILD, 2, HELPER) is True
    assert (await meta_store.get_member(GUILD, 2)).roles == (HELPER,)  # type: ignore[union-attr]


async def test_add_member_role_returns_false_for_a_non_member(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.add_member_role(GUILD, 404, HELPER) is False
    assert await meta_store.get_member(GUILD, 404) is None


async def test_remove_member_role_returns_false_when_absent(meta_store: MetaStore) -> None:
    await make_guild(meta_store, members=(2,))
    await meta_store.add_member_role(GUILD, 2, HELPER)
    assert await meta_store.remove_member_role(GUILD, 2, HELPER) is True
    assert await meta_store.remove_member_role(GUILD, 2, HELPER) is False
    assert await meta_store.remove_member_role(GUILD, 404, HELPER) is False
    assert (await meta_store.get_member(GUILD, 2)).roles == ()  # type: ignore[union-attr]


# -- invites -------------------------------------------------------------------------------


async def test_create_invite_conflicts_on_taken_code(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    created = invite("code1", max_age=3600, max_uses=5, uses=1, temporary=True)
    await meta_store.create_invite(created)
    with pytest.raises(Conflict):
        await meta_store.create_invite(invite("code1"))
    assert await meta_store.get_invite("code1") == created
    assert await meta_store.get_invite("nope") is None


async def test_use_invite_counts_until_max_uses(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_invite(invite(max_uses=2))
    first = await meta_store.use_invite("abc", NOW)
    assert first is not None and first.uses == 1
    assert (await meta_store.use_invite("abc", NOW)).uses == 2  # type: ignore[union-attr]
    assert await meta_store.use_invite("abc", NOW) is None
    assert (await meta_store.get_invite("abc")).uses == 2  # type: ignore[union-attr]


async def test_use_invite_is_unlimited_with_zero_max_uses(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_invite(invite(max_uses=0, max_age=0, created_at=0))
    for expected in range(1, 6):
        assert (await meta_store.use_invite("abc", NOW)).uses == expected  # type: ignore[union-attr]


async def test_use_invite_returns_none_once_expired(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_invite(invite(max_age=60))
    assert await meta_store.use_invite("abc", NOW + 59_999) is not None
    assert await meta_store.use_invite("abc", NOW + 60_000) is None
    assert (await meta_store.get_invite("abc")).uses == 1  # type: ignore[union-attr]


async def test_use_invite_returns_none_when_unknown(meta_store: MetaStore) -> None:
    assert await meta_store.use_invite("nope", NOW) is None


async def test_use_invite_is_atomic_under_concurrent_uses(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_invite(invite(max_uses=5))
    results = await asyncio.gather(*(meta_store.use_invite("abc", NOW) for _ in range(20)))
    used = [r for r in results if r is not None]
    assert sorted(r.uses for r in used) == [1, 2, 3, 4, 5]
    assert (await meta_store.get_invite("abc")).uses == 5  # type: ignore[union-attr]


async def test_list_guild_invites_and_delete_invite(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_invite(invite("b", created_at=NOW + 1))
    await meta_store.create_invite(invite("a", created_at=NOW + 2))
    assert [i.code for i in await meta_store.list_guild_invites(GUILD)] == ["b", "a"]
    assert await meta_store.delete_invite("b") is True
    assert await meta_store.delete_invite("b") is False
    assert [i.code for i in await meta_store.list_guild_invites(GUILD)] == ["a"]
    assert await meta_store.list_guild_invites(404) == []


# -- bans ----------------------------------------------------------------------------------


async def test_add_ban_once_get_and_remove(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    ban = Ban(GUILD, 2, "spam", NOW)
    assert await meta_store.add_ban(ban) is True
    assert await meta_store.add_ban(Ban(GUILD, 2, "again", NOW + 1)) is False
    assert await meta_store.get_ban(GUILD, 2) == ban
    assert await meta_store.add_ban(Ban(GUILD, 3, None, NOW))
    assert await meta_store.get_ban(GUILD, 3) == Ban(GUILD, 3, None, NOW)
    assert await meta_store.remove_ban(GUILD, 2) is True
    assert await meta_store.remove_ban(GUILD, 2) is False
    assert await meta_store.get_ban(GUILD, 2) is None
    assert await meta_store.add_ban(Ban(404, 2, None, NOW)) is False  # no such guild
    assert await meta_store.get_ban(404, 2) is None


async def test_list_bans_pages_by_user_id_ascending(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    for user_id in (9, 3, 7, 5, 11):
        assert await meta_store.add_ban(Ban(GUILD, user_id, None, NOW))
    await meta_store.create_guild(Guild(900, "other", 2), [], [], Member(900, 2, NOW))
    assert await meta_store.add_ban(Ban(900, 4, None, NOW))
    assert [b.user_id for b in await meta_store.list_bans(GUILD)] == [3, 5, 7, 9, 11]
    assert [b.user_id for b in await meta_store.list_bans(GUILD, limit=2)] == [3, 5]
    assert [b.user_id for b in await meta_store.list_bans(GUILD, after=5, limit=2)] == [7, 9]
    # ``before``: the page just below it, still ascending (discord.py pages on its first id).
    assert [b.user_id for b in await meta_store.list_bans(GUILD, before=9, limit=2)] == [5, 7]
    assert [b.user_id for b in await meta_store.list_bans(GUILD, before=9, after=3)] == [5, 7]
    assert await meta_store.list_bans(GUILD, before=3) == []
    assert [b.user_id for b in await meta_store.list_bans(900)] == [4]


async def test_a_banned_user_cannot_be_added_as_a_member(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.add_ban(Ban(GUILD, 2, None, NOW))
    assert await meta_store.add_member(Member(GUILD, 2, NOW)) is False
    assert await meta_store.get_member(GUILD, 2) is None
    assert await meta_store.remove_ban(GUILD, 2)
    assert await meta_store.add_member(Member(GUILD, 2, NOW)) is True


# -- audit log -----------------------------------------------------------------------------

# Snowflake ids of the audit tests: the time part is all that matters to retention.
DAY_IDS = 1 << 22


async def test_audit_entries_round_trip_every_field(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    full = AuditEntry(
        1000, GUILD, 24, user_id=OWNER, target_id=2,
        changes=({"key": "nick", "old_value": None, "new_value": "n\u00e9"},
                 {"key": "$add", "new_value": [{"id": str(MOD), "name": "mod"}]}),
        options={"channel_id": str(GENERAL), "count": "1"}, reason="why: \"spam\" \u2014 ok",
    )
    bare = AuditEntry(1001, GUILD, 73)
    await meta_store.add_audit_entries([full, bare], prune_before=0)
    assert await meta_store.list_audit_entries(GUILD) == [bare, full]


async def test_list_audit_entries_filters_orders_and_pages(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_guild(Guild(900, "other", 2), [], [], Member(900, 2, NOW))
    entries = [AuditEntry(1000 + i, GUILD, 20 + i % 3, user_id=OWNER + i % 2, target_id=i)
               for i in range(10)]
    await meta_store.add_audit_entries([*entries, AuditEntry(2000, 900, 20)], prune_before=0)

    def ids(page: list[AuditEntry]) -> list[int]:
        return [e.id for e in page]

    assert ids(await meta_store.list_audit_entries(GUILD)) == list(range(1009, 999, -1))
    assert ids(await meta_store.list_audit_entries(GUILD, limit=3)) == [1009, 1008, 1007]
    assert ids(await meta_store.list_audit_entries(GUILD, before=1007, limit=2)) == [1006, 1005]
    # ``after`` alone: the entries just after it, oldest first.
    assert ids(await meta_store.list_audit_entries(GUILD, after=1002, limit=3)) == [
        1003, 1004, 1005]
    assert ids(await meta_store.list_audit_entries(GUILD, before=1005, after=1001)) == [
        1004, 1003, 1002]
    assert ids(await meta_store.list_audit_entries(GUILD, user_id=OWNER + 1)) == [
        1009, 1007, 1005, 1003, 1001]
    assert ids(await meta_store.list_audit_entries(GUILD, action_type=22)) == [1008, 1005, 1002]
    assert ids(await meta_store.list_audit_entries(GUILD, user_id=OWNER, action_type=22)) == [
        1008, 1002]
    assert ids(await meta_store.list_audit_entries(900)) == [2000]


async def test_audit_entries_prune_a_bounded_number_of_the_oldest(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    await meta_store.create_guild(Guild(900, "other", 2), [], [], Member(900, 2, NOW))
    old = [AuditEntry(DAY_IDS + i, GUILD if i % 2 else 900, 20)
           for i in range(AUDIT_PRUNE_MAX + 6)]
    await meta_store.add_audit_entries(old, prune_before=0)
    cutoff = 10 * DAY_IDS
    await meta_store.add_audit_entries([AuditEntry(cutoff, GUILD, 22)], prune_before=cutoff)
    left = [e.id for g in (GUILD, 900) for e in await meta_store.list_audit_entries(g, limit=100)]
    # Of any guild, oldest first, AUDIT_PRUNE_MAX more than written: five wait for a next write.
    first_left = DAY_IDS + AUDIT_PRUNE_MAX + 1
    assert sorted(left) == [*range(first_left, first_left + 5), cutoff]
    await meta_store.add_audit_entries([AuditEntry(cutoff + 1, 900, 22)], prune_before=cutoff)
    assert [e.id for e in await meta_store.list_audit_entries(GUILD)] == [cutoff]
    assert [e.id for e in await meta_store.list_audit_entries(900)] == [cutoff + 1]


async def test_deleting_a_guild_deletes_its_bans_and_audit_log(meta_store: MetaStore) -> None:
    await make_guild(meta_store)
    assert await meta_store.add_ban(Ban(GUILD, 2, None, NOW))
    await meta_store.add_audit_entries([AuditEntry(1000, GUILD, 22)], prune_before=0)
    assert await meta_store.delete_guild(GUILD)
    assert await meta_store.get_ban(GUILD, 2) is None
    assert await meta_store.list_bans(GUILD) == []
    assert await meta_store.list_audit_entries(GUILD) == []


# -- messages ------------------------------------------------------------------------------

CH = 201
OTHER_CH = 202
AUTHOR = 1


def msg(message_id: int, channel_id: int = CH, **kw: Any) -> Message:
    return Message(message_id, channel_id, kw.pop("author_id", AUTHOR), kw.pop("content", f"m{message_id}"), **kw)


async def insert_range(store: MessageStore, ids: range, channel_id: int = CH) -> None:
    await store.insert_many([msg(i, channel_id) for i in ids])


async def test_insert_many_round_trips_every_field(message_store: MessageStore) -> None:
    full = Message(
        1000, CH, AUTHOR, "hello <@2>", guild_id=GUILD, type=19, tts=True, nonce="n-1",
        edited_at=NOW, pinned=True, mention_everyone=True, mentions=(2, 1 << 60),
        mention_roles=(MOD,), reference=MessageReference(900, CH, GUILD), flags=4,
        embeds=({"title": "t", "fields": [{"name": "a", "value": "b"}], "color": 5},),
        pinned_at=NOW,
    )
    bare = Message(1001, CH, 2, "")
    await message_store.insert_many([full])  # a batch of one (PostgreSQL: executemany)
    await message_store.insert_many([bare, *(replace(full, id=i) for i in range(1002, 1012))])
    assert await message_store.get_message(CH, 1000) == full
    assert await message_store.get_message(CH, 1001) == bare
    # A larger batch (PostgreSQL: COPY) keeps every field too.
    assert await message_store.get_message(CH, 1011) == replace(full, id=1011)


async def test_insert_many_accepts_an_empty_batch(message_store: MessageStore) -> None:
    await message_store.insert_many([])
    assert await message_store.history(CH) == []


async def test_insert_many_writes_a_large_batch(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 501))
    page = await message_store.history(CH, limit=HISTORY_MAX)
    assert [m.id for m in page] == list(range(500, 400, -1))


async def test_get_message_returns_none_for_another_channel(message_store: MessageStore) -> None:
    await message_store.insert_many([msg(10)])
    assert await message_store.get_message(OTHER_CH, 10) is None
    assert await message_store.get_message(CH, 11) is None


async def test_a_webhooks_message_keeps_its_webhook_and_author(
    message_store: MessageStore,
) -> None:
    sent = msg(20, author_id=7000, webhook_id=7000, author_name="Deploys",
               author_avatar="f" * 32, mentions=(2,))
    bare = msg(21, author_id=7000, webhook_id=7000, author_name="No avatar")
    await message_store.insert_many([sent, bare])
    assert await message_store.get_message(CH, 20) == sent
    # Twice: the Redis cache serves the second read from its own copy.
    for _ in range(2):
        assert await message_store.history(CH) == [bare, sent]
    edited = await message_store.update_message(CH, 20, {"content": "edited"})
    assert edited == replace(sent, content="edited")


async def test_history_returns_newest_first(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 11))
    assert [m.id for m in await message_store.history(CH)] == list(range(10, 0, -1))
    assert [m.id for m in await message_store.history(CH, limit=3)] == [10, 9, 8]


async def test_history_before_returns_the_newest_older_messages(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 11))
    assert [m.id for m in await message_store.history(CH, before=6, limit=3)] == [5, 4, 3]
    assert [m.id for m in await message_store.history(CH, before=3)] == [2, 1]
    assert await message_store.history(CH, before=1) == []


async def test_history_after_returns_the_oldest_newer_messages_newest_first(
    message_store: MessageStore,
) -> None:
    await insert_range(message_store, range(1, 11))
    assert [m.id for m in await message_store.history(CH, after=3, limit=3)] == [6, 5, 4]
    assert [m.id for m in await message_store.history(CH, after=8)] == [10, 9]
    assert [m.id for m in await message_store.history(CH, after=0, limit=2)] == [2, 1]
    assert await message_store.history(CH, after=10) == []


async def test_history_between_before_and_after_is_newest_first(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 11))
    assert [m.id for m in await message_store.history(CH, before=9, after=2, limit=3)] == [8, 7, 6]
    assert [m.id for m in await message_store.history(CH, before=5, after=2)] == [4, 3]


async def test_history_keeps_channels_apart(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 6), CH)
    await insert_range(message_store, range(6, 9), OTHER_CH)
    assert [m.id for m in await message_store.history(OTHER_CH)] == [8, 7, 6]
    assert [m.id for m in await message_store.history(CH, after=2)] == [5, 4, 3]
    assert await message_store.history(999) == []


async def test_history_is_capped_at_history_max(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, HISTORY_MAX + 21))
    page = await message_store.history(CH, limit=HISTORY_MAX)
    assert len(page) == HISTORY_MAX and page[0].id == HISTORY_MAX + 20


async def test_find_by_nonce_returns_the_message_at_or_after_min_id(message_store: MessageStore) -> None:
    await message_store.insert_many([msg(10, nonce="n"), msg(11, nonce="m"), msg(12)])
    found = await message_store.find_by_nonce(CH, AUTHOR, "n", 10)
    assert found == msg(10, nonce="n")
    assert await message_store.find_by_nonce(CH, AUTHOR, "n", 0) == found
    assert await message_store.find_by_nonce(CH, AUTHOR, "n", 11) is None


async def test_find_by_nonce_matches_author_and_channel(message_store: MessageStore) -> None:
    await message_store.insert_many([msg(10, nonce="n"), msg(11, OTHER_CH, author_id=2, nonce="k")])
    assert await message_store.find_by_nonce(CH, 2, "n", 0) is None
    assert await message_store.find_by_nonce(OTHER_CH, AUTHOR, "n", 0) is None
    assert await message_store.find_by_nonce(CH, AUTHOR, "other", 0) is None
    assert (await message_store.find_by_nonce(OTHER_CH, 2, "k", 0)).id == 11  # type: ignore[union-attr]


async def test_update_message_sets_fields(message_store: MessageStore) -> None:
    await message_store.insert_many([msg(10, nonce="n", mentions=(3,), embeds=({"a": 1},))])
    fields = {"content": "edited", "edited_at": NOW, "mentions": [4, 5], "mention_roles": [MOD],
              "mention_everyone": True, "pinned": True, "flags": 4, "embeds": []}
    updated = await message_store.update_message(CH, 10, fields)
    expected = msg(10, content="edited", nonce="n", edited_at=NOW, mentions=(4, 5), mention_roles=(MOD,),
                   mention_everyone=True, pinned=True, flags=4)
    assert updated == expected
    assert await message_store.get_message(CH, 10) == expected
    assert (await message_store.history(CH))[0] == expected


async def test_update_message_returns_none_when_missing(message_store: MessageStore) -> None:
    await message_store.insert_many([msg(10)])
    assert await message_store.update_message(CH, 11, {"content": "x"}) is None
    assert await message_store.update_message(OTHER_CH, 10, {"content": "x"}) is None


ATTACHMENT = {"id": "77", "filename": "a.png", "size": 3, "url": "http://h/attachments/1/77/a.png",
              "proxy_url": "http://h/attachments/1/77/a.png", "content_type": "image/png",
              "width": 2, "height": 1, "ephemeral": False, "description": "d"}


async def test_attachments_round_trip_and_update(message_store: MessageStore) -> None:
    """A message's attachment objects are kept whole, read back by every read, and replaced
    by an edit (``core.attachments``; the files themselves are the blob store's)."""
    second = {**ATTACHMENT, "id": "78", "filename": "b.txt"}
    await message_store.insert_many([msg(10, attachments=(ATTACHMENT, second))])
    expected = msg(10, attachments=(ATTACHMENT, second))
    assert await message_store.get_message(CH, 10) == expected
    assert (await message_store.history(CH))[0] == expected
    updated = await message_store.update_message(CH, 10, {"attachments": [second]})
    assert updated == msg(10, attachments=(second,))
    assert await message_store.get_message(CH, 10) == msg(10, attachments=(second,))
    await message_store.update_message(CH, 10, {"attachments": []})
    assert (await message_store.history(CH))[0] == msg(10)
    assert (await message_store.get_message(CH, 10)).content == "m10"  # type: ignore[union-attr]


ROW = {"type": 1, "components": [
    {"type": 2, "style": 1, "label": "Go", "custom_id": "go", "disabled": False},
    {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com/", "disabled": False},
]}
SELECT_ROW = {"type": 1, "components": [
    {"type": 3, "custom_id": "pick", "options": [{"label": "A", "value": "a", "default": False}],
     "min_values": 1, "max_values": 1, "disabled": False},
]}


async def test_components_round_trip_and_update(message_store: MessageStore) -> None:
    """A message's components (``core.components``) are kept whole, read back by every read,
    and replaced or cleared by an edit."""
    await message_store.insert_many([msg(10, components=(ROW, SELECT_ROW))])
    expected = msg(10, components=(ROW, SELECT_ROW))
    assert await message_store.get_message(CH, 10) == expected
    assert (await message_store.history(CH))[0] == expected
    updated = await message_store.update_message(CH, 10, {"components": [SELECT_ROW]})
    assert updated == msg(10, components=(SELECT_ROW,))
    assert await message_store.get_message(CH, 10) == msg(10, components=(SELECT_ROW,))
    await message_store.update_message(CH, 10, {"components": []})
    assert (await message_store.history(CH))[0] == msg(10)


async def test_delete_message_removes_it_once(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 4))
    assert await message_store.delete_message(OTHER_CH, 2) is False
    assert await message_store.delete_message(CH, 2) is True
    assert await message_store.delete_message(CH, 2) is False
    assert await message_store.get_message(CH, 2) is None
    assert [m.id for m in await message_store.history(CH)] == [3, 1]


async def test_delete_channel_messages_counts_and_spares_other_channels(
    message_store: MessageStore,
) -> None:
    await insert_range(message_store, range(1, 6), CH)
    await insert_range(message_store, range(6, 8), OTHER_CH)
    assert await message_store.delete_channel_messages(CH) == 5
    assert await message_store.history(CH) == []
    assert await message_store.delete_channel_messages(CH) == 0
    assert [m.id for m in await message_store.history(OTHER_CH)] == [7, 6]


async def test_aclose_is_safe_twice(message_store: MessageStore) -> None:
    await message_store.aclose()
    await message_store.aclose()


# -- pins ----------------------------------------------------------------------------------


async def test_pin_message_sets_pinned_and_pinned_at(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 4))
    outcome, pinned = await message_store.pin_message(CH, 2, NOW, 50)
    assert outcome is PinOutcome.PINNED
    assert pinned == msg(2, pinned=True, pinned_at=NOW)
    assert await message_store.get_message(CH, 2) == pinned
    # A page read (the Redis cache's too) shows it: pinning drops a cached copy.
    assert [m.pinned for m in await message_store.history(CH)] == [False, True, False]


async def test_pin_message_twice_changes_nothing(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 3))
    await message_store.pin_message(CH, 1, NOW, 50)
    outcome, again = await message_store.pin_message(CH, 1, NOW + 5, 50)
    assert outcome is PinOutcome.ALREADY_PINNED and again is not None and again.pinned_at == NOW


async def test_pin_message_of_another_channel_is_unknown(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 3))
    assert await message_store.pin_message(OTHER_CH, 1, NOW, 50) == (PinOutcome.UNKNOWN_MESSAGE, None)
    assert await message_store.pin_message(CH, 9, NOW, 50) == (PinOutcome.UNKNOWN_MESSAGE, None)
    assert await message_store.list_pins(CH) == []


async def test_pin_message_refuses_past_the_limit(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 5))
    for i in (1, 2, 3):
        assert (await message_store.pin_message(CH, i, NOW + i, 3))[0] is PinOutcome.PINNED
    outcome, message = await message_store.pin_message(CH, 4, NOW + 9, 3)
    assert outcome is PinOutcome.LIMIT_REACHED and message == msg(4)
    assert (await message_store.get_message(CH, 4)).pinned is False  # type: ignore[union-attr]
    # Another channel has its own limit.
    await insert_range(message_store, range(10, 11), OTHER_CH)
    assert (await message_store.pin_message(OTHER_CH, 10, NOW, 3))[0] is PinOutcome.PINNED


async def test_pins_racing_for_the_last_place_never_pass_the_limit(
    message_store: MessageStore,
) -> None:
    await insert_range(message_store, range(1, 11))
    for i in (1, 2):
        await message_store.pin_message(CH, i, NOW, 3)
    outcomes = await asyncio.gather(
        *(message_store.pin_message(CH, i, NOW, 3) for i in range(3, 11)))
    won = [o for o, _ in outcomes if o is PinOutcome.PINNED]
    assert len(won) <= 1  # exactly one on SQL (serialized); MongoDB may refuse both racers
    assert all(o in (PinOutcome.PINNED, PinOutcome.LIMIT_REACHED) for o, _ in outcomes)
    assert len(await message_store.list_pins(CH)) == 2 + len(won)


async def test_pins_of_one_moment_get_distinct_times(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 4))
    for i in (1, 2, 3):
        await message_store.pin_message(CH, i, NOW, 50)
    assert [m.pinned_at for m in await message_store.list_pins(CH)] == [NOW + 2, NOW + 1, NOW]


async def test_list_pins_is_newest_pinned_first_and_pages_by_time(
    message_store: MessageStore,
) -> None:
    await insert_range(message_store, range(1, 6))
    await insert_range(message_store, range(6, 7), OTHER_CH)
    for at, i in enumerate((3, 1, 5, 2)):
        await message_store.pin_message(CH, i, NOW + 10 * at, 50)
    await message_store.pin_message(OTHER_CH, 6, NOW + 100, 50)
    assert [m.id for m in await message_store.list_pins(CH)] == [2, 5, 1, 3]
    assert [m.id for m in await message_store.list_pins(CH, limit=2)] == [2, 5]
    page = await message_store.list_pins(CH, before_ms=NOW + 20, limit=2)
    assert [(m.id, m.pinned_at) for m in page] == [(1, NOW + 10), (3, NOW)]
    assert await message_store.list_pins(CH, before_ms=NOW) == []


async def test_unpin_message_clears_the_pin_once(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 3))
    await message_store.pin_message(CH, 1, NOW, 50)
    assert await message_store.unpin_message(OTHER_CH, 1) is None
    assert await message_store.unpin_message(CH, 1) == msg(1)
    assert await message_store.unpin_message(CH, 1) is None
    assert await message_store.unpin_message(CH, 2) is None
    assert await message_store.list_pins(CH) == []
    assert [m.pinned for m in await message_store.history(CH)] == [False, False]
    # Its place is free again.
    assert (await message_store.pin_message(CH, 1, NOW, 1))[0] is PinOutcome.PINNED


# -- reactions -----------------------------------------------------------------------------

THUMBS, HEART, SMILE = "\N{THUMBS UP SIGN}", "\N{HEAVY BLACK HEART}\ufe0f", "\N{SMILING FACE WITH SMILING EYES}"


async def react(store: MessageStore, message_id: int, emoji: str, user_id: int,
                *, at: int = NOW, max_emojis: int = 20, channel_id: int = CH) -> ReactionOutcome:
    return await store.add_reaction(channel_id, message_id, emoji, user_id, at,
                                    max_emojis=max_emojis)


async def test_add_reaction_once_per_user_and_emoji(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 3))
    assert await react(message_store, 1, THUMBS, 7) is ReactionOutcome.ADDED
    assert await react(message_store, 1, THUMBS, 7) is ReactionOutcome.ALREADY_REACTED
    assert await react(message_store, 1, THUMBS, 8) is ReactionOutcome.ADDED
    assert await react(message_store, 1, HEART, 7, at=NOW + 1) is ReactionOutcome.ADDED
    assert await message_store.reaction_counts(CH, [1, 2], 7) == {
        1: [ReactionCount(THUMBS, 2, True), ReactionCount(HEART, 1, True)]}


async def test_add_reaction_to_an_unknown_message(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 2))
    assert await react(message_store, 5, THUMBS, 7) is ReactionOutcome.UNKNOWN_MESSAGE
    await react(message_store, 1, THUMBS, 7)
    # The message is not in that channel, even with the emoji already on it.
    assert (await react(message_store, 1, THUMBS, 8, channel_id=OTHER_CH)
            is ReactionOutcome.UNKNOWN_MESSAGE)
    assert await message_store.reaction_counts(OTHER_CH, [1, 5]) == {}


async def test_add_reaction_limits_distinct_emojis_not_users(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 2))
    for at, emoji in enumerate((THUMBS, HEART, SMILE)):
        assert await react(message_store, 1, emoji, 7, at=NOW + at, max_emojis=3) is ReactionOutcome.ADDED
    assert await react(message_store, 1, "\N{FIRE}", 7, max_emojis=3) is ReactionOutcome.LIMIT_REACHED
    # An emoji already there is no new one: anyone may still add it.
    assert await react(message_store, 1, HEART, 8, at=NOW + 9, max_emojis=3) is ReactionOutcome.ADDED
    # max_emojis=0: only emojis already on the message (a user without ADD_REACTIONS).
    assert await react(message_store, 1, SMILE, 9, at=NOW + 9, max_emojis=0) is ReactionOutcome.ADDED
    await insert_range(message_store, range(2, 3))
    assert await react(message_store, 2, SMILE, 9, max_emojis=0) is ReactionOutcome.LIMIT_REACHED
    counts = await message_store.reaction_counts(CH, [1, 2])
    assert [(r.emoji, r.count) for r in counts[1]] == [(THUMBS, 1), (HEART, 2), (SMILE, 2)]
    assert 2 not in counts


async def test_new_emojis_racing_for_the_last_place_never_pass_the_limit(
    message_store: MessageStore,
) -> None:
    await insert_range(message_store, range(1, 2))
    await react(message_store, 1, THUMBS, 7, max_emojis=2)
    emojis = [chr(0x1F600 + i) for i in range(8)]
    outcomes = await asyncio.gather(
        *(react(message_store, 1, e, 7, max_emojis=2) for e in emojis))
    assert outcomes.count(ReactionOutcome.ADDED) <= 1  # exactly one on SQL
    counts = (await message_store.reaction_counts(CH, [1])).get(1, [])
    assert len(counts) == 1 + outcomes.count(ReactionOutcome.ADDED)


async def test_a_reaction_storm_counts_every_user_and_never_rewrites_the_message(
    message_store: MessageStore,
) -> None:
    await insert_range(message_store, range(1, 3))
    before = await message_store.history(CH)
    users = range(1000, 1300)
    outcomes = await asyncio.gather(*(react(message_store, 1, THUMBS, u) for u in users))
    assert set(outcomes) == {ReactionOutcome.ADDED}
    assert await message_store.reaction_counts(CH, [1, 2], 1299) == {
        1: [ReactionCount(THUMBS, 300, True)]}
    assert await message_store.history(CH) == before  # the bodies are untouched
    assert await message_store.get_message(CH, 1) == msg(1)


async def test_reaction_counts_order_emojis_by_first_use(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 4))
    await react(message_store, 1, SMILE, 7, at=NOW)
    await react(message_store, 1, THUMBS, 8, at=NOW + 1)
    await react(message_store, 1, SMILE, 8, at=NOW + 2)
    await react(message_store, 3, HEART, 9, at=NOW)
    counts = await message_store.reaction_counts(CH, [3, 2, 1], viewer_id=8)
    assert counts == {
        1: [ReactionCount(SMILE, 2, True), ReactionCount(THUMBS, 1, True)],
        3: [ReactionCount(HEART, 1, False)],
    }
    assert await message_store.reaction_counts(CH, []) == {}
    # Without a viewer, ``me`` is false everywhere.
    assert not any(r.me for rs in (await message_store.reaction_counts(CH, [1])).values() for r in rs)


async def test_reaction_counts_of_a_full_page_in_one_call(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, HISTORY_MAX + 1))
    for i in range(1, HISTORY_MAX + 1, 3):
        await react(message_store, i, THUMBS, i)
    counts = await message_store.reaction_counts(CH, list(range(1, HISTORY_MAX + 1)), 4)
    assert sorted(counts) == list(range(1, HISTORY_MAX + 1, 3))
    assert counts[4] == [ReactionCount(THUMBS, 1, True)]


async def test_reaction_users_page_by_user_id(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 3))
    for user_id in (30, 10, 20, 40):
        await react(message_store, 1, THUMBS, user_id)
    await react(message_store, 1, HEART, 5)
    await react(message_store, 2, THUMBS, 6)
    assert await message_store.reaction_users(CH, 1, THUMBS) == [10, 20, 30, 40]
    assert await message_store.reaction_users(CH, 1, THUMBS, after=10, limit=2) == [20, 30]
    assert await message_store.reaction_users(CH, 1, THUMBS, after=40) == []
    assert await message_store.reaction_users(CH, 1, SMILE) == []
    assert await message_store.reaction_users(OTHER_CH, 1, THUMBS) == []


async def test_remove_reaction_removes_one_users_once(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 2))
    await react(message_store, 1, THUMBS, 7)
    await react(message_store, 1, THUMBS, 8)
    assert await message_store.remove_reaction(OTHER_CH, 1, THUMBS, 7) is False
    assert await message_store.remove_reaction(CH, 1, THUMBS, 7) is True
    assert await message_store.remove_reaction(CH, 1, THUMBS, 7) is False
    assert await message_store.remove_reaction(CH, 1, HEART, 8) is False
    assert await message_store.reaction_counts(CH, [1], 7) == {1: [ReactionCount(THUMBS, 1)]}
    await message_store.remove_reaction(CH, 1, THUMBS, 8)
    assert await message_store.reaction_counts(CH, [1]) == {}


async def test_remove_reactions_of_one_emoji_or_all(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 3))
    for user_id in (7, 8):
        await react(message_store, 1, THUMBS, user_id)
        await react(message_store, 1, HEART, user_id)
        await react(message_store, 2, THUMBS, user_id)
    assert await message_store.remove_reactions(OTHER_CH, 1) == 0
    assert await message_store.remove_reactions(CH, 1, THUMBS) == 2
    assert await message_store.reaction_counts(CH, [1, 2]) == {
        1: [ReactionCount(HEART, 2)], 2: [ReactionCount(THUMBS, 2)]}
    assert await message_store.remove_reactions(CH, 1) == 2
    assert await message_store.remove_reactions(CH, 1) == 0
    assert list(await message_store.reaction_counts(CH, [1, 2])) == [2]


async def test_deleting_messages_deletes_their_reactions(message_store: MessageStore) -> None:
    await insert_range(message_store, range(1, 4))
    await insert_range(message_store, range(4, 5), OTHER_CH)
    for message_id in (1, 2, 3):
        await react(message_store, message_id, THUMBS, 7)
    await react(message_store, 4, THUMBS, 7, channel_id=OTHER_CH)
    assert await message_store.delete_message(CH, 1)
    assert await message_store.reaction_users(CH, 1, THUMBS) == []
    assert await react(message_store, 1, THUMBS, 8) is ReactionOutcome.UNKNOWN_MESSAGE
    await message_store.delete_channel_messages(CH)
    assert await message_store.reaction_counts(CH, [1, 2, 3]) == {}
    # A message given the same id again (a restored backup) starts with none.
    await insert_range(message_store, range(2, 3))
    assert await message_store.reaction_counts(CH, [2]) == {}
    assert list(await message_store.reaction_counts(OTHER_CH, [4])) == [4]


# -- search ----------------------------------------------------------------------------------
# Each backend's own engine (SQLite FTS5, PostgreSQL full-text search, MongoDB's words index;
# the Redis cache delegates), kept current by the writes. Small data: MongoDB here is
# SecantusDB, which is slow.

HIDDEN_CH = 203  # a channel a searcher "cannot read": never in the query's channels


def search(*channels: int, **kw: Any) -> SearchQuery:
    return SearchQuery(channels or (CH,), **kw)


def hit_ids(page: Any) -> list[int]:
    return [m.id for m in page.messages]


async def test_search_matches_every_word_in_any_case(message_store: MessageStore) -> None:
    await message_store.insert_many([
        msg(1, content="Hello world"), msg(2, content="hello there"),
        msg(3, content="worldly matters"), msg(4, content="HELLO, WORLD again"),
        msg(5, OTHER_CH, content="hello world"),
    ])
    page = await message_store.search(search(content="world hello"))
    assert (page.total, hit_ids(page)) == (2, [4, 1])
    assert page.messages[1] == msg(1, content="Hello world")  # whole messages
    assert (await message_store.search(search(CH, OTHER_CH, content="hello"))).total == 4
    assert (await message_store.search(search(content="worlds"))).total == 0


async def test_search_reads_only_the_channels_it_is_given(message_store: MessageStore) -> None:
    await message_store.insert_many([msg(i, HIDDEN_CH, content="secret plan") for i in (1, 2, 3)]
                                    + [msg(i, content="public plan") for i in (4, 5)])
    # Never the hidden matches, in the count or in a page, and every page is full.
    first = await message_store.search(search(content="plan", limit=1))
    second = await message_store.search(search(content="plan", limit=1, offset=1))
    assert (first.total, hit_ids(first), hit_ids(second)) == (2, [5], [4])
    assert (await message_store.search(search(content="secret"))).total == 0
    empty = await message_store.search(SearchQuery((), content="plan"))
    assert (empty.total, empty.messages) == (0, ())


async def test_search_pages_by_time_both_ways(message_store: MessageStore) -> None:
    await message_store.insert_many([msg(i, content=f"note {i}") for i in range(1, 7)])
    page = await message_store.search(search(content="note", offset=1, limit=2))
    assert (page.total, hit_ids(page)) == (6, [5, 4])
    page = await message_store.search(search(content="note", ascending=True, limit=3))
    assert hit_ids(page) == [1, 2, 3]
    page = await message_store.search(search(content="note", offset=6))
    assert (page.total, page.messages) == (6, ())
    # No content: every message of the channels.
    assert (await message_store.search(search())).total == 6


async def test_search_filters_everything_in_the_query(message_store: MessageStore) -> None:
    await message_store.insert_many([
        msg(1, content="ship it", author_id=10, mentions=(20,)),
        msg(2, content="ship now", author_id=11, mentions=(21, 22), mention_everyone=True),
        msg(3, content="ship later", author_id=12, pinned=True, pinned_at=NOW),
        msg(4, content="ship never", author_id=10),
    ])

    async def ids(**kw: Any) -> list[int]:
        page = await message_store.search(search(content="ship", **kw))
        assert page.total == len(page.messages)
        return hit_ids(page)

    assert await ids(author_ids=(10,)) == [4, 1]
    assert await ids(author_ids=(11, 12)) == [3, 2]
    assert await ids(mentions=(22, 20)) == [2, 1]
    assert await ids(min_id=1, max_id=4) == [3, 2]
    assert await ids(pinned=True) == [3]
    assert await ids(pinned=False) == [4, 2, 1]
    assert await ids(mention_everyone=True) == [2]
    assert await ids(author_ids=(10,), mentions=(20,)) == [1]


async def test_search_has_links_and_embeds(message_store: MessageStore) -> None:
    await message_store.insert_many([
        msg(1, content="see HTTPS://example.com/a"), msg(2, content="see http://x.org"),
        msg(3, content="see the card", embeds=({"title": "t"},)), msg(4, content="see nothing"),
    ])

    async def ids(**kw: Any) -> list[int]:
        return hit_ids(await message_store.search(search(**kw)))

    assert await ids(has=frozenset({"link"})) == [2, 1]
    assert await ids(has=frozenset({"embed"})) == [3]
    assert await ids(has=frozenset({"link", "embed"})) == [3, 2, 1]
    assert await ids(has_not=frozenset({"link"})) == [4, 3]
    assert await ids(has_not=frozenset({"link", "embed"}), content="see") == [4]


async def test_search_follows_edits_and_deletes(message_store: MessageStore) -> None:
    await message_store.insert_many([msg(1, content="first draft"), msg(2, content="draft two"),
                                     msg(3, OTHER_CH, content="draft three")])
    await message_store.update_message(CH, 1, {"content": "final text", "edited_at": NOW})
    assert hit_ids(await message_store.search(search(content="draft"))) == [2]
    assert hit_ids(await message_store.search(search(content="final"))) == [1]
    await message_store.update_message(CH, 2, {"content": ""})
    assert (await message_store.search(search(content="two"))).total == 0
    assert await message_store.delete_message(CH, 1)
    assert (await message_store.search(search(content="final"))).total == 0
    await message_store.delete_channel_messages(OTHER_CH)
    assert (await message_store.search(search(OTHER_CH, content="draft"))).total == 0


async def test_search_by_relevance_returns_every_match(message_store: MessageStore) -> None:
    await message_store.insert_many([
        msg(1, content="rust rust rust"), msg(2, content="rust and many other words here"),
        msg(3, content="no match"),
    ])
    page = await message_store.search(search(content="rust", relevance=True))
    assert page.total == 2 and sorted(hit_ids(page)) == [1, 2]
    if not isinstance(message_store, MongoMessageStore):  # MongoDB: time order (no score)
        assert hit_ids(page) == [1, 2]
        least_first = await message_store.search(search(content="rust", relevance=True,
                                                        ascending=True))
        assert hit_ids(least_first) == [2, 1]


def test_search_query_refuses_what_no_page_may_be() -> None:
    for bad in ({"limit": 0}, {"limit": 26}, {"offset": 9976}, {"has": frozenset({"file"})},
                {"timeout_ms": 0}):
        with pytest.raises(ValueError):
            SearchQuery((CH,), **bad)


_FOREVER = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
            " WHERE x < 1000000000) SELECT COUNT(*) FROM c")


async def test_sql_bounded_reads_are_cancelled_at_their_deadline(sql_store: SqlStore) -> None:
    db = sql_store.executor
    started = time.monotonic()
    with pytest.raises(StoreTimeout):
        await db.fetch_bounded(100, _FOREVER)
    assert time.monotonic() - started < 5
    # Nothing outlives it: the next reads and writes run, unbounded ones unhurried.
    assert await db.fetch_bounded(1000, "SELECT 1") == [(1,)]
    await sql_store.messages.insert_many([msg(1)])
    if db.dialect == "postgres":
        assert await db.fetchval("SHOW statement_timeout") == "0"
        async with db.transaction() as tx:
            with pytest.raises(StoreTimeout):
                await tx.fetch_bounded(100, _FOREVER)
    else:
        async with db.transaction() as tx:  # its own connection: sees the transaction
            await tx.execute("INSERT INTO messages (id, channel_id, author_id, content)"
                             " VALUES (?, ?, ?, ?)", 2, CH, AUTHOR, "inside")
            assert await tx.fetch_bounded(1000, "SELECT COUNT(*) FROM messages") == [(2,)]
            with pytest.raises(StoreTimeout):
                await tx.fetch_bounded(100, _FOREVER)


async def migrated_across_search(store: SqlStore) -> None:
    """Migrate ``store`` to just before search, write a message, then migrate to the end: the
    message must be found (the migration indexes what exists)."""
    async with store:
        search_version = next(m.version for m in MIGRATIONS if m.name == "message search")
        await migrate(store.executor, tuple(m for m in MIGRATIONS if m.version < search_version))
        await store.executor.execute(
            "INSERT INTO messages (id, channel_id, author_id, content) VALUES (?, ?, ?, ?)",
            1, CH, AUTHOR, "written before search existed")
        await migrate(store.executor)
        page = await store.messages.search(search(content="existed"))
        assert hit_ids(page) == [1]


async def test_the_search_migration_indexes_existing_messages_sqlite(tmp_path: Path) -> None:
    await migrated_across_search(
        await SqliteStore.open(str(tmp_path / "db"), apply_migrations=False))


async def test_the_search_migration_indexes_existing_messages_postgres(
    postgres_dsn: str, postgres_search_path: dict[str, str]
) -> None:
    await migrated_across_search(await PostgresStore.open(
        postgres_dsn, 1, 2, server_settings=postgres_search_path, apply_migrations=False))


# -- the SQL backends themselves -----------------------------------------------------------


async def test_migrate_is_idempotent_when_rerun(sql_store: SqlStore) -> None:
    assert await migrate(sql_store.executor) == []
    rows = await sql_store.executor.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]


async def test_sql_transaction_rolls_back_on_error(sql_store: SqlStore) -> None:
    with pytest.raises(RuntimeError):
        async with sql_store.executor.transaction() as tx:
            await tx.execute("INSERT INTO guilds (id, name, owner_id) VALUES (?, ?, ?)", 1, "g", 1)
            raise RuntimeError("abort")
    assert await sql_store.meta.get_guild(1) is None


async def test_sql_stores_raise_store_unavailable_once_closed(sql_store: SqlStore) -> None:
    await sql_store.aclose()
    with pytest.raises(StoreUnavailable):
        await sql_store.meta.get_user(1)
    with pytest.raises(StoreUnavailable):
        await sql_store.messages.history(CH)


async def test_sql_transactions_do_not_interleave_under_concurrency(
    sql_store: SqlStore,
) -> None:
    # Many multi-statement writes and reads at once: each read sees whole guilds only.
    meta = sql_store.meta

    async def create(guild_id: int) -> None:
        roles = [Role(guild_id, guild_id, "@everyone", 0)]
        await meta.create_guild(Guild(guild_id, "g", 1), roles, [], Member(guild_id, 1, NOW))

    async def check() -> None:
        for guild in await meta.list_user_guilds(1):
            assert [r.id for r in await meta.list_roles(guild.id)] == [guild.id]

    await asyncio.gather(*(create(1000 + i) for i in range(30)), *(check() for _ in range(30)))
    assert await meta.count_user_guilds(1) == 30


async def test_open_sqlite_works_in_memory() -> None:
    async with await SqliteStore.open(":memory:") as store:
        await store.meta.create_user(User(1, "alice"), None)
        assert await store.meta.get_user(1) == User(1, "alice")
        mode = await store.executor.fetchval("PRAGMA journal_mode")
        assert mode == "memory"


async def test_open_sqlite_uses_wal_and_full_sync_on_a_file(tmp_path: Path) -> None:
    async with await SqliteStore.open(str(tmp_path / "db.sqlite3")) as store:
        assert await store.executor.fetchval("PRAGMA journal_mode") == "wal"
        assert await store.executor.fetchval("PRAGMA synchronous") == 2  # FULL
        assert await store.executor.fetchval("PRAGMA foreign_keys") == 1


async def test_open_sqlite_raises_store_unavailable_for_a_bad_path(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        await SqliteStore.open(str(tmp_path / "missing-dir" / "db.sqlite3"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_open_postgres_raises_store_unavailable_when_unreachable() -> None:
    dsn = f"postgresql://app:s3cret-pw@127.0.0.1:{closed_port()}/db"
    with pytest.raises(StoreUnavailable) as info:
        await PostgresStore.open(dsn, connect_timeout=5)
    message = str(info.value)
    assert "127.0.0.1" in message and "s3cret-pw" not in message and "\n" not in message


async def test_open_postgres_raises_store_unavailable_on_a_malformed_url() -> None:
    for dsn in ("postgresql://app:s3cret-pw@db.example:notaport/x", "mysql://app:s3cret-pw@h/x"):
        with pytest.raises(StoreUnavailable) as info:
            await PostgresStore.open(dsn, connect_timeout=5)
        assert "s3cret-pw" not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_postgres_concurrent_migrations_apply_each_version_once(
    postgres_dsn: str, postgres_search_path: dict[str, str]
) -> None:
    opened = [
        await PostgresStore.open(
            postgres_dsn, 1, 2, server_settings=postgres_search_path, apply_migrations=False
        )
        for _ in range(3)
    ]
    try:
        applied = await asyncio.gather(*(migrate(s.executor) for s in opened))
        assert sorted(applied) == [[], [], [m.version for m in MIGRATIONS]]
    finally:
        for store in opened:
            await store.aclose()
