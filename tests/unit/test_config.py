"""Config: precedence of sources, validation, picklability."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Config, ConfigError, parse_bool


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
        ({"DISCORD_ARCH_REDIS_CLUSTER": "true"}, "redis_cluster"),
        ({"DISCORD_ARCH_REDIS_CLUSTER": "yes", "DISCORD_ARCH_REDIS_URL": "unix:///run/r.sock"},
         "redis_cluster"),
        ({"DISCORD_ARCH_REDIS_CLUSTER": "cluster"}, "redis_cluster"),
        ({"DISCORD_ARCH_MONGO_URL": "http://x"}, "mongo_url"),
        ({"DISCORD_ARCH_GATEWAY_SEND_BUFFER_BYTES": "1000"}, "gateway_send_buffer_bytes"),
        ({"DISCORD_ARCH_GATEWAY_REPLAY_MAX_EVENTS": "0"}, "gateway_replay_max_events"),
        ({"DISCORD_ARCH_GATEWAY_RESUME_TIMEOUT_S": "-1"}, "gateway_resume_timeout_s"),
        ({"DISCORD_ARCH_GATEWAY_IDENTIFY_INTERVAL_S": "0"}, "gateway_identify_interval_s"),
        ({"DISCORD_ARCH_GATEWAY_ZLIB_LEVEL": "10"}, "gateway_zlib_level"),
        ({"DISCORD_ARCH_GATEWAY_ZSTD_LEVEL": "23"}, "gateway_zstd_level"),
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


def test_file_keys_may_be_spelled_as_fields_env_vars_or_flags(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('http_port = 7000\nGATEWAY_PORT = 7001\nDISCORD_ARCH_DATA_DIR = "/srv"\n'
                    'log-level = "DEBUG"\n')
    c = Config.load({}, toml_path=str(toml))
    assert (c.http_port, c.gateway_port, c.data_dir, c.log_level) == (7000, 7001, "/srv", "DEBUG")


def test_one_key_in_two_spellings_is_rejected(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("http_port = 7000\nDISCORD_ARCH_HTTP_PORT = 7001\n")
    with pytest.raises(ConfigError, match="given twice"):
        Config.load({}, toml_path=str(toml))


def test_unknown_key_error_suggests_and_lists_the_valid_keys(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("http_prot = 1\n")
    with pytest.raises(ConfigError) as info:
        Config.load({}, toml_path=str(toml))
    message = str(info.value)
    assert "did you mean 'http_port'?" in message and "\n" not in message
    assert "valid keys: host, http_port, gateway_port" in message and "log_format" in message


@pytest.mark.parametrize("raw, expected", [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True), (" on ", True),
    ("false", False), ("False", False), ("0", False), ("no", False), ("OFF", False),
    (True, True), (False, False), (1, True), (0, False),
])
def test_booleans_accept_the_usual_spellings(raw: object, expected: bool) -> None:
    assert parse_bool("flag", raw) is expected


@pytest.mark.parametrize("raw", ["ture", "", "2", "y", "enabled", 2, 1.0, None])
def test_booleans_refuse_anything_else(raw: object) -> None:
    with pytest.raises(ConfigError, match="flag: expected a boolean"):
        parse_bool("flag", raw)


@dataclass(frozen=True, slots=True)
class _WithFlag(Config):
    """A config with a boolean setting (Config has none yet): how load reads one."""

    flag: bool = False


def test_boolean_settings_load_strictly_from_env_and_file(tmp_path: Path) -> None:
    assert _WithFlag.load({"DISCORD_ARCH_FLAG": "Yes"}).flag is True
    toml = tmp_path / "c.toml"
    toml.write_text("flag = true\n")
    assert _WithFlag.load({}, toml_path=str(toml)).flag is True
    with pytest.raises(ConfigError, match="flag"):
        _WithFlag.load({"DISCORD_ARCH_FLAG": "ture"})  # was silently False


def test_numbers_are_not_read_loosely(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    for line in ("workers = true", "http_port = 8080.5", 'http_port = [1]', "host = {a = 1}"):
        toml.write_text(line + "\n")
        with pytest.raises(ConfigError, match="expected"):
            Config.load({}, toml_path=str(toml))
    toml.write_text("drain_timeout_s = 5\n")  # an integer is a fine float
    assert Config.load({}, toml_path=str(toml)).drain_timeout_s == 5.0


def test_every_listened_port_is_listed_and_distinct() -> None:
    one = Config(http_port=7000, gateway_port=7001, metrics_port=7100)
    assert [p for _, _, p in one.listen_ports()] == [7000, 7001, 7100]
    many = Config(http_port=7000, gateway_port=7001, metrics_port=7100, workers=2,
                  redis_url="redis://h:6379/0")
    assert [p for _, _, p in many.listen_ports()] == [7000, 7001, 7002, 7003, 7100, 7101]
    assert [p for _, _, p in Config(http_port=0, metrics_port=0).listen_ports()] == [8081]
    with pytest.raises(ConfigError, match="gateway_port and metrics_port .* are both port 8081"):
        Config(metrics_port=8081)
    with pytest.raises(ConfigError, match="both port 7002"):
        Config(gateway_port=7001, metrics_port=7002, workers=2, redis_url="redis://h:6379/0")
    with pytest.raises(ConfigError, match="metrics_port must leave room"):
        Config(metrics_port=65535, workers=2, redis_url="redis://h:6379/0")


def test_s3_settings_are_checked_and_the_secret_never_shown() -> None:
    env = {"DISCORD_ARCH_S3_BUCKET": "files", "DISCORD_ARCH_S3_ENDPOINT_URL": "http://s3:9000",
           "DISCORD_ARCH_S3_ACCESS_KEY_ID": "key", "DISCORD_ARCH_S3_SECRET_ACCESS_KEY": "hush",
           "DISCORD_ARCH_S3_PATH_STYLE": "yes"}
    config = Config.load(env)
    assert (config.s3_bucket, config.s3_endpoint_url, config.s3_path_style) == (
        "files", "http://s3:9000", True)
    assert config.s3_region == "us-east-1" and "hush" not in repr(config)
    for bad in ({"DISCORD_ARCH_S3_ENDPOINT_URL": "ftp://s3"},
                {"DISCORD_ARCH_S3_SECRET_ACCESS_KEY": ""},  # a key without its secret
                {"DISCORD_ARCH_S3_BUCKET": ""}):  # an endpoint with no bucket
        with pytest.raises(ConfigError):
            Config.load({**env, **bad})
