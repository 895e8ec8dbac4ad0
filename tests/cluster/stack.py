"""The cluster on the lab's namespaces: a store host (its own Redis and PostgreSQL), three
gateway hosts (`discord-arch serve --workers 2 --node-id N`), HAProxy with deploy/haproxy.cfg,
and a client host whose thread loop the test drives.

The gateway hosts get the settings deploy/README.md's multi-host guide gives (public URLs of
the balancer, a worker port base per host, the balancer as trusted proxy), plus the test's
short intervals. Every wait is bounded and polls what it waits for: nothing sleeps for
correctness.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.netns import Lab, NamespaceLoop, start_stores, stop_all

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
GUIDE = ROOT / "deploy" / "README.md"
# The guide's example addresses, replaced by the lab's.
GUIDE_BALANCER, GUIDE_NAME, GUIDE_STORES = "10.0.0.3", "chat.example.com", "10.0.0.2"
NODES = (1, 2, 3)
WORKERS = 2  # the guide's DISCORD_ARCH_WORKERS
HTTP_PORT, GATEWAY_PORT, OPS_PORT = 8080, 8081, 9090
START_TIMEOUT_S = 180.0  # 6 workers importing at once on a loaded 2-core machine took 45 s
# The test's intervals, short so that a scenario fits in seconds (not deployment advice).
TEST_SETTINGS = {
    "heartbeat_interval_ms": 1000, "drain_timeout_s": 3,
    "ratelimit_route_limit": 0, "ratelimit_global_per_s": 0,  # one client address sends fast
    "argon2_time_cost": 1, "argon2_memory_kib": 1024, "log_format": "text",
}


def worker_port_base(node: int) -> int:
    """Host ``node``'s DISCORD_ARCH_WORKER_PORT_BASE: 8N00, as deploy/haproxy.cfg binds."""
    return 8000 + 100 * node


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float) -> None:
    """Poll ``check()`` every 0.1 s until true; TimeoutError naming ``what`` after ``within``."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (after {within:.0f} s)")
        await asyncio.sleep(0.1)


async def answers(url: str) -> bool:
    """Whether ``url`` answers 200 (a fresh connection, bounded)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http, \
                http.get(url) as r:
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


@dataclass
class Cluster:
    lab: Lab
    loop: NamespaceLoop  # in the client host
    workdir: Path
    gateway_procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    balancer: subprocess.Popen[bytes] | None = None

    def address(self, role: str) -> str:
        return self.lab.hosts[role].address

    @property
    def lb(self) -> str:
        return self.address("lb")

    @property
    def rest_url(self) -> str:
        """REST through the balancer."""
        return f"http://{self.lb}:{HTTP_PORT}"

    @property
    def gateway_url(self) -> str:
        """The balanced gateway address (aiohttp spells ws:// as http://)."""
        return f"http://{self.lb}:{GATEWAY_PORT}/"

    def host_rest_url(self, node: int) -> str:
        """REST of host ``node`` directly, not through the balancer."""
        return f"http://{self.address(f'gw{node}')}:{HTTP_PORT}"

    def node_of(self, resume_url: str) -> int:
        """The host a READY's ``resume_gateway_url`` names (its port is 8N00 + worker)."""
        port = int(resume_url.rsplit(":", 1)[1].strip("/"))
        return (port - 8000) // 100

    def log(self, role: str) -> str:
        return (self.workdir / f"{role}.log").read_text(errors="replace")

    async def host_ready(self, node: int) -> bool:
        address = self.address(f"gw{node}")
        checks = [answers(f"http://{address}:{OPS_PORT + i}/readyz") for i in range(WORKERS)]
        return all(await asyncio.gather(*checks))

    async def balanced_to(self, node: int) -> bool:
        """Whether the balancer routes to host ``node`` again (its resume listener answers
        what the host answers, not HAProxy's 503)."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http, \
                    http.get(f"http://{self.lb}:{worker_port_base(node)}/") as r:
                return r.status != 503
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False


def guide_settings() -> dict[str, str]:
    """The ``DISCORD_ARCH_*`` lines of deploy/README.md's multi-host guide (its first ``sh``
    block after the heading), as written there for gw1; commented lines left out."""
    text = GUIDE.read_text()
    section = text[text.index("## Several gateway machines"):]
    start = section.index("```sh\n") + len("```sh\n")
    block = section[start:section.index("```", start)]
    settings: dict[str, str] = {}
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, value = line.partition("=")
            assert name.startswith("DISCORD_ARCH_"), line
            settings[name] = value
    return settings


def gateway_env(lab: Lab, node: int) -> dict[str, str]:
    """Host ``node``'s environment: the guide's lines with the lab's addresses in place of
    the guide's (and its node number and port range), then the test's short intervals."""
    lb, db = lab.hosts["lb"].address, lab.hosts["db"].address
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_ARCH_")}
    env["PYTHONPATH"] = str(ROOT)
    for name, value in guide_settings().items():
        value = (value.replace(GUIDE_BALANCER, lb).replace(GUIDE_NAME, lb)
                 .replace(GUIDE_STORES, db))
        if name == "DISCORD_ARCH_NODE_ID":
            value = str(node)
        elif name == "DISCORD_ARCH_WORKER_PORT_BASE":
            value = str(worker_port_base(node))
        env[name] = value
    for name, value in TEST_SETTINGS.items():
        assert f"DISCORD_ARCH_{name.upper()}" not in guide_settings(), name
        env[f"DISCORD_ARCH_{name.upper()}"] = str(value)
    return env


def start_gateway(cluster: Cluster, node: int) -> None:
    """``discord-arch serve --workers W --node-id N`` on host ``node``, with the guide's env."""
    data = cluster.workdir / f"gw{node}-data"
    data.mkdir(exist_ok=True)
    env = gateway_env(cluster.lab, node)
    proc = cluster.lab.spawn(
        f"gw{node}",
        [sys.executable, "-m", "gateway.cli", "serve", "--workers",
         env["DISCORD_ARCH_WORKERS"], "--node-id", str(node), "--data-dir", str(data)],
        log=cluster.workdir / f"gw{node}.log", cwd=ROOT, env=env)
    cluster.gateway_procs[node] = proc


