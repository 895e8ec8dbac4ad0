"""Versioned schema migrations for the SQL stores (SQLite and PostgreSQL).

Each :class:`Migration` has a version, a name and its statements. :func:`migrate` applies the
missing ones in version order, each recorded in ``schema_migrations(version, applied_at)``,
all inside one transaction, so a failed migration leaves the schema as it was (DDL is
transactional in both SQLite and PostgreSQL). Running it again applies nothing.

Two processes starting at once must not both apply a migration: on PostgreSQL the transaction
first takes a transaction-scoped advisory lock (``pg_advisory_xact_lock``), so the second
worker waits, then finds everything applied; on SQLite the executor opens write transactions
with ``BEGIN IMMEDIATE``, which takes the database's single write lock up front.

Dialect differences are spelled out, never guessed: statements may use ``{id_pk}`` and
``{blob}``, replaced from :data:`DIALECT_TYPES`. Ids are 64-bit in both dialects: SQLite's
``INTEGER PRIMARY KEY`` is a signed 64-bit rowid alias (the table is clustered on the
snowflake, with no extra index), PostgreSQL's is ``BIGINT``. A migration that needs a
statement in one dialect only puts it in ``sqlite`` or ``postgres``.

Never edit a released migration: add a new version.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from core.store.executor import Executor

__all__ = ["DIALECT_TYPES", "MIGRATIONS", "Migration", "migrate"]

# Key of the PostgreSQL advisory lock held while migrating ("discarch" in ASCII). It is
# database-wide: workers migrating different schemas of one database take turns, harmlessly.
_ADVISORY_LOCK_KEY = 0x6469736361726368

DIALECT_TYPES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "sqlite": MappingProxyType({"id_pk": "INTEGER PRIMARY KEY", "blob": "BLOB"}),
        "postgres": MappingProxyType({"id_pk": "BIGINT PRIMARY KEY", "blob": "BYTEA"}),
    }
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version.

    Attributes:
        version: strictly increasing positive integer.
        name: a few words saying what it does.
        statements: SQL run in both dialects (with ``{id_pk}``-style type placeholders).
        sqlite: statements run on SQLite only, after ``statements``.
        postgres: statements run on PostgreSQL only, after ``statements``.
    """

    version: int
    name: str
    statements: tuple[str, ...]
    sqlite: tuple[str, ...] = ()
    postgres: tuple[str, ...] = ()

    def sql_for(self, dialect: str) -> list[str]:
        """The statements to run on ``dialect``, with its types filled in."""
        types = DIALECT_TYPES[dialect]
        extra = self.sqlite if dialect == "sqlite" else self.postgres
        return [s.format_map(types) for s in (*self.statements, *extra)]


