"""Config of the workers' own gateway ports (``worker_port_base``, ``gateway_url_at``)."""

from __future__ import annotations

import pytest

from core.config import Config, ConfigError

REDIS = "redis://127.0.0.1:6379/0"


def test_worker_ports_follow_the_gateway_port_by_default() -> None:
    config = Config(gateway_port=9000, workers=3, redis_url=REDIS)
    assert [config.worker_port(i) for i in range(3)] == [9001, 9002, 9003]


def test_worker_port_base_moves_them() -> None:
    config = Config(worker_port_base=7000, workers=2, redis_url=REDIS)
    assert [config.worker_port(i) for i in range(2)] == [7000, 7001]


def test_worker_url_is_the_gateway_url_with_the_worker_port() -> None:
    assert Config(host="0.0.0.0").gateway_url_at(9001) == "ws://127.0.0.1:9001"
    assert Config(host="::1").gateway_url_at(9001) == "ws://[::1]:9001"
    public = Config(public_gateway_url="wss://gw1.example.com/")
    assert public.gateway_url_at(9001) == "wss://gw1.example.com:9001/"


def test_worker_ports_must_fit() -> None:
    with pytest.raises(ConfigError, match="worker_port_base"):
        Config(worker_port_base=65535, workers=2, redis_url=REDIS)
    with pytest.raises(ConfigError, match="worker_port_base"):
        Config(worker_port_base=-1)
    Config(gateway_port=65535)  # one worker has no port of its own


def test_several_workers_need_fixed_ports() -> None:
    with pytest.raises(ConfigError, match="fixed"):
        Config(gateway_port=0, workers=2, redis_url=REDIS)
