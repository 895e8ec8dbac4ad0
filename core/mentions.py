"""The mention index: what each written message asks of whom, as rows the counts are read from.

Mention counts (READY's ``read_state``, MESSAGE_ACK) are never kept per user: a message would
then cost one write per member it reaches, 10,000 for an @everyone in a big guild. Instead
each message, once durable, adds one row per *target as written* (``core.models.Mention``):

- a guild message: each user it mentions, each role, and the guild for @everyone/@here (the
  @everyone role's id is the guild's), as ``core.message_form`` resolved them (so only
  mentions the author was allowed to make); a message that mentions nobody adds nothing;
- a DM or group DM message (a plain message or a reply, not a system message): one row
  targeting the channel itself, i.e. every recipient but the author, as Discord counts every
  unread message of a private channel as a mention.

The rows of a whole router batch go out in one ``MetaStore.add_mentions`` (one statement),
after the batch is durable and before its events are published, so a client that saw a
message and reconnects finds it counted. Who a row counts for is worked out when counts are
read (``core.store.sqlreadstates``): a user's targets are their id, roles, guilds and private
channels, each from when it could reach them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from core.models import Mention, Message
from core.store.base import MetaStore

__all__ = ["NOTIFYING_TYPES", "MentionIndex", "mention_rows"]

logger = logging.getLogger(__name__)

# DEFAULT and REPLY: in a private channel, what counts as unread for the others. System
# messages (a recipient added, a pin...) do not.
NOTIFYING_TYPES = frozenset({0, 19})


def mention_rows(messages: Sequence[Message]) -> list[Mention]:
    """The rows of the mention index that ``messages`` add (module docstring)."""
    rows: list[Mention] = []
    for m in messages:
        if m.guild_id is None:
            if m.type in NOTIFYING_TYPES:
                rows.append(Mention(m.channel_id, m.id, m.author_id, m.channel_id))
            continue
        targets = dict.fromkeys((*m.mentions, *m.mention_roles))
        if m.mention_everyone:
            targets[m.guild_id] = None
        rows.extend(Mention(m.channel_id, m.id, m.author_id, t) for t in targets)
    return rows


class MentionIndex:
    """Writes the mention rows of each durable batch (the message router's ``after_write``).

    Args:
        meta: the metadata store that holds the index (with the read states it is counted
            against, so that one query reads both).
        on_error: called with the exception when a write fails (metrics), besides the log.
    """

    def __init__(self, meta: MetaStore,
                 on_error: Callable[[BaseException], object] | None = None) -> None:
        self._meta = meta
        self._on_error = on_error

    async def record(self, messages: Sequence[Message]) -> None:
        """Add the rows of ``messages``; a failure is logged, never raised: the messages
        are durable already, and a count a little low is better than a send that fails."""
        rows = mention_rows(messages)
        if not rows:
            return
        try:
            await self._meta.add_mentions(rows)
        except Exception as e:
            logger.exception("the mention index missed %d rows of %d messages",
                             len(rows), len(messages))
            if self._on_error is not None:
                self._on_error(e)
