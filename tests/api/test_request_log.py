"""One DEBUG line per REST request (api.ops): method, path, status, time; never a secret."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from aiohttp import web

from api.ops import measure_middleware
from core.metrics import Metrics
from tests.api.conftest import Api

LINE = re.compile(r"^(GET|POST) (\S+) (\d{3}) \d+\.\d ms$")


async def test_each_request_is_one_debug_line_without_query_or_token(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="api.ops")
    alice = await api.register()
    r = await api.get("/users/@me", alice.token, params={"with_secret": "hunter2"})
    assert r.status == 200
    assert (await api.get("/nowhere", alice.token)).status == 404
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "api.ops"]
    assert [LINE.match(line).groups() for line in lines] == [  # type: ignore[union-attr]
        ("POST", "/api/v10/auth/register", "201"),
        ("GET", "/api/v10/users/@me", "200"),
        ("GET", "/api/v10/nowhere", "404"),
    ]
    assert not any(alice.token in line or "hunter2" in line for line in caplog.messages)


async def test_no_line_above_debug(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="api.ops")
    await api.register()
    assert not [rec for rec in caplog.records if rec.name == "api.ops"]


async def test_a_path_with_a_token_in_it_logs_its_route_template(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = web.Application(middlewares=[measure_middleware(Metrics())])

    async def hook(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_post("/webhooks/{webhook_id}/{webhook_token}", hook)
    client = await aiohttp_client(app)
    caplog.set_level(logging.DEBUG, logger="api.ops")
    assert (await client.post("/webhooks/1/s3cr3t")).status == 204
    assert [rec.getMessage().rsplit(" ", 2)[0] for rec in caplog.records] == [
        "POST /webhooks/{webhook_id}/{webhook_token} 204"]
