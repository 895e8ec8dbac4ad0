"""Read states and the mention index in SQL (SQLite and PostgreSQL): that half of
``SqlMetaStore``.

Tables of migration 7. ``read_states`` has one row per (user, channel) the user acknowledged.
``mentions`` has one row per (message, target) as the message was written: a user it
mentions, a role, the guild for @everyone, the channel itself for every recipient of a DM or
group DM. Nothing is written per member reached, so an @everyone in a guild of 10,000 is one
row, and a message that mentions nobody (in a guild) writes nothing at all.

The cost is paid when counts are read, bounded by what concerns the reader: a user's
*targets* (``_TARGETS``: their id, their guilds for @everyone, their roles, their DMs and
group DMs, each with the snowflake from which it reaches them: a role's and @everyone's from
when they joined the guild, a group DM's from when they were added) are a few hundred at most,
and each is one range of ``mentions_target`` (target, message id). ``read_states`` walks those
ranges once for all channels (READY); ``ack_channel`` counts one channel from what was just
acknowledged, over the primary key (channel, message id): usually an empty range.

Rows go with their channel (ON DELETE CASCADE). Mentions of a deleted message stay counted
until the channel is read past it, as a "ghost ping" does on Discord.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.models import Mention, ReadState
from core.snowflake import DISCORD_EPOCH_MS
from core.store.base import READ_STATES_MAX
from core.store.executor import Executor

__all__ = ["SqlReadStateStore"]

# A Unix ms time as the smallest snowflake of that millisecond: (ms - epoch) << 22.
_SNOWFLAKE_OF = f"(({{}} - {DISCORD_EPOCH_MS}) * 4194304)"
# The reader's targets and the snowflake after which each reaches them (seven ``?``: the user
# id each time). members_user, then member_roles' key; dm_pairs' two indexes;
# channel_recipients_user.
_TARGETS = (
    "WITH targets (target_id, since) AS ("
    " SELECT CAST(? AS BIGINT), CAST(0 AS BIGINT)"
    f" UNION ALL SELECT guild_id, {_SNOWFLAKE_OF.format('joined_at')}"
    " FROM members WHERE user_id = ?"
    f" UNION ALL SELECT r.role_id, {_SNOWFLAKE_OF.format('m.joined_at')} FROM members m"
    " JOIN member_roles r ON r.guild_id = m.guild_id AND r.user_id = m.user_id"
    " WHERE m.user_id = ?"
    " UNION ALL SELECT channel_id, 0 FROM dm_pairs WHERE low_id = ?"
    " UNION ALL SELECT channel_id, 0 FROM dm_pairs WHERE high_id = ?"
    f" UNION ALL SELECT channel_id, {_SNOWFLAKE_OF.format('added_at')}"
    " FROM channel_recipients WHERE user_id = ?) "
)
_TARGET_PARAMS = 6
# One channel's mentions of the reader after a message, their own messages left out.
_COUNT_ONE = (
    f"{_TARGETS}SELECT COUNT(DISTINCT x.message_id) FROM mentions x"
    " WHERE x.channel_id = ? AND x.message_id > ? AND x.author_id <> ?"
    " AND EXISTS (SELECT 1 FROM targets t WHERE t.target_id = x.target_id"
    " AND x.message_id > t.since)"
)
# Every read state of the reader, then every channel with mentions of theirs after what they
# acknowledged (the two kinds told apart by the count column: -1 for an acknowledged row),
# each with the newest message id it knows of (the order of the answer).
_READ_ALL = (
    f"{_TARGETS}"
    "SELECT channel_id, last_message_id, version, -1, last_message_id FROM ("
    " SELECT channel_id, last_message_id, version FROM read_states WHERE user_id = ?"
    " ORDER BY last_message_id DESC LIMIT ?) acked"
    " UNION ALL SELECT channel_id, 0, 0, n, newest FROM ("
    " SELECT x.channel_id AS channel_id, COUNT(DISTINCT x.message_id) AS n,"
    " MAX(x.message_id) AS newest"
    " FROM targets t JOIN mentions x ON x.target_id = t.target_id AND x.message_id > t.since"
    " LEFT JOIN read_states s ON s.user_id = ? AND s.channel_id = x.channel_id"
    " WHERE x.author_id <> ? AND x.message_id > COALESCE(s.last_message_id, 0)"
    " GROUP BY x.channel_id ORDER BY newest DESC LIMIT ?) counted"
)
# Forward only unless manual; the version is the ack's time, or one more than the last.
# From the channel's row: a channel deleted meanwhile is no foreign-key error, just no row.
_ACK = (
    "INSERT INTO read_states (user_id, channel_id, last_message_id, version)"
    " SELECT CAST(? AS BIGINT), id, CAST(? AS BIGINT), CAST(? AS BIGINT) FROM channels"
    " WHERE id = ? ON CONFLICT (user_id, channel_id) DO UPDATE SET"
    " last_message_id = CASE WHEN CAST(? AS BOOLEAN)"
    " OR excluded.last_message_id > read_states.last_message_id"
    " THEN excluded.last_message_id ELSE read_states.last_message_id END,"
    " version = CASE WHEN excluded.version > read_states.version"
    " THEN excluded.version ELSE read_states.version + 1 END"
    " RETURNING last_message_id, version"
)


def _targets(user_id: int) -> list[int]:
    return [user_id] * _TARGET_PARAMS


class SqlReadStateStore:
    """The read-state and mention methods of :class:`core.store.base.MetaStore` over
    ``self._db``."""

    _db: Executor

    async def add_mentions(self, mentions: Sequence[Mention]) -> None:
        if not mentions:
            return
        # One executemany (atomic) for a whole write batch. From the channel's row: a channel
        # deleted meanwhile is skipped, not a foreign-key error failing the rest.
        await self._db.executemany(
            "INSERT INTO mentions (channel_id, message_id, target_id, author_id)"
            " SELECT id, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)"
            " FROM channels WHERE id = ? ON CONFLICT DO NOTHING",
            [(m.message_id, m.target_id, m.author_id, m.channel_id) for m in mentions],
        )

    async def ack_channel(
        self, user_id: int, channel_id: int, message_id: int, now_ms: int, *,
        manual: bool = False,
    ) -> ReadState | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(_ACK, user_id, message_id, now_ms, channel_id, manual)
            if row is None:
                return None
            last, version = int(row[0]), int(row[1])
            count = await tx.fetchval(
                _COUNT_ONE, *_targets(user_id), channel_id, last, user_id)
        return ReadState(channel_id, last, int(count or 0), version)

    async def read_states(self, user_id: int, limit: int = READ_STATES_MAX) -> list[ReadState]:
        limit = max(min(limit, READ_STATES_MAX), 0)
        rows = await self._db.fetch(
            _READ_ALL, *_targets(user_id), user_id, limit, user_id, user_id, limit)
        acked = {int(r[0]): (int(r[1]), int(r[2])) for r in rows if int(r[3]) < 0}
        counts = {int(r[0]): int(r[3]) for r in rows if int(r[3]) >= 0}
        newest: dict[int, int] = {}
        for r in rows:
            newest[int(r[0])] = max(newest.get(int(r[0]), 0), int(r[4]))
        out = [ReadState(c, last, counts.get(c, 0), version)
               for c, (last, version) in acked.items()]
        out += [ReadState(c, 0, n, 0) for c, n in counts.items() if c not in acked]
        # Most recent first: a union's rows come in no promised order.
        return sorted(out, key=lambda s: (newest[s.channel_id], s.channel_id), reverse=True)
