"""deploy/: the systemd unit verifies, the env file and sysctl drop-in are complete, and the
real binary speaks sd_notify (READY=1 once it serves, STOPPING=1 on SIGTERM) with its ops port
answering and its logs in JSON lines."""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import fields
from pathlib import Path

import aiohttp
import orjson
import pytest

from core.config import ENV_PREFIX, Config
from gateway.notify import Notifier
from tests.integration.gateway_client import TIMEOUT, GatewayClient, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "discord-arch.service"
EXEC_START = "/opt/discord-arch/.venv/bin/discord-arch serve"
START_TIMEOUT_S = 30.0


# -- the unit file --------------------------------------------------------------------------------


def _unit() -> configparser.ConfigParser:
    # strict=False: systemd allows a key more than once (SystemCallFilter); the last one wins
    # here, which is enough for the checks below.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign] - keys are case-sensitive
    parser.read(UNIT)
    return parser


def test_unit_verifies_with_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd", pytrace=False)
    # verify checks that ExecStart's binary exists: point it at this checkout's.
    binary = shutil.which("discord-arch", path=str(Path(sys.executable).parent))
    assert binary is not None, "the discord-arch script is not installed in this venv"
    text = UNIT.read_text()
    assert f"ExecStart={EXEC_START}\n" in text
    copy = tmp_path / "discord-arch.service"
    copy.write_text(text.replace(f"ExecStart={EXEC_START}", f"ExecStart={binary} serve"))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    # Any line about our unit is a warning or an error (unknown key, bad value...).
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if "discord-arch" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def test_unit_has_the_settings_the_service_relies_on() -> None:
    service = _unit()["Service"]
    expected = {
        "Type": "notify", "NotifyAccess": "main", "ExecStart": EXEC_START,
        "EnvironmentFile": "-/etc/discord-arch/env", "LimitNOFILE": "1048576",
        "Restart": "on-failure", "KillMode": "mixed", "StateDirectory": "discord-arch",
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "NoNewPrivileges": "yes", "DynamicUser": "yes", "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }
    for key, value in expected.items():
        assert service.get(key) == value, (key, service.get(key))
    assert "Environment=DISCORD_ARCH_DATA_DIR=/var/lib/discord-arch" in UNIT.read_text()
    assert "SystemCallFilter=@system-service" in UNIT.read_text()
    # systemd must not SIGKILL a worker that is still within its drain deadline.
    assert float(service["TimeoutStopSec"]) > Config().drain_timeout_s + 5


def test_env_example_lists_every_setting_with_its_default() -> None:
    listed: dict[str, str] = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if m := re.fullmatch(r"#? ?(DISCORD_ARCH_[A-Z0-9_]+)=(.*)", line):
            listed[m[1]] = m[2]
    names = {ENV_PREFIX + f.name.upper(): f for f in fields(Config)}
    missing = set(names) - set(listed)
    assert not missing, f"add to deploy/env.example: {sorted(missing)}"
    # Not settings: the config file's path, and the import-time switch of gateway.listener
    # (the pure-Python frame builder instead of gateway.speedups).
    assert set(listed) - set(names) == {ENV_PREFIX + "CONFIG", ENV_PREFIX + "NO_SPEEDUPS"}
    for name, field in names.items():
        if field.default:  # a value to show; empty defaults show an example instead
            loaded = Config.load({name: listed[name]})
            assert getattr(loaded, field.name) == field.default, (name, listed[name])


def test_sysctl_dropin_sets_the_connection_limits() -> None:
    settings = {}
    for line in (DEPLOY / "99-discord-arch.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    for key in ("net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog",
                "net.ipv4.ip_local_port_range", "fs.nr_open", "net.ipv4.tcp_mem"):
        assert key in settings, key
    # LimitNOFILE in the unit cannot exceed fs.nr_open.
    assert int(settings["fs.nr_open"]) >= int(_unit()["Service"]["LimitNOFILE"])


# -- sd_notify ------------------------------------------------------------------------------------


def test_notifier_reaches_an_abstract_socket() -> None:
    name = f"discord-arch-test-{os.getpid()}-{free_port()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(TIMEOUT)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready("up\nand running")
        assert sock.recv(4096) == b"READY=1\nSTATUS=up and running"
        assert notifier.status("draining")
        assert sock.recv(4096) == b"STATUS=draining"


def test_notifier_without_socket_does_nothing() -> None:
    assert not Notifier.from_env({}).ready()
    assert not Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
    assert not Notifier("/nonexistent/notify").stopping()  # logged, never raised


class _Service:
    """``discord-arch serve`` as systemd would run it: NOTIFY_SOCKET set, stderr not a tty."""

    def __init__(self, tmp_path: Path) -> None:
        self.http_port, self.gateway_port, self.metrics_port = (free_port() for _ in range(3))
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(tmp_path / "notify"))
        self.notify.setblocking(False)
        self.stderr_path = tmp_path / "stderr"
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": str(tmp_path / "notify"),
            "DISCORD_ARCH_DATA_DIR": str(tmp_path / "data"),
            "DISCORD_ARCH_HTTP_PORT": str(self.http_port),
            "DISCORD_ARCH_GATEWAY_PORT": str(self.gateway_port),
            "DISCORD_ARCH_METRICS_PORT": str(self.metrics_port),
            "DISCORD_ARCH_ARGON2_TIME_COST": "1", "DISCORD_ARCH_ARGON2_MEMORY_KIB": "64",
        }
        env.pop("DISCORD_ARCH_LOG_FORMAT", None)
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"],
                                         cwd=tmp_path, env=env, stderr=stderr)

    async def message(self) -> bytes:
        """The next datagram on the notify socket (callers bound the wait)."""
        return await asyncio.get_running_loop().sock_recv(self.notify, 4096)

    async def expect(self, within_s: float) -> bytes:
        try:
            async with asyncio.timeout(within_s):
                return await self.message()
        except TimeoutError:
            raise AssertionError(f"no sd_notify message; stderr:\n{self.stderr}") from None

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        self.notify.close()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[_Service]:
    s = _Service(tmp_path)
    try:
        yield s
    finally:
        s.close()


