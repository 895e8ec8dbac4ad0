"""The typed keys of what the REST app carries (``app[PLATFORM]``).

A leaf module: ``api.app`` stores the platform under this key and every route module reads it,
so neither imports the other for it (the route tables are imported by the app, never back).
"""

from __future__ import annotations

from aiohttp import web

from core.platform import Platform

__all__ = ["PLATFORM"]

PLATFORM = web.AppKey("platform", Platform)
