"""Schemathesis against the served OpenAPI document, on a real worker (bounded: ~20 s).

What a client generated from ``/api/openapi.json`` would do: take ``servers[0].url`` and the
paths as written, and call every operation with data made from its schemas (valid and, with
the ids of a real guild, channel, role, message, invite and bot, invalid). Each response must
be no server error, have a documented status and content type, and match its schema; and
every call must reach a route (an unknown-route 404 means the document's URLs are wrong: the
paths and the server URL once both carried ``/api/v10``). Operations that delete run last.

The worker runs in a thread of its own with its own loop (``running_server``), because
schemathesis calls it with a blocking client.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.config import Config
from tests.integration.gateway_client import free_port, running_server

# Examples per operation: with ~55 operations the run takes ~10 s here (30: ~25 s).
MAX_EXAMPLES = 12
_START_S = 20.0
# Logging out would revoke the token every other call uses.
_NO_TOKEN = {"POST /api/v10/auth/logout"}


@contextlib.contextmanager
def _serving(config: Config) -> Iterator[None]:
    """A worker (``gateway.worker.serve``) on its own loop in a thread, until the block ends."""
    started = threading.Event()
    handle: dict[str, Any] = {}

    async def main() -> None:
        async with running_server(config) as server:
            handle["loop"], handle["stop"] = asyncio.get_running_loop(), server.stop
            started.set()
            await server.stop.wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by the waiting test below
            handle["error"] = exc
            started.set()

    thread = threading.Thread(target=run, name="worker-under-test", daemon=True)
    thread.start()
    assert started.wait(_START_S), "the worker did not start"
    if "error" in handle:
        raise handle["error"]
    try:
        yield
    finally:
        handle["loop"].call_soon_threadsafe(handle["stop"].set)
        thread.join(_START_S)


def routed(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool:
    """The request reached a route: not the unknown-route 404 or 405 (``code`` 0)."""
    if response.status_code in (404, 405):
        body = response.json()
        assert not (isinstance(body, dict) and body.get("code") == 0), (
            f"{case.method} {case.formatted_path} reached no route: the document's URL is wrong"
        )
    return True


def test_every_operation_conforms_to_the_served_document(tmp_path: Path) -> None:
    config = Config(
        data_dir=str(tmp_path), http_port=free_port(), gateway_port=free_port(),
        metrics_port=free_port(), argon2_time_cost=1, argon2_memory_kib=64,
        ratelimit_route_limit=0, batch_max_delay_ms=0,
    )
    with _serving(config), requests.Session() as session:
        base = config.http_url
        reply = session.post(f"{base}/api/v10/auth/register",
                             json={"username": "fuzzer", "password": "correct horse"}, timeout=5)
        assert reply.status_code == 201, reply.text
        token = reply.json()["token"]
        ids = _real_ids(session, f"{base}/api/v10", token)
        schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
        checks = [not_a_server_error, status_code_conformance, content_type_conformance,
                  response_schema_conformance, routed]
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 40
        operations.sort(key=lambda op: op.method.upper() == "DELETE")
        for operation in operations:
            name = f"{operation.method.upper()} {operation.path}"
            headers = {} if name in _NO_TOKEN else {"Authorization": token}
            try:
                _examples(operation, session, headers, checks, ids)()
            # schemathesis' FailureGroup is a BaseExceptionGroup; list every failing operation.
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{name}: {exc}"[:2000])
        assert failures == [], "\n\n".join(failures)


def _real_ids(session: requests.Session, api: str, token: str) -> dict[str, str]:
    """A guild of the caller's with a role, a message, an invite, a member bot and a webhook:
    the path parameters that reach past 404 (and, for the webhook's token routes, 401)."""
    auth = {"Authorization": token}

    def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        reply = session.request(method, api + path, json=body, headers=auth, timeout=5)
        assert reply.status_code == status, (path, reply.text)
        return reply.json() if reply.content else None

    guild = call("POST", "/guilds", {"name": "fuzzed"}, 201)
    channel = call("GET", f"/guilds/{guild['id']}/channels")[0]["id"]
    role = call("POST", f"/guilds/{guild['id']}/roles", {"name": "r"})["id"]
    message = call("POST", f"/channels/{channel}/messages", {"content": "hi"})["id"]
    invite = call("POST", f"/channels/{channel}/invites", {})["code"]
    bot = call("POST", "/applications", {"name": "fuzz bot"}, 201)["id"]
    call("PUT", f"/guilds/{guild['id']}/members/{bot}", {}, 201)
    hook = call("POST", f"/channels/{channel}/webhooks", {"name": "fuzz hook"})
    return {"guild_id": guild["id"], "channel_id": channel, "role_id": role,
            "message_id": message, "code": invite, "user_id": bot, "overwrite_id": role,
            "webhook_id": hook["id"], "webhook_token": hook["token"]}


def _examples(operation: Any, session: requests.Session, headers: dict[str, str],
              checks: list[Any], ids: dict[str, str]) -> Any:
    """A Hypothesis test calling ``operation`` with ``MAX_EXAMPLES`` generated cases: valid
    with generated ids or with the real ones, and invalid with the real ones."""
    names = {p["name"] for p in operation.definition.raw.get("parameters", ())
             if p.get("in") == "path"}
    real = {k: v for k, v in ids.items() if k in names}
    strategy = st.one_of(
        operation.as_strategy(),
        operation.as_strategy(path_parameters=real),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE, path_parameters=real),
    )

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(session=session, headers=headers, checks=checks, timeout=5)

    return call
