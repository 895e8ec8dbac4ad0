"""Config: precedence of sources, validation, picklability."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from core.config import Config, ConfigError


def test_defaults_are_the_documented_ones() -> None:
    c = Config.load({})
    assert (c.host, c.http_port, c.gateway_port, c.workers) == ("127.0.0.1", 8080, 8081, 1)
    assert c.gateway_url == "ws://127.0.0.1:8081"
    assert c.http_url == "http://127.0.0.1:8080"


def test_env_overrides_file_and_flags_override_env(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('http_port = 7000\ngateway_port = 7001\ndata_dir = "/srv"\n')
    env = {"DISCORD_ARCH_HTTP_PORT": "7100", "DISCORD_ARCH_CONFIG": str(toml)}
    c = Config.load(env, {"gateway_port": 7201, "host": None})
    assert (c.http_port, c.gateway_port, c.data_dir, c.host) == (7100, 7201, "/srv", "127.0.0.1")


def test_bad_values_raise_one_line_config_errors(tmp_path: Path) -> None:
    cases = [
        ({"DISCORD_ARCH_HTTP_PORT": "http"}, "http_port"),
        ({"DISCORD_ARCH_HTTP_PORT": "70000"}, "http_port"),
        ({"DISCORD_ARCH_POSTGRES_URL": "mysql://x"}, "postgres_url"),
        ({"DISCORD_ARCH_REDIS_URL": "redis://host:notaport"}, "redis_url"),
        ({"DISCORD_ARCH_WORKERS": "2"}, "redis"),
        ({"DISCORD_ARCH_MONGO_URL": "http://x"}, "mongo_url"),
        ({"DISCORD_ARCH_GATEWAY_SEND_BUFFER_BYTES": "1000"}, "gateway_send_buffer_bytes"),
        ({"DISCORD_ARCH_GATEWAY_REPLAY_MAX_EVENTS": "0"}, "gateway_replay_max_events"),
        ({"DISCORD_ARCH_GATEWAY_RESUME_TIMEOUT_S": "-1"}, "gateway_resume_timeout_s"),
    ]
    for env, needle in cases:
        with pytest.raises(ConfigError) as info:
            Config.load(env)
        assert needle in str(info.value) and "\n" not in str(info.value), env


def test_unknown_file_key_is_rejected(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("http_prot = 1\n")
    with pytest.raises(ConfigError, match="http_prot"):
        Config.load({}, toml_path=str(toml))


def test_workers_with_redis_is_accepted_and_config_pickles() -> None:
    c = Config.load({"DISCORD_ARCH_WORKERS": "2", "DISCORD_ARCH_REDIS_URL": "redis://h:6379/0"})
    assert pickle.loads(pickle.dumps(c)) == c


def test_config_is_frozen() -> None:
    c = Config()
    with pytest.raises(AttributeError):
        c.http_port = 1  # type: ignore[misc]


def test_gateway_session_limits_come_from_the_config() -> None:
    from gateway.limits import SessionLimits

    c = Config.load({"DISCORD_ARCH_GATEWAY_REPLAY_MAX_EVENTS": "50",
                     "DISCORD_ARCH_GATEWAY_REPLAY_MAX_BYTES": "65536",
                     "DISCORD_ARCH_GATEWAY_RESUME_TIMEOUT_S": "30"})
    limits = SessionLimits.from_config(c)
    assert (limits.replay_max_events, limits.replay_max_bytes, limits.resume_timeout_s) == (
        50, 65536, 30.0)
    assert SessionLimits.from_config(Config()) == SessionLimits()  # the same defaults