_V1_SCHEMA = (
    # Users. ``username_key`` is the lower-cased name, computed by the store, so that the
    # case-insensitive uniqueness is the same in both dialects (their lower() differ).
    """CREATE TABLE users (
        id {id_pk},
        username TEXT NOT NULL,
        username_key TEXT NOT NULL UNIQUE,
        global_name TEXT,
        avatar TEXT,
        bot BOOLEAN NOT NULL DEFAULT FALSE,
        flags BIGINT NOT NULL DEFAULT 0,
        password_hash TEXT
    )""",
    # Revoking a token deletes its row: there is nothing to keep about a dead token.
    """CREATE TABLE tokens (
        token_hash {blob} PRIMARY KEY,
        user_id BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    )""",
    "CREATE INDEX tokens_user ON tokens (user_id)",
    """CREATE TABLE applications (
        id {id_pk},
        name TEXT NOT NULL,
        owner_id BIGINT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        icon TEXT,
        verify_key TEXT NOT NULL DEFAULT '',
        bot_public BOOLEAN NOT NULL DEFAULT TRUE,
        flags BIGINT NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX applications_owner ON applications (owner_id, id)",
    """CREATE TABLE guilds (
        id {id_pk},
        name TEXT NOT NULL,
        owner_id BIGINT NOT NULL,
        icon TEXT,
        description TEXT,
        system_channel_id BIGINT
    )""",
    # Everything a guild contains references it ON DELETE CASCADE: delete_guild is one
    # DELETE, and nothing can be left behind.
    """CREATE TABLE roles (
        id {id_pk},
        guild_id BIGINT NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        permissions BIGINT NOT NULL,
        position INTEGER NOT NULL DEFAULT 0,
        color INTEGER NOT NULL DEFAULT 0,
        hoist BOOLEAN NOT NULL DEFAULT FALSE,
        mentionable BOOLEAN NOT NULL DEFAULT FALSE,
        managed BOOLEAN NOT NULL DEFAULT FALSE
    )""",
    "CREATE INDEX roles_guild ON roles (guild_id, position, id)",
    # Guild channels and DMs (guild_id NULL). parent_id has no foreign key on purpose: a
    # batch of new channels may list a child before its category.
    """CREATE TABLE channels (
        id {id_pk},
        type INTEGER NOT NULL,
        guild_id BIGINT REFERENCES guilds (id) ON DELETE CASCADE,
        name TEXT,
        topic TEXT,
        position INTEGER NOT NULL DEFAULT 0,
        parent_id BIGINT,
        nsfw BOOLEAN NOT NULL DEFAULT FALSE,
        rate_limit_per_user INTEGER NOT NULL DEFAULT 0,
        last_message_id BIGINT
    )""",
    "CREATE INDEX channels_guild ON channels (guild_id, position, id)",
    "CREATE INDEX channels_parent ON channels (parent_id) WHERE parent_id IS NOT NULL",
    """CREATE TABLE overwrites (
        channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
        target_id BIGINT NOT NULL,
        type INTEGER NOT NULL,
        allow BIGINT NOT NULL DEFAULT 0,
        deny BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (channel_id, target_id)
    )""",
    # delete_role removes the role's overwrites in every channel.
    "CREATE INDEX overwrites_target ON overwrites (target_id)",
    # The two recipients of a DM, normalized low < high: the unique pair is what makes
    # get_or_create_dm give one channel per pair even under concurrent calls.
    """CREATE TABLE dm_pairs (
        channel_id BIGINT PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
        low_id BIGINT NOT NULL,
        high_id BIGINT NOT NULL,
        UNIQUE (low_id, high_id)
    )""",
    "CREATE INDEX dm_pairs_high ON dm_pairs (high_id)",
    """CREATE TABLE members (
        guild_id BIGINT NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL,
        joined_at BIGINT NOT NULL,
        nick TEXT,
        flags BIGINT NOT NULL DEFAULT 0,
        deaf BOOLEAN NOT NULL DEFAULT FALSE,
        mute BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (guild_id, user_id)
    )""",
    "CREATE INDEX members_user ON members (user_id)",
    # No foreign key to roles: role ids are checked by the caller, and delete_role removes
    # its rows here explicitly.
    """CREATE TABLE member_roles (
        guild_id BIGINT NOT NULL,
        user_id BIGINT NOT NULL,
        role_id BIGINT NOT NULL,
        PRIMARY KEY (guild_id, user_id, role_id),
        FOREIGN KEY (guild_id, user_id) REFERENCES members (guild_id, user_id) ON DELETE CASCADE
    )""",
    "CREATE INDEX member_roles_role ON member_roles (role_id)",
    """CREATE TABLE invites (
        code TEXT PRIMARY KEY,
        guild_id BIGINT NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
        channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
        inviter_id BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        max_age BIGINT NOT NULL DEFAULT 86400,
        max_uses BIGINT NOT NULL DEFAULT 0,
        uses BIGINT NOT NULL DEFAULT 0,
        temporary BOOLEAN NOT NULL DEFAULT FALSE
    )""",
    "CREATE INDEX invites_guild ON invites (guild_id)",
    "CREATE INDEX invites_channel ON invites (channel_id)",
    # Messages: no foreign key to channels, since in production they may live in another
    # database. mentions/mention_roles/embeds are JSON text (NULL when empty): they are only
    # ever read whole, with their message.
    """CREATE TABLE messages (
        id {id_pk},
        channel_id BIGINT NOT NULL,
        author_id BIGINT NOT NULL,
        content TEXT NOT NULL,
        guild_id BIGINT,
        type INTEGER NOT NULL DEFAULT 0,
        tts BOOLEAN NOT NULL DEFAULT FALSE,
        nonce TEXT,
        edited_at BIGINT,
        pinned BOOLEAN NOT NULL DEFAULT FALSE,
        mention_everyone BOOLEAN NOT NULL DEFAULT FALSE,
        mentions TEXT,
        mention_roles TEXT,
        ref_message_id BIGINT,
        ref_channel_id BIGINT,
        ref_guild_id BIGINT,
        flags BIGINT NOT NULL DEFAULT 0,
        embeds TEXT
    )""",
    "CREATE INDEX messages_channel ON messages (channel_id, id)",
    # Only messages sent with a nonce are ever looked up by it.
    "CREATE INDEX messages_nonce ON messages (channel_id, author_id, nonce) "
    "WHERE nonce IS NOT NULL",
)

# Pins: when a message was pinned (NULL when not), and the channel's pins by that time (a
# channel has at most a few dozen, so the partial index stays tiny).
_V3_PINS_AND_REACTIONS = (
    "ALTER TABLE messages ADD COLUMN pinned_at BIGINT",
    "CREATE INDEX messages_pins ON messages (channel_id, pinned_at) WHERE pinned_at IS NOT NULL",
)


def _reactions_table(suffix: str) -> str:
    """Reactions, one row per (message, emoji, user), apart from the message: a storm of
    reactions on one message inserts rows and never rewrites the message. The primary key
    serves every read: a message's users of an emoji by id, a page's counts (GROUP BY over
    the key's prefix), the distinct emojis of a message. The message cascade removes them
    with their message. SQLite stores the table as that key (WITHOUT ROWID: one b-tree, no
    rowid index beside it)."""
    return f"""CREATE TABLE reactions (
        message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        emoji TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (message_id, emoji, user_id)
    ){suffix}"""


# Instance administration (``discord-arch admin``, core.admin): a disabled account and the
# instance administrator mark; the instance's settings as key/value text (the registration
# mode, core.instance); the codes invite-only registration asks for; and the relay by which
# another process's events (the admin CLI's) reach every worker (core.relay), read in ``seq``
# order and pruned by the writer after an hour.
_V4_ADMINISTRATION = (
    "ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE",
    "ALTER TABLE users ADD COLUMN instance_admin BOOLEAN NOT NULL DEFAULT FALSE",
    "CREATE TABLE instance_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE registration_codes (
        code TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        max_uses BIGINT NOT NULL DEFAULT 1,
        uses BIGINT NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE relayed_events (
        seq {id_pk},
        created_at BIGINT NOT NULL,
        event TEXT NOT NULL
    )""",
)

# Bans and the audit log (core.bans, core.audit). A ban is keyed (guild, user): ``GET .../bans``
# pages by user id and members.add_member checks it in the join's own statement. The audit log
# is read newest first per guild, optionally by actor or by action: one index each, all ending
# in the id (a snowflake: the entry's time). Entries go with their guild; retention (45 days)
# is the writer's bounded prune by id, so no index on time is needed.
_V5_BANS_AND_AUDIT_LOG = (
    """CREATE TABLE bans (
        guild_id BIGINT NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL,
        reason TEXT,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    )""",
    """CREATE TABLE audit_log (
        id {id_pk},
        guild_id BIGINT NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
        action_type INTEGER NOT NULL,
        user_id BIGINT,
        target_id BIGINT,
        changes TEXT,
        options TEXT,
        reason TEXT
    )""",
    "CREATE INDEX audit_log_guild ON audit_log (guild_id, id)",
    "CREATE INDEX audit_log_actor ON audit_log (guild_id, user_id, id)",
    "CREATE INDEX audit_log_action ON audit_log (guild_id, action_type, id)",
)

# Group DMs and read states (core.group_dms, core.read_states, core.mentions).
# A group DM (channel type 3) has an owner and an icon (its name is the channel's), and its
# recipients one row each (DMs keep their unique pair in dm_pairs). A read state is one row
# per (user, channel) the user acknowledged. The mention index has one row per message and
# target as written (a user, a role, the guild for @everyone, the channel for a DM's or group
# DM's recipients), never one per member reached: counts are worked out when read, through
# mentions_target (a user's targets, from when they could be reached) and the primary key (a
# channel after what was acknowledged). All go with their channel.
def _v7_group_dms_and_read_states(suffix: str) -> tuple[str, ...]:
    """The statements of version 7; SQLite stores the tables as their key (WITHOUT ROWID)."""
    return (
        "ALTER TABLE channels ADD COLUMN owner_id BIGINT",
        "ALTER TABLE channels ADD COLUMN icon TEXT",
        f"""CREATE TABLE channel_recipients (
            channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
            user_id BIGINT NOT NULL,
            added_at BIGINT NOT NULL,
            PRIMARY KEY (channel_id, user_id)
        ){suffix}""",
        "CREATE INDEX channel_recipients_user ON channel_recipients (user_id)",
        f"""CREATE TABLE read_states (
            user_id BIGINT NOT NULL,
            channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
            last_message_id BIGINT NOT NULL,
            version BIGINT NOT NULL,
            PRIMARY KEY (user_id, channel_id)
        ){suffix}""",
        "CREATE INDEX read_states_channel ON read_states (channel_id)",
        f"""CREATE TABLE mentions (
            channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
            message_id BIGINT NOT NULL,
            target_id BIGINT NOT NULL,
            author_id BIGINT NOT NULL,
            PRIMARY KEY (channel_id, message_id, target_id)
        ){suffix}""",
        "CREATE INDEX mentions_target ON mentions (target_id, message_id)",
    )


# Message search (core.search, core.store.sqlsearch): each engine's own index of the content,
# kept current by the statements that write the messages, and filled here with what exists.
# SQLite: an external-content FTS5 table (the text stays in ``messages`` alone; the index holds
# its words) maintained by triggers, so the router's batch updates it in the batch's own
# transaction, and edits and deletes (one, or a channel's history) follow. unicode61 without
# diacritic folding: accents count, as they do on PostgreSQL. 'rebuild' indexes the rows there
# are. PostgreSQL: a GIN index on to_tsvector('simple', content); 'simple' lower-cases and
# stems nothing, so no language is favoured. An expression index rather than a stored tsvector
# column: no bytes added to every row and no rewrite of the table. CREATE INDEX reads the rows
# there are (holding writes back meanwhile: minutes on a large table).
_SEARCH_SQLITE = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END""",
    # An external-content index forgets a row by being told its old words: old.content.
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END""",
    "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
)
_SEARCH_POSTGRES = (
    "CREATE INDEX messages_fts ON messages USING GIN (to_tsvector('simple', content))",
)

