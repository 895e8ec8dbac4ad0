"""`discord-arch backup` and `restore` as an operator runs them, beside a real `serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.test_cli import CLI, _free_port, _run

PASSWORD = "correct horse battery"


@contextmanager
def _serving(data_dir: Path, cwd: Path) -> Iterator[str]:
    """``discord-arch serve`` on ``data_dir`` and free ports; yields its API base URL."""
    http = _free_port()
    proc = subprocess.Popen(
        CLI + ["serve", "--data-dir", str(data_dir), "--http-port", str(http),
               "--gateway-port", str(_free_port()), "--metrics-port", "0"],
        cwd=cwd, env={**os.environ, "PYTHONPATH": os.getcwd()},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    api = f"http://127.0.0.1:{http}/api/v10"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _call(api, "GET", "/gateway")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        yield api
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def _call(api: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    request = urllib.request.Request(
        api + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": token} if token else {})})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def _one_line(r: subprocess.CompletedProcess[str], status: int) -> str:
    """The one line a command printed (stdout on success, stderr on failure)."""
    lines = (r.stdout if status == 0 else r.stderr).strip().splitlines()
    assert (r.returncode, len(lines)) == (status, 1), (r.returncode, r.stdout, r.stderr)
    return lines[0]


def test_backup_while_serving_restore_refused_there_and_restored_elsewhere(
    tmp_path: Path,
) -> None:
    live, fresh, backups = tmp_path / "live", tmp_path / "fresh", tmp_path / "backups"
    with _serving(live, tmp_path) as api:
        token = _call(api, "POST", "/auth/register",
                      {"username": "alice", "password": PASSWORD})["token"]
        guild = _call(api, "POST", "/guilds", {"name": "backed up"}, token)
        channel = guild["system_channel_id"]
        sent = [_call(api, "POST", f"/channels/{channel}/messages", {"content": f"m{i}"}, token)
                for i in range(5)]  # the write limit: 5 per 5 s

        line = _one_line(_run(["backup", str(backups), "--data-dir", str(live)], tmp_path), 0)
        assert line.startswith(f"backed up {live} to {backups}/discord-arch-"), line
        assert len(list(backups.glob("discord-arch-*.sqlite3"))) == 1
        assert len(list(backups.glob("discord-arch-*.json"))) == 1

        r = _run(["restore", str(backups), "--data-dir", str(live)], tmp_path)
        assert _one_line(r, 2) == (
            f"discord-arch: error: a server is using the data directory {live} (it holds "
            "discord-arch.lock); stop it first, or pass --force")

        line = _one_line(_run(["restore", str(backups), "--data-dir", str(fresh)], tmp_path), 0)
        assert line.startswith("restored ") and line.endswith(
            f"into {fresh / 'discord-arch.sqlite3'}"), line
        # The server still answers from its own database, untouched.
        assert len(_call(api, "GET", f"/channels/{channel}/messages", token=token)) == 5

    with _serving(fresh, tmp_path) as api:
        # The restored database has the account, its guild and its messages.
        login = _call(api, "POST", "/auth/login", {"login": "alice", "password": PASSWORD})
        history = _call(api, "GET", f"/channels/{channel}/messages", token=login["token"])
        assert [m["id"] for m in history] == [m["id"] for m in reversed(sent)]
        assert [m["content"] for m in history] == [f"m{i}" for i in reversed(range(5))]


def test_restore_force_replaces_the_database_of_a_running_server_with_a_warning(
    tmp_path: Path,
) -> None:
    live, backups = tmp_path / "live", tmp_path / "backups"
    with _serving(live, tmp_path) as api:
        _call(api, "POST", "/auth/register", {"username": "alice", "password": PASSWORD})
        _one_line(_run(["backup", str(backups), "--data-dir", str(live)], tmp_path), 0)
        r = _run(["restore", str(backups), "--data-dir", str(live), "--force"], tmp_path)
        assert r.returncode == 0 and r.stdout.startswith("restored "), r.stderr
        assert r.stderr == (f"discord-arch: warning: a process still holds {live}: restart it "
                            "now (it still has the old database open)\n")


def test_backup_of_the_production_backends_points_to_the_docs(tmp_path: Path) -> None:
    for flags, named in ((["--postgres-url", "postgresql://app@db/discord"], "PostgreSQL"),
                         (["--mongo-url", "mongodb://mongo/"], "MongoDB")):
        for command in ("backup", "restore"):
            r = _run([command, str(tmp_path / "b"), *flags], tmp_path)
            line = _one_line(r, 2)
            assert line.startswith(f"discord-arch: error: {command} covers the embedded SQLite "
                                   f"database only, not {named}"), line
            assert "docs/operations.md" in line
    assert not (tmp_path / "b").exists()


def test_backup_and_restore_errors_are_one_line(tmp_path: Path) -> None:
    line = _one_line(_run(["backup", str(tmp_path / "b"), "--data-dir",
                           str(tmp_path / "none")], tmp_path), 2)
    assert line.startswith("discord-arch: error: no database at "), line
    line = _one_line(_run(["restore", str(tmp_path / "nowhere.txt")], tmp_path), 2)
    assert line.startswith("discord-arch: error: ") and "neither a backup directory" in line
    line = _one_line(_run(["restore", str(tmp_path / "b.sqlite3")], tmp_path), 2)
    assert line.startswith("discord-arch: error: no manifest at "), line
