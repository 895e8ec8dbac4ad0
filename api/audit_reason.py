"""The ``X-Audit-Log-Reason`` header: the reason a moderator gives, for the audit log.

Discord's clients send it URL-encoded (discord.py quotes everything but ``/`` and space), at
most :data:`core.audit.REASON_MAX` characters once decoded. The handlers of audited routes
read it here and pass it to core as the ``reason`` keyword (``core.audit``).
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from core.audit import REASON_MAX
from core.errors import invalid_form
from core.validate import reject_control_chars

__all__ = ["HEADER", "audit_reason"]

HEADER = "X-Audit-Log-Reason"


def audit_reason(request: web.Request) -> str | None:
    """The request's decoded reason; None when absent or blank.

    Raises:
        ApiError: 50035 on ``reason`` when longer than REASON_MAX characters or holding a
            control character (as any text field, ``core.validate``).
    """
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    reason = unquote(raw, errors="replace").strip()
    if len(reason) > REASON_MAX:
        raise invalid_form("reason", "BASE_TYPE_MAX_LENGTH",
                           f"Must be {REASON_MAX} or fewer in length.")
    reject_control_chars({"reason": reason})
    return reason or None
