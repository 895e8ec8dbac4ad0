"""The aiohttp application factory for the REST API (``/api/v10``) and the web client."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from api.http import json_response, public
from api.keys import PLATFORM
from api.middleware import make_middlewares
from api.openapi import build_document
from api.routes import ROUTE_TABLES
from api.static import WebFiles, default_root, web_middleware
from core.logs import ClientFaultsAtDebug
from core.platform import Platform

__all__ = ["create_app", "http_logger"]


def create_app(platform: Platform, web_root: Path | None = None) -> web.Application:
    """The REST app for one worker, over an already opened ``platform``, and the web client.

    The platform's lifecycle belongs to the caller (the worker opens it once and shares it
    with the gateway listener in the same process).

    Args:
        platform: the worker's platform.
        web_root: the browser client's directory (default: ``web/``, see ``api.static``).
    """
    files = WebFiles(web_root or default_root(), platform.config.gateway_url)
    app = web.Application(
        middlewares=[web_middleware(files), *make_middlewares(platform)],
        client_max_size=platform.config.max_body_bytes,
    )
    app[PLATFORM] = platform
    for table in ROUTE_TABLES:
        app.router.add_routes(table)
    app.router.add_get("/api/openapi.json", _openapi)
    return app


def http_logger() -> ClientFaultsAtDebug:
    """The logger for aiohttp's server (``web.AppRunner(..., logger=http_logger())``).

    aiohttp logs a request it cannot parse (an over-long request line or header, a bad
    header, a broken chunk: ``HttpProcessingError``) at ERROR with a traceback, and answers
    it 400: anyone could fill the error log. Those go out at DEBUG as one line; an exception
    of ours still reaches ERROR (and the error middleware answers it first anyway).
    """
    return ClientFaultsAtDebug(
        logging.getLogger("aiohttp.server"),
        lambda message, exc: isinstance(exc, HttpProcessingError),
    )


@public
async def _openapi(request: web.Request) -> web.Response:
    """The OpenAPI document, built from this app's own routes.

    Its server is the origin: the paths carry ``/api/v10`` themselves (and this document is
    at ``/api/openapi.json``), so a generated client joining the two calls the right URL.
    """
    platform = request.app[PLATFORM]
    return json_response(build_document(request.app, platform.config.http_url))
