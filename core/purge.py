"""Deleting banned users' recent messages across a guild (a ban's ``delete_message_seconds``).

Discord removes a banned user's messages of the last N seconds (at most 7 days) from every
channel of the guild and announces them per channel with MESSAGE_DELETE_BULK. The message
stores index a channel's history by id only (an index by author would cost every send), so
each text channel is read newest first down to the cutoff, through the ordinary history
pages, and the authors' messages go through :func:`core.messages.delete_many`, the bulk
delete's own path (store deletes, one MESSAGE_DELETE_BULK per batch of ids).

The read is bounded: at most :data:`SCAN_MAX_PER_CHANNEL` messages of each channel are looked
at, the newest (where a spammer's are); older ones in a busier channel stay, and the log
says so.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from core.messages import delete_many
from core.models import ChannelType
from core.platform import Platform
from core.snowflake import snowflake_from_ms
from core.store.base import HISTORY_MAX

__all__ = ["PURGE_SECONDS_MAX", "SCAN_MAX_PER_CHANNEL", "delete_recent_messages"]

logger = logging.getLogger(__name__)

# Discord's longest ``delete_message_seconds``: 7 days.
PURGE_SECONDS_MAX = 604_800
# Messages read per channel at most, newest first (100 history pages).
SCAN_MAX_PER_CHANNEL = 10_000


async def delete_recent_messages(
    p: Platform, guild_id: int, author_ids: Collection[int], seconds: int
) -> int:
    """Delete the messages ``author_ids`` sent in the guild's text channels during the last
    ``seconds``; how many were deleted."""
    if seconds <= 0 or not author_ids:
        return 0
    cutoff = snowflake_from_ms(p.now_ms() - seconds * 1000)
    deleted = 0
    for channel in await p.meta.list_channels(guild_id):
        if channel.type == ChannelType.GUILD_TEXT:
            ids = await _recent_by(p, channel.id, author_ids, cutoff)
            deleted += len(await delete_many(p, channel, ids))
    return deleted


async def _recent_by(
    p: Platform, channel_id: int, author_ids: Collection[int], cutoff: int
) -> list[int]:
    """Ids of the channel's messages by ``author_ids`` with an id >= ``cutoff``, newest first,
    among its newest :data:`SCAN_MAX_PER_CHANNEL` messages."""
    found: list[int] = []
    before: int | None = None
    for _ in range(SCAN_MAX_PER_CHANNEL // HISTORY_MAX):
        page = await p.messages.history(channel_id, before=before, limit=HISTORY_MAX)
        for message in page:
            if message.id < cutoff:
                return found
            if message.author_id in author_ids:
                found.append(message.id)
        if len(page) < HISTORY_MAX:
            return found
        before = page[-1].id
    logger.info("ban purge: channel %d has over %d messages in the window; older ones stay",
                channel_id, SCAN_MAX_PER_CHANNEL)
    return found
