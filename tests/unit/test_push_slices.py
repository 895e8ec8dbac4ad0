"""gateway.push_slices: a fanout's per-recipient pushes made a time budget at a time.

Sans I/O: each fake session's push records (recipient, parts) in one log and advances a fake
clock by what a push costs, so how many recipients fit in a slice is exact and no test is timed.
"""

from __future__ import annotations

from typing import Any

from gateway.push_slices import PushSlices


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def members(names: list[str], log: list[tuple[str, Any]], clock: Clock,
            cost: float = 0.001, refuse: frozenset[str] = frozenset()) -> list[tuple[Any, Any]]:
    def pusher(name: str) -> Any:
        def push(parts: Any) -> bool:
            clock.now += cost
            log.append((name, parts))
            return name not in refuse  # False: dropped (no sequence, or DETACHED)
        return push
    return [(name, pusher(name)) for name in names]


def test_small_fanouts_go_out_in_one_run_in_order() -> None:
    clock, log, touched = Clock(), [], {}
    pushes = PushSlices(1.0, clock)
    pushes.add([("json-1", members(["a", "b"], log, clock)),
                ("etf-1", members(["c"], log, clock))])
    pushes.add([("json-2", members(["a", "b"], log, clock))])
    assert pushes.pending
    assert pushes.run(touched) is False
    assert not pushes.pending
    assert log == [("a", "json-1"), ("b", "json-1"), ("c", "etf-1"), ("a", "json-2"),
                   ("b", "json-2")]
    assert list(touched) == ["a", "b", "c"]


def test_a_big_fanout_is_pushed_in_slices_of_the_budget() -> None:
    clock, log, touched = Clock(), [], {}
    pushes = PushSlices(0.010, clock, chunk=4)  # 1 ms a push: 12 pushes a slice (3 chunks)
    names = [f"s{i}" for i in range(30)]
    pushes.add([("m1", members(names, log, clock))])
    assert pushes.run(touched) is True
    assert [n for n, _ in log] == names[:12]
    assert list(touched) == names[:12]
    assert pushes.run(touched) is True
    assert pushes.run(touched) is False
    assert [n for n, _ in log] == names and not pushes.pending


def test_the_next_fanout_waits_for_the_one_before_for_every_recipient() -> None:
    # Per session, dispatches are pushed in bus order: "m2" reaches nobody before "m1" did.
    clock, log, touched = Clock(), [], {}
    pushes = PushSlices(0.005, clock, chunk=2)
    names = [f"s{i}" for i in range(9)]
    pushes.add([("m1", members(names, log, clock))])
    pushes.run(touched)
    pushes.add([("m2", members(names, log, clock))])
    while pushes.run(touched):
        pass
    for name in names:
        assert [p for n, p in log if n == name] == ["m1", "m2"]
    assert log.index(("s8", "m1")) < log.index(("s0", "m2"))


def test_a_refused_push_is_not_flushed() -> None:
    clock, log, touched = Clock(), [], {}
    pushes = PushSlices(0.0, clock)
    pushes.add([("m", members(["a", "gone", "b"], log, clock, refuse=frozenset({"gone"})))])
    assert pushes.run(touched) is False
    assert len(log) == 3 and list(touched) == ["a", "b"]


def test_whole_or_a_zero_budget_pushes_everything() -> None:
    clock, log, touched = Clock(), [], {}
    pushes = PushSlices(0.001, clock, chunk=1)
    pushes.add([("m1", members([f"s{i}" for i in range(20)], log, clock))])
    pushes.add([])  # an event nobody here receives: nothing queued
    assert pushes.run(touched, whole=True) is False and len(log) == 20
    unbounded = PushSlices(0.0, clock, chunk=1)
    unbounded.add([("m2", members([f"s{i}" for i in range(20)], log, clock))])
    assert unbounded.run(touched) is False and len(log) == 40


def test_empty_groups_are_skipped() -> None:
    clock, log, touched = Clock(), [], {}
    pushes = PushSlices(1.0, clock)
    pushes.add([("json", []), ("etf", members(["c"], log, clock)), ("zlib", [])])
    assert pushes.run(touched) is False
    assert log == [("c", "etf")] and not pushes.pending


def test_an_audience_made_in_steps_then_pushed_first_in_line() -> None:
    # add_build: the step makes a chunk of the audience per call (the clock advances), then
    # returns the groups, pushed before the fanouts queued after it.
    clock, log, touched = Clock(), [], {}
    pushes = PushSlices(0.0025, clock, chunk=8)
    steps: list[int] = []

    def step() -> Any:
        clock.now += 0.001
        steps.append(len(steps))
        if len(steps) < 5:
            return None
        return [("m1", members(["a", "b"], log, clock, cost=0.0))]

    pushes.add_build(step)
    pushes.add([("m2", members(["a"], log, clock, cost=0.0))])
    assert pushes.run(touched) is True and len(steps) == 3 and not log  # a budget of steps
    assert pushes.run(touched) is False
    assert log == [("a", "m1"), ("b", "m1"), ("a", "m2")]
    pushes.add_build(lambda: [])  # nobody to push
    assert pushes.run(touched) is False and not pushes.pending


def test_a_failing_fanout_is_dropped_and_the_next_goes_on(caplog: Any) -> None:
    clock, log, touched = Clock(), [], {}
    pushes = PushSlices(1.0, clock, chunk=2)

    def broken(parts: Any) -> bool:
        raise RuntimeError("a broken session")

    pushes.add([("m1", [*members(["a"], log, clock), ("x", broken), *members(["b"], log, clock)])])

    def failing_step() -> Any:
        raise RuntimeError("a broken audience")

    pushes.add_build(failing_step)
    pushes.add([("m2", members(["a", "b"], log, clock))])
    assert pushes.run(touched) is False and not pushes.pending
    assert log == [("a", "m1"), ("a", "m2"), ("b", "m2")]  # m1's rest skipped, m2 whole
    assert caplog.text.count("a fanout failed") == 2
