"""Unit tests for core.permissions: Discord's documented permission rules, one by one.

Section names in the docstrings are those of Discord's developer docs, topic "Permissions".
No sockets, no loop: the functions under test are pure.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import pytest

from core.models import Channel, ChannelType, Guild, Member, Overwrite, OverwriteType, Role
from core.permissions import (
    ALL,
    DEFAULT_EVERYONE,
    DM_RECIPIENT,
    SEND_DEPENDENT,
    TEXT_CHANNEL,
    TIMED_OUT,
    Permission,
    apply_implicit,
    base_permissions,
    can_manage_role,
    can_moderate_member,
    compute_permissions,
    dm_permissions,
    has,
    highest_position,
    overwrite_permissions,
    role_rank,
)

P = Permission

GUILD_ID = 1_000
OTHER_GUILD_ID = 9_000
OWNER_ID = 1
USER_ID = 2
OTHER_USER_ID = 3
ROLE_A = 2_001
ROLE_B = 2_002
ROLE_C = 2_003
UNKNOWN_ROLE = 2_999
CHANNEL_ID = 3_000
CATEGORY_ID = 3_001

VIEW = int(P.VIEW_CHANNEL)
SEND = int(P.SEND_MESSAGES)
HISTORY = int(P.READ_MESSAGE_HISTORY)
REACT = int(P.ADD_REACTIONS)
ATTACH = int(P.ATTACH_FILES)
ADMIN = int(P.ADMINISTRATOR)
KICK = int(P.KICK_MEMBERS)
MANAGE_MESSAGES = int(P.MANAGE_MESSAGES)
READ = VIEW | HISTORY
CHAT = VIEW | SEND | HISTORY | REACT


# -- builders ---------------------------------------------------------------------------------


def _guild() -> Guild:
    return Guild(id=GUILD_ID, name="guild", owner_id=OWNER_ID)


def _everyone(perms: int) -> Role:
    return Role(id=GUILD_ID, guild_id=GUILD_ID, name="@everyone", permissions=perms, position=0)


def _role(role_id: int, perms: int = 0, position: int = 1, guild_id: int = GUILD_ID) -> Role:
    return Role(
        id=role_id, guild_id=guild_id, name=f"r{role_id}", permissions=perms, position=position
    )


def _roles(everyone: int, *others: Role) -> dict[int, Role]:
    return {r.id: r for r in (_everyone(everyone), *others)}


def _member(*role_ids: int, user_id: int = USER_ID, guild_id: int = GUILD_ID) -> Member:
    return Member(guild_id=guild_id, user_id=user_id, joined_at=0, roles=role_ids)


def _channel(
    *overwrites: Overwrite,
    type: ChannelType = ChannelType.GUILD_TEXT,
    channel_id: int = CHANNEL_ID,
    parent_id: int | None = None,
    guild_id: int | None = GUILD_ID,
) -> Channel:
    return Channel(
        id=channel_id, type=type, guild_id=guild_id, parent_id=parent_id, overwrites=overwrites
    )


def _ow_role(role_id: int, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(id=role_id, type=OverwriteType.ROLE, allow=allow, deny=deny)


def _ow_everyone(allow: int = 0, deny: int = 0) -> Overwrite:
    return _ow_role(GUILD_ID, allow, deny)


def _ow_member(user_id: int = USER_ID, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(id=user_id, type=OverwriteType.MEMBER, allow=allow, deny=deny)


def _overwrite(
    base: int, overwrites: Iterable[Overwrite], role_ids: Iterable[int] = (ROLE_A, ROLE_B)
) -> int:
    return overwrite_permissions(
        base,
        guild_id=GUILD_ID,
        user_id=USER_ID,
        member_role_ids=frozenset(role_ids),
        overwrites=tuple(overwrites),
    )


# -- the flag table ----------------------------------------------------------------------------

# "Bitwise Permission Flags", copied from the table (plus the 2025 PIN_MESSAGES and
# BYPASS_SLOWMODE), so that a typo in the enum shows up here.
DOCUMENTED_BITS = {
    "CREATE_INSTANT_INVITE": 0,
    "KICK_MEMBERS": 1,
    "BAN_MEMBERS": 2,
    "ADMINISTRATOR": 3,
    "MANAGE_CHANNELS": 4,
    "MANAGE_GUILD": 5,
    "ADD_REACTIONS": 6,
    "VIEW_AUDIT_LOG": 7,
    "PRIORITY_SPEAKER": 8,
    "STREAM": 9,
    "VIEW_CHANNEL": 10,
    "SEND_MESSAGES": 11,
    "SEND_TTS_MESSAGES": 12,
    "MANAGE_MESSAGES": 13,
    "EMBED_LINKS": 14,
    "ATTACH_FILES": 15,
    "READ_MESSAGE_HISTORY": 16,
    "MENTION_EVERYONE": 17,
    "USE_EXTERNAL_EMOJIS": 18,
    "VIEW_GUILD_INSIGHTS": 19,
    "CONNECT": 20,
    "SPEAK": 21,
    "MUTE_MEMBERS": 22,
    "DEAFEN_MEMBERS": 23,
    "MOVE_MEMBERS": 24,
    "USE_VAD": 25,
    "CHANGE_NICKNAME": 26,
    "MANAGE_NICKNAMES": 27,
    "MANAGE_ROLES": 28,
    "MANAGE_WEBHOOKS": 29,
    "MANAGE_GUILD_EXPRESSIONS": 30,
    "USE_APPLICATION_COMMANDS": 31,
    "REQUEST_TO_SPEAK": 32,
    "MANAGE_EVENTS": 33,
    "MANAGE_THREADS": 34,
    "CREATE_PUBLIC_THREADS": 35,
    "CREATE_PRIVATE_THREADS": 36,
    "USE_EXTERNAL_STICKERS": 37,
    "SEND_MESSAGES_IN_THREADS": 38,
    "USE_EMBEDDED_ACTIVITIES": 39,
    "MODERATE_MEMBERS": 40,
    "VIEW_CREATOR_MONETIZATION_ANALYTICS": 41,
    "USE_SOUNDBOARD": 42,
    "CREATE_GUILD_EXPRESSIONS": 43,
    "CREATE_EVENTS": 44,
    "USE_EXTERNAL_SOUNDS": 45,
    "SEND_VOICE_MESSAGES": 46,
    "SEND_POLLS": 49,
    "USE_EXTERNAL_APPS": 50,
    "PIN_MESSAGES": 51,
    "BYPASS_SLOWMODE": 52,
}


@pytest.mark.parametrize(("name", "bit"), list(DOCUMENTED_BITS.items()))
def test_flag_value_matches_discord_table(name: str, bit: int) -> None:
    assert Permission[name] == 1 << bit


def test_flags_are_exactly_the_documented_table_when_listed() -> None:
    assert {p.name for p in Permission} == set(DOCUMENTED_BITS)


def test_all_is_every_documented_bit_when_combined() -> None:
    assert sum(1 << bit for bit in DOCUMENTED_BITS.values()) == ALL
    assert type(ALL) is int
    assert not ALL & (1 << 47 | 1 << 48)


def test_default_everyone_is_discord_new_guild_value_when_masked_to_documented_bits() -> None:
    # Discord's @everyone for guilds created since 2024, minus undocumented bits 47 and 48.
    assert DEFAULT_EVERYONE == 2248473465835073 & ALL == 1826261000769089
    # The 2021-2022 default is a subset: nothing it granted was taken away.
    assert has(DEFAULT_EVERYONE, 1071698660929)


@pytest.mark.parametrize(
    "flag",
    [
        P.ADMINISTRATOR,
        P.KICK_MEMBERS,
        P.BAN_MEMBERS,
        P.MANAGE_GUILD,
        P.MANAGE_CHANNELS,
        P.MANAGE_ROLES,
        P.MANAGE_MESSAGES,
        P.SEND_TTS_MESSAGES,
        P.MODERATE_MEMBERS,
        P.PIN_MESSAGES,
    ],
)
def test_default_everyone_lacks_moderation_flag_when_new_guild(flag: Permission) -> None:
    assert not DEFAULT_EVERYONE & flag


def test_default_everyone_allows_chatting_when_new_guild() -> None:
    assert has(DEFAULT_EVERYONE, CHAT | ATTACH | P.EMBED_LINKS | P.SEND_POLLS)


def test_send_dependent_is_documented_set_when_listed() -> None:
    # "Implicit Permissions": "Denying SEND_MESSAGES implicitly denies MENTION_EVERYONE,
    # SEND_TTS_MESSAGES, ATTACH_FILES, and EMBED_LINKS".
    assert SEND_DEPENDENT == P.MENTION_EVERYONE | P.SEND_TTS_MESSAGES | P.ATTACH_FILES | (
        P.EMBED_LINKS
    )


@pytest.mark.parametrize(
    "flag",
    [P.ADMINISTRATOR, P.KICK_MEMBERS, P.BAN_MEMBERS, P.MANAGE_GUILD, P.CONNECT, P.SPEAK],
)
def test_text_channel_mask_excludes_flag_when_not_text_scoped(flag: Permission) -> None:
    assert not TEXT_CHANNEL & flag


def test_text_channel_mask_includes_messaging_when_text_scoped() -> None:
    assert has(TEXT_CHANNEL, CHAT | SEND_DEPENDENT | MANAGE_MESSAGES | P.MANAGE_ROLES)
    assert TEXT_CHANNEL & ~ALL == 0


# -- has ------------------------------------------------------------------------------------


def test_has_true_when_every_needed_bit_present() -> None:
    assert has(CHAT, VIEW | SEND)


def test_has_false_when_one_needed_bit_missing() -> None:
    assert not has(VIEW, VIEW | SEND)


def test_has_true_when_nothing_needed() -> None:
    assert has(0, 0)


def test_has_accepts_permission_flags_when_mixed_with_ints() -> None:
    assert has(CHAT, P.VIEW_CHANNEL | P.SEND_MESSAGES)


# -- DMs ------------------------------------------------------------------------------------


def test_dm_permissions_allow_conversation_when_recipient() -> None:
    assert dm_permissions() == DM_RECIPIENT
    assert has(dm_permissions(), CHAT | ATTACH | P.EMBED_LINKS | P.PIN_MESSAGES)


@pytest.mark.parametrize(
    "flag",
    [
        P.SEND_TTS_MESSAGES,
        P.MANAGE_MESSAGES,
        P.MENTION_EVERYONE,
        P.ADMINISTRATOR,
        P.MANAGE_CHANNELS,
        P.MANAGE_ROLES,
        P.CREATE_INSTANT_INVITE,
        P.MANAGE_THREADS,
        P.CREATE_PUBLIC_THREADS,
    ],
)
def test_dm_permissions_lack_flag_when_meaningless_in_dm(flag: Permission) -> None:
    assert not dm_permissions() & flag


# -- base permissions ("Permission Overwrites": compute_base_permissions) ---------------------


def _base(user_id: int = USER_ID, everyone: int = 0, roles: Iterable[int] = ()) -> int:
    return base_permissions(
        guild_id=GUILD_ID,
        owner_id=OWNER_ID,
        user_id=user_id,
        everyone=everyone,
        role_permissions=roles,
    )


def test_base_is_all_when_owner_without_roles() -> None:
    assert _base(user_id=OWNER_ID) == ALL


def test_base_is_everyone_when_member_without_roles() -> None:
    assert _base(everyone=READ) == READ


def test_base_ors_everyone_and_roles_when_member_has_roles() -> None:
    assert _base(everyone=VIEW, roles=[SEND, KICK, HISTORY]) == VIEW | SEND | KICK | HISTORY


def test_base_is_all_when_any_role_grants_administrator() -> None:
    assert _base(everyone=VIEW, roles=[SEND, ADMIN]) == ALL


def test_base_is_all_when_everyone_grants_administrator() -> None:
    assert _base(everyone=ADMIN) == ALL


def test_base_drops_undocumented_bits_when_roles_carry_them() -> None:
    assert _base(everyone=VIEW | 1 << 47, roles=[1 << 60]) == VIEW


def test_base_returns_plain_int_when_given_permission_flags() -> None:
    result = _base(everyone=P.VIEW_CHANNEL, roles=[P.SEND_MESSAGES])
    assert type(result) is int
    assert str(result) == str(VIEW | SEND)


# -- overwrites ("Permission Overwrites": compute_overwrites) ---------------------------------


def test_overwrites_return_all_when_base_has_administrator() -> None:
    denied = [_ow_everyone(deny=ALL), _ow_role(ROLE_A, deny=ALL), _ow_member(deny=ALL)]
    assert _overwrite(ALL, denied) == ALL


def test_overwrites_leave_base_when_none_apply() -> None:
    assert _overwrite(CHAT, []) == CHAT


def test_everyone_overwrite_removes_bits_when_denied() -> None:
    assert _overwrite(CHAT, [_ow_everyone(deny=SEND)]) == CHAT & ~SEND


def test_everyone_overwrite_adds_bits_when_allowed() -> None:
    assert _overwrite(VIEW, [_ow_everyone(allow=SEND)]) == VIEW | SEND


def test_everyone_overwrite_allow_wins_when_same_bit_denied() -> None:
    assert _overwrite(VIEW, [_ow_everyone(allow=SEND, deny=SEND)]) == VIEW | SEND


def test_role_overwrite_removes_bits_when_denied() -> None:
    assert _overwrite(CHAT, [_ow_role(ROLE_A, deny=REACT)]) == CHAT & ~REACT


def test_role_overwrites_allow_wins_when_another_role_denies_same_bit() -> None:
    # "Permission Hierarchy": role A denies, role B allows -> allowed, whatever the positions.
    overwrites = [_ow_role(ROLE_A, deny=VIEW), _ow_role(ROLE_B, allow=VIEW)]
    assert _overwrite(0, overwrites) == VIEW
    assert _overwrite(0, reversed(overwrites)) == VIEW


def test_role_overwrites_combine_when_several_roles_match() -> None:
    overwrites = [_ow_role(ROLE_A, allow=SEND, deny=REACT), _ow_role(ROLE_B, allow=ATTACH)]
    assert _overwrite(VIEW | REACT, overwrites) == VIEW | SEND | ATTACH


def test_role_overwrite_beats_everyone_overwrite_when_allowing() -> None:
    overwrites = [_ow_everyone(deny=SEND), _ow_role(ROLE_A, allow=SEND)]
    assert _overwrite(VIEW | SEND, overwrites) == VIEW | SEND


def test_role_overwrite_beats_everyone_overwrite_when_denying() -> None:
    overwrites = [_ow_everyone(allow=SEND), _ow_role(ROLE_A, deny=SEND)]
    assert _overwrite(VIEW, overwrites) == VIEW


def test_member_overwrite_beats_role_overwrites_when_denying() -> None:
    overwrites = [_ow_role(ROLE_A, allow=SEND), _ow_member(deny=SEND)]
    assert _overwrite(VIEW, overwrites) == VIEW


def test_member_overwrite_beats_role_overwrites_when_allowing() -> None:
    overwrites = [_ow_everyone(deny=SEND), _ow_role(ROLE_A, deny=SEND), _ow_member(allow=SEND)]
    assert _overwrite(VIEW | SEND, overwrites) == VIEW | SEND


def test_member_overwrite_allow_wins_when_same_bit_denied() -> None:
    assert _overwrite(VIEW, [_ow_member(allow=SEND, deny=SEND)]) == VIEW | SEND


def test_overwrites_apply_in_documented_order_when_listed_in_any_order() -> None:
    # everyone denies SEND+REACT, role allows SEND and denies ATTACH, member allows ATTACH.
    overwrites = [
        _ow_member(allow=ATTACH),
        _ow_role(ROLE_A, allow=SEND, deny=ATTACH),
        _ow_everyone(deny=SEND | REACT),
    ]
    expected = VIEW | SEND | ATTACH
    rng = random.Random(7)
    for _ in range(10):
        rng.shuffle(overwrites)
        assert _overwrite(VIEW | SEND | REACT | ATTACH, overwrites) == expected


def test_member_overwrite_ignored_when_for_another_member() -> None:
    assert _overwrite(CHAT, [_ow_member(OTHER_USER_ID, deny=SEND)]) == CHAT


def test_role_overwrite_ignored_when_member_lacks_role() -> None:
    assert _overwrite(CHAT, [_ow_role(ROLE_C, deny=SEND)]) == CHAT


def test_overwrite_ignored_when_type_does_not_match_id() -> None:
    # A MEMBER overwrite carrying a role's id, and a ROLE overwrite carrying the user's id.
    overwrites = [
        Overwrite(id=ROLE_A, type=OverwriteType.MEMBER, deny=SEND),
        Overwrite(id=USER_ID, type=OverwriteType.ROLE, deny=VIEW),
    ]
    assert _overwrite(CHAT, overwrites) == CHAT


def test_everyone_overwrite_applies_once_when_guild_id_listed_as_member_role() -> None:
    # If @everyone's allow were folded into the role group, it would cancel the role's deny.
    overwrites = [_ow_everyone(allow=SEND), _ow_role(ROLE_A, deny=SEND)]
    assert _overwrite(VIEW, overwrites, role_ids=(GUILD_ID, ROLE_A)) == VIEW


def test_duplicate_overwrites_combine_when_same_target_listed_twice() -> None:
    overwrites = [_ow_member(allow=SEND), _ow_member(allow=REACT, deny=HISTORY)]
    assert _overwrite(READ, overwrites) == VIEW | SEND | REACT


def test_overwrite_cannot_grant_administrator_when_allowed() -> None:
    result = _overwrite(VIEW, [_ow_member(allow=ADMIN | SEND)])
    assert result == VIEW | SEND


def test_overwrites_return_plain_int_when_given_permission_flags() -> None:
    result = _overwrite(P.VIEW_CHANNEL, [_ow_member(allow=P.SEND_MESSAGES)])
    assert type(result) is int


# -- implicit permissions ("Implicit Permissions") ---------------------------------------------


def test_implicit_is_nothing_when_view_channel_missing() -> None:
    assert apply_implicit(ALL & ~VIEW & ~ADMIN, ChannelType.GUILD_TEXT) == 0


def test_implicit_strips_send_dependent_when_send_missing_in_text() -> None:
    perms = READ | REACT | SEND_DEPENDENT
    assert apply_implicit(perms, ChannelType.GUILD_TEXT) == READ | REACT


def test_implicit_keeps_send_dependent_when_send_present() -> None:
    perms = CHAT | SEND_DEPENDENT
    assert apply_implicit(perms, ChannelType.GUILD_TEXT) == perms


def test_implicit_keeps_send_dependent_when_category_without_send() -> None:
    perms = READ | SEND_DEPENDENT
    assert apply_implicit(perms, ChannelType.GUILD_CATEGORY) == perms


# -- compute_permissions --------------------------------------------------------------------


def test_compute_is_all_when_owner_despite_deny_overwrites() -> None:
    channel = _channel(_ow_everyone(deny=ALL), _ow_member(OWNER_ID, deny=ALL))
    owner = _member(user_id=OWNER_ID)
    assert compute_permissions(_guild(), _roles(0), owner, channel) == ALL
    assert compute_permissions(_guild(), _roles(0), owner, None) == ALL


def test_compute_is_all_when_role_grants_administrator_despite_overwrites() -> None:
    roles = _roles(0, _role(ROLE_A, ADMIN))
    channel = _channel(_ow_everyone(deny=ALL), _ow_role(ROLE_A, deny=ALL), _ow_member(deny=ALL))
    assert compute_permissions(_guild(), roles, _member(ROLE_A), channel) == ALL


def test_compute_guild_level_is_base_when_channel_none() -> None:
    roles = _roles(HISTORY, _role(ROLE_A, SEND | KICK))
    # No implicit denial at guild level: @everyone without VIEW_CHANNEL keeps its other bits,
    # since channel overwrites may still grant VIEW_CHANNEL.
    assert compute_permissions(_guild(), roles, _member(ROLE_A)) == HISTORY | SEND | KICK


def test_compute_uses_everyone_and_roles_when_channel_has_no_overwrites() -> None:
    roles = _roles(VIEW, _role(ROLE_A, SEND), _role(ROLE_B, HISTORY))
    result = compute_permissions(_guild(), roles, _member(ROLE_A, ROLE_B), _channel())
    assert result == VIEW | SEND | HISTORY


def test_compute_ignores_role_when_unknown_to_guild() -> None:
    roles = _roles(VIEW)
    # The member still lists a deleted role that has a leftover overwrite.
    channel = _channel(_ow_role(UNKNOWN_ROLE, allow=SEND))
    member = _member(UNKNOWN_ROLE)
    assert compute_permissions(_guild(), roles, member, None) == VIEW
    assert compute_permissions(_guild(), roles, member, channel) == VIEW


def test_compute_ignores_role_when_from_another_guild() -> None:
    roles = _roles(VIEW, _role(ROLE_A, ADMIN, guild_id=OTHER_GUILD_ID))
    channel = _channel(_ow_role(ROLE_A, allow=SEND))
    member = _member(ROLE_A)
    assert compute_permissions(_guild(), roles, member, None) == VIEW
    assert compute_permissions(_guild(), roles, member, channel) == VIEW


def test_compute_grants_nothing_from_everyone_when_role_missing() -> None:
    roles = {ROLE_A: _role(ROLE_A, READ)}
    assert compute_permissions(_guild(), roles, _member()) == 0
    assert compute_permissions(_guild(), roles, _member(ROLE_A)) == READ


def test_compute_same_result_when_roles_given_as_sequence() -> None:
    roles = _roles(VIEW, _role(ROLE_A, SEND), _role(ROLE_B, REACT))
    channel = _channel(_ow_role(ROLE_B, deny=SEND))
    member = _member(ROLE_A, ROLE_B)
    as_map = compute_permissions(_guild(), roles, member, channel)
    assert compute_permissions(_guild(), list(roles.values()), member, channel) == as_map
    assert as_map == VIEW | REACT


def test_compute_unchanged_when_member_lists_everyone_role() -> None:
    roles = _roles(VIEW, _role(ROLE_A))
    channel = _channel(_ow_everyone(allow=SEND), _ow_role(ROLE_A, deny=SEND))
    with_everyone = compute_permissions(_guild(), roles, _member(GUILD_ID, ROLE_A), channel)
    assert with_everyone == compute_permissions(_guild(), roles, _member(ROLE_A), channel) == VIEW


def test_compute_is_nothing_when_view_channel_denied() -> None:
    roles = _roles(DEFAULT_EVERYONE, _role(ROLE_A, KICK | MANAGE_MESSAGES))
    channel = _channel(_ow_everyone(deny=VIEW))
    assert compute_permissions(_guild(), roles, _member(ROLE_A), channel) == 0


def test_compute_sees_channel_when_role_overwrite_restores_view() -> None:
    roles = _roles(CHAT, _role(ROLE_A))
    channel = _channel(_ow_everyone(deny=VIEW), _ow_role(ROLE_A, allow=VIEW))
    assert compute_permissions(_guild(), roles, _member(ROLE_A), channel) == CHAT
    assert compute_permissions(_guild(), roles, _member(), channel) == 0


def test_compute_sees_private_channel_when_member_overwrite_allows_view() -> None:
    roles = _roles(CHAT)
    channel = _channel(_ow_everyone(deny=VIEW), _ow_member(allow=VIEW))
    assert compute_permissions(_guild(), roles, _member(), channel) == CHAT


def test_compute_strips_send_dependent_when_send_denied_in_text() -> None:
    roles = _roles(DEFAULT_EVERYONE)
    channel = _channel(_ow_everyone(deny=SEND))
    result = compute_permissions(_guild(), roles, _member(), channel)
    assert not result & (SEND | SEND_DEPENDENT)
    assert has(result, READ | REACT)
    assert result == DEFAULT_EVERYONE & ~SEND & ~SEND_DEPENDENT


def test_compute_strips_send_dependent_when_explicitly_allowed_without_send() -> None:
    roles = _roles(READ)
    channel = _channel(_ow_member(allow=ATTACH | P.EMBED_LINKS | P.MENTION_EVERYONE))
    assert compute_permissions(_guild(), roles, _member(), channel) == READ


def test_compute_keeps_send_dependent_when_category_lacks_send() -> None:
    roles = _roles(READ | ATTACH)
    category = _channel(type=ChannelType.GUILD_CATEGORY, channel_id=CATEGORY_ID)
    assert compute_permissions(_guild(), roles, _member(), category) == READ | ATTACH


def test_compute_is_nothing_when_category_view_denied() -> None:
    category = _channel(
        _ow_everyone(deny=VIEW), type=ChannelType.GUILD_CATEGORY, channel_id=CATEGORY_ID
    )
    assert compute_permissions(_guild(), _roles(CHAT), _member(), category) == 0


def test_compute_ignores_category_overwrites_when_channel_in_category() -> None:
    # "Permission Syncing": a channel does not inherit its category's overwrites dynamically.
    roles = _roles(CHAT)
    category = _channel(
        _ow_everyone(deny=VIEW), type=ChannelType.GUILD_CATEGORY, channel_id=CATEGORY_ID
    )
    child = _channel(parent_id=CATEGORY_ID)
    assert compute_permissions(_guild(), roles, _member(), category) == 0
    assert compute_permissions(_guild(), roles, _member(), child) == CHAT


def test_compute_uses_copied_overwrites_when_channel_synced_to_category() -> None:
    roles = _roles(CHAT)
    hidden = _ow_everyone(deny=VIEW)
    child = _channel(hidden, parent_id=CATEGORY_ID)
    assert compute_permissions(_guild(), roles, _member(), child) == 0


def test_compute_has_no_administrator_when_overwrite_allows_it() -> None:
    roles = _roles(CHAT)
    channel = _channel(_ow_member(allow=ADMIN))
    assert compute_permissions(_guild(), roles, _member(), channel) == CHAT


def test_compute_raises_when_member_from_another_guild() -> None:
    with pytest.raises(ValueError):
        compute_permissions(_guild(), _roles(CHAT), _member(guild_id=OTHER_GUILD_ID))


def test_compute_raises_when_channel_from_another_guild() -> None:
    channel = _channel(guild_id=OTHER_GUILD_ID)
    with pytest.raises(ValueError):
        compute_permissions(_guild(), _roles(CHAT), _member(), channel)


def test_compute_raises_when_channel_is_dm() -> None:
    dm = Channel(id=CHANNEL_ID, type=ChannelType.DM, recipients=(USER_ID, OTHER_USER_ID))
    with pytest.raises(ValueError):
        compute_permissions(_guild(), _roles(CHAT), _member(), dm)


# -- role hierarchy ("Permission Hierarchy") ---------------------------------------------------

HIERARCHY = [
    _everyone(DEFAULT_EVERYONE),
    _role(ROLE_A, position=1),
    _role(ROLE_B, position=2),
    _role(ROLE_C, position=3),
]


def test_highest_position_is_top_role_when_member_has_roles() -> None:
    assert highest_position([ROLE_A, ROLE_C], HIERARCHY) == 3
    assert highest_position([ROLE_B], {r.id: r for r in HIERARCHY}) == 2


def test_highest_position_is_zero_when_member_has_no_roles() -> None:
    assert highest_position([], HIERARCHY) == 0


def test_highest_position_ignores_role_when_unknown() -> None:
    assert highest_position([UNKNOWN_ROLE, ROLE_A], HIERARCHY) == 1


def _manage(actor_roles: Sequence[int], role: Role, actor_id: int = USER_ID) -> bool:
    return can_manage_role(
        owner_id=OWNER_ID,
        actor_id=actor_id,
        actor_role_ids=actor_roles,
        role=role,
        roles=HIERARCHY,
    )


def test_can_manage_role_true_when_role_below_actor_top_role() -> None:
    assert _manage([ROLE_B], HIERARCHY[1])
    assert _manage([ROLE_A, ROLE_C], HIERARCHY[2])


def test_can_manage_role_false_when_role_is_actor_top_role() -> None:
    assert not _manage([ROLE_B], HIERARCHY[2])


def test_can_manage_role_false_when_role_above_actor() -> None:
    assert not _manage([ROLE_A], HIERARCHY[3])


def test_can_manage_role_true_when_owner_and_top_role() -> None:
    assert _manage([], HIERARCHY[3], actor_id=OWNER_ID)


def test_can_manage_role_breaks_ties_by_id_when_same_position() -> None:
    # "roles with the same position are sorted by id": the older (smaller id) ranks higher.
    older, newer = _role(ROLE_A, position=2), _role(ROLE_B, position=2)
    roles = [older, newer]

    def manage(actor_role: int, role: Role) -> bool:
        return can_manage_role(
            owner_id=OWNER_ID, actor_id=USER_ID, actor_role_ids=[actor_role], role=role, roles=roles
        )

    assert manage(ROLE_A, newer)
    assert not manage(ROLE_B, older)
    assert role_rank(older) > role_rank(newer)


def test_can_manage_role_everyone_when_actor_has_any_role() -> None:
    assert _manage([ROLE_A], HIERARCHY[0])
    assert not _manage([], HIERARCHY[0])


def test_role_rank_everyone_lowest_when_other_role_at_position_zero() -> None:
    assert role_rank(_everyone(0)) < role_rank(_role(ROLE_A, position=0))


def _moderate(actor_roles: Sequence[int], target_roles: Sequence[int], **ids: int) -> bool:
    return can_moderate_member(
        owner_id=OWNER_ID,
        actor_id=ids.get("actor_id", USER_ID),
        actor_role_ids=actor_roles,
        target_id=ids.get("target_id", OTHER_USER_ID),
        target_role_ids=target_roles,
        roles=HIERARCHY,
    )


def test_can_moderate_true_when_target_top_role_lower() -> None:
    assert _moderate([ROLE_C], [ROLE_A, ROLE_B])
    assert _moderate([ROLE_A], [])


def test_can_moderate_false_when_target_top_role_equal() -> None:
    assert not _moderate([ROLE_B], [ROLE_A, ROLE_B])
    assert not _moderate([], [])


def test_can_moderate_false_when_target_top_role_higher() -> None:
    assert not _moderate([ROLE_A], [ROLE_C])


def test_can_moderate_false_when_target_is_owner() -> None:
    assert not _moderate([ROLE_C], [], target_id=OWNER_ID)


def test_can_moderate_true_when_actor_is_owner() -> None:
    assert _moderate([], [ROLE_C], actor_id=OWNER_ID)


def test_can_moderate_ignores_role_when_unknown() -> None:
    assert _moderate([ROLE_A], [UNKNOWN_ROLE])


# -- properties over random guilds --------------------------------------------------------------

ROUNDS = 400
ROLE_POOL = (ROLE_A, ROLE_B, ROLE_C, UNKNOWN_ROLE)
# A few interesting bits rather than all 53, so that overwrites collide often.
BIT_POOL = (VIEW, SEND, HISTORY, REACT, ATTACH, int(P.EMBED_LINKS), KICK, ADMIN, 1 << 47)


def _bits(rng: random.Random, admin_odds: float = 0.05) -> int:
    value = 0
    for bit in BIT_POOL:
        if rng.random() < (admin_odds if bit == ADMIN else 0.4):
            value |= bit
    return value


def _random_case(rng: random.Random) -> tuple[Guild, list[Role], Member, Channel]:
    roles = [_everyone(_bits(rng))]
    roles += [_role(r, _bits(rng), position=i + 1) for i, r in enumerate(ROLE_POOL[:3])]
    member = _member(*rng.sample(ROLE_POOL, rng.randint(0, len(ROLE_POOL))))
    overwrites: list[Overwrite] = []
    for target in (GUILD_ID, *ROLE_POOL):
        if rng.random() < 0.5:
            overwrites.append(_ow_role(target, _bits(rng), _bits(rng)))
    for user in (USER_ID, OTHER_USER_ID):
        if rng.random() < 0.5:
            overwrites.append(_ow_member(user, _bits(rng), _bits(rng)))
    rng.shuffle(overwrites)
    kind = rng.choice([ChannelType.GUILD_TEXT, ChannelType.GUILD_CATEGORY])
    return _guild(), roles, member, _channel(*overwrites, type=kind)


def _reference(guild: Guild, roles: list[Role], member: Member, channel: Channel) -> int:
    """Discord's pseudocode ("Permission Overwrites"), transcribed plainly, plus implicit rules."""
    by_id = {r.id: r for r in roles}
    if member.user_id == guild.owner_id:
        return ALL
    perms = by_id[guild.id].permissions
    member_roles = [r for r in member.roles if r in by_id and r != guild.id]
    for r in member_roles:
        perms |= by_id[r].permissions
    if perms & ADMIN:
        return ALL
    overwrites = {ow.id: ow for ow in channel.overwrites}
    if (ow := overwrites.get(guild.id)) is not None:
        perms = (perms & ~ow.deny) | ow.allow
    allow = deny = 0
    for r in member_roles:
        if (ow := overwrites.get(r)) is not None:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    if (ow := overwrites.get(member.user_id)) is not None:
        perms = (perms & ~ow.deny) | ow.allow
    perms &= ALL & ~ADMIN
    if not perms & VIEW:
        return 0
    if channel.type == ChannelType.GUILD_TEXT and not perms & SEND:
        perms &= ~SEND_DEPENDENT
    return perms


