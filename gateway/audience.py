"""Who receives a fanned-out event: the hub's audience of an event and its content variants.

An :class:`Audience` is the filtered, grouped recipient list the hub's delivery loop walks;
the hub memoizes one per (channel, intent) in the guild's cache until something it depends on
changes. :class:`ContentGate` decides, per message event, which bots get the redacted variant
(Discord's "Message Content Intent"). Both are pure: no I/O, no event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from core.events import Event
from core.models import User
from core.shard import on_shard
from gateway.codec import DeflateKey, Dispatch, Encoding
from gateway.protocol import Intent
from gateway.session import Session

__all__ = ["MESSAGE_EVENTS", "Audience", "AudienceBuilder", "Conn", "ContentGate", "guild_of"]

_CONTENT = int(Intent.MESSAGE_CONTENT)
# The events whose content a bot without MESSAGE_CONTENT does not get.
MESSAGE_EVENTS = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE"})
# Fields a bot without MESSAGE_CONTENT does not get ("Message Content Intent").
_REDACTED = {"content": "", "embeds": [], "attachments": [], "components": []}


class Conn(Protocol):
    """What the hub needs of a connection (``gateway.listener.Connection``)."""

    session: Session
    user: User | None
    guilds: dict[int, None]
    connected: bool

    def flush(self) -> None:
        """Write the session's pending frames (and its close, if it asked for one)."""


# A recipient as the delivery loop takes it: the connection and its session's push.
_Member = tuple[Conn, Callable[[Any], bool]]


class Audience:
    """The recipients of an event, ready for the delivery loop.

    Sessions without the event's intent or on another shard are left out. The rest are
    grouped by encoding, or :class:`~gateway.codec.DeflateKey` for SharedZlib streams (one
    ``Dispatch.parts`` per group) as ``(conn, session.pusher)``, so
    the loop makes no attribute lookup per recipient; bots without MESSAGE_CONTENT are kept
    apart (``gated``), as their variant of a message depends on the message.
    """

    __slots__ = ("gated", "groups")

    def __init__(self, conns: Iterable[Conn], need: int, guild_id: int | None) -> None:
        builder = AudienceBuilder(need, guild_id)
        builder.add(conns)
        self.groups, self.gated = builder.parts()


class AudienceBuilder:
    """An :class:`Audience` made a part at a time: :meth:`add` the candidates in chunks, then
    :meth:`done`. The hub builds a big guild's audience so, in slices, when its memo was
    dropped (a member came or went): over 10,000 connections it is 10-20 ms of one core."""

    __slots__ = ("_gated", "_groups", "_guild_id", "_need")

    def __init__(self, need: int, guild_id: int | None) -> None:
        self._need, self._guild_id = need, guild_id
        self._groups: dict[Encoding | DeflateKey, list[_Member]] = {}
        self._gated: list[Conn] = []

    def add(self, conns: Iterable[Conn]) -> None:
        need, guild_id, groups, gated = self._need, self._guild_id, self._groups, self._gated
        for conn in conns:
            session = conn.session
            # Without an Identify a session has no sequence either (never identified, or
            # reset by op 9): it would drop the dispatch anyway.
            ident = session.identify
            if ident is None or (need and not ident.intents & need) or (
                    ident.shard is not None and not on_shard(ident.shard, guild_id)):
                continue
            user = conn.user
            if user is not None and user.bot and not ident.intents & _CONTENT:
                gated.append(conn)
            else:
                groups.setdefault(session.fanout_key, []).append((conn, session.pusher))

    def parts(self) -> tuple[tuple[tuple[Any, tuple[_Member, ...]], ...], tuple[Conn, ...]]:
        """``(groups, gated)`` as :class:`Audience` holds them."""
        return (tuple((encoding, tuple(members)) for encoding, members in self._groups.items()),
                tuple(self._gated))

    def done(self) -> Audience:
        audience = Audience((), 0, None)
        audience.groups, audience.gated = self.parts()
        return audience


def guild_of(event: Event) -> int | None:
    """The guild an event concerns; GUILD_CREATE/DELETE name it in ``d.id`` (join, leave)."""
    if event.guild_id is not None:
        return event.guild_id
    if event.name in ("GUILD_CREATE", "GUILD_DELETE"):
        return int(event.data["id"])
    return None


class ContentGate:
    """MESSAGE_CONTENT redaction for one message event: who gets the redacted variant.

    Bots without the intent get empty content except for their own messages and messages
    that mention them (Discord's "Message Content Intent"); users always get everything.
    """

    __slots__ = ("_author", "_event", "_mentions", "_redacted")

    def __init__(self, event: Event) -> None:
        self._event = event
        author = event.data.get("author")
        self._author = int(author["id"]) if isinstance(author, dict) else None
        self._mentions = {int(u["id"]) for u in event.data.get("mentions", ())}
        self._redacted: Dispatch | None = None

    def variant(self, conn: Conn, plain: Dispatch) -> Dispatch:
        user = conn.user
        if user is None or not user.bot or conn.session.intents & _CONTENT:
            return plain
        if user.id == self._author or user.id in self._mentions:
            return plain
        if self._redacted is None:
            data: dict[str, Any] = {**self._event.data, **_REDACTED}
            data.pop("poll", None)
            self._redacted = Dispatch(self._event.name, data)
        return self._redacted
