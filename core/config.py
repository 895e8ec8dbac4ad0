"""The one configuration object, built once at the composition root.

Sources, lowest to highest precedence: the defaults below, an optional TOML file
(``--config`` / ``DISCORD_ARCH_CONFIG``), ``DISCORD_ARCH_*`` environment variables, CLI flags.
A TOML key is a field name (``http_port``); since people copy from the env table and the
flags, the env spelling (``DISCORD_ARCH_HTTP_PORT``), upper case and dashes are read too.
The result is frozen and picklable, so it can be handed to ``spawn``-ed workers as is.
Nothing here reads the environment at import time: ``Config.load`` is given ``environ``.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.proxies import TrustedProxies
from core.snowflake import NODE_ID_MAX, WORKER_SLOTS

__all__ = ["Config", "ConfigError", "ENV_PREFIX", "parse_bool"]

ENV_PREFIX = "DISCORD_ARCH_"
# What a boolean setting accepts (case-insensitive); anything else is an error, so that a typo
# ("ture") is reported instead of silently meaning False.
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A configuration value is missing or malformed (reported as one line at start)."""


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of a Discord Arch server. Env var: ``DISCORD_ARCH_`` + field name upper-cased.

    Attributes:
        host: interface the HTTP and gateway ports bind to.
        http_port: REST API and web client port.
        gateway_port: websocket gateway port.
        public_http_url: base URL clients use for REST; default ``http://host:http_port``.
        public_gateway_url: websocket URL returned by ``/gateway``; default ``ws://host:gateway_port``.
        data_dir: directory of the embedded SQLite database (created if missing).
        workers: worker processes; the kernel spreads connections over them (SO_REUSEPORT), so
            a worker holds sessions of any shard. More than 1 requires ``redis_url``. At most
            16 (``core.snowflake.WORKER_SLOTS``: a snowflake's process bits name the slot).
        node_id: this host's number in the cluster, 0..30 (``core.snowflake.NODE_ID_MAX``):
            the worker bits of every snowflake its processes make, so it must differ between
            hosts that share the stores. With ``redis_url``, ``serve`` registers it in Redis
            and refuses to start while another live process holds it
            (``core.store.nodeclaim``); without Redis there is one host and nothing to check.
        allowed_origins: comma-separated origins (``scheme://host:port``) whose browser pages may
            open a gateway connection; a websocket upgrade with another ``Origin`` gets 403.
            Empty (default): the API's own origin (``http_url``; on loopback, both 127.0.0.1
            and localhost). Requests without ``Origin`` (bots, non-browser clients) are allowed:
            the check exists to stop other web sites riding a user's browser.
        trusted_proxies: comma-separated addresses and CIDRs of the reverse proxies (load
            balancers) in front of the server, e.g. ``10.0.0.0/8, 192.168.1.5``. Only a
            request or websocket upgrade coming from one of them has its ``X-Forwarded-For``
            or ``Forwarded`` header read, for the client's address: the key of anonymous REST
            rate limits and the ``peer`` of the logs (``core.proxies``). Empty (default):
            every header is ignored and the client is the socket's peer.
        worker_port_base: with ``workers`` > 1, worker ``i`` (0-based) also listens on
            ``worker_port_base + i`` alone, and that port is its sessions'
            ``resume_gateway_url`` (``gateway_url`` with the port replaced), so a RESUME reaches
            the worker holding the session's replay buffer. 0: ``gateway_port + 1``.
        drain_timeout_s: seconds a stopping worker gets to drain (op 7 to its sessions, flush
            pending writes) before the supervisor SIGKILLs it; a service manager's stop
            timeout (systemd ``TimeoutStopSec``) must be longer.
        worker_heartbeat_timeout_s: with several workers, each worker's event loop writes a
            heartbeat to the supervisor every fifth of this; a worker silent this long (its
            loop blocked: a bug, a deadlock) is SIGKILLed and started again with the crash
            back-off. 0 turns the check off; else at least 1 s (a loop may stall a few
            hundred ms under load without being hung).
        postgres_url: PostgreSQL DSN for metadata (and messages without ``mongo_url``).
        mongo_url: MongoDB URL for message history.
        redis_url: Redis URL for the bus, recent-message cache, token cache and rate limits.
        redis_cluster: ``redis_url`` names one node of a Redis Cluster (the others are found
            from it): the bus uses sharded pub/sub (``SSUBSCRIBE``/``SPUBLISH``, one channel
            per guild, each on the master owning its slot) and the caches the Cluster client.
            Off (default): one Redis. Needs a ``redis://`` or ``rediss://`` URL.
        bus_recovery_log: with Redis, each bus channel (guild, user, broadcast) also keeps its
            last ~N published messages in a capped stream; a worker whose subscription was
            lost reads what it missed from there and its sessions go on, instead of all being
            told to identify again (op 9). A gap the log no longer covers is still told.
            0 (default): no log (one fewer Redis write per publish, docs/architecture.md).
        sqlite_synchronous: SQLite ``synchronous`` pragma; FULL makes every commit durable.
        sqlite_writer: where the worker writes its message batches to SQLite: ``thread``
            (default), the store's own thread in the worker; ``process``, a child process
            with its own connection to the database, fed over a pipe
            (``core.store.sqlitewriter``), so the writes never wait for the worker's GIL.
            The process showed no gain end to end and rare stalls of 0.3-0.45 s with the
            worker pinned to one core (bench/RESULTS.md, "The SQLite writer process").
        batch_max_messages: messages per write batch; a full batch is flushed at once.
        gil_switch_interval_ms: the worker's ``sys.setswitchinterval``, in ms: how long a
            thread that wants the GIL waits before the one holding it must give it up. With
            ``sqlite_writer = thread``, the SQLite store's thread takes the GIL back after
            every statement it runs (BEGIN, each row, COMMIT) and again to hand its result
            to the loop; while the loop fans out in Python, each of those waits this long,
            so a durable write under load costs several of them: 0.5 ms took a single-row
            write from 11.7 ms to 2.7 ms (p50) against a busy loop (``bench.gil_write``), but
            the fanout at fixed rates showed no consistent gain end to end
            (bench/RESULTS.md), so the default is 0: Python's own (5 ms).
        batch_max_delay_ms: the longest a message waits for its batch to fill, in ms. 0 (the
            default) is pure group commit: a batch is whatever queued while the previous write
            was in flight, which measured fuller and faster than any linger (bench/RESULTS.md).
        trace_sample_every: the per-message timeline (``core.timeline``): one message in
            this many gets a monotonic stamp at each stage from receipt to the socket write,
            and ``/timeline`` on the ops port serves their per-stage percentiles. 0 (the
            default) is off: one integer test per message.
        max_body_bytes: largest REST request body; larger gets 413.
        max_attachment_bytes: largest file of a message (``multipart/form-data`` send, each
            file streamed to storage, never held whole); larger gets 413 40005 (Discord: 25 MiB).
        max_message_length: longest message ``content`` in characters (Discord: 2000).
        s3_bucket: uploaded files (attachments, avatars, icons) go to this bucket of an
            S3-compatible object store (``core.blobs_s3``, the ``s3`` extra) instead of
            ``DATA_DIR/blobs``; needed when several hosts serve one cluster. Empty: local.
        s3_endpoint_url: the S3 API's URL (MinIO, Ceph RGW, ...); empty: AWS S3 in
            ``s3_region``.
        s3_region: the bucket's region (signing needs one; most other servers take any).
        s3_access_key_id, s3_secret_access_key: the credentials; empty: botocore's usual
            chain (AWS_* environment, profile, instance role).
        s3_path_style: address the bucket in the path (``{endpoint}/{bucket}/{key}``), as
            most self-hosted servers want, instead of as a host name.
        recent_messages_per_channel: length of the Redis recent-messages list per channel.
        token_cache_ttl_ms: how long a worker trusts a token lookup (a revocation reaches
            every worker sooner, through ``core.relay``).
        ratelimit_global_per_s: requests per second per user across all routes (0: off).
        ratelimit_route_limit: requests per window per user and route bucket (0: off).
        ratelimit_route_window_ms: window of the per-route buckets.
        argon2_time_cost: Argon2id iterations.
        argon2_memory_kib: Argon2id memory in KiB (OWASP minimum 19456 with t=2).
        heartbeat_interval_ms: gateway Hello ``heartbeat_interval``.
        gateway_send_buffer_bytes: bytes a gateway connection may have queued unsent (its
            client reads slower than it is written to) before it is closed with 4900 (Slow
            consumer; the session stays resumable).
        gateway_resume_timeout_s: seconds a dropped gateway session waits for a RESUME.
        gateway_replay_max_events: dispatches a session keeps for RESUME; once over, the
            oldest are dropped down to 7/8 of it.
        gateway_replay_max_bytes: encoded bytes a session keeps for RESUME, counted as if
            owned (a fanout's bytes are shared, so this bounds the worst case), dropped alike.
        gateway_zlib_level: zlib level (0-9) of ``compress=zlib-stream`` connections. Each
            delivery to such a connection is deflated on its own stream, so this is the CPU
            cost per delivery (bench/RESULTS.md, "Compressed fanout").
        gateway_zstd_level: Zstandard level (-7..22) of ``compress=zstd-stream`` connections.
        gateway_zlib_shared: ``compress=zlib-stream`` connections get self-contained
            messages: each dispatch is deflated once for all its recipients instead of once
            per delivery on the connection's stream; no compression per delivery and no
            context per connection, for about seven times the bytes (``gateway.compress``).
        identify_max_concurrency: identify buckets per bot (``GET /gateway/bot``
            ``session_start_limit.max_concurrency``): shard ``i`` of a bot identifies in bucket
            ``i % identify_max_concurrency``, each bucket starting one session per
            ``gateway_identify_interval_s`` on a worker (Discord: 1 for most bots, 16 and up
            for large ones).
        gateway_identify_interval_s: seconds between two session starts in one identify
            bucket of a bot (Discord's "Session Start Limit": 5). A setting so that a test
            server can pace in fractions of a second what a real one paces in seconds.
        gateway_flush_slice_ms: the longest the hub pushes a fanout to its sessions, or
            writes to sockets, or the gateway sweeps session timeouts, before it lets the
            event loop do other work (reads, heartbeats, the next durable message): a fanout
            to 10,000 sockets is pushed and written in slices of this many ms. 0: each at
            once.
        loop_lag_interval_ms: a timer due every this many ms measures how late the event
            loop runs it (``discord_arch_loop_lag_seconds`` on the ops port). 0 (default): off.
        max_guilds_per_user: guilds a user may own or join (Discord: 100 for users).
        max_channels_per_guild: channels in a guild (Discord: 500).
        max_roles_per_guild: roles in a guild (Discord: 250).
        metrics_host: interface of the internal ops port (``/metrics``, ``/healthz``,
            ``/readyz``); keep it private.
        metrics_port: ops port of worker 0; worker ``i`` listens on ``metrics_port + i``.
            0 disables the ops port.
        log_level: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``.
        log_format: ``auto`` (JSON lines when stderr is not a terminal, text otherwise),
            ``json`` or ``text``.
    """

    host: str = "127.0.0.1"
    http_port: int = 8080
    gateway_port: int = 8081
    public_http_url: str = ""
    public_gateway_url: str = ""
    data_dir: str = "./data"
    workers: int = 1
    node_id: int = 0
    worker_port_base: int = 0
    allowed_origins: str = ""
    trusted_proxies: str = ""
    drain_timeout_s: float = 30.0
    worker_heartbeat_timeout_s: float = 10.0
    postgres_url: str = ""
    mongo_url: str = ""
    redis_url: str = ""
    redis_cluster: bool = False
    bus_recovery_log: int = 0
    sqlite_synchronous: str = "FULL"
    sqlite_writer: str = "thread"
    batch_max_messages: int = 256
    batch_max_delay_ms: float = 0.0
    trace_sample_every: int = 0
    gil_switch_interval_ms: float = 0.0
    max_body_bytes: int = 1 << 20
    max_attachment_bytes: int = 25 << 20
    max_message_length: int = 2000
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = dataclasses.field(default="", repr=False)  # never logged
    s3_path_style: bool = False
    recent_messages_per_channel: int = 100
    token_cache_ttl_ms: int = 10_000
    ratelimit_global_per_s: int = 50
    ratelimit_route_limit: int = 5
    ratelimit_route_window_ms: int = 5_000
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19_456
    heartbeat_interval_ms: int = 41_250
    gateway_send_buffer_bytes: int = 1 << 20
    gateway_resume_timeout_s: float = 180.0
    gateway_replay_max_events: int = 1000
    gateway_replay_max_bytes: int = 1 << 20
    gateway_zlib_level: int = 1
    gateway_zstd_level: int = 3
    gateway_zlib_shared: bool = False
    identify_max_concurrency: int = 1
    gateway_identify_interval_s: float = 5.0
    gateway_flush_slice_ms: float = 3.0
    loop_lag_interval_ms: float = 0.0
    max_guilds_per_user: int = 100
    max_channels_per_guild: int = 500
    max_roles_per_guild: int = 250
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9090
    log_level: str = "INFO"
    log_format: str = "auto"

    def __post_init__(self) -> None:
        for name in ("http_port", "gateway_port", "metrics_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be 0..65535, got {port}")
        if not 1 <= self.workers <= WORKER_SLOTS:
            raise ConfigError(f"workers must be 1..{WORKER_SLOTS} per host, got {self.workers} "
                              "(a snowflake has room for 16 worker slots per node id: run "
                              "more hosts, each with its own node_id)")
        if not 0 <= self.node_id <= NODE_ID_MAX:
            raise ConfigError(f"node_id must be 0..{NODE_ID_MAX}, got {self.node_id}")
        if self.workers > 1 and 0 in (self.http_port, self.gateway_port):
            raise ConfigError("--workers > 1 needs fixed HTTP and gateway ports (the workers "
                              "share them)")
        if self.worker_port_base < 0 or (
                self.workers > 1 and self.worker_port(self.workers - 1) > 65535):
            raise ConfigError(f"worker_port_base must leave room for {self.workers} ports "
                              f"below 65536, got {self.worker_port_base}")
        if self.metrics_port and self.ops_port(self.workers - 1) > 65535:
            raise ConfigError(f"metrics_port must leave room for {self.workers} ports "
                              f"below 65536, got {self.metrics_port}")
        _check_distinct(self.listen_ports())
        if not self.drain_timeout_s > 0:
            raise ConfigError(f"drain_timeout_s must be > 0, got {self.drain_timeout_s}")
        if not (self.worker_heartbeat_timeout_s == 0 or self.worker_heartbeat_timeout_s >= 1):
            raise ConfigError("worker_heartbeat_timeout_s must be 0 (off) or >= 1, got "
                              f"{self.worker_heartbeat_timeout_s}")
        try:
            TrustedProxies.parse(self.trusted_proxies)
        except ValueError as e:
            raise ConfigError(f"trusted_proxies: {e}") from None
        if self.workers > 1 and not self.redis_url:
            raise ConfigError("--workers > 1 needs --redis-url: workers fan out through Redis")
        _check_url("postgres_url", self.postgres_url, ("postgres", "postgresql"))
        _check_url("mongo_url", self.mongo_url, ("mongodb", "mongodb+srv"))
        _check_url("redis_url", self.redis_url, ("redis", "rediss", "unix"))
        if not 0 <= self.bus_recovery_log <= 1_000_000:
            raise ConfigError("bus_recovery_log must be 0 (off) .. 1000000 messages per channel")
        if self.redis_cluster and not self.redis_url.startswith(("redis://", "rediss://")):
            raise ConfigError("redis_cluster needs a redis:// or rediss:// redis_url (one node "
                              "of the cluster)")
        if self.sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError("sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA")
        if self.sqlite_writer not in ("process", "thread"):
            raise ConfigError(f"sqlite_writer must be process or thread, got {self.sqlite_writer!r}")
        if self.batch_max_messages < 1 or self.batch_max_delay_ms < 0:
            raise ConfigError("batch_max_messages must be >= 1 and batch_max_delay_ms >= 0")
        if self.trace_sample_every < 0:
            raise ConfigError("trace_sample_every must be >= 0 (0: off)")
        if not 0 <= self.gil_switch_interval_ms <= 1000:  # `not`: NaN is refused too
            raise ConfigError("gil_switch_interval_ms must be 0 (Python's default) .. 1000, "
                              f"got {self.gil_switch_interval_ms}")
        if self.max_attachment_bytes < 1:
            raise ConfigError("max_attachment_bytes must be >= 1")
        _check_url("s3_endpoint_url", self.s3_endpoint_url, ("http", "https"))
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise ConfigError("s3_access_key_id and s3_secret_access_key go together")
        if (self.s3_endpoint_url or self.s3_access_key_id) and not self.s3_bucket:
            raise ConfigError("s3_endpoint_url and s3 credentials need s3_bucket")
        if self.heartbeat_interval_ms < 1:
            raise ConfigError("heartbeat_interval_ms must be >= 1")
        if self.gateway_send_buffer_bytes < 65536:
            raise ConfigError("gateway_send_buffer_bytes must be >= 65536 (one fanout burst "
                              "of a busy channel must fit)")
        if not self.gateway_resume_timeout_s >= 0:
            raise ConfigError("gateway_resume_timeout_s must be >= 0")
        if self.gateway_replay_max_events < 1 or self.gateway_replay_max_bytes < 4096:
            raise ConfigError("gateway_replay_max_events must be >= 1 and "
                              "gateway_replay_max_bytes >= 4096")
        if not 0 <= self.gateway_zlib_level <= 9:
            raise ConfigError(f"gateway_zlib_level must be 0..9, got {self.gateway_zlib_level}")
        if not -7 <= self.gateway_zstd_level <= 22:
            raise ConfigError(f"gateway_zstd_level must be -7..22, got {self.gateway_zstd_level}")
        if not 1 <= self.identify_max_concurrency <= 1024:
            raise ConfigError("identify_max_concurrency must be 1..1024")
        if not self.gateway_identify_interval_s > 0:  # `not >`: NaN is refused too
            raise ConfigError("gateway_identify_interval_s must be > 0, got "
                              f"{self.gateway_identify_interval_s}")
        for name in ("gateway_flush_slice_ms", "loop_lag_interval_ms"):
            if not getattr(self, name) >= 0:  # `not >=`: NaN is refused too
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError("log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        if self.log_format not in ("auto", "json", "text"):
            raise ConfigError("log_format must be auto, json or text")

    @property
    def http_url(self) -> str:
        return self.public_http_url or f"http://{_url_host(self.host)}:{self.http_port}"

    @property
    def gateway_url(self) -> str:
        return self.public_gateway_url or f"ws://{_url_host(self.host)}:{self.gateway_port}"

    @property
    def origins(self) -> frozenset[str]:
        """The allowed browser origins of the gateway (see ``allowed_origins``)."""
        if self.allowed_origins:
            return frozenset(o.strip().rstrip("/") for o in self.allowed_origins.split(",")
                             if o.strip())
        own = urlsplit(self.http_url)
        out = {f"{own.scheme}://{own.netloc}"}
        if own.hostname in ("127.0.0.1", "localhost", "::1"):
            out.update(f"{own.scheme}://{h}:{own.port}" for h in ("127.0.0.1", "localhost"))
        return frozenset(out)

    def worker_port(self, slot: int) -> int:
        """The port worker ``slot`` listens on alone (see ``worker_port_base``)."""
        return (self.worker_port_base or self.gateway_port + 1) + slot

    def ops_port(self, slot: int) -> int:
        """The ops port of worker ``slot`` (``metrics_port + slot``); 0: the ops port is off."""
        return self.metrics_port + slot if self.metrics_port else 0

    def listen_ports(self) -> list[tuple[str, str, int]]:
        """Every port this instance listens on, as ``(what, host, port)``; ``what`` names the
        setting behind it (for messages). Port 0 (ephemeral, or off) is left out."""
        ports = [("http_port", self.host, self.http_port),
                 ("gateway_port", self.host, self.gateway_port)]
        if self.workers > 1:  # one worker has no port of its own (gateway.worker)
            ports += [(f"worker_port_base + {i} (worker {i}'s own gateway port)", self.host,
                       self.worker_port(i)) for i in range(self.workers)]
            ports += [(f"metrics_port + {i} (worker {i}'s ops port)", self.metrics_host,
                       self.ops_port(i)) for i in range(self.workers)]
        else:
            ports.append(("metrics_port (the ops port)", self.metrics_host, self.metrics_port))
        return [p for p in ports if p[2]]

    def gateway_url_at(self, port: int) -> str:
        """``gateway_url`` with its port replaced by ``port`` (a worker's own URL)."""
        parts = urlsplit(self.gateway_url)
        host = _url_host(parts.hostname or self.host)
        return urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, ""))

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str],
        overrides: Mapping[str, Any] | None = None,
        toml_path: str | None = None,
    ) -> Config:
        """Build the config from a TOML file, the environment and CLI overrides.

        Args:
            environ: the process environment (passed in, never read here implicitly).
            overrides: CLI values; ``None`` values mean "not given".
            toml_path: optional TOML file with the same keys as the fields.

        Raises:
            ConfigError: unknown key, or a value that does not parse or validate.
        """
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        toml_path = toml_path or environ.get(ENV_PREFIX + "CONFIG")
        if toml_path:
            try:
                with open(toml_path, "rb") as f:
                    table = tomllib.load(f)
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise ConfigError(f"cannot read config file {toml_path}: {e}") from None
            values.update(_file_values(table, known, toml_path))
        for name in known:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        typed = {name: _coerce(name, known[name].type, v) for name, v in values.items()}
        try:
            return cls(**typed)
        except TypeError as e:
            raise ConfigError(str(e)) from None