def _with_extra(channel: Channel, rng: random.Random, *, allow: int, deny: int) -> Channel:
    target = rng.choice([GUILD_ID, ROLE_A, ROLE_B, USER_ID])
    kind = OverwriteType.MEMBER if target == USER_ID else OverwriteType.ROLE
    extra = Overwrite(id=target, type=kind, allow=allow, deny=deny)
    merged = [ow for ow in channel.overwrites if ow.id != target]
    old = next((ow for ow in channel.overwrites if ow.id == target), None)
    if old is not None:
        extra = Overwrite(target, kind, old.allow | allow, old.deny | deny)
    return _channel(*merged, extra, type=channel.type)


def test_compute_matches_discord_pseudocode_when_random_guilds() -> None:
    rng = random.Random(20240601)
    for i in range(ROUNDS):
        guild, roles, member, channel = _random_case(rng)
        expected = _reference(guild, roles, member, channel)
        assert compute_permissions(guild, roles, member, channel) == expected, i


def test_compute_subset_of_all_when_random_guilds() -> None:
    rng = random.Random(1)
    for i in range(ROUNDS):
        guild, roles, member, channel = _random_case(rng)
        for target in (channel, None):
            result = compute_permissions(guild, roles, member, target)
            assert result & ~ALL == 0, i
            assert type(result) is int, i