# Webhooks (core.webhooks): each belongs to a guild text channel and goes with it (and with its
# guild); listed per channel and per guild. The token is kept as it is (Discord shows it again
# to whoever may manage the webhook). Messages gain the webhook that sent them and the author's
# name and avatar as sent: a webhook's messages keep them after it is renamed or deleted.
_V9_WEBHOOKS = (
    """CREATE TABLE webhooks (
        id {id_pk},
        guild_id BIGINT NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
        channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
        creator_id BIGINT NOT NULL,
        application_id BIGINT,
        name TEXT NOT NULL,
        avatar TEXT,
        token TEXT NOT NULL
    )""",
    "CREATE INDEX webhooks_channel ON webhooks (channel_id, id)",
    "CREATE INDEX webhooks_guild ON webhooks (guild_id, id)",
    "ALTER TABLE messages ADD COLUMN webhook_id BIGINT",
    "ALTER TABLE messages ADD COLUMN author_name TEXT",
    "ALTER TABLE messages ADD COLUMN author_avatar TEXT",
)

# Application commands (core.app_commands): one row per command of an application, global
# (guild_id NULL) or of one guild (going with it). A name is unique per application, scope and
# type (Discord's rule: creating one with an existing name replaces it), enforced by an index
# on the scope with NULL folded to 0. The definition is JSON text: nothing queries inside it.
_V10_APPLICATION_COMMANDS = (
    """CREATE TABLE application_commands (
        id {id_pk},
        application_id BIGINT NOT NULL,
        guild_id BIGINT REFERENCES guilds (id) ON DELETE CASCADE,
        type INTEGER NOT NULL,
        name TEXT NOT NULL,
        version BIGINT NOT NULL,
        definition TEXT NOT NULL
    )""",
    "CREATE UNIQUE INDEX application_commands_name ON application_commands"
    " (application_id, COALESCE(guild_id, 0), type, name)",
)

