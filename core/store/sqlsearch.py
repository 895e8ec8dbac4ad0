"""Message search in SQL: SQLite's FTS5 and PostgreSQL's full-text search, the search half of
``SqlMessageStore``.

Each engine indexes the content itself (migration 8, ``core.store.migrations``), kept current by
the statements that write messages: on SQLite an external-content FTS5 table fed by triggers,
so the router's write batch updates it in its own transaction; on PostgreSQL a GIN index on
``to_tsvector('simple', content)``, which every insert, edit and delete maintains.

Every condition of the query is in the statements that count and page, and nothing is filtered
afterwards, so a page is never short because of a filter and the count covers exactly what can
be paged through. With words, one statement: the index's matches are collected once (a
materialized CTE), then counted and paged (``ORDER BY ... LIMIT ... OFFSET``) from there.
Without, two: ``COUNT(*)``, then the page in id order, which the ``(channel_id, id)`` index
serves without reading every match. Then the page's messages, by id. The channels (those the searcher may
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
    relevance: str  # a match's relevance key, lower first (parameters: ``relevance_args``)
    relevance_args: int  # how many times the content is passed to ``relevance``

    def ids_param(self, ids: Sequence[int]) -> Any:
        return orjson.dumps(list(ids)).decode() if self is _SQLITE else list(ids)


_SQLITE = _Dialect(
    in_ids="{column} IN (SELECT value FROM json_each(?))",
    mentions_any="EXISTS (SELECT 1 FROM json_each(m.mentions) AS e"
                 " WHERE e.value IN (SELECT value FROM json_each(?)))",
    # instr first: a byte search that rejects most messages before LIKE folds case.
    link="(instr(m.content, '://') > 0"
         " AND (m.content LIKE '%http://%' OR m.content LIKE '%https://%'))",
    content_source="messages_fts JOIN messages AS m ON m.id = messages_fts.rowid",
    content_match="messages_fts MATCH ?",
    relevance="messages_fts.rank",  # BM25, lower is better
    relevance_args=0,
)
_POSTGRES = _Dialect(
    in_ids="{column} = ANY(?::bigint[])",
    mentions_any="EXISTS (SELECT 1 FROM json_array_elements_text(m.mentions::json) AS e(v)"
                 " WHERE e.v::bigint = ANY(?::bigint[]))",
    link="(strpos(m.content, '://') > 0"
         " AND (m.content ILIKE '%http://%' OR m.content ILIKE '%https://%'))",
    content_source="messages AS m",
    # The very expression of the GIN index (migration 8), so that the index serves it.
    content_match="to_tsvector('simple', m.content) @@ plainto_tsquery('simple', ?)",
    relevance="-ts_rank(to_tsvector('simple', m.content), plainto_tsquery('simple', ?))",
    relevance_args=1,
)
_DIALECTS = {"sqlite": _SQLITE, "postgres": _POSTGRES}


@dataclass(slots=True)
class _Plan:
    """A search's FROM and WHERE with their parameters, and its relevance key with its own."""

    source: str = "messages AS m"
    where: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)
    score: str = "0"  # lower first; 0 when not ordered by relevance
    score_args: list[Any] = field(default_factory=list)

    def require(self, condition: str, *args: Any) -> None:
        self.where.append(condition)
        self.args.extend(args)


def _plan(dialect: _Dialect, q: SearchQuery) -> _Plan:
    plan = _Plan()
    plan.require(dialect.in_ids.format(column="m.channel_id"), dialect.ids_param(q.channel_ids))
    if q.content:
        plan.source = dialect.content_source
        plan.require(dialect.content_match,
                     fts5_query(q.content) if dialect is _SQLITE else q.content)
        if q.relevance:
            plan.score = dialect.relevance
            plan.score_args = [q.content] * dialect.relevance_args
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


def _order(q: SearchQuery, score: str, message_id: str) -> str:
    """ORDER BY: the time, or relevance then the time; both reversed by ``ascending``."""
    by_id = message_id if q.ascending else f"{message_id} DESC"
    if not (q.content and q.relevance):
        return by_id
    return f"{score} DESC, {by_id}" if q.ascending else f"{score}, {by_id}"


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
        if query.content:
            total, ids = await self._by_words(query, plan)
        else:
            total, ids = await self._by_filters(query, plan)
        found = {m.id: m for m in await self._messages_by_ids(ids)}
        return SearchPage(total, tuple(found[i] for i in ids if i in found))

    async def _by_words(self, q: SearchQuery, plan: _Plan) -> tuple[int, list[int]]:
        """One statement: the engine's matches once, counted and paged.

        The matches come from the full-text index whatever the page (a CTE, materialized),
        and their count and page are read from them: counting and then paging in a second
        statement would look them up twice, and PostgreSQL, left to plan the page alone,
        may walk the primary key backwards computing ``to_tsvector`` row by row.
        """
        where = " AND ".join(plan.where)
        rows = await self._db.fetch_bounded(
            q.timeout_ms,
            f"WITH hits AS MATERIALIZED (SELECT m.id AS id, {plan.score} AS score"
            f" FROM {plan.source} WHERE {where})"
            " SELECT (SELECT COUNT(*) FROM hits), page.id FROM (SELECT 1 AS one) AS one"
            " LEFT JOIN (SELECT id, score FROM hits"
            f" ORDER BY {_order(q, 'score', 'id')} LIMIT ? OFFSET ?) AS page ON TRUE"
            f" ORDER BY {_order(q, 'page.score', 'page.id')}",
            *plan.score_args, *plan.args, q.limit, q.offset,
        )
        return int(rows[0][0]), [r[1] for r in rows if r[1] is not None]

    async def _by_filters(self, q: SearchQuery, plan: _Plan) -> tuple[int, list[int]]:
        """Two statements: the count, then the page in id order (the (channel_id, id) index
        serves it without reading every match)."""
        where = " AND ".join(plan.where)
        counted = await self._db.fetch_bounded(
            q.timeout_ms, f"SELECT COUNT(*) FROM {plan.source} WHERE {where}", *plan.args)
        total = int(counted[0][0])
        if total <= q.offset:
            return total, []
        rows = await self._db.fetch_bounded(
            q.timeout_ms,
            f"SELECT m.id FROM {plan.source} WHERE {where} ORDER BY {_order(q, '', 'm.id')}"
            " LIMIT ? OFFSET ?", *plan.args, q.limit, q.offset,
        )
        return total, [r[0] for r in rows]
