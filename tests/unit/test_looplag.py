"""gateway.looplag and core.metrics.LagTally: the loop-lag probe, driven by a fake clock and a
fake loop (no timer runs, no sleep)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from core.metrics import LagTally, Metrics
from gateway.looplag import LoopLagProbe


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Loop:
    """What the probe needs of a loop: ``call_later``, recorded instead of run."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, Any]] = []

    def call_later(self, delay: float, callback: Any) -> Handle:
        self.timers.append((delay, callback))
        return Handle()


class Handle:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_tally_buckets_are_upper_bounds_inclusive() -> None:
    tally = LagTally((0.001, 0.01))
    for lag in (0.0, 0.001, 0.005, 0.01, 0.5):
        tally.observe(lag)
    assert tally.counts == [2, 2, 1]
    assert tally.max_s == 0.5
    assert abs(tally.sum_s - 0.516) < 1e-9


def test_probe_records_how_late_each_timer_ran_and_rearms_from_now() -> None:
    clock, loop, tally = Clock(), Loop(), LagTally()
    probe = LoopLagProbe(0.002, tally, clock)
    probe.start(loop)  # type: ignore[arg-type]
    assert [d for d, _ in loop.timers] == [0.002]
    clock.now += 0.002  # on time
    probe.wake()
    clock.now += 0.030  # a 28 ms stall past its due time
    probe.wake()
    assert abs(tally.max_s - 0.028) < 1e-9
    assert sum(tally.counts) == 2
    # Re-armed from the late wake, not from the missed due time: the next on-time wake is 0.
    clock.now += 0.002
    probe.wake()
    assert sum(tally.counts) == 3 and tally.counts[0] == 2
    assert len(loop.timers) == 4
    probe.stop()
    assert loop.timers and probe._handle is None


def test_lag_exported_only_once_a_probe_sets_the_tally() -> None:
    m = Metrics()
    assert "discord_arch_loop_lag_seconds" not in m.render().decode()
    m.loop_lag = LagTally((0.001, 0.01))
    m.loop_lag.observe(0.0005)
    m.loop_lag.observe(0.02)
    samples = {(s.name, s.labels.get("le")): s.value
               for f in text_string_to_metric_families(m.render().decode()) for s in f.samples}
    assert samples[("discord_arch_loop_lag_seconds_bucket", "0.001")] == 1
    assert samples[("discord_arch_loop_lag_seconds_bucket", "0.01")] == 1
    assert samples[("discord_arch_loop_lag_seconds_bucket", "+Inf")] == 2
    assert samples[("discord_arch_loop_lag_seconds_count", None)] == 2
    assert samples[("discord_arch_loop_lag_max_seconds", None)] == 0.02


def test_cpu_lag_is_the_part_of_the_lag_the_thread_ran_for() -> None:
    clock, cpu, loop, tally = Clock(), Clock(), Loop(), LagTally()
    probe = LoopLagProbe(0.002, tally, clock, cpu)
    probe.start(loop)  # type: ignore[arg-type]
    clock.now += 0.052  # 50 ms late: a callback ran 30 ms, another process had the CPU 20
    cpu.now += 0.032
    probe.wake()
    clock.now += 0.022  # 20 ms late, the thread idle: all of it the machine's
    probe.wake()
    assert abs(tally.max_s - 0.050) < 1e-9
    assert abs(tally.cpu_max_s - 0.030) < 1e-9
    assert tally.cpu_counts[0] == 1 and sum(tally.cpu_counts) == 2


def test_full_collections_are_timed_and_younger_ones_ignored() -> None:
    clock, tally = Clock(), LagTally()
    probe = LoopLagProbe(0.002, tally, clock)
    probe.on_gc("start", {"generation": 0})
    clock.now += 0.5
    probe.on_gc("stop", {"generation": 0})
    probe.on_gc("start", {"generation": 2})
    clock.now += 1.25
    probe.on_gc("stop", {"generation": 2})
    assert (tally.gc_full, tally.gc_full_s, tally.gc_full_max_s) == (1, 1.25, 1.25)
    samples = {s.name: s.value for f in text_string_to_metric_families(
        _metrics_with(tally).render().decode()) for s in f.samples}
    assert samples["discord_arch_gc_full_collections_total"] == 1
    assert samples["discord_arch_gc_full_max_seconds"] == 1.25


def test_probe_hooks_the_collector_while_started() -> None:
    import gc

    probe = LoopLagProbe(0.002, LagTally(), Clock())
    probe.start(Loop())  # type: ignore[arg-type]
    assert probe.on_gc in gc.callbacks
    probe.stop()
    assert probe.on_gc not in gc.callbacks


def _metrics_with(tally: LagTally) -> Metrics:
    m = Metrics()
    m.loop_lag = tally
    return m
