"""The server under test, as each benchmark starts it: one of the deployments they compare.

- ``embedded`` (default): ``discord-arch serve`` with one worker, SQLite in a temporary
  directory, the in-process bus. Nothing to install.
- ``workers2``: ``serve --workers 2`` (a supervisor and two spawned workers sharing the HTTP
  and gateway ports through SO_REUSEPORT), the bus on Redis (``--redis-url``, default db 14 of
  the local server: the keys the server writes there all expire), metadata and messages in a
  fresh PostgreSQL database created on the server of ``--postgres-url`` and dropped afterwards.

Either takes ``--mongo-url`` for messages (a real, throwaway mongod: the store writes to its
``discord_arch`` database; SecantusDB, the tests' stand-in, is not for benchmarking) and
``--backend`` to override the metadata store (embedded on PostgreSQL, say).

The server runs pinned with ``taskset -c CPU`` when given one: the supervisor's workers are
spawned from it and inherit the mask, so ``workers2`` puts both workers on that core, and
:class:`ProcTree` counts the CPU and RSS of the supervisor and all its descendants. Redis,
PostgreSQL and mongod are not pinned: they are the machine's own services (other hosts in
production) and their CPU is not the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DEPLOYS", "Deploy", "ProcTree", "Server", "add_arguments", "free_port",
           "fresh_postgres_database", "of", "serve"]

_REPO = Path(__file__).resolve().parent.parent
DEPLOYS = ("embedded", "workers2")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 20.0
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
# The bench server: no rate limits (the load is a few accounts sending as fast as they may),
# cheap Argon2 (registration is set-up, not measured), warnings only, a short drain on stop.
BENCH_ENV = {"DISCORD_ARCH_RATELIMIT_ROUTE_LIMIT": "0", "DISCORD_ARCH_RATELIMIT_GLOBAL_PER_S": "0",
             "DISCORD_ARCH_ARGON2_TIME_COST": "1", "DISCORD_ARCH_ARGON2_MEMORY_KIB": "8",
             "DISCORD_ARCH_LOG_LEVEL": "WARNING", "DISCORD_ARCH_LOG_FORMAT": "text",
             "DISCORD_ARCH_DRAIN_TIMEOUT_S": "5"}


@dataclass(frozen=True, slots=True)
class Deploy:
    """A deployment of the server under test (see the module docstring)."""

    name: str = "embedded"
    backend: str = ""  # metadata store: "" is the deployment's own (sqlite / postgres)
    mongo_url: str = ""
    postgres_url: str = DEFAULT_POSTGRES_URL
    redis_url: str = DEFAULT_REDIS_URL

    @property
    def workers(self) -> int:
        return 2 if self.name == "workers2" else 1

    @property
    def store(self) -> str:
        """The metadata store: ``--backend``, else SQLite embedded and PostgreSQL with workers."""
        return self.backend or ("postgres" if self.workers > 1 else "sqlite")

    @property
    def label(self) -> str:
        """``embedded``, ``workers2``, ``workers2+mongo``, ``embedded+postgres``, ..."""
        extra = [self.backend] if self.backend and self.backend != Deploy(self.name).store else []
        return "+".join([self.name, *extra, *(["mongo"] if self.mongo_url else [])])

    def results_name(self, scenario: str) -> str:
        """The results file of ``scenario`` in this deployment: ``send.json`` embedded,
        ``send_workers2.json``, ``send_workers2_mongo.json`` (underscores: names with a dash
        are scratch runs, ignored by git)."""
        parts = [] if self.label == "embedded" else self.label.split("+")
        return "_".join([scenario, *parts]) + ".json"

    def describe(self) -> dict[str, Any]:
        """For the results JSON: what ran, without URLs (they may carry credentials)."""
        return {"name": self.name, "label": self.label, "workers": self.workers,
                "metadata": self.store, "messages": "mongodb" if self.mongo_url else self.store,
                "bus": "redis" if self.workers > 1 else "in-process"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The deployment options every server-starting benchmark takes."""
    g = p.add_argument_group("deployment")
    g.add_argument("--deploy", choices=DEPLOYS, default="embedded",
                   help="embedded: one worker, SQLite, in-process bus; workers2: serve --workers "
                        "2 with Redis and a fresh PostgreSQL database")
    g.add_argument("--backend", choices=("sqlite", "postgres"), default="",
                   help="metadata store (default: sqlite embedded, postgres with workers2)")
    g.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                   help="a database on the server where a fresh one is created (and dropped)")
    g.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="workers2: the bus's Redis")
    g.add_argument("--mongo-url", default="",
                   help="MongoDB for messages: a throwaway mongod, not SecantusDB")


def of(args: argparse.Namespace) -> Deploy:
    return Deploy(args.deploy, args.backend, args.mongo_url, args.postgres_url, args.redis_url)


# -- /proc ----------------------------------------------------------------------------------------


