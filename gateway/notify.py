"""A tiny ``sd_notify(3)`` client: tell systemd (``Type=notify``) we are ready or stopping.

The protocol is one datagram of newline-separated ``KEY=VALUE`` assignments sent to the
AF_UNIX datagram socket named by ``$NOTIFY_SOCKET``; a name starting with ``@`` is in the
abstract namespace (the ``@`` becomes a NUL byte). Without ``$NOTIFY_SOCKET`` (not started by
systemd, or ``Type=simple``) every call does nothing and returns False, so callers never
check. No dependency on libsystemd.

Who sends what (``deploy/discord-arch.service`` has ``NotifyAccess=main``): the main process.
With one worker and no supervisor, the worker itself: ``READY=1`` once its ports listen and
its stores answered at start, ``STOPPING=1`` when its drain begins. Under the supervisor, the
supervisor: ``READY=1`` once every worker reported ready, ``STOPPING=1`` on SIGTERM; its
workers are given no :class:`Notifier`.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping

__all__ = ["NOTIFY_SOCKET_ENV", "Notifier"]

logger = logging.getLogger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"


class Notifier:
    """Sends state changes to the service manager.

    Args:
        address: the ``$NOTIFY_SOCKET`` value (a path, or ``@name`` for the abstract
            namespace); None or empty: a notifier that sends nothing.
    """

    __slots__ = ("_address",)

    def __init__(self, address: str | None) -> None:
        self._address: str | None = None
        if address and address[0] in "/@":  # vsock:… addresses are not supported
            self._address = "\0" + address[1:] if address[0] == "@" else address

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Notifier:
        """The notifier of ``environ["NOTIFY_SOCKET"]`` (the environment is passed in)."""
        return cls(environ.get(NOTIFY_SOCKET_ENV))

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to send to."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: startup is finished (ports listen, stores answered)."""
        return self.send("READY=1", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: a graceful stop began (the drain)."""
        return self.send("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        """``STATUS=…``: one line shown by ``systemctl status``."""
        return self.send(*_status(text))

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments in one datagram; returns whether it was sent.

        A failure is logged, never raised: the service manager is told nothing more, and
        (``Type=notify``) its start timeout reports it.
        """
        if self._address is None or not assignments:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(assignments).encode())
        except OSError as e:
            logger.warning("sd_notify %s failed: %s", assignments[0], e)
            return False
        return True


def _status(text: str | None) -> tuple[str, ...]:
    # STATUS is one line: a newline would start a new assignment.
    return () if text is None else ("STATUS=" + " ".join(text.splitlines()),)
