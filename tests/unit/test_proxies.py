"""core.proxies: the client's address behind trusted proxies, and nothing believed otherwise."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from core.config import Config, ConfigError
from core.proxies import TrustedProxies

PROXIES = TrustedProxies.parse("10.0.0.0/8, 192.168.1.5, fd00::/8")
PROXY = "10.0.0.1"
CLIENT = "203.0.113.7"


def _headers(*lines: tuple[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(list(lines))


def _xff(*values: str) -> CIMultiDict[str]:
    return _headers(*(("X-Forwarded-For", v) for v in values))


def _fwd(*values: str) -> CIMultiDict[str]:
    return _headers(*(("Forwarded", v) for v in values))


# -- from a trusted proxy ------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "client"), [
    (_xff(CLIENT), CLIENT),
    # The client wrote an entry of its own: the walk stops at the first untrusted from the right.
    (_xff(f"6.6.6.6, {CLIENT}"), CLIENT),
    # Several hops: our proxies appended theirs, each a trusted address.
    (_xff(f"6.6.6.6, {CLIENT}, 10.2.3.4, 192.168.1.5"), CLIENT),
    # Several lines are one list, in order (HAProxy adds its own line after the client's).
    (_xff("6.6.6.6", f"{CLIENT}, 10.2.3.4"), CLIENT),
    # Garbage left of the client is never read.
    (_xff(f"garbage, unknown, {CLIENT}"), CLIENT),
    # Every hop a trusted proxy: the leftmost is the client (an internal caller).
    (_xff("10.9.9.9, 10.2.3.4"), "10.9.9.9"),
    # Ports and IPv6 as proxies write them.
    (_xff(f"{CLIENT}:51234"), CLIENT),
    (_xff("[2001:db8::1]:443"), "2001:db8::1"),
    (_xff("2001:db8::1"), "2001:db8::1"),
    (_xff("2001:db8::1, fd00::2"), "2001:db8::1"),
    # RFC 7239.
    (_fwd(f"for={CLIENT}"), CLIENT),
    (_fwd(f'for=6.6.6.6, for={CLIENT};proto=https;by=10.0.0.1'), CLIENT),
    (_fwd('for="[2001:db8:cafe::17]:4711"'), "2001:db8:cafe::17"),
    (_fwd(f'For="{CLIENT}:80", for=10.3.3.3'), CLIENT),
    (_fwd("for=6.6.6.6", f"for={CLIENT}"), CLIENT),
    # Empty list elements are ignored (RFC 9110 §5.6.1).
    (_xff(f"{CLIENT},"), CLIENT),
    (_xff(f"6.6.6.6,, {CLIENT}, "), CLIENT),
    (_fwd(f"for={CLIENT}, "), CLIENT),
    # A quoted value holding what looks like another pair is one value.
    (_fwd(f'for={CLIENT};host="x;for=6.6.6.6"'), CLIENT),
])
def test_a_trusted_proxy_names_the_client(headers: CIMultiDict[str], client: str) -> None:
    assert PROXIES.client(PROXY, headers) == client


@pytest.mark.parametrize("peer", ["192.168.1.5", "fd00::1", "::ffff:10.0.0.1"])
def test_every_form_of_a_trusted_peer_is_recognised(peer: str) -> None:
    assert PROXIES.client(peer, _xff(CLIENT)) == CLIENT


# -- from anywhere else: the peer -----------------------------------------------------------------

@pytest.mark.parametrize("peer", ["8.8.8.8", "192.168.1.6", "11.0.0.1", "2001:db8::9"])
def test_an_untrusted_peer_is_the_client_whatever_it_sends(peer: str) -> None:
    for headers in (_xff(CLIENT), _fwd(f"for={CLIENT}"), _xff("10.0.0.1")):
        assert PROXIES.client(peer, headers) == peer


def test_no_trusted_proxy_believes_nobody() -> None:
    none = TrustedProxies.parse("")
    assert not none
    assert none.client(PROXY, _xff(CLIENT)) == PROXY


# -- doubtful headers: the peer ---------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    _headers(),  # the proxy itself (a health check), or a proxy that adds nothing
    _xff(f"{CLIENT}, garbage"),  # the entry our proxy appended is not an address
    _xff(f"{CLIENT}, unknown"),
    _xff(""),
    _xff("1.2.3.4.5"),
    _fwd("for=unknown"),  # RFC 7239: the proxy does not know the client
    _fwd("for=_hidden"),  # an obfuscated node
    _fwd(f"for={CLIENT} garbage"),
    _fwd(f"for={CLIENT};for=6.6.6.6"),  # two "for" in one hop
    _fwd(f"proto=https, for={CLIENT}"),  # a hop without "for": the chain is unknown
    _fwd('for="1.2.3.4'),  # an unterminated quote
    # Both headers: our proxy wrote one and the client may have forged the other.
    _headers(("X-Forwarded-For", CLIENT), ("Forwarded", "for=6.6.6.6")),
])
def test_a_doubtful_header_from_a_trusted_proxy_gives_the_peer(
    headers: CIMultiDict[str],
) -> None:
    assert PROXIES.client(PROXY, headers) == PROXY


def test_a_peer_that_is_no_ip_address_is_kept_as_is() -> None:
    assert PROXIES.client("/run/discord-arch.sock", _xff(CLIENT)) == "/run/discord-arch.sock"


# -- the setting ---------------------------------------------------------------------------------

def test_the_setting_takes_addresses_and_networks() -> None:
    proxies = TrustedProxies.parse(" 10.0.0.0/8 ,, 127.0.0.1, ::1, 192.168.0.1/16 ")
    assert all(proxies.trusts(a) for a in ("10.255.0.1", "127.0.0.1", "::1", "192.168.7.7"))
    assert not any(proxies.trusts(a) for a in ("127.0.0.2", "11.0.0.1", "not an address"))


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "proxy.example.com", "10.0.0.1:80", "*"])
def test_config_refuses_what_is_no_address_or_network(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"^trusted_proxies: .* is not an IP address or netw"):
        Config(trusted_proxies=f"10.0.0.0/8, {bad}")
    assert Config.load({"DISCORD_ARCH_TRUSTED_PROXIES": "10.0.0.0/8"}).trusted_proxies
