"""The `discord-arch` command: serve on the embedded default, clear errors at start."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_workers import free_ports

CLI = [sys.executable, "-m", "gateway.cli"]
# Where nothing answers: a check that fails before any store is opened never gets there.
NO_REDIS = "redis://127.0.0.1:1/0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quiet_ports() -> list[str]:
    """Free gateway and HTTP ports and no ops port: the defaults (8081, 9090) may be taken on
    a shared machine, and a taken port is now an error of its own, checked before the stores."""
    return ["--http-port", str(_free_port()), "--gateway-port", str(_free_port()),
            "--metrics-port", "0"]


def _run(args: list[str], tmp_path: Path, timeout: float = 30,
         cli: list[str] = CLI) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli + args, capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_unreachable_postgres_is_one_line_error(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    r = _run(["serve", "--postgres-url", f"postgresql://u@127.0.0.1:{port}/db",
              *_quiet_ports()], tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("discord-arch: error:"), r.stderr
    assert "Traceback" not in r.stderr


def test_malformed_url_is_one_line_error(tmp_path: Path) -> None:
    r = _run(["serve", "--redis-url", "http://nope"], tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == "discord-arch: error: redis_url must start with redis:// or rediss:// or unix://"


def test_unreachable_redis_and_mongo_are_one_line_errors(tmp_path: Path) -> None:
    for flag, url in (("--redis-url", f"redis://127.0.0.1:{_free_port()}/0"),
                      ("--mongo-url", f"mongodb://127.0.0.1:{_free_port()}/")):
        r = _run(["serve", flag, url, *_quiet_ports(),
                  "--data-dir", str(tmp_path / "d")], tmp_path, timeout=60)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (flag, r.stderr)
        assert lines[0].startswith("discord-arch: error:") and "Traceback" not in r.stderr


def test_several_workers_with_redis_down_are_one_line_error_before_any_worker(
    tmp_path: Path,
) -> None:
    base = free_ports(4)  # http, gateway, the workers' own ports
    r = _run(["serve", "--workers", "2", "--redis-url", f"redis://127.0.0.1:{_free_port()}/0",
              "--http-port", str(base), "--gateway-port", str(base + 1), "--metrics-port", "0",
              "--data-dir", str(tmp_path / "d")], tmp_path, timeout=60)
    lines = r.stderr.strip().splitlines()
    # The platform is opened once by the CLI: no supervisor, no worker was started.
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("discord-arch: error:") and "Redis" in lines[0]


def test_serve_runs_embedded_default_and_stops_on_sigterm(tmp_path: Path) -> None:
    http_port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "DISCORD_ARCH_HTTP_PORT": str(http_port),
           "DISCORD_ARCH_GATEWAY_PORT": str(_free_port()), "DISCORD_ARCH_METRICS_PORT": "0"}
    proc = subprocess.Popen(CLI + ["serve", "--data-dir", str(tmp_path / "data")], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/v10/gateway") as r:
                    assert r.headers["Content-Type"] == "application/json"
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.1)
        assert body is not None and body["url"].startswith("ws://"), proc.stderr
        assert (tmp_path / "data" / "discord-arch.sqlite3").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def _get_gateway(http_port: int) -> dict[str, str] | None:
    """``GET /api/v10/gateway``'s body, or None while nothing answers."""
    try:
        url = f"http://127.0.0.1:{http_port}/api/v10/gateway"
        with urllib.request.urlopen(url, timeout=5) as r:
            return dict(json.loads(r.read()))
    except OSError:
        return None


