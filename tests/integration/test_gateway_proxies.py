"""The gateway's peer behind a reverse proxy: the client a trusted proxy names in the
websocket upgrade, and the socket's own peer for anyone else (core.proxies).

The test connects from 127.0.0.1, a trusted proxy or not depending on ``trusted_proxies``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from core.config import Config
from tests.integration.gateway_client import TIMEOUT, free_port, running_server


def _config(tmp_path: Path, trusted_proxies: str) -> Config:
    return Config(data_dir=str(tmp_path), http_port=free_port(), gateway_port=free_port(),
                  metrics_port=0, argon2_time_cost=1, argon2_memory_kib=64,
                  trusted_proxies=trusted_proxies)


async def _logged_peers(
    tmp_path: Path, trusted_proxies: str, headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> list[str]:
    """The ``peer`` of the gateway's connect and close lines for one connection."""
    caplog.set_level(logging.INFO, logger="gateway.server")
    async with running_server(_config(tmp_path, trusted_proxies)) as server:
        ws = await asyncio.wait_for(server.http.ws_connect(
            server.gateway_url, params={"v": "10", "encoding": "json"}, headers=headers),
            TIMEOUT)
        hello = await asyncio.wait_for(ws.receive_json(), TIMEOUT)
        assert hello["op"] == 10
        await ws.close()
        for _ in range(int(TIMEOUT / 0.01)):  # the server's side of the close
            if any("gateway close" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.01)
    return [r.peer for r in caplog.records  # type: ignore[attr-defined]
            if r.name == "gateway.server" and hasattr(r, "peer")]


async def test_the_peer_is_the_client_a_trusted_proxy_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    peers = await _logged_peers(tmp_path, "127.0.0.1",
                                {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}, caplog)
    assert peers == ["203.0.113.7", "203.0.113.7"]  # connect, close
    assert any(r.getMessage() == "gateway connect from 203.0.113.7" for r in caplog.records)


@pytest.mark.parametrize("trusted", ["10.0.0.0/8", ""])
async def test_the_peer_is_the_socket_s_own_for_anyone_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, trusted: str,
) -> None:
    peers = await _logged_peers(tmp_path, trusted, {"X-Forwarded-For": "203.0.113.7",
                                                    "Forwarded": "for=203.0.113.7"}, caplog)
    assert len(peers) == 2 and all(p.startswith("127.0.0.1:") for p in peers), peers


async def test_a_doubtful_header_from_a_trusted_proxy_gives_the_proxy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    peers = await _logged_peers(tmp_path, "127.0.0.1", {"X-Forwarded-For": "unknown"}, caplog)
    assert len(peers) == 2 and all(p.startswith("127.0.0.1:") for p in peers), peers
