"""The dispatch payloads the session builds itself: READY, RESUMED and MESSAGE_SEND_FAILED.

READY follows Discord's "Ready" event. discord.py's ``parse_ready`` reads ``user``, ``guilds``
(each an unavailable guild it then waits a GUILD_CREATE for), ``application.id`` and
``application.flags``; its gateway reads ``session_id`` and ``resume_gateway_url``. The
remaining keys carry the empty values Discord sends a bot, because other clients read them
unconditionally. A user (not bot) session's READY also has ``read_state``
(``core.read_states``), which a bot's has not, as on Discord.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.models import Application, User
from core.wire import user_json
from gateway.protocol import GATEWAY_VERSION, Nonce

__all__ = ["SEND_FAILED", "TRACE", "ready_payload", "resumed_payload", "send_failed_payload"]

# Our error dispatch for the send opcode (docs/gateway.md).
SEND_FAILED = "MESSAGE_SEND_FAILED"
# Discord's ``_trace`` names the servers that handled the session; ours is constant.
TRACE = "discord-arch-gateway"


def ready_payload(
    user: User, application: Application | None, guilds: Sequence[dict[str, Any]],
    session_id: str, resume_gateway_url: str, shard: tuple[int, int] | None = None,
    private_channels: Sequence[dict[str, Any]] = (),
    read_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``d`` of READY.

    Args:
        user: the session's user (with the private fields of ``/users/@me``).
        application: the bot's application, None for a user account.
        guilds: the GUILD_CREATE payloads that follow; READY lists them as unavailable.
        session_id: the session's id.
        resume_gateway_url: where to reconnect to resume.
        shard: ``(shard_id, num_shards)`` from Identify, if given.
        private_channels: the user's DM channels.
        read_state: the user's read states (``core.read_states.ready_read_state``); None
            for a bot, whose READY has none.
    """
    data: dict[str, Any] = {
        "v": GATEWAY_VERSION,
        "user": user_json(user, me=True),
        "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
        "session_id": session_id,
        "resume_gateway_url": resume_gateway_url,
        "private_channels": list(private_channels),
        "relationships": [],
        "user_settings": {},
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "session_type": "normal",
        "auth": {},
        "_trace": [TRACE],
    }
    if shard is not None:
        data["shard"] = list(shard)
    if read_state is not None:
        data["read_state"] = read_state
    if application is not None:
        data["application"] = {"id": str(application.id), "flags": application.flags}
    return data


def resumed_payload() -> dict[str, Any]:
    """The ``d`` of RESUMED: an object, because discord.py stores a key into it."""
    return {"_trace": [TRACE]}


def send_failed_payload(nonce: Nonce, code: int, message: str, channel_id: int) -> dict[str, Any]:
    """The ``d`` of MESSAGE_SEND_FAILED: the REST error's ``code`` and ``message``."""
    return {"nonce": nonce, "code": code, "message": message, "channel_id": str(channel_id)}
