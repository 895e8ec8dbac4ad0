"""The `discord-arch` command: serve on the embedded default, clear errors at start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CLI = [sys.executable, "-m", "gateway.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], tmp_path: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_unreachable_postgres_is_one_line_error(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    r = _run(["serve", "--postgres-url", f"postgresql://u@127.0.0.1:{port}/db",
              "--http-port", str(_free_port())], tmp_path)
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
        r = _run(["serve", flag, url, "--http-port", str(_free_port()),
                  "--data-dir", str(tmp_path / "d")], tmp_path, timeout=60)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (flag, r.stderr)
        assert lines[0].startswith("discord-arch: error:") and "Traceback" not in r.stderr


def test_several_workers_with_redis_down_are_one_line_error_before_any_worker(
    tmp_path: Path,
) -> None:
    http = _free_port()
    r = _run(["serve", "--workers", "2", "--redis-url", f"redis://127.0.0.1:{_free_port()}/0",
              "--http-port", str(http), "--gateway-port", str(_free_port()),
              "--data-dir", str(tmp_path / "d")], tmp_path, timeout=60)
    lines = r.stderr.strip().splitlines()
    # The platform is opened once by the CLI: no supervisor, no worker was started.
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("discord-arch: error:") and "Redis" in lines[0]


def test_serve_runs_embedded_default_and_stops_on_sigterm(tmp_path: Path) -> None:
    http_port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "DISCORD_ARCH_HTTP_PORT": str(http_port)}
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
