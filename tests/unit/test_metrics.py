"""core.metrics: one registry per instance, cheap hot-path tallies, bounded label values."""

from __future__ import annotations

import sqlite3

from prometheus_client.parser import text_string_to_metric_families

from core.metrics import Metrics, backend_of
from core.store.base import StoreUnavailable


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_instances_do_not_share_values() -> None:
    a, b = Metrics(), Metrics()
    a.identifies.labels("ok").inc()
    a.frames_in += 3
    assert _samples(a)[("discord_arch_gateway_identifies_total", (("result", "ok"),))] == 1
    assert _samples(a)[("discord_arch_gateway_frames_in_total", ())] == 3
    assert ("discord_arch_gateway_identifies_total", (("result", "ok"),)) not in _samples(b)
    assert _samples(b)[("discord_arch_gateway_frames_in_total", ())] == 0


def test_tallies_and_bound_gauges_are_read_at_scrape_time() -> None:
    m = Metrics(worker=2)
    conns = [1, 2, 3]
    m.bind_gateway(lambda: len(conns), lambda: 1)
    m.frames_out += 7
    m.hub_events += 4
    m.slow_consumer_closes += 1
    conns.append(4)
    got = _samples(m)
    assert got[("discord_arch_gateway_connections", ())] == 4
    assert got[("discord_arch_gateway_sessions", ())] == 1
    assert got[("discord_arch_gateway_frames_out_total", ())] == 7
    assert got[("discord_arch_hub_events_total", ())] == 4
    assert got[("discord_arch_gateway_slow_consumer_closes_total", ())] == 1
    info = [k for k in got if k[0] == "discord_arch_info"]
    assert len(info) == 1 and ("worker", "2") in info[0][1]


def test_bus_counters_exported_when_the_bus_has_them() -> None:
    class RedisLikeBus:
        gaps, dropped = 2, 5

    m = Metrics()
    assert ("discord_arch_bus_gaps_total", ()) not in _samples(m)
    m.bind_bus(RedisLikeBus())
    got = _samples(m)
    assert got[("discord_arch_bus_gaps_total", ())] == 2
    assert got[("discord_arch_bus_dropped_total", ())] == 5


def test_client_close_codes_cannot_mint_label_values() -> None:
    m = Metrics()
    for code in (1000, 1001, 3999, 4321, 4999):
        m.closed("client", code)
    m.closed("server", 4004)
    m.closed("lost", None)
    codes = {dict(k[1])["code"] for k in _samples(m) if k[0] == "discord_arch_gateway_closes_total"}
    assert codes == {"1000", "1001", "other", "4004", "none"}


def test_batch_records_size_duration_and_backend_errors() -> None:
    m = Metrics()
    m.batch(3, 0.002, None)
    m.batch(1, 0.5, sqlite3.OperationalError("disk I/O error"))
    got = _samples(m)
    assert got[("discord_arch_router_batch_messages_count", ())] == 2
    assert got[("discord_arch_router_batch_messages_sum", ())] == 4
    assert got[("discord_arch_router_flush_seconds_count", ())] == 2
    key = ("discord_arch_backend_errors_total", (("backend", "sqlite"), ("where", "router")))
    assert got[key] == 1


def test_http_label_is_the_status_class() -> None:
    m = Metrics()
    m.http("/api/v10/channels/{channel_id}/messages", "POST", 201, 0.01)
    m.http("/api/v10/channels/{channel_id}/messages", "POST", 204, 0.01)
    key = ("discord_arch_http_request_seconds_count",
           (("method", "POST"), ("route", "/api/v10/channels/{channel_id}/messages"),
            ("status", "2xx")))
    assert _samples(m)[key] == 2


def test_backend_of_names_drivers_and_ignores_bugs() -> None:
    assert backend_of(sqlite3.OperationalError()) == "sqlite"
    assert backend_of(StoreUnavailable("x")) == "store"
    assert backend_of(ConnectionRefusedError()) == "io"
    assert backend_of(TimeoutError()) == "io"
    assert backend_of(KeyError("x")) is None
    import redis.exceptions

    assert backend_of(redis.exceptions.ConnectionError()) == "redis"
