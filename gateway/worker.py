"""One worker process: its loop, its platform, the REST API and (soon) the gateway listener.

The worker is the composition root of a process: it opens the platform once and shares it
between the API and the gateway. It is the only module that imports ``api``.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from api.app import create_app
from core.config import Config
from core.platform import Platform

__all__ = ["migrate", "run_worker", "serve"]

logger = logging.getLogger(__name__)

# aiohttp's default keep-alive of a bare AppRunner lets a client trickle headers for an hour.
KEEPALIVE_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 10.0


def run_worker(config: Config, index: int) -> int:
    """Run one worker until SIGTERM/SIGINT; returns the exit status."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        return asyncio.run(serve(config, index))
    return uvloop.run(serve(config, index))


async def serve(config: Config, index: int, stop: asyncio.Event | None = None) -> int:
    """Open the platform, serve until ``stop`` is set (or a signal), then close in order."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    platform = await Platform.open(config, worker_index=index)
    try:
        runner = web.AppRunner(
            create_app(platform), keepalive_timeout=KEEPALIVE_TIMEOUT_S,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, config.host, config.http_port, reuse_port=True)
            await site.start()
            logger.info("worker %d: REST API on %s", index, config.http_url)
            await stop.wait()
            logger.info("worker %d: shutting down", index)
        finally:
            await runner.cleanup()
    finally:
        await platform.aclose()
    return 0


async def migrate(config: Config) -> int:
    """Apply pending migrations to the configured metadata store and report them."""
    platform = await Platform.open(config)
    await platform.aclose()  # opening a store applies its migrations
    print("migrations applied")
    return 0
