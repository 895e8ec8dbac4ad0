"""Errors with Discord's JSON error shape and codes.

Core raises :class:`ApiError`; the REST layer turns it into ``{"code", "message", "errors"?}``
with the HTTP status, and the gateway into an error event for a gateway send.
See https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = ["ApiError", "ErrorCode", "RetryLater", "invalid_form"]


class ErrorCode(IntEnum):
    GENERAL = 0
    UNKNOWN_ACCOUNT = 10001
    UNKNOWN_APPLICATION = 10002
    UNKNOWN_CHANNEL = 10003
    UNKNOWN_GUILD = 10004
    UNKNOWN_INVITE = 10006
    UNKNOWN_MEMBER = 10007
    UNKNOWN_MESSAGE = 10008
    UNKNOWN_OVERWRITE = 10009
    UNKNOWN_ROLE = 10011
    UNKNOWN_TOKEN = 10012
    UNKNOWN_USER = 10013
    UNKNOWN_EMOJI = 10014
    UNKNOWN_BAN = 10026
    UNKNOWN_WEBHOOK = 10015
    BOTS_CANNOT_USE = 20001
    ONLY_BOTS = 20002
    ACCOUNT_DISABLED = 20013
    MAX_GUILDS = 30001
    MAX_PINS = 30003
    MAX_ROLES = 30005
    MAX_WEBHOOKS = 30007
    MAX_REACTIONS = 30010
    MAX_CHANNELS = 30013
    MAX_INVITES = 30016
    UNAUTHORIZED = 40001
    TOO_LARGE = 40005
    ALREADY_EXISTS = 40007
    USER_BANNED = 40007  # Discord's meaning of 40007: "The user is banned from this guild."
    MISSING_ACCESS = 50001
    INVALID_ACCOUNT_TYPE = 50002
    CANNOT_EXECUTE_ON_DM = 50003
    CANNOT_EDIT_OTHERS_MESSAGE = 50005
    EMPTY_MESSAGE = 50006
    CANNOT_SEND_TO_USER = 50007
    INVALID_OAUTH_STATE = 50012
    MISSING_PERMISSIONS = 50013
    INVALID_TOKEN = 50014
    SYSTEM_MESSAGE = 50021
    INVALID_CHANNEL_TYPE = 50024
    INVALID_WEBHOOK_TOKEN = 50027
    INVALID_FORM_BODY = 50035
    INVALID_API_VERSION = 50041
    INVALID_ROLE = 50028
    INVALID_RECIPIENTS = 50033
    CANNOT_DELETE_REQUIRED_CHANNEL = 50074
    THREAD_ARCHIVED = 50083  # "Operation is not allowed in an archived thread"
    THREAD_ALREADY_CREATED = 160004  # "A thread has already been created for this message"
    THREAD_LOCKED = 160005  # "Thread is locked"
    MAX_ACTIVE_THREADS = 160006  # "Maximum number of active threads reached"
    BULK_BAN_FAILED = 500000


@dataclass(slots=True)
class ApiError(Exception):
    """A request that cannot be served, with Discord's status, code and message.

    Attributes:
        status: the HTTP status (400, 401, 403, 404, 405, 409, 413, 429).
        code: Discord's JSON error code.
        message: Discord's message text for the code.
        errors: the nested ``errors`` object of 50035 Invalid Form Body, if any.
    """

    status: int
    code: int
    message: str
    errors: dict[str, Any] | None = field(default=None)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            out["errors"] = self.errors
        return out

    # Constructors for the common cases, so call sites read as Discord's docs do.
    @classmethod
    def unknown(cls, what: str) -> ApiError:
        code = {
            "account": ErrorCode.UNKNOWN_ACCOUNT,
            "application": ErrorCode.UNKNOWN_APPLICATION,
            "ban": ErrorCode.UNKNOWN_BAN,
            "channel": ErrorCode.UNKNOWN_CHANNEL,
            "guild": ErrorCode.UNKNOWN_GUILD,
            "invite": ErrorCode.UNKNOWN_INVITE,
            "member": ErrorCode.UNKNOWN_MEMBER,
            "message": ErrorCode.UNKNOWN_MESSAGE,
            "overwrite": ErrorCode.UNKNOWN_OVERWRITE,
            "role": ErrorCode.UNKNOWN_ROLE,
            "user": ErrorCode.UNKNOWN_USER,
            "webhook": ErrorCode.UNKNOWN_WEBHOOK,
        }[what]
        return cls(404, code, f"Unknown {what.capitalize()}")

    @classmethod
    def missing_access(cls) -> ApiError:
        return cls(403, ErrorCode.MISSING_ACCESS, "Missing Access")

    @classmethod
    def missing_permissions(cls) -> ApiError:
        return cls(403, ErrorCode.MISSING_PERMISSIONS, "Missing Permissions")

    @classmethod
    def unauthorized(cls) -> ApiError:
        return cls(401, ErrorCode.UNAUTHORIZED, "401: Unauthorized")

    @classmethod
    def bad_request(cls, code: int, message: str) -> ApiError:
        return cls(400, code, message)


@dataclass(slots=True)
class RetryLater(ApiError):
    """A 429 of one of the domain's own limits (a channel's slowmode, its webhook executions),
    answered with Discord's rate-limit body: ``retry_after`` seconds and ``global: false``."""

    retry_after: float = 0.0

    def body(self) -> dict[str, Any]:
        out = ApiError.body(self)  # zero-argument super() does not work in slots dataclasses
        out.update(retry_after=self.retry_after, **{"global": False})
        return out


def invalid_form(field_path: str, code: str, message: str) -> ApiError:
    """50035 Invalid Form Body with Discord's nested ``errors`` for one field.

    Args:
        field_path: dotted path of the bad field, e.g. ``"content"`` or ``"message_reference.message_id"``.
        code: Discord's per-field error code, e.g. ``"BASE_TYPE_REQUIRED"``, ``"BASE_TYPE_MAX_LENGTH"``.
        message: human readable text for that field.
    """
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        node = {part: node}
    return ApiError(400, ErrorCode.INVALID_FORM_BODY, "Invalid Form Body", node)
