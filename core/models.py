"""Domain records shared by the stores, the API and the gateway.

Plain frozen dataclasses: stores return them (never driver rows), services build them, and
``core.wire`` turns them into Discord's JSON objects. Ids are ints in memory; they become
strings only on the wire. Times are Unix milliseconds (ints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = [
    "Account",
    "Application",
    "AuditEntry",
    "Ban",
    "Channel",
    "ChannelType",
    "Guild",
    "Invite",
    "Member",
    "Mention",
    "Message",
    "MessageReference",
    "Overwrite",
    "OverwriteType",
    "ReactionCount",
    "ReadState",
    "RegistrationCode",
    "Role",
    "ThreadMember",
    "ThreadMeta",
    "User",
    "Webhook",
]


class ChannelType(IntEnum):
    """Discord channel types this server supports (others are rejected with 50035)."""

    GUILD_TEXT = 0
    DM = 1
    GROUP_DM = 3
    GUILD_CATEGORY = 4
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12

    @property
    def private(self) -> bool:
        """A DM or a group DM: no guild, its recipients are its audience."""
        return self in (ChannelType.DM, ChannelType.GROUP_DM)

    @property
    def thread(self) -> bool:
        """A thread: a channel row with a text channel as its parent (``core.threads``)."""
        return self in (ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD)


class OverwriteType(IntEnum):
    ROLE = 0
    MEMBER = 1


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    global_name: str | None = None
    avatar: str | None = None
    bot: bool = False
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the instance's operator sees it (``discord-arch admin``).

    Apart from :class:`User` because Discord's user object has no such fields: a client that
    saw them could take them for Discord's own, so they never go out over REST or the gateway.

    Attributes:
        disabled: the account cannot log in and its tokens do not resolve.
        instance_admin: the operator's mark of an administrator of this instance.
    """

    user: User
    disabled: bool = False
    instance_admin: bool = False


@dataclass(frozen=True, slots=True)
class RegistrationCode:
    """A code that lets one register while registration is invite-only.

    Attributes:
        max_uses: registrations it allows (0: no limit).
        uses: registrations made with it so far.
    """

    code: str
    created_at: int
    max_uses: int = 1
    uses: int = 0


