"""Discord's JSON of a thread (a channel object with ``thread_metadata``) and a thread member.

Apart from ``core.wire`` because a thread's object differs from every other channel's and
carries the reader's own membership (``member``) when there is one.
"""

from __future__ import annotations

from typing import Any

from core.models import Channel, ChannelType, ThreadMember
from core.snowflake import iso_timestamp

__all__ = ["thread_json", "thread_member_json"]

Json = dict[str, Any]


def thread_member_json(member: ThreadMember, *, guild_id: int | None = None) -> Json:
    out: Json = {
        "id": str(member.thread_id),
        "user_id": str(member.user_id),
        "join_timestamp": iso_timestamp(member.join_timestamp),
        "flags": member.flags,
    }
    if guild_id is not None:  # in gateway events, as Discord sends them
        out["guild_id"] = str(guild_id)
    return out


def thread_json(channel: Channel, member: ThreadMember | None = None) -> Json:
    """A thread channel object; ``member`` is the reader's membership, if any."""
    t = channel.thread
    assert t is not None, "not a thread"
    metadata: Json = {
        "archived": t.archived,
        "auto_archive_duration": t.auto_archive_duration,
        "archive_timestamp": iso_timestamp(t.archive_timestamp),
        "locked": t.locked,
        "create_timestamp": iso_timestamp(t.create_timestamp),
    }
    if channel.type == ChannelType.PRIVATE_THREAD:
        metadata["invitable"] = t.invitable
    out: Json = {
        "id": str(channel.id),
        "type": int(channel.type),
        "guild_id": str(channel.guild_id),
        "parent_id": str(channel.parent_id),
        "owner_id": str(channel.owner_id),
        "name": channel.name,
        "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
        "rate_limit_per_user": channel.rate_limit_per_user,
        "flags": 0,
        "message_count": t.message_count,
        "member_count": t.member_count,
        "total_message_sent": t.total_message_sent,
        "thread_metadata": metadata,
    }
    if member is not None:
        out["member"] = thread_member_json(member)
    return out
