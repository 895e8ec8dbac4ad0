"""Field validation for request bodies, with Discord's 50035 Invalid Form Body errors.

Shared by the REST API and the gateway's send opcode. Each getter reads one field of a
decoded JSON object and raises :func:`core.errors.invalid_form` naming the field, with
Discord's per-field codes (``BASE_TYPE_REQUIRED``, ``BASE_TYPE_BAD_LENGTH``, ...).

Text fields (docs/compatibility.md, "Text fields"): no string of a request body may hold a C0
control character other than tab, line feed and carriage return. PostgreSQL cannot store
U+0000 in ``TEXT`` at all and SQLite can, so without one rule at the boundary the same
request was a 500 on one backend and stored on the other; Discord refuses such text too.
:func:`reject_control_chars` checks a whole decoded body (every REST body in
``api.http.read_json_value``, every message body in ``core.message_form``), so a field added
later is covered without remembering to.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import ApiError, invalid_form

__all__ = [
    "MISSING",
    "get_bool",
    "get_int",
    "get_permissions",
    "get_snowflake",
    "get_str",
    "reject_control_chars",
    "require_object",
    "snowflake_value",
    "too_large",
]

_MAX_SNOWFLAKE = (1 << 63) - 1


# C0 controls but \t (U+0009), \n (U+000A) and \r (U+000D).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
CONTROL_CHARS_CODE = "STRING_TYPE_INVALID_CHARACTERS"
_CONTROL_MESSAGE = "Must not contain control characters (other than tab and line breaks)."


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _present(body: dict[str, Any], key: str, *, required: bool, nullable: bool) -> Any:
    """The field's value; MISSING when absent (or null but not ``nullable``), else None or it.

    Raises:
        ApiError: 50035 ``BASE_TYPE_REQUIRED`` when ``required`` and absent.
    """
    value = body.get(key, MISSING)
    if value is MISSING or (value is None and not nullable):
        if required:
            raise invalid_form(key, "BASE_TYPE_REQUIRED", "This field is required")
        return MISSING
    return value


def reject_control_chars(value: Any) -> None:
    """Raise 50035 naming a string of ``value`` that holds a C0 control character (but tab,
    line feed, carriage return).

    ``value`` is a decoded JSON (or ETF) value. The walk uses its own stack, not recursion:
    a body nested a thousand deep must be a 400 too, never a ``RecursionError``. The path
    is Discord's (``embeds.0.title``); a bad object key is reported at its object's path.

    Raises:
        ApiError: 50035 with ``STRING_TYPE_INVALID_CHARACTERS`` for the field.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _CONTROL.search(item) is not None:
                raise invalid_form(path or "_root", CONTROL_CHARS_CODE, _CONTROL_MESSAGE)
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _CONTROL.search(key) is not None:
                    raise invalid_form(path or "_root", CONTROL_CHARS_CODE, _CONTROL_MESSAGE)
                stack.append((f"{path}.{key}" if path else str(key), child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}.{i}" if path else str(i), child)
                         for i, child in enumerate(item))


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid_form("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    return body


def get_str(
    body: dict[str, Any],
    key: str,
    *,
    required: bool = False,
    nullable: bool = False,
    min_len: int = 0,
    max_len: int = 2000,
    default: Any = MISSING,
    strip: bool = False,
) -> Any:
    """A string field; ``default`` (or MISSING) when absent and not ``required``."""
    value = _present(body, key, required=required, nullable=nullable)
    if value is MISSING or value is None:
        return default if value is MISSING else None
    if not isinstance(value, str):
        raise invalid_form(key, "BASE_TYPE_STRING", f"Could not interpret \"{value!r}\" as string.")
    if strip:
        value = value.strip()
    if not min_len <= len(value) <= max_len:
        raise invalid_form(
            key, "BASE_TYPE_BAD_LENGTH", f"Must be between {min_len} and {max_len} in length."
        )
    return value


def get_int(
    body: dict[str, Any],
    key: str,
    *,
    required: bool = False,
    nullable: bool = False,
    lo: int = -(1 << 53),
    hi: int = 1 << 53,
    default: Any = MISSING,
) -> Any:
    """An integer field (JSON number or numeric string, as Discord accepts)."""
    value = _present(body, key, required=required, nullable=nullable)
    if value is MISSING or value is None:
        return default if value is MISSING else None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid_form(key, "NUMBER_TYPE_COERCE", f"Value \"{value!r}\" is not int.")
    try:
        number = int(value)
    except ValueError:
        raise invalid_form(key, "NUMBER_TYPE_COERCE", f"Value \"{value}\" is not int.") from None
    if not lo <= number <= hi:
        raise invalid_form(
            key, "NUMBER_TYPE_MAX" if number > hi else "NUMBER_TYPE_MIN",
            f"int value should be between {lo} and {hi}.",
        )
    return number


def get_bool(body: dict[str, Any], key: str, *, default: Any = MISSING) -> Any:
    value = body.get(key, MISSING)
    if value is MISSING or value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_form(key, "BOOLEAN_TYPE_COERCE", f"Value \"{value!r}\" is not bool.")
    return value


def get_snowflake(
    body: dict[str, Any], key: str, *, required: bool = False, nullable: bool = False,
    default: Any = MISSING,
) -> Any:
    """A snowflake field, string or integer (discord.py sends some ids as integers)."""
    value = _present(body, key, required=required, nullable=nullable)
    if value is MISSING or value is None:
        return default if value is MISSING else None
    return snowflake_value(value, key)


def snowflake_value(value: Any, field_path: str) -> int:
    """Parse one snowflake from JSON (string or integer) or raise 50035 for ``field_path``."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_SNOWFLAKE:
        return value
    raise invalid_form(field_path, "NUMBER_TYPE_COERCE", f"Value \"{value}\" is not snowflake.")


def get_permissions(body: dict[str, Any], key: str, *, default: Any = MISSING) -> Any:
    """A permission bitfield (string, as Discord sends; integers also accepted)."""
    value = body.get(key, MISSING)
    if value is MISSING or value is None:
        return default
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << 63):
        return value
    raise invalid_form(key, "NUMBER_TYPE_COERCE", f"Value \"{value}\" is not int.")


def too_large() -> ApiError:
    return ApiError(413, 40005, "Request entity too large")