class ProcTree:
    """CPU time and RSS of a process and its descendants (a supervisor's workers), from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def pids(self) -> list[int]:
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
        return out

    def cpu_s(self) -> float:
        """User + system CPU seconds."""
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds: system is mostly the kernel's TCP send path."""
        user = system = 0
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
                user, system = user + int(fields[11]), system + int(fields[12])
        return user / _TICKS, system / _TICKS

    def wait_s(self) -> float:
        """Seconds its threads spent runnable but waiting for a CPU (``schedstat``): how much
        other processes on the server's core took from it."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                        total += int(f.read().split()[1])
        return total / 1e9

    def rss_kib(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE // 1024
        return total


# -- starting and stopping ------------------------------------------------------------------------


def free_port(count: int = 1) -> int:
    """The first of ``count`` consecutive ports that were free a moment ago.

    Drawn below the kernel's ephemeral range: after a 10,000-session run its ports are held
    by TIME_WAIT sockets for a minute, and a run straight after found no two consecutive free
    ones there. Probed with SO_REUSEADDR, as the servers bind.
    """
    low, _high = _ephemeral_range()
    rng = random.Random()
    for _ in range(1000):
        base = rng.randrange(10_000, max(10_001, low - count))
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports")


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


@contextlib.contextmanager
def fresh_postgres_database(base_dsn: str) -> Iterator[str]:
    """A fresh database on the server of ``base_dsn``, dropped on exit; yields its DSN."""
    import asyncpg  # only the PostgreSQL deployments need it

    name = f"discord_arch_bench_{os.getpid()}_{secrets.token_hex(3)}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(base_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def run(sql: str) -> None:
        # A loop of its own in a thread: the caller may be inside one (the gateway scenarios).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, execute(sql)).result()

    run(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(base_dsn)._replace(path=f"/{name}"))
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: IO[str],
               timeout_s: float = _READY_TIMEOUT_S) -> None:
    """Wait until ``port`` accepts (the server binds only once its stores are open)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server exited with {proc.returncode}: {log.read()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise SystemExit(f"server did not start listening on {port} in time")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a supervisor drains its workers), then SIGKILL; and no orphaned worker."""
    if proc.poll() is not None:
        return
    children = ProcTree(proc.pid).pids()[1:]
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in children:  # gone by now unless the supervisor was killed mid-drain
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def tail(log: IO[str]) -> None:
    """Echo what a server logged (warnings and errors only: they are set to WARNING)."""
    log.seek(0)
    text = log.read().strip()
    if text:
        sys.stderr.write("\nserver log (last lines):\n" + "\n".join(text.splitlines()[-15:]) + "\n")


@dataclass(frozen=True, slots=True)
class Server:
    """A running server under test."""

    proc: ProcTree
    http: str  # REST base URL
    ws_url: str  # gateway URL with ?v=10&encoding=json
    metrics_urls: tuple[str, ...]  # each worker's Prometheus /metrics
    deploy: Deploy


@contextlib.contextmanager
def serve(deploy: Deploy, cpu: int | None, env_extra: Mapping[str, str] | None = None,
          prefix: str = "discord-arch-bench-") -> Iterator[Server]:
    """``discord-arch serve`` as ``deploy`` says, pinned to ``cpu`` (None: not pinned), on free
    ports and a temporary data directory; stopped (and its database dropped) on exit."""
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))
        n = deploy.workers
        http_port, ws_port, metrics_port = free_port(), free_port(), free_port(n)
        env = {**os.environ, **BENCH_ENV, "DISCORD_ARCH_METRICS_PORT": str(metrics_port),
               **(env_extra or {})}
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(http_port),
               "--gateway-port", str(ws_port), "--data-dir", data_dir]
        ports = [http_port, ws_port]
        if n > 1:
            own = free_port(n)
            env["DISCORD_ARCH_WORKER_PORT_BASE"] = str(own)
            cmd += ["--workers", str(n), "--redis-url", deploy.redis_url]
            ports += [own + i for i in range(n)]  # each worker's own port: all of them up
        if deploy.store == "postgres":
            cmd += ["--postgres-url",
                    stack.enter_context(fresh_postgres_database(deploy.postgres_url))]
        if deploy.mongo_url:
            cmd += ["--mongo-url", deploy.mongo_url]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu), *cmd]
        # A file, not a pipe: a pipe nobody reads would block a chatty server.
        log = stack.enter_context(open(os.path.join(data_dir, "server.log"), "w+"))
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=_REPO)
        stack.callback(stop, proc)
        metrics = [metrics_port + i for i in range(n)]
        for port in [*ports, *metrics]:  # the ops port opens last in each worker
            wait_ready(proc, port, log)
        stack.callback(tail, log)  # also when the scenario fails: its errors are logged there
        yield Server(ProcTree(proc.pid), f"http://127.0.0.1:{http_port}",
                     f"ws://127.0.0.1:{ws_port}/?v=10&encoding=json",
                     tuple(f"http://127.0.0.1:{p}/metrics" for p in metrics), deploy)
