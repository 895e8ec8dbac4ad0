"""One live host per node id, against a real Redis (core.store.nodeclaim, discord-arch serve).

Short TTLs stand for the 15 s of production, so that a claim lapses within the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core.store.base import StoreUnavailable
from core.store.nodeclaim import NodeClaim, NodeIdInUse, claim_key
from tests.integration.test_cli import CLI, _get_gateway, _quiet_ports, _run

TTL_S = 0.6


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.delete(*(claim_key(n) for n in range(31)))
    yield client
    client.delete(*(claim_key(n) for n in range(31)))
    client.close()


def test_a_second_claim_fails_while_the_first_lives_and_succeeds_once_it_lapsed(
    redis_url: str, r: redis.Redis,
) -> None:
    first = NodeClaim.take(redis_url, 3, ttl_s=TTL_S)
    try:
        time.sleep(3 * TTL_S)  # the keep-alive holds it well past its TTL
        with pytest.raises(NodeIdInUse) as refused:
            NodeClaim.take(redis_url, 3, ttl_s=TTL_S)
        message = str(refused.value)
        assert message.startswith("node id 3 is in use by another host (")
        assert f"{socket.gethostname()} pid {os.getpid()} since " in message
        assert "\n" not in message
        other = NodeClaim.take(redis_url, 4, ttl_s=TTL_S)  # another id is free
        other.release()
    finally:
        first.abandon()  # as if killed: the claim stays until its TTL runs out
    with pytest.raises(NodeIdInUse):
        NodeClaim.take(redis_url, 3, ttl_s=TTL_S)
    deadline = time.monotonic() + TTL_S + 2
    while True:
        try:
            second = NodeClaim.take(redis_url, 3, ttl_s=TTL_S)
            break
        except NodeIdInUse:
            assert time.monotonic() < deadline, "the abandoned claim never lapsed"
            time.sleep(0.05)
    second.release()
    assert r.get(claim_key(3)) is None


def test_release_frees_the_id_at_once(redis_url: str, r: redis.Redis) -> None:
    NodeClaim.take(redis_url, 5).release()
    NodeClaim.take(redis_url, 5).release()
    assert r.get(claim_key(5)) is None


def test_a_lapsed_claim_is_taken_again_and_a_stolen_one_stops_the_holder(
    redis_url: str, r: redis.Redis,
) -> None:
    lost = threading.Event()
    reasons: list[str] = []
    claim = NodeClaim.take(redis_url, 6, ttl_s=TTL_S,
                           on_lost=lambda reason: (reasons.append(reason), lost.set()))
    try:
        ours = r.get(claim_key(6))
        r.delete(claim_key(6))  # as a FLUSHDB or an expiry during a Redis outage would
        deadline = time.monotonic() + 2
        while r.get(claim_key(6)) != ours:
            assert time.monotonic() < deadline, "the keep-alive did not claim it again"
            time.sleep(0.05)
        assert not claim.lost
        r.set(claim_key(6), b"gw9 pid 42 since 2026-01-01T00:00:00Z #cafe")
        assert lost.wait(2), "taking the id was not noticed"
        assert claim.lost
        assert reasons == ["node id 6 was claimed by another host (gw9 pid 42 since "
                           "2026-01-01T00:00:00Z) while this one served"]
    finally:
        claim.release()
    assert r.get(claim_key(6)) == b"gw9 pid 42 since 2026-01-01T00:00:00Z #cafe"  # not ours


def test_redis_down_is_one_line() -> None:
    with pytest.raises(StoreUnavailable, match=r"^Redis unreachable at 127\.0\.0\.1:1: "):
        NodeClaim.take("redis://127.0.0.1:1/0", 0)


def test_serve_refuses_a_node_id_another_live_server_holds(
    tmp_path: Path, redis_url: str, r: redis.Redis,
) -> None:
    ports = _quiet_ports()
    http = int(ports[1])
    first = subprocess.Popen(
        CLI + ["serve", "--node-id", "3", "--redis-url", redis_url,
               "--data-dir", str(tmp_path / "first"), *ports],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.getcwd()},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while _get_gateway(http) is None:
            assert first.poll() is None and time.monotonic() < deadline, "first did not start"
            time.sleep(0.1)
        # Another host's settings but the same node id: refused before anything is opened.
        second = _run(["serve", "--node-id", "3", "--redis-url", redis_url,
                       "--data-dir", str(tmp_path / "second"), *_quiet_ports()], tmp_path)
        assert second.returncode == 2
        assert second.stderr.startswith(
            "discord-arch: error: node id 3 is in use by another host (")
        assert second.stderr.count("\n") == 1, second.stderr
        assert not (tmp_path / "second").exists()
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert r.get(claim_key(3)) is None  # released on a clean stop
