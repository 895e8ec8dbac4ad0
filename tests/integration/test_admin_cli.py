"""``discord-arch admin`` as the operator runs it: a real process, against real stores.

The actions themselves are tested on both SQL backends in tests/integration/test_admin.py;
here the command line (arguments, output, one-line errors, the log on stderr) and the one
thing only a running server shows: ``admin disable``, run while the server serves, closes the
user's live gateway session (4004) and gets its token refused within a second, on the
embedded default (where the CLI cannot reach the server's in-process bus or caches) and on
PostgreSQL with Redis (the multi-worker configuration).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from tests.api.conftest import Api
from tests.integration.conftest import postgres_schema
from tests.integration.gateway_client import free_port, running_server

CLI = [sys.executable, "-m", "gateway.cli", "admin"]
PASSWORD = "correct horse"
ENV = {**os.environ, "PYTHONPATH": os.getcwd(), "DISCORD_ARCH_ARGON2_TIME_COST": "1",
       "DISCORD_ARCH_ARGON2_MEMORY_KIB": "64"}


def admin(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=60, cwd=cwd,
                          env=ENV, input=stdin)


def log_lines(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines (stderr is no terminal here)."""
    return [json.loads(line) for line in stderr.splitlines()]


def test_admin_creates_a_user_and_sets_registration_on_sqlite(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    r = admin(["create-user", "Alice", "--password-stdin", "--admin", "--json", *data],
              tmp_path, stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert (made["username"], made["instance_admin"], made["disabled"]) == ("alice", True, False)
    assert "password" not in made  # given, so not printed
    (line,) = [x for x in log_lines(r.stderr) if x["logger"] == "core.admin"]
    assert (line["action"], line["username"], line["instance_admin"]) == (
        "create-user", "alice", True)
    assert PASSWORD not in r.stderr + r.stdout

    r = admin(["create-user", "bob", *data], tmp_path)  # a generated password, printed once
    assert r.returncode == 0, r.stderr
    created, shown = r.stdout.splitlines()
    assert created.startswith("created bob (id ") and shown.startswith("password: ")
    assert shown.split()[1] not in r.stderr

    # The store options before the action, as well as after.
    r = admin([*data, "registration", "invite-only"], tmp_path)
    assert (r.returncode, r.stdout) == (0, "registration is now invite-only\n"), r.stderr
    r = admin(["registration-code", "create", "--uses", "2", "--json", *data], tmp_path)
    assert r.returncode == 0, r.stderr
    code = json.loads(r.stdout)
    assert (code["max_uses"], code["uses"]) == (2, 0) and code["code"] not in r.stderr
    r = admin(["list-users", *data], tmp_path)
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["ID", "FLAGS", "USERNAME"]
    assert [row.split()[1:] for row in rows] == [["admin", "alice"], ["-", "bob"]]


def test_admin_errors_are_one_line_and_status_2(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    for args, stdin, error in (
        (["disable", "nobody"], None, "no account named 'nobody'"),
        (["create-user", "bob", "--password-stdin"], "", "--password-stdin: no password on stdin"),
        (["create-user", "a"], None, "username: Username must be 2-32 characters"),
        (["list-guilds", "--limit", "0"], None, "--limit must be 1 to 1000"),
    ):
        r = admin([*args, *data], tmp_path, stdin)
        assert r.returncode == 2, r
        assert r.stderr.startswith(f"discord-arch: error: {error}"), r.stderr
        assert len(r.stderr.splitlines()) == 1, r.stderr


async def test_admin_on_postgres(tmp_path: Path, postgres_dsn: str) -> None:
    async with postgres_schema(postgres_dsn) as schema:
        joiner = "&" if "?" in postgres_dsn else "?"
        url = ["--postgres-url", f"{postgres_dsn}{joiner}search_path={schema}"]
        made = await asyncio.to_thread(admin, ["create-user", "carol", *url], tmp_path)
        assert made.returncode == 0, made.stderr
        shown = await asyncio.to_thread(admin, ["show-user", "carol", "--json", *url], tmp_path)
        assert json.loads(shown.stdout)["username"] == "carol", shown.stderr


# -- with a running server -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres+redis"])
async def config(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Config]:
    base = dict(data_dir=str(tmp_path / "data"), http_port=free_port(),
                gateway_port=free_port(), metrics_port=0, argon2_time_cost=1,
                argon2_memory_kib=64, ratelimit_route_limit=1000, ratelimit_global_per_s=1000)
    if request.param == "sqlite":
        yield Config(**base)
        return
    dsn = request.getfixturevalue("postgres_dsn")
    async with postgres_schema(dsn) as schema:
        joiner = "&" if "?" in dsn else "?"
        yield Config(**base, postgres_url=f"{dsn}{joiner}search_path={schema}",
                     redis_url=request.getfixturevalue("redis_url"))


def store_args(config: Config) -> list[str]:
    """The CLI options naming the stores ``config`` names."""
    args = ["--data-dir", config.data_dir]
    for flag, value in (("--postgres-url", config.postgres_url),
                        ("--redis-url", config.redis_url)):
        if value:
            args += [flag, value]
    return args


async def test_admin_disable_closes_a_live_session_and_refuses_the_token_within_a_second(
    config: Config, tmp_path: Path,
) -> None:
    async with running_server(config) as server:
        api = Api(server.http)
        alice, bob = await api.register("alice"), await api.register("bob")
        async with server.connect() as alice_gw, server.connect() as bob_gw:
            await alice_gw.identify(alice.token)
            await bob_gw.identify(bob.token)
            assert (await api.get("/users/@me", alice.token)).status == 200  # cached now
            closed = asyncio.create_task(alice_gw.closed())
            proc = await asyncio.create_subprocess_exec(
                *CLI, "disable", "alice", *store_args(config), cwd=tmp_path, env=ENV,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            done = time.monotonic()
            assert proc.returncode == 0, err.decode()
            assert out.decode().startswith("disabled alice (id ")

            assert await closed == 4004  # Authentication failed
            assert time.monotonic() - done < 1.0
            while (await api.get("/users/@me", alice.token)).status != 401:
                assert time.monotonic() - done < 1.0, "the token still works"
                await asyncio.sleep(0.02)
            # Nobody else is touched.
            assert (await api.get("/users/@me", bob.token)).status == 200
            assert not bob_gw.ws.closed
        async with server.connect() as again:  # the old token cannot identify any more
            assert (await again.recv())["op"] == 10
            await again.send({"op": 2, "d": {"token": alice.token, "intents": 0, "properties": {
                "os": "linux", "browser": "test", "device": "test"}}})
            assert await again.closed() == 4004
        r = await api.post("/auth/login", json={"login": "alice", "password": PASSWORD})
        assert (r.status, r.body["code"]) == (403, 20013)
