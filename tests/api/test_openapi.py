"""The OpenAPI document matches the app, and real responses match its schemas."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from openapi_spec_validator import validate

from api.openapi import OPERATIONS, app_routes
from tests.api.conftest import Api


async def test_openapi_document_is_valid_openapi_31(api: Api) -> None:
    resp = await api.client.get("/api/openapi.json")
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
    validate(await resp.json())


async def test_server_url_is_the_origin_and_paths_carry_the_prefix(api: Api) -> None:
    """A generated client joins ``servers[0].url`` and a path: only one may hold /api/v10."""
    doc = await (await api.client.get("/api/openapi.json")).json()
    (server,) = doc["servers"]
    assert urlsplit(server["url"]).path in ("", "/")
    assert all(path.startswith("/api/") for path in doc["paths"])


async def test_every_status_a_route_answers_is_documented(api: Api) -> None:
    doc = await (await api.client.get("/api/openapi.json")).json()
    add_member = doc["paths"]["/api/v10/guilds/{guild_id}/members/{user_id}"]["put"]
    assert {"201", "204"} <= add_member["responses"].keys()
    assert "content" not in add_member["responses"]["204"]
    send = doc["paths"]["/api/v10/channels/{channel_id}/messages"]["post"]["responses"]
    assert {"400", "401", "403", "404", "413", "429", "500", "503"} <= send.keys()
    login = doc["paths"]["/api/v10/auth/login"]["post"]["responses"]
    assert "401" not in login  # public
    assert "409" not in doc["paths"]["/api/v10/applications"]["post"]["responses"]


async def test_every_route_is_documented_and_every_documented_route_exists(api: Api) -> None:
    routes = app_routes(api.client.app)
    assert routes - OPERATIONS.keys() == set(), "routes missing from api/openapi.py OPERATIONS"
    assert OPERATIONS.keys() - routes == set(), "OPERATIONS entries without a route"


def _check(doc: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    op = doc["paths"][path][method.lower()]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": doc["components"]},
                        cls=jsonschema.Draft202012Validator)


async def test_responses_match_documented_schemas(api: Api) -> None:
    doc = await (await api.client.get("/api/openapi.json")).json()
    # $refs point at #/components/...: resolve them within the same document.
    doc_refs = {**doc}
    owner = await api.register()
    r = await api.get("/users/@me", owner.token)
    _check(doc_refs, "GET", "/api/v10/users/@me", 200, r.body)
    guild = await api.guild(owner)
    _check(doc_refs, "POST", "/api/v10/guilds", 201,
           {k: v for k, v in guild.items() if k != "channels"})
    channel_id = guild["channels"][0]["id"]
    _check(doc_refs, "GET", "/api/v10/guilds/{guild_id}/channels", 200, guild["channels"])
    sent = await api.post(f"/channels/{channel_id}/messages", owner.token, json={"content": "hi"})
    _check(doc_refs, "POST", "/api/v10/channels/{channel_id}/messages", 200, sent.body)
    history = await api.get(f"/channels/{channel_id}/messages", owner.token)
    _check(doc_refs, "GET", "/api/v10/channels/{channel_id}/messages", 200, history.body)
    roles = await api.get(f"/guilds/{guild['id']}/roles", owner.token)
    _check(doc_refs, "GET", "/api/v10/guilds/{guild_id}/roles", 200, roles.body)
    member = await api.get(f"/guilds/{guild['id']}/members/{owner.id}", owner.token)
    _check(doc_refs, "GET", "/api/v10/guilds/{guild_id}/members/{user_id}", 200, member.body)
    invite = await api.post(f"/channels/{channel_id}/invites", owner.token, json={})
    _check(doc_refs, "POST", "/api/v10/channels/{channel_id}/invites", 200, invite.body)


async def test_routes_taking_files_document_a_multipart_body(api: Api) -> None:
    """Message send and edit and a webhook's execute and message edit take
    ``multipart/form-data`` (``payload_json`` + ``files[n]``), as ``api.multipart`` reads it;
    what discord.py sends validates against the documented part schemas."""
    doc = await (await api.client.get("/api/openapi.json")).json()
    takes_files = {
        ("post", "/api/v10/channels/{channel_id}/messages"),
        ("patch", "/api/v10/channels/{channel_id}/messages/{message_id}"),
        ("post", "/api/v10/webhooks/{webhook_id}/{webhook_token}"),
        ("patch", "/api/v10/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
    }
    documented = {(method, path) for path, ops in doc["paths"].items()
                  for method, op in ops.items()
                  if "multipart/form-data" in op.get("requestBody", {}).get("content", {})}
    assert documented == takes_files
    validator = jsonschema.Draft202012Validator
    for method, path in takes_files:
        body = doc["paths"][path][method]["requestBody"]["content"]
        form = body["multipart/form-data"]
        schema = {**form["schema"], "components": doc["components"]}
        parts = {"payload_json": '{"content": "x"}', "files[0]": "bytes", "files[9]": "more"}
        jsonschema.validate(parts, schema, cls=validator)
        with pytest.raises(jsonschema.ValidationError):  # only payload_json and files[0..9]
            jsonschema.validate({"files[10]": "x"}, schema, cls=validator)
        assert form["encoding"]["payload_json"]["contentType"] == "application/json"
        # payload_json holds the JSON body's schema, with the attachments array.
        inner = {**form["schema"]["properties"]["payload_json"]["contentSchema"],
                 "components": doc["components"]}
        assert inner["$ref"] == body["application/json"]["schema"]["$ref"]
        jsonschema.validate({"content": "x", "attachments": [
            {"id": 0, "filename": "a.png", "description": "a picture"}]}, inner, cls=validator)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"attachments": "nope"}, inner, cls=validator)
