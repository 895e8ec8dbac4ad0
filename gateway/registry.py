"""The sessions of one worker's gateway: every connected socket, and every session by id.

A session is registered under its id once READY and stays there while DETACHED (its socket
gone, waiting for a RESUME), so a RESUME on another socket of this worker finds it; RESUME
takes the entry over. Owned by :class:`~gateway.server.GatewayServer`; the
:class:`~gateway.handler.CommandHandler` binds and looks up sessions in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.listener import Connection

__all__ = ["Registry"]


class Registry:
    """Connected sockets (``conns``) and READY or DETACHED sessions by id."""

    __slots__ = ("conns", "sessions")

    def __init__(self) -> None:
        self.conns: set[Connection] = set()
        self.sessions: dict[str, Connection] = {}

    def bind(self, conn: Connection) -> None:
        """Register ``conn`` under its session's id (READY, or resumed from another socket)."""
        session_id = conn.session.session_id
        assert session_id is not None
        self.sessions[session_id] = conn

    def find(self, session_id: str) -> Connection | None:
        return self.sessions.get(session_id)

    def unbind(self, conn: Connection) -> None:
        """Forget ``conn``'s session (over), unless a RESUME moved the id to another socket."""
        session_id = conn.session.session_id
        if session_id is not None and self.sessions.get(session_id) is conn:
            del self.sessions[session_id]
