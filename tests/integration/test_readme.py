"""README.md's "Try it" runs as pasted, against a real ``discord-arch serve``.

The README marks its blocks with ``<!-- readme-test: NAME -->`` on the line before the fence:
``shell`` (register or log in, a guild, its text channel, a message sent and read back),
``hello_gateway.py`` (the gateway example) and ``run`` (the line that runs it). They are taken
as written, with two substitutions only: the default HTTP address becomes the test server's
free port, and ``.venv/bin/python`` this interpreter. The server is the CLI in a subprocess
(free ports, its own data directory), as a reader starts it.

The shell runs in bash with ``-e -u -o pipefail``, stricter than a pasted session (which
carries on after a failed step), so any failing step fails the test. It runs twice: the second
time the name is taken and the block must fall back to logging in.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# A marker, the fence's opening line, then everything up to the closing fence.
_BLOCK = re.compile(r"<!-- readme-test: (\S+) -->\n```[^\n]*\n(.*?)\n```", re.S)
_DEFAULT_HTTP = re.compile(r"(?:localhost|127\.0\.0\.1):8080\b")


def readme_blocks() -> dict[str, str]:
    """The marked blocks of README.md by name."""
    return {name: code for name, code in _BLOCK.findall(README.read_text())}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """``discord-arch serve`` on free ports (the ops port off); yields its HTTP port."""
    http, gateway = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_ARCH_")}
    env.update(PYTHONPATH=str(ROOT), DISCORD_ARCH_HTTP_PORT=str(http),
               DISCORD_ARCH_GATEWAY_PORT=str(gateway), DISCORD_ARCH_METRICS_PORT="0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/v10/gateway") as r:
                    json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.1)
        yield http
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _localize(code: str, http_port: int) -> str:
    return _DEFAULT_HTTP.sub(f"127.0.0.1:{http_port}", code)


def test_readme_marks_its_try_it_blocks() -> None:
    blocks = readme_blocks()
    assert {"shell", "hello_gateway.py", "run"} <= set(blocks), sorted(blocks)
    # The README shows the default ports; only the test moves them.
    assert "localhost:8080" in blocks["shell"] and "localhost:8080" in blocks["hello_gateway.py"]


def test_try_it_runs_as_pasted(server: int, tmp_path: Path) -> None:
    blocks = readme_blocks()
    work = tmp_path / "reader"
    work.mkdir()
    (work / "hello_gateway.py").write_text(_localize(blocks["hello_gateway.py"], server))
    run = blocks["run"].replace(".venv/bin/python", sys.executable)
    script = _localize(blocks["shell"], server) + "\n" + run + "\n"
    name = re.search(r"^NAME=(\S+)", blocks["shell"], re.M)
    assert name is not None, "the shell block names its user on a line of its own"
    me = name[1]
    # python3 in the shell is the one running the tests (any python3 would do for `j`).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for attempt in ("registers", "logs in"):
        done = subprocess.run(["bash", "-e", "-u", "-o", "pipefail", "-c", script], cwd=work,
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (attempt, done.stdout, done.stderr)
        lines = done.stdout.splitlines()
        assert lines[0].startswith("sent message "), (attempt, done.stdout)
        assert lines[1] == f"{me}: Hello, world", (attempt, done.stdout)
        assert lines[2].startswith("Hello: heartbeat every "), (attempt, done.stdout)
        assert lines[3:] == [f"READY as {me}", f"MESSAGE_CREATE {me}: Hello, gateway"], (
            attempt, done.stdout)
