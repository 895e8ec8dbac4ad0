"""gateway.flush_slices: the hub's touched connections written a time budget at a time.

Sans I/O: each fake connection's ``flush`` records itself and advances a fake clock by what a
socket write costs, so how many connections fit in a slice is exact and no test is timed.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.flush_slices import FlushSlices


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Conn:
    """A connection whose write takes ``cost`` seconds of the fake clock."""

    def __init__(self, name: str, log: list[str], clock: Clock, cost: float = 0.001,
                 fail: bool = False) -> None:
        self.name, self.log, self.clock, self.cost, self.fail = name, log, clock, cost, fail

    def flush(self) -> None:
        self.clock.now += self.cost
        self.log.append(self.name)
        if self.fail:
            raise OSError("broken pipe")

    def __repr__(self) -> str:
        return self.name


def setup(n: int, budget_s: float) -> tuple[FlushSlices, list[Any], list[str], Clock]:
    clock, log = Clock(), []  # type: ignore[var-annotated]
    slices = FlushSlices(budget_s, clock)
    conns = [Conn(f"c{i}", log, clock) for i in range(n)]
    for c in conns:
        slices.touched[c] = None  # type: ignore[index]
    return slices, conns, log, clock


def test_a_round_is_written_in_slices_of_the_budget_each_socket_once_in_order() -> None:
    slices, conns, log, _ = setup(10, 0.003)  # 1 ms a write: 3 a slice
    runs = []
    while True:
        more = slices.run()
        runs.append(list(log))
        log.clear()
        if not more:
            break
    assert runs == [["c0", "c1", "c2"], ["c3", "c4", "c5"], ["c6", "c7", "c8"], ["c9"]]
    assert not slices.pending and not slices.in_round


def test_budget_zero_writes_the_whole_round_at_once() -> None:
    slices, conns, log, _ = setup(10, 0.0)
    assert slices.run() is False
    assert log == [c.name for c in conns]


def test_a_slice_writes_at_least_one_socket_however_slow() -> None:
    slices, conns, log, _ = setup(3, 0.001)
    for c in conns:
        c.cost = 0.050
    assert slices.run() is True
    assert log == ["c0"]


def test_touched_again_ahead_in_the_round_is_written_once() -> None:
    slices, conns, log, _ = setup(6, 0.002)
    assert slices.run() is True  # c0, c1
    assert slices.in_round
    slices.touched[conns[4]] = None  # type: ignore[index]  # a new message for c4: still ahead
    slices.touched[conns[0]] = None  # type: ignore[index]  # and for c0: already written
    while slices.run():
        pass
    # c4's one write carries both messages (its frames are queued in its session); c0 gets a
    # second write in the next round, after the rest of the first one.
    assert log == ["c0", "c1", "c2", "c3", "c4", "c5", "c4", "c0"]


def test_touches_during_a_round_wait_behind_it_not_ahead() -> None:
    slices, conns, log, clock = setup(4, 0.002)
    slices.run()
    late = Conn("late", log, clock)
    slices.touched[late] = None  # type: ignore[index]
    while slices.run():
        pass
    assert log == ["c0", "c1", "c2", "c3", "late"]


def test_a_failing_socket_does_not_stop_the_slice(caplog: pytest.LogCaptureFixture) -> None:
    slices, conns, log, _ = setup(3, 0.0)
    conns[1].fail = True
    assert slices.run() is False
    assert log == ["c0", "c1", "c2"]
    assert "flushing a gateway connection failed" in caplog.text


def test_whole_writes_everything_pending_in_one_call() -> None:
    slices, conns, log, clock = setup(5, 0.001)
    slices.run()
    slices.touched[Conn("late", log, clock)] = None  # type: ignore[index]
    assert slices.run(whole=True) is False
    assert log == ["c0", "c1", "c2", "c3", "c4", "late"]
    assert not slices.pending
