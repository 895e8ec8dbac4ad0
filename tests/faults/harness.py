"""The fault harness's servers: the real ``discord-arch serve`` and the stores it leans on.

Every scenario runs the real binary in a subprocess (the supervisor and its spawned workers, or
the one embedded worker), because the faults are process faults: SIGKILL, SIGSTOP, SIGTERM and
a store going away under it. Each server gets its own Redis (a ``redis-server`` on a free port:
a shared one would be flushed by other test sessions, and two servers on one Redis would claim
the same node id) and, with PostgreSQL, a fresh database of its own. Intervals are configured
short so that a scenario fits in seconds. Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from tests.integration.test_workers import free_ports, port_open
from tests.services import _as_unprivileged, _postgres_bindir

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "gateway.cli"]
HEARTBEAT_MS = 1000  # the gateway's Hello interval in every scenario: 4009 comes in ~1.5 s
START_TIMEOUT_S = 30.0


async def until(predicate: Callable[[], bool], what: str, within: float = 20.0) -> None:
    """Poll ``predicate()`` every 50 ms until true; TimeoutError naming ``what`` after
    ``within`` s. Polling: what it waits for is another process, nothing to await."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (after {within} s)")
        await asyncio.sleep(0.05)


@dataclass
class Server:
    """One ``serve`` process; its ports, its log, and the faults a scenario inflicts on it."""

    args: list[str]
    env: dict[str, str]
    workdir: Path
    http_port: int
    gateway_port: int
    worker_ports: tuple[int, ...]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log(self) -> str:
        return (self.workdir / "stderr").read_text(errors="replace")

    async def start(self) -> None:
        """Start it and wait until every port answers and every worker said it is ready."""
        self.starts += 1
        self.proc = proc = self._spawn()
        ports = (self.http_port, self.gateway_port, *self.worker_ports)
        await until(lambda: all(port_open(p) for p in ports) or proc.poll() is not None,
                    "the server's ports did not open", START_TIMEOUT_S)
        assert proc.poll() is None, f"the server exited:\n{self.log[-3000:]}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.workdir / "stderr", "ab") as stderr:
            return subprocess.Popen(CLI + self.args, cwd=ROOT, env=self.env, stderr=stderr)

    def worker_pid(self, slot: int) -> int:
        """The pid of the newest ``slot`` worker, from the supervisor's log."""
        return int(re.findall(rf"worker {slot} started \(pid (\d+)\)", self.log)[-1])

    async def replaced(self, slot: int, old_pid: int, within: float = 20.0) -> None:
        """Wait until a worker other than ``old_pid`` reports ``slot`` ready."""
        def ready() -> bool:
            pids = re.findall(rf"worker {slot} ready \(pid (\d+)\)", self.log)
            return bool(pids) and int(pids[-1]) != old_pid
        await until(ready, f"worker {slot} was not replaced", within)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in ``timeout``; its status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@asynccontextmanager
async def serve(workdir: Path, *, workers: int = 1, redis_url: str = "",
                postgres_url: str = "", **settings: object) -> AsyncIterator[Server]:
    """A started server with the harness's short intervals; ``settings`` override config
    fields by name (``drain_timeout_s=2``). Stopped (SIGTERM, bounded) at exit; its log is
    printed, so a failing scenario shows it."""
    base = free_ports(3 + workers)  # http, gateway, worker ports
    worker_ports = tuple(base + 2 + i for i in range(workers)) if workers > 1 else ()
    config: dict[str, object] = {
        "ratelimit_route_limit": 0, "ratelimit_global_per_s": 0,  # scenarios send fast
        "heartbeat_interval_ms": HEARTBEAT_MS, "drain_timeout_s": 3,
        "worker_heartbeat_timeout_s": 2, "metrics_port": 0, "log_format": "text",
        "argon2_time_cost": 1, "argon2_memory_kib": 1024, "worker_port_base": base + 2,
        **settings,
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.update({f"DISCORD_ARCH_{k.upper()}": str(v) for k, v in config.items()})
    args = ["serve", "--workers", str(workers), "--data-dir", str(workdir / "data"),
            "--http-port", str(base), "--gateway-port", str(base + 1)]
    if redis_url:
        args += ["--redis-url", redis_url]
    if postgres_url:
        env["DISCORD_ARCH_POSTGRES_URL"] = postgres_url
    server = Server(args, env, workdir, base, base + 1, worker_ports)
    await server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            print(server.log[-6000:])


# -- Redis -----------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A throwaway ``redis-server`` on a free port that a scenario may stop and start again
    (same port, so the clients of the server reconnect to it)."""

    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: apt-get install redis-server"
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.workdir)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            assert self.proc.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # an outage, not a shutdown: nothing saved, nothing flushed
            self.proc.wait(10)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="faults-redis-") as workdir:
        server = RedisServer(Path(workdir), free_ports(1))
        server.start()
        try:
            yield server
        finally:
            server.stop()


# -- PostgreSQL ------------------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(dsn: str) -> AsyncIterator[str]:
    """A new empty database on the server of ``dsn`` (the test server), dropped at exit."""
    name = f"faults_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield dsn.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb, under a second) that a scenario stops and
    starts with ``pg_ctl``: an outage the shared test server must never suffer."""

    workdir: Path
    port: int
    prefix: list[str]
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(self.prefix + [str(self.bindir / "pg_ctl"), "-D",
                                      str(self.workdir / "data"), "-l",
                                      str(self.workdir / "pg.log"), "-w", "-t", "20", *args],
                       check=True, capture_output=True, timeout=30)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._ctl("-m", mode, "stop")


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    bindir = _postgres_bindir()
    assert bindir, "PostgreSQL server binaries are not installed: apt-get install postgresql"
    with tempfile.TemporaryDirectory(prefix="faults-pg-") as workdir:
        path = Path(workdir)
        prefix = _as_unprivileged(path)
        subprocess.run(prefix + [str(bindir / "initdb"), "-D", str(path / "data"), "-A",
                                 "trust", "-U", "postgres"],
                       check=True, capture_output=True, timeout=60)
        cluster = PostgresCluster(path, free_ports(1), prefix, bindir)
        cluster.start()
        try:
            yield cluster
        finally:
            try:
                cluster.stop()
            except subprocess.CalledProcessError:
                pass  # already stopped by the scenario
