"""One worker process: its loop, its platform, the REST API and the gateway listener.

The worker is the composition root of a process: it opens the platform once and shares it
between the API and the gateway. It is the only module that imports ``api``.

With ``redis_url`` set, the platform's bus is a :class:`~core.bus.redis.RedisBus` (whatever the
number of workers), so every worker's hub hears the others. With several workers, the gateway
also listens on the worker's own port (``config.worker_port(slot)``), which its sessions name
as ``resume_gateway_url``, and the worker tells the supervisor it is ready
(:func:`~gateway.supervisor.notify_ready`) once it serves, and that its event loop still
runs (:class:`~gateway.supervised.Heartbeat`) from the start to the end.

Shutdown (SIGTERM/SIGINT, or ``stop``): op 7 Reconnect to every gateway session and a flush,
then the listener and its connections close, then the REST API, then the platform (whose
router flushes the pending message writes).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web

from api.app import create_app, http_logger
from api.ops import start_ops
from core.config import Config
from core.events import Bus
from core.metrics import LagTally, Metrics
from core.platform import Platform
from core.relay import EventRelay
from core.snowflake import SnowflakeGenerator
from gateway.looplag import LoopLagProbe
from gateway.notify import Notifier
from gateway.server import GatewayServer
from gateway.supervised import LANE, Heartbeat, notify_ready

__all__ = ["check", "migrate", "open_platform", "run_worker", "serve"]

logger = logging.getLogger(__name__)

# aiohttp's default keep-alive of a bare AppRunner lets a client trickle headers for an hour.
KEEPALIVE_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 10.0
# After op 7, the time given to clients to close and reconnect before the sockets are closed.
DRAIN_GRACE_S = 0.1


def run_worker(config: Config, index: int, notifier: Notifier | None = None) -> int:
    """Run one worker until SIGTERM/SIGINT; returns the exit status.

    ``notifier``: given only when this worker is the service's main process (no supervisor).
    """
    if config.gil_switch_interval_ms:
        # The interpreter's, set once here at the root: the store's writer thread waits
        # this long for the GIL while the loop runs Python (Config.gil_switch_interval_ms).
        sys.setswitchinterval(config.gil_switch_interval_ms / 1000)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        return asyncio.run(serve(config, index, notifier=notifier))
    return uvloop.run(serve(config, index, notifier=notifier))


async def serve(
    config: Config, index: int, stop: asyncio.Event | None = None,
    notifier: Notifier | None = None,
) -> int:
    """Open the platform, serve until ``stop`` is set (or a signal), then close in order.

    Args:
        config: the frozen config.
        index: the worker index (its ops port is ``metrics_port + index % 32``).
        stop: set to stop (default: a new event, set by SIGTERM/SIGINT).
        notifier: sends systemd ``READY=1`` once serving and ``STOPPING=1`` when the
            drain starts (``gateway.notify``); None under a supervisor, which does it.
    """
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
    # From the start: a loop that blocks while the stores open is as hung as one that blocks
    # later (a no-op without a supervisor).
    heartbeat = Heartbeat.start(config.worker_heartbeat_timeout_s)
    try:
        return await _serve(config, index, stop, notifier)
    finally:
        if heartbeat is not None:
            heartbeat.stop()


async def _serve(
    config: Config, index: int, stop: asyncio.Event, notifier: Notifier | None
) -> int:
    platform = await open_platform(config, index)
    ops = None
    probe = None
    if config.loop_lag_interval_ms > 0:
        platform.metrics.loop_lag = LagTally()
        probe = LoopLagProbe(config.loop_lag_interval_ms / 1000, platform.metrics.loop_lag)
        probe.start(asyncio.get_running_loop())
    # What `discord-arch admin` (another process) did, delivered to this worker's subscribers.
    relay = EventRelay(platform.meta, platform.bus, platform.metrics)
    try:
        await relay.start()
        gateway = GatewayServer(platform, identify_interval_s=config.gateway_identify_interval_s)
        runner = web.AppRunner(
            create_app(platform), keepalive_timeout=KEEPALIVE_TIMEOUT_S,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None,
            logger=http_logger(),  # a client's malformed HTTP at DEBUG, never ERROR
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, config.host, config.http_port, reuse_port=True)
            await site.start()
            logger.info("worker %d: REST API on %s", index, config.http_url)
            # One worker: the shared port is its own (no supervisor, nothing to resume elsewhere).
            own_port = config.worker_port(index % LANE) if config.workers > 1 else None
            await gateway.start(config.host, config.gateway_port, own_port)
            logger.info("worker %d: gateway on %s", index, gateway.resume_url)
            ops = await start_ops(platform, config.metrics_host, _ops_port(config, index),
                                  draining=stop.is_set)
            if ops is not None:
                logger.info("worker %d: /metrics, /healthz, /readyz on %s:%d", index,
                            config.metrics_host, _ops_port(config, index))
            if notifier is not None:
                notifier.ready(f"serving: REST {config.http_url}, gateway {gateway.resume_url}")
            notify_ready()  # the supervisor's readiness pipe (a no-op without a supervisor)
            await stop.wait()
            logger.info("worker %d: shutting down", index)
            if notifier is not None:
                notifier.stopping("draining the gateway sessions")
            gateway.drain()
            await asyncio.sleep(DRAIN_GRACE_S)  # let the op 7 frames leave the buffers
        finally:
            await gateway.aclose()
            await runner.cleanup()
            if ops is not None:  # last: /readyz says "draining" until the end
                await ops.cleanup()
    finally:
        if probe is not None:
            probe.stop()
        await relay.aclose()
        await platform.aclose()
    return 0


async def open_platform(config: Config, index: int = 0) -> Platform:
    """The worker's platform; its bus is Redis pub/sub when ``config.redis_url`` is set.

    Raises:
        StoreUnavailable: a backend (Redis included) cannot be reached.
    """
    bus: Bus | None = None
    if config.redis_url:
        from core.bus.redis import open_redis_bus

        bus = await open_redis_bus(config.redis_url, index, cluster=config.redis_cluster,
                                   log_max=config.bus_recovery_log)
    try:
        # Slot and lane (gateway.supervised): with the node id, bits no other live process has.
        ids = SnowflakeGenerator.for_worker(config.node_id, index % LANE, index // LANE)
        return await Platform.open(config, worker_index=index, bus=bus,
                                   metrics=Metrics(index), ids=ids)
    except BaseException:
        # Platform.open closes the bus only once it took it over; aclose is idempotent.
        if bus is not None:
            await bus.aclose()
        raise


def _ops_port(config: Config, index: int) -> int:
    """This worker's ops port: its slot's offset from ``metrics_port`` (0: none). A worker
    and its SIGHUP replacement share the slot (``index % 32``, gateway.supervisor)."""
    return config.ops_port(index % LANE)


async def check(config: Config) -> None:
    """Open the platform once and close it: applies pending migrations (before several
    workers would race to), and raises :class:`StoreUnavailable` if a store does not answer."""
    platform = await Platform.open(config)
    await platform.aclose()


async def migrate(config: Config) -> int:
    """Apply pending migrations to the configured metadata store and report them."""
    platform = await Platform.open(config)
    await platform.aclose()  # opening a store applies its migrations
    print("migrations applied")
    return 0
