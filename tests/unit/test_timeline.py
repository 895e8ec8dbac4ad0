"""The per-message timeline (core.timeline): sampling, the stamps a message gets on the router's
path, the bounded tables, and the per-stage percentiles; a fake clock, no socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from core.config import Config, ConfigError
from core.events import Event
from core.models import Message
from core.router import MessageRouter
from core.store.cache import MemoryCache
from core.timeline import (
    DURABLE,
    FANNED,
    HANDLED,
    HUB,
    PUBLISHED,
    QUEUED,
    RECEIVED,
    STAGES,
    VALIDATED,
    WRITING,
    WRITTEN,
    Timeline,
    summarize,
)
from tests.unit.test_router import AUTHOR, CHANNEL, FakeBus, FakeStore


class Clock:
    """A clock that moves only when told: each call returns ``now`` then adds ``step``."""

    def __init__(self, step: int = 0) -> None:
        self.now = 1_000_000
        self.step = step

    def __call__(self) -> int:
        now = self.now
        self.now += self.step
        return now


def _event(message_id: int, name: str = "MESSAGE_CREATE") -> Event:
    return Event(name, {"id": str(message_id)}, guild_id=1, channel_id=CHANNEL)


# -- sampling ---------------------------------------------------------------------------------


def test_one_message_in_every_is_sampled() -> None:
    timeline = Timeline(every=3, clock=Clock())
    sampled = [timeline.start() is not None for _ in range(9)]
    assert sampled == [False, False, True] * 3


def test_every_one_samples_each_message_and_the_received_stamp_may_be_given() -> None:
    timeline = Timeline(every=1, clock=Clock())
    trace = timeline.start(42)
    assert trace is not None and trace.stamps[RECEIVED] == 42
    trace = timeline.start()
    assert trace is not None and trace.stamps[RECEIVED] == 1_000_000  # the clock's


def test_off_by_default_and_never_negative() -> None:
    assert Timeline().every == 0
    assert Config().trace_sample_every == 0
    with pytest.raises(ValueError):
        Timeline(every=-1)
    with pytest.raises(ConfigError):
        Config(trace_sample_every=-1)


# -- from the router to the hub ----------------------------------------------------------------


def test_published_hands_the_trace_to_the_hub_by_message_id() -> None:
    clock = Clock(step=10)
    timeline = Timeline(every=1, clock=clock)
    trace = timeline.start()
    assert trace is not None
    timeline.published(trace, 77)
    assert trace.stamps[PUBLISHED] and set(timeline.in_flight) == {"77"}
    # Only MESSAGE_CREATE events with a traced id are found; found ones leave the table.
    found = timeline.arrived([_event(76), _event(77, "MESSAGE_UPDATE"), _event(77)])
    assert found == [trace] and trace.stamps[HUB] > trace.stamps[PUBLISHED]
    assert not timeline.in_flight
    assert timeline.arrived([_event(77)]) == []


def test_in_flight_is_bounded_oldest_first() -> None:
    timeline = Timeline(every=1, in_flight_max=3, clock=Clock())
    for message_id in range(5):
        trace = timeline.start()
        assert trace is not None
        timeline.published(trace, message_id)
    assert list(timeline.in_flight) == ["2", "3", "4"]


def test_finished_traces_are_a_bounded_ring_read_since_a_sequence_number() -> None:
    timeline = Timeline(every=1, keep=4, clock=Clock(step=1))
    for _ in range(6):
        trace = timeline.start()
        assert trace is not None
        timeline.finish(trace)
    assert timeline.seq == 6
    assert len(timeline.since(0)) == 4  # the ring kept the last 4
    assert len(timeline.since(5)) == 1
    assert timeline.report(6) == {"every": 1, "seq": 6, "traces": 0, "stages": {}, "spans": {}}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_the_router_stamps_queued_writing_durable_published(
        loop: asyncio.AbstractEventLoop) -> None:
    async def run() -> None:
        store = FakeStore()
        bus = FakeBus(store)
        timeline = Timeline(every=2, clock=Clock(step=1000))
        router = MessageRouter(store, bus, MemoryCache(), timeline=timeline)  # type: ignore[arg-type]
        await router.start()
        traces = [timeline.start() for _ in range(4)]
        sends = [router.submit(Message(id=100 + i, channel_id=CHANNEL, author_id=AUTHOR,
                                       content="x"), (_event(100 + i),), trace=traces[i])
                 for i in range(4)]
        await asyncio.gather(*sends)
        await router.aclose()
        assert [t is not None for t in traces] == [False, True, False, True]
        assert set(timeline.in_flight) == {"101", "103"}
        for message_id in ("101", "103"):
            stamps = timeline.in_flight[message_id].stamps
            order = [stamps[s] for s in (RECEIVED, QUEUED, WRITING, DURABLE, PUBLISHED)]
            assert order == sorted(order) and all(order)
            assert not stamps[HANDLED] and not stamps[VALIDATED]  # not the router's to stamp

    loop.run_until_complete(run())


def test_a_router_without_a_timeline_or_with_it_off_keeps_nothing(
        loop: asyncio.AbstractEventLoop) -> None:
    async def run() -> None:
        store = FakeStore()
        off = Timeline()
        router = MessageRouter(store, FakeBus(store), MemoryCache(), timeline=off)  # type: ignore[arg-type]
        await router.start()
        await router.submit(Message(id=5, channel_id=CHANNEL, author_id=AUTHOR, content="x"),
                            (_event(5),))
        await router.aclose()
        assert not off.in_flight and off.seq == 0

    loop.run_until_complete(run())


# -- percentiles ------------------------------------------------------------------------------


def _stamps(**ms: float) -> list[int]:
    """Stamps in ns from ms after 0 for the named stages (the others 0: not stamped)."""
    out = [0] * len(STAGES)
    for name, at in ms.items():
        out[STAGES.index(name)] = int(at * 1e6)
    return out


def test_summarize_each_stage_from_the_last_stamped_one() -> None:
    op50 = _stamps(received=1, handled=3, validated=4, queued=4.5, writing=5, durable=9,
                   published=10, hub=12, fanned=20, written=21)
    rest = _stamps(received=1, validated=2, queued=2.5, writing=3, durable=5, published=6,
                   hub=7, fanned=8, written=9)
    out = summarize([op50, rest])
    assert out["traces"] == 2
    stages = out["stages"]
    assert stages["handled"]["n"] == 1 and stages["handled"]["p50"] == pytest.approx(2.0)
    # The REST message's validated counts from received (it has no handled stamp).
    assert stages["validated"]["n"] == 2
    assert sorted([stages["validated"]["p50"], stages["validated"]["max"]]) == \
        pytest.approx([1.0, 1.0])
    assert stages["durable"]["max"] == pytest.approx(4.0)
    assert stages["durable"]["p50"] == pytest.approx(2.0)
    assert stages["fanned"]["max"] == pytest.approx(8.0)
    spans = out["spans"]
    assert spans["receive_to_durable"]["max"] == pytest.approx(8.0)
    assert spans["receive_to_durable"]["p50"] == pytest.approx(4.0)
    assert spans["receive_to_written"]["mean"] == pytest.approx((20 + 8) / 2)


def test_summarize_percentiles_are_nearest_rank() -> None:
    traces = [_stamps(received=0, durable=float(i)) for i in range(1, 1001)]
    durable = summarize(traces)["stages"]["durable"]
    assert (durable["p50"], durable["p90"], durable["p99"], durable["p999"], durable["max"]) \
        == pytest.approx((500, 900, 990, 999, 1000))
    assert durable["n"] == 1000


def test_summarize_leaves_out_what_no_trace_stamped() -> None:
    out = summarize([_stamps(received=1, durable=2)])
    assert set(out["stages"]) == {"durable"}
    assert set(out["spans"]) == {"receive_to_durable"}
    assert summarize([]) == {"traces": 0, "stages": {}, "spans": {}}


def test_a_whole_trace_through_the_public_calls() -> None:
    clock = Clock(step=1_000_000)  # 1 ms per stamp
    timeline = Timeline(every=1, clock=clock)
    trace = timeline.start()
    assert trace is not None
    for stage in (HANDLED, VALIDATED, QUEUED, WRITING, DURABLE):
        trace.stamp(stage)
    timeline.published(trace, 9)
    (found,) = timeline.arrived([_event(9)])
    found.stamp(FANNED)
    found.stamp(WRITTEN)
    timeline.finish(found)
    report = timeline.report(0)
    assert report["seq"] == 1 and report["traces"] == 1
    assert {k: v["p50"] for k, v in report["stages"].items()} == \
        {name: pytest.approx(1.0) for name in STAGES[1:]}
    assert report["spans"]["receive_to_written"]["p50"] == pytest.approx(9.0)
