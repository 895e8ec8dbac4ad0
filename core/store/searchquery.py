"""What :meth:`core.store.base.MessageStore.search` takes and returns, and how it fails.

A leaf beside ``core.store.base``: the domain (``core.search``) builds a :class:`SearchQuery`
already restricted to the channels the searcher may read, and every backend answers it with
its own full-text engine (``core.store.sqlsearch``: SQLite FTS5 and PostgreSQL full-text
search; ``core.store.mongosearch``: MongoDB). The query is complete and frozen: a backend
never widens it, and filters nothing after its ``LIMIT`` (a page is never short because of a
filter, and ``total`` counts exactly what the searcher could page through).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Message

__all__ = ["HAS_KINDS", "SEARCH_OFFSET_MAX", "SEARCH_PAGE_MAX", "SearchPage", "SearchQuery",
           "StoreTimeout"]

# Discord's bounds: ``limit`` 1..25 and ``offset`` at most 9975, so no search reaches past
# its 10,000th match (however many ``total`` counts).
SEARCH_PAGE_MAX = 25
SEARCH_OFFSET_MAX = 9975
# What a stored message can have that ``has`` asks about: a link in its content, an embed.
# Attachments, stickers, polls and forwards do not exist here (core.search answers those).
HAS_KINDS = frozenset({"link", "embed"})


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search, every condition of which a match meets.

    Attributes:
        channel_ids: the channels searched, exactly those the searcher may read (empty:
            nothing matches).
        content: text whose every word a match's content holds ("" for no condition). Each
            backend splits it with its own engine's tokenizer (see ``core.store.sqlsearch``
            and ``core.store.mongosearch``); case is ignored, accents are not.
        author_ids: written by any of these users (empty: by anyone).
        mentions: mentioning any of these users (empty: no condition).
        has: having any of these (of :data:`HAS_KINDS`; empty: no condition).
        has_not: having none of these (of :data:`HAS_KINDS`).
        min_id: only ids above it (Discord's ``after``).
        max_id: only ids below it (``before``).
        pinned: only pinned (True) or only unpinned (False) messages; None for both.
        mention_everyone: only messages that do (or do not) mention @everyone; None for both.
        relevance: order by the engine's relevance to ``content`` (then by id); otherwise,
            or without ``content``, by id, which is the time.
        ascending: oldest (or least relevant) first.
        offset: matches skipped, 0..SEARCH_OFFSET_MAX.
        limit: matches returned, 1..SEARCH_PAGE_MAX.
        timeout_ms: how long each statement of the search may run before the backend
            cancels it and :class:`StoreTimeout` is raised.
    """

    channel_ids: tuple[int, ...]
    content: str = ""
    author_ids: tuple[int, ...] = ()
    mentions: tuple[int, ...] = ()
    has: frozenset[str] = frozenset()
    has_not: frozenset[str] = frozenset()
    min_id: int | None = None
    max_id: int | None = None
    pinned: bool | None = None
    mention_everyone: bool | None = None
    relevance: bool = False
    ascending: bool = False
    offset: int = 0
    limit: int = SEARCH_PAGE_MAX
    timeout_ms: int = 2000

    def __post_init__(self) -> None:
        if not 0 <= self.offset <= SEARCH_OFFSET_MAX:
            raise ValueError(f"offset must be within 0..{SEARCH_OFFSET_MAX}")
        if not 1 <= self.limit <= SEARCH_PAGE_MAX:
            raise ValueError(f"limit must be within 1..{SEARCH_PAGE_MAX}")
        if not (self.has | self.has_not) <= HAS_KINDS:
            raise ValueError(f"has and has_not take only {sorted(HAS_KINDS)}")
        if self.timeout_ms <= 0:
            raise ValueError("timeout_ms must be positive")


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of matches and how many there are.

    Attributes:
        total: every match of the query, whatever the page.
        messages: the page, in the query's order. A message deleted between counting and
            reading is left out (Discord's counts are approximate in the same way).
    """

    total: int
    messages: tuple[Message, ...]


class StoreTimeout(Exception):
    """A statement ran past its deadline and the backend cancelled it (nothing changed)."""
