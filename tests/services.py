"""Real servers for the integration tests: PostgreSQL, Redis, a Redis Cluster, MongoDB and an
S3 API server.

Each ``provide_*`` function returns a URL to a reachable server and registers whatever it
started on an :class:`contextlib.ExitStack`, so closing the stack stops it. The order of
preference is the same for all three:

1. the URL in ``DISCORD_ARCH_TEST_<NAME>_URL``, used as given (it must answer);
2. the server on its usual local port (PostgreSQL 5432, Redis 6379);
3. a throwaway server started from the installed binaries in a temporary directory
   (MongoDB: an in-process SecantusDB, since there is no mongod on the test machines).

A Redis Cluster (``provide_redis_cluster``) is ``DISCORD_ARCH_TEST_REDIS_CLUSTER_URL`` (one
node of it) or three masters started from the installed redis-server, never a local one.

The S3 server (``provide_s3``) is ``DISCORD_ARCH_TEST_S3_URL`` (any S3-compatible endpoint
taking the ``S3_ACCESS_KEY``/``S3_SECRET`` below, e.g. a MinIO started with them) or else
**moto's standalone server**, started here as its own process on a free port. moto is an
*emulator* of the S3 API, not a storage server: it speaks S3's HTTP protocol (SigV4, XML,
multipart uploads, ranges), which is what the store's client exercises, but keeps objects in
its memory. No real S3 server (MinIO, Garage, SeaweedFS, Ceph RGW) is packaged on Debian,
PyPI or npm for this machine, so the emulator is what CI can run; point the variable at a
real one to run the same tests against it.

When none of them works, :class:`ServiceUnavailable` says what to install. The fixtures in
``tests/conftest.py`` turn it into a failure, never a skip (docs/architecture.md, conventions).

The probes here are synchronous on purpose: they run in session fixture setup, outside any
event loop, and must not install or replace the loop pytest-asyncio manages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import getpass
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import pymongo
import pymongo.errors
import redis
import redis.exceptions

__all__ = [
    "MONGO_ENV",
    "S3_ACCESS_KEY",
    "S3_ENV",
    "S3_SECRET",
    "POSTGRES_ENV",
    "REDIS_CLUSTER_ENV",
    "REDIS_ENV",
    "ServiceUnavailable",
    "provide_mongo",
    "provide_postgres",
    "provide_redis",
    "provide_redis_cluster",
    "provide_s3",
]

POSTGRES_ENV = "DISCORD_ARCH_TEST_POSTGRES_URL"
REDIS_ENV = "DISCORD_ARCH_TEST_REDIS_URL"
REDIS_CLUSTER_ENV = "DISCORD_ARCH_TEST_REDIS_CLUSTER_URL"
MONGO_ENV = "DISCORD_ARCH_TEST_MONGO_URL"
S3_ENV = "DISCORD_ARCH_TEST_S3_URL"
S3_ACCESS_KEY = "discordarchtest"
S3_SECRET = "discordarchtestsecret"

# A local Redis may hold someone's data in db 0: the tests take db 15 and flush only it.
_LOCAL_REDIS_URL = "redis://127.0.0.1:6379/15"
_LOCAL_POSTGRES = "postgresql://{role}@127.0.0.1:5432/test"
# Seconds a throwaway server gets to start answering.
_START_TIMEOUT = 20.0
_PROBE_TIMEOUT = 2.0


class ServiceUnavailable(Exception):
    """No server could be found or started; the message says what to install or set."""


# -- helpers ---------------------------------------------------------------------------------


def _free_port() -> int:
    """An ephemeral TCP port that was free a moment ago (the server binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_unprivileged(workdir: Path) -> list[str]:
    """The command prefix that runs a server as a non-root user, owning ``workdir``.

    PostgreSQL refuses to run as root, and CI runs as root: there the server runs as the
    ``postgres`` system user that the Debian package creates.
    """
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        account = None
    if runuser is None or account is None:
        raise ServiceUnavailable(
            "running as root, the throwaway PostgreSQL needs the 'postgres' system user "
            "and runuser: apt-get install postgresql"
        )
    os.chown(workdir, account.pw_uid, account.pw_gid)
    return [runuser, "-u", "postgres", "--"]


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise ServiceUnavailable(f"{what} failed ({done.returncode}): {done.stderr.strip()}")


# -- PostgreSQL ------------------------------------------------------------------------------


async def _pg_select_one(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=_PROBE_TIMEOUT)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def _pg_answers(dsn: str) -> bool:
    # asyncpg is async only; a private loop in a worker thread leaves the main thread's
    # event loop (owned by pytest-asyncio) untouched.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, _pg_select_one(dsn)).result()
        except (OSError, asyncpg.PostgresError):  # TimeoutError is an OSError
            return False
    return True


def _postgres_bindir() -> Path | None:
    """The newest installed server's bin directory (Debian layout), else the one on PATH."""
    dirs = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bindir in reversed(dirs):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _start_postgres(stack: ExitStack) -> str:
    bindir = _postgres_bindir()
    if bindir is None:
        raise ServiceUnavailable(
            f"PostgreSQL: nothing answers on 127.0.0.1:5432, {POSTGRES_ENV} is unset and no "
            "server binaries (initdb, pg_ctl) are installed: apt-get install postgresql"
        )
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="discord-arch-pg-")))
    prefix = _as_unprivileged(workdir)
    data, port = workdir / "data", _free_port()
    _run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
         "--auth=trust", "--encoding=UTF8", "--no-sync"],
        "initdb",
    )  # fmt: skip
    # Unix socket in the work dir (/var/run/postgresql may not be writable); no fsync: the
    # cluster is thrown away at the end of the session.
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    _run([*pg_ctl, "-l", str(workdir / "log"), "-o", options, "-w", "start"], "pg_ctl start")
    stack.callback(subprocess.run, [*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    if not _pg_answers(dsn):
        raise ServiceUnavailable(f"the throwaway PostgreSQL on port {port} does not answer")
    return dsn


def provide_postgres(stack: ExitStack, environ: Mapping[str, str]) -> str:
    """A DSN of a PostgreSQL server where the tests may create and drop tables.

    Args:
        stack: Closed at the end of the session; stops a server started here.
        environ: Where ``DISCORD_ARCH_TEST_POSTGRES_URL`` is looked up.

    Raises:
        ServiceUnavailable: No server answers and none can be started.
    """
    if dsn := environ.get(POSTGRES_ENV):
        if not _pg_answers(dsn):
            raise ServiceUnavailable(f"{POSTGRES_ENV} is set but SELECT 1 fails there")
        return dsn
    # Trust auth: the server maps the role we ask for; which one exists depends on the setup.
    for role in dict.fromkeys(("postgres", getpass.getuser())):
        dsn = _LOCAL_POSTGRES.format(role=role)
        if _pg_answers(dsn):
            return dsn
    return _start_postgres(stack)


# -- Redis -----------------------------------------------------------------------------------


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=_PROBE_TIMEOUT, socket_timeout=_PROBE_TIMEOUT
    )
    try:
        return bool(client.ping())
    except (redis.exceptions.RedisError, OSError):
        return False
    finally:
        client.close()


def _start_redis(stack: ExitStack) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceUnavailable(
            f"Redis: nothing answers on 127.0.0.1:6379, {REDIS_ENV} is unset and "
            "redis-server is not installed: apt-get install redis-server"
        )
    workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="discord-arch-redis-"))
    port = _free_port()
    log = stack.enter_context(open(Path(workdir) / "log", "wb"))
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    stack.callback(_stop_process, proc)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + _START_TIMEOUT
    while not _redis_answers(url):
        # Polling is the only readiness signal redis-server gives without a config file.
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServiceUnavailable(f"the throwaway redis-server on port {port} did not start")
        time.sleep(0.05)
    return url


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def provide_redis(stack: ExitStack, environ: Mapping[str, str]) -> str:
    """A Redis URL the tests may write to (keys under their own prefixes).

    The local server on 6379 is used through db 15, which is flushed first; a URL given in
    ``DISCORD_ARCH_TEST_REDIS_URL`` is used as is and never flushed.

    Raises:
        ServiceUnavailable: No server answers and none can be started.
    """
    if url := environ.get(REDIS_ENV):
        if not _redis_answers(url):
            raise ServiceUnavailable(f"{REDIS_ENV} is set but PING fails there")
        return url
    if _redis_answers(_LOCAL_REDIS_URL):
        client = redis.Redis.from_url(_LOCAL_REDIS_URL)
        try:
            client.flushdb()
        finally:
            client.close()
        return _LOCAL_REDIS_URL
    return _start_redis(stack)


