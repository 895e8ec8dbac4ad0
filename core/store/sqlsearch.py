"""Message search in SQL: SQLite's FTS5 and PostgreSQL's full-text search, the search half of
``SqlMessageStore``.

Each engine indexes the content itself (migration 8, ``core.store.migrations``), kept current by
the statements that write messages: on SQLite an external-content FTS5 table fed by triggers,
so the router's write batch updates it in its own transaction; on PostgreSQL a GIN index on
``to_tsvector('simple', content)``, which every insert, edit and delete maintains.

A search is two statements, every condition of the query in both: ``COUNT(*)`` for
``total_results``, then the page's ids (``ORDER BY ... LIMIT ... OFFSET``); then the page's
messages by id. Nothing is filtered afterwards, so a page is never short because of a filter
and the count covers exactly what can be paged through. The channels (those the searcher may
read) are one parameter whatever their number: a JSON array read with ``json_each`` on SQLite,
a ``bigint[]`` on PostgreSQL, so one statement text serves every guild.

Content matching, per engine:

- SQLite: the query is ``core.store.searchwords``' words, each quoted (``"foo" "bar"``: both
  words, anywhere), so no FTS5 operator ever comes from a user. Relevance is FTS5's ``rank``
  (BM25).
- PostgreSQL: ``plainto_tsquery('simple', content)``: PostgreSQL's own parser, the one that
  indexed the content (it keeps ``example.com`` or ``foo-bar`` as tokens of their own, as well
  as a hyphenated word's parts). Relevance is ``ts_rank``.

Both run with a deadline (``Executor.fetch_bounded``): a statement still running after
``query.timeout_ms`` is cancelled, and ``StoreTimeout`` raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.models import Message
from core.store.executor import Executor
from core.store.searchquery import SearchPage, SearchQuery
from core.store.searchwords import words

__all__ = ["SqlSearchStore", "fts5_query"]


def fts5_query(content: str) -> str:
    """The FTS5 query matching every word of ``content`` ("" when it has none)."""
    return " ".join(f'"{w}"' for w in words(content))  # a word holds no quote


@dataclass(frozen=True, slots=True)
class _Dialect:
    """The fragments that differ between the two engines (``m`` is the messages table)."""

    in_ids: str  # "{column} is one of a list of ids", the list one parameter
    mentions_any: str  # the message's mentions (JSON text) hold one of a list of ids
    link: str  # the content holds an http(s) link
    content_source: str  # FROM when matching content
    content_match: str  # WHERE when matching content (one parameter)
    relevance: str  # ORDER BY key, most relevant first (parameters: ``relevance_args``)
    relevance_args: int  # how many times the content is passed to ``relevance``

    def ids_param(self, ids: Sequence[int]) -> Any:
        return orjson.dumps(list(ids)).decode() if self is _SQLITE else list(ids)


_SQLITE = _Dialect(
    in_ids="{column} IN (SELECT value FROM json_each(?))",
    mentions_any="EXISTS (SELECT 1 FROM json_each(m.mentions) AS e"
                 " WHERE e.value IN (SELECT value FROM json_each(?)))",
    # LIKE ignores ASCII case in SQLite.
    link="(m.content LIKE '%http://%' OR m.content LIKE '%https://%')",
    content_source="messages_fts JOIN messages AS m ON m.id = messages_fts.rowid",
    content_match="messages_fts MATCH ?",
    relevance="messages_fts.rank",  # BM25, lower is better
    relevance_args=0,
)
_POSTGRES = _Dialect(
    in_ids="{column} = ANY(?::bigint[])",
    mentions_any="EXISTS (SELECT 1 FROM json_array_elements_text(m.mentions::json) AS e(v)"
                 " WHERE e.v::bigint = ANY(?::bigint[]))",
    link="(m.content ILIKE '%http://%' OR m.content ILIKE '%https://%')",
    content_source="messages AS m",
    # The very expression of the GIN index (migration 8), so that the index serves it.
    content_match="to_tsvector('simple', m.content) @@ plainto_tsquery('simple', ?)",
    relevance="-ts_rank(to_tsvector('simple', m.content), plainto_tsquery('simple', ?))",
    relevance_args=1,
)
_DIALECTS = {"sqlite": _SQLITE, "postgres": _POSTGRES}


@dataclass(slots=True)
class _Plan:
    """A search's FROM and WHERE with their parameters, and its ORDER BY with its own."""

    source: str = "messages AS m"
    where: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)
    order: str = ""
    order_args: list[Any] = field(default_factory=list)

    def require(self, condition: str, *args: Any) -> None:
        self.where.append(condition)
        self.args.extend(args)


