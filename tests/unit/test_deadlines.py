"""gateway.deadlines: every session's deadline in one heap, swept a time budget at a time.

Sans I/O: each visit advances a fake clock by what ticking a session costs, so how many fit in
a slice is exact and no test is timed.
"""

from __future__ import annotations

from gateway.deadlines import DeadlineSweep


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def visitor(clock: Clock, log: list[str], nxt: dict[str, float | None], cost: float = 0.001):
    def visit(item: str) -> float | None:
        clock.now += cost
        log.append(item)
        return nxt.get(item)
    return visit


def test_visits_only_what_is_due_oldest_first() -> None:
    clock, log = Clock(), []
    sweep: DeadlineSweep[str] = DeadlineSweep(0.0, clock)
    for name, at in (("c", 3.0), ("a", 1.0), ("late", 10.0), ("b", 2.0)):
        sweep.schedule(name, at)
    sweep.schedule("never", None)
    assert len(sweep) == 4
    assert sweep.run(5.0, visitor(clock, log, {})) is False
    assert log == ["a", "b", "c"]
    assert len(sweep) == 1  # "late" waits; the visited returned None: dropped


def test_a_visited_item_goes_back_at_its_next_deadline() -> None:
    clock, log = Clock(), []
    sweep: DeadlineSweep[str] = DeadlineSweep(0.0, clock)
    sweep.schedule("s", 1.0)
    visit = visitor(clock, log, {"s": 6.0})  # it heartbeated: its real deadline is later
    sweep.run(2.0, visit)
    sweep.run(5.0, visit)
    assert log == ["s"]
    sweep.run(6.0, visit)
    assert log == ["s", "s"]
    assert len(sweep) == 1


def test_a_slice_ends_at_the_budget_and_the_rest_waits_for_the_next_run() -> None:
    clock, log = Clock(), []
    sweep: DeadlineSweep[str] = DeadlineSweep(0.003, clock)  # 3 ms, 1 ms per visit
    names = [f"s{i}" for i in range(8)]
    for i, name in enumerate(names):
        sweep.schedule(name, float(i) / 100)
    visit = visitor(clock, log, {n: 100.0 for n in names})
    assert sweep.run(1.0, visit) is True
    assert log == names[:3]
    assert sweep.run(1.0, visit) is True
    assert sweep.run(1.0, visit) is False
    assert log == names
    assert len(sweep) == 8  # every one back in, at 100


def test_unbounded_with_a_zero_budget() -> None:
    clock, log = Clock(), []
    sweep: DeadlineSweep[str] = DeadlineSweep(0.0, clock)
    for i in range(50):
        sweep.schedule(f"s{i}", 0.5)
    assert sweep.run(1.0, visitor(clock, log, {}, cost=1.0)) is False
    assert len(log) == 50


def test_an_item_due_again_at_once_waits_for_the_next_run() -> None:
    # A visit that returns a deadline already passed must not make the run endless.
    clock, log = Clock(), []
    sweep: DeadlineSweep[str] = DeadlineSweep(0.0, clock)
    sweep.schedule("s", 1.0)
    assert sweep.run(2.0, visitor(clock, log, {"s": 1.5})) is True
    assert log == ["s"]
