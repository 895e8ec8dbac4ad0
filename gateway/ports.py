"""One instance per port: refuse to start on a port another process listens on.

Every worker binds its ports with SO_REUSEPORT: the kernel spreads the connections over the
workers, and a SIGHUP replacement binds its slot's ports while the old worker still drains.
But the kernel admits into such a group any socket of the same user that sets SO_REUSEPORT,
so a second ``discord-arch serve`` (another data directory, the same default ports) would
start without a word and take half the connections, into its own database.

Hence :func:`check_ports`, called once by the CLI before anything opens or binds: it binds
each port of the instance (``Config.listen_ports``: HTTP, gateway, the workers' own ports and
ops ports) WITHOUT SO_REUSEPORT and closes it at once. That bind fails when anything listens
there, another instance or another program. SO_REUSEADDR is set, as asyncio sets it on the
real sockets, so the connections of a previous run still in TIME_WAIT do not count.

Only at start: the supervisor's restarts and rolls bind beside the instance's own workers and
must not be refused. What it cannot close is a race: two instances started at the same instant
may both pass before either binds.
"""

from __future__ import annotations

import contextlib
import errno
import socket

from core.config import Config

__all__ = ["PortUnavailable", "check_ports"]


class PortUnavailable(Exception):
    """A port of the instance cannot be listened on; the message is the one line to print."""


def check_ports(config: Config) -> None:
    """Raise :class:`PortUnavailable` for the first port of ``config`` that is taken.

    Raises:
        PortUnavailable: ``port N is in use by another process``, or why it cannot be bound
            (an address that is not this machine's, a privileged port, a host that does not
            resolve).
    """
    for what, host, port in config.listen_ports():
        _probe(what, host, port)


def _probe(what: str, host: str, port: int) -> None:
    """Bind ``host:port`` on every address it resolves to, as the servers will, then close."""
    try:
        # "" is every interface for asyncio's create_server (aiohttp, picows): the same here.
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise PortUnavailable(f"cannot listen on {host}:{port}: {e.strerror}") from None
    with contextlib.ExitStack() as held:  # held until all are bound: "" is IPv4 and IPv6
        for family, kind, proto, _, address in dict.fromkeys(
                (f, k, p, "", a) for f, k, p, _, a in infos):
            sock = held.enter_context(socket.socket(family, kind, proto))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio does: IPv6 apart from IPv4
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as e:
                raise PortUnavailable(_reason(what, host, port, e)) from None


def _reason(what: str, host: str, port: int, error: OSError) -> str:
    if error.errno != errno.EADDRINUSE:
        return f"cannot listen on {host or '*'}:{port} ({what}): {error.strerror or error}"
    line = f"port {port} is in use by another process"
    if what in ("http_port", "gateway_port"):
        return line  # a port the user gave (or its well-known default): the number says which
    # A port the user may not know the instance listens on: name the setting that moves it.
    if what.startswith("metrics_port"):
        return f"{line}: {what}; move it with --metrics-port, or 0 turns it off"
    return f"{line}: {what}"
