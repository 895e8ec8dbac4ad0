"""Ids from untrusted text are ASCII digits only (``core.access.parse_id``,
``core.validate.snowflake_value`` and ``get_permissions``).

``str.isdigit`` is true for "²" (``int`` then raises ValueError: a 500 on every route that
took an id) and for other scripts' digits such as "١٢٣" or "１" (``int`` reads them: one object
had many names). Found by tests/api/test_attack_matrix.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.access import parse_id
from core.errors import ApiError
from core.validate import get_permissions, get_snowflake, snowflake_value

NOT_ASCII_DIGITS = ["\u00b2", "1\u00b2", "\u0661\u0662\u0663", "\uff11", "\u09e7", "\u2460"]


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS)
def test_parse_id_refuses_digits_that_are_not_ascii_as_unknown(text: str) -> None:
    with pytest.raises(ApiError) as e:
        parse_id(text, "channel")
    assert (e.value.status, e.value.code) == (404, 10003)


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS)
def test_body_ids_and_permissions_refuse_digits_that_are_not_ascii(text: str) -> None:
    for parse in (lambda: snowflake_value(text, "id"),
                  lambda: get_snowflake({"owner_id": text}, "owner_id"),
                  lambda: get_permissions({"allow": text}, "allow")):
        with pytest.raises(ApiError) as e:
            parse()
        assert (e.value.status, e.value.code) == (400, 50035)


@pytest.mark.parametrize(("value", "expected"), [
    ("1", 1), ("0001", 1), (str((1 << 63) - 1), (1 << 63) - 1), (42, 42),
])
def test_ascii_ids_still_parse(value: Any, expected: int) -> None:
    assert parse_id(value, "guild") == expected
    assert snowflake_value(value, "id") == expected
