"""``bench/locustfile.py`` against a real server, so that the load test cannot rot.

A real ``discord-arch serve`` (embedded SQLite in a temporary directory, free ports, the
server's default rate limits, cheap Argon2 since sign-ups are set-up) and ``locust --headless``
with three users of each class for 10 s, quick users (0.1-0.3 s between tasks) so that every
task runs and the per-user send limit (5 per 5 s) is hit. The stats must show no failure, a
success for every request name the locustfile reports, and honoured 429s counted apart. No
gateway echo, a MESSAGE_SEND_FAILED or a dropped connection would fail it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
_RUN_S = 10

# (method, name) of every request the locustfile makes once set up.
EXPECTED = [
    ("POST", "/auth/register"),
    ("POST", "/invites/{code}"),
    ("POST", "/channels/{id}/messages"),
    ("GET", "/channels/{id}/messages?limit=50"),
    ("GET", "/channels/{id}/messages?before={id}&limit=50"),
    ("GET", "/users/@me/guilds"),
    ("WS", "connect -> READY"),
    ("WS", "op 50 send -> MESSAGE_CREATE echo"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(tmp_path: Path) -> Iterator[str]:
    """``python -m gateway.cli serve`` on free ports; yields its REST base URL."""
    http, gateway, metrics = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "PYTHONPATH": str(_REPO), "DISCORD_ARCH_ARGON2_TIME_COST": "1",
           "DISCORD_ARCH_ARGON2_MEMORY_KIB": "8", "DISCORD_ARCH_LOG_LEVEL": "WARNING",
           "DISCORD_ARCH_METRICS_PORT": str(metrics)}
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(tmp_path / "server.log", "w"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(http),
             "--gateway-port", str(gateway), "--data-dir", str(tmp_path / "data")],
            cwd=_REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(_stop, proc)
        url = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(url + "/api/v10/gateway", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield url


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_locustfile_runs_every_task_without_failures(tmp_path: Path) -> None:
    stats_file = tmp_path / "stats.json"
    with _server(tmp_path) as host:
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(_REPO / "bench" / "locustfile.py"), "--headless",
             "-u", "6", "-r", "6", "-t", f"{_RUN_S}s", "--host", host, "--only-summary",
             "--think-time", "0.1,0.3", "--echo-timeout", "3",
             # Every task often enough to be seen in 10 s (the default 10,4,1,1 may, by
             # chance, never scroll back in so short a run), sends still the most frequent.
             "--rest-weights", "3,1,1,1",
             "--json-file", str(stats_file.with_suffix(""))],
            cwd=tmp_path, capture_output=True, text=True, timeout=_RUN_S + 30)
    output = run.stdout[-3000:] + run.stderr[-5000:]
    assert run.returncode == 0, output  # locust exits 1 on any failure or user error
    stats = {(s["method"], s["name"]): s for s in json.loads(stats_file.read_text())}
    assert all(s["num_failures"] == 0 for s in stats.values()), output
    for key in EXPECTED:
        assert key in stats, (key, output)
        assert stats[key]["num_requests"] - stats[key]["num_failures"] >= 1, (key, output)
    # Three quick senders per 5 s bucket of 5: some sends were answered 429, waited out and
    # retried; they are counted apart, and not as failures.
    limited = stats.get(("POST", "/channels/{id}/messages (429)"))
    assert limited is not None and limited["num_requests"] >= 1, output
    # The gateway users received the guild's messages, not only their own echoes.
    assert "gateway users received" in run.stderr, output