# Threads (core.threads): a thread is a channel row (type 11 or 12, its parent text channel in
# parent_id, its creator in owner_id) plus one row of its own state here, going with the channel.
# Listings read active threads per guild and archived ones per parent, newest archive first;
# a user's private archived threads come through thread_members (user_id, thread_id).
_V11_THREADS = (
    """CREATE TABLE threads (
        channel_id BIGINT PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
        guild_id BIGINT NOT NULL,
        parent_id BIGINT NOT NULL,
        archived BOOLEAN NOT NULL DEFAULT FALSE,
        locked BOOLEAN NOT NULL DEFAULT FALSE,
        invitable BOOLEAN NOT NULL DEFAULT TRUE,
        auto_archive_duration INTEGER NOT NULL,
        archive_ts BIGINT NOT NULL,
        create_ts BIGINT NOT NULL,
        activity_ts BIGINT NOT NULL,
        message_count INTEGER NOT NULL DEFAULT 0,
        total_message_sent INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX threads_guild ON threads (guild_id, archived, channel_id)",
    "CREATE INDEX threads_parent ON threads (parent_id, archive_ts)",
    """CREATE TABLE thread_members (
        thread_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL,
        join_ts BIGINT NOT NULL,
        flags INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (thread_id, user_id)
    )""",
    "CREATE INDEX thread_members_user ON thread_members (user_id, thread_id)",
)

# Interactions (core.interactions): one row per invocation while its token lives (15 minutes;
# rows older than that are deleted by the inserts themselves, through interactions_created).
# The token is kept as its SHA-256 only; the follow-up routes find the row by it.
# acknowledged is set once by a conditional UPDATE: a second answer changes no row (40060).
_V13_INTERACTIONS = (
    """CREATE TABLE interactions (
        id {id_pk},
        application_id BIGINT NOT NULL,
        type INTEGER NOT NULL,
        token_hash TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        guild_id BIGINT,
        created_ms BIGINT NOT NULL,
        message_id BIGINT,
        acknowledged BOOLEAN NOT NULL DEFAULT FALSE,
        response_type INTEGER,
        original_id BIGINT,
        ephemeral BOOLEAN NOT NULL DEFAULT FALSE,
        original TEXT
    )""",
    "CREATE UNIQUE INDEX interactions_token ON interactions (token_hash)",
    "CREATE INDEX interactions_created ON interactions (created_ms)",
)

# created_ms is the interaction's: the inserts of interactions prune both tables by it.
_V16_INTERACTION_FOLLOWUPS = (
    "ALTER TABLE interactions ADD COLUMN name TEXT NOT NULL DEFAULT ''",
    """CREATE TABLE interaction_followups (
        message_id {id_pk},
        interaction_id BIGINT NOT NULL,
        created_ms BIGINT NOT NULL,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX interaction_followups_of ON interaction_followups (interaction_id, message_id)",
    "CREATE INDEX interaction_followups_created ON interaction_followups (created_ms)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _V1_SCHEMA),
    # Member timeouts: unix ms, NULL when none (an expired one may stay until next changed).
    Migration(2, "member timeouts",
              ("ALTER TABLE members ADD COLUMN communication_disabled_until BIGINT",)),
    Migration(3, "pins and reactions", _V3_PINS_AND_REACTIONS,
              sqlite=(_reactions_table(" WITHOUT ROWID"),),
              postgres=(_reactions_table(""),)),
    Migration(4, "instance administration", _V4_ADMINISTRATION),
    Migration(5, "bans and audit log", _V5_BANS_AND_AUDIT_LOG),
    Migration(7, "group DMs and read states", (),
              sqlite=_v7_group_dms_and_read_states(" WITHOUT ROWID"),
              postgres=_v7_group_dms_and_read_states("")),
    Migration(8, "message search", (), sqlite=_SEARCH_SQLITE, postgres=_SEARCH_POSTGRES),
    Migration(9, "webhooks", _V9_WEBHOOKS),
    Migration(10, "application commands", _V10_APPLICATION_COMMANDS),
    Migration(11, "threads", _V11_THREADS),
    # Attachments (core.attachments): a message's attachment objects as JSON, like embeds
    # (NULL when none); the files themselves are in the blob store (core.blobs).
    Migration(12, "attachments", ("ALTER TABLE messages ADD COLUMN attachments TEXT",)),
    Migration(13, "interactions", _V13_INTERACTIONS),
    # Message components (core.components): a message's action rows as JSON, like embeds
    # (NULL when none); an interaction's state (a modal shown, an autocomplete's option type).
    Migration(14, "message components", ("ALTER TABLE messages ADD COLUMN components TEXT",
                                         "ALTER TABLE interactions ADD COLUMN state TEXT")),
    # An ephemeral response is in no channel: a click on its components finds it through the
    # interaction it answered (core.interactions).
    Migration(15, "interactions by original",
              ("CREATE INDEX interactions_original ON interactions (original_id)",)),
    # A command's full name ("cmd", "cmd sub", "cmd group sub") for its response's
    # interaction.name; an interaction's ephemeral follow-ups, kept (at most
    # core.interaction_responses.MAX_EPHEMERAL_FOLLOWUPS each) while its token lives so that
    # their components can be used, as an ephemeral @original's are.
    Migration(16, "interaction names and ephemeral follow-ups", _V16_INTERACTION_FOLLOWUPS),
)

_CREATE_LEDGER = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
)


async def migrate(
    executor: Executor, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Apply the migrations not yet recorded, in version order, in one transaction.

    Args:
        executor: an executor of the target database (its ``dialect`` picks the SQL).
        migrations: the schema history; the default is this package's.

    Returns:
        The versions applied by this call (empty when the schema was already current).
    """
    ordered = sorted(migrations, key=lambda m: m.version)
    async with executor.transaction() as tx:
        if tx.dialect == "postgres":
            # Before touching any table: concurrent CREATE TABLE IF NOT EXISTS can still fail.
            await tx.fetchval("SELECT pg_advisory_xact_lock(?)", _ADVISORY_LOCK_KEY)
        await tx.execute(_CREATE_LEDGER)
        done = {row[0] for row in await tx.fetch("SELECT version FROM schema_migrations")}
        applied: list[int] = []
        for migration in ordered:
            if migration.version in done:
                continue
            for statement in migration.sql_for(tx.dialect):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                migration.version,
                int(time.time() * 1000),
            )
            applied.append(migration.version)
    return applied
