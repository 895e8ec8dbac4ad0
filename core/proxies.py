"""Trusted proxies: whose ``X-Forwarded-For`` / ``Forwarded`` headers are believed, and the
client address behind them.

Behind a reverse proxy every connection comes from the proxy, so the peer address says nothing
of the client: REST rate limits of anonymous requests (``ip:ADDRESS``) would put every client in
one bucket and the logs would show the proxy. The proxy names the client in a header, but so
can anyone: a header is believed only when the peer itself is one of the ``trusted_proxies``
(``TrustedProxies.client``):

1. The peer is not a trusted proxy (or none is configured): the client is the peer, whatever
   the headers say.
2. It is: the header's chain (client first, each proxy appending the address it received the
   request from, RFC 7239 §4 and the de facto ``X-Forwarded-For``) is read from the right, and
   the first address that is not a trusted proxy is the client. Entries left of it were written
   by the client or by proxies we do not know, and are never read: a forged ``X-Forwarded-For:
   1.2.3.4`` only adds an entry the walk never reaches. If every address is a trusted proxy,
   the leftmost is the client.
3. Anything doubtful gives the peer's own address: an entry that must be read and is not an
   address (``unknown``, an obfuscated ``_name``, garbage), a ``Forwarded`` header that does
   not parse, or both headers at once (the proxy wrote one of them and the client may have
   forged the other: which one cannot be told).

Several lines of one header are one list (RFC 9110 §5.3), in order. Addresses may carry a port
(``192.0.2.1:4711``, ``[2001:db8::1]:4711``), which is dropped; an IPv4-mapped IPv6 address is
its IPv4 address.

Why not aiohttp-remotes (aio-libs' middlewares for this; 1.4.0 works with aiohttp 3.14): its
``XForwardedFiltered`` never checks the peer, so a client connecting directly with a forged
header is believed; its ``XForwardedStrict`` and ``ForwardedStrict`` require an exact hop count
and answer 400 to anything else, a request without the header included; two
``X-Forwarded-For`` lines (HAProxy's ``option forwardfor`` adds its own after the client's)
are a 400 and an ERROR log line; and it is middleware over aiohttp's ``web.Request``, while the
gateway's upgrade request is picows'. So the parsing here is the standard library's:
:mod:`ipaddress` for every address and network, ``urllib.request.parse_http_list`` (the list
splitter ``requests`` uses) for the comma-separated lists, and RFC 7239's grammar for the
``Forwarded`` pairs, matched whole or not at all (the same grammar aiohttp's
``request.forwarded`` parses).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Protocol
from urllib.request import parse_http_list

__all__ = ["HeaderLines", "TrustedProxies"]

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# RFC 7230 token and quoted-string; RFC 7239 §4: a forwarded-element is forwarded-pairs
# separated by ";" (each may be empty), a pair is token "=" (token / quoted-string).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t !-~\x80-\xff])*"'
_PAIR = rf"\s*({_TOKEN})=({_TOKEN}|{_QUOTED})\s*"
_PAIR_RE = re.compile(_PAIR)
_ELEMENT_RE = re.compile(rf"(?:{_PAIR})?(?:;(?:{_PAIR})?)*")
_QUOTED_PAIR_RE = re.compile(r"\\(.)")
# A node with a port: ``[v6]:port``, ``[v6]``, ``v4:port``.
_BRACKETED_RE = re.compile(r"\[([^\]]+)\](?::\d{1,5})?")
_V4_PORT_RE = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}")


class HeaderLines(Protocol):
    """Request headers as aiohttp and picows both have them (``multidict``)."""

    def getall(self, key: str, default: list[str], /) -> list[str]:
        """Every line of header ``key``, in order; ``default`` when there is none."""
        ...


class _Malformed(ValueError):
    """A header that cannot be read with certainty: the peer's address is used."""


class TrustedProxies:
    """The networks of the proxies whose forwarding headers are believed.

    Args:
        networks: the trusted networks (a single address is a /32 or /128).
    """

    __slots__ = ("_networks",)

    def __init__(self, networks: Sequence[Network] = ()) -> None:
        self._networks = tuple(networks)

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """``trusted_proxies``: comma-separated addresses and CIDRs (``10.0.0.0/8, ::1``).

        Raises:
            ValueError: an item that is neither (one line, naming it).
        """
        networks = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (CIDR)") from None
        return cls(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str) -> bool:
        """Whether ``address`` (an IP address, no port) is a trusted proxy."""
        try:
            return self._trusted(_address(address))
        except ValueError:
            return False

    def client(self, peer: str, headers: HeaderLines) -> str:
        """The client's address for a connection from ``peer`` carrying ``headers``.

        Args:
            peer: the connection's peer IP address (no port), as the socket gives it.
            headers: the request's headers (the websocket upgrade's, for the gateway).

        Returns:
            The client's IP address: ``peer`` itself unless it is a trusted proxy whose
            headers name the client with certainty (see the module's docstring).
        """
        try:
            peer_address = _address(peer)
        except ValueError:  # not an IP peer (a Unix socket): nothing to trust
            return peer
        if not self._trusted(peer_address):
            return peer
        xff = headers.getall("X-Forwarded-For", [])
        forwarded = headers.getall("Forwarded", [])
        if bool(xff) == bool(forwarded):  # neither, or both: which did our proxy write?
            return peer
        try:
            chain = _forwarded_for(forwarded) if forwarded else _list(xff)
            return str(self._walk(chain))
        except _Malformed:
            return peer

    def _walk(self, chain: list[str]) -> Address:
        """From the right: the first address that is not a trusted proxy, else the leftmost."""
        if not chain:
            raise _Malformed("no address")
        for node in reversed(chain):
            try:
                address = _node_address(node)
            except ValueError:
                raise _Malformed(node) from None
            if not self._trusted(address):
                return address
        return address

    def _trusted(self, address: Address) -> bool:
        return any(address in network for network in self._networks)


def _address(text: str) -> Address:
    address = ipaddress.ip_address(text)
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


def _node_address(node: str) -> Address:
    """An address as a forwarding header writes it: bare, or with a port, IPv6 in brackets."""
    node = node.strip()
    bracketed = _BRACKETED_RE.fullmatch(node)
    if bracketed:
        return _address(bracketed[1])
    v4_port = _V4_PORT_RE.fullmatch(node)
    return _address(v4_port[1] if v4_port else node)


def _list(lines: list[str]) -> list[str]:
    """The items of a comma-separated header given in one or several lines; empty items are
    ignored, as RFC 9110 §5.6.1 asks of a recipient."""
    return [item for item in (i.strip() for i in parse_http_list(",".join(lines))) if item]


def _forwarded_for(lines: list[str]) -> list[str]:
    """The ``for`` of each element of a ``Forwarded`` header (RFC 7239), client first.

    Raises:
        _Malformed: an element does not parse, or has no ``for`` or two.
    """
    out = []
    for element in _list(lines):
        if not _ELEMENT_RE.fullmatch(element):
            raise _Malformed(element)
        found = [value for name, value in _PAIR_RE.findall(element) if name.lower() == "for"]
        if len(found) != 1:  # a hop without its "for" leaves the chain unknown
            raise _Malformed(element)
        value = found[0]
        if value.startswith('"'):
            value = _QUOTED_PAIR_RE.sub(r"\1", value[1:-1])
        out.append(value)
    return out
