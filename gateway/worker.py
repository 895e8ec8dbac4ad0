"""One worker process: its loop, its platform, the REST API and the gateway listener.

The worker is the composition root of a process: it opens the platform once and shares it
between the API and the gateway. It is the only module that imports ``api``.

Shutdown (SIGTERM/SIGINT, or ``stop``): op 7 Reconnect to every gateway session and a flush,
then the listener and its connections close, then the REST API, then the platform (whose
router flushes the pending message writes).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from api.app import create_app
from core.config import Config
from core.platform import Platform
from gateway.server import GatewayServer

__all__ = ["migrate", "run_worker", "serve"]

logger = logging.getLogger(__name__)

# aiohttp's default keep-alive of a bare AppRunner lets a client trickle headers for an hour.
KEEPALIVE_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 10.0
# After op 7, the time given to clients to close and reconnect before the sockets are closed.
DRAIN_GRACE_S = 0.1


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
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # picows logs every accepted connection at INFO: too much for a gateway.
        logging.getLogger("picows").setLevel(logging.WARNING)
    platform = await Platform.open(config, worker_index=index)
    try:
        gateway = GatewayServer(platform)
        runner = web.AppRunner(
            create_app(platform), keepalive_timeout=KEEPALIVE_TIMEOUT_S,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, config.host, config.http_port, reuse_port=True)
            await site.start()
            logger.info("worker %d: REST API on %s", index, config.http_url)
            await gateway.start(config.host, config.gateway_port)
            logger.info("worker %d: gateway on %s", index, gateway.resume_url)
            await stop.wait()
            logger.info("worker %d: shutting down", index)
            gateway.drain()
            await asyncio.sleep(DRAIN_GRACE_S)  # let the op 7 frames leave the buffers
        finally:
            await gateway.aclose()
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