def _file_values(table: Mapping[str, Any], known: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The config file's values by field name; a key is the field name in any of the spellings
    users type (``http_port``, ``HTTP_PORT``, ``DISCORD_ARCH_HTTP_PORT``, ``http-port``)."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in table.items():
        name = key.lower().replace("-", "_").removeprefix(ENV_PREFIX.lower())
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown config key {key!r} in {path}{hint}; valid keys: "
                              f"{', '.join(known)}")
        if name in out:
            raise ConfigError(f"config key {name!r} is given twice in {path} "
                              f"({spelled[name]!r} and {key!r})")
        out[name], spelled[name] = value, key
    return out


def parse_bool(name: str, value: Any) -> bool:
    """``value`` as a boolean: a bool, 0/1, or true/false, yes/no, on/off, 1/0 in any case.

    Raises:
        ConfigError: anything else (a typo must not quietly mean False).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ConfigError(f"{name}: expected a boolean (true/false, yes/no, on/off, 1/0), "
                      f"got {value!r}")


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    """``value`` (a string from the environment, a TOML value, a flag) as the field's type.

    Strict where a loose reading would hide a mistake: a TOML boolean or 2.5 is no port number.
    """
    # Annotations are strings under `from __future__ import annotations` (a subclass defined
    # without it has the types themselves).
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "")
    if kind == "bool":
        return parse_bool(name, value)
    wrong = isinstance(value, bool) or not isinstance(value, (str, int, float))
    try:
        if kind == "int" and not wrong and not isinstance(value, float):
            return int(value)
        if kind == "float" and not wrong:
            return float(value)
        if kind not in ("int", "float") and not wrong:
            return str(value)
    except ValueError:
        pass
    raise ConfigError(f"{name}: expected {kind or type_name}, got {value!r}")


def _check_distinct(ports: list[tuple[str, str, int]]) -> None:
    """Two settings naming one port would have the instance collide with itself at start
    (and ``gateway.ports`` would blame another process)."""
    seen: dict[int, str] = {}
    for what, _, port in ports:
        if port in seen:
            raise ConfigError(f"{seen[port]} and {what} are both port {port}")
        seen[port] = what


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    if not url:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise ConfigError(f"{name} is not a valid URL: {e}") from None
    if parts.scheme not in schemes:
        raise ConfigError(f"{name} must start with {' or '.join(s + '://' for s in schemes)}")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