# -- Redis Cluster ---------------------------------------------------------------------------

# Masters of the throwaway cluster: the fewest redis-cli --cluster create accepts.
_CLUSTER_MASTERS = 3


def _cluster_ok(url: str) -> bool:
    """Every slot served: ``CLUSTER INFO`` of the node at ``url`` says ``cluster_state:ok``."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=_PROBE_TIMEOUT, socket_timeout=_PROBE_TIMEOUT
    )
    try:
        return client.cluster("INFO").get("cluster_state") == "ok"
    except (redis.exceptions.RedisError, OSError):
        return False
    finally:
        client.close()


def _start_redis_cluster(stack: ExitStack) -> str:
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        raise ServiceUnavailable(
            f"Redis Cluster: {REDIS_CLUSTER_ENV} is unset and redis-server or redis-cli is "
            "not installed: apt-get install redis-server"
        )
    workdir = Path(stack.enter_context(
        tempfile.TemporaryDirectory(prefix="discord-arch-redis-cluster-")))
    ports = []
    for i in range(_CLUSTER_MASTERS):
        # The cluster bus gets a port of its own (cluster-port, Redis 7): the default,
        # port + 10000, may be taken or past 65535 for an ephemeral port.
        port, bus_port = _free_port(), _free_port()
        node_dir = workdir / str(i)
        node_dir.mkdir()
        log = stack.enter_context(open(node_dir / "log", "wb"))
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(node_dir), "--cluster-enabled", "yes",
             "--cluster-config-file", str(node_dir / "nodes.conf"),
             "--cluster-port", str(bus_port), "--cluster-node-timeout", "5000"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack.callback(_stop_process, proc)
        deadline = time.monotonic() + _START_TIMEOUT
        while not _redis_answers(f"redis://127.0.0.1:{port}/0"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"the throwaway redis-server on port {port} (cluster node {i}) did not "
                    f"start: {(node_dir / 'log').read_text(errors='replace')[-500:]}")
            time.sleep(0.05)
        ports.append(port)
    _run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
          "--cluster-replicas", "0", "--cluster-yes"], "redis-cli --cluster create")
    url = f"redis://127.0.0.1:{ports[0]}"
    deadline = time.monotonic() + _START_TIMEOUT
    # The masters learn of each other over the cluster bus: wait until each sees every slot.
    while not all(_cluster_ok(f"redis://127.0.0.1:{p}") for p in ports):
        if time.monotonic() > deadline:
            raise ServiceUnavailable("the throwaway Redis Cluster never reached cluster_state:ok")
        time.sleep(0.05)
    return url


def provide_redis_cluster(stack: ExitStack, environ: Mapping[str, str]) -> str:
    """The URL of one node of a Redis Cluster whose every slot is served.

    ``DISCORD_ARCH_TEST_REDIS_CLUSTER_URL`` is used as given (never flushed: tests write
    under prefixes of their own); else three masters (no replicas) are started from the
    installed redis-server in a temporary directory and stopped with ``stack``.

    Raises:
        ServiceUnavailable: the given URL is not a healthy cluster, or none can be started.
    """
    if url := environ.get(REDIS_CLUSTER_ENV):
        if not _cluster_ok(url):
            raise ServiceUnavailable(f"{REDIS_CLUSTER_ENV} is set but CLUSTER INFO there "
                                     "does not say cluster_state:ok")
        return url
    return _start_redis_cluster(stack)


# -- MongoDB ---------------------------------------------------------------------------------


def provide_mongo(stack: ExitStack, environ: Mapping[str, str]) -> str:
    """A MongoDB URL: ``DISCORD_ARCH_TEST_MONGO_URL``, else a SecantusDB for the session.

    SecantusDB speaks MongoDB's wire protocol from an in-process thread; it is slower than
    mongod, which only costs test time.

    Raises:
        ServiceUnavailable: The given URL does not answer ``ping``.
    """
    if url := environ.get(MONGO_ENV):
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            url, serverSelectionTimeoutMS=int(_PROBE_TIMEOUT * 1000)
        )
        try:
            client.admin.command("ping")
        except pymongo.errors.PyMongoError as exc:
            raise ServiceUnavailable(f"{MONGO_ENV} is set but ping fails there: {exc}") from exc
        finally:
            client.close()
        return url
    # Imported here: only this branch needs it, and it is a test-only dependency.
    from secantus import SecantusDBServer

    workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="discord-arch-mongo-"))
    server = stack.enter_context(SecantusDBServer(host="127.0.0.1", port=0, storage_path=workdir))
    return str(server.uri)


# -- S3 --------------------------------------------------------------------------------------


def _s3_answers(url: str) -> bool:
    """Anything answers HTTP at ``url`` (an S3 server says 200 or 403 to ``GET /``)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/", timeout=_PROBE_TIMEOUT):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def provide_s3(stack: ExitStack, environ: Mapping[str, str]) -> str:
    """The URL of an S3 API server (``DISCORD_ARCH_TEST_S3_URL``, else moto's server started
    here); the tests make their own buckets with ``S3_ACCESS_KEY``/``S3_SECRET``.

    Raises:
        ServiceUnavailable: the given URL does not answer, or moto's server cannot start.
    """
    if url := environ.get(S3_ENV):
        if not _s3_answers(url):
            raise ServiceUnavailable(f"{S3_ENV} is set but nothing answers there")
        return url.rstrip("/")
    try:
        import moto.server  # noqa: F401 - only to say what to install
    except ImportError:
        raise ServiceUnavailable(
            f"S3: {S3_ENV} is unset and moto's server is not installed: "
            "pip install -e '.[test]' (moto[s3], flask, flask-cors)"
        ) from None
    workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="discord-arch-s3-"))
    port = _free_port()
    log = stack.enter_context(open(Path(workdir) / "log", "wb"))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": S3_SECRET, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
    )  # fmt: skip
    stack.callback(_stop_process, proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + _START_TIMEOUT
    while not _s3_answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServiceUnavailable(f"moto's S3 server on port {port} did not start: "
                                     + (Path(workdir) / "log").read_text()[-500:])
        time.sleep(0.1)
    return url
