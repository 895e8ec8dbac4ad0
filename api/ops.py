"""What operators see: the REST latency middleware and the internal ops app of a worker.

The ops app serves four routes on an internal port of its own (``metrics_host``,
``metrics_port`` + worker index), never on the public ports:

- ``GET /metrics``: the worker's Prometheus metrics (``core.metrics``), text format.
- ``GET /healthz``: 200 whenever the event loop runs (liveness; it checks nothing else, so
  that a database outage never gets the process restarted).
- ``GET /readyz``: 200 when the stores, the cache and the bus answer (``core.health``), 503
  with ``{"ready": false, "failed": {component: reason}}`` otherwise, and 503 while the worker
  drains, so a load balancer stops sending it new connections.
- ``GET /timeline?since=SEQ``: the per-message timeline (``core.timeline``, on with
  ``trace_sample_every``): per-stage percentiles of the sampled messages finished after the
  ``SEQ``-th, and ``seq``, the count so far (what a benchmark passes next time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.http import Handler, json_response
from core.health import readiness
from core.metrics import CONTENT_TYPE, Metrics
from core.platform import Platform

__all__ = ["create_ops_app", "measure_middleware", "start_ops"]

logger = logging.getLogger(__name__)

# An ops client (Prometheus, a probe) trickling headers is cut after this (docs/architecture.md, measured facts: aiohttp).
KEEPALIVE_TIMEOUT_S = 15.0
_UNMATCHED = "unmatched"  # the route label of requests no route matched (404, 405)


def measure_middleware(metrics: Metrics) -> Middleware:
    """REST latency by route template, method and status class, and 429s by scope.

    Outermost in the chain, so the status is the one the client gets (the error middleware
    has turned ``ApiError`` into its response by then). The route label is the template
    (``/api/v10/channels/{channel_id}/messages``), never the path, to bound its values.
    """

    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else _UNMATCHED
        try:
            response = await handler(request)
        except web.HTTPException as e:  # redirects and anything the error middleware let by
            _done(metrics, request, route, e.status, started)
            raise
        except Exception as e:  # aiohttp answers 500; count it, and the backend behind it
            _done(metrics, request, route, 500, started)
            metrics.backend_error(e, "http")
            raise
        _done(metrics, request, route, response.status, started)
        if response.status == 429:
            scope = response.headers.get("X-RateLimit-Scope", "user")
            metrics.http_ratelimited.labels(route, scope).inc()
        return response

    return measure


def _done(
    metrics: Metrics, request: web.Request, route: str, status: int, started: float
) -> None:
    """Count a finished request and, at DEBUG, log it: ``GET /api/v10/users/@me 200 1.3 ms``,
    with the client's address as ``peer`` (behind a trusted proxy, the client's: api.forwarded).

    The access log is off (``access_log=None`` in gateway.worker): a line per request costs
    too much at INFO. This one is for debugging, and never has the query string, nor a path
    with a token or a file name in it (a route with a ``{...token}`` or ``{filename}`` part
    logs its template instead).
    """
    elapsed = time.perf_counter() - started
    metrics.http(route, request.method, status, elapsed)
    if logger.isEnabledFor(logging.DEBUG):
        # A token is a secret, a file name user content (the CDN's URLs): neither is logged.
        secret = any("token" in key or key == "filename" for key in request.match_info)
        logger.debug("%s %s %d %.1f ms", request.method, route if secret else request.path,
                     status, elapsed * 1000, extra={"peer": request.remote})


def create_ops_app(
    platform: Platform, draining: Callable[[], bool] = lambda: False
) -> web.Application:
    """The ops app of one worker: ``/metrics``, ``/healthz``, ``/readyz``, ``/timeline``.

    Args:
        platform: the worker's platform (its metrics and backends).
        draining: whether the worker is stopping; ``/readyz`` answers 503 from then on.
    """

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=platform.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        if draining():
            return json_response({"ready": False, "failed": {"worker": "draining"}}, 503)
        failed = await readiness(platform)
        if failed:
            return json_response({"ready": False, "failed": failed}, 503)
        return json_response({"ready": True})

    async def timeline(request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            return json_response({"error": "since: an integer"}, 400)
        return json_response(platform.timeline.report(since))

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/timeline", timeline)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_ops(
    platform: Platform, host: str, port: int, draining: Callable[[], bool] = lambda: False
) -> web.AppRunner | None:
    """Serve the ops app on ``host:port`` (SO_REUSEPORT); None when ``port`` is 0 or taken.

    A port that cannot be bound is logged and the worker serves on without it: losing the
    metrics must not take the chat down (Prometheus itself listens on 9090 by default).
    The caller owns the returned runner (``await runner.cleanup()``).
    """
    if not port:
        return None
    runner = web.AppRunner(create_ops_app(platform, draining), access_log=None,
                           keepalive_timeout=KEEPALIVE_TIMEOUT_S)
    await runner.setup()
    try:
        # reuse_port: a draining worker and its replacement (SIGHUP) share their slot's port.
        await web.TCPSite(runner, host, port, reuse_port=True).start()
    except OSError as e:
        logger.error("ops port %s:%d unavailable (%s): /metrics, /healthz and /readyz are off; "
                     "set DISCORD_ARCH_METRICS_PORT", host, port, e.strerror or e)
        await runner.cleanup()
        return None
    return runner
