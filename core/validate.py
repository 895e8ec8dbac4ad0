"""Field validation for request bodies, with Discord's 50035 Invalid Form Body errors.

Shared by the REST API and the gateway's send opcode. Each getter reads one field of a
decoded JSON object and raises :func:`core.errors.invalid_form` naming the field, with
Discord's per-field codes (``BASE_TYPE_REQUIRED``, ``BASE_TYPE_BAD_LENGTH``, ...).
"""

from __future__ import annotations

from typing import Any

from core.errors import ApiError, invalid_form

__all__ = [
    "MISSING",
    "get_bool",
    "get_int",
    "get_permissions",
    "get_snowflake",
    "get_str",
    "require_object",
    "snowflake_value",
    "too_large",
]

_MAX_SNOWFLAKE = (1 << 63) - 1


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
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_SNOWFLAKE:
        return value
    raise invalid_form(field_path, "NUMBER_TYPE_COERCE", f"Value \"{value}\" is not snowflake.")


def get_permissions(body: dict[str, Any], key: str, *, default: Any = MISSING) -> Any:
    """A permission bitfield (string, as Discord sends; integers also accepted)."""
    value = body.get(key, MISSING)
    if value is MISSING or value is None:
        return default
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << 63):
        return value
    raise invalid_form(key, "NUMBER_TYPE_COERCE", f"Value \"{value}\" is not int.")


def too_large() -> ApiError:
    return ApiError(413, 40005, "Request entity too large")
