"""The words of a text as message search sees them, for the backends that split text here.

SQLite's FTS5 splits the stored content itself (unicode61: runs of letters and digits), and
its query is built from these words, each quoted, so no operator of FTS5's query language
(``OR``, ``NEAR``, ``*``, a column filter, a stray quote) ever reaches it from a user.
MongoDB stores them with each message (``core.store.mongosearch``). ``core.search`` uses them
to tell a query with something to look for from one of punctuation alone, which then has no
content condition on any backend. PostgreSQL's parser splits both sides itself.

A word is a run of letters and digits (``str.isalnum``; the underscore separates, as in
unicode61), lower-cased. Accents are kept: ``café`` and ``cafe`` are different words on every
backend, since PostgreSQL's ``simple`` configuration keeps them too.
"""

from __future__ import annotations

import re

__all__ = ["words"]

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The distinct words of ``text``, lower-cased, in the order they first appear."""
    return list(dict.fromkeys(_WORD.findall(text.lower())))
