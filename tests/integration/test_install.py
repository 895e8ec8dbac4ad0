"""The README's one-command install works on a machine without a C or C++ compiler.

A core promise (README, "Run it"), so it runs in the normal suite and is never skipped: a
fresh venv, a PATH whose ``cc``, ``c++``, ``gcc``, ``g++`` and ``clang`` fail (and
``CC``/``CXX`` set to ``false``), a plain ``pip install`` of the repository (no ``-e``; pip
as configured on this machine, its index and cache), then the installed ``discord-arch serve``
answers REST and hands an ETF client its Hello. erlpack (a C++ extension with no wheel) is
the ``speedups`` extra, not a requirement: it must not be installed, since nothing could have
built it; nor may the optional C extension ``gateway.speedups`` (setup.py), whose failed build
is a warning: the gateway then uses ``gateway.frames``.

The repository is copied first (its files, without .git, .venv and build leftovers): pip
builds a project in its own directory (``build/``, ``*.egg-info``), and this test must not
race ``scripts/test``'s editable install, or another run of itself, in the working tree.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import etf
from tests.integration.test_cli import _free_port

ROOT = Path(__file__).resolve().parents[2]
COMPILERS = ("cc", "c++", "gcc", "g++", "clang", "clang++")
# Not part of the project: environments, caches, build leftovers, data of local runs.
_TOP_LEVEL_SKIPPED = {".git", ".venv", "build", "data", "test-artifacts"}


def _copy_of_the_repository(dest: Path) -> Path:
    def skipped(directory: str, names: list[str]) -> set[str]:
        out = {n for n in names if n in ("__pycache__", "node_modules")
               or n.endswith((".egg-info", "_cache", ".so", ".pyd"))}  # .so: an editable build's
        if Path(directory) == ROOT:
            out |= _TOP_LEVEL_SKIPPED & set(names)
        return out

    shutil.copytree(ROOT, dest, ignore=skipped, symlinks=True)
    return dest


def _no_compiler_env(tmp_path: Path, venv: Path) -> dict[str, str]:
    fake = tmp_path / "no-compiler"
    fake.mkdir()
    for name in COMPILERS:
        script = fake / name
        script.write_text(f'#!/bin/sh\necho "{name}: no compiler on this machine" >&2\nexit 1\n')
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=os.pathsep.join([str(fake), str(venv / "bin"), env.get("PATH", "")]),
               CC="false", CXX="false", PIP_NO_INPUT="1")
    return env


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


async def _etf_hello(gateway_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"{gateway_url}/?v=10&encoding=etf") as ws:
        frame = await ws.receive(timeout=10)
        assert frame.type == aiohttp.WSMsgType.BINARY, frame
        return _keys_as_str(etf.unpack(frame.data))


def _keys_as_str(value: Any) -> Any:
    """erlpack's decoding gives binaries as bytes: the payload's keys as str."""
    if isinstance(value, dict):
        return {(k.decode() if isinstance(k, bytes) else str(k)): _keys_as_str(v)
                for k, v in value.items()}
    return value


@pytest.mark.timeout(300)  # the install is ~30 s with pip's cache warm, more when cold
def test_pip_install_without_a_compiler_serves_rest_and_an_etf_gateway(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = _no_compiler_env(tmp_path, venv)
    for name in COMPILERS:  # the compilers really are out of reach
        found = shutil.which(name, path=env["PATH"])
        assert found and Path(found).parent == tmp_path / "no-compiler", name
    src = _copy_of_the_repository(tmp_path / "src")

    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check",
                        "--quiet", str(src)],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, f"pip install failed:\n{r.stdout}\n{r.stderr}"
    probe = ("import importlib.metadata as m, importlib.util as u\n"
             "try:\n    m.version('erlpack')\nexcept m.PackageNotFoundError:\n    pass\n"
             "else:\n    raise SystemExit('erlpack is installed')\n"
             "assert u.find_spec('erlpack') is None, 'erlpack is importable'\n"
             # setup.py's optional C extension: its failed build let the install go on, and
             # the gateway writes frames with the pure-Python twin.
             "assert u.find_spec('gateway.speedups') is None, 'gateway.speedups was built'\n"
             "import gateway.listener as l\n"
             "assert l.frames_buffer.__module__ == 'gateway.frames', l.frames_buffer\n"
             "print(m.version('discord-arch'))")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", probe], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip(), r.stdout + r.stderr

    http, gateway = _free_port(), _free_port()
    server = subprocess.Popen(
        [str(venv / "bin" / "discord-arch"), "serve", "--data-dir", str(tmp_path / "data"),
         "--http-port", str(http), "--gateway-port", str(gateway), "--metrics-port", "0"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        deadline = time.monotonic() + 60
        while body is None:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the installed server did not answer"
            try:
                body = _get(f"http://127.0.0.1:{http}/api/v10/gateway")
            except OSError:
                time.sleep(0.2)
        assert body == {"url": f"ws://127.0.0.1:{gateway}"}
        hello = asyncio.run(_etf_hello(body["url"]))
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0, hello
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
