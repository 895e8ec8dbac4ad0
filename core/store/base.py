"""The storage interfaces every backend implements.

Two protocols, because the production deployment splits them (docs/architecture.md): ``MetaStore`` holds
users, tokens, applications, guilds, roles, channels, overwrites, members and invites (SQLite or
PostgreSQL); ``MessageStore`` holds message history (SQLite, PostgreSQL or MongoDB, optionally
fronted by the Redis recent-messages cache). Both are exercised by one contract test suite,
``tests/integration/test_storage_contract.py``, run against every backend.

Rules every adapter follows:
- returns ``core.models`` records, never driver rows;
- ids are ints; times are Unix milliseconds;
- "not found" is ``None`` (or ``False`` for deletes), never an exception;
- a uniqueness conflict the caller must handle raises :class:`Conflict`;
- ``aclose()`` releases every connection and thread; it is safe to call twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, Protocol

from core.models import (
    Account,
    Application,
    ApplicationCommand,
    AuditEntry,
    Ban,
    Channel,
    ChannelType,
    Guild,
    Interaction,
    Invite,
    Member,
    Mention,
    Message,
    Overwrite,
    ReactionCount,
    ReadState,
    RegistrationCode,
    Role,
    ThreadMember,
    User,
    Webhook,
)
from core.store.searchquery import SearchPage, SearchQuery

__all__ = [
    "AUDIT_PRUNE_MAX",
    "BANS_PAGE_MAX",
    "Conflict",
    "HISTORY_MAX",
    "LimitReached",
    "MessageStore",
    "MetaStore",
    "PinOutcome",
    "READ_STATES_MAX",
    "ReactionOutcome",
    "RecipientOutcome",
    "StoreUnavailable",
]

# The largest page any history query returns (Discord's ``limit`` maximum); also the most
# users one ``reaction_users`` call and pins one ``list_pins`` call return.
HISTORY_MAX = 100
# The largest page of ``list_bans`` (Discord's ``limit`` maximum for ``GET .../bans``).
BANS_PAGE_MAX = 1000
# How many more expired audit log entries one ``add_audit_entries`` call deletes than it adds:
# pruning rides along with the writes, bounded, so it never stalls one (core.audit keeps 45
# days).
AUDIT_PRUNE_MAX = 100


class ReactionOutcome(Enum):
    """What :meth:`MessageStore.add_reaction` did."""

    ADDED = "added"
    ALREADY_REACTED = "already"  # the user had this reaction: nothing changed
    LIMIT_REACHED = "limit"  # the emoji is new to the message and it has max_emojis already
    UNKNOWN_MESSAGE = "unknown"


# The most read states one ``read_states`` call returns (READY's ``read_state`` entries).
READ_STATES_MAX = 5000


class RecipientOutcome(Enum):
    """What :meth:`MetaStore.add_recipient` did."""

    ADDED = "added"
    ALREADY_RECIPIENT = "already"  # nothing changed
    LIMIT_REACHED = "limit"  # the group DM has max_recipients already
    UNKNOWN_CHANNEL = "unknown"  # no such group DM


class PinOutcome(Enum):
    """What :meth:`MessageStore.pin_message` did."""

    PINNED = "pinned"
    ALREADY_PINNED = "already"
    LIMIT_REACHED = "limit"
    UNKNOWN_MESSAGE = "unknown"


class Conflict(Exception):
    """A unique key is already taken (username, invite code, membership...)."""


class LimitReached(Exception):
    """A write would pass a per-parent limit (the webhooks of a channel); nothing changed.

    Counted and written in one serialized transaction, so two writers racing for the last
    place get one: the caller cannot count first without that race.
    """


class StoreUnavailable(Exception):
    """The backing server cannot be reached, its URL is malformed, or the store is closed.

    The message is one line naming the host; it never contains a password.
    """


class MetaStore(Protocol):
    """Users, auth, applications, guilds, roles, channels, members and invites."""

    async def aclose(self) -> None: ...

    # -- users and auth ------------------------------------------------------------------
    async def create_user(self, user: User, password_hash: str | None) -> None:
        """Insert a user. Raises Conflict if the username (case-insensitive) is taken."""

    async def get_user(self, user_id: int) -> User | None: ...

    async def get_users(self, user_ids: Sequence[int]) -> dict[int, User]:
        """The users that exist among ``user_ids``, by id."""

    async def get_login(self, username: str) -> tuple[User, str] | None:
        """The user and password hash for a username (case-insensitive), if it has a password."""

    async def update_user(self, user_id: int, fields: dict[str, Any]) -> User | None:
        """Set ``username``/``global_name``/``avatar``. Raises Conflict on a taken username."""

    async def add_token(self, token_hash: bytes, user_id: int, created_at: int) -> None: ...

    async def resolve_token(self, token_hash: bytes) -> int | None:
        """The user id a (hashed) token belongs to, if it is not revoked and the user is not
        disabled (checked here, in the same query, so a token issued by a login that raced
        with ``set_account_flags(disabled=True)`` never resolves either)."""

    async def revoke_token(self, token_hash: bytes) -> bool: ...

    async def set_password_hash(self, user_id: int, password_hash: str, expected: str) -> bool:
        """Replace the user's password hash if it is still ``expected``; False otherwise.

        Compare-and-set, so a login that upgrades the hash of the password it just checked
        never overwrites a password changed in the meantime.
        """

    async def revoke_user_tokens(self, user_id: int, keep: bytes | None = None) -> list[bytes]:
        """Revoke every token of ``user_id`` except ``keep``; the hashes revoked (so the
        caller can drop them from the caches in front of the store)."""

    # -- applications --------------------------------------------------------------------
    async def create_application(self, app: Application, bot: User) -> None:
        """Insert an application and its bot user (``bot.id == app.id``) in one transaction."""

    async def get_application(self, app_id: int) -> Application | None: ...

    async def list_applications(self, owner_id: int) -> list[Application]: ...

    # -- guilds ----------------------------------------------------------------------------
    async def create_guild(
        self, guild: Guild, roles: Sequence[Role], channels: Sequence[Channel], owner: Member
    ) -> None:
        """Insert a guild with its roles, channels and the owner's membership, atomically."""

    async def get_guild(self, guild_id: int) -> Guild | None: ...

    async def update_guild(self, guild_id: int, fields: dict[str, Any]) -> Guild | None:
        """Set any of ``name``, ``icon``, ``description``, ``owner_id``, ``system_channel_id``."""

    async def delete_guild(self, guild_id: int) -> bool:
        """Delete a guild and everything in it (roles, channels, members, invites)."""

    async def list_user_guilds(self, user_id: int) -> list[Guild]:
        """The guilds a user is a member of, ordered by guild id."""

    async def count_user_guilds(self, user_id: int) -> int: ...

    # -- roles -----------------------------------------------------------------------------
    async def list_roles(self, guild_id: int) -> list[Role]:
        """The guild's roles ordered by (position, id)."""

    async def get_role(self, guild_id: int, role_id: int) -> Role | None: ...

    async def create_role(self, role: Role) -> None: ...

    async def update_role(self, guild_id: int, role_id: int, fields: dict[str, Any]) -> Role | None:
        """Set any of ``name``, ``permissions``, ``position``, ``color``, ``hoist``, ``mentionable``."""

    async def delete_role(self, guild_id: int, role_id: int) -> bool:
        """Delete a role and remove it from every member and overwrite."""

    # -- channels --------------------------------------------------------------------------
    async def list_channels(self, guild_id: int) -> list[Channel]:
        """The guild's channels (with overwrites) ordered by (position, id)."""

    async def get_channel(self, channel_id: int) -> Channel | None:
        """A guild channel or DM, with overwrites and (for DMs) recipients."""

    async def create_channel(self, channel: Channel) -> None:
        """Insert a guild channel with its overwrites."""

    async def update_channel(self, channel_id: int, fields: dict[str, Any]) -> Channel | None:
        """Set any of ``name``, ``topic``, ``position``, ``parent_id``, ``nsfw``,
        ``rate_limit_per_user``, ``last_message_id``, ``owner_id``, ``icon``; ``overwrites``
        replaces them all."""

    async def delete_channel(self, channel_id: int) -> bool:
        """Delete a channel, its overwrites, invites and webhooks (children lose their
        parent)."""

    async def put_overwrite(self, channel_id: int, overwrite: Overwrite) -> None:
        """Create or replace the overwrite for ``overwrite.id`` on the channel."""

    async def delete_overwrite(self, channel_id: int, target_id: int) -> bool: ...

    async def get_or_create_dm(self, channel: Channel) -> Channel:
        """The DM channel between ``channel.recipients`` (two user ids), creating ``channel``
        if there is none yet. One DM channel per pair, whichever order the ids come in."""

    async def list_dms(self, user_id: int) -> list[Channel]:
        """The user's DMs and group DMs, ordered by id."""

    # -- group DMs (core.group_dms) ----------------------------------------------------------
    # A group DM's recipients (the owner among them) are rows of their own, one per user, so
    # adding or removing one never rewrites the others; a channel read returns them all.

    async def create_group_dm(self, channel: Channel, now_ms: int) -> None:
        """Insert a group DM (type 3, ``owner_id`` set) with its ``recipients``, atomically."""

    async def add_recipient(
        self, channel_id: int, user_id: int, now_ms: int, *, max_recipients: int
    ) -> RecipientOutcome:
        """Add ``user_id`` to the group DM unless it has ``max_recipients`` already (counted
        and added in one serialized transaction: two adds racing for the last place get
        one)."""

    async def remove_recipient(self, channel_id: int, user_id: int) -> Channel | None:
        """Remove ``user_id`` from the group DM; the channel after, or None when they were
        not a recipient. When the owner leaves, the recipient there longest becomes the owner
        in the same transaction (``owner_id`` None once nobody is left: the caller deletes
        the channel then)."""

    # -- read states (core.read_states, core.mentions) -------------------------------------
    # A read state is one row per (user, channel) the user acknowledged. Mention counts are
    # not stored per user: messages add rows to a mention index, one per target as written
    # (a user, a role, @everyone, a private channel's recipients), never one per member, and
    # the counts are worked out when read: one indexed query for all of a user's channels.

    async def add_mentions(self, mentions: Sequence[Mention]) -> None:
        """Add rows to the mention index, in one statement (a write batch's worth); rows of
        a channel that no longer exists are skipped, a row given twice is kept once."""

    async def ack_channel(
        self, user_id: int, channel_id: int, message_id: int, now_ms: int, *,
        manual: bool = False,
    ) -> ReadState | None:
        """Move the user's read state of the channel to ``message_id``: forward only, or
        anywhere when ``manual`` (marking unread). The version grows with every call.

        Returns:
            The read state after, its ``mention_count`` counted in the same transaction;
            None when the channel does not exist.
        """

    async def read_states(self, user_id: int, limit: int = READ_STATES_MAX) -> list[ReadState]:
        """The user's read states, in ONE query: every channel they acknowledged, and every
        channel with mentions of theirs after what they acknowledged (``last_message_id`` 0
        where they never did), with the counts. A mention counts from the time it could reach
        them: a role's or @everyone's from when they joined the guild, a group DM's from when
        they were added. Not filtered by what the user may see now: the caller does that.
        At most ``limit`` of each kind, the most recent first.
        """

    # -- threads (core.threads) ------------------------------------------------------------
    # A thread is a channel (``get_channel`` returns it with ``thread`` set; ``list_channels``
    # leaves threads out). "Archived" in the listings is archived explicitly or idle past its
    # ``auto_archive_duration`` at ``now_ms`` (ThreadMeta.archived_at): no sweep writes it.
    async def create_thread(self, channel: Channel, members: Sequence[ThreadMember]) -> bool:
        """Insert the thread's channel row, state and first members atomically; False
        (nothing written) when its parent (``channel.parent_id`` in ``channel.guild_id``) is
        gone."""

    async def update_thread(self, thread_id: int, fields: dict[str, Any]) -> Channel | None:
        """Set any of ``name``, ``rate_limit_per_user``, ``archived``, ``locked``,
        ``invitable``, ``auto_archive_duration``, ``archive_ts``, ``activity_ts``; the thread
        after, or None when it is gone."""

    async def count_thread_message(self, thread_id: int, now_ms: int) -> None:
        """One message more in the thread's counts; its last activity is ``now_ms``."""

    async def add_thread_member(self, member: ThreadMember) -> bool:
        """Add a member; False when already one or the thread is gone."""

    async def remove_thread_member(self, thread_id: int, user_id: int) -> bool: ...

    async def get_thread_member(self, thread_id: int, user_id: int) -> ThreadMember | None: ...

    async def list_thread_members(
        self, thread_id: int, after: int = 0, limit: int = 100
    ) -> list[ThreadMember]:
        """The thread's members with user id > ``after``, by user id, at most ``limit``."""

    async def joined_threads(
        self, user_id: int, thread_ids: Sequence[int]
    ) -> dict[int, ThreadMember]:
        """The user's memberships among ``thread_ids``, by thread id."""

    async def thread_member_ids(
        self, thread_ids: Sequence[int], limit: int
    ) -> dict[int, list[int]]:
        """The member ids of each of ``thread_ids`` (every id a key), ``limit`` in all."""

    async def list_active_threads(self, guild_id: int, now_ms: int, limit: int) -> list[Channel]:
        """The guild's threads not archived at ``now_ms``, by id, at most ``limit``."""

    async def list_archived_threads(
        self, parent_id: int, kind: ChannelType, now_ms: int, *, before_ms: int, limit: int,
        member_id: int | None = None,
    ) -> list[Channel]:
        """The parent's threads of type ``kind`` archived at ``now_ms`` before ``before_ms``,
        the latest archived first, at most ``limit``; only those ``member_id`` is a member of
        when given."""

    # -- webhooks (core.webhooks) ----------------------------------------------------------
    async def create_webhook(self, webhook: Webhook, max_per_channel: int) -> bool:
        """Insert a webhook; False (nothing written) if its channel no longer exists.

        Raises:
            LimitReached: the channel has ``max_per_channel`` webhooks already.
        """

    async def get_webhook(self, webhook_id: int) -> Webhook | None: ...

    async def list_channel_webhooks(self, channel_id: int) -> list[Webhook]:
        """The channel's webhooks, ordered by id."""

    async def list_guild_webhooks(self, guild_id: int) -> list[Webhook]:
        """The guild's webhooks (of all its channels), ordered by id."""

    async def update_webhook(
        self, webhook_id: int, fields: dict[str, Any], *, max_per_channel: int
    ) -> Webhook | None:
        """Set ``name``, ``avatar`` (None clears it), ``channel_id`` (a channel of the same
        guild: the caller checks). None when the webhook, or the channel it moves to, is gone.

        Raises:
            LimitReached: it moves to a channel that has ``max_per_channel`` webhooks already.
        """

    async def delete_webhook(self, webhook_id: int) -> bool: ...

    # -- application commands (core.app_commands) -------------------------------------------
    # A command's scope is its application and guild (None: global); every method takes both,
    # so one application never reaches another's commands, nor a guild's through another.
    async def upsert_command(
        self, command: ApplicationCommand, max_of_type: int
    ) -> tuple[ApplicationCommand, bool] | None:
        """Insert a command, or replace the definition (and version) of the one of its scope,
        type and name, keeping that one's id; with whether it was created. None when its guild
        no longer exists.

        Raises:
            LimitReached: a new one, and its scope has ``max_of_type`` of its type already.
        """

    async def get_command(
        self, application_id: int, guild_id: int | None, command_id: int
    ) -> ApplicationCommand | None: ...

    async def list_commands(
        self, application_id: int, guild_id: int | None, limit: int
    ) -> list[ApplicationCommand]:
        """The scope's commands, ordered by id, at most ``limit``."""

    async def update_command(self, command: ApplicationCommand) -> ApplicationCommand | None:
        """Set the name, version and definition of the command of ``command``'s id and scope;
        None when there is none.

        Raises:
            Conflict: another command of the scope and type has the new name.
        """

    async def delete_command(
        self, application_id: int, guild_id: int | None, command_id: int
    ) -> bool: ...

    async def replace_commands(
        self, application_id: int, guild_id: int | None,
        commands: Sequence[ApplicationCommand],
    ) -> list[ApplicationCommand] | None:
        """Make ``commands`` the scope's whole set, in one transaction (a bulk overwrite): one
        with the type and name of an existing command takes that one's id, the others keep
        theirs; the rest of the scope is deleted. The stored commands, in the given order;
        None when the guild no longer exists. The caller checks names are unique.
        """

    # -- interactions (core.interactions) ---------------------------------------------------
    async def create_interaction(self, interaction: Interaction, expired_before_ms: int) -> None:
        """Store an interaction, deleting those created before ``expired_before_ms`` (their
        tokens have expired: pruned by the inserts themselves)."""

    async def get_interaction(self, interaction_id: int) -> Interaction | None: ...

    async def interaction_by_token(self, token_hash: str) -> Interaction | None:
        """The interaction whose token has this SHA-256 (hex), for the follow-up routes."""

    async def interaction_by_original(self, original_id: int) -> Interaction | None:
        """The interaction whose ephemeral response (``@original``, kept as JSON on it) is the
        message ``original_id``: a click on that message's components finds it here."""

    async def acknowledge_interaction(
        self, interaction_id: int, response_type: int, *, original_id: int | None,
        ephemeral: bool, original: str | None, state: str | None = None,
    ) -> bool:
        """Record the initial answer, once: False (nothing changed) if it was already
        acknowledged or is gone. Atomic: of two racing answers exactly one gets True.
        ``state`` (a modal shown) replaces the interaction's, None keeps it."""

    async def take_interaction_state(self, interaction_id: int, state: str) -> bool:
        """Clear the interaction's ``state`` if it still is ``state`` (a modal, submitted
        once): True for the one caller that cleared it."""

    async def set_interaction_original(
        self, interaction_id: int, original_id: int | None, original: str | None
    ) -> bool:
        """Set the response message (``@original``) and, for an ephemeral one, its JSON."""

    async def add_interaction_followup(
        self, interaction: Interaction, message_id: int, body: str, keep: int
    ) -> None:
        """Keep an ephemeral follow-up of ``interaction`` (its message JSON) while the
        interaction lives, and of its follow-ups only the newest ``keep`` (by id)."""

    async def interaction_followup(self, message_id: int) -> tuple[Interaction, str] | None:
        """The interaction that sent the ephemeral follow-up ``message_id``, and its JSON."""

    async def set_interaction_followup(self, message_id: int, body: str | None) -> bool:
        """Replace a kept ephemeral follow-up's JSON, or (None) forget it: False if unknown."""

    # -- members ---------------------------------------------------------------------------
    async def add_member(self, member: Member) -> bool:
        """Insert a membership; False (and nothing changed) if already a member, or if the
        user is banned from the guild (checked in the same statement, so a join racing with
        a ban never outlives it)."""

    async def get_member(self, guild_id: int, user_id: int) -> Member | None: ...

    async def list_members(self, guild_id: int, after: int = 0, limit: int = 1000) -> list[Member]:
        """Members with user id > ``after``, ordered by user id, at most ``limit``."""

    async def count_members(self, guild_id: int) -> int: ...

    async def update_member(
        self, guild_id: int, user_id: int, fields: dict[str, Any]
    ) -> Member | None:
        """Set ``nick``, ``flags``, ``deaf``, ``mute``, ``communication_disabled_until``;
        ``roles`` replaces the role list."""

    async def remove_member(self, guild_id: int, user_id: int) -> bool: ...

    async def add_member_role(self, guild_id: int, user_id: int, role_id: int) -> bool:
        """False if the member does not exist; adding a role twice is not an error."""

    async def remove_member_role(self, guild_id: int, user_id: int, role_id: int) -> bool: ...

    # -- invites ---------------------------------------------------------------------------
    async def create_invite(self, invite: Invite) -> None:
        """Raises Conflict if the code is taken."""

    async def get_invite(self, code: str) -> Invite | None: ...

    async def use_invite(self, code: str, now_ms: int) -> Invite | None:
        """Count one use atomically, if the invite exists and is neither expired nor used up.
        Returns the invite after the use, or None."""

    async def list_guild_invites(self, guild_id: int) -> list[Invite]: ...

    async def delete_invite(self, code: str) -> bool: ...

    # -- bans ------------------------------------------------------------------------------
    async def add_ban(self, ban: Ban) -> bool:
        """Record a ban; False (nothing changed) if the user is banned already or the guild
        does not exist. The membership, if any, is the caller's to remove."""

    async def get_ban(self, guild_id: int, user_id: int) -> Ban | None: ...

    async def list_bans(
        self, guild_id: int, *, before: int | None = None, after: int = 0,
        limit: int = BANS_PAGE_MAX,
    ) -> list[Ban]:
        """A page of the guild's bans, by user id ascending (as Discord pages them).

        With ``before``, the ``limit`` bans with the highest user ids below it; otherwise the
        first ``limit`` above ``after``. ``limit`` is 1..BANS_PAGE_MAX.
        """

    async def remove_ban(self, guild_id: int, user_id: int) -> bool: ...

    # -- audit log -------------------------------------------------------------------------
    async def add_audit_entries(
        self, entries: Sequence[AuditEntry], *, prune_before: int
    ) -> None:
        """Append entries, and delete the oldest entries (of any guild) whose id is below
        ``prune_before`` (the snowflake of the retention limit): at most AUDIT_PRUNE_MAX more
        than it appends, so writes never let expired entries pile up and never stall."""

    async def list_audit_entries(
        self, guild_id: int, *, user_id: int | None = None, action_type: int | None = None,
        before: int | None = None, after: int | None = None, limit: int = 50,
    ) -> list[AuditEntry]:
        """A page of the guild's entries, filtered by actor and action when given.

        Newest first; with ``after`` and no ``before``, the ``limit`` entries just after it,
        oldest first (Discord's order, which discord.py's ``oldest_first`` relies on).
        ``limit`` is 1..HISTORY_MAX.
        """


    # -- instance administration (core.admin, core.instance, core.relay) -------------------
    async def get_account(self, user_id: int) -> Account | None: ...

    async def find_account(self, username: str) -> Account | None:
        """The account with this username (case-insensitive), bots included."""

    async def list_accounts(self, after: int = 0, limit: int = 100) -> list[Account]:
        """Accounts with id > ``after``, ordered by id, at most ``limit``."""

    async def set_account_flags(
        self, user_id: int, *, disabled: bool | None = None, instance_admin: bool | None = None
    ) -> Account | None:
        """Set the flags given (None: unchanged); the account after, or None if unknown."""

    async def list_guilds(self, after: int = 0, limit: int = 100) -> list[Guild]:
        """Every guild of the instance with id > ``after``, ordered by id, at most ``limit``."""

    async def get_setting(self, key: str) -> str | None:
        """An instance setting's value, None when it was never set."""

    async def set_setting(self, key: str, value: str) -> None: ...

    async def create_registration_code(self, code: RegistrationCode) -> None:
        """Raises Conflict if the code is taken."""

    async def list_registration_codes(self) -> list[RegistrationCode]:
        """Every registration code, oldest first."""

    async def delete_registration_code(self, code: str) -> bool: ...

    async def create_user_with_code(
        self, user: User, password_hash: str, code: str
    ) -> bool:
        """Insert a user by counting one use of registration ``code``, in one transaction.

        Returns False, and changes nothing, when the code is unknown or used up. Raises
        Conflict, the use not counted, if the username is taken.
        """

    async def relay_events(self, events: Sequence[str], now_ms: int, keep_ms: int) -> int:
        """Append encoded events to the relay (``core.relay``); the last one's sequence number.

        Sequence numbers are given in commit order (a reader that saw ``n`` never sees a
        smaller one appear later). Rows older than ``keep_ms`` are dropped meanwhile, never
        the newest, so the sequence never goes back.
        """

    async def relayed_after(self, seq: int, limit: int) -> list[tuple[int, str]]:
        """``(seq, event)`` of the relayed events after ``seq``, in order, at most ``limit``."""

    async def relay_head(self) -> int:
        """The newest relayed event's sequence number (0 when there is none)."""