def test_compute_all_when_random_guilds_and_owner() -> None:
    rng = random.Random(2)
    for i in range(ROUNDS):
        guild, roles, member, channel = _random_case(rng)
        owner = _member(*member.roles, user_id=OWNER_ID)
        owner_channel = _channel(*channel.overwrites, _ow_member(OWNER_ID, deny=ALL))
        assert compute_permissions(guild, roles, owner, owner_channel) == ALL, i


def test_compute_all_when_random_guilds_and_administrator_role() -> None:
    rng = random.Random(3)
    for i in range(ROUNDS):
        guild, roles, member, channel = _random_case(rng)
        roles = [*roles, _role(9_999, ADMIN, position=1)]
        admin = _member(*member.roles, 9_999)
        assert compute_permissions(guild, roles, admin, channel) == ALL, i


def test_compute_never_loses_bits_when_allow_overwrite_added() -> None:
    # Each step p -> (p & ~deny) | allow grows with p and with allow, and the implicit
    # denials only ever fire on a *missing* bit, so extra allows never remove anything.
    rng = random.Random(4)
    for i in range(ROUNDS):
        guild, roles, member, channel = _random_case(rng)
        before = compute_permissions(guild, roles, member, channel)
        grown = _with_extra(channel, rng, allow=_bits(rng), deny=0)
        after = compute_permissions(guild, roles, member, grown)
        assert before & ~after == 0, i


