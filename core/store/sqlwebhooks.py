"""Webhooks in SQL (SQLite and PostgreSQL): the webhook half of ``SqlMetaStore``.

One row per webhook in ``webhooks`` (migration 9), referencing its channel and guild ON DELETE
CASCADE, so deleting a channel or a guild deletes its webhooks in the same statement. The
per-channel limit is counted and written in one transaction serialized per channel
(``executor.serialize``), for a new webhook and for one moved into the channel alike, so two
writers racing for the last place get one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from core.models import Webhook
from core.store.base import LimitReached
from core.store.executor import Executor, Row, assignments, serialize

__all__ = ["SqlWebhookStore"]

# The advisory-lock namespace of the per-channel limit ("hook"; see executor.serialize).
_WEBHOOK_LOCK = 0x686F6F6B
_WEBHOOK = "id, guild_id, channel_id, creator_id, name, token, avatar, application_id"
_WEBHOOK_FIELDS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {"name": str, "avatar": str, "channel_id": int}
)


def _webhook(r: Row) -> Webhook:
    return Webhook(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])


class SqlWebhookStore:
    """The webhook methods of :class:`core.store.base.MetaStore` over ``self._db``."""

    _db: Executor

    async def create_webhook(self, webhook: Webhook, max_per_channel: int) -> bool:
        w = webhook
        async with self._db.transaction() as tx:
            await _check_room(tx, w.channel_id, max_per_channel)
            # From the channel's row: a channel deleted meanwhile adds nothing (no FK error).
            added = await tx.execute(
                f"INSERT INTO webhooks ({_WEBHOOK}) SELECT CAST(? AS BIGINT), guild_id, id,"
                " CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT),"
                " CAST(? AS BIGINT) FROM channels WHERE id = ? AND guild_id = ?",
                w.id, w.creator_id, w.name, w.token, w.avatar, w.application_id,
                w.channel_id, w.guild_id,
            )
        return added > 0

    async def get_webhook(self, webhook_id: int) -> Webhook | None:
        row = await self._db.fetchrow(f"SELECT {_WEBHOOK} FROM webhooks WHERE id = ?", webhook_id)
        return None if row is None else _webhook(row)

    async def list_channel_webhooks(self, channel_id: int) -> list[Webhook]:
        rows = await self._db.fetch(
            f"SELECT {_WEBHOOK} FROM webhooks WHERE channel_id = ? ORDER BY id", channel_id
        )
        return [_webhook(r) for r in rows]

    async def list_guild_webhooks(self, guild_id: int) -> list[Webhook]:
        rows = await self._db.fetch(
            f"SELECT {_WEBHOOK} FROM webhooks WHERE guild_id = ? ORDER BY id", guild_id
        )
        return [_webhook(r) for r in rows]

    async def update_webhook(
        self, webhook_id: int, fields: dict[str, Any], *, max_per_channel: int
    ) -> Webhook | None:
        """See :meth:`MetaStore.update_webhook`.

        Raises:
            ValueError: a field is not one the protocol lists.
            LimitReached: as the protocol says.
        """
        if not fields:
            return await self.get_webhook(webhook_id)
        sets, values = assignments(fields, _WEBHOOK_FIELDS)
        async with self._db.transaction() as tx:
            target = fields.get("channel_id")
            if target is not None:
                current = await tx.fetchval(
                    "SELECT channel_id FROM webhooks WHERE id = ?", webhook_id
                )
                if current is None:
                    return None
                if current != target:
                    await _check_room(tx, target, max_per_channel)
                # Only into an existing channel of its own guild (else nothing: None).
                row = await tx.fetchrow(
                    f"UPDATE webhooks SET {sets} WHERE id = ? AND EXISTS (SELECT 1 FROM channels"
                    " c WHERE c.id = ? AND c.guild_id = webhooks.guild_id)"
                    f" RETURNING {_WEBHOOK}", *values, webhook_id, target,
                )
            else:
                row = await tx.fetchrow(
                    f"UPDATE webhooks SET {sets} WHERE id = ? RETURNING {_WEBHOOK}",
                    *values, webhook_id,
                )
        return None if row is None else _webhook(row)

    async def delete_webhook(self, webhook_id: int) -> bool:
        return await self._db.execute("DELETE FROM webhooks WHERE id = ?", webhook_id) > 0


async def _check_room(tx: Executor, channel_id: int, max_per_channel: int) -> None:
    """Raise LimitReached unless ``channel_id`` has room for one more webhook; the rest of
    the transaction then runs alone among the writers of that channel's webhooks."""
    await serialize(tx, _WEBHOOK_LOCK, channel_id)
    count = await tx.fetchval("SELECT COUNT(*) FROM webhooks WHERE channel_id = ?", channel_id)
    if int(count) >= max_per_channel:
        raise LimitReached(f"channel {channel_id} has {max_per_channel} webhooks")
