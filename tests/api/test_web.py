"""The web client's files at ``/`` (``api/static.py``): types, headers, client routes, and
that no request reaches a file outside ``web/``.

Traversal attempts are sent as raw bytes on a socket: an HTTP client library would normalize
``..`` and escapes before the server ever saw them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.app import create_app
from api.static import content_security_policy, default_root
from core.platform import Platform

INDEX_MARK = b'<div id="app"'


async def raw_get(client: Any, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Send ``METHOD target HTTP/1.1`` exactly as written; returns status, headers, body."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
async def client(platform: Platform, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(platform))


def test_web_client_ships_beside_the_api_package() -> None:
    root = default_root()
    for name in ("index.html", "app.js", "api.js", "gateway.js", "style.css", "ui/dom.js"):
        assert (root / name).is_file(), name


async def test_root_is_index_html_with_a_strict_csp(client: Any, platform: Platform) -> None:
    r = await client.get("/")
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert INDEX_MARK in await r.read()
    csp = dict(d.strip().split(" ", 1) for d in r.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    # The gateway is another origin: its host on any port (READY's resume_gateway_url names
    # the session's worker by its own port), and nothing else is.
    gw = urlsplit(platform.config.gateway_url)
    assert csp["connect-src"] == f"'self' {gw.scheme}://{gw.hostname}:*"
    assert "X-RateLimit-Limit" not in r.headers  # static files spend no API bucket


@pytest.mark.parametrize("path", [
    "/invite/abc", "/invite/AbC-123/", "/channels/123/456", "/channels/123", "/index.html",
    "/?next=/x",
])
async def test_client_routes_get_index_html(client: Any, path: str) -> None:
    r = await client.get(path)
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert INDEX_MARK in await r.read()


@pytest.mark.parametrize(("path", "content_type"), [
    ("/app.js", "text/javascript; charset=utf-8"),
    ("/ui/dom.js", "text/javascript; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
    ("/favicon.svg", "image/svg+xml"),
])
async def test_assets_have_their_content_type(client: Any, path: str, content_type: str) -> None:
    r = await client.get(path)
    assert r.status == 200
    assert r.headers["Content-Type"] == content_type
    assert r.headers["Cache-Control"] == "no-cache"
    assert (await r.read()) == (default_root() / path[1:]).read_bytes()


async def test_assets_are_revalidated_not_resent(client: Any) -> None:
    first = await client.get("/app.js")
    again = await client.get("/app.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304


async def test_head_answers_like_get(client: Any) -> None:
    r = await client.head("/invite/abc")
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/unknown"), ("GET", "/api"), ("GET", "/api/v10/nope"), ("POST", "/api/v10/nope"),
    ("GET", "/api/v10/invite/abc"),
])
async def test_api_paths_stay_json(client: Any, method: str, path: str) -> None:
    r = await client.request(method, path)
    assert r.status == 404
    assert r.headers["Content-Type"] == "application/json"
    assert (await r.json())["message"] == "404: Not Found"


async def test_api_still_answers(client: Any) -> None:
    r = await client.get("/api/v10/gateway")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", [
    "/missing.js", "/ui/missing.js", "/app.js.map", "/README.md", "/app.py", "/.hidden",
])
async def test_unknown_files_are_404_not_index(client: Any, path: str) -> None:
    r = await client.get(path)
    assert r.status == 404
    assert r.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("target", [
    "/..%2f..%2fetc/passwd",
    "/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/../pyproject.toml",
    "/../pyproject.toml",
    "/ui/../../pyproject.toml",
    "/%2e%2e/pyproject.toml",
    "/%2e%2e%2fpyproject.toml",
    "/..%5cpyproject.toml",
    "/..\\pyproject.toml",
    "//etc/passwd",
    "/web/index.html/../../pyproject.toml",
    "/api/../pyproject.toml",
    "/app.js%00.html",
    "/ui%2fdom.js",
])
async def test_traversal_attempts_get_404(client: Any, target: str) -> None:
    status, headers, body = await raw_get(client, target)
    assert status == 404, (status, body[:200])
    assert b"[project]" not in body and b"root:" not in body and INDEX_MARK not in body


async def test_only_listed_files_inside_the_root_are_served(
    platform: Platform, aiohttp_client: Any, tmp_path: Path
) -> None:
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text('<div id="app"></div>')
    (root / "app.js").write_text("ok")
    (tmp_path / "secret.js").write_text("secret")
    (root / "link.js").symlink_to(tmp_path / "secret.js")
    (root / "notes.txt").write_text("not a served type")
    (root / ".env.js").write_text("hidden")
    client = await aiohttp_client(create_app(platform, web_root=root))
    assert (await client.get("/app.js")).status == 200
    for path in ("/link.js", "/notes.txt", "/.env.js", "/secret.js"):
        r = await client.get(path)
        assert r.status == 404, path
        assert b"secret" not in await r.read()
    # A file added after the app was built is not served (the list is made once).
    (root / "late.js").write_text("late")
    assert (await client.get("/late.js")).status == 404


async def test_missing_web_root_serves_nothing_but_the_api_works(
    platform: Platform, aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(platform, web_root=tmp_path / "none"))
    r = await client.get("/")
    assert r.status == 404
    assert r.headers["Content-Type"] == "application/json"
    assert (await client.get("/api/v10/gateway")).status == 200


@pytest.mark.parametrize(("gateway_url", "source"), [
    ("ws://127.0.0.1:8081", "ws://127.0.0.1:*"),
    ("wss://chat.example.org/gateway", "wss://chat.example.org:*"),
    ("ws://[::1]:8081", "ws://[::1]:*"),
    ("", ""),
])
def test_csp_lets_the_client_resume_on_any_worker_port(gateway_url: str, source: str) -> None:
    connect = [d for d in content_security_policy(gateway_url).split("; ")
               if d.startswith("connect-src")]
    assert connect == [f"connect-src 'self' {source}".rstrip()]