def _plan(dialect: _Dialect, q: SearchQuery) -> _Plan:
    plan = _Plan()
    plan.require(dialect.in_ids.format(column="m.channel_id"), dialect.ids_param(q.channel_ids))
    direction = "" if q.ascending else " DESC"
    plan.order = f"m.id{direction}"
    if q.content:
        plan.source = dialect.content_source
        plan.require(dialect.content_match,
                     fts5_query(q.content) if dialect is _SQLITE else q.content)
        if q.relevance:
            # Most relevant first unless ascending; the id breaks ties in the same direction.
            ahead = " DESC" if q.ascending else ""
            plan.order = f"{dialect.relevance}{ahead}, m.id{direction}"
            plan.order_args = [q.content] * dialect.relevance_args
    if q.author_ids:
        plan.require(dialect.in_ids.format(column="m.author_id"), dialect.ids_param(q.author_ids))
    if q.mentions:
        plan.require(dialect.mentions_any, dialect.ids_param(q.mentions))
    kinds = {"link": dialect.link, "embed": "m.embeds IS NOT NULL"}
    if q.has:
        plan.require("(" + " OR ".join(kinds[k] for k in sorted(q.has)) + ")")
    for kind in sorted(q.has_not):
        plan.require(f"NOT {kinds[kind]}")
    if q.min_id is not None:
        plan.require("m.id > ?", q.min_id)
    if q.max_id is not None:
        plan.require("m.id < ?", q.max_id)
    if q.pinned is not None:
        plan.require("m.pinned = ?", q.pinned)
    if q.mention_everyone is not None:
        plan.require("m.mention_everyone = ?", q.mention_everyone)
    return plan


class SqlSearchStore:
    """The ``search`` method of :class:`core.store.base.MessageStore` over ``self._db``.

    Mixed into :class:`core.store.sql.SqlMessageStore`, which reads the page's messages.
    """

    _db: Executor

    async def _messages_by_ids(self, ids: Sequence[int]) -> list[Message]:
        raise NotImplementedError  # SqlMessageStore's

    async def search(self, query: SearchQuery) -> SearchPage:
        if not query.channel_ids:
            return SearchPage(0, ())
        if query.content and not words(query.content):
            # Nothing to look for (punctuation alone): core.search drops such a content.
            raise ValueError("content holds no word")
        plan = _plan(_DIALECTS[self._db.dialect], query)
        where = " AND ".join(plan.where)
        timeout = query.timeout_ms
        counted = await self._db.fetch_bounded(
            timeout, f"SELECT COUNT(*) FROM {plan.source} WHERE {where}", *plan.args)
        total = int(counted[0][0])
        if total <= query.offset:
            return SearchPage(total, ())
        rows = await self._db.fetch_bounded(
            timeout,
            f"SELECT m.id FROM {plan.source} WHERE {where} ORDER BY {plan.order}"
            " LIMIT ? OFFSET ?",
            *plan.args, *plan.order_args, query.limit, query.offset,
        )
        ids = [r[0] for r in rows]
        found = {m.id: m for m in await self._messages_by_ids(ids)}
        return SearchPage(total, tuple(found[i] for i in ids if i in found))