def start_balancer(cluster: Cluster) -> None:
    """HAProxy on deploy/haproxy.cfg as it is, the addresses in its environment."""
    haproxy = shutil.which("haproxy")
    assert haproxy, "haproxy is not installed: apt-get install haproxy"
    env = {**os.environ, **{f"GW{n}": cluster.address(f"gw{n}") for n in NODES}}
    cluster.lab.run("lb", [haproxy, "-c", "-f", str(HAPROXY_CFG)], "haproxy -c", env=env)
    cluster.balancer = cluster.lab.spawn("lb", [haproxy, "-db", "-f", str(HAPROXY_CFG)],
                                         log=cluster.workdir / "lb.log", env=env)


async def wait_serving(cluster: Cluster, nodes: tuple[int, ...]) -> None:
    """Until every worker of ``nodes`` is ready, and the balancer routes to each of them."""
    for node in nodes:
        async def ready(node: int = node) -> bool:
            assert cluster.gateway_procs[node].poll() is None, (
                f"gw{node} exited:\n{cluster.log(f'gw{node}')[-3000:]}")
            return await cluster.host_ready(node)

        await until(ready, f"gw{node} is not ready", START_TIMEOUT_S)
    for node in nodes:
        assert cluster.balancer is not None and cluster.balancer.poll() is None, (
            f"haproxy exited:\n{cluster.log('lb')[-3000:]}")
        await until(functools.partial(cluster.balanced_to, node),
                    f"the balancer does not route to gw{node}", START_TIMEOUT_S)


def stop_gateways(cluster: Cluster) -> None:
    """SIGTERM every host at once and wait (bounded), while the stores still answer: each
    drains as systemctl stop would, and releases its node id."""
    stop_all([p for p in cluster.gateway_procs.values() if p.poll() is None])


def build(lab: Lab, workdir: Path) -> Cluster:
    """The whole cluster, serving; ``lab`` must be open (its close stops everything)."""
    for role, octet in (("db", 2), ("lb", 3), ("clients", 4)):
        lab.add_host(role, octet)
    for node in NODES:
        lab.add_host(f"gw{node}", 10 + node)
    start_stores(lab, "db", workdir)
    cluster = Cluster(lab, NamespaceLoop(lab.hosts["clients"].netns), workdir)
    # All at once: the first to migrate the empty database holds an advisory lock, the others
    # wait for it and find the schema made.
    try:
        start_balancer(cluster)
        for node in NODES:
            start_gateway(cluster, node)
        cluster.loop.run(wait_serving(cluster, NODES), START_TIMEOUT_S * 2 + 10)
    except BaseException:
        cluster.loop.close()
        stop_gateways(cluster)
        raise
    return cluster