class MessageStore(Protocol):
    """Message history. ``insert_many`` is the batched write of the message router."""

    async def aclose(self) -> None: ...

    async def insert_many(self, messages: Sequence[Message]) -> None:
        """Write a batch durably (one round trip where the backend allows). Returns once
        every message is durable per the backend's documented guarantee."""

    async def get_message(self, channel_id: int, message_id: int) -> Message | None: ...

    async def history(
        self,
        channel_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """A page of a channel's messages, newest first.

        With ``after`` (and no ``before``), the ``limit`` messages just after it, still
        returned newest first, as Discord does. ``limit`` is 1..HISTORY_MAX.
        """

    async def find_by_nonce(
        self, channel_id: int, author_id: int, nonce: str, min_id: int
    ) -> Message | None:
        """The author's message with this nonce in the channel, with id >= ``min_id``."""

    async def update_message(
        self, channel_id: int, message_id: int, fields: dict[str, Any]
    ) -> Message | None:
        """Set ``content``, ``edited_at``, ``mentions``, ``mention_roles``,
        ``mention_everyone``, ``pinned``, ``flags``, ``embeds``, ``attachments``, ``components``."""

    async def delete_message(self, channel_id: int, message_id: int) -> bool: ...

    async def delete_channel_messages(self, channel_id: int) -> int:
        """Drop a deleted channel's history (and its reactions); returns how many messages
        were removed."""

    # -- pins ------------------------------------------------------------------------------
    # A pin is two fields of the message (``pinned``, ``pinned_at``): pins are rare and read
    # with their message, so pinning may rewrite it (and drops it from any cache in front).

    async def pin_message(
        self, channel_id: int, message_id: int, now_ms: int, max_pins: int
    ) -> tuple[PinOutcome, Message | None]:
        """Pin a message unless the channel has ``max_pins`` pinned already.

        ``pinned_at`` is ``now_ms``, or 1 ms after the channel's newest pin if that is not
        earlier, so a channel's pins have distinct times and paging by time loses none.

        Returns:
            The outcome and the message as stored after it (None when unknown).
        """

    async def unpin_message(self, channel_id: int, message_id: int) -> Message | None:
        """Unpin a message; the message after it, or None when it was not pinned (or is
        unknown)."""

    async def list_pins(
        self, channel_id: int, *, before_ms: int | None = None, limit: int = 50
    ) -> list[Message]:
        """The channel's pinned messages with ``pinned_at < before_ms``, most recently pinned
        first, at most ``limit`` (1..HISTORY_MAX)."""

    # -- reactions -------------------------------------------------------------------------
    # Stored apart from the message, one record per (message, emoji, user), so a storm of
    # reactions on one message never rewrites the message. ``emoji`` is the key of
    # ``core.emoji`` (the unicode emoji, or a custom emoji's id).

    async def add_reaction(
        self, channel_id: int, message_id: int, emoji: str, user_id: int, now_ms: int,
        *, max_emojis: int,
    ) -> ReactionOutcome:
        """Add ``user_id``'s reaction, if the message exists in the channel.

        An emoji the message has no reaction with yet is refused (LIMIT_REACHED) when the
        message already has ``max_emojis`` distinct ones (0: no new emoji at all).
        """

    async def remove_reaction(
        self, channel_id: int, message_id: int, emoji: str, user_id: int
    ) -> bool:
        """Remove one user's reaction; False if there was none."""

    async def remove_reactions(
        self, channel_id: int, message_id: int, emoji: str | None = None
    ) -> int:
        """Remove every reaction of the message (or every one with ``emoji``); how many."""

    async def reaction_users(
        self, channel_id: int, message_id: int, emoji: str, *, after: int = 0, limit: int = 25
    ) -> list[int]:
        """Ids of the users who reacted with ``emoji``, ascending, > ``after``, at most
        ``limit`` (1..HISTORY_MAX)."""

    async def reaction_counts(
        self, channel_id: int, message_ids: Sequence[int], viewer_id: int | None = None
    ) -> dict[int, list[ReactionCount]]:
        """Per message of ``message_ids`` that has reactions: each emoji's count, and
        whether ``viewer_id`` is among its users, in the order the emojis were first used.

        One query for a whole page (at most HISTORY_MAX ids), never one per message.
        """

    # -- search ----------------------------------------------------------------------------
    # Each backend's own full-text engine, kept current by the same writes as the messages
    # (the write batch's transaction on SQL, the document itself on MongoDB), never by a scan.

    async def search(self, query: SearchQuery) -> SearchPage:
        """The page of ``query``'s matches, and how many match in all.

        Only the channels of ``query.channel_ids`` are read, and every condition is part of
        the backend's query: nothing is filtered after its ``LIMIT``.

        Raises:
            StoreTimeout: a statement ran past ``query.timeout_ms`` (and was cancelled).
        """