def test_a_second_instance_on_the_same_ports_exits_2_and_the_first_serves_on(
    tmp_path: Path,
) -> None:
    http, gateway, metrics = _free_port(), _free_port(), _free_port()
    ports = ["--http-port", str(http), "--gateway-port", str(gateway),
             "--metrics-port", str(metrics)]
    first = subprocess.Popen(CLI + ["serve", "--data-dir", str(tmp_path / "first"), *ports],
                             cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.getcwd()},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while _get_gateway(http) is None:
            assert first.poll() is None and time.monotonic() < deadline, "first did not start"
            time.sleep(0.1)
        # Another data directory, the same ports: with one worker and with several (whose
        # SO_REUSEPORT group the kernel would otherwise let it join).
        for extra in ([], ["--workers", "2", "--redis-url", NO_REDIS]):
            r = _run(["serve", "--data-dir", str(tmp_path / "second"), *ports, *extra],
                     tmp_path)
            assert (r.returncode, r.stderr) == (
                2, f"discord-arch: error: port {http} is in use by another process\n"), extra
        assert not (tmp_path / "second").exists()  # refused before opening anything
        body = _get_gateway(http)
        assert body is not None and body["url"] == f"ws://127.0.0.1:{gateway}"
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err


@pytest.mark.parametrize("taken, workers, message", [
    (1, 2, "port {port} is in use by another process"),
    (3, 2, "port {port} is in use by another process: worker_port_base + 1 "
           "(worker 1's own gateway port)"),
    (5, 2, "port {port} is in use by another process: metrics_port + 1 (worker 1's ops "
           "port); move it with --metrics-port, or 0 turns it off"),
    (4, 1, "port {port} is in use by another process: metrics_port (the ops port); "
           "move it with --metrics-port, or 0 turns it off"),
])
def test_every_port_of_the_instance_is_checked(
    tmp_path: Path, taken: int, workers: int, message: str
) -> None:
    """Each port as another instance's worker would hold it: listening with SO_REUSEPORT."""
    base = free_ports(6)  # http, gateway, worker 0's and 1's own, ops 0 and 1
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", base + taken))
        holder.listen()
        r = _run(["serve", "--workers", str(workers), "--redis-url", NO_REDIS,
                  "--http-port", str(base), "--gateway-port", str(base + 1),
                  "--metrics-port", str(base + 4), "--data-dir", str(tmp_path / "d")],
                 tmp_path)
    assert r.returncode == 2
    assert r.stderr == "discord-arch: error: " + message.format(port=base + taken) + "\n"


@pytest.mark.parametrize("flag, url, module, what, extra", [
    ("--postgres-url", "postgresql://u@127.0.0.1:1/db", "asyncpg", "PostgreSQL", "postgres"),
    ("--mongo-url", "mongodb://127.0.0.1:1/", "pymongo", "MongoDB", "mongo"),
    ("--redis-url", NO_REDIS, "redis", "Redis", "redis"),
])
def test_a_backend_without_its_driver_names_the_extra_to_install(
    tmp_path: Path, flag: str, url: str, module: str, what: str, extra: str
) -> None:
    # The driver made unimportable, as if its extra were not installed.
    missing = [sys.executable, "-c", f"import sys; sys.modules[{module!r}] = None; "
               "from gateway.cli import main; sys.exit(main(sys.argv[1:]))"]
    r = _run(["serve", flag, url, *_quiet_ports()], tmp_path, cli=missing)
    assert (r.returncode, r.stderr) == (2, f"discord-arch: error: {flag} needs the {what} "
                                           f"driver: pip install 'discord-arch[{extra}]'\n")


def test_config_file_goes_before_or_after_the_sub_command(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('REDIS_URL = "http://nope"\n')  # read, then refused: proof it was read
    for args in (["--config", str(toml), "serve"], ["serve", "--config", str(toml)],
                 ["migrate", "--config", str(toml)]):
        r = _run(args, tmp_path)
        assert (r.returncode, r.stderr.strip()) == (2, "discord-arch: error: redis_url must "
                                                       "start with redis:// or rediss:// or "
                                                       "unix://"), args


def test_version_is_the_installed_package_s(tmp_path: Path) -> None:
    r = _run(["--version"], tmp_path)
    version = importlib.metadata.version("discord-arch")
    assert (r.returncode, r.stdout) == (0, f"discord-arch {version}\n")