@dataclass(frozen=True, slots=True)
class Application:
    """A bot application: its bot user has the same id as the application, as on Discord."""

    id: int
    name: str
    owner_id: int
    description: str = ""
    icon: str | None = None
    verify_key: str = ""
    bot_public: bool = True
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Guild:
    id: int
    name: str
    owner_id: int
    icon: str | None = None
    description: str | None = None
    # The channel where system messages go; Discord's ``system_channel_id``.
    system_channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class Role:
    """A guild role. The @everyone role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False


@dataclass(frozen=True, slots=True)
class Overwrite:
    """A channel permission overwrite for a role or a member (``id`` is the role or user id)."""

    id: int
    type: OverwriteType
    allow: int = 0
    deny: int = 0


@dataclass(frozen=True, slots=True)
class Channel:
    """A guild channel (text or category), a DM (``guild_id`` None, two ``recipients``) or a
    group DM (``guild_id`` None; one to ten ``recipients``, the owner among them; ``name``,
    ``icon`` and ``owner_id`` are a group DM's only)."""

    id: int
    type: ChannelType
    guild_id: int | None = None
    name: str | None = None
    topic: str | None = None
    position: int = 0
    parent_id: int | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    overwrites: tuple[Overwrite, ...] = ()
    recipients: tuple[int, ...] = ()
    last_message_id: int | None = None
    owner_id: int | None = None
    icon: str | None = None
    # A thread's own state (types 11 and 12 only); its parent is ``parent_id``, its creator
    # ``owner_id``.
    thread: ThreadMeta | None = None


@dataclass(frozen=True, slots=True)
class ThreadMeta:
    """What a thread has beyond a channel row (Discord's ``thread_metadata`` and counts).

    Attributes:
        archived: archived explicitly (PATCH, or a moderator). A thread idle past its
            ``auto_archive_duration`` is archived too, worked out when read
            (:meth:`archived_at`), never by a sweep.
        auto_archive_duration: minutes of inactivity before it archives (60, 1440, 4320, 10080).
        archive_timestamp: Unix ms of the last change of its archived state (creation at first).
        activity_ms: Unix ms of its last activity (creation, a message, an unarchive).
        member_count: its members, counted when read.
    """

    archived: bool = False
    auto_archive_duration: int = 1440
    archive_timestamp: int = 0
    locked: bool = False
    invitable: bool = True
    create_timestamp: int = 0
    activity_ms: int = 0
    message_count: int = 0
    total_message_sent: int = 0
    member_count: int = 0

    def idle_until(self) -> int:
        """Unix ms at which inactivity archives it."""
        return self.activity_ms + self.auto_archive_duration * 60_000

    def archived_at(self, now_ms: int) -> int | None:
        """When it was archived (explicitly, or by inactivity), or None while active."""
        if self.archived:
            return self.archive_timestamp
        until = self.idle_until()
        return until if now_ms >= until else None


@dataclass(frozen=True, slots=True)
class ThreadMember:
    """A user's membership of a thread (Discord's thread member object)."""

    thread_id: int
    user_id: int
    join_timestamp: int
    flags: int = 0


@dataclass(frozen=True, slots=True)
class ReadState:
    """How far one user has read one channel, and what still calls for their attention.

    Attributes:
        last_message_id: the last message acknowledged (0: never acknowledged).
        mention_count: messages after it that mention the user (themself, a role of theirs,
            @everyone; in a DM or group DM every message of the others), counted when read
            from the mention index (``core.mentions``), never stored.
        version: grows with every acknowledgement of the user's (the ack's time in ms, or
            one more than the last when the clock did not move on); 0 when never acked.
    """

    channel_id: int
    last_message_id: int = 0
    mention_count: int = 0
    version: int = 0


@dataclass(frozen=True, slots=True)
class Mention:
    """One row of the mention index: message ``message_id`` of ``author_id`` in
    ``channel_id`` calls for the attention of ``target_id``.

    The target is who it reaches as stored, not each user: a user id, a role id, the guild
    id for @everyone (the id of the @everyone role), or the channel id for every recipient of
    a DM or group DM. So an @everyone in a guild of 10,000 members is one row, and who it
    counts for is worked out when counts are read (``core.mentions``).
    """

    channel_id: int
    message_id: int
    author_id: int
    target_id: int


@dataclass(frozen=True, slots=True)
class Member:
    guild_id: int
    user_id: int
    joined_at: int
    nick: str | None = None
    roles: tuple[int, ...] = ()
    flags: int = 0
    deaf: bool = False
    mute: bool = False
    # Unix ms until which the member is timed out (Discord's communication_disabled_until).
    communication_disabled_until: int | None = None

    def timed_out(self, now_ms: int) -> bool:
        until = self.communication_disabled_until
        return until is not None and now_ms < until


@dataclass(frozen=True, slots=True)
class Invite:
    code: str
    guild_id: int
    channel_id: int
    inviter_id: int
    created_at: int
    max_age: int = 86400
    max_uses: int = 0
    uses: int = 0
    temporary: bool = False

    def expired(self, now_ms: int) -> bool:
        if self.max_age and now_ms >= self.created_at + self.max_age * 1000:
            return True
        return bool(self.max_uses) and self.uses >= self.max_uses


@dataclass(frozen=True, slots=True)
class Ban:
    """A user banned from a guild (a member or not: Discord bans any user id).

    Attributes:
        reason: the ``X-Audit-Log-Reason`` of the ban, if one was given.
        created_at: Unix ms of the ban.
    """

    guild_id: int
    user_id: int
    reason: str | None = None
    created_at: int = 0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit log entry of a guild; its time is in its snowflake ``id``.

    Attributes:
        action_type: Discord's audit log event number (``core.audit.AuditAction``).
        user_id: who acted.
        target_id: what was acted on (a user, role, channel, overwrite...), if anything.
        changes: Discord's change objects, ``{"key", "old_value"?, "new_value"?}``, as JSON.
        options: Discord's "optional audit entry info" (strings), when the action has any.
        reason: the ``X-Audit-Log-Reason`` the action came with.
    """

    id: int
    guild_id: int
    action_type: int
    user_id: int | None = None
    target_id: int | None = None
    changes: tuple[dict[str, Any], ...] = ()
    options: dict[str, str] | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class MessageReference:
    message_id: int
    channel_id: int
    guild_id: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message. Its creation time is in its snowflake ``id``."""

    id: int
    channel_id: int
    author_id: int
    content: str
    guild_id: int | None = None
    type: int = 0
    tts: bool = False
    nonce: str | None = None
    edited_at: int | None = None
    pinned: bool = False
    mention_everyone: bool = False
    mentions: tuple[int, ...] = ()
    mention_roles: tuple[int, ...] = ()
    reference: MessageReference | None = None
    flags: int = 0
    embeds: tuple[dict[str, Any], ...] = field(default=())
    # Unix ms at which it was pinned (None when not pinned): the order of a channel's pins.
    pinned_at: int | None = None
    # A webhook's message: the webhook (its id is also ``author_id``, as on Discord), and the
    # author's name and avatar hash as sent (the webhook's, or the execute's ``username`` and
    # ``avatar_url``). Kept with the message, as Discord does: renaming or deleting the
    # webhook later changes none of its messages. None for a user's message.
    webhook_id: int | None = None
    author_name: str | None = None
    author_avatar: str | None = None
    # Its files' attachment objects as Discord shows them (``core.attachments``: id, filename,
    # size, url...), kept whole with the message like ``embeds``; the bytes are in the blob
    # store (``core.blobs``) under ``attachments/{channel_id}/{id}``.
    attachments: tuple[dict[str, Any], ...] = field(default=())
    # Its action rows of buttons and select menus (``core.components``), normalized, kept
    # whole like ``embeds``: a click is checked against them.
    components: tuple[dict[str, Any], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Interaction:
    """A user's invocation of an application's command or component (``core.interactions``),
    kept while its token lives (15 minutes) for the bot's callback and follow-ups.

    Attributes:
        token_hash: the SHA-256 (hex) of its token: the token itself is only ever in the
            INTERACTION_CREATE the bot gets, so a read of the store reveals no credential.
        created_ms: Unix ms it was made; it expires :data:`core.interactions.TOKEN_TTL_MS` later.
        message_id: a component's message (type 3 and a modal submit from one), else None.
        acknowledged: answered by the initial callback, set once and atomically (40060 after).
        response_type: the initial callback's type (4, 5, 6, 7, 8, 9), None before it.
        original_id: the response message (``@original``), None before there is one.
        ephemeral: the response is ephemeral (flag 64): seen by the invoker only, not in history.
        original: an ephemeral original's message object (JSON text): it is in no channel's
            history, so ``@original`` is read from here.
        state: what a later request about it is checked against (JSON text): the modal shown
            (callback 9), which its submit must match; an autocomplete's focused option type
            and the client's nonce, for the choices (callback 8). None otherwise.        name: a command's full name as invoked ("cmd", "cmd sub", "cmd group sub"), which
            its response messages carry (``interaction.name``); empty for other kinds.
    """

    id: int
    application_id: int
    type: int
    token_hash: str = field(repr=False)
    user_id: int
    channel_id: int
    guild_id: int | None
    created_ms: int
    message_id: int | None = None
    acknowledged: bool = False
    response_type: int | None = None
    original_id: int | None = None
    ephemeral: bool = False
    original: str | None = None
    state: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class ReactionCount:
    """One emoji's reactions on one message, as a page read aggregates them.

    Reactions are stored one row per (message, emoji, user), apart from the message, so a
    reaction never rewrites the message; reads count them per page (``core.store.base``).

    Attributes:
        emoji: the stored key (``core.emoji``): a unicode emoji itself, or a custom emoji's id.
        count: how many users reacted with it.
        me: whether the reading user is one of them.
    """

    emoji: str
    count: int
    me: bool = False


@dataclass(frozen=True, slots=True)
class Webhook:
    """An incoming webhook (Discord's type 1): a guild text channel's address for messages
    from outside, authorized by its token alone.

    Attributes:
        creator_id: the user who created it (Discord's ``user``).
        token: the credential of the token routes (``core.webhooks``). Kept as it is, not only
            as a hash: Discord shows it again to whoever may manage the webhook. Left out of
            ``repr`` so that a logged record never shows it.
        application_id: the bot application that created it (a bot's user id is its
            application's id), else None.
    """

    id: int
    guild_id: int
    channel_id: int
    creator_id: int
    name: str
    token: str = field(repr=False)
    avatar: str | None = None
    application_id: int | None = None
@dataclass(frozen=True, slots=True)
class ApplicationCommand:
    """An application command (Discord's slash command, user or message context menu).

    Attributes:
        guild_id: the guild it belongs to, None for a global command.
        type: 1 CHAT_INPUT, 2 USER, 3 MESSAGE.
        version: a snowflake made anew at each change (Discord's ``version``).
        definition: the rest of the validated definition (``core.command_form``), as JSON
            text: description, options, localizations, default_member_permissions, contexts,
            integration_types, nsfw. Kept whole because nothing queries inside it; the
            interaction path reads it back to check options.
    """

    id: int
    application_id: int
    guild_id: int | None
    type: int
    name: str
    version: int
    definition: str = "{}"


