"""Prometheus metrics of one worker: one :class:`Metrics` instance, its own registry.

The worker makes one and hands it to :meth:`core.platform.Platform.open`; the router, the REST
middleware, the hub and the gateway read it from the platform. Nothing here is global: no
default registry, no module-level state, so two platforms in one process (tests) never share a
value. The names are listed in ``docs/operations.md``.

Cost. A ``prometheus_client`` ``Counter.inc`` takes about 1 µs (a lock and a float); an int
attribute increment about 40 ns. What happens per websocket frame is therefore counted in plain
int attributes (:attr:`Metrics.frames_in` and friends) that a collector reads at scrape time;
the client's counters and histograms are used only per connection, per identify, per write
batch, per flush and per HTTP request.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "LagTally", "Metrics", "backend_of"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_P = "discord_arch_"

# Bucket bounds. Fanout and flush are loop-bound work measured in fractions of a millisecond
# when healthy; batch sizes grow in powers of two up to ``batch_max_messages`` (256 default).
_FAST_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_HTTP_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# Event-loop lag: fine below the 10 ms a fanout slice must never exceed (issue 16), coarse above.
_LAG_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# Exception module roots of each backend's driver (the MRO is searched, so a subclass
# defined elsewhere still counts).
_BACKENDS = {
    "asyncpg": "postgres",
    "redis": "redis",
    "pymongo": "mongo",
    "bson": "mongo",
    "sqlite3": "sqlite",
}
# Close codes a client may send that get their own label; any other is "other", so that a
# client cannot mint label values (RFC 6455 §7.4 allows 1000-4999).
_CLIENT_CODES = frozenset({1000, 1001})


class LagTally:
    """How late the event loop ran a timer, in plain ints (a probe wakes every few ms: no
    lock, no ``prometheus_client`` object on that path); exported as a histogram at scrape.

    Attributes:
        counts: observations per bucket of ``bounds`` (``lag <= bound``), the last one past
            the largest bound.
        sum_s: the lags added up, in seconds.
        max_s: the largest lag seen since the start.
        cpu_counts, cpu_sum_s, cpu_max_s: the same of the lag the loop's own thread ran for
            (its CPU time past the interval, at most the lag): the stall it would have been
            on a core of its own, without the time another process had the CPU;
        gc_full: the garbage collector's full (oldest-generation) collections, each of which
            stops the loop for as long as it takes to scan the whole heap;
        gc_full_s: their time added up, and ``gc_full_max_s`` the longest.
    """

    __slots__ = ("bounds", "counts", "cpu_counts", "cpu_max_s", "cpu_sum_s", "gc_full",
                 "gc_full_max_s", "gc_full_s", "max_s", "sum_s")

    def __init__(self, bounds: tuple[float, ...] = _LAG_S) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum_s = 0.0
        self.max_s = 0.0
        self.cpu_counts = [0] * (len(bounds) + 1)
        self.cpu_sum_s = 0.0
        self.cpu_max_s = 0.0
        self.gc_full = 0
        self.gc_full_s = 0.0
        self.gc_full_max_s = 0.0

    def observe_cpu(self, lag_s: float) -> None:
        self.cpu_counts[bisect_left(self.bounds, lag_s)] += 1
        self.cpu_sum_s += lag_s
        if lag_s > self.cpu_max_s:
            self.cpu_max_s = lag_s

    def full_collection(self, seconds: float) -> None:
        self.gc_full += 1
        self.gc_full_s += seconds
        if seconds > self.gc_full_max_s:
            self.gc_full_max_s = seconds

    def observe(self, lag_s: float) -> None:
        self.counts[bisect_left(self.bounds, lag_s)] += 1
        self.sum_s += lag_s
        if lag_s > self.max_s:
            self.max_s = lag_s


def backend_of(exc: BaseException) -> str | None:
    """The backend an exception came from (``postgres``, ``redis``, ``mongo``, ``sqlite``,
    ``store`` for :class:`~core.store.base.StoreUnavailable`, ``io`` for a socket error), or
    None when it is not a backend error (a bug, a validation error)."""
    for cls in type(exc).__mro__:
        root = cls.__module__.partition(".")[0]
        if root in _BACKENDS:
            return _BACKENDS[root]
        if cls.__name__ == "StoreUnavailable" and cls.__module__ == "core.store.base":
            return "store"
    if isinstance(exc, OSError | TimeoutError):
        return "io"
    return None


class Metrics:
    """The metrics of one worker, in their own :class:`~prometheus_client.CollectorRegistry`.

    Args:
        worker: the worker index, exported as a label of ``discord_arch_info``.

    Attributes:
        registry: what ``/metrics`` renders.
        frames_in: websocket messages received from clients (listener, per frame).
        frames_out: websocket frames written to clients (listener, per flush).
        hub_events: bus events delivered to this worker's hub (per bus batch).
        slow_consumer_closes: connections closed with 4900 (send buffer over its limit).
        bus_gap_sessions: sessions ended because the bus may have lost their events
            (``Hub.on_gap``: op 9, close 4009, no RESUME).
        loop_lag: the event loop's lateness, set when the worker probes it
            (``loop_lag_interval_ms``, ``gateway.looplag``); None: not measured, not exported.
    """

    def __init__(self, worker: int = 0) -> None:
        self.registry = registry = CollectorRegistry()
        self.frames_in = 0
        self.frames_out = 0
        self.hub_events = 0
        self.slow_consumer_closes = 0
        self.bus_gap_sessions = 0
        self.loop_lag: LagTally | None = None
        self._connections: Callable[[], int] = _zero
        self._sessions: Callable[[], int] = _zero
        self._bus: object = None
        self._worker = worker
        self._version = _version()  # once: it reads the installed package's metadata
        self.identifies = Counter(
            _P + "gateway_identifies", "IDENTIFY commands handled, by result "
            "(ok, auth_failed: 4004, rejected: closed by the session, error: a backend failed)",
            ["result"], registry=registry)
        self.resumes = Counter(
            _P + "gateway_resumes", "RESUME commands handled, by result (ok, failed: op 9 or "
            "4009, error)", ["result"], registry=registry)
        self.closes = Counter(
            _P + "gateway_closes", "Gateway connections ended, by who ended them (server, client, "
            "lost: no close frame) and close code", ["by", "code"], registry=registry)
        self.fanout_seconds = Histogram(
            _P + "hub_fanout_seconds", "Time from the bus handing events to the hub to the end "
            "of the write that sent them (oldest pending delivery per flush)",
            buckets=_FAST_S, registry=registry)
        self.batch_messages = Histogram(
            _P + "router_batch_messages", "Messages per write batch of the message router",
            buckets=_BATCH, registry=registry)
        self.flush_seconds = Histogram(
            _P + "router_flush_seconds", "Duration of one write batch (insert_many) of the "
            "message router, failed ones included", buckets=_FAST_S, registry=registry)
        self.backend_errors = Counter(
            _P + "backend_errors", "Errors of the stores, cache and bus (Redis, PostgreSQL, "
            "MongoDB, SQLite), by backend and where they surfaced", ["backend", "where"],
            registry=registry)
        self.http_seconds = Histogram(
            _P + "http_request_seconds", "REST request latency by route template, method and "
            "status class", ["route", "method", "status"], buckets=_HTTP_S, registry=registry)
        self.http_ratelimited = Counter(
            _P + "http_ratelimited", "REST requests answered 429, by route template and scope "
            "(user, global)", ["route", "scope"], registry=registry)
        registry.register(_Live(self))

    # -- what the worker binds once -------------------------------------------------------------

    def bind_gateway(self, connections: Callable[[], int], sessions: Callable[[], int]) -> None:
        """Read the gateway's gauges from these callables at scrape time (no bookkeeping).

        Args:
            connections: the number of open websocket connections.
            sessions: the number of sessions READY or waiting for a RESUME.
        """
        self._connections, self._sessions = connections, sessions

    def bind_bus(self, bus: object) -> None:
        """Export the bus's own counters (``gaps``, ``dropped`` of the Redis bus) if it has them."""
        self._bus = bus

    # -- recording ------------------------------------------------------------------------------

    def closed(self, by: str, code: int | None) -> None:
        """A gateway connection ended. ``by``: server, client or lost."""
        if by == "client" and code not in _CLIENT_CODES:
            label = "other"
        else:
            label = str(code) if code is not None else "none"
        self.closes.labels(by, label).inc()

    def batch(self, size: int, seconds: float, error: BaseException | None) -> None:
        """The router wrote (or failed to write) a batch of ``size`` messages."""
        self.batch_messages.observe(size)
        self.flush_seconds.observe(seconds)
        if error is not None:
            self.backend_error(error, "router")

    def backend_error(self, exc: BaseException, where: str) -> bool:
        """Count ``exc`` if it is a backend error; returns whether it was counted."""
        backend = backend_of(exc)
        if backend is None:
            return False
        self.backend_errors.labels(backend, where).inc()
        return True

    def http(self, route: str, method: str, status: int, seconds: float) -> None:
        """A REST request was answered (``route`` is the template, never the raw path)."""
        self.http_seconds.labels(route, method, f"{status // 100}xx").observe(seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


class _Live(Collector):
    """Values read at scrape time: the gateway gauges and the plain-int hot-path counters."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        info = GaugeMetricFamily(_P + "info", "This worker: package version and worker index",
                                 labels=["version", "worker"])
        info.add_metric([m._version, str(m._worker)], 1)
        yield info
        yield GaugeMetricFamily(_P + "gateway_connections", "Open gateway websocket connections",
                                value=m._connections())
        yield GaugeMetricFamily(_P + "gateway_sessions", "Gateway sessions READY or waiting for "
                                "a RESUME", value=m._sessions())
        yield CounterMetricFamily(_P + "gateway_frames_in", "Websocket messages received from "
                                  "clients", value=m.frames_in)
        yield CounterMetricFamily(_P + "gateway_frames_out", "Websocket frames written to "
                                  "clients (dispatches, heartbeat ACKs, hellos)",
                                  value=m.frames_out)
        yield CounterMetricFamily(_P + "gateway_slow_consumer_closes", "Connections closed with "
                                  "4900 because their send buffer passed its limit",
                                  value=m.slow_consumer_closes)
        yield CounterMetricFamily(_P + "hub_events", "Bus events delivered to this worker's hub",
                                  value=m.hub_events)
        yield CounterMetricFamily(_P + "bus_gap_sessions", "Gateway sessions ended (op 9, then "
                                  "4009) because the bus may have lost events for them",
                                  value=m.bus_gap_sessions)
        lag = m.loop_lag
        if lag is not None:
            yield HistogramMetricFamily(_P + "loop_lag_seconds", "How late the event loop ran "
                                        "a timer due every loop_lag_interval_ms: a stall of "
                                        "the loop (a long callback) delays everything else",
                                        buckets=_buckets(lag.bounds, lag.counts),
                                        sum_value=lag.sum_s)
            yield GaugeMetricFamily(_P + "loop_lag_max_seconds", "The largest event loop lag "
                                    "since the start", value=lag.max_s)
            yield HistogramMetricFamily(_P + "loop_lag_cpu_seconds", "The part of each loop "
                                        "lag the loop's thread ran for (the rest: another "
                                        "process had the CPU)",
                                        buckets=_buckets(lag.bounds, lag.cpu_counts),
                                        sum_value=lag.cpu_sum_s)
            yield GaugeMetricFamily(_P + "loop_lag_cpu_max_seconds", "The largest loop lag "
                                    "in the loop thread's CPU time since the start",
                                    value=lag.cpu_max_s)
            yield CounterMetricFamily(_P + "gc_full_collections", "Full (oldest-generation) "
                                      "garbage collections: each stops the loop while it scans "
                                      "the whole heap", value=lag.gc_full)
            yield CounterMetricFamily(_P + "gc_full_seconds", "Time spent in full garbage "
                                      "collections", value=lag.gc_full_s)
            yield GaugeMetricFamily(_P + "gc_full_max_seconds", "The longest full garbage "
                                    "collection since the start", value=lag.gc_full_max_s)
        for attr, doc in (("gaps", "Times a Redis bus subscriber connection was lost and "
                                   "restored (what was published meanwhile is read from the "
                                   "recovery log, or its sessions are told)"),
                          ("recovered", "Channels whose missed messages the Redis bus read "
                                        "back from their recovery log after a lost "
                                        "subscription (their sessions went on)"),
                          ("dropped", "Events the Redis bus dropped because its outbox was full"),
                          ("offset_gaps", "Messages whose offset skipped some of its publisher's "
                                          "chain on a channel (their guild's sessions are told)"),
                          ("loss_markers", "Loss markers heard: another worker dropped events "
                                           "(every session is told)")):
            value = getattr(m._bus, attr, None)
            if isinstance(value, int):
                yield CounterMetricFamily(_P + "bus_" + attr, doc, value=value)


def _buckets(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    """Per-bucket counts as Prometheus' cumulative ``le`` buckets."""
    cumulative, out = 0, []
    for bound, count in zip((*map(str, bounds), "+Inf"), counts, strict=True):
        cumulative += count
        out.append((bound, float(cumulative)))
    return out


def _zero() -> int:
    return 0


def _version() -> str:
    try:
        return metadata.version("discord-arch")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"