def test_compute_never_gains_bits_when_deny_overwrite_added() -> None:
    rng = random.Random(5)
    for i in range(ROUNDS):
        guild, roles, member, channel = _random_case(rng)
        before = compute_permissions(guild, roles, member, channel)
        shrunk = _with_extra(channel, rng, allow=0, deny=_bits(rng))
        after = compute_permissions(guild, roles, member, shrunk)
        assert after & ~before == 0, i


def test_compute_same_result_when_overwrites_reordered() -> None:
    rng = random.Random(6)
    for i in range(ROUNDS):
        guild, roles, member, channel = _random_case(rng)
        shuffled = list(channel.overwrites)
        rng.shuffle(shuffled)
        reordered = _channel(*shuffled, type=channel.type)
        expected = compute_permissions(guild, roles, member, channel)
        assert compute_permissions(guild, roles, member, reordered) == expected, i


# -- timeouts ("Modify Guild Member": communication_disabled_until) ------------------------------

NOW = 1_800_000_000_000


def _timed_out(until: int, *role_ids: int, user_id: int = USER_ID) -> Member:
    return Member(guild_id=GUILD_ID, user_id=user_id, joined_at=0, roles=role_ids,
                  communication_disabled_until=until)


def test_timed_out_member_keeps_only_view_and_history_until_it_ends() -> None:
    roles = _roles(CHAT | ATTACH, _role(ROLE_A, KICK))
    channel = _channel(_ow_member(allow=MANAGE_MESSAGES))
    member = _timed_out(NOW + 1, ROLE_A)
    assert TIMED_OUT == READ
    assert compute_permissions(_guild(), roles, member, channel, NOW) == READ
    assert compute_permissions(_guild(), roles, member, None, NOW) == READ
    # A channel they cannot see stays unseen: the timeout only takes away.
    hidden = _channel(_ow_everyone(deny=VIEW))
    assert compute_permissions(_guild(), roles, member, hidden, NOW) == 0
    # At its end (and after) nothing is restricted.
    assert compute_permissions(_guild(), roles, member, channel, NOW + 1) == \
        compute_permissions(_guild(), roles, _member(ROLE_A), channel, NOW + 1)


def test_timeout_does_not_restrict_owner_or_administrator() -> None:
    roles = _roles(CHAT, _role(ROLE_A, ADMIN))
    assert compute_permissions(_guild(), roles, _timed_out(NOW + 10, ROLE_A), _channel(), NOW) == ALL
    owner = _timed_out(NOW + 10, user_id=OWNER_ID)
    assert compute_permissions(_guild(), roles, owner, _channel(), NOW) == ALL


def test_timeout_is_compared_with_the_clock_by_default() -> None:
    roles = _roles(CHAT)
    far = _timed_out(4_000_000_000_000)  # the year 2096
    past = _timed_out(1_000)
    assert compute_permissions(_guild(), roles, far, _channel()) == READ
    assert compute_permissions(_guild(), roles, past, _channel()) == CHAT