def _assignments(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().splitlines())


async def test_serve_notifies_ready_then_stopping(service: _Service) -> None:
    ready = _assignments(await service.expect(START_TIMEOUT_S))
    assert ready["READY"] == "1" and "STATUS" in ready
    # Ready means serving: every port answers already, and the stores do.
    async with aiohttp.ClientSession() as http:
        ops = f"http://127.0.0.1:{service.metrics_port}"
        async with http.get(ops + "/healthz") as r:
            assert r.status == 200
        async with http.get(ops + "/readyz") as r:
            assert r.status == 200, await r.text()
        base = f"http://127.0.0.1:{service.http_port}/api/v10"
        async with http.post(base + "/auth/register",
                             json={"username": "ops", "password": "correct horse"}) as r:
            assert r.status == 201
            token = (await r.json())["token"]
        ws = await http.ws_connect(f"http://127.0.0.1:{service.gateway_port}/?v=10&encoding=json")
        try:
            await GatewayClient(ws, "json", None).identify(token)
        finally:
            await ws.close()
        async with http.get(ops + "/metrics") as r:
            text = await r.text()
    assert 'discord_arch_gateway_identifies_total{result="ok"} 1.0' in text
    assert re.search(r'discord_arch_http_request_seconds_count\{method="POST",'
                     r'route="/api/v10/auth/register",status="2xx"\} 1\.0', text), text

    service.proc.send_signal(signal.SIGTERM)
    stopping = _assignments(await service.expect(TIMEOUT))
    assert stopping["STOPPING"] == "1"
    assert await asyncio.to_thread(service.proc.wait, START_TIMEOUT_S) == 0, service.stderr
    # Not a terminal: every line is one JSON object, and the token is in none of them.
    lines = service.stderr.splitlines()
    records = [orjson.loads(line) for line in lines]
    assert {"ts", "level", "logger", "msg"} <= set(records[0])
    assert any(r["msg"].startswith("identified user") and r.get("session_id") for r in records)
    assert not any(token in line for line in lines)
