"""The browser client: the files of ``web/`` at ``/``, and ``index.html`` for the client's routes.

One middleware, placed before the API's chain, answers GET and HEAD for every path outside
``/api``. Static files need no token, and must not spend the API's rate-limit buckets: a page
load is a dozen requests, and every user behind one NAT shares an address.

Only the files found under ``web/`` when the app is built are served, looked up by the *raw*
request path: nothing is decoded, joined or resolved per request, so no request (``..``,
``%2f``, backslashes, symlinks) can name a file outside ``web/``. A path that is not a file
but looks like a client route (``/``, ``/invite/CODE``: segments of ``[A-Za-z0-9_-]`` only)
gets ``index.html``; anything else falls through to the router, whose answer is the API's
JSON 404.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

import api
from api.http import Handler

__all__ = ["CONTENT_TYPES", "WebFiles", "content_security_policy", "default_root", "web_middleware"]

logger = logging.getLogger(__name__)

# Served types; a file of any other type under web/ is not served. The explicit charset keeps
# a browser from guessing; ".js" must be a JavaScript type or module scripts are refused.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
# A client route: up to 8 segments of letters, digits, "_" and "-" (invite codes are
# [A-Za-z0-9-]); no dot, no percent escape, so it can never be mistaken for a file.
_CLIENT_ROUTE = re.compile(r"^(?:/[A-Za-z0-9_-]{1,64}){0,8}/?$")
# The CDN's paths (api/routes/cdn.py): never the client's, even for a file name without a dot.
_CDN = ("/attachments/", "/avatars/", "/icons/")
# Files to revalidate on every use: there is no build step to give them hashed names, and a
# browser's heuristic caching would otherwise mix old and new modules after an upgrade.
# Revalidation is a cheap 304 (FileResponse answers If-Modified-Since / If-None-Match).
_CACHE = "no-cache"


def default_root() -> Path:
    """``web/`` beside the ``api`` package: the repository in a checkout or an editable
    install, ``site-packages/web`` (package data, see pyproject.toml) in a normal install."""
    return Path(api.__file__).resolve().parent.parent / "web"


def content_security_policy(gateway_url: str) -> str:
    """A strict CSP for the client: everything from this origin, plus websockets to the
    gateway's host on any port (``'self'`` covers none of them).

    Any port, not the gateway URL's alone: READY's ``resume_gateway_url`` names the session's
    worker by its own port (the worker port base plus its index; behind a balancer, each
    host's range forwarded port for port), and the client resumes there; with only the
    gateway's port allowed, every browser resume was blocked and fell back to identify.

    Args:
        gateway_url: ``config.gateway_url`` (``ws://host:port`` or ``wss://...``).
    """
    parts = urlsplit(gateway_url)
    gateway = (f"{parts.scheme}://{_host(parts.hostname)}:*"
               if parts.scheme and parts.hostname else "")
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' {gateway}".rstrip(),
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def _host(hostname: str) -> str:
    """A host as a CSP source spells it: an IPv6 literal in brackets."""
    return f"[{hostname}]" if ":" in hostname else hostname


class WebFiles:
    """The servable files of one ``web/`` directory, listed once.

    Args:
        root: the directory (missing: nothing is served, and a warning says so).
        gateway_url: the gateway's URL, for the CSP's ``connect-src``.
    """

    def __init__(self, root: Path, gateway_url: str) -> None:
        self.root = root.resolve()
        self.files = _list_files(self.root)
        self.index = self.files.get("/index.html")
        if self.index is None:
            logger.warning("web client not found in %s: / serves nothing", self.root)
        self.headers = {
            "Cache-Control": _CACHE,
            "Content-Security-Policy": content_security_policy(gateway_url),
            "X-Content-Type-Options": "nosniff",
            # Invite codes are in the client's URLs: do not hand them to other sites.
            "Referrer-Policy": "no-referrer",
        }

    def lookup(self, raw_path: str) -> Path | None:
        """The file for a raw request path (query included or not), or None."""
        path = raw_path.partition("?")[0]
        found = self.files.get(path)
        if found is None and _CLIENT_ROUTE.match(path) and not path.startswith(_CDN):
            found = self.index
        return found

    def response(self, file: Path) -> web.FileResponse:
        headers = {**self.headers, "Content-Type": CONTENT_TYPES[file.suffix]}
        return web.FileResponse(file, headers=headers)


def _list_files(root: Path) -> dict[str, Path]:
    """URL path → file, for every file of a served type under ``root`` that really is inside
    it (a symlink pointing out is left out); hidden files and directories are left out."""
    if not root.is_dir():
        return {}
    out = {}
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root)
        if file.suffix not in CONTENT_TYPES or any(p.startswith(".") for p in rel.parts):
            continue
        real = file.resolve()
        if real.is_file() and real.is_relative_to(root):
            out["/" + rel.as_posix()] = real
    return out


def web_middleware(files: WebFiles) -> Middleware:
    """The middleware that serves ``files`` (put it first: no auth, no rate limit)."""

    @web.middleware
    async def serve_web(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if request.method in ("GET", "HEAD") and path != "/api" and not path.startswith("/api/"):
            file = files.lookup(request.raw_path)
            if file is not None:
                return files.response(file)
        return await handler(request)

    return serve_web
