"""The query string of a message search, validated as Discord does (50035 per parameter).

Discord's parameters ("Search Guild Messages"), and what this server makes of each:

================== ======================================================================
``content``        at most 1,024 characters; every word must be in the message
``author_id``      repeatable (at most 100): by any of these users
``mentions``       repeatable (at most 100): mentioning any of these users
``channel_id``     repeatable (at most 500): in any of these channels (of those readable)
``has``            repeatable: ``link``, ``embed``, ``file``, ``image``, ``video``, ``sound``,
                   ``sticker``, ``poll``, ``snapshot``, each also negated with ``-``; having
                   any of those asked for, and none of those negated
``min_id``         ids above it (``after:``); ``max_id`` ids below it (``before:``)
``pinned``         ``true``/``false``; ``mention_everyone`` likewise; ``include_nsfw``
                   (default false: age-restricted channels are left out of a guild search)
``offset``         0..9,975 (default 0); ``limit`` 1..25 (default 25)
``sort_by``        ``timestamp`` (default) or ``relevance``; ``sort_order`` ``desc``
                   (default) or ``asc``
================== ======================================================================

A repeatable parameter is given once per value (``author_id=1&author_id=2``), as Discord's
clients send arrays in a query string; a single-valued one given twice counts once (the
first). Unknown parameters are ignored, as Discord does, and so are Discord's parameters this
server has nothing to match with (``author_type``, ``embed_type``, ``embed_provider``,
``link_hostname``, ``attachment_filename``, ``attachment_extension``, ``mentions_role_id``,
``replied_to_user_id``, ``replied_to_message_id``, ``slop``): docs/compatibility.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import ApiError, invalid_form
from core.store.searchquery import SEARCH_OFFSET_MAX, SEARCH_PAGE_MAX
from core.validate import get_int, reject_control_chars, snowflake_value

__all__ = ["CONTENT_MAX", "HAS_VALUES", "SearchForm", "parse_search"]

# Discord's bounds on a search's parameters.
CONTENT_MAX = 1024
_REPEATS_MAX = {"author_id": 100, "mentions": 100, "channel_id": 500, "has": 18}
# Everything ``has`` may name, each also negated (``-link``).
HAS_VALUES = frozenset({"link", "embed", "file", "image", "video", "sound", "sticker", "poll",
                        "snapshot"})
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_SORT_BY = ("timestamp", "relevance")
_SORT_ORDER = ("desc", "asc")


@dataclass(frozen=True, slots=True)
class SearchForm:
    """A search's parameters, valid, before the searcher's channels are known.

    ``has`` and ``has_not`` hold what was asked for, things no message here has included
    (``core.search`` decides what they mean); ``channel_ids`` is None when not given.
    """

    content: str = ""
    author_ids: tuple[int, ...] = ()
    mentions: tuple[int, ...] = ()
    channel_ids: frozenset[int] | None = None
    has: frozenset[str] = frozenset()
    has_not: frozenset[str] = frozenset()
    min_id: int | None = None
    max_id: int | None = None
    pinned: bool | None = None
    mention_everyone: bool | None = None
    include_nsfw: bool = False
    relevance: bool = False
    ascending: bool = False
    offset: int = 0
    limit: int = SEARCH_PAGE_MAX


def parse_search(params: Sequence[tuple[str, str]]) -> SearchForm:
    """The search of a query string's ``(name, value)`` pairs, in their order.

    Raises:
        ApiError: 400 50035 naming the first bad parameter (``author_id.2`` for the third
            value of a repeatable one).
    """
    first: dict[str, str] = {}
    repeated: dict[str, list[str]] = {name: [] for name in _REPEATS_MAX}
    for name, value in params:
        if name in repeated:
            repeated[name].append(value)
        else:
            first.setdefault(name, value)
    for name, values in repeated.items():
        if len(values) > _REPEATS_MAX[name]:
            raise invalid_form(name, "BASE_TYPE_MAX_LENGTH",
                               f"Must be {_REPEATS_MAX[name]} or fewer in length.")
    has, has_not = _has(repeated["has"])
    channels = repeated["channel_id"]
    return SearchForm(
        content=_content(first.get("content", "")),
        author_ids=_ids(repeated["author_id"], "author_id"),
        mentions=_ids(repeated["mentions"], "mentions"),
        channel_ids=frozenset(_ids(channels, "channel_id")) if channels else None,
        has=has,
        has_not=has_not,
        min_id=_id(first, "min_id"),
        max_id=_id(first, "max_id"),
        pinned=_bool(first, "pinned"),
        mention_everyone=_bool(first, "mention_everyone"),
        include_nsfw=bool(_bool(first, "include_nsfw")),
        relevance=_choice(first, "sort_by", _SORT_BY) == "relevance",
        ascending=_choice(first, "sort_order", _SORT_ORDER) == "asc",
        offset=get_int(first, "offset", lo=0, hi=SEARCH_OFFSET_MAX, default=0),
        limit=get_int(first, "limit", lo=1, hi=SEARCH_PAGE_MAX, default=SEARCH_PAGE_MAX),
    )


def _content(value: str) -> str:
    if len(value) > CONTENT_MAX:
        raise invalid_form("content", "BASE_TYPE_BAD_LENGTH",
                           f"Must be between 0 and {CONTENT_MAX} in length.")
    reject_control_chars({"content": value})
    try:
        value.encode()  # a lone surrogate (from a bad %-escape) is no text to search for
    except UnicodeEncodeError:
        raise invalid_form("content", "STRING_TYPE_CONVERT", "Must be valid text.") from None
    return value


def _ids(values: list[str], name: str) -> tuple[int, ...]:
    return tuple(dict.fromkeys(snowflake_value(v, f"{name}.{i}") for i, v in enumerate(values)))


def _id(first: dict[str, str], name: str) -> int | None:
    value = first.get(name)
    return None if value is None else snowflake_value(value, name)


def _bool(first: dict[str, str], name: str) -> bool | None:
    value = first.get(name)
    if value is None:
        return None
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise invalid_form(name, "BOOLEAN_TYPE_COERCE",
                           f"Value \"{value}\" is not bool.") from None


def _choice(first: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = first.get(name, choices[0])
    if value not in choices:
        raise _not_one_of(name, choices)
    return value


def _has(values: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    has: set[str] = set()
    has_not: set[str] = set()
    for i, value in enumerate(values):
        kind = value.removeprefix("-")
        if kind not in HAS_VALUES:
            raise _not_one_of(f"has.{i}", tuple(sorted(HAS_VALUES)))
        (has_not if value.startswith("-") else has).add(kind)
    return frozenset(has), frozenset(has_not)


def _not_one_of(name: str, choices: tuple[str, ...]) -> ApiError:
    return invalid_form(name, "BASE_TYPE_CHOICES",
                        f"Value must be one of {', '.join(repr(c) for c in choices)}.")
