"""Hosts as network namespaces (tests/cluster, ``bench.cross_hosts``): a private switch (a
bridge in a namespace of its own), one namespace per host joined to it by a veth pair,
processes started inside them, a store host's own Redis and PostgreSQL, and a thread whose
sockets live in one of them.

Nothing here touches the root namespace's interfaces or routes: the bridge and the switch side
of every veth live in the switch namespace, the other side in the host's, so the hosts reach
each other and nothing else. Names carry a per-run token, so two runs (or a run's leftovers)
never collide; :meth:`Lab.close` kills what it started and deletes every namespace, and is
safe to call after a failure at any step.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SUBNET = "10.215.15"  # a private /24, used by nothing else: it exists only on the lab's bridge
CLONE_NEWNET = 0x40000000


class LabUnavailable(Exception):
    """Network namespaces cannot be made here; the message says why."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise LabUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


def preflight() -> None:
    """Raise :class:`LabUnavailable` with the reason unless this process can make namespaces."""
    if os.geteuid() != 0:
        raise LabUnavailable("tests/cluster makes network namespaces (ip netns): run as root "
                             "(CI does)")
    if shutil.which("ip") is None:
        raise LabUnavailable("tests/cluster needs the `ip` command: apt-get install iproute2")


@dataclass
class Host:
    """One namespace on the switch: its name, address and the switch side of its link."""

    role: str
    netns: str
    address: str
    port_name: str  # the veth end on the switch: `ip link set ... down` cuts this host off


@dataclass
class Lab:
    """The switch and its hosts; every process started in them is kept to be stopped."""

    token: str = field(default_factory=lambda: secrets.token_hex(3))
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"da-{self.token}-sw"

    def _netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def open(self) -> None:
        """The switch namespace with its bridge."""
        self._netns(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")

    def add_host(self, role: str, last_octet: int) -> Host:
        """A namespace ``role`` at ``SUBNET.last_octet``, linked to the bridge."""
        netns, port = f"da-{self.token}-{role}", f"p-{role}"
        self._netns(netns)
        # Both ends made in the switch namespace; the host's end moves to the host at once.
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", netns)
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")
        address = f"{SUBNET}.{last_octet}"
        _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        host = self.hosts[role] = Host(role, netns, address, port)
        return host

    def link(self, role: str, up: bool) -> None:
        """Plug or pull ``role``'s cable (its port on the switch)."""
        _ip("-n", self.switch, "link", "set", self.hosts[role].port_name, "up" if up else "down")

    def spawn(self, role: str, cmd: list[str], *, log: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in ``role``'s namespace (`ip netns exec` execs it: the pid is its own)."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", self.hosts[role].netns, *cmd],
                                    stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        self.procs.append(proc)
        return proc

    def run(self, role: str, cmd: list[str], what: str, timeout: float = 120,
            env: dict[str, str] | None = None) -> str:
        """Run ``cmd`` in ``role``'s namespace to completion; its output (AssertionError if it
        fails)."""
        done = subprocess.run(["ip", "netns", "exec", self.hosts[role].netns, *cmd],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env=env)
        assert done.returncode == 0, f"{what} failed ({done.returncode}): {done.stderr.strip()}"
        return done.stdout

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL), then delete the namespaces."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        # What a started process left behind in our namespaces (PostgreSQL's daemon, workers
        # of a killed supervisor): every pid in a namespace this lab made is ours.
        for netns in self.namespaces:
            done = subprocess.run(["ip", "netns", "pids", netns], capture_output=True,
                                  text=True, timeout=10, check=False)
            for pid in done.stdout.split():
                if int(pid) == os.getpid():  # a process that joined its client host itself
                    continue
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for netns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10,
                           check=False)
        self.namespaces.clear()


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process at once, then wait for each (bounded); SIGKILL what is stuck.
    All at once: gateway hosts drain in parallel, as ``systemctl stop`` on each would."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _postgres_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian's layout)."""
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                  key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    for bindir in reversed(dirs):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    initdb = shutil.which("initdb")
    assert initdb, "PostgreSQL's initdb and pg_ctl are not installed: apt-get install postgresql"
    return Path(initdb).resolve().parent


def start_stores(lab: Lab, role: str, workdir: Path) -> tuple[str, str]:
    """Redis and PostgreSQL in ``role``'s namespace, on its address, from the installed
    binaries, in ``workdir`` (traversable by the ``postgres`` user, which PostgreSQL runs as:
    it refuses root). PostgreSQL trusts the lab's subnet and has a ``discord`` role and
    database. Returns the Redis URL and the ``discord`` DSN."""
    address = lab.hosts[role].address
    redis = shutil.which("redis-server")
    assert redis, "redis-server is not installed: apt-get install redis-server"
    (workdir / "redis").mkdir()
    lab.spawn(role, [redis, "--port", "6379", "--bind", address, "--protected-mode", "no",
                     "--save", "", "--appendonly", "no", "--dir", str(workdir / "redis")],
              log=workdir / "redis.log")
    bindir, pgdir = _postgres_bindir(), workdir / "pg"
    pgdir.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")  # KeyError: apt-get install postgresql
        os.chown(pgdir, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    lab.run(role, [*prefix, str(bindir / "initdb"), "-D", str(pgdir / "data"), "-U", "postgres",
                   "--auth=trust", "--encoding=UTF8", "--no-sync"], "initdb")
    with open(pgdir / "data" / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {SUBNET}.0/24 trust\n")
    options = (f"-p 5432 -k {pgdir} -c listen_addresses={address} -c fsync=off "
               "-c max_connections=300")
    lab.run(role, [*prefix, str(bindir / "pg_ctl"), "-D", str(pgdir / "data"), "-l",
                   str(pgdir / "log"), "-o", options, "-w", "start"], "pg_ctl start")
    psql = [*prefix, str(bindir / "psql"), "-h", address, "-U", "postgres", "-v",
            "ON_ERROR_STOP=1", "-c"]
    lab.run(role, [*psql, "CREATE ROLE discord LOGIN"], "create role")
    lab.run(role, [*psql, "CREATE DATABASE discord OWNER discord"], "create database")
    deadline = time.monotonic() + 20
    while "PONG" not in lab.run(role, ["redis-cli", "-h", address, "ping"], "redis-cli"):
        assert time.monotonic() < deadline, "redis did not answer"
        time.sleep(0.1)  # redis-server listens a moment after it starts
    return f"redis://{address}:6379/0", f"postgresql://discord@{address}:5432/discord"


def join(netns: str) -> None:
    """Move the calling thread into ``netns`` (the threads and processes it starts follow)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{netns}", "rb") as ns:
        if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")


class NamespaceLoop:
    """An event loop in a thread of its own that joined ``netns``: every socket it opens
    (aiohttp, asyncpg, redis) is in that namespace, while the rest of the test process stays
    where it was (a network namespace is per thread; threads it starts inherit it)."""

    def __init__(self, netns: str) -> None:
        self._netns = netns
        self._loop = asyncio.new_event_loop()
        self._joined: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, name=f"netns {netns}", daemon=True)
        self._thread.start()
        self._joined.result(10)

    def _main(self) -> None:
        try:
            join(self._netns)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            self._joined.set_exception(e)
            return
        self._joined.set_result(None)
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop; its result (or exception) within ``timeout`` s."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
